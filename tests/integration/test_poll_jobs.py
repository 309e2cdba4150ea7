"""The poll step: Vertex (the twin, fake engine) → Firestore transitions and job-events."""

from __future__ import annotations

import pytest

from shared.jobs.states import JobState
from shared.pipeline.launch_tuning import handle_tuning_request
from shared.pipeline.poll_jobs import poll_active_jobs
from tests.integration.pipeline_helpers import RecordingBus, poll_until, validated_job, vertex_for

pytestmark = pytest.mark.integration


def test_polling_follows_a_job_to_succeeded_with_its_tuned_model_and_one_event_per_transition(twin, store, training_uri):
    job_id, bus, vertex = validated_job(store, training_uri), RecordingBus(), vertex_for(twin)
    handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    job = poll_until(JobState.SUCCEEDED, job_id, store=store, bus=bus, vertex=vertex)
    assert job["vertex"]["state"] == "JOB_STATE_SUCCEEDED"
    assert job["tuned_model"]["endpoint"].startswith("projects/tunewire-test/locations/us-central1/endpoints/")
    assert job["tuned_model"]["checkpoints"]
    assert job["data_stats"]["tuningDatasetExampleCount"] == "280"
    states = [state for _, state in bus.events]
    assert states[-1] == "SUCCEEDED" and len(states) == len(set(states))
    poll_active_jobs(store=store, bus=bus, vertex=vertex)
    assert [state for _, state in bus.events] == states  # nothing new once terminal


def test_jobs_waiting_for_quota_get_their_launch_requested_again(quota_twin, store, training_uri):
    vertex, bus = vertex_for(quota_twin), RecordingBus()
    running = validated_job(store, training_uri, epochs=3)
    handle_tuning_request(running, store=store, bus=bus, vertex=vertex)
    waiting = validated_job(store, training_uri)
    assert handle_tuning_request(waiting, store=store, bus=bus, vertex=vertex).action == "waiting_for_quota"
    summary = poll_active_jobs(store=store, bus=bus, vertex=vertex)
    assert summary.relaunched == [waiting] and bus.tuning_requests == [waiting]
    poll_until(JobState.SUCCEEDED, running, store=store, bus=bus, vertex=vertex, timeout_s=120)
    assert handle_tuning_request(waiting, store=store, bus=bus, vertex=vertex).action == "launched"
