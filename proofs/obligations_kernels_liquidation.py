"""Kernel obligations: liquidation, risk limits and the ADL order.

Split from :mod:`proofs.obligations_kernels` (whose docstring says what these prove).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.kernels_common import INVERSE, SYMBOLS, add, floor_exact, iff
from perpspec.proofs.obligations_core import assume_valid_price, assume_well_formed, assume_whole_lots
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.sym import all_of, implies
from perpspec.rules import (
    adl,
    contract,
    liquidation,
    margin,
    risk_limit,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import PPM, abs_, and_, ite, not_, or_
from perpspec.rules.position import Position, apply_fill


def prove_excess_sign(kernel: Callable[[int, int], int]) -> ProofResult:
    """LIQ-002: the excess is below zero exactly when equity is below maintenance."""
    with Prover() as prover:
        equity, maintenance = prover.symbol("equity"), prover.symbol("maintenance")
        prover.assume(maintenance >= 0, "maintenance ≥ 0")
        excess = kernel(equity, maintenance)
        return prover.prove(and_(iff(excess < 0, equity < maintenance), excess + maintenance == equity), "LIQ-002")


def prove_trigger_exact(kernel: Callable[[int, int], bool]) -> ProofResult:
    """LIQ-003: liquidatable exactly when equity < maintenance (both directions; at equality: not liquidated)."""
    with Prover() as prover:
        equity, maintenance = prover.symbol("equity"), prover.symbol("maintenance")
        prover.assume(maintenance >= 0, "maintenance ≥ 0")
        return prover.prove(iff(kernel(equity, maintenance), equity < maintenance), "LIQ-003")


def prove_requirement(symbol: str, kernel: Callable[..., liquidation.Requirement]) -> ProofResult:
    """LIQ-001: the effective tier is ≥ both the position's own steps and the chosen tier; figures ordered and ≥ 0."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        leverage, chosen = prover.symbol("leverage_hundredths"), prover.symbol("chosen_tier")
        assume_well_formed(prover, inst, held, "position")
        prover.assume(leverage >= 0, "leverage ≥ 0")
        prover.assume(and_(chosen >= 0, chosen <= 100), "chosen tier in 0..100")
        prover.assume(abs_(held.cost) <= 10**16, "entry value at most 1e16 minor units")
        req = kernel(inst, held, leverage, chosen)
        own = risk_limit.compute_risk_steps(inst, abs_(held.cost))
        return prover.prove(
            all_of(req.steps >= own, req.steps >= chosen, req.pos_init >= 0, req.pos_comm >= 0, req.pos_maint >= req.pos_comm),
            f"LIQ-001 {symbol}",
        )


def _requirement_chosen_tier_only(inst: Instrument, held: Position, leverage: int, chosen: int) -> liquidation.Requirement:
    """KNOWN-BAD LIQ-001: the chosen tier replaces the position's own steps (the ``max`` dropped)."""
    pos_cost = abs_(held.cost)
    pos_init = margin.compute_pos_init(pos_cost, margin.compute_init_margin_req_ppm(inst, leverage, chosen))
    pos_comm = margin.compute_pos_comm(pos_cost, pos_init, 0, inst.taker_fee_ppm)
    pos_maint = margin.compute_pos_maint(pos_cost, risk_limit.compute_maint_margin_req_ppm(inst, chosen), pos_comm)
    return liquidation.Requirement(steps=chosen, pos_init=pos_init, pos_comm=pos_comm, pos_maint=pos_maint)


