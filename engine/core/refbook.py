"""The naive reference book: the matching rules written as plainly as possible.

Every live order sits in one list with an explicit priority key::

    bids: (-price, hidden, queue_seq)      asks: (price, hidden, queue_seq)

where ``hidden`` is 1 for ``displayQty = 0`` orders and ``queue_seq`` is a
counter drawn each time an order joins the back of a queue (entry, a
priority-losing amend, an iceberg refresh).  Matching repeatedly takes the
smallest key among the orders that cross.  Nothing is incremental, so there
is little to get wrong; :mod:`engine.core.book` must behave identically (checked
by ``tests/test_book_differential.py``).  It offers the same methods as
:class:`engine.book.Book`.
"""

from __future__ import annotations

from perpspec.engine.core.book import Fill, Guard
from perpspec.engine.core.orders import Order


class RefBook:
    """Obviously-correct price-time priority book (slow: O(n) per step)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.orders: list[Order] = []
        self.queue_seq: dict[int, int] = {}  # order_id -> position in its queue
        self.next_seq = 0

    def _key(self, order: Order) -> tuple[int, int, int]:
        price_key = -order.price if order.is_buy else order.price
        return (price_key, 1 if order.display_qty == 0 else 0, self.queue_seq[order.order_id])

    def _enqueue(self, order: Order) -> None:
        self.queue_seq[order.order_id] = self.next_seq
        self.next_seq += 1

    def _side(self, bid_side: bool) -> list[Order]:
        return sorted((o for o in self.orders if o.is_buy == bid_side), key=self._key)

    def best_bid(self) -> int | None:
        bids = self._side(True)
        return bids[0].price if bids else None

    def best_ask(self) -> int | None:
        asks = self._side(False)
        return asks[0].price if asks else None

    def crosses(self, is_buy: bool, price: int) -> bool:
        best = self.best_ask() if is_buy else self.best_bid()
        return best is not None and (best <= price if is_buy else best >= price)

    def depth(self, bid_side: bool, max_levels: int) -> list[tuple[int, int]]:
        totals: dict[int, int] = {}
        for order in self._side(bid_side):
            if order.display_qty != 0:
                totals[order.price] = totals.get(order.price, 0) + order.shown_qty
        prices = sorted(totals, reverse=bid_side)
        return [(price, totals[price]) for price in prices if totals[price] > 0][:max_levels]

    def can_fill(self, is_buy: bool, limit_price: int, qty: int, account: int) -> bool:
        available = sum(
            o.leaves_qty
            for o in self._side(not is_buy)
            if o.account != account and not o.reduce_only and (o.price <= limit_price if is_buy else o.price >= limit_price)
        )
        return available >= qty

    def orders_in_priority(self) -> list[Order]:
        return self._side(True) + self._side(False)

    def add(self, order: Order) -> None:
        order.live = True
        self._enqueue(order)
        self.orders.append(order)

    def remove(self, order: Order) -> None:
        order.live = False
        self.orders.remove(order)
        del self.queue_seq[order.order_id]

    def take_out(self, order: Order) -> Order:
        self.remove(order)
        return order

    def amend(self, order: Order, leaves_qty: int, price: int) -> Order:
        keeps_priority = price == order.price and leaves_qty <= order.leaves_qty
        order.leaves_qty = leaves_qty
        order.price = price
        if keeps_priority:
            order.shown_qty = min(order.shown_qty, leaves_qty)
        else:
            order.reset_shown()
            self._enqueue(order)
        return order

    def match(
        self,
        is_buy: bool,
        limit_price: int,
        qty: int,
        account: int,
        fills: list[Fill],
        self_trades: list[Order],
        guard: Guard | None = None,
    ) -> int:
        while qty > 0:
            crossing = [
                o
                for o in self._side(not is_buy)
                if (o.price <= limit_price if is_buy else o.price >= limit_price)
            ]
            if not crossing:
                break
            maker = crossing[0]
            if maker.account == account:
                self.remove(maker)
                self_trades.append(maker)
                continue
            hidden = maker.display_qty == 0
            available = maker.leaves_qty if hidden else maker.shown_qty
            traded = min(available, qty)
            if guard is not None:
                granted = guard(maker, traded)
                if granted < 0:  # the guard halts the sweep (LIQ-044)
                    break
                if granted < traded:
                    if granted > 0:
                        qty -= granted
                        maker.leaves_qty -= granted
                        maker.cum_qty += granted
                        maker.cum_value += granted * maker.price
                        fills.append((maker, granted, maker.price))
                    self.remove(maker)
                    self_trades.append(maker)
                    continue
            qty -= traded
            maker.leaves_qty -= traded
            maker.cum_qty += traded
            maker.cum_value += traded * maker.price
            if not hidden:
                maker.shown_qty -= traded
            fills.append((maker, traded, maker.price))
            if maker.leaves_qty == 0:
                self.remove(maker)
            elif not hidden and maker.shown_qty == 0:
                maker.reset_shown()
                self._enqueue(maker)  # iceberg refresh: back of the queue
        return qty
