"""A snapshot may hold only the spot orders order entry accepts: each clause of session 15's state check (mut15_1)
pinned by mutants (session 16, "mut16").

Order entry refuses a conditional, ReduceOnly or Close order in a spot pair (``NotSupportedOnSpot``).  Session 15's
tests forge a Stop waiting in the spot pair's pool (refused by two clauses at once) and a ReduceOnly maker; these
forge a Close maker and a triggered StopLimit resting in the spot book, each refused by its own clause alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument
from perpspec.specs import __path__ as specs_path

PRICE = 5_000_000
SPOT = "XBT_USDT"


def _spot_maker_state() -> tuple[Any, Any]:
    """A state with one Sell Limit maker resting in the spot book: (the decoded state, that order)."""
    instruments = dict(load_builtin_instruments())
    instruments[SPOT] = load_instrument(f"{specs_path[0]}/instruments/spot/{SPOT}.toml")
    engine = Engine(instruments)
    for command in (
        c.VerifyAccount(time_ms=0, account=2),
        c.PriceUpdate(time_ms=0, symbol=SPOT, mark_price=PRICE, index_price=PRICE),
        c.Deposit(time_ms=0, account=2, asset="XBt", amount=10**10),
        c.PlaceOrder(time_ms=0, account=2, symbol=SPOT, side="Sell", order_qty=100, price=PRICE + 50),
    ):
        assert isinstance(engine.process(command)[-1], Accepted), command
    state = decode_state(engine.snapshot())
    [maker] = [order for order in state["live_orders"].values() if order.symbol == SPOT]
    Engine.from_snapshot(encode_state(state))  # as made, it loads
    return state, maker


def test_a_snapshot_with_a_close_order_resting_in_a_spot_book_is_refused() -> None:
    state, maker = _spot_maker_state()
    object.__setattr__(maker, "close", True)
    with pytest.raises(CodecError, match=rf"live_orders\[{maker.order_id}\]: a spot order rests in its book"):
        Engine.from_snapshot(encode_state(state))


def test_a_snapshot_with_a_triggered_stop_limit_resting_in_a_spot_book_is_refused() -> None:
    state, maker = _spot_maker_state()
    object.__setattr__(maker, "ord_type", o.STOP_LIMIT)  # as a StopLimit that fired would rest (triggered, priced)
    object.__setattr__(maker, "stop_px", PRICE + 50)
    with pytest.raises(CodecError, match=rf"live_orders\[{maker.order_id}\]: a spot order rests in its book"):
        Engine.from_snapshot(encode_state(state))