def prove_fitting_tier(symbol: str, kernel: Callable[..., int], rule_id: str) -> ProofResult:
    """LIQ-007 / RSK-001: the smallest tier whose limit holds the value."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        gross = prover.symbol("gross_value")
        prover.assume(gross >= 0, "value ≥ 0")
        tier = kernel(inst, gross)
        fits = risk_limit.compute_tier_limit(inst, tier) >= gross
        smallest = or_(tier == 0, risk_limit.compute_tier_limit(inst, tier - 1) < gross)
        return prover.prove(all_of(tier >= 0, fits, smallest), f"{rule_id} {symbol}")


def prove_reduction_to_tier(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """LIQ-008: whole lots, at most the position, and the kept entry value (split as ACC-003) fits the tier."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        tier = prover.symbol("tier")
        assume_well_formed(prover, inst, held, "position")
        prover.assume(held.qty != 0, "open")
        prover.assume(and_(tier >= 0, tier <= 100), "tier in 0..100")
        prover.assume(abs_(held.cost) <= 10**16, "entry value at most 1e16 minor units")
        prover.assume(abs_(held.qty) <= 10**12, "at most 1e12 contracts")
        magnitude = kernel(inst, held, tier)
        close_qty = ite(held.qty > 0, magnitude, -magnitude)
        kept = liquidation.compute_kept_position(held, close_qty)
        return prover.prove(
            all_of(
                magnitude >= 0,
                magnitude <= abs_(held.qty),
                magnitude % inst.lot_size == 0,
                abs_(kept.cost) <= risk_limit.compute_tier_limit(inst, tier) + 1,
            ),
            f"LIQ-008 {symbol}",
        )


def prove_kept_position(symbol: str, kernel: Callable[[Position, int], Position]) -> ProofResult:
    """LIQ-009: the kept position is exactly what ACC-003 leaves after the same reduction (any price)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        close_qty, price = prover.symbol("close_qty"), prover.symbol("price")
        assume_well_formed(prover, inst, held, "position")
        assume_whole_lots(prover, inst, close_qty, "close_qty")
        assume_valid_price(prover, inst, price, "price")
        prover.assume(
            or_(and_(held.qty > 0, and_(close_qty > 0, close_qty <= held.qty)), and_(held.qty < 0, and_(close_qty < 0, close_qty >= held.qty))),
            "a reduction signed like the position",
        )
        kept = kernel(held, close_qty)
        filled, _ = apply_fill(inst, held, -close_qty, price)
        return prover.prove(and_(kept.qty == filled.qty, kept.cost == filled.cost), f"LIQ-009 {symbol}")


def prove_partial_plan_safe(symbol: str, at_own_tier: bool = True) -> ProofResult:
    """LIQ-010/013/014/015: a feasible plan's FillOrKill, filled at its limit, leaves the pool ≥ the new tier's maintenance.

    The pool's equity at mark after closing ``close_qty`` for fills worth ``v`` is
    ``equity + v − closed_mark_value``; at the limit price that is ``≥ other maintenance +
    new maintenance`` whenever the plan is feasible.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        leverage, tier = prover.symbol("leverage_hundredths"), prover.symbol("tier")
        equity, other, mark_price = prover.symbol("pool_equity"), prover.symbol("other_maintenance"), prover.symbol("mark_price")
        assume_well_formed(prover, inst, held, "position")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        prover.assume(and_(tier >= 1, tier <= 50), "above the base tier (1..50)")
        prover.assume(leverage == 0, "cross")
        prover.assume(abs_(held.cost) <= 10**14, "entry value at most 1e14 minor units")
        if at_own_tier:
            own = risk_limit.compute_risk_steps(inst, abs_(held.cost))
            prover.assume(tier == own, "the effective tier is the position's own (the chosen limit was lowered first)")
        else:
            prover.assume(tier > risk_limit.compute_risk_steps(inst, abs_(held.cost)), "a chosen tier above the position's own")
        plan = liquidation.compute_partial_plan(inst, held, leverage, tier, equity, other, mark_price)
        value_at_limit = contract.compute_value(inst, plan.close_qty, plan.limit_price)
        after = equity + value_at_limit - plan.reduction.closed_mark_value
        return prover.prove(implies(plan.feasible, after >= other + plan.new_maintenance), f"LIQ-015 {symbol}")


