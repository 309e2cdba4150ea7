"""The load scenario, one implementation for benchmarks/load_bench.py and tests/reliability/test_load.py.

Two parts, on one local stack started with `LOAD_STACK`:

* **Upload burst** (`run_upload_burst`): N small valid datasets uploaded as fast as 16 threads
  can, then counted from outside: job documents per upload (ids derived with
  `job_id_for_upload`, as the pipeline does), Vertex jobs per upload (the twin's jobs grouped by
  their `tunewire-job` label), uploads lost (no job, or a job that never reached VALIDATED), and
  upload → VALIDATED latency from each job's committed history.
* **Poll tick** (`seed_active_jobs` + `measure_poll`): M jobs that each have a real Vertex job on
  the twin, queued behind the burst (the twin has one slot, held by a fake job whose steps take
  minutes, so every other job stays JOB_STATE_PENDING), and matching Firestore documents in
  PENDING; then `poll_active_jobs` — the code the poll_jobs function runs on each tick — is timed
  directly, against the same GetTuningJob calls made with no Firestore work.

The seeded documents live in their own collection (`POLL_COLLECTION`), read through the same
`JobStore` with the same query: the stack's own ticker keeps polling `jobs` (the burst's jobs)
every tick, and two pollers on the same documents would measure the emulator's lock waits and
leave no way to tell which poller recorded a state.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from benchmarks.stack_measure import at, percentile, small_dataset, upload
from infra.stack import LocalStack
from shared.clients import Clients
from shared.jobs.states import JobState
from shared.jobs.store import JobStore, history_entry, utc_now
from shared.pipeline.poll_jobs import PollSummary, poll_active_jobs
from shared.uploads.settings import default_settings
from shared.vertex import JOB_LABEL

LOAD_STACK: dict[str, Any] = {
    "local_model": "tiny",
    "twin_engine": "fake",
    # One training slot, held by a fake job whose every step sleeps 10 minutes: every later
    # Vertex job stays queued (JOB_STATE_PENDING) for the whole run, as with a real quota.
    "max_concurrent_jobs": 1,
    "quota_mode": "queue",
    "fake_step_seconds": 600.0,
    "tick_interval_s": 5.0,  # StackConfig's default, what `tunewire up` runs
}
"""StackConfig fields of the load stack (the bench and the test start the same one)."""

CLOUD_TICK_INTERVAL_S = 60.0
"""Cloud Scheduler's shortest interval (terraform's poll_interval_minutes is 1 to 30, default 5)."""

BURST_PREFIX = "load/burst/"
POLL_COLLECTION = "load-poll-jobs"
POLL_DATASET = "load/poll-seed/train.jsonl"

_UNDECIDED = {JobState.RECEIVED.value, JobState.VALIDATING.value}
_LAUNCHING = {JobState.VALIDATED.value, JobState.LAUNCHING.value}


class StackCrashed(RuntimeError):
    """A stack component exited while the scenario ran: its numbers would mean nothing."""


# --- upload burst ----------------------------------------------------------------------------


@dataclass
class BurstResult:
    """What a burst of uploads left behind, counted from Firestore and the twin."""

    uploads: int
    jobs: int  # job documents whose source is one of the burst's uploads
    duplicate_jobs: int  # documents beyond one per upload
    vertex_jobs: int  # twin jobs labelled with one of the burst's job ids
    duplicate_vertex_jobs: int  # Vertex jobs beyond one per job
    unlaunched: int  # validated jobs with no Vertex job when the wait ended
    missing: int  # uploads with no job document at all
    never_validated: int  # jobs whose history has no VALIDATED entry when the wait ended
    validated_latencies_s: list[float]
    states: dict[str, int]
    send_s: float  # time to send every upload
    all_validated_s: float  # first upload sent → last job seen past VALIDATING

    @property
    def duplicates(self) -> int:
        return self.duplicate_jobs + self.duplicate_vertex_jobs

    @property
    def lost(self) -> int:
        return self.missing + self.never_validated

    @property
    def validated(self) -> int:
        return len(self.validated_latencies_s)

    @property
    def validated_p50_s(self) -> float:
        return statistics.median(self.validated_latencies_s) if self.validated_latencies_s else float("nan")

    @property
    def validated_p95_s(self) -> float:
        return percentile(self.validated_latencies_s, 95) if self.validated_latencies_s else float("nan")


def run_upload_burst(
    stack: LocalStack, clients: Clients, *, uploads: int, examples: int = 12, threads: int = 16, timeout_s: float = 300.0
) -> BurstResult:
    """Upload `uploads` small valid datasets at once; wait until each is decided, then launched."""
    bucket = stack.config.datasets_bucket
    body = small_dataset(examples)
    names = [f"{BURST_PREFIX}{index:04d}/train.jsonl" for index in range(uploads)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        sent = list(pool.map(lambda name: upload(clients, bucket, name, body), names))
    send_s = time.monotonic() - started
    uploaded_at = dict(sent)

    def decided(jobs: dict[str, dict[str, Any]]) -> bool:
        return all(job_id in jobs and jobs[job_id]["state"] not in _UNDECIDED for job_id in uploaded_at)

    _wait_for_jobs(stack, clients, BURST_PREFIX, decided, timeout_s)
    all_validated_s = time.monotonic() - started

    def launched(jobs: dict[str, dict[str, Any]]) -> bool:
        return all(job_id not in jobs or jobs[job_id]["state"] not in _LAUNCHING for job_id in uploaded_at)

    documents = _wait_for_jobs(stack, clients, BURST_PREFIX, launched, timeout_s)
    jobs = {job["id"]: job for job in documents}
    sources = Counter(job["source"]["name"] for job in documents)
    labels = Counter(twin_job_labels(clients))
    validated_at = {
        job_id: validated
        for job_id in uploaded_at
        if job_id in jobs and (validated := at(jobs[job_id], JobState.VALIDATED.value)) is not None
    }
    return BurstResult(
        uploads=uploads,
        jobs=len(documents),
        duplicate_jobs=len(documents) - len(sources),
        vertex_jobs=sum(labels[job_id] for job_id in uploaded_at),
        duplicate_vertex_jobs=sum(max(0, labels[job_id] - 1) for job_id in uploaded_at),
        unlaunched=sum(1 for job_id in validated_at if labels[job_id] == 0),
        missing=sum(1 for job_id in uploaded_at if job_id not in jobs),
        never_validated=sum(1 for job_id in uploaded_at if job_id in jobs) - len(validated_at),
        validated_latencies_s=[validated_at[job_id] - uploaded_at[job_id] for job_id in validated_at],
        states=dict(Counter(job["state"] for job in documents)),
        send_s=send_s,
        all_validated_s=all_validated_s,
    )


def _documents_under(clients: Clients, prefix: str) -> list[dict[str, Any]]:
    """Every job document whose source object name starts with `prefix` (one range query)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        clients.firestore.collection(clients.settings.jobs_collection)
        .where(filter=FieldFilter("source.name", ">=", prefix))
        .where(filter=FieldFilter("source.name", "<", prefix + "\uf8ff"))
    )
    return [snapshot.to_dict() for snapshot in query.stream()]


