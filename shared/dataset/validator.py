"""The dataset validator: streams a training (and optional validation) JSONL file once and
returns a ValidationReport. Memory stays flat: per example it keeps only a hash, a line number
and a token count (arrays of machine integers), never the example itself.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import orjson

from shared.dataset.codes import Code, Severity
from shared.dataset.example_checks import check_example
from shared.dataset.findings import FindingCollector
from shared.dataset.media_checks import MediaChecker
from shared.dataset.report import CostEstimate, FileSummary, TokenSummary, ValidationReport
from shared.dataset.sources import SourceError, describe_size, iter_lines, open_dataset
from shared.dataset.token_tally import TokenCounter, TokenTally
from shared.model_catalog import (
    DEFAULT_BASE_MODEL,
    GEMINI_LIMITS,
    PRICES_TAKEN_ON,
    BaseModel,
    DatasetLimits,
    TuningMode,
    find_base_model,
)

MAX_LINE_BYTES = 32 * 1024 * 1024
"""No example within a 131,072-token limit comes near this many bytes of JSON."""

PADDING_TOKENS_PER_RECORD = 8
"""Google's cost notebook adds this many tokens per training record."""

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ValidationOptions:
    model: str = DEFAULT_BASE_MODEL
    epochs: int | None = None
    adapter_size: int | None = None
    learning_rate_multiplier: float | None = None
    tuning_mode: TuningMode = TuningMode.ADAPTER
    check_media: bool = True
    allow_discontinued: bool = False
    max_findings_per_code: int = 20
    max_line_bytes: int = MAX_LINE_BYTES
    num_threads: int | None = None
    unreadable_files_are_findings: bool = False  # the pipeline: a missing file makes the job INVALID


@dataclass
class _FileScan:
    label: str
    uri: str
    size: int = 0
    lines: int = 0
    examples: int = 0
    sound_examples: int = 0
    multimodal_examples: int = 0
    scanned_bytes_limit: int | None = None
    unreadable: bool = False
    hashes: array = field(default_factory=lambda: array("q"))
    hash_lines: array = field(default_factory=lambda: array("I"))


@dataclass
class _Resolution:
    value: str | None = None
    line: int | None = None
    file: str = ""


def validate_dataset(
    training_uri: str | None,
    *,
    validation_uri: str | None = None,
    options: ValidationOptions | None = None,
    tokenizer: TokenCounter | None = None,
    storage_client: Any = None,
    preflight: Sequence[tuple[Code, str, str]] = (),
) -> ValidationReport:
    """Validate a Gemini supervised-tuning dataset; never raises on bad content.

    Raises `SourceError` only when a file cannot be opened at all, and `TokenizerUnavailableError`
    when no tokenizer model is installed.
    """
    options = options or ValidationOptions()
    # `preflight`: (code, path, message) findings decided before the scan, e.g. bad upload settings.
    started = time.perf_counter()
    findings = FindingCollector(max_per_code=options.max_findings_per_code)
    model = find_base_model(options.model)
    limits = model.limits if model else GEMINI_LIMITS
    _check_model_and_settings(model, options, findings)
    for code, path, message in preflight:
        findings.add(code, message, path=path)

    if tokenizer is None:
        from shared.tokens import load_tokenizer

        tokenizer = load_tokenizer()
    media = MediaChecker(findings, storage_client=storage_client) if options.check_media else None
    resolution = _Resolution()

    training_tally = TokenTally(tokenizer, findings, "training", limits.max_example_tokens, options.num_threads)
    if training_uri is None:  # the upload named no usable training file; preflight says why
        training = _FileScan(label="training", uri="", unreadable=True)
    else:
        training = _scan_file(
            training_uri, "training", options, limits, findings, training_tally, media, resolution, storage_client
        )
    validation: _FileScan | None = None
    validation_tally: TokenTally | None = None
    if validation_uri:
        validation_tally = TokenTally(tokenizer, findings, "validation", limits.max_example_tokens, options.num_threads)
        validation = _scan_file(
            validation_uri, "validation", options, limits, findings, validation_tally, media, resolution, storage_client
        )
    if media is not None:
        media.finish()

    _report_duplicates(training, findings)
    if validation is not None:
        _report_duplicates(validation, findings)
        _report_overlap(training, validation, findings)
    _check_dataset_limits(training, validation, limits, findings)

    return _build_report(
        model_name=options.model,
        model=model,
        options=options,
        findings=findings,
        training=training,
        training_tally=training_tally,
        validation=validation,
        validation_tally=validation_tally,
        media_checked=media.checked_objects if media else 0,
        elapsed_s=time.perf_counter() - started,
    )


