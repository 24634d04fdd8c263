"""LIQ: when a position is liquidated, and at which price the liquidation engine takes it over.

A **margin pool** is what one liquidation looks at (reference §5):

* a *cross* pool: one account's wallet in one settlement currency, less the
  margin it has set aside for isolated positions, together with all its cross
  positions in contracts settled in that currency;
* an *isolated* pool: one isolated position and the margin assigned to it.

The pool's equity at the **mark price** is ``margin + Σ(markValue − cost)``;
its maintenance requirement is the sum of its positions' maintenance margins.
The pool is liquidatable exactly when ``equity − maintenance < 0``
(:func:`compute_margin_excess`): never on the last traded price, which a
single trade can move (reference §3, "Fair Price Marking").

What happens next, in order (BitMEX's steps):

1. the account's open orders in the contract are cancelled (an instruction the
   engine executes; the rules record it as an event);
2. a position above the base risk limit is first *partially* liquidated:
   lower its risk limit to the smallest tier its position and orders fit, and
   stop if that is enough; otherwise a FillOrKill order reduces the position to
   the next lower tier, at a limit price (:func:`compute_partial_limit_price`)
   chosen so that whatever fills leaves the pool at or above the maintenance
   of the new tier;
3. otherwise the liquidation engine **takes over** the position at the
   bankruptcy price (:func:`compute_bankruptcy_price_for_margin`): the tick
   price at which closing the position leaves the pool's margin exactly
   exhausted, rounded to the tick *against* the trader so that the take-over
   never needs the insurance fund.  Whatever the rounding leaves in the pool
   goes to the insurance fund: the trader loses the pool's margin and never
   more (reference §6, "losing traders never owe more than their posted
   margin").

The maintenance margin of a position is :mod:`rules.margin`'s ``posMaint``
(entry value times the tier's requirement, plus the commission reserve), at
the larger of the position's own risk steps and the risk limit its owner
chose (LIQ-001).
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.margin import (
    compute_bankruptcy_price,
    compute_init_margin_req_ppm,
    compute_pos_comm,
    compute_pos_init,
    compute_pos_maint,
    compute_threshold_price,
    compute_unclamped_threshold_price,
)
from perpspec.rules.num import abs_, and_, ceildiv, clamp, concrete, ite, max_, or_
from perpspec.rules.position import Position, compute_commission
from perpspec.rules.risk_limit import compute_maint_margin_req_ppm, compute_risk_steps, compute_tier_limit

# -- maintenance and the trigger ---------------------------------------------


@attrs.frozen(kw_only=True)
class Requirement:
    """A position's margin figures (minor units) at its effective tier (MRG-003..005 names)."""

    steps: int  # effective risk steps: the larger of the position's own and the chosen tier
    pos_init: int  # MRG-003 initial margin
    pos_comm: int  # MRG-004 reserve for closing; what the bankruptcy price leaves
    pos_maint: int  # MRG-005 maintenance margin


def compute_requirement(inst: Instrument, position: Position, leverage_hundredths: int, chosen_tier: int) -> Requirement:
    """LIQ-001: the margin figures of ``position`` at the larger of its own risk steps and the chosen tier.

    Built on MRG-002..005: ``posInit = initMarginReq × posCost``,
    ``posComm = takerFee × (posCost + posInit)`` and
    ``posMaint = maintMarginReq(steps) × posCost + posComm``.  With
    ``chosen_tier = 0`` these are :func:`rules.margin.compute_position_margin`'s
    fields for a position without extra isolated margin (``posCross = 0``; the
    rulebook's waterfall keeps an isolated position's margin as one amount, so
    the fee on added margin is not part of the reserve).  The chosen risk limit
    can only *raise* the requirement: lowering it is the first step of a
    partial liquidation.
    """
    pos_cost = abs_(position.cost)
    steps = max_(compute_risk_steps(inst, pos_cost), chosen_tier)
    pos_init = compute_pos_init(pos_cost, compute_init_margin_req_ppm(inst, leverage_hundredths, steps))
    pos_comm = compute_pos_comm(pos_cost, pos_init, 0, inst.taker_fee_ppm)
    pos_maint = compute_pos_maint(pos_cost, compute_maint_margin_req_ppm(inst, steps), pos_comm)
    return Requirement(steps=steps, pos_init=pos_init, pos_comm=pos_comm, pos_maint=pos_maint)


