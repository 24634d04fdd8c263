"""CON: the value of contracts (reference §1).

The *value* of ``qty`` contracts at ``price`` is an integer amount of the
settlement currency's minor unit, signed the way BitMEX signs it:

* linear and quanto: ``qty * multiplier * price / price_scale`` — exact for
  every valid lot and tick (checked when the instrument is loaded);
* inverse: ``-(qty / lotSize) * round_half_up(lotSize * |multiplier| * price_scale / price)``
  — the value of one *lot* is rounded to the nearest satoshi first, then
  multiplied by the number of lots (BitMEX: "the value credited or debited
  to your account for each Lot needs to be rounded to the nearest Satoshi";
  with ``lotSize = 1`` this is the per-contract rounding that reproduces the
  real engine records), and the sign is negative because BitMEX's inverse
  multiplier is negative.

Quantities are always whole lots (orders that are not are rejected), so the
division by ``lotSize`` is exact.

With this sign convention one formula serves every contract type:
``unrealisedPnl = markValue - cost``.  A long inverse position has a negative
value, which grows toward zero as the price rises.
"""

from __future__ import annotations

from perpspec.rules.instrument import Instrument
from perpspec.rules.num import abs_, round_half_up_div


def compute_lot_value_inverse(inst: Instrument, price: int) -> int:
    """CON-001: minor units per inverse *lot* at ``price``, rounded half up (unsigned)."""
    # round half up per lot: BitMEX "rounded to the nearest Satoshi" for each Lot.
    return round_half_up_div(-inst.multiplier * inst.price_scale * inst.lot_size, price)


def compute_value(inst: Instrument, qty: int, price: int) -> int:
    """CON-002: signed value of ``qty`` contracts at ``price`` (BitMEX ``markValue`` convention)."""
    if inst.is_inverse:
        return -(qty // inst.lot_size) * compute_lot_value_inverse(inst, price)  # exact: whole lots
    # exact: lot * multiplier is a multiple of price_scale (validated on load), so at every price unit
    return qty * inst.multiplier * price // inst.price_scale


def compute_notional(inst: Instrument, qty: int, price: int) -> int:
    """CON-003: unsigned value of ``|qty|`` contracts at ``price`` (used for margin and fees)."""
    return abs_(compute_value(inst, qty, price))
