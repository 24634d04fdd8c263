"""Proof obligations over the accounting core (rules/contract.py, rules/position.py).

For each shipped instrument (``specs/instruments/*.toml``):

* ACC-004 ``apply_trade`` preserves INV-CONSERVATION and INV-OI-BALANCE, for any
  two positions (any quantity that is a whole number of lots, any cost basis),
  any trade quantity (a positive whole number of lots), any price (a positive
  multiple of the tick, at most ``maxPrice``) and any fee rates in (-100%, 100%):
  one inductive step over an exchange whose other accounts are summarised by
  arbitrary integers — so the proof holds for any number of accounts;
* ACC-004 the fee pool receives at least the exact commissions;
* ACC-003 ``apply_fill``: ``Δwallet − Δcost = −value(fill)`` exactly, and the
  realised PnL is never rounded in the trader's favour (by less than one unit).

* ACC-007 a trade whose resting side pays ACC-007's rate (any displayed,
  open and incoming quantities, any maker rate ≤ taker rate) conserves funds,
  and the fee pool receives at least what the maker rate would have given it.

Independent of the instrument: ACC-002 commission is at least the exact fee
and at most one minor unit more, for any notional and any fee sign; ACC-007
charges a hidden order the taker rate, an order whose displayed part trades on
its own the maker rate, an iceberg traded into its hidden part the taker rate,
and never a rate outside [maker, taker].

Known-bad variants (:mod:`proofs.known_bad`), expected to be refuted:
commission rounded toward the trader; the naive per-side inverse PnL; every
resting order at the maker rate (a hidden order paid the rebate).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs.known_bad import (
    compute_commission_floor,
    compute_realised_pnl_naive_inverse,
    compute_resting_fee_ppm_maker_always,
)
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import BoolLike, all_of, implies
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import builtin_symbols, load_instrument
from perpspec.rules.invariants import compute_conservation_gap, compute_oi_imbalance
from perpspec.rules.num import PPM, abs_, and_, ite, or_
from perpspec.rules.position import (
    Position,
    apply_fill,
    apply_trade,
    compute_commission,
    compute_resting_fee_ppm,
    is_opposite,
)


def assume_valid_price(prover: Prover, inst: Instrument, price: int, label: str) -> None:
    """``price`` is a positive multiple of the tick, at most ``maxPrice``."""
    prover.assume(price > 0, f"{label} positive")
    prover.assume(price % inst.tick_size == 0, f"{label} on the tick grid")
    prover.assume(price <= inst.max_price, f"{label} at most maxPrice")


def assume_whole_lots(prover: Prover, inst: Instrument, qty: int, label: str) -> None:
    """``qty`` is a whole number of lots (any sign)."""
    prover.assume(qty % inst.lot_size == 0, f"{label} in whole lots")


def assume_well_formed(prover: Prover, inst: Instrument, position: Position, label: str) -> None:
    """A position holds whole lots, and a flat position has no cost basis."""
    assume_whole_lots(prover, inst, position.qty, f"{label}.qty")
    prover.assume(implies(position.qty == 0, position.cost == 0), f"{label} flat has zero cost")


def assume_fee_rate(prover: Prover, fee_ppm: int, label: str) -> None:
    """A fee rate strictly between -100% and 100% (any tier, maker rebates included)."""
    prover.assume(all_of(fee_ppm > -PPM, fee_ppm < PPM), f"{label} in (-1, 1)")


# -- ACC-004: apply_trade --------------------------------------------------------


def prove_trade_conservation(symbol: str) -> ProofResult:
    """INV-CONSERVATION holds after ACC-004 if it held before."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        buyer = prover.record(Position, "buyer")
        seller = prover.record(Position, "seller")
        qty, price = prover.symbol("qty"), prover.symbol("price")
        buyer_fee, seller_fee = prover.symbol("buyer_fee_ppm"), prover.symbol("seller_fee_ppm")
        buyer_wallet, seller_wallet = prover.symbol("buyer_wallet"), prover.symbol("seller_wallet")
        others = prover.symbol("others_wallet_minus_cost")  # every other account, summed
        insurance, fees = prover.symbol("insurance"), prover.symbol("fees")
        funding, deposits = prover.symbol("funding_pool"), prover.symbol("net_deposits")
        assume_well_formed(prover, inst, buyer, "buyer")
        assume_well_formed(prover, inst, seller, "seller")
        prover.assume(qty > 0, "qty positive")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        assume_fee_rate(prover, buyer_fee, "buyer fee")
        assume_fee_rate(prover, seller_fee, "seller fee")
        before = compute_conservation_gap(
            buyer_wallet - buyer.cost + seller_wallet - seller.cost + others, insurance, fees, funding, deposits
        )
        prover.assume(before == 0, "INV-CONSERVATION before")
        effect = apply_trade(inst, buyer, seller, qty, price, buyer_fee, seller_fee)
        wallets_minus_costs = (
            buyer_wallet
            + effect.buyer.wallet_delta
            - effect.buyer.position.cost
            + seller_wallet
            + effect.seller.wallet_delta
            - effect.seller.position.cost
            + others
        )
        after = compute_conservation_gap(
            wallets_minus_costs, insurance, fees + effect.fee_pool_delta, funding, deposits
        )
        return prover.prove(after == 0, f"ACC-004 conservation {symbol}")


