"""Inductive, per-step proofs that turn bounded obligations into proofs for any number of items.

A rule that folds over a tuple (``for item in items: state = step(state, item)``)
holds for *any* length when an invariant holds initially and one step from an
*arbitrary* state satisfying it preserves it.  The step is the rule's own code
called with a one-item tuple from a symbolic starting state: the loops below
carry no state other than their accumulator, so one call with one item is one
iteration, and a call with ``k`` items is ``k`` such iterations in order.

* **ADL-010** (was k ≤ 8): the ranked queue gives each candidate 0..its size and
  never more than the unfilled lots in total — invariant
  ``0 ≤ remaining ∧ given + remaining = unfilled`` over the prefix;
* **ADL-031** (was k ≤ 4): fund cover = fund + Σ held PnL — invariant
  ``total = fund + Σ prefix``;
* **MRG-032** (was k ≤ 4): cross excess = wallet + Σ PnL − Σ maintenance —
  invariant ``total = wallet + Σ PnL prefix − Σ maintenance prefix`` over both loops.

What stays bounded, and why: ADL-011 pro-rata (k ≤ 7) needs the total of all
sizes before its first share and hands out leftover lots in a second pass, so
its loop state is not a simple accumulator; ADL-020 (k ≤ 8) closes every
candidate against one engine position whose bound depends on the sum of the
allocation; FND-008 (k = 3 holders) and SET-003/004 carry a rounding residue
shared by all holders; IDX-001 divides once after both sums; MRG-033/050 and
the k-bounded MRG-042/MRK-001 walks are stated for k ≤ 3..5.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Expectation, Obligation, register
from perpspec.proofs.sym import all_of
from perpspec.rules.adl import compute_fund_cover, compute_queue_allocation
from perpspec.rules.margin import compute_cross_margin_excess
from perpspec.rules.num import max_

OBLIGATIONS: list[Obligation] = []


def _add(id: str, rule_id: str, invariant_id: str, statement: str, run: Callable[[], ProofResult], expect: Expectation = "proved") -> None:
    OBLIGATIONS.append(
        register(
            Obligation(
                id=id if expect == "proved" else f"KNOWN-BAD/{id}",
                rule_id=rule_id,
                invariant_id=invariant_id,
                statement=statement if expect == "proved" else f"Known-bad: {statement}",
                run=run,
                expect=expect,
                timeout_ms=60_000,
            )
        )
    )


def _queue_without_cap(sizes: Sequence[int], unfilled: int) -> tuple[int, ...]:
    """KNOWN-BAD ADL-010: every candidate closes its whole size (the cap at the remaining lots dropped)."""
    del unfilled
    return tuple(max_(size, 0) for size in sizes)


def prove_queue_step(allocate: Callable[[Sequence[int], int], tuple[int, ...]]) -> ProofResult:
    """ADL-010 inductive step: one more candidate keeps 0 ≤ take ≤ size, remaining ≥ 0 and given + remaining = unfilled."""
    with Prover() as prover:
        unfilled, given, remaining, size = (prover.symbol(n) for n in ("unfilled_lots", "given_so_far", "remaining", "size"))
        prover.assume(all_of(unfilled >= 0, given >= 0, remaining >= 0, given + remaining == unfilled), "invariant over the prefix")
        prover.assume(size >= 0, "size ≥ 0")
        (take,) = allocate((size,), remaining)  # one iteration from the prefix's state
        after_given, after_remaining = given + take, remaining - take
        # the empty prefix (given 0, remaining = unfilled ≥ 0) satisfies the invariant by the assumption's shape
        return prover.prove(
            all_of(take >= 0, take <= size, after_remaining >= 0, after_given + after_remaining == unfilled, after_given <= unfilled),
            "ADL-010 step",
        )


def _cover_profits_only(fund_balance: int, held_pnls: Sequence[int]) -> int:
    """KNOWN-BAD ADL-031: held losses not counted (only profits added to the fund)."""
    total = fund_balance
    for pnl in held_pnls:
        total = total + max_(pnl, 0)
    return total


def prove_cover_step(cover: Callable[[int, Sequence[int]], int]) -> ProofResult:
    """ADL-031 inductive step: from total = fund + S, one more held PnL p gives fund + S + p."""
    with Prover() as prover:
        fund, prefix_sum, pnl = prover.symbol("fund_balance"), prover.symbol("prefix_pnl_sum"), prover.symbol("held_pnl")
        total = fund + prefix_sum  # the invariant over the prefix
        return prover.prove(all_of(cover(fund, ()) == fund, cover(total, (pnl,)) == fund + prefix_sum + pnl), "ADL-031 step")


def _excess_without_maint(wallet: int, pnls: tuple[int, ...], maints: tuple[int, ...]) -> int:
    del maints
    total = wallet
    for pnl in pnls:
        total = total + pnl
    return total


def prove_excess_step(excess: Callable[[int, tuple[int, ...], tuple[int, ...]], int]) -> ProofResult:
    """MRG-032 inductive step: each PnL adds, each maintenance subtracts, from an arbitrary running total."""
    with Prover() as prover:
        wallet, total, pnl, maint = (prover.symbol(n) for n in ("cross_wallet", "running_total", "pnl", "maint"))
        return prover.prove(
            all_of(excess(wallet, (), ()) == wallet, excess(total, (pnl,), ()) == total + pnl, excess(total, (), (maint,)) == total - maint),
            "MRG-032 step",
        )


def _register() -> None:
    p = functools.partial
    _add("ADL-010/ranked-queue/inductive-step", "ADL-010", "INV-ADL-MINIMAL",
         "Any number of candidates: one more candidate from any prefix state keeps each take in 0..size and the total within the unfilled lots.",
         p(prove_queue_step, compute_queue_allocation))
    _add("ADL-010/uncapped/inductive-step", "ADL-010", "INV-ADL-MINIMAL", "each candidate closes its whole size.",
         p(prove_queue_step, _queue_without_cap), expect="refuted")
    _add("ADL-031/cover/inductive-step", "ADL-031", "INV-INSURANCE-NONNEG",
         "Any number of held positions: the cover is the fund plus every held PnL at mark.", p(prove_cover_step, compute_fund_cover))
    _add("ADL-031/profits-only/inductive-step", "ADL-031", "INV-INSURANCE-NONNEG", "held losses not counted.",
         p(prove_cover_step, _cover_profits_only), expect="refuted")
    _add("MRG-032/sum/inductive-step", "MRG-032", "INV-NO-FALSE-LIQUIDATION",
         "Any number of cross positions: excess = wallet + Σ PnL − Σ maintenance.", p(prove_excess_step, compute_cross_margin_excess))
    _add("MRG-032/maint-dropped/inductive-step", "MRG-032", "INV-NO-FALSE-LIQUIDATION", "maintenance dropped.",
         p(prove_excess_step, _excess_without_maint), expect="refuted")


_register()
