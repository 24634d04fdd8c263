"""Proof obligations of LIQ-049 (rules/solvency.py): a sweep's next fill is judged from the state the engine holds.

A sweep fills one order against several makers; LIQ-044 judges each fill from a :class:`rules.solvency.PoolState`,
and for every fill after the first that state is the one LIQ-049 (``apply_fill_to_pool``) carried over from the
fill before.  LIQ-044's obligations are proved for any pool built from an account the way the engine builds it
(:class:`proofs.obligations_solvency._Account`); so they cover a later fill only if the carried state *is* that
pool after the fill as posted.

Per instrument kind (inverse XBTUSD, quanto ETHUSD, linear XBTUSDT) and margin mode (cross, isolated),
unbounded (whole lots, prices on the tick grid in ``(0, maxPrice]``, the mark anywhere in ``(0, maxPrice]``,
fee rates in ``(−100%, 100%)``):

* **LIQ-049 the carried pool is the posted pool** — after any fill, posted the way the engine posts it (ACC-003
  position and realised PnL, ACC-002 commission into the wallet, ACC-006 isolated margin), the pool LIQ-049
  carries has the posted position, pool margin, free wallet (the wallet less the other isolated margins) and
  account equity at mark, the same pool equity at mark (LIQ-048), and the fields no fill moves unchanged.  The
  posted state is computed from the postings, independently of LIQ-040's formulas.

Known-bad variants (each expected refuted): the free wallet carried without the commission; the account equity
carried unchanged from before the fill.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs.known_bad_solvency import (
    apply_fill_to_pool_keeping_account_equity,
    apply_fill_to_pool_without_commission,
)
from perpspec.proofs.obligations_solvency import _Account, _assume_fee, _plain_witness, premium_as_posted
from perpspec.proofs.obligations_waterfall import SLOW_TIMEOUT_MS, SYMBOLS, assume_price
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.position import apply_fill, compute_commission
from perpspec.rules.solvency import PoolState, apply_fill_to_pool, compute_pool_equity

MODES = (("cross", CROSS), ("isolated", 10_000))
CarryRule = Callable[[Instrument, PoolState, int, int, int, int], PoolState]


def prove_carried_pool_is_posted(symbol: str, leverage: int, carry: CarryRule = apply_fill_to_pool) -> ProofResult:
    """LIQ-049: the pool carried to the next fill equals the pool after the fill as the engine posts it."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.witness(**_plain_witness(inst, -1, ("mark_price", "price"), "fill_qty"))
        mark, price = prover.symbol("mark_price"), prover.symbol("price")
        fill_qty, fee = prover.symbol("fill_qty"), prover.symbol("fee_ppm")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, price, "fill price")
        prover.assume(all_of(fill_qty != 0, fill_qty % inst.lot_size == 0), "fill in whole lots")
        _assume_fee(prover, fee)
        account = _Account(prover, inst, leverage, mark)
        before = account.pool
        carried = carry(inst, before, fill_qty, price, fee, mark)
        equity_after, pool_after, margin_after = account.post(fill_qty, price, fee)
        after, realised = apply_fill(inst, account.position, fill_qty, price)
        commission = compute_commission(compute_notional(inst, fill_qty, price), fee)
        if not account.is_cross:
            prover.use(premium_as_posted(inst), account.position.qty, after.qty, price, mark)
        return prover.prove(
            all_of(
                carried.position.qty == after.qty,
                carried.position.cost == after.cost,
                carried.pool_margin == margin_after,
                carried.free_wallet == account.wallet + realised - commission - account.other_iso,
                carried.account_equity == equity_after,
                compute_pool_equity(inst, carried, mark) == pool_after,
                carried.leverage_hundredths == before.leverage_hundredths,
                carried.chosen_tier == before.chosen_tier,
                carried.other_pnl == before.other_pnl,
                carried.other_maintenance == before.other_maintenance,
                carried.available == 0,  # [I] the next fill's MRG-050 available is not LIQ-040's: a lower bound
                account.premium_posted_as_rules,
            ),
            f"LIQ-049 carried pool is the posted pool {symbol} leverage {leverage}",
        )


def _register() -> None:
    for symbol in SYMBOLS:
        for mode, leverage in MODES:
            register(
                Obligation(
                    id=f"LIQ-049/carried-pool-is-posted/{symbol}/{mode}",
                    rule_id="LIQ-049",
                    invariant_id="INV-NO-NEG-EQUITY",
                    statement=(
                        f"After {'an' if mode == 'isolated' else 'a'} {mode} {symbol} fill, posted as the engine posts "
                        "it (ACC-003, ACC-002, ACC-006), the pool LIQ-049 carries to the sweep's next fill has the "
                        "posted position, pool margin, free wallet and account equity (and the same pool equity at "
                        "mark): LIQ-044's check of that fill judges the state the engine holds."
                    ),
                    run=functools.partial(prove_carried_pool_is_posted, symbol, leverage),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-049/free-wallet-without-commission/{symbol}",
                rule_id="LIQ-049",
                invariant_id="INV-NO-NEG-EQUITY",
                statement="Known-bad: the free wallet carried to the next fill without the commission the fill paid.",
                run=functools.partial(prove_carried_pool_is_posted, symbol, CROSS, apply_fill_to_pool_without_commission),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-049/account-equity-kept/{symbol}",
                rule_id="LIQ-049",
                invariant_id="INV-NO-NEG-EQUITY",
                statement="Known-bad: the account's equity carried to the next fill as it was before the fill.",
                run=functools.partial(
                    prove_carried_pool_is_posted, symbol, 10_000, apply_fill_to_pool_keeping_account_equity
                ),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )


_register()
