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

from perpspec.proofs import lemmas
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
from perpspec.rules.position import Position, apply_fill, is_opposite


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
        # ACC-003 keeps ⌊cost · kept / qty⌋ of the cost; against the kept part's value (each lemma proved on
        # its own) the realised PnL is at least (close / qty) · (value(qty) − cost) ≥ 0
        kept, divisor = _kept_terms(position.qty, -close)
        whole_value, kept_value = compute_value(inst, position.qty, bankruptcy), compute_value(inst, kept, bankruptcy)
        prover.use(lemmas.value_proportional(inst), kept, divisor, bankruptcy)
        prover.use(lemmas.value_additive(inst), kept - position.qty, position.qty, bankruptcy)
        prover.use(lemmas.KEPT_COST_AT_LEAST, position.cost, kept, divisor, whole_value, kept_value)
        return prover.prove(realised >= 0, f"ADL-003 eligible candidate does not lose {symbol} side {engine_side}")


def _kept_terms(old_qty: int, fill_qty: int) -> tuple[int, int]:
    """ACC-003's kept quantity and the divisor of its kept cost, built as :func:`apply_fill` builds them.

    The same terms (z3 shares equal terms), so that lemma instances about them speak of the rule's own
    terms; a mismatch would only make the proof slower, never wrong.
    """
    new_qty = old_qty + fill_qty
    kept_qty = ite(is_opposite(old_qty, fill_qty), ite(abs_(fill_qty) > abs_(old_qty), 0, new_qty), old_qty)
    return kept_qty, ite(old_qty == 0, 1, old_qty)


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
