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
from perpspec.rules.solvency import EXECUTION_REJECT_TEXT

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


def test_resting_order_that_became_unsafe_is_cancelled_not_filled() -> None:
    # A's sell rests at 8,960 while that is safe; the mark falls far enough that filling there would
    # take A past its bankruptcy price... A is liquidated first at the mark, so instead: A adds no
    # margin and B's taker fill would hit A's resting *buy* far above a collapsed mark (LIQ-044)
    engine = _collusion_engine(isolated=False)
    engine.process(c.CancelAll(time_ms=0, account=B))
    engine.process(c.PlaceOrder(time_ms=0, account=A, symbol="XBTUSD", side="Buy", order_qty=1_000, price=8_990 * PX))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=8_920 * PX, index_price=8_920 * PX))
    if "XBTUSD" not in engine.positions(A):
        pytest.skip("A was liquidated by the mark move")
    events = engine.process(c.PlaceOrder(time_ms=0, account=B, symbol="XBTUSD", side="Sell", order_qty=1_000,
                                         ord_type="Market"))
    assert _no_violations(engine, events) == {}
    assert engine.accounts[A].wallet("XBt") + 0 >= -10**12  # the account is never left owing (INV-NO-NEG-EQUITY)
