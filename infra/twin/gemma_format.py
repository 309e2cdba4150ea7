"""Gemini SFT examples → Gemma 3 token ids and loss labels for the text-only base models.

Gemma 3 270M is a base model without a chat template, so the twin writes Gemma's turn format::

    <bos><start_of_turn>user\\n{system}\\n\\n{user text}<end_of_turn>\\n<start_of_turn>model\\n{model text}<end_of_turn>\\n

Gemma has no system role: the system instruction opens the first user turn, separated from it by
a blank line. Labels are ``-100`` everywhere except on model-turn text and that turn's closing
``<end_of_turn>`` (HF convention: ``labels[i]`` is the target for token ``i``; the loss shifts).

Only text parts train. Media parts (``fileData``, ``inlineData``) and function parts
(``functionCall``, ``functionResponse``) are dropped, turns left empty disappear and neighbouring
turns of the same role merge. An example left without a model turn (or without a user turn
before it), or one that is malformed, is dropped with a reason. Examples longer than
``max_seq_len`` keep their beginning and count as truncated; one whose labels are all cut off is
dropped.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infra.twin.engine import DataStats

__all__ = [
    "BOS_ID",
    "END_OF_TURN_ID",
    "EOS_ID",
    "IGNORE_INDEX",
    "PAD_ID",
    "START_OF_TURN_ID",
    "STOP_IDS",
    "DroppedExample",
    "PreparedDataset",
    "PreparedExample",
    "decode",
    "default_tokenizer",
    "format_example",
    "format_prompt",
    "prepare_dataset",
    "prepare_file",
    "token_distribution",
]

PAD_ID, EOS_ID, BOS_ID = 0, 1, 2
START_OF_TURN_ID, END_OF_TURN_ID = 105, 106
STOP_IDS: tuple[int, ...] = (END_OF_TURN_ID, EOS_ID)
IGNORE_INDEX = -100

REASON_MEDIA = "media part not supported by a text-only base model"
REASON_FUNCTION = "function call or response part not supported by a text-only base model"
REASON_NO_MODEL_TURN = "no model turn with text"
REASON_NO_USER_TURN = "no user turn with text before the first model turn"
REASON_TRUNCATED_AWAY = "every model-turn token lies beyond max_seq_len"

_MEDIA_KEYS = frozenset({"fileData", "inlineData", "file_data", "inline_data"})
_FUNCTION_KEYS = frozenset({"functionCall", "functionResponse", "function_call", "function_response"})
_PART_METADATA_KEYS = frozenset({"thought", "thoughtSignature", "thought_signature", "videoMetadata", "video_metadata"})
_ROLES = frozenset({"user", "model"})


class Tokenizer(Protocol):
    """What the formatter needs from :class:`shared.tokens.GemmaTokenizer`."""

    def encode(self, text: str) -> list[int]: ...


class MalformedExample(ValueError):
    """The example is not a Gemini SFT example; the message is the drop reason."""


@dataclass(frozen=True)
class PreparedExample:
    """One trainable example."""

    index: int  # 0-based position among the file's non-blank lines
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX except on model-turn tokens
    truncated: bool = False

    @property
    def output_tokens(self) -> int:
        """Labelled (model-turn) tokens."""
        return sum(1 for label in self.labels if label != IGNORE_INDEX)

    @property
    def input_tokens(self) -> int:
        """Unlabelled tokens: ``<bos>``, turn markers, system and user text."""
        return len(self.input_ids) - self.output_tokens


@dataclass(frozen=True)
class DroppedExample:
    index: int
    reason: str


@dataclass
class PreparedDataset:
    """Trainable examples plus what was dropped or truncated."""

    examples: list[PreparedExample] = field(default_factory=list)
    dropped: list[DroppedExample] = field(default_factory=list)
    total_count: int = 0  # examples read, dropped ones included

    @property
    def dropped_count(self) -> int:
        return len(self.dropped)

    @property
    def dropped_share(self) -> float:
        """Dropped examples over examples read (0 for an empty file)."""
        return self.dropped_count / self.total_count if self.total_count else 0.0

    @property
    def dropped_reason_counts(self) -> dict[str, int]:
        """Each distinct drop reason and how many examples it dropped, most frequent first."""
        return dict(Counter(dropped.reason for dropped in self.dropped).most_common())

    @property
    def truncated_indices(self) -> list[int]:
        return [example.index for example in self.examples if example.truncated]

    def data_stats(self, *, epochs: int, batch_size: int) -> DataStats:
        """Vertex-style ``supervisedTuningDataStats`` for a run of ``epochs`` × batches of ``batch_size``.

        Token counts are after truncation (what trains). ``billableSum`` and
        ``total_billable_token_count`` count every trained token once per epoch.
        """
        inputs = [example.input_tokens for example in self.examples]
        outputs = [example.output_tokens for example in self.examples]
        steps_per_epoch = math.ceil(len(self.examples) / batch_size) if self.examples else 0
        reasons = [
            f"{reason} ({count} example{'s' if count != 1 else ''})" for reason, count in self.dropped_reason_counts.items()
        ]
        return DataStats(
            example_count=self.total_count,
            total_billable_token_count=(sum(inputs) + sum(outputs)) * epochs,
            tuning_step_count=steps_per_epoch * epochs,
            total_truncated_example_count=len(self.truncated_indices),
            truncated_example_indices=self.truncated_indices,
            dropped_example_reasons=reasons,
            dropped_example_count=self.dropped_count,
            user_input_token_distribution=token_distribution(inputs, epochs=epochs),
            user_output_token_distribution=token_distribution(outputs, epochs=epochs),
        )


def token_distribution(values: Sequence[int], *, epochs: int = 1) -> dict[str, float]:
    """Vertex ``DatasetDistribution`` fields: sum, billableSum, min, max, mean, median, p5, p95."""
    if not values:
        return {"sum": 0, "billableSum": 0, "min": 0, "max": 0, "mean": 0.0, "median": 0.0, "p5": 0.0, "p95": 0.0}
    ordered = sorted(values)
    total = sum(ordered)
    return {
        "sum": total,
        "billableSum": total * epochs,
        "min": ordered[0],
        "max": ordered[-1],
        "mean": total / len(ordered),
        "median": _percentile(ordered, 50),
        "p5": _percentile(ordered, 5),
        "p95": _percentile(ordered, 95),
    }


def _percentile(ordered: Sequence[int], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of sorted values."""
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


