"""Checks on one parsed example (one JSONL line) against the Gemini supervised-tuning schema.

`check_example` reports findings into a collector and returns the example's shape (its texts,
turns, model turns and media) when it is structurally sound enough to count tokens for, or None.
Both camelCase and snake_case field names are accepted, as Vertex AI's proto-JSON parser does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.dataset.codes import Code
from shared.dataset.findings import FindingCollector
from shared.dataset.media import (
    MEDIA_RESOLUTIONS,
    MODALITY_LIMITS,
    Modality,
    estimated_media_tokens,
    is_gcs_uri,
    is_http_uri,
    modality_of,
)

SYSTEM = -1  # owner index of system-instruction and tool-declaration text

TOP_LEVEL_FIELDS = {
    "contents": "contents",
    "systemInstruction": "systemInstruction",
    "system_instruction": "systemInstruction",
    "tools": "tools",
    "generationConfig": "generationConfig",
    "generation_config": "generationConfig",
}
TURN_FIELDS = frozenset(("role", "parts"))
PART_KINDS = {
    "text": "text",
    "fileData": "fileData",
    "file_data": "fileData",
    "functionCall": "functionCall",
    "function_call": "functionCall",
    "functionResponse": "functionResponse",
    "function_response": "functionResponse",
}
REJECTED_PART_KINDS = {
    "inlineData": "inline data is not accepted for tuning: upload the bytes to Cloud Storage and reference them with fileData",
    "inline_data": "inline data is not accepted for tuning: upload the bytes to Cloud Storage and reference them with fileData",
    "executableCode": "executableCode parts are not accepted for tuning",
    "codeExecutionResult": "codeExecutionResult parts are not accepted for tuning",
}
ROLES = ("user", "model")


@dataclass(slots=True)
class MediaRef:
    uri: str
    modality: Modality
    path: str


@dataclass(slots=True)
class ExampleShape:
    """What the token counter and the dataset-level checks need from one sound example."""

    line: int
    n_turns: int
    model_turns: list[int]
    text_owners: list[int] = field(default_factory=list)  # turn index per text, SYSTEM for system
    texts: list[str] = field(default_factory=list)
    media_tokens: dict[int, int] = field(default_factory=dict)  # owner -> estimated media tokens
    unestimated_media: int = 0
    media: list[MediaRef] = field(default_factory=list)
    resolution: str | None = None


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _json_text(value: Any) -> str:
    """Function calls and declarations are counted as their JSON text."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):  # nested deeper than orjson writes
        return str(value)[:1_000_000]


