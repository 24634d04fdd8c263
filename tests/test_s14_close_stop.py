"""ORD-012: a conditional Close order without orderQty closes the whole position it finds when it fires.

Red team 7 (``/work/coord/repro14/redteam7_3.py``, session 14): a Stop with execInst=Close and no orderQty took
its quantity from the position when it was *placed*; firing could only shrink it (the ReduceOnly cap).  Long
1,000, the stop placed, 4,000 more bought: the stop fired and sold 1,000, leaving the trader long 4,000 after
the stop-loss meant to close the position.  bitmex-rules.md §8: "``Close`` | implies ReduceOnly; without orderQty
it closes the whole position".

The order now remembers that it closes the whole position (``Order.whole_position``): when it fires it is
re-sized to the position then (a flat position, or one on the order's own side, cancels it), and from then on
it is an ordinary Close order.  An amendment that gives a quantity makes it an ordinary Close of that quantity.
The flag is engine state: the state hash (only when set), the snapshot check and the codec (a state written
before the flag existed decodes with it False) carry it.
"""

from __future__ import annotations

import json

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order
from perpspec.engine.core.state_codec import CodecError, _put_uvarint, decode_state, encode_state

S = "XBTUSD"


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def _engine() -> Engine:
    engine = Engine()
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=10_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Buy", order_qty=1_000, price=5_000_000))
    return engine


def _close_stop(engine: Engine, **fields: object) -> int:
    events = ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", ord_type="Stop",
                                     stop_px=4_900_000, exec_inst="Close", **fields))  # type: ignore[arg-type]
    return events[-1].order_id  # type: ignore[attr-defined,no-any-return]


def _fire(engine: Engine) -> list[Event]:
    """A bid for the stop to sell into, then the mark through its stopPx."""
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=10_000, price=4_850_000))
    return ok(engine, c.PriceUpdate(time_ms=2, symbol=S, mark_price=4_890_000, index_price=4_890_000))


def _sold(events: list[Event], order_id: int) -> int:
    return sum(e.last_qty for e in events
               if isinstance(e, Execution) and e.exec_type == "Trade" and e.order_id == order_id)


def test_a_close_stop_without_qty_closes_the_position_grown_since_it_was_placed() -> None:
    """The red team's scenario: long 1,000, the stop placed, 4,000 more bought; the stop closes all 5,000."""
    engine = _engine()
    stop = _close_stop(engine)
    assert engine.registry.live_orders[stop].whole_position
    assert engine.registry.live_orders[stop].order_qty == 1_000  # shown until it fires: the position when placed
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Buy", order_qty=4_000, price=5_000_000))
    events = _fire(engine)
    triggered = [e for e in events if isinstance(e, Execution) and e.order_id == stop
                 and e.exec_type == "TriggeredOrActivatedBySystem"]
    assert [(e.order_qty, e.leaves_qty) for e in triggered] == [(5_000, 5_000)]  # re-sized before its report
    assert _sold(events, stop) == 5_000
    assert engine.accounts[2].positions[S].qty == 0


def test_a_close_stop_without_qty_closes_a_shrunk_position_only() -> None:
    engine = _engine()
    stop = _close_stop(engine)
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=600, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", order_qty=600, price=5_000_000))
    assert engine.accounts[2].positions[S].qty == 400
    events = _fire(engine)
    assert _sold(events, stop) == 400
    assert engine.accounts[2].positions[S].qty == 0


@pytest.mark.parametrize("flip", [1_000, 1_500], ids=["flat", "short"])
def test_a_close_stop_without_qty_with_nothing_to_close_is_cancelled_when_it_fires(flip: int) -> None:
    """Flat (or short: the position is on the sell stop's own side) when it fires: cancelled, saying why."""
    engine = _engine()
    stop = _close_stop(engine)
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=flip, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", order_qty=flip, price=5_000_000))
    before = engine.accounts[2].positions[S].qty
    events = _fire(engine)
    cancels = [e for e in events if isinstance(e, Execution) and e.order_id == stop and e.exec_type == "Canceled"]
    assert len(cancels) == 1
    assert "Close order without orderQty found no position to close" in cancels[0].text
    assert _sold(events, stop) == 0
    assert engine.accounts[2].positions[S].qty == before
    assert stop not in engine.registry.live_orders


def test_a_close_stop_with_qty_keeps_its_qty() -> None:
    """With orderQty it is an ordinary Close: it closes what it says, however the position grew."""
    engine = _engine()
    stop = _close_stop(engine, order_qty=1_000)
    assert not engine.registry.live_orders[stop].whole_position
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Buy", order_qty=4_000, price=5_000_000))
    assert _sold(_fire(engine), stop) == 1_000
    assert engine.accounts[2].positions[S].qty == 4_000


