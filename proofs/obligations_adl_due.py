"""Proof obligations of ADL-032: when a held close-out is deleveraged (rules/adl.py ``is_adl_due``).

Per symbol (inverse, quanto, linear) and side of the close-out the liquidation
engine holds, unbounded: a close-out ADL-032 calls due has a PnL at mark ≤ 0,
and every opposing position closed against it at its bankruptcy price gives up
a haircut ≥ 0 (ADL-004) — ADL gives the fund's profit to no one.  One close
suffices for any number of candidates and either policy: each fill's haircut
depends on its own quantity, the mark and the bankruptcy price only.

The known-bad variant is the rule until session 16 (red team 15): every held
close-out deleveraged once the fund's cover (ADL-031) is < 0, which closes one
in profit at mark with a negative haircut, the held profit handed to a trader;
it is refuted.  Split out of :mod:`proofs.obligations_waterfall`, whose
assumptions (prices, the symbols, the timeout) it shares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs.known_bad_waterfall import is_adl_due_on_cover_only
from perpspec.proofs.obligations_waterfall import SLOW_TIMEOUT_MS, SYMBOLS, assume_price, prove_each
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of
from perpspec.rules.adl import compute_haircut, compute_held_pnl, is_adl_due
from perpspec.rules.instrument_file import load_instrument

DueRule = Callable[[int, int, int, int], bool]


def prove_adl_due_gives_nothing_away(symbol: str, engine_side: int, due_rule: DueRule = is_adl_due) -> ProofResult:
    """ADL-032: a held close-out ADL takes has a PnL at mark ≤ 0, and every opposing close against it a haircut ≥ 0.

    One close suffices for any number of candidates and either policy: each AdlFill's haircut (ADL-004) depends
    on its own quantity, the mark and the bankruptcy price only.
    """
    inst = load_instrument(symbol)
    lot = inst.lot_size
    with Prover() as prover:
        bankruptcy, mark, cover = prover.symbol("bankruptcy_price"), prover.symbol("mark_price"), prover.symbol("fund_cover")
        held, lots = prover.symbol("held_lots"), prover.symbol("close_lots")
        assume_price(prover, inst, bankruptcy, "bankruptcy price")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        prover.assume(held >= 1, "the liquidation engine holds a close-out")
        prover.assume(all_of(lots >= 1, lots <= held), "an opposing position closes 1..the held lots")
        held_qty = engine_side * held * lot
        close_qty = -engine_side * lots * lot  # signed like the opposing position it closes
        prover.assume(due_rule(held_qty, bankruptcy, mark, cover), "ADL-032: deleveraged")
        return prove_each(prover, [
            (compute_held_pnl(inst, held_qty, bankruptcy, mark) <= 0, f"ADL-032 held PnL at mark ≤ 0 {symbol}"),
            (compute_haircut(inst, close_qty, mark, bankruptcy) >= 0, f"ADL-032 haircut ≥ 0 {symbol}"),
        ])  # fmt: skip


def _register() -> None:
    for symbol in SYMBOLS:
        for side, side_name in ((1, "long"), (-1, "short")):
            register(
                Obligation(
                    id=f"ADL-032/gives-nothing-away/{symbol}/engine-{side_name}",
                    rule_id="ADL-032",
                    invariant_id="INV-ADL-MINIMAL",
                    statement=(
                        f"A held {symbol} {side_name} is deleveraged only with its PnL at mark ≤ 0, and every opposing "
                        "position closed against it gives up a haircut ≥ 0 (ADL gives the fund's profit to no one)."
                    ),
                    run=functools.partial(prove_adl_due_gives_nothing_away, symbol, side),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
            register(
                Obligation(
                    id=f"KNOWN-BAD/ADL-032/cover-only/{symbol}/engine-{side_name}",
                    rule_id="ADL-032",
                    invariant_id="INV-ADL-MINIMAL",
                    statement=(
                        "Known-bad (the rule until session 16): deleveraging every held close-out once the cover is "
                        "< 0 closes one in profit at mark, a negative haircut: the held profit handed to a trader."
                    ),
                    run=functools.partial(prove_adl_due_gives_nothing_away, symbol, side, is_adl_due_on_cover_only),
                    expect="refuted",
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )


_register()
