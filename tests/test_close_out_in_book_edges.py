"""LIQ-024 in the book at its edges: a level of one contract is an offer the close-out takes.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (``level_totals``: a level's tradable quantity, kept
when positive): no test closed a taken-over position against a single contract.  The crash of
tests/test_engine_liquidation.py: a cross long of 25,000 ETHUSD taken over at a mark of 2,940.00 with nobody
bidding (the fund covers it: ADL deferred); then one contract is bid at 2,940.00 and the next mark update closes
that much of it in the book (fills are signed like the close-out's side: a long is sold).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import InsuranceMovement, Liquidation, LiquidationFill
from perpspec.rules.instrument_file import load_instrument
from tests.test_engine_liquidation import XBT, open_long, setup

ETHUSD = load_instrument("ETHUSD")
MARK = 294_000


@pytest.mark.parametrize("qty", [1, 2])
def test_a_taken_over_long_is_closed_against_a_bid_of_one_or_two_contracts(qty: int) -> None:
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=qty, price=MARK))
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, LiquidationFill)]
    assert [(f.qty, f.price, f.maker_account_id) for f in fills] == [(-qty, MARK, 2)]
    assert engine.live_orders == {}


def test_a_maker_taken_below_maintenance_by_a_close_out_is_liquidated_in_the_same_waterfall() -> None:
    # LIQ-034's next round: account 3 (0.07 XBT, cross) bids 1,000 at 2,900.00; the mark falls to 2,850.00, the
    # long is taken over and sold into that bid, which leaves account 3 long 1,000 at 50.00 over the mark, below
    # maintenance: it is liquidated by the same mark update, not the next one
    engine = setup(3 * XBT)
    engine.process(c.VerifyAccount(time_ms=0, account=3))
    engine.process(c.Deposit(time_ms=0, account=3, asset="XBt", amount=7_000_000))
    open_long(engine, 25_000)
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=1_000, price=290_000))
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=285_000, index_price=285_000))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [r.maker_account_id for r in records if isinstance(r, LiquidationFill)] == [3]
    assert [r.account_id for r in records if isinstance(r, Liquidation)] == [1, 3]
    assert engine.positions(3) == {}


def test_a_close_out_fill_exactly_at_the_take_over_price_moves_nothing_to_the_fund() -> None:
    # INS-005: a fill at the bankruptcy price neither pays the fund nor draws from it: no movement is reported
    engine = setup(3 * XBT)
    open_long(engine, 25_000)
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    [liquidation] = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    price = liquidation.taken[0].takeover_price
    assert price % ETHUSD.tick_size == 0
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=10, price=price))
    fund = engine.insurance_funds["XBt"]
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [(r.qty, r.price, r.fund_delta) for r in records if isinstance(r, LiquidationFill)] == [(-10, price, 0)]
    assert [r for r in records if isinstance(r, InsuranceMovement)] == []
    assert engine.insurance_funds["XBt"] == fund


def test_the_next_round_needs_only_one_liquidation_left_in_the_budget() -> None:
    # the maker case above with a budget of two liquidations per update: account 1 takes one, account 3 the last
    engine = Engine({"ETHUSD": ETHUSD}, max_liquidations_per_update=2)
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 3 * XBT), (2, 1_000 * XBT), (3, 7_000_000)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    open_long(engine, 25_000)
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Buy", order_qty=1_000, price=290_000))
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=285_000, index_price=285_000))
    assert [e.record.account_id for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)] == [1, 3]
