"""ORD: order vocabulary (BitMEX names) and the live order record the books hold.

Values are BitMEX's own strings (``"Buy"``, ``"Limit"``, ``"GoodTillCancel"``,
``"ParticipateDoNotInitiate"``…) so commands, events and the API read the same.
The :class:`Order` is the engine's *mutable* working record of one live order:
the book changes ``leaves_qty``/``shown_qty`` as it fills; everything else about
an order (the command that placed it, the events it produced) is immutable.

Quantities are contracts, prices are the instrument's integer price units.

Order rules (ids used by ``specs/examples/orders.toml`` and its tests):

======== =================================================================
ORD-001  Limit: price-time priority; fills at the resting order's price
ORD-002  Market: fills up to 5% beyond max(best, mark) and, when reducing,
         no further than the position's bankruptcy price; the rest cancels
ORD-003  Stop: sell triggers at trigger price <= stopPx, buy at >= stopPx
ORD-004  StopLimit: as Stop, then a limit order at ``price``
ORD-005  MarketIfTouched: buy triggers at <= stopPx, sell at >= stopPx
ORD-006  LimitIfTouched: as MarketIfTouched, then a limit order
ORD-007  Trailing stop (Pegged, TrailingStopPeg): stopPx = trigger price +
         pegOffsetValue, follows the price away from the stop, never back
ORD-010  ParticipateDoNotInitiate: cancelled instead of trading on entry
ORD-011  ReduceOnly: never opens, increases or flips; amended down or
         cancelled when the position shrinks
ORD-012  Close: ReduceOnly; without orderQty closes the whole position
         (a conditional one: the position when it fires, not when placed);
         on entering the book it cancels the account's other active
         same-side limit orders in the contract when, with it, their open
         quantity exceeds the position (untriggered stops are not active)
ORD-013  Trigger source MarkPrice (default) / LastPrice / IndexPrice
ORD-014  LastWithinMark: a last-price trigger counts only within 5% of mark
ORD-015  Due: ORD-003/005/013/014 as one condition (rules/triggers.py); no
         untriggered order is left due after a command (INV-TRIGGERS-DUE-FIRED)
ORD-016  Trailing with LastWithinMark: only a last price within ORD-014's
         band moves the stop (ORD-007 with ORD-014)
ORD-017  Trailing start: placed or re-offset from the trigger price; with
         LastWithinMark from the mark while the last price is out of the band
ORD-020  GoodTillCancel / ORD-021 ImmediateOrCancel / ORD-022 FillOrKill /
         ORD-023 Day (expires at the end of the logical clock's UTC day)
ORD-030  displayQty: iceberg slice (refresh loses priority); 0 = hidden,
         trades after displayed orders at its price
ORD-031  clOrdID unique among the account's live orders
ORD-032  Amend: quantity down keeps priority; up or a new price loses it
ORD-033  Self-trade prevention: the resting order of the same account is
         cancelled, the incoming order trades on
ORD-040  tick, lot, maxOrderQty, maxPrice; ORD-041 fat-finger limit band
ORD-050  Dead man's switch (cancelAllAfter); like a Day order's midnight
         (ORD-023), its deadline fires with the first command whose time
         reaches it, and stays fired even if that command is rejected;
         ORD-051 verified accounts only; ORD-052 pre-trade initial margin;
         ORD-053 safe withdrawals
======== =================================================================
"""

from __future__ import annotations

from typing import Final

from perpspec.engine.core.compiled import mypyc_attr

BUY: Final = "Buy"
SELL: Final = "Sell"
SIDES: Final = frozenset((BUY, SELL))

# ordType
MARKET: Final = "Market"
LIMIT: Final = "Limit"
STOP: Final = "Stop"
STOP_LIMIT: Final = "StopLimit"
MARKET_IF_TOUCHED: Final = "MarketIfTouched"
LIMIT_IF_TOUCHED: Final = "LimitIfTouched"
PEGGED: Final = "Pegged"
ORD_TYPES: Final = frozenset((MARKET, LIMIT, STOP, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED, PEGGED))
# types that wait for a trigger (consume no margin until triggered)
CONDITIONAL_TYPES: Final = frozenset((STOP, STOP_LIMIT, MARKET_IF_TOUCHED, LIMIT_IF_TOUCHED, PEGGED))
# types that carry a limit price
PRICED_TYPES: Final = frozenset((LIMIT, STOP_LIMIT, LIMIT_IF_TOUCHED))

# pegPriceType (only the trailing stop is supported)
TRAILING_STOP_PEG: Final = "TrailingStopPeg"

# timeInForce
GOOD_TILL_CANCEL: Final = "GoodTillCancel"
IMMEDIATE_OR_CANCEL: Final = "ImmediateOrCancel"
FILL_OR_KILL: Final = "FillOrKill"
DAY: Final = "Day"
TIMES_IN_FORCE: Final = frozenset((GOOD_TILL_CANCEL, IMMEDIATE_OR_CANCEL, FILL_OR_KILL, DAY))

# execInst
POST_ONLY: Final = "ParticipateDoNotInitiate"
REDUCE_ONLY: Final = "ReduceOnly"
CLOSE: Final = "Close"
MARK_PRICE: Final = "MarkPrice"
LAST_PRICE: Final = "LastPrice"
INDEX_PRICE: Final = "IndexPrice"
LAST_WITHIN_MARK: Final = "LastWithinMark"
FIXED: Final = "Fixed"
TRIGGER_SOURCES: Final = frozenset((MARK_PRICE, LAST_PRICE, INDEX_PRICE))
EXEC_INSTS: Final = frozenset((POST_ONLY, REDUCE_ONLY, CLOSE, MARK_PRICE, LAST_PRICE, INDEX_PRICE, LAST_WITHIN_MARK, FIXED))

