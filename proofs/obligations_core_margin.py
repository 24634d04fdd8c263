"""Proof obligations over margin (rules/margin.py): the threshold prices and the maintenance margin.

For each shipped instrument and each side (long, short), with any position
(whole lots, any cost basis), any backing margin and any reserve ≥ 0:

* MRG-012 **safe**: at every valid mark on the safe side of the bankruptcy
  price (long: at or above it; short: at or below it), ``margin + unrealisedPnl
  ≥ posComm ≥ 0`` — provided the position is solvent at some valid price at
  all (otherwise no price can be safe and the rule returns a clamp);
* MRG-011 **no false liquidation**: the same for the liquidation price and
  ``posMaint`` (INV-NO-FALSE-LIQUIDATION);
* MRG-012 **tight**, one tick beyond the bankruptcy price (when that is a valid
  price): linear and quanto — equity < posComm, strictly; inverse — equity <
  posComm + one minor unit per lot.  *Strict* tightness is **false** for
  inverse contracts: the per-lot value ``round(N / price)`` is constant over a
  range of prices that can span several ticks, so the first tick beyond
  ``N / c`` may still be worth exactly ``c`` per lot.  That counterexample is
  kept as a finding (expected refuted) and as a regression test; the proved
  statement is the strongest one of this form that holds: the price is tight
  to within the per-lot satoshi step;
* MRG-011 **between**: for a position opened at one price ``entry`` whose
  margin exceeds its maintenance margin by at least one minor unit per lot
  (inverse; ≥ 0 for linear), ``bankruptcy ≤ liquidation ≤ entry`` (long) and
  ``entry ≤ liquidation ≤ bankruptcy`` (short);
* MRG-005 **monotone**: ``posMaint`` never decreases as the position's entry
  value grows (same instrument, leverage and extra margin), across risk steps.

Known-bad: the bankruptcy price rounded to the tick toward the trader is not safe.

Inverse goals are split with the lemmas of :mod:`proofs.lemmas` (each proved
before it is used).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from proofs import lemmas
from proofs.known_bad import compute_bankruptcy_price_rounded_wrong_way
from proofs.obligations_core import assume_valid_price, assume_whole_lots
from proofs.prover import ProofResult, Prover
from proofs.registry import Obligation, register
from rules.contract import compute_lot_value_inverse, compute_value
from rules.instrument import Instrument
from rules.instrument_file import builtin_symbols, load_instrument
from rules.margin import (
    CROSS,
    compute_bankruptcy_price,
    compute_equity,
    compute_liquidation_price,
    compute_position_margin,
)
from rules.num import abs_, and_, ceildiv, floordiv, ite
from rules.position import Position
from rules.risk_limit import compute_max_leverage_hundredths

ThresholdPrice = Callable[[Instrument, int, int, int, int], int]
SIDES = ("long", "short")


def assume_side(prover: Prover, inst: Instrument, position: Position, side: str) -> None:
    """A long (qty > 0) or short (qty < 0) position in whole lots."""
    assume_whole_lots(prover, inst, position.qty, "position.qty")
    prover.assume(position.qty > 0 if side == "long" else position.qty < 0, f"position is {side}")


def compute_lots(inst: Instrument, position: Position, side: str) -> int:
    """Number of lots of a long or short position (concrete side)."""
    qty = position.qty if side == "long" else -position.qty
    return qty // inst.lot_size  # exact: whole lots


def compute_step(inst: Instrument, position: Position, side: str, margin: int, reserve: int) -> int:
    """The per-lot integer step of MRG-010 (long: floor; short: ceil), restated for the lemmas."""
    lots = compute_lots(inst, position, side)
    safe_lots = ite(lots == 0, 1, lots)
    if side == "long":
        return floordiv(margin - reserve - position.cost, safe_lots)
    return ceildiv(position.cost - margin + reserve, safe_lots)


def is_safe_side(side: str, mark: int, price: int) -> bool:
    """Long: at or above ``price``; short: at or below it."""
    return mark >= price if side == "long" else mark <= price


def beyond(inst: Instrument, side: str, price: int) -> int:
    """One tick on the unsafe side of ``price``."""
    return price - inst.tick_size if side == "long" else price + inst.tick_size


def assume_realistic(prover: Prover, inst: Instrument, position: Position, margin: int, reserve: int) -> None:
    """Opened at one valid entry price, at most maxOrderQty, with 0 ≤ reserve ≤ margin."""
    entry = prover.symbol("entry_price")
    assume_valid_price(prover, inst, entry, "entry_price")
    prover.assume(position.cost == compute_value(inst, position.qty, entry), "opened at entry_price")
    prover.assume(abs_(position.qty) <= inst.max_order_qty, "at most maxOrderQty")
    prover.assume(and_(reserve >= 0, margin >= reserve), "0 ≤ reserve ≤ margin")


# -- safety ---------------------------------------------------------------------------


def prove_threshold_safe(
    symbol: str, side: str, threshold: ThresholdPrice, label: str, use_lemmas: bool = True
) -> ProofResult:
    """Every valid mark on the safe side of ``threshold(...)`` keeps equity ≥ reserve.

    ``use_lemmas=False`` for known-bad variants: lemmas only help to prove, and
    a refutation is found faster without their instances to satisfy; their
    positions are also made realistic (opened at a valid entry price, at most
    ``maxOrderQty``, margin ≥ reserve) so that the counterexample reads as a
    plausible account.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        margin, reserve = prover.symbol("margin"), prover.symbol("reserve")
        mark, solvent_mark = prover.symbol("mark_price"), prover.symbol("solvent_mark_price")
        assume_side(prover, inst, position, side)
        prover.assume(reserve >= 0, "reserve non-negative")
        assume_valid_price(prover, inst, mark, "mark_price")
        assume_valid_price(prover, inst, solvent_mark, "solvent_mark_price")
        prover.assume(compute_equity(inst, position, margin, solvent_mark) >= reserve, "solvent at some price")
        price = threshold(inst, position.qty, position.cost, margin, reserve)
        prover.assume(is_safe_side(side, mark, price), "mark on the safe side")
        if not use_lemmas:
            assume_realistic(prover, inst, position, margin, reserve)
        if inst.is_inverse and use_lemmas:
            use_inverse_safety_lemmas(prover, inst, position, side, margin, reserve, mark, solvent_mark)
        return prover.prove(compute_equity(inst, position, margin, mark) >= reserve, label)


