"""Proof obligations of ADL-003's "not losing at the bankruptcy price" clause (rules/adl.py).

Per symbol (inverse, quanto, linear) and side of the taken-over position,
unbounded: a candidate ADL-003 finds eligible, closed for any number of lots
from one to its size at the bankruptcy price (ACC-003), realises a PnL ≥ 0 —
ADL never makes a position that loses at that price pay for a bankruptcy.

The clause is the only one that gives this: the known-bad variant with the
clause deleted (its other clauses keep every candidate's equity ≥ 0, so the
equity obligations of ADL-020 still hold) is refuted.
"""

from __future__ import annotations

import functools

from perpspec.proofs.known_bad_solvency import is_adl_eligible_without_not_losing
from perpspec.proofs.obligations_waterfall import (
    SLOW_TIMEOUT_MS,
    SYMBOLS,
    EligibilityRule,
    assume_position,
    assume_price,
)
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of
from perpspec.rules.adl import is_adl_eligible
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.num import abs_, ite
from perpspec.rules.position import Position, apply_fill


def prove_eligible_does_not_lose(symbol: str, engine_side: int, eligible_rule: EligibilityRule = is_adl_eligible) -> ProofResult:
    """ADL-003: an eligible candidate closed for 1..size lots at the bankruptcy price realises PnL ≥ 0."""
    inst = load_instrument(symbol)
    lot = inst.lot_size
    with Prover() as prover:
        bankruptcy, mark = prover.symbol("bankruptcy_price"), prover.symbol("mark_price")
        assume_price(prover, inst, bankruptcy, "bankruptcy price")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        position = prover.record(Position, "candidate")
        margin, lots = prover.symbol("candidate.margin"), prover.symbol("candidate.lots")
        assume_position(prover, inst, position, "candidate")
        equity = margin + compute_value(inst, position.qty, mark) - position.cost
        prover.assume(
            eligible_rule(inst, position.qty, position.cost, equity, mark, engine_side * lot, bankruptcy), "eligible"
        )
        prover.assume(all_of(lots >= 1, lots <= abs_(position.qty) // lot), "closes 1..size lots")
        close = ite(position.qty > 0, lots, -lots) * lot
        _, realised = apply_fill(inst, position, -close, bankruptcy)
        return prover.prove(realised >= 0, f"ADL-003 eligible candidate does not lose {symbol} side {engine_side}")


def _register() -> None:
    for symbol in SYMBOLS:
        for side, side_name in ((1, "long"), (-1, "short")):
            register(
                Obligation(
                    id=f"ADL-003/eligible-does-not-lose/{symbol}/engine-{side_name}",
                    rule_id="ADL-003",
                    invariant_id="INV-ADL-NOT-LOSING",
                    statement=(
                        f"A {symbol} position ADL-003 finds eligible against a taken-over {side_name}, closed for any "
                        "number of lots up to its size at the bankruptcy price, realises a PnL ≥ 0."
                    ),
                    run=functools.partial(prove_eligible_does_not_lose, symbol, side),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
            register(
                Obligation(
                    id=f"KNOWN-BAD/ADL-003/without-not-losing-clause/{symbol}/engine-{side_name}",
                    rule_id="ADL-003",
                    invariant_id="INV-ADL-NOT-LOSING",
                    statement=(
                        "Known-bad: without the not-losing clause an eligible candidate can be closed at a realised loss "
                        "(its equity stays ≥ 0, so only this obligation notices)."
                    ),
                    run=functools.partial(prove_eligible_does_not_lose, symbol, side, is_adl_eligible_without_not_losing),
                    expect="refuted",
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )


_register()
