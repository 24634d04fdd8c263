"""The simulator's INV-TRIGGERS-DUE-FIRED reading keeps a pool's trigger grouping between checks (session 22, issue 14).

``engine/simulation/checks.py`` :class:`DecidingOrders` answers ``deciding_orders(pool, prices)`` but groups the
pool again only when the pool differs from the one its kept grouping was made of: other orders (by identity), in
another order, or a field the engine changes in place (stopPx, pegOffsetValue: ORD-007's trail, an amend; the
others it never assigns after making the order: tests/test_s23_deciding_orders_fields.py).  Here a pool is changed
step by step, every way the engine changes one, and after each step the kept answer must be the fresh one: the same
orders, the same objects, in the same order.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core import orders as o
from perpspec.engine.core.orders import Order
from perpspec.engine.simulation.checks import DecidingOrders, deciding_orders
from perpspec.rules.triggers import TriggerPrices
from tests.test_triggers_due_fired import ORDERS, PRICE, SEEN, _pool

CHANGE = st.tuples(
    st.sampled_from(("stop_px", "peg_offset", "delete", "add", "copy")),
    st.integers(0, 40),
    PRICE,
)


def _change(pool: dict[int, Order], what: str, at: int, value: int, next_id: int) -> None:
    """Change ``pool`` in place: one order (the ``at``-th, cyclically) or the pool itself."""
    if what == "add" or not pool:
        pool[next_id] = Order(order_id=next_id, account=next_id, symbol="X", is_buy=value % 2 == 0, price=0,
                              order_qty=1, ord_type=o.STOP, stop_px=value)
        return
    order_id = sorted(pool)[at % len(pool)]
    order = pool[order_id]
    if what == "stop_px":
        order.stop_px = value
    elif what == "peg_offset":
        order.peg_offset = value - 1_000
    elif what == "delete":
        del pool[order_id]
    else:  # "copy": another object with the same fields but the account: the answer must list the new one
        pool[order_id] = Order(order_id=order_id, account=order.account + 1, symbol="X", is_buy=order.is_buy, price=0,
                               order_qty=1, ord_type=order.ord_type, stop_px=order.stop_px, peg_offset=order.peg_offset,
                               trigger_source=order.trigger_source, last_within_mark=order.last_within_mark)


@settings(max_examples=300, deadline=None)
@given(ORDERS, st.lists(st.tuples(st.lists(CHANGE, max_size=3), st.tuples(SEEN, SEEN, SEEN)), min_size=1, max_size=8))
def test_the_kept_grouping_answers_as_a_fresh_one_after_every_change(
    specs: list[tuple[str, bool, str, bool, int, int]],
    steps: list[tuple[list[tuple[str, int, int]], tuple[int, int, int]]],
) -> None:
    """After every change of the pool (or none), DecidingOrders lists the very orders deciding_orders does."""
    pool = _pool(specs)
    kept = DecidingOrders()
    next_id = len(pool) + 1
    for changes, (mark, last, index) in steps:
        for what, at, value in changes:
            _change(pool, what, at, value, next_id)
            next_id += 1
        prices = TriggerPrices(mark_price=mark, last_price=last, index_price=index)
        fresh = deciding_orders(pool, prices)
        answer = kept.of("X", pool, prices)
        assert [id(order) for order in answer] == [id(order) for order in fresh]


def test_the_grouping_is_kept_while_the_pool_is_the_same_and_made_again_when_a_stop_px_moves() -> None:
    """Two sell stops: the nearest is the higher stopPx.  Unchanged, the grouping is reused; a stopPx moved in place
    (as ORD-007's trail does) makes a new one, and the new nearest is listed."""
    pool = _pool([(o.STOP, False, o.MARK_PRICE, False, 950, 1), (o.STOP, False, o.MARK_PRICE, False, 960, 1)])
    prices = TriggerPrices(mark_price=1_000, last_price=0, index_price=0)
    kept = DecidingOrders()
    assert [order.order_id for order in kept.of("X", pool, prices)] == [2]
    grouping = kept.kept["X"].grouping
    assert [order.order_id for order in kept.of("X", pool, prices)] == [2]
    assert kept.kept["X"].grouping is grouping
    pool[1].stop_px = 970  # in place: the pool holds the same objects
    assert [order.order_id for order in kept.of("X", pool, prices)] == [1]
    assert kept.kept["X"].grouping is not grouping


def test_a_peg_offset_changed_in_place_makes_the_trailing_group_s_mover_anew() -> None:
    """Two trailing sell stops at 950, 30 and 10 from the price: the one 10 away is the group's mover (the lowest
    level) and at a mark of 960 stays where it is, so both are listed.  Its offset widened to 30 in place (an amend),
    the mover is the first (the levels tie) and the nearest itself: only it is listed.  A kept grouping that missed
    the pegOffsetValue would keep the old mover and list both (the random test above rarely meets this case)."""
    pool = _pool([(o.PEGGED, False, o.MARK_PRICE, False, 950, 30), (o.PEGGED, False, o.MARK_PRICE, False, 950, 10)])
    prices = TriggerPrices(mark_price=960, last_price=0, index_price=0)
    kept = DecidingOrders()
    assert [order.order_id for order in kept.of("X", pool, prices)] == [1, 2]
    pool[2].peg_offset = -30
    assert [order.order_id for order in deciding_orders(pool, prices)] == [1]
    assert [order.order_id for order in kept.of("X", pool, prices)] == [1]
