"""The benchmark's replays run the shared workload as they claim (figures themselves are not tested)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from perpspec.engine.bench.bench import (
    DEFAULT_SHARED,
    EngineSetup,
    bench_book_only,
    bench_engine,
    bench_rules_only,
    load_module,
)

pytestmark = pytest.mark.skipif(
    not (DEFAULT_SHARED / "workload.py").exists(), reason="the benchmark's measuring stick is absent: it needs the shared bench folder (workload.py, "
    "ref_engine.py) at ../shared/bench next to the repository (perpspec bench takes --shared DIR)"
)

WARMUP = 1_000


@pytest.fixture(scope="module")
def ops() -> list[tuple[int, int, int, int, int]]:
    workload = load_module(DEFAULT_SHARED, "workload")
    generated: list[tuple[int, int, int, int, int]] = workload.generate(n_ops=3_000, seed=20240601, warmup=WARMUP)
    return generated


def test_engine_replay_accepts_every_order_and_journals_every_command(ops: list[tuple[int, int, int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        run, counts = bench_engine(EngineSetup(), ops, WARMUP, str(Path(directory) / "store"))
    rejected = {key: value for key, value in counts.items() if key.startswith("rejected:")}
    kinds = counts["add_ops"] + counts["cancel_ops"] + counts["sweep_ops"]
    assert (run.ops, kinds, rejected) == (len(ops) - WARMUP, len(ops) - WARMUP, {})
    assert counts["journal_bytes"] > 0


def test_floor_replays_time_the_same_ops(ops: list[tuple[int, int, int, int, int]]) -> None:
    book = bench_book_only(EngineSetup(), ops, WARMUP)
    rules = bench_rules_only(EngineSetup(), ops, WARMUP)
    assert (book.ops, rules.ops) == (len(ops) - WARMUP, len(ops) - WARMUP)


class CountingClock:
    """A fake clock: each read advances 1,000 ns and is counted."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.reads * 1_000


def test_throughput_is_timed_over_the_whole_replay_never_per_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock read per op would cost the stick (about 1 µs an op) as much as its own work and flatter every
    ratio; a throughput replay reads its clock twice, whatever the number of ops."""
    from perpspec.engine.bench import bench

    clock = CountingClock()
    monkeypatch.setitem(bench._CLOCK, "now", clock)
    seen: list[tuple[int, int, int, int, int]] = []
    ops = [(0, index, 0, 100, 1) for index in range(50)]
    run, latencies = bench.timed_replay("count", seen.append, ops, warmup=10)
    assert (clock.reads, run.ops, run.seconds, latencies, run.per_op, len(seen)) == (2, 40, 1e-06, [], False, 50)
    assert bench.format_run(run, run) == f"{'count':<37} {40_000_000:>12,} ops/s  ratio 1.0000"


def test_the_latency_replay_times_each_op_on_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Latencies come from a replay that reads perf_counter around each op (and not the chosen throughput clock)."""
    from perpspec.engine.bench import bench

    wall, chosen = CountingClock(), CountingClock()
    monkeypatch.setattr(time, "perf_counter_ns", wall)  # the module bench reads it from
    monkeypatch.setitem(bench._CLOCK, "now", chosen)
    ops = [(0, index, 0, 100, 1) for index in range(30)]
    run, latencies = bench.timed_replay("count", lambda op: None, ops, warmup=10, per_op=True)
    assert (wall.reads, chosen.reads, latencies, run.per_op) == (2 + 2 * 20, 0, [1_000] * 20, True)
    assert (run.p50_ns, run.p99_ns, run.p999_ns) == (1_000, 1_000, 1_000)


def test_both_engine_replays_have_the_same_outcomes(ops: list[tuple[int, int, int, int, int]]) -> None:
    """The throughput replay and the latency replay of one workload end with the same events and journal."""
    with tempfile.TemporaryDirectory() as directory:
        plain, counts = bench_engine(EngineSetup(), ops, WARMUP, str(Path(directory) / "a"))
        timed, timed_counts = bench_engine(EngineSetup(), ops, WARMUP, str(Path(directory) / "b"), per_op=True)
    assert (plain.per_op, timed.per_op) == (False, True)
    assert {key: value for key, value in timed_counts.items() if not key.endswith("_ns")} == counts
    assert {key for key in timed_counts if key.endswith("_ns")} == {
        f"{kind}_{p}_ns" for kind in ("add", "cancel", "sweep") for p in ("p50", "p99", "p999")
    }