def test_only_a_conditional_close_without_qty_is_whole_position() -> None:
    """A Market Close without orderQty trades now: the position it closes is the one it sees (no flag left)."""
    engine = _engine()
    events = ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", ord_type="Limit",
                                     price=5_100_000, exec_inst="Close"))
    order = engine.registry.live_orders[events[-1].order_id]  # type: ignore[attr-defined]
    assert order.order_qty == 1_000
    assert not order.whole_position


def test_amending_the_qty_makes_it_an_ordinary_close_and_amending_the_stop_does_not() -> None:
    engine = _engine()
    stop = _close_stop(engine)
    ok(engine, c.AmendOrder(time_ms=1, account=2, order_id=stop, stop_px=4_910_000))
    assert engine.registry.live_orders[stop].whole_position  # a new stopPx: still the whole position
    ok(engine, c.AmendOrder(time_ms=1, account=2, order_id=stop, order_qty=700))
    order = engine.registry.live_orders[stop]
    assert not order.whole_position
    assert order.order_qty == 700
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Buy", order_qty=4_000, price=5_000_000))
    assert _sold(_fire(engine), stop) == 700


def test_the_flag_is_in_the_state_hash_only_when_set() -> None:
    """A whole-position Close stop and one of the same quantity are different states; other states hash as before."""
    whole, fixed = _engine(), _engine()
    _close_stop(whole)
    _close_stop(fixed, order_qty=1_000)
    assert whole.state_hash() != fixed.state_hash()
    pool = fixed.canonical()[2]
    # a Close stop carries (close, whole_position, display_qty, post_only) since review9_1; a plain stop's row is the
    # 14-field tuple it always was (tests/test_s14_conditional_hash.py)
    rows = [row for _, rows in pool for row in rows]
    assert [len(row) for row in rows] == [18]
    assert rows[0][14:16] == (True, False)  # Close, not the whole position


def test_a_snapshot_keeps_the_flag_and_the_restored_engine_closes_the_whole_position() -> None:
    engine = _engine()
    stop = _close_stop(engine)
    restored = Engine.from_snapshot(engine.snapshot())
    assert restored.state_hash() == engine.state_hash()
    assert restored.registry.live_orders[stop].whole_position
    ok(restored, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Buy", order_qty=4_000, price=5_000_000))
    assert _sold(_fire(restored), stop) == 5_000


def test_a_snapshot_flagging_a_triggered_order_is_refused() -> None:
    engine = _engine()
    resting = ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", order_qty=500, price=5_200_000,
                                      exec_inst="Close"))[-1].order_id  # type: ignore[attr-defined]
    state = decode_state(engine.snapshot())
    object.__setattr__(state["live_orders"][resting], "whole_position", True)
    with pytest.raises(CodecError, match="whole_position: only an untriggered Close order"):
        Engine.from_snapshot(encode_state(state))


def test_an_order_written_before_the_flag_existed_decodes_without_it() -> None:
    """A state from an engine without ``Order.whole_position`` (an older snapshot) loads: the order keeps its qty."""
    order = Order(order_id=3, account=2, symbol=S, is_buy=False, price=0, order_qty=1_000, ord_type="Stop",
                  reduce_only=True, close=True, stop_px=4_900_000)
    encoded = encode_state([order])
    name = b'["engine.orders:Order"'
    start = encoded.index(name)
    end = encoded.index(b"]]", start) + 2
    header, fields = json.loads(encoded[start:end])
    assert fields[-1] == "whole_position"
    assert encoded.endswith(b"F")  # the last field's value: False
    older = json.dumps([header, fields[:-1]], separators=(",", ":")).encode()
    length, new_length = bytearray(), bytearray()
    _put_uvarint(length, end - start)
    _put_uvarint(new_length, len(older))
    assert encoded[start - len(length) : start] == bytes(length)
    old = encoded[: start - len(length)] + bytes(new_length) + older + encoded[end:-1]
    [decoded] = decode_state(old)
    assert decoded.whole_position is False
    assert (decoded.order_qty, decoded.close, decoded.stop_px) == (1_000, True, 4_900_000)


def test_the_reject_of_a_close_without_qty_and_without_position_is_unchanged() -> None:
    engine = _engine()
    ok(engine, c.VerifyAccount(time_ms=1, account=3))
    ok(engine, c.Deposit(time_ms=1, account=3, asset="XBt", amount=10**9))
    events = engine.process(c.PlaceOrder(time_ms=1, account=3, symbol=S, side="Buy", ord_type="Stop",
                                         stop_px=5_100_000, exec_inst="Close"))
    assert isinstance(events[-1], Rejected)
    assert events[-1].text == "Close without orderQty needs an open position"
