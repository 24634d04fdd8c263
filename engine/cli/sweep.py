"""``perpspec sweep GRID.toml``: a grid of stress simulations on a local process pool or on Ray.

::

    perpspec sweep GRID.toml [--out DIR] [-j N] [--ray [ADDRESS]] [--heat X,Y] [--yes] [--quiet]

Each cell is a normal ``perpspec simulate`` run through the verified engine with every
invariant checked.  Cells are cached under ``OUT/cells/KEY/`` by the hash of everything
they depend on, so rerunning an interrupted sweep runs only the missing cells and a widened
grid reuses the finished ones.  A cell's record is reused only when it is exactly that cell's
(its parameters, every measure an integer) and the journal and event log beside it hash to what
it recorded; anything else runs the cell again.  Every file is written new and renamed into place;
a symbolic link at one of OUT's outputs is refused before any cell runs.  A failed cell is reported with its parameters and does not
stop the sweep.  Outputs: ``OUT/results.{jsonl,csv,parquet}`` and ``OUT/report.html``.
Exit status 0 when every cell ran and held every invariant, 1 otherwise, 2 on a bad grid.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from perpspec.engine.cli.main import whole_number

DEFAULT_OUT = "perpspec-sweep"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.add_argument("grid", help="the grid file (TOML; see specs/sweeps/)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: ./{DEFAULT_OUT})")
    parser.add_argument("-j", "--jobs", type=whole_number, default=None, help="processes (default: all cores)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the cells on Ray: a local Ray, or the cluster at ADDRESS (needs perpspec[ray])")
    parser.add_argument("--heat", default=None, metavar="X,Y", help="the two axes of the heat maps (default: the first two)")
    parser.add_argument("--yes", action="store_true", help="run a grid larger than its max_cells")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    """Validate the grid, run the missing cells, write the results and the report."""
    from perpspec.engine.cli.main import UsageError
    from perpspec.engine.simulation.output import OutputError
    from perpspec.engine.sweep.backends import BackendError, default_jobs, require_ray, run_local, run_ray
    from perpspec.engine.sweep.grid import GridError, load_grid, validate_axes
    from perpspec.engine.sweep.results import (
        REPORT,
        RESULTS_CSV,
        RESULTS_JSONL,
        RESULTS_PARQUET,
        write_report,
        write_results,
    )

    try:
        grid = load_grid(Path(args.grid))
        validate_axes(grid)
    except GridError as error:
        raise UsageError(str(error)) from None
    if grid.size > grid.max_cells and not args.yes:
        raise UsageError(f"{grid.source}: {grid.size:,} cells is more than max_cells {grid.max_cells:,}: add --yes to run it")
    names = [name for name, _ in grid.axes]
    heat = _heat_axes(args.heat, names)
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise UsageError("-j: at least 1")
    if args.ray is not None:
        try:
            require_ray()  # before OUT/cells is created: a refused sweep leaves nothing behind
        except BackendError as error:
            raise UsageError(str(error)) from None
    out = Path(args.out)
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create: {error.strerror}") from None
    for name in (RESULTS_JSONL, RESULTS_CSV, RESULTS_PARQUET, REPORT):  # refused before any cell runs
        if (out / name).is_symlink():
            raise UsageError(f"--out {out}: {name} is a symbolic link: refused (remove it or choose another --out)")
    cells = grid.cells()
    rows: list[dict[str, Any] | None] = [None] * len(cells)
    if args.ray is not None:
        source = run_ray(grid, cells, str(out.resolve()), args.ray or None, jobs)
        where = f"Ray ({args.ray or 'local'})"
    else:
        source = run_local(grid, cells, str(out), jobs)
        where = f"{jobs} local process{'es' if jobs != 1 else ''}"
    print(f"perpspec sweep: {grid.size:,} cells of {grid.base} on {where}", file=sys.stderr)
    started = time.perf_counter()
    done = failed = reused = 0
    try:
        for index, row in source:
            rows[index] = row
            done += 1
            failed += row["status"] != "ok"
            reused += bool(row.get("reused"))
            if not args.quiet:
                elapsed = time.perf_counter() - started
                print(f"\r  cells {done:,}/{len(cells):,} · failed {failed:,} · reused {reused:,} · "
                      f"last {row['wall_seconds']} s · {elapsed:.0f} s", end="", file=sys.stderr, flush=True)
    except BackendError as error:
        raise UsageError(str(error)) from None
    if not args.quiet:
        print(file=sys.stderr)
    finished = [row for row in rows if row is not None]
    try:
        written = write_results(out, grid, finished)
        report = write_report(out, grid, finished, heat)
    except OutputError as error:  # a link planted in OUT while the cells ran
        raise UsageError(str(error)) from None
    bad = [row for row in finished if row["status"] != "ok" or row.get("invariant_violations") or row.get("conservation_gap")]
    for row in finished:
        if row["status"] != "ok":
            where_cell = ", ".join(f"{name}={row[name]}" for name in names)
            print(f"  FAILED {where_cell}: {row['error']}")
    print(f"cells: {len(finished):,} ({reused:,} reused, {failed:,} failed) in {time.perf_counter() - started:.1f} s")
    print("results: " + ", ".join(str(path) for path in written))
    print(f"report: {report}")
    return 1 if bad else 0


def _heat_axes(text: str | None, names: list[str]) -> tuple[str, str] | None:
    from perpspec.engine.cli.main import UsageError

    if text is None:
        return (names[0], names[1]) if len(names) >= 2 else None
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(part in names for part in parts) or parts[0] == parts[1]:
        raise UsageError(f"--heat: two different axes of the grid, e.g. --heat {','.join(names[:2]) or 'X,Y'}")
    return parts[0], parts[1]
