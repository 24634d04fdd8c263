"""The fast book (engine.core.book) against the naive reference book (engine.core.refbook).

Hypothesis generates long command streams (limit orders with every display
mode, market sweeps, FillOrKill checks, post-only entries, cancels, amends up
and down, own-account crossings for self-trade prevention); both books run
the same stream and must produce the same fills, the same self-trade
cancellations, the same L2 depth and the same state hash after every command.
"""

from __future__ import annotations

import hashlib
from random import Random

from hypothesis import event, given, settings
from hypothesis import strategies as st

from perpspec.engine.core.book import Book, Fill, book_state
from perpspec.engine.core.orders import Order
from perpspec.engine.core.refbook import RefBook

PRICES = st.integers(min_value=98, max_value=102)
QTYS = st.integers(min_value=1, max_value=30)
DISPLAY = st.one_of(st.none(), st.just(0), st.integers(min_value=1, max_value=10))

place = st.tuples(
    st.just("place"),
    st.integers(min_value=0, max_value=3),  # account
    st.booleans(),  # is_buy
    PRICES,
    QTYS,
    DISPLAY,
    st.sampled_from(("GTC", "IOC", "FOK", "POST")),
    st.booleans(),  # reduce-only maker (trades only while its account's budget lasts)
)
cancel = st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=10_000))
amend = st.tuples(st.just("amend"), st.integers(min_value=0, max_value=10_000), QTYS, PRICES)
commands = st.lists(st.one_of(place, place, place, cancel, amend), min_size=60, max_size=300)


def state_hash(book: Book | RefBook) -> str:
    return hashlib.sha256(repr(book_state(book.orders_in_priority())).encode()).hexdigest()


class Driver:
    """Runs the book-level part of order entry the way the engine does."""

    def __init__(self, book: Book | RefBook) -> None:
        self.book = book
        self.live: dict[int, Order] = {}
        self.trace: list[object] = []
        self.budget = dict.fromkeys(range(4), 12)  # what each account's ReduceOnly makers may still trade

    def guard(self, maker: Order, wanted: int) -> int:
        if maker.account == 3 and wanted >= 9:
            return -1  # as LIQ-044 halts a sweep whose own fill would be unsafe
        if not maker.reduce_only:
            return wanted
        granted = min(wanted, self.budget[maker.account])
        self.budget[maker.account] -= granted
        return granted

    def _take(self, order: Order, limit: int) -> None:
        fills: list[Fill] = []
        self_trades: list[Order] = []
        left = self.book.match(
            order.is_buy, limit, order.leaves_qty, order.account, fills, self_trades, self.guard
        )
        order.leaves_qty = left
        for maker, _, _ in fills:
            if maker.leaves_qty == 0:
                self.live.pop(maker.order_id, None)  # an iceberg can fill twice in one sweep
        for maker in self_trades:
            del self.live[maker.order_id]
        self.trace.append(([(m.order_id, q, p) for m, q, p in fills], [m.order_id for m in self_trades]))

    def run(self, command: tuple[object, ...], order_id: int) -> None:
        book = self.book
        if command[0] == "place":
            _, account, is_buy, price, qty, display, tif, reduce_only = command
            assert isinstance(account, int)
            assert isinstance(is_buy, bool)
            assert isinstance(price, int)
            assert isinstance(qty, int)
            assert display is None or isinstance(display, int)
            order = Order(
                order_id=order_id, account=account, symbol="T", is_buy=is_buy, price=price, order_qty=qty,
                display_qty=display, reduce_only=bool(reduce_only),
            )
            if tif == "POST" and book.crosses(is_buy, price):
                self.trace.append("post-only canceled")
                return
            if tif == "FOK" and not book.can_fill(is_buy, price, qty, account):
                self.trace.append("fok killed")
                return
            self._take(order, price)
            if order.leaves_qty > 0 and tif in ("GTC", "POST"):
                order.reset_shown()
                book.add(order)
                self.live[order_id] = order
        elif command[0] == "cancel":
            index = command[1]
            assert isinstance(index, int)
            if self.live:
                victim = sorted(self.live)[index % len(self.live)]
                book.remove(self.live.pop(victim))
        else:
            _, index, qty, price = command
            assert isinstance(index, int)
            assert isinstance(qty, int)
            assert isinstance(price, int)
            if not self.live:
                return
            target = self.live[sorted(self.live)[index % len(self.live)]]
            if book.crosses(target.is_buy, price):
                target = book.take_out(target)
                del self.live[target.order_id]
                target.price = price
                target.leaves_qty = qty
                self._take(target, price)
                if target.leaves_qty > 0:
                    target.reset_shown()
                    book.add(target)
                    self.live[target.order_id] = target
            else:
                self.live[target.order_id] = book.amend(target, qty, price)
        self.trace.append((book.best_bid(), book.best_ask(), book.depth(True, 5), book.depth(False, 5)))


COUNTS = {"streams": 0, "commands": 0, "fills": 0}


