"""ACC: which fee rate an account pays — the fee tier from its 30-day volume, and what a fill adds to that volume.

BitMEX's fee schedule (reference §10) gives lower rates to accounts that trade more: the tier of a day is the
highest row of ``feeTiers`` whose threshold the account's **average daily USD volume over the 30 previous days**
reaches.  Today's own volume counts from tomorrow, so a tier never changes within a day.  Both amounts round
*against* the trader: the average is floored (a tier is reached by whole dollars only) and a fill's USD volume is
floored (volume is a threshold for a discount, never rounded up in the trader's favour).

Inverse contracts are quoted in USD, so one contract is one USD of volume.  Linear, quanto and spot fills count
their settlement-currency notional converted at the settlement asset's USD price ``usd_price / usd_price_scale``
USD per whole unit (1 / 1 for USDt; the XBTUSD mark over XBTUSD's ``priceScale`` for XBt; 0 when unknown, which
counts no volume), floored once: the price is not rounded to whole dollars first (redteam22_4: that rounding was
engine glue no obligation read, and rounded up it gave traders volume they had not traded).

The engine keeps each account's volume per UTC day and calls these rules when a fill is booked (ACC-009) and when
an order needs its account's rate (ACC-008, cached for the day).
"""

from __future__ import annotations

from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.num import abs_, floordiv, ite

FEE_WINDOW_DAYS = 30  # BitMEX: the 30-day average daily volume


def compute_window_volume(volume_by_day: tuple[tuple[int, int], ...], day: int) -> int:
    """ACC-008: the USD volume of the ``FEE_WINDOW_DAYS`` days before ``day`` (``day`` itself not counted)."""
    first = day - FEE_WINDOW_DAYS
    total = 0
    for traded_day, volume in volume_by_day:
        if first <= traded_day < day:  # structural: day indices are concrete, only volumes may be symbolic
            total = total + volume
    return total


def compute_fee_tier(inst: Instrument, window_volume: int) -> int:
    """ACC-008: the index into ``feeTiers`` of the highest row whose ``adv_usd`` the average daily volume reaches.

    The average is ``window_volume // 30``, floored: a tier is reached only by whole dollars.  Row 0 applies from 0.
    """
    adv = floordiv(window_volume, FEE_WINDOW_DAYS)
    tier = 0
    for index, row in enumerate(inst.fee_tiers):
        tier = ite(adv >= row.adv_usd, index, tier)
    return tier


def compute_usd_volume(
    inst: Instrument, qty: int, price: int, usd_price: int, usd_price_scale: int, minor_per_unit: int
) -> int:
    """ACC-009: the USD volume a fill of ``qty`` at ``price`` adds to both accounts' fee-tier history, rounded down.

    Inverse: ``|qty|`` (one contract is one USD).  Otherwise the notional (CON-003) in settlement minor units at
    the settlement asset's USD price ``usd_price / usd_price_scale`` per whole unit (XBt: the XBTUSD mark and
    XBTUSD's ``priceScale``; USDt: 1 and 1; unknown: 0), over ``minor_per_unit`` minor units per whole unit: one
    floor of the exact USD value (``usd_price_scale > 0``), never above it, less than one USD below it.
    """
    if inst.is_inverse:  # structural: the contract kind is a parameter, not an input
        return abs_(qty)
    # floored once, against the trader: volume is a threshold for a discount
    return floordiv(compute_notional(inst, qty, price) * usd_price, minor_per_unit * usd_price_scale)