def compute_margin_excess(equity: int, maintenance: int) -> int:
    """LIQ-002: ``equity − maintenance`` of a margin pool at the mark price; below zero it is liquidatable."""
    return equity - maintenance


def is_liquidatable(equity: int, maintenance: int) -> bool:
    """LIQ-003: a pool is liquidated exactly when its equity at **mark** is below its maintenance."""
    return compute_margin_excess(equity, maintenance) < 0


def compute_position_equity_term(inst: Instrument, position: Position, mark_price: int) -> int:
    """LIQ-004: what one position adds to its pool's equity at mark: ``markValue − cost``."""
    return compute_value(inst, position.qty, mark_price) - position.cost


# -- the bankruptcy price of a pool ---------------------------------------------


def compute_takeover_price(inst: Instrument, position: Position, margin: int, reserve: int) -> int:
    """LIQ-005: the bankruptcy price at which the liquidation engine takes over ``position``.

    MRG-012 (:func:`rules.margin.compute_bankruptcy_price`) with ``margin``
    the money behind the position in its pool (isolated: its margin; cross:
    the pool's margin plus the other positions' unrealised PnL) and
    ``reserve`` its ``posComm``: the last tick price at which closing leaves
    at least the reserve, rounded toward the system (long up, short down).
    """
    return compute_bankruptcy_price(inst, position.qty, position.cost, margin, reserve)


def compute_cover_takeover_price(inst: Instrument, position: Position, backing: int, mark_price: int) -> int:
    """LIQ-035: the take-over price of a cross pool's other position: the mark, or beyond it as far as the deficit needs.

    ``backing`` is what stands behind ``position`` when it is taken over: the
    pool's margin, plus what the positions already taken over realised at their
    take-over prices, plus the unrealised PnL at mark of those still to come.
    While that covers the position at mark (``backing + markValue − cost ≥ 0``)
    it is taken over at the mark (LIQ-023).  Otherwise the pool is still in
    deficit — its largest position's bankruptcy price was clamped to the price
    range and could not absorb it — and the position is taken over at its own
    bankruptcy price for a zero reserve (MRG-012): the price beyond the mark in
    the trader's favour at which the pool's equity reaches zero, rounded toward
    the system (the pool keeps ``≥ 0``, the fund gets the rounding), clamped to
    ``[tickSize, maxPrice]``.  MRG-010's safe-side guarantee makes that price
    lie beyond the mark (long: above, short: below) whenever it is used.

    The liquidation engine then holds a position bought worse than mark: its
    close-out draws the fund for the difference in the book (INS-005) or, once
    the fund is depleted (ADL-031 counts the loss at mark), is deleveraged at
    that price (ADL-020) — the deficit is socialised like any bankrupt
    position's, never left on the trader.

    [I] BitMEX takes a position over at its bankruptcy price so that the
    account's margin is exactly consumed, and says nothing of a cross pool
    whose largest position's bankruptcy price is out of range.  The rulebook
    spreads the deficit over the pool's other positions in take-over order
    (largest maintenance first), each moved from the mark only as far as
    needed.
    """
    at_mark = backing + compute_value(inst, position.qty, mark_price) - position.cost
    bankruptcy = compute_bankruptcy_price(inst, position.qty, position.cost, backing, 0)
    return ite(at_mark >= 0, mark_price, bankruptcy)


