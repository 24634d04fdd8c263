"""`perpspec bench` times throughput over a whole replay and latencies in a replay of their own.

A clock read costs 0.12 µs (``perf_counter``) to 0.94 µs (``process_time``, a system call on this kind of machine)
against a stick op of about 1 µs: reads around every op would slow the stick far more than the engine and flatter
every ratio (they did until session 10). These tests need no workload, so they run without the shared bench folder.
"""

from __future__ import annotations

import time

import pytest


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

