"""engine.fastmargin equals the rules it memoises (MRG-042, MRG-046), on generated books and marks.

The memo reuses a non-crossing order's term across calls, so the test calls
it repeatedly on one shared table with books and marks that change between
calls — crossing and non-crossing orders, empty sides, every instrument kind.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.fastmargin import contract_order_margin, order_sides
from rules.instrument import Instrument
from rules.margin import compute_contract_order_margin, compute_order_sides
from rules.position import Position, apply_fill
from tests.strategies import instruments


@st.composite
def situations(draw: st.DrawFn, inst: Instrument) -> tuple[tuple[tuple[int, int], ...], int, int, int]:
    """(orders, mark, best bid, best ask) near one price level, so orders cross the touch now and then."""
    level = draw(st.integers(100, 2_000)) * inst.tick_size
    tick = inst.tick_size
    orders = tuple(
        (
            draw(st.integers(1, 50)) * inst.lot_size * draw(st.sampled_from((1, -1))),
            level + draw(st.integers(-20, 20)) * tick,
        )
        for _ in range(draw(st.integers(0, 12)))
    )
    best_bid = draw(st.sampled_from((0, level + draw(st.integers(-25, 25)) * tick)))
    best_ask = draw(st.sampled_from((0, level + draw(st.integers(-25, 25)) * tick)))
    mark = level + draw(st.integers(-3, 3)) * tick
    return orders, mark, best_bid, best_ask


@given(inst=instruments(), data=st.data())
def test_memoised_order_sides_equal_the_rule_across_changing_books(inst: Instrument, data: st.DataObject) -> None:
    for _ in range(6):
        orders, mark, best_bid, best_ask = data.draw(situations(inst))
        expected = compute_order_sides(inst, orders, mark, best_bid, best_ask)
        assert order_sides(inst, orders, mark, best_bid, best_ask) == expected


@given(inst=instruments(), data=st.data(), fill_qty=st.integers(-40, 40), leverage=st.sampled_from((0, 100, 1_000, 10_000)))
def test_memoised_contract_order_margin_equals_the_rule(
    inst: Instrument, data: st.DataObject, fill_qty: int, leverage: int
) -> None:
    orders, mark, best_bid, best_ask = data.draw(situations(inst))
    position = Position()
    if fill_qty:
        position, _ = apply_fill(inst, position, fill_qty * inst.lot_size, mark)
    expected = compute_contract_order_margin(inst, position, orders, mark, best_bid, best_ask, leverage)
    assert contract_order_margin(inst, position, orders, mark, best_bid, best_ask, leverage) == expected


@given(inst=instruments(), data=st.data())
def test_memoised_sums_of_one_order_set_follow_the_touch_as_it_moves(inst: Instrument, data: st.DataObject) -> None:
    orders, mark, _, _ = data.draw(situations(inst))
    for _ in range(8):
        _, _, best_bid, best_ask = data.draw(situations(inst))
        expected = compute_order_sides(inst, orders, mark, best_bid, best_ask)
        assert order_sides(inst, orders, mark, best_bid, best_ask) == expected


@given(inst=instruments(), data=st.data())
def test_memoised_sums_extended_by_one_new_order_equal_the_rule(inst: Instrument, data: st.DataObject) -> None:
    orders, mark, best_bid, best_ask = data.draw(situations(inst))
    assert order_sides(inst, orders, mark, best_bid, best_ask) == compute_order_sides(inst, orders, mark, best_bid, best_ask)
    extra, _, other_bid, other_ask = data.draw(situations(inst))
    for new in extra[:3]:
        after = (*orders, new)
        # first under a touch that may cross some resting orders (the memoised prefix must not be used then)
        for bid, ask in ((other_bid, other_ask), (best_bid, best_ask)):
            assert order_sides(inst, after, mark, bid, ask) == compute_order_sides(inst, after, mark, bid, ask)
