"""One ADL ranking per waterfall, not per round: it is told every account a round changed (engine/core/waterfall.py).

``Waterfall.run`` builds one :class:`~engine.core.adlrank.AdlRanking` for the whole
waterfall (the marks do not move while it runs).  The ranking re-reads exactly the
accounts it is told about (``note``); the accounts a round changed are those the
liquidation index holds as dirty, which the index refresh that ends the round
forgets.  So the waterfall must tell the ranking every dirty account before each of
those refreshes.  These tests watch every refresh inside a waterfall, after its
ranking exists, on whole simulated crashes (both ADL policies) and on random crowds,
and check that nothing the refresh forgets was kept from the ranking.  Which rows the
ranking then gives is checked against the full scan in tests/test_adl_ranking.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from perpspec.engine.core.adlrank import AdlRanking
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.waterfall import Waterfall
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario
from tests.test_adl_ranking import check_crowd, crowds
from tests.test_waterfall_differential import Scenario


class Watch:
    """Inside each waterfall: the ranking it built, what that ranking was told, what each refresh forgot."""

    def __init__(self) -> None:
        self.running = False
        self.ranking: AdlRanking | None = None
        self.noted: set[int] = set()
        self.refreshes = 0  # refreshes inside a waterfall, after its ranking was built, with dirty accounts
        self.missing: list[int] = []


def watch_waterfalls(patch: pytest.MonkeyPatch) -> Watch:
    watch = Watch()
    run, init, note, refresh = Waterfall.run, AdlRanking.__init__, AdlRanking.note, Risk.refresh_index

    def watched_run(self: Waterfall, inst: Any, **options: Any) -> None:
        watch.running, watch.ranking, watch.noted = True, None, set()
        try:
            run(self, inst, **options)
        finally:
            watch.running = False

    def watched_init(self: AdlRanking) -> None:
        init(self)
        if watch.running:
            watch.ranking = self

    def watched_note(self: AdlRanking, account_ids: Iterable[int]) -> None:
        account_ids = list(account_ids)
        if self is watch.ranking:
            watch.noted.update(account_ids)
        note(self, account_ids)

    def watched_refresh(self: Risk) -> None:
        if watch.running and watch.ranking is not None and self.dirty:
            watch.refreshes += 1
            watch.missing += sorted(set(self.dirty) - watch.noted)
        refresh(self)

    patch.setattr(Waterfall, "run", watched_run)
    patch.setattr(AdlRanking, "__init__", watched_init)
    patch.setattr(AdlRanking, "note", watched_note)
    patch.setattr(Risk, "refresh_index", watched_refresh)
    return watch


@pytest.mark.parametrize("policy", ["queue", "pro-rata"])
def test_every_account_a_round_changed_is_noted_before_the_index_forgets_it(
    policy: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    watch = watch_waterfalls(monkeypatch)
    run_scenario(load_scenario("tiny_crash", overrides=[("accounts.count", "1000"), ("adl.policy", policy)]), tmp_path)
    assert watch.missing == []
    assert watch.refreshes > 20  # many rounds ended with accounts to re-read


@settings(max_examples=60, deadline=None)
@given(scenario=crowds())
def test_random_crowds_note_every_changed_account_and_rank_as_the_scan(scenario: Scenario) -> None:
    with pytest.MonkeyPatch.context() as patch:
        watch = watch_waterfalls(patch)
        check_crowd(scenario)  # also compares every ADL call with the full scan
    assert watch.missing == []
