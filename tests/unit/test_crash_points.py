"""Crash points: inert unless armed; an armed point ends the process once per arming."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared import faults

REPO = Path(__file__).resolve().parents[2]


def run_point(armed_file: Path, point: str) -> subprocess.CompletedProcess:
    code = f"from shared.faults import crash_point; crash_point({point!r}); print('survived')"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", faults.FILE_ENV: str(armed_file)})


def test_an_unarmed_crash_point_does_nothing(tmp_path):
    result = run_point(tmp_path / "armed.json", "notify.after_post")
    assert result.returncode == 0 and "survived" in result.stdout


def test_an_armed_crash_point_ends_the_process_once_then_lets_it_pass(tmp_path):
    armed = tmp_path / "armed.json"
    faults.arm(armed, "launch.after_vertex_create", times=1)
    first = run_point(armed, "launch.after_vertex_create")
    assert first.returncode == faults.CRASH_EXIT_CODE and "survived" not in first.stdout
    assert '"crash_point":"launch.after_vertex_create"' in first.stdout
    assert faults.remaining(armed, "launch.after_vertex_create") == 0
    second = run_point(armed, "launch.after_vertex_create")
    assert second.returncode == 0 and "survived" in second.stdout


def test_arming_one_point_leaves_the_others_inert(tmp_path):
    armed = tmp_path / "armed.json"
    faults.arm(armed, "notify.after_post")
    assert run_point(armed, "poll.after_transition_commit").returncode == 0
    assert faults.remaining(armed, "notify.after_post") == 1


def test_arming_an_unknown_point_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown crash point"):
        faults.arm(tmp_path / "armed.json", "launch.somewhere")


def test_every_declared_crash_point_is_placed_in_the_code_exactly_once():
    sources = "\n".join(path.read_text() for path in (REPO / "shared").rglob("*.py") if path.name != "faults.py")
    for point in faults.POINTS:
        assert sources.count(f'crash_point("{point}")') == 1, point
