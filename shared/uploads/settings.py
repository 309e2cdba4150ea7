"""Per-upload tuning settings: object metadata and/or a manifest, over deployment defaults.

Metadata keys (all optional): tunewire-base-model, tunewire-epochs, tunewire-adapter-size,
tunewire-learning-rate-multiplier, tunewire-display-name, tunewire-validation (a gs:// URI),
tunewire-webhook, tunewire-tuning-mode (adapter | full), tunewire-role (`data` marks a file that
is only referenced — a validation file or a manifest's dataset — and starts no job).

A manifest (`*.tunewire.json`) names the training file and the same settings in snake_case:
{"training": "train.jsonl", "validation": "val.jsonl", "base_model": "gemini-2.5-flash",
 "epochs": 3, "adapter_size": 4, "learning_rate_multiplier": 1.0, "display_name": "...",
 "webhook": "https://...", "tuning_mode": "adapter"}. Relative names resolve against the
manifest's folder; files must live in the manifest's bucket, and every file an upload names
(a manifest's files, `tunewire-validation`) must live in the datasets bucket: the functions
and Vertex AI read them with the service's own identity, so a name elsewhere would let an
uploader read what only the service may read. No file reference may hold a `..` segment.

Unknown or malformed settings never raise: they come back as problems that make the job INVALID.
Text settings are printable: no control, line-separator or bidi-override characters, because
they reach the tuned model's display name, job documents, webhooks and logs.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson

from shared.config import Settings
from shared.gcs import InvalidGcsUri, split_uri
from shared.model_catalog import TuningMode

METADATA_PREFIX = "tunewire-"
ROLE_DATA = "data"
MAX_MANIFEST_BYTES = 64 * 1024
MAX_DISPLAY_NAME = 128
MAX_URL_LENGTH = 2048
MAX_WHOLE_NUMBER = 2**63 - 1  # what Firestore and the Vertex API (int64) can carry
MAX_SHOWN_CHARS = 80
# Not printable in a display name, a log line or a webhook: C0/C1 controls and DEL, lone
# surrogates, line and paragraph separators, and the bidi controls that reorder what is shown.
_UNPRINTABLE_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}
_BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class TuningSettings:
    base_model: str
    epochs: int | None = None
    adapter_size: int | None = None
    learning_rate_multiplier: float | None = None
    display_name: str | None = None
    validation_uri: str | None = None
    webhook: str | None = None
    tuning_mode: TuningMode = TuningMode.ADAPTER
    datasets_bucket: str | None = field(default=None, compare=False, repr=False)
    """The one bucket an upload may name files in (None: not enforced). A constraint carried
    from the deployment, not a tuning setting: it stays out of the job document."""

    def to_document(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document.pop("datasets_bucket")
        document["tuning_mode"] = self.tuning_mode.value
        return document


@dataclass(frozen=True)
class SettingProblem:
    """A setting that cannot be used; `key` is the metadata key or manifest field."""

    code: str  # UNKNOWN_SETTING | INVALID_SETTING | INVALID_MANIFEST
    key: str
    message: str


@dataclass(frozen=True)
class Manifest:
    training_uri: str
    values: dict[str, Any]


def default_settings(config: Settings) -> TuningSettings:
    return TuningSettings(
        base_model=config.default_base_model,
        epochs=config.default_epochs or None,
        adapter_size=config.default_adapter_size or None,
        datasets_bucket=config.datasets_bucket or None,
    )


def _shown(value: Any) -> str:
    """A bounded rendering of a raw setting for a problem message; containers are never
    rendered (str() of a deeply nested manifest value recurses past the interpreter's limit)."""
    if isinstance(value, str):
        return repr(value[:MAX_SHOWN_CHARS])
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)[:MAX_SHOWN_CHARS]
    kind = {dict: "object", list: "array"}.get(type(value), type(value).__name__)
    return f"<a JSON {kind}>"


def _printable(value: str) -> bool:
    return not any(unicodedata.category(ch) in _UNPRINTABLE_CATEGORIES or ch in _BIDI_CONTROLS for ch in value)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    number = int(value.strip()) if isinstance(value, str) else value
    if not isinstance(number, int) or not 1 <= number <= MAX_WHOLE_NUMBER:
        raise ValueError(f"expected a whole number from 1 to {MAX_WHOLE_NUMBER}")
    return number


def _positive_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a number")
    number = float(value.strip() if isinstance(value, str) else value)
    if not number > 0 or number == float("inf"):
        raise ValueError("expected a positive number")
    return number


def _text(limit: int):
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("expected non-empty text")
        if len(value) > limit or not _printable(value):
            raise ValueError(f"expected at most {limit} printable characters (no control, line-break or bidi-override characters)")
        return value.strip()

    return parse


def _gcs_uri(value: Any) -> str:
    text = _text(MAX_URL_LENGTH)(value)
    try:
        _, name = split_uri(text)
    except InvalidGcsUri as exc:
        raise ValueError(str(exc)) from exc
    if ".." in name.split("/"):
        raise ValueError("a file reference may not hold a `..` segment")
    return text


def _webhook(value: Any) -> str:
    text = _text(MAX_URL_LENGTH)(value)
    if not text.lower().startswith(("https://", "http://")):
        raise ValueError("expected an http(s) URL")
    return text


def _mode(value: Any) -> TuningMode:
    try:
        return TuningMode(value.strip().lower() if isinstance(value, str) else None)
    except ValueError as exc:
        raise ValueError("expected adapter or full") from exc


