"""Job ids: stable per upload, different per generation, always a valid Vertex label value."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from shared.jobs.identity import job_id_for_upload

LABEL_VALUE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def test_the_same_upload_always_gets_the_same_id():
    assert job_id_for_upload("b", "team/train.jsonl", 17) == job_id_for_upload("b", "team/train.jsonl", "17")


def test_a_new_generation_of_the_same_object_is_a_new_job():
    assert job_id_for_upload("b", "train.jsonl", 1) != job_id_for_upload("b", "train.jsonl", 2)


def test_the_id_starts_with_a_readable_stem_of_the_object_name():
    assert job_id_for_upload("b", "support/Chat Logs.v2.jsonl", 5).startswith("chat-logs-v2-")


@given(bucket=st.text(min_size=1, max_size=63), name=st.text(min_size=1, max_size=1024), generation=st.integers(min_value=0))
def test_any_object_name_gives_a_label_safe_id(bucket, name, generation):
    assert LABEL_VALUE.match(job_id_for_upload(bucket, name, generation))
