"""The lean order path's shortcuts give the values they stand for (session 11, fewer instructions per order).

* ``entry_plain.instrument_limits`` answers the instrument it is asked about, recognised by identity: a changed
  instrument of the same symbol (another object) gets its own limits, and asking about the first one again gets
  the first one's back.
* ``EventStream.emit_exec`` stores an int it was given as an object, or one equal to another of the event, as that
  object: each field of the ``Execution`` is still its own value (an open quantity that is no longer the order's
  quantity, a fill price that is not the order's limit, a fill quantity that is not the cumulative one).
"""

from __future__ import annotations

import attrs

from perpspec.engine.core.entry_plain import instrument_limits
from perpspec.engine.core.events import Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order
from perpspec.engine.core.stream import EventStream


def test_instrument_limits_follow_the_instrument_object_not_its_symbol() -> None:
    inst = Engine().instrument_map["XBTUSD"]
    coarser = attrs.evolve(inst, lot_size=inst.lot_size * 10, max_price=inst.max_price // 2)
    first = instrument_limits(inst)
    second = instrument_limits(coarser)
    again = instrument_limits(inst)
    expected = (inst, False, None, inst.lot_size, inst.max_order_qty, inst.tick_size, inst.max_price, "XBt", "XBTUSD")
    assert expected == first
    assert (coarser.lot_size, coarser.max_price) == (second[3], second[6])
    assert second[0] is coarser
    assert expected == again


def _order() -> Order:
    return Order(order_id=70_001, account=3_001, symbol="XBTUSD", is_buy=True, price=5_000_000, order_qty=1_000)


def _fields(event: Event) -> tuple[object, ...]:
    assert type(event) is Execution
    return tuple(event)[2:]


def test_a_new_order_s_execution_carries_its_quantity_as_open_quantity() -> None:
    stream, out = EventStream(), list[Event]()
    stream.begin(out)
    stream.emit_exec("New", _order())
    assert [_fields(e) for e in out] == [
        ("New", 3_001, "XBTUSD", 70_001, "", "Buy", "Limit", 1_000, 5_000_000, 0, 0, 0, 1_000, 0, "New", 0, "", "")
    ]
    assert (out[0].seq, out[0].time_ms) == (1, 0)


def test_trades_carry_their_own_fill_quantity_price_and_open_quantity() -> None:
    stream, out = EventStream(), list[Event]()
    stream.begin(out)
    order = _order()
    # a maker's first fill at its limit (leaves and cum given), then a taker's second fill below its limit
    stream.emit_exec("Trade", order, last_qty=400, last_px=5_000_000, comm=-5, liquidity="AddedLiquidity",
                     leaves=600, cum=400)
    order.leaves_qty, order.cum_qty = 100, 900
    stream.emit_exec("Trade", order, last_qty=500, last_px=4_999_500, comm=12, liquidity="RemovedLiquidity")
    order.leaves_qty, order.cum_qty = 0, 1_000
    stream.emit_exec("Trade", order, last_qty=100, last_px=5_000_000, comm=2, liquidity="RemovedLiquidity")
    head = (3_001, "XBTUSD", 70_001, "", "Buy", "Limit", 1_000, 5_000_000, 0)
    assert [_fields(e) for e in out] == [
        ("Trade", *head, 400, 5_000_000, 600, 400, "PartiallyFilled", -5, "AddedLiquidity", ""),
        ("Trade", *head, 500, 4_999_500, 100, 900, "PartiallyFilled", 12, "RemovedLiquidity", ""),
        ("Trade", *head, 100, 5_000_000, 0, 1_000, "Filled", 2, "RemovedLiquidity", ""),
    ]


def test_a_cancel_after_an_amend_carries_the_open_quantity_not_the_order_quantity() -> None:
    stream, out = EventStream(), list[Event]()
    stream.begin(out)
    order = _order()
    order.leaves_qty = 300  # amended down: order_qty stays until the amend's own bookkeeping
    stream.emit_exec("Canceled", order, text="Canceled: Canceled via API")
    assert [_fields(e) for e in out] == [
        ("Canceled", 3_001, "XBTUSD", 70_001, "", "Buy", "Limit", 1_000, 5_000_000, 0, 0, 0, 300, 0, "Canceled", 0, "",
         "Canceled: Canceled via API")
    ]
