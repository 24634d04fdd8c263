"""Triggers: the untriggered conditional orders (stops, if-touched, trailing stops) and when they fire.

:class:`Triggers` owns ``conditional`` (per contract, the untriggered orders by
order id).  :func:`is_due` is the trigger condition (stop:
the watched price reaches ``stopPx`` against the order; if-touched: toward
it; ``LastWithinMark``: only while the last price is within 5% of mark);
:meth:`Triggers.trail` moves a trailing stop.  :meth:`Triggers.run` fires the
due orders through a callback, so order entry (which enters a fired order
into the book) stays the only component that trades.

Which orders are due is read from :class:`StopIndex`, the pool sorted by stop
price per watched price and direction (not state: rebuilt from the pool
whenever the pool changed in a way it did not see), so a pass costs the due
orders, not the pool: a cascade of N last-price stops, one firing per pass, is
O(N log N) and not N passes over N orders (session 12, red-team find_3).
Trailing stops are the exception: a pass may move every one of them, so each
pass still judges and trails them one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heapify, heappop, heappush
from operator import attrgetter, is_

from perpspec.engine.core import orders as o
from perpspec.engine.core.market import Market
from perpspec.engine.core.orders import Order
from perpspec.rules.instrument import Instrument

LAST_WITHIN_MARK_PPM = 50_000  # 5%: LastWithinMark band
SLACK_ENTRIES = 64  # StopIndex: stale heap entries tolerated beyond the pool's size before a rebuild

# a heap entry: (sort key, order id, token, order); the token names the order's latest indexing, so an entry
# left behind (an order indexed again) is told from the live one; keys and ids decide the order (tokens are
# unique), an Order is never compared
Entry = tuple[int, int, int, Order]


class Triggers:
    """The untriggered conditional orders of every contract."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.conditional: dict[str, dict[int, Order]] = {symbol: {} for symbol in market.books}  # untriggered
        self.by_stop: dict[str, StopIndex] = {}  # not state: per contract, the pool sorted by stop price (run)

    def trail(self, order: Order) -> None:
        """TrailingStopPeg: stopPx follows the trigger price away from the stop, never toward it."""
        price = self.market.trigger_price(order.symbol, order.trigger_source)
        if price == 0:
            return
        candidate = price + order.peg_offset
        if (order.is_buy and candidate < order.stop_px and candidate > 0) or (not order.is_buy and candidate > order.stop_px):
            order.stop_px = candidate

    def run(self, inst: Instrument, fire: Callable[[Instrument, Order], None]) -> None:
        """Fire every due conditional order of ``inst`` in order-id order; repeat while trades move the last price.

        ``fire`` enters a fired order (it is no longer conditional when called).
        Each pass reads the three prices once (nothing changes them while the
        pass decides which orders are due), takes every order :func:`is_due`
        judges due at them, moves the trailing stops that are not due
        (:meth:`trail`), then fires the due orders in order-id order (one an
        earlier fire took out of the pool is skipped); a pass with nothing due
        ends the run.  The due orders with a fixed stop price are read from the
        contract's :class:`StopIndex` (first brought in line with the pool:
        orders placed, cancelled, amended since the last run), the trailing
        stops are judged one by one as before.  A fire
        only takes orders out of the pool (it enters one order: fills, cancels);
        the index drops those when it meets them, and a pool a fire added to
        anyway (a larger pool or a newer last order id) is read again whole
        before the next pass.
        """
        pool = self.conditional[inst.symbol]
        if not pool:
            return
        symbol = inst.symbol
        market = self.market
        index = self.by_stop.get(symbol)
        if index is None or index.pool is not pool:
            index = self.by_stop[symbol] = StopIndex(pool)
        index.sync()
        index.synced = False  # until this run ends (a failure inside a fire leaves it to be rebuilt)
        changed = False
        for _ in range(len(pool) + 1):
            if not pool:
                break
            mark = market.marks.get(symbol, 0)
            last = market.last_prices.get(symbol, 0)
            index_price = market.index_prices.get(symbol, 0)
            due, moved = index.take_due(self, mark, last, index_price)
            if moved:
                changed = True
            if not due:
                break
            changed = True
            placed = False
            for order in due:
                if order.order_id not in pool:
                    continue
                del pool[order.order_id]
                size = len(pool)
                newest = next(reversed(pool.keys())) if pool else -1
                fire(inst, order)
                if len(pool) > size or (pool and next(reversed(pool.keys())) > newest):
                    placed = True
            if placed:  # not expected: a fire placed a conditional order; read the pool again
                index.rebuild()
                index.synced = False
        if changed:
            index.settle()
        else:
            index.synced = True


