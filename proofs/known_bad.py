"""Known-bad rules: deliberately broken copies of rule kernels.

Each one is a plausible mistake that the checkers must catch.  The
obligations in ``proofs/obligations_*.py`` that use them expect Z3 to
*refute* them (``expect="refuted"``); the tests replay the counterexamples on
the broken and the real kernels.  Nothing outside ``proofs/`` and ``tests/``
may import this module.
"""

from __future__ import annotations

from perpspec.rules.instrument import Instrument
from perpspec.rules.num import PPM, abs_, ceildiv, clamp, floordiv, ite, max_


def compute_commission_floor(notional: int, fee_ppm: int) -> int:
    """KNOWN-BAD ACC-002: commission rounded *down*, toward the trader.

    A taker then pays less than the exact fee: the fee pool is short of what
    the schedule says, i.e. rounding creates money for the trader.
    """
    return floordiv(notional * fee_ppm, PPM)  # BAD: floor favours the trader


def compute_realised_pnl_naive_inverse(inst: Instrument, qty: int, entry_price: int, exit_price: int) -> int:
    """KNOWN-BAD ACC-003: the textbook per-side inverse PnL ``qty * (1e8 // entry - 1e8 // exit)``.

    Each side computes its own PnL from prices, flooring per contract, instead
    of moving one integer value between cost bases: the winner's credit and
    the loser's debit need not match the values the counterparties booked.
    ``1e8`` is the satoshis per coin per contract in price units
    (``|multiplier| * price_scale``).
    """
    sats_per_contract_unit = -inst.multiplier * inst.price_scale
    return qty * (sats_per_contract_unit // entry_price - sats_per_contract_unit // exit_price)


def compute_bankruptcy_price_rounded_wrong_way(inst: Instrument, qty: int, cost: int, margin: int, pos_comm: int) -> int:
    """KNOWN-BAD MRG-012: :func:`rules.margin.compute_threshold_price` with the tick rounding reversed.

    A long's price is floored to the tick and a short's ceiled — toward the
    trader — so closing at the "bankruptcy" price can leave the position
    below its commission reserve: the insurance fund pays for the rounding.
    """
    lots = abs_(qty) // inst.lot_size
    slack = margin - pos_comm
    tick = inst.tick_size
    if inst.is_inverse:
        numerator = -inst.multiplier * inst.price_scale * inst.lot_size
        safe_lots = ite(lots == 0, 1, lots)
        short_step = ceildiv(cost - slack, safe_lots)
        short_ticks = ceildiv(numerator, max_(short_step, 1) * tick)  # BAD: ceil moves a short's price up
        short_price = ite(short_step <= 0, inst.max_price, short_ticks * tick)
        long_step = floordiv(slack - cost, safe_lots)
        long_ticks = floordiv(numerator, max_(long_step, 1) * tick)  # BAD: floor moves a long's price down
        long_price = ite(long_step <= 0, inst.max_price, long_ticks * tick)
    else:
        units = abs_(qty) * inst.multiplier * tick
        safe_units = ite(units == 0, 1, units)
        long_price = floordiv((cost - slack) * inst.price_scale, safe_units) * tick  # BAD: floor
        short_price = ceildiv((slack - cost) * inst.price_scale, safe_units) * tick  # BAD: ceil
    threshold = ite(qty > 0, long_price, short_price)
    return ite(qty == 0, 0, clamp(threshold, tick, inst.max_price))


def compute_resting_fee_ppm_maker_always(
    shown_qty: int, leaves_qty: int, incoming_qty: int, maker_fee_ppm: int, taker_fee_ppm: int
) -> int:
    """KNOWN-BAD ACC-007: every resting order pays its maker rate, whatever it displayed (redteam17 find 3).

    A hidden order is then paid the maker rebate for liquidity nobody could see: in a rebate tier the fee pool
    pays a hidden trader to rest invisibly, where BitMEX charges it the taker fee.
    """
    del shown_qty, leaves_qty, incoming_qty, taker_fee_ppm  # BAD: what the order displays is not read
    return maker_fee_ppm
