"""ORD: when a conditional order is due to trigger, and how a trailing stop follows the price.

A *conditional* order — ``Stop``, ``StopLimit``, ``MarketIfTouched``,
``LimitIfTouched`` or a trailing stop (``Pegged`` with ``TrailingStopPeg``) —
waits, consuming no margin, until the price it watches reaches its ``stopPx``
(reference §7).  The watched price is its *trigger source* (ORD-013: the mark
price by default, or the last or the index price, chosen by ``execInst``):

* a **stop** (``Stop``, ``StopLimit``, a trailing stop) is due once the price
  has moved *against* the order's side to its stopPx: a sell at or below it, a
  buy at or above it (ORD-003);
* an **if-touched** order the other way round: a buy at or below its stopPx, a
  sell at or above it (ORD-005);
* with ``LastWithinMark`` the price counts only while it is within 5% of the
  mark price, the edge included (ORD-014);
* a price of 0 (none published yet) never makes an order due.

:func:`is_trigger_due` is that condition, the one the engine fires by and the
one invariant INV-TRIGGERS-DUE-FIRED checks after every accepted command: no
untriggered order is left due at the prices the command leaves (and no trailing
stop is left behind them: :func:`compute_trailed_stop_px` moves it no further).  The engine
does not ask it of every order on every pass: ``engine/core/triggers.py``
keeps the orders in heaps keyed by stopPx (an index of this rule, not a second
rule).  Every number and test that index decides by is one of the small
functions at the end of this module (the *index kernels*: an order's heap key,
the bound a pass pops up to, a trailing stop's bucket level, the level a pass
moves it to and the stopPx written back); the engine calls them, and
``proofs/obligations_triggers.py`` passes Z3 terms to the same functions to
prove they decide exactly what :func:`is_trigger_due` and
:func:`compute_trailing_stop_px` decide.  The tests compare the index with the
rule on generated pools and price paths.

A **trailing stop** (ORD-007) has no fixed stopPx: it follows the watched price
at the distance ``|pegOffsetValue|`` as the price moves away from it, and never
moves back (:func:`compute_trailing_stop_px`).  So it is due exactly when the
price has come back by that distance from the best price it has seen.  With
``LastWithinMark`` only a price that counts (ORD-014: within the band) moves it
(:func:`compute_trailed_stop_px`, ORD-016), and it is placed, or re-offset, from one
(:func:`compute_trailing_reference`, ORD-017: the mark while the last price is out of the
band): a wick far from the mark, which cannot fire the stop, cannot drag it
along for the next ordinary print to fire either (red team 10).
"""

from __future__ import annotations

import attrs

from perpspec.rules.num import PPM, abs_, and_, concrete, ite, not_, or_

LAST_WITHIN_MARK_BAND_PPM = 50_000  # = 5.00%: ORD-014's band around the mark price

# trigger sources (ORD-013; BitMEX's execInst values)
MARK_PRICE = "MarkPrice"
LAST_PRICE = "LastPrice"
INDEX_PRICE = "IndexPrice"


@attrs.frozen(kw_only=True)
class UntriggeredOrder:
    """A conditional order waiting for its trigger, as INV-TRIGGERS-DUE-FIRED reads it."""

    order_id: int
    account: int
    is_buy: bool
    if_touched: bool  # MarketIfTouched / LimitIfTouched (else a stop: Stop, StopLimit, trailing stop)
    trailing: bool  # a trailing stop (its stopPx as ORD-007 last moved it)
    trigger_source: str  # MARK_PRICE, LAST_PRICE or INDEX_PRICE
    last_within_mark: bool
    stop_px: int
    peg_offset: int = 0  # a trailing stop's pegOffsetValue (ORD-007: it trails at this distance); else 0


@attrs.frozen(kw_only=True)
class TriggerPrices:
    """The three prices a contract's conditional orders watch (0: none published yet)."""

    mark_price: int
    last_price: int
    index_price: int


@concrete
def select_trigger_price(trigger_source: str, prices: TriggerPrices) -> int:
    """The price an order with ``trigger_source`` watches (ORD-013): the last or the index price, else the mark."""
    if trigger_source == LAST_PRICE:
        return prices.last_price
    if trigger_source == INDEX_PRICE:
        return prices.index_price
    return prices.mark_price


def is_rising_trigger(is_buy: bool, if_touched: bool) -> bool:
    """Whether the order is due at prices at or *above* its stopPx (a buy stop, a sell if-touched); else at or below."""
    return or_(and_(is_buy, not_(if_touched)), and_(not_(is_buy), if_touched))