def _check_model_and_settings(model: BaseModel | None, options: ValidationOptions, findings: FindingCollector) -> None:
    if model is None:
        findings.add(Code.UNKNOWN_MODEL, f"unknown base model {options.model!r}", path="model")
    elif model.discontinued:
        if options.allow_discontinued:
            findings.severity_overrides[Code.MODEL_DISCONTINUED] = Severity.WARNING
        findings.add(Code.MODEL_DISCONTINUED, f"{model.display_name} is discontinued: {model.note}", path="model")
    if options.epochs is not None and options.epochs < 1:
        findings.add(Code.INVALID_EPOCHS, f"epochs is {options.epochs}", path="epochs")
    if options.learning_rate_multiplier is not None and not options.learning_rate_multiplier > 0:
        findings.add(
            Code.INVALID_LEARNING_RATE_MULTIPLIER,
            f"learning-rate multiplier is {options.learning_rate_multiplier}",
            path="learning_rate_multiplier",
        )
    if model is None:
        return
    if not model.supports_mode(options.tuning_mode):
        offered = ", ".join(mode.value for mode in model.tuning_modes)
        findings.add(
            Code.TUNING_MODE_NOT_SUPPORTED,
            f"{model.display_name} accepts {offered} tuning, not {options.tuning_mode.value}",
            path="tuning_mode",
        )
    if options.adapter_size is not None and options.adapter_size not in model.adapter_sizes:
        offered = ", ".join(str(size) for size in model.adapter_sizes)
        findings.add(
            Code.ADAPTER_SIZE_NOT_ALLOWED,
            f"adapter size {options.adapter_size} for {model.display_name}; offered: {offered}",
            path="adapter_size",
        )


def _scan_file(
    uri: str,
    label: str,
    options: ValidationOptions,
    limits: DatasetLimits,
    findings: FindingCollector,
    tally: TokenTally,
    media: MediaChecker | None,
    resolution: _Resolution,
    storage_client: Any,
) -> _FileScan:
    try:
        source = open_dataset(uri, storage_client=storage_client, max_bytes=limits.max_training_file_bytes)
    except SourceError as exc:
        if not options.unreadable_files_are_findings:
            raise
        findings.add(Code.DATASET_UNREADABLE, str(exc), file=label)
        return _FileScan(label=label, uri=uri, unreadable=True)
    scan = _FileScan(label=label, uri=uri, size=source.size)
    if label == "training" and source.size > limits.max_training_file_bytes:
        scan.scanned_bytes_limit = limits.max_training_file_bytes
        findings.add(
            Code.FILE_TOO_LARGE,
            f"{describe_size(source.size)}; Vertex AI accepts at most {describe_size(limits.max_training_file_bytes)} "
            f"(only the first {describe_size(limits.max_training_file_bytes)} were checked)",
            file=label,
        )

    loads = orjson.loads
    add = findings.add
    for raw in iter_lines(source.chunks, max_line_bytes=options.max_line_bytes):
        scan.lines = raw.number
        data = raw.data
        if data is None:
            scan.examples += 1
            add(Code.LINE_TOO_LONG, f"line is {describe_size(raw.length)}", line=raw.number, file=label)
            continue
        data = data.strip()
        if not data:
            add(Code.BLANK_LINE, "blank line skipped", line=raw.number, file=label)
            continue
        scan.examples += 1
        try:
            obj = loads(data)
        except orjson.JSONDecodeError as exc:
            _report_undecodable(data, exc, raw.number, label, findings)
            continue
        scan.hashes.append(hash(data))
        scan.hash_lines.append(raw.number)
        shape = check_example(obj, line=raw.number, file=label, findings=findings)
        if shape is None:
            continue
        scan.sound_examples += 1
        if shape.media:
            scan.multimodal_examples += 1
            if media is not None:
                for ref in shape.media:
                    media.check(ref, line=raw.number, file=label)
        if shape.resolution is not None:
            _check_resolution(shape.resolution, raw.number, label, resolution, findings)
        tally.add(shape)
    tally.flush()
    return scan


