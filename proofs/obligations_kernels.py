"""Proof obligations for the rule kernels that had none (issue 20: every rule proved or waived).

Each obligation is the invariant the rule must preserve, per the registry's
shape: money-moving kernels prove **conservation** (a position's unrealised
PnL, equity term or pool residual is exactly what closing it would realise;
a haircut is exactly the candidate's loss of equity); fund-moving kernels
prove the **fund's sign and balance**; price and requirement kernels prove
their **safe-side rounding** (requirements and fees up, credits and limits
down, band edges inward, neutral references half up within half a unit);
rejection predicates prove they reject **exactly** the stated set (both
directions).  Every proof runs the rule's own code on symbolic integers.

Per contract type the instrument-dependent ones run on XBTUSD (inverse),
ETHUSD (quanto) and XBTUSDT (linear); XBTZ26 has XBTUSD's contract parameters.

Each rule here has at least one known-bad variant
(:mod:`proofs.known_bad_kernels`) — a rounding direction, a strict vs
non-strict comparison, a dropped clause or a sign — expected to be refuted
with a printed counterexample.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.obligations_core import assume_valid_price, assume_well_formed, assume_whole_lots
from perpspec.proofs.prover import Lemma, ProofResult, Prover
from perpspec.proofs.registry import Expectation, Obligation, register
from perpspec.proofs.sym import all_of, implies
from perpspec.rules import (
    adl,
    contract,
    funding,
    impact,
    index,
    insurance,
    liquidation,
    margin,
    mark,
    position,
    risk_limit,
    settlement,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import OrderSide
from perpspec.rules.num import PPM, abs_, and_, ite, not_, or_
from perpspec.rules.position import Position, apply_fill
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill

SYMBOLS = ("XBTUSD", "ETHUSD", "XBTUSDT")  # inverse, quanto, linear
INVERSE = ("XBTUSD",)
TIMEOUT_MS = 60_000

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
    obligation = Obligation(
        id=id if expect == "proved" else (id if id.startswith("FINDING") else f"KNOWN-BAD/{id}"),
        rule_id=rule_id,
        invariant_id=invariant_id,
        statement=statement if expect == "proved" or id.startswith("FINDING") else f"Known-bad: {statement}",
        run=run,
        expect=expect,
        bounded=bounded,
        timeout_ms=TIMEOUT_MS,
    )
    OBLIGATIONS.append(register(obligation))


def _iff(left: bool, right: bool) -> bool:
    """Both conditions hold or neither does (``==`` on conditions would compare objects)."""
    return or_(and_(left, right), and_(not_(left), not_(right)))


def _when(condition: bool, then: bool, other: bool) -> bool:
    """``then`` where ``condition`` holds, ``other`` elsewhere (a condition-valued ``ite``)."""
    return or_(and_(condition, then), and_(not_(condition), other))


# --------------------------------------------------------------------------- roundings


def _ceil_exact(result: int, numerator: int, denominator: int) -> bool:
    """``result = ceil(numerator / denominator)`` for ``denominator > 0``: never below, less than one above."""
    return and_(result * denominator >= numerator, result * denominator < numerator + denominator)


def _floor_exact(result: int, numerator: int, denominator: int) -> bool:
    """``result = floor(numerator / denominator)`` for ``denominator > 0``: never above, less than one below."""
    return and_(result * denominator <= numerator, result * denominator > numerator - denominator)


def _half_up(result: int, numerator: int, denominator: int) -> bool:
    """``result`` is within half a unit of ``numerator / denominator`` (``denominator > 0``), halves up."""
    twice = 2 * result * denominator - 2 * numerator
    return and_(twice > -denominator, twice <= denominator)


# --------------------------------------------------------------------------- conservation at close


def prove_close_realises(
    symbol: str, kernel: Callable[..., int], with_margin: bool, label: str
) -> ProofResult:
    """``kernel`` (what a position adds to equity at ``price``) equals what closing it there realises (ACC-003).

    ``kernel(inst, position, price)`` or, ``with_margin``, ``kernel(inst, qty, cost, margin, price)``
    minus the margin.  So the figure moves no money: closing at that price turns it into wallet
    exactly (INV-CONSERVATION).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        price, margin_amount = prover.symbol("price"), prover.symbol("margin")
        assume_well_formed(prover, inst, held, "position")
        assume_valid_price(prover, inst, price, "price")
        _, realised = apply_fill(inst, held, -held.qty, price)
        if with_margin:
            figure = kernel(inst, held.qty, held.cost, margin_amount, price) - margin_amount
        else:
            figure = kernel(inst, held, price)
        return prover.prove(figure == realised, label)


