"""One parsed line against the Gemini tuning schema: every line-level code, with its path."""

from __future__ import annotations

from typing import Any

import pytest

from shared.dataset.codes import Severity
from shared.dataset.example_checks import SYSTEM, check_example
from shared.dataset.findings import FindingCollector
from tests.unit.helpers_dataset import chat, turn


def check(obj: Any) -> tuple[Any, list[tuple[str, str]]]:
    findings = FindingCollector()
    shape = check_example(obj, line=7, file="training", findings=findings)
    kept = findings.kept(Severity.ERROR) + findings.kept(Severity.WARNING)
    assert all(f.line == 7 for f in kept)
    return shape, [(f.code.value, f.path) for f in kept]


def image(uri: str = "gs://bucket/cat.png", mime: str = "image/png") -> dict[str, Any]:
    return {"fileData": {"mimeType": mime, "fileUri": uri}}


def test_a_well_formed_chat_has_no_findings_and_keeps_its_texts_in_order():
    shape, found = check(chat(("hi there", "hello"), ("and you?", "fine"), system="be kind"))
    assert found == []
    assert shape.texts == ["be kind", "hi there", "hello", "and you?", "fine"]
    assert shape.text_owners == [SYSTEM, 0, 1, 2, 3]
    assert shape.model_turns == [1, 3]