def is_within_mark_band(price: int, mark_price: int) -> bool:
    """ORD-014: a ``LastWithinMark`` order's price counts only while ``|price − mark| ≤ 5% × mark`` (edge included).

    Exact: ``|price − mark| · 10⁶ ≤ mark · 50,000``, no rounding; a mark of 0 (none yet) holds no price.
    """
    return abs_(price - mark_price) * PPM <= mark_price * LAST_WITHIN_MARK_BAND_PPM


def is_price_counted(last_within_mark: bool, price: int, mark_price: int) -> bool:
    """Whether ``price`` counts for an order watching it: always, or with ``last_within_mark`` only within the band
    (:func:`is_within_mark_band`, ORD-014).  What triggering (ORD-015), trailing (ORD-016), a trailing stop's start
    (ORD-017) and the index's passes read (:func:`is_index_read`)."""
    return or_(not_(last_within_mark), is_within_mark_band(price, mark_price))


def is_trigger_due(
    is_buy: bool, if_touched: bool, last_within_mark: bool, stop_px: int, price: int, mark_price: int
) -> bool:
    """ORD-015: an untriggered conditional order is due at ``price``, the price its trigger source watches (ORD-013).

    A stop (``if_touched`` false; trailing stops too) is due once the price
    has reached its stopPx against its side — a buy at ``price ≥ stopPx``, a
    sell at ``price ≤ stopPx`` (ORD-003); an if-touched order the other way
    (ORD-005).  Never at a price of 0 (none published yet); with
    ``last_within_mark`` only while the price is within 5% of ``mark_price``
    (:func:`is_within_mark_band`, ORD-014).
    """
    rising = is_rising_trigger(is_buy, if_touched)
    reached = or_(and_(rising, price >= stop_px), and_(not_(rising), price <= stop_px))
    in_band = is_price_counted(last_within_mark, price, mark_price)
    return and_(price != 0, and_(in_band, reached))


def compute_trailing_stop_px(is_buy: bool, stop_px: int, price: int, peg_offset: int) -> int:
    """ORD-007: a trailing stop's stopPx follows the watched price away from the stop, never back.

    Once the price is ``price`` the stopPx is ``price + pegOffsetValue`` when
    that is further from the price than it was, else unchanged.  A sell trails
    below the price (``pegOffsetValue < 0``) and its stopPx only rises; a buy
    trails above it (``pegOffsetValue > 0``) and its stopPx only falls, never to
    0 or below.  A price of 0 (none yet) moves nothing.  The engine moves a
    trailing stop only while it is not due (:func:`is_trigger_due`); a move
    never makes it due (proved: ``ORD-007/never-fires``).
    """
    candidate = price + peg_offset
    moves = or_(and_(is_buy, and_(candidate < stop_px, candidate > 0)), and_(not_(is_buy), candidate > stop_px))
    return ite(and_(price != 0, moves), candidate, stop_px)


def compute_trailed_stop_px(
    is_buy: bool, last_within_mark: bool, stop_px: int, price: int, mark_price: int, peg_offset: int
) -> int:
    """ORD-016: a trailing stop's stopPx once its trigger source's price is ``price`` (ORD-007 with ORD-014).

    :func:`compute_trailing_stop_px` at a price that counts: any price, or with
    ``last_within_mark`` only one within 5% of ``mark_price``
    (:func:`is_within_mark_band`); a price outside the band leaves the stopPx
    where it was, as it triggers nothing (proved: ``ORD-016/in-band``).
    """
    counts = is_price_counted(last_within_mark, price, mark_price)
    return ite(counts, compute_trailing_stop_px(is_buy, stop_px, price, peg_offset), stop_px)


def compute_trailing_reference(last_within_mark: bool, price: int, mark_price: int) -> int:
    """ORD-017: the price a trailing stop is placed (or its offset amended) from: stopPx = it + offset (ORD-007).

    Its trigger source's price; with ``last_within_mark``, while that price is
    outside the band, the mark instead (the band's centre: the last price does
    not count, so the stop starts from the price the band is judged by, and is
    not due there; ORD-014; proved: ``ORD-017/anchor``).  0 while no price is published
    yet (nothing to trail: the engine refuses the order), whatever the mark.
    """
    counts = is_price_counted(last_within_mark, price, mark_price)
    return ite(or_(counts, price == 0), price, mark_price)


