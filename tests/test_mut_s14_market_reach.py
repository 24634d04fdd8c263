"""Session 13's market reach (``entry_terms._reach_level``) measured by mutants (session 14, helper "mut14").

Found by ``python -m tests.mutation engine/core/entry_terms.py``: the reach of a market order (MRG-060's charge
price) walks a level in queue order and stops at the order that covers what is still needed (red team 5,
redteam5_4: summing the whole level first made K market orders into a level of N orders cost K x N in one
command).  ``leaves >= need`` -> ``leaves > need`` gave the same figure but walked on past an order covering the
need *exactly*, to the next one (or, behind it, a whole level of the account's own or ReduceOnly orders).

Rules: MRG-060 (a market order is charged at the worst price its sweep reaches); the cost bound of redteam5_4.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from perpspec.engine.core import exchange
from perpspec.engine.core.book import Book
from perpspec.engine.core.entry_terms import compute_market_reach
from perpspec.engine.core.orders import Order

COMPILED = not exchange.__file__.endswith(".py")


class CountingDeque(deque[Order]):
    """A level queue that counts the entries read from it."""

    walked = 0

    def __iter__(self) -> Iterator[Order]:
        for order in super().__iter__():
            CountingDeque.walked += 1
            yield order


def test_the_reach_stops_at_an_order_covering_the_need_exactly() -> None:
    """Kills ``if leaves >= need`` -> ``if leaves > need`` in ``_reach_level`` (engine/core/entry_terms.py).

    A bid level of 300 orders of 100 contracts each: a market sell of 100 is covered by the first order, exactly;
    the reach reads that one entry and no other.  A sell of 150 needs the second one too (two entries)."""
    if COMPILED:
        return  # a compiled reader's walk cannot be counted from here
    book = Book("T")
    for order_id in range(300):
        book.add(Order(order_id=order_id, account=1, symbol="T", is_buy=True, price=100, order_qty=100))
    level = book.bids[100]
    level.shown = CountingDeque(level.shown)
    for qty, walked in ((100, 1), (150, 2), (200, 2)):
        CountingDeque.walked = 0
        assert compute_market_reach(book, False, qty, 0, 9) == 100
        assert CountingDeque.walked == walked, qty
