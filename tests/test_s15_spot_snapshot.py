"""A snapshot may hold only the spot orders order entry accepts (mut15_1, session 15's mutation round).

Order entry refuses a conditional, ReduceOnly or Close order in a spot pair (``NotSupportedOnSpot``), so every live
spot order of a state the engine makes rests in its book with its reservation.  A forged snapshot holding a Stop in
a spot pair's conditional pool loaded, and when the mark reached it the engine triggered it and bought in the spot
book, having reserved nothing while it waited.  The state check now refuses it, and a ReduceOnly order resting in a
spot book, as a ``CodecError`` naming the order.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument
from perpspec.specs import __path__ as specs_path

PRICE = 5_000_000
SPOT = "XBT_USDT"


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


def _engine() -> Engine:
    instruments = dict(load_builtin_instruments())
    instruments[SPOT] = load_instrument(f"{specs_path[0]}/instruments/spot/{SPOT}.toml")
    engine = Engine(instruments)
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
    for symbol in ("XBTUSD", SPOT):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.Deposit(time_ms=0, account=1, asset="USDt", amount=10**12))
    ok(engine, c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    ok(engine, c.Deposit(time_ms=0, account=2, asset="XBt", amount=10**10))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol=SPOT, side="Sell", order_qty=100, price=PRICE + 50))
    return engine


def test_a_snapshot_with_a_stop_waiting_in_a_spot_pair_is_refused() -> None:
    engine = _engine()
    events = ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                     ord_type="Stop", stop_px=PRICE + 50))
    stop = events[-1].order_id  # type: ignore[attr-defined]
    state = decode_state(engine.snapshot())
    object.__setattr__(state["live_orders"][stop], "symbol", SPOT)  # the same Stop, moved into the spot pair
    state["conditional"][SPOT][stop] = state["conditional"]["XBTUSD"].pop(stop)
    with pytest.raises(CodecError, match=rf"live_orders\[{stop}\]: a spot order rests in its book"):
        Engine.from_snapshot(encode_state(state))


def test_a_snapshot_with_a_reduce_only_order_resting_in_a_spot_book_is_refused() -> None:
    engine = _engine()
    state = decode_state(engine.snapshot())
    [maker] = [order for order in state["live_orders"].values() if order.symbol == SPOT]
    object.__setattr__(maker, "reduce_only", True)
    with pytest.raises(CodecError, match="NotSupportedOnSpot"):
        Engine.from_snapshot(encode_state(state))


def test_the_spot_state_the_engine_makes_loads() -> None:
    engine = _engine()
    loaded = Engine.from_snapshot(engine.snapshot())
    assert loaded.state_hash() == engine.state_hash()