def prove_trade_oi_balance(symbol: str) -> ProofResult:
    """INV-OI-BALANCE holds after ACC-004 if it held before."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        buyer = prover.record(Position, "buyer")
        seller = prover.record(Position, "seller")
        qty, price = prover.symbol("qty"), prover.symbol("price")
        others = prover.symbol("others_qty")  # every other account, summed
        assume_well_formed(prover, inst, buyer, "buyer")
        assume_well_formed(prover, inst, seller, "seller")
        prover.assume(qty > 0, "qty positive")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        prover.assume(compute_oi_imbalance([buyer.qty, seller.qty, others]) == 0, "INV-OI-BALANCE before")
        effect = apply_trade(inst, buyer, seller, qty, price, inst.taker_fee_ppm, inst.maker_fee_ppm)
        after = compute_oi_imbalance([effect.buyer.position.qty, effect.seller.position.qty, others])
        return prover.prove(after == 0, f"ACC-004 OI balance {symbol}")


def prove_trade_fee_pool_at_least_exact(symbol: str) -> ProofResult:
    """The fee pool receives at least the exact commissions of both sides."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        buyer = prover.record(Position, "buyer")
        seller = prover.record(Position, "seller")
        qty, price = prover.symbol("qty"), prover.symbol("price")
        buyer_fee, seller_fee = prover.symbol("buyer_fee_ppm"), prover.symbol("seller_fee_ppm")
        assume_well_formed(prover, inst, buyer, "buyer")
        assume_well_formed(prover, inst, seller, "seller")
        prover.assume(qty > 0, "qty positive")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        assume_fee_rate(prover, buyer_fee, "buyer fee")
        assume_fee_rate(prover, seller_fee, "seller fee")
        effect = apply_trade(inst, buyer, seller, qty, price, buyer_fee, seller_fee)
        notional = compute_notional(inst, qty, price)
        exact_times_ppm = notional * buyer_fee + notional * seller_fee
        return prover.prove(effect.fee_pool_delta * PPM >= exact_times_ppm, f"ACC-004 fee pool {symbol}")


# -- ACC-003: apply_fill ---------------------------------------------------------------


def prove_fill_moves_fill_value(symbol: str) -> ProofResult:
    """``Δwallet − Δcost = −value(fill)``: a fill only exchanges its value."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        fill_qty, price = prover.symbol("fill_qty"), prover.symbol("price")
        assume_well_formed(prover, inst, position, "position")
        assume_whole_lots(prover, inst, fill_qty, "fill_qty")
        assume_valid_price(prover, inst, price, "price")
        after, realised = apply_fill(inst, position, fill_qty, price)
        moved = realised - (after.cost - position.cost)
        return prover.prove(moved == -compute_value(inst, fill_qty, price), f"ACC-003 fill value {symbol}")


def compute_closed_qty(old_qty: int, fill_qty: int) -> int:
    """Specification: the part of the old position a fill closes (same sign as ``old_qty``)."""
    closes_all = abs_(fill_qty) >= abs_(old_qty)
    return ite(is_opposite(old_qty, fill_qty), ite(closes_all, old_qty, -fill_qty), 0)


def prove_realised_pnl_not_in_traders_favour(symbol: str) -> ProofResult:
    """Realised PnL = exact PnL of the closed part rounded down (by less than one unit).

    Exact realised PnL (rational) of closing ``closed`` of ``old`` contracts:
    ``value(closed) − cost·closed/old``.  Proved in two lemmas over the same
    symbols, so that no solver query multiplies a price term by a quantity:

    1. the kernel computes ``value(closed) − cost + retained`` with
       ``retained = floor(cost·(old − closed)/old)`` (the cost kept);
    2. ``retained ≤ cost·(old − closed)/old < retained + 1``.

    Together: ``exact − 1 < realised ≤ exact``.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        fill_qty, price = prover.symbol("fill_qty"), prover.symbol("price")
        assume_well_formed(prover, inst, position, "position")
        assume_whole_lots(prover, inst, fill_qty, "fill_qty")
        assume_valid_price(prover, inst, price, "price")
        _, realised = apply_fill(inst, position, fill_qty, price)
        old, cost = position.qty, position.cost
        closed = compute_closed_qty(old, fill_qty)
        kept_scaled = cost * (old - closed)  # = retained_exact * old
        retained = kept_scaled // ite(old == 0, 1, old)
        lemma_kernel = realised == compute_value(inst, closed, price) - cost + retained
        # retained * |old| <= exact * |old| < (retained + 1) * |old|, with exact * |old| = ±kept_scaled
        exact_scaled = ite(old > 0, kept_scaled, -kept_scaled)
        lemma_floor = or_(
            old == 0,
            and_(retained * abs_(old) <= exact_scaled, exact_scaled < (retained + 1) * abs_(old)),
        )
        return prover.prove_all(
            [(lemma_kernel, "kernel = value(closed) − cost + retained"), (lemma_floor, "retained is floored")],
            f"ACC-003 realised rounding {symbol}",
        )


