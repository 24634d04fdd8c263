"""Proof obligations over the liquidation waterfall (rules/liquidation.py, insurance.py, adl.py).

One step at a time (DESIGN §4): each obligation assumes the invariants and
preconditions before one transition and proves the invariant after it.

* **ADL-002** the ranking comparison is a strict total order (antisymmetric,
  transitive, never 0 between distinct accounts) — unbounded.
* **ADL-010/011** both policies' allocations stay within each candidate's size
  and within the unfilled quantity — for k = 1..8 candidates.
* **ADL-020** one ADL step with k = 1..8 candidates (and *any* allocation the
  policies may give, so both policies are covered): conservation and open
  interest; no candidate left with negative equity at mark; a flat account is
  never touched; the engine's position never flips, so no more than the
  unfilled quantity is closed — bounded by k.
* **INS-002/005** one accepted close-out fill keeps the fund ≥ 0 and conserves
  funds (the sweep repeats this step, so any number of fills is covered);
  **INS-003/011** a draw never exceeds the fund — unbounded.
* **LIQ-023** the take-over conserves funds and open interest at any price;
  **LIQ-005** closing at the take-over price leaves the pool at least its
  reserve whenever it was solvent at mark (linear and quanto; inverse tested);
  **LIQ-012..014** a partial liquidation whose FillOrKill fills within its limit
  leaves the pool at or above the new tier's maintenance (with **LIQ-011** fills
  within the limit are worth at least the limit price); **LIQ-035** a cross
  pool's other position is taken over no worse than mark for the trader, at
  mark while the pool covers it, else where the pool's equity reaches zero
  (unless the price range's limit; linear and quanto) — unbounded.

Known-bad variants (:mod:`proofs.known_bad_waterfall`), each expected to be
refuted: ADL eligibility by profit at mark; the insurance draw not capped at
the fund; liquidation triggered on the last price; ADL closing at mark; the
ranking without a tie-break.  ADL-032's obligations (when a held close-out is
deleveraged) are :mod:`proofs.obligations_adl_due`'s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import attrs

from perpspec.proofs.known_bad_waterfall import (
    compare_adl_priority_without_tie_break,
    compute_adl_fund_delta_at_mark,
    compute_affordable_lots_uncapped,
    compute_draw_uncapped,
    is_adl_eligible_by_mark_profit,
    is_liquidatable_on_last_price,
)
from perpspec.proofs.prover import ProofResult, Prover, Status
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of, implies
from perpspec.rules.adl import (
    compare_adl_priority,
    compute_adl_score,
    compute_pro_rata_allocation,
    compute_pro_rata_share,
    compute_queue_allocation,
    is_adl_eligible,
)
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import compute_affordable_lots, compute_draw, compute_fill_delta
from perpspec.rules.liquidation import (
    apply_partial_close,
    compute_cover_takeover_price,
    compute_partial_reduction,
    compute_pool_residual,
    compute_requirement,
    compute_takeover_price,
    is_liquidatable,
    is_partial_feasible,
    is_price_within_limit,
)
from perpspec.rules.num import abs_, ite, or_
from perpspec.rules.position import Position, apply_fill

SYMBOLS = ("XBTUSD", "ETHUSD", "XBTUSDT")  # inverse, quanto, linear
MAX_CANDIDATES = 8
SLOW_TIMEOUT_MS = 60_000  # nonlinear inverse values: room for a loaded machine
PRO_RATA_TOTAL_K = 7  # k = 8 exceeds the default timeout (nonlinear shares); tested by Hypothesis instead

EligibilityRule = Callable[[Instrument, int, int, int, int, int, int], bool]
AllocationRule = Callable[[Sequence[int], int], tuple[int, ...]]
Comparison = Callable[[int, int, int, int, int, int, int, int], int]


def assume_price(prover: Prover, inst: Instrument, price: int, label: str, on_tick: bool = True) -> None:
    """``price`` is positive, at most ``maxPrice`` and (unless a mark) on the tick grid."""
    prover.assume(price > 0, f"{label} positive")
    prover.assume(price <= inst.max_price, f"{label} at most maxPrice")
    if on_tick:
        prover.assume(price % inst.tick_size == 0, f"{label} on the tick grid")


def assume_position(prover: Prover, inst: Instrument, position: Position, label: str) -> None:
    """Whole lots; a flat position has no cost basis."""
    prover.assume(position.qty % inst.lot_size == 0, f"{label} in whole lots")
    prover.assume(implies(position.qty == 0, position.cost == 0), f"{label} flat has zero cost")


def prove_each(prover: Prover, goals: Sequence[tuple[object, str]]) -> ProofResult:
    """Prove independent goals one by one under the same assumptions: the first failure, or all proved."""
    total_us = 0
    last: ProofResult | None = None
    for goal, label in goals:
        result = prover.prove(goal, label)  # type: ignore[arg-type]
        total_us += result.time_us
        if result.status is not Status.PROVED:
            return result
        last = result
    assert last is not None, "at least one goal"
    return attrs.evolve(last, time_us=total_us)


# -- ADL-002: the ranking is a strict total order -----------------------------------------------


def _keys(prover: Prover, name: str) -> tuple[int, int, int, int]:
    num, den = prover.symbol(f"{name}.num"), prover.symbol(f"{name}.den")
    size, account = prover.symbol(f"{name}.size"), prover.symbol(f"{name}.account")
    prover.assume(den > 0, f"{name} denominator positive")
    prover.assume(size >= 0, f"{name} size non-negative")
    return num, den, size, account


def prove_ranking_antisymmetric(compare: Comparison) -> ProofResult:
    """compare(a, b) = −compare(b, a)."""
    with Prover() as prover:
        a, b = _keys(prover, "a"), _keys(prover, "b")
        return prover.prove(compare(*a, *b) == -compare(*b, *a), "ADL-002 antisymmetric")


def prove_ranking_transitive(compare: Comparison) -> ProofResult:
    """a before b and b before c imply a before c."""
    with Prover() as prover:
        a, b, c = _keys(prover, "a"), _keys(prover, "b"), _keys(prover, "c")
        prover.assume(compare(*a, *b) == 1, "a before b")
        prover.assume(compare(*b, *c) == 1, "b before c")
        return prover.prove(compare(*a, *c) == 1, "ADL-002 transitive")


def prove_ranking_strict(compare: Comparison) -> ProofResult:
    """Two distinct accounts never compare equal (a strict order: the tie-break decides)."""
    with Prover() as prover:
        a, b = _keys(prover, "a"), _keys(prover, "b")
        prover.assume(a[3] != b[3], "distinct accounts")
        return prover.prove(compare(*a, *b) != 0, "ADL-002 strict")


def prove_score_denominator_positive() -> ProofResult:
    """ADL-001 scores are fractions with a positive denominator, whatever the position."""
    with Prover() as prover:
        mark_value, cost, equity = prover.symbol("mark_value"), prover.symbol("cost"), prover.symbol("pool_equity")
        prover.assume(mark_value == mark_value, "any position")
        score = compute_adl_score(mark_value, cost, equity)
        return prover.prove(score.den > 0, "ADL-001 denominator > 0")


# -- ADL-010/011: allocations ----------------------------------------------------------------------


def prove_allocation_within_bounds(allocate: AllocationRule, k: int) -> ProofResult:
    """Each candidate closes 0..its size lots; all together no more than the unfilled lots."""
    with Prover() as prover:
        sizes = [prover.symbol(f"size{i}") for i in range(k)]
        unfilled = prover.symbol("unfilled_lots")
        for i, size in enumerate(sizes):
            prover.assume(size >= 0, f"size{i} non-negative")
        prover.assume(unfilled >= 0, "unfilled non-negative")
        allocation = allocate(sizes, unfilled)
        total = 0
        for lots in allocation:
            total = total + lots
        goals: list[tuple[object, str]] = [
            (all_of(lots >= 0, lots <= size), f"candidate {i} within its size")
            for i, (lots, size) in enumerate(zip(allocation, sizes, strict=True))
        ]
        goals.append((total <= unfilled, "within the unfilled quantity"))
        return prove_each(prover, goals)


def prove_pro_rata_total(k: int) -> ProofResult:
    """ADL-011: Σ allocation ≤ unfilled and every allocation ≥ 0, for k candidates."""
    with Prover() as prover:
        sizes = [prover.symbol(f"size{i}") for i in range(k)]
        unfilled = prover.symbol("unfilled_lots")
        for i, size in enumerate(sizes):
            prover.assume(size >= 0, f"size{i} non-negative")
        prover.assume(unfilled >= 0, "unfilled non-negative")
        allocation = compute_pro_rata_allocation(sizes, unfilled)
        total = 0
        for lots in allocation:
            total = total + lots
        goals: list[tuple[object, str]] = [(lots >= 0, f"candidate {i} ≥ 0") for i, lots in enumerate(allocation)]
        goals.append((total <= unfilled, "within the unfilled quantity"))
        return prove_each(prover, goals)


def prove_pro_rata_share_within_size() -> ProofResult:
    """ADL-012: when the candidates hold more than is unfilled, share + one leftover lot ≤ size (unbounded)."""
    with Prover() as prover:
        unfilled, size, total = prover.symbol("unfilled_lots"), prover.symbol("size"), prover.symbol("total_lots")
        prover.assume(all_of(size >= 0, size <= total), "one candidate's size within the total")
        prover.assume(all_of(unfilled >= 0, unfilled < total), "not every candidate closes in full")
        share = compute_pro_rata_share(unfilled, size, total)
        with_leftover = share.lots + ite(share.rounded_down, 1, 0)
        return prover.prove(all_of(share.lots >= 0, with_leftover <= size), "ADL-012 share within size")


# -- ADL-020: one ADL step with k candidates ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class AdlStep:
    """The symbolic ADL step: before and after, per candidate and for the engine."""

    engine_qty: int
    engine_after: int
    bankruptcy_price: int
    mark_price: int
    candidates: tuple[tuple[Position, Position, int, int, int, int], ...]  # before, after, lots, size, equity before, after
    wallets_minus_costs_before: int
    wallets_minus_costs_after: int
    oi_before: int
    oi_after: int


def build_adl_step(
    prover: Prover, inst: Instrument, k: int, eligible_rule: EligibilityRule, focus: int | None = None
) -> AdlStep:
    """k candidates, any allocation within the ADL-010/011 contract, closed at the bankruptcy price.

    With ``focus``, only that candidate's close is built (the others still share
    the unfilled quantity): for goals about one candidate, whose equity depends
    on its own close alone.
    """
    lot = inst.lot_size
    bankruptcy, mark = prover.symbol("bankruptcy_price"), prover.symbol("mark_price")
    engine = prover.symbol("engine_qty")
    assume_price(prover, inst, bankruptcy, "bankruptcy price")
    assume_price(prover, inst, mark, "mark price", on_tick=False)
    prover.assume(engine != 0, "the engine holds a taken-over position")
    prover.assume(engine % lot == 0, "engine in whole lots")
    total_lots, total_close = 0, 0
    before_sum = -compute_value(inst, engine, bankruptcy)  # the engine holds it at the bankruptcy price
    after_sum, oi_before, oi_after = 0, engine, 0
    rows = []
    for i in range(k):
        position = prover.record(Position, f"c{i}")
        margin, wallet, lots = prover.symbol(f"c{i}.margin"), prover.symbol(f"c{i}.wallet"), prover.symbol(f"c{i}.lots")
        assume_position(prover, inst, position, f"c{i}")
        equity = margin + compute_value(inst, position.qty, mark) - position.cost
        eligible = eligible_rule(inst, position.qty, position.cost, equity, mark, engine, bankruptcy)
        size = ite(eligible, abs_(position.qty) // lot, 0)  # only eligible candidates are offered lots
        prover.assume(all_of(lots >= 0, lots <= size), f"c{i} allocation within its size (ADL-010/011)")
        close = ite(position.qty > 0, lots, -lots) * lot
        if focus is None or focus == i:
            after, realised = apply_fill(inst, position, -close, bankruptcy)
        else:
            after, realised = position, 0  # not built: another account, irrelevant to the goal
        equity_after = margin + realised + compute_value(inst, after.qty, mark) - after.cost
        rows.append((position, after, lots, size, equity, equity_after))
        total_lots, total_close = total_lots + lots, total_close + close
        before_sum = before_sum + wallet - position.cost
        after_sum = after_sum + wallet + realised - after.cost
        oi_before, oi_after = oi_before + position.qty, oi_after + after.qty
    prover.assume(total_lots <= abs_(engine) // lot, "allocation within the unfilled quantity (ADL-010/011)")
    engine_after = engine + total_close
    return AdlStep(
        engine_qty=engine,
        engine_after=engine_after,
        bankruptcy_price=bankruptcy,
        mark_price=mark,
        candidates=tuple(rows),
        wallets_minus_costs_before=before_sum,
        wallets_minus_costs_after=after_sum - compute_value(inst, engine_after, bankruptcy),
        oi_before=oi_before,
        oi_after=oi_after + engine_after,
    )


def prove_adl_conservation(symbol: str, k: int) -> ProofResult:
    """INV-CONSERVATION and INV-OI-BALANCE across one ADL step (the fund is not touched)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        step = build_adl_step(prover, inst, k, is_adl_eligible)
        return prover.prove(
            all_of(step.wallets_minus_costs_after == step.wallets_minus_costs_before, step.oi_after == step.oi_before),
            f"ADL-020 conservation {symbol} k={k}",
        )


