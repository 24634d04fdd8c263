"""`perpspec bench` times throughput over a whole replay and latencies in a replay of their own.

A clock read costs 0.12 µs (``perf_counter``) to 0.94 µs (``process_time``, a system call on this kind of machine)
against a stick op of about 1 µs: reads around every op would slow the stick far more than the engine and flatter
every ratio (they did until session 10). These tests need no workload, so they run without the shared bench folder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

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



def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, latency_outcome: str) -> int:
    """`perpspec bench` on stand-in replays: the stick at 1,000,000 ops/s, the engine's throughput replay at 50,000,
    its latency replay at 10,000 (slowed by its clock reads) ending with ``latency_outcome``."""
    from perpspec.engine.bench.bench import Run
    from perpspec.engine.cli import bench as cli

    for name in ("workload.py", "ref_engine.py"):
        (tmp_path / name).write_text("")
    counts = {"events": 7, "journal_bytes": 99, "add_ops": 1, "cancel_ops": 0, "sweep_ops": 0}

    def engine(*args: Any, per_op: bool = False) -> tuple[Run, dict[str, int]]:
        if per_op:
            timed = {**counts, **{f"{k}_{p}_ns": 5 for k in ("add", "cancel", "sweep") for p in ("p50", "p99", "p999")}}
            return Run(name="latency", ops=10, seconds=0.001, p50_ns=5, p99_ns=5, p999_ns=5, per_op=True,
                       outcome=latency_outcome), timed
        return Run(name="engine", ops=10, seconds=0.0002, outcome="state a journal b"), dict(counts)

    monkeypatch.setattr(cli, "load_workload", lambda shared, n: ([(0, 1, 0, 100, 1)] * 20_010, "f" * 64))
    monkeypatch.setattr(cli, "bench_reference", lambda *args, **kw: Run(name="ref_engine", ops=10, seconds=0.00001))
    monkeypatch.setattr(cli, "bench_engine", engine)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--shared", str(tmp_path), "--skip-liquidation", "--no-breakdown", "--interpreted"])
    return cli.run(args)


def test_the_ratio_comes_from_the_throughput_replay_not_the_latency_replay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(monkeypatch, tmp_path, "state a journal b")
    out = capsys.readouterr().out
    assert code == 0
    assert "ratio to the measuring stick: 0.0500 (" in out  # 50,000 / 1,000,000; the latency replay's 10,000 unused
    assert "engine end: state a journal b (both replays)" in out


def test_bench_fails_when_its_two_engine_replays_end_differently(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _cli(monkeypatch, tmp_path, "state a journal c")
    out = capsys.readouterr().out
    assert code == 1
    assert "the engine's two replays of one workload differ in the final state or the journal's SHA-256" in out
    assert "ratio to the measuring stick" not in out
