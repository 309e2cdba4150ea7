"""Every finding the validator can report: a stable code, its severity and the hint users see.

Codes are a public contract (reports, webhooks and the README list them): add new ones, never
rename or reuse one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class CodeInfo:
    severity: Severity
    summary: str
    hint: str


class Code(str, enum.Enum):
    # --- line level: encoding and shape -----------------------------------------------------
    INVALID_UTF8 = "INVALID_UTF8"
    INVALID_JSON = "INVALID_JSON"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    LINE_TOO_LONG = "LINE_TOO_LONG"
    LEGACY_MESSAGES_FORMAT = "LEGACY_MESSAGES_FORMAT"
    MISSING_CONTENTS = "MISSING_CONTENTS"
    EMPTY_CONTENTS = "EMPTY_CONTENTS"
    WRONG_TYPE = "WRONG_TYPE"
    INVALID_ROLE = "INVALID_ROLE"
    TURNS_NOT_ALTERNATING = "TURNS_NOT_ALTERNATING"
    NO_MODEL_TURN = "NO_MODEL_TURN"
    ENDS_ON_USER_TURN = "ENDS_ON_USER_TURN"
    EMPTY_PARTS = "EMPTY_PARTS"
    INVALID_PART = "INVALID_PART"
    EMPTY_TEXT = "EMPTY_TEXT"
    FUNCTION_CALL_OUTSIDE_MODEL_TURN = "FUNCTION_CALL_OUTSIDE_MODEL_TURN"
    FUNCTION_RESPONSE_OUTSIDE_USER_TURN = "FUNCTION_RESPONSE_OUTSIDE_USER_TURN"
    SYSTEM_INSTRUCTION_NOT_TEXT = "SYSTEM_INSTRUCTION_NOT_TEXT"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    BLANK_LINE = "BLANK_LINE"
    # --- media ----------------------------------------------------------------------------------
    UNSUPPORTED_MIME_TYPE = "UNSUPPORTED_MIME_TYPE"
    INVALID_FILE_URI = "INVALID_FILE_URI"
    TOO_MANY_MEDIA = "TOO_MANY_MEDIA"
    MEDIA_NOT_FOUND = "MEDIA_NOT_FOUND"
    MEDIA_TOO_LARGE = "MEDIA_TOO_LARGE"
    MEDIA_UNCHECKED = "MEDIA_UNCHECKED"
    INVALID_MEDIA_RESOLUTION = "INVALID_MEDIA_RESOLUTION"
    MIXED_MEDIA_RESOLUTION = "MIXED_MEDIA_RESOLUTION"
    # --- tokens -------------------------------------------------------------------------------
    EXAMPLE_TOO_LONG = "EXAMPLE_TOO_LONG"
    # --- dataset level ------------------------------------------------------------------------
    DUPLICATE_EXAMPLE = "DUPLICATE_EXAMPLE"
    TRAIN_VALIDATION_OVERLAP = "TRAIN_VALIDATION_OVERLAP"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    NO_EXAMPLES = "NO_EXAMPLES"
    TOO_MANY_EXAMPLES = "TOO_MANY_EXAMPLES"
    TOO_MANY_VALIDATION_EXAMPLES = "TOO_MANY_VALIDATION_EXAMPLES"
    FEW_EXAMPLES = "FEW_EXAMPLES"
    UNKNOWN_MODEL = "UNKNOWN_MODEL"
    MODEL_DISCONTINUED = "MODEL_DISCONTINUED"
    INVALID_EPOCHS = "INVALID_EPOCHS"
    ADAPTER_SIZE_NOT_ALLOWED = "ADAPTER_SIZE_NOT_ALLOWED"
    INVALID_LEARNING_RATE_MULTIPLIER = "INVALID_LEARNING_RATE_MULTIPLIER"
    TUNING_MODE_NOT_SUPPORTED = "TUNING_MODE_NOT_SUPPORTED"
    # --- upload settings (object metadata and manifests) --------------------------------------
    UNKNOWN_SETTING = "UNKNOWN_SETTING"
    INVALID_SETTING = "INVALID_SETTING"
    INVALID_MANIFEST = "INVALID_MANIFEST"
    DATASET_UNREADABLE = "DATASET_UNREADABLE"


E, W = Severity.ERROR, Severity.WARNING

CODES: dict[Code, CodeInfo] = {
    Code.INVALID_UTF8: CodeInfo(E, "line is not valid UTF-8", "Save the file as UTF-8 (no BOM); re-encode lines written in Latin-1 or UTF-16."),
    Code.INVALID_JSON: CodeInfo(E, "line is not valid JSON", "Each line must be one complete JSON object; check quotes, commas and escapes."),
    Code.NOT_AN_OBJECT: CodeInfo(E, "line is JSON but not an object", "Each line must be a JSON object like {\"contents\": [...]}, not an array, string or number."),
    Code.LINE_TOO_LONG: CodeInfo(E, "line is longer than any example within the token limit can be", "Split the example or move large content to files referenced with fileData."),
    Code.LEGACY_MESSAGES_FORMAT: CodeInfo(E, "example uses the old `messages` format", "Convert to `contents`: [{\"role\": \"user\"|\"model\", \"parts\": [{\"text\": ...}]}]; move a system message to `systemInstruction`."),
    Code.MISSING_CONTENTS: CodeInfo(E, "example has no `contents`", "Add `contents`: a list of turns, each {\"role\": ..., \"parts\": [...]}."),
    Code.EMPTY_CONTENTS: CodeInfo(E, "`contents` is empty", "Give at least one user turn followed by the model turn to learn."),
    Code.WRONG_TYPE: CodeInfo(E, "a field has the wrong JSON type", "Match the Gemini schema: lists where lists are expected, objects for turns and parts, strings for text."),
    Code.INVALID_ROLE: CodeInfo(E, "turn role is not `user` or `model`", "Use exactly `user` or `model` (lowercase); `assistant` becomes `model`, `system` goes to `systemInstruction`."),
    Code.TURNS_NOT_ALTERNATING: CodeInfo(E, "two consecutive turns have the same role", "Alternate user and model turns; merge consecutive turns of one role into one turn with several parts."),
    Code.NO_MODEL_TURN: CodeInfo(E, "example has no model turn to learn from", "Add a {\"role\": \"model\"} turn with the expected answer."),
    Code.ENDS_ON_USER_TURN: CodeInfo(W, "conversation ends on a user turn", "The final user turn is never trained on; end with the model's answer."),
    Code.EMPTY_PARTS: CodeInfo(E, "turn has no parts", "Give every turn at least one part, e.g. {\"text\": ...}."),
    Code.INVALID_PART: CodeInfo(E, "part is not exactly one of text, fileData, functionCall, functionResponse", "Split a part holding several kinds into several parts; inline data is not accepted for tuning: upload to Cloud Storage and use fileData."),
    Code.EMPTY_TEXT: CodeInfo(E, "text part is empty", "Remove the part or give it text; whitespace alone teaches nothing."),
    Code.FUNCTION_CALL_OUTSIDE_MODEL_TURN: CodeInfo(E, "functionCall appears outside a model turn", "Only the model calls functions: move the functionCall into a model turn."),
    Code.FUNCTION_RESPONSE_OUTSIDE_USER_TURN: CodeInfo(E, "functionResponse appears outside a user turn", "Function results are sent by the user side: move the functionResponse into a user turn."),
    Code.SYSTEM_INSTRUCTION_NOT_TEXT: CodeInfo(E, "systemInstruction has a part that is not text", "systemInstruction accepts text parts only; move media into the first user turn."),
    Code.UNKNOWN_FIELD: CodeInfo(W, "field is not part of the tuning schema and will be ignored", "Remove it, or check its spelling (fields are camelCase, e.g. systemInstruction)."),
    Code.BLANK_LINE: CodeInfo(W, "blank line", "Blank lines are skipped; remove them."),
    Code.UNSUPPORTED_MIME_TYPE: CodeInfo(E, "fileData MIME type is not accepted for tuning", "Use one of the MIME types Vertex AI accepts (see the README's table)."),
    Code.INVALID_FILE_URI: CodeInfo(E, "fileUri is neither gs:// nor http(s)://", "Reference media as gs://bucket/object (or a public https:// URL)."),
    Code.TOO_MANY_MEDIA: CodeInfo(E, "example holds more media of one kind than allowed", "Limits per example: 30 images, 4 PDFs, 1 audio file, 1 video."),
    Code.MEDIA_NOT_FOUND: CodeInfo(E, "referenced gs:// object does not exist", "Upload the object, or fix the bucket/object name in fileUri."),
    Code.MEDIA_TOO_LARGE: CodeInfo(E, "referenced object is larger than allowed for its kind", "Images and PDFs ≤ 20 MB, audio and video ≤ 100 MB."),
    Code.MEDIA_UNCHECKED: CodeInfo(W, "http(s) media cannot be checked before tuning", "Vertex fetches it at tuning time; an unreachable URL drops the example. Prefer gs:// objects."),
    Code.INVALID_MEDIA_RESOLUTION: CodeInfo(E, "generationConfig.mediaResolution has an unknown value", "Use MEDIA_RESOLUTION_LOW, MEDIA_RESOLUTION_MEDIUM or MEDIA_RESOLUTION_HIGH."),
    Code.MIXED_MEDIA_RESOLUTION: CodeInfo(E, "examples use different mediaResolution values", "All examples in a dataset must share one mediaResolution."),
    Code.EXAMPLE_TOO_LONG: CodeInfo(E, "example exceeds the model's token limit", "Shorten the example or split the conversation; Vertex drops or truncates over-long examples."),
    Code.DUPLICATE_EXAMPLE: CodeInfo(W, "example is an exact duplicate of an earlier line", "Duplicates over-weight one example; remove them unless intended."),
    Code.TRAIN_VALIDATION_OVERLAP: CodeInfo(W, "validation example also appears in the training file", "Overlap makes validation loss optimistic; remove it from one of the files."),
    Code.FILE_TOO_LARGE: CodeInfo(E, "training file is larger than Vertex AI accepts", "Vertex accepts JSONL files up to 1 GB: sample or split the dataset."),
    Code.NO_EXAMPLES: CodeInfo(E, "file holds no examples", "Upload a JSONL file with one example per line."),
    Code.TOO_MANY_EXAMPLES: CodeInfo(E, "training file holds more examples than allowed", "Limits: 10M text-only or 300K multimodal examples."),
    Code.TOO_MANY_VALIDATION_EXAMPLES: CodeInfo(E, "validation file holds more examples than allowed", "At most 5,000 validation examples (or 30 % of the training examples when that is larger)."),
    Code.FEW_EXAMPLES: CodeInfo(W, "fewer than 100 examples", "Vertex recommends 100 or more examples; results on fewer are unreliable."),
    Code.UNKNOWN_MODEL: CodeInfo(E, "base model is not one tunewire knows", "Choose a model listed by `tunewire validate --help` (e.g. gemini-2.5-flash)."),
    Code.MODEL_DISCONTINUED: CodeInfo(E, "base model is discontinued", "Gemini 2.0 models were discontinued on 2026-06-01: choose a Gemini 2.5 model."),
    Code.INVALID_EPOCHS: CodeInfo(E, "epochs must be a positive whole number", "Pass --epochs N with N ≥ 1, or leave it out to let the service choose."),
    Code.ADAPTER_SIZE_NOT_ALLOWED: CodeInfo(E, "adapter size is not offered for this base model", "Gemini 2.5 Flash and Flash-Lite take 1, 2, 4, 8 or 16; 2.5 Pro takes 1, 2, 4 or 8."),
    Code.INVALID_LEARNING_RATE_MULTIPLIER: CodeInfo(E, "learning-rate multiplier must be a positive number", "Use a value such as 0.5, 1.0 or 2.0, or leave it out."),
    Code.UNKNOWN_SETTING: CodeInfo(E, "upload names a tunewire setting that does not exist", "Check the spelling against the settings table (e.g. tunewire-epochs, not tunewire-epoch)."),
    Code.INVALID_SETTING: CodeInfo(E, "a tunewire setting has a value that cannot be used", "Fix the value: epochs and adapter size are whole numbers, URIs are gs://bucket/object, webhooks are http(s) URLs."),
    Code.INVALID_MANIFEST: CodeInfo(E, "the manifest cannot be used", "A manifest is a JSON object naming \"training\" (relative to the manifest, same bucket) plus optional settings."),
    Code.DATASET_UNREADABLE: CodeInfo(E, "a dataset file named by the upload cannot be read", "Upload the file, or fix the name in the manifest or tunewire-validation metadata."),
    Code.TUNING_MODE_NOT_SUPPORTED: CodeInfo(E, "tuning mode is not available for this base model", "Gemini models accept adapter (parameter-efficient) tuning only; full fine-tuning exists for open models."),
}


def info(code: Code) -> CodeInfo:
    return CODES[code]
