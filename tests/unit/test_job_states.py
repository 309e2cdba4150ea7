"""The job state machine, walked from its one table."""

from __future__ import annotations

import itertools

import pytest

from shared.jobs.states import (
    TERMINAL_STATES,
    TRANSITIONS,
    VERTEX_ACTIVE_STATES,
    InvalidTransition,
    JobState,
    can_transition,
    check_transition,
)

S = JobState
HAPPY_PATH = [S.RECEIVED, S.VALIDATING, S.VALIDATED, S.LAUNCHING, S.PENDING, S.RUNNING, S.SUCCEEDED]


def test_every_state_has_a_row_in_the_table():
    assert set(TRANSITIONS) == set(JobState)


def test_the_happy_path_is_allowed_step_by_step():
    for current, wanted in zip(HAPPY_PATH, HAPPY_PATH[1:]):
        check_transition(current, wanted)


def test_terminal_states_are_exactly_invalid_succeeded_failed_cancelled():
    assert TERMINAL_STATES == {S.INVALID, S.SUCCEEDED, S.FAILED, S.CANCELLED}


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(JobState, JobState)))
def test_check_transition_agrees_with_the_table_for_every_pair(current, wanted):
    if wanted in TRANSITIONS[current]:
        check_transition(current, wanted)
    else:
        with pytest.raises(InvalidTransition, match=f"{current.value} cannot move to {wanted.value}"):
            check_transition(current, wanted)


def test_every_non_terminal_state_can_reach_a_terminal_state():
    for start in set(JobState) - TERMINAL_STATES:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & TERMINAL_STATES, start


def test_invalid_only_comes_from_validating_and_failed_only_after_launch_began():
    assert {s for s in JobState if can_transition(s, S.INVALID)} == {S.VALIDATING}
    assert {s for s in JobState if can_transition(s, S.FAILED)} == {S.LAUNCHING, S.PENDING, S.RUNNING, S.CANCELLING}


def test_every_non_terminal_state_can_be_cancelled_directly_or_through_cancelling():
    for state in set(JobState) - TERMINAL_STATES - {S.CANCELLING}:
        assert can_transition(state, S.CANCELLED) or can_transition(state, S.CANCELLING)


def test_the_poller_watches_every_state_in_which_a_vertex_job_may_exist():
    assert VERTEX_ACTIVE_STATES == {S.LAUNCHING, S.PENDING, S.RUNNING, S.CANCELLING}