def prove_partial_feasible_exact(symbol: str, kernel: Callable[..., bool]) -> ProofResult:
    """LIQ-014: feasible exactly when the headroom is ≥ 0, something is closed, and the residual at the limit is ≥ 0."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        close_qty, closed_value, headroom, limit_price = (prover.symbol(n) for n in ("close_qty", "closed_mark_value", "headroom", "limit_price"))
        assume_whole_lots(prover, inst, close_qty, "close_qty")
        assume_valid_price(prover, inst, limit_price, "limit_price")
        reduction = liquidation.PartialReduction(
            close_qty=close_qty, kept=Position(), new_tier=0, new_maintenance=0, headroom=headroom, closed_mark_value=closed_value
        )
        residual = headroom + contract.compute_value(inst, close_qty, limit_price) - closed_value
        expected = and_(and_(headroom >= 0, close_qty != 0), residual >= 0)
        return prover.prove(iff(kernel(inst, reduction, limit_price), expected), f"LIQ-014 {symbol}")


def _partial_feasible_without_headroom(inst: Instrument, reduction: liquidation.PartialReduction, limit_price: int) -> bool:
    """KNOWN-BAD LIQ-014: the headroom clause dropped (a pool that cannot afford the new tier is 'feasible')."""
    at_limit = liquidation.compute_pool_residual(inst, reduction.close_qty, reduction.closed_mark_value, reduction.headroom, limit_price)
    return and_(reduction.close_qty != 0, at_limit >= 0)


def prove_maint_req(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """RSK-002: the maintenance requirement starts at maintMargin and rises by its step per tier."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        steps = prover.symbol("steps")
        prover.assume(steps >= 0, "steps ≥ 0")
        now, above = kernel(inst, steps), kernel(inst, steps + 1)
        return prover.prove(
            all_of(now >= inst.maint_margin_ppm, above - now == inst.maint_margin_step_ppm, above > now), f"RSK-002 {symbol}"
        )


