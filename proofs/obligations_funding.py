"""Proof obligations over prices and funding (rules/funding.py, rules/mark.py, rules/settlement.py).

* FND-008 the funding exchange between ``k`` holders whose quantities sum to
  zero (any whole-lot quantities, any valid mark price, any rate within the
  absolute cap) is zero-sum with its residue — Σ wallet deltas + residue = 0
  with ``0 ≤ residue < k`` — and, the residue being credited to the
  insurance fund, preserves INV-CONSERVATION.  End to end: bounded, k = 3
  holders (k = 6 times out).  For any k, by two unbounded lemmas and an
  induction over the holders that is argued, not machine-checked: FND-006
  exposures are additive in whole lots (so they cancel when open interest
  balances) and FND-007 each payment exceeds its exact amount by [0, 1).
* FND-005 the funding rate: for any premium and interest and any previous
  rate within the absolute cap, ``|F| ≤ 75% (IM − MM)``, ``|F − F_prev| ≤
  75% MM``, and F is within the premium clamp of P unless a cap binds.
  Unbounded.
* MRK-005 / MRK-007 a fair price with zero basis (zero funding rate, or no
  time left) equals the index, for any index.  Unbounded.
* SET-003 settling ``k`` holders at any valid price conserves funds: Σ(Δwallet
  − Δcost) + Δfee pool = 0, and each fee is at least the exact fee.
  End to end: bounded, k = 4 holders; for any k, by the unbounded lemma
  "each position moves exactly its value at the settlement price" and the
  additivity of values (argued induction, as for funding).

* FND-020 a one-position pool LIQ-003 finds at or above maintenance at mark,
  funded at any rate within the cap, stays within LIQ-036's bound (some
  positive price covers it), cross or isolated, any chosen tier: unbounded
  for the XBTUSD long (any cost) and the linear and quanto shorts (cost a
  value at a price in range); for marks ≥ 2 price units for the XBTUSD short
  and, with any cost, the linear and quanto shorts.  Funding a due (carried)
  pool is a known-bad, refuted.

Known-bad variant, expected refuted: funding where every payment is rounded
down (payers included) — the residue can be negative, i.e. funding would
create money.
"""

from __future__ import annotations

import functools

import attrs

