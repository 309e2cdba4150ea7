"""Cancel in every non-terminal state: before launch it ends the job; after, Vertex confirms."""

from __future__ import annotations

import pytest

from shared.jobs.states import JobState
from shared.pipeline.cancel_job import cancel_job
from shared.pipeline.launch_tuning import handle_tuning_request
from tests.integration.pipeline_helpers import RecordingBus, poll_until, validated_job, vertex_for

pytestmark = pytest.mark.integration


def test_cancel_before_launch_ends_the_job_at_once(twin, store, training_uri):
    job_id, bus = validated_job(store, training_uri), RecordingBus()
    outcome = cancel_job(job_id, store=store, bus=bus, vertex=vertex_for(twin))
    assert outcome.action == "cancelled" and store.get(job_id)["state"] == "CANCELLED"
    assert bus.events == [(job_id, "CANCELLED")]
    assert handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex_for(twin)).action == "already_done"


def test_cancel_after_launch_cancels_on_vertex_and_the_poller_confirms(twin, store, training_uri):
    job_id, bus, vertex = validated_job(store, training_uri, epochs=5), RecordingBus(), vertex_for(twin)
    handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    outcome = cancel_job(job_id, store=store, bus=bus, vertex=vertex)
    assert outcome.action == "cancelling"
    job = poll_until(JobState.CANCELLED, job_id, store=store, bus=bus, vertex=vertex)
    assert job["vertex"]["state"] == "JOB_STATE_CANCELLED"
    assert bus.events[-1] == (job_id, "CANCELLED")


def test_cancel_while_launching_without_a_vertex_job_is_settled_by_the_poller(twin, store, training_uri):
    job_id, bus, vertex = validated_job(store, training_uri), RecordingBus(), vertex_for(twin)
    store.transition(job_id, JobState.LAUNCHING, reason="launching")
    assert cancel_job(job_id, store=store, bus=bus, vertex=vertex).action == "cancelling"
    poll_until(JobState.CANCELLED, job_id, store=store, bus=bus, vertex=vertex)


def test_cancelling_a_finished_job_changes_nothing(twin, store, training_uri):
    job_id, bus = validated_job(store, training_uri), RecordingBus()
    cancel_job(job_id, store=store, bus=bus, vertex=vertex_for(twin))
    again = cancel_job(job_id, store=store, bus=bus, vertex=vertex_for(twin))
    assert again.action == "already_terminal" and len(bus.events) == 1