def _wait_for_jobs(
    stack: LocalStack,
    clients: Clients,
    prefix: str,
    done: Callable[[dict[str, dict[str, Any]]], bool],
    timeout_s: float,
) -> list[dict[str, Any]]:
    """Re-read the prefix's jobs until `done` holds or the time is up; returns the last read.

    Never raises on a timeout: whatever is still undone is counted (lost, unlaunched) by the
    caller, which is the measurement.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        documents = _documents_under(clients, prefix)
        if done({job["id"]: job for job in documents}) or time.monotonic() > deadline:
            return documents
        crashed = stack.crashed()
        if crashed:
            raise StackCrashed(str(crashed[0]))
        time.sleep(0.5)


def twin_job_labels(clients: Clients) -> list[str]:
    """The `tunewire-job` label of every tuning job on the twin (one entry per Vertex job)."""
    _, client = clients.vertex._api()
    parent = f"projects/{clients.settings.project}/locations/{clients.settings.region}"
    pages = client.list_tuning_jobs(request={"parent": parent, "page_size": 1000})
    return [job.labels.get(JOB_LABEL, "") for job in pages]


# --- poll tick ---------------------------------------------------------------------------------


@dataclass
class PollSeed:
    """Active jobs ready to poll: the store that holds them and each one's Vertex job name."""

    store: JobStore
    vertex_names: dict[str, str]  # our job id -> projects/.../tuningJobs/<id>


