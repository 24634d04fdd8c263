"""The benchmark: the shared workload through the engine and through the measuring stick, side by side.

Absolute throughput on a shared machine drifts by 2x from run to run; the
ratio of two engines measured in the same process, one after the other, does
not.  So every figure here is printed next to the shared measuring stick
(``../shared/bench/ref_engine.py``: a minimal pure-Python price-time book with
no risk, no events and no journal) run on the same ops in the same process,
and the headline is the **ratio** engine / stick.

The engine runs with everything on: every order goes through the exchange's
command path (validation, pre-trade margin check, fees, position updates),
every event is produced and serialised to an event sink, and every command is
appended to the journal (CRC-framed, group commit, the fsync policy given).

The second figure is the cost of one mark-price update with ``n`` open
positions of which 10 become liquidatable, for ``n`` = 1,000 and 100,000:
with an index by liquidation price the ratio stays near 1 (target: ≤ 3).

This module is an edge module (it reads the wall clock and reports floats);
the engine core never does.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "bench"
WARMUP = 20_000  # workload.DEFAULTS["warmup"]: the background book, not timed

Op = tuple[int, int, int, int, int]


@attrs.frozen(kw_only=True)
class Run:
    """One timed replay: throughput and per-op latency percentiles."""

    name: str
    ops: int
    seconds: float
    p50_ns: int
    p99_ns: int
    p999_ns: int
    note: str = ""

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


def load_module(directory: Path, name: str) -> ModuleType:
    """Import ``name`` from a directory that is not a package (the shared bench folder)."""
    path = directory / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (use --shared DIR)")
    spec = importlib.util.spec_from_file_location(f"_perpspec_shared_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    spec.loader.exec_module(module)
    return module


def load_workload(shared: Path, n_ops: int) -> tuple[list[Op], str]:
    """The seeded workload (cached under the temp dir) and its SHA-256."""
    workload = load_module(shared, "workload")
    cache = Path(tempfile.gettempdir()) / "perpspec-bench-cache"
    ops: list[Op] = workload.load_or_generate(str(cache), n_ops=n_ops)
    return ops, str(workload.digest(ops))


def percentiles(samples: list[int]) -> tuple[int, int, int]:
    """(p50, p99, p99.9) of per-op latencies in ns (nearest rank)."""
    ordered = sorted(samples)
    count = len(ordered)
    if count == 0:
        return (0, 0, 0)

    def rank(permille: int) -> int:
        return ordered[min(count - 1, (count * permille) // 1000)]

    return rank(500), rank(990), rank(999)


def timed_replay(
    name: str, step: Callable[[Op], Any], ops: list[Op], warmup: int, note: str = ""
) -> tuple[Run, list[int]]:
    """Run ``step`` over the warmup untimed, then over the rest with a per-op clock."""
    for op in ops[:warmup]:
        step(op)
    timed = ops[warmup:]
    latencies = [0] * len(timed)
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        start = clock()
        for index, op in enumerate(timed):
            before = clock()
            step(op)
            latencies[index] = clock() - before
        elapsed = clock() - start
    finally:
        gc.enable()
    p50, p99, p999 = percentiles(latencies)
    run = Run(name=name, ops=len(timed), seconds=elapsed / 1e9, p50_ns=p50, p99_ns=p99, p999_ns=p999, note=note)
    return run, latencies


def bench_reference(shared: Path, ops: list[Op], warmup: int, with_risk: bool) -> Run:
    """The measuring stick: ref_engine.Engine (optionally with its per-fill Risk), same loop shape."""
    ref = load_module(shared, "ref_engine")
    engine = ref.Engine()
    limit = engine.limit
    cancel = engine.cancel
    if with_risk:
        risk = ref.Risk()
        fills = engine.fills
        process = risk.process

        def step(op: Op) -> None:
            if op[0] == 1:
                cancel(op[1])
            else:
                start = len(fills)
                limit(op[1], op[2], op[3], op[4])
                process(fills, start, op[2])

    else:

        def step(op: Op) -> None:
            if op[0] == 1:
                cancel(op[1])
            else:
                limit(op[1], op[2], op[3], op[4])

    run, _ = timed_replay("ref_engine+Risk" if with_risk else "ref_engine", step, ops, warmup)
    return run


def format_ns(ns: int) -> str:
    return f"{ns / 1000:.1f} µs" if ns < 1_000_000 else f"{ns / 1e6:.2f} ms"


def format_run(run: Run, stick: Run | None) -> str:
    ratio = f"{run.ops_per_s / stick.ops_per_s:6.3f}" if stick is not None and stick.ops_per_s else "     -"
    return (
        f"{run.name:<34} {run.ops_per_s:>12,.0f} ops/s  ratio {ratio}  "
        f"p50 {format_ns(run.p50_ns):>9}  p99 {format_ns(run.p99_ns):>9}  p99.9 {format_ns(run.p999_ns):>9}"
        + (f"  ({run.note})" if run.note else "")
    )


def default_journal_dir() -> str:
    return tempfile.mkdtemp(prefix="perpspec-bench-")


def remove_tree(path: str) -> None:
    for root, dirs, files in os.walk(path, topdown=False):
        for file in files:
            os.unlink(os.path.join(root, file))
        for directory in dirs:
            os.rmdir(os.path.join(root, directory))
    os.rmdir(path)
