"""The rebuilt Gemma 3 SentencePiece tokenizer: exactness, counting, lookup and errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from shared.tokens import (
    TOKENIZER_FILENAME,
    VOCAB_SIZE,
    GemmaTokenizer,
    TokenizerUnavailableError,
    build_tokenizer_model,
    default_cache_dir,
    find_tokenizer_model,
    load_tokenizer,
    read_gguf_vocabulary,
    tokenizer_search_paths,
)
from shared.tokens import gemma_tokenizer as module

GOLDEN_PATH = Path(__file__).parent / "data" / "gemma3_token_golden.json"
GOLDEN: list[dict] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))
GOLDEN_TEXTS = [entry["text"] for entry in GOLDEN]


# ------------------------------------------------------------------- exactness


def test_golden_file_covers_the_tricky_categories() -> None:
    categories = {entry["category"] for entry in GOLDEN}
    assert len(GOLDEN) >= 80
    for needed in ("newlines", "emoji", "CJK", "JSON", "URLs", "HTML", "literal special-token strings"):
        assert needed in categories


@pytest.mark.parametrize(
    "entry", GOLDEN, ids=[f"{index:02d}-{entry['category'].split(',')[0]}" for index, entry in enumerate(GOLDEN)]
)
def test_reproduces_the_official_gemma3_ids_for_golden_text(gemma_tokenizer: GemmaTokenizer, entry: dict) -> None:
    assert gemma_tokenizer.encode(entry["text"]) == entry["ids"]


def test_vocabulary_has_262144_pieces(gemma_tokenizer: GemmaTokenizer) -> None:
    assert gemma_tokenizer.vocab_size == VOCAB_SIZE == 262_144


def test_encode_never_adds_bos_or_eos(gemma_tokenizer: GemmaTokenizer) -> None:
    ids = gemma_tokenizer.encode("Hello world")
    assert ids == [9259, 1902]
    assert gemma_tokenizer.encode("") == []


def test_chat_turn_markers_in_text_are_single_tokens(gemma_tokenizer: GemmaTokenizer) -> None:
    assert gemma_tokenizer.encode("<start_of_turn>user\n") == [105, 2364, 107]
    assert gemma_tokenizer.encode("<end_of_turn>") == [106]


@pytest.mark.parametrize("literal", ["<pad>", "<eos>", "<bos>", "<unk>", "<image_soft_token>"])
def test_control_token_literals_in_text_stay_plain_text_as_in_sentencepiece(
    gemma_tokenizer: GemmaTokenizer, literal: str
) -> None:
    # Known difference: tokenizer.json would give one special id here (see scripts/check_tokenizer_oracle.py).
    ids = gemma_tokenizer.encode(f"x{literal}y")
    assert len(ids) > 3
    assert not {0, 1, 2, 3, 262_144} & set(ids)


def test_literal_lower_one_eighth_blocks_tokenize_like_spaces(gemma_tokenizer: GemmaTokenizer) -> None:
    # Known difference: tokenizer.json cuts raw U+2581 runs out as whole tokens.
    assert gemma_tokenizer.encode("x \u2581\u2581 y") == gemma_tokenizer.encode("x    y")


# -------------------------------------------------------------------- counting


def test_count_tokens_equals_len_of_encode_for_each_text(gemma_tokenizer: GemmaTokenizer) -> None:
    counts = gemma_tokenizer.count_tokens(GOLDEN_TEXTS)
    assert counts == [len(gemma_tokenizer.encode(text)) for text in GOLDEN_TEXTS]
    assert counts == [len(entry["ids"]) for entry in GOLDEN]


@pytest.mark.parametrize("num_threads", [1, 2])
def test_count_tokens_batched_gives_the_same_counts_on_any_thread_count(
    gemma_tokenizer: GemmaTokenizer, num_threads: int
) -> None:
    batch = GOLDEN_TEXTS * 20
    expected = [len(entry["ids"]) for entry in GOLDEN] * 20
    assert gemma_tokenizer.count_tokens(batch, num_threads=num_threads) == expected


def test_count_tokens_defaults_to_all_cpus_and_accepts_any_sequence(gemma_tokenizer: GemmaTokenizer) -> None:
    assert gemma_tokenizer.count_tokens(("Hello world", "")) == [2, 0]


def test_count_tokens_of_an_empty_batch_is_empty(gemma_tokenizer: GemmaTokenizer) -> None:
    assert gemma_tokenizer.count_tokens([]) == []


def test_count_tokens_survives_a_lone_surrogate(gemma_tokenizer: GemmaTokenizer) -> None:
    assert gemma_tokenizer.count_tokens(["ok", "a\ud800b"], num_threads=2) == [1, 3]


# ------------------------------------------------------------------- lookup


@pytest.fixture
def isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Env file, packaged data folder and cache all pointed into tmp_path (none exist yet)."""
    packaged = tmp_path / "package-data"
    cache = tmp_path / "cache"
    monkeypatch.setattr(module, "_PACKAGED_DATA_DIR", packaged)
    monkeypatch.setenv("TUNEWIRE_CACHE_DIR", str(cache))
    monkeypatch.delenv("TUNEWIRE_TOKENIZER_MODEL", raising=False)
    return {
        "env": tmp_path / "env" / "custom.model",
        "packaged": packaged / TOKENIZER_FILENAME,
        "cache": cache / "tokenizer" / TOKENIZER_FILENAME,
    }


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not really a model")
    return path