# -- ACC-007: the rate of a resting order's fills -------------------------------------------


RestingRate = Callable[[int, int, int, int, int], int]


def assume_resting_order(prover: Prover, shown: int, leaves: int, incoming: int, maker: int, taker: int) -> None:
    """A live resting order reached by an incoming order: ``0 ≤ shown ≤ leaves``, ``leaves > 0``, ``incoming > 0``,
    and the instrument's rates: ``-1 < maker ≤ taker < 1`` (rules.instrument_file's check, PRM-FEES)."""
    prover.assume(all_of(shown >= 0, shown <= leaves, leaves > 0), "0 ≤ shown ≤ leaves, leaves > 0")
    prover.assume(incoming > 0, "incoming positive")
    assume_fee_rate(prover, maker, "maker fee")
    assume_fee_rate(prover, taker, "taker fee")
    prover.assume(maker <= taker, "maker fee ≤ taker fee")


def prove_resting_rate(rate_of: RestingRate, case: str, label: str) -> ProofResult:
    """ACC-007 in one case: ``hidden`` (shown 0): the taker rate; ``displayed-alone`` (the incoming order fits in
    what the order displays, or the order displays all it holds): the maker rate; ``into-hidden`` (an iceberg with a
    hidden part, reached by more than its slice): the taker rate; ``bounded``: a rate in [maker, taker], one of the
    two."""
    with Prover() as prover:
        shown, leaves, incoming = prover.symbol("shown_qty"), prover.symbol("leaves_qty"), prover.symbol("incoming_qty")
        maker, taker = prover.symbol("maker_fee_ppm"), prover.symbol("taker_fee_ppm")
        assume_resting_order(prover, shown, leaves, incoming, maker, taker)
        rate = rate_of(shown, leaves, incoming, maker, taker)
        goal: BoolLike
        if case == "hidden":
            prover.assume(shown == 0, "hidden: displays nothing")
            goal = rate == taker
        elif case == "displayed-alone":
            prover.assume(or_(incoming <= shown, shown == leaves), "the displayed part trades on its own")
            goal = rate == maker
        elif case == "into-hidden":
            prover.assume(all_of(shown < leaves, incoming > shown), "reached with more than its slice, hidden left")
            goal = rate == taker
        else:
            goal = all_of(maker <= rate, rate <= taker, or_(rate == maker, rate == taker))
        return prover.prove(goal, label)


