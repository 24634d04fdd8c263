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

import attrs

from perpspec.proofs import lemmas
from perpspec.proofs.known_bad import compute_bankruptcy_price_rounded_wrong_way
from perpspec.proofs.obligations_core import assume_valid_price, assume_whole_lots
from perpspec.proofs.prover import Lemma, ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.rules.contract import compute_lot_value_inverse, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import builtin_symbols, load_instrument
from perpspec.rules.margin import (
    CROSS,
    PositionMargin,
    compute_bankruptcy_price,
    compute_equity,
    compute_liquidation_price,
    compute_position_margin,
)
from perpspec.rules.num import abs_, and_, ceildiv, floordiv, ite
from perpspec.rules.position import Position
from perpspec.rules.risk_limit import compute_max_leverage_hundredths

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


def opened_at(inst: Instrument, signed_lots: int, entry_ticks: int) -> Position:
    """A position of ``signed_lots`` opened by one fill at ``entry_ticks`` ticks."""
    qty = signed_lots * inst.lot_size
    return Position(qty=qty, cost=compute_value(inst, qty, entry_ticks * inst.tick_size))


def is_ordered(inst: Instrument, side: str, signed_lots: int, entry_ticks: int, margin: int, pos_maint: int, pos_comm: int) -> bool:
    """bankruptcy ≤ liquidation ≤ entry (long), entry ≤ liquidation ≤ bankruptcy (short)."""
    position = opened_at(inst, signed_lots, entry_ticks)
    entry = entry_ticks * inst.tick_size
    liquidation = compute_liquidation_price(inst, position.qty, position.cost, margin, pos_maint)
    bankruptcy = compute_bankruptcy_price(inst, position.qty, position.cost, margin, pos_comm)
    if side == "long":
        return and_(bankruptcy <= liquidation, liquidation <= entry)
    return and_(entry <= liquidation, liquidation <= bankruptcy)


def has_cushion(
    inst: Instrument, side: str, signed_lots: int, entry_ticks: int, margin: int, pos_maint: int, pos_comm: int
) -> bool:
    """The premise of MRG-011 between: a valid position, 0 ≤ posComm ≤ posMaint ≤ margin (− a unit per lot)."""
    position = opened_at(inst, signed_lots, entry_ticks)
    cushion = compute_lots(inst, position, side) if inst.is_inverse else 0
    return and_(
        and_(signed_lots > 0 if side == "long" else signed_lots < 0, entry_ticks >= 1),
        and_(
            entry_ticks * inst.tick_size <= inst.max_price,
            and_(and_(pos_comm >= 0, pos_comm <= pos_maint), margin - pos_maint >= cushion),
        ),
    )


def use_ordering_lemmas(
    prover: Prover,
    inst: Instrument,
    side: str,
    signed_lots: int,
    entry_ticks: int,
    margin: int,
    pos_maint: int,
    pos_comm: int,
) -> None:
    """The lemma instances the ordering proof needs (inverse: per-lot steps; linear: tick quotients)."""
    position = opened_at(inst, signed_lots, entry_ticks)
    if inst.is_inverse:
        use_inverse_ordering_lemmas(prover, inst, position, side, margin, pos_maint, pos_comm, entry_ticks)
    else:
        use_linear_ordering_lemmas(prover, inst, position, side, margin, pos_maint, pos_comm, entry_ticks)
        prover.use(lemmas.linear_value_exact(inst), signed_lots, entry_ticks)


@functools.cache
def liquidation_between(inst: Instrument, side: str) -> Lemma:
    """MRG-011 between as a lemma over (lots, entry_ticks, margin, posMaint, posComm)."""
    return Lemma(
        name=f"{inst.symbol} {side}: bankruptcy, liquidation and entry are ordered",
        params=("lots", "entry_ticks", "margin", "pos_maint", "pos_comm"),
        premise=functools.partial(has_cushion, inst, side),
        conclusion=functools.partial(is_ordered, inst, side),
        hints=lambda prover, *arguments: use_ordering_lemmas(prover, inst, side, *arguments),
    )


def prove_liquidation_between(symbol: str, side: str) -> ProofResult:
    """Opened at ``entry`` with margin ≥ posMaint (+ a unit per lot, inverse): bk ≤ liq ≤ entry (long)."""
    result = liquidation_between(load_instrument(symbol), side).prove()
    return attrs.evolve(result, label=f"MRG-011 between {symbol} {side}")


def isolated_fields(
    inst: Instrument, signed_lots: int, entry_ticks: int, leverage: int, pos_cross: int, mark: int
) -> tuple[Position, PositionMargin, int]:
    """The position opened at entry, its MRG-020 fields, and the margin backing it (isolated: posMargin)."""
    position = opened_at(inst, signed_lots, entry_ticks)
    fields = compute_position_margin(inst, position, mark, leverage, pos_cross)
    return position, fields, ite(leverage == CROSS, 0, fields.pos_margin)  # as MRG-020 passes it


