"""Proof obligations of LIQ-054 (rules/solvency.py): no fill leaves a cross pool owing with no position to liquidate.

Per instrument kind (inverse XBTUSD, quanto ETHUSD, linear XBTUSDT) and margin mode (cross, isolated),
unbounded (any integers satisfying: whole lots, prices on the tick grid in ``(0, maxPrice]``, the mark anywhere
in ``(0, maxPrice]``, fee rates in ``(−100%, 100%)``, any number of other open cross positions):

* **LIQ-054 accepted fill keeps the free wallet** — a fill LIQ-054 accepts, posted the way the engine posts it
  (ACC-003 position and realised PnL, ACC-002 commission into the wallet, ACC-006 isolated margin), leaves the
  free wallet (the wallet less every isolated margin in the currency) ≥ 0, or no lower than the cross pool's
  equity at mark was — the latter only where no cross position was open before either —, whenever no cross
  position in the currency is open after it.  The free wallet after is
  computed from the postings, independently of LIQ-040's formulas.

Known-bad variants (each expected refuted): the check against the free wallet before instead of the cross pool's
equity (it accepts closing, below the mark, the cross position whose profit backed the isolated margins: the
first version of the rule, caught by tests/test_free_wallet.py); the check that forgets the isolated pool's own
margin after the fill; session 7's comparison, which allowed "no lower than before" for a fill closing the last
cross position (tests/test_mut_s8_carried_cross_close_owing.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs.obligations_solvency import _Account, _assume_fee, _plain_witness, premium_as_posted
from perpspec.proofs.obligations_waterfall import SLOW_TIMEOUT_MS, SYMBOLS, assume_price
from perpspec.proofs.prover import ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of, implies
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.num import and_, ite, not_, or_
from perpspec.rules.position import apply_fill, compute_commission
from perpspec.rules.solvency import (
    PoolState,
    compute_cross_draw,
    compute_fill_outcome,
    compute_free_wallets,
    is_cross_pool_kept,
    is_fill_free_wallet_kept,
    is_free_wallet_kept,
)

MODES = (("cross", CROSS), ("isolated", 10_000))
FreeWalletRule = Callable[[Instrument, PoolState, int, int, int, int, int], bool]


def prove_free_wallet_kept(
    symbol: str, leverage: int, rule: FreeWalletRule = is_fill_free_wallet_kept, witness: dict[str, int] | None = None
) -> ProofResult:
    """LIQ-054: an accepted fill, as posted, leaves no position-less cross pool below zero (or below its equity).

    ``witness``: a counterexample to check by evaluation first (known-bad variants); else an ordinary account.
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.witness(**(witness or {**_plain_witness(inst, -1, ("mark_price", "price"), "fill_qty"), "other_cross_open": 0}))
        mark, price = prover.symbol("mark_price"), prover.symbol("price")
        fill_qty, fee = prover.symbol("fill_qty"), prover.symbol("fee_ppm")
        other_cross_open = prover.symbol("other_cross_open")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, price, "fill price")
        prover.assume(all_of(fill_qty != 0, fill_qty % inst.lot_size == 0), "fill in whole lots")
        _assume_fee(prover, fee)
        prover.assume(other_cross_open >= 0, "other open cross positions ≥ 0")
        account = _Account(prover, inst, leverage, mark)
        prover.assume(
            implies(other_cross_open == 0, all_of(account.other_cross_pnl == 0, account.other_maint == 0)),
            "no other open cross position: no other cross PnL or maintenance",
        )
        prover.assume(rule(inst, account.pool, fill_qty, price, fee, mark, other_cross_open), "LIQ-054 accepts the fill")
        # the engine's postings (independently of LIQ-040): the wallet after, the isolated margin after
        after, realised = apply_fill(inst, account.position, fill_qty, price)
        commission = compute_commission(compute_notional(inst, fill_qty, price), fee)
        wallet_after = account.wallet + realised - commission
        _, _, margin_after = account.post(fill_qty, price, fee)
        own_pnl = compute_value(inst, account.position.qty, mark) - account.position.cost
        if account.is_cross:
            free_after = wallet_after - account.other_iso
            cross_before = account.wallet - account.other_iso + account.other_cross_pnl + own_pnl
            cross_open_after = or_(other_cross_open > 0, after.qty != 0)
            cross_open_before = or_(other_cross_open > 0, account.position.qty != 0)
        else:
            prover.use(premium_as_posted(inst), account.position.qty, account.position.qty + fill_qty, price, mark)
            free_after = wallet_after - account.other_iso - margin_after
            cross_before = account.wallet - account.other_iso - account.iso_margin + account.other_cross_pnl
            cross_open_after = other_cross_open > 0
            cross_open_before = other_cross_open > 0
        # "no lower than before" only where no cross position was open before either: closing the last one must
        # leave the free wallet ≥ 0 (an owing cross pool is the waterfall's, session 8)
        return prover.prove(
            and_(
                or_(cross_open_after, or_(free_after >= 0, and_(not_(cross_open_before), free_after >= cross_before))),
                account.premium_posted_as_rules,
            ),
            f"LIQ-054 accepted fill keeps the free wallet {symbol} leverage {leverage}",
        )


