"""ORD-001 / ORD-022 / ORD-030 / ORD-032 / ORD-033 at their edges, on the fast book and on the reference book.

Found by ``python -m tests.mutation engine/core/book.py engine/core/refbook.py`` (issue 13, session 8).  The
differential (tests/test_book_differential.py) compares the two books on random streams; these are the edges a
stream reaches rarely, written out on fixed books with every figure pinned, and run on *both* books (the
reference book is the differential's oracle, so a slip in it must fail a test of its own):

* a limit exactly at a level's price crosses it (ORD-001), one tick short does not;
* a FillOrKill needing exactly what the other accounts' plain orders offer up to its limit fills, one more is
  killed (ORD-022); own orders and ReduceOnly makers are not counted;
* L2 depth: displayed quantity only (an iceberg's slice, never a hidden order's), best first, exactly
  ``max_levels`` levels (ORD-030);
* an amend to the same price and the same quantity keeps time priority; a quantity below the shown slice
  shrinks the slice; a hidden order or a one-lot iceberg can be amended (ORD-032);
* a taker using up a slice exactly leaves the next order (own or not, displayed or hidden) untouched; an
  iceberg refreshes behind the later orders; the guard's halt, nothing and one-lot grants (ORD-030, ORD-033,
  LIQ-044's halt as the book sees it).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from perpspec.engine.core.book import Book, Fill, Guard
from perpspec.engine.core.orders import Order
from perpspec.engine.core.refbook import RefBook

AnyBook = Book | RefBook
BOOKS = pytest.mark.parametrize("new_book", [Book, RefBook], ids=["fast", "reference"])
NewBook = Callable[[str], AnyBook]


def _order(order_id: int, account: int, is_buy: bool, price: int, qty: int, display: int | None = None,
           reduce_only: bool = False) -> Order:
    return Order(order_id=order_id, account=account, symbol="T", is_buy=is_buy, price=price, order_qty=qty,
                 display_qty=display, reduce_only=reduce_only)


def _book(new_book: NewBook, *orders: Order) -> AnyBook:
    book = new_book("T")
    for order in orders:
        book.add(order)
    return book


def _state(book: AnyBook) -> list[tuple[int, int, int, int]]:
    """Every live order in priority order: (order id, price, open quantity, shown quantity)."""
    return [(o.order_id, o.price, o.leaves_qty, o.shown_qty) for o in book.orders_in_priority()]


def _match(book: AnyBook, is_buy: bool, limit: int, qty: int, account: int = 9, guard: Guard | None = None
           ) -> tuple[int, list[tuple[int, int, int]], list[int]]:
    fills: list[Fill] = []
    out: list[Order] = []
    left = book.match(is_buy, limit, qty, account, fills, out, guard)
    return left, [(m.order_id, q, p) for m, q, p in fills], [o.order_id for o in out]


# ------------------------------------------------------------------------------------- best, crosses (ORD-001)


@BOOKS
def test_best_prices_and_crossing_at_exactly_the_best_price(new_book: NewBook) -> None:
    """ORD-001: two levels a side; a buy at exactly the best ask crosses, one tick below does not (and sells)."""
    book = _book(new_book, _order(1, 1, True, 99, 5), _order(2, 1, True, 98, 5),
                 _order(3, 2, False, 101, 5), _order(4, 2, False, 102, 5))
    assert (book.best_bid(), book.best_ask()) == (99, 101)
    assert (book.crosses(True, 101), book.crosses(True, 100)) == (True, False)
    assert (book.crosses(False, 99), book.crosses(False, 100)) == (True, False)


@BOOKS
def test_one_level_a_side_and_an_empty_side(new_book: NewBook) -> None:
    """ORD-001: one level a side (the best is the only key), then the asks emptied: nothing crosses a buy."""
    ask = _order(2, 2, False, 101, 5)
    book = _book(new_book, _order(1, 1, True, 99, 5), ask)
    assert (book.best_bid(), book.best_ask(), book.crosses(True, 101), book.crosses(False, 99)) == (99, 101, True, True)
    book.remove(ask)
    assert (book.best_bid(), book.best_ask(), book.crosses(True, 10**9)) == (99, None, False)


# ------------------------------------------------------------------------------------- depth (ORD-030)


@BOOKS
def test_depth_counts_displayed_quantity_only_best_first(new_book: NewBook) -> None:
    """ORD-030: L2 bids at 100 (5 + an iceberg's slice of 1 + a hidden 7), 99 (hidden only: no level), 98, 97."""
    book = _book(
        new_book,
        _order(1, 1, True, 100, 5), _order(2, 2, True, 100, 9, display=1), _order(3, 3, True, 100, 7, display=0),
        _order(4, 1, True, 99, 4, display=0),
        _order(5, 2, True, 98, 1), _order(6, 3, True, 97, 2),
    )
    assert book.depth(True, 10) == [(100, 6), (98, 1), (97, 2)]
    assert book.depth(True, 2) == [(100, 6), (98, 1)]
    assert book.depth(True, 3) == [(100, 6), (98, 1), (97, 2)]
    assert book.depth(True, 1) == [(100, 6)]
    assert book.depth(False, 5) == []


@BOOKS
def test_depth_of_a_one_lot_iceberg_slice_and_of_asks(new_book: NewBook) -> None:
    """ORD-030: an ask level showing one lot (an iceberg of 1 of 10) is a level of 1; asks lowest first."""
    book = _book(new_book, _order(1, 1, False, 103, 10, display=1), _order(2, 2, False, 102, 3))
    assert book.depth(False, 5) == [(102, 3), (103, 1)]


# ------------------------------------------------------------------------------------- FillOrKill (ORD-022)


def _fok_book(new_book: NewBook) -> AnyBook:
    """Asks: 100: 5 (acct 1) + own 4 (acct 9) + ReduceOnly 6 (acct 2); 101: hidden 3 (acct 2); 102: 2 (acct 3)."""
    return _book(
        new_book,
        _order(1, 1, False, 100, 5), _order(2, 9, False, 100, 4), _order(3, 2, False, 100, 6, reduce_only=True),
        _order(4, 2, False, 101, 3, display=0), _order(5, 3, False, 102, 2),
    )


@BOOKS
def test_fill_or_kill_needing_exactly_what_is_offered(new_book: NewBook) -> None:
    """ORD-022: 5 at 100, 8 to 101, 10 to 102 are offered to account 9; one more is killed at each limit."""
    book = _fok_book(new_book)
    answers = [(limit, qty, book.can_fill(True, limit, qty, 9)) for limit, qty in
               ((100, 5), (100, 6), (101, 8), (101, 9), (102, 10), (102, 11), (99, 1))]
    assert answers == [(100, 5, True), (100, 6, False), (101, 8, True), (101, 9, False),
                       (102, 10, True), (102, 11, False), (99, 1, False)]


@BOOKS
def test_fill_or_kill_counts_another_accounts_orders(new_book: NewBook) -> None:
    """ORD-022 / ORD-033: for account 1 its own 5 at 100 do not count but account 9's 4 do: 4 + 3 + 2 = 9 to 102."""
    book = _fok_book(new_book)
    assert (book.can_fill(True, 102, 9, 1), book.can_fill(True, 102, 10, 1)) == (True, False)


@BOOKS
def test_fill_or_kill_sell_side(new_book: NewBook) -> None:
    """ORD-022: bids 100: 3, 99: 4; a sell of 7 down to 99 fills, down to 100 only 3 do, 8 is killed."""
    book = _book(new_book, _order(1, 1, True, 100, 3), _order(2, 2, True, 99, 4))
    assert [book.can_fill(False, 99, 7, 9), book.can_fill(False, 100, 3, 9), book.can_fill(False, 100, 4, 9),
            book.can_fill(False, 99, 8, 9)] == [True, True, False, False]


# ------------------------------------------------------------------------------------- amend (ORD-032)


@BOOKS
def test_amend_to_the_same_quantity_and_price_keeps_priority(new_book: NewBook) -> None:
    """ORD-032: amending order 1 to its own quantity and price changes nothing; to 1 more sends it behind 2."""
    first = _order(1, 1, True, 100, 5)
    book = _book(new_book, first, _order(2, 2, True, 100, 5))
    book.amend(first, 5, 100)
    assert _state(book) == [(1, 100, 5, 5), (2, 100, 5, 5)]
    book.amend(first, 6, 100)
    assert _state(book) == [(2, 100, 5, 5), (1, 100, 6, 6)]


@BOOKS
def test_amend_down_shrinks_the_shown_slice_only_below_it(new_book: NewBook) -> None:
    """ORD-032 / ORD-030: an iceberg of 10 showing 4 amended to 4 open shows 4, to 3 shows 3; priority kept."""
    ice = _order(1, 1, False, 101, 10, display=4)
    book = _book(new_book, ice, _order(2, 2, False, 101, 2))
    book.amend(ice, 4, 101)
    assert _state(book) == [(1, 101, 4, 4), (2, 101, 2, 2)]
    book.amend(ice, 3, 101)
    assert _state(book) == [(1, 101, 3, 3), (2, 101, 2, 2)]
    assert book.depth(False, 5) == [(101, 5)]


@BOOKS
def test_amending_a_hidden_order_and_a_one_lot_iceberg_to_a_new_price(new_book: NewBook) -> None:
    """ORD-032: a hidden bid and an iceberg showing 1 each move to 99 (behind the resting 99) and trade there."""
    hidden, ice = _order(1, 1, True, 100, 4, display=0), _order(2, 2, True, 100, 3, display=1)
    book = _book(new_book, hidden, ice, _order(3, 3, True, 99, 2))
    book.amend(hidden, 4, 99)
    book.amend(ice, 3, 99)
    assert _state(book) == [(3, 99, 2, 2), (2, 99, 3, 1), (1, 99, 4, 0)]
    assert (book.best_bid(), book.depth(True, 5)) == (99, [(99, 3)])
    assert _match(book, False, 99, 9) == (0, [(3, 2, 99), (2, 1, 99), (2, 1, 99), (2, 1, 99), (1, 4, 99)], [])
    assert (_state(book), book.best_bid()) == ([], None)


@BOOKS
def test_removing_levels_below_and_at_the_best(new_book: NewBook) -> None:
    """ORD-001: cancelling the middle bid level keeps the best; a level goes only with its last order."""
    a, b, c, d = _order(1, 1, True, 100, 1), _order(2, 1, True, 99, 1), _order(3, 1, True, 98, 1), _order(4, 2, True, 100, 1)
    book = _book(new_book, a, b, c, d)
    book.remove(b)
    assert (book.best_bid(), book.depth(True, 5)) == (100, [(100, 2), (98, 1)])
    book.remove(a)
    assert (book.best_bid(), book.depth(True, 5)) == (100, [(100, 1), (98, 1)])
    book.remove(d)
    assert (book.best_bid(), book.depth(True, 5), _match(book, False, 90, 5)) == (98, [(98, 1)], (4, [(3, 1, 98)], []))


# ------------------------------------------------------------------------------------- match (ORD-001/030/033)


@BOOKS
def test_using_up_a_slice_exactly_leaves_the_next_orders_alone(new_book: NewBook) -> None:
    """ORD-030 / ORD-033: a buy of exactly the first ask's 5 at 100 leaves the own ask, the next and the hidden."""
    book = _book(new_book, _order(1, 1, False, 100, 5), _order(2, 9, False, 100, 3), _order(3, 2, False, 100, 4),
                 _order(4, 3, False, 100, 6, display=0))
    assert _match(book, True, 100, 5) == (0, [(1, 5, 100)], [])
    assert _state(book) == [(2, 100, 3, 3), (3, 100, 4, 4), (4, 100, 6, 0)]


@BOOKS
def test_using_up_the_displayed_orders_exactly_leaves_the_hidden_ones_alone(new_book: NewBook) -> None:
    """ORD-030 / ORD-033: 5 displayed then an own hidden 2 and a hidden 6: a buy of 5 trades only the 5."""
    book = _book(new_book, _order(1, 1, False, 100, 5), _order(2, 9, False, 100, 2, display=0),
                 _order(3, 2, False, 100, 6, display=0))
    assert _match(book, True, 100, 5) == (0, [(1, 5, 100)], [])
    assert _state(book) == [(2, 100, 2, 0), (3, 100, 6, 0)]


@BOOKS
def test_an_iceberg_refreshes_behind_later_orders_and_a_hidden_order_fills_exactly(new_book: NewBook) -> None:
    """ORD-030: iceberg 7 showing 3, then 2, then hidden 4; a buy of 13 trades 3, 2, 3, 1, then all 4 hidden."""
    book = _book(new_book, _order(1, 1, False, 100, 7, display=3), _order(2, 2, False, 100, 2),
                 _order(3, 3, False, 100, 4, display=0), _order(4, 3, False, 101, 1))
    assert _match(book, True, 100, 13) == (0, [(1, 3, 100), (2, 2, 100), (1, 3, 100), (1, 1, 100), (3, 4, 100)], [])
    assert (_state(book), book.best_ask()) == ([(4, 101, 1, 1)], 101)


@BOOKS
def test_a_hidden_order_partly_filled_stays_with_the_rest(new_book: NewBook) -> None:
    """ORD-030: a buy of 3 against a hidden 4 leaves it 1 open; a buy of 2 at 101 takes it and 1 at 101."""
    book = _book(new_book, _order(1, 1, False, 100, 4, display=0), _order(2, 2, False, 101, 5))
    assert _match(book, True, 100, 3) == (0, [(1, 3, 100)], [])
    assert _state(book) == [(1, 100, 1, 0), (2, 101, 5, 5)]
    assert _match(book, True, 101, 2) == (0, [(1, 1, 100), (2, 1, 101)], [])
    assert _state(book) == [(2, 101, 4, 4)]


@BOOKS
def test_one_lot_left_for_the_hidden_queue(new_book: NewBook) -> None:
    """ORD-030: 2 displayed then a hidden 4 at 100: a buy of 3 takes the 2, then 1 of the hidden; then a buy of 1."""
    book = _book(new_book, _order(1, 1, False, 100, 2), _order(2, 2, False, 100, 4, display=0))
    assert _match(book, True, 100, 3) == (0, [(1, 2, 100), (2, 1, 100)], [])
    assert _match(book, True, 100, 1) == (0, [(2, 1, 100)], [])
    assert _state(book) == [(2, 100, 2, 0)]


@BOOKS
def test_a_taker_stops_at_its_limit_price(new_book: NewBook) -> None:
    """ORD-001: asks at 100 and 101: a buy of 10 limited at 100 trades 2 and leaves 8; a sell side the same."""
    book = _book(new_book, _order(1, 1, False, 100, 2), _order(2, 1, False, 101, 3),
                 _order(3, 2, True, 99, 2), _order(4, 2, True, 98, 3))
    assert _match(book, True, 100, 10) == (8, [(1, 2, 100)], [])
    assert _match(book, False, 99, 10) == (8, [(3, 2, 99)], [])
    assert (book.best_ask(), book.best_bid()) == (101, 98)


@BOOKS
def test_self_trade_then_the_level_used_up_leaves_no_level(new_book: NewBook) -> None:
    """ORD-033: the own ask is cancelled, the other 5 are bought whole: the level at 100 is gone, 101 is best."""
    book = _book(new_book, _order(1, 9, False, 100, 3), _order(2, 2, False, 100, 5), _order(3, 3, False, 101, 2))
    assert _match(book, True, 100, 5) == (0, [(2, 5, 100)], [1])
    assert (_state(book), book.best_ask(), book.depth(False, 5)) == ([(3, 101, 2, 2)], 101, [(101, 2)])
    assert _match(book, True, 101, 3) == (1, [(3, 2, 101)], [])
    assert (_state(book), book.best_ask()) == ([], None)


@BOOKS
def test_self_trade_in_the_hidden_queue(new_book: NewBook) -> None:
    """ORD-033: the taker's own hidden ask is cancelled when reached and matching goes on to the next hidden one."""
    book = _book(new_book, _order(1, 9, False, 100, 3, display=0), _order(2, 2, False, 100, 4, display=0))
    assert _match(book, True, 100, 2) == (0, [(2, 2, 100)], [1])
    assert _state(book) == [(2, 100, 2, 0)]
    assert book.best_ask() == 100


# ------------------------------------------------------------------------------------- the guard (LIQ-044, ORD-011)


def _granting(most: dict[int, int]) -> Guard:
    """Grant each maker (by order id) at most the given quantity, -1 to halt; others in full."""
    return lambda maker, wanted: min(wanted, most[maker.order_id]) if maker.order_id in most else wanted


@pytest.mark.parametrize("hidden", [False, True], ids=["displayed", "hidden"])
@BOOKS
def test_a_halt_leaves_the_quantity_and_the_book(new_book: NewBook, hidden: bool) -> None:
    """LIQ-044 as the book sees it: a halt at the second maker returns what is left (7 of 10) and trades no more."""
    display = 0 if hidden else None
    book = _book(new_book, _order(1, 1, False, 100, 3, display), _order(2, 2, False, 100, 4, display),
                 _order(3, 3, False, 100, 5, display))
    assert _match(book, True, 100, 10, guard=_granting({2: -1})) == (7, [(1, 3, 100)], [])
    assert _state(book) == [(2, 100, 4, 0 if hidden else 4), (3, 100, 5, 0 if hidden else 5)]


@pytest.mark.parametrize("hidden", [False, True], ids=["displayed", "hidden"])
@BOOKS
def test_a_maker_granted_nothing_or_one_lot_leaves_the_book(new_book: NewBook, hidden: bool) -> None:
    """ORD-011 / LIQ-044: maker 1 granted 0 leaves unfilled, maker 2 granted 1 (of 4) trades 1 and leaves."""
    display = 0 if hidden else None
    book = _book(new_book, _order(1, 1, False, 100, 3, display), _order(2, 2, False, 100, 4, display),
                 _order(3, 3, False, 100, 5, display))
    assert _match(book, True, 100, 6, guard=_granting({1: 0, 2: 1})) == (0, [(2, 1, 100), (3, 5, 100)], [1, 2])
    assert _state(book) == []
    assert book.best_ask() is None


@pytest.mark.parametrize("hidden", [False, True], ids=["displayed", "hidden"])
@BOOKS
def test_a_maker_granted_exactly_what_is_wanted_stays(new_book: NewBook, hidden: bool) -> None:
    """LIQ-044: a grant equal to the wanted quantity is a normal fill: maker 1 keeps its remaining 2 in the book."""
    display = 0 if hidden else None
    book = _book(new_book, _order(1, 1, False, 100, 5, display), _order(2, 2, False, 100, 4, display))
    assert _match(book, True, 100, 3, guard=_granting({1: 3})) == (0, [(1, 3, 100)], [])
    assert _state(book) == [(1, 100, 2, 0 if hidden else 2), (2, 100, 4, 0 if hidden else 4)]


# ------------------------------------------------------------------------------------- the makers' traded value


@pytest.mark.parametrize("hidden", [False, True], ids=["displayed", "hidden"])
@BOOKS
def test_each_maker_records_its_traded_value(new_book: NewBook, hidden: bool) -> None:
    """ORD-001: each maker's cum_qty / cum_value (avgPx's Σ qty × price) after a sweep over two levels.

    Maker 1 (3 at 100) fills whole, maker 2 (4 at 100) is granted 1 and leaves (ORD-011), maker 3 (5 at 101)
    fills whole and maker 4 (6 at 101) is filled 2: a buy of 11 up to 101.
    """
    display = 0 if hidden else None
    makers = [_order(1, 1, False, 100, 3, display), _order(2, 2, False, 100, 4, display),
              _order(3, 3, False, 101, 5, display), _order(4, 3, False, 101, 6, display)]
    book = _book(new_book, *makers)
    assert _match(book, True, 101, 11, guard=_granting({2: 1})) == (
        0, [(1, 3, 100), (2, 1, 100), (3, 5, 101), (4, 2, 101)], [2])
    assert [(o.order_id, o.leaves_qty, o.cum_qty, o.cum_value) for o in makers] == [
        (1, 0, 3, 300), (2, 3, 1, 100), (3, 0, 5, 505), (4, 4, 2, 202)]


@BOOKS
def test_an_iceberg_records_the_value_of_every_slice(new_book: NewBook) -> None:
    """ORD-030: an iceberg of 7 showing 3 at 100 bought 5: two slices, cum_qty 5, cum_value 500."""
    ice = _order(1, 1, False, 100, 7, display=3)
    book = _book(new_book, ice)
    assert _match(book, True, 100, 5) == (0, [(1, 3, 100), (1, 2, 100)], [])
    assert (ice.leaves_qty, ice.shown_qty, ice.cum_qty, ice.cum_value) == (2, 1, 5, 500)
