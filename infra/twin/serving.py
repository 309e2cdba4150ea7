"""Inference for the twin: a tuned checkpoint (or the untuned base model) answers one request.

:func:`generate` formats the request with :func:`infra.twin.gemma_format.format_prompt` (ending
with ``<start_of_turn>model\\n``), decodes greedily when ``temperature == 0`` and samples with a
fixed seed otherwise, and stops at ``<end_of_turn>`` or ``<eos>`` (finish reason ``STOP``) or after
``max_output_tokens`` tokens (``MAX_TOKENS``). Token counts are of the local model's own prompt
(turn markers and ``<bos>`` included) and of the generated tokens (the stop token excluded).

Loaded models stay in a small LRU cache (:data:`CACHE_SIZE` entries, keyed by checkpoint folder,
its modification time and the base). LoRA checkpoints are merged into their base for speed.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

from infra.twin.base_models import Progress, load_base_model
from infra.twin.engine import GenerationRequest, GenerationResult, LocalBase
from infra.twin.gemma_format import STOP_IDS, decode, default_tokenizer, format_prompt

__all__ = ["CACHE_SIZE", "SAMPLING_SEED", "clear_cache", "generate", "load_for_inference"]

CACHE_SIZE = 2
SAMPLING_SEED = 0

_CacheKey = tuple[str | None, float, str]
_cache: OrderedDict[_CacheKey, Any] = OrderedDict()
_cache_lock = threading.Lock()
_load_locks: dict[_CacheKey, threading.Lock] = {}


def _cache_key(checkpoint_path: Path | None, base: LocalBase) -> _CacheKey:
    if checkpoint_path is None:
        return (None, 0.0, base.value)
    folder = Path(checkpoint_path).resolve()
    return (str(folder), folder.stat().st_mtime if folder.exists() else 0.0, base.value)


def load_for_inference(checkpoint_path: Path | None, base: LocalBase, progress: Progress | None = None) -> Any:
    """The model for a checkpoint folder (adapter or full) or the base, from the LRU cache if there."""
    base = LocalBase(base)
    key = _cache_key(checkpoint_path, base)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        load_lock = _load_locks.setdefault(key, threading.Lock())
    with load_lock:  # two requests for the same checkpoint load it once
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        model = _load(checkpoint_path, base, progress)
        with _cache_lock:
            _cache[key] = model
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
            _load_locks.pop(key, None)
    return model


def _load(checkpoint_path: Path | None, base: LocalBase, progress: Progress | None) -> Any:
    if checkpoint_path is None:
        model, _info = load_base_model(base, progress)
        return model
    folder = Path(checkpoint_path)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        model, _info = load_base_model(base, progress)
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    else:
        from infra.twin.trainer import load_full_checkpoint

        model = load_full_checkpoint(folder)
    model.eval()
    return model


def clear_cache() -> None:
    """Forget every cached model."""
    with _cache_lock:
        _cache.clear()


def generate(
    checkpoint_path: Path | None, base: LocalBase, request: GenerationRequest, *, progress: Progress | None = None
) -> GenerationResult:
    """Generate one candidate for ``request`` (see the module docstring)."""
    import torch

    tokenizer = default_tokenizer()
    prompt = format_prompt(request.contents, request.system_instruction, tokenizer)
    model = load_for_inference(checkpoint_path, base, progress)
    generated: list[int] = []
    finish_reason = "MAX_TOKENS"
    generator = torch.Generator().manual_seed(SAMPLING_SEED)
    with torch.inference_mode():
        output = model(input_ids=torch.tensor([prompt]), use_cache=True, logits_to_keep=1)
        while len(generated) < request.max_output_tokens:
            logits = output.logits[0, -1].float()
            if request.temperature and request.temperature > 0:
                probabilities = torch.softmax(logits / request.temperature, dim=-1)
                next_id = int(torch.multinomial(probabilities, 1, generator=generator))
            else:
                next_id = int(logits.argmax())
            if next_id in STOP_IDS:
                finish_reason = "STOP"
                break
            generated.append(next_id)
            if len(generated) >= request.max_output_tokens:
                break
            output = model(
                input_ids=torch.tensor([[next_id]]), cache=_cache_of(output), use_cache=True, logits_to_keep=1
            )
    return GenerationResult(
        text=decode(tokenizer, generated),
        finish_reason=finish_reason,
        prompt_token_count=len(prompt),
        candidates_token_count=len(generated),
    )


def _cache_of(output: Any) -> Any:
    """The KV cache of a model output (``cache`` in transformers ≥ 5.2x, ``past_key_values`` before)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)