def _kept_against_the_margin(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int, other_cross_open: int
) -> bool:
    """KNOWN-BAD LIQ-054: compared with the free wallet before, not the cross pool's equity (its PnL forgotten)."""
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    is_cross = pool.leverage_hundredths == CROSS
    before = ite(is_cross, pool.pool_margin, pool.free_wallet - pool.pool_margin)
    after = ite(is_cross, outcome.pool_margin, pool.free_wallet + outcome.realised - outcome.commission - outcome.pool_margin)
    cross_open = or_(other_cross_open > 0, and_(is_cross, outcome.position.qty != 0))
    return is_free_wallet_kept(before, after, cross_open)


# Counterexamples to the known-bad "without the pool", found by the solver once (0.4 s to 7.6 s of CPU) and kept:
# each is checked by evaluation (it must satisfy every assumption and violate the goal), so the refutation needs no
# search; a rule change that makes one miss an assumption sends the known-bad back to the solver.
WITHOUT_THE_POOL_COUNTEREXAMPLES: dict[str, dict[str, int]] = {
    "XBTUSD": {
        "mark_price": 1, "price": 99999950, "fill_qty": 200, "fee_ppm": 499950, "other_cross_open": 0,
        "position.qty": -100, "position.cost": 2, "wallet": 108, "other_isolated_margins": 0, "other_pnl": 0,
        "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 0,
    },
    "ETHUSD": {
        "mark_price": 2, "price": 5, "fill_qty": -2, "fee_ppm": 300001, "other_cross_open": 0, "position.qty": 1,
        "position.cost": 0, "wallet": 0, "other_isolated_margins": 0, "other_pnl": 0, "other_cross_pnl": 0,
        "other_maintenance": 0, "isolated_margin": 0,
    },
    "XBTUSDT": {
        "mark_price": 999999999, "price": 1000000000, "fill_qty": 49000, "fee_ppm": 999999, "other_cross_open": 0,
        "position.qty": 1000, "position.cost": 1000000000001, "wallet": 489999510000, "other_isolated_margins": 0,
        "other_pnl": 0, "other_cross_pnl": 0, "other_maintenance": 0, "isolated_margin": 535850535001,
    },
}


def _kept_without_the_pool(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int, other_cross_open: int
) -> bool:
    """KNOWN-BAD LIQ-054: the isolated pool's own margin after the fill forgotten (the wallet judged whole)."""
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    before = pool.free_wallet - pool.pool_margin
    after = pool.free_wallet + outcome.realised - outcome.commission
    return is_free_wallet_kept(before, after, other_cross_open > 0)


def _kept_no_lower_after_a_close(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int, other_cross_open: int
) -> bool:
    """KNOWN-BAD LIQ-054: session 7's comparison, "no lower than before" also for a fill closing the last cross
    position (a carried cross pool below zero closed above the mark left the account flat and owing)."""
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    before, after = compute_free_wallets(inst, pool, outcome, mark_price)
    is_cross = pool.leverage_hundredths == CROSS
    cross_open = or_(other_cross_open > 0, and_(is_cross, outcome.position.qty != 0))
    return is_free_wallet_kept(before, after, cross_open)


