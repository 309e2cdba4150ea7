"""``:generateContent`` on a tuned endpoint: Gemini's request and response shapes.

Request: ``contents`` (text parts are used), ``systemInstruction``, and
``generationConfig.maxOutputTokens`` / ``temperature``. Response: one candidate with
``content.role = "model"`` and one text part, ``finishReason``, ``usageMetadata`` and
``modelVersion``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from infra.twin.engine import GenerationRequest, GenerationResult
from infra.twin.errors import ApiError
from infra.twin.wire import WireValueError, format_time, parse_double, parse_int64, utc_now

__all__ = ["generation_response", "parse_generation_request"]

_DEFAULT_MAX_OUTPUT_TOKENS: int = next(
    f.default for f in dataclasses.fields(GenerationRequest) if f.name == "max_output_tokens"
)
_DEFAULT_TEMPERATURE: float = next(f.default for f in dataclasses.fields(GenerationRequest) if f.name == "temperature")


def _text_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, Mapping):
        raise ApiError.invalid_argument(f"{where} must be a Content object.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise ApiError.invalid_argument(f"{where} must include at least one parts field.")
    return [dict(part) for part in parts if isinstance(part, Mapping)]


def parse_generation_request(body: Any) -> GenerationRequest:
    """Validate a GenerateContentRequest body into the engine's GenerationRequest."""
    if not isinstance(body, Mapping):
        raise ApiError.invalid_argument("Invalid JSON payload received: the body must be a GenerateContentRequest object.")
    contents = body.get("contents")
    if isinstance(contents, Mapping):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise ApiError.invalid_argument("contents is not specified: a request needs at least one Content.")
    clean: list[dict[str, Any]] = []
    for index, content in enumerate(contents):
        parts = _text_parts(content, f"contents[{index}]")
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise ApiError.invalid_argument(f"contents[{index}].role must be 'user' or 'model'; got {role!r}.")
        clean.append({"role": role, "parts": parts})
    system = body.get("systemInstruction")
    system_instruction = {"parts": _text_parts(system, "systemInstruction")} if system else None
    config = body.get("generationConfig") or {}
    if not isinstance(config, Mapping):
        raise ApiError.invalid_argument("generationConfig must be an object.")
    try:
        max_tokens = (
            parse_int64(config["maxOutputTokens"], "generation_config.max_output_tokens")
            if config.get("maxOutputTokens") is not None
            else _DEFAULT_MAX_OUTPUT_TOKENS
        )
        temperature = (
            parse_double(config["temperature"], "generation_config.temperature")
            if config.get("temperature") is not None
            else _DEFAULT_TEMPERATURE
        )
    except WireValueError as exc:
        raise ApiError.invalid_argument(f"Invalid JSON payload received. {exc}") from None
    if max_tokens < 1:
        raise ApiError.invalid_argument(f"generationConfig.maxOutputTokens must be at least 1; got {max_tokens}.")
    if not 0.0 <= temperature <= 2.0:
        raise ApiError.invalid_argument(f"generationConfig.temperature must be between 0 and 2; got {temperature}.")
    return GenerationRequest(
        contents=clean, system_instruction=system_instruction, max_output_tokens=max_tokens, temperature=temperature
    )


def generation_response(result: GenerationResult, *, model_version: str) -> dict[str, Any]:
    """A GenerateContentResponse with one candidate."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": result.text}]},
                "finishReason": result.finish_reason,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": result.prompt_token_count,
            "candidatesTokenCount": result.candidates_token_count,
            "totalTokenCount": result.prompt_token_count + result.candidates_token_count,
        },
        "modelVersion": model_version,
        "createTime": format_time(utc_now()),
        "responseId": uuid.uuid4().hex[:24],
    }
