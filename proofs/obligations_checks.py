"""Proof obligations for ``@concrete`` rules, by path exploration (:mod:`proofs.paths`).

These rules branch with ``if`` on values, so they cannot be evaluated as one
symbolic term; :func:`proofs.paths.explore` runs the rule's own code once per
feasible path instead, and the prover proves the goal on every path (and that
the paths cover every input).  Unbounded: none of these rules loops over
symbolic data (the median's ``k`` is a stated bound).

* **rejection rules** (MRG-061/063/064/065, RSK-006/007/008, INS-006, SET-005, FND-021)
  reject *exactly* the stated set: accepted ⇔ the documented condition, both
  directions;
* **MRG-067/068** after a trade, an order goes exactly when available < 0 and one
  is left; the clean-up stops as soon as the account is funded (or has no order
  left) and never cancels an order of a funded account (up to 4 orders);
* **SET-006** the settlement fee charged is within [0, fee], never takes a pool
  at or above zero below it, and is the whole fee when the pool can bear it;
* **SET-007** the insurance deposit a refused Settle names is exact (enough, and the least that is);
* **FND-012** the next funding instant is on the grid, strictly after now and
  at most one interval later; **FND-017** the daily interest is the fixed rate or
  quote − base; **MRK-014** a new session moves the band's centre and nothing else; **IDX-007** fresh ⇔ a price younger than the
  staleness age; **IDX-006** the median splits the prices in halves (k ≤ 5).

Each has a known-bad variant (:mod:`proofs.known_bad_kernels`): a strict vs
non-strict comparison, a dropped clause, a forgotten sort.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.lemmas import FLOOR_AT_LEAST, FLOOR_MONOTONE, PRODUCT_MONOTONE
from perpspec.proofs.paths import explore, paths_goal
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Expectation, Obligation, register
from perpspec.rules import funding, index, insurance, margin, risk_limit, settlement
from perpspec.rules.contract import compute_notional
from perpspec.rules.funding import PremiumInputs, compute_next_funding_ms
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.mark import MarkState
from perpspec.rules.num import PPM, abs_, and_, ite, not_, or_

TIMEOUT_MS = 60_000
SYMBOLS = ("XBTUSD", "ETHUSD", "XBTUSDT")

OBLIGATIONS: list[Obligation] = []


def _add(
    id: str,
    rule_id: str,
    invariant_id: str,
    statement: str,
    run: Callable[[], ProofResult],
    *,
    expect: Expectation = "proved",
    bounded: str | None = None,
) -> None:
    OBLIGATIONS.append(
        register(
            Obligation(
                id=id if expect == "proved" else f"KNOWN-BAD/{id}",
                rule_id=rule_id,
                invariant_id=invariant_id,
                statement=statement if expect == "proved" else f"Known-bad: {statement}",
                run=run,
                expect=expect,
                bounded=bounded,
                timeout_ms=TIMEOUT_MS,
            )
        )
    )


def _iff(left: bool, right: bool) -> bool:
    return or_(and_(left, right), and_(not_(left), not_(right)))


def _accepts_exactly(prover: Prover, run: Callable[[], object], accept: bool, label: str) -> ProofResult:
    """Every path returns ``None`` (accepted) exactly when ``accept`` holds."""
    paths = explore(run)
    return prover.prove(paths_goal(paths, lambda result: _iff(result is None, accept)), f"{label} ({len(paths)} paths)")


# --------------------------------------------------------------------------- rejection rules


def prove_order_margin(check: Callable[[int, int], object]) -> ProofResult:
    """MRG-061: refused exactly when the order needs margin and leaves the available balance < 0."""
    with Prover() as prover:
        available, requirement = prover.symbol("available_margin"), prover.symbol("requirement")
        accept = or_(requirement <= 0, available - requirement >= 0)
        return _accepts_exactly(prover, lambda: check(available, requirement), accept, "MRG-061")


def prove_cancel_due(due: Callable[[int, int], object]) -> ProofResult:
    """MRG-067: another order goes exactly when the available balance is below zero and an order is left."""
    with Prover() as prover:
        available, left = prover.symbol("available_margin"), prover.symbol("orders_left")
        paths = explore(lambda: due(available, left))
        expected = and_(available < 0, left > 0)
        return prover.prove(paths_goal(paths, lambda result: _iff(result, expected)), "MRG-067")  # type: ignore[arg-type]


def prove_trade_cancels(count: int, cancels: Callable[[tuple[int, ...]], int]) -> ProofResult:
    """MRG-068: a clean-up of ``count`` orders stops funded (available ≥ 0) or with none left, never later.

    ``available_after[k]`` is any available balance once the ``k`` newest orders are cancelled (cancelling
    need not raise it: MRG-044's netting is not monotone).  Goal: ``0 ≤ k ≤ count``; ``available_after[k] ≥ 0``
    or ``k = count``; and every ``available_after[j]``, ``j < k``, was below zero (no order of a funded account
    is cancelled).
    """
    with Prover() as prover:
        after = tuple(prover.symbol(f"available_after{k}") for k in range(count + 1))
        paths = explore(lambda: cancels(after))

        def goal(cancelled: int) -> bool:
            if not 0 <= cancelled <= count:
                return False
            holds = or_(after[cancelled] >= 0, cancelled == count)
            for earlier in after[:cancelled]:
                holds = and_(holds, earlier < 0)
            return holds

        return prover.prove(paths_goal(paths, goal), f"MRG-068 n={count} ({len(paths)} paths)")


def prove_withdrawal(check: Callable[[int, int], object]) -> ProofResult:
    """MRG-064: accepted exactly when ``0 < amount ≤ withdrawable``."""
    with Prover() as prover:
        amount, withdrawable = prover.symbol("amount"), prover.symbol("withdrawable_margin")
        prover.assume(withdrawable >= 0, "withdrawable ≥ 0 (MRG-050)")
        accept = and_(amount > 0, amount <= withdrawable)
        return _accepts_exactly(prover, lambda: check(amount, withdrawable), accept, "MRG-064")


def prove_leverage(symbol: str, check: Callable[..., object]) -> ProofResult:
    """MRG-065: accepted exactly when leverage is 0 (cross) or in ``[0.01x, tier maximum]``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        leverage, steps = prover.symbol("leverage_hundredths"), prover.symbol("steps")
        prover.assume(and_(steps >= 0, steps <= 10_000), "steps in 0..10_000")
        top = risk_limit.compute_max_leverage_hundredths(inst, steps)
        accept = or_(leverage == 0, and_(leverage >= 1, leverage <= top))
        return _accepts_exactly(prover, lambda: check(inst, leverage, steps), accept, f"MRG-065 {symbol}")


def prove_transfer_margin(is_cross: bool, check: Callable[..., object]) -> ProofResult:
    """MRG-063: accepted exactly for an isolated position, a non-zero amount, adds within available, removals within MRG-062."""
    with Prover() as prover:
        pos_cross, pnl = prover.symbol("pos_cross"), prover.symbol("unrealised_pnl")
        amount, available = prover.symbol("amount"), prover.symbol("available_margin")
        prover.assume(pos_cross >= 0, "pos_cross ≥ 0")
        removable = margin.compute_removable_margin(pos_cross, pnl)
        accept = and_(
            not is_cross,
            and_(amount != 0, and_(or_(amount < 0, amount <= available), or_(amount > 0, -amount <= removable))),
        )
        return _accepts_exactly(prover, lambda: check(is_cross, pos_cross, pnl, amount, available), accept, "MRG-063")


def _transfer_via_rule(is_cross: bool, pos_cross: int, pnl: int, amount: int, available: int) -> object:
    """Calls MRG-063 on a position record holding the symbolic figures."""
    record = margin.PositionMargin(
        current_qty=1, leverage_hundredths=0 if is_cross else 1_000, risk_steps=0, init_margin_req_ppm=0,
        maint_margin_req_ppm=0, pos_cost=0, pos_init=0, pos_comm=0, pos_cross=pos_cross, pos_margin=0, pos_maint=0,
        mark_value=0, unrealised_pnl=pnl, maint_margin=0, liquidation_price=0, bankrupt_price=0,
    )
    return margin.check_transfer_margin(record, amount, available)


def prove_risk_limit_choice(symbol: str, check: Callable[..., object]) -> ProofResult:
    """RSK-006: accepted exactly when the limit is ``riskLimit + k × riskStep`` for a whole ``k ≥ 0``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        chosen = prover.symbol("chosen_limit")
        accept = and_(chosen >= inst.risk_limit, (chosen - inst.risk_limit) % inst.risk_step == 0)
        return _accepts_exactly(prover, lambda: check(inst, chosen), accept, f"RSK-006 {symbol}")


def prove_risk_limit(check: Callable[[int, int], object]) -> ProofResult:
    """RSK-007: accepted exactly when the gross value is within the chosen limit (at the limit: accepted)."""
    with Prover() as prover:
        gross, chosen = prover.symbol("gross_value"), prover.symbol("chosen_limit")
        return _accepts_exactly(prover, lambda: check(gross, chosen), gross <= chosen, "RSK-007")


def _concentration_instrument(prover: Prover) -> Instrument:
    """XBTUSD with ``concentrationShare`` and ``concentrationFloor`` symbols in their validated ranges (RSK-008 reads
    no other field)."""
    share, floor = prover.symbol("concentration_share_ppm"), prover.symbol("concentration_floor")
    prover.assume(share > 0, "concentrationShare > 0")
    prover.assume(share <= PPM, "concentrationShare ≤ 100%")
    prover.assume(floor >= 0, "concentrationFloor ≥ 0")
    return attrs.evolve(load_instrument("XBTUSD"), concentration_share_ppm=share, concentration_floor=floor)


def _reduces(position_qty: int, order_signed: int) -> bool:
    """The order only reduces the position: the other side, and at most the position."""
    return or_(
        and_(position_qty > 0, and_(order_signed < 0, -order_signed <= position_qty)),
        and_(position_qty < 0, and_(order_signed > 0, order_signed <= -position_qty)),
    )


def prove_concentration_exact(check: Callable[[Instrument, int, int, int, int], object]) -> ProofResult:
    """RSK-008: accepted exactly when the order only reduces, or the open value is below the floor, or the position
    is at most the share of the open interest (any position, order, open interest and open value)."""
    with Prover() as prover:
        inst = _concentration_instrument(prover)
        qty, signed = prover.symbol("position_qty"), prover.symbol("order_signed")
        oi, value = prover.symbol("open_interest"), prover.symbol("open_value")
        accept = or_(
            _reduces(qty, signed),
            or_(value < inst.concentration_floor, abs_(qty) * PPM <= inst.concentration_share_ppm * oi),
        )
        return _accepts_exactly(prover, lambda: check(inst, qty, signed, oi, value), accept, "RSK-008")


def prove_concentration_only_reduces(check: Callable[[Instrument, int, int, int, int], object]) -> ProofResult:
    """RSK-008: an accepted order of an account above the share, with the open value at or above the floor, never
    increases |position| nor flips it, whatever part of it fills (a fill ``f`` of the order's sign, ``|f| ≤ |order|``).

    The account's position is part of the open interest (``open interest ≥ |position|``) and values are ≥ 0.
    """
    with Prover() as prover:
        inst = _concentration_instrument(prover)
        qty, signed, fill = prover.symbol("position_qty"), prover.symbol("order_signed"), prover.symbol("fill")
        oi, value = prover.symbol("open_interest"), prover.symbol("open_value")
        prover.assume(oi >= abs_(qty), "the account's position is part of the open interest")
        prover.assume(value >= 0, "open value ≥ 0")
        part = or_(and_(signed > 0, and_(fill > 0, fill <= signed)), and_(signed < 0, and_(fill < 0, fill >= signed)))
        concentrated = and_(value >= inst.concentration_floor, abs_(qty) * PPM > inst.concentration_share_ppm * oi)
        after = qty + fill
        only_reduces = and_(abs_(after) < abs_(qty), or_(and_(qty > 0, after >= 0), and_(qty < 0, after <= 0)))
        paths = explore(lambda: check(inst, qty, signed, oi, value))
        goal = paths_goal(
            paths, lambda result: or_(not_(and_(result is None, and_(part, concentrated))), only_reduces)
        )
        return prover.prove(goal, f"RSK-008 only reduces ({len(paths)} paths)")


def prove_concentration_reach(
    symbol: str,
    reach: Callable[[Instrument, int], int],
    cannot_refuse: Callable[[Instrument, int, int], bool] = risk_limit.concentration_cannot_refuse,
) -> ProofResult:
    """RSK-008/reach: whenever ``concentration_cannot_refuse`` holds of the largest open interest that leaves the
    account concentrated (``compute_concentration_reach``) at the mark, the order is accepted whatever the open
    interest (whole lots, at least the account's own position) — the engine's verdict without summing the open
    interest.  The assumption is the function the engine calls (``OrderEntry.check_concentration``), not a copy of
    its condition (redteam22_2: a copy let ``<=`` in the engine go unnoticed).

    Values grow with the open interest at one mark (CON-003: a product with a non-negative per-contract or per-lot
    value, floored), so an open interest at most the reach is worth less than the floor, and one above it leaves
    the account at or below the share.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, signed = prover.symbol("position_qty"), prover.symbol("order_signed")
        oi, mark = prover.symbol("open_interest"), prover.symbol("mark_price")
        prover.assume(qty % inst.lot_size == 0, "whole lots")
        prover.assume(oi % inst.lot_size == 0, "open interest in whole lots")
        prover.assume(oi >= abs_(qty), "the account's position is part of the open interest")
        prover.assume(and_(mark > 0, mark <= inst.max_price), "a mark in (0, maxPrice]")
        top = reach(inst, qty)
        prover.assume(cannot_refuse(inst, top, mark), "the shortcut taken (the engine's own predicate)")
        if inst.is_inverse:  # |value| = (q // lot) × the lot value at the mark, a floor of a positive numerator
            numerator = -inst.multiplier * inst.price_scale * inst.lot_size
            prover.use(FLOOR_AT_LEAST, 2 * mark, 2 * numerator + mark, 0)
            per_lot = (2 * numerator + mark) // (2 * mark)
            prover.use(FLOOR_MONOTONE, inst.lot_size, oi, top)
            prover.use(PRODUCT_MONOTONE, per_lot, oi // inst.lot_size, top // inst.lot_size)
        else:  # |value| = q × multiplier × mark // priceScale
            prover.use(PRODUCT_MONOTONE, inst.multiplier * mark, oi, top)
            prover.use(FLOOR_MONOTONE, inst.price_scale, oi * inst.multiplier * mark, top * inst.multiplier * mark)
        value = compute_notional(inst, oi, mark)
        paths = explore(lambda: risk_limit.check_concentration(inst, qty, signed, oi, value))
        goal = paths_goal(paths, lambda result: result is None)
        return prover.prove(goal, f"RSK-008 reach {symbol} ({len(paths)} paths)")


def _reach_one_more(inst: Instrument, position_qty: int) -> int:
    """KNOWN-BAD RSK-008/reach: the reach one lot short (the shortcut would skip open interests that refuse)."""
    return risk_limit.compute_concentration_reach(inst, position_qty) - inst.lot_size


def _cannot_refuse_at_floor(inst: Instrument, reach: int, mark: int) -> bool:
    """KNOWN-BAD RSK-008/reach: the shortcut taken when the reach is worth exactly the floor (``<=``), where the rule
    refuses (redteam22_2's planted slip)."""
    return or_(reach < 0, compute_notional(inst, reach, mark) <= inst.concentration_floor)


def prove_concentration_partial_sum(check: Callable[[Instrument, int, int, int, int], object]) -> ProofResult:
    """RSK-008 with the engine's stopped sum: once the share test is false on part of the open interest (any
    ``0 ≤ partial ≤ open interest``), the order is accepted on the whole of it, whatever the open value.

    The engine (``OrderEntry.check_concentration``) sums the long positions and stops there.
    """
    with Prover() as prover:
        inst = _concentration_instrument(prover)
        qty, signed = prover.symbol("position_qty"), prover.symbol("order_signed")
        partial, oi, value = prover.symbol("partial_sum"), prover.symbol("open_interest"), prover.symbol("open_value")
        prover.assume(partial >= 0, "the partial sum ≥ 0")
        prover.assume(partial <= oi, "the partial sum is part of the open interest")
        prover.use(PRODUCT_MONOTONE, inst.concentration_share_ppm, partial, oi)
        stopped = not_(risk_limit.is_concentrated(inst, qty, partial))
        paths = explore(lambda: check(inst, qty, signed, oi, value))
        goal = paths_goal(paths, lambda result: or_(not_(stopped), result is None))
        return prover.prove(goal, f"RSK-008 partial sum ({len(paths)} paths)")


def prove_fund_deposit(has_fund: bool, check: Callable[[bool, int], object]) -> ProofResult:
    """INS-006: accepted exactly when the currency has a fund and the amount is positive."""
    with Prover() as prover:
        amount = prover.symbol("amount")
        accept = and_(has_fund, amount > 0)
        return _accepts_exactly(prover, lambda: check(has_fund, amount), accept, f"INS-006 fund={has_fund}")


def _fund_deposit_via_rule(has_fund: bool, amount: int) -> object:
    fund = insurance.InsuranceFund(currency="XBt") if has_fund else None
    return insurance.check_fund_deposit(fund, "XBt", amount)


def prove_settlement_ready(pending: int, check: Callable[..., object]) -> ProofResult:
    """SET-005: ready exactly when the mark is the settlement price and no pool is below maintenance."""
    with Prover() as prover:
        mark_price, price = prover.symbol("mark_price"), prover.symbol("settlement_price")
        pools = tuple(prover.symbol(f"account{i}") for i in range(pending))
        accept = and_(mark_price == price, pending == 0)
        return _accepts_exactly(prover, lambda: check(mark_price, price, pools), accept, f"SET-005 pending={pending}")


def prove_funding_instant(paid: bool, check: Callable[[str, int, int | None], object]) -> ProofResult:
    """FND-021: with an instant paid, a FundingTick is accepted exactly when its instant is after it; else always."""
    with Prover() as prover:
        time_ms, last = prover.symbol("time_ms"), prover.symbol("last_funding_ms")
        accept = time_ms > last if paid else True
        run = lambda: check("XBTUSD", time_ms, last if paid else None)  # noqa: E731
        return _accepts_exactly(prover, run, accept, f"FND-021 paid={paid}")


def prove_settlement_fee_charged(charged_of: Callable[[int, int], int]) -> ProofResult:
    """SET-006: 0 ≤ charged ≤ fee; pool equity ≥ 0 ⇒ equity − charged ≥ 0; equity ≥ fee ⇒ charged = fee."""
    with Prover() as prover:
        fee, equity = prover.symbol("fee"), prover.symbol("pool_equity")
        prover.assume(fee >= 0, "SET-002: a fee is ≥ 0 (a non-negative notional times a rate, rounded up)")
        charged = charged_of(fee, equity)
        return prover.prove_all(
            [
                (and_(charged >= 0, charged <= fee), "0 ≤ charged ≤ fee"),
                (or_(equity < 0, equity - charged >= 0), "a pool at or above zero stays there"),
                (or_(equity < fee, charged == fee), "a pool that bears the fee pays all of it"),
            ],
            "SET-006",
        )


def prove_settlement_shortfall(shortfall_of: Callable[[int, int], int]) -> ProofResult:
    """SET-007: the deposit the refusal names is exact: ≥ 0, enough (fund + held PnL + it ≥ 0), and no more than needed."""
    with Prover() as prover:
        fund, held = prover.symbol("fund"), prover.symbol("held_pnl")
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG: the fund is ≥ 0")
        shortfall = shortfall_of(fund, held)
        return prover.prove_all(
            [
                (shortfall >= 0, "the deposit named is ≥ 0 (INS-006 takes no negative deposit)"),
                (fund + held + shortfall >= 0, "a deposit of it lets the fund bear the held loss"),
                (or_(shortfall == 0, fund + held + shortfall - 1 < 0), "one less does not (the amount is exact)"),
                (_iff(shortfall == 0, fund + held >= 0), "nothing is asked when the fund bears it"),
            ],
            "SET-007",
        )


# --------------------------------------------------------------------------- clocks, freshness, median


def prove_next_funding(next_funding: Callable[[int, int, int], int]) -> ProofResult:
    """FND-012: on the grid ``offset + k × interval``, strictly after ``time``, at most one interval later."""
    with Prover() as prover:
        time_ms, interval, offset = prover.symbol("time_ms"), prover.symbol("interval_ms"), prover.symbol("offset_ms")
        prover.assume(interval > 0, "interval > 0")
        paths = explore(lambda: next_funding(time_ms, interval, offset))

        def goal(result: int) -> bool:
            return and_(and_((result - offset) % interval == 0, result > time_ms), result <= time_ms + interval)

        return prover.prove(paths_goal(paths, goal), "FND-012")


def prove_fresh(fresh: Callable[[int, int, int, int], object]) -> ProofResult:
    """IDX-007: fresh exactly when the constituent has a price younger than ``stale_after_ms``."""
    with Prover() as prover:
        stale, price, updated, time_ms = (prover.symbol(n) for n in ("stale_after_ms", "price", "updated_ms", "time_ms"))
        prover.assume(stale > 0, "stale_after > 0")
        paths = explore(lambda: fresh(stale, price, updated, time_ms))
        expected = and_(price > 0, time_ms - updated < stale)

        def goal(result: object) -> bool:
            return _iff(result, expected)  # type: ignore[arg-type]

        return prover.prove(paths_goal(paths, goal), "IDX-007")


def _fresh_via_rule(stale: int, price: int, updated: int, time_ms: int) -> object:
    params = index.IndexParams(stale_after_ms=stale)
    return index.is_fresh(params, index.Constituent(reference="X", weight=1, price=price, updated_ms=updated), time_ms)


def prove_median(k: int, median: Callable[[tuple[int, ...]], int]) -> ProofResult:
    """IDX-006: at least half the prices are ≤ the median and at least half are ≥ it (k prices)."""
    with Prover() as prover:
        prices = tuple(prover.symbol(f"price{i}") for i in range(k))
        paths = explore(lambda: median(prices), max_paths=256)
        half = (k + 1) // 2

        def goal(result: int) -> bool:
            below = sum((ite(price <= result, 1, 0) for price in prices), 0)
            above = sum((ite(price >= result, 1, 0) for price in prices), 0)
            return and_(below >= half, above >= half)

        return prover.prove(paths_goal(paths, goal), f"IDX-006 k={k}")


# --------------------------------------------------------------------------- registration


def _register() -> None:
    p = functools.partial
    exact = "EXACT-REJECTION"
    _add("MRG-061/exact", "MRG-061", "INV-MARGIN-ON-ENTRY", "Refused exactly when the order needs margin and would leave available < 0.",
         p(prove_order_margin, margin.check_order_margin))
    _add("MRG-061/at-equality", "MRG-061", "INV-MARGIN-ON-ENTRY", "≤ 0 instead of < 0.", p(prove_order_margin, bad.check_order_margin_at_equality), expect="refuted")
    _add("MRG-067/exact", "MRG-067", "INV-MARGIN-ON-ENTRY", "After a trade, another order goes exactly when available < 0 and an order is left.",
         p(prove_cancel_due, margin.is_cancel_after_trade_due))
    _add("MRG-067/at-zero", "MRG-067", "INV-MARGIN-ON-ENTRY", "available ≤ 0 instead of < 0: an account at exactly zero loses an order.",
         p(prove_cancel_due, bad.is_cancel_after_trade_due_at_zero), expect="refuted")
    for count in range(5):
        _add(f"MRG-068/fewest-cancels/n={count}", "MRG-068", "INV-MARGIN-ON-ENTRY",
             "After a trade, the clean-up stops once available ≥ 0 or no order is left, and cancels no order of an account already funded.",
             p(prove_trade_cancels, count, margin.compute_trade_cancels), bounded=f"n = {count} orders")
    _add("MRG-068/at-zero", "MRG-068", "INV-MARGIN-ON-ENTRY", "available ≤ 0 instead of < 0: an account at exactly zero loses an order.",
         p(prove_trade_cancels, 2, bad.compute_trade_cancels_at_zero), expect="refuted", bounded="n = 2 orders")
    _add("MRG-068/all-when-short", "MRG-068", "INV-MARGIN-ON-ENTRY", "every order cancelled once available < 0 after the trade.",
         p(prove_trade_cancels, 2, bad.compute_trade_cancels_all_when_short), expect="refuted", bounded="n = 2 orders")
    _add("MRG-068/keeps-last", "MRG-068", "INV-MARGIN-ON-ENTRY", "the last order kept although available is still < 0.",
         p(prove_trade_cancels, 2, bad.compute_trade_cancels_keeping_last), expect="refuted", bounded="n = 2 orders")
    _add("MRG-064/exact", "MRG-064", "INV-WITHDRAW-SAFE", "Accepted exactly when 0 < amount ≤ withdrawable.", p(prove_withdrawal, margin.check_withdrawal))
    _add("MRG-064/inclusive", "MRG-064", "INV-WITHDRAW-SAFE", "amount ≥ withdrawable refused.", p(prove_withdrawal, bad.check_withdrawal_inclusive), expect="refuted")
    for is_cross in (False, True):
        mode = "cross" if is_cross else "isolated"
        _add(f"MRG-063/exact/{mode}", "MRG-063", "INV-WITHDRAW-SAFE",
             f"Transfer on a {mode} position: accepted exactly when isolated, non-zero, adds within available, removals within MRG-062.",
             p(prove_transfer_margin, is_cross, _transfer_via_rule))
    _add("MRG-063/counts-profit", "MRG-063", "INV-WITHDRAW-SAFE", "removable margin counts unrealised profit.",
         p(prove_transfer_margin, False, bad.check_transfer_margin_with_profit), expect="refuted")
    _add("RSK-007/exact", "RSK-007", exact, "Accepted exactly when position plus orders stay within the chosen limit.", p(prove_risk_limit, risk_limit.check_risk_limit))
    _add("RSK-007/strict", "RSK-007", exact, "< instead of ≤.", p(prove_risk_limit, bad.check_risk_limit_strict), expect="refuted")
    _add("RSK-008/exact", "RSK-008", exact,
         "Refused exactly when the order is not a pure reduction, the open value is at or above the floor and the position is more than the share of the open interest.",
         p(prove_concentration_exact, risk_limit.check_concentration))
    _add("RSK-008/only-reduces", "RSK-008", exact,
         "An accepted order of an account above the share (open value at or above the floor) never increases or flips its position, whatever part fills.",
         p(prove_concentration_only_reduces, risk_limit.check_concentration))
    _add("RSK-008/partial-sum", "RSK-008", exact,
         "Once the share test is false on part of the open interest, the order is accepted on the whole (the engine's stopped sum).",
         p(prove_concentration_partial_sum, risk_limit.check_concentration))
    for symbol in ("XBTUSD", "ETHUSD", "XBTUSDT", "XBTZ26"):
        _add(f"RSK-008/reach/{symbol}", "RSK-008", exact,
             f"{symbol}: when the largest open interest that leaves the account concentrated is worth less than the floor at the mark, every order is accepted (the engine then sums no open interest).",
             p(prove_concentration_reach, symbol, risk_limit.compute_concentration_reach))
    _add("RSK-008/reach-short/XBTUSDT", "RSK-008", exact, "a reach one lot short: an open interest the shortcut skips can still refuse.",
         p(prove_concentration_reach, "XBTUSDT", _reach_one_more), expect="refuted")
    _add("RSK-008/reach-at-floor/XBTUSD", "RSK-008", exact,
         "the shortcut taken when the reach is worth exactly the floor (≤ instead of <): the rule refuses there.",
         p(prove_concentration_reach, "XBTUSD", risk_limit.compute_concentration_reach, _cannot_refuse_at_floor),
         expect="refuted")
    _add("RSK-008/at-share", "RSK-008", exact, "≥ instead of >: an account exactly at the share refused.",
         p(prove_concentration_exact, bad.check_concentration_at_share), expect="refuted")
    _add("RSK-008/same-side-only", "RSK-008", exact, "only orders on the position's side refused: a larger opposite order flips it.",
         p(prove_concentration_only_reduces, bad.check_concentration_same_side_only), expect="refuted")
    for has_fund in (True, False):
        _add(f"INS-006/exact/fund={has_fund}", "INS-006", "INV-INSURANCE-NONNEG", "A fund deposit is accepted exactly for a currency with a fund and a positive amount.",
             p(prove_fund_deposit, has_fund, _fund_deposit_via_rule))
    _add("INS-006/allows-zero", "INS-006", "INV-INSURANCE-NONNEG", "amount < 0 refused instead of ≤ 0.",
         p(prove_fund_deposit, True, bad.check_fund_deposit_allows_zero), expect="refuted")
    for pending in (0, 1, 2):
        _add(f"SET-005/exact/pending={pending}", "SET-005", exact, "Settlement is ready exactly when the mark is the settlement price and no pool is below maintenance.",
             p(prove_settlement_ready, pending, settlement.check_settlement_ready))
    _add("SET-005/pending-ignored", "SET-005", exact, "the pending-liquidation clause dropped.",
         p(prove_settlement_ready, 1, bad.check_settlement_ready_ignoring_pending), expect="refuted")
    for paid in (True, False):
        _add(f"FND-021/exact/paid={paid}", "FND-021", exact,
             "A FundingTick is accepted exactly when no instant of its contract was paid yet or its instant is after "
             "the last one paid: an instant is paid once.",
             p(prove_funding_instant, paid, funding.check_funding_instant))
    _add("FND-021/same-instant-again", "FND-021", exact, "< instead of ≤: the instant just paid "
         "is paid again.", p(prove_funding_instant, True, bad.check_funding_instant_paying_the_same_instant_again),
         expect="refuted")
    no_neg = "INV-NO-NEG-EQUITY"
    _add("SET-006/capped", "SET-006", no_neg, "The settlement fee charged is within [0, fee], leaves a pool at or above zero "
         "there, and is the whole fee when the pool's equity reaches it.", p(prove_settlement_fee_charged, settlement.compute_settlement_fee_charged))
    _add("SET-006/uncapped", "SET-006", no_neg, "the whole fee charged whatever the pool holds (SET-002 alone).",
         p(prove_settlement_fee_charged, bad.compute_settlement_fee_charged_uncapped), expect="refuted")
    _add("SET-006/unfloored", "SET-006", no_neg, "min(fee, equity): an owing pool is paid a negative fee.",
         p(prove_settlement_fee_charged, bad.compute_settlement_fee_charged_unfloored), expect="refuted")
    _add("SET-007/exact-deposit", "SET-007", "INV-INSURANCE-NONNEG", "The DepositInsurance a refused Settle names is "
         "≥ 0, lets the fund bear the held close-outs' loss at the settlement price, and is the least that does.",
         p(prove_settlement_shortfall, settlement.compute_settlement_shortfall))
    _add("SET-007/unfloored", "SET-007", "INV-INSURANCE-NONNEG", "−(fund + held PnL): a negative deposit named when the fund bears it.",
         p(prove_settlement_shortfall, bad.compute_settlement_shortfall_unfloored), expect="refuted")
    _add("SET-007/one-short", "SET-007", "INV-INSURANCE-NONNEG", "the deposit named one short (−(fund + held PnL) − 1).",
         p(prove_settlement_shortfall, bad.compute_settlement_shortfall_one_short), expect="refuted")
    for symbol in SYMBOLS:
        _add(f"MRG-065/exact/{symbol}", "MRG-065", exact, "Leverage accepted exactly when 0 (cross) or within [0.01x, the tier's maximum].",
             p(prove_leverage, symbol, margin.check_leverage))
        _add(f"MRG-065/exclusive-top/{symbol}", "MRG-065", exact, "the tier's maximum itself refused.",
             p(prove_leverage, symbol, bad.check_leverage_exclusive_top), expect="refuted")
        _add(f"RSK-006/exact/{symbol}", "RSK-006", exact, "A chosen risk limit is accepted exactly when it is riskLimit + k × riskStep, k ≥ 0.",
             p(prove_risk_limit_choice, symbol, risk_limit.check_risk_limit_choice))
        _add(f"RSK-006/floor-dropped/{symbol}", "RSK-006", exact, "the chosen ≥ riskLimit clause dropped.",
             p(prove_risk_limit_choice, symbol, bad.check_risk_limit_choice_without_floor), expect="refuted")
    _add("FND-012/grid", "FND-012", "FUNDING-CLOCK", "The next funding instant is on the grid, strictly after now, at most one interval later.",
         p(prove_next_funding, compute_next_funding_ms))
    _add("FND-012/inclusive", "FND-012", "FUNDING-CLOCK", "an instant on the grid is its own next instant.",
         p(prove_next_funding, bad.compute_next_funding_ms_inclusive), expect="refuted")
    _add("IDX-007/exact", "IDX-007", exact, "Fresh exactly when a price exists and is younger than the staleness age.", p(prove_fresh, _fresh_via_rule))
    _add("IDX-007/inclusive", "IDX-007", exact, "age ≤ stale_after counted as fresh.", p(prove_fresh, bad.is_fresh_inclusive), expect="refuted")
    for k in range(1, 6):
        _add(f"IDX-006/halves/k={k}", "IDX-006", "INDEX-MEDIAN", "At least half the prices lie at or below the median and at least half at or above.",
             p(prove_median, k, index.compute_median), bounded=f"k = {k} prices")
    _add("IDX-006/unsorted/k=3", "IDX-006", "INDEX-MEDIAN", "the middle of the unsorted prices.",
         p(prove_median, 3, bad.compute_median_unsorted), expect="refuted", bounded="k = 3 prices")


_register()


def prove_interest_daily(fixed_ppm: int | None, rule: Callable[..., int]) -> ProofResult:
    """FND-017: a fixed rate ignores the indices (ppm → 1e-8); otherwise the rate is quote − base."""
    from perpspec.rules.funding import PPM_TO_E8

    inst = attrs.evolve(load_instrument("XBTUSD"), fixed_interest_daily_ppm=fixed_ppm)
    with Prover() as prover:
        quote, base = prover.symbol("quote_daily_e8"), prover.symbol("base_daily_e8")
        inputs = PremiumInputs(impact_bid=None, impact_ask=None, mark_price=1, spot_price=1, fair_basis_e8=0, quote_daily_e8=quote, base_daily_e8=base)
        paths = explore(lambda: rule(inst, inputs))
        expected = quote - base if fixed_ppm is None else fixed_ppm * PPM_TO_E8
        return prover.prove(paths_goal(paths, lambda result: result == expected), f"FND-017 fixed={fixed_ppm}")


def _interest_daily_swapped(inst: Instrument, inputs: PremiumInputs) -> int:
    """KNOWN-BAD FND-017: base − quote (the interest difference with its sign slipped)."""
    if inst.fixed_interest_daily_ppm is not None:
        return inst.fixed_interest_daily_ppm * 100
    return inputs.base_daily_e8 - inputs.quote_daily_e8


def prove_new_session(rule: Callable[..., object]) -> ProofResult:
    """MRK-014: a new session re-centres the limit band on the reference and changes nothing else."""
    with Prover() as prover:
        names = ("fair_basis_e8", "fair_price", "limit_reference", "mark_price", "reference_price")
        basis, fair, old_reference, mark_price, reference = (prover.symbol(n) for n in names)
        state = MarkState(fair_basis_e8=basis, basis_refreshed_ms=None, fair_price=fair, limit_reference=old_reference, mark_price=mark_price)
        paths = explore(lambda: rule(state, reference))

        def goal(after: object) -> bool:
            assert isinstance(after, MarkState)
            same = and_(and_(after.fair_basis_e8 == basis, after.fair_price == fair), after.mark_price == mark_price)
            return and_(and_(after.limit_reference == reference, same), after.basis_refreshed_ms is None)

        return prover.prove(paths_goal(paths, goal), "MRK-014")


def _new_session_moves_mark(state: MarkState, reference_price: int) -> MarkState:
    """KNOWN-BAD MRK-014: the mark itself is reset to the reference (not only the band's centre)."""
    return attrs.evolve(state, limit_reference=reference_price, mark_price=reference_price)


def _register_more() -> None:
    from perpspec.rules.funding import get_interest_daily_e8
    from perpspec.rules.mark import process_new_session

    p = functools.partial
    for fixed in (None, 100):
        _add(f"FND-017/exact/fixed={fixed}", "FND-017", "FUNDING-RATE",
             "The daily interest is the fixed rate when the instrument sets one, else quote − base.", p(prove_interest_daily, fixed, get_interest_daily_e8))
    _add("FND-017/swapped", "FND-017", "FUNDING-RATE", "base − quote.", p(prove_interest_daily, None, _interest_daily_swapped), expect="refuted")
    _add("MRK-014/recentre-only", "MRK-014", "BAND-INWARD", "A new session moves the band's centre to the reference and nothing else.",
         p(prove_new_session, process_new_session))
    _add("MRK-014/moves-mark", "MRK-014", "BAND-INWARD", "the mark reset to the reference.", p(prove_new_session, _new_session_moves_mark), expect="refuted")


_register_more()