# ------------------------------------------------------------------------ conversion


def _text_of_parts(parts: Any, where: str, dropped: set[str]) -> str:
    """Concatenated text of a ``parts`` list; records which kinds of part were dropped."""
    if not isinstance(parts, list):
        raise MalformedExample(f"malformed example: {where}.parts is not a list")
    texts: list[str] = []
    for number, part in enumerate(parts):
        if not isinstance(part, dict):
            raise MalformedExample(f"malformed example: {where}.parts[{number}] is not an object")
        keys = set(part) - _PART_METADATA_KEYS
        if "text" in keys:
            if not isinstance(part["text"], str):
                raise MalformedExample(f"malformed example: {where}.parts[{number}].text is not a string")
            texts.append(part["text"])
        elif keys & _MEDIA_KEYS:
            dropped.add(REASON_MEDIA)
        elif keys & _FUNCTION_KEYS:
            dropped.add(REASON_FUNCTION)
        else:
            raise MalformedExample(f"malformed example: {where}.parts[{number}] has no text, media or function data")
    return "".join(texts)


def _system_text(example: dict[str, Any]) -> str:
    instruction = example.get("systemInstruction", example.get("system_instruction"))
    if instruction is None:
        return ""
    if not isinstance(instruction, dict):
        raise MalformedExample("malformed example: systemInstruction is not an object")
    return _text_of_parts(instruction.get("parts", []), "systemInstruction", set())


def _turns(contents: Any) -> tuple[list[tuple[str, str]], set[str]]:
    """Text-only ``(role, text)`` turns, empty ones removed and same-role neighbours merged."""
    if not isinstance(contents, list) or not contents:
        raise MalformedExample("malformed example: contents is missing or empty")
    turns: list[tuple[str, str]] = []
    model_drops: set[str] = set()
    all_drops: set[str] = set()
    for number, content in enumerate(contents):
        where = f"contents[{number}]"
        if not isinstance(content, dict):
            raise MalformedExample(f"malformed example: {where} is not an object")
        role = content.get("role", "user")
        if role == "function":  # function responses: the whole turn is function data
            parts = content.get("parts", [])
            if not isinstance(parts, list):
                raise MalformedExample(f"malformed example: {where}.parts is not a list")
            all_drops.add(REASON_FUNCTION)
            continue
        if role not in _ROLES:
            raise MalformedExample(f"malformed example: {where}.role {role!r} is not user or model")
        drops: set[str] = set()
        text = _text_of_parts(content.get("parts"), where, drops)
        all_drops |= drops
        if role == "model":
            model_drops |= drops
        if not text:
            continue
        if turns and turns[-1][0] == role:
            turns[-1] = (role, turns[-1][1] + "\n" + text)
        else:
            turns.append((role, text))
    if not any(role == "model" for role, _ in turns):
        raise MalformedExample(_first(model_drops) or _first(all_drops) or REASON_NO_MODEL_TURN)
    if turns[0][0] != "user":
        raise MalformedExample(_first(all_drops - model_drops) or _first(all_drops) or REASON_NO_USER_TURN)
    return turns, all_drops


def _first(reasons: set[str]) -> str | None:
    for reason in (REASON_MEDIA, REASON_FUNCTION):
        if reason in reasons:
            return reason
    return None


@functools.lru_cache(maxsize=64)
def _marker_ids(tokenizer: Tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer.encode(text))


