"""Cold start of each function, in fresh interpreters, against the framework alone.

    .venv/bin/python benchmarks/coldstart_bench.py [--repeat 5]

Baseline: `import functions_framework` (what every Cloud Function pays). For each function:
(1) importing the deploy module `functions.main` plus its handler module, and (2) that plus the
client libraries its first event imports (the lazy imports in shared/clients.py and the step
it calls). Each figure is the median of --repeat fresh interpreters; ratios are against the
baseline. Also checks sys.modules: validate_dataset and notify never import aiplatform.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FIRST_EVENT_IMPORTS = {
    "validate_dataset": ["google.cloud.firestore", "google.cloud.pubsub_v1", "google.cloud.storage", "sentencepiece",
                         "shared.pipeline.validate_upload", "shared.tokens.gemma_tokenizer"],
    "launch_tuning": ["google.cloud.firestore", "google.cloud.pubsub_v1", "google.cloud.aiplatform_v1", "shared.vertex"],
    "poll_jobs": ["google.cloud.firestore", "google.cloud.pubsub_v1", "google.cloud.aiplatform_v1", "shared.vertex"],
    "notify": ["google.cloud.firestore", "google.cloud.pubsub_v1", "shared.webhooks.registry", "shared.pipeline.notify_job_event"],
}
HEAVY = ("google.cloud.aiplatform", "torch", "transformers", "vertexai")


def timed_import(modules: list[str]) -> tuple[float, list[str]]:
    code = (
        "import time, sys, json\n"
        "t = time.perf_counter()\n"
        + "".join(f"import {m}\n" for m in modules)
        + "elapsed = time.perf_counter() - t\n"
        + f"print(json.dumps([elapsed, [m for m in sys.modules if m.startswith({HEAVY!r})]]))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=300)
    elapsed, heavy = json.loads(output.stdout.strip().splitlines()[-1])
    return elapsed, heavy


def median_of(modules: list[str], repeat: int) -> tuple[float, list[str]]:
    runs = [timed_import(modules) for _ in range(repeat)]
    return statistics.median(run[0] for run in runs), runs[-1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    baseline, _ = median_of(["functions_framework"], args.repeat)
    print(f"baseline: import functions_framework  {baseline * 1000:.0f} ms")
    result: dict[str, object] = {"baseline_ms": round(baseline * 1000)}
    for function, libraries in FIRST_EVENT_IMPORTS.items():
        entry, entry_heavy = median_of(["functions.main", f"functions.{function}"], args.repeat)
        first_event, heavy = median_of(["functions.main", f"functions.{function}", *libraries], args.repeat)
        result[function] = {
            "entry_ms": round(entry * 1000),
            "entry_ratio": round(entry / baseline, 2),
            "first_event_ms": round(first_event * 1000),
            "first_event_ratio": round(first_event / baseline, 2),
            "imports_aiplatform": any(m.startswith("google.cloud.aiplatform") for m in heavy),
            "entry_imports_heavy": bool(entry_heavy),
        }
        row = result[function]
        print(f"{function:<17} entry {row['entry_ms']:>5} ms ({row['entry_ratio']}×)   first event {row['first_event_ms']:>5} ms "
              f"({row['first_event_ratio']}×)   aiplatform: {'yes' if row['imports_aiplatform'] else 'no'}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
