"""The fast order book of one instrument: price levels, FIFO queues, price-time priority.

Layout (after the shared measuring stick, ``bench/ref_engine.py``):

* one dict ``price -> Level`` per side and a sorted list of level keys per
  side, the best level last (bids keyed by price, asks by ``-price``), so the
  best level is popped in O(1) while matching;
* a :class:`Level` holds two FIFO queues: displayed orders (icebergs by their
  displayed slice) and fully hidden orders (``displayQty = 0``), which trade
  after every displayed order at the same price;
* a cancel marks the order dead in O(1) (``live = False``); dead entries are
  dropped when they reach a queue head, and a cancel that leaves a level with
  more dead entries than live orders compacts it (:meth:`Level.compact`,
  amortised O(1) per cancel): its dead entries never outnumber the live
  orders it held at its last cancel, so place/cancel churn cannot grow it.  A level disappears when its last live
  order leaves.

Matching rules (the engine's decisions, listed in the README):

* fills are at the resting (maker) order's price, best price first, and at one
  price displayed orders first in time order, then hidden orders in time order;
* an iceberg trades its displayed slice; when the slice is used up a new slice
  is displayed at the back of the queue (it loses time priority);
* self-trade prevention: a resting order of the taker's own account is
  cancelled when the taker reaches it ("cancel resting"), and matching goes on;
* amend: reducing the quantity keeps priority; raising it or changing the
  price sends the order to the back of the queue at its (new) price (its old
  entry is left dead, as a cancel leaves it, and a copy of the order takes
  its place in the engine: :meth:`Book.take_out`).

The same behaviour is written naively in :mod:`engine.core.refbook`; a Hypothesis
differential test compares the two by state hash.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable

from perpspec.engine.core.compiled import mypyc_attr
from perpspec.engine.core.orders import Order

# (maker order, quantity, price): one execution against a resting order
Fill = tuple[Order, int, int]
# guard(maker, wanted) -> granted <= wanted: how much a maker may trade (ReduceOnly room, LIQ-044 solvency);
# granted < 0 halts the sweep (the incoming order's own fill would be unsafe)
Guard = Callable[[Order, int], int]


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class Level:
    """One price level of one side."""

    __slots__ = ("hidden", "live", "price", "shown")

    def __init__(self, price: int) -> None:
        self.price = price
        self.shown: deque[Order] = deque()  # displayed orders (and iceberg slices), FIFO
        self.hidden: deque[Order] = deque()  # displayQty = 0, FIFO, after the displayed ones
        self.live = 0  # live orders in either queue

    def compact(self) -> None:
        """Drop the dead (cancelled) entries from both queues; the live orders keep their queue order.

        New deque objects: a reader iterating the old ones is not disturbed.  Without this, place/cancel churn
        behind an order resting at the head grew the level (memory, snapshots and every reader walking it:
        FillOrKill, depth, market reach, close-outs) without bound (red team 5, redteam5_2).
        """
        self.shown = deque([order for order in self.shown if order.live])
        self.hidden = deque([order for order in self.hidden if order.live])


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class Book:
    """Price-time priority book for one symbol (integer prices, quantities in contracts)."""

    __slots__ = ("ask_keys", "asks", "bid_keys", "bids", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_keys: list[int] = []  # prices ascending: best bid last
        self.ask_keys: list[int] = []  # -prices ascending: best ask last

    # ----------------------------------------------------------------- queries
    def best_bid(self) -> int | None:
        """Highest bid price (displayed or hidden), or None."""
        keys = self.bid_keys
        return keys[-1] if keys else None

    def best_ask(self) -> int | None:
        """Lowest ask price (displayed or hidden), or None."""
        keys = self.ask_keys
        return -keys[-1] if keys else None

    def crosses(self, is_buy: bool, price: int) -> bool:
        """True when an order at ``price`` would trade on entry."""
        if is_buy:
            keys = self.ask_keys
            return bool(keys) and -keys[-1] <= price
        keys = self.bid_keys
        return bool(keys) and keys[-1] >= price

    def depth(self, bid_side: bool, max_levels: int) -> list[tuple[int, int]]:
        """L2: up to ``max_levels`` displayed ``(price, qty)`` levels, best first (hidden qty excluded)."""
        levels = self.bids if bid_side else self.asks
        keys = self.bid_keys if bid_side else self.ask_keys
        out: list[tuple[int, int]] = []
        index = len(keys) - 1
        while index >= 0 and len(out) < max_levels:
            key = keys[index]
            level = levels[key if bid_side else -key]
            qty = 0
            for order in level.shown:
                if order.live:
                    qty += order.shown_qty
            if qty > 0:
                out.append((level.price, qty))
            index -= 1
        return out

    def shows_at_least(self, bid_side: bool, qty: int) -> bool:
        """True when the best level showing a displayed quantity shows ``qty`` or more (``qty`` <= 0: always).

        ``depth(bid_side, 1)``'s size ``>= qty`` (0 on an empty side), walking the level only until ``qty`` is
        reached: the fat-finger band's test (a limit order far through the book may not be larger than it).
        """
        if qty <= 0:
            return True
        levels = self.bids if bid_side else self.asks
        keys = self.bid_keys if bid_side else self.ask_keys
        index = len(keys) - 1
        while index >= 0:
            key = keys[index]
            shown = 0
            for order in levels[key if bid_side else -key].shown:
                if order.live:
                    shown += order.shown_qty
                    if shown >= qty:
                        return True
            if shown > 0:
                return False
            index -= 1
        return False

    def can_fill(self, is_buy: bool, limit_price: int, qty: int, account: int) -> bool:
        """True when ``qty`` can trade up to ``limit_price`` against other accounts' orders (FillOrKill).

        ReduceOnly makers are not counted (whether they may trade depends on
        their positions during the sweep): a FillOrKill that would need them is
        killed, never partly filled.
        """
        levels = self.asks if is_buy else self.bids
        keys = self.ask_keys if is_buy else self.bid_keys
        need = qty
        index = len(keys) - 1
        while index >= 0:
            price = -keys[index] if is_buy else keys[index]
            if (price > limit_price) if is_buy else (price < limit_price):
                return False
            level = levels[price]
            for queue in (level.shown, level.hidden):
                for order in queue:
                    if order.live and order.account != account and not order.reduce_only:
                        need -= order.leaves_qty
                        if need <= 0:
                            return True
            index -= 1
        return False

    def orders_in_priority(self) -> list[Order]:
        """Every live order, bids best first then asks best first, in matching priority."""
        out: list[Order] = []
        for bid_side in (True, False):
            levels = self.bids if bid_side else self.asks
            keys = self.bid_keys if bid_side else self.ask_keys
            for key in reversed(keys):
                level = levels[key if bid_side else -key]
                out.extend(order for order in level.shown if order.live)
                out.extend(order for order in level.hidden if order.live)
        return out

    # -------------------------------------------------------------- mutations
    def add(self, order: Order) -> None:
        """Rest ``order`` at the back of its price level (the caller has matched it already)."""
        price = order.price
        if order.is_buy:
            level = self.bids.get(price)
            if level is None:
                level = Level(price)
                self.bids[price] = level
                insort(self.bid_keys, price)
        else:
            level = self.asks.get(price)
            if level is None:
                level = Level(price)
                self.asks[price] = level
                insort(self.ask_keys, -price)
        order.level = level
        order.live = True
        if order.display_qty == 0:
            level.hidden.append(order)
        else:
            level.shown.append(order)
        level.live += 1

    def remove(self, order: Order) -> None:
        """Take a live order out of the book (cancel); amortised O(1) plus level removal.

        The order stays in its queue marked dead; when the level's dead entries then outnumber its live orders,
        the level is compacted (it drops more entries than it keeps: at most twice the work of the cancels that
        left the dropped entries).  A timer's cancels (a dead man's switch, Day orders expiring) compact the same
        way: they are committed whatever becomes of their command (``registry.OrderRegistry.advance_clock``).
        """
        order.live = False
        level = order.level
        assert isinstance(level, Level)
        order.level = None
        live = level.live - 1
        level.live = live
        if live == 0:
            self._drop_level(order.is_buy, level.price)
        elif len(level.shown) + len(level.hidden) > 2 * live:
            level.compact()

    def take_out(self, order: Order) -> Order:
        """Take a live order out of the book so that it may be added again: the copy that stands for it from now on.

        Its queue entry is left dead (:meth:`remove`: amortised O(1), the level compacted once its dead entries
        outnumber its live orders) rather than taken out of its queue (``deque.remove``: O(the orders ahead of it),
        so K priority-losing amendments of an order deep in a level of N cost K x N; session 14).  An entry is dead
        by its order's ``live`` flag, so the order itself cannot enter a queue again while that entry is there: the
        copy (every field the same, out of the book) is what the caller adds again, and what the engine's indexes
        name from now on (``registry.OrderRegistry.go_live``).
        """
        successor = order.clone()
        self.remove(order)
        successor.live = False
        return successor

    def _drop_level(self, bid_side: bool, price: int) -> None:
        if bid_side:
            del self.bids[price]
            keys = self.bid_keys
            key = price
        else:
            del self.asks[price]
            keys = self.ask_keys
            key = -price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def amend(self, order: Order, leaves_qty: int, price: int) -> Order:
        """Change a resting order's open quantity and/or price (the new price must not cross); the order that
        stands for it afterwards.

        Quantity down at the same price keeps time priority (the same order,
        changed in place); anything else requeues it at the back of its new
        level: the copy :meth:`take_out` makes, added there.
        """
        if price == order.price and leaves_qty <= order.leaves_qty:
            order.leaves_qty = leaves_qty
            if order.shown_qty > leaves_qty:
                order.shown_qty = leaves_qty
            return order
        successor = self.take_out(order)
        successor.price = price
        successor.leaves_qty = leaves_qty
        successor.reset_shown()
        self.add(successor)
        return successor

    def dry_match(
        self, is_buy: bool, limit_price: int, qty: int, account: int, fills: list[Fill], guard: Guard | None
    ) -> int:
        """What :meth:`match` would leave of ``qty`` (``< 0``: the guard would halt it), changing nothing.

        A FillOrKill's decision (ORD: all or nothing).  It mirrors :meth:`match`: the same queue order, an
        iceberg's next slice at the back of its level, own orders skipped, and ``guard`` asked for every maker
        with the would-be fills before it appended to ``fills``; the queues and each maker's open and shown
        quantities are copies.
        """
        levels = self.asks if is_buy else self.bids
        keys = self.ask_keys if is_buy else self.bid_keys
        index = len(keys) - 1
        while qty > 0 and index >= 0:
            price = -keys[index] if is_buy else keys[index]
            if (price > limit_price) if is_buy else (price < limit_price):
                break
            qty = self._dry_level(levels[price], qty, account, fills, guard)
            if qty < 0:
                return qty
            index -= 1
        return qty

    @staticmethod
    def _dry_level(level: Level, qty: int, account: int, fills: list[Fill], guard: Guard | None) -> int:
        """:meth:`_match_level` on copies: the quantity left (``< 0``: halted)."""
        price = level.price
        leaves: dict[int, int] = {}
        shown_left: dict[int, int] = {}
        # the level's queue read in place (a copy cost the whole level when its first maker covers ``qty``), then
        # the icebergs' next slices in the order they were shown
        queue = iter(level.shown)
        requeued: deque[Order] = deque()
        while qty > 0:
            maker = next(queue, None)
            if maker is None:
                if not requeued:
                    break
                maker = requeued.popleft()
            if not maker.live or maker.account == account:
                continue
            slice_qty = shown_left.get(maker.order_id, maker.shown_qty)
            wanted = slice_qty if slice_qty < qty else qty
            granted = wanted if guard is None else guard(maker, wanted)
            if granted < 0:
                return -1 - qty
            if granted < wanted:
                if granted > 0:
                    fills.append((maker, granted, price))
                    qty -= granted
                continue
            if slice_qty > qty:
                fills.append((maker, qty, price))
                return 0
            qty -= slice_qty
            fills.append((maker, slice_qty, price))
            left = leaves.get(maker.order_id, maker.leaves_qty) - slice_qty
            leaves[maker.order_id] = left
            if left > 0:
                display = maker.display_qty
                shown_left[maker.order_id] = left if display is None else min(display, left)
                requeued.append(maker)
        for maker in level.hidden:
            if qty <= 0:
                break
            if not maker.live or maker.account == account:
                continue
            open_qty = maker.leaves_qty
            wanted = open_qty if open_qty < qty else qty
            granted = wanted if guard is None else guard(maker, wanted)
            if granted < 0:
                return -1 - qty
            if granted < wanted:
                if granted > 0:
                    fills.append((maker, granted, price))
                    qty -= granted
                continue
            fills.append((maker, wanted, price))
            qty -= wanted
        return qty

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
        """Trade up to ``qty`` against the opposite side up to ``limit_price``; returns the quantity left.

        Appends ``(maker, qty, price)`` to ``fills`` and resting orders taken
        out without (fully) trading to ``self_trades``: own orders (self-trade
        prevention) and makers that ``guard`` grants less than the
        fill would need (they trade what is granted, then leave the book).
        Makers' ``leaves_qty``/``cum_qty`` are updated and filled makers leave
        the book.
        """
        if is_buy:
            levels = self.asks
            keys = self.ask_keys
        else:
            levels = self.bids
            keys = self.bid_keys
        while qty > 0 and keys:
            key = keys[-1]
            price = -key if is_buy else key
            if (price > limit_price) if is_buy else (price < limit_price):
                break
            level = levels[price]
            qty = self._match_level(level, qty, account, fills, self_trades, guard)
            if level.live == 0:
                del levels[price]
                keys.pop()
            if qty < 0:  # the guard halted the sweep (LIQ-044: the incoming order's own fill is unsafe)
                return -1 - qty
        return qty

    def _match_level(
        self,
        level: Level,
        qty: int,
        account: int,
        fills: list[Fill],
        self_trades: list[Order],
        guard: Guard | None,
    ) -> int:
        price = level.price
        shown = level.shown
        while qty > 0 and shown:
            maker = shown[0]
            if not maker.live:
                shown.popleft()
                continue
            if maker.account == account:
                shown.popleft()
                maker.live = False
                maker.level = None
                level.live -= 1
                self_trades.append(maker)
                continue
            slice_qty = maker.shown_qty
            if guard is not None:
                wanted = slice_qty if slice_qty < qty else qty
                granted = guard(maker, wanted)
                if granted < 0:
                    return -1 - qty
                if granted < wanted:
                    qty -= self._trade_and_drop(maker, granted, price, fills, self_trades)
                    shown.popleft()
                    level.live -= 1
                    continue
            if slice_qty > qty:
                maker.shown_qty = slice_qty - qty
                maker.leaves_qty -= qty
                maker.cum_qty += qty
                maker.cum_value += qty * price
                fills.append((maker, qty, price))
                return 0
            qty -= slice_qty
            maker.leaves_qty -= slice_qty
            maker.cum_qty += slice_qty
            maker.cum_value += slice_qty * price
            fills.append((maker, slice_qty, price))
            shown.popleft()
            if maker.leaves_qty > 0:
                maker.reset_shown()  # iceberg refresh: a new slice at the back of the queue
                shown.append(maker)
            else:
                maker.live = False
                maker.level = None
                level.live -= 1
        hidden = level.hidden
        while qty > 0 and hidden:
            maker = hidden[0]
            if not maker.live:
                hidden.popleft()
                continue
            if maker.account == account:
                hidden.popleft()
                maker.live = False
                maker.level = None
                level.live -= 1
                self_trades.append(maker)
                continue
            leaves = maker.leaves_qty
            if guard is not None:
                wanted = leaves if leaves < qty else qty
                granted = guard(maker, wanted)
                if granted < 0:
                    return -1 - qty
                if granted < wanted:
                    qty -= self._trade_and_drop(maker, granted, price, fills, self_trades)
                    hidden.popleft()
                    level.live -= 1
                    continue
            if leaves > qty:
                maker.leaves_qty = leaves - qty
                maker.cum_qty += qty
                maker.cum_value += qty * price
                fills.append((maker, qty, price))
                return 0
            qty -= leaves
            maker.leaves_qty = 0
            maker.cum_qty += leaves
            maker.cum_value += leaves * price
            fills.append((maker, leaves, price))
            hidden.popleft()
            maker.live = False
            maker.level = None
            level.live -= 1
        return qty

    @staticmethod
    def _trade_and_drop(maker: Order, qty: int, price: int, fills: list[Fill], dropped: list[Order]) -> int:
        """A ReduceOnly maker trades what it may (``qty``, possibly 0) and leaves the book."""
        if qty > 0:
            maker.leaves_qty -= qty
            maker.cum_qty += qty
            maker.cum_value += qty * price
            fills.append((maker, qty, price))
        maker.live = False
        maker.level = None
        dropped.append(maker)
        return qty


def book_state(orders: list[Order]) -> tuple[tuple[object, ...], ...]:
    """Canonical book state: each live order in priority order with what decides its future."""
    return tuple(
        (o.order_id, o.account, o.is_buy, o.price, o.leaves_qty, o.shown_qty, o.display_qty, o.cum_qty)
        for o in orders
    )
