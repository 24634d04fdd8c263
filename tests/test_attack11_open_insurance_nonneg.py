"""Fixed (session 12; found open in session 11): the engine state machine's deep profile drove the insurance fund below zero.

``pytest -m deep tests/test_engine_stateful.py`` found it (it reproduces on 7191db0, before this session's changes).
After 33 steps (one-sided funding at the cap, self-liquidations, colluders hitting stale quotes), a mark collapse
liquidates account 4's isolated XBTUSD pool (LIQ-023, bankruptcy price 4,449,800). The liquidation engine's close-out
(LIQ-024) trades 16,400 contracts against a resting bid at 4,380,800, far through the bankruptcy price, and INS-005
draws 580,560 XBt from a fund that holds 44,727: the fund ends at -535,833 (INV-INSURANCE-NONNEG). The close-out
should stop where the fund can no longer cover it, with ADL taking the rest.

Cause: INS-005 (``settle_close_out``) judged the book's level totals, which counted account 5's bid at 4,563,350
(a surplus for the fund); the sweep's maker guard then refused that bid (its fill would take account 5 beyond its
bankruptcy price) and the sweep went on to take 16,400 at 4,380,800, which only that surplus would have paid for.
Now the sweep halts after a refused maker and INS-005 judges what is left again (engine/core/waterfall.py
``Waterfall._close_in_book``): the fund affords 12 lots at 4,380,800 (42,480 of its 44,727) and ADL-020 closes the
other 16,300 contracts at the bankruptcy price.

This is the deep profile's counterexample, replayed step by step.

Rules: LIQ-024, INS-005 (INV-INSURANCE-NONNEG).
"""

from __future__ import annotations

import pytest

import tests.test_engine_stateful as machine
from perpspec.rules.events import AdlFill, LiquidationFill


def test_the_deep_profiles_close_out_keeps_the_fund_non_negative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "event", lambda *args, **kwargs: None)  # hypothesis.event needs a running test
    state = machine.EngineMachine()
    state.setup(wallets=[2, 2, 2, 2, 2], fund=0)
    state.cancel_all(account=1, side=None, symbol=None)
    state.cancel_all(account=1, side=None, symbol=None)
    state.funding(rate=-375000, symbol='XBTUSD')
    state.self_liquidation(depth_ppm=30000, move_ppm=40000, symbol='XBTUSD', victim=4)
    state.stale_quote_through_a_collapse(account=4, collapse_ppm=30000, leverage_x=10, symbol='XBTUSD')
    state.wash_trade_at_band_edge(above=False, size=1, symbol='ETHUSD', through=False)
    state.wash_trade_at_band_edge(above=False, size=30, symbol='XBTUSD', through=True)
    state.market(account=1, inst='', side='Buy', size=1, symbol='XBTUSD')
    state.market(account=1, inst='', side='Buy', size=31, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.stale_quote_through_a_collapse(account=4, collapse_ppm=30000, leverage_x=10, symbol='XBTUSD')
    state.market(account=1, inst='', side='Buy', size=1, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.stale_quote_through_a_collapse(account=4, collapse_ppm=30000, leverage_x=10, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.money(account=2, amount=1, withdraw=False)
    state.collusion_through_bankruptcy(amend=False, instruction='', isolated=False, leverage=50, symbol='XBTUSD', through_ppm=5000, victim=4)
    state.funding(rate=-375000, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.funding(rate=-10000, symbol='XBTUSD')
    state.collusion_through_bankruptcy(amend=False, instruction='', isolated=False, leverage=50, symbol='XBTUSD', through_ppm=40000, victim=4)
    state.funding(rate=-375000, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.collusion_through_bankruptcy(amend=False, instruction='', isolated=False, leverage=50, symbol='XBTUSD', through_ppm=5000, victim=5)
    state.funding(rate=-375000, symbol='XBTUSD')
    state.funding(rate=-375000, symbol='XBTUSD')
    state.self_liquidation(depth_ppm=30000, move_ppm=40000, symbol='XBTUSD', victim=5)
    state.collusion_through_bankruptcy(amend=False, instruction='', isolated=False, leverage=50, symbol='ETHUSD', through_ppm=5000, victim=4)
    state.every_registered_invariant_holds()  # every step before the last keeps every invariant
    fund_before = state.engine.insurance_funds["XBt"]
    events: list[object] = []
    run = state.run

    def run_and_keep(command: object) -> list[object]:
        answer = run(command)  # type: ignore[arg-type]
        events.extend(answer)
        return list(answer)

    monkeypatch.setattr(state, "run", run_and_keep)
    state.stale_quote_through_a_collapse(account=5, collapse_ppm=30000, leverage_x=25, symbol='XBTUSD')
    state.every_registered_invariant_holds()
    records = [getattr(e, "record", None) for e in events]
    close_outs = [r for r in records if isinstance(r, LiquidationFill)]
    assert [(r.qty, r.price, r.fund_delta) for r in close_outs] == [(-1_200, 4_380_800, -42_480)]
    adl = [r for r in records if isinstance(r, AdlFill)]
    assert sum(-r.close_qty for r in adl) == 17_500 - 1_200  # ADL-020 closes the rest of the 17,500 taken over
    assert state.engine.insurance_funds["XBt"] == fund_before + 29_393 - 42_480 >= 0
