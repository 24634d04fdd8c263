"""Kernel obligations that pin a rule's figures from the reference's definitions, not from the rule's own terms.

redteam25 (session 19, part 2b) found rules the rulebook counted as proved whose obligations pinned them only
partly, because each goal was stated against the rule's own output:

* MRG-050: ``MRG-050/withdrawable`` bounds the withdrawable balance by the rule's *own* available balance, so an
  available balance without the order margin (a withdrawal could take margin reserved for open orders) or an
  isolated position's profit counted as cross profit passed every MRG-050 (and LIQ-055) obligation.  Here the
  margin balance, available and withdrawable balance are written from BitMEX's definitions (reference §2: margin
  balance = wallet + unrealised PnL; available = margin balance − order margin − position margin, a cross
  position holding ``posMargin`` and an isolated one ``posMargin + unrealisedPnl``; withdrawable = available less
  the unrealised profit still in it), each position's PnL as ``markValue − posCost``, and the rule must equal them.
* MRK-009/010: the band was bounded only from above (never wider than one maintenance margin), so a band half as
  wide passed.  Here the half width is exactly ``⌊fair × maintMargin / 2⌋`` each way (both bounds), and the
  protected last price is the last price clamped to that band, written out.
* LIQ-014: ``LIQ-014/feasible-exact`` restates the rule's three clauses on the rule's own ``headroom`` and
  ``closed_mark_value``.  Here the claim is what the check is for: over any reduction of a pool, "feasible"
  holds exactly when the reduction closes something, the pool's equity at mark already covers the others'
  maintenance and the kept position's maintenance at the tier below, and executing the reduction at the limit
  price (ACC-003's fill, not the rule's shortcut) leaves the pool at or above that maintenance.

Each has refuted known-bads: the slips redteam25 planted (M3, M4, MK9) and the clauses of LIQ-014 dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.kernels_common import SYMBOLS, add, iff
from perpspec.proofs.obligations_core import assume_valid_price, assume_well_formed
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.sym import all_of, implies
from perpspec.rules import contract, liquidation, margin, mark
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import PPM, and_, ite, or_
from perpspec.rules.position import Position, apply_fill

# -- MRG-050 from BitMEX's definitions ------------------------------------------------------------------------


def prove_account_margin_definitions(k: int, account_margin: Callable[..., margin.AccountMargin]) -> ProofResult:
    """MRG-050 over ``k`` positions, each cross or isolated (its leverage symbolic), from BitMEX's definitions.

    Each position's unrealised PnL is ``markValue − posCost``; a cross ``posMargin`` is ≥ 0, an isolated one any
    sign (funding may take it below zero; the rulebook counts it at ``max(0, posMargin)``, redteam20_2).  Then:

    * margin balance = wallet + Σ unrealised PnL;
    * position margin (BitMEX's): cross ``posMargin``; isolated ``max(0, posMargin) + unrealisedPnl``;
    * available = margin balance − order margin − Σ position margin;
    * the unrealised profit still in the available balance = Σ over cross positions of max(0, unrealisedPnl)
      (an isolated position's PnL, profit or loss, is in its position margin and so already out);
    * withdrawable = max(0, available − that profit).
    """
    with Prover() as prover:
        wallet, order_margin = prover.symbol("wallet"), prover.symbol("order_margin")
        prover.assume(order_margin >= 0, "order margin ≥ 0")
        positions = []
        for i in range(k):
            record = prover.record(margin.PositionMargin, f"p{i}")
            prover.assume(record.leverage_hundredths >= 0, f"p{i}.leverage ≥ 0 (0 = cross)")
            prover.assume(record.unrealised_pnl == record.mark_value - record.pos_cost, f"p{i}: unrealisedPnl = markValue − posCost")
            prover.assume(implies(record.leverage_hundredths == margin.CROSS, record.pos_margin >= 0), f"p{i}: a cross posMargin ≥ 0")
            positions.append(record)
        pnl = [p.mark_value - p.pos_cost for p in positions]
        cross = [p.leverage_hundredths == margin.CROSS for p in positions]
        margin_balance = wallet + sum(pnl, 0)
        position_margin = sum(
            (ite(c, p.pos_margin, ite(p.pos_margin > 0, p.pos_margin, 0) + u) for p, c, u in zip(positions, cross, pnl, strict=True)), 0
        )
        available = margin_balance - order_margin - position_margin
        profit_in_available = sum((ite(c, ite(u > 0, u, 0), 0) for c, u in zip(cross, pnl, strict=True)), 0)
        withdrawable = ite(available - profit_in_available > 0, available - profit_in_available, 0)
        account = account_margin(wallet, tuple(positions), order_margin)
        return prover.prove_all(
            [
                (account.margin_balance == margin_balance, "margin balance = wallet + Σ unrealised PnL"),
                (account.available_margin == available, "available = margin balance − order margin − position margin"),
                (account.withdrawable_margin == withdrawable, "withdrawable = max(0, available − unrealised profit)"),
                (account.cross_unrealised_profit == profit_in_available, "the profit kept back is the cross positions'"),
            ],
            f"MRG-050 definitions k={k}",
        )


# -- MRK-009/010: the protected band, both bounds ---------------------------------------------------------------


def prove_protected_band_exact(symbol: str, kernel: Callable[[Instrument, int], tuple[int, int]]) -> ProofResult:
    """MRK-009: ``fair ± h`` with ``h = ⌊fair × maintMargin / 2⌋`` exactly: ``2h ≤ fair × maint < 2(h + 1)``.

    Both bounds: a band wider than half a maintenance margin each way fails the first, a narrower one (the half
    width halved) the second; the band is symmetric about the fair price.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        fair = prover.symbol("fair_price")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        low, high = kernel(inst, fair)
        half = high - fair
        exact = fair * inst.maint_margin_ppm
        return prover.prove(
            all_of(fair - low == half, 2 * PPM * half <= exact, exact < 2 * PPM * (half + 1)), f"MRK-009 exact {symbol}"
        )


def prove_last_price_protected_exact(symbol: str, kernel: Callable[[Instrument, int, int], int]) -> ProofResult:
    """MRK-010: the protected last price is ``clamp(last, fair − h, fair + h)``, ``h`` MRK-009's exact half width
    (defined here by its two bounds, not by the rule's band)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        last, fair, half = prover.symbol("last_price"), prover.symbol("previous_fair_price"), prover.symbol("half_width")
        prover.assume(and_(fair > 0, fair <= inst.max_price), "0 < fair ≤ maxPrice")
        prover.assume(last > 0, "last > 0")
        exact = fair * inst.maint_margin_ppm
        prover.assume(and_(2 * PPM * half <= exact, exact < 2 * PPM * (half + 1)), "h = ⌊fair × maintMargin / 2⌋")
        expected = ite(last < fair - half, fair - half, ite(last > fair + half, fair + half, last))
        return prover.prove(kernel(inst, last, fair) == expected, f"MRK-010 exact {symbol}")


# -- LIQ-014: what the check is for --------------------------------------------------------------------------


def prove_partial_feasible_means_safe(symbol: str, kernel: Callable[..., bool]) -> ProofResult:
    """LIQ-014 over a reduction of a pool: feasible exactly when it closes something, the pool at mark covers the new
    tier, and the reduction executed at the limit price leaves the pool at the new tier's maintenance.

    The pool: equity at mark ``E`` (its margin and every member's PnL), the other members' maintenance ``O``, the
    kept position's maintenance at the tier below ``M`` (LIQ-010's ``new_maintenance``).  The reduction is any
    whole-lot part of the position (LIQ-010's record: ``headroom = E − O − M`` and ``closed_mark_value`` what the
    closed part adds to the pool's equity at mark, as :class:`rules.liquidation.PartialReduction` defines them).
    The pool after the reduction is ACC-003's fill of ``−close_qty`` at the limit price: ``E`` + the realised PnL +
    the kept position's equity term at mark − the old position's; it is not the rule's residual.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        held = prover.record(Position, "position")
        equity, others, new_maintenance = prover.symbol("pool_equity"), prover.symbol("other_maintenance"), prover.symbol("new_maintenance")
        close_qty, mark_price, limit = prover.symbol("close_qty"), prover.symbol("mark_price"), prover.symbol("limit_price")
        assume_well_formed(prover, inst, held, "position")
        prover.assume(close_qty % inst.lot_size == 0, "close_qty in whole lots")
        prover.assume(
            or_(
                and_(held.qty >= 0, and_(close_qty >= 0, close_qty <= held.qty)),
                and_(held.qty < 0, and_(close_qty <= 0, close_qty >= held.qty)),
            ),
            "a reduction signed like the position, at most the position (LIQ-008)",
        )
        assume_valid_price(prover, inst, mark_price, "mark_price")
        assume_valid_price(prover, inst, limit, "limit_price")
        prover.assume(and_(others >= 0, new_maintenance >= 0), "maintenance ≥ 0")
        kept_qty = held.qty - close_qty
        closed_mark_value = contract.compute_value(inst, held.qty, mark_price) - contract.compute_value(inst, kept_qty, mark_price)
        reduction = liquidation.PartialReduction(
            close_qty=close_qty, kept=Position(), new_tier=0, new_maintenance=new_maintenance,
            headroom=equity - others - new_maintenance, closed_mark_value=closed_mark_value,
        )  # fmt: skip
        kept, realised = apply_fill(inst, held, -close_qty, limit)
        term_before = contract.compute_value(inst, held.qty, mark_price) - held.cost
        term_after = contract.compute_value(inst, kept.qty, mark_price) - kept.cost
        after = equity + realised + term_after - term_before
        safe = and_(and_(close_qty != 0, equity >= others + new_maintenance), after >= others + new_maintenance)
        return prover.prove(iff(kernel(inst, reduction, limit), safe), f"LIQ-014 property {symbol}")


def _partial_feasible_without_residual(inst: Instrument, reduction: liquidation.PartialReduction, limit_price: int) -> bool:
    """KNOWN-BAD LIQ-014: the residual clause dropped (a limit price at which the fill leaves the pool short passes)."""
    del inst, limit_price
    return and_(reduction.headroom >= 0, reduction.close_qty != 0)


def _partial_feasible_without_close(inst: Instrument, reduction: liquidation.PartialReduction, limit_price: int) -> bool:
    """KNOWN-BAD LIQ-014: the "closes something" clause dropped (an empty FillOrKill counts as a step down)."""
    at_limit = liquidation.compute_pool_residual(inst, reduction.close_qty, reduction.closed_mark_value, reduction.headroom, limit_price)
    return and_(reduction.headroom >= 0, at_limit >= 0)


def _partial_feasible_without_headroom(inst: Instrument, reduction: liquidation.PartialReduction, limit_price: int) -> bool:
    """KNOWN-BAD LIQ-014: the headroom clause dropped (a pool that cannot afford the new tier at mark passes)."""
    at_limit = liquidation.compute_pool_residual(inst, reduction.close_qty, reduction.closed_mark_value, reduction.headroom, limit_price)
    return and_(reduction.close_qty != 0, at_limit >= 0)


def _register() -> None:
    p = functools.partial
    safe = "INV-WITHDRAW-SAFE"
    for k in (1, 2, 3):
        add(f"MRG-050/bitmex-definitions/k={k}", "MRG-050", safe,
            "Margin balance, available and withdrawable balance are BitMEX's definitions: available = wallet + Σ PnL − "
            "order margin − Σ position margin (cross posMargin; isolated max(0, posMargin) + PnL), withdrawable = "
            "max(0, available − Σ cross unrealised profit); each position cross or isolated.",
            p(prove_account_margin_definitions, k, margin.compute_account_margin), bounded=f"k = {k} positions")
    add("MRG-050/available-without-order-margin/k=1", "MRG-050", safe,
        "the available balance without the order margin (redteam25 M4: a withdrawal takes margin reserved for orders).",
        p(prove_account_margin_definitions, 1, bad.compute_account_margin_without_order_margin), expect="refuted",
        bounded="k = 1 positions")
    add("MRG-050/isolated-profit-as-cross-profit/k=1", "MRG-050", safe,
        "an isolated position's unrealised profit kept back as cross profit (redteam25 M3).",
        p(prove_account_margin_definitions, 1, bad.compute_account_margin_isolated_profit_as_cross), expect="refuted",
        bounded="k = 1 positions")
    band = "BAND-INWARD"
    for symbol in SYMBOLS:
        add(f"MRK-009/exact-half-width/{symbol}", "MRK-009", band,
            "The protected band is the fair price ± ⌊fair × maintMargin / 2⌋ exactly (both bounds, symmetric).",
            p(prove_protected_band_exact, symbol, mark.compute_protected_band))
        add(f"MRK-009/half-width-halved/{symbol}", "MRK-009", band, "the half width halved (redteam25 MK9).",
            p(prove_protected_band_exact, symbol, bad.compute_protected_band_half_width_halved), expect="refuted")
        add(f"MRK-010/exact/{symbol}", "MRK-010", band,
            "The protected last price is the last price clamped to fair ± ⌊fair × maintMargin / 2⌋, written out.",
            p(prove_last_price_protected_exact, symbol, mark.compute_last_price_protected))
        add(f"MRK-010/half-width-halved/{symbol}", "MRK-010", band, "clamped to a band of half the width (redteam25 MK9).",
            p(prove_last_price_protected_exact, symbol, bad.compute_last_price_protected_half_width_halved), expect="refuted")
        add(f"LIQ-014/feasible-means-safe/{symbol}", "LIQ-014", "INV-NO-FALSE-LIQUIDATION",
            "For any whole-lot reduction of a pool: feasible exactly when it closes something, the pool's equity at "
            "mark covers the others' maintenance and the kept position's at the tier below, and the reduction "
            "executed at the limit price (ACC-003's fill) leaves the pool at or above that maintenance.",
            p(prove_partial_feasible_means_safe, symbol, liquidation.is_partial_feasible))
        add(f"LIQ-014/residual-dropped/{symbol}", "LIQ-014", "INV-NO-FALSE-LIQUIDATION", "the residual-at-the-limit clause dropped.",
            p(prove_partial_feasible_means_safe, symbol, _partial_feasible_without_residual), expect="refuted")
        add(f"LIQ-014/close-dropped/{symbol}", "LIQ-014", "INV-NO-FALSE-LIQUIDATION", "the closes-something clause dropped.",
            p(prove_partial_feasible_means_safe, symbol, _partial_feasible_without_close), expect="refuted")
        add(f"LIQ-014/headroom-dropped-property/{symbol}", "LIQ-014", "INV-NO-FALSE-LIQUIDATION", "the headroom clause dropped.",
            p(prove_partial_feasible_means_safe, symbol, _partial_feasible_without_headroom), expect="refuted")


_register()