def prove_cross_draw(draw: Callable[[int, int, int, int], int]) -> ProofResult:
    """LIQ-053's ``moved`` is what the cross pool loses: an isolated fill (margin ``m0`` → ``m1``, realised ``r``,
    commission ``f``; the free wallet moves by ``r − f``) that LIQ-053 accepts with ``draw``'s measure leaves the
    cross pool (free wallet − margin, plus its PnL) at or above maintenance, or takes nothing from it."""
    with Prover() as prover:
        equity, maint = prover.symbol("cross_equity"), prover.symbol("cross_maintenance")
        free, m0, m1 = prover.symbol("free_wallet"), prover.symbol("margin_before"), prover.symbol("margin_after")
        realised, commission = prover.symbol("realised"), prover.symbol("commission")
        prover.assume(maint >= 0, "maintenance ≥ 0")
        free_after = free + realised - commission
        lost = (free - m0) - (free_after - m1)  # the cross pool's margin before less after
        accepted = is_cross_pool_kept(equity, maint, draw(free, m0, free_after, m1))
        return prover.prove(implies(accepted, or_(lost <= 0, equity - lost >= maint)), "LIQ-053 draw")


def _margin_change_only(free_before: int, margin_before: int, free_after: int, margin_after: int) -> int:
    """KNOWN-BAD LIQ-053 (redteam29_2): ``moved`` as the isolated margin's change only, the realised loss the
    wallet pays on a flip or full close not counted."""
    del free_before, free_after
    return margin_after - margin_before


def _register() -> None:
    register(
        Obligation(
            id="LIQ-053/cross-draw",
            rule_id="LIQ-053",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "LIQ-053's moved, compute_cross_draw (Δ isolated margin − realised + commission), is what the cross "
                "pool loses: a fill it accepts leaves the cross pool at or above maintenance or takes nothing."
            ),
            run=functools.partial(prove_cross_draw, compute_cross_draw),
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/LIQ-053/margin-change-only",
            rule_id="LIQ-053",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "Known-bad (redteam29_2): moved as the isolated margin's change only lets a flip's realised loss "
                "take the cross pool below maintenance."
            ),
            run=functools.partial(prove_cross_draw, _margin_change_only),
            expect="refuted",
        )
    )
    for symbol in SYMBOLS:
        for mode, leverage in MODES:
            register(
                Obligation(
                    id=f"LIQ-054/accepted-fill-keeps-free-wallet/{symbol}/{mode}",
                    rule_id="LIQ-054",
                    invariant_id="INV-NO-NEG-EQUITY",
                    statement=(
                        f"{'An' if mode == 'isolated' else 'A'} {mode} {symbol} fill accepted by LIQ-054, posted as the engine posts it (ACC-003, ACC-002, "
                        "ACC-006), leaves the free wallet (wallet − Σ isolated margins) ≥ 0, or — only where no cross "
                        "position was open before either — no lower than the cross pool's equity at mark was, whenever "
                        "no cross position in the currency is left open."
                    ),
                    run=functools.partial(prove_free_wallet_kept, symbol, leverage),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-054/against-the-margin/{symbol}",
                rule_id="LIQ-054",
                invariant_id="INV-NO-NEG-EQUITY",
                statement=(
                    "Known-bad: a cross fill judged against the free wallet before, not the cross pool's equity, "
                    "closes below the mark the cross position whose profit backed the isolated margins."
                ),
                run=functools.partial(prove_free_wallet_kept, symbol, CROSS, _kept_against_the_margin),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-054/no-lower-after-a-close/{symbol}",
                rule_id="LIQ-054",
                invariant_id="INV-NO-NEG-EQUITY",
                statement=(
                    "Known-bad: a cross fill closing the last cross position allowed when the free wallet after is "
                    "below zero but no lower than the cross pool's equity was, which leaves the account owing with "
                    "nothing to liquidate."
                ),
                run=functools.partial(prove_free_wallet_kept, symbol, CROSS, _kept_no_lower_after_a_close),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-054/without-the-pool/{symbol}",
                rule_id="LIQ-054",
                invariant_id="INV-NO-NEG-EQUITY",
                statement=(
                    "Known-bad: an isolated fill judged on the wallet without the isolated pool's margin after it "
                    "leaves the free wallet below zero with no cross position."
                ),
                run=functools.partial(
                    prove_free_wallet_kept, symbol, 10_000, _kept_without_the_pool, WITHOUT_THE_POOL_COUNTEREXAMPLES[symbol]
                ),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )


_register()