# field -> parser; the same fields for metadata (tunewire-<field with dashes>) and manifests
_FIELDS = {
    "base_model": _text(200),
    "epochs": _positive_int,
    "adapter_size": _positive_int,
    "learning_rate_multiplier": _positive_float,
    "display_name": _text(MAX_DISPLAY_NAME),
    "validation": _gcs_uri,
    "webhook": _webhook,
    "tuning_mode": _mode,
}
_FIELD_TO_SETTING = {"validation": "validation_uri"}


def _apply(base: TuningSettings, values: Mapping[str, Any], key_for: Any) -> tuple[TuningSettings, list[SettingProblem]]:
    changes: dict[str, Any] = {}
    problems: list[SettingProblem] = []
    for name, raw in values.items():
        key = key_for(name)[:MAX_SHOWN_CHARS]  # a manifest's field names are the uploader's text too
        parser = _FIELDS.get(name)
        if parser is None:
            problems.append(SettingProblem("UNKNOWN_SETTING", key, f"{key} is not a tunewire setting"))
            continue
        try:
            value = parser(raw)
            if name == "validation":
                _check_in_datasets_bucket(value, base.datasets_bucket)
        except (ValueError, TypeError) as exc:
            problems.append(SettingProblem("INVALID_SETTING", key, f"{key}={_shown(raw)}: {exc}"))
            continue
        changes[_FIELD_TO_SETTING.get(name, name)] = value
    return dataclasses.replace(base, **changes), problems


def _check_in_datasets_bucket(uri: str, datasets_bucket: str | None) -> None:
    bucket, _ = split_uri(uri)
    if datasets_bucket and bucket != datasets_bucket:
        raise ValueError(f"the file is outside the datasets bucket; upload it to gs://{datasets_bucket}/ and name it there")


def is_data_only(metadata: Mapping[str, str]) -> bool:
    """True when the object is marked as referenced data that starts no job of its own."""
    return metadata.get(f"{METADATA_PREFIX}role", "").strip().lower() == ROLE_DATA


def settings_from_metadata(
    metadata: Mapping[str, str], base: TuningSettings
) -> tuple[TuningSettings, list[SettingProblem]]:
    """Apply `tunewire-*` object metadata over `base`; other metadata keys are the user's own."""
    values = {
        key[len(METADATA_PREFIX):].replace("-", "_"): value
        for key, value in metadata.items()
        if key.lower().startswith(METADATA_PREFIX) and key.lower() != f"{METADATA_PREFIX}role"
    }
    return _apply(base, values, lambda field: METADATA_PREFIX + field.replace("_", "-"))


def parse_manifest(
    raw: bytes, *, bucket: str, manifest_name: str, base: TuningSettings
) -> tuple[Manifest | None, TuningSettings, list[SettingProblem]]:
    """Parse a manifest object; returns (None, base, problems) when it cannot name a training file."""

    def bad(message: str) -> tuple[None, TuningSettings, list[SettingProblem]]:
        return None, base, [SettingProblem("INVALID_MANIFEST", manifest_name, message)]

    if len(raw) > MAX_MANIFEST_BYTES:
        return bad(f"the manifest is larger than {MAX_MANIFEST_BYTES:,} bytes; at most {MAX_MANIFEST_BYTES:,} are read")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return bad(f"the manifest is not valid JSON: {exc}")
    if not isinstance(document, dict):
        return bad("the manifest must be a JSON object")
    folder = manifest_name.rsplit("/", 1)[0] + "/" if "/" in manifest_name else ""
    values = dict(document)
    training = values.pop("training", None)
    if not isinstance(training, str) or not training.strip():
        return bad("the manifest must name its training file: {\"training\": \"train.jsonl\"}")
    problems: list[SettingProblem] = []
    training_uri = _resolve(training.strip(), bucket, folder, "training", problems)
    if isinstance(values.get("validation"), str):
        resolved = _resolve(values.pop("validation").strip(), bucket, folder, "validation", problems)
        if resolved is not None:
            values["validation"] = resolved
    settings, more = _apply(base, values, lambda field: field)
    problems += more
    if training_uri is None:
        return None, settings, problems
    return Manifest(training_uri=training_uri, values=values), settings, problems


def _resolve(reference: str, bucket: str, folder: str, key: str, problems: list[SettingProblem]) -> str | None:
    """A manifest's file reference → gs:// URI in the manifest's own bucket."""
    shown = repr(reference[:MAX_URL_LENGTH])
    if reference.startswith("gs://"):
        try:
            other_bucket, name = split_uri(reference)
        except InvalidGcsUri as exc:
            problems.append(SettingProblem("INVALID_MANIFEST", key, str(exc)))
            return None
        if other_bucket != bucket:
            problems.append(SettingProblem("INVALID_MANIFEST", key, f"{shown} is in another bucket; manifests may only name files in {bucket}"))
            return None
        if ".." in name.split("/"):
            problems.append(SettingProblem("INVALID_MANIFEST", key, f"{shown} holds a `..` segment"))
            return None
        return reference
    if "://" in reference or reference.startswith("/") or ".." in reference.split("/"):
        problems.append(SettingProblem("INVALID_MANIFEST", key, f"{shown} must be a name relative to the manifest or a gs:// URI"))
        return None
    return f"gs://{bucket}/{folder}{reference}"