def prove_candidate_no_negative_equity(
    symbol: str, engine_side: int, eligible_rule: EligibilityRule = is_adl_eligible
) -> ProofResult:
    """A deleveraged candidate keeps equity ≥ 0 at mark, for any number of lots up to its size.

    One candidate suffices for any number of candidates: a candidate's equity
    after the step depends on its own close only, and the other candidates
    only limit how many lots it gives (here: any number from 1 to its size).
    """
    inst = load_instrument(symbol)
    lot = inst.lot_size
    with Prover() as prover:
        bankruptcy, mark = prover.symbol("bankruptcy_price"), prover.symbol("mark_price")
        assume_price(prover, inst, bankruptcy, "bankruptcy price")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        position = prover.record(Position, "candidate")
        margin, lots = prover.symbol("candidate.margin"), prover.symbol("candidate.lots")
        assume_position(prover, inst, position, "candidate")
        equity = margin + compute_value(inst, position.qty, mark) - position.cost
        prover.assume(
            eligible_rule(inst, position.qty, position.cost, equity, mark, engine_side * lot, bankruptcy), "eligible"
        )
        prover.assume(all_of(lots >= 1, lots <= abs_(position.qty) // lot), "closes 1..size lots")
        close = ite(position.qty > 0, lots, -lots) * lot
        after, realised = apply_fill(inst, position, -close, bankruptcy)
        equity_after = margin + realised + compute_value(inst, after.qty, mark) - after.cost
        return prover.prove(equity_after >= 0, f"ADL-020 candidate equity ≥ 0 {symbol} side {engine_side}")


def prove_adl_flat_untouched(symbol: str, k: int) -> ProofResult:
    """A flat account is never deleveraged: its position and wallet stay as they were."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        step = build_adl_step(prover, inst, k, is_adl_eligible)
        goals: list[tuple[object, str]] = [
            (implies(before.qty == 0, all_of(lots == 0, after.qty == 0, after.cost == before.cost)), f"candidate {i} untouched when flat")
            for i, (before, after, lots, _, _, _) in enumerate(step.candidates)
        ]
        return prove_each(prover, goals)


def prove_adl_minimal(symbol: str, k: int) -> ProofResult:
    """ADL closes no more than the unfilled quantity: the engine's position shrinks toward 0, never flips."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        step = build_adl_step(prover, inst, k, is_adl_eligible)
        shrinks = all_of(step.engine_after * step.engine_qty >= 0, abs_(step.engine_after) <= abs_(step.engine_qty))
        return prover.prove(shrinks, f"ADL-020 minimal {symbol} k={k}")


# -- INS: the fund ------------------------------------------------------------------------------------


def prove_fill_keeps_fund(symbol: str, affordable: Callable[..., int]) -> ProofResult:
    """One close-out fill accepted under INS-002 leaves the fund ≥ 0 (the sweep repeats this step)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        fund, price, bankruptcy = prover.symbol("fund"), prover.symbol("price"), prover.symbol("bankruptcy_price")
        offered, side = prover.symbol("offered_lots"), prover.symbol("side")
        assume_price(prover, inst, price, "fill price")
        assume_price(prover, inst, bankruptcy, "bankruptcy price")
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG before")
        prover.assume(offered >= 0, "offered lots")
        prover.assume(implies(side != 1, side == -1), "side is +1 or -1")
        lots = affordable(inst, side, price, bankruptcy, fund, offered)
        delta = compute_fill_delta(inst, side * lots * inst.lot_size, price, bankruptcy)
        return prover.prove(fund + delta >= 0, f"INS-005 fund ≥ 0 {symbol}")


def prove_fill_conserves(symbol: str) -> ProofResult:
    """A close-out fill: the maker's fill, the engine's cost basis and the fund's delta sum to zero."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        maker = prover.record(Position, "maker")
        qty, price, bankruptcy = prover.symbol("fill_qty"), prover.symbol("price"), prover.symbol("bankruptcy_price")
        engine = prover.symbol("engine_qty")
        assume_position(prover, inst, maker, "maker")
        assume_price(prover, inst, price, "fill price")
        assume_price(prover, inst, bankruptcy, "bankruptcy price")
        prover.assume(qty % inst.lot_size == 0, "fill in whole lots")
        prover.assume(engine % inst.lot_size == 0, "engine in whole lots")
        after, realised = apply_fill(inst, maker, qty, price)  # the maker takes the other side
        engine_after = engine - qty
        delta = compute_fill_delta(inst, qty, price, bankruptcy)
        before = -maker.cost - compute_value(inst, engine, bankruptcy)
        after_sum = realised - after.cost - compute_value(inst, engine_after, bankruptcy) + delta
        return prover.prove(after_sum == before, f"INS-005 conservation {symbol}")


def prove_draw_capped(draw: Callable[[int, int], int]) -> ProofResult:
    """INS-003: the fund pays no more than it holds and no more than the shortfall."""
    with Prover() as prover:
        fund, shortfall = prover.symbol("fund"), prover.symbol("shortfall")
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG before")
        paid = draw(fund, shortfall)
        return prover.prove(all_of(paid >= 0, paid <= fund, paid <= abs_(shortfall)), "INS-003 capped draw")


def prove_residual_posting_keeps_fund() -> ProofResult:
    """INS-011: the take-over's residual (any sign) moves to the fund, capped: the fund stays ≥ 0."""
    with Prover() as prover:
        fund, residual = prover.symbol("fund"), prover.symbol("residual")
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG before")
        amount = ite(residual >= 0, residual, -compute_draw(fund, -residual))
        return prover.prove(fund + amount >= 0, "INS-011 fund ≥ 0")


def prove_adl_at_mark_keeps_fund(symbol: str) -> ProofResult:
    """Known-bad ADL-020: closing at mark charges the engine's loss to the fund, which can go negative."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        fund, lots = prover.symbol("fund"), prover.symbol("close_lots")
        mark, bankruptcy = prover.symbol("mark_price"), prover.symbol("bankruptcy_price")
        assume_price(prover, inst, mark, "mark price")
        assume_price(prover, inst, bankruptcy, "bankruptcy price")
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG before")
        prover.assume(lots > 0, "something is closed")
        delta = compute_adl_fund_delta_at_mark(inst, lots * inst.lot_size, mark, bankruptcy)
        return prover.prove(fund + delta >= 0, f"ADL-020 at mark, fund ≥ 0 {symbol}")


# -- LIQ: take-over, trigger, partial liquidation ---------------------------------------------------


def prove_takeover_conserves(symbol: str) -> ProofResult:
    """LIQ-023 at any price: the trader's close, the engine's position, the residual to the fund."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        wallet, fund, price = prover.symbol("wallet"), prover.symbol("fund"), prover.symbol("takeover_price")
        pool_margin = prover.symbol("pool_margin")
        assume_position(prover, inst, position, "position")
        assume_price(prover, inst, price, "take-over price")
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG before")
        after, realised = apply_fill(inst, position, -position.qty, price)
        residual = compute_pool_residual(inst, position.qty, position.cost, pool_margin, price)
        amount = ite(residual >= 0, residual, -compute_draw(fund, -residual))
        engine_cost = compute_value(inst, position.qty, price)
        before = wallet - position.cost + fund
        after_sum = wallet + realised - amount - after.cost - engine_cost + fund + amount
        goal = all_of(after_sum == before, after.qty + position.qty == position.qty, fund + amount >= 0)
        return prover.prove(goal, f"LIQ-023 conservation {symbol}")


def prove_takeover_leaves_reserve(symbol: str) -> ProofResult:
    """LIQ-005: a pool solvent at mark keeps at least its reserve when closed at the take-over price."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        mark, margin, reserve = prover.symbol("mark_price"), prover.symbol("margin"), prover.symbol("reserve")
        assume_position(prover, inst, position, "position")
        prover.assume(position.qty != 0, "open")
        assume_price(prover, inst, mark, "mark price")
        prover.assume(reserve >= 0, "reserve ≥ 0")
        prover.assume(margin + compute_value(inst, position.qty, mark) - position.cost >= reserve, "solvent at mark")
        price = compute_takeover_price(inst, position, margin, reserve)
        residual = compute_pool_residual(inst, position.qty, position.cost, margin, price)
        return prover.prove(residual >= reserve, f"LIQ-005 reserve left {symbol}")


def prove_cover_takeover_price(symbol: str) -> ProofResult:
    """LIQ-035: never worse than mark for the trader, at mark while the pool covers it; linear and quanto: the
    pool ends ≥ 0 unless the price is at its range limit (inverse: tested, tests/test_waterfall_differential.py).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        mark, backing = prover.symbol("mark_price"), prover.symbol("backing")
        assume_position(prover, inst, position, "position")
        prover.assume(position.qty != 0, "open")
        assume_price(prover, inst, mark, "mark price")
        price = compute_cover_takeover_price(inst, position, backing, mark)
        at_price = compute_pool_residual(inst, position.qty, position.cost, backing, price)
        at_mark = compute_pool_residual(inst, position.qty, position.cost, backing, mark)
        limit = ite(position.qty > 0, inst.max_price, inst.tick_size)  # the trader's best price in range
        goals = [
            (at_price >= at_mark, f"LIQ-035 no worse than mark for the trader {symbol}"),
            (implies(at_mark >= 0, price == mark), f"LIQ-035 at mark while the pool covers it {symbol}"),
        ]
        if not inst.is_inverse:  # inverse (per-lot division): out of the solver's reach, tested (as LIQ-005)
            goals.append((or_(at_price >= 0, price == limit), f"LIQ-035 pool left ≥ 0 unless at the limit {symbol}"))
        return prove_each(prover, goals)


def prove_last_price_trigger_is_false(symbol: str) -> ProofResult:
    """Known-bad LIQ-003: a trigger on the last price liquidates pools that are safe at mark."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        margin, maintenance = prover.symbol("margin"), prover.symbol("maintenance")
        mark, last = prover.symbol("mark_price"), prover.symbol("last_price")
        assume_position(prover, inst, position, "position")
        assume_price(prover, inst, mark, "mark price")
        assume_price(prover, inst, last, "last price")
        prover.assume(maintenance >= 0, "maintenance ≥ 0")
        prover.assume(is_liquidatable_on_last_price(inst, position.qty, position.cost, margin, maintenance, last), "fired")
        at_mark = margin + compute_value(inst, position.qty, mark) - position.cost
        return prover.prove(is_liquidatable(at_mark, maintenance), f"LIQ-003 on last price {symbol}")


def prove_partial_keeps_maintenance(symbol: str) -> ProofResult:
    """LIQ-012..014: FillOrKill fills worth at least the limit leave the pool at the new tier's maintenance."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        mark, margin = prover.symbol("mark_price"), prover.symbol("pool_margin")
        others, other_maintenance = prover.symbol("other_equity_terms"), prover.symbol("other_maintenance")
        tier, leverage = prover.symbol("tier"), prover.symbol("leverage_hundredths")
        limit, close_value = prover.symbol("limit_price"), prover.symbol("fills_value")
        assume_position(prover, inst, position, "position")
        prover.assume(position.qty != 0, "open")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, limit, "limit price")
        prover.assume(other_maintenance >= 0, "other maintenance ≥ 0")
        prover.assume(leverage >= 0, "leverage ≥ 0 (0 = cross)")
        prover.assume(tier >= 1, "above the base risk limit")
        equity = margin + others + compute_value(inst, position.qty, mark) - position.cost
        reduction = compute_partial_reduction(inst, position, leverage, tier, equity, other_maintenance, mark)
        prover.assume(is_partial_feasible(inst, reduction, limit), "LIQ-014 feasible at the limit price")
        prover.assume(
            close_value >= compute_value(inst, reduction.close_qty, limit), "fills within the limit (LIQ-011 lemma)"
        )
        kept, realised = apply_partial_close(position, reduction.close_qty, close_value)
        equity_after = margin + realised + others + compute_value(inst, kept.qty, mark) - kept.cost
        maintenance = compute_requirement(inst, kept, leverage, reduction.new_tier).pos_maint
        return prover.prove(equity_after >= other_maintenance + maintenance, f"LIQ-012 maintenance kept {symbol}")


def prove_fill_within_limit_is_worth_the_limit(symbol: str) -> ProofResult:
    """LIQ-011 lemma: a fill within the limit is worth at least the same quantity at the limit price."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price, limit = prover.symbol("fill_qty"), prover.symbol("price"), prover.symbol("limit_price")
        assume_price(prover, inst, price, "fill price")
        assume_price(prover, inst, limit, "limit price")
        prover.assume(qty % inst.lot_size == 0, "whole lots")
        prover.assume(is_price_within_limit(qty, price, limit), "within the limit")
        return prover.prove(
            compute_value(inst, qty, price) >= compute_value(inst, qty, limit), f"LIQ-011 monotone {symbol}"
        )


def prove_value_additive(symbol: str) -> ProofResult:
    """Lemma: values add over whole lots at one price, so several fills sum like one; at every price unit, on the
    tick grid or off it (a take-over at mark, ADL at that price: redteam16_1)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        first, second, price = prover.symbol("first_qty"), prover.symbol("second_qty"), prover.symbol("price")
        assume_price(prover, inst, price, "price", on_tick=False)
        prover.assume(first % inst.lot_size == 0, "whole lots")
        prover.assume(second % inst.lot_size == 0, "whole lots")
        total = compute_value(inst, first + second, price)
        return prover.prove(
            total == compute_value(inst, first, price) + compute_value(inst, second, price), f"CON-002 additive {symbol}"
        )


# -- registration ------------------------------------------------------------------------------------


def _register() -> None:
    for name, check in (
        ("antisymmetric", prove_ranking_antisymmetric),
        ("transitive", prove_ranking_transitive),
        ("strict", prove_ranking_strict),
    ):
        register(
            Obligation(
                id=f"ADL-002/ranking-{name}",
                rule_id="ADL-002",
                invariant_id="INV-ADL-ORDER",
                statement=f"The ADL ranking comparison is {name} (score, then larger position, then smaller account id).",
                run=functools.partial(check, compare_adl_priority),
            )
        )
    register(
        Obligation(
            id="KNOWN-BAD/ADL-002/no-tie-break",
            rule_id="ADL-002",
            invariant_id="INV-ADL-ORDER",
            statement="Known-bad: ranking by score alone lets two distinct positions compare equal.",
            run=functools.partial(prove_ranking_strict, compare_adl_priority_without_tie_break),
            expect="refuted",
        )
    )
    register(
        Obligation(
            id="ADL-001/score-denominator",
            rule_id="ADL-001",
            invariant_id="INV-ADL-ORDER",
            statement="Every ADL score is an exact fraction with a positive denominator.",
            run=prove_score_denominator_positive,
        )
    )
    for k in range(1, MAX_CANDIDATES + 1):
        if k <= PRO_RATA_TOTAL_K:
            register(
                Obligation(
                    id=f"ADL-011/pro-rata/total-within-unfilled/k={k}",
                    rule_id="ADL-011",
                    invariant_id="INV-ADL-MINIMAL",
                    statement="The pro-rata policy closes no more than the unfilled lots in total, and never a negative amount.",
                    run=functools.partial(prove_pro_rata_total, k),
                    bounded=f"k = {k} candidates",
                )
            )
        register(
            Obligation(
                id=f"ADL-010/ranked-queue/within-bounds/k={k}",
                rule_id="ADL-010",
                invariant_id="INV-ADL-MINIMAL",
                statement="The ranked queue gives each candidate 0..its size and no more than the unfilled lots in total.",
                run=functools.partial(prove_allocation_within_bounds, compute_queue_allocation, k),
                bounded=f"k = {k} candidates",
            )
        )
    register(
        Obligation(
            id="ADL-012/pro-rata/share-within-size",
            rule_id="ADL-012",
            invariant_id="INV-ADL-MINIMAL",
            statement="A pro-rata share plus its leftover lot never exceeds the candidate's size (any number of candidates).",
            run=prove_pro_rata_share_within_size,
        )
    )
    adl_checks: tuple[tuple[str, str, Callable[[str, int], ProofResult]], ...] = (
        ("conservation", "INV-CONSERVATION", prove_adl_conservation),
        ("flat-untouched", "INV-FLAT-NO-SOCIAL-LOSS", prove_adl_flat_untouched),
        ("minimal", "INV-ADL-MINIMAL", prove_adl_minimal),
    )
    for symbol in SYMBOLS:
        for name, invariant_id, adl_check in adl_checks:
            sizes: Sequence[int] = range(1, MAX_CANDIDATES + 1)
            if symbol != "XBTUSD":  # linear values floor per fill: the solver is slower, fewer sizes
                sizes = (1, 2) if name == "conservation" else (1, MAX_CANDIDATES)
            for k in sizes:
                register(
                    Obligation(
                        id=f"ADL-020/{name}/{symbol}/k={k}",
                        rule_id="ADL-020",
                        invariant_id=invariant_id,
                        statement=f"One ADL step on {symbol} with {k} candidates (any allocation within ADL-010/011) keeps {invariant_id}.",
                        run=functools.partial(adl_check, symbol, k),
                        bounded=f"k = {k} candidates",
                    )
                )
        for side, side_name in ((1, "long"), (-1, "short")):
            register(
                Obligation(
                    id=f"ADL-020/no-negative-equity/{symbol}/engine-{side_name}",
                    rule_id="ADL-020",
                    invariant_id="INV-NO-NEG-EQUITY-AFTER-ADL",
                    statement=(
                        f"Every {symbol} position deleveraged against a taken-over {side_name} keeps equity ≥ 0 at mark "
                        "(per candidate, so for any number of candidates)."
                    ),
                    run=functools.partial(prove_candidate_no_negative_equity, symbol, side),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
            register(
                Obligation(
                    id=f"KNOWN-BAD/ADL-003/eligible-by-mark-profit/{symbol}/engine-{side_name}",
                    rule_id="ADL-003",
                    invariant_id="INV-NO-NEG-EQUITY-AFTER-ADL",
                    statement="Known-bad: ADL eligibility by profit at mark can push a candidate below zero equity.",
                    run=functools.partial(
                        prove_candidate_no_negative_equity, symbol, side, is_adl_eligible_by_mark_profit
                    ),
                    expect="refuted",
                )
            )
        unbounded: list[tuple[str, str, str, str, Callable[[], ProofResult]]] = [
            ("INS-005/fund-nonneg", "INS-005", "INV-INSURANCE-NONNEG",
             "A close-out fill accepted under INS-002 leaves the fund ≥ 0.",
             functools.partial(prove_fill_keeps_fund, symbol, compute_affordable_lots)),
            ("INS-005/conservation", "INS-005", "INV-CONSERVATION",
             "A close-out fill: maker, engine cost basis and fund delta sum to zero.",
             functools.partial(prove_fill_conserves, symbol)),
            ("LIQ-023/conservation", "LIQ-023", "INV-CONSERVATION",
             "The take-over at any price conserves funds and open interest and keeps the fund ≥ 0.",
             functools.partial(prove_takeover_conserves, symbol)),
            ("LIQ-035/cover-takeover-price", "LIQ-035", "INV-NO-NEG-EQUITY-AFTER-ADL",
             "A cross pool's other position is taken over no worse than mark for the trader, at mark while the pool "
             "covers it, else where the pool's equity reaches zero (unless at the price range's limit).",
             functools.partial(prove_cover_takeover_price, symbol)),
            ("LIQ-012/partial-keeps-maintenance", "LIQ-012", "INV-NO-FALSE-LIQUIDATION",
             "A FillOrKill reduction filled within its limit leaves the pool at the new tier's maintenance.",
             functools.partial(prove_partial_keeps_maintenance, symbol)),
            ("LIQ-011/within-limit-worth-limit", "LIQ-011", "INV-NO-FALSE-LIQUIDATION",
             "A fill within the limit is worth at least the same quantity at the limit price.",
             functools.partial(prove_fill_within_limit_is_worth_the_limit, symbol)),
            ("CON-002/value-additive-over-lots", "CON-002", "INV-CONSERVATION",
             "Values add over whole lots at one price (several fills sum like one).",
             functools.partial(prove_value_additive, symbol)),
            ("KNOWN-BAD/INS-002/uncapped-draw", "INS-002", "INV-INSURANCE-NONNEG",
             "Known-bad: taking every offered lot whatever the fund holds drives the fund below zero.",
             functools.partial(prove_fill_keeps_fund, symbol, compute_affordable_lots_uncapped)),
            ("KNOWN-BAD/LIQ-003/last-price-trigger", "LIQ-003", "INV-NO-FALSE-LIQUIDATION",
             "Known-bad: a trigger on the last price liquidates a pool that is safe at mark.",
             functools.partial(prove_last_price_trigger_is_false, symbol)),
            ("KNOWN-BAD/ADL-020/close-at-mark", "ADL-020", "INV-INSURANCE-NONNEG",
             "Known-bad: ADL at mark charges the engine's loss to the fund, which can go negative.",
             functools.partial(prove_adl_at_mark_keeps_fund, symbol)),
        ]  # fmt: skip
        if not load_instrument(symbol).is_inverse:
            unbounded.append(
                ("LIQ-005/takeover-leaves-reserve", "LIQ-005", "INV-INSURANCE-NONNEG",
                 "A pool solvent at mark keeps at least its reserve when closed at the take-over price.",
                 functools.partial(prove_takeover_leaves_reserve, symbol))
            )  # fmt: skip
        for name, rule_id, invariant_id, statement, run in unbounded:
            register(
                Obligation(
                    id=f"{name}/{symbol}",
                    rule_id=rule_id,
                    invariant_id=invariant_id,
                    statement=f"{statement} ({symbol})",
                    run=run,
                    expect="refuted" if name.startswith("KNOWN-BAD/") else "proved",
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
    register(
        Obligation(
            id="INS-003/draw-capped",
            rule_id="INS-003",
            invariant_id="INV-INSURANCE-NONNEG",
            statement="A draw is never more than the fund holds, nor more than the shortfall.",
            run=functools.partial(prove_draw_capped, compute_draw),
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/INS-003/draw-uncapped",
            rule_id="INS-003",
            invariant_id="INV-INSURANCE-NONNEG",
            statement="Known-bad: a draw of the whole shortfall can exceed the fund.",
            run=functools.partial(prove_draw_capped, compute_draw_uncapped),
            expect="refuted",
        )
    )
    register(
        Obligation(
            id="INS-011/residual-posting",
            rule_id="INS-011",
            invariant_id="INV-INSURANCE-NONNEG",
            statement="The take-over's residual margin moves to the fund (a deficit drawn, capped): the fund stays ≥ 0.",
            run=prove_residual_posting_keeps_fund,
        )
    )


_register()