def test_snake_case_field_names_are_accepted_like_vertex_proto_json():
    obj = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [{"role": "user", "parts": [{"file_data": {"mime_type": "image/png", "file_uri": "gs://b/o.png"}}]}, turn("model", "ok")],
        "generation_config": {"media_resolution": "MEDIA_RESOLUTION_LOW"},
    }
    shape, found = check(obj)
    assert found == []
    assert shape.resolution == "MEDIA_RESOLUTION_LOW"
    assert shape.media_tokens == {0: 64}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([1, 2], [("NOT_AN_OBJECT", "")]),
        ("text", [("NOT_AN_OBJECT", "")]),
        ({"messages": [{"role": "user", "content": "x"}]}, [("LEGACY_MESSAGES_FORMAT", "messages")]),
        ({"prompt": "x"}, [("MISSING_CONTENTS", ""), ("UNKNOWN_FIELD", "prompt")]),
        ({"contents": []}, [("EMPTY_CONTENTS", "contents")]),
        ({"contents": {"role": "user"}}, [("WRONG_TYPE", "contents")]),
        ({"contents": ["hello"]}, [("NO_MODEL_TURN", "contents"), ("WRONG_TYPE", "contents[0]")]),
        ({"contents": [turn("user", "q"), turn("assistant", "a")]}, [("INVALID_ROLE", "contents[1].role"), ("NO_MODEL_TURN", "contents")]),
        ({"contents": [{"parts": [{"text": "q"}]}, turn("model", "a")]}, [("INVALID_ROLE", "contents[0].role")]),
        ({"contents": [turn("user", "a"), turn("user", "b"), turn("model", "c")]}, [("TURNS_NOT_ALTERNATING", "contents[1].role")]),
        ({"contents": [turn("user", "only")]}, [("NO_MODEL_TURN", "contents")]),
        ({"contents": [turn("user", "q"), {"role": "model", "parts": []}]}, [("EMPTY_PARTS", "contents[1].parts")]),
        ({"contents": [turn("user", "q"), {"role": "model"}]}, [("EMPTY_PARTS", "contents[1].parts")]),
        ({"contents": [turn("user", "q"), turn("model", "  ")]}, [("EMPTY_TEXT", "contents[1].parts[0].text")]),
        ({"contents": [turn("user", "q"), {"role": "model", "parts": [{"text": 5}]}]}, [("WRONG_TYPE", "contents[1].parts[0].text")]),
        ({"contents": [turn("user", "q"), {"role": "model", "parts": [{"text": "a", "fileData": {}}]}]}, [("INVALID_PART", "contents[1].parts[0]")]),
        ({"contents": [turn("user", "q"), {"role": "model", "parts": [{}]}]}, [("INVALID_PART", "contents[1].parts[0]")]),
        ({"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}, turn("model", "a")]}, [("INVALID_PART", "contents[0].parts[0]")]),
        ({"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}]}, turn("model", "a")]}, [("FUNCTION_CALL_OUTSIDE_MODEL_TURN", "contents[0].parts[0]")]),
        ({"contents": [turn("user", "q"), {"role": "model", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}, [("FUNCTION_RESPONSE_OUTSIDE_USER_TURN", "contents[1].parts[0]")]),
        ({"systemInstruction": {"parts": [image()]}, **chat(("q", "a"))}, [("SYSTEM_INSTRUCTION_NOT_TEXT", "systemInstruction.parts[0]")]),
        ({"systemInstruction": "be brief", **chat(("q", "a"))}, [("WRONG_TYPE", "systemInstruction")]),
        ({"contents": [{"role": "user", "parts": [image(mime="image/gif")]}, turn("model", "a")]}, [("UNSUPPORTED_MIME_TYPE", "contents[0].parts[0].fileData.mimeType")]),
        ({"contents": [{"role": "user", "parts": [image(uri="ftp://host/x.png")]}, turn("model", "a")]}, [("INVALID_FILE_URI", "contents[0].parts[0].fileData.fileUri")]),
        ({"contents": [{"role": "user", "parts": [image(uri="gs://bucket-only")]}, turn("model", "a")]}, [("INVALID_FILE_URI", "contents[0].parts[0].fileData.fileUri")]),
        ({"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "gs://b/o"}}]}, turn("model", "a")]}, [("WRONG_TYPE", "contents[0].parts[0].fileData")]),
        ({**chat(("q", "a")), "generationConfig": {"mediaResolution": "ULTRA"}}, [("INVALID_MEDIA_RESOLUTION", "generationConfig.mediaResolution")]),
        ({**chat(("q", "a")), "tools": {"functionDeclarations": []}}, [("WRONG_TYPE", "tools")]),
    ],
)
def test_each_schema_violation_is_reported_with_its_code_and_json_path(obj, expected):
    shape, found = check(obj)
    assert sorted(found) == sorted(expected)
    assert shape is None


def test_a_conversation_ending_on_a_user_turn_is_a_warning_not_an_error():
    shape, found = check({"contents": [turn("user", "q"), turn("model", "a"), turn("user", "more?")]})
    assert found == [("ENDS_ON_USER_TURN", "contents[2]")]
    assert shape is not None


def test_unknown_fields_are_warned_at_every_level_and_the_example_still_counts():
    obj = {"contents": [{"role": "user", "parts": [{"text": "q", "thought": True}], "id": 1}, turn("model", "a")], "temperature": 0.1}
    shape, found = check(obj)
    assert sorted(found) == [
        ("UNKNOWN_FIELD", "contents[0].id"),
        ("UNKNOWN_FIELD", "contents[0].parts[0].thought"),
        ("UNKNOWN_FIELD", "temperature"),
    ]
    assert shape is not None


def test_media_counts_per_modality_are_capped_per_example():
    images = [image(f"gs://b/{i}.png") for i in range(31)]
    shape, found = check({"contents": [{"role": "user", "parts": images}, turn("model", "a")]})
    assert found == [("TOO_MANY_MEDIA", "contents")]
    two_videos = [image("gs://b/1.mp4", "video/mp4"), image("gs://b/2.mp4", "video/mp4")]
    _, found = check({"contents": [{"role": "user", "parts": two_videos}, turn("model", "a")]})
    assert found == [("TOO_MANY_MEDIA", "contents")]


def test_image_tokens_are_estimated_by_resolution_and_other_media_are_counted_as_unestimated():
    obj = {
        "contents": [{"role": "user", "parts": [image(), image("gs://b/a.mp3", "audio/mp3")]}, turn("model", "a")],
        "generationConfig": {"mediaResolution": "MEDIA_RESOLUTION_LOW"},
    }
    shape, found = check(obj)
    assert found == []
    assert shape.media_tokens == {0: 64}
    assert shape.unestimated_media == 1
    assert [ref.uri for ref in shape.media] == ["gs://bucket/cat.png", "gs://b/a.mp3"]


def test_function_calls_and_responses_are_counted_as_their_json_text():
    obj = {
        "contents": [
            turn("user", "weather?"),
            {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"t": 3}}}]},
            turn("model", "3 degrees"),
        ],
        "tools": [{"functionDeclarations": [{"name": "weather"}]}],
    }
    shape, found = check(obj)
    assert found == []
    assert shape.text_owners == [SYSTEM, 0, 1, 2, 3]
    assert '"city":"Oslo"' in shape.texts[2]
