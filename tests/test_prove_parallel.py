"""`perpspec prove -j N` and its result cache (proofs/parallel.py)."""

from __future__ import annotations

from pathlib import Path

import attrs

from perpspec.proofs.parallel import Progress, run_all
from perpspec.proofs.registry import REGISTRY, discover

SELECTED = ("KRN/order_term/XBTUSDT", "KNOWN-BAD/KRN/swap-ite/trade/XBTUSDT")


def test_two_processes_then_the_cache_give_the_same_results(tmp_path: Path) -> None:
    discover()
    obligations = [REGISTRY[name] for name in SELECTED]
    seen: list[tuple[int, int, bool]] = []

    def report(progress: Progress) -> None:
        seen.append((progress.done, progress.total, progress.cached))

    first = run_all(obligations, jobs=2, cache_dir=tmp_path, report=report)
    second = run_all(obligations, jobs=2, cache_dir=tmp_path, report=report)
    assert [outcome.passed for outcome in first + second] == [True, True, True, True]
    assert [outcome.status_text for outcome in second] == ["proved", "refuted"]
    assert [outcome.result for outcome in first] == [outcome.result for outcome in second]
    assert seen == [(1, 2, False), (2, 2, False), (1, 2, True), (2, 2, True)]
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_without_a_cache_directory_nothing_is_stored(tmp_path: Path) -> None:
    discover()
    outcomes = run_all([REGISTRY[SELECTED[0]]], jobs=1, cache_dir=None)
    assert ([outcome.passed for outcome in outcomes], list(tmp_path.iterdir())) == ([True], [])


def test_workers_take_the_longest_obligations_first_by_last_timings_then_declared_timeout(tmp_path: Path) -> None:
    from perpspec.proofs.parallel import load_timings, longest_first, store_timings

    discover()
    quick, slow = REGISTRY[SELECTED[0]], REGISTRY[SELECTED[1]]
    declared = attrs.evolve(quick, id="X/declared-slow", timeout_ms=999_999)
    assert [o.id for o in longest_first([quick, slow, declared], {})] == ["X/declared-slow", *SELECTED]
    store_timings(tmp_path, {slow.id: 5})
    store_timings(tmp_path, {quick.id: 7})
    assert load_timings(tmp_path) == {quick.id: 7, slow.id: 5}
    assert [o.id for o in longest_first([slow, quick], load_timings(tmp_path))] == [quick.id, slow.id]
    assert load_timings(None) == {}
    assert load_timings(tmp_path / "absent") == {}


def test_a_run_with_a_cache_keeps_each_obligations_cpu_time_for_the_next_order(tmp_path: Path) -> None:
    from perpspec.proofs.parallel import load_timings

    discover()
    run_all([REGISTRY[SELECTED[0]]], jobs=1, cache_dir=tmp_path)
    assert list(load_timings(tmp_path)) == [SELECTED[0]]
