"""Known-bad waterfall rules: plausible mistakes the checkers must catch.

Each is a broken copy of a kernel in :mod:`rules.liquidation`,
:mod:`rules.insurance` or :mod:`rules.adl`.  The obligations in
:mod:`proofs.obligations_waterfall` (and :mod:`proofs.obligations_adl_due`) that use them expect Z3 to *refute* them,
and ``tests/test_adl.py``, ``tests/test_insurance.py`` and
``tests/test_liquidation.py`` replay a counterexample on the broken and the
real kernel.  Nothing outside ``proofs/`` and ``tests/`` may import this module.
"""

from __future__ import annotations

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import compute_margin_excess
from perpspec.rules.num import and_, ite, max_


def is_adl_eligible_by_mark_profit(
    inst: Instrument, qty: int, cost: int, pool_equity: int, mark_price: int, bankrupt_qty: int, bankruptcy_price: int
) -> bool:
    """KNOWN-BAD ADL-003: eligible when profitable at **mark** (instead of not losing at the bankruptcy price).

    A position in profit at mark but losing at the bankruptcy price is then
    closed at a loss that can exceed its owner's margin.
    """
    del bankruptcy_price
    opposite = ite(qty > 0, 1, ite(qty < 0, -1, 0)) * ite(bankrupt_qty > 0, 1, -1) < 0
    profitable_at_mark = compute_value(inst, qty, mark_price) - cost > 0  # BAD: the wrong price
    return and_(opposite, and_(profitable_at_mark, pool_equity >= 0))


def compute_affordable_lots_uncapped(
    inst: Instrument, side: int, price: int, bankruptcy_price: int, budget: int, lots: int
) -> int:
    """KNOWN-BAD INS-002: every offered lot is taken, whatever the fund holds (the draw is not capped)."""
    del inst, side, price, bankruptcy_price, budget
    return lots  # BAD: no cap at the fund's balance


def is_liquidatable_on_last_price(
    inst: Instrument, qty: int, cost: int, margin: int, maintenance: int, last_price: int
) -> bool:
    """KNOWN-BAD LIQ-003: the trigger reads the **last traded price** instead of the mark."""
    equity = margin + compute_value(inst, qty, last_price) - cost  # BAD: one trade can move it
    return compute_margin_excess(equity, maintenance) < 0


def compute_adl_fund_delta_at_mark(inst: Instrument, close_qty: int, mark_price: int, bankruptcy_price: int) -> int:
    """KNOWN-BAD ADL-020: the candidate is closed at **mark**; the engine's loss against its take-over price falls on the fund.

    ``close_qty`` is signed like the candidate's position.  The engine holds
    the opposite at the bankruptcy price; closing it at mark instead costs
    ``value(close_qty, mark) − value(close_qty, bankruptcy)`` — charged to the
    fund without a cap, so the fund can go negative (and no one is asked to
    take a haircut).
    """
    return compute_value(inst, close_qty, bankruptcy_price) - compute_value(inst, close_qty, mark_price)


def compare_adl_priority_without_tie_break(
    a_num: int, a_den: int, a_size: int, a_id: int, b_num: int, b_den: int, b_size: int, b_id: int
) -> int:
    """KNOWN-BAD ADL-002: scores only — two distinct positions with equal scores compare equal (no strict order)."""
    del a_size, a_id, b_size, b_id
    lhs = a_num * b_den
    rhs = b_num * a_den
    return ite(lhs > rhs, 1, ite(lhs < rhs, -1, 0))


def compute_draw_uncapped(fund_balance: int, shortfall: int) -> int:
    """KNOWN-BAD INS-003: the fund pays the whole shortfall, whatever it holds."""
    del fund_balance
    return max_(shortfall, 0)  # BAD: not min_(fund, shortfall)



def is_adl_due_on_cover_only(held_qty: int, takeover_price: int, mark_price: int, fund_cover: int) -> bool:
    """KNOWN-BAD ADL-032 (the rule until session 16): every held close-out is deleveraged once ADL-031's cover is < 0.

    Also one in profit at mark, whose mark never reached its bankruptcy price: closed there, it hands the held
    profit to the opposing trader (a negative haircut) and covers no shortfall (red team 15).
    """
    del held_qty, takeover_price, mark_price
    return fund_cover < 0  # BAD: the mark need not have reached the bankruptcy price
