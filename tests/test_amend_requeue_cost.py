"""A priority-losing amendment leaves its old queue entry dead instead of searching its level for it.

Session 13's ``Book.take_out`` (an AmendOrder to a new price, or to a larger quantity, which sends the order to the
back of its level) took the order out of its queue with ``deque.remove``: a walk from the head of the level to the
order.  An order resting behind N others, amended back and forth between two such levels, cost N per amendment.
Now the old entry is left dead, as a cancel leaves it (``Book.remove``: the level is compacted once its dead entries
outnumber its live orders), and a copy of the order, with every field the same, stands for it from then on in the
book and the engine's indexes (``registry.go_live``).

Cost is counted, not timed: the resting orders count the comparisons made with them and the reads of their
``live`` flag (the search, and the compaction's walk).  The twin: random streams of limit orders (icebergs and
hidden orders too), amendments up, down, to new prices and through the spread, cancels, trades, ReduceOnly orders,
dead man's switches firing in accepted and rejected commands give the same events and state hash as the engine with session 13's
``take_out`` (:func:`searching_take_out`), and a snapshot taken mid-stream loads (its dead entries included).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core import book as book_module
from perpspec.engine.core import commands as c
from perpspec.engine.core.book import Book, Level
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order
from perpspec.rules.instrument_file import load_instrument

SYMBOL = "XBTUSD"
TICK = 50
MARK = 5_000_000
COMPILED = not book_module.__file__.endswith(".py")
interpreted_only = pytest.mark.skipif(COMPILED, reason="patches the book (a compiled class cannot be patched)")

VISITS = [0]


class CountingOrder(Order):
    """A resting order that counts the comparisons made with it and the reads of its ``live`` flag."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        VISITS[0] += 1
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __getattribute__(self, name: str) -> Any:
        if name == "live":
            VISITS[0] += 1
        return object.__getattribute__(self, name)


def searching_take_out(self: Book, order: Order) -> Order:
    """``Book.take_out`` as session 13 wrote it: out of its queue (``deque.remove``), then out of the book."""
    level = order.level
    assert isinstance(level, Level)
    (level.hidden if order.display_qty == 0 else level.shown).remove(order)
    self.remove(order)
    return order


def ok(engine: Engine, command: Any) -> list[Any]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def two_deep_levels(depth: int, counting: bool = True) -> tuple[Engine, int]:
    """``depth`` bids at each of two prices, then the amended order at the back of the first: its id."""
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    ok(engine, c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    for account in range(1, 12):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    for number in range(2 * depth):
        ok(engine, c.PlaceOrder(time_ms=0, account=1 + number % 10, symbol=SYMBOL, side="Buy", order_qty=100,
                                price=MARK - (10 if number % 2 else 20) * TICK))
    placed = ok(engine, c.PlaceOrder(time_ms=0, account=11, symbol=SYMBOL, side="Buy", order_qty=100,
                                     price=MARK - 20 * TICK))[-1]
    if counting:
        for order in engine.registry.live_orders.values():
            order.__class__ = CountingOrder
    return engine, placed.order_id


def amend_back_and_forth(depth: int, amendments: int) -> int:
    """The entries visited while the order at the back of one level of ``depth`` moves between the two levels."""
    engine, order_id = two_deep_levels(depth)
    VISITS[0] = 0
    for number in range(amendments):
        ok(engine, c.AmendOrder(time_ms=0, account=11, order_id=order_id,
                                price=MARK - (10 if number % 2 == 0 else 20) * TICK))
    visits = VISITS[0]
    book = engine.market.books[SYMBOL]
    assert [o.order_id for o in book.orders_in_priority()][-1 if amendments % 2 == 0 else depth] == order_id
    return visits


@interpreted_only
def test_an_order_amended_between_two_deep_levels_visits_a_bounded_number_of_entries() -> None:
    shallow = amend_back_and_forth(200, 2_000)  # the dead entries compacted away five times at each level
    deep = amend_back_and_forth(1_600, 2_000)
    assert deep < 10 * 2_000  # session 13: the whole level per amendment (>= 1,600 x 2,000)
    assert deep < 2 * shallow + 400  # eight times the depth, not eight times the cost


@interpreted_only
def test_the_searching_take_out_walked_the_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Book, "take_out", searching_take_out)
    assert amend_back_and_forth(800, 50) >= 800 * 50


