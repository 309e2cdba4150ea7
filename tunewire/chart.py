"""Tiny terminal charts for loss curves: a one-line sparkline and a small text plot.

Plain strings only (no dependency beyond the standard library), so they print the same on a
terminal, in a log file and in tests. Values that are not finite numbers are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
POINT = "•"


def finite(values: Sequence[object]) -> list[float]:
    """The finite numbers among `values`, as floats, in order."""
    kept: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            kept.append(float(value))
    return kept


def resample(values: Sequence[float], width: int) -> list[float]:
    """At most `width` points: each the mean of its share of `values` (all of them when fewer)."""
    if width < 1:
        raise ValueError("width must be at least 1")
    if len(values) <= width:
        return list(values)
    buckets: list[float] = []
    for column in range(width):
        start = column * len(values) // width
        end = max(start + 1, (column + 1) * len(values) // width)
        share = values[start:end]
        buckets.append(sum(share) / len(share))
    return buckets


def _level(value: float, low: float, high: float, levels: int) -> int:
    if high <= low:
        return levels // 2
    return min(levels - 1, max(0, round((value - low) / (high - low) * (levels - 1))))


def sparkline(values: Sequence[object], width: int = 40) -> str:
    """One line of block characters, lowest value ▁ and highest █; "" when there is nothing."""
    points = resample(finite(values), width)
    if not points:
        return ""
    low, high = min(points), max(points)
    return "".join(SPARK_BLOCKS[_level(value, low, high, len(SPARK_BLOCKS))] for value in points)


def _number(value: float) -> str:
    return f"{value:.4g}"


def line_chart(
    values: Sequence[object],
    *,
    width: int = 60,
    height: int = 8,
    x_label: str = "step",
    x_start: int = 1,
) -> list[str]:
    """A small plot of `values` (one per step from `x_start`) as text lines; [] when empty.

    ```
    2.31 ┤•
         │ ••
         │   •••
    0.42 ┤      ••••••
         └───────────
          step 1   step 12
    ```
    """
    data = finite(values)
    if not data:
        return []
    height = max(2, height)
    points = resample(data, max(1, width))
    low, high = min(points), max(points)
    rows = [[" "] * len(points) for _ in range(height)]
    for column, value in enumerate(points):
        level = _level(value, low, high, height)
        rows[height - 1 - level][column] = POINT
    top, bottom = _number(high), _number(low)
    gutter = max(len(top), len(bottom))
    lines = []
    for index, row in enumerate(rows):
        if index == 0:
            axis = f"{top:>{gutter}} ┤"
        elif index == height - 1:
            axis = f"{bottom:>{gutter}} ┤"
        else:
            axis = f"{'':>{gutter}} │"
        lines.append(axis + "".join(row).rstrip())
    lines.append(f"{'':>{gutter}} └" + "─" * len(points))
    first, last = f"{x_label} {x_start}", f"{x_label} {x_start + len(data) - 1}"
    span = max(len(points), len(first) + len(last) + 1)
    lines.append(" " * (gutter + 2) + first + " " * (span - len(first) - len(last)) + last if len(data) > 1 else " " * (gutter + 2) + first)
    return lines
