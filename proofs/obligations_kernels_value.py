"""Kernel obligations: conservation at close, values and notionals, the insurance fund.

Split from :mod:`proofs.obligations_kernels` (whose docstring says what these prove).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.kernels_common import INVERSE, SYMBOLS, add, half_up, when
from perpspec.proofs.obligations_core import assume_valid_price, assume_well_formed, assume_whole_lots
from perpspec.proofs.prover import Lemma, ProofResult, Prover
from perpspec.proofs.sym import all_of
from perpspec.rules import (
    adl,
    contract,
    insurance,
    liquidation,
    margin,
    position,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import abs_, and_, ite, or_
from perpspec.rules.position import Position, apply_fill


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
        return prover.prove(when(better, delta >= 0, delta <= 0), f"INS-001 {symbol}")


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
        return prover.prove(half_up(kernel(inst, price), numerator, price), f"CON-001 {symbol}")


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


def prove_fund_cover(k: int) -> ProofResult:
    """ADL-031: the fund cover is the fund plus every held position's PnL at mark (k held positions)."""
    with Prover() as prover:
        fund = prover.symbol("fund_balance")
        pnls = tuple(prover.symbol(f"held_pnl{i}") for i in range(k))
        prover.assume(fund >= 0, "INV-INSURANCE-NONNEG")
        cover = adl.compute_fund_cover(fund, pnls)
        return prover.prove(cover == fund + sum(pnls, 0), f"ADL-031 k={k}")


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
        better = when(held.qty > 0, at_high >= at_low, at_low >= at_high)
        return prover.prove(better, f"LIQ-006 direction {symbol}")