def prove_resting_rate_trade(symbol: str) -> ProofResult:
    """A trade whose seller rests and pays ACC-007's rate (the buyer any rate): INV-CONSERVATION holds after it,
    and the fee pool receives at least what it would at the seller's maker rate."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        buyer = prover.record(Position, "buyer")
        seller = prover.record(Position, "seller")
        qty, price = prover.symbol("qty"), prover.symbol("price")
        buyer_fee = prover.symbol("buyer_fee_ppm")
        shown, leaves, incoming = prover.symbol("shown_qty"), prover.symbol("leaves_qty"), prover.symbol("incoming_qty")
        maker, taker = prover.symbol("maker_fee_ppm"), prover.symbol("taker_fee_ppm")
        wallets, fees = prover.symbol("wallets_minus_costs"), prover.symbol("fees")
        insurance, funding, deposits = prover.symbol("insurance"), prover.symbol("funding_pool"), prover.symbol("net_deposits")
        assume_well_formed(prover, inst, buyer, "buyer")
        assume_well_formed(prover, inst, seller, "seller")
        prover.assume(qty > 0, "qty positive")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, price, "price")
        assume_fee_rate(prover, buyer_fee, "buyer fee")
        assume_resting_order(prover, shown, leaves, incoming, maker, taker)
        prover.assume(qty <= leaves, "the fill is at most the resting order's open quantity")
        # wallets_minus_costs: Σ(wallet − cost) of every account, the two sides' included
        prover.assume(compute_conservation_gap(wallets, insurance, fees, funding, deposits) == 0, "INV-CONSERVATION before")
        rate = compute_resting_fee_ppm(shown, leaves, incoming, maker, taker)
        effect = apply_trade(inst, buyer, seller, qty, price, buyer_fee, rate)
        at_maker = apply_trade(inst, buyer, seller, qty, price, buyer_fee, maker)
        moved = (
            effect.buyer.wallet_delta
            - (effect.buyer.position.cost - buyer.cost)
            + effect.seller.wallet_delta
            - (effect.seller.position.cost - seller.cost)
        )
        after = compute_conservation_gap(wallets + moved, insurance, fees + effect.fee_pool_delta, funding, deposits)
        return prover.prove_all(
            [
                (after == 0, "INV-CONSERVATION after"),
                (effect.fee_pool_delta >= at_maker.fee_pool_delta, "the fee pool gets at least the maker rate's"),
            ],
            f"ACC-007 trade {symbol}",
        )


# -- ACC-002: commission --------------------------------------------------------------


def prove_commission_rounding(commission: Callable[[int, int], int], label: str) -> ProofResult:
    """``exact ≤ commission < exact + 1`` minor unit, for any notional ≥ 0 and fee in (-1, 1)."""
    with Prover() as prover:
        notional, fee = prover.symbol("notional"), prover.symbol("fee_ppm")
        prover.assume(notional >= 0, "notional non-negative")
        assume_fee_rate(prover, fee, "fee")
        charged = commission(notional, fee)
        exact_times_ppm = notional * fee
        goal = all_of(charged * PPM >= exact_times_ppm, charged * PPM < exact_times_ppm + PPM)
        return prover.prove(goal, label)


def prove_naive_inverse_close_conserves(symbol: str) -> ProofResult:
    """KNOWN-BAD: a long opened at ``entry`` and closed at ``exit`` with the naive per-side PnL."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        qty = prover.symbol("qty")
        entry, exit_ = prover.symbol("entry_price"), prover.symbol("exit_price")
        prover.assume(qty > 0, "qty positive")
        assume_whole_lots(prover, inst, qty, "qty")
        assume_valid_price(prover, inst, entry, "entry_price")
        assume_valid_price(prover, inst, exit_, "exit_price")
        # the long's cost basis is what its opening fill booked; the buyer of the close is flat
        long_cost = compute_value(inst, qty, entry)
        buyer_after, _ = apply_fill(inst, Position(), qty, exit_)
        long_wallet_delta = compute_realised_pnl_naive_inverse(inst, qty, entry, exit_)
        # Δ(wallet - cost) of the closing long, plus Δ(wallet - cost) of the buyer
        gap = (long_wallet_delta - (0 - long_cost)) + (0 - buyer_after.cost)
        return prover.prove(gap == 0, f"known-bad naive inverse PnL {symbol}")


OBLIGATIONS: list[Obligation] = []  # registered by this module, in order (tests run every one)


def _add(obligation: Obligation) -> None:
    OBLIGATIONS.append(register(obligation))