_STOP_PX = attrgetter("stop_px")
_SOURCES = 3  # mark, last, index: a stop heap per (source, LastWithinMark, direction)


def _source_slot(source: str) -> int:
    """The heap group of a trigger source, read as :meth:`Market.trigger_price` reads it (anything else: mark)."""
    if source == o.LAST_PRICE:
        return 1
    if source == o.INDEX_PRICE:
        return 2
    return 0


def _fires_rising(order: Order) -> bool:
    """Due once the watched price is at or above stopPx (a buy stop, a sell if-touched); else at or below."""
    toward = order.ord_type in (o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED)
    return order.is_buy != toward


class StopIndex:
    """One contract's untriggered orders sorted by when they fire; not state, it mirrors the pool.

    Stop heap ``4 * source + 2 * LastWithinMark + rising`` holds the orders with
    a fixed stop price: a rising heap keyed by stopPx (due while the key is <=
    the price), a falling one by -stopPx (due while the key is <= -price).  An
    entry is live while its token is the order's latest and the pool still holds
    that order; the rest are dropped when met.  Trailing stops are kept apart in
    ``pegged`` and judged one by one on every pass (each pass may move every one
    of them: the rule itself costs them per pass).  :meth:`sync` compares the
    pool with what the index last saw (its orders by identity, their stop
    prices) and adds appended orders or rebuilds.
    """

    def __init__(self, pool: dict[int, Order]) -> None:
        self.pool = pool
        self.stop_heaps: list[list[Entry]] = [[] for _ in range(4 * _SOURCES)]
        self.tokens: dict[int, int] = {}  # order id -> token of its live entry
        self.next_token = 0
        self.entries = 0  # entries in the heaps, live or not
        self.orders: list[Order] = []  # the pool's orders and their stop prices as last seen
        self.stops: list[int] = []
        self.pegged: list[Order] = []  # the trailing stops, in order-id order (some may have left the pool)
        self.synced = False

    def sync(self) -> None:
        """Bring the index in line with the pool: nothing changed, orders appended, or else a rebuild.

        The pool is read as a list of orders (by identity: a replaced order is a change) and their stop prices.
        """
        pool = self.pool
        seen = len(self.orders)
        size = len(pool)
        if self.synced and self.entries <= 2 * size + SLACK_ENTRIES:
            if size == seen:
                if all(map(is_, pool.values(), self.orders)) and list(map(_STOP_PX, pool.values())) == self.stops:
                    return
            elif size > seen:
                orders = list(pool.values())
                stops = list(map(_STOP_PX, orders))
                if orders[:seen] == self.orders and stops[:seen] == self.stops:
                    for key, order in zip(list(pool)[seen:], orders[seen:], strict=True):
                        self.add(key, order)
                    self.orders = orders
                    self.stops = stops
                    return
        self.rebuild()

    def rebuild(self) -> None:
        """Index every order of the pool afresh (stale entries gone)."""
        for heap in self.stop_heaps:
            heap.clear()
        self.tokens = {}
        self.entries = 0
        self.pegged = []
        pool = self.pool
        for key, order in pool.items():
            self.add(key, order, list.append)
        for heap in self.stop_heaps:
            heapify(heap)
        self.orders = list(pool.values())
        self.stops = list(map(_STOP_PX, self.orders))
        self.synced = True

    def settle(self) -> None:
        """A run ended having fired orders or moved trailing stops: remember the pool as it is now."""
        pool = self.pool
        self.orders = list(pool.values())
        self.stops = list(map(_STOP_PX, self.orders))
        self.pegged = [order for order in self.pegged if pool.get(order.order_id) is order]
        self.synced = True

    def add(self, key: int, order: Order, push: Callable[[list[Entry], Entry], None] = heappush) -> None:
        """Index ``order`` (pool key ``key``): a trailing stop joins ``pegged``, any other its stop heap.

        ``push``: how an entry goes into its heap (a rebuild appends, then heapifies).
        """
        if order.ord_type == o.PEGGED:
            self.pegged.append(order)
            return
        token = self.next_token
        self.next_token += 1
        self.tokens[key] = token
        rising = _fires_rising(order)
        heap = self.stop_heaps[4 * _source_slot(order.trigger_source) + 2 * int(order.last_within_mark) + int(rising)]
        push(heap, (order.stop_px if rising else -order.stop_px, key, token, order))
        self.entries += 1

    def is_live(self, entry: Entry) -> bool:
        """The entry is the order's latest and the pool still holds that order."""
        key = entry[1]
        return self.tokens.get(key) == entry[2] and self.pool.get(key) is entry[3]

    def take_due(self, triggers: Triggers, mark: int, last: int, index: int) -> tuple[list[Order], bool]:
        """Every order :func:`is_due` judges due at these prices, out of the index, in order-id order; and the
        trailing stops that are not due moved (:meth:`Triggers.trail`).  Also: whether a trailing stop moved."""
        due: list[tuple[int, Order]] = []
        for slot, price in enumerate((mark, last, index)):
            if price == 0:  # no price yet: nothing watching it is due
                continue
            in_band = abs(price - mark) * 1_000_000 <= mark * LAST_WITHIN_MARK_PPM
            for within in (0, 1):
                if within and not in_band:
                    continue
                base = 4 * slot + 2 * within
                self.pop_below(self.stop_heaps[base + 1], price, due)  # rising: stopPx <= price
                self.pop_below(self.stop_heaps[base], -price, due)  # falling: -stopPx <= -price
        moved = False
        pool = self.pool
        for order in self.pegged:
            if pool.get(order.order_id) is not order:
                continue
            source = order.trigger_source
            price = last if source == o.LAST_PRICE else index if source == o.INDEX_PRICE else mark
            if is_due(order, price, mark):
                due.append((order.order_id, order))
            else:
                before = order.stop_px
                triggers.trail(order)
                moved = moved or order.stop_px != before
        due.sort()  # by order id (unique: an order is taken once)
        return [pair[1] for pair in due], moved

    def pop_below(self, heap: list[Entry], bound: int, due: list[tuple[int, Order]]) -> None:
        """Pop every entry keyed <= ``bound``; the live ones go to ``due``."""
        while heap and heap[0][0] <= bound:
            entry = heappop(heap)
            self.entries -= 1
            if self.is_live(entry):
                due.append((entry[1], entry[3]))


def is_due(order: Order, price: int, mark: int) -> bool:
    """The trigger condition at ``price`` (the order's trigger source) and ``mark``: stop against, if-touched toward.

    ``LastWithinMark``: only while the price is within 5% of the mark; 0 (no price yet) never triggers.
    """
    if price == 0:
        return False
    if order.last_within_mark and abs(price - mark) * 1_000_000 > mark * LAST_WITHIN_MARK_PPM:
        return False
    if order.ord_type in (o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED):
        return price <= order.stop_px if order.is_buy else price >= order.stop_px
    return price >= order.stop_px if order.is_buy else price <= order.stop_px
