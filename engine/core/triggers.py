"""Triggers: the untriggered conditional orders (stops, if-touched, trailing stops) and when they fire.

:class:`Triggers` owns ``conditional`` (per contract, the untriggered orders by
order id).  :func:`is_due` is the trigger condition (stop:
the watched price reaches ``stopPx`` against the order; if-touched: toward
it; ``LastWithinMark``: only while the last price is within 5% of mark);
:meth:`Triggers.trail` moves a trailing stop.  :meth:`Triggers.run` fires the
due orders through a callback, so order entry (which enters a fired order
into the book) stays the only component that trades.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from perpspec.engine.core import orders as o
from perpspec.engine.core.market import Market
from perpspec.engine.core.orders import Order
from perpspec.rules.instrument import Instrument

LAST_WITHIN_MARK_PPM = 50_000  # 5%: LastWithinMark band


class Triggers:
    """The untriggered conditional orders of every contract."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.conditional: dict[str, dict[int, Order]] = {symbol: {} for symbol in market.books}  # untriggered
        self.quiet: dict[str, Quiet] = {}  # per contract: the last pass that found nothing due (see :meth:`run`)

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
        The three prices are read once per pass (nothing changes them while the
        pass decides which orders are due); each order is judged by :func:`is_due`.

        A pass that finds nothing due (and no trailing stop to move) is remembered
        as :class:`Quiet`; the next call returns at once when it would judge the
        same orders on the same prices: the same pool holding the same orders
        (new orders get higher ids, so the length and the last key tell) with the
        same stop prices (an amendment changes them in place), and the same mark,
        index and, when an order watches it, last price.  Judging them again
        would find nothing due again.
        """
        pool = self.conditional[inst.symbol]
        symbol = inst.symbol
        market = self.market
        for _ in range(len(pool) + 1):
            if not pool:
                return
            mark = market.marks.get(symbol, 0)
            last = market.last_prices.get(symbol, 0)
            index = market.index_prices.get(symbol, 0)
            quiet = self.quiet.get(symbol)
            if quiet is not None and quiet.holds(pool, mark, last, index):
                return
            due: list[Order] = []
            pegged: list[Order] = []
            watches_last = False
            for order_id in sorted(pool):
                order = pool[order_id]
                source = order.trigger_source
                if source == o.LAST_PRICE:
                    watches_last = True
                    price = last
                else:
                    price = index if source == o.INDEX_PRICE else mark
                if is_due(order, price, mark):
                    due.append(order)
                elif order.ord_type == o.PEGGED:
                    pegged.append(order)
            for order in sorted(pegged, key=_order_id):
                self.trail(order)
            if not due:
                if not pegged:
                    self.quiet[symbol] = Quiet(pool, mark, last, index, watches_last)
                return
            for order in due:
                if order.order_id not in pool:
                    continue
                del pool[order.order_id]
                fire(inst, order)


_STOP_PX = attrgetter("stop_px")


class Quiet:
    """A pass of :meth:`Triggers.run` that found no order due and none to trail: what it judged."""

    def __init__(self, pool: dict[int, Order], mark: int, last: int, index: int, watches_last: bool) -> None:
        self.pool = pool
        self.size = len(pool)
        self.last_key = next(reversed(pool.keys()))
        self.stops: list[int] = list(map(_STOP_PX, pool.values()))
        self.mark = mark
        self.last = last
        self.index = index
        self.watches_last = watches_last

    def holds(self, pool: dict[int, Order], mark: int, last: int, index: int) -> bool:
        """The same orders, stop prices and watched prices as that pass (so nothing is due now either)."""
        return (
            pool is self.pool
            and mark == self.mark
            and index == self.index
            and (last == self.last or not self.watches_last)
            and len(pool) == self.size
            and next(reversed(pool.keys())) == self.last_key
            and list(map(_STOP_PX, pool.values())) == self.stops
        )


def _order_id(order: Order) -> int:
    return order.order_id


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
