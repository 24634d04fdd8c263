"""Triggers: the untriggered conditional orders (stops, if-touched, trailing stops) and when they fire.

:class:`Triggers` owns ``conditional`` (per contract, the untriggered orders by
order id).  :meth:`Triggers.should_trigger` is the trigger condition (stop:
the watched price reaches ``stopPx`` against the order; if-touched: toward
it; ``LastWithinMark``: only while the last price is within 5% of mark);
:meth:`Triggers.trail` moves a trailing stop.  :meth:`Triggers.run` fires the
due orders through a callback, so order entry (which enters a fired order
into the book) stays the only component that trades.
"""

from __future__ import annotations

from collections.abc import Callable

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

    def should_trigger(self, order: Order) -> bool:
        """The order's trigger condition holds at the current price of its trigger source."""
        price = self.market.trigger_price(order.symbol, order.trigger_source)
        if price == 0:
            return False
        if order.last_within_mark:
            mark = self.market.marks.get(order.symbol, 0)
            if abs(price - mark) * 1_000_000 > mark * LAST_WITHIN_MARK_PPM:
                return False
        if order.ord_type in (o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED):
            return price <= order.stop_px if order.is_buy else price >= order.stop_px
        return price >= order.stop_px if order.is_buy else price <= order.stop_px

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
        """
        pool = self.conditional[inst.symbol]
        for _ in range(len(pool) + 1):
            if not pool:
                return
            due = [order for _, order in sorted(pool.items()) if self.should_trigger(order)]
            for order in sorted(pool.values(), key=lambda x: x.order_id):
                if order.ord_type == o.PEGGED and order not in due:
                    self.trail(order)
            if not due:
                return
            for order in due:
                if order.order_id not in pool:
                    continue
                del pool[order.order_id]
                fire(inst, order)