def use_inverse_safety_lemmas(
    prover: Prover,
    inst: Instrument,
    position: Position,
    side: str,
    margin: int,
    reserve: int,
    mark: int,
    solvent_mark: int,
) -> None:
    """Either the mark is beyond the solvent mark (monotonicity) or past the step price (step lemma)."""
    lots = compute_lots(inst, position, side)
    step = compute_step(inst, position, side, margin, reserve)
    value, solvent_value = compute_lot_value_inverse(inst, mark), compute_lot_value_inverse(inst, solvent_mark)
    if side == "long":
        prover.use(lemmas.long_step_safe(inst), mark, step)
        prover.use(lemmas.lot_value_monotone(inst), solvent_mark, mark)
        prover.use(lemmas.PRODUCT_MONOTONE, lots, value, step)
        prover.use(lemmas.PRODUCT_MONOTONE, lots, value, solvent_value)
    else:
        prover.use(lemmas.short_step_safe(inst), mark, step)
        prover.use(lemmas.lot_value_monotone(inst), mark, solvent_mark)
        prover.use(lemmas.PRODUCT_MONOTONE, lots, step, value)
        prover.use(lemmas.PRODUCT_MONOTONE, lots, solvent_value, value)


# -- tightness ------------------------------------------------------------------------


def prove_bankruptcy_tight(symbol: str, side: str) -> ProofResult:
    """One tick beyond: equity < posComm (linear, quanto) or < posComm + lots (inverse)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        margin, reserve = prover.symbol("margin"), prover.symbol("pos_comm")
        assume_side(prover, inst, position, side)
        prover.assume(reserve >= 0, "posComm non-negative")
        price = compute_bankruptcy_price(inst, position.qty, position.cost, margin, reserve)
        next_price = beyond(inst, side, price)
        prover.assume(and_(next_price >= inst.tick_size, next_price <= inst.max_price), "a valid tick beyond")
        equity = compute_equity(inst, position, margin, next_price)
        if not inst.is_inverse:
            return prover.prove(equity < reserve, f"MRG-012 tight {symbol} {side}")
        lots = compute_lots(inst, position, side)
        step = compute_step(inst, position, side, margin, reserve)
        value = compute_lot_value_inverse(inst, next_price)
        if side == "long":
            prover.use(lemmas.long_step_beyond(inst), next_price, step)
            prover.use(lemmas.PRODUCT_MONOTONE, lots, step, value)
            prover.use(lemmas.PRODUCT_MONOTONE, lots, 0, value)
        else:
            prover.use(lemmas.short_step_beyond(inst), next_price, step)
            prover.use(lemmas.PRODUCT_MONOTONE, lots, value, step)
        return prover.prove(equity < reserve + lots, f"MRG-012 tight within a unit per lot {symbol} {side}")


def prove_inverse_strictly_tight(symbol: str, side: str) -> ProofResult:
    """FINDING (expected refuted): one tick beyond an inverse bankruptcy price, equity < posComm."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        entry = prover.symbol("entry_price")
        margin, reserve = prover.symbol("margin"), prover.symbol("pos_comm")
        assume_side(prover, inst, position, side)
        assume_valid_price(prover, inst, entry, "entry_price")
        prover.assume(position.cost == compute_value(inst, position.qty, entry), "opened at entry_price")
        prover.assume(abs_(position.qty) <= inst.max_order_qty, "at most maxOrderQty")
        prover.assume(and_(reserve >= 0, margin >= reserve), "margin covers posComm")
        price = compute_bankruptcy_price(inst, position.qty, position.cost, margin, reserve)
        next_price = beyond(inst, side, price)
        prover.assume(and_(next_price >= inst.tick_size, next_price <= inst.max_price), "a valid tick beyond")
        equity = compute_equity(inst, position, margin, next_price)
        return prover.prove(equity < reserve, f"strict tightness {symbol} {side}")


