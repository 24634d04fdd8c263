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

Each has refuted known-bads: the slips redteam25 planted (M3, M4).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs import known_bad_kernels as bad
from perpspec.proofs.kernels_common import add
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.sym import implies
from perpspec.rules import margin
from perpspec.rules.num import ite

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


_register()
