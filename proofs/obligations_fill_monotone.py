"""Proof obligations: ACC-006's margin is monotone in its ``available``, so LIQ-040 judging with 0 is a lower bound.

LIQ-040 (``rules.solvency.compute_fill_outcome``) judges an account's later fills in one sweep (LIQ-049), an order at
entry (LIQ-042) and the liquidation engine's makers with ``PoolState.available = 0``, where the engine's ACC-006 call
then finds the real figure ``a ≥ 0`` (``engine.core.isolated_fill.available_at_fill``, MRG-061's figure,
``rules.waterfall_postings.compute_fill_available``).  That stand-in is sound for the isolated pool only if ACC-006's
margin never shrinks as ``available`` grows (redteam32: "[I], not an obligation"); these obligations prove it.

Unbounded (any integers; ACC-006's inputs as :func:`proofs.isolated_fill_terms._isolated_fill_inputs` states them):

* **ACC-006 monotone in the available** — for ``a ≤ b``, ``m(a) ≤ m(b) ≤ m(a) + max(0, b) − max(0, a)`` (the margin
  grows with the available, by at most the available's growth), and a fill with a premium (one that opens: MRG-041)
  does not read the available at all (``m(a) = m(b)``: a fill that opens draws nothing but the premium, which is paid
  from the free wallet).

Per instrument kind (inverse XBTUSD, quanto ETHUSD, linear XBTUSDT) and margin mode, unbounded (whole lots, prices on
the tick grid, the mark in ``(0, maxPrice]``, fee rates in ``(−100%, 100%)``):

* **LIQ-040 zero available is a lower bound** — the outcome of one fill on a pool carrying ``available = a ≥ 0`` and
  on the same pool carrying 0 differ only in the pool's margin and equity at mark, both by the same
  ``δ = margin(a) − margin(0)`` with ``0 ≤ δ ≤ a`` (``δ = 0`` for a fill that opens, and for a cross pool); the
  position, realised PnL, commission, maintenance, retained equity and the account's equity are the same.  So:

  - **LIQ-044 / LIQ-042 (the isolated side): 0 is at least as strict.**  A fill LIQ-044 accepts with 0 it accepts
    with ``a``, an order LIQ-042 accepts with 0 it accepts with ``a``.
  - **LIQ-053 / LIQ-054 (the cross side): 0 is *less* strict**, by exactly ``δ``: LIQ-053's draw
    (``compute_cross_draw``) with ``a`` is the one with 0 plus ``δ``, LIQ-054's free wallet after is the one with 0
    less ``δ``; a verdict with ``a`` implies the one with 0, not the converse.  What keeps the cross side sound is
    not LIQ-053 but ACC-006's own cap: ``δ`` is drawn only by a fill without a premium, and such a fill draws at most
    ``a`` beyond what it returns (``ACC-006/margin-after-fill``), ``a`` being MRG-061's figure, so MRG-050's
    available after it still covers the chosen tiers' extras (``ACC-006/fill-available-keeps-tier-extras``) — the
    cross pool keeps its chosen-tier ``posInit + posComm``.  A fill that opens (a premium) has ``δ = 0``: LIQ-053's
    verdict with 0 is exact for it.

Known-bad (expected refuted): ACC-006 paying the premium only from the free wallet beyond MRG-050's available (the
available "kept" for the draws): a larger available then pays less of the premium, the margin falls as the available
grows and a fill LIQ-044 accepts with 0 may be refused with the real figure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from perpspec.proofs.isolated_fill_terms import _isolated_fill_inputs
from perpspec.proofs.obligations_solvency import _Account, _assume_fee, _plain_witness, premium_as_posted
from perpspec.proofs.obligations_waterfall import SLOW_TIMEOUT_MS, SYMBOLS, assume_price
from perpspec.proofs.prover import Lemma, ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import all_of, implies
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import CROSS
from perpspec.rules.num import abs_, and_, ceildiv, clamp, ite, max_, min_, not_, or_
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.solvency import (
    FillOutcome,
    PoolState,
    compute_cross_draw,
    compute_fill_outcome,
    compute_free_wallets,
    compute_opened_qty,
    is_cross_pool_kept,
    is_fill_allowed,
    is_order_solvent,
)
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill

MODES = (("cross", CROSS), ("isolated", 10_000))
OutcomeRule = Callable[[Instrument, PoolState, int, int, int, int], FillOutcome]

_ACC_006_WITNESS = {  # a 2-lot long half closed at a loss its requirement pays, ample wallet (vacuity check)
    "old_margin": 100, "old_requirement": 100, "new_requirement": 50, "realised": -10, "premium": 0,
    "unallocated": 10**6, "available": 0, "available_more": 5, "old_qty": 2, "new_qty": 1,
}


_ACC_006_PARAMS = (
    "old_margin", "old_requirement", "new_requirement", "realised", "premium", "unallocated", "available", "more",
    "old_qty", "new_qty",
)


def _monotone(
    old_margin: int, old_req: int, new_req: int, realised: int, premium: int, unallocated: int, available: int,
    more: int, old_qty: int, new_qty: int,
) -> bool:
    """ACC-006's margin at ``available`` and at ``more``: ``m(available) ≤ m(more) ≤ m(available) + max(0, more) −
    max(0, available)``."""
    low = compute_isolated_margin_after_fill(
        old_margin, old_req, new_req, realised, premium, unallocated, available, old_qty, new_qty
    )
    high = compute_isolated_margin_after_fill(old_margin, old_req, new_req, realised, premium, unallocated, more, old_qty, new_qty)
    return and_(low <= high, high - low <= max_(0, more) - max_(0, available))


# Any integers (no other premise): LIQ-040's obligations use it on their outcome's terms
ACC_006_MONOTONE = Lemma(
    name="ACC-006 is monotone in the available",
    params=_ACC_006_PARAMS,
    premise=lambda *args: args[6] <= args[7],
    conclusion=_monotone,
)


def prove_monotone_in_available(kernel: Callable[..., int]) -> ProofResult:
    """ACC-006: for availables ``a ≤ b``: ``m(a) ≤ m(b) ≤ m(a) + max(0, b) − max(0, a)``; with a premium ``m(a) = m(b)``."""
    with Prover() as prover:
        prover.witness(**_ACC_006_WITNESS)
        inputs = _isolated_fill_inputs(prover)
        old_margin, old_req, new_req, realised, premium, unallocated, available, old_qty, new_qty = inputs
        more = prover.symbol("available_more")
        prover.assume(available <= more, "a ≤ b")
        low = kernel(*inputs)
        high = kernel(old_margin, old_req, new_req, realised, premium, unallocated, more, old_qty, new_qty)
        return prover.prove(
            all_of(
                low <= high,
                high - low <= max_(0, more) - max_(0, available),
                implies(premium > 0, high == low),
            ),
            "ACC-006 monotone in the available",
        )


def _premium_beyond_the_available(
    old_margin: int, old_requirement: int, new_requirement: int, realised: int, premium: int, unallocated: int,
    available: int, old_qty: int, new_qty: int,
) -> int:
    """KNOWN-BAD ACC-006: :func:`compute_isolated_margin_after_fill` with the premium paid only from the free wallet
    beyond MRG-050's available (the available "kept" for the draws): not monotone in the available."""
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    freed = max_(0, old_requirement - new_requirement)
    extra = ite(flips, 0, old_margin - old_requirement)
    unpaid = ite(flips, 0, min_(0, realised + freed))
    own = new_requirement + extra + unpaid
    top_up = min_(-unpaid, max_(0, -(extra + unpaid)))
    reduces = and_(and_(not_(flips), new_qty != 0), abs_(new_qty) < abs_(old_qty))
    share = clamp(ceildiv(extra * abs_(new_qty), max_(1, abs_(old_qty))), extra, 0)
    shed = ite(and_(reduces, extra < 0), share - extra, 0)
    room = max_(0, max_(0, available) + realised + old_margin - own)
    drawn = min_(top_up + shed, min_(max_(0, unallocated - own), room))
    kept = max_(0, available)  # BAD: the premium leaves MRG-050's available to the draws
    funded = own + drawn + min_(premium, max_(0, unallocated - own - drawn - kept))
    bound = max_(unallocated, new_requirement)
    return ite(new_qty == 0, 0, min_(funded, bound))