def check_example(
    obj: Any,
    *,
    line: int,
    file: str,
    findings: FindingCollector,
) -> ExampleShape | None:
    """Check one parsed line; report findings; return its shape when tokens can be counted."""

    def add(code: Code, message: str, path: str = "") -> None:
        findings.add(code, message, line=line, path=path, file=file)

    if not isinstance(obj, dict):
        add(Code.NOT_AN_OBJECT, f"expected a JSON object, found {type(obj).__name__}")
        return None

    for key in obj:
        if key not in TOP_LEVEL_FIELDS and key != "messages":
            add(Code.UNKNOWN_FIELD, f"unknown top-level field {key!r}", key)

    contents = obj.get("contents")
    if contents is None:
        if "messages" in obj:
            add(Code.LEGACY_MESSAGES_FORMAT, "`messages` is the Gemini 1.0 format, no longer accepted", "messages")
        else:
            add(Code.MISSING_CONTENTS, "the example has no `contents` field")
        return None
    if not isinstance(contents, list):
        add(Code.WRONG_TYPE, f"`contents` must be a list of turns, found {type(contents).__name__}", "contents")
        return None
    if not contents:
        add(Code.EMPTY_CONTENTS, "`contents` is an empty list", "contents")
        return None

    shape = ExampleShape(line=line, n_turns=len(contents), model_turns=[])
    sound = True
    media_counts: dict[Modality, int] = {}

    system = _get(obj, "systemInstruction", "system_instruction")
    if system is not None and not _check_system_instruction(system, shape, add):
        sound = False

    tools = obj.get("tools")
    if tools is not None:
        if isinstance(tools, list):
            if tools:
                shape.text_owners.append(SYSTEM)
                shape.texts.append(_json_text(tools))
        else:
            add(Code.WRONG_TYPE, f"`tools` must be a list, found {type(tools).__name__}", "tools")
            sound = False

    generation_config = _get(obj, "generationConfig", "generation_config")
    if generation_config is not None:
        if isinstance(generation_config, dict):
            resolution = _get(generation_config, "mediaResolution", "media_resolution")
            if resolution is not None and resolution != "MEDIA_RESOLUTION_UNSPECIFIED":
                if resolution in MEDIA_RESOLUTIONS:
                    shape.resolution = resolution
                else:
                    add(
                        Code.INVALID_MEDIA_RESOLUTION,
                        f"mediaResolution {str(resolution)[:80]!r} is not one of {', '.join(MEDIA_RESOLUTIONS)}",
                        "generationConfig.mediaResolution",
                    )
                    sound = False
        else:
            add(Code.WRONG_TYPE, "`generationConfig` must be an object", "generationConfig")
            sound = False

    previous_role: str | None = None
    for t, turn in enumerate(contents):
        turn_path = f"contents[{t}]"
        if not isinstance(turn, dict):
            add(Code.WRONG_TYPE, f"a turn must be an object, found {type(turn).__name__}", turn_path)
            sound = False
            previous_role = None
            continue
        for key in turn:
            if key not in TURN_FIELDS:
                add(Code.UNKNOWN_FIELD, f"unknown field {key!r} in a turn", f"{turn_path}.{key}")
        role = turn.get("role")
        if role not in ROLES:
            shown = "missing" if role is None else repr(role)[:60]
            add(Code.INVALID_ROLE, f"role is {shown}; it must be exactly 'user' or 'model'", f"{turn_path}.role")
            sound = False
        elif role == previous_role:
            add(
                Code.TURNS_NOT_ALTERNATING,
                f"turn {t} is a second consecutive {role!r} turn",
                f"{turn_path}.role",
            )
            sound = False
        if role == "model":
            shape.model_turns.append(t)
        previous_role = role if role in ROLES else None

        parts = turn.get("parts")
        if not isinstance(parts, list):
            if parts is None:
                add(Code.EMPTY_PARTS, "the turn has no `parts`", f"{turn_path}.parts")
            else:
                add(Code.WRONG_TYPE, f"`parts` must be a list, found {type(parts).__name__}", f"{turn_path}.parts")
            sound = False
            continue
        if not parts:
            add(Code.EMPTY_PARTS, "`parts` is an empty list", f"{turn_path}.parts")
            sound = False
            continue
        for p, part in enumerate(parts):
            if not _check_part(part, f"{turn_path}.parts[{p}]", t, role, shape, media_counts, add):
                sound = False

    if not shape.model_turns:
        add(Code.NO_MODEL_TURN, "no turn has role 'model'", "contents")
        sound = False
    elif isinstance(contents[-1], dict) and contents[-1].get("role") == "user":
        add(Code.ENDS_ON_USER_TURN, "the last turn is a user turn and will not be trained on", f"contents[{len(contents) - 1}]")

    for modality, count in media_counts.items():
        limit = MODALITY_LIMITS[modality].max_per_example
        if limit is not None and count > limit:
            add(Code.TOO_MANY_MEDIA, f"{count} {modality.value} files in one example; at most {limit} allowed", "contents")
            sound = False

    return shape if sound else None


def _check_system_instruction(system: Any, shape: ExampleShape, add: Any) -> bool:
    path = "systemInstruction"
    if not isinstance(system, dict):
        add(Code.WRONG_TYPE, f"`systemInstruction` must be an object with `parts`, found {type(system).__name__}", path)
        return False
    parts = system.get("parts")
    if not isinstance(parts, list):
        add(Code.WRONG_TYPE, "`systemInstruction.parts` must be a list of text parts", f"{path}.parts")
        return False
    sound = True
    for p, part in enumerate(parts):
        part_path = f"{path}.parts[{p}]"
        if not isinstance(part, dict) or set(part) != {"text"}:
            add(Code.SYSTEM_INSTRUCTION_NOT_TEXT, "systemInstruction parts must be text only", part_path)
            sound = False
            continue
        text = part["text"]
        if not isinstance(text, str):
            add(Code.WRONG_TYPE, f"`text` must be a string, found {type(text).__name__}", f"{part_path}.text")
            sound = False
        elif text.strip():
            shape.text_owners.append(SYSTEM)
            shape.texts.append(text)
        else:
            add(Code.EMPTY_TEXT, "empty system instruction text", f"{part_path}.text")
            sound = False
    return sound


