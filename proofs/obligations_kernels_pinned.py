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

Each has refuted known-bads: the slips redteam25 planted (M3, M4, MK9).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.kernels_common import SYMBOLS, add
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.sym import all_of, implies
from perpspec.rules import margin, mark
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import PPM, and_, ite

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


_register()