def _encode_turns(
    tokenizer: Tokenizer, turns: Sequence[tuple[str, str]], system: str, *, open_model_turn: bool
) -> tuple[list[int], list[int]]:
    """Token ids and labels of whole turns (plus an open ``<start_of_turn>model\\n`` if asked)."""
    ids = [BOS_ID]
    labels = [IGNORE_INDEX]
    end = list(_marker_ids(tokenizer, "<end_of_turn>\n"))
    for number, (role, text) in enumerate(turns):
        header = list(_marker_ids(tokenizer, f"<start_of_turn>{role}\n"))
        if number == 0 and system:
            text = f"{system}\n\n{text}"
        body = tokenizer.encode(text)
        ids += header + body + end
        if role == "model":
            # model text and its <end_of_turn> are targets; the header and the trailing "\n" are not
            labels += [IGNORE_INDEX] * len(header) + body + end[:1] + [IGNORE_INDEX] * (len(end) - 1)
        else:
            labels += [IGNORE_INDEX] * (len(header) + len(body) + len(end))
    if open_model_turn:
        header = list(_marker_ids(tokenizer, "<start_of_turn>model\n"))
        ids += header
        labels += [IGNORE_INDEX] * len(header)
    return ids, labels


def format_example(
    example: Any, tokenizer: Tokenizer, *, max_seq_len: int, index: int = 0
) -> PreparedExample:
    """One Gemini SFT example → a :class:`PreparedExample`; raises :class:`MalformedExample` to drop it."""
    if not isinstance(example, dict):
        raise MalformedExample("malformed example: not a JSON object")
    turns, _dropped_parts = _turns(example.get("contents"))
    ids, labels = _encode_turns(tokenizer, turns, _system_text(example), open_model_turn=False)
    truncated = len(ids) > max_seq_len
    if truncated:
        ids, labels = ids[:max_seq_len], labels[:max_seq_len]
        if all(label == IGNORE_INDEX for label in labels):
            raise MalformedExample(REASON_TRUNCATED_AWAY)
    return PreparedExample(index=index, input_ids=ids, labels=labels, truncated=truncated)


def format_prompt(contents: list[dict], system_instruction: dict | None, tokenizer: Tokenizer | None = None) -> list[int]:
    """Prompt ids for generation: the conversation so far, ending with ``<start_of_turn>model\\n``.

    Non-text parts are ignored; a trailing model turn is kept as a closed turn.
    """
    if tokenizer is None:
        tokenizer = default_tokenizer()
    turns: list[tuple[str, str]] = []
    for content in contents:
        role = content.get("role", "user")
        if role not in _ROLES:
            continue
        text = _text_of_parts(content.get("parts", []), "contents", set())
        if not text:
            continue
        if turns and turns[-1][0] == role:
            turns[-1] = (role, turns[-1][1] + "\n" + text)
        else:
            turns.append((role, text))
    system = _system_text({"systemInstruction": system_instruction}) if system_instruction else ""
    if not turns or turns[0][0] != "user":
        turns.insert(0, ("user", ""))
    ids, _labels = _encode_turns(tokenizer, turns, system, open_model_turn=True)
    return ids


def prepare_dataset(records: Iterable[Any], tokenizer: Tokenizer, *, max_seq_len: int) -> PreparedDataset:
    """Format every record (already parsed JSON, or a :class:`MalformedExample` for a bad line)."""
    dataset = PreparedDataset()
    for index, record in enumerate(records):
        dataset.total_count += 1
        try:
            if isinstance(record, MalformedExample):
                raise record
            dataset.examples.append(format_example(record, tokenizer, max_seq_len=max_seq_len, index=index))
        except MalformedExample as error:
            dataset.dropped.append(DroppedExample(index=index, reason=str(error)))
    return dataset


def _read_jsonl(path: Path) -> Iterable[Any]:
    with Path(path).open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield MalformedExample("malformed example: line is not valid UTF-8")
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                yield MalformedExample("malformed example: line is not valid JSON")


def prepare_file(path: Path, tokenizer: Tokenizer, *, max_seq_len: int) -> PreparedDataset:
    """:func:`prepare_dataset` over a JSONL file (blank lines skipped; indices count the others)."""
    return prepare_dataset(_read_jsonl(path), tokenizer, max_seq_len=max_seq_len)


def default_tokenizer() -> Any:
    """The Gemma 3 tokenizer, built from the GGUF package into the cache first if it is missing."""
    from shared.tokens import build_tokenizer_model, find_tokenizer_model, load_tokenizer

    return load_tokenizer(find_tokenizer_model() or build_tokenizer_model())


@functools.lru_cache(maxsize=4)
def _processor(path: str) -> Any:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=path)


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    """Text of token ids (the tokenizer's own ``decode`` if it has one, else its SentencePiece file)."""
    own = getattr(tokenizer, "decode", None)
    if callable(own):
        return str(own(list(ids)))
    return str(_processor(str(tokenizer.path)).decode(list(ids)))
