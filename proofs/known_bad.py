"""Known-bad rules: deliberately broken copies of rule kernels.

Each one is a plausible mistake that the checkers must catch.  The
obligations in ``proofs/obligations_*.py`` that use them expect Z3 to
*refute* them (``expect="refuted"``); the tests replay the counterexamples on
the broken and the real kernels.  Nothing outside ``proofs/`` and ``tests/``
may import this module.
"""

from __future__ import annotations

from rules.instrument import Instrument
from rules.num import PPM, floordiv


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
