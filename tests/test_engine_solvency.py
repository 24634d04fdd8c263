"""Issue 13 finding 1, on the whole engine: no money leaves through a fill (LIQ-042 on entry, LIQ-044 on fills).

The collusion: account A holds an isolated 100x long of 60,000 XBTUSD at 9,000; a colluding account B bids
60,000 at 8,640 (−4%, through A's bankruptcy price); A sends a ReduceOnly limit sell 60,000 at 8,640.  On the
main of issue 13 it was accepted and filled: A ended flat with a wallet of −18,798,434 XBt and B gained what A
could not pay.  It must be refused with BitMEX's text; so must a plain limit sell, and the same in cross margin.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.position import FLAT, apply_fill
from perpspec.rules.solvency import EXECUTION_REJECT_TEXT, FILL_CANCEL_TEXT

XBTUSD = load_instrument("XBTUSD")
PX = XBTUSD.price_scale
A, B = 1, 2


def _collusion_engine(isolated: bool) -> Engine:
    """A long 60,000 @ 9,000 at 100x with just its initial margin (plus the fee), B rich; mark 9,000."""
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=9_000 * PX, index_price=9_000 * PX))
    position, _ = apply_fill(XBTUSD, FLAT, 60_000, 9_000 * PX)
    req = compute_requirement(XBTUSD, position, 10_000, 0)
    entry_fee = -(-abs(position.cost) * XBTUSD.taker_fee_ppm // 1_000_000)
    for account, amount in ((A, req.pos_init + req.pos_comm + entry_fee + 2 * req.pos_comm), (B, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    if isolated:
        engine.process(c.SetLeverage(time_ms=0, account=A, symbol="XBTUSD", leverage_hundredths=10_000))
    engine.process(c.PlaceOrder(time_ms=0, account=B, symbol="XBTUSD", side="Sell", order_qty=60_000, price=9_000 * PX))
    events = engine.process(c.PlaceOrder(time_ms=0, account=A, symbol="XBTUSD", side="Buy", order_qty=60_000,
                                         price=9_000 * PX))
    assert not isinstance(events[-1], Rejected), events[-1]
    assert engine.positions(A)["XBTUSD"].qty == 60_000
    engine.process(c.PlaceOrder(time_ms=0, account=B, symbol="XBTUSD", side="Buy", order_qty=60_000, price=8_640 * PX))
    return engine


def _no_violations(engine: Engine, events: list[Event]) -> dict[str, list[str]]:
    return {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v}


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "cross"])
@pytest.mark.parametrize("instruction", ["ReduceOnly", "", "Close"], ids=["reduce-only", "plain", "close"])
def test_limit_sell_through_the_bankruptcy_price_to_a_colluder_is_refused(isolated: bool, instruction: str) -> None:
    engine = _collusion_engine(isolated)
    wallets = (engine.accounts[A].wallet("XBt"), engine.accounts[B].wallet("XBt"))
    events = engine.process(c.PlaceOrder(time_ms=0, account=A, symbol="XBTUSD", side="Sell", order_qty=60_000,
                                         price=8_640 * PX, exec_inst=instruction))
    final = events[-1]
    assert isinstance(final, Rejected)
    assert (final.reason.value, final.text) == ("ImmediateLiquidation", EXECUTION_REJECT_TEXT)
    assert (engine.accounts[A].wallet("XBt"), engine.accounts[B].wallet("XBt")) == wallets
    assert engine.positions(A)["XBTUSD"].qty == 60_000
    assert _no_violations(engine, events) == {}


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "cross"])
def test_sale_at_the_mark_is_still_accepted(isolated: bool) -> None:
    engine = _collusion_engine(isolated)
    engine.process(c.PlaceOrder(time_ms=0, account=B, symbol="XBTUSD", side="Buy", order_qty=60_000, price=9_000 * PX))
    events = engine.process(c.PlaceOrder(time_ms=0, account=A, symbol="XBTUSD", side="Sell", order_qty=60_000,
                                         price=9_000 * PX, exec_inst="ReduceOnly"))
    assert not isinstance(events[-1], Rejected)
    assert "XBTUSD" not in engine.positions(A)
    assert engine.accounts[A].wallet("XBt") >= 0
    assert _no_violations(engine, events) == {}


def test_resting_bid_left_far_above_a_collapsed_mark_is_cancelled_not_filled() -> None:
    # A rests a 100x-funded bid at 9,000; the mark collapses to 8,100 (A holds no position: nothing to
    # liquidate).  B sells into the bid: filling it would cost A 10% of its value at once, ten times its
    # margin.  LIQ-044: A's bid is cancelled, not filled; B's market order finds nothing else and cancels.
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=9_000 * PX, index_price=9_000 * PX))
    for account, amount in ((A, 8_000_000), (B, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    placed = engine.process(c.PlaceOrder(time_ms=0, account=A, symbol="XBTUSD", side="Buy", order_qty=60_000,
                                         price=9_000 * PX))
    assert not isinstance(placed[-1], Rejected)
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=8_100 * PX, index_price=8_100 * PX))
    events = engine.process(c.PlaceOrder(time_ms=1, account=B, symbol="XBTUSD", side="Sell", order_qty=60_000,
                                         ord_type="Market"))
    cancels = [e for e in events if getattr(e, "exec_type", "") == "Canceled" and e.account == A]
    assert [e.text for e in cancels] == [FILL_CANCEL_TEXT]
    assert "XBTUSD" not in engine.positions(A)
    assert engine.accounts[A].wallet("XBt") == 8_000_000
    assert _no_violations(engine, events) == {}


def test_reduce_only_taker_is_recorded_for_inv_reduce_only() -> None:
    engine = _collusion_engine(isolated=False)
    engine.track_steps = True
    engine.process(c.PlaceOrder(time_ms=0, account=B, symbol="XBTUSD", side="Buy", order_qty=60_000, price=9_000 * PX))
    events = engine.process(c.PlaceOrder(time_ms=0, account=A, symbol="XBTUSD", side="Sell", order_qty=20_000,
                                         price=9_000 * PX, exec_inst="ReduceOnly"))
    assert engine.step_info(events).reduce_only_fills == ((A, "XBTUSD", 60_000, 40_000),)