def compute_fill_outcome_premium_beyond_the_available(
    inst: Instrument, pool: PoolState, fill_qty: int, price: int, fee_ppm: int, mark_price: int
) -> FillOutcome:
    """KNOWN-BAD LIQ-040 (isolated): the outcome with :func:`_premium_beyond_the_available` as ACC-006."""
    outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee_ppm, mark_price)
    old_req = compute_requirement(inst, pool.position, pool.leverage_hundredths, pool.chosen_tier)
    new_req = compute_requirement(inst, outcome.position, pool.leverage_hundredths, pool.chosen_tier)
    premium = compute_order_premium(inst, compute_opened_qty(pool.position.qty, outcome.position.qty), price, mark_price)
    margin = _premium_beyond_the_available(  # BAD
        pool.pool_margin, old_req.pos_init + old_req.pos_comm, new_req.pos_init + new_req.pos_comm, outcome.realised,
        premium, pool.free_wallet + outcome.realised - outcome.commission, pool.available, pool.position.qty,
        outcome.position.qty,
    )
    pnl_after = compute_value(inst, outcome.position.qty, mark_price) - outcome.position.cost
    return attrs.evolve(outcome, pool_margin=margin, pool_equity=margin + pnl_after)


def _premium_witness(inst: Instrument) -> dict[str, int]:
    """An isolated buy from flat above the mark (a premium), a large wallet and available: the known-bad pays less of
    the premium with the available than with 0 (checked by evaluation)."""
    witness = _plain_witness(inst, 1, ("price",), "fill_qty")
    witness.update({
        "mark_price": witness["price"] - 10 * inst.tick_size, "position.qty": 0, "position.cost": 0,
        "isolated_margin": 0, "available": 10**12, "cross_equity": 0, "cross_maintenance": 0,
    })
    return witness


