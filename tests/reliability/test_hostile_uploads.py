"""Hostile uploads on the real local stack: odd object names, hostile manifests, and metadata
aimed at Vertex labels, display names or files outside the datasets bucket.

The contract: every upload ends as one job in a terminal state with a reason: INVALID with a
coded error when a manifest or setting cannot be used, SUCCEEDED when only the name is odd.
The Vertex job of a tunewire job is labelled with exactly {"tunewire-job": <job id>} (a valid
label value), its display name is the job id or the uploader's printable display name, and no
component reads an object outside the datasets bucket. The last point is read from
fake-gcs-server's request log (tests/reliability/storage_reads.py), which sees the functions'
and the Vertex twin's reads alike; a bait dataset sits in a bucket of its own for uploads to
point at. Training content does not matter here, so the twin runs its fake engine.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.jobs.identity import job_id_for_upload
from tests.e2e.conftest import run_stack
from tests.e2e.stack_helpers import StackDriver, small_dataset
from tests.reliability.stack_faults import log_entries
from tests.reliability.storage_reads import object_reads_outside, storage_reads

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

PRIVATE_BUCKET = "tunewire-private"
BAIT = "bait/train.jsonl"
LABEL_VALUE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
UNPRINTABLE_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}
BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_NAME_BYTES = 1024
NONCE = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[StackDriver]:
    yield from run_stack(tmp_path_factory, twin_engine="fake", max_concurrent_jobs=16)


@pytest.fixture(scope="module")
def bait_uri(stack: StackDriver) -> str:
    """A valid dataset in a bucket the service could read but no upload may name. Marked as
    data: fake-gcs-server announces uploads to every bucket on `dataset-uploads` (Cloud Storage
    only those of the bucket with the notification), and the bait must not become a job itself."""
    bucket = stack.clients.storage.create_bucket(PRIVATE_BUCKET)
    blob = bucket.blob(BAIT)
    blob.metadata = {"tunewire-role": "data"}
    blob.upload_from_string(small_dataset())
    return f"gs://{PRIVATE_BUCKET}/{BAIT}"


@dataclass(frozen=True)
class Upload:
    """One hostile object and what must become of it."""

    label: str
    name: str
    body: bytes
    metadata: dict[str, str] | None = None
    expect: str = "SUCCEEDED"  # or INVALID
    code: str | None = None  # the error code an INVALID job's validation must report
    display_name: str | None = None  # the Vertex display name a SUCCEEDED job must get (None: the job id)


def put(stack: StackDriver, upload: Upload) -> str:
    """Upload under the exact name given (StackDriver.upload adds folders); returns the job id."""
    blob = stack.clients.storage.bucket(stack.stack.config.datasets_bucket).blob(upload.name)
    blob.metadata = upload.metadata
    blob.upload_from_string(upload.body)
    return job_id_for_upload(stack.stack.config.datasets_bucket, upload.name, blob.generation)


def sane_display_name(name: str) -> bool:
    return 0 < len(name) <= 128 and not any(
        unicodedata.category(ch) in UNPRINTABLE_CATEGORIES or ch in BIDI_CONTROLS for ch in name
    )


@dataclass
class Settled:
    """What became of a batch of uploads."""

    uploads: list[Upload]
    ids: dict[str, str]  # label -> job id
    jobs: dict[str, dict[str, Any]]  # label -> job document
    vertex: dict[str, list[Any]]  # label -> the twin's tuning jobs labelled with that job id

    def counts(self) -> dict[str, int]:
        """The measured numbers behind an outcome row."""
        states = Counter(job["state"] for job in self.jobs.values())
        tuning_jobs = [(self.ids[label], job) for label, jobs in self.vertex.items() for job in jobs]
        return {
            "uploads": len(self.uploads),
            "jobs": len(self.jobs),
            "terminal": sum(states[state] for state in ("SUCCEEDED", "INVALID", "FAILED", "CANCELLED")),
            "invalid": states["INVALID"],
            "succeeded": states["SUCCEEDED"],
            "coded_as_expected": sum(self.reports_expected_code(upload) for upload in self.uploads),
            "vertex_jobs": len(tuning_jobs),
            "labels_exact": sum(1 for job_id, job in tuning_jobs
                                if dict(job.labels) == {"tunewire-job": job_id} and LABEL_VALUE.fullmatch(job_id)),
            "display_names_sane": sum(1 for _, job in tuning_jobs if sane_display_name(job.tuned_model_display_name)),
        }

    def codes_reported(self) -> str:
        """The codes the INVALID jobs report that their uploads expected, as "CODE×n, …"."""
        found = Counter(upload.code for upload in self.uploads if self.reports_expected_code(upload))
        return ", ".join(f"{code}×{count}" for code, count in sorted(found.items())) or "none"

    def reports_expected_code(self, upload: Upload) -> bool:
        return bool(upload.code) and upload.code in self.jobs[upload.label]["validation"]["error_counts"]

    def display_names_as_asked(self) -> int:
        return sum(1 for u in self.uploads for job in self.vertex[u.label]
                   if job.tuned_model_display_name == (u.display_name or self.ids[u.label]))


def settle(stack: StackDriver, uploads: list[Upload]) -> Settled:
    ids = {upload.label: put(stack, upload) for upload in uploads}
    jobs = {label: stack.wait_for(job_id) for label, job_id in ids.items()}
    vertex = {label: stack.vertex_jobs_labelled(job_id) for label, job_id in ids.items()}
    return Settled(uploads, ids, jobs, vertex)


def check_each(settled: Settled, datasets_bucket: str) -> None:
    """Every upload: the expected terminal state with a reason; INVALID carries its code and
    launched nothing; SUCCEEDED has one Vertex job, labelled only with its id, the expected sane
    display name, and datasets inside the datasets bucket."""
    for upload in settled.uploads:
        job, job_id, vertex = settled.jobs[upload.label], settled.ids[upload.label], settled.vertex[upload.label]
        reason = job["history"][-1]["reason"]
        assert job["state"] == upload.expect and reason, (upload.label, job["state"], reason)
        assert job["source"]["name"] == upload.name, upload.label
        assert LABEL_VALUE.fullmatch(job_id), job_id
        if upload.expect == "INVALID":
            assert upload.code in job["validation"]["error_counts"], (upload.label, job["validation"]["error_counts"], reason)
            assert vertex == [], upload.label
            continue
        assert len(vertex) == 1, (upload.label, len(vertex))
        tuning_job = vertex[0]
        assert dict(tuning_job.labels) == {"tunewire-job": job_id}, (upload.label, dict(tuning_job.labels))
        assert tuning_job.tuned_model_display_name == (upload.display_name or job_id), upload.label
        assert sane_display_name(tuning_job.tuned_model_display_name), repr(tuning_job.tuned_model_display_name)
        spec = tuning_job.supervised_tuning_spec
        for uri in filter(None, (spec.training_dataset_uri, spec.validation_dataset_uri)):
            assert uri.startswith(f"gs://{datasets_bucket}/"), (upload.label, uri)


def fake_gcs_log(stack: StackDriver) -> Path:
    return stack.stack.run_dir / "fake-gcs-server.log"


def crashes(stack: StackDriver) -> int:
    """Pushes on which the functions that read upload-derived input (the name, the settings)
    raised: functions-framework logs one "Exception on <path>" per exception."""
    return sum(stack.log(f"fn-{function}").count("Exception on ") for function in ("validate_dataset", "launch_tuning"))


def outside_reads(stack: StackDriver) -> list[Any]:
    return object_reads_outside(fake_gcs_log(stack), stack.stack.config.datasets_bucket)


def storage_and_crashes(stack: StackDriver) -> tuple[str, dict[str, int]]:
    """The observed-text tail and counts every row shares — reads outside the datasets bucket (of
    them, reads of the bait bucket) and validate_dataset exceptions, as measured now — after
    checking that each is zero."""
    outside = outside_reads(stack)
    bait = sum(1 for read in storage_reads(fake_gcs_log(stack)) if read.bucket == PRIVATE_BUCKET)
    raised = crashes(stack)
    text = (f"{len(outside)} object reads outside the datasets bucket ({bait} requests to the bait bucket); "
            f"{raised} handler exceptions")
    counts = {"reads_outside_datasets": len(outside), "bait_bucket_requests": bait, "handler_exceptions": raised}
    assert counts == {"reads_outside_datasets": 0, "bait_bucket_requests": 0, "handler_exceptions": 0}, (counts, outside)
    return text, counts


def case_list(uploads: list[Upload], expect: str) -> str:
    return ", ".join(upload.label for upload in uploads if upload.expect == expect)


# --------------------------------------------------------------------------- object names


def padded_name(prefix: str, total_bytes: int) -> str:
    """`<prefix>aaa….jsonl` of exactly `total_bytes` UTF-8 bytes."""
    return prefix + "a" * (total_bytes - len(prefix.encode()) - len(".jsonl")) + ".jsonl"


def test_odd_but_legal_object_names_each_become_one_succeeded_job_labelled_only_with_its_id(stack, bait_uri, outcome):
    folder = f"names/{NONCE}/"
    uploads = [
        Upload("dot-dot-segment", folder + "a/../b/train.jsonl", small_dataset()),
        Upload("dot-segment", folder + "./train.jsonl", small_dataset()),
        Upload("nfc", folder + unicodedata.normalize("NFC", "café") + ".jsonl", small_dataset()),
        Upload("nfd", folder + unicodedata.normalize("NFD", "café") + ".jsonl", small_dataset()),
        Upload("rtl-override", folder + "\u202ecod.jsonl", small_dataset()),
        Upload("rtl-letters", folder + "נתונים.jsonl", small_dataset()),
        Upload("emoji-zwj", folder + "👩‍💻 data.jsonl", small_dataset()),
        Upload("tab", folder + "a\tb.jsonl", small_dataset()),
        Upload("delete", folder + "a\x7fb.jsonl", small_dataset()),
        Upload("nul", folder + "a\x00b.jsonl", small_dataset()),
        Upload("1024-bytes", padded_name(folder, MAX_NAME_BYTES), small_dataset()),
    ]
    settled = settle(stack, uploads)

    check_each(settled, stack.stack.config.datasets_bucket)
    assert settled.ids["nfc"] != settled.ids["nfd"], "NFC and NFD spellings are two objects, so two jobs"
    assert len(set(settled.ids.values())) == len(uploads)
    tail, storage = storage_and_crashes(stack)
    counts = settled.counts()
    outcome.record(
        area="hostile input", fault="odd but legal object names",
        injected=f"{len(uploads)} datasets named with: {case_list(uploads, 'SUCCEEDED')}",
        expected="each its own job, SUCCEEDED; Vertex labels exactly {tunewire-job: <id>}; display name = job id; "
                 "nothing read outside the datasets bucket",
        observed=(f"{counts['succeeded']}/{counts['uploads']} SUCCEEDED as {len(set(settled.ids.values()))} distinct jobs; "
                  f"{counts['labels_exact']}/{counts['vertex_jobs']} Vertex jobs labelled exactly with their id, "
                  f"{counts['display_names_sane']} with a sane display name; {tail}"),
        **counts, distinct_jobs=len(set(settled.ids.values())), **storage,
    )


def test_names_cloud_storage_refuses_are_tolerated_or_acknowledged_never_a_crash(stack, bait_uri, outcome):
    """fake-gcs-server accepts names real Cloud Storage refuses (CR, LF, over 1,024 bytes): the
    pipeline must still end each one cleanly."""
    folder = f"refused/{NONCE}/"
    tolerated = [
        Upload("line-feed", folder + "a\nb.jsonl", small_dataset()),
        Upload("carriage-return", folder + "a\rb.jsonl", small_dataset()),
        Upload("crlf", folder + "a\r\nb.jsonl", small_dataset()),
    ]
    too_long = Upload("1025-bytes", padded_name(folder, MAX_NAME_BYTES + 1), small_dataset())
    settled = settle(stack, tolerated)
    too_long_id = put(stack, too_long)

    check_each(settled, stack.stack.config.datasets_bucket)

    def acknowledged() -> list[dict[str, Any]]:
        return [e for e in log_entries(stack, "fn-validate_dataset") if e.get("message") == "poison message acknowledged" and "longer than Cloud Storage allows" in e.get("reason", "")]

    stack.wait_until(lambda: acknowledged(), timeout_s=60, what="the over-long name acknowledged as poison")
    over_long_jobs = 0 if stack.clients.jobs.get(too_long_id) is None else 1
    assert over_long_jobs == 0, "an object name Cloud Storage would refuse starts no job"
    tail, storage = storage_and_crashes(stack)
    assert len(acknowledged()) == 1
    counts = {**settled.counts(), "uploads": len(tolerated) + 1, "jobs": len(settled.jobs) + over_long_jobs}
    outcome.record(
        area="hostile input", fault="object names Cloud Storage refuses, accepted by fake-gcs-server",
        injected="names with LF, CR and CRLF, and one of 1,025 bytes (fake-gcs-server stores all four; Cloud Storage refuses them)",
        expected="CR/LF names: one SUCCEEDED job each, label-safe id; the 1,025-byte name: acknowledged as poison with a logged "
                 "reason, no job, no retry",
        observed=(f"{counts['succeeded']}/{len(tolerated)} CR/LF names SUCCEEDED, {counts['labels_exact']} Vertex jobs labelled "
                  f"exactly with their id; over-long name: {len(acknowledged())} poison acknowledgement logged, {over_long_jobs} jobs; "
                  f"{tail}"),
        **counts, poison_acknowledged=len(acknowledged()), **storage,
    )


# --------------------------------------------------------------------------- manifests


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_hostile_manifests_end_invalid_with_a_coded_error_and_read_nothing_outside_the_datasets_bucket(stack, bait_uri, outcome):
    folder = f"manifests/{NONCE}"
    datasets = stack.stack.config.datasets_bucket
    reports = stack.stack.config.reports_bucket
    put(stack, Upload("training", f"{folder}/train.jsonl", small_dataset(), {"tunewire-role": "data"}))

    def manifest(label: str, body: str | bytes, code: str) -> Upload:
        raw = body.encode() if isinstance(body, str) else body
        return Upload(label, f"{folder}/{label}.tunewire.json", raw, expect="INVALID", code=code)

    uploads = [
        manifest("huge-5mb", json.dumps({"training": "train.jsonl", "padding": "x" * 5_000_000}), "INVALID_MANIFEST"),
        manifest("nested-1020-deep-setting", '{"training": "train.jsonl", "epochs": ' + nested(1020) + "}", "INVALID_SETTING"),
        manifest("nested-past-the-parser", '{"training": "train.jsonl", "epochs": ' + nested(5000) + "}", "INVALID_MANIFEST"),
        manifest("training-in-another-bucket", json.dumps({"training": bait_uri}), "INVALID_MANIFEST"),
        manifest("validation-in-another-bucket", json.dumps({"training": "train.jsonl", "validation": bait_uri}), "INVALID_MANIFEST"),
        manifest("validation-in-reports-bucket", json.dumps({"training": "train.jsonl", "validation": f"gs://{reports}/reports/x.json"}),
                 "INVALID_MANIFEST"),
        manifest("training-relative-dot-dot", json.dumps({"training": "../train.jsonl"}), "INVALID_MANIFEST"),
        manifest("training-uri-dot-dot", json.dumps({"training": f"gs://{datasets}/{folder}/x/../train.jsonl"}), "INVALID_MANIFEST"),
        manifest("training-absolute-path", json.dumps({"training": "/etc/passwd"}), "INVALID_MANIFEST"),
        manifest("training-file-uri", json.dumps({"training": "file:///etc/passwd"}), "INVALID_MANIFEST"),
        manifest("validation-not-text", json.dumps({"training": "train.jsonl", "validation": ["a", {"b": 1}]}), "INVALID_SETTING"),
        manifest("not-an-object", "[]", "INVALID_MANIFEST"),
        manifest("not-json", b"{training: \xff", "INVALID_MANIFEST"),
    ]
    settled = settle(stack, uploads)

    check_each(settled, stack.stack.config.datasets_bucket)
    tail, storage = storage_and_crashes(stack)
    counts = settled.counts()
    outcome.record(
        area="hostile input", fault="hostile manifests",
        injected=f"{len(uploads)} manifests: {case_list(uploads, 'INVALID')}",
        expected="each its own job, INVALID with INVALID_MANIFEST or INVALID_SETTING; no Vertex job; nothing read outside "
                 "the datasets bucket",
        observed=(f"{counts['invalid']}/{counts['uploads']} INVALID, {counts['coded_as_expected']} reporting the expected code "
                  f"({settled.codes_reported()}); {counts['vertex_jobs']} Vertex jobs; {tail}"),
        **counts, **storage,
    )


# --------------------------------------------------------------------------- metadata


LABELLED_ODD = {
    "uppercase-spaces": "Support Bot V2",
    "label-syntax": 'tunewire-job=evil,env="prod"',
    "quotes": "it's \"quoted\" `x`",
    "100-chars": "d" * 100,
    "emoji-zwj": "bot 👩‍💻 v2",
    "hebrew": "בוט תמיכה",
    "nfd": unicodedata.normalize("NFD", "café crème"),
}
UNUSABLE = {
    "newline": ("tunewire-display-name", "line one\nline two", "INVALID_SETTING"),
    "crlf": ("tunewire-display-name", "a\r\nX-Injected: 1", "INVALID_SETTING"),
    "rtl-override": ("tunewire-display-name", "invoice\u202egnp.exe", "INVALID_SETTING"),
    "delete": ("tunewire-display-name", "a\x7fb", "INVALID_SETTING"),
    "129-chars": ("tunewire-display-name", "d" * 129, "INVALID_SETTING"),
    "base-model-newline": ("tunewire-base-model", "gemini-2.5-flash\nx", "INVALID_SETTING"),
    "labels-key": ("tunewire-labels", "tunewire-job=evil", "UNKNOWN_SETTING"),
    "label-key": ("tunewire-label-tunewire-job", "evil", "UNKNOWN_SETTING"),
}


def test_metadata_aimed_at_vertex_labels_or_display_names_never_reaches_them_raw(stack, bait_uri, outcome):
    folder = f"metadata/{NONCE}"
    uploads = [
        Upload(f"display-{label}", f"{folder}/{label}.jsonl", small_dataset(), {"tunewire-display-name": value}, display_name=value)
        for label, value in LABELLED_ODD.items()
    ] + [
        Upload("user-metadata", f"{folder}/user.jsonl", small_dataset(), {"owner": "Evil=Label, x\ny", "TunewireJob": "evil"}),
    ] + [
        Upload(f"bad-{label}", f"{folder}/bad-{label}.jsonl", small_dataset(), {key: value}, expect="INVALID", code=code)
        for label, (key, value, code) in UNUSABLE.items()
    ]
    settled = settle(stack, uploads)

    check_each(settled, stack.stack.config.datasets_bucket)
    tail, storage = storage_and_crashes(stack)
    counts = settled.counts()
    outcome.record(
        area="hostile input", fault="metadata aimed at Vertex labels and display names",
        injected=(f"{len(LABELLED_ODD)} printable but odd display names ({', '.join(LABELLED_ODD)}), hostile user metadata, "
                  f"{len(UNUSABLE)} unusable settings ({', '.join(UNUSABLE)})"),
        expected=("odd printable display names: SUCCEEDED, display name kept exactly; unusable ones: INVALID with a coded error; "
                  "every Vertex job labelled exactly {tunewire-job: <id>}"),
        observed=(f"{counts['succeeded']}/{counts['uploads']} SUCCEEDED, {settled.display_names_as_asked()} with the display "
                  f"name exactly as asked (else the job id); {counts['labels_exact']}/{counts['vertex_jobs']} Vertex jobs labelled "
                  f"exactly {{tunewire-job: <id>}}; {counts['invalid']} INVALID, {counts['coded_as_expected']} with the expected "
                  f"code ({settled.codes_reported()}); {tail}"),
        **counts, display_names_as_asked=settled.display_names_as_asked(), **storage,
    )


def test_metadata_may_not_name_a_validation_file_outside_the_datasets_bucket(stack, bait_uri, outcome):
    folder = f"validation/{NONCE}"
    datasets = stack.stack.config.datasets_bucket
    reports = stack.stack.config.reports_bucket
    put(stack, Upload("validation", f"{folder}/val.jsonl", small_dataset(6), {"tunewire-role": "data"}))
    uploads = [
        Upload("in-datasets-bucket", f"{folder}/ok.jsonl", small_dataset(), {"tunewire-validation": f"gs://{datasets}/{folder}/val.jsonl"}),
        Upload("in-private-bucket", f"{folder}/private.jsonl", small_dataset(), {"tunewire-validation": bait_uri},
               expect="INVALID", code="INVALID_SETTING"),
        Upload("in-reports-bucket", f"{folder}/reports.jsonl", small_dataset(),
               {"tunewire-validation": f"gs://{reports}/reports/any.json"}, expect="INVALID", code="INVALID_SETTING"),
        Upload("dot-dot-segment", f"{folder}/dotdot.jsonl", small_dataset(),
               {"tunewire-validation": f"gs://{datasets}/{folder}/x/../val.jsonl"}, expect="INVALID", code="INVALID_SETTING"),
    ]
    settled = settle(stack, uploads)

    check_each(settled, stack.stack.config.datasets_bucket)
    validation_uri = settled.vertex["in-datasets-bucket"][0].supervised_tuning_spec.validation_dataset_uri
    assert validation_uri == f"gs://{datasets}/{folder}/val.jsonl"
    tail, storage = storage_and_crashes(stack)
    counts = settled.counts()
    outcome.record(
        area="hostile input", fault="metadata naming files outside the datasets bucket",
        injected="tunewire-validation naming a bait dataset in another bucket, an object in the reports bucket, and a path "
                 "through a `..` segment; one control inside the datasets bucket",
        expected="the three: INVALID with INVALID_SETTING and no Vertex job; the control: SUCCEEDED, its Vertex job given its "
                 "validation file; nothing read outside the datasets bucket",
        observed=(f"{counts['invalid']} INVALID, {counts['coded_as_expected']} with the expected code ({settled.codes_reported()}); "
                  f"{counts['succeeded']} SUCCEEDED with {counts['vertex_jobs']} Vertex job, validation file in the datasets "
                  f"bucket: {validation_uri.startswith(f'gs://{datasets}/')}; {tail}"),
        **counts, **storage,
    )