def _report_undecodable(data: bytes, exc: orjson.JSONDecodeError, line: int, label: str, findings: FindingCollector) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        findings.add(
            Code.INVALID_UTF8,
            f"byte 0x{data[decode_error.start]:02x} at column {decode_error.start + 1} is not valid UTF-8",
            line=line,
            file=label,
        )
        return
    if data.startswith(UTF8_BOM):
        message = "the line starts with a UTF-8 byte-order mark (BOM)"
    else:
        message = str(exc).split(": line 1", 1)[0][:200]
        if exc.pos is not None:
            message = f"{message} (column {exc.pos + 1})"
    findings.add(Code.INVALID_JSON, message, line=line, file=label)


def _check_resolution(value: str, line: int, label: str, seen: _Resolution, findings: FindingCollector) -> None:
    if seen.value is None:
        seen.value, seen.line, seen.file = value, line, label
    elif value != seen.value:
        findings.add(
            Code.MIXED_MEDIA_RESOLUTION,
            f"{value} here, but {seen.value} on {seen.file} line {seen.line}",
            line=line,
            path="generationConfig.mediaResolution",
            file=label,
        )


def _report_duplicates(scan: _FileScan, findings: FindingCollector) -> None:
    if len(scan.hashes) < 2:
        return
    hashes = np.frombuffer(scan.hashes, dtype=np.int64)
    lines = np.frombuffer(scan.hash_lines, dtype=np.uint32)
    order = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[order]
    repeat = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1]) + 1
    if repeat.size == 0:
        return
    # the first line of each run of equal hashes is the original
    run_start = np.flatnonzero(np.concatenate(([True], sorted_hashes[1:] != sorted_hashes[:-1])))
    first_of = np.repeat(lines[order[run_start]], np.diff(np.append(run_start, len(order))))
    duplicate_lines = lines[order[repeat]]
    original_lines = first_of[repeat]
    for position in np.argsort(duplicate_lines, kind="stable"):
        findings.add(
            Code.DUPLICATE_EXAMPLE,
            f"same as line {int(original_lines[position])}",
            line=int(duplicate_lines[position]),
            file=scan.label,
        )


def _report_overlap(training: _FileScan, validation: _FileScan, findings: FindingCollector) -> None:
    if not training.hashes or not validation.hashes:
        return
    train_hashes = np.frombuffer(training.hashes, dtype=np.int64)
    val_hashes = np.frombuffer(validation.hashes, dtype=np.int64)
    val_lines = np.frombuffer(validation.hash_lines, dtype=np.uint32)
    overlap = np.isin(val_hashes, train_hashes)
    if not overlap.any():
        return
    train_lines = np.frombuffer(training.hash_lines, dtype=np.uint32)
    order = np.argsort(train_hashes, kind="stable")
    sorted_train = train_hashes[order]
    for index in np.flatnonzero(overlap):
        where = int(np.searchsorted(sorted_train, val_hashes[index]))
        findings.add(
            Code.TRAIN_VALIDATION_OVERLAP,
            f"same as training line {int(train_lines[order[where]])}",
            line=int(val_lines[index]),
            file="validation",
        )


