"""Load: a burst of 200 uploads makes exactly 200 jobs, none lost or doubled; one poll tick looks
at 500 active jobs.

The scenario is benchmarks/load_scenario.py, the same code benchmarks/load_bench.py times; here
only counts are asserted, and the measured times go into the published row.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.load_scenario import (
    CLOUD_TICK_INTERVAL_S,
    LOAD_STACK,
    BurstResult,
    measure_poll,
    run_upload_burst,
    seed_active_jobs,
)
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import StackDriver

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

UPLOADS = 200
POLL_JOBS = 500


@pytest.fixture(scope="module")
def load_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackDriver]:
    """Fake twin engine, one training slot, quota "queue": every Vertex job after the first waits."""
    yield from run_stack(tmp_path_factory, **LOAD_STACK)


@pytest.fixture(scope="module")
def burst(load_stack: StackDriver) -> BurstResult:
    """The burst runs once per module; the poll test needs its queued jobs holding the twin's slot."""
    return run_upload_burst(load_stack.stack, load_stack.clients, uploads=UPLOADS)


def test_a_burst_of_200_uploads_yields_exactly_200_jobs_and_200_vertex_jobs_none_lost_all_validated(burst, outcome):
    assert burst.missing == 0, f"{burst.missing} uploads have no job"
    assert burst.jobs == UPLOADS, burst.states
    assert burst.duplicate_jobs == 0
    assert burst.never_validated == 0, burst.states
    assert burst.validated == UPLOADS
    assert burst.vertex_jobs == UPLOADS and burst.duplicate_vertex_jobs == 0 and burst.unlaunched == 0
    outcome.record(
        area="load",
        fault="a burst of uploads at once",
        injected=f"{UPLOADS} small valid datasets uploaded from 16 threads as fast as they go (quota: 1 training slot, the rest queued)",
        expected=f"exactly {UPLOADS} jobs and {UPLOADS} Vertex jobs, 0 duplicates, 0 lost, every job VALIDATED or beyond",
        observed=(
            f"{burst.jobs} jobs, {burst.vertex_jobs} Vertex jobs, {burst.duplicates} duplicates, {burst.lost} lost, "
            f"{burst.validated} validated; upload → VALIDATED p50 {burst.validated_p50_s:.2f} s, "
            f"p95 {burst.validated_p95_s:.2f} s; all decided {burst.all_validated_s:.1f} s after the first upload"
        ),
        uploads=burst.uploads,
        jobs=burst.jobs,
        vertex_jobs=burst.vertex_jobs,
        duplicates=burst.duplicates,
        lost=burst.lost,
        validated=burst.validated,
        validated_p50_s=round(burst.validated_p50_s, 3),
        validated_p95_s=round(burst.validated_p95_s, 3),
    )


def test_one_poll_tick_looks_at_all_500_active_jobs_and_records_each_vertex_state(load_stack, burst, outcome):
    seed = seed_active_jobs(load_stack.stack, load_stack.clients, count=POLL_JOBS)
    poll = measure_poll(load_stack.clients, seed, repeats=1)
    assert poll.first.errors == []
    assert poll.first.polled == POLL_JOBS
    assert poll.states_recorded == POLL_JOBS, "each seeded job had no vertex.state before the tick"
    assert poll.states_matching == POLL_JOBS, "the recorded state is the one GetTuningJob answers"
    assert [(summary.polled, summary.errors) for summary in poll.steady] == [(POLL_JOBS, [])]
    tick_s = load_stack.stack.config.tick_interval_s
    outcome.record(
        area="load",
        fault="many active jobs at one poll tick",
        injected=f"{POLL_JOBS} PENDING jobs, each with a queued Vertex job on the twin, none with its Vertex state recorded yet",
        expected=f"one tick polls all {POLL_JOBS}, records each one's Vertex state, no errors",
        observed=(
            f"polled {poll.first.polled}, {len(poll.first.errors)} errors, {poll.states_recorded} states recorded "
            f"({poll.states_matching} equal to the twin's); first tick {poll.first_s:.2f} s, next tick {poll.poll_s:.2f} s, "
            f"the same {POLL_JOBS} GETs alone {poll.baseline:.2f} s (stack tick {tick_s:g} s, cloud ≥ {CLOUD_TICK_INTERVAL_S:g} s)"
        ),
        poll_jobs=POLL_JOBS,
        polled=poll.first.polled,
        errors=len(poll.first.errors),
        states_recorded=poll.states_recorded,
        poll_500_s=round(poll.poll_s, 3),
        poll_first_s=round(poll.first_s, 3),
        baseline_s=round(poll.baseline, 3),
        tick_interval_s=tick_s,
    )
