"""Kernel obligations: margin requirements, order margin, account margin, the threshold price.

Split from :mod:`proofs.obligations_kernels` (whose docstring says what these prove).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs import lemmas
from perpspec.proofs.isolated_fill_terms import _isolated_fill_inputs, _opens, _own_after_fill, _returned
from perpspec.proofs.kernels_common import INVERSE, SYMBOLS, add, ceil_exact, iff, when
from perpspec.proofs.obligations_core import assume_valid_price, assume_well_formed, assume_whole_lots
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.sym import all_of, implies
from perpspec.rules import (
    contract,
    liquidation,
    margin,
    risk_limit,
)
from perpspec.rules import order_margin as order_margin_rules
from perpspec.rules import position as position_rules
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import PPM, abs_, and_, ite, not_, or_
from perpspec.rules.order_margin import OrderSide
from perpspec.rules.position import Position
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill


def prove_ppm_ceil(kernel: Callable[[int, int], int], label: str) -> ProofResult:
    """MRG-003 shape: ``ceil(amount × rate / 1e6)`` for any amount ≥ 0 and rate ≥ 0."""
    with Prover() as prover:
        amount, rate = prover.symbol("amount"), prover.symbol("rate_ppm")
        prover.assume(amount >= 0, "amount ≥ 0")
        prover.assume(and_(rate >= 0, rate <= PPM), "rate in [0, 100%]")
        return prover.prove(ceil_exact(kernel(amount, rate), amount * rate, PPM), label)


def _pos_comm_as(kernel: Callable[[int, int], int]) -> Callable[[int, int], int]:
    return lambda amount, rate: kernel(amount, rate)


def prove_pos_comm(kernel: Callable[[int, int, int, int], int]) -> ProofResult:
    """MRG-004: ``posComm = ceil(takerFee × (posCost + posInit + posCross))``."""
    with Prover() as prover:
        cost, init, cross, fee = (prover.symbol(name) for name in ("pos_cost", "pos_init", "pos_cross", "taker_fee_ppm"))
        prover.assume(all_of(cost >= 0, init >= 0, cross >= 0), "amounts ≥ 0")
        prover.assume(and_(fee >= 0, fee < PPM), "fee in [0, 100%)")
        base = cost + init + cross
        return prover.prove(ceil_exact(kernel(cost, init, cross, fee), base * fee, PPM), "MRG-004")


def _pos_comm_floor(cost: int, init: int, cross: int, fee: int) -> int:
    return bad.compute_ppm_floor(cost + init + cross, fee)


def prove_leverage_req(kernel: Callable[[int], int]) -> ProofResult:
    """MRG-001: ``1 / leverage`` in ppm rounded up: the requirement times the leverage covers the position."""
    with Prover() as prover:
        leverage = prover.symbol("leverage_hundredths")
        prover.assume(and_(leverage >= 1, leverage <= 100 * 100 * 100), "leverage in [0.01x, 10_000x]")
        return prover.prove(ceil_exact(kernel(leverage), PPM * 100, leverage), "MRG-001")


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
        goal = when(leverage == 0, required == tier, and_(required >= tier, required >= isolated))
        return prover.prove(goal, f"MRG-002 {symbol}")


def prove_adverse_funding(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRG-006: the reserve is the adverse payment rounded up, and 0 when funding is favourable."""
    with Prover() as prover:
        cost, qty, rate = prover.symbol("pos_cost"), prover.symbol("qty"), prover.symbol("funding_rate_e8")
        prover.assume(cost >= 0, "pos_cost ≥ 0")
        prover.assume(qty != 0, "a position")
        adverse = ite(qty > 0, rate, -rate)
        reserve = kernel(cost, qty, rate)
        goal = when(adverse <= 0, reserve == 0, ceil_exact(reserve, cost * adverse, margin.FUNDING_RATE_UNIT))
        return prover.prove(goal, "MRG-006")