def compute_pool_residual(inst: Instrument, qty: int, cost: int, margin: int, price: int) -> int:
    """LIQ-006: what is left of ``margin`` after closing ``qty``/``cost`` at ``price``.

    At the take-over price this is ``≥ posComm ≥ 0`` (MRG-012) unless the pool
    owed more than any valid price returns; it goes to the insurance fund.
    """
    return margin + compute_value(inst, qty, price) - cost


# -- partial liquidation (risk-limit step-down) ----------------------------------


def compute_fitting_tier(inst: Instrument, gross_value: int) -> int:
    """LIQ-007: the smallest risk tier whose limit holds ``gross_value`` (position plus orders)."""
    # ceil: any part of a step needs the whole step (RSK-001).
    return max_(0, ceildiv(gross_value - inst.risk_limit, inst.risk_step))


def compute_reduction_to_tier(inst: Instrument, position: Position, tier: int) -> int:
    """LIQ-008: contracts (whole lots, ≥ 0) to close so the position's entry value fits tier ``tier``.

    The kept lots ``k`` are the most with ``|cost| × k / n ≤ limit(tier)``;
    the kept cost basis (rounded as ACC-003 rounds it) is then within the limit.
    """
    lots = abs_(position.qty) // inst.lot_size  # exact: whole lots
    abs_cost = abs_(position.cost)
    safe_cost = ite(abs_cost == 0, 1, abs_cost)
    # floor: keep no more lots than the lower tier holds
    kept_lots = clamp(compute_tier_limit(inst, tier) * lots // safe_cost, 0, lots)
    return (lots - kept_lots) * inst.lot_size


@attrs.frozen(kw_only=True)
class PartialReduction:
    """The size of a FillOrKill reduction one risk tier down, and what it must leave (minor units)."""

    close_qty: int  # signed like the position
    kept: Position  # the position left (cost split as ACC-003 splits it)
    new_tier: int
    new_maintenance: int  # maintenance of the kept position at ``new_tier``
    headroom: int  # pool equity at mark − other positions' maintenance − new_maintenance
    closed_mark_value: int  # what the closed part contributes to the pool's equity at mark


@attrs.frozen(kw_only=True)
class PartialPlan:
    """A FillOrKill reduction: close ``close_qty`` (signed like the position) no worse than ``limit_price``."""

    reduction: PartialReduction
    limit_price: int
    feasible: bool  # False: the pool cannot reach the new tier's maintenance at any valid price

    @property
    def close_qty(self) -> int:
        """Contracts to close, signed like the position."""
        return self.reduction.close_qty

    @property
    def new_tier(self) -> int:
        """The tier the position steps down to."""
        return self.reduction.new_tier

    @property
    def new_maintenance(self) -> int:
        """Maintenance of the kept position at the new tier."""
        return self.reduction.new_maintenance


def compute_kept_position(position: Position, close_qty: int) -> Position:
    """LIQ-009: what remains of ``position`` after closing ``close_qty`` of it (cost split as ACC-003)."""
    kept_qty = position.qty - close_qty
    safe_qty = ite(position.qty == 0, 1, position.qty)
    # floor: the same split as rules.position.apply_fill (surviving cost toward minus infinity)
    kept_cost = ite(kept_qty == position.qty, position.cost, position.cost * kept_qty // safe_qty)
    return Position(qty=kept_qty, cost=kept_cost)


def compute_partial_reduction(
    inst: Instrument,
    position: Position,
    leverage_hundredths: int,
    tier: int,
    pool_equity: int,
    other_maintenance: int,
    mark_price: int,
) -> PartialReduction:
    """LIQ-010: the FillOrKill reduction that steps a position down one risk tier.

    ``tier`` is the position's effective steps (LIQ-001), ``pool_equity`` the
    pool's equity at mark and ``other_maintenance`` the maintenance of the
    pool's other positions.  Closing ``r`` contracts for fills worth ``v``
    changes the pool's equity at mark by exactly ``v − closed_mark_value``.
    """
    new_tier = max_(tier - 1, 0)
    magnitude = compute_reduction_to_tier(inst, position, new_tier)
    close_qty = ite(position.qty > 0, magnitude, -magnitude)
    kept = compute_kept_position(position, close_qty)
    new_maintenance = compute_requirement(inst, kept, leverage_hundredths, new_tier).pos_maint
    # exactly what the closed part contributes at mark (robust to a mark off the tick grid)
    closed_mark_value = compute_value(inst, position.qty, mark_price) - compute_value(inst, kept.qty, mark_price)
    return PartialReduction(
        close_qty=close_qty,
        kept=kept,
        new_tier=new_tier,
        new_maintenance=new_maintenance,
        headroom=pool_equity - other_maintenance - new_maintenance,
        closed_mark_value=closed_mark_value,
    )


def compute_partial_limit_price(inst: Instrument, reduction: PartialReduction) -> int:
    """LIQ-013: the worst tick price at which the reduction still leaves the new tier's maintenance.

    The threshold price (MRG-010) of the closed part with the headroom as its
    margin and no reserve.
    """
    return compute_threshold_price(inst, reduction.close_qty, reduction.closed_mark_value, reduction.headroom, 0)


def is_partial_feasible(inst: Instrument, reduction: PartialReduction, limit_price: int) -> bool:
    """LIQ-014: the reduction closes something, the pool can afford the new tier, and fills at the limit suffice."""
    at_limit = compute_pool_residual(
        inst, reduction.close_qty, reduction.closed_mark_value, reduction.headroom, limit_price
    )
    return and_(and_(reduction.headroom >= 0, reduction.close_qty != 0), at_limit >= 0)


def compute_partial_plan(
    inst: Instrument,
    position: Position,
    leverage_hundredths: int,
    tier: int,
    pool_equity: int,
    other_maintenance: int,
    mark_price: int,
) -> PartialPlan:
    """LIQ-015: the FillOrKill order of a partial liquidation: LIQ-010 sized, LIQ-013 priced, LIQ-014 checked."""
    reduction = compute_partial_reduction(
        inst, position, leverage_hundredths, tier, pool_equity, other_maintenance, mark_price
    )
    limit_price = compute_partial_limit_price(inst, reduction)
    return PartialPlan(
        reduction=reduction, limit_price=limit_price, feasible=is_partial_feasible(inst, reduction, limit_price)
    )


def is_price_within_limit(close_qty: int, price: int, limit_price: int) -> bool:
    """LIQ-011: a fill closing ``close_qty`` at ``price`` is no worse than ``limit_price`` for the trader."""
    # closing a long sells: at or above the limit; closing a short buys: at or below it
    return or_(and_(close_qty > 0, price >= limit_price), and_(close_qty < 0, price <= limit_price))


def apply_partial_close(position: Position, close_qty: int, close_value: int) -> tuple[Position, int]:
    """LIQ-012: a FillOrKill reduction settled as one execution: the kept position and the realised PnL.

    ``close_value`` is ``Σ value(qty_i, price_i)`` over the order's fills (signed
    like ``close_qty``).  The cost basis is split once, as ACC-003 splits it
    (so the kept position is exactly :class:`PartialPlan`'s ``kept``), and
    ``Δwallet − Δcost = value of the fills`` exactly, as for any fill.
    """
    kept = compute_kept_position(position, close_qty)
    realised = kept.cost - position.cost + close_value
    return kept, realised


@concrete
def compute_reduce_limit_price(
    inst: Instrument, position: Position, margin: int, pos_comm: int, taker_fee_ppm: int
) -> int:
    """LIQ-016: the worst price a trader's own market order closing ``position`` may fill at.

    The bankruptcy price (LIQ-005) with a reserve that covers what closing
    there costs: the taker fee (ACC-002) on the position's value *at that
    price*, plus one satoshi per lot for the per-fill rounding up of a sweep
    over several makers — never less than ``posComm``.  ``posComm`` (MRG-004)
    is BitMEX's estimate of that fee from the entry value; for a cross
    position backed by a large wallet the bankruptcy price lies far from
    entry, where an inverse long's (or a linear short's) value is larger, and
    a sweep down to it would leave the wallet negative by the difference
    (found by a 10,000-trader simulation: −16,976 XBt).  Raising the reserve
    only moves the price toward entry; it is raised to the fee at the price
    it gives until that fee is covered (for inverse longs and linear shorts
    once, otherwise converging by the fee rate per round; 8 rounds at most,
    keeping the most conservative price) [I].
    """
    lots_slack = abs(position.qty) // inst.lot_size  # ceil per fill: at most one satoshi per fill, one lot or more each
    reserve = pos_comm
    price = compute_takeover_price(inst, position, margin, reserve)
    for _ in range(8):
        needed = compute_commission(compute_notional(inst, position.qty, price), taker_fee_ppm) + lots_slack
        if needed <= reserve:
            break
        reserve = needed
        price = compute_takeover_price(inst, position, margin, reserve)
    return price


# -- a pool that already owes (LIQ-036) ---------------------------------------------------------------


def compute_owing_takeover_price(inst: Instrument, position: Position, backing: int, reserve: int) -> int:
    """LIQ-036: the take-over price of a pool's only position: LIQ-005's, or beyond the price range when the pool owes.

    ``backing`` and ``reserve`` as LIQ-005 (a pool of several positions: the
    last one taken over absorbs the rest, LIQ-037).  A pool whose margin is already
    negative beyond what any price in ``[tickSize, maxPrice]`` returns (its
    bankruptcy price clamped to the range still leaves it below zero) is taken
    over at its *unclamped* bankruptcy price (MRG-013): the liquidation engine
    pays the trader enough that the pool ends with at least its reserve, and so
    holds the whole deficit.  That deficit then takes the path of every
    bankrupt position's (reference §6–7, BitMEX: "the insurance fund absorbs,
    then ADL"): closing it in the book draws the fund for every fill worse than
    the take-over price (INS-005, never below zero), and what the fund cannot
    pay is deleveraged at that price (ADL-020) — the trader never owes more
    than the posted margin, the fund never goes negative.

    [I] Bounds: an inverse long whose per-lot step is ≤ 0 (its margin below
    minus its entry value) and a linear or quanto short owing more than its
    entry value have no positive price that covers them; they keep LIQ-005's
    price and the fund's capped top-up (INS-011), and the account is left owing
    the rest (INV-NO-NEG-EQUITY reports it).
    """
    clamped = compute_takeover_price(inst, position, backing, reserve)
    left = backing + compute_value(inst, position.qty, clamped) - position.cost
    unclamped = compute_unclamped_threshold_price(inst, position.qty, position.cost, backing, reserve)
    return ite(left < 0, unclamped, clamped)


def compute_owing_cover_takeover_price(inst: Instrument, position: Position, backing: int, mark_price: int) -> int:
    """LIQ-037: LIQ-035 for the *last* position of a cross pool taken over: beyond the price range when the pool owes.

    ``backing`` as LIQ-035.  When even LIQ-035's price (clamped to the range)
    leaves the pool below zero, the last position is taken over at its
    unclamped bankruptcy price for a zero reserve (MRG-013), so the pool ends
    at zero or more and the liquidation engine holds the deficit (fund, then
    ADL), as LIQ-036 does for a pool of one position.  Bounds as LIQ-036.
    """
    price = compute_cover_takeover_price(inst, position, backing, mark_price)
    left = backing + compute_value(inst, position.qty, price) - position.cost
    unclamped = compute_unclamped_threshold_price(inst, position.qty, position.cost, backing, 0)
    return ite(left < 0, unclamped, price)