def is_isolated_position(
    inst: Instrument, side: str, signed_lots: int, entry_ticks: int, leverage: int, pos_cross: int, mark: int
) -> bool:
    """A valid isolated position: side, entry and mark on the grid, leverage ≥ 0.01x, extra margin ≥ 0."""
    return and_(
        and_(signed_lots > 0 if side == "long" else signed_lots < 0, and_(leverage >= 1, pos_cross >= 0)),
        and_(
            and_(entry_ticks >= 1, entry_ticks * inst.tick_size <= inst.max_price),
            and_(and_(mark > 0, mark <= inst.max_price), mark % inst.tick_size == 0),
        ),
    )


def has_isolated_cushion(
    inst: Instrument, side: str, signed_lots: int, entry_ticks: int, leverage: int, pos_cross: int, mark: int
) -> bool:
    """The MRG-011 between premise holds for the record MRG-020 computes."""
    _, fields, backing = isolated_fields(inst, signed_lots, entry_ticks, leverage, pos_cross, mark)
    return has_cushion(inst, side, signed_lots, entry_ticks, backing, fields.pos_maint, fields.pos_comm)


def use_cushion_lemmas(
    prover: Prover, inst: Instrument, side: str, signed_lots: int, entry_ticks: int, leverage: int, pos_cross: int, mark: int
) -> None:
    """posInit − maintMarginReq·posCost ≥ (initMargin − maintMargin)·posCost, and (inverse) a lot's worth."""
    position, fields, _ = isolated_fields(inst, signed_lots, entry_ticks, leverage, pos_cross, mark)
    pos_cost = abs_(position.cost)
    gap_ppm = inst.init_margin_ppm - inst.maint_margin_ppm
    prover.use(lemmas.PRODUCT_MONOTONE, pos_cost, fields.maint_margin_req_ppm + gap_ppm, fields.init_margin_req_ppm)
    if inst.is_inverse:  # an inverse lot is worth at least its value at maxPrice
        lots = compute_lots(inst, position, side)
        entry = entry_ticks * inst.tick_size
        cheapest = compute_lot_value_inverse(inst, inst.max_price)
        prover.use(lemmas.lot_value_monotone(inst), entry, inst.max_price)
        prover.use(lemmas.PRODUCT_MONOTONE, lots, cheapest, compute_lot_value_inverse(inst, entry))


@functools.cache
def isolated_cushion(inst: Instrument, side: str) -> Lemma:
    """MRG-020 isolated: posMargin ≥ posMaint (+ a unit per lot, inverse) and 0 ≤ posComm ≤ posMaint at entry."""
    return Lemma(
        name=f"{inst.symbol} {side}: an isolated position's margin covers its maintenance",
        params=("lots", "entry_ticks", "leverage", "pos_cross", "mark_price"),
        premise=functools.partial(is_isolated_position, inst, side),
        conclusion=functools.partial(has_isolated_cushion, inst, side),
        hints=lambda prover, *arguments: use_cushion_lemmas(prover, inst, side, *arguments),
    )


def prove_isolated_position_ordered(symbol: str, side: str) -> ProofResult:
    """MRG-020: an isolated position opened at one price: its own prices are ordered around the entry."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        names = ("lots", "entry_ticks", "leverage", "pos_cross", "mark_price")
        arguments = [prover.symbol(name) for name in names]
        signed_lots, entry_ticks = arguments[0], arguments[1]
        prover.assume(is_isolated_position(inst, side, *arguments), "a valid isolated position")
        position, fields, backing = isolated_fields(inst, *arguments)
        prover.use(isolated_cushion(inst, side), *arguments)
        prover.use(liquidation_between(inst, side), signed_lots, entry_ticks, backing, fields.pos_maint, fields.pos_comm)
        lots = 1 if side == "long" else -1
        prover.witness(lots=lots, entry_ticks=1000, leverage=1000, pos_cross=0, mark_price=1000 * inst.tick_size)
        ordered = is_ordered(inst, side, signed_lots, entry_ticks, backing, fields.pos_maint, fields.pos_comm)
        same_prices = and_(
            fields.liquidation_price
            == compute_liquidation_price(inst, position.qty, position.cost, backing, fields.pos_maint),
            fields.bankrupt_price == compute_bankruptcy_price(inst, position.qty, position.cost, backing, fields.pos_comm),
        )
        return prover.prove(and_(ordered, same_prices), f"MRG-020 isolated ordered {symbol} {side}")


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
                    id=f"MRG-020/isolated-ordered/{symbol}/{side}",
                    rule_id="MRG-020",
                    invariant_id="INV-NO-FALSE-LIQUIDATION",
                    statement=(
                        f"{symbol} {side}: an isolated position opened at one price, at any leverage and extra "
                        "margin: its own liquidationPrice lies between the entry and its bankruptPrice."
                    ),
                    run=functools.partial(prove_isolated_position_ordered, symbol, side),
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