from perpspec.proofs.obligations_solvency import is_coverable
from perpspec.proofs.obligations_waterfall import assume_position, assume_price
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import BoolLike, all_of, any_of
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.funding import (
    E8,
    PPM_TO_E8,
    compute_cap_abs_e8,
    compute_cap_change_e8,
    compute_exposure,
    compute_funding_exchange,
    compute_funding_payment,
    compute_funding_rate_e8,
    compute_liquidator_funding,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import builtin_symbols, load_instrument
from perpspec.rules.invariants import compute_conservation_gap, compute_funding_imbalance
from perpspec.rules.liquidation import compute_position_equity_term, compute_requirement, is_liquidatable
from perpspec.rules.margin import CROSS
from perpspec.rules.mark import compute_futures_fair_price, compute_perpetual_fair_price
from perpspec.rules.num import PPM, abs_, and_, clamp, max_, min_, not_, or_
from perpspec.rules.position import Position
from perpspec.rules.settlement import compute_position_settlement

LIQUIDATOR_HOLDERS = 5  # k of FND-019 (the liquidation engine first, as in the engine: its id -1 sorts first)
HOLDERS = 3  # k of the bounded end-to-end funding obligation (k = 4 takes 1-8 s, k = 6 times out)
SETTLE_HOLDERS = 4  # k of the bounded settlement obligation (k = 8 proves in about 1 s)


def assume_valid_price(prover: Prover, inst: Instrument, price: int, label: str) -> None:
    """``price`` is a mark or a settlement price as the engine accepts it: a whole number of price units in
    (0, maxPrice], *not* necessarily on the tick grid (marks carry BitMEX's finer precision, a settlement TWAP is
    rounded to the price unit; redteam16_1: a proof on the grid alone covered less than what runs)."""
    prover.assume(price > 0, f"{label} positive")
    prover.assume(price <= inst.max_price, f"{label} at most maxPrice")


def balanced_holders(prover: Prover, inst: Instrument, count: int) -> tuple[tuple[int, Position], ...]:
    """``count`` symbolic positions in whole lots whose quantities sum to zero (INV-OI-BALANCE)."""
    holders = tuple((index, prover.record(Position, f"holder{index}")) for index in range(1, count + 1))
    total = 0
    for _, position in holders:
        prover.assume(position.qty % inst.lot_size == 0, "whole lots")
        total = total + position.qty
    prover.assume(total == 0, "INV-OI-BALANCE before")
    return holders


# -- FND-008: the funding exchange ----------------------------------------------------------------


def prove_funding_exchange_zero_sum(symbol: str, count: int) -> ProofResult:
    """FND-008 preserves INV-FUNDING-ZERO-SUM and INV-CONSERVATION for ``count`` holders."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        holders = balanced_holders(prover, inst, count)
        mark, rate = prover.symbol("mark_price"), prover.symbol("rate_e8")
        assume_valid_price(prover, inst, mark, "mark_price")
        prover.assume(abs_(rate) <= compute_cap_abs_e8(inst), "rate within the absolute cap")
        wallets = tuple(prover.symbol(f"wallet{index}") for index, _ in holders)
        others, insurance = prover.symbol("others_wallet_minus_cost"), prover.symbol("insurance")
        fees, funding_pool, deposits = prover.symbol("fees"), prover.symbol("funding_pool"), prover.symbol("deposits")
        costs = 0
        wallet_total = 0
        for wallet, (_, position) in zip(wallets, holders, strict=True):
            costs = costs + position.cost
            wallet_total = wallet_total + wallet
        before = compute_conservation_gap(wallet_total - costs + others, insurance, fees, funding_pool, deposits)
        prover.assume(before == 0, "INV-CONSERVATION before")
        exchange = compute_funding_exchange(inst, holders, mark, rate)
        deltas = tuple(delta for _, delta in exchange.wallet_deltas)
        exposure_total = 0
        for _, position in holders:
            exposure_total = exposure_total + compute_exposure(inst, position.qty, mark)
        after = compute_conservation_gap(
            wallet_total + compute_funding_imbalance(deltas, 0) - costs + others,
            insurance + exchange.insurance_delta,
            fees,
            funding_pool,
            deposits,
        )
        return prover.prove_all(
            [
                (exposure_total == 0, "long and short exposures cancel"),
                (compute_funding_imbalance(deltas, exchange.residue) == 0, "paid = received + residue"),
                (all_of(exchange.residue >= 0, exchange.residue < count), "0 ≤ residue < k"),
                (after == 0, "INV-CONSERVATION after (residue to the insurance fund)"),
            ],
            f"FND-008 zero-sum {symbol} k={count}",
        )


def prove_exposure_additive(symbol: str) -> ProofResult:
    """FND-006 lemma: at one mark, exposure(q1) + exposure(q2) = exposure(q1 + q2); exposure(0) = 0.

    By induction over the holders, Σ exposure(q_i) = exposure(Σ q_i) = exposure(0) = 0 whenever
    open interest balances — for any number of holders.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        first, second, mark = prover.symbol("qty1"), prover.symbol("qty2"), prover.symbol("mark_price")
        prover.assume(first % inst.lot_size == 0, "qty1 in whole lots")
        prover.assume(second % inst.lot_size == 0, "qty2 in whole lots")
        assume_valid_price(prover, inst, mark, "mark_price")
        together = compute_exposure(inst, first + second, mark)
        apart = compute_exposure(inst, first, mark) + compute_exposure(inst, second, mark)
        return prover.prove_all(
            [(together == apart, "additive"), (compute_exposure(inst, 0, mark) == 0, "zero for flat")],
            f"FND-006 exposure additive {symbol}",
        )


def prove_payment_rounding(symbol: str) -> ProofResult:
    """FND-007 lemma: ``exposure × F ≤ 1e8 × payment < exposure × F + 1e8`` for any position and rate.

    With the additivity lemma this gives, for any number k of holders with balanced open
    interest, Σ exact = 0 and so 0 ≤ residue = Σ payments < k (induction over the holders:
    each payment adds [0, 1) minor unit to the rounded sum).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        mark, rate = prover.symbol("mark_price"), prover.symbol("rate_e8")
        prover.assume(position.qty % inst.lot_size == 0, "whole lots")
        assume_valid_price(prover, inst, mark, "mark_price")
        exact_e8 = compute_exposure(inst, position.qty, mark) * rate
        payment = compute_funding_payment(inst, position, mark, rate)
        goal = all_of(payment * E8 >= exact_e8, payment * E8 < exact_e8 + E8)
        return prover.prove(goal, f"FND-007 payment rounding {symbol}")


def compute_funding_payment_floor(inst: Instrument, position: Position, mark_price: int, rate_e8: int) -> int:
    """KNOWN-BAD FND-007: every payment rounded down — payers pay less than they owe."""
    return (compute_exposure(inst, position.qty, mark_price) * rate_e8) // E8


def prove_floor_funding_never_creates_money(symbol: str, count: int) -> ProofResult:
    """KNOWN-BAD: with payments rounded down, the residue (paid − received) can be negative."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        holders = balanced_holders(prover, inst, count)
        mark, rate = prover.symbol("mark_price"), prover.symbol("rate_e8")
        assume_valid_price(prover, inst, mark, "mark_price")
        prover.assume(abs_(rate) <= compute_cap_abs_e8(inst), "rate within the absolute cap")
        residue = 0
        for _, position in holders:
            residue = residue + compute_funding_payment_floor(inst, position, mark, rate)
        return prover.prove(residue >= 0, f"known-bad floor funding {symbol}")


# -- FND-019: the liquidation engine's funding within the fund ------------------------------------------------


def _liquidator_funding_inputs(prover: Prover, count: int) -> tuple[int, int, tuple[tuple[int, int], ...]]:
    """A fund ≥ 0 and FND-008's output for ``count`` holders, the liquidation engine (id −1) first.

    FND-008's proved output property is all that is assumed: the wallet deltas sum to minus a residue ≥ 0.
    """
    fund, residue = prover.symbol("fund"), prover.symbol("residue")
    prover.assume(fund >= 0, "the insurance fund is not negative before")
    prover.assume(residue >= 0, "FND-008: the residue is not negative")
    deltas = tuple((account_id, prover.symbol(f"delta{account_id}")) for account_id in range(-1, count - 1))
    total = 0
    for _, delta in deltas:
        total = total + delta
    prover.assume(total + residue == 0, "FND-008: Σ wallet deltas + residue = 0")
    return fund, residue, deltas


def prove_liquidator_funding(count: int) -> ProofResult:
    """FND-019: the fund stays ≥ 0 through both postings, funding stays zero-sum, receivers are cut only."""
    with Prover() as prover:
        fund, residue, deltas = _liquidator_funding_inputs(prover, count)
        out = compute_liquidator_funding(fund, residue, deltas, -1)
        total = 0
        for _, delta in out:
            total = total + delta
        claims: list[tuple[BoolLike, str]] = [
            (total + residue == 0, "still zero-sum: Σ postings + residue = 0"),
            (fund + residue >= 0, "the fund ≥ 0 after the residue (posted first)"),
            (fund + residue + out[0][1] >= 0, "the fund ≥ 0 after the liquidation engine's share"),
            (out[0][1] >= deltas[0][1], "the liquidation engine never pays more than FND-008 says"),
            (any_of(out[0][1] == deltas[0][1], fund + residue + out[0][1] == 0), "it is cut only to the fund's balance"),
        ]
        for (account_id, before), (out_id, after) in zip(deltas[1:], out[1:], strict=True):
            claims.append((out_id == account_id, f"holder {account_id} keeps its place"))
            claims.append(
                (
                    any_of(all_of(before <= 0, after == before), all_of(before > 0, after >= 0, after <= before)),
                    f"holder {account_id}: a payer pays exactly its payment; a receiver gets between 0 and its credit",
                )
            )
        return prover.prove_all(claims, f"FND-019 liquidation engine's funding k={count}")


def prove_liquidator_funding_share_before_residue(count: int) -> ProofResult:
    """KNOWN-BAD: posting the liquidation engine's share before the residue can take the fund below zero."""
    with Prover() as prover:
        fund, residue, deltas = _liquidator_funding_inputs(prover, count)
        out = compute_liquidator_funding(fund, residue, deltas, -1)
        return prover.prove(fund + out[0][1] >= 0, f"known-bad FND-019 share before residue k={count}")


def prove_liquidator_funding_uncapped(count: int) -> ProofResult:
    """KNOWN-BAD: the liquidation engine's FND-008 payment taken from the fund uncapped."""
    with Prover() as prover:
        fund, residue, deltas = _liquidator_funding_inputs(prover, count)
        return prover.prove(fund + residue + deltas[0][1] >= 0, f"known-bad FND-019 uncapped k={count}")


# -- FND-005: clamp and caps ----------------------------------------------------------------------


def prove_rate_caps(symbol: str) -> ProofResult:
    """FND-005: both caps hold, and F is within the clamp of P unless a cap binds."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        premium, interest = prover.symbol("premium_e8"), prover.symbol("interest_e8")
        previous = prover.symbol("previous_e8")
        cap_abs, cap_change = compute_cap_abs_e8(inst), compute_cap_change_e8(inst)
        prover.assume(abs_(previous) <= cap_abs, "the previous rate satisfied the absolute cap")
        rate = compute_funding_rate_e8(inst, premium, interest, previous)
        clamp_e8 = inst.premium_clamp_ppm * PPM_TO_E8
        raw = premium + clamp(interest - premium, -clamp_e8, clamp_e8)
        within_clamp = all_of(rate - premium >= -clamp_e8, rate - premium <= clamp_e8)
        at_a_cap = any_of(abs_(rate) == cap_abs, abs_(rate - previous) == cap_change)
        return prover.prove_all(
            [
                (abs_(rate) <= cap_abs, "|F| ≤ fundingCapRatio × (IM − MM)"),
                (abs_(rate - previous) <= cap_change, "|F − F_prev| ≤ fundingChangeCapRatio × MM"),
                (any_of(within_clamp, at_a_cap), "F − P within ±clamp unless a cap binds"),
                (
                    any_of(abs_(raw) > cap_abs, abs_(raw - previous) > cap_change, rate == raw),
                    "F = P + clamp(I − P) exactly when neither cap binds",
                ),
            ],
            f"FND-005 caps {symbol}",
        )


def prove_cap_below_margin_gap(symbol: str) -> ProofResult:
    """FND-004: the absolute cap is at most IM − MM (a funding payment never exceeds the margin gap)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        notional = prover.symbol("notional")
        prover.assume(notional >= 0, "notional non-negative")
        payment_times_e8 = notional * compute_cap_abs_e8(inst)
        gap_times_e8 = notional * (inst.init_margin_ppm - inst.maint_margin_ppm) * PPM_TO_E8
        return prover.prove(payment_times_e8 <= gap_times_e8, f"FND-004 cap ≤ IM − MM {symbol}")


# -- FND-020: only a pool found safe is funded, and it stays within LIQ-036's bound ----------------


def prove_funded_pool_stays_coverable(
    symbol: str, side: int, min_mark: int = 1, due_too: bool = False, any_cost: bool = False
) -> ProofResult:
    """FND-020: a pool at or above maintenance at mark, funded at a rate within FND-004's cap, stays coverable.

    One position (LIQ-036's case: a pool of one position is taken over at its owing price) at any leverage
    (cross or isolated) and chosen tier; ``backing`` is the pool's margin (cross: plus nothing else), any
    integer; the cost is a value of the position at a price in ``(0, maxPrice]`` (values are monotone in
    the price); the mark anywhere in ``(0, maxPrice]``.  LIQ-003 found the pool safe (equity ≥ posMaint);
    FND-007 charges it (payers round up).  Then some positive price covers what is left
    (:func:`is_coverable`, LIQ-036's stated bound), so its take-over leaves it ≥ its reserve
    (``LIQ-036/owing-pool-ends-solvent``) and nobody is funded into debt.

    ``min_mark``: the bound of an inverse short, whose value at a mark of one price unit is the most any price
    returns (refuted there: funding on that value can exceed what the pool holds above maintenance, which is
    charged on the cost).  ``due_too`` drops FND-020's premise (KNOWN-BAD: a carried pool funded).  ``any_cost``
    drops the cost's range (a cost rounded by partial closes may leave it by a minor unit): then a linear or
    quanto short needs the same bound, a mark of two price units or more.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        backing, mark, rate = prover.symbol("backing"), prover.symbol("mark_price"), prover.symbol("rate_e8")
        leverage, tier = prover.symbol("leverage_hundredths"), prover.symbol("chosen_tier")
        assume_position(prover, inst, position, "position")
        prover.assume(position.qty * side > 0, "long" if side > 0 else "short")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        prover.assume(mark >= min_mark, "mark at least the bound")
        at_one, at_max = compute_value(inst, position.qty, 1), compute_value(inst, position.qty, inst.max_price)
        if not any_cost:
            prover.assume(position.cost >= min_(at_one, at_max), "cost a value at a price in range (low)")
            prover.assume(position.cost <= max_(at_one, at_max), "cost a value at a price in range (high)")
        prover.assume(abs_(rate) <= compute_cap_abs_e8(inst), "rate within FND-004's cap")
        prover.assume(
            or_(leverage == CROSS, and_(leverage >= 1, leverage <= inst.max_leverage_hundredths)), "leverage (MRG-065)"
        )
        prover.assume(tier >= 0, "chosen tier ≥ 0")
        req = compute_requirement(inst, position, leverage, tier)
        equity = backing + compute_position_equity_term(inst, position, mark)
        if due_too:  # the pool may be due, but was coverable before the funding
            prover.assume(is_coverable(inst, position, backing, req.pos_comm), "coverable before the funding")
        else:
            prover.assume(not_(is_liquidatable(equity, req.pos_maint)), "LIQ-003: the pool is not due (FND-020)")
        funded = backing - compute_funding_payment(inst, position, mark, rate)
        return prover.prove(
            is_coverable(inst, position, funded, req.pos_comm), f"FND-020 funded pool coverable {symbol} side {side}"
        )


# -- MRK-005 / MRK-007: zero basis ----------------------------------------------------------------


def prove_zero_basis_fair_price_is_index() -> ProofResult:
    """Perpetual: zero rate, or no time until funding; future: zero basis, or at/after expiry."""
    with Prover() as prover:
        index = prover.symbol("index_price")
        rate, until, interval = prover.symbol("rate_e8"), prover.symbol("until_ms"), prover.symbol("interval_ms")
        basis, expiry_in = prover.symbol("basis_e8"), prover.symbol("expiry_in_ms")
        prover.assume(index > 0, "index positive")
        prover.assume(interval > 0, "interval positive")
        prover.assume(until >= 0, "until non-negative")
        return prover.prove_all(
            [
                (compute_perpetual_fair_price(index, 0, until, interval) == index, "perpetual, zero rate"),
                (compute_perpetual_fair_price(index, rate, 0, interval) == index, "perpetual, at funding"),
                (compute_futures_fair_price(index, 0, expiry_in) == index, "future, zero basis"),
                (
                    any_of(expiry_in > 0, compute_futures_fair_price(index, basis, expiry_in) == index),
                    "future, at or after expiry",
                ),
            ],
            "MRK-005/MRK-007 zero basis",
        )


# -- SET-003: settlement conserves ----------------------------------------------------------------


def prove_settlement_conserves(symbol: str, count: int) -> ProofResult:
    """SET-003 for ``count`` holders: Σ(Δwallet − Δcost) + Δfee pool = 0; every fee ≥ the exact fee."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        holders = balanced_holders(prover, inst, count)
        price = prover.symbol("settlement_price")
        assume_valid_price(prover, inst, price, "settlement_price")
        flow = 0  # Σ(Δwallet − Δcost) + Δfee pool
        fees_cover: BoolLike = True
        for _, position in holders:
            prover.assume(any_of(position.qty != 0, position.cost == 0), "a flat position has no cost")
            closed, realised, fee = compute_position_settlement(inst, position, price)
            flow = flow + (realised - fee) - (closed.cost - position.cost) + fee
            exact = compute_notional(inst, position.qty, price) * inst.settlement_fee_ppm
            fees_cover = all_of(fees_cover, fee * PPM >= exact, closed.qty == 0, closed.cost == 0)
        return prover.prove_all(
            [(flow == 0, "Σ(Δwallet − Δcost) + Δfee pool = 0"), (fees_cover, "flat, fee ≥ exact fee")],
            f"SET-003 conservation {symbol} k={count}",
        )


def prove_settlement_moves_position_value(symbol: str) -> ProofResult:
    """SET-003 lemma, any position: (Δwallet − Δcost) + fee = value(qty, settlement price) exactly.

    With the additivity of values in whole lots at one price (as FND-006), Σ value(q_i) =
    value(Σ q_i) = 0 when open interest balances, so settlement conserves for any number of
    holders (induction over the holders, argued).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        price = prover.symbol("settlement_price")
        prover.assume(position.qty % inst.lot_size == 0, "whole lots")
        prover.assume(any_of(position.qty != 0, position.cost == 0), "a flat position has no cost")
        assume_valid_price(prover, inst, price, "settlement_price")
        closed, realised, fee = compute_position_settlement(inst, position, price)
        flow = (realised - fee) - (closed.cost - position.cost) + fee
        return prover.prove(flow == compute_value(inst, position.qty, price), f"SET-003 per position {symbol}")


def prove_opposite_values_cancel(inst: Instrument) -> ProofResult:
    """CON-002: a long and a short of the same whole lots have opposite values at every price unit in (0, maxPrice].

    What a settlement, a take-over at mark or an ADL fill pays one side is then exactly what the other side pays,
    at prices off the tick grid too (redteam16_1: a linear lot worth whole minor units only on the grid rounded both
    sides toward the trader, ``floor(x) + floor(−x) = −1``).
    """
    with Prover() as prover:
        qty, price = prover.symbol("qty"), prover.symbol("price")
        prover.assume(qty % inst.lot_size == 0, "whole lots")
        assume_valid_price(prover, inst, price, "price")
        return prover.prove(
            compute_value(inst, qty, price) + compute_value(inst, -qty, price) == 0, f"CON-002 opposite {inst.symbol}"
        )


def _grid_only_linear() -> Instrument:
    """KNOWN-BAD instrument: the shipped XBTUSDT at priceScale 10,000 (BitMEX's published mark precision), whose lot
    is worth whole USDt on the tick grid only; ``validate`` refuses it, the proof shows why."""
    linear = load_instrument("XBTUSDT")
    return attrs.evolve(linear, price_scale=10_000, tick_size=5_000, max_price=linear.max_price * 100)


def _perpetuals() -> list[str]:
    return [symbol for symbol in builtin_symbols() if load_instrument(symbol).is_perpetual]


def _futures() -> list[str]:
    return [symbol for symbol in builtin_symbols() if not load_instrument(symbol).is_perpetual]


def _register() -> None:
    for symbol in _perpetuals():
        register(
            Obligation(
                id=f"FND-008/zero-sum/{symbol}",
                rule_id="FND-008",
                invariant_id="INV-FUNDING-ZERO-SUM",
                statement=(
                    f"{symbol}: the funding exchange between {HOLDERS} holders with balanced open interest, "
                    "at any valid mark and any rate within the cap, pays exactly what it receives plus a "
                    "residue 0 ≤ r < k credited to the insurance fund; INV-CONSERVATION is preserved."
                ),
                run=functools.partial(prove_funding_exchange_zero_sum, symbol, HOLDERS),
                bounded=f"k = {HOLDERS} holders",
            )
        )
        register(
            Obligation(
                id=f"FND-006/exposure-additive/{symbol}",
                rule_id="FND-006",
                invariant_id="INV-FUNDING-ZERO-SUM",
                statement=(
                    f"{symbol}: exposures at one mark are additive in whole lots, so they cancel across "
                    "any number of holders with balanced open interest (lemma 1 of the unbounded argument)."
                ),
                run=functools.partial(prove_exposure_additive, symbol),
            )
        )
        register(
            Obligation(
                id=f"FND-007/payment-rounding/{symbol}",
                rule_id="FND-007",
                invariant_id="INV-FUNDING-ZERO-SUM",
                statement=(
                    f"{symbol}: every payment is the exact amount rounded up by less than one minor unit "
                    "(payers up, receivers down), so k holders leave 0 ≤ residue < k (lemma 2)."
                ),
                run=functools.partial(prove_payment_rounding, symbol),
            )
        )
        register(
            Obligation(
                id=f"FND-005/caps/{symbol}",
                rule_id="FND-005",
                invariant_id="",  # a property of the rule, not of the exchange state
                statement=(
                    f"{symbol}: for any premium and interest, F = P + clamp(I − P) then capped satisfies "
                    "|F| ≤ 75% (IM − MM) and |F − F_prev| ≤ 75% MM whenever F_prev satisfied the first."
                ),
                run=functools.partial(prove_rate_caps, symbol),
            )
        )
        register(
            Obligation(
                id=f"FND-004/cap-below-margin-gap/{symbol}",
                rule_id="FND-004",
                invariant_id="",  # a property of the rule, not of the exchange state
                statement=f"{symbol}: a capped funding payment never exceeds (IM − MM) of the position's value.",
                run=functools.partial(prove_cap_below_margin_gap, symbol),
            )
        )
        register(
            Obligation(
                id=f"FND-007/known-bad-floor/{symbol}",
                rule_id="FND-007",
                invariant_id="INV-FUNDING-ZERO-SUM",
                statement=f"{symbol}: KNOWN-BAD payers rounding down would make funding create money.",
                run=functools.partial(prove_floor_funding_never_creates_money, symbol, 2),
                bounded="k = 2 holders",
                expect="refuted",
            )
        )
    for symbol in _futures():
        register(
            Obligation(
                id=f"SET-003/per-position/{symbol}",
                rule_id="SET-003",
                invariant_id="INV-CONSERVATION",
                statement=(
                    f"{symbol}: settling any position at any valid price moves exactly its value at that "
                    "price out of the cost basis (net of the fee, which goes to the fee pool)."
                ),
                run=functools.partial(prove_settlement_moves_position_value, symbol),
            )
        )
        register(
            Obligation(
                id=f"SET-003/conservation/{symbol}",
                rule_id="SET-003",
                invariant_id="INV-CONSERVATION",
                statement=(
                    f"{symbol}: settling {SETTLE_HOLDERS} holders with balanced open interest at any valid price "
                    "moves exactly the fees to the fee pool and leaves everyone flat."
                ),
                run=functools.partial(prove_settlement_conserves, symbol, SETTLE_HOLDERS),
                bounded=f"k = {SETTLE_HOLDERS} holders",
            )
        )
    register(
        Obligation(
            id="FND-019/fund-never-negative",
            rule_id="FND-019",
            invariant_id="INV-CONSERVATION",
            statement=(
                f"For {LIQUIDATOR_HOLDERS} holders with the liquidation engine first, any fund ≥ 0 and any FND-008 "
                "output (Σ deltas + residue = 0, residue ≥ 0): the fund stays ≥ 0 after the residue and after the "
                "liquidation engine's capped share; funding stays zero-sum; the engine's share is cut only to the "
                "fund's balance; a payer pays exactly its payment and a receiver gets between 0 and its credit."
            ),
            run=functools.partial(prove_liquidator_funding, LIQUIDATOR_HOLDERS),
            bounded=f"k = {LIQUIDATOR_HOLDERS} holders",
        )
    )
    for name, prove_known_bad, what in (
        ("uncapped", prove_liquidator_funding_uncapped, "paid from the fund without the cap takes it below zero"),
        (
            "share-before-residue",
            prove_liquidator_funding_share_before_residue,
            "capped but posted before the residue can take the fund below zero for a moment",
        ),
    ):
        register(
            Obligation(
                id=f"FND-019/known-bad-{name}",
                rule_id="FND-019",
                invariant_id="INV-CONSERVATION",
                statement=f"KNOWN-BAD: the liquidation engine's funding {what}.",
                run=functools.partial(prove_known_bad, LIQUIDATOR_HOLDERS),
                bounded=f"k = {LIQUIDATOR_HOLDERS} holders",
                expect="refuted",
            )
        )
    for symbol in builtin_symbols():
        register(
            Obligation(
                id=f"CON-002/opposite-sides-cancel/{symbol}",
                rule_id="CON-002",
                invariant_id="INV-CONSERVATION",
                statement=(
                    f"{symbol}: a long and a short of the same whole lots have opposite values at every price unit, "
                    "on the tick grid or off it (marks, take-over prices, settlement prices)."
                ),
                run=functools.partial(prove_opposite_values_cancel, load_instrument(symbol)),
            )
        )
    register(
        Obligation(
            id="CON-002/known-bad-lot-value-whole-on-the-grid-only/XBTUSDT",
            rule_id="CON-002",
            invariant_id="INV-CONSERVATION",
            statement=(
                "KNOWN-BAD: XBTUSDT at priceScale 10,000, a lot worth whole USDt only on the tick grid (validate "
                "refuses it): off the grid both sides' values round toward the trader and money is created."
            ),
            run=functools.partial(prove_opposite_values_cancel, _grid_only_linear()),
            expect="refuted",
        )
    )
    for symbol in _perpetuals():
        inst = load_instrument(symbol)
        for side, side_name in ((1, "long"), (-1, "short")):
            if side > 0 and not inst.is_inverse:
                continue  # a linear or quanto long is covered by a price beyond maxPrice whatever it holds (LIQ-036)
            # (floor, any cost): an inverse contract needs no range of the cost; a linear or quanto short is proved
            # at every mark for a cost in range, and at marks of two price units or more for any cost
            variants = [(2 if side < 0 else 1, True)] if inst.is_inverse else [(1, False), (2, True)]
            for floor, any_cost in variants:
                suffix = "/any-cost" if any_cost and not inst.is_inverse else ""
                register(
                    Obligation(
                        id=f"FND-020/funded-pool-stays-coverable/{symbol}/{side_name}{suffix}",
                        rule_id="FND-020",
                        invariant_id="INV-NO-NEG-EQUITY",
                        statement=(
                            f"A {symbol} {side_name}'s pool (one position, cross or isolated, any chosen tier"
                            f"{', any cost' if any_cost else ', its cost a value at a price in range'}) that LIQ-003 "
                            "finds at or above maintenance at mark, funded at any rate within FND-004's cap, is still "
                            "covered by a positive price (LIQ-036's bound): its take-over leaves it ≥ its reserve."
                        ),
                        run=functools.partial(prove_funded_pool_stays_coverable, symbol, side, floor, False, any_cost),
                        bounded=None if floor == 1 else "mark ≥ 2 price units (at one: tests/test_fnd_020_funding_bound.py)",
                    )
                )
    register(
        Obligation(
            id="FND-020/known-bad-carried-pool-funded/XBTUSD/long",
            rule_id="FND-020",
            invariant_id="INV-NO-NEG-EQUITY",
            statement="KNOWN-BAD: without FND-020 a due (carried) XBTUSD long funded at the cap can pass LIQ-036's bound.",
            run=functools.partial(prove_funded_pool_stays_coverable, "XBTUSD", 1, 1, True),
            expect="refuted",
        )
    )
    register(
        Obligation(
            id="MRK-005/zero-basis-is-index",
            rule_id="MRK-005",
            invariant_id="",  # a property of the rule, not of the exchange state
            statement="A fair price with zero basis (zero rate, no time to funding, zero % basis, expiry) is the index.",
            run=prove_zero_basis_fair_price_is_index,
        )
    )


_register()
