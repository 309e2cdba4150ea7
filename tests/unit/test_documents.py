"""Compare-and-set on one document (shared/documents.py), against a mocked document reference.
The same rule against the real emulator, with racing threads: tests/integration/test_job_store.py."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import firestore

from shared.documents import LostRace, change_document

READ_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def snapshot(mocker, document: dict[str, Any] | None, update_time: datetime = READ_AT) -> Any:
    return mocker.Mock(exists=document is not None, update_time=update_time, to_dict=lambda: document)


@pytest.fixture(autouse=True)
def no_waiting(mocker):
    mocker.patch("tenacity.nap.time.sleep")


def test_nothing_is_written_when_decide_asks_for_no_write(mocker):
    ref = mocker.Mock()
    ref.get.return_value = snapshot(mocker, {"state": "RUNNING"})
    assert change_document(ref, lambda document: (document["state"], None)) == "RUNNING"
    ref.update.assert_not_called()
    ref.create.assert_not_called()


def test_an_existing_document_is_updated_only_if_unchanged_since_the_read(mocker):
    ref = mocker.Mock()
    ref.get.return_value = snapshot(mocker, {"n": 1})
    assert change_document(ref, lambda document: ("done", {"n": document["n"] + 1})) == "done"
    (write,), kwargs = ref.update.call_args
    assert write == {"n": 2}
    assert kwargs["option"] == firestore.Client.write_option(last_update_time=READ_AT)  # the update time as read
    ref.create.assert_not_called()


def test_a_missing_document_is_created_only_if_still_missing(mocker):
    ref = mocker.Mock()
    ref.get.return_value = snapshot(mocker, None)
    assert change_document(ref, lambda document: (document is None, {"fresh": True})) is True
    ref.create.assert_called_once_with({"fresh": True})
    ref.update.assert_not_called()


@pytest.mark.parametrize("lost", [
    exceptions.FailedPrecondition("changed"),
    exceptions.AlreadyExists("created meanwhile"),
    exceptions.NotFound("deleted meanwhile"),
])
def test_a_lost_race_reads_again_and_decides_on_what_the_winner_wrote(mocker, lost):
    ref = mocker.Mock()
    ref.get.side_effect = [snapshot(mocker, {"n": 1}), snapshot(mocker, {"n": 5})]
    ref.update.side_effect = [lost, None]
    seen: list[int] = []

    def decide(document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        seen.append(document["n"])
        return document["n"] + 1, {"n": document["n"] + 1}

    assert change_document(ref, decide) == 6
    assert seen == [1, 5]
    assert ref.update.call_args.args == ({"n": 6},)


def test_losing_every_round_gives_up_with_lost_race(mocker):
    ref = mocker.Mock()
    ref.get.return_value = snapshot(mocker, {"n": 1})
    ref.update.side_effect = exceptions.FailedPrecondition("changed")
    with pytest.raises(LostRace):
        change_document(ref, lambda document: (None, {"n": 2}), attempts=3)
    assert ref.update.call_count == 3


def test_other_errors_are_not_mistaken_for_a_lost_race(mocker):
    ref = mocker.Mock()
    ref.get.return_value = snapshot(mocker, {"n": 1})
    ref.update.side_effect = exceptions.PermissionDenied("no")
    with pytest.raises(exceptions.PermissionDenied):
        change_document(ref, lambda document: (None, {"n": 2}))
    assert ref.update.call_count == 1
