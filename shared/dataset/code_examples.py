"""One example per finding code, for the README's table (a test runs every `line` example
through the validator and checks it raises exactly that code, so the docs cannot drift)."""

from __future__ import annotations

from shared.dataset.codes import Code

U = '{"role": "user", "parts": [{"text": "Hi"}]}'
M = '{"role": "model", "parts": [{"text": "Hello!"}]}'

# code -> ("line", a JSONL line that triggers it) or ("situation", a description)
CODE_EXAMPLES: dict[Code, tuple[str, str]] = {
    Code.INVALID_UTF8: ("situation", "a line saved in Latin-1: `{\"contents\": [... \"caf\\xe9\" ...]}`"),
    Code.INVALID_JSON: ("line", '{"contents": [' + U + ","),
    Code.NOT_AN_OBJECT: ("line", "[" + U + ", " + M + "]"),
    Code.LINE_TOO_LONG: ("situation", "a single line of 40 MB (a whole document pasted into one text part)"),
    Code.LEGACY_MESSAGES_FORMAT: ("line", '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}'),
    Code.MISSING_CONTENTS: ("line", '{"systemInstruction": {"parts": [{"text": "Be brief."}]}}'),
    Code.EMPTY_CONTENTS: ("line", '{"contents": []}'),
    Code.WRONG_TYPE: ("line", '{"contents": [' + U + ', {"role": "model", "parts": [{"text": 42}]}]}'),
    Code.INVALID_ROLE: ("line", '{"contents": [' + U + ', {"role": "assistant", "parts": [{"text": "Hello!"}]}, ' + M + "]}"),
    Code.TURNS_NOT_ALTERNATING: ("line", '{"contents": [' + U + ", " + U + ", " + M + "]}"),
    Code.NO_MODEL_TURN: ("line", '{"contents": [' + U + "]}"),
    Code.ENDS_ON_USER_TURN: ("line", '{"contents": [' + U + ", " + M + ", " + U + "]}"),
    Code.EMPTY_PARTS: ("line", '{"contents": [' + U + ', {"role": "model", "parts": []}]}'),
    Code.INVALID_PART: ("line", '{"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}, ' + M + "]}"),
    Code.EMPTY_TEXT: ("line", '{"contents": [' + U + ', {"role": "model", "parts": [{"text": ""}]}]}'),
    Code.FUNCTION_CALL_OUTSIDE_MODEL_TURN: ("line", '{"contents": [{"role": "user", "parts": [{"functionCall": {"name": "lookup", "args": {}}}]}, ' + M + "]}"),
    Code.FUNCTION_RESPONSE_OUTSIDE_USER_TURN: ("line", '{"contents": [' + U + ', {"role": "model", "parts": [{"functionResponse": {"name": "lookup", "response": {}}}]}]}'),
    Code.SYSTEM_INSTRUCTION_NOT_TEXT: ("line", '{"systemInstruction": {"parts": [{"fileData": {"mimeType": "image/png", "fileUri": "gs://b/logo.png"}}]}, "contents": [' + U + ", " + M + "]}"),
    Code.UNKNOWN_FIELD: ("line", '{"contents": [' + U + ", " + M + '], "temperature": 0.2}'),
    Code.BLANK_LINE: ("situation", "an empty line between two examples"),
    Code.UNSUPPORTED_MIME_TYPE: ("line", '{"contents": [{"role": "user", "parts": [{"fileData": {"mimeType": "image/gif", "fileUri": "gs://b/cat.gif"}}]}, ' + M + "]}"),
    Code.INVALID_FILE_URI: ("line", '{"contents": [{"role": "user", "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "/home/me/cat.png"}}]}, ' + M + "]}"),
    Code.TOO_MANY_MEDIA: ("situation", "one user turn with two `video/mp4` fileData parts (one video per example)"),
    Code.MEDIA_NOT_FOUND: ("situation", "`fileUri: gs://b/cat.png` when that object does not exist"),
    Code.MEDIA_TOO_LARGE: ("situation", "`fileUri: gs://b/scan.pdf` pointing at a 35 MB PDF (limit 20 MB)"),
    Code.MEDIA_UNCHECKED: ("line", '{"contents": [{"role": "user", "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}}]}, ' + M + "]}"),
    Code.INVALID_MEDIA_RESOLUTION: ("line", '{"contents": [' + U + ", " + M + '], "generationConfig": {"mediaResolution": "ULTRA"}}'),
    Code.MIXED_MEDIA_RESOLUTION: ("situation", "line 1 sets MEDIA_RESOLUTION_LOW, line 9 sets MEDIA_RESOLUTION_HIGH"),
    Code.EXAMPLE_TOO_LONG: ("situation", "a conversation of 140,000 tokens for gemini-2.5-flash (limit 131,072)"),
    Code.DUPLICATE_EXAMPLE: ("situation", "line 12 is byte-for-byte the same example as line 3"),
    Code.TRAIN_VALIDATION_OVERLAP: ("situation", "validation line 4 also appears as training line 90"),
    Code.FILE_TOO_LARGE: ("situation", "a 1.3 GB training file (limit 1 GB)"),
    Code.NO_EXAMPLES: ("situation", "an empty file, or one holding only blank lines"),
    Code.TOO_MANY_EXAMPLES: ("situation", "350,000 examples with images (limit 300,000 multimodal)"),
    Code.TOO_MANY_VALIDATION_EXAMPLES: ("situation", "6,000 validation examples for 10,000 training examples"),
    Code.FEW_EXAMPLES: ("situation", "a training file with 40 examples"),
    Code.UNKNOWN_MODEL: ("situation", "`--model gpt-4`, or metadata `tunewire-base-model: gemini-9`"),
    Code.MODEL_DISCONTINUED: ("situation", "`--model gemini-2.0-flash` (discontinued 2026-06-01)"),
    Code.INVALID_EPOCHS: ("situation", "`--epochs 0`"),
    Code.ADAPTER_SIZE_NOT_ALLOWED: ("situation", "adapter size 16 for gemini-2.5-pro"),
    Code.INVALID_LEARNING_RATE_MULTIPLIER: ("situation", "learning-rate multiplier -1"),
    Code.TUNING_MODE_NOT_SUPPORTED: ("situation", "tuning mode `full` for gemini-2.5-flash"),
    Code.UNKNOWN_SETTING: ("situation", "object metadata `tunewire-epoch: 3` (the key is `tunewire-epochs`)"),
    Code.INVALID_SETTING: ("situation", "object metadata `tunewire-epochs: three`"),
    Code.INVALID_MANIFEST: ("situation", "a manifest naming `gs://another-bucket/train.jsonl`"),
    Code.DATASET_UNREADABLE: ("situation", "`tunewire-validation: gs://b/val.jsonl` when that object does not exist"),
}