def _check_dataset_limits(
    training: _FileScan, validation: _FileScan | None, limits: DatasetLimits, findings: FindingCollector
) -> None:
    if training.unreadable:
        pass
    elif training.examples == 0:
        findings.add(Code.NO_EXAMPLES, "the training file holds no examples", file="training")
    elif training.examples < limits.recommended_min_examples:
        findings.add(Code.FEW_EXAMPLES, f"{training.examples} training examples", file="training")
    if training.multimodal_examples > limits.max_multimodal_examples:
        findings.add(
            Code.TOO_MANY_EXAMPLES,
            f"{training.multimodal_examples:,} multimodal examples; at most {limits.max_multimodal_examples:,}",
            file="training",
        )
    text_only = training.examples - training.multimodal_examples
    if text_only > limits.max_text_examples:
        findings.add(
            Code.TOO_MANY_EXAMPLES,
            f"{text_only:,} text-only examples; at most {limits.max_text_examples:,}",
            file="training",
        )
    if validation is not None:
        if validation.examples == 0 and not validation.unreadable:
            findings.add(Code.NO_EXAMPLES, "the validation file holds no examples", file="validation")
        allowed = limits.max_validation_examples_for(training.examples)
        if validation.examples > allowed:
            findings.add(
                Code.TOO_MANY_VALIDATION_EXAMPLES,
                f"{validation.examples:,} validation examples; at most {allowed:,} for {training.examples:,} training examples",
                file="validation",
            )


def _distribution(values: array) -> dict[str, int]:
    if not values:
        return {"min": 0, "p50": 0, "p95": 0, "max": 0}
    data = np.frombuffer(values, dtype=np.uint32)
    p50, p95 = np.percentile(data, [50, 95], method="nearest")
    return {"min": int(data.min()), "p50": int(p50), "p95": int(p95), "max": int(data.max())}


def _file_summary(scan: _FileScan) -> FileSummary:
    return FileSummary(
        uri=scan.uri,
        bytes=scan.size,
        lines=scan.lines,
        examples=scan.examples,
        sound_examples=scan.sound_examples,
        multimodal_examples=scan.multimodal_examples,
        scanned_bytes_limit=scan.scanned_bytes_limit,
    )


def _build_report(
    *,
    model_name: str,
    model: BaseModel | None,
    options: ValidationOptions,
    findings: FindingCollector,
    training: _FileScan,
    training_tally: TokenTally,
    validation: _FileScan | None,
    validation_tally: TokenTally | None,
    media_checked: int,
    elapsed_s: float,
) -> ValidationReport:
    epochs = options.epochs if options.epochs and options.epochs > 0 else None
    epochs_for_cost = epochs or 1
    validation_tokens = validation_tally.record_tokens if validation_tally else 0
    tokens = TokenSummary(
        total=training_tally.record_tokens,
        records=training_tally.records,
        per_example=_distribution(training_tally.example_tokens),
        media_estimated=training_tally.media_tokens,
        media_unestimated_parts=training_tally.unestimated_media,
        validation_total=validation_tokens,
        epochs=epochs,
        billable=training_tally.record_tokens * epochs_for_cost,
    )
    price = model.training_usd_per_million_tokens if model else None
    upper_tokens = (
        training_tally.record_tokens + PADDING_TOKENS_PER_RECORD * training_tally.records + validation_tokens
    ) * epochs_for_cost
    cost = CostEstimate(
        usd_per_million_tokens=price,
        price_date=PRICES_TAKEN_ON,
        epochs_assumed=epochs_for_cost,
        estimated_usd=round(tokens.billable * price / 1e6, 4) if price is not None else None,
        upper_bound_usd=round(upper_tokens * price / 1e6, 4) if price is not None else None,
        note=None if price is not None else (model.note if model else "unknown model: no price"),
    )
    return ValidationReport(
        valid=not findings.has_errors(),
        model=model.name if model else model_name,
        examples=training.examples,
        validation_examples=validation.examples if validation else None,
        tokens=tokens,
        cost=cost,
        errors=[f.to_dict() for f in findings.kept(Severity.ERROR)],
        error_counts=findings.counts(Severity.ERROR),
        warnings=[f.to_dict() for f in findings.kept(Severity.WARNING)],
        warning_counts=findings.counts(Severity.WARNING),
        training=_file_summary(training),
        validation=_file_summary(validation) if validation else None,
        media_objects_checked=media_checked,
        max_findings_per_code=options.max_findings_per_code,
        elapsed_s=round(elapsed_s, 3),
    )
