"""Offline Gemini token counting with the Gemma 3 SentencePiece tokenizer."""

from shared.tokens.gemma_tokenizer import (
    CACHE_DIR_ENV_VAR,
    MODEL_PATH_ENV_VAR,
    TOKENIZER_FILENAME,
    VOCAB_SIZE,
    GemmaTokenizer,
    GGUFVocabulary,
    TokenizerUnavailableError,
    build_tokenizer_model,
    default_cache_dir,
    default_tokenizer_path,
    find_tokenizer_model,
    load_tokenizer,
    read_gguf_vocabulary,
    tokenizer_search_paths,
)

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
