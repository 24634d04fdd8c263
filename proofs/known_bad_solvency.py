"""Known-bad solvency rules: plausible mistakes the checkers must catch (rules/solvency.py).

The obligations in :mod:`proofs.obligations_solvency` and
:mod:`proofs.obligations_fill_carry` that use them expect Z3 to *refute* them; ``tests/test_solvency.py`` replays the collusion of issue 13
on the broken and the real rule.  Nothing outside ``proofs/`` and ``tests/``
may import this module.
"""

from __future__ import annotations

import attrs

from perpspec.proofs.known_bad_kernels import compute_isolated_margin_after_fill_charging_the_rest
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.num import and_, ite
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.solvency import (
    FillOutcome,
    PoolState,
    apply_fill_to_pool,
    compute_fill_outcome,
    compute_opened_qty,
    is_order_solvent,
)


def compute_fill_outcome_without_commission(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> FillOutcome:
    """KNOWN-BAD LIQ-040: the outcome of a fill as if it paid no commission (the check then misses the fee)."""
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    fee = outcome.commission
    return attrs.evolve(  # BAD: the commission is added back
        outcome,
        pool_equity=outcome.pool_equity + fee,
        retained_equity=outcome.retained_equity + fee,
        account_equity=outcome.account_equity + fee,
    )


def compute_fill_outcome_charging_the_rest(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> FillOutcome:
    """KNOWN-BAD LIQ-040 (isolated): the outcome with ACC-006 as it was before attack review 2.

    The closed part's realised loss is charged to the requirement of what is left (and a flip's to the new side).
    """
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    old_req = compute_requirement(inst, pool.position, pool.leverage_hundredths, pool.chosen_tier)
    new_req = compute_requirement(inst, outcome.position, pool.leverage_hundredths, pool.chosen_tier)
    premium = compute_order_premium(inst, compute_opened_qty(pool.position.qty, outcome.position.qty), price, mark_price)
    margin = compute_isolated_margin_after_fill_charging_the_rest(  # BAD: the rule before the fix
        pool.pool_margin,
        old_req.pos_init + old_req.pos_comm,
        new_req.pos_init + new_req.pos_comm,
        outcome.realised,
        premium,
        pool.free_wallet + outcome.realised - outcome.commission,
        pool.available,
        pool.position.qty,
        outcome.position.qty,
    )
    pnl_after = compute_value(inst, outcome.position.qty, mark_price) - outcome.position.cost
    return attrs.evolve(outcome, pool_margin=margin, pool_equity=margin + pnl_after)


def compute_fill_outcome_on_the_free_wallet(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> FillOutcome:
    """KNOWN-BAD LIQ-040 (isolated): ACC-006's draws judged on the free wallet beyond the pool (fee paid) instead of
    MRG-050's available as the fill finds it (fix26_2's measure: a fill judged solvent on a draw the engine never
    made left an isolated pool at -433,462 XBt)."""
    commission = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price).commission
    on_the_wallet = attrs.evolve(pool, available=pool.free_wallet - pool.pool_margin - commission)  # BAD
    return compute_fill_outcome(inst, on_the_wallet, fill_qty, price, fee_ppm, mark_price)


def is_order_solvent_at_mark(
    inst: Instrument, pool: PoolState, order_qty: int, price: int, fee_ppm: int, mark_price: int
) -> bool:
    """KNOWN-BAD LIQ-042: the order is judged as if it executed at the **mark**, not at its own price."""
    del price
    return is_order_solvent(inst, pool, order_qty, mark_price, fee_ppm, mark_price)  # BAD: the wrong price


def is_adl_eligible_without_not_losing(
    inst: Instrument, qty: int, cost: int, pool_equity: int, mark_price: int, bankrupt_qty: int, bankruptcy_price: int
) -> bool:
    """KNOWN-BAD ADL-003: eligibility with the "not losing at the bankruptcy price" clause deleted.

    The other clauses (opposite side, pool equity ≥ 0 now and if closed at the
    bankruptcy price) keep the candidate's equity ≥ 0, so no equity obligation
    notices; a candidate who entered beyond the bankruptcy price is then closed
    at a realised loss — deleveraging makes a loser pay for a bankruptcy.
    """
    del cost  # BAD: the position's cost basis is never compared with its value at the bankruptcy price
    opposite = ite(qty > 0, 1, ite(qty < 0, -1, 0)) * ite(bankrupt_qty > 0, 1, -1) < 0
    value_at_bankruptcy = compute_value(inst, qty, bankruptcy_price)
    equity_if_closed = pool_equity + value_at_bankruptcy - compute_value(inst, qty, mark_price)
    return and_(opposite, and_(equity_if_closed >= 0, pool_equity >= 0))  # BAD: no not-losing clause


def apply_fill_to_pool_without_commission(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> PoolState:
    """KNOWN-BAD LIQ-049: the free wallet carried to the next fill without the commission the fill paid."""
    carried = apply_fill_to_pool(inst, pool, fill_qty, price, fee_ppm, mark_price)
    commission = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price).commission
    return attrs.evolve(carried, free_wallet=carried.free_wallet + commission)  # BAD: the commission given back


def apply_fill_to_pool_keeping_account_equity(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> PoolState:
    """KNOWN-BAD LIQ-049: the account's equity carried to the next fill as it was before the fill."""
    carried = apply_fill_to_pool(inst, pool, fill_qty, price, fee_ppm, mark_price)
    return attrs.evolve(carried, account_equity=pool.account_equity)  # BAD: the fill's PnL and commission dropped


# Counterexamples to the known-bad "fill check on the free wallet" (fix26_2's measure), found by a concrete random
# search over the rules (helper liq040, session 21) and kept: each is checked by evaluation.  A
# reduction of a 100x isolated pool short of its requirement, MRG-050's available 0, the free wallet large.
FREE_WALLET_DRAW_COUNTEREXAMPLES: dict[str, dict[str, int]] = {
    "XBTUSD": {
        "mark_price": 2604650, "price": 2593250, "fill_qty": -1800, "fee_ppm": 0, "position.qty": 4000,
        "position.cost": -14600400, "wallet": 1629934, "other_isolated_margins": 0, "other_pnl": 0,
        "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 116755, "available": 0,
    },
    "ETHUSD": {
        "mark_price": 154920, "price": 157025, "fill_qty": 1, "fee_ppm": 0, "position.qty": -8,
        "position.cost": -1129360, "wallet": 171005, "other_isolated_margins": 0, "other_pnl": 0,
        "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 731, "available": 0,
    },
    "XBTUSDT": {
        "mark_price": 3598200, "price": 3500050, "fill_qty": -17000, "fee_ppm": 0, "position.qty": 26000,
        "position.cost": 941473000, "wallet": 60484350, "other_isolated_margins": 0, "other_pnl": 0,
        "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 974447, "available": 0,
    },
}


# Counterexamples to the known-bad "loss charged to the rest" (ACC-006 before attack review 2), found by the
# solver once (1 s to 7 s) and kept: each is checked by evaluation, so the refutation needs no search.
LOSS_CHARGED_TO_THE_REST_COUNTEREXAMPLES: dict[str, dict[str, int]] = {
    "XBTUSD": {
        "mark_price": 99985002, "price": 99999350, "fill_qty": 300, "fee_ppm": -666600, "position.qty": -200,
        "position.cost": 5000000000, "wallet": 4999960110, "other_isolated_margins": 0, "other_pnl": 0,
        "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 53787500, "available": 0,
    },
    "ETHUSD": {
        "mark_price": 100000000, "price": 5, "fill_qty": -1, "fee_ppm": 3, "position.qty": 2,
        "position.cost": 199999991, "wallet": 102076492, "other_isolated_margins": 0, "other_pnl": 0,
        "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 4153000, "available": 0,
    },
    "XBTUSDT": {
        "mark_price": 1000000000, "price": 50, "fill_qty": 2000000000000, "fee_ppm": 1, "position.qty": -1000,
        "position.cost": 1496000000000, "wallet": 1516766000490, "other_isolated_margins": 0, "other_pnl": 0,
        "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 46035660000, "available": 0,
    },
}
