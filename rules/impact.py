"""MRK: impact prices — what it costs to trade the impact notional against the book right now.

The **impact bid** is the average price at which a sell of the instrument's
``impactNotional`` (settlement minor units, e.g. 10 XBT) would fill against
the resting bids; the **impact ask** the same for a buy against the offers.
The **impact mid** is their mean rounded half up to the tick.  They feed the
futures fair basis (:mod:`rules.mark`) and the funding premium index
(:mod:`rules.funding`).

The book is a plain sequence of ``(price, qty)`` levels per side, best first
(the engine's book supplies it).  Walking it: from each level take whole lots
until the value taken reaches the notional; the last lot may overshoot the
notional by less than one lot's value.  The average price is the price at
which the quantity taken has the value taken (the harmonic mean for inverse
contracts, the arithmetic mean for linear and quanto ones).

Rounding: the impact bid is rounded **down** and the impact ask **up** to the
price unit — each is the worse side of its average fill, so a thin book
never looks tighter than it is.  When the book is too thin to fill the
notional the side has no impact price (``None``): it then contributes no
premium and the futures fair basis is not refreshed.
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import ceildiv, concrete, floordiv, ite, max_, min_, round_half_up_div

BookSide = tuple[tuple[int, int], ...]  # (price units, contracts) per level, best first


@attrs.frozen(kw_only=True)
class ImpactFill:
    """The result of walking one side of the book for the impact notional."""

    qty: int  # contracts taken
    value: int  # their value, settlement minor units (unsigned)
    unfilled: int  # notional still missing (0: the side is deep enough)


@attrs.frozen(kw_only=True)
class ImpactPrices:
    """BitMEX ``impactBidPrice``, ``impactAskPrice``, ``impactMidPrice`` (None: book too thin)."""

    bid: int | None
    ask: int | None
    mid: int | None


def compute_impact_fill(inst: Instrument, levels: BookSide, notional: int) -> ImpactFill:
    """MRK-001: walk one side of the book, taking whole lots until ``notional`` is reached."""
    remaining = notional
    qty_taken = 0
    value_taken = 0
    for price, qty in levels:
        lot_value = compute_notional(inst, inst.lot_size, price)
        safe_lot_value = ite(lot_value == 0, 1, lot_value)
        # ceil: enough lots to cover the remaining notional (the last lot may overshoot).
        lots_needed = ceildiv(remaining, safe_lot_value)
        lots_taken = min_(qty // inst.lot_size, lots_needed)  # exact: levels hold whole lots
        qty_taken = qty_taken + lots_taken * inst.lot_size
        value_taken = value_taken + lots_taken * lot_value
        remaining = max_(remaining - lots_taken * lot_value, 0)
    return ImpactFill(qty=qty_taken, value=value_taken, unfilled=remaining)


def compute_average_price(inst: Instrument, qty: int, value: int, round_up: bool) -> int:
    """MRK-002: the price at which ``qty`` contracts are worth ``value`` (rounded down, or up)."""
    safe_qty = ite(qty == 0, 1, qty)
    safe_value = ite(value == 0, 1, value)
    if inst.is_inverse:
        numerator = -inst.multiplier * inst.price_scale * qty  # value = qty·|mult|·scale / price
        denominator = safe_value
    else:
        numerator = value * inst.price_scale  # value = qty·mult·price / scale
        denominator = inst.multiplier * safe_qty
    if round_up:
        return ceildiv(numerator, denominator)
    return floordiv(numerator, denominator)


def compute_impact_mid(inst: Instrument, impact_bid: int, impact_ask: int) -> int:
    """MRK-003: ``(impact bid + impact ask) / 2`` rounded half up to the tick."""
    # round half up to the tick: neutral (a reference price, not a payment).
    return round_half_up_div(impact_bid + impact_ask, 2 * inst.tick_size) * inst.tick_size


@concrete
def compute_impact_prices(inst: Instrument, bids: BookSide, asks: BookSide) -> ImpactPrices:
    """MRK-004: impact bid (floor), ask (ceil) and mid (to the tick) from the book; None when too thin."""
    notional = inst.impact_notional
    if notional is None:
        return ImpactPrices(bid=None, ask=None, mid=None)
    bid_fill = compute_impact_fill(inst, bids, notional)
    ask_fill = compute_impact_fill(inst, asks, notional)
    bid = None
    ask = None
    if bid_fill.unfilled == 0:
        # floor: the impact bid is never better than what a seller would get on average.
        bid = compute_average_price(inst, bid_fill.qty, bid_fill.value, round_up=False)
    if ask_fill.unfilled == 0:
        # ceil: the impact ask is never better than what a buyer would pay on average.
        ask = compute_average_price(inst, ask_fill.qty, ask_fill.value, round_up=True)
    mid = None
    if bid is not None and ask is not None:
        mid = compute_impact_mid(inst, bid, ask)
    return ImpactPrices(bid=bid, ask=ask, mid=mid)
