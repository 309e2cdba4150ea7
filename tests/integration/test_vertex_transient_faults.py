"""Vertex AI answering like a struggling service (the twin's injected faults), through Google's
own client: reads are retried with backoff, a create is retried only by redelivery — which finds
the job a failed-looking create really made — and a 400 fails the job with Vertex's message."""

from __future__ import annotations

import json
import urllib.request

import pytest

from shared.config import Settings
from shared.jobs.states import JobState
from shared.pipeline.launch_tuning import handle_tuning_request
from shared.vertex import PermanentVertexError, VertexTuning
from tests.integration.pipeline_helpers import PROJECT, RecordingBus, validated_job, vertex_for

pytestmark = pytest.mark.integration


def inject(twin, **rule) -> None:
    request = urllib.request.Request(f"{twin.url}/twin/faults", data=json.dumps(rule).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


def faults(twin) -> dict:
    with urllib.request.urlopen(f"{twin.url}/twin/faults", timeout=5) as response:
        return json.load(response)


@pytest.fixture
def clean_faults(twin):
    urllib.request.urlopen(urllib.request.Request(f"{twin.url}/twin/faults", method="DELETE"), timeout=5).close()
    before = len(faults(twin)["injected"])
    yield lambda: faults(twin)["injected"][before:]
    urllib.request.urlopen(urllib.request.Request(f"{twin.url}/twin/faults", method="DELETE"), timeout=5).close()


@pytest.mark.parametrize("answer", [429, 500, 503])
def test_a_read_answered_with_a_transient_error_is_retried_until_it_succeeds(twin, store, training_uri, clean_faults, answer):
    job_id, vertex = validated_job(store, training_uri), vertex_for(twin)
    created = vertex.create(job_id=job_id, job_settings=store.get(job_id)["settings"], training_uri=training_uri)
    inject(twin, operation="get", answer=answer, times=2)
    assert vertex.get(created.name).name == created.name
    assert [fault["answer"] for fault in clean_faults()] == [answer, answer]


def test_a_read_that_times_out_is_retried_and_succeeds(twin, store, training_uri, clean_faults):
    job_id = validated_job(store, training_uri)
    vertex = VertexTuning(Settings(project=PROJECT, region="us-central1", vertex_endpoint=twin.url, vertex_timeout_s=1.0))
    created = vertex.create(job_id=job_id, job_settings=store.get(job_id)["settings"], training_uri=training_uri)
    inject(twin, operation="get", answer="timeout", delay_s=1.5, times=1)
    assert vertex.get(created.name).state.startswith("JOB_STATE_")
    assert [fault["answer"] for fault in clean_faults()] == ["timeout"]


def test_a_read_that_keeps_failing_gives_up_within_its_deadline(twin, store, training_uri, clean_faults):
    from google.api_core.exceptions import RetryError, ServiceUnavailable

    job_id = validated_job(store, training_uri)
    vertex = VertexTuning(Settings(project=PROJECT, region="us-central1", vertex_endpoint=twin.url, vertex_timeout_s=1.0))
    created = vertex.create(job_id=job_id, job_settings=store.get(job_id)["settings"], training_uri=training_uri)
    inject(twin, operation="get", answer=503, times=100)
    with pytest.raises((RetryError, ServiceUnavailable)):
        vertex.get(created.name)
    assert 2 <= len(clean_faults()) < 100


@pytest.mark.parametrize("answer", [500, 503, "timeout"])
def test_a_create_that_fails_after_creating_is_found_on_redelivery_not_created_twice(twin, store, training_uri, clean_faults, answer):
    job_id, bus = validated_job(store, training_uri), RecordingBus()
    vertex = VertexTuning(Settings(project=PROJECT, region="us-central1", vertex_endpoint=twin.url, vertex_timeout_s=2.0))
    inject(twin, operation="create", answer=answer, when="after", delay_s=3.0)
    with pytest.raises(Exception) as raised:  # the handler raises: Pub/Sub redelivers the request
        handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    assert not isinstance(raised.value, PermanentVertexError)
    assert store.get(job_id)["state"] == JobState.LAUNCHING.value
    assert "leases" not in store.get(job_id) or not store.get(job_id)["leases"].get("launch"), "the lease is released"
    redelivered = handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    assert redelivered.action == "found_existing"
    listed = list(vertex._api()[1].list_tuning_jobs(request={"parent": f"projects/{PROJECT}/locations/us-central1",
                                                            "filter": f'labels.tunewire-job="{job_id}"'}))
    assert len(listed) == 1
    assert [fault["when"] for fault in clean_faults()] == ["after"]


def test_a_create_refused_before_anything_was_made_is_created_once_on_redelivery(twin, store, training_uri, clean_faults):
    job_id, bus, vertex = validated_job(store, training_uri), RecordingBus(), vertex_for(twin)
    inject(twin, operation="create", answer=503)
    with pytest.raises(Exception):
        handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    assert vertex.find_by_label(job_id) is None
    assert handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex).action == "launched"


def test_a_create_answered_400_fails_the_job_with_the_message(twin, store, training_uri, clean_faults):
    job_id, bus, vertex = validated_job(store, training_uri), RecordingBus(), vertex_for(twin)
    inject(twin, operation="create", answer=400)
    outcome = handle_tuning_request(job_id, store=store, bus=bus, vertex=vertex)
    job = store.get(job_id)
    assert outcome.action == "failed" and job["state"] == "FAILED"
    assert "400" in job["error"]["message"] and "invalid argument" in job["error"]["message"].lower()
    assert bus.events == [(job_id, "FAILED")]
