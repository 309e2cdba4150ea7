"""The launch step against the tuning twin (fake engine) and Firestore: one Vertex job per job."""

from __future__ import annotations

import pytest

from shared.jobs.states import JobState
from shared.pipeline.launch_tuning import handle_tuning_request
from shared.vertex import JOB_LABEL
from tests.integration.pipeline_helpers import PROJECT, RecordingBus, validated_job, vertex_for

pytestmark = pytest.mark.integration


def test_a_validated_job_is_launched_once_with_our_label(twin, store, training_uri):
    job_id, bus, vertex = validated_job(store, training_uri), RecordingBus(), vertex_for(twin)
    outcome = handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    assert outcome.action == "launched" and outcome.state in (JobState.PENDING, JobState.RUNNING)
    job = store.get(job_id)
    assert job["vertex"]["job_name"].startswith(f"projects/{PROJECT}/locations/us-central1/tuningJobs/")
    assert [h["state"] for h in job["history"]][-2:] == ["LAUNCHING", outcome.state.value]
    assert bus.events == [(job_id, outcome.state.value)]
    again = handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    assert again.action == "already_done" and len(bus.events) == 1
    assert vertex.find_by_label(job_id).name == job["vertex"]["job_name"]


def test_a_launch_that_crashed_after_create_finds_the_vertex_job_instead_of_creating_another(twin, store, training_uri):
    job_id, bus, vertex = validated_job(store, training_uri), RecordingBus(), vertex_for(twin)
    store.transition(job_id, JobState.LAUNCHING, reason="launching")
    first = vertex.create(job_id=job_id, job_settings=store.get(job_id)["settings"], training_uri=training_uri)
    outcome = handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    assert outcome.action == "found_existing"
    assert store.get(job_id)["vertex"]["job_name"] == first.name


def test_a_refusal_by_vertex_fails_the_job_with_vertex_message(twin, store, training_uri):
    job_id, bus = validated_job(store, training_uri, adapter_size=32), RecordingBus()
    outcome = handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex_for(twin))
    assert outcome.action == "failed"
    job = store.get(job_id)
    assert job["state"] == "FAILED" and "adapter" in job["error"]["message"].lower()
    assert bus.events == [(job_id, "FAILED")]


def test_a_quota_refusal_keeps_the_job_waiting_not_failed(quota_twin, store, training_uri):
    vertex, bus = vertex_for(quota_twin), RecordingBus()
    first = validated_job(store, training_uri, epochs=3)
    assert handle_tuning_request(first, store=store, bus=bus, vertex=vertex).action == "launched"
    second = validated_job(store, training_uri)
    outcome = handle_tuning_request(second, store=store, bus=bus, vertex=vertex)
    assert outcome.action == "waiting_for_quota"
    job = store.get(second)
    assert job["state"] == "LAUNCHING" and job["launch"]["waiting_for_quota"] is True and job["launch"]["quota_refusals"] == 1
    assert vertex.find_by_label(second) is None
    assert JOB_LABEL == "tunewire-job"


def test_two_launches_of_one_job_at_once_create_one_vertex_job(twin, store, training_uri):
    import threading

    job_id, bus, vertex = validated_job(store, training_uri), RecordingBus(), vertex_for(twin)
    store.transition(job_id, JobState.LAUNCHING, reason="launching")
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(o.action for o in outcomes) in (["already_done", "launched"], ["already_done", "found_existing"], ["found_existing", "launched"])
    listed = list(vertex._api()[1].list_tuning_jobs(request={"parent": f"projects/{PROJECT}/locations/us-central1", "filter": f'labels.{JOB_LABEL}="{job_id}"'}))
    assert len(listed) == 1
