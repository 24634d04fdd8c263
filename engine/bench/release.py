"""The last release's benchmark figures, printed beside a run's own (``perpspec bench``).

From ``docs/performance.md`` of v0.2.0 (2026-11-25, a 2-core machine shared with
other jobs, CPython 3.11, 500,000 timed ops): ratios are engine / measuring stick
in the same process, latencies per op.  None where that release did not print one.
"""

from __future__ import annotations

from typing import Final

RELEASE: Final = "v0.2.0"

# mode -> figure -> value (ratio, or µs)
FIGURES: Final[dict[str, dict[str, float | None]]] = {
    "interpreted": {
        "engine ratio": 0.0105,
        "engine p50 µs": 62.9,
        "engine p99 µs": 423.0,
        "engine p99.9 µs": 929.4,
        "rules-only floor ratio": 0.021,
        "kernels-only floor ratio": None,
        "book alone ratio": 0.495,
    },
    "compiled": {
        "engine ratio": 0.019,
        "engine p50 µs": 27.2,
        "engine p99 µs": None,
        "engine p99.9 µs": None,
        "rules-only floor ratio": 0.047,
        "kernels-only floor ratio": None,
        "book alone ratio": 0.484,
    },
}


def release_table(mode: str, figures: dict[str, float | None]) -> list[str]:
    """Lines of a table: each figure of this run beside the release's (same mode)."""
    kept = FIGURES[mode]
    lines = [f"{'figure (' + mode + ')':<30} {RELEASE:>10} {'this run':>10}"]
    for name, before in kept.items():
        now = figures.get(name)
        lines.append(f"{name:<30} {_cell(before):>10} {_cell(now):>10}")
    lines.append(f"({RELEASE} timed each op with the wall clock: the reads slowed the stick's op of about 1 µs by")
    lines.append(" an eighth to a third when measured here, so that release's ratios read higher than whole-replay timing gives)")
    return lines


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if value < 1 else f"{value:,.1f}"
