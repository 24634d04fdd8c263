"""engine.core.fastmargin equals the rules it memoises (MRG-042, MRG-046), on generated books and marks; an explicit
order set is MRG-046 itself.

The memo reuses a non-crossing order's term across calls, so the test calls
it repeatedly on one shared table with books and marks that change between
calls — crossing and non-crossing orders, empty sides, every instrument kind.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import fastmargin
from perpspec.engine.core import risk as risk_module
from perpspec.engine.core.accounts import PositionState
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.fastmargin import (
    margin_of_sides,
    order_sides,
    resting_order_margin,
    resting_sides,
    sides_plus,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.order_margin import OrderMargin, compute_contract_order_margin, compute_order_sides
from perpspec.rules.position import Position, apply_fill
from tests.strategies import instruments


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


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


def test_an_explicit_order_set_is_judged_by_mrg_046_itself_not_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Risk.contract_order_margin`` given orders (an amend's "after") calls the rule ``compute_contract_order_margin``
    (session 19: ``fastmargin.contract_order_margin`` was a second composition of MRG-046's steps; now gone)."""
    assert not hasattr(fastmargin, "contract_order_margin")
    engine = Engine()
    ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Sell", order_qty=500, price=5_010_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol="XBTUSD", side="Buy", order_qty=700, price=5_020_000))
    inst = engine.instrument_map["XBTUSD"]
    ps = engine.accounts[1].positions["XBTUSD"]
    orders = ((300, 4_990_000), (-200, 5_030_000))
    calls: list[tuple[int, int]] = []

    def spy(*args: Any) -> OrderMargin:
        calls.append((args[3], args[6]))
        return compute_contract_order_margin(*args)

    monkeypatch.setattr(risk_module, "compute_contract_order_margin", spy)
    total = engine.risk.contract_order_margin(inst, ps, orders)
    best_bid, best_ask = engine.market.best("XBTUSD")
    expected = compute_contract_order_margin(inst, ps.position, orders, 5_000_000, best_bid, best_ask, ps.leverage)
    assert calls == [(5_000_000, ps.leverage)]
    assert total == expected.total > 0


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


@given(inst=instruments(), data=st.data(), leverage=st.sampled_from((0, 100, 1_000, 10_000)))
def test_sums_kept_with_resting_orders_equal_the_rule_as_orders_books_marks_and_positions_change(
    inst: Instrument, data: st.DataObject, leverage: int
) -> None:
    """resting_sides / resting_order_margin (cached on the position record) after every kind of change."""
    ps = PositionState(inst.symbol, inst.risk_limit)
    ps.leverage = leverage
    next_id = 1
    _, mark, best_bid, best_ask = data.draw(situations(inst))
    for step in range(12):
        change = data.draw(st.sampled_from(("add", "drop", "amend", "book", "mark", "fill", "none")), label=f"change {step}")
        if change == "add" or (change in ("drop", "amend") and not ps.orders):
            qty = data.draw(st.integers(1, 50)) * inst.lot_size * data.draw(st.sampled_from((1, -1)))
            ps.put_order(next_id, qty, mark + data.draw(st.integers(-20, 20)) * inst.tick_size)
            next_id += 1
        elif change == "drop":
            ps.drop_order(data.draw(st.sampled_from(sorted(ps.orders))))
        elif change == "amend":
            key = data.draw(st.sampled_from(sorted(ps.orders)))
            qty, price = ps.orders[key]
            ps.put_order(key, qty * 2, price + inst.tick_size)
        elif change == "book":
            _, _, best_bid, best_ask = data.draw(situations(inst))
        elif change == "mark":
            mark = max(inst.tick_size, mark + data.draw(st.integers(-3, 3)) * inst.tick_size)
        elif change == "fill":
            position, _ = apply_fill(inst, ps.position, data.draw(st.integers(-5, 5)) * inst.lot_size, mark)
            ps.qty, ps.cost = position.qty, position.cost
        current = tuple(ps.orders.values())
        expected_sides = compute_order_sides(inst, current, mark, best_bid, best_ask)
        assert resting_sides(inst, ps, mark, best_bid, best_ask) == expected_sides
        expected = compute_contract_order_margin(inst, ps.position, current, mark, best_bid, best_ask, leverage)
        assert resting_order_margin(inst, ps, mark, best_bid, best_ask) == expected


@given(inst=instruments(), data=st.data(), leverage=st.sampled_from((0, 100, 10_000)))
def test_sides_plus_one_order_equal_the_rule_over_the_extended_set(
    inst: Instrument, data: st.DataObject, leverage: int
) -> None:
    orders, mark, best_bid, best_ask = data.draw(situations(inst))
    extra, _, _, _ = data.draw(situations(inst))
    position = Position()
    for qty, price in extra[:3]:
        after = (*orders, (qty, price))
        before_sides = compute_order_sides(inst, orders, mark, best_bid, best_ask)
        plus = sides_plus(inst, before_sides, qty, price, mark, best_bid, best_ask)
        assert plus == compute_order_sides(inst, after, mark, best_bid, best_ask)
        expected = compute_contract_order_margin(inst, position, after, mark, best_bid, best_ask, leverage)
        assert margin_of_sides(inst, position, plus, leverage) == expected
