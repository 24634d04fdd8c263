"""The benchmark's replays run the shared workload as they claim (figures themselves are not tested)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from perpspec.engine.bench.bench import (
    DEFAULT_SHARED,
    EngineSetup,
    bench_book_only,
    bench_engine,
    bench_kernels_only,
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


def test_kernels_floor_ends_as_the_rules_floor(ops: list[tuple[int, int, int, int, int]]) -> None:
    """The kernels-only floor does the rules-only floor's work: every position and MRG-042 sum ends the same."""
    rules = bench_rules_only(EngineSetup(), ops, WARMUP)
    kernels = bench_kernels_only(EngineSetup(), ops, WARMUP)
    assert kernels.ops == len(ops) - WARMUP
    assert rules.outcome.startswith("positions+sums ")
    assert kernels.outcome == rules.outcome


def test_both_engine_replays_have_the_same_outcomes(ops: list[tuple[int, int, int, int, int]]) -> None:
    """The throughput replay and the latency replay of one workload end with the same events, journal and state."""
    with tempfile.TemporaryDirectory() as directory:
        plain, counts = bench_engine(EngineSetup(), ops, WARMUP, str(Path(directory) / "a"))
        timed, timed_counts = bench_engine(EngineSetup(), ops, WARMUP, str(Path(directory) / "b"), per_op=True)
    assert (plain.per_op, timed.per_op) == (False, True)
    assert plain.outcome == timed.outcome
    assert plain.outcome.startswith("state ")
    assert {key: value for key, value in timed_counts.items() if not key.endswith("_ns")} == counts
    assert {key for key in timed_counts if key.endswith("_ns")} == {
        f"{kind}_{p}_ns" for kind in ("add", "cancel", "sweep") for p in ("p50", "p99", "p999")
    }