def seed_active_jobs(stack: LocalStack, clients: Clients, *, count: int, threads: int = 8) -> PollSeed:
    """Create `count` Vertex jobs on the twin (queued) and their PENDING job documents.

    The documents look as launch_tuning leaves them, except that `vertex.state` is not set yet:
    the first poll tick must record it for every job, which shows each one was looked at.
    """
    bucket = stack.config.datasets_bucket
    upload(clients, bucket, POLL_DATASET, small_dataset(12), metadata={"tunewire-role": "data"})  # starts no job
    training_uri = f"gs://{bucket}/{POLL_DATASET}"
    settings = default_settings(clients.settings).to_document()
    job_ids = [f"load-poll-{index:05d}" for index in range(count)]

    def create(job_id: str) -> tuple[str, str]:
        created = clients.vertex.create(job_id=job_id, job_settings=settings, training_uri=training_uri)
        return job_id, created.name

    with ThreadPoolExecutor(max_workers=threads) as pool:
        vertex_names = dict(pool.map(create, job_ids))
    store = JobStore(clients.firestore, POLL_COLLECTION)
    now = utc_now()
    for start in range(0, count, 500):  # a Firestore batch holds at most 500 writes
        batch = clients.firestore.batch()
        for job_id in job_ids[start : start + 500]:
            batch.set(store.reference(job_id), {
                "id": job_id,
                "state": JobState.PENDING.value,
                "source": {"bucket": bucket, "name": POLL_DATASET, "uri": training_uri, "kind": "dataset"},
                "settings": settings,
                "training_uri": training_uri,
                "vertex": {"job_name": vertex_names[job_id]},
                "history": [history_entry(JobState.PENDING, f"created Vertex AI tuning job {vertex_names[job_id]}", now)],
                "created_at": now,
                "updated_at": now,
            })  # fmt: skip
        batch.commit()
    return PollSeed(store=store, vertex_names=vertex_names)


@dataclass
class PollMeasure:
    """One first tick (records every job's Vertex state), then steady ticks and baselines, interleaved."""

    jobs: int
    first: PollSummary
    first_s: float
    states_recorded: int  # documents with vertex.state set right after the first tick
    states_matching: int  # ... and equal to what GetTuningJob then answered
    steady: list[PollSummary] = field(default_factory=list)
    steady_s: list[float] = field(default_factory=list)
    select_s: list[float] = field(default_factory=list)  # the active-jobs query alone
    baseline_s: list[float] = field(default_factory=list)  # the same GETs, one after another
    baseline_threads_s: list[float] = field(default_factory=list)  # the same GETs, poll's concurrency

    @property
    def poll_s(self) -> float:
        return statistics.median(self.steady_s)

    @property
    def baseline(self) -> float:
        return statistics.median(self.baseline_s)

    @property
    def ratio(self) -> float:
        return self.poll_s / self.baseline


def measure_poll(clients: Clients, seed: PollSeed, *, repeats: int) -> PollMeasure:
    """Time `poll_active_jobs` on the seeded jobs: the first tick, then `repeats` steady ticks,
    each after a baseline pass of the same GetTuningJob calls with no Firestore work."""
    concurrency = clients.settings.poll_concurrency

    def tick() -> tuple[PollSummary, float]:
        started = time.perf_counter()
        summary = poll_active_jobs(store=seed.store, bus=clients.bus, vertex=clients.vertex, concurrency=concurrency)
        return summary, time.perf_counter() - started

    first, first_s = tick()
    recorded = {job["id"]: (job.get("vertex") or {}).get("state") for job in _documents(clients)}
    twin_states, _ = _get_all(clients, seed, threads=1)
    measure = PollMeasure(
        jobs=len(seed.vertex_names),
        first=first,
        first_s=first_s,
        states_recorded=sum(1 for job_id in seed.vertex_names if recorded.get(job_id)),
        states_matching=sum(1 for job_id, state in twin_states.items() if recorded.get(job_id) == state),
    )
    for _ in range(repeats):
        measure.baseline_s.append(_get_all(clients, seed, threads=1)[1])
        measure.baseline_threads_s.append(_get_all(clients, seed, threads=concurrency)[1])
        started = time.perf_counter()
        list(seed.store.active_jobs())
        measure.select_s.append(time.perf_counter() - started)
        summary, seconds = tick()
        measure.steady.append(summary)
        measure.steady_s.append(seconds)
    return measure


def _documents(clients: Clients) -> list[dict[str, Any]]:
    """Every seeded document, whatever its state now."""
    return [snapshot.to_dict() for snapshot in clients.firestore.collection(POLL_COLLECTION).stream()]


def _get_all(clients: Clients, seed: PollSeed, *, threads: int) -> tuple[dict[str, str], float]:
    """GetTuningJob for every seeded job, nothing else: each job's state, and the seconds it took."""
    names = list(seed.vertex_names.items())
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        states = dict(pool.map(lambda item: (item[0], clients.vertex.get(item[1]).state), names))
    return states, time.perf_counter() - started