def prove_zero_available_is_a_lower_bound(
    symbol: str, leverage: int, outcome_rule: OutcomeRule = compute_fill_outcome, witness: dict[str, int] | None = None
) -> ProofResult:
    """LIQ-040: the outcome with ``available = a ≥ 0`` is the one with 0 but for the pool's margin and equity, both
    ``δ`` higher, ``0 ≤ δ ≤ a`` (0 for a fill that opens); LIQ-044 and LIQ-042 accepting with 0 accept with ``a``;
    LIQ-053's draw and LIQ-054's free wallet move by ``δ`` (the cross side's verdict with 0 is the less strict)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.witness(**(witness or _plain_witness(inst, -1, ("mark_price", "price"), "fill_qty")))
        mark, price = prover.symbol("mark_price"), prover.symbol("price")
        fill_qty, fee = prover.symbol("fill_qty"), prover.symbol("fee_ppm")
        cross_equity, cross_maint = prover.symbol("cross_equity"), prover.symbol("cross_maintenance")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, price, "fill price")
        prover.assume(all_of(fill_qty != 0, fill_qty % inst.lot_size == 0), "fill in whole lots")
        _assume_fee(prover, fee)
        account = _Account(prover, inst, leverage, mark)
        real = account.pool
        prover.assume(real.available >= 0, "PoolState.available ≥ 0 (compute_fill_available floors it)")
        zero = attrs.evolve(real, available=0)
        out_a = outcome_rule(inst, real, fill_qty, price, fee, mark)
        out_0 = outcome_rule(inst, zero, fill_qty, price, fee, mark)
        delta = out_a.pool_margin - out_0.pool_margin
        free_after = real.free_wallet + out_a.realised - out_a.commission
        if not account.is_cross:
            prover.use(premium_as_posted(inst), real.position.qty, out_a.position.qty, price, mark)
            # ACC-006's two calls in LIQ-040 differ only in the available (0, then a): the lemma on their terms
            old_req = compute_requirement(inst, real.position, leverage, real.chosen_tier)
            new_req = compute_requirement(inst, out_a.position, leverage, real.chosen_tier)
            premium = compute_order_premium(inst, compute_opened_qty(real.position.qty, out_a.position.qty), price, mark)
            prover.use(
                ACC_006_MONOTONE, real.pool_margin, old_req.pos_init + old_req.pos_comm,
                new_req.pos_init + new_req.pos_comm, out_a.realised, premium, free_after, 0, real.available,
                real.position.qty, out_a.position.qty,
            )
        moved_a = compute_cross_draw(real.free_wallet, real.pool_margin, free_after, out_a.pool_margin)
        moved_0 = compute_cross_draw(real.free_wallet, real.pool_margin, free_after, out_0.pool_margin)
        wallet_a = compute_free_wallets(inst, real, out_a, mark)[1]
        wallet_0 = compute_free_wallets(inst, zero, out_0, mark)[1]
        return prover.prove(
            all_of(
                # the outcome: only the pool's margin and equity move, by δ ∈ [0, a] (0 when the fill opens)
                out_a.position.qty == out_0.position.qty,
                out_a.position.cost == out_0.position.cost,
                out_a.realised == out_0.realised,
                out_a.commission == out_0.commission,
                out_a.maintenance == out_0.maintenance,
                out_a.retained_equity == out_0.retained_equity,
                out_a.account_equity == out_0.account_equity,
                out_a.pool_equity - out_0.pool_equity == delta,
                delta >= 0,
                delta <= real.available,
                implies(account.is_cross, delta == 0),
                # the isolated side: 0 is at least as strict
                implies(is_fill_allowed(inst, zero, fill_qty, price, fee, mark),
                        is_fill_allowed(inst, real, fill_qty, price, fee, mark)),
                implies(is_order_solvent(inst, zero, fill_qty, price, fee, mark),
                        is_order_solvent(inst, real, fill_qty, price, fee, mark)),
                # the cross side: 0 is less strict by δ (LIQ-053's draw, LIQ-054's free wallet after)
                moved_a - moved_0 == delta,
                wallet_0 - wallet_a == delta,
                implies(is_cross_pool_kept(cross_equity, cross_maint, moved_a),
                        is_cross_pool_kept(cross_equity, cross_maint, moved_0)),
                account.premium_posted_as_rules,
            ),
            f"LIQ-040 zero available is a lower bound {symbol} leverage {leverage}",
        )


def _register() -> None:
    register(
        Obligation(
            id="ACC-006/monotone-in-available",
            rule_id="ACC-006",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "ACC-006's isolated margin never shrinks as its available grows, and grows by at most the available's "
                "growth (floored at 0); a fill with a premium does not read the available (LIQ-040's 0 is a lower bound)."
            ),
            run=functools.partial(prove_monotone_in_available, compute_isolated_margin_after_fill),
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/ACC-006/premium-beyond-the-available",
            rule_id="ACC-006",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "Known-bad: the premium paid only from the free wallet beyond MRG-050's available: a larger available "
                "pays less of it, so the margin is not monotone in the available."
            ),
            run=functools.partial(prove_monotone_in_available, _premium_beyond_the_available),
            expect="refuted",
        )
    )
    for symbol in SYMBOLS:
        for mode, leverage in MODES:
            register(
                Obligation(
                    id=f"LIQ-040/zero-available-is-a-lower-bound/{symbol}/{mode}",
                    rule_id="LIQ-040",
                    invariant_id="INV-NO-NEG-EQUITY",
                    statement=(
                        f"A {mode} {symbol} fill's outcome with PoolState.available = a ≥ 0 is the one with 0 but for "
                        "the pool's margin and equity, both higher by δ ∈ [0, a] (0 for a fill that opens): LIQ-044 "
                        "and LIQ-042 accepting with 0 accept with a; LIQ-053's draw and LIQ-054's free wallet move by "
                        "δ (with 0 the cross side is the less strict; ACC-006's cap at MRG-061's figure bounds δ)."
                    ),
                    run=functools.partial(prove_zero_available_is_a_lower_bound, symbol, leverage),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-040/premium-beyond-the-available/{symbol}",
                rule_id="LIQ-040",
                invariant_id="INV-NO-NEG-EQUITY",
                statement=(
                    "Known-bad: with ACC-006 paying the premium only beyond MRG-050's available, the outcome with the "
                    "real available is below the one with 0 (LIQ-040's 0 no lower bound)."
                ),
                run=functools.partial(
                    prove_zero_available_is_a_lower_bound, symbol, 10_000,
                    compute_fill_outcome_premium_beyond_the_available, _premium_witness(load_instrument(symbol)),
                ),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )


_register()