def test_search_paths_are_env_var_then_packaged_data_then_cache(
    isolated_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEWIRE_TOKENIZER_MODEL", str(isolated_paths["env"]))
    assert tokenizer_search_paths() == [isolated_paths["env"], isolated_paths["packaged"], isolated_paths["cache"]]


def test_search_paths_skip_the_env_var_when_unset(isolated_paths: dict[str, Path]) -> None:
    assert tokenizer_search_paths() == [isolated_paths["packaged"], isolated_paths["cache"]]


def test_packaged_data_folder_sits_beside_the_module() -> None:
    assert module._PACKAGED_DATA_DIR == Path(module.__file__).resolve().parent / "data"


def test_cache_dir_defaults_to_home_dot_cache_tunewire(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TUNEWIRE_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "tunewire"


def test_find_prefers_the_env_var_file_over_packaged_data_and_cache(
    isolated_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("env", "packaged", "cache"):
        _touch(isolated_paths[name])
    monkeypatch.setenv("TUNEWIRE_TOKENIZER_MODEL", str(isolated_paths["env"]))
    assert find_tokenizer_model() == isolated_paths["env"]


def test_find_prefers_packaged_data_over_the_cache(isolated_paths: dict[str, Path]) -> None:
    _touch(isolated_paths["packaged"])
    _touch(isolated_paths["cache"])
    assert find_tokenizer_model() == isolated_paths["packaged"]


def test_find_falls_back_to_the_cache(isolated_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEWIRE_TOKENIZER_MODEL", str(isolated_paths["env"]))  # set, but no file there
    _touch(isolated_paths["cache"])
    assert find_tokenizer_model() == isolated_paths["cache"]


def test_find_returns_none_when_no_model_exists(isolated_paths: dict[str, Path]) -> None:
    assert find_tokenizer_model() is None


# -------------------------------------------------------------------- errors


def test_load_tokenizer_raises_unavailable_error_naming_the_build_command(isolated_paths: dict[str, Path]) -> None:
    with pytest.raises(TokenizerUnavailableError) as caught:
        load_tokenizer()
    message = str(caught.value)
    assert "tunewire tokenizer build" in message
    assert "\n" not in message
    assert isinstance(caught.value, RuntimeError)


def test_load_tokenizer_with_a_missing_explicit_path_raises_unavailable_error(tmp_path: Path) -> None:
    with pytest.raises(TokenizerUnavailableError, match="tunewire tokenizer build"):
        load_tokenizer(tmp_path / "absent.model")


def test_load_tokenizer_is_cached_per_path(gemma_tokenizer: GemmaTokenizer) -> None:
    assert gemma_tokenizer.path is not None
    assert load_tokenizer(gemma_tokenizer.path) is load_tokenizer(gemma_tokenizer.path)


# ------------------------------------------------------------- GGUF and build


def _gguf_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _write_tiny_gguf(path: Path) -> None:
    """A GGUF v3 header with a few unrelated keys around the three tokenizer arrays."""
    kvs = [
        _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("gemma3"),
        _gguf_string("gemma3.block_count") + struct.pack("<II", 4, 18),
        _gguf_string("general.tags") + struct.pack("<IIQ", 9, 8, 2) + _gguf_string("a") + _gguf_string("bé"),
        _gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3)
        + _gguf_string("<pad>") + _gguf_string("\u2581hi") + _gguf_string("  "),
        _gguf_string("some.float64") + struct.pack("<Id", 12, 1.5),
        _gguf_string("tokenizer.ggml.scores") + struct.pack("<IIQ3f", 9, 6, 3, -1000.0, -1.0, 0.0),
        _gguf_string("tokenizer.ggml.token_type") + struct.pack("<IIQ3i", 9, 5, 3, 3, 1, 4),
    ]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))


def test_gguf_reader_returns_the_three_tokenizer_arrays(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    _write_tiny_gguf(gguf)
    vocab = read_gguf_vocabulary(gguf)
    assert vocab.tokens == ["<pad>", "\u2581hi", "  "]
    assert vocab.scores == [-1000.0, -1.0, 0.0]
    assert vocab.token_types == [3, 1, 4]


def test_gguf_reader_rejects_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"NOPE" + bytes(40))
    with pytest.raises(ValueError, match="not a GGUF"):
        read_gguf_vocabulary(bogus)


def test_build_reports_progress_and_writes_a_model_identical_to_the_cached_one(
    gemma_tokenizer: GemmaTokenizer, tmp_path: Path
) -> None:
    messages: list[str] = []
    output = build_tokenizer_model(tmp_path / "out" / TOKENIZER_FILENAME, progress=messages.append)
    assert output.read_bytes() == Path(str(gemma_tokenizer.path)).read_bytes()
    assert messages[0] == "assembling Gemma 3 GGUF…"
    assert messages[1] == "reading 262,144-token vocabulary…"
    assert messages[2].startswith("wrote ")
    assert [p.name for p in output.parent.iterdir()] == [TOKENIZER_FILENAME]  # no temp file left behind