# -- ordering: bankruptcy, liquidation, entry -------------------------------------------


def prove_liquidation_between(symbol: str, side: str) -> ProofResult:
    """Opened at ``entry`` with margin ≥ posMaint (+ a unit per lot, inverse): bk ≤ liq ≤ entry (long)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        signed_lots, entry_ticks = prover.symbol("lots"), prover.symbol("entry_ticks")
        margin, pos_maint, pos_comm = prover.symbol("margin"), prover.symbol("pos_maint"), prover.symbol("pos_comm")
        prover.assume(signed_lots > 0 if side == "long" else signed_lots < 0, f"position is {side}")
        prover.assume(and_(entry_ticks >= 1, entry_ticks * inst.tick_size <= inst.max_price), "a valid entry")
        entry = entry_ticks * inst.tick_size
        qty = signed_lots * inst.lot_size
        position = Position(qty=qty, cost=compute_value(inst, qty, entry))  # opened at entry
        lots = compute_lots(inst, position, side)
        prover.assume(and_(pos_comm >= 0, pos_comm <= pos_maint), "0 ≤ posComm ≤ posMaint")
        cushion = lots if inst.is_inverse else 0
        prover.assume(margin - pos_maint >= cushion, "margin covers posMaint (+ a unit per lot, inverse)")
        liquidation = compute_liquidation_price(inst, qty, position.cost, margin, pos_maint)
        bankruptcy = compute_bankruptcy_price(inst, qty, position.cost, margin, pos_comm)
        if inst.is_inverse:
            use_inverse_ordering_lemmas(prover, inst, position, side, margin, pos_maint, pos_comm, entry_ticks)
        else:
            use_linear_ordering_lemmas(prover, inst, position, side, margin, pos_maint, pos_comm, entry_ticks)
            prover.use(lemmas.linear_value_exact(inst), signed_lots, entry_ticks)
        if side == "long":
            goal = and_(bankruptcy <= liquidation, liquidation <= entry)
        else:
            goal = and_(entry <= liquidation, liquidation <= bankruptcy)
        return prover.prove(goal, f"MRG-011 between {symbol} {side}")


def use_inverse_ordering_lemmas(
    prover: Prover,
    inst: Instrument,
    position: Position,
    side: str,
    margin: int,
    pos_maint: int,
    pos_comm: int,
    entry_ticks: int,
) -> None:
    """Steps are ordered (floor/ceil monotone), step prices antitone, and the entry bounds the step."""
    lots = compute_lots(inst, position, side)
    entry = entry_ticks * inst.tick_size
    liquidation_step = compute_step(inst, position, side, margin, pos_maint)
    bankruptcy_step = compute_step(inst, position, side, margin, pos_comm)
    entry_value = compute_lot_value_inverse(inst, entry)
    safe_lots = ite(lots == 0, 1, lots)
    if side == "long":
        liquidation_slack, bankruptcy_slack = margin - pos_maint - position.cost, margin - pos_comm - position.cost
        prover.use(lemmas.FLOOR_MONOTONE, safe_lots, liquidation_slack, bankruptcy_slack)
        prover.use(lemmas.FLOOR_AT_LEAST, safe_lots, liquidation_slack, entry_value + 1)
        prover.use(lemmas.long_step_antitone(inst), liquidation_step, bankruptcy_step)
        prover.use(lemmas.long_step_antitone(inst), entry_value + 1, liquidation_step)
        prover.use(lemmas.entry_value_above(inst), entry)
        prover.use(lemmas.long_step_at_most(inst), entry_value + 1, entry_ticks)
    else:
        liquidation_gap, bankruptcy_gap = position.cost - margin + pos_maint, position.cost - margin + pos_comm
        prover.use(lemmas.CEIL_MONOTONE, safe_lots, bankruptcy_gap, liquidation_gap)
        prover.use(lemmas.CEIL_AT_MOST, safe_lots, liquidation_gap, entry_value - 1)
        prover.use(lemmas.short_step_antitone(inst), bankruptcy_step, liquidation_step)
        prover.use(lemmas.short_step_antitone(inst), liquidation_step, entry_value - 1)
        prover.use(lemmas.entry_value_below(inst), entry)
        prover.use(lemmas.short_step_at_least(inst), entry_value - 1, entry_ticks)


def use_linear_ordering_lemmas(
    prover: Prover,
    inst: Instrument,
    position: Position,
    side: str,
    margin: int,
    pos_maint: int,
    pos_comm: int,
    entry_ticks: int,
) -> None:
    """Linear and quanto: the tick quotients are monotone in the slack and bounded by the entry."""
    units = abs_(position.qty) * inst.multiplier * inst.tick_size
    safe_units = ite(units == 0, 1, units)
    scale = inst.price_scale
    if side == "long":
        liquidation_gap = (position.cost - margin + pos_maint) * scale
        bankruptcy_gap = (position.cost - margin + pos_comm) * scale
        prover.use(lemmas.CEIL_MONOTONE, safe_units, bankruptcy_gap, liquidation_gap)
        prover.use(lemmas.CEIL_AT_MOST, safe_units, liquidation_gap, entry_ticks)
    else:
        liquidation_slack = (margin - pos_maint - position.cost) * scale
        bankruptcy_slack = (margin - pos_comm - position.cost) * scale
        prover.use(lemmas.FLOOR_MONOTONE, safe_units, liquidation_slack, bankruptcy_slack)
        prover.use(lemmas.FLOOR_AT_LEAST, safe_units, liquidation_slack, entry_ticks)


# -- maintenance margin is monotone in size -------------------------------------------------


def prove_maintenance_monotone(symbol: str) -> ProofResult:
    """``|cost₁| ≤ |cost₂|`` ⇒ ``posMaint₁ ≤ posMaint₂`` (same leverage and extra margin)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        smaller = prover.record(Position, "smaller")
        larger = prover.record(Position, "larger")
        mark, leverage, pos_cross = prover.symbol("mark_price"), prover.symbol("leverage"), prover.symbol("pos_cross")
        for name, position in (("smaller", smaller), ("larger", larger)):
            assume_whole_lots(prover, inst, position.qty, f"{name}.qty")
            prover.assume(position.qty != 0, f"{name} is open")
        prover.assume(abs_(smaller.cost) <= abs_(larger.cost), "|cost₁| ≤ |cost₂|")
        assume_valid_price(prover, inst, mark, "mark_price")
        top = compute_max_leverage_hundredths(inst, 0)
        prover.assume(and_(leverage >= CROSS, leverage <= top), "leverage cross or up to the base maximum")
        prover.assume(pos_cross >= 0, "extra isolated margin non-negative")
        first = compute_position_margin(inst, smaller, mark, leverage, pos_cross)
        second = compute_position_margin(inst, larger, mark, leverage, pos_cross)
        small_cost, large_cost = abs_(smaller.cost), abs_(larger.cost)
        # the requirements grow with the risk steps; so do their products with the entry value
        maint_reqs = (first.maint_margin_req_ppm, second.maint_margin_req_ppm)
        init_reqs = (first.init_margin_req_ppm, second.init_margin_req_ppm)
        prover.use(lemmas.PRODUCT_MONOTONE_BOTH, small_cost, large_cost, *maint_reqs)
        prover.use(lemmas.PRODUCT_MONOTONE_BOTH, small_cost, large_cost, *init_reqs)
        return prover.prove(first.pos_maint <= second.pos_maint, f"MRG-005 monotone {symbol}")