def prove_init_above_maint(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """RSK-003: the initial requirement is above the maintenance requirement at every tier (and rises with it)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        steps = prover.symbol("steps")
        prover.assume(steps >= 0, "steps ≥ 0")
        init = kernel(inst, steps)
        return prover.prove(
            and_(init > risk_limit.compute_maint_margin_req_ppm(inst, steps), kernel(inst, steps + 1) > init), f"RSK-003 {symbol}"
        )


def prove_tier_limit(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """RSK-004: a value at the tier's limit is in that tier (RSK-001); one unit more is in the next."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        steps = prover.symbol("steps")
        prover.assume(steps >= 0, "steps ≥ 0")
        limit = kernel(inst, steps)
        return prover.prove(
            and_(risk_limit.compute_risk_steps(inst, limit) == steps, risk_limit.compute_risk_steps(inst, limit + 1) == steps + 1),
            f"RSK-004 {symbol}",
        )


def prove_max_leverage(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """RSK-005: the maximum leverage is the largest whose ``1 / leverage`` still covers the tier's initial margin."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        steps = prover.symbol("steps")
        prover.assume(and_(steps >= 0, steps <= 10_000), "steps in 0..10_000")
        top = kernel(inst, steps)
        required = risk_limit.compute_risk_init_margin_req_ppm(inst, steps)
        return prover.prove(floor_exact(top, PPM * 100, required), f"RSK-005 {symbol}")


def prove_strictly_ordered(kernel: Callable[[int], bool]) -> ProofResult:
    """ADL-008: for two candidates of distinct accounts, the ADL-002 comparison always decides."""
    with Prover() as prover:
        names = ("a_num", "a_den", "a_size", "a_id", "b_num", "b_den", "b_size", "b_id")
        a_num, a_den, a_size, a_id, b_num, b_den, b_size, b_id = (prover.symbol(name) for name in names)
        prover.assume(and_(a_den > 0, b_den > 0), "denominators > 0 (ADL-001)")
        prover.assume(a_id != b_id, "distinct accounts")
        comparison = adl.compare_adl_priority(a_num, a_den, a_size, a_id, b_num, b_den, b_size, b_id)
        same = adl.compare_adl_priority(a_num, a_den, a_size, a_id, a_num, a_den, a_size, a_id)
        return prover.prove(and_(kernel(comparison), not_(kernel(same))), "ADL-008")


def prove_deleverage_band(kernel: Callable[[int, int], int]) -> ProofResult:
    """ADL-006: 1..5 lights; the top position shows 5; a later rank never shows more lights."""
    with Prover() as prover:
        rank, count = prover.symbol("rank"), prover.symbol("count")
        prover.assume(and_(rank >= 0, rank < count), "0 ≤ rank < count")
        band, later = kernel(rank, count), kernel(rank + 1, count)
        return prover.prove(
            all_of(band >= 1, band <= 5, kernel(0, count) == 5, or_(rank + 1 >= count, later <= band)), "ADL-006"
        )


def _register() -> None:
    conservation = "INV-CONSERVATION"
    rounding = "ROUNDING-TOWARD-SYSTEM"
    exact = "EXACT-REJECTION"
    order = "INV-ADL-ORDER"
    for symbol in SYMBOLS:
        p = functools.partial
        add(f"LIQ-001/effective-tier/{symbol}", "LIQ-001", rounding,
            "The effective tier is ≥ the position's own steps and the chosen tier; posMaint ≥ posComm ≥ 0, posInit ≥ 0.",
            p(prove_requirement, symbol, liquidation.compute_requirement))
        add(f"LIQ-001/chosen-tier-only/{symbol}", "LIQ-001", rounding, "the chosen tier replaces the position's own steps.",
            p(prove_requirement, symbol, _requirement_chosen_tier_only), expect="refuted")
        add(f"LIQ-007/smallest-fitting-tier/{symbol}", "LIQ-007", rounding, "The tier is the smallest whose limit holds the value.",
            p(prove_fitting_tier, symbol, liquidation.compute_fitting_tier, "LIQ-007"))
        add(f"LIQ-007/floor/{symbol}", "LIQ-007", rounding, "the tier rounded down.",
            p(prove_fitting_tier, symbol, bad.compute_fitting_tier_floor, "LIQ-007"), expect="refuted")
        add(f"RSK-001/smallest-fitting-tier/{symbol}", "RSK-001", rounding, "The risk steps are the smallest tier whose limit holds the value.",
            p(prove_fitting_tier, symbol, risk_limit.compute_risk_steps, "RSK-001"))
        add(f"RSK-001/floor/{symbol}", "RSK-001", rounding, "the steps rounded down.",
            p(prove_fitting_tier, symbol, bad.compute_fitting_tier_floor, "RSK-001"), expect="refuted")
        add(f"LIQ-008/fits-tier/{symbol}", "LIQ-008", rounding,
            "The reduction is whole lots within the position, and the kept cost fits the tier's limit (within the 1-unit floor of ACC-003's split).",
            p(prove_reduction_to_tier, symbol, liquidation.compute_reduction_to_tier))
        add(f"LIQ-008/ceil/{symbol}", "LIQ-008", rounding, "the kept lots rounded up.",
            p(prove_reduction_to_tier, symbol, bad.compute_reduction_to_tier_ceil), expect="refuted")
        add(f"LIQ-009/acc-003-split/{symbol}", "LIQ-009", conservation, "The kept position is exactly what ACC-003 leaves after the same reduction.",
            p(prove_kept_position, symbol, liquidation.compute_kept_position))
        add(f"LIQ-009/ceil/{symbol}", "LIQ-009", conservation, "the kept cost rounded up.",
            p(prove_kept_position, symbol, bad.compute_kept_position_ceil), expect="refuted")
        add(f"LIQ-014/feasible-exact/{symbol}", "LIQ-014", exact,
            "Feasible exactly when headroom ≥ 0, something is closed and the residual at the limit is ≥ 0.",
            p(prove_partial_feasible_exact, symbol, liquidation.is_partial_feasible))
        add(f"LIQ-014/headroom-dropped/{symbol}", "LIQ-014", exact, "the headroom clause dropped.",
            p(prove_partial_feasible_exact, symbol, _partial_feasible_without_headroom), expect="refuted")
        add(f"RSK-002/base-and-step/{symbol}", "RSK-002", rounding, "Maintenance starts at maintMargin and rises by its step per tier.",
            p(prove_maint_req, symbol, risk_limit.compute_maint_margin_req_ppm))
        add(f"RSK-002/base-dropped/{symbol}", "RSK-002", rounding, "the base maintenance margin dropped.",
            p(prove_maint_req, symbol, bad.compute_maint_margin_req_without_base), expect="refuted")
        add(f"RSK-003/above-maintenance/{symbol}", "RSK-003", rounding, "Initial margin is above maintenance at every tier, and rises with the tier.",
            p(prove_init_above_maint, symbol, risk_limit.compute_risk_init_margin_req_ppm))
        add(f"RSK-003/maintenance-base/{symbol}", "RSK-003", rounding, "the initial requirement built on the maintenance base.",
            p(prove_init_above_maint, symbol, bad.compute_risk_init_margin_req_maint_base), expect="refuted")
        add(f"RSK-004/limit-in-tier/{symbol}", "RSK-004", rounding, "A value at the tier limit is in the tier; one unit more is in the next.",
            p(prove_tier_limit, symbol, risk_limit.compute_tier_limit))
        add(f"RSK-004/off-by-one/{symbol}", "RSK-004", rounding, "the limit one step too generous.",
            p(prove_tier_limit, symbol, bad.compute_tier_limit_off_by_one_step), expect="refuted")
        add(f"RSK-005/floor/{symbol}", "RSK-005", rounding, "The maximum leverage is 1/initMarginReq rounded down.",
            p(prove_max_leverage, symbol, risk_limit.compute_max_leverage_hundredths))
        add(f"RSK-005/ceil/{symbol}", "RSK-005", rounding, "the maximum leverage rounded up.",
            p(prove_max_leverage, symbol, bad.compute_max_leverage_ceil), expect="refuted")
        add(f"LIQ-015/feasible-plan-safe/{symbol}", "LIQ-015 LIQ-010 LIQ-013", "INV-NO-FALSE-LIQUIDATION",
            "A feasible partial-liquidation plan filled at its limit leaves the pool at or above the new tier's maintenance.",
            p(prove_partial_plan_safe, symbol))
        if symbol in INVERSE:
            add(f"FINDING/LIQ-015/zero-reduction/{symbol}", "LIQ-015", "INV-NO-FALSE-LIQUIDATION",
                "FINDING: with a chosen tier above the position's own, the reduction closes nothing and the "
                "limit price is 0: the inverse value at price 0 divides by zero (ZeroDivisionError).",
                p(prove_partial_plan_safe, symbol, False), expect="refuted")
    p = functools.partial
    add("LIQ-002/sign", "LIQ-002", "INV-NO-FALSE-LIQUIDATION", "The excess is below zero exactly when equity is below maintenance.",
        p(prove_excess_sign, liquidation.compute_margin_excess))
    add("LIQ-002/swapped", "LIQ-002", "INV-NO-FALSE-LIQUIDATION", "maintenance − equity.", p(prove_excess_sign, bad.compute_margin_excess_swapped), expect="refuted")
    add("LIQ-003/strict", "LIQ-003", "INV-NO-FALSE-LIQUIDATION", "Liquidatable exactly when equity < maintenance; at equality not liquidated.",
        p(prove_trigger_exact, liquidation.is_liquidatable))
    add("LIQ-003/at-equality", "LIQ-003", "INV-NO-FALSE-LIQUIDATION", "≤ instead of <.", p(prove_trigger_exact, bad.is_liquidatable_at_equality), expect="refuted")
    add("ADL-008/distinct-decide", "ADL-008", order, "Two candidates of distinct accounts always compare decided; a candidate with itself does not.",
        p(prove_strictly_ordered, adl.is_strictly_ordered))
    add("ADL-008/non-strict", "ADL-008", order, "comparison ≥ 0 accepted as ordered.", p(prove_strictly_ordered, bad.is_strictly_ordered_non_strict), expect="refuted")
    add("ADL-006/bands", "ADL-006", order, "1..5 lights, 5 for the top position, never more lights for a later rank.", p(prove_deleverage_band, adl.compute_deleverage_band))
    add("ADL-006/ceil", "ADL-006", order, "the band computed with a ceiling.", p(prove_deleverage_band, bad.compute_deleverage_band_ceil), expect="refuted")


_register()
