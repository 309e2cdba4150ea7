"""The job state machine. Allowed transitions live in this one table; tests walk it."""

from __future__ import annotations

import enum


class JobState(str, enum.Enum):
    RECEIVED = "RECEIVED"
    VALIDATING = "VALIDATING"
    VALIDATED = "VALIDATED"
    INVALID = "INVALID"
    LAUNCHING = "LAUNCHING"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"


S = JobState

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.RECEIVED: frozenset({S.VALIDATING, S.CANCELLED}),
    S.VALIDATING: frozenset({S.VALIDATED, S.INVALID, S.CANCELLED}),
    S.VALIDATED: frozenset({S.LAUNCHING, S.CANCELLED}),
    S.LAUNCHING: frozenset({S.PENDING, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    S.PENDING: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    S.CANCELLING: frozenset({S.CANCELLED, S.SUCCEEDED, S.FAILED}),
    S.INVALID: frozenset(),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""state -> the states it may move to. A job cancelled before launch ends CANCELLED directly;
after launch it goes through CANCELLING until Vertex confirms. A cancel can lose the race with
completion, hence CANCELLING -> SUCCEEDED | FAILED."""

TERMINAL_STATES: frozenset[JobState] = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
VERTEX_ACTIVE_STATES: frozenset[JobState] = frozenset({S.LAUNCHING, S.PENDING, S.RUNNING, S.CANCELLING})
"""States in which a Vertex job may exist and the poller must look at it."""
NOTIFIED_STATES: frozenset[JobState] = frozenset({S.VALIDATED, S.INVALID, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED})
"""States whose arrival is announced on `job-events` (and as a webhook). A transition into one puts
the state in the job's `outbox` in the same commit; notify removes it on receipt, so an event lost
between the commit and the publish (a crash, a Pub/Sub outage) is found and published again."""


class InvalidTransition(Exception):
    def __init__(self, current: JobState, wanted: JobState) -> None:
        super().__init__(f"a job in {current.value} cannot move to {wanted.value}")
        self.current = current
        self.wanted = wanted


def can_transition(current: JobState, wanted: JobState) -> bool:
    return wanted in TRANSITIONS[current]


def check_transition(current: JobState, wanted: JobState) -> None:
    if not can_transition(current, wanted):
        raise InvalidTransition(current, wanted)


def is_terminal(state: JobState) -> bool:
    return state in TERMINAL_STATES