def prove_equity_realises(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-030: ``margin + unrealisedPnl`` is exactly the margin after closing at the mark."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        price, margin_amount = prover.symbol("mark_price"), prover.symbol("margin")
        assume_well_formed(prover, inst, held, "position")
        assume_valid_price(prover, inst, price, "mark_price")
        _, realised = apply_fill(inst, held, -held.qty, price)
        return prover.prove(kernel(inst, held, margin_amount, price) == margin_amount + realised, f"MRG-030 {symbol}")


def _equity_sign_flipped(inst: Instrument, held: Position, margin_amount: int, price: int) -> int:
    return margin_amount + bad.compute_unrealised_pnl_sign_flipped(inst, held, price)


@functools.cache
def value_additive(symbol: str) -> Lemma:
    """CON-002 as a lemma: values add over whole lots at one valid price."""
    inst = load_instrument(symbol)

    def premise(first: int, second: int, price: int) -> bool:
        return all_of(first % inst.lot_size == 0, second % inst.lot_size == 0, price > 0, price <= inst.max_price)  # type: ignore[return-value]

    def conclusion(first: int, second: int, price: int) -> bool:
        value = contract.compute_value
        return value(inst, first + second, price) == value(inst, first, price) + value(inst, second, price)

    return Lemma(name=f"CON-002 value additive {symbol}", params=("first", "second", "price"), premise=premise, conclusion=conclusion)


def prove_haircut_is_equity_loss(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """ADL-004: closing ``close`` of a position at the bankruptcy price lowers its equity at mark by the haircut.

    With ACC-003's proved ``Δwallet − Δcost = −value(fill)`` the statement is about values only.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        close_qty = prover.symbol("close_qty")
        mark_price, bankruptcy_price = prover.symbol("mark_price"), prover.symbol("bankruptcy_price")
        assume_well_formed(prover, inst, held, "position")
        assume_whole_lots(prover, inst, close_qty, "close_qty")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        assume_valid_price(prover, inst, bankruptcy_price, "bankruptcy_price")
        prover.assume(
            or_(and_(held.qty > 0, and_(close_qty > 0, close_qty <= held.qty)), and_(held.qty < 0, and_(close_qty < 0, close_qty >= held.qty))),
            "close part of the position (signed like it)",
        )
        # ACC-003 (proved): a fill moves exactly its value, Δwallet − Δcost = −value(fill); so the
        # change of equity at mark is −value(−close, bankruptcy) + value(qty − close, mark) − value(qty, mark).
        additive = value_additive(symbol)
        prover.use(additive, held.qty - close_qty, close_qty, mark_price)  # CON-002: values add over lots
        prover.use(additive, close_qty, -close_qty, bankruptcy_price)
        moved = -contract.compute_value(inst, -close_qty, bankruptcy_price)
        change = moved + contract.compute_value(inst, held.qty - close_qty, mark_price) - contract.compute_value(inst, held.qty, mark_price)
        haircut = kernel(inst, close_qty, mark_price, bankruptcy_price)
        return prover.prove(change == -haircut, f"ADL-004 {symbol}")


def prove_fill_delta_sign(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """INS-001: a fill at or better than the bankruptcy price never draws on the fund; a worse one never credits it."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        close_qty, price, bankruptcy_price = prover.symbol("close_qty"), prover.symbol("price"), prover.symbol("bankruptcy_price")
        assume_whole_lots(prover, inst, close_qty, "close_qty")
        prover.assume(close_qty != 0, "something is closed")
        assume_valid_price(prover, inst, price, "price")
        assume_valid_price(prover, inst, bankruptcy_price, "bankruptcy_price")
        delta = kernel(inst, close_qty, price, bankruptcy_price)
        # closing a long sells: better = higher; closing a short buys: better = lower
        better = or_(and_(close_qty > 0, price >= bankruptcy_price), and_(close_qty < 0, price <= bankruptcy_price))
        return prover.prove(_when(better, delta >= 0, delta <= 0), f"INS-001 {symbol}")


def prove_held_pnl_is_close_out(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """ADL-030: the held position's PnL at mark is exactly the fund's gain if closed at mark (INS-001)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held_qty, takeover_price, mark_price = prover.symbol("held_qty"), prover.symbol("takeover_price"), prover.symbol("mark_price")
        assume_whole_lots(prover, inst, held_qty, "held_qty")
        assume_valid_price(prover, inst, takeover_price, "takeover_price")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        pnl = kernel(inst, held_qty, takeover_price, mark_price)
        gain = insurance.compute_fill_delta(inst, held_qty, mark_price, takeover_price)
        return prover.prove(pnl == gain, f"ADL-030 {symbol}")


def prove_fund_delta_row(kernel: Callable[..., insurance.InsuranceFund]) -> ProofResult:
    """INS-004: the fund moves by exactly ``delta``, stays ≥ 0 for an allowed delta, and its row records the new balance."""
    with Prover() as prover:
        balance, delta, stamp = prover.symbol("balance"), prover.symbol("delta"), prover.symbol("timestamp_ms")
        prover.assume(balance >= 0, "INV-INSURANCE-NONNEG before")
        prover.assume(delta >= -balance, "callers never draw more than the fund holds (INS-003)")
        fund = insurance.InsuranceFund(currency="XBt", balance=balance)
        after = kernel(fund, delta, stamp)
        row = after.history[-1]
        return prover.prove(
            all_of(after.balance == balance + delta, after.balance >= 0, row.wallet_balance == after.balance, row.timestamp_ms == stamp),
            "INS-004",
        )


def _fund_delta_row_before(fund: insurance.InsuranceFund, delta: int, timestamp_ms: int) -> insurance.InsuranceFund:
    """KNOWN-BAD INS-004: the history row records the balance *before* the movement."""
    row = insurance.InsuranceRow(currency=fund.currency, timestamp_ms=timestamp_ms, wallet_balance=fund.balance)
    return insurance.InsuranceFund(currency=fund.currency, balance=fund.balance + delta, history=(*fund.history, row))


# --------------------------------------------------------------------------- values and notionals


def prove_notional(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """CON-003: the notional is ``|value|``: never negative, the same for a long and a short."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        notional = kernel(inst, qty, price)
        return prover.prove(
            all_of(notional >= 0, notional == kernel(inst, -qty, price), notional == abs_(contract.compute_value(inst, qty, price))),
            f"CON-003 {symbol}",
        )


def prove_lot_value_half_up(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """CON-001: the inverse lot value is within half a satoshi of ``lot × |mult| × scale / price``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        price = prover.symbol("price")
        assume_valid_price(prover, inst, price, "price")
        numerator = -inst.multiplier * inst.price_scale * inst.lot_size
        return prover.prove(_half_up(kernel(inst, price), numerator, price), f"CON-001 {symbol}")


def prove_avg_entry_round_trip(symbol: str) -> ProofResult:
    """ACC-005: a position opened by one fill at a tick price shows that price as its average entry (linear, quanto)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        assume_whole_lots(prover, inst, qty, "qty")
        prover.assume(qty != 0, "open")
        assume_valid_price(prover, inst, price, "price")
        opened, _ = apply_fill(inst, position.FLAT, qty, price)
        return prover.prove(position.compute_avg_entry_price(inst, opened) == price, f"ACC-005 {symbol}")


def _avg_entry_floor(inst: Instrument, held: Position) -> int:
    """KNOWN-BAD ACC-005: the linear average entry floored (``|cost|·scale // (mult·|qty|)``) — off by one tick unit."""
    qty = abs_(held.qty)
    denominator = inst.multiplier * ite(qty == 0, 1, qty)
    return ite(qty == 0, 0, (abs_(held.cost) * inst.price_scale - 1) // denominator)


def prove_avg_entry_round_trip_with(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """The same statement as :func:`prove_avg_entry_round_trip` for another kernel."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        assume_whole_lots(prover, inst, qty, "qty")
        prover.assume(qty != 0, "open")
        assume_valid_price(prover, inst, price, "price")
        opened, _ = apply_fill(inst, position.FLAT, qty, price)
        return prover.prove(kernel(inst, opened) == price, f"ACC-005 {symbol}")


# --------------------------------------------------------------------------- margin requirements


def prove_ppm_ceil(kernel: Callable[[int, int], int], label: str) -> ProofResult:
    """MRG-003 shape: ``ceil(amount × rate / 1e6)`` for any amount ≥ 0 and rate ≥ 0."""
    with Prover() as prover:
        amount, rate = prover.symbol("amount"), prover.symbol("rate_ppm")
        prover.assume(amount >= 0, "amount ≥ 0")
        prover.assume(and_(rate >= 0, rate <= PPM), "rate in [0, 100%]")
        return prover.prove(_ceil_exact(kernel(amount, rate), amount * rate, PPM), label)


def _pos_comm_as(kernel: Callable[[int, int], int]) -> Callable[[int, int], int]:
    return lambda amount, rate: kernel(amount, rate)


def prove_pos_comm(kernel: Callable[[int, int, int, int], int]) -> ProofResult:
    """MRG-004: ``posComm = ceil(takerFee × (posCost + posInit + posCross))``."""
    with Prover() as prover:
        cost, init, cross, fee = (prover.symbol(name) for name in ("pos_cost", "pos_init", "pos_cross", "taker_fee_ppm"))
        prover.assume(all_of(cost >= 0, init >= 0, cross >= 0), "amounts ≥ 0")
        prover.assume(and_(fee >= 0, fee < PPM), "fee in [0, 100%)")
        base = cost + init + cross
        return prover.prove(_ceil_exact(kernel(cost, init, cross, fee), base * fee, PPM), "MRG-004")


def _pos_comm_floor(cost: int, init: int, cross: int, fee: int) -> int:
    return bad.compute_ppm_floor(cost + init + cross, fee)


def prove_leverage_req(kernel: Callable[[int], int]) -> ProofResult:
    """MRG-001: ``1 / leverage`` in ppm rounded up: the requirement times the leverage covers the position."""
    with Prover() as prover:
        leverage = prover.symbol("leverage_hundredths")
        prover.assume(and_(leverage >= 1, leverage <= 100 * 100 * 100), "leverage in [0.01x, 10_000x]")
        return prover.prove(_ceil_exact(kernel(leverage), PPM * 100, leverage), "MRG-001")


def prove_init_req(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-002: cross takes the tier's initial margin; isolated never less than the tier or ``1 / leverage``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        leverage, steps = prover.symbol("leverage_hundredths"), prover.symbol("steps")
        prover.assume(leverage >= 0, "leverage ≥ 0 (0 = cross)")
        prover.assume(steps >= 0, "steps ≥ 0")
        required = kernel(inst, leverage, steps)
        tier = risk_limit.compute_risk_init_margin_req_ppm(inst, steps)
        isolated = margin.compute_leverage_margin_req_ppm(ite(leverage == 0, 1, leverage))
        goal = _when(leverage == 0, required == tier, and_(required >= tier, required >= isolated))
        return prover.prove(goal, f"MRG-002 {symbol}")


def prove_adverse_funding(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRG-006: the reserve is the adverse payment rounded up, and 0 when funding is favourable."""
    with Prover() as prover:
        cost, qty, rate = prover.symbol("pos_cost"), prover.symbol("qty"), prover.symbol("funding_rate_e8")
        prover.assume(cost >= 0, "pos_cost ≥ 0")
        prover.assume(qty != 0, "a position")
        adverse = ite(qty > 0, rate, -rate)
        reserve = kernel(cost, qty, rate)
        goal = _when(adverse <= 0, reserve == 0, _ceil_exact(reserve, cost * adverse, margin.FUNDING_RATE_UNIT))
        return prover.prove(goal, "MRG-006")


def prove_prorated(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRG-043: a part's share rounded up: never below the exact share, never above the whole amount."""
    with Prover() as prover:
        amount, part, whole = prover.symbol("amount"), prover.symbol("part_qty"), prover.symbol("whole_qty")
        prover.assume(all_of(amount >= 0, part >= 0, part <= whole), "0 ≤ part ≤ whole, amount ≥ 0")
        prover.assume(implies(whole == 0, amount == 0), "an empty side has no amount")
        share = kernel(amount, part, whole)
        goal = _when(whole == 0, share == 0, and_(_ceil_exact(share, amount * part, whole), share <= amount))
        return prover.prove(goal, "MRG-043")


def prove_order_premium(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-041: the premium is never negative and never less than the loss against mark at the limit."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, limit_price, mark_price = prover.symbol("qty"), prover.symbol("limit_price"), prover.symbol("mark_price")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, limit_price, "limit_price")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        premium = kernel(inst, qty, limit_price, mark_price)
        loss = contract.compute_value(inst, qty, limit_price) - contract.compute_value(inst, qty, mark_price)
        return prover.prove(and_(premium >= 0, premium >= loss), f"MRG-041 {symbol}")


def prove_order_req(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-045: orders are charged at least the requirement of the position plus either side of its orders."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        bids, asks = prover.record(OrderSide, "bids"), prover.record(OrderSide, "asks")
        cost, leverage = prover.symbol("position_cost"), prover.symbol("leverage_hundredths")
        prover.assume(all_of(bids.value >= 0, asks.value >= 0, leverage >= 0), "values and leverage ≥ 0")
        required = kernel(inst, cost, bids, asks, leverage)

        def at(gross: int) -> int:
            return margin.compute_init_margin_req_ppm(inst, leverage, risk_limit.compute_risk_steps(inst, gross))

        goal = all_of(required >= at(abs_(cost) + bids.value), required >= at(abs_(cost) + asks.value), required >= at(abs_(cost)))
        return prover.prove(goal, f"MRG-045 {symbol}")


def _order_req_smaller_side(inst: Instrument, cost: int, bids: OrderSide, asks: OrderSide, leverage: int) -> int:
    """KNOWN-BAD MRG-045: the tier of the *smaller* side of the orders (``min`` for ``max``)."""
    gross = abs_(cost) + ite(bids.value <= asks.value, bids.value, asks.value)
    return margin.compute_init_margin_req_ppm(inst, leverage, risk_limit.compute_risk_steps(inst, gross))


def prove_removable_margin(kernel: Callable[[int, int], int]) -> ProofResult:
    """MRG-062: removable margin is ≥ 0, at most the extra margin, and never includes unrealised profit."""
    with Prover() as prover:
        cross, pnl = prover.symbol("pos_cross"), prover.symbol("unrealised_pnl")
        prover.assume(cross >= 0, "pos_cross ≥ 0")
        removable = kernel(cross, pnl)
        left = cross - removable + ite(pnl < 0, pnl, 0)
        return prover.prove(all_of(removable >= 0, removable <= cross, or_(left >= 0, removable == 0)), "MRG-062")


def prove_isolated_excess(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-031: isolated excess < 0 exactly when the position is liquidatable (LIQ-003) at mark."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        pos_margin, pos_maint, mark_price = prover.symbol("pos_margin"), prover.symbol("pos_maint"), prover.symbol("mark_price")
        assume_well_formed(prover, inst, held, "position")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        excess = kernel(inst, held, pos_margin, pos_maint, mark_price)
        equity = margin.compute_equity(inst, held, pos_margin, mark_price)
        return prover.prove(_iff(excess < 0, liquidation.is_liquidatable(equity, pos_maint)), f"MRG-031 {symbol}")


def _isolated_excess_swapped(inst: Instrument, held: Position, pos_margin: int, pos_maint: int, mark_price: int) -> int:
    return bad.compute_margin_excess_swapped(margin.compute_equity(inst, held, pos_margin, mark_price), pos_maint)


def prove_cross_excess(k: int, kernel: Callable[..., int]) -> ProofResult:
    """MRG-032: cross excess = wallet + Σ unrealised PnL − Σ maintenance over k positions."""
    with Prover() as prover:
        wallet = prover.symbol("cross_wallet")
        pnls = tuple(prover.symbol(f"pnl{i}") for i in range(k))
        maints = tuple(prover.symbol(f"maint{i}") for i in range(k))
        prover.assume(all_of(True, *[maint >= 0 for maint in maints]), "maintenance ≥ 0")
        expected = wallet + sum(pnls, 0) - sum(maints, 0)
        return prover.prove(kernel(wallet, pnls, maints) == expected, f"MRG-032 k={k}")


def prove_cross_backing(k: int, kernel: Callable[..., int]) -> ProofResult:
    """MRG-033: backing + own PnL − own maintenance is the account's cross excess (MRG-032), k other positions.

    So the position's liquidation price (where its own margin excess over the backing turns
    negative) is exactly where the account becomes liquidatable, the others held at mark.
    """
    with Prover() as prover:
        wallet, own_pnl, own_maint = prover.symbol("cross_wallet"), prover.symbol("own_pnl"), prover.symbol("own_maint")
        pnls = tuple(prover.symbol(f"pnl{i}") for i in range(k))
        maints = tuple(prover.symbol(f"maint{i}") for i in range(k))
        prover.assume(all_of(own_maint >= 0, *[maint >= 0 for maint in maints]), "maintenance ≥ 0")
        prover.assume(all_of(True, *[maint > 0 for maint in maints]), "other positions are open (posMaint > 0)")
        backing = kernel(wallet, pnls, maints)
        account = margin.compute_cross_margin_excess(wallet, (own_pnl, *pnls), (own_maint, *maints))
        return prover.prove(backing + own_pnl - own_maint == account, f"MRG-033 k={k}")


# --------------------------------------------------------------------------- liquidation


def prove_excess_sign(kernel: Callable[[int, int], int]) -> ProofResult:
    """LIQ-002: the excess is below zero exactly when equity is below maintenance."""
    with Prover() as prover:
        equity, maintenance = prover.symbol("equity"), prover.symbol("maintenance")
        prover.assume(maintenance >= 0, "maintenance ≥ 0")
        excess = kernel(equity, maintenance)
        return prover.prove(and_(_iff(excess < 0, equity < maintenance), excess + maintenance == equity), "LIQ-002")


def prove_trigger_exact(kernel: Callable[[int, int], bool]) -> ProofResult:
    """LIQ-003: liquidatable exactly when equity < maintenance (both directions; at equality: not liquidated)."""
    with Prover() as prover:
        equity, maintenance = prover.symbol("equity"), prover.symbol("maintenance")
        prover.assume(maintenance >= 0, "maintenance ≥ 0")
        return prover.prove(_iff(kernel(equity, maintenance), equity < maintenance), "LIQ-003")


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
        return prover.prove(_iff(kernel(inst, reduction, limit_price), expected), f"LIQ-014 {symbol}")


def _partial_feasible_without_headroom(inst: Instrument, reduction: liquidation.PartialReduction, limit_price: int) -> bool:
    """KNOWN-BAD LIQ-014: the headroom clause dropped (a pool that cannot afford the new tier is 'feasible')."""
    at_limit = liquidation.compute_pool_residual(inst, reduction.close_qty, reduction.closed_mark_value, reduction.headroom, limit_price)
    return and_(reduction.close_qty != 0, at_limit >= 0)


# --------------------------------------------------------------------------- risk limits


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
        return prover.prove(_floor_exact(top, PPM * 100, required), f"RSK-005 {symbol}")


# --------------------------------------------------------------------------- ADL


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


def prove_fund_cover(k: int) -> ProofResult:
    """ADL-031: the fund cover is the fund plus every held position's PnL at mark (k held positions)."""
    with Prover() as prover:
        fund = prover.symbol("fund_balance")
        pnls = tuple(prover.symbol(f"held_pnl{i}") for i in range(k))
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG")
        cover = adl.compute_fund_cover(fund, pnls)
        return prover.prove(cover == fund + sum(pnls, 0), f"ADL-031 k={k}")


# --------------------------------------------------------------------------- funding, index, mark


def prove_half_up_2(kernel: Callable[[int, int], int], numerator: Callable[[int, int], int], denominator: Callable[[int, int], int], guard: Callable[[int, int], bool], names: tuple[str, str], label: str) -> ProofResult:
    """A two-argument kernel rounds ``numerator / denominator`` half up under ``guard``."""
    with Prover() as prover:
        first, second = prover.symbol(names[0]), prover.symbol(names[1])
        prover.assume(guard(first, second), "preconditions")
        return prover.prove(_half_up(kernel(first, second), numerator(first, second), denominator(first, second)), label)


def _mean_floor_guarded(total: int, count: int) -> int:
    return bad.compute_mean_floor(total, count)


def _interval_interest_floor(daily: int, interval: int) -> int:
    """KNOWN-BAD FND-002: the interval interest floored (biased toward shorts)."""
    return (daily * interval) // funding.DAY_MS


def prove_funding_basis(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """FND-013: the basis is ``rate × until / interval`` rounded half up; 0 at the funding instant."""
    with Prover() as prover:
        rate, until, interval = prover.symbol("rate_e8"), prover.symbol("until_ms"), prover.symbol("interval_ms")
        prover.assume(and_(interval > 0, interval <= 7 * funding.DAY_MS), "interval in (0, 7 days]")
        prover.assume(and_(until >= 0, until <= interval), "0 ≤ until ≤ interval")
        prover.assume(and_(rate >= -10**8, rate <= 10**8), "|rate| ≤ 100%")
        basis = kernel(rate, until, interval)
        return prover.prove(and_(_half_up(basis, rate * until, interval), kernel(rate, 0, interval) == 0), "FND-013")


def _funding_basis_truncated(rate: int, until: int, interval: int) -> int:
    """KNOWN-BAD FND-013: the basis floored (a negative rate's basis moves away from zero)."""
    return (rate * until) // ite(interval <= 0, 1, interval)


def prove_cap_change(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """FND-015: the change cap is ``ratio × MM`` in 1e-8 rounded down (never looser than stated)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.symbol("unused")
        exact_scaled = inst.funding_change_cap_ratio_ppm * inst.maint_margin_ppm * funding.PPM_TO_E8
        return prover.prove(_floor_exact(kernel(inst), exact_scaled, PPM), f"FND-015 {symbol}")


def _cap_change_ceil(inst: Instrument) -> int:
    """KNOWN-BAD FND-015: the change cap rounded up (looser than stated)."""
    return -((-inst.funding_change_cap_ratio_ppm * inst.maint_margin_ppm * funding.PPM_TO_E8 - 1) // PPM)


def prove_premium_sample(kernel: Callable[..., int]) -> ProofResult:
    """FND-001: the premium is 0 when the mark lies within the impact prices; else half up to 1e-8 of its ratio."""
    with Prover() as prover:
        bid, ask, mark_price, spot = (prover.symbol(n) for n in ("impact_bid", "impact_ask", "mark_price", "spot_price"))
        prover.assume(all_of(bid > 0, ask >= bid, mark_price > 0, spot > 0), "prices > 0, bid ≤ ask")
        premium = ite(bid > mark_price, bid - mark_price, 0) - ite(mark_price > ask, mark_price - ask, 0)
        sample = kernel(bid, ask, mark_price, spot, 0)
        inside = and_(bid <= mark_price, mark_price <= ask)
        return prover.prove(and_(or_(not_(inside), sample == 0), _half_up(sample, premium * funding.E8, spot)), "FND-001")


def _premium_sample_swapped(bid: int, ask: int, mark_price: int, spot: int, basis: int) -> int:
    """KNOWN-BAD FND-001: ``max(0, mark − bid)`` — the premium of a mark inside the spread is not 0."""
    premium = ite(mark_price > bid, mark_price - bid, 0) - ite(mark_price > ask, mark_price - ask, 0)
    return (2 * premium * funding.E8 + spot) // (2 * spot) + basis


def prove_weighted_index(k: int, kernel: Callable[..., int]) -> ProofResult:
    """IDX-001: the weighted index is half up within half a price unit of the exact mean and between min and max."""
    with Prover() as prover:
        prices = tuple(prover.symbol(f"price{i}") for i in range(k))
        weights = tuple(prover.symbol(f"weight{i}") for i in range(k))
        prover.assume(all_of(*[p > 0 for p in prices], *[w > 0 for w in weights]), "prices and weights > 0")
        result = kernel(prices, weights)
        numerator = sum((w * p for w, p in zip(weights, prices, strict=True)), 0)
        total = sum(weights, 0)
        low = functools.reduce(lambda a, b: ite(a <= b, a, b), prices)
        high = functools.reduce(lambda a, b: ite(a >= b, a, b), prices)
        return prover.prove(all_of(_half_up(result, numerator, total), result >= low, result <= high), f"IDX-001 k={k}")


def _weighted_index_floor(prices: tuple[int, ...], weights: tuple[int, ...]) -> int:
    """KNOWN-BAD IDX-001: the weighted mean floored."""
    numerator = sum((w * p for w, p in zip(weights, prices, strict=True)), 0)
    total = sum(weights, 0)
    return numerator // ite(total == 0, 1, total)


def prove_out_of_band(kernel: Callable[[int, int, int], bool]) -> ProofResult:
    """IDX-002: excluded exactly when ``|price − median| > band × median`` (a price on the edge stays in)."""
    with Prover() as prover:
        price, median, band = prover.symbol("price"), prover.symbol("median"), prover.symbol("band_ppm")
        prover.assume(all_of(price > 0, median > 0, band >= 0, band <= PPM), "prices > 0, band in [0, 100%]")
        edge = median + median * band // PPM
        exact = abs_(price - median) * PPM > band * median
        on_edge = or_((median * band) % PPM != 0, not_(kernel(edge, median, band)))
        return prover.prove(and_(_iff(kernel(price, median, band), exact), on_edge), "IDX-002")


def prove_average_price(symbol: str, round_up: bool) -> ProofResult:
    """MRK-002: the average price brackets the exact price of the value: down ≤ exact ≤ up, off by less than one unit."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        prover.assume(qty > 0, "qty > 0")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        value = abs_(contract.compute_value(inst, qty, price))
        average = impact.compute_average_price(inst, qty, value, round_up)
        if inst.is_inverse:
            # exact price = qty·|mult|·scale / value
            numerator, denominator = -inst.multiplier * inst.price_scale * qty, value
        else:
            numerator, denominator = value * inst.price_scale, inst.multiplier * qty
        exact = (_ceil_exact if round_up else _floor_exact)(average, numerator, denominator)
        return prover.prove(exact, f"MRK-002 {symbol} {'up' if round_up else 'down'}")


def prove_average_price_bad(symbol: str) -> ProofResult:
    """KNOWN-BAD MRK-002: the 'round up' flag ignored (always floored): the ask side is understated."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        prover.assume(qty > 0, "qty > 0")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        value = abs_(contract.compute_value(inst, qty, price)) + 1
        average = impact.compute_average_price(inst, qty, value, False)
        numerator, denominator = (
            (-inst.multiplier * inst.price_scale * qty, value) if inst.is_inverse else (value * inst.price_scale, inst.multiplier * qty)
        )
        return prover.prove(_ceil_exact(average, numerator, denominator), f"MRK-002 {symbol} bad")


def prove_impact_mid(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRK-003: the impact mid is on the tick grid and within half a tick of ``(bid + ask) / 2``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        bid, ask = prover.symbol("impact_bid"), prover.symbol("impact_ask")
        prover.assume(all_of(bid > 0, ask >= bid), "0 < bid ≤ ask")
        mid = kernel(inst, bid, ask)
        return prover.prove(and_(mid % inst.tick_size == 0, _half_up(mid // inst.tick_size, bid + ask, 2 * inst.tick_size)), f"MRK-003 {symbol}")


def _impact_mid_floor(inst: Instrument, bid: int, ask: int) -> int:
    """KNOWN-BAD MRK-003: the mid floored to the tick."""
    return (bid + ask) // (2 * inst.tick_size) * inst.tick_size


def prove_spread_limit(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRK-008: the limit is never below ``impactSpreadTicks`` ticks and never above one exact maintenance margin of the mid, if larger."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        mid = prover.symbol("impact_mid")
        prover.assume(and_(mid > 0, mid <= inst.max_price), "0 < mid ≤ maxPrice")
        limit = kernel(inst, mid)
        ticks = inst.impact_spread_ticks * inst.tick_size
        return prover.prove(
            and_(limit >= ticks, or_(limit == ticks, limit * PPM <= mid * inst.maint_margin_ppm)), f"MRK-008 {symbol}"
        )


def _spread_limit_ceil(inst: Instrument, mid: int) -> int:
    """KNOWN-BAD MRK-008: the maintenance distance rounded up (the refresh condition is looser)."""
    distance = -((-mid * inst.maint_margin_ppm) // PPM)
    ticks = inst.impact_spread_ticks * inst.tick_size
    return ite(distance >= ticks, distance, ticks)


def prove_spread_narrow(symbol: str, kernel: Callable[..., bool]) -> ProofResult:
    """MRK-015: narrow exactly when ``ask − bid`` is strictly below the limit (MRK-008) — both directions."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        bid, ask, mid = prover.symbol("impact_bid"), prover.symbol("impact_ask"), prover.symbol("impact_mid")
        prover.assume(all_of(bid > 0, ask >= bid, mid > 0), "0 < bid ≤ ask, mid > 0")
        limit = mark.compute_impact_spread_limit(inst, mid)
        return prover.prove(_iff(kernel(inst, bid, ask, mid), ask - bid < limit), f"MRK-015 {symbol}")


def prove_protected_band(symbol: str, kernel: Callable[..., tuple[int, int]]) -> ProofResult:
    """MRK-009: the band contains the fair price and is never wider than one maintenance margin."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        fair = prover.symbol("fair_price")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        low, high = kernel(inst, fair)
        return prover.prove(all_of(low <= fair, fair <= high, (high - low) * PPM <= fair * inst.maint_margin_ppm), f"MRK-009 {symbol}")


def prove_last_price_protected(symbol: str) -> ProofResult:
    """MRK-010: the mark is the last price when inside the band, else the nearer band edge."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        last, fair = prover.symbol("last_price"), prover.symbol("previous_fair_price")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        prover.assume(last > 0, "last > 0")
        low, high = mark.compute_protected_band(inst, fair)
        result = mark.compute_last_price_protected(inst, last, fair)
        return prover.prove(
            all_of(result >= low, result <= high, implies(and_(low <= last, last <= high), result == last)), f"MRK-010 {symbol}"
        )


def _last_price_protected_unclamped_low(inst: Instrument, last: int, fair: int) -> int:
    """KNOWN-BAD MRK-010: only the upper edge applied (``min(last, high)``): a crash prints straight through."""
    _, high = mark.compute_protected_band(inst, fair)
    return ite(last <= high, last, high)


def prove_last_price_protected_with(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRK-010 for another kernel (known-bad variants)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        last, fair = prover.symbol("last_price"), prover.symbol("previous_fair_price")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        prover.assume(last > 0, "last > 0")
        low, high = mark.compute_protected_band(inst, fair)
        result = kernel(inst, last, fair)
        return prover.prove(and_(result >= low, result <= high), f"MRK-010 {symbol}")


def prove_limit_band(symbol: str, kernel: Callable[..., tuple[int, int]]) -> ProofResult:
    """MRK-011: both edges on ticks and inside the exact band ``reference × (1 ± limitBand)``."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        reference = prover.symbol("reference_price")
        prover.assume(and_(reference > 0, reference <= inst.max_price), "0 < reference ≤ maxPrice")
        down, up = kernel(inst, reference)
        exact_width = reference * inst.limit_band_ppm  # × PPM
        return prover.prove(
            all_of(
                down % inst.tick_size == 0,
                up % inst.tick_size == 0,
                down * PPM >= reference * PPM - exact_width,
                up * PPM <= reference * PPM + exact_width,
            ),
            f"MRK-011 {symbol}",
        )


def prove_last_price_mark(symbol: str, band: Callable[..., tuple[int, int]]) -> ProofResult:
    """MRK-012: the mark stays within the exact limit band, and is the last price when that lies inside the band."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        last, reference = prover.symbol("last_price"), prover.symbol("reference_price")
        prover.assume(and_(reference > 0, reference <= inst.max_price), "0 < reference ≤ maxPrice")
        prover.assume(last > 0, "last > 0")
        down, up = mark.compute_limit_band(inst, reference)
        prover.assume(down <= up, "the band is not empty (reference at least a few ticks)")
        low, high = band(inst, reference)
        real = band is mark.compute_limit_band
        result = mark.compute_last_price_mark(inst, last, reference) if real else _clamp(last, low, high)
        exact_width = reference * inst.limit_band_ppm
        return prover.prove(
            all_of(
                result * PPM >= reference * PPM - exact_width,
                result * PPM <= reference * PPM + exact_width,
                implies(and_(down <= last, last <= up), result == last),
            ),
            f"MRK-012 {symbol}",
        )


def _clamp(value: int, low: int, high: int) -> int:
    return ite(value <= low, low, ite(value >= high, high, value))


def prove_fair_basis_rate(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRK-006: the annualised basis is half up to 1e-8 of its exact value, and 0 at or after expiry."""
    with Prover() as prover:
        mid, index_price, expiry_in = prover.symbol("impact_mid"), prover.symbol("index_price"), prover.symbol("expiry_in_ms")
        prover.assume(and_(mid > 0, index_price > 0), "prices > 0")
        rate = kernel(mid, index_price, expiry_in)
        exact = _half_up(rate, (mid - index_price) * funding.E8 * mark.YEAR_MS, index_price * expiry_in)
        return prover.prove(_when(expiry_in > 0, exact, rate == 0), "MRK-006")


def _fair_basis_rate_floor(mid: int, index_price: int, expiry_in: int) -> int:
    """KNOWN-BAD MRK-006: the basis floored instead of half up."""
    denominator = ite(expiry_in > 0, ite(index_price * expiry_in <= 0, 1, index_price * expiry_in), 1)
    return ite(expiry_in > 0, ((mid - index_price) * funding.E8 * mark.YEAR_MS) // denominator, 0)


def prove_futures_fair_price(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRK-007: the fair price is the index at expiry, and within half a unit of ``index × (1 + basis × t / year)``."""
    with Prover() as prover:
        index_price, basis, expiry_in = prover.symbol("index_price"), prover.symbol("basis_rate_e8"), prover.symbol("expiry_in_ms")
        prover.assume(index_price > 0, "index > 0")
        prover.assume(expiry_in >= 0, "not past expiry")
        fair = kernel(index_price, basis, expiry_in)
        return prover.prove(
            and_(_half_up(fair - index_price, index_price * basis * expiry_in, funding.E8 * mark.YEAR_MS), kernel(index_price, basis, 0) == index_price),
            "MRK-007",
        )


def _futures_fair_price_floor(index_price: int, basis: int, expiry_in: int) -> int:
    """KNOWN-BAD MRK-007: the fair value floored."""
    return index_price + (index_price * basis * ite(expiry_in > 0, expiry_in, 0)) // (funding.E8 * mark.YEAR_MS)


def prove_settlement_fee(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """SET-002: the settlement fee is the exact fee on the settled notional, rounded up toward the fee pool.

    At the instrument's own fee rate, or 0.05% where the file sets none (a rate of 0 rounds nothing).
    """
    shipped = load_instrument(symbol)
    inst = shipped if shipped.settlement_fee_ppm else attrs.evolve(shipped, settlement_fee_ppm=500)
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("settlement_price")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "settlement_price")
        notional = contract.compute_notional(inst, qty, price)
        return prover.prove(_ceil_exact(kernel(inst, qty, price), notional * inst.settlement_fee_ppm, PPM), f"SET-002 {symbol}")


def _settlement_fee_floor(inst: Instrument, qty: int, price: int) -> int:
    return bad.compute_ppm_floor(contract.compute_notional(inst, qty, price), inst.settlement_fee_ppm)


def prove_interval_interest(kernel: Callable[[int, int], int]) -> ProofResult:
    """FND-002: the interval interest is within half a 1e-8 of ``daily × interval / 24 h``."""
    with Prover() as prover:
        daily, interval = prover.symbol("daily_rate_e8"), prover.symbol("interval_ms")
        prover.assume(and_(interval > 0, interval <= 7 * funding.DAY_MS), "interval in (0, 7 days]")
        return prover.prove(_half_up(kernel(daily, interval), daily * interval, funding.DAY_MS), "FND-002")


def prove_mean(kernel: Callable[[int, int], int]) -> ProofResult:
    """FND-003: the mean is within half a 1e-8 of ``total / count``, and 0 without samples."""
    with Prover() as prover:
        total, count = prover.symbol("total_e8"), prover.symbol("count")
        prover.assume(and_(count >= 0, count <= 10_000), "0 ≤ count ≤ 10_000 samples")
        mean = kernel(total, count)
        return prover.prove(_when(count == 0, mean == 0, _half_up(mean, total, count)), "FND-003")


def prove_affordable_lots(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """INS-002: the lots taken cost the fund at most its budget, and one more would not be affordable (maximal)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        side, price, bankruptcy_price = prover.symbol("side"), prover.symbol("price"), prover.symbol("bankruptcy_price")
        budget, lots = prover.symbol("budget"), prover.symbol("lots")
        prover.assume(or_(side == 1, side == -1), "side ±1")
        assume_valid_price(prover, inst, price, "price")
        assume_valid_price(prover, inst, bankruptcy_price, "bankruptcy_price")
        prover.assume(and_(budget >= 0, lots >= 0), "budget ≥ 0, lots ≥ 0")
        taken = kernel(inst, side, price, bankruptcy_price, budget, lots)
        per_lot = insurance.compute_fill_delta(inst, side * inst.lot_size, price, bankruptcy_price)
        return prover.prove(
            all_of(taken >= 0, taken <= lots, budget + taken * per_lot >= 0, or_(taken == lots, budget + (taken + 1) * per_lot < 0)),
            f"INS-002 {symbol}",
        )


def _affordable_lots_ceil(inst: Instrument, side: int, price: int, bankruptcy_price: int, budget: int, lots: int) -> int:
    """KNOWN-BAD INS-002: the affordable lots rounded up (the last lot is paid for only in part)."""
    per_lot = insurance.compute_fill_delta(inst, side * inst.lot_size, price, bankruptcy_price)
    loss = ite(per_lot < 0, -per_lot, 0)
    affordable = -((-budget) // ite(loss == 0, 1, loss))
    return ite(loss == 0, lots, ite(lots <= affordable, lots, affordable))


def prove_order_charge_price(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-040: the charge price is a price the order can fill at, and its value is never below the value at the limit."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, limit_price, bid, ask = (prover.symbol(n) for n in ("qty", "limit_price", "best_bid", "best_ask"))
        assume_whole_lots(prover, inst, qty, "qty")
        prover.assume(qty != 0, "an order")
        assume_valid_price(prover, inst, limit_price, "limit_price")
        prover.assume(and_(bid >= 0, ask >= 0), "best prices ≥ 0 (0: empty side)")
        prover.assume(or_(bid == 0, bid % inst.tick_size == 0), "best bid on ticks")
        prover.assume(or_(ask == 0, and_(ask % inst.tick_size == 0, ask <= inst.max_price)), "best ask on ticks")
        prover.assume(bid <= inst.max_price, "best bid ≤ maxPrice")
        charge = kernel(inst, qty, limit_price, bid, ask)
        worse_for_margin = contract.compute_notional(inst, qty, charge) >= contract.compute_notional(inst, qty, limit_price)
        return prover.prove(and_(charge > 0, worse_for_margin), f"MRG-040 {symbol}")


def _charge_at_limit_only(inst: Instrument, qty: int, limit_price: int, bid: int, ask: int) -> int:
    """KNOWN-BAD MRG-040: linear sells charged at the limit even when the best bid is higher (BitMEX's clause dropped)."""
    del inst, qty, bid, ask
    return limit_price


def prove_charge_dropped_clause(symbol: str) -> ProofResult:
    """The known-bad MRG-040 variant against the exact rule on a linear contract: sells must be charged at max(limit, bid)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty, limit_price, bid, ask = (prover.symbol(n) for n in ("qty", "limit_price", "best_bid", "best_ask"))
        assume_whole_lots(prover, inst, qty, "qty")
        prover.assume(qty < 0, "a sell")
        assume_valid_price(prover, inst, limit_price, "limit_price")
        assume_valid_price(prover, inst, bid, "best_bid")
        prover.assume(ask == 0, "no offers")
        expected = margin.compute_order_charge_price(inst, qty, limit_price, bid, ask)
        return prover.prove(_charge_at_limit_only(inst, qty, limit_price, bid, ask) == expected, f"MRG-040 {symbol} bad")


def prove_pool_residual_direction(symbol: str) -> ProofResult:
    """LIQ-006 safe side: closing at a price better for the trader never leaves less in the pool (linear, quanto)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        margin_amount, low, high = prover.symbol("margin"), prover.symbol("low_price"), prover.symbol("high_price")
        assume_well_formed(prover, inst, held, "position")
        assume_valid_price(prover, inst, low, "low_price")
        assume_valid_price(prover, inst, high, "high_price")
        prover.assume(low <= high, "low ≤ high")
        at_low = liquidation.compute_pool_residual(inst, held.qty, held.cost, margin_amount, low)
        at_high = liquidation.compute_pool_residual(inst, held.qty, held.cost, margin_amount, high)
        better = _when(held.qty > 0, at_high >= at_low, at_low >= at_high)
        return prover.prove(better, f"LIQ-006 direction {symbol}")


# --------------------------------------------------------------------------- registration


def _register() -> None:
    conservation, fund, rounding, exact, order = (
        "INV-CONSERVATION",
        "INV-INSURANCE-NONNEG",
        "ROUNDING-TOWARD-SYSTEM",
        "EXACT-REJECTION",
        "INV-ADL-ORDER",
    )
    neutral, band = "ROUNDING-NEUTRAL", "BAND-INWARD"
    for symbol in SYMBOLS:
        p = functools.partial
        _add(f"ACC-001/realised-at-mark/{symbol}", "ACC-001", conservation,
             "Unrealised PnL at a price is exactly what closing the position there realises (ACC-003).",
             p(prove_close_realises, symbol, position.compute_unrealised_pnl, False, f"ACC-001 {symbol}"))
        _add(f"ACC-001/sign-flipped/{symbol}", "ACC-001", conservation, "unrealised PnL as cost − markValue.",
             p(prove_close_realises, symbol, bad.compute_unrealised_pnl_sign_flipped, False, f"ACC-001 bad {symbol}"), expect="refuted")
        _add(f"LIQ-004/realised-at-mark/{symbol}", "LIQ-004", conservation,
             "A position's equity term at mark is exactly what closing it at mark realises.",
             p(prove_close_realises, symbol, liquidation.compute_position_equity_term, False, f"LIQ-004 {symbol}"))
        _add(f"LIQ-004/sign-flipped/{symbol}", "LIQ-004", conservation, "the equity term as cost − markValue.",
             p(prove_close_realises, symbol, bad.compute_unrealised_pnl_sign_flipped, False, f"LIQ-004 bad {symbol}"), expect="refuted")
        _add(f"LIQ-006/realised-at-price/{symbol}", "LIQ-006", conservation,
             "The pool residual is the margin plus exactly what closing the position at the price realises.",
             p(prove_close_realises, symbol, liquidation.compute_pool_residual, True, f"LIQ-006 {symbol}"))
        _add(f"LIQ-006/sign-flipped/{symbol}", "LIQ-006", conservation, "the residual as margin − value + cost.",
             p(prove_close_realises, symbol, bad.compute_pool_residual_sign_flipped, True, f"LIQ-006 bad {symbol}"), expect="refuted")
        _add(f"MRG-030/equity-is-close-out/{symbol}", "MRG-030", conservation,
             "Equity at mark is exactly the margin left after closing the position at mark.", p(prove_equity_realises, symbol, margin.compute_equity))
        _add(f"MRG-030/sign-flipped/{symbol}", "MRG-030", conservation, "equity with the PnL sign slipped.",
             p(prove_equity_realises, symbol, _equity_sign_flipped), expect="refuted")
        _add(f"ADL-004/haircut-is-equity-loss/{symbol}", "ADL-004", conservation,
             "Closing part of a candidate at the bankruptcy price lowers its equity at mark by exactly the haircut.",
             p(prove_haircut_is_equity_loss, symbol, adl.compute_haircut))
        _add(f"ADL-004/sign-flipped/{symbol}", "ADL-004", conservation, "the haircut as value(bankruptcy) − value(mark).",
             p(prove_haircut_is_equity_loss, symbol, bad.compute_haircut_sign_flipped), expect="refuted")
        _add(f"INS-001/surplus-or-draw/{symbol}", "INS-001", fund,
             "A close-out fill at or better than the bankruptcy price never draws on the fund; a worse one never credits it.",
             p(prove_fill_delta_sign, symbol, insurance.compute_fill_delta))
        _add(f"INS-001/sign-flipped/{symbol}", "INS-001", fund, "the fund's gain with the sign slipped.",
             p(prove_fill_delta_sign, symbol, bad.compute_fill_delta_sign_flipped), expect="refuted")
        _add(f"INS-002/affordable-maximal/{symbol}", "INS-002", fund,
             "The lots taken cost at most the fund's budget (fund ≥ 0), and one more lot would not be affordable.",
             p(prove_affordable_lots, symbol, insurance.compute_affordable_lots))
        _add(f"INS-002/ceil/{symbol}", "INS-002", fund, "the affordable lots rounded up.",
             p(prove_affordable_lots, symbol, _affordable_lots_ceil), expect="refuted")
        _add(f"ADL-030/held-pnl-is-close-out/{symbol}", "ADL-030", conservation,
             "A held position's PnL at mark is exactly the fund's gain (INS-001) if it were closed at mark.",
             p(prove_held_pnl_is_close_out, symbol, adl.compute_held_pnl))
        _add(f"ADL-030/reversed/{symbol}", "ADL-030", conservation, "the held PnL counted the wrong way round.",
             p(prove_held_pnl_is_close_out, symbol, bad.compute_held_pnl_at_takeover_only), expect="refuted")
        _add(f"CON-003/unsigned/{symbol}", "CON-003", rounding, "The notional is |value|: ≥ 0 and the same for either side.",
             p(prove_notional, symbol, contract.compute_notional))
        _add(f"CON-003/without-abs/{symbol}", "CON-003", rounding, "the signed value used as notional.",
             p(prove_notional, symbol, bad.compute_notional_without_abs), expect="refuted")
        _add(f"MRG-002/tier-floor/{symbol}", "MRG-002", rounding,
             "Cross takes the tier's initial margin; isolated never less than the tier's or 1/leverage.", p(prove_init_req, symbol, margin.compute_init_margin_req_ppm))
        _add(f"MRG-002/min-for-max/{symbol}", "MRG-002", rounding, "isolated leverage undercuts the tier (min for max).",
             p(prove_init_req, symbol, bad.compute_init_margin_req_ppm_min), expect="refuted")
        _add(f"MRG-041/premium/{symbol}", "MRG-041", rounding, "The order premium is ≥ 0 and ≥ the loss against mark at the limit.",
             p(prove_order_premium, symbol, margin.compute_order_premium))
        _add(f"MRG-041/unclamped/{symbol}", "MRG-041", rounding, "the premium without max(0, ·).",
             p(prove_order_premium, symbol, bad.compute_order_premium_unclamped), expect="refuted")
        _add(f"MRG-045/larger-side/{symbol}", "MRG-045", rounding,
             "Orders are charged at least the requirement of the position plus either side of its orders.", p(prove_order_req, symbol, margin.compute_order_margin_req_ppm))
        _add(f"MRG-045/smaller-side/{symbol}", "MRG-045", rounding, "the tier of the smaller side.",
             p(prove_order_req, symbol, _order_req_smaller_side), expect="refuted")
        _add(f"MRG-031/trigger/{symbol}", "MRG-031", "INV-NO-FALSE-LIQUIDATION",
             "Isolated excess < 0 exactly when LIQ-003 liquidates at mark.", p(prove_isolated_excess, symbol, margin.compute_isolated_margin_excess))
        _add(f"MRG-031/swapped/{symbol}", "MRG-031", "INV-NO-FALSE-LIQUIDATION", "the excess as maintenance − equity.",
             p(prove_isolated_excess, symbol, _isolated_excess_swapped), expect="refuted")
        _add(f"LIQ-001/effective-tier/{symbol}", "LIQ-001", rounding,
             "The effective tier is ≥ the position's own steps and the chosen tier; posMaint ≥ posComm ≥ 0, posInit ≥ 0.",
             p(prove_requirement, symbol, liquidation.compute_requirement))
        _add(f"LIQ-001/chosen-tier-only/{symbol}", "LIQ-001", rounding, "the chosen tier replaces the position's own steps.",
             p(prove_requirement, symbol, _requirement_chosen_tier_only), expect="refuted")
        _add(f"LIQ-007/smallest-fitting-tier/{symbol}", "LIQ-007", rounding, "The tier is the smallest whose limit holds the value.",
             p(prove_fitting_tier, symbol, liquidation.compute_fitting_tier, "LIQ-007"))
        _add(f"LIQ-007/floor/{symbol}", "LIQ-007", rounding, "the tier rounded down.",
             p(prove_fitting_tier, symbol, bad.compute_fitting_tier_floor, "LIQ-007"), expect="refuted")
        _add(f"RSK-001/smallest-fitting-tier/{symbol}", "RSK-001", rounding, "The risk steps are the smallest tier whose limit holds the value.",
             p(prove_fitting_tier, symbol, risk_limit.compute_risk_steps, "RSK-001"))
        _add(f"RSK-001/floor/{symbol}", "RSK-001", rounding, "the steps rounded down.",
             p(prove_fitting_tier, symbol, bad.compute_fitting_tier_floor, "RSK-001"), expect="refuted")
        _add(f"LIQ-008/fits-tier/{symbol}", "LIQ-008", rounding,
             "The reduction is whole lots within the position, and the kept cost fits the tier's limit (within the 1-unit floor of ACC-003's split).",
             p(prove_reduction_to_tier, symbol, liquidation.compute_reduction_to_tier))
        _add(f"LIQ-008/ceil/{symbol}", "LIQ-008", rounding, "the kept lots rounded up.",
             p(prove_reduction_to_tier, symbol, bad.compute_reduction_to_tier_ceil), expect="refuted")
        _add(f"LIQ-009/acc-003-split/{symbol}", "LIQ-009", conservation, "The kept position is exactly what ACC-003 leaves after the same reduction.",
             p(prove_kept_position, symbol, liquidation.compute_kept_position))
        _add(f"LIQ-009/ceil/{symbol}", "LIQ-009", conservation, "the kept cost rounded up.",
             p(prove_kept_position, symbol, bad.compute_kept_position_ceil), expect="refuted")
        _add(f"LIQ-014/feasible-exact/{symbol}", "LIQ-014", exact,
             "Feasible exactly when headroom ≥ 0, something is closed and the residual at the limit is ≥ 0.",
             p(prove_partial_feasible_exact, symbol, liquidation.is_partial_feasible))
        _add(f"LIQ-014/headroom-dropped/{symbol}", "LIQ-014", exact, "the headroom clause dropped.",
             p(prove_partial_feasible_exact, symbol, _partial_feasible_without_headroom), expect="refuted")
        _add(f"RSK-002/base-and-step/{symbol}", "RSK-002", rounding, "Maintenance starts at maintMargin and rises by its step per tier.",
             p(prove_maint_req, symbol, risk_limit.compute_maint_margin_req_ppm))
        _add(f"RSK-002/base-dropped/{symbol}", "RSK-002", rounding, "the base maintenance margin dropped.",
             p(prove_maint_req, symbol, bad.compute_maint_margin_req_without_base), expect="refuted")
        _add(f"RSK-003/above-maintenance/{symbol}", "RSK-003", rounding, "Initial margin is above maintenance at every tier, and rises with the tier.",
             p(prove_init_above_maint, symbol, risk_limit.compute_risk_init_margin_req_ppm))
        _add(f"RSK-003/maintenance-base/{symbol}", "RSK-003", rounding, "the initial requirement built on the maintenance base.",
             p(prove_init_above_maint, symbol, bad.compute_risk_init_margin_req_maint_base), expect="refuted")
        _add(f"RSK-004/limit-in-tier/{symbol}", "RSK-004", rounding, "A value at the tier limit is in the tier; one unit more is in the next.",
             p(prove_tier_limit, symbol, risk_limit.compute_tier_limit))
        _add(f"RSK-004/off-by-one/{symbol}", "RSK-004", rounding, "the limit one step too generous.",
             p(prove_tier_limit, symbol, bad.compute_tier_limit_off_by_one_step), expect="refuted")
        _add(f"RSK-005/floor/{symbol}", "RSK-005", rounding, "The maximum leverage is 1/initMarginReq rounded down.",
             p(prove_max_leverage, symbol, risk_limit.compute_max_leverage_hundredths))
        _add(f"RSK-005/ceil/{symbol}", "RSK-005", rounding, "the maximum leverage rounded up.",
             p(prove_max_leverage, symbol, bad.compute_max_leverage_ceil), expect="refuted")
        _add(f"MRK-003/half-tick/{symbol}", "MRK-003", neutral, "The impact mid is on ticks, half up within half a tick of the exact mid.",
             p(prove_impact_mid, symbol, impact.compute_impact_mid))
        _add(f"MRK-003/floor/{symbol}", "MRK-003", neutral, "the mid floored to the tick.", p(prove_impact_mid, symbol, _impact_mid_floor), expect="refuted")
        _add(f"MRK-008/never-looser/{symbol}", "MRK-008", band, "The spread limit is ≥ the tick floor and never above the exact maintenance distance when larger.",
             p(prove_spread_limit, symbol, mark.compute_impact_spread_limit))
        _add(f"MRK-008/ceil/{symbol}", "MRK-008", band, "the maintenance distance rounded up.", p(prove_spread_limit, symbol, _spread_limit_ceil), expect="refuted")
        _add(f"MRK-015/strict/{symbol}", "MRK-015", exact, "Narrow exactly when ask − bid is strictly below the limit.",
             p(prove_spread_narrow, symbol, mark.is_impact_spread_narrow))
        _add(f"MRK-015/inclusive/{symbol}", "MRK-015", exact, "≤ instead of <.", p(prove_spread_narrow, symbol, bad.is_impact_spread_narrow_inclusive), expect="refuted")
        _add(f"MRK-009/inward/{symbol}", "MRK-009", band, "The protected band holds the fair price and is never wider than one maintenance margin.",
             p(prove_protected_band, symbol, mark.compute_protected_band))
        _add(f"MRK-009/ceil/{symbol}", "MRK-009", band, "the half width rounded up.", p(prove_protected_band, symbol, bad.compute_protected_band_ceil), expect="refuted")
        _add(f"MRK-010/clamped/{symbol}", "MRK-010", band, "The protected mark is the last price inside the band, else the nearer edge.",
             p(prove_last_price_protected, symbol))
        _add(f"MRK-010/one-edge/{symbol}", "MRK-010", band, "only the upper edge applied.",
             p(prove_last_price_protected_with, symbol, _last_price_protected_unclamped_low), expect="refuted")
        _add(f"MRK-011/inward/{symbol}", "MRK-011", band, "Both limit-band edges are on ticks and inside the exact band.",
             p(prove_limit_band, symbol, mark.compute_limit_band))
        _add(f"MRK-011/outward/{symbol}", "MRK-011", band, "band edges rounded outward.", p(prove_limit_band, symbol, bad.compute_limit_band_outward), expect="refuted")
        _add(f"MRK-012/within-band/{symbol}", "MRK-012", band, "The LastPrice mark stays in the exact limit band and is the last price inside it.",
             p(prove_last_price_mark, symbol, mark.compute_limit_band))
        _add(f"MRK-012/outward/{symbol}", "MRK-012", band, "clamped to the outward-rounded band.",
             p(prove_last_price_mark, symbol, bad.compute_limit_band_outward), expect="refuted")
        _add(f"MRG-040/worst-case/{symbol}", "MRG-040", rounding, "The charge price is fillable and its notional never below the limit's.",
             p(prove_order_charge_price, symbol, margin.compute_order_charge_price))
        _add(f"SET-002/ceil/{symbol}", "SET-002", rounding, "The settlement fee is the exact fee rounded up toward the fee pool.",
             p(prove_settlement_fee, symbol, settlement.compute_settlement_fee))
        _add(f"SET-002/floor/{symbol}", "SET-002", rounding, "the settlement fee rounded down.", p(prove_settlement_fee, symbol, _settlement_fee_floor), expect="refuted")
        _add(f"FND-015/floor/{symbol}", "FND-015", rounding, "The change cap is ratio × MM rounded down (never looser).",
             p(prove_cap_change, symbol, funding.compute_cap_change_e8))
        _add(f"FND-015/ceil/{symbol}", "FND-015", rounding, "the change cap rounded up.", p(prove_cap_change, symbol, _cap_change_ceil), expect="refuted")
        for round_up in (False, True):
            direction = "up" if round_up else "down"
            _add(f"MRK-002/{direction}/{symbol}", "MRK-002", rounding, f"The average price rounded {direction} brackets the exact price within one unit.",
                 p(prove_average_price, symbol, round_up))
        _add(f"MRK-002/flag-ignored/{symbol}", "MRK-002", rounding, "the round-up flag ignored.", p(prove_average_price_bad, symbol), expect="refuted")
        if symbol in INVERSE:
            _add(f"CON-001/half-up/{symbol}", "CON-001", neutral, "The inverse lot value is within half a minor unit of the exact value.",
                 p(prove_lot_value_half_up, symbol, contract.compute_lot_value_inverse))
            _add(f"CON-001/floor/{symbol}", "CON-001", neutral, "the lot value floored.", p(prove_lot_value_half_up, symbol, bad.compute_lot_value_inverse_floor), expect="refuted")
        else:
            _add(f"ACC-005/round-trip/{symbol}", "ACC-005", neutral, "A position opened by one fill shows that fill's price as its average entry.",
                 p(prove_avg_entry_round_trip, symbol))
            _add(f"ACC-005/floor/{symbol}", "ACC-005", neutral, "the average entry floored.", p(prove_avg_entry_round_trip_with, symbol, _avg_entry_floor), expect="refuted")
            _add(f"MRG-040/dropped-bid-clause/{symbol}", "MRG-040", rounding, "linear sells charged at the limit, the best-bid clause dropped.",
                 p(prove_charge_dropped_clause, symbol), expect="refuted")
            _add(f"LIQ-006/better-price-leaves-more/{symbol}", "LIQ-006", fund,
                 "Closing at a price better for the trader never leaves less in the pool (what goes to the fund).", p(prove_pool_residual_direction, symbol))
        _add(f"LIQ-015/feasible-plan-safe/{symbol}", "LIQ-015 LIQ-010 LIQ-013", "INV-NO-FALSE-LIQUIDATION",
             "A feasible partial-liquidation plan filled at its limit leaves the pool at or above the new tier's maintenance.",
             p(prove_partial_plan_safe, symbol))
        if symbol in INVERSE:
            _add(f"FINDING/LIQ-015/zero-reduction/{symbol}", "LIQ-015", "INV-NO-FALSE-LIQUIDATION",
                 "FINDING: with a chosen tier above the position's own, the reduction closes nothing and the "
                 "limit price is 0: the inverse value at price 0 divides by zero (ZeroDivisionError).",
                 p(prove_partial_plan_safe, symbol, False), expect="refuted")
    p = functools.partial
    _add("INS-004/moves-exactly", "INS-004", fund, "The fund moves by exactly delta, stays ≥ 0 for an allowed delta, and its row records the new balance.",
         p(prove_fund_delta_row, insurance.apply_fund_delta))
    _add("INS-004/row-before", "INS-004", fund, "the row records the balance before the movement.", p(prove_fund_delta_row, _fund_delta_row_before), expect="refuted")
    _add("LIQ-002/sign", "LIQ-002", "INV-NO-FALSE-LIQUIDATION", "The excess is below zero exactly when equity is below maintenance.",
         p(prove_excess_sign, liquidation.compute_margin_excess))
    _add("LIQ-002/swapped", "LIQ-002", "INV-NO-FALSE-LIQUIDATION", "maintenance − equity.", p(prove_excess_sign, bad.compute_margin_excess_swapped), expect="refuted")
    _add("LIQ-003/strict", "LIQ-003", "INV-NO-FALSE-LIQUIDATION", "Liquidatable exactly when equity < maintenance; at equality not liquidated.",
         p(prove_trigger_exact, liquidation.is_liquidatable))
    _add("LIQ-003/at-equality", "LIQ-003", "INV-NO-FALSE-LIQUIDATION", "≤ instead of <.", p(prove_trigger_exact, bad.is_liquidatable_at_equality), expect="refuted")
    _add("MRG-001/ceil", "MRG-001", rounding, "1/leverage in ppm is rounded up.", p(prove_leverage_req, margin.compute_leverage_margin_req_ppm))
    _add("MRG-001/floor", "MRG-001", rounding, "1/leverage rounded down.", p(prove_leverage_req, bad.compute_leverage_margin_req_floor), expect="refuted")
    _add("MRG-003/ceil", "MRG-003", rounding, "posInit is initMarginReq × posCost rounded up.", p(prove_ppm_ceil, margin.compute_pos_init, "MRG-003"))
    _add("MRG-003/floor", "MRG-003", rounding, "posInit rounded down.", p(prove_ppm_ceil, bad.compute_ppm_floor, "MRG-003 bad"), expect="refuted")
    _add("MRG-004/ceil", "MRG-004", rounding, "posComm is the taker fee on posCost + posInit + posCross rounded up.", p(prove_pos_comm, margin.compute_pos_comm))
    _add("MRG-004/floor", "MRG-004", rounding, "posComm rounded down.", p(prove_pos_comm, _pos_comm_floor), expect="refuted")
    _add("MRG-006/ceil", "MRG-006", rounding, "The adverse-funding reserve is the adverse payment rounded up; 0 when favourable.",
         p(prove_adverse_funding, margin.compute_adverse_funding))
    _add("MRG-006/floor", "MRG-006", rounding, "the reserve rounded down.", p(prove_adverse_funding, bad.compute_adverse_funding_floor), expect="refuted")
    _add("MRG-043/ceil", "MRG-043", rounding, "A part's share is rounded up, never above the whole amount.", p(prove_prorated, margin.compute_prorated))
    _add("MRG-043/floor", "MRG-043", rounding, "the share rounded down.", p(prove_prorated, bad.compute_prorated_floor), expect="refuted")
    _add("MRG-062/no-profit", "MRG-062", "INV-WITHDRAW-SAFE", "Removable margin is ≥ 0, at most the extra margin, and never unrealised profit.",
         p(prove_removable_margin, margin.compute_removable_margin))
    _add("MRG-062/keeps-profit", "MRG-062", "INV-WITHDRAW-SAFE", "unrealised profit counted as removable.",
         p(prove_removable_margin, bad.compute_removable_margin_keeps_profit), expect="refuted")
    _add("ADL-008/distinct-decide", "ADL-008", order, "Two candidates of distinct accounts always compare decided; a candidate with itself does not.",
         p(prove_strictly_ordered, adl.is_strictly_ordered))
    _add("ADL-008/non-strict", "ADL-008", order, "comparison ≥ 0 accepted as ordered.", p(prove_strictly_ordered, bad.is_strictly_ordered_non_strict), expect="refuted")
    _add("ADL-006/bands", "ADL-006", order, "1..5 lights, 5 for the top position, never more lights for a later rank.", p(prove_deleverage_band, adl.compute_deleverage_band))
    _add("ADL-006/ceil", "ADL-006", order, "the band computed with a ceiling.", p(prove_deleverage_band, bad.compute_deleverage_band_ceil), expect="refuted")
    _add("FND-001/premium", "FND-001", neutral, "The premium sample is 0 inside the impact spread, else half up within 1e-8.", p(prove_premium_sample, funding.compute_premium_sample_e8))
    _add("FND-001/swapped", "FND-001", neutral, "max(0, mark − bid) for max(0, bid − mark).", p(prove_premium_sample, _premium_sample_swapped), expect="refuted")
    _add("FND-002/half-up", "FND-002", neutral, "The interval interest is within half a 1e-8 of daily × interval / 24 h.", p(prove_interval_interest, funding.compute_interval_interest_e8))
    _add("FND-002/floor", "FND-002", neutral, "the interval interest floored.", p(prove_interval_interest, _interval_interest_floor), expect="refuted")
    _add("FND-003/half-up", "FND-003", neutral, "The mean is within half a 1e-8 of total / count, 0 without samples.", p(prove_mean, funding.compute_mean_e8))
    _add("FND-003/floor", "FND-003", neutral, "the mean floored.", p(prove_mean, _mean_floor_guarded), expect="refuted")
    _add("FND-013/half-up", "FND-013", neutral, "The funding basis is rate × until / interval half up, 0 at the funding instant.", p(prove_funding_basis, funding.compute_funding_basis_e8))
    _add("FND-013/floor", "FND-013", neutral, "the basis floored.", p(prove_funding_basis, _funding_basis_truncated), expect="refuted")
    _add("IDX-002/strict", "IDX-002", exact, "Excluded exactly when |price − median| > band × median; on the edge it stays in.", p(prove_out_of_band, index.is_out_of_band))
    _add("IDX-002/inclusive", "IDX-002", exact, "≥ instead of >.", p(prove_out_of_band, bad.is_out_of_band_inclusive), expect="refuted")
    _add("MRK-006/half-up", "MRK-006", neutral, "The annualised basis is half up within 1e-8, 0 at expiry.", p(prove_fair_basis_rate, mark.compute_fair_basis_rate_e8))
    _add("MRK-006/floor", "MRK-006", neutral, "the basis floored.", p(prove_fair_basis_rate, _fair_basis_rate_floor), expect="refuted")
    _add("MRK-007/half-up", "MRK-007", neutral, "The futures fair price is the index at expiry and half up within a unit otherwise.",
         p(prove_futures_fair_price, mark.compute_futures_fair_price))
    _add("MRK-007/floor", "MRK-007", neutral, "the fair value floored.", p(prove_futures_fair_price, _futures_fair_price_floor), expect="refuted")
    for k in range(5):
        _add(f"MRG-032/sum/k={k}", "MRG-032", "INV-NO-FALSE-LIQUIDATION", "Cross excess = wallet + Σ PnL − Σ maintenance.",
             p(prove_cross_excess, k, margin.compute_cross_margin_excess), bounded=f"k = {k} positions")
        _add(f"MRG-033/backing-is-account-excess/k={k}", "MRG-033", "INV-NO-FALSE-LIQUIDATION",
             "Backing + own PnL − own maintenance is the account's cross excess (MRG-032).",
             p(prove_cross_backing, k, margin.compute_cross_backing), bounded=f"k = {k} other positions")
        _add(f"ADL-031/cover/k={k}", "ADL-031", fund, "The fund cover is the fund plus every held position's PnL at mark.",
             p(prove_fund_cover, k), bounded=f"k = {k} held positions")
    _add("MRG-032/maint-dropped/k=2", "MRG-032", "INV-NO-FALSE-LIQUIDATION", "maintenance dropped.",
         p(prove_cross_excess, 2, bad.compute_cross_backing_without_maint), expect="refuted", bounded="k = 2 positions")
    _add("MRG-033/maint-dropped/k=2", "MRG-033", "INV-NO-FALSE-LIQUIDATION", "the others' maintenance dropped from the backing.",
         p(prove_cross_backing, 2, bad.compute_cross_backing_without_maint), expect="refuted", bounded="k = 2 other positions")
    for k in range(1, 5):
        _add(f"IDX-001/half-up/k={k}", "IDX-001", neutral, "The weighted index is half up within half a unit, between the lowest and highest price.",
             p(prove_weighted_index, k, index.compute_weighted_index), bounded=f"k = {k} constituents")
    _add("IDX-001/floor/k=2", "IDX-001", neutral, "the weighted mean floored.", p(prove_weighted_index, 2, _weighted_index_floor), expect="refuted", bounded="k = 2 constituents")


_register()


# --------------------------------------------------------------------------- second batch: order margin, account, impact


def prove_isolated_margin_after_fill(kernel: Callable[..., int]) -> ProofResult:
    """ACC-006: a closed position keeps nothing; a loss comes out of the extra, a profit does not stay; a premium only from unallocated money."""
    with Prover() as prover:
        names = ("old_margin", "old_requirement", "new_requirement", "realised", "premium", "unallocated", "new_qty")
        old_margin, old_req, new_req, realised, premium, unallocated, new_qty = (prover.symbol(n) for n in names)
        prover.assume(all_of(old_req >= 0, new_req >= 0, old_margin >= old_req, premium >= 0), "requirements ≥ 0, margin ≥ requirement")
        margin_after = kernel(old_margin, old_req, new_req, realised, premium, unallocated, new_qty)
        expected_kept = new_req + old_margin - old_req + ite(realised < 0, realised, 0)
        return prover.prove(
            all_of(
                implies(new_qty == 0, margin_after == 0),
                implies(and_(new_qty != 0, premium == 0), margin_after == expected_kept),
                implies(and_(new_qty != 0, premium > 0), margin_after <= ite(unallocated > 0, unallocated, 0)),
            ),
            "ACC-006",
        )


def prove_impact_fill(symbol: str, k: int, bad_kernel: bool = False) -> ProofResult:
    """MRK-001: whole lots within the book; the notional is reached unless every level was taken in full."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        prices = [prover.symbol(f"price{i}") for i in range(k)]
        sizes = [prover.symbol(f"qty{i}") for i in range(k)]
        notional = prover.symbol("notional")
        prover.assume(notional > 0, "notional > 0")
        for i in range(k):
            assume_valid_price(prover, inst, prices[i], f"price{i}")
            prover.assume(sizes[i] > 0, f"qty{i} > 0")
            assume_whole_lots(prover, inst, sizes[i], f"qty{i}")
        levels = tuple(zip(prices, sizes, strict=True))
        if bad_kernel:
            qty_taken, value_taken, unfilled = bad.compute_impact_fill_floor(inst, levels, notional)
        else:
            fill = impact.compute_impact_fill(inst, levels, notional)
            qty_taken, value_taken, unfilled = fill.qty, fill.value, fill.unfilled
        depth = sum(sizes, 0)
        return prover.prove(
            all_of(
                qty_taken % inst.lot_size == 0,
                qty_taken >= 0,
                qty_taken <= depth,
                unfilled >= 0,
                or_(unfilled > 0, value_taken >= notional),
                or_(unfilled == 0, qty_taken == depth),
            ),
            f"MRK-001 {symbol} k={k}",
        )


def prove_order_sides(symbol: str, k: int, bad_kernel: bool = False) -> ProofResult:
    """MRG-042: bids and offers split every order by side: quantities add up to Σ|qty|, values ≥ 0."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        orders = tuple((prover.symbol(f"qty{i}"), prover.symbol(f"price{i}")) for i in range(k))
        mark_price, bid, ask = prover.symbol("mark_price"), prover.symbol("best_bid"), prover.symbol("best_ask")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        prover.assume(and_(bid >= 0, ask >= 0), "best prices ≥ 0")
        prover.assume(bid <= inst.max_price, "best bid ≤ maxPrice")
        prover.assume(or_(ask == 0, ask % inst.tick_size == 0), "best ask on ticks")
        prover.assume(ask <= inst.max_price, "best ask ≤ maxPrice")
        for i, (qty, price) in enumerate(orders):
            prover.assume(qty != 0, f"qty{i} ≠ 0")
            assume_whole_lots(prover, inst, qty, f"qty{i}")
            assume_valid_price(prover, inst, price, f"price{i}")
        if bad_kernel:
            (bid_qty, bid_value), (ask_qty, ask_value) = bad.compute_order_sides_signed_asks(inst, orders, mark_price, bid, ask)
            premiums_ok: bool = True
        else:
            bids, asks = margin.compute_order_sides(inst, orders, mark_price, bid, ask)
            bid_qty, bid_value, ask_qty, ask_value = bids.qty, bids.value, asks.qty, asks.value
            premiums_ok = and_(bids.premium >= 0, asks.premium >= 0)
        total = sum((abs_(qty) for qty, _ in orders), 0)
        return prover.prove(
            all_of(bid_qty >= 0, ask_qty >= 0, bid_qty + ask_qty == total, bid_value >= 0, ask_value >= 0, premiums_ok),
            f"MRG-042 {symbol} k={k}",
        )


def _order_margin_no_reduction(
    inst: Instrument, position_qty: int, bids: OrderSide, asks: OrderSide, init_req: int, taker_fee: int
) -> margin.OrderMargin:
    """KNOWN-BAD MRG-044: reducing orders are charged like opening ones (the reduction clause dropped)."""
    del position_qty
    return margin.compute_order_margin(inst, 0, bids, asks, init_req, taker_fee)


def prove_order_margin(symbol: str, kernel: Callable[..., margin.OrderMargin]) -> ProofResult:
    """MRG-044: order margin is ≥ 0, charges no more contracts than are open, and nothing for orders that only reduce."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        bids, asks = prover.record(OrderSide, "bids"), prover.record(OrderSide, "asks")
        position_qty, init_req = prover.symbol("position_qty"), prover.symbol("init_margin_req_ppm")
        for name, side in (("bids", bids), ("asks", asks)):
            prover.assume(all_of(side.qty >= 0, side.value >= 0, side.premium >= 0), f"{name} ≥ 0")
            prover.assume(implies(side.qty == 0, and_(side.value == 0, side.premium == 0)), f"{name}: nothing without quantity")
        prover.assume(and_(init_req > 0, init_req <= PPM), "initMarginReq in (0, 100%]")
        result = kernel(inst, position_qty, bids, asks, init_req, inst.taker_fee_ppm)
        only_reducing = and_(bids.qty <= ite(position_qty < 0, -position_qty, 0), asks.qty <= ite(position_qty > 0, position_qty, 0))
        return prover.prove(
            all_of(
                result.total >= 0,
                result.bid_qty_charged >= 0,
                result.ask_qty_charged >= 0,
                result.bid_qty_charged <= bids.qty,
                result.ask_qty_charged <= asks.qty,
                implies(only_reducing, result.total == 0),
            ),
            f"MRG-044 {symbol}",
        )


def prove_contract_order_margin(symbol: str, reducing_clause: bool) -> ProofResult:
    """MRG-046: a single sell order no larger than a long position carries no order margin (k = 1 order)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        qty, price, mark_price = prover.symbol("qty"), prover.symbol("price"), prover.symbol("mark_price")
        assume_well_formed(prover, inst, held, "position")
        prover.assume(held.qty > 0, "a long")
        assume_whole_lots(prover, inst, qty, "qty")
        prover.assume(and_(qty < 0, -qty <= held.qty), "a sell no larger than the long")
        assume_valid_price(prover, inst, price, "price")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        position = held if reducing_clause else Position()
        result = margin.compute_contract_order_margin(inst, position, ((qty, price),), mark_price, 0, 0, 0)
        return prover.prove(result.total == 0, f"MRG-046 {symbol}")


def prove_account_margin(k: int, withdrawable: Callable[[int, int], int] | None = None) -> ProofResult:
    """MRG-050: margin balance = wallet + Σ PnL; withdrawable ≥ 0 and never includes unrealised cross profit (k positions)."""
    with Prover() as prover:
        wallet, order_margin = prover.symbol("wallet"), prover.symbol("order_margin")
        prover.assume(order_margin >= 0, "order margin ≥ 0")
        positions = []
        for i in range(k):
            record = prover.record(margin.PositionMargin, f"p{i}", leverage_hundredths=0 if i % 2 == 0 else 1_000)
            prover.assume(record.pos_margin >= 0, f"p{i}.pos_margin ≥ 0")
            positions.append(record)
        account = margin.compute_account_margin(wallet, tuple(positions), order_margin)
        cross_profit = sum((ite(p.unrealised_pnl > 0, p.unrealised_pnl, 0) for p in positions if p.leverage_hundredths == 0), 0)
        taken = account.withdrawable_margin if withdrawable is None else withdrawable(account.available_margin, cross_profit)
        return prover.prove(
            all_of(
                account.margin_balance == wallet + sum((p.unrealised_pnl for p in positions), 0),
                taken >= 0,
                taken <= ite(account.available_margin - cross_profit > 0, account.available_margin - cross_profit, 0),
            ),
            f"MRG-050 k={k}",
        )


def _order_requirement_unclamped(inst: Instrument, held: Position, mark_price: int, leverage: int, pos_cross: int, before: int, after: int, qty: int, price: int) -> int:
    """KNOWN-BAD MRG-060: the order-margin increase charged even when negative (a reduction 'frees' available balance)."""
    real = margin.compute_order_requirement(inst, held, mark_price, leverage, pos_cross, before, after, qty, price)
    return ite(after - before > 0, real, after - before)


def prove_order_requirement(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-060: the requirement is ≥ 0, 0 for an order that does not raise the order margin, and at least the increase."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        mark_price, price, qty = prover.symbol("mark_price"), prover.symbol("order_price"), prover.symbol("order_qty")
        before, after = prover.symbol("order_margin_before"), prover.symbol("order_margin_after")
        assume_well_formed(prover, inst, held, "position")
        prover.assume(abs_(held.cost) <= 10**16, "entry value at most 1e16")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        assume_valid_price(prover, inst, price, "order_price")
        assume_whole_lots(prover, inst, qty, "order_qty")
        prover.assume(qty != 0, "an order")
        requirement = kernel(inst, held, mark_price, 0, 0, before, after, qty, price)
        increase = after - before
        return prover.prove(
            all_of(requirement >= 0, implies(increase <= 0, requirement == 0), implies(increase > 0, requirement >= increase)),
            f"MRG-060 {symbol}",
        )


def _register_second_batch() -> None:
    p = functools.partial
    _add("ACC-006/margin-after-fill", "ACC-006", "INV-CONSERVATION",
         "A closed isolated position keeps no margin; a loss comes out of the extra, a profit goes to the wallet; a premium only from unallocated money.",
         p(prove_isolated_margin_after_fill, compute_isolated_margin_after_fill))
    _add("ACC-006/keeps-profit", "ACC-006", "INV-CONSERVATION", "a realised profit stays in the isolated pool.",
         p(prove_isolated_margin_after_fill, bad.compute_isolated_margin_after_fill_keeps_profit), expect="refuted")
    for k in (1, 2, 3):
        _add(f"MRG-050/withdrawable/k={k}", "MRG-050", "INV-WITHDRAW-SAFE",
             "Margin balance is wallet + Σ PnL; withdrawable is ≥ 0 and never includes unrealised cross profit.",
             p(prove_account_margin, k), bounded=f"k = {k} positions")
    _add("MRG-050/profit-withdrawable/k=1", "MRG-050", "INV-WITHDRAW-SAFE", "withdrawable = max(0, available).",
         p(prove_account_margin, 1, bad.compute_withdrawable_with_profit), expect="refuted", bounded="k = 1 positions")
    for symbol in SYMBOLS:
        for k in (1, 2, 3):
            _add(f"MRK-001/walk/{symbol}/k={k}", "MRK-001", "IMPACT-WALK",
                 "Whole lots within the book; the notional is reached unless every level was taken in full.",
                 p(prove_impact_fill, symbol, k), bounded=f"k = {k} levels")
            _add(f"MRG-042/sides/{symbol}/k={k}", "MRG-042", "ROUNDING-TOWARD-SYSTEM",
                 "Bids and offers split every order: quantities add up to Σ|qty|, values and premiums ≥ 0.",
                 p(prove_order_sides, symbol, k), bounded=f"k = {k} orders")
        _add(f"MRK-001/floor/{symbol}/k=2", "MRK-001", "IMPACT-WALK", "lots needed rounded down.",
             p(prove_impact_fill, symbol, 2, True), expect="refuted", bounded="k = 2 levels")
        _add(f"MRG-042/signed-asks/{symbol}/k=2", "MRG-042", "ROUNDING-TOWARD-SYSTEM", "offers summed with their sign.",
             p(prove_order_sides, symbol, 2, True), expect="refuted", bounded="k = 2 orders")
        _add(f"MRG-044/reductions-free/{symbol}", "MRG-044", "INV-MARGIN-ON-ENTRY",
             "Order margin ≥ 0, charges no more than is open, and nothing for orders that only reduce.",
             p(prove_order_margin, symbol, margin.compute_order_margin))
        _add(f"MRG-044/no-reduction-clause/{symbol}", "MRG-044", "INV-MARGIN-ON-ENTRY", "reducing orders charged like opening ones.",
             p(prove_order_margin, symbol, _order_margin_no_reduction), expect="refuted")
        _add(f"MRG-046/reducing-sell-free/{symbol}", "MRG-046", "INV-MARGIN-ON-ENTRY",
             "A sell no larger than a long carries no order margin (one order).", p(prove_contract_order_margin, symbol, True), bounded="k = 1 orders")
        _add(f"MRG-046/position-ignored/{symbol}", "MRG-046", "INV-MARGIN-ON-ENTRY", "the position ignored when netting.",
             p(prove_contract_order_margin, symbol, False), expect="refuted", bounded="k = 1 orders")
        # MRG-060's own statement (prove_order_requirement with the rule) answers unknown at 60 s:
        # waived in specs/waivers.toml; the known-bad variant below is still refuted.
        _add(f"MRG-060/unclamped/{symbol}", "MRG-060", "INV-MARGIN-ON-ENTRY", "a negative increase charged.",
             p(prove_order_requirement, symbol, _order_requirement_unclamped), expect="refuted")


_register_second_batch()


def _register_threshold() -> None:
    """MRG-010 directly: the threshold price is on the safe side for any reserve ≥ 0 (MRG-011/012 instantiate it)."""
    from perpspec.proofs.known_bad import compute_bankruptcy_price_rounded_wrong_way
    from perpspec.proofs.obligations_core_margin import SIDES, prove_threshold_safe

    p = functools.partial
    for symbol in SYMBOLS:
        for side in SIDES:
            _add(f"MRG-010/safe-side/{symbol}/{side}", "MRG-010", "INV-INSURANCE-NONNEG",
                 f"{symbol} {side}: at every valid mark on the safe side of the threshold price, equity ≥ the reserve (any reserve ≥ 0).",
                 p(prove_threshold_safe, symbol, side, margin.compute_threshold_price, f"MRG-010 safe {symbol} {side}"))
    _add("MRG-010/rounded-wrong-way/XBTUSDT/long", "MRG-010", "INV-INSURANCE-NONNEG", "the tick rounding reversed (toward the trader).",
         p(prove_threshold_safe, "XBTUSDT", "long", compute_bankruptcy_price_rounded_wrong_way, "MRG-010 bad", False), expect="refuted")


_register_threshold()


def prove_perpetual_fair_price(kernel: Callable[[int, int, int, int], int]) -> ProofResult:
    """MRK-005: the perpetual fair price is within half a price unit of ``index × (1 + rate × until / interval)``."""
    with Prover() as prover:
        index_price, rate, until, interval = (prover.symbol(n) for n in ("index_price", "rate_e8", "until_ms", "interval_ms"))
        prover.assume(and_(index_price > 0, index_price <= 10**12), "0 < index ≤ 1e12 price units")
        prover.assume(and_(interval > 0, interval <= 7 * funding.DAY_MS), "interval in (0, 7 days]")
        prover.assume(and_(until >= 0, until <= interval), "0 ≤ until ≤ interval")
        fair = kernel(index_price, rate, until, interval)
        return prover.prove(_half_up(fair - index_price, index_price * rate * until, funding.E8 * interval), "MRK-005")


def _perpetual_fair_price_floor(index_price: int, rate: int, until: int, interval: int) -> int:
    """KNOWN-BAD MRK-005: the funding basis term floored (a negative rate's mark moves away from the index)."""
    return index_price + (index_price * rate * until) // (funding.E8 * ite(interval <= 0, 1, interval))


def _register_mark_005() -> None:
    p = functools.partial
    _add("MRK-005/half-up", "MRK-005", "ROUNDING-NEUTRAL", "The perpetual fair price is half up within half a unit of index × (1 + basis).",
         p(prove_perpetual_fair_price, mark.compute_perpetual_fair_price))
    _add("MRK-005/floor", "MRK-005", "ROUNDING-NEUTRAL", "the basis term floored.", p(prove_perpetual_fair_price, _perpetual_fair_price_floor), expect="refuted")


_register_mark_005()
