"""The sweep benchmark: cells per minute on one process, on all local cores and on local Ray.

::

    python -m perpspec.engine.bench.sweep [--cells N] [--ray]

Runs the shipped ``tiny`` grid widened by a seed axis to N cells (default 24) into fresh
folders, so nothing is reused, and prints cells per minute, the scaling efficiency against
one process, and the coordinator's own peak memory for N and 4·N cells (it holds a bounded
number of futures and one row per cell, so it stays flat as the grid grows).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from perpspec.engine.sweep.backends import default_jobs, run_local, run_ray
from perpspec.engine.sweep.grid import Grid, load_grid

TINY = Path(__file__).resolve().parent.parent.parent / "specs" / "sweeps" / "tiny.toml"


def widened(cells: int) -> Grid:
    """The tiny grid with a seed axis making ``cells`` cells (rounded up to whole seeds)."""
    grid = load_grid(TINY)
    seeds = tuple(str(seed) for seed in range(1, -(-cells // grid.size) + 1))
    return Grid(grid.source, grid.base, (*grid.axes, ("seed", seeds)), grid.measures, (), 10**6)


def timed(grid: Grid, backend: str, jobs: int) -> float:
    """Seconds to run every cell of ``grid`` from scratch on ``backend``."""
    with tempfile.TemporaryDirectory(prefix="perpspec-sweep-bench-") as out:
        started = time.perf_counter()
        source = run_ray(grid, grid.cells(), out, None, jobs) if backend == "ray" else run_local(grid, grid.cells(), out, jobs)
        for _, row in source:
            if row["status"] != "ok":
                raise RuntimeError(f"a cell failed: {row['error']}")
        return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m perpspec.engine.bench.sweep")
    parser.add_argument("--cells", type=int, default=24)
    parser.add_argument("--ray", action="store_true", help="also run on a local Ray (perpspec[ray])")
    args = parser.parse_args(argv)
    cores = default_jobs()
    grid = widened(args.cells)
    print(f"sweep benchmark: {grid.size} cells of {grid.base}, {cores} cores")
    one = timed(grid, "local", 1)
    rate_one = grid.size * 60 / one
    print(f"  1 process        {rate_one:8.1f} cells/min")
    rows = [("local pool", timed(grid, "local", cores))]
    if args.ray:
        rows.append(("local Ray", timed(grid, "ray", cores)))
    for name, seconds in rows:
        rate = grid.size * 60 / seconds
        print(f"  {name:<16} {rate:8.1f} cells/min  (scaling efficiency {rate / rate_one / cores:.0%} on {cores} cores)")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timed(widened(4 * args.cells), "local", cores)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  coordinator peak RSS: {before / 1024:.0f} MiB after {grid.size} cells, {after / 1024:.0f} MiB after {4 * grid.size} more")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