# -- registration ---------------------------------------------------------------------


OBLIGATIONS: list[Obligation] = []  # registered by this module, in order (tests run every one)


def _add(obligation: Obligation) -> None:
    OBLIGATIONS.append(register(obligation))


def _register() -> None:
    for symbol in builtin_symbols():
        inverse = load_instrument(symbol).is_inverse
        for side in SIDES:
            _add(
                Obligation(
                    id=f"MRG-012/safe/{symbol}/{side}",
                    rule_id="MRG-012",
                    invariant_id="INV-INSURANCE-NONNEG",
                    statement=(
                        f"{symbol} {side}: at every valid mark on the safe side of the bankruptcy price, "
                        "equity ≥ posComm ≥ 0 (for any position solvent at some valid price)."
                    ),
                    run=functools.partial(
                        prove_threshold_safe, symbol, side, compute_bankruptcy_price, f"MRG-012 safe {symbol} {side}"
                    ),
                )
            )
            _add(
                Obligation(
                    id=f"MRG-011/no-false-liquidation/{symbol}/{side}",
                    rule_id="MRG-011",
                    invariant_id="INV-NO-FALSE-LIQUIDATION",
                    statement=(
                        f"{symbol} {side}: at every valid mark on the safe side of the liquidation price, "
                        "equity ≥ posMaint: the position is not liquidatable there."
                    ),
                    run=functools.partial(
                        prove_threshold_safe,
                        symbol,
                        side,
                        compute_liquidation_price,
                        f"MRG-011 no false liquidation {symbol} {side}",
                    ),
                )
            )
            _add(
                Obligation(
                    id=f"MRG-012/tight/{symbol}/{side}",
                    rule_id="MRG-012",
                    invariant_id="INV-INSURANCE-NONNEG",
                    statement=(
                        f"{symbol} {side}: one tick beyond the bankruptcy price, equity < posComm"
                        + (" + one minor unit per lot (per-lot rounding)." if inverse else " (strictly tight).")
                    ),
                    run=functools.partial(prove_bankruptcy_tight, symbol, side),
                )
            )
            _add(
                Obligation(
                    id=f"MRG-011/between/{symbol}/{side}",
                    rule_id="MRG-011",
                    invariant_id="INV-NO-FALSE-LIQUIDATION",
                    statement=(
                        f"{symbol} {side}: opened at one price with margin ≥ posMaint"
                        + (" + one unit per lot" if inverse else "")
                        + ", the liquidation price lies between the entry and the bankruptcy price."
                    ),
                    run=functools.partial(prove_liquidation_between, symbol, side),
                )
            )
            _add(
                Obligation(
                    id=f"KNOWN-BAD/MRG-012/rounded-wrong-way/{symbol}/{side}",
                    rule_id="MRG-012",
                    invariant_id="INV-INSURANCE-NONNEG",
                    statement=f"Known-bad: {symbol} {side} bankruptcy price rounded to the tick toward the trader.",
                    run=functools.partial(
                        prove_threshold_safe,
                        symbol,
                        side,
                        compute_bankruptcy_price_rounded_wrong_way,
                        f"known-bad bankruptcy rounding {symbol} {side}",
                        use_lemmas=False,
                    ),
                    expect="refuted",
                )
            )
            if inverse:
                _add(
                    Obligation(
                        id=f"FINDING/MRG-012/strictly-tight/{symbol}/{side}",
                        rule_id="MRG-012",
                        invariant_id="INV-INSURANCE-NONNEG",
                        statement=(
                            f"Finding: {symbol} {side} is NOT strictly tight — one tick beyond the bankruptcy "
                            "price the per-lot value can still be the same satoshi step (regression test kept)."
                        ),
                        run=functools.partial(prove_inverse_strictly_tight, symbol, side),
                        expect="refuted",
                    )
                )
        _add(
            Obligation(
                id=f"MRG-005/monotone/{symbol}",
                rule_id="MRG-005",
                invariant_id="(rule property)",
                statement=f"{symbol}: posMaint never decreases as the entry value grows (across risk steps).",
                run=functools.partial(prove_maintenance_monotone, symbol),
            )
        )


_register()