def _check_part(
    part: Any,
    path: str,
    turn: int,
    role: Any,
    shape: ExampleShape,
    media_counts: dict[Modality, int],
    add: Any,
) -> bool:
    if not isinstance(part, dict):
        add(Code.WRONG_TYPE, f"a part must be an object, found {type(part).__name__}", path)
        return False
    kinds = [PART_KINDS[key] for key in part if key in PART_KINDS]
    if len(kinds) != 1:
        rejected = [REJECTED_PART_KINDS[key] for key in part if key in REJECTED_PART_KINDS]
        if rejected and not kinds:
            detail = rejected[0]
        elif kinds:
            detail = f"it holds {len(kinds)} kinds ({', '.join(kinds)})"
        else:
            detail = f"it holds none (keys: {', '.join(list(part)[:5]) or 'none'})"
        add(Code.INVALID_PART, f"a part must be exactly one of text, fileData, functionCall, functionResponse; {detail}", path)
        return False
    for key in part:
        if key not in PART_KINDS:
            add(Code.UNKNOWN_FIELD, f"unknown field {key!r} in a part", f"{path}.{key}")
    kind = kinds[0]

    if kind == "text":
        text = part["text"]
        if not isinstance(text, str):
            add(Code.WRONG_TYPE, f"`text` must be a string, found {type(text).__name__}", f"{path}.text")
            return False
        if not text.strip():
            add(Code.EMPTY_TEXT, "empty text part", f"{path}.text")
            return False
        shape.text_owners.append(turn)
        shape.texts.append(text)
        return True

    if kind == "functionCall":
        value = _get(part, "functionCall", "function_call")
        if role != "model":
            add(Code.FUNCTION_CALL_OUTSIDE_MODEL_TURN, f"functionCall in a {role!r} turn", path)
            return False
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            add(Code.WRONG_TYPE, "`functionCall` must be an object with a string `name`", path)
            return False
        shape.text_owners.append(turn)
        shape.texts.append(_json_text(value))
        return True

    if kind == "functionResponse":
        value = _get(part, "functionResponse", "function_response")
        if role != "user":
            add(Code.FUNCTION_RESPONSE_OUTSIDE_USER_TURN, f"functionResponse in a {role!r} turn", path)
            return False
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            add(Code.WRONG_TYPE, "`functionResponse` must be an object with a string `name`", path)
            return False
        shape.text_owners.append(turn)
        shape.texts.append(_json_text(value))
        return True

    return _check_file_data(_get(part, "fileData", "file_data"), f"{path}.fileData", turn, shape, media_counts, add)


def _check_file_data(
    value: Any,
    path: str,
    turn: int,
    shape: ExampleShape,
    media_counts: dict[Modality, int],
    add: Any,
) -> bool:
    if not isinstance(value, dict):
        add(Code.WRONG_TYPE, "`fileData` must be an object with `mimeType` and `fileUri`", path)
        return False
    mime = _get(value, "mimeType", "mime_type")
    uri = _get(value, "fileUri", "file_uri")
    if not isinstance(mime, str) or not isinstance(uri, str):
        add(Code.WRONG_TYPE, "`fileData` needs string `mimeType` and `fileUri`", path)
        return False
    modality = modality_of(mime)
    sound = True
    if modality is None:
        add(Code.UNSUPPORTED_MIME_TYPE, f"MIME type {mime[:80]!r} is not accepted for tuning", f"{path}.mimeType")
        sound = False
    if not is_gcs_uri(uri) and not is_http_uri(uri):
        add(Code.INVALID_FILE_URI, f"fileUri {uri[:120]!r} is not gs://bucket/object or http(s)://", f"{path}.fileUri")
        sound = False
    if not sound or modality is None:
        return False
    media_counts[modality] = media_counts.get(modality, 0) + 1
    shape.media.append(MediaRef(uri=uri, modality=modality, path=f"{path}.fileUri"))
    tokens = estimated_media_tokens(modality, shape.resolution)
    if tokens is None:
        shape.unestimated_media += 1
    else:
        shape.media_tokens[turn] = shape.media_tokens.get(turn, 0) + tokens
    return True
