"""Benchmark the tuning twin's training engine on the real Gemma 3 270M against a plain HF Trainer.

    .venv/bin/python benchmarks/train_bench.py [--steps 24] [--batch-size 4] [--repeat 1]

Every measurement runs in its own subprocess (so peak RSS is per variant):

* ``ours-lora`` / ``ours-full``: :class:`infra.twin.trainer.TorchTrainingEngine` (LoRA rank 4 on
  every projection, or every weight) for one epoch over ``steps × batch-size`` sentiment examples;
* ``baseline-lora`` / ``baseline-full``: the same training written plainly with transformers'
  ``Trainer``: the same model, LoRA config, examples (formatted and masked by
  ``infra.twin.gemma_format``), batch size, steps, learning rate (constant), AdamW, gradient
  clipping; full-vocabulary logits and the standard causal-LM loss via ``labels``; dynamic padding;
* ``convert``: the one-off GGUF → safetensors conversion in a fresh, empty cache folder;
* ``load``: loading the cached safetensors in a fresh process.

Throughput counts every non-pad token processed, over steps 2..N (the first step, with its one-off
allocations, is left out of both sides alike). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TRAIN_FILE = REPO_ROOT / "examples" / "sentiment" / "train.jsonl"
VARIANTS = ("ours-lora", "baseline-lora", "ours-full", "baseline-full")
TARGETS = {"baseline_ratio": 1.5}


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_throughput(step_times: list[float], step_tokens: list[int]) -> float:
    """Tokens per second over steps 2..N: tokens of those steps over the time from the end of step 1."""
    return sum(step_tokens[1:]) / (step_times[-1] - step_times[0])


# ---------------------------------------------------------------------------- variants


def run_ours(mode_name: str, steps: int, batch_size: int, work: Path) -> dict[str, Any]:
    from infra.twin.engine import LocalBase, TrainingMode, TrainingSpec
    from infra.twin.trainer import TorchTrainingEngine

    training_file = work / "train.jsonl"
    lines = TRAIN_FILE.read_text(encoding="utf-8").splitlines(keepends=True)[: steps * batch_size]
    training_file.write_text("".join(lines), encoding="utf-8")
    times: list[float] = []
    tokens: list[int] = []

    class Observer:
        def on_data_stats(self, stats: Any) -> None: ...
        def on_checkpoint(self, checkpoint: Any, validation_loss: float | None) -> None: ...
        def should_cancel(self) -> bool:
            return False

        def on_step(self, metrics: Any) -> None:
            times.append(time.perf_counter())
            tokens.append(metrics.tokens)

    mode = TrainingMode.ADAPTER if mode_name == "lora" else TrainingMode.FULL
    spec = TrainingSpec(
        job_id="bench", base=LocalBase.GEMMA_3_270M, mode=mode, training_file=training_file,
        output_dir=work / "out", epochs=1, batch_size=batch_size, max_seq_len=128,
    )
    started = time.perf_counter()
    result = TorchTrainingEngine().train(spec, Observer())
    return {
        "steps": len(times), "tokens": sum(tokens), "tokens_per_s": step_throughput(times, tokens),
        "wall_s": time.perf_counter() - started, "final_loss": result.final_loss, "peak_rss_mb": peak_rss_mb(),
    }


def run_baseline(mode_name: str, steps: int, batch_size: int, work: Path) -> dict[str, Any]:
    import torch
    from transformers import Gemma3ForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from infra.twin.base_models import ensure_base_model
    from infra.twin.engine import LocalBase, TrainingMode
    from infra.twin.gemma_format import IGNORE_INDEX, PAD_ID, default_tokenizer, prepare_file
    from infra.twin.trainer import BASE_LEARNING_RATE, LORA_TARGET_MODULES, MAX_GRAD_NORM, WEIGHT_DECAY

    examples = prepare_file(TRAIN_FILE, default_tokenizer(), max_seq_len=128).examples[: steps * batch_size]
    dataset = [{"input_ids": example.input_ids, "labels": example.labels} for example in examples]
    batch_tokens: list[int] = []

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        length = max(len(row["input_ids"]) for row in rows)
        input_ids = torch.full((len(rows), length), PAD_ID, dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for index, row in enumerate(rows):
            size = len(row["input_ids"])
            input_ids[index, :size] = torch.tensor(row["input_ids"])
            labels[index, :size] = torch.tensor(row["labels"])
            attention_mask[index, :size] = 1
        batch_tokens.append(int(attention_mask.sum()))
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter())

    started = time.perf_counter()
    folder, _converted = ensure_base_model(LocalBase.GEMMA_3_270M)
    model = Gemma3ForCausalLM.from_pretrained(folder, dtype=torch.float32)
    mode = TrainingMode.ADAPTER if mode_name == "lora" else TrainingMode.FULL
    if mode is TrainingMode.ADAPTER:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(LORA_TARGET_MODULES), bias="none", task_type="CAUSAL_LM",
        ))
    arguments = TrainingArguments(
        output_dir=str(work / "trainer"), per_device_train_batch_size=batch_size, max_steps=steps,
        learning_rate=BASE_LEARNING_RATE[mode], lr_scheduler_type="constant", warmup_steps=0,
        weight_decay=WEIGHT_DECAY, max_grad_norm=MAX_GRAD_NORM, optim="adamw_torch", logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0, seed=0,
        remove_unused_columns=False, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset, data_collator=collate, callbacks=[Timer()])
    output = trainer.train()
    step_tokens = batch_tokens[: len(times)]
    return {
        "steps": len(times), "tokens": sum(step_tokens), "tokens_per_s": step_throughput(times, step_tokens),
        "wall_s": time.perf_counter() - started, "final_loss": output.training_loss, "peak_rss_mb": peak_rss_mb(),
    }


def run_convert() -> dict[str, Any]:
    """GGUF → safetensors in the (fresh) cache named by TUNEWIRE_CACHE_DIR."""
    from infra.twin.base_models import ensure_base_model
    from infra.twin.engine import LocalBase
    from infra.twin.gemma_format import default_tokenizer

    default_tokenizer()  # a fresh cache has no tokenizer either; not part of the conversion cost
    started = time.perf_counter()
    _folder, converted = ensure_base_model(LocalBase.GEMMA_3_270M)
    return {"conversion_s": time.perf_counter() - started, "converted": converted, "peak_rss_mb": peak_rss_mb()}


def run_load() -> dict[str, Any]:
    """Load the cached safetensors (imports of torch and transformers timed apart)."""
    started = time.perf_counter()
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from infra.twin.base_models import load_base_model
    from infra.twin.engine import LocalBase

    imported = time.perf_counter()
    _model, info = load_base_model(LocalBase.GEMMA_3_270M)
    return {"cached_load_s": info.load_seconds, "import_s": imported - started, "converted": info.converted}


# ------------------------------------------------------------------------ orchestration


def in_subprocess(variant: str, args: argparse.Namespace, env: dict[str, str] | None = None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--variant", variant,
               "--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="runs per training variant (median reported)")
    parser.add_argument("--variant", choices=(*VARIANTS, "convert", "load"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:
        with tempfile.TemporaryDirectory(prefix="train-bench-") as work:
            if args.variant == "convert":
                result = run_convert()
            elif args.variant == "load":
                result = run_load()
            else:
                side, mode_name = args.variant.split("-")
                runner = run_ours if side == "ours" else run_baseline
                result = runner(mode_name, args.steps, args.batch_size, Path(work))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="train-bench-cache-") as fresh_cache:
        env = {**os.environ, "TUNEWIRE_CACHE_DIR": fresh_cache}
        convert = in_subprocess("convert", args, env)
    print(f"conversion (fresh cache): {convert['conversion_s']:.1f} s, peak RSS {convert['peak_rss_mb']:.0f} MB", flush=True)
    in_subprocess("load", args)  # makes sure the default cache holds the model (and warms the page cache)
    load = in_subprocess("load", args)
    print(f"cached load: {load['cached_load_s']:.2f} s (+ {load['import_s']:.1f} s imports)", flush=True)

    results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeat):
        for variant in VARIANTS:  # interleaved, so load from other processes hits both sides alike
            result = in_subprocess(variant, args)
            results[variant].append(result)
            print(f"{variant:14s} {result['tokens_per_s']:8.1f} tokens/s  peak RSS {result['peak_rss_mb']:6.0f} MB  "
                  f"wall {result['wall_s']:6.1f} s  steps {result['steps']}  final loss {result['final_loss']:.4f}", flush=True)

    def median(variant: str, key: str) -> float:
        return statistics.median(run[key] for run in results[variant])

    summary = {
        "tokens_per_s": round(median("ours-lora", "tokens_per_s"), 1),
        "baseline_tokens_per_s": round(median("baseline-lora", "tokens_per_s"), 1),
        "baseline_ratio": round(median("ours-lora", "tokens_per_s") / median("baseline-lora", "tokens_per_s"), 2),
        "full_tokens_per_s": round(median("ours-full", "tokens_per_s"), 1),
        "full_baseline_tokens_per_s": round(median("baseline-full", "tokens_per_s"), 1),
        "full_baseline_ratio": round(median("ours-full", "tokens_per_s") / median("baseline-full", "tokens_per_s"), 2),
        "peak_rss_mb": round(median("ours-lora", "peak_rss_mb")),
        "baseline_peak_rss_mb": round(median("baseline-lora", "peak_rss_mb")),
        "full_peak_rss_mb": round(median("ours-full", "peak_rss_mb")),
        "full_baseline_peak_rss_mb": round(median("baseline-full", "peak_rss_mb")),
        "conversion_s": round(convert["conversion_s"], 1),
        "cached_load_s": round(load["cached_load_s"], 2),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "repeat": args.repeat,
    }
    summary["meets_target"] = (
        summary["baseline_ratio"] >= TARGETS["baseline_ratio"] and summary["peak_rss_mb"] <= summary["baseline_peak_rss_mb"]
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
