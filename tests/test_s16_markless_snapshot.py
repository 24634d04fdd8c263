"""A snapshot may hold live orders and positions only in contracts with a mark price (mut16_1, session 16).

Order entry refuses every order in a contract without a mark (``NoMarkPrice``), no command removes a mark, and a
position comes only of fills of such orders.  A forged snapshot whose ``marks`` lacked a contract holding a buy
``LastPrice,LastWithinMark`` trailing stop loaded, and amending the stop's offset started it from a mark of 0
(ORD-017): its stopPx became the offset itself, and the next mark update fired a market buy.  The state check now
refuses such a state as a ``CodecError`` naming the order (or the position).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state

PRICE = 5_000_000


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


def _engine() -> Engine:
    engine = Engine()
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=100, price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=PRICE))
    return engine


def test_ord_017_a_snapshot_with_a_trailing_stop_in_a_contract_without_a_mark_is_refused() -> None:
    engine = _engine()
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, ord_type="Pegged",
                                     peg_price_type="TrailingStopPeg", peg_offset_value=200_000,
                                     exec_inst="LastPrice,LastWithinMark"))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    state = decode_state(engine.snapshot())
    del state["marks"]["XBTUSD"]
    with pytest.raises(CodecError, match=rf"live_orders\[{stop}\]\.symbol: 'XBTUSD' has no mark price"):
        Engine.from_snapshot(encode_state(state))


def test_a_snapshot_with_a_position_in_a_contract_without_a_mark_is_refused() -> None:
    state = decode_state(_engine().snapshot())
    assert not state["live_orders"]  # the two orders traded: only the positions are left
    del state["marks"]["XBTUSD"]
    with pytest.raises(CodecError, match=r"\.qty: a position in 'XBTUSD', which has no mark price"):
        Engine.from_snapshot(encode_state(state))


def test_the_state_the_engine_makes_loads() -> None:
    engine = _engine()
    assert Engine.from_snapshot(engine.snapshot()).state_hash() == engine.state_hash()


def _held_close_out(symbol: str = "XBTUSD") -> Engine:
    """Account 1 long 100,000 of ``symbol`` with 3,000,000 XBt, taken over by a 0.9% fall with no bid: held."""
    engine = Engine()
    for account, amount in ((1, 3_000_000), (2, 10**10)):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Sell", order_qty=100_000, price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side="Buy", order_qty=100_000, price=PRICE))
    ok(engine, c.PriceUpdate(time_ms=1, symbol=symbol, mark_price=4_955_000, index_price=4_955_000))
    assert engine.waterfall.pending
    return engine


def test_liq_050_a_snapshot_holding_a_close_out_in_a_contract_without_a_mark_is_refused() -> None:
    """review17_1: such a snapshot loaded, and every later waterfall, in any contract, failed on the absent mark
    (KeyError, rolled back: InternalError) until an operator sent one for that contract."""
    state = decode_state(_held_close_out().snapshot())
    object.__setattr__(state["pending"][0], "symbol", "ETHUSD")  # a listed contract with no mark yet
    with pytest.raises(CodecError, match=r"pending\[0\]\.symbol: a held close-out in 'ETHUSD', which has no mark price"):
        Engine.from_snapshot(encode_state(state))


def test_a_snapshot_holding_a_close_out_in_a_settled_contract_is_refused() -> None:
    state = decode_state(_held_close_out("XBTZ26").snapshot())
    state["settled"]["XBTZ26"] = 4_955_000  # Settle posts and drops every close-out of its contract
    with pytest.raises(CodecError, match=r"pending\[0\]\.symbol: a held close-out in 'XBTZ26', which is settled"):
        Engine.from_snapshot(encode_state(state))


@pytest.mark.parametrize("symbol", ["XBTUSD", "XBTZ26"])
def test_a_held_close_out_the_engine_makes_loads(symbol: str) -> None:
    engine = _held_close_out(symbol)
    assert Engine.from_snapshot(engine.snapshot()).state_hash() == engine.state_hash()