def _register_instrument(symbol: str) -> None:
    _add(
        Obligation(
            id=f"ACC-004/conservation/{symbol}",
            rule_id="ACC-004",
            invariant_id="INV-CONSERVATION",
            statement=f"{symbol}: a trade between any two positions, at any fee rates, conserves funds.",
            run=functools.partial(prove_trade_conservation, symbol),
        )
    )
    _add(
        Obligation(
            id=f"ACC-004/oi-balance/{symbol}",
            rule_id="ACC-004",
            invariant_id="INV-OI-BALANCE",
            statement=f"{symbol}: a trade keeps Σ long qty = Σ short qty.",
            run=functools.partial(prove_trade_oi_balance, symbol),
        )
    )
    _add(
        Obligation(
            id=f"ACC-004/fee-pool-exact/{symbol}",
            rule_id="ACC-004",
            invariant_id="INV-CONSERVATION",
            statement=f"{symbol}: the fee pool receives at least the exact commissions of both sides.",
            run=functools.partial(prove_trade_fee_pool_at_least_exact, symbol),
        )
    )
    _add(
        Obligation(
            id=f"ACC-003/fill-value/{symbol}",
            rule_id="ACC-003",
            invariant_id="INV-CONSERVATION",
            statement=f"{symbol}: a fill changes wallet − cost by exactly −value(fill).",
            run=functools.partial(prove_fill_moves_fill_value, symbol),
        )
    )
    _add(
        Obligation(
            id=f"ACC-003/realised-rounding/{symbol}",
            rule_id="ACC-003",
            invariant_id="INV-CONSERVATION",
            statement=f"{symbol}: realised PnL is the exact PnL rounded down (never in the trader's favour).",
            run=functools.partial(prove_realised_pnl_not_in_traders_favour, symbol),
        )
    )
    _add(
        Obligation(
            id=f"ACC-007/trade-conserves/{symbol}",
            rule_id="ACC-007",
            invariant_id="INV-CONSERVATION",
            statement=(
                f"{symbol}: a trade whose resting side pays ACC-007's rate conserves funds, and the fee pool gets at "
                "least what the maker rate gives."
            ),
            run=functools.partial(prove_resting_rate_trade, symbol),
        )
    )


def _register() -> None:
    symbols = builtin_symbols()
    for symbol in symbols:
        _register_instrument(symbol)
    _add(
        Obligation(
            id="ACC-002/commission-rounding",
            rule_id="ACC-002",
            invariant_id="INV-CONSERVATION",
            statement="Commission is the exact fee rounded up: never less, less than one minor unit more.",
            run=functools.partial(prove_commission_rounding, compute_commission, "ACC-002 commission rounding"),
        )
    )
    _add(
        Obligation(
            id="KNOWN-BAD/ACC-002/commission-floor",
            rule_id="ACC-002",
            invariant_id="INV-CONSERVATION",
            statement="Known-bad: commission rounded toward the trader undercharges the exact fee.",
            run=functools.partial(
                prove_commission_rounding, compute_commission_floor, "known-bad commission floor"
            ),
            expect="refuted",
        )
    )
    for case, statement in (
        ("hidden", "A hidden resting order (displays 0) pays the taker rate on every fill."),
        ("displayed-alone", "A resting order whose displayed part trades on its own (the incoming order fits in it, "
                            "or the order displays all it holds) pays the maker rate."),
        ("into-hidden", "An iceberg reached by more than its displayed slice while a hidden part is left pays the "
                        "taker rate on all its fills from that order."),
        ("bounded", "A resting order's rate is its maker or its taker rate, never outside [maker, taker]."),
    ):
        _add(
            Obligation(
                id=f"ACC-007/{case}",
                rule_id="ACC-007",
                invariant_id="INV-CONSERVATION",
                statement=statement,
                run=functools.partial(prove_resting_rate, compute_resting_fee_ppm, case, f"ACC-007 {case}"),
            )
        )
    _add(
        Obligation(
            id="KNOWN-BAD/ACC-007/maker-rate-for-hidden",
            rule_id="ACC-007",
            invariant_id="INV-CONSERVATION",
            statement="Known-bad: every resting order at its maker rate pays a hidden order the rebate.",
            run=functools.partial(
                prove_resting_rate, compute_resting_fee_ppm_maker_always, "hidden", "known-bad maker rate for hidden"
            ),
            expect="refuted",
        )
    )
    inverse = [symbol for symbol in symbols if load_instrument(symbol).is_inverse]
    for symbol in inverse:
        _add(
            Obligation(
                id=f"KNOWN-BAD/ACC-003/naive-inverse-pnl/{symbol}",
                rule_id="ACC-003",
                invariant_id="INV-CONSERVATION",
                statement=(
                    f"Known-bad: {symbol} closed with the per-side PnL qty*(1e8//entry − 1e8//exit) "
                    "does not conserve against the counterparty's cost basis."
                ),
                run=functools.partial(prove_naive_inverse_close_conserves, symbol),
                expect="refuted",
            )
        )


_register()
