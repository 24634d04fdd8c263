"""Triggers: the untriggered conditional orders (stops, if-touched, trailing stops) and when they fire.

:class:`Triggers` owns ``conditional`` (per contract, the untriggered orders by
order id).  :func:`is_due` is the trigger condition (stop:
the watched price reaches ``stopPx`` against the order; if-touched: toward
it; ``LastWithinMark``: only while the last price is within 5% of mark);
:meth:`Triggers.trail` moves a trailing stop.  :meth:`Triggers.run` fires the
due orders through a callback, so order entry (which enters a fired order
into the book) stays the only component that trades.

Which orders are due is read from :class:`StopIndex`, the pool sorted by stop
price per watched price and direction (not state: built from the pool when a
run first meets it, then kept in step by the pool's writers -- :meth:`Triggers.add`,
:meth:`Triggers.reindex`, :meth:`Triggers.remove` and the run itself), so a pass
costs the due orders, not the pool: a cascade of N last-price stops, one firing
per pass, is O(N log N) and not N passes over N orders (session 12, red-team
find_3), and a run with nothing due costs O(1) whatever the pool holds (session
14: the index no longer compares the whole pool with what it saw before each run).

Trailing stops are indexed too (session 13): a trailing stop is the extreme
price it has seen (its *level*) less its distance (``|pegOffsetValue|``), and a
pass moves every stop of a side whose level the price passes to that price at
once.  So the stops of a side are kept in buckets (:class:`Bucket`) that share
a level: a pass that moves them merges the buckets the price passed into one at
the price, and the due stops are the buckets' nearest ones, so a pass costs what
it fires and merges, not the number of trailing stops.  The moved stop prices
are written into the orders when the run ends (or when an order leaves the
pool during it: :meth:`Triggers.remove`), so every reader outside the run sees
what the one-by-one rule wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heapify, heappop, heappush

from perpspec.engine.core import orders as o
from perpspec.engine.core.market import Market
from perpspec.engine.core.orders import Order
from perpspec.rules.instrument import Instrument
from perpspec.rules.triggers import (
    compute_bucket_bound,
    compute_bucket_key,
    compute_bucket_stop_px,
    compute_index_key,
    compute_moved_level,
    compute_signed_price,
    compute_trailed_stop_px,
    compute_trailing_distance,
    compute_trailing_level,
    compute_trailing_reach,
    is_bucket_moved,
    is_index_key_reached,
    is_index_read,
    is_rising_trigger,
    is_trigger_due,
)

SLACK_ENTRIES = 64  # StopIndex: stale heap entries tolerated beyond the pool's size before a rebuild

# a heap entry: (sort key, order id, token, order); the token names the order's latest indexing, so an entry
# left behind (an order indexed again) is told from the live one; keys and ids decide the order (tokens are
# unique), an Order is never compared
Entry = tuple[int, int, int, Order]


class Bucket:
    """Trailing stops of one side and trigger price that have seen the same extreme price: they move together.

    A stop's stopPx is ``sign * (level - distance)``: ``level`` is the extreme
    signed so that a move away from the stop raises it (a sell's highest price,
    minus a buy's lowest; ``sign`` is 1 for a sell, -1 for a buy) and
    ``distance`` is ``|pegOffsetValue|``.  ``stops`` is a heap of (distance,
    order id, token, order), the nearest to firing first; an entry is live while
    :attr:`StopIndex.owner` names this bucket for the order, its token is the order's latest
    (:attr:`StopIndex.tokens`: an amended order's older entry may share the bucket) and the pool holds it.
    """

    def __init__(self, group: int, level: int) -> None:
        self.group = group  # 4 * source + 2 * LastWithinMark + buy, as the stop heaps
        self.level = level
        self.stops: list[Entry] = []
        self.token = -1  # its live entry in the group's high heap (-1: none, the bucket is gone)
        self.moved = False  # its level moved in this run: its stops' stopPx are not yet written


# a bucket in one of its group's heaps: (key, token, bucket); tokens are unique, a Bucket is never compared
Place = tuple[int, int, Bucket]


class Triggers:
    """The untriggered conditional orders of every contract."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.conditional: dict[str, dict[int, Order]] = {symbol: {} for symbol in market.books}  # untriggered
        self.by_stop: dict[str, StopIndex] = {}  # not state: per contract, the pool sorted by stop price (run)
        self.removed = 0  # not state: orders taken out of a pool so far (run: whether a fire added one)

    def trail(self, order: Order) -> None:
        """TrailingStopPeg: stopPx follows the trigger price away from the stop, never toward it (ORD-007); with
        LastWithinMark only a price within the band moves it (ORD-014)."""
        price = self.market.trigger_price(order.symbol, order.trigger_source)
        mark = self.market.marks.get(order.symbol, 0)
        order.stop_px = compute_trailed_stop_px(
            order.is_buy, order.last_within_mark, order.stop_px, price, mark, order.peg_offset
        )

    def add(self, order: Order) -> None:
        """``order`` joins its contract's pool (placed untriggered) and its index."""
        pool = self.conditional[order.symbol]
        pool[order.order_id] = order
        index = self.by_stop.get(order.symbol)
        if index is not None and index.pool is pool and index.synced:  # else the next run builds the index afresh
            index.add(order.order_id, order)

    def reindex(self, order: Order) -> None:
        """The pool's ``order`` was amended (its stopPx or peg offset): its index entry is replaced (the old one
        turns stale)."""
        pool = self.conditional[order.symbol]
        index = self.by_stop.get(order.symbol)
        if index is not None and index.pool is pool and index.synced and pool.get(order.order_id) is order:
            index.add(order.order_id, order)

    def remove(self, order: Order) -> None:
        """``order`` leaves its contract's pool (cancelled while untriggered), its stopPx as trailing left it.

        Its index entry turns stale (the pool no longer holds it) and is dropped when met."""
        pool = self.conditional[order.symbol]
        index = self.by_stop.get(order.symbol)
        if index is not None and index.pool is pool:
            if index.moved_buckets:  # a run is moving trailing stops
                index.write_back_one(order.order_id)
            index.forget(order.order_id)
        del pool[order.order_id]
        self.removed += 1

    def run(self, inst: Instrument, fire: Callable[[Instrument, Order], None]) -> None:
        """Fire every due conditional order of ``inst`` in order-id order; repeat while trades move the last price.

        ``fire`` enters a fired order (it is no longer conditional when called).
        Each pass reads the three prices once (nothing changes them while the
        pass decides which orders are due) and the trade prices printed since
        the contract's orders were last judged (``Market.prints``, in the order
        they printed: an order that watches the last price is judged at each
        of them, then at the last price -- a stop a trade went through and came
        back from is due, red team 7), takes every order :func:`is_due`
        judges due at them, moves the trailing stops that are not due
        (:meth:`trail`), then fires the due orders in order-id order (one an
        earlier fire took out of the pool is skipped); a pass with nothing due
        ends the run.  The due orders are read from the contract's
        :class:`StopIndex` (built afresh if it is not in step with the pool, or
        holds too many stale entries), which moves the trailing stops
        by bucket and writes their stopPx when the run ends.  A fire only takes
        orders out of the pool (it enters one order: fills, cancels); the index
        drops those when it meets them, and a pool a fire added to anyway (its
        size less what was taken out grew) is read again whole before the next
        pass.
        """
        symbol = inst.symbol
        market = self.market
        prints = market.prints
        pool = self.conditional[symbol]
        if not pool:
            if prints:
                prints.pop(symbol, None)  # judged by nothing: no order watches them
            return
        index = self.by_stop.get(symbol)
        if index is None or index.pool is not pool:
            index = self.by_stop[symbol] = StopIndex(pool)
        index.sync()
        index.synced = False  # until this run ends (a failure inside a fire leaves it to be rebuilt)
        try:
            for _ in range(len(pool) + 1):
                if not pool:
                    break
                mark = market.marks.get(symbol, 0)
                last = market.last_prices.get(symbol, 0)
                index_price = market.index_prices.get(symbol, 0)
                path = prints.pop(symbol, None) if prints else None  # the prints since the last pass (red team 7)
                if path is not None and path[-1] == last:
                    path.pop()  # the last one is the last price
                due = index.take_due(self, mark, last, index_price, path or ())
                if not due:
                    break
                placed = False
                for order in due:
                    if order.order_id not in pool:
                        continue
                    del pool[order.order_id]
                    self.removed += 1
                    size = len(pool)
                    removed = self.removed
                    fire(inst, order)
                    if len(pool) + (self.removed - removed) > size:
                        placed = True
                if placed:  # not expected: a fire placed a conditional order; read the pool again
                    index.rebuild()
                    index.synced = False
        finally:
            index.write_back()
        index.synced = True  # in step with the pool (orders the run took out are stale entries)


IF_TOUCHED = (o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED)  # the conditional types that trigger toward stopPx (ORD-005)
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
    return is_rising_trigger(order.is_buy, order.ord_type in IF_TOUCHED)


class StopIndex:
    """One contract's untriggered orders sorted by when they fire; not state, it mirrors the pool.

    Stop heap ``4 * source + 2 * LastWithinMark + rising`` holds the orders with
    a fixed stop price: a rising heap keyed by stopPx (due while the key is <=
    the price), a falling one by -stopPx (due while the key is <= -price).  An
    entry is live while its token is the order's latest and the pool still holds
    that order; the rest are dropped when met.  Trailing stops are in
    buckets (:class:`Bucket`), per group ``4 * source + 2 * LastWithinMark + buy`` a
    low heap by level (the buckets a price passes) and a high heap by level
    less the nearest distance (the buckets with a due stop); one whose offset
    points the wrong way (no order the engine accepts) is judged one by one in
    ``odd``.  Every key, bound and test of these heaps is an index kernel of
    ``rules/triggers.py`` (proved to decide what ORD-015 and ORD-007 decide:
    ``ORD-015/index-keys``, ``ORD-007/never-fires``); what is left here -- the
    heaps, the tokens, the merging of buckets -- is tested against the rule
    (``tests/test_triggers_due_fired.py``), not proved.

    The pool's writers keep it in step (:meth:`Triggers.add`, :meth:`Triggers.reindex`,
    :meth:`Triggers.remove`): an order placed or amended is indexed anew (its
    older entry turns stale), one cancelled is forgotten (its entry turns
    stale).  ``entries`` counts the entries live or stale, so :meth:`sync`
    rebuilds once the stale ones outnumber the pool: a rebuild costs no more
    than the changes that made it due.  ``synced`` is False from the start of
    a run to its end (a run that fails leaves the index to be rebuilt) and
    before the first build.
    """

    def __init__(self, pool: dict[int, Order]) -> None:
        self.pool = pool
        self.stop_heaps: list[list[Entry]] = [[] for _ in range(4 * _SOURCES)]
        self.tokens: dict[int, int] = {}  # order id -> token of its live entry (a stop heap's or a bucket's)
        self.next_token = 0
        self.entries = 0  # entries in the stop heaps and the buckets' heaps, live or not
        self.low: list[list[Place]] = [[] for _ in range(4 * _SOURCES)]  # per group: buckets by level
        self.high: list[list[Place]] = [[] for _ in range(4 * _SOURCES)]  # per group: by -(level - nearest distance)
        self.places = 0  # entries in low and high, live or not
        self.owner: dict[int, Bucket] = {}  # order id -> the bucket of its live entry
        self.buckets = 0  # buckets not gone
        self.moved_buckets: list[Bucket] = []  # buckets whose level moved in this run (write_back)
        self.odd: dict[int, Order] = {}  # trailing stops judged one by one (some may have left the pool)
        self.synced = False

    def sync(self) -> None:
        """Make the index fit for a run: kept as it is while in step with the pool and its stale entries (orders
        cancelled, amended, fired) are few, else rebuilt -- which costs what the stale entries cost to make."""
        if (
            self.synced
            and self.entries <= 2 * len(self.pool) + SLACK_ENTRIES
            and self.places <= 4 * self.buckets + SLACK_ENTRIES
        ):
            return
        self.rebuild()

    def rebuild(self) -> None:
        """Index every order of the pool afresh (stale entries gone); trailing stops at one level share a bucket."""
        self.write_back()
        for heap in self.stop_heaps:
            heap.clear()
        self.tokens = {}
        self.entries = 0
        for places in (*self.low, *self.high):
            places.clear()
        self.places = 0
        self.owner = {}
        self.buckets = 0
        self.odd = {}
        pool = self.pool
        levels: dict[tuple[int, int], Bucket] = {}
        for key, order in pool.items():
            self.add(key, order, list.append, levels)
        for heap in self.stop_heaps:
            heapify(heap)
        for bucket in levels.values():
            heapify(bucket.stops)
            self.place(bucket, True)
        self.synced = True

    def add(
        self,
        key: int,
        order: Order,
        push: Callable[[list[Entry], Entry], None] = heappush,
        levels: dict[tuple[int, int], Bucket] | None = None,
    ) -> None:
        """Index ``order`` (pool key ``key``): a trailing stop joins a bucket (:meth:`add_trailing`), any other its
        stop heap.  An entry it had before turns stale (its token, or its bucket, is no longer the order's).

        ``push``: how an entry goes into a heap; ``levels``: a rebuild's buckets by (group, level) (it appends to
        them, then heapifies).
        """
        if order.ord_type == o.PEGGED:
            self.add_trailing(key, order, levels)
            return
        self.forget(key)  # not expected: an order's type never changes
        token = self.next_token
        self.next_token += 1
        self.tokens[key] = token
        rising = _fires_rising(order)
        heap = self.stop_heaps[4 * _source_slot(order.trigger_source) + 2 * int(order.last_within_mark) + int(rising)]
        push(heap, (compute_index_key(rising, order.stop_px), key, token, order))
        self.entries += 1

    def add_trailing(self, key: int, order: Order, levels: dict[tuple[int, int], Bucket] | None) -> None:
        """Index a trailing stop: into a bucket of its own (or a rebuild's bucket at its level), else ``odd``."""
        self.forget(key)
        distance = compute_trailing_distance(order.is_buy, order.peg_offset)
        if distance <= 0:  # a sell with offset >= 0 or a buy with offset <= 0: refused at entry (not indexed)
            self.odd[key] = order
            return
        group = 4 * _source_slot(order.trigger_source) + 2 * int(order.last_within_mark) + int(order.is_buy)
        level = compute_trailing_level(order.is_buy, order.stop_px, distance)
        token = self.next_token
        self.next_token += 1
        bucket = None if levels is None else levels.get((group, level))
        if bucket is None:
            bucket = Bucket(group, level)
            self.buckets += 1
            if levels is not None:
                levels[(group, level)] = bucket
        self.owner[key] = bucket
        self.tokens[key] = token
        bucket.stops.append((distance, key, token, order))
        self.entries += 1
        if levels is None:
            self.place(bucket, True)

    def forget(self, key: int) -> None:
        """The order ``key`` has no live entry any more (it left the pool, or is indexed anew): older ones are stale."""
        tokens = self.tokens
        if tokens and key in tokens:
            del tokens[key]
        owner = self.owner
        if owner and key in owner:
            del owner[key]
        odd = self.odd
        if odd and key in odd:
            del odd[key]

    def place(self, bucket: Bucket, low: bool) -> None:
        """Enter ``bucket`` into its high heap anew (older entries turn stale) and, if ``low``, its low heap."""
        token = self.next_token
        self.next_token += 1
        bucket.token = token
        heappush(self.high[bucket.group], (compute_bucket_key(bucket.level, bucket.stops[0][0]), token, bucket))
        self.places += 1
        if low:
            heappush(self.low[bucket.group], (bucket.level, token, bucket))
            self.places += 1

    def take_due(
        self, triggers: Triggers, mark: int, last: int, index: int, prints: Sequence[int] = ()
    ) -> list[Order]:
        """Every order :func:`is_due` judges due at these prices, out of the index, in order-id order; and the
        trailing stops that are not due moved (:meth:`Triggers.trail`).

        ``prints``: last prices traded before ``last`` since the last judging, oldest first: the orders that watch
        the last price are judged at each in turn, as if each were the last price (a trailing stop moved by one
        is judged at the next), then at ``last``."""
        due: list[tuple[int, Order]] = []
        for slot, price in enumerate((mark, last, index)):
            if slot == 1 and prints:
                for earlier in prints:
                    if earlier != 0:
                        self.take_at(slot, earlier, mark, due)
            if price != 0:  # no price yet: nothing watching it is due, no trailing stop moves
                self.take_at(slot, price, mark, due)
        if self.odd:
            self.take_odd(triggers, (mark, last, index), due, prints)
        due.sort()  # by order id (unique: an order is taken once)
        return [pair[1] for pair in due]

    def take_at(self, slot: int, price: int, mark: int, due: list[tuple[int, Order]]) -> None:
        """The orders of trigger source ``slot`` due at ``price`` (not 0) go to ``due``; then its trailing stops
        not due move to it."""
        rising_bound = compute_index_key(True, price)  # stopPx <= price
        falling_bound = compute_index_key(False, price)  # -stopPx <= -price
        sell_price = compute_signed_price(False, price)  # a sell trailing stop: stopPx >= price
        buy_price = compute_signed_price(True, price)  # a buy's: stopPx <= price
        for within in (False, True):
            base = 4 * slot + 2 * int(within)
            read = is_index_read(within, price, mark)  # ORD-014's band for LastWithinMark
            if read:
                self.pop_below(self.stop_heaps[base + 1], rising_bound, due)
                self.pop_below(self.stop_heaps[base], falling_bound, due)
                self.take_trailing(base, sell_price, due)
                self.take_trailing(base + 1, buy_price, due)
            # then the trailing stops not due move, only in a pass that reads them (is_bucket_moved: a LastWithinMark
            # price out of its band moves none, ORD-016, red team 10); prices are positive (state_check), so a buy's
            # candidate stopPx (price + offset) is too
            self.pass_level(base, sell_price, read)
            self.pass_level(base + 1, buy_price, read)

    def take_odd(
        self,
        triggers: Triggers,
        prices: tuple[int, int, int],
        due: list[tuple[int, Order]],
        prints: Sequence[int] = (),
    ) -> None:
        """The ``odd`` trailing stops judged one by one: the due ones go to ``due`` (and leave ``odd``), the rest
        trail (:meth:`Triggers.trail`); those no longer in the pool leave ``odd``.  One that watches the last
        price is judged (and trails) at each of ``prints`` first, as :meth:`take_due`."""
        mark, last, index = prices
        pool = self.pool
        odd = self.odd
        for key, order in list(odd.items()):
            if pool.get(key) is not order:
                del odd[key]
                continue
            source = order.trigger_source
            if source == o.LAST_PRICE and prints:
                fired = False
                for earlier in prints:
                    if is_due(order, earlier, mark):
                        fired = True
                        break
                    order.stop_px = compute_trailed_stop_px(
                        order.is_buy, order.last_within_mark, order.stop_px, earlier, mark, order.peg_offset
                    )
                if fired:
                    del odd[key]
                    due.append((key, order))
                    continue
            price = last if source == o.LAST_PRICE else index if source == o.INDEX_PRICE else mark
            if is_due(order, price, mark):
                del odd[key]
                due.append((key, order))
            else:
                triggers.trail(order)

    def pop_below(self, heap: list[Entry], bound: int, due: list[tuple[int, Order]]) -> None:
        """Pop every entry keyed <= ``bound``; the live ones go to ``due``."""
        tokens = self.tokens
        while heap and is_index_key_reached(heap[0][0], bound):
            entry = heappop(heap)
            self.entries -= 1
            key = entry[1]
            if tokens.get(key) == entry[2]:  # its latest entry: taken (due if the pool still holds it)
                del tokens[key]
                if self.pool.get(key) is entry[3]:
                    due.append((key, entry[3]))

    def take_trailing(self, group: int, signed_price: int, due: list[tuple[int, Order]]) -> None:
        """The trailing stops of ``group`` due at ``signed_price`` (the price times the side's sign) go to ``due``.

        Due: ``level - distance >= signed_price`` (a sell's stopPx at or above the price, a buy's at or below),
        the buckets' nearest stops first; each taken stop's stopPx is written (its level may have moved).
        """
        high = self.high[group]
        owner = self.owner
        tokens = self.tokens
        pool = self.pool
        is_buy = bool(group & 1)
        bound = compute_bucket_bound(signed_price)
        while high and is_index_key_reached(high[0][0], bound):
            _, token, bucket = heappop(high)
            self.places -= 1
            if bucket.token != token:
                continue
            level = bucket.level
            reach = compute_trailing_reach(level, signed_price)
            stops = bucket.stops
            while stops and is_index_key_reached(stops[0][0], reach):
                distance, key, token, order = heappop(stops)
                self.entries -= 1
                if owner.get(key) is bucket and tokens.get(key) == token:  # its latest: taken (due if still pooled)
                    del owner[key]
                    del tokens[key]
                    if pool.get(key) is order:
                        order.stop_px = compute_bucket_stop_px(is_buy, level, distance)
                        due.append((key, order))
            if stops:
                self.place(bucket, False)  # its low entry stays live (same level)
            else:
                self.drop(bucket)

    def pass_level(self, group: int, signed_price: int, read: bool) -> None:
        """The price passed the level of ``group``'s buckets below it: they merge into one at the price.

        :meth:`Triggers.trail` for each of their stops (stopPx to price + offset, which is away from the stop);
        the stopPx are written by :meth:`write_back`.  Only in a pass that reads the group (``read``:
        :func:`is_index_read`); the buckets move while :func:`is_bucket_moved` holds, so a pass that does not read
        them returns at once.
        """
        low = self.low[group]
        passed: list[Bucket] = []
        while low and is_bucket_moved(read, low[0][0], signed_price):
            level, _, bucket = heappop(low)
            self.places -= 1
            if bucket.token != -1 and bucket.level == level:
                passed.append(bucket)
        if not passed:
            return
        target = passed[0]
        for bucket in passed:
            if len(bucket.stops) > len(target.stops):
                target = bucket
        owner = self.owner
        tokens = self.tokens
        for bucket in passed:  # the smaller into the largest: an order moves O(log n) times
            if bucket is not target:
                for entry in bucket.stops:
                    if owner.get(entry[1]) is bucket and tokens.get(entry[1]) == entry[2]:
                        owner[entry[1]] = target
                        heappush(target.stops, entry)
                        self.entries += 1
                self.drop(bucket)
        target.level = compute_moved_level(target.level, signed_price)  # the price: it passed every level here
        if not target.moved:
            target.moved = True
            self.moved_buckets.append(target)
        self.place(target, True)

    def drop(self, bucket: Bucket) -> None:
        """``bucket`` is gone (emptied, or merged into another): its heap entries turn stale."""
        bucket.token = -1
        self.entries -= len(bucket.stops)
        bucket.stops = []
        self.buckets -= 1

    def write_back(self) -> None:
        """Write the stopPx of the stops whose bucket moved in this run (the orders still in the pool)."""
        owner = self.owner
        tokens = self.tokens
        pool = self.pool
        for bucket in self.moved_buckets:
            bucket.moved = False
            is_buy = bool(bucket.group & 1)
            level = bucket.level
            for distance, key, token, order in bucket.stops:  # none if it is gone: merged, or its stops taken
                if owner.get(key) is bucket and tokens.get(key) == token and pool.get(key) is order:
                    order.stop_px = compute_bucket_stop_px(is_buy, level, distance)
        self.moved_buckets = []

    def write_back_one(self, key: int) -> None:
        """Write the stopPx of the pool's order ``key`` if its bucket moved in this run (it leaves the pool)."""
        bucket = self.owner.get(key)
        order = self.pool.get(key)
        if bucket is not None and order is not None and bucket.moved:
            distance = compute_trailing_distance(order.is_buy, order.peg_offset)
            order.stop_px = compute_bucket_stop_px(order.is_buy, bucket.level, distance)


def is_due(order: Order, price: int, mark: int) -> bool:
    """ORD-015 (:func:`rules.triggers.is_trigger_due`) for ``order`` at ``price`` (its trigger source's) and ``mark``.

    Stop against, if-touched toward; ``LastWithinMark``: only while the price is within 5% of the mark; 0 (no
    price yet) never triggers.
    """
    return is_trigger_due(order.is_buy, order.ord_type in IF_TOUCHED, order.last_within_mark, order.stop_px, price, mark)