# ordStatus
NEW: Final = "New"
PARTIALLY_FILLED: Final = "PartiallyFilled"
FILLED: Final = "Filled"
CANCELED: Final = "Canceled"
REJECTED: Final = "Rejected"
UNTRIGGERED: Final = "Untriggered"  # BitMEX shows conditional orders as New with triggered=""; kept explicit

# execType
EXEC_NEW: Final = "New"
EXEC_TRADE: Final = "Trade"
EXEC_CANCELED: Final = "Canceled"
EXEC_REPLACED: Final = "Replaced"
EXEC_REJECTED: Final = "Rejected"
EXEC_TRIGGERED: Final = "TriggeredOrActivatedBySystem"
EXEC_RESTATED: Final = "Restated"
EXEC_FUNDING: Final = "Funding"
EXEC_LIQUIDATION: Final = "Liquidation"
EXEC_BANKRUPTCY: Final = "Bankruptcy"
EXEC_INSURANCE: Final = "Insurance"
EXEC_ADL: Final = "Deleverage"

# lastLiquidityInd
ADDED_LIQUIDITY: Final = "AddedLiquidity"
REMOVED_LIQUIDITY: Final = "RemovedLiquidity"


def parse_exec_inst(text: str) -> tuple[str, ...] | None:
    """Split a comma-separated ``execInst`` into a sorted tuple of known values, or None if malformed."""
    if text == "":
        return ()
    parts = tuple(part.strip() for part in text.split(","))
    if any(part not in EXEC_INSTS for part in parts) or len(set(parts)) != len(parts):
        return None
    return tuple(sorted(parts))


# Order's fields, named outside the class: a compiled class has no __slots__ attribute (clone() reads these)
_ORDER_FIELDS: Final = (
    "account",
    "cl_ord_id",
    "close",
    "cum_qty",
    "cum_value",
    "display_qty",
    "is_buy",
    "last_within_mark",
    "leaves_qty",
    "level",
    "live",
    "ord_type",
    "order_id",
    "order_qty",
    "peg_offset",
    "post_only",
    "price",
    "reduce_only",
    "shown_qty",
    "stop_px",
    "symbol",
    "time_in_force",
    "time_ms",
    "trigger_source",
    "triggered",
    "whole_position",
)


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class Order:
    """One live order (resting in a book, or waiting for its trigger).

    ``display_qty`` is None for a fully displayed order, 0 for a hidden order,
    and the iceberg's slice size otherwise.  ``shown_qty`` is the part of
    ``leaves_qty`` currently displayed (its time priority belongs to the
    displayed slice).

    ``whole_position`` (ORD-012): an untriggered Close order placed without
    ``orderQty``.  Its ``order_qty`` is the position's size when it was placed
    (what its reports show until it fires); when it fires it is re-sized to the
    whole position then (:meth:`engine.core.entry.OrderEntry._fire`) and the flag
    is cleared: a fired order is an ordinary Close order of that quantity.
    """

    __slots__ = _ORDER_FIELDS

    def __init__(
        self,
        *,
        order_id: int,
        account: int,
        symbol: str,
        is_buy: bool,
        price: int,
        order_qty: int,
        ord_type: str = LIMIT,
        time_in_force: str = GOOD_TILL_CANCEL,
        display_qty: int | None = None,
        cl_ord_id: str = "",
        post_only: bool = False,
        reduce_only: bool = False,
        close: bool = False,
        stop_px: int = 0,
        peg_offset: int = 0,
        trigger_source: str = MARK_PRICE,
        last_within_mark: bool = False,
        time_ms: int = 0,
        whole_position: bool = False,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.symbol = symbol
        self.is_buy = is_buy
        self.price = price
        self.order_qty = order_qty
        self.leaves_qty = order_qty
        self.cum_qty = 0
        self.cum_value = 0  # Σ fill qty × fill price (price units × contracts), for avgPx
        self.ord_type = ord_type
        self.time_in_force = time_in_force
        self.display_qty = display_qty
        self.shown_qty = order_qty if display_qty is None else min(display_qty, order_qty)
        self.cl_ord_id = cl_ord_id
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.close = close
        self.stop_px = stop_px
        self.peg_offset = peg_offset
        self.trigger_source = trigger_source
        self.last_within_mark = last_within_mark
        self.time_ms = time_ms
        self.whole_position = whole_position
        self.triggered = ord_type in (MARKET, LIMIT)
        self.live = True
        self.level: object = None  # the fast book's price level holding it

    @property
    def side(self) -> str:
        """BitMEX ``side``."""
        return BUY if self.is_buy else SELL

    @property
    def is_hidden(self) -> bool:
        """True for a fully hidden order (``displayQty = 0``)."""
        return self.display_qty == 0

    def reset_shown(self) -> None:
        """Display a fresh slice (after a refresh or a priority-losing amend)."""
        display = self.display_qty
        self.shown_qty = self.leaves_qty if display is None else min(display, self.leaves_qty)

    def ord_status(self) -> str:
        """BitMEX ``ordStatus`` of a live order."""
        return NEW if self.cum_qty == 0 else PARTIALLY_FILLED

    def avg_px(self) -> int:
        """Average fill price in price units, rounded down (display only), 0 before any fill."""
        return self.cum_value // self.cum_qty if self.cum_qty else 0  # floor: display only

    def clone(self) -> Order:
        """An independent copy (for the differential books and snapshots)."""
        copy = Order.__new__(Order)
        for name in _ORDER_FIELDS:
            setattr(copy, name, getattr(self, name))
        copy.level = None
        return copy
