"""The engine waterfall's bookkeeping at its edges: the budget used up exactly, a residual of 0, a shortfall of 1.

Found by ``python -m tests.mutation engine/core/waterfall.py``:

* ``Waterfall.run`` reports a waterfall complete (the invariants that need it run) only when its per-update budget
  of liquidations was not used up and no close-out is left: with the budget spent it cannot know whether more
  pools were due, even if none were.
* ``Waterfall._liquidate`` moves a pool's residual margin to the fund (INS-011) only when there is one: a
  take-over at a bankruptcy price with no commission reserve (a taker fee of 0) leaves exactly 0, and nothing
  moves.

The scenarios of tests/test_engine_liquidation.py (ETHUSD, one cross long of 25,000 at 3,000.00).
"""

from __future__ import annotations

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.adl import compute_held_pnl
from perpspec.rules.events import (
    AdlDeferred,
    AdlFill,
    AdlShortfall,
    InsuranceMovement,
    Liquidation,
    LiquidationFill,
)
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
XBT = 10**8


def _engine(instrument: object = ETHUSD, budget: int = 64) -> Engine:
    engine = Engine({"ETHUSD": instrument}, max_liquidations_per_update=budget)  # type: ignore[dict-item]
    engine.track_steps = True
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for account, steps in ((1, 1), (2, 4)):
        limit = ETHUSD.risk_limit + steps * ETHUSD.risk_step
        engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=25_000, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000))
    return engine


@pytest.mark.parametrize("budget", [1, 2])
def test_a_waterfall_that_spent_its_budget_on_all_there_was_is_complete(budget: int) -> None:
    """LIQ-034: one partial liquidation (a FillOrKill into account 2's bid) is all there is to do; a budget of one
    is spent on it, but no pool is left due, so nothing is carried (no WaterfallCarried) and the step is complete,
    as in rules.waterfall (``complete``: no pool left below maintenance).  Before: a spent budget was incomplete."""
    engine = _engine(budget=budget)
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=20_000, price=294_000))
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    assert [e.kind for e in events if isinstance(e, RuleEvent)] == ["PartialLiquidation"]
    assert engine.stats.get("partial_liquidations") == 1
    assert engine.step_info(events).waterfall_complete is True


def test_a_take_over_leaving_exactly_no_residual_moves_nothing_to_the_fund() -> None:
    free = attrs.evolve(ETHUSD, taker_fee_ppm=0, fee_tiers=(attrs.evolve(ETHUSD.fee_tiers[0], taker_fee_ppm=0),))
    engine = _engine(free)
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=290_000, index_price=290_000))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [r.residual_margin for r in records if isinstance(r, Liquidation)] == [0]
    assert [r for r in records if isinstance(r, InsuranceMovement)] == []
    assert engine.insurance_funds.get("XBt", 0) == 0
    # ADL-031 with no fund at all: the cover is the held position's PnL at mark alone
    [liquidation] = [r for r in records if isinstance(r, Liquidation)]
    [taken] = liquidation.taken
    held_pnl = compute_held_pnl(free, taken.qty, taken.takeover_price, 290_000)
    deferred = [(r.fund_balance, r.fund_cover) for r in records if isinstance(r, AdlDeferred)]
    assert deferred == [(0, held_pnl)]


def test_an_adl_shortfall_of_one_contract_is_reported() -> None:
    # ADL-021: the long of 25,000 is deleveraged against account 2's short of 24,999; the only other short (one
    # contract of account 3, sold at 2,800.00) would lose at the bankruptcy price (ADL-003): one contract is left
    engine = Engine({"ETHUSD": ETHUSD})

    def mark(price: int, time_ms: int) -> list[Event]:
        return engine.process(c.PriceUpdate(time_ms=time_ms, symbol="ETHUSD", mark_price=price, index_price=price))

    mark(280_000, 0)
    for account, amount in ((1, 3 * XBT), (2, 1_000 * XBT), (3, 10 * XBT), (4, 10 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PlaceOrder(time_ms=0, account=4, symbol="ETHUSD", side="Buy", order_qty=1, price=280_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=1, price=280_000))
    mark(300_000, 0)
    for account, steps in ((1, 1), (2, 4)):
        limit = ETHUSD.risk_limit + steps * ETHUSD.risk_step
        engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=24_999, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=4, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000))
    mark(294_000, 1)
    events = mark(270_000, 2)
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [(r.account_id, r.close_qty) for r in records if isinstance(r, AdlFill)] == [(2, -24_999)]
    assert [(r.unfilled_qty, r.eligible_count) for r in records if isinstance(r, AdlShortfall)] == [(1, 1)]
    assert engine.positions(3)["ETHUSD"].qty == -1


def test_adl_closes_a_one_contract_long_after_the_larger_one() -> None:
    # the mirror of test_engine_waterfall_counts' short case: a taken-over short is deleveraged against the longs,
    # the larger first (ADL-002), then a long of one contract (ADL-003 eligible like any other)
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (2, 1_000 * XBT), (3, XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for account, steps in ((1, 1), (2, 4)):
        limit = ETHUSD.risk_limit + steps * ETHUSD.risk_step
        engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit))
    for account, qty in ((2, 24_999), (3, 1)):
        engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side="Buy", order_qty=qty, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=25_000, price=300_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=306_000, index_price=306_000))
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=330_000, index_price=330_000))
    fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)]
    assert [(f.account_id, f.close_qty) for f in fills] == [(2, 24_999), (3, 1)]
    assert (engine.positions(1), engine.positions(2), engine.positions(3)) == ({}, {}, {})


@pytest.mark.parametrize(("step", "fills", "movements"), [(-1, [], []), (1, [-1], [("surplus", 1)])])
def test_one_satoshi_either_side_of_the_take_over_price_with_no_fund(
    step: int, fills: list[int], movements: list[tuple[str, int]]
) -> None:
    # an instrument with no taker fee and a tick of one price unit: the take-over leaves no residual and no fund
    # exists; a bid one unit under the take-over price would cost the fund one satoshi it does not have (INS-002:
    # not taken), a bid one unit over it pays the fund one satoshi, reported as a surplus (INS-005)
    fine = attrs.evolve(
        ETHUSD, tick_size=1, taker_fee_ppm=0, fee_tiers=(attrs.evolve(ETHUSD.fee_tiers[0], taker_fee_ppm=0),)
    )
    engine = _engine(fine)
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=290_000, index_price=290_000))
    [liquidation] = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert (liquidation.residual_margin, engine.insurance_funds.get("XBt")) == (0, None)
    price = liquidation.taken[0].takeover_price + step
    engine.process(c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Buy", order_qty=1, price=price))
    events = engine.process(c.PriceUpdate(time_ms=2, symbol="ETHUSD", mark_price=290_000, index_price=290_000))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [r.qty for r in records if isinstance(r, LiquidationFill)] == fills
    assert [(r.kind, r.amount) for r in records if isinstance(r, InsuranceMovement)] == movements
