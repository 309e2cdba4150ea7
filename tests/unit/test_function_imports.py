"""Cold start: a function imports only what it needs (validate and notify never import aiplatform)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("google.cloud.aiplatform", "google.cloud.aiplatform_v1", "torch", "transformers", "vertexai")


def modules_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(output.stdout))


@pytest.mark.parametrize("module", ["functions.main", "functions.validate_dataset", "functions.notify"])
def test_validate_and_notify_never_import_aiplatform_or_torch(module):
    loaded = modules_after_import(module)
    assert not {name for name in loaded if name.startswith(HEAVY)}


def test_the_launch_path_imports_aiplatform_only_when_it_builds_its_client():
    assert not {name for name in modules_after_import("functions.launch_tuning") if name.startswith(HEAVY)}