# -- the index kernels: what engine/core/triggers.py's StopIndex decides by (proved: ORD-015/index-keys,
# ORD-007/never-fires, ORD-016/in-band).  Its heaps are min-heaps: the stop heaps, the heap of buckets that may hold a due
# trailing stop and each bucket's stops are popped while ``key <= bound`` (:func:`is_index_key_reached`), the
# buckets by level while :func:`is_bucket_moved`; these functions give each key and each pass's bound.


def is_index_key_reached(key: int, bound: int) -> bool:
    """An index entry keyed ``key`` is taken by a pass whose bound is ``bound`` (the stop heaps, the heap of
    buckets, a bucket's stops): at or below the bound, so an order its price touches is taken."""
    return key <= bound


def compute_index_key(rising: bool, price: int) -> int:
    """A fixed-stop order's heap key (``price`` its stopPx) or a pass's bound (``price`` the watched price).

    A rising trigger's heap is keyed by ``stopPx`` and popped up to the price; a falling one's by ``−stopPx``
    and popped up to ``−price``, so on both the nearest order to firing comes first.
    """
    return ite(rising, price, -price)


def is_index_read(last_within_mark: bool, price: int, mark_price: int) -> bool:
    """A pass at ``price`` reads the heaps (and trailing buckets) of ``last_within_mark`` orders.

    Only a published price (not 0) is read, and a ``LastWithinMark`` order's only within ORD-014's band.
    """
    return and_(price != 0, is_price_counted(last_within_mark, price, mark_price))


def compute_signed_price(is_buy: bool, price: int) -> int:
    """A trailing stop's price as its bucket reads it: a sell's ``price``, a buy's ``−price``.

    Signed so that a move of the price away from the stop raises it (a sell trails a rising price, a buy a
    falling one).
    """
    return ite(is_buy, -price, price)


def compute_trailing_distance(is_buy: bool, peg_offset: int) -> int:
    """How far a trailing stop trails the price: ``|pegOffsetValue|`` when the offset points away from the price
    (a sell's negative, a buy's positive); 0 or less when it points the wrong way (the index then judges the
    order one by one)."""
    return ite(is_buy, peg_offset, -peg_offset)


def compute_trailing_level(is_buy: bool, stop_px: int, distance: int) -> int:
    """A trailing stop's *level*: the signed extreme price it has seen (:func:`compute_signed_price`), which is
    its signed stopPx plus its distance; the stops of a bucket share one."""
    return compute_signed_price(is_buy, stop_px) + distance


def compute_bucket_stop_px(is_buy: bool, level: int, distance: int) -> int:
    """The stopPx of a trailing stop ``distance`` from its bucket's ``level`` (what the index writes back)."""
    return compute_signed_price(is_buy, level - distance)


def compute_trailing_reach(level: int, signed_price: int) -> int:
    """How far the price has come back from a bucket's level: the bucket's stops at that distance or nearer are
    due (a bucket's stops are a heap keyed by distance, popped up to this bound)."""
    return level - signed_price


def compute_bucket_key(level: int, distance: int) -> int:
    """A bucket's key in the heap of buckets that may hold a due stop: its nearest stop's ``distance`` less its
    ``level`` (minus that stop's signed stopPx)."""
    return distance - level


def compute_bucket_bound(signed_price: int) -> int:
    """The bound a pass at ``signed_price`` pops the heap of buckets up to: the key of a bucket whose level is the
    price and whose nearest stop is at distance 0 (:func:`compute_bucket_key`)."""
    return -signed_price


def is_level_passed(level: int, signed_price: int) -> bool:
    """A pass at ``signed_price`` has moved the price away beyond a bucket's ``level`` (the buckets of a side are
    a heap keyed by level, popped while this holds)."""
    return level < signed_price


def is_bucket_moved(read: bool, level: int, signed_price: int) -> bool:
    """A pass at ``signed_price`` moves a bucket at ``level``: only a pass that reads its group
    (:func:`is_index_read`: ORD-014's band for ``LastWithinMark``, ORD-016) and has passed its level (red team 10:
    an out-of-band wick moves no ``LastWithinMark`` stop)."""
    return and_(read, is_level_passed(level, signed_price))


def compute_moved_level(level: int, signed_price: int) -> int:
    """A bucket's level after a pass at ``signed_price``: the price if it passed the level, else the level."""
    return ite(is_level_passed(level, signed_price), signed_price, level)