def prove_prorated(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRG-043: a part's share rounded up: never below the exact share, never above the whole amount."""
    with Prover() as prover:
        amount, part, whole = prover.symbol("amount"), prover.symbol("part_qty"), prover.symbol("whole_qty")
        prover.assume(all_of(amount >= 0, part >= 0, part <= whole), "0 ≤ part ≤ whole, amount ≥ 0")
        prover.assume(implies(whole == 0, amount == 0), "an empty side has no amount")
        share = kernel(amount, part, whole)
        goal = when(whole == 0, share == 0, and_(ceil_exact(share, amount * part, whole), share <= amount))
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


def prove_isolated_margin_on_change(kernel: Callable[[int, int, int], int]) -> ProofResult:
    """MRG-066: after a setting change the equity at mark is at least posInit + posComm; no profit is set aside."""
    with Prover() as prover:
        init, comm, pnl = prover.symbol("pos_init"), prover.symbol("pos_comm"), prover.symbol("unrealised_pnl")
        prover.assume(and_(init >= 0, comm >= 0), "posInit, posComm ≥ 0")
        held = kernel(init, comm, pnl)
        return prover.prove(
            all_of(held >= init + comm, held + pnl >= init + comm, or_(pnl < 0, held == init + comm)), "MRG-066"
        )


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
        return prover.prove(iff(excess < 0, liquidation.is_liquidatable(equity, pos_maint)), f"MRG-031 {symbol}")


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


def prove_position_backing(k: int, kernel: Callable[[int, int, int, int, int], int]) -> ProofResult:
    """MRG-034: the backing from a pool's totals + own PnL − own maintenance is the pool's excess, k other members.

    MRG-033's statement for a pool given by its totals (the engine indexes liquidation trigger prices
    by it): the position's threshold is exactly where its pool's excess turns negative, the others
    held at mark; k = 0 is an isolated pool, whose backing is its margin.
    """
    with Prover() as prover:
        pool_margin, own_pnl, own_maint = prover.symbol("pool_margin"), prover.symbol("own_pnl"), prover.symbol("own_maint")
        pnls = tuple(prover.symbol(f"pnl{i}") for i in range(k))
        maints = tuple(prover.symbol(f"maint{i}") for i in range(k))
        prover.assume(all_of(own_maint >= 0, *[maint >= 0 for maint in maints]), "maintenance ≥ 0")
        prover.assume(all_of(True, *[maint > 0 for maint in maints]), "other positions are open (posMaint > 0)")
        pool_equity = pool_margin + own_pnl + sum(pnls, 0)
        pool_maintenance = own_maint + sum(maints, 0)
        backing = kernel(pool_margin, pool_equity, pool_maintenance, own_pnl, own_maint)
        excess = margin.compute_cross_margin_excess(pool_margin, (own_pnl, *pnls), (own_maint, *maints))
        return prover.prove(backing + own_pnl - own_maint == excess, f"MRG-034 k={k}")


def prove_position_backing_of_totals(kernel: Callable[[int, int, int, int, int], int]) -> ProofResult:
    """MRG-034, any number of members: backing + own PnL − own maintenance is the pool's equity − its maintenance."""
    with Prover() as prover:
        names = ("pool_margin", "pool_equity", "pool_maintenance", "own_pnl", "own_maint")
        pool_margin, pool_equity, pool_maintenance, own_pnl, own_maint = (prover.symbol(name) for name in names)
        prover.assume(all_of(own_maint >= 0, pool_maintenance >= own_maint), "maintenance ≥ 0, the own part of the pool's")
        backing = kernel(pool_margin, pool_equity, pool_maintenance, own_pnl, own_maint)
        return prover.prove(backing + own_pnl - own_maint == pool_equity - pool_maintenance, "MRG-034 totals")


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
        if inst.is_inverse:
            # per-lot value non-increasing in the price, times the lots: each a lemma proved on its own
            # (the solver took 40-60 s on the whole query, or timed out, depending on term numbering)
            prover.use(lemmas.lot_value_monotone(inst), charge, limit_price)
            prover.use(
                lemmas.PRODUCT_MONOTONE,
                abs_(qty) // inst.lot_size,
                contract.compute_lot_value_inverse(inst, limit_price),
                contract.compute_lot_value_inverse(inst, charge),
            )
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
        expected = order_margin_rules.compute_order_charge_price(inst, qty, limit_price, bid, ask)
        return prover.prove(_charge_at_limit_only(inst, qty, limit_price, bid, ask) == expected, f"MRG-040 {symbol} bad")


def prove_isolated_margin_after_fill(kernel: Callable[..., int]) -> ProofResult:
    """ACC-006: a closed position keeps nothing; the pool keeps its own money less its loss; the rest of the account
    pays in at most the premium, the loss the pool cannot pay and a short pool's closed part's deficit share, never
    more than the free wallet holds nor more than MRG-050's available (floored at 0) plus what the fill returns, so
    MRG-050's available after a fill that draws is ≥ 0 or no lower than before: the cross positions' and the open
    orders' margin never moves into the pool (review21_2)."""
    with Prover() as prover:
        inputs = _isolated_fill_inputs(prover)
        old_margin, old_req, new_req, realised, premium, unallocated, available, old_qty, new_qty = inputs
        margin_after = kernel(*inputs)
        own = _own_after_fill(old_margin, old_req, new_req, realised, old_qty, new_qty)
        flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
        freed = ite(old_req > new_req, old_req - new_req, 0)
        unpaid = ite(and_(not_(flips), realised + freed < 0), realised + freed, 0)
        from_wallet = margin_after - own
        bound = ite(unallocated > new_req, unallocated, new_req)  # the free wallet, or the requirement
        # a reduction of a pool short of its requirement also takes up to the closed part's share of the deficit (at
        # most the whole deficit; redteam20_1, redteam24_2)
        reduces = and_(and_(not_(flips), new_qty != 0), abs_(new_qty) < abs_(old_qty))
        closed_part = ite(and_(reduces, old_margin < old_req), old_req - old_margin, 0)
        room = _returned(old_margin, own, realised, available)
        # MRG-050's available after the fill, the fill's PnL in the wallet and the pool at its new margin
        available_after = available + realised + old_margin - margin_after
        return prover.prove(
            all_of(
                implies(new_qty == 0, margin_after == 0),
                implies(new_qty != 0, margin_after <= bound),  # never money the account does not have
                # nothing of the pool's own leaves but its loss, unless the wallet no longer holds it
                implies(new_qty != 0, margin_after >= ite(own < bound, own, bound)),
                implies(new_qty != 0, from_wallet <= ite(unallocated > own, unallocated - own, 0)),  # what it holds
                # the premium, the loss the pool cannot pay, and a short pool's closed part's share of its deficit
                implies(new_qty != 0, from_wallet <= premium - unpaid + closed_part),
                # never beyond MRG-050's available and the fill's return, but for the premium (from the free wallet,
                # as LIQ-040 models it: redteam29_1/4)
                implies(new_qty != 0, from_wallet <= room + premium),
                # so what a fill without a premium draws never takes MRG-050's available below zero, nor lower
                implies(all_of(new_qty != 0, from_wallet > 0, premium == 0),
                        available_after >= ite(available < 0, available, 0)),
                implies(flips, margin_after >= new_req),  # a flip's new side from flat: never the old side's loss
            ),
            "ACC-006",
        )


def prove_isolated_remainder_keeps_requirement(kernel: Callable[..., int]) -> ProofResult:
    """ACC-006: a pool that held its requirement holds, after any fill that leaves a position, the requirement of what
    is left and its premium as far as the free wallet and MRG-050's available (plus what the fill returns) reach (a
    reduction's loss never leaves the rest under-margined while the account has it available),
    and after a fill that opens (MRG-060 charged its initial margin) the whole requirement whatever the wallet holds."""
    with Prover() as prover:
        inputs = _isolated_fill_inputs(prover)
        old_margin, old_req, new_req, realised, premium, unallocated, available, old_qty, new_qty = inputs
        prover.assume(old_margin >= old_req, "the pool held its requirement")
        margin_after = kernel(*inputs)
        own = _own_after_fill(old_margin, old_req, new_req, realised, old_qty, new_qty)
        # what the rest of the account can pay: the free wallet, and MRG-050's available plus what the fill returns
        paid = own + _returned(old_margin, own, realised, available) + premium  # the premium: the free wallet's
        reach = ite(unallocated < new_req + premium, unallocated, new_req + premium)
        reach = ite(paid < reach, paid, reach)
        return prover.prove(
            all_of(
                implies(new_qty != 0, margin_after >= reach),
                implies(_opens(old_qty, new_qty), margin_after >= new_req),
            ),
            "ACC-006 remainder",
        )


def prove_isolated_reduction_shares_deficit(kernel: Callable[..., int]) -> ProofResult:
    """ACC-006 (redteam20_1, redteam24_2, review21_2): a reduction of an isolated pool short of its requirement (a
    negative extra, funding paid from it) leaves the remainder at least its proportional share of the deficit,
    ``extra × |new| / |old|`` exactly (so a reduction at an unchanged mark never lowers the pool's
    margin-to-requirement standing), and never more than that share rounded up -- unless what the closed part frees
    and realises and MRG-050's available balance (floored at 0) do not reach, and then the remainder has taken all
    of them (as far as the free wallet holds them); and the rest of the account pays in at most that available plus
    what the closed part frees and realises, never the cross positions' or the open orders' margin."""
    with Prover() as prover:
        inputs = _isolated_fill_inputs(prover)
        old_margin, old_req, new_req, realised, _, unallocated, available, old_qty, new_qty = inputs
        same_side = or_(and_(old_qty > 0, new_qty > 0), and_(old_qty < 0, new_qty < 0))
        prover.assume(and_(same_side, abs_(new_qty) < abs_(old_qty)), "a reduction that leaves a position")
        prover.assume(old_margin < old_req, "the pool held less than its requirement (a negative extra)")
        margin_after = kernel(*inputs)
        old_n, new_n = abs_(old_qty), abs_(new_qty)
        extra, extra_after = old_margin - old_req, margin_after - new_req
        freed = ite(old_req > new_req, old_req - new_req, 0)
        whole = new_req + extra  # the remainder under the whole-deficit rule (before redteam20_1)
        closed_part = ite(realised + freed > 0, realised + freed, 0)  # what the closed part frees and realises
        unpaid = ite(realised + freed < 0, -(realised + freed), 0)  # the closed part's loss beyond that
        own = whole - unpaid  # what the pool holds of its own
        # MRG-050's available (floored at 0) and what the fill returns to the rest of the account: for a reduction
        # whose requirement does not grow, what the closed part frees and realises (``closed_part``)
        lendable = _returned(old_margin, own, realised, available)
        # where those fall short of its share: all of them, as far as the free wallet holds them (``unallocated``
        # counts the pool's own margin)
        cap = ite(unallocated > own, unallocated, own)
        all_it_has = ite(own + lendable < cap, own + lendable, cap)
        return prover.prove(
            all_of(
                or_(extra_after * old_n >= extra * new_n, margin_after >= all_it_has),  # its share, or all it has
                extra_after * old_n < extra * new_n + old_n,  # never more than its share rounded up
                # the rest of the account pays at most MRG-050's available and what the closed part brings
                margin_after - own <= lendable,
                implies(new_req <= old_req, lendable <= closed_part + ite(available > 0, available, 0)),
            ),
            "ACC-006 deficit shared",
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
            bids, asks = order_margin_rules.compute_order_sides(inst, orders, mark_price, bid, ask)
            bid_qty, bid_value, ask_qty, ask_value = bids.qty, bids.value, asks.qty, asks.value
            premiums_ok = and_(bids.premium >= 0, asks.premium >= 0)
        total = sum((abs_(qty) for qty, _ in orders), 0)
        return prover.prove(
            all_of(bid_qty >= 0, ask_qty >= 0, bid_qty + ask_qty == total, bid_value >= 0, ask_value >= 0, premiums_ok),
            f"MRG-042 {symbol} k={k}",
        )


def _order_margin_no_reduction(
    inst: Instrument, position_qty: int, bids: OrderSide, asks: OrderSide, init_req: int, taker_fee: int
) -> order_margin_rules.OrderMargin:
    """KNOWN-BAD MRG-044: reducing orders are charged like opening ones (the reduction clause dropped)."""
    del position_qty
    return order_margin_rules.compute_order_margin(inst, 0, bids, asks, init_req, taker_fee)


def prove_order_margin(symbol: str, kernel: Callable[..., order_margin_rules.OrderMargin]) -> ProofResult:
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
        result = order_margin_rules.compute_contract_order_margin(inst, position, ((qty, price),), mark_price, 0, 0, 0)
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


def prove_negative_isolated_margin(k: int, account_margin: Callable[..., margin.AccountMargin] | None = None) -> ProofResult:
    """MRG-050 (redteam20_2): an isolated margin below zero (funding paid from a pool its unrealised profit backs)
    never adds to the available or withdrawable balance: both are what they would be with it at 0, and a withdrawal
    never takes more than the wallet holds (k positions, the first isolated, every other one cross)."""
    compute = margin.compute_account_margin if account_margin is None else account_margin
    with Prover() as prover:
        wallet, order_margin = prover.symbol("wallet"), prover.symbol("order_margin")
        prover.assume(order_margin >= 0, "order margin ≥ 0")
        positions = []
        for i in range(k):
            record = prover.record(margin.PositionMargin, f"p{i}", leverage_hundredths=1_000 if i % 2 == 0 else 0)
            if i % 2 == 1:
                prover.assume(record.pos_margin >= 0, f"p{i}.pos_margin ≥ 0 (cross)")
            positions.append(record)
        prover.assume(positions[0].pos_margin < 0, "p0's isolated margin below zero")
        floored = tuple(
            attrs.evolve(p, pos_margin=ite(p.pos_margin < 0, 0, p.pos_margin)) if i % 2 == 0 else p
            for i, p in enumerate(positions)
        )
        account = compute(wallet, tuple(positions), order_margin)
        at_zero = compute(wallet, floored, order_margin)
        return prover.prove(
            all_of(
                account.available_margin == at_zero.available_margin,
                account.withdrawable_margin == at_zero.withdrawable_margin,
                account.withdrawable_margin <= ite(wallet > 0, wallet, 0),  # never more than the wallet holds
            ),
            f"MRG-050 negative isolated margin k={k}",
        )


def _order_requirement_unclamped(inst: Instrument, held: Position, mark_price: int, leverage: int, pos_cross: int, before: int, after: int, qty: int, price: int) -> int:
    """KNOWN-BAD MRG-060: the order-margin increase charged even when negative (a reduction 'frees' available balance)."""
    real = margin.compute_order_requirement(inst, held, mark_price, leverage, pos_cross, before, after, qty, price)
    return ite(after - before > 0, real, after - before)


def _order_requirement_without_position_term(
    _inst: Instrument, _held: Position, _mark: int, _leverage: int, _pos_cross: int, before: int, after: int, _qty: int,
    _price: int,
) -> int:
    """KNOWN-BAD MRG-060: only the order-margin increase charged (the position's maintenance and repricing ignored)."""
    increase = after - before
    return ite(increase > 0, increase, 0)


def prove_order_requirement(symbol: str, kernel: Callable[..., int]) -> ProofResult:
    """MRG-060: a new order needs ≥ 0; nothing when it does not raise the order margin; else at least the increase,
    plus — for an order on an open position — MRG-020's posMaint after an immediate fill at the order price less
    before, net of the position's repricing from mark to that price (ACC-003 fill, CON values).

    The maintenance figures are the public MRG-020 ``compute_position_margin(...).pos_maint``, not the helper the
    rule reads them through, so a slip in the rule's own arithmetic (a term dropped: the known-bad variant) is a
    counterexample.  For a cross position and an isolated one at any leverage, with any margin held beyond posInit
    (``pos_cross``, negative after realised losses).  Review13_4: the statement before said only "≥ the increase",
    which holds whatever the position term computes.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        mark_price, price, qty = prover.symbol("mark_price"), prover.symbol("order_price"), prover.symbol("order_qty")
        before, after = prover.symbol("order_margin_before"), prover.symbol("order_margin_after")
        leverage, pos_cross = prover.symbol("leverage_hundredths"), prover.symbol("pos_cross")
        prover.assume(leverage >= 0, "leverage ≥ 0 (0 = cross)")
        assume_well_formed(prover, inst, held, "position")
        prover.assume(abs_(held.cost) <= 10**16, "entry value at most 1e16")
        assume_valid_price(prover, inst, mark_price, "mark_price")
        assume_valid_price(prover, inst, price, "order_price")
        assume_whole_lots(prover, inst, qty, "order_qty")
        prover.assume(qty != 0, "an order")
        requirement = kernel(inst, held, mark_price, leverage, pos_cross, before, after, qty, price)
        increase = after - before
        filled, _ = position_rules.apply_fill(inst, held, qty, price)
        maint_before = margin.compute_position_margin(inst, held, mark_price, leverage, pos_cross).pos_maint
        maint_after = margin.compute_position_margin(inst, filled, mark_price, leverage, pos_cross).pos_maint
        repricing = contract.compute_value(inst, held.qty, price) - contract.compute_value(inst, held.qty, mark_price)
        covered = increase + ite(held.qty == 0, 0, maint_after - maint_before - repricing)
        return prover.prove(
            all_of(requirement >= 0, implies(increase <= 0, requirement == 0), implies(increase > 0, requirement >= covered)),
            f"MRG-060 {symbol}",
        )


def _register() -> None:
    rounding = "ROUNDING-TOWARD-SYSTEM"
    for symbol in SYMBOLS:
        p = functools.partial
        add(f"MRG-002/tier-floor/{symbol}", "MRG-002", rounding,
            "Cross takes the tier's initial margin; isolated never less than the tier's or 1/leverage.", p(prove_init_req, symbol, margin.compute_init_margin_req_ppm))
        add(f"MRG-002/min-for-max/{symbol}", "MRG-002", rounding, "isolated leverage undercuts the tier (min for max).",
            p(prove_init_req, symbol, bad.compute_init_margin_req_ppm_min), expect="refuted")
        add(f"MRG-041/premium/{symbol}", "MRG-041", rounding, "The order premium is ≥ 0 and ≥ the loss against mark at the limit.",
            p(prove_order_premium, symbol, order_margin_rules.compute_order_premium))
        add(f"MRG-041/unclamped/{symbol}", "MRG-041", rounding, "the premium without max(0, ·).",
            p(prove_order_premium, symbol, bad.compute_order_premium_unclamped), expect="refuted")
        add(f"MRG-045/larger-side/{symbol}", "MRG-045", rounding,
            "Orders are charged at least the requirement of the position plus either side of its orders.", p(prove_order_req, symbol, order_margin_rules.compute_order_margin_req_ppm))
        add(f"MRG-045/smaller-side/{symbol}", "MRG-045", rounding, "the tier of the smaller side.",
            p(prove_order_req, symbol, _order_req_smaller_side), expect="refuted")
        add(f"MRG-031/trigger/{symbol}", "MRG-031", "INV-NO-FALSE-LIQUIDATION",
            "Isolated excess < 0 exactly when LIQ-003 liquidates at mark.", p(prove_isolated_excess, symbol, margin.compute_isolated_margin_excess))
        add(f"MRG-031/swapped/{symbol}", "MRG-031", "INV-NO-FALSE-LIQUIDATION", "the excess as maintenance − equity.",
            p(prove_isolated_excess, symbol, _isolated_excess_swapped), expect="refuted")
        add(f"MRG-040/worst-case/{symbol}", "MRG-040", rounding, "The charge price is fillable and its notional never below the limit's.",
            p(prove_order_charge_price, symbol, order_margin_rules.compute_order_charge_price))
        if symbol not in INVERSE:
            add(f"MRG-040/dropped-bid-clause/{symbol}", "MRG-040", rounding, "linear sells charged at the limit, the best-bid clause dropped.",
                p(prove_charge_dropped_clause, symbol), expect="refuted")
    p = functools.partial
    add("MRG-001/ceil", "MRG-001", rounding, "1/leverage in ppm is rounded up.", p(prove_leverage_req, margin.compute_leverage_margin_req_ppm))
    add("MRG-001/floor", "MRG-001", rounding, "1/leverage rounded down.", p(prove_leverage_req, bad.compute_leverage_margin_req_floor), expect="refuted")
    add("MRG-003/ceil", "MRG-003", rounding, "posInit is initMarginReq × posCost rounded up.", p(prove_ppm_ceil, margin.compute_pos_init, "MRG-003"))
    add("MRG-003/floor", "MRG-003", rounding, "posInit rounded down.", p(prove_ppm_ceil, bad.compute_ppm_floor, "MRG-003 bad"), expect="refuted")
    add("MRG-004/ceil", "MRG-004", rounding, "posComm is the taker fee on posCost + posInit + posCross rounded up.", p(prove_pos_comm, margin.compute_pos_comm))
    add("MRG-004/floor", "MRG-004", rounding, "posComm rounded down.", p(prove_pos_comm, _pos_comm_floor), expect="refuted")
    add("MRG-006/ceil", "MRG-006", rounding, "The adverse-funding reserve is the adverse payment rounded up; 0 when favourable.",
        p(prove_adverse_funding, margin.compute_adverse_funding))
    add("MRG-006/floor", "MRG-006", rounding, "the reserve rounded down.", p(prove_adverse_funding, bad.compute_adverse_funding_floor), expect="refuted")
    add("MRG-043/ceil", "MRG-043", rounding, "A part's share is rounded up, never above the whole amount.", p(prove_prorated, order_margin_rules.compute_prorated))
    add("MRG-043/floor", "MRG-043", rounding, "the share rounded down.", p(prove_prorated, bad.compute_prorated_floor), expect="refuted")
    add("MRG-062/no-profit", "MRG-062", "INV-WITHDRAW-SAFE", "Removable margin is ≥ 0, at most the extra margin, and never unrealised profit.",
        p(prove_removable_margin, margin.compute_removable_margin))
    add("MRG-062/keeps-profit", "MRG-062", "INV-WITHDRAW-SAFE", "unrealised profit counted as removable.",
        p(prove_removable_margin, bad.compute_removable_margin_keeps_profit), expect="refuted")
    add("MRG-066/loss-kept", "MRG-066", "INV-NO-NEG-EQUITY", "A leverage or risk-limit change keeps the unrealised loss set aside: equity at mark ≥ posInit + posComm, no profit set aside.",
        p(prove_isolated_margin_on_change, margin.compute_isolated_margin_on_change))
    add("MRG-066/loss-released", "MRG-066", "INV-NO-NEG-EQUITY", "the margin reset to posInit + posComm, the loss released.",
        p(prove_isolated_margin_on_change, bad.compute_isolated_margin_on_change_without_loss), expect="refuted")
    for k in range(5):
        add(f"MRG-032/sum/k={k}", "MRG-032", "INV-NO-FALSE-LIQUIDATION", "Cross excess = wallet + Σ PnL − Σ maintenance.",
            p(prove_cross_excess, k, margin.compute_cross_margin_excess), bounded=f"k = {k} positions")
        add(f"MRG-033/backing-is-account-excess/k={k}", "MRG-033", "INV-NO-FALSE-LIQUIDATION",
            "Backing + own PnL − own maintenance is the account's cross excess (MRG-032).",
            p(prove_cross_backing, k, margin.compute_cross_backing), bounded=f"k = {k} other positions")
    add("MRG-032/maint-dropped/k=2", "MRG-032", "INV-NO-FALSE-LIQUIDATION", "maintenance dropped.",
        p(prove_cross_excess, 2, bad.compute_cross_backing_without_maint), expect="refuted", bounded="k = 2 positions")
    add("MRG-033/maint-dropped/k=2", "MRG-033", "INV-NO-FALSE-LIQUIDATION", "the others' maintenance dropped from the backing.",
        p(prove_cross_backing, 2, bad.compute_cross_backing_without_maint), expect="refuted", bounded="k = 2 other positions")
    for k in range(5):
        add(f"MRG-034/backing-is-pool-excess/k={k}", "MRG-034", "INV-NO-FALSE-LIQUIDATION",
            "The backing from the pool's totals + own PnL − own maintenance is the pool's excess (MRG-032).",
            p(prove_position_backing, k, margin.compute_position_backing), bounded=f"k = {k} other positions")
    add("MRG-034/backing-is-pool-excess/totals", "MRG-034", "INV-NO-FALSE-LIQUIDATION",
        "The backing + own PnL − own maintenance is the pool's equity − its maintenance (MRG-032's excess, any size).",
        p(prove_position_backing_of_totals, margin.compute_position_backing))
    add("MRG-034/own-pnl-kept/totals", "MRG-034", "INV-NO-FALSE-LIQUIDATION", "the position's own PnL left in the others'.",
        p(prove_position_backing_of_totals, bad.compute_position_backing_own_pnl_kept), expect="refuted")
    add("MRG-034/own-pnl-kept/k=2", "MRG-034", "INV-NO-FALSE-LIQUIDATION", "the position's own PnL left in the others'.",
        p(prove_position_backing, 2, bad.compute_position_backing_own_pnl_kept), expect="refuted", bounded="k = 2 other positions")


_register()


def _register_second_batch() -> None:
    p = functools.partial
    add("ACC-006/margin-after-fill", "ACC-006", "INV-CONSERVATION",
        "A closed isolated position keeps no margin; the pool keeps its own money less its loss (a flip's new side its "
        "requirement) as far as the wallet holds it; the rest of the account pays in at most the premium, the loss the "
        "pool cannot pay and a deficit's share, never more than the free wallet holds nor more than MRG-050's "
        "available (floored at 0) plus what the fill returns (the available after a drawing fill is ≥ 0 or no "
        "lower); the pool never holds more than the wallet beyond the other isolated pools, or its requirement.",
        p(prove_isolated_margin_after_fill, compute_isolated_margin_after_fill))
    add("ACC-006/keeps-profit", "ACC-006", "INV-CONSERVATION", "a realised profit stays in the isolated pool.",
        p(prove_isolated_margin_after_fill, bad.compute_isolated_margin_after_fill_keeps_profit), expect="refuted")
    add("ACC-006/uncapped-top-up", "ACC-006", "INV-CONSERVATION",
        "a reduction's unpaid loss and the premium taken from the free wallet whether or not it holds them.",
        p(prove_isolated_margin_after_fill, bad.compute_isolated_margin_after_fill_uncapped_top_up), expect="refuted")
    add("ACC-006/beyond-the-wallet", "ACC-006", "INV-NO-NEG-EQUITY",
        "the bound dropped: a pool keeps an earlier fill's funded premium the wallet no longer holds.",
        p(prove_isolated_margin_after_fill, bad.compute_isolated_margin_after_fill_beyond_the_wallet), expect="refuted")
    add("ACC-006/remainder-keeps-requirement", "ACC-006", "INV-NO-FALSE-LIQUIDATION",
        "An isolated pool that held its requirement holds, after a fill that leaves a position (reduced, increased or "
        "flipped), the requirement of what is left plus the premium, as far as the free wallet and MRG-050's "
        "available (plus what the fill returns) reach.",
        p(prove_isolated_remainder_keeps_requirement, compute_isolated_margin_after_fill))
    add("ACC-006/charges-the-rest", "ACC-006", "INV-NO-FALSE-LIQUIDATION",
        "the rule before attack review 2: the closed part's loss charged to what is left, a premium fill capped whole.",
        p(prove_isolated_remainder_keeps_requirement, bad.compute_isolated_margin_after_fill_charging_the_rest),
        expect="refuted")
    add("ACC-006/reduction-shares-deficit", "ACC-006", "INV-NO-FALSE-LIQUIDATION",
        "A reduction of an isolated pool short of its requirement (funding paid from it) leaves the remainder at "
        "least its proportional share of the deficit, extra × |new| / |old| exactly, and at most that share rounded "
        "up, paid from what the closed part frees and realises and then MRG-050's available (all of them where they do "
        "not reach), never from more: a reduction at an unchanged mark never lowers the pool's standing while the "
        "account has it available, and never takes the cross positions' or the open orders' margin.",
        p(prove_isolated_reduction_shares_deficit, compute_isolated_margin_after_fill))
    add("ACC-006/whole-deficit", "ACC-006", "INV-NO-FALSE-LIQUIDATION",
        "the rule before redteam20_1: the remainder of a reduction keeps the pool's whole deficit.",
        p(prove_isolated_reduction_shares_deficit, bad.compute_isolated_margin_after_fill_whole_deficit),
        expect="refuted")
    add("ACC-006/share-from-the-closed-part", "ACC-006", "INV-NO-FALSE-LIQUIDATION",
        "the rule of 136ac3c (redteam24_2): the closed part's deficit share paid only from what it frees and realises.",
        p(prove_isolated_reduction_shares_deficit, bad.compute_isolated_margin_after_fill_share_from_the_closed_part),
        expect="refuted")
    add("ACC-006/top-up-beyond-available", "ACC-006", "INV-NO-NEG-EQUITY",
        "the rule of 136ac3c (review21_2): top_up paid from the free wallet beyond MRG-050's available.",
        p(prove_isolated_margin_after_fill, bad.compute_isolated_margin_after_fill_share_from_the_closed_part),
        expect="refuted")
    add("ACC-006/share-from-the-free-wallet", "ACC-006", "INV-NO-NEG-EQUITY",
        "fix24's reverted rule (631c60e, review21_2): the closed part's deficit share paid from the free wallet, the "
        "cross positions' margin included.",
        p(prove_isolated_reduction_shares_deficit, bad.compute_isolated_margin_after_fill_share_from_the_free_wallet),
        expect="refuted")
    add("ACC-006/caps-the-requirement", "ACC-006", "INV-NO-FALSE-LIQUIDATION",
        "a premium fill's whole margin, requirement included, capped at the free wallet.",
        p(prove_isolated_remainder_keeps_requirement, bad.compute_isolated_margin_after_fill_capping_the_requirement),
        expect="refuted")
    for k in (1, 2, 3):
        add(f"MRG-050/withdrawable/k={k}", "MRG-050", "INV-WITHDRAW-SAFE",
            "Margin balance is wallet + Σ PnL; withdrawable is ≥ 0 and never includes unrealised cross profit.",
            p(prove_account_margin, k), bounded=f"k = {k} positions")
    for k in (1, 2, 3):
        add(f"MRG-050/negative-isolated-margin/k={k}", "MRG-050", "INV-WITHDRAW-SAFE",
            "An isolated margin below zero (funding paid from a pool its unrealised profit backs) never adds to the "
            "available or withdrawable balance (both as with it at 0), and a withdrawal never takes more than the "
            "wallet holds.",
            p(prove_negative_isolated_margin, k), bounded=f"k = {k} positions")
    add("MRG-050/negative-isolated-margin-adds/k=1", "MRG-050", "INV-WITHDRAW-SAFE",
        "the rule before redteam20_2: every isolated posMargin subtracted, so a negative one adds to what is "
        "available and withdrawable.",
        p(prove_negative_isolated_margin, 1, bad.compute_account_margin_negative_isolated_adds), expect="refuted",
        bounded="k = 1 positions")
    add("MRG-050/profit-withdrawable/k=1", "MRG-050", "INV-WITHDRAW-SAFE", "withdrawable = max(0, available).",
        p(prove_account_margin, 1, bad.compute_withdrawable_with_profit), expect="refuted", bounded="k = 1 positions")
    for symbol in SYMBOLS:
        for k in (1, 2, 3):
            add(f"MRG-042/sides/{symbol}/k={k}", "MRG-042", "ROUNDING-TOWARD-SYSTEM",
                "Bids and offers split every order: quantities add up to Σ|qty|, values and premiums ≥ 0.",
                p(prove_order_sides, symbol, k), bounded=f"k = {k} orders")
        add(f"MRG-042/signed-asks/{symbol}/k=2", "MRG-042", "ROUNDING-TOWARD-SYSTEM", "offers summed with their sign.",
            p(prove_order_sides, symbol, 2, True), expect="refuted", bounded="k = 2 orders")
        add(f"MRG-044/reductions-free/{symbol}", "MRG-044", "INV-MARGIN-ON-ENTRY",
            "Order margin ≥ 0, charges no more than is open, and nothing for orders that only reduce.",
            p(prove_order_margin, symbol, order_margin_rules.compute_order_margin))
        add(f"MRG-044/no-reduction-clause/{symbol}", "MRG-044", "INV-MARGIN-ON-ENTRY", "reducing orders charged like opening ones.",
            p(prove_order_margin, symbol, _order_margin_no_reduction), expect="refuted")
        add(f"MRG-046/reducing-sell-free/{symbol}", "MRG-046", "INV-MARGIN-ON-ENTRY",
            "A sell no larger than a long carries no order margin (one order).", p(prove_contract_order_margin, symbol, True), bounded="k = 1 orders")
        add(f"MRG-046/position-ignored/{symbol}", "MRG-046", "INV-MARGIN-ON-ENTRY", "the position ignored when netting.",
            p(prove_contract_order_margin, symbol, False), expect="refuted", bounded="k = 1 orders")
        add(f"MRG-060/requirement/{symbol}", "MRG-060", "INV-MARGIN-ON-ENTRY",
            "A new order needs ≥ 0, nothing when it does not raise the order margin, else the increase plus MRG-020's "
            "posMaint increase on an immediate fill net of repricing.",
            p(prove_order_requirement, symbol, margin.compute_order_requirement))
        add(f"MRG-060/no-position-term/{symbol}", "MRG-060", "INV-MARGIN-ON-ENTRY",
            "only the order-margin increase charged, the position's maintenance ignored.",
            p(prove_order_requirement, symbol, _order_requirement_without_position_term), expect="refuted")
        add(f"MRG-060/unclamped/{symbol}", "MRG-060", "INV-MARGIN-ON-ENTRY", "a negative increase charged.",
            p(prove_order_requirement, symbol, _order_requirement_unclamped), expect="refuted")


_register_second_batch()


def _register_threshold() -> None:
    """MRG-010 directly: the threshold price is on the safe side for any reserve ≥ 0 (MRG-011/012 instantiate it)."""
    from perpspec.proofs.known_bad import compute_bankruptcy_price_rounded_wrong_way
    from perpspec.proofs.obligations_core_margin import SIDES, prove_threshold_safe

    p = functools.partial
    for symbol in SYMBOLS:
        for side in SIDES:
            add(f"MRG-010/safe-side/{symbol}/{side}", "MRG-010", "INV-INSURANCE-NONNEG",
                f"{symbol} {side}: at every valid mark on the safe side of the threshold price, equity ≥ the reserve (any reserve ≥ 0).",
                p(prove_threshold_safe, symbol, side, margin.compute_threshold_price, f"MRG-010 safe {symbol} {side}"))
    add("MRG-010/rounded-wrong-way/XBTUSDT/long", "MRG-010", "INV-INSURANCE-NONNEG", "the tick rounding reversed (toward the trader).",
        p(prove_threshold_safe, "XBTUSDT", "long", compute_bankruptcy_price_rounded_wrong_way, "MRG-010 bad", False), expect="refuted")


_register_threshold()