def test_the_amended_order_is_a_copy_named_by_every_index_and_its_old_entry_is_dead() -> None:
    engine, order_id = two_deep_levels(3, counting=False)
    before = engine.registry.live_orders[order_id]
    events = ok(engine, c.AmendOrder(time_ms=0, account=11, order_id=order_id, price=MARK - 10 * TICK))
    after = engine.registry.live_orders[order_id]
    assert after is not before
    assert not before.live
    assert before.level is None
    assert engine.ledger.accounts[11].orders[order_id] is after
    level = engine.market.books[SYMBOL].bids[MARK - 10 * TICK]
    assert after.level is level
    assert level.shown[-1] is after
    assert [e.order_id for e in events if getattr(e, "exec_type", "") == "Replaced"] == [order_id]
    Engine.from_snapshot(engine.snapshot())  # the dead entry passes the snapshot's state check
    ok(engine, c.CancelOrder(time_ms=0, account=11, order_id=order_id))
    assert not after.live


# one step: (kind, a, b, k)
STEPS = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 10**6), st.integers(-6, 6), st.integers(1, 6)),
                 max_size=80)


def commands(steps: list[tuple[int, int, int, int]]) -> list[Any]:
    """The stream ``steps`` stand for (amendments name live orders of their owners, read from a running engine)."""
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    out: list[Any] = []

    def send(command: Any) -> None:
        out.append(command)
        engine.process(command)

    send(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for account in range(1, 6):
        send(c.VerifyAccount(time_ms=0, account=account))
        send(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    send(c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    time_ms = 0
    for kind, a, b, k in steps:
        live = sorted(engine.registry.live_orders.values(), key=lambda order: order.order_id)
        account = 1 + a % 5
        side = "Buy" if a % 2 else "Sell"
        away = 1 if side == "Buy" else -1
        if kind <= 3:  # a resting limit order (an iceberg or a hidden one now and then), or ReduceOnly
            display = (None, None, None, 0, 100)[a // 2 % 5]
            send(c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=k * 100,
                              price=MARK - away * (abs(b) + 1) * TICK, display_qty=display,
                              exec_inst="ReduceOnly" if a % 13 == 0 else ""))
        elif kind <= 6 and live:  # an amendment: price (maybe through the spread), quantity up or down, or both
            order = live[a % len(live)]
            change = a // 7 % 3
            price = order.price + b * TICK if change != 1 else None
            qty = max(100, order.leaves_qty + (k - 3) * 100) if change != 0 else None
            send(c.AmendOrder(time_ms=time_ms, account=order.account, order_id=order.order_id,
                              price=price if price is None or price > 0 else TICK, leaves_qty=qty))
        elif kind == 7 and live:
            order = live[a % len(live)]
            send(c.CancelOrder(time_ms=time_ms, account=order.account, order_id=order.order_id))
        elif kind == 8:  # a trade through the book
            send(c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=k * 100))
        else:  # a dead man's switch, then a command the clock moved to (rejected now and then: the switch stays fired)
            send(c.CancelAllAfter(time_ms=time_ms, account=account, timeout_ms=1))
            time_ms += 2
            send(c.Withdraw(time_ms=time_ms, account=account, asset="XBt", amount=10**15 if b % 2 else 1))
    return out


def run(stream: list[Any], snapshot_at: int | None = None) -> tuple[list[Any], str]:
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    events: list[Any] = []
    for number, command in enumerate(stream):
        if number == snapshot_at:
            engine = Engine.from_snapshot(engine.snapshot())
        events.extend(engine.process(command))
    return events, engine.state_hash()


@interpreted_only
@settings(max_examples=150, deadline=None)
@given(STEPS, st.integers(0, 120))
def test_requeued_amendments_give_the_events_and_state_of_the_searching_book(
    steps: list[tuple[int, int, int, int]], cut: int
) -> None:
    stream = commands(steps)
    kept = run(stream)
    restored = run(stream, snapshot_at=min(cut, len(stream)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Book, "take_out", searching_take_out)
        expected = run(stream)
    assert expected == kept
    assert expected == restored


@interpreted_only
@pytest.mark.parametrize("seed", range(4))
def test_long_amending_streams_give_the_events_and_state_of_the_searching_book(seed: int) -> None:
    import random

    rng = random.Random(seed)
    kinds = (0, 1, 2, 4, 4, 5, 5, 6, 6, 7, 8, 9)
    steps = [(rng.choice(kinds), rng.randint(0, 10**6), rng.randint(-6, 6), rng.randint(1, 6)) for _ in range(600)]
    stream = commands(steps)
    kept = run(stream)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Book, "take_out", searching_take_out)
        expected = run(stream)
    replaced = sum(1 for e in expected[0] if getattr(e, "exec_type", "") == "Replaced")
    assert replaced > 50  # the comparison covers amendments
    assert expected == kept
