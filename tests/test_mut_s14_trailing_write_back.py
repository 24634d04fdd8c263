"""A moved trailing stop that leaves the pool during a run is written with its side's sign (session 14, "mut14").

Found by ``python -m tests.mutation engine/core/triggers.py`` (``StopIndex.write_back_one``, session 13's trailing
stops in buckets): the stopPx of an order leaving the pool while its bucket has moved is ``sign * level + offset``
(``sign`` 1 for a sell, -1 for a buy).  Only buy trailing stops were ever cancelled inside a cascade in the tests
(``test_trigger_trailing.py``, a path the engine reaches only when a fire cancels an untriggered order), so
``else 1`` -> ``else 2`` (a sell's stopPx written as ``2 * level + offset``) passed.

Rule: the trailing stop (TrailingStopPeg) follows the trigger price away from the stop: a sell's stopPx is the
highest price seen plus its (negative) offset, whichever way it leaves the pool.
"""

from __future__ import annotations

from perpspec.engine.core import orders as o
from perpspec.engine.core.orders import Order
from perpspec.engine.core.triggers import StopIndex


def test_a_sell_trailing_stop_that_leaves_after_its_bucket_moved_has_the_highest_price_less_its_distance() -> None:
    """A sell trailing stop 1,000 below a mark of 50,000 (stopPx 49,000); the mark rises to 50,500 (not due: the
    bucket moves to level 50,500); the order leaves the pool in that run: its stopPx is 49,500."""
    order = Order(order_id=1, account=1, symbol="T", is_buy=False, price=0, order_qty=100, ord_type=o.PEGGED,
                  stop_px=49_000, peg_offset=-1_000, trigger_source=o.MARK_PRICE)
    pool = {1: order}
    index = StopIndex(pool)
    index.sync()
    due = index.take_due(None, 50_500, 0, 0)  # type: ignore[arg-type]  # triggers: read for odd offsets only
    assert due == []  # not due: its bucket moved (a run returns the due orders only since session 14's index)
    index.write_back_one(1)
    assert order.stop_px == 49_500
    buy = Order(order_id=2, account=1, symbol="T", is_buy=True, price=0, order_qty=100, ord_type=o.PEGGED,
                stop_px=51_000, peg_offset=1_000, trigger_source=o.MARK_PRICE)
    index = StopIndex({2: buy})
    index.sync()
    assert index.take_due(None, 49_500, 0, 0) == []  # type: ignore[arg-type]
    index.write_back_one(2)
    assert buy.stop_px == 50_500