def _register() -> None:
    conservation = "INV-CONSERVATION"
    fund = "INV-INSURANCE-NONNEG"
    rounding = "ROUNDING-TOWARD-SYSTEM"
    neutral = "ROUNDING-NEUTRAL"
    for symbol in SYMBOLS:
        p = functools.partial
        add(f"ACC-001/realised-at-mark/{symbol}", "ACC-001", conservation,
            "Unrealised PnL at a price is exactly what closing the position there realises (ACC-003).",
            p(prove_close_realises, symbol, position.compute_unrealised_pnl, False, f"ACC-001 {symbol}"))
        add(f"ACC-001/sign-flipped/{symbol}", "ACC-001", conservation, "unrealised PnL as cost − markValue.",
            p(prove_close_realises, symbol, bad.compute_unrealised_pnl_sign_flipped, False, f"ACC-001 bad {symbol}"), expect="refuted")
        add(f"LIQ-004/realised-at-mark/{symbol}", "LIQ-004", conservation,
            "A position's equity term at mark is exactly what closing it at mark realises.",
            p(prove_close_realises, symbol, liquidation.compute_position_equity_term, False, f"LIQ-004 {symbol}"))
        add(f"LIQ-004/sign-flipped/{symbol}", "LIQ-004", conservation, "the equity term as cost − markValue.",
            p(prove_close_realises, symbol, bad.compute_unrealised_pnl_sign_flipped, False, f"LIQ-004 bad {symbol}"), expect="refuted")
        add(f"LIQ-006/realised-at-price/{symbol}", "LIQ-006", conservation,
            "The pool residual is the margin plus exactly what closing the position at the price realises.",
            p(prove_close_realises, symbol, liquidation.compute_pool_residual, True, f"LIQ-006 {symbol}"))
        add(f"LIQ-006/sign-flipped/{symbol}", "LIQ-006", conservation, "the residual as margin − value + cost.",
            p(prove_close_realises, symbol, bad.compute_pool_residual_sign_flipped, True, f"LIQ-006 bad {symbol}"), expect="refuted")
        add(f"MRG-030/equity-is-close-out/{symbol}", "MRG-030", conservation,
            "Equity at mark is exactly the margin left after closing the position at mark.", p(prove_equity_realises, symbol, margin.compute_equity))
        add(f"MRG-030/sign-flipped/{symbol}", "MRG-030", conservation, "equity with the PnL sign slipped.",
            p(prove_equity_realises, symbol, _equity_sign_flipped), expect="refuted")
        add(f"ADL-004/haircut-is-equity-loss/{symbol}", "ADL-004", conservation,
            "Closing part of a candidate at the bankruptcy price lowers its equity at mark by exactly the haircut.",
            p(prove_haircut_is_equity_loss, symbol, adl.compute_haircut))
        add(f"ADL-004/sign-flipped/{symbol}", "ADL-004", conservation, "the haircut as value(bankruptcy) − value(mark).",
            p(prove_haircut_is_equity_loss, symbol, bad.compute_haircut_sign_flipped), expect="refuted")
        add(f"INS-001/surplus-or-draw/{symbol}", "INS-001", fund,
            "A close-out fill at or better than the bankruptcy price never draws on the fund; a worse one never credits it.",
            p(prove_fill_delta_sign, symbol, insurance.compute_fill_delta))
        add(f"INS-001/sign-flipped/{symbol}", "INS-001", fund, "the fund's gain with the sign slipped.",
            p(prove_fill_delta_sign, symbol, bad.compute_fill_delta_sign_flipped), expect="refuted")
        add(f"INS-002/affordable-maximal/{symbol}", "INS-002", fund,
            "The lots taken cost at most the fund's budget (fund ≥ 0), and one more lot would not be affordable.",
            p(prove_affordable_lots, symbol, insurance.compute_affordable_lots))
        add(f"INS-002/ceil/{symbol}", "INS-002", fund, "the affordable lots rounded up.",
            p(prove_affordable_lots, symbol, _affordable_lots_ceil), expect="refuted")
        add(f"ADL-030/held-pnl-is-close-out/{symbol}", "ADL-030", conservation,
            "A held position's PnL at mark is exactly the fund's gain (INS-001) if it were closed at mark.",
            p(prove_held_pnl_is_close_out, symbol, adl.compute_held_pnl))
        add(f"ADL-030/reversed/{symbol}", "ADL-030", conservation, "the held PnL counted the wrong way round.",
            p(prove_held_pnl_is_close_out, symbol, bad.compute_held_pnl_at_takeover_only), expect="refuted")
        add(f"CON-003/unsigned/{symbol}", "CON-003", rounding, "The notional is |value|: ≥ 0 and the same for either side.",
            p(prove_notional, symbol, contract.compute_notional))
        add(f"CON-003/without-abs/{symbol}", "CON-003", rounding, "the signed value used as notional.",
            p(prove_notional, symbol, bad.compute_notional_without_abs), expect="refuted")
        if symbol in INVERSE:
            add(f"CON-001/half-up/{symbol}", "CON-001", neutral, "The inverse lot value is within half a minor unit of the exact value.",
                p(prove_lot_value_half_up, symbol, contract.compute_lot_value_inverse))
            add(f"CON-001/floor/{symbol}", "CON-001", neutral, "the lot value floored.", p(prove_lot_value_half_up, symbol, bad.compute_lot_value_inverse_floor), expect="refuted")
        else:
            add(f"ACC-005/round-trip/{symbol}", "ACC-005", neutral, "A position opened by one fill shows that fill's price as its average entry.",
                p(prove_avg_entry_round_trip, symbol))
            add(f"ACC-005/floor/{symbol}", "ACC-005", neutral, "the average entry floored.", p(prove_avg_entry_round_trip_with, symbol, _avg_entry_floor), expect="refuted")
            add(f"LIQ-006/better-price-leaves-more/{symbol}", "LIQ-006", fund,
                "Closing at a price better for the trader never leaves less in the pool (what goes to the fund).", p(prove_pool_residual_direction, symbol))
    p = functools.partial
    add("INS-004/moves-exactly", "INS-004", fund, "The fund moves by exactly delta, stays ≥ 0 for an allowed delta, and its row records the new balance.",
        p(prove_fund_delta_row, insurance.apply_fund_delta))
    add("INS-004/row-before", "INS-004", fund, "the row records the balance before the movement.", p(prove_fund_delta_row, _fund_delta_row_before), expect="refuted")
    for k in range(5):
        add(f"ADL-031/cover/k={k}", "ADL-031", fund, "The fund cover is the fund plus every held position's PnL at mark.",
            p(prove_fund_cover, k), bounded=f"k = {k} held positions")


_register()