@settings(max_examples=200)
@given(commands)
def test_fast_book_matches_reference_book_on_generated_streams(stream: list[tuple[object, ...]]) -> None:
    fast = Driver(Book("T"))
    ref = Driver(RefBook("T"))
    fills = 0
    for order_id, command in enumerate(stream):
        fast.run(command, order_id)
        ref.run(command, order_id)
        assert ref.trace == fast.trace
        assert state_hash(ref.book) == state_hash(fast.book)
        fills += sum(len(t[0]) for t in fast.trace if isinstance(t, tuple) and len(t) == 2)
        fast.trace.clear()
        ref.trace.clear()
    COUNTS["streams"] += 1
    COUNTS["commands"] += len(stream)
    COUNTS["fills"] += fills
    event(f"commands >= {len(stream) // 50 * 50}")
    event(f"fills >= {fills // 20 * 20}")


def random_stream(seed: int, length: int) -> list[tuple[object, ...]]:
    """A diverse stream (uniform choices, unlike Hypothesis's small-value bias): many crossings and fills."""
    rng = Random(seed)
    out: list[tuple[object, ...]] = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.6:
            out.append((
                "place", rng.randint(0, 3), rng.random() < 0.5, rng.randint(95, 105), rng.randint(1, 30),
                rng.choice((None, None, 0, rng.randint(1, 10))), rng.choice(("GTC", "GTC", "IOC", "FOK", "POST")),
                rng.random() < 0.15,
            ))
        elif roll < 0.8:
            out.append(("cancel", rng.randint(0, 10_000)))
        else:
            out.append(("amend", rng.randint(0, 10_000), rng.randint(1, 30), rng.randint(95, 105)))
    return out


@settings(max_examples=40)
@given(st.integers(min_value=0, max_value=2**32))
def test_fast_book_matches_reference_book_on_long_random_streams(seed: int) -> None:
    stream = random_stream(seed, 600)
    fast = Driver(Book("T"))
    ref = Driver(RefBook("T"))
    fills = 0
    for order_id, command in enumerate(stream):
        fast.run(command, order_id)
        ref.run(command, order_id)
        assert ref.trace == fast.trace
        assert state_hash(ref.book) == state_hash(fast.book)
        fills += sum(len(t[0]) for t in fast.trace if isinstance(t, tuple) and len(t) == 2)
        fast.trace.clear()
        ref.trace.clear()
    COUNTS["streams"] += 1
    COUNTS["commands"] += len(stream)
    COUNTS["fills"] += fills
    assert fills > 0


def make(order_id: int, account: int, is_buy: bool, price: int, qty: int, display: int | None = None) -> Order:
    return Order(
        order_id=order_id, account=account, symbol="T", is_buy=is_buy, price=price, order_qty=qty, display_qty=display
    )


def test_fill_is_at_resting_price_and_oldest_first() -> None:
    book = Book("T")
    book.add(make(1, 1, False, 101, 5))
    book.add(make(2, 2, False, 100, 5))
    book.add(make(3, 3, False, 100, 5))
    fills: list[Fill] = []
    left = book.match(True, 105, 12, 9, fills, [])
    assert [(m.order_id, q, p) for m, q, p in fills] == [(2, 5, 100), (3, 5, 100), (1, 2, 101)]
    assert left == 0


def test_iceberg_trades_its_slice_then_goes_behind_a_later_order() -> None:
    book = Book("T")
    book.add(make(1, 1, False, 100, 10, display=2))
    book.add(make(2, 2, False, 100, 3))
    fills: list[Fill] = []
    book.match(True, 100, 4, 9, fills, [])
    assert [(m.order_id, q, p) for m, q, p in fills] == [(1, 2, 100), (2, 2, 100)]


def test_hidden_order_trades_after_displayed_order_at_same_price() -> None:
    book = Book("T")
    book.add(make(1, 1, False, 100, 5, display=0))
    book.add(make(2, 2, False, 100, 5))
    fills: list[Fill] = []
    book.match(True, 100, 6, 9, fills, [])
    assert [(m.order_id, q, p) for m, q, p in fills] == [(2, 5, 100), (1, 1, 100)]
    assert book.depth(False, 5) == []


def test_self_trade_cancels_resting_order_and_continues() -> None:
    book = Book("T")
    book.add(make(1, 7, False, 100, 5))
    book.add(make(2, 2, False, 100, 5))
    fills: list[Fill] = []
    cancelled: list[Order] = []
    book.match(True, 100, 5, 7, fills, cancelled)
    assert ([m.order_id for m, _, _ in fills], [o.order_id for o in cancelled]) == ([2], [1])


def test_amend_down_keeps_priority_and_amend_up_loses_it() -> None:
    book = Book("T")
    first, second = make(1, 1, True, 100, 5), make(2, 2, True, 100, 5)
    book.add(first)
    book.add(second)
    book.amend(first, 3, 100)
    assert [o.order_id for o in book.orders_in_priority()] == [1, 2]
    book.amend(first, 6, 100)
    assert [o.order_id for o in book.orders_in_priority()] == [2, 1]
