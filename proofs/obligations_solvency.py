"""Proof obligations of order-entry and fill solvency (rules/solvency.py): no money leaves through a fill.

Per instrument kind (inverse XBTUSD, quanto ETHUSD, linear XBTUSDT) and margin
mode (cross, isolated), unbounded (any integers satisfying the stated
preconditions: whole lots, prices on the tick grid in ``(0, maxPrice]``, the
mark anywhere in ``(0, maxPrice]``, fee rates in ``(−100%, 100%)``):

* **LIQ-044 accepted fill keeps equity** — a fill LIQ-044 accepts, posted the
  way the engine posts it (ACC-003 position and realised PnL, ACC-002
  commission into the wallet, ACC-006 isolated margin from the wallet after
  the fill), leaves the account's equity at mark ≥ 0 (or no lower than
  before), and the same for the pool that holds the position.  The state after
  is computed from the postings, independently of LIQ-040's formulas: this
  ties the rule to the transition that runs.
* **LIQ-042 accepted order keeps equity** — an order reducing a position of a
  solvent pool (excess ≥ 0) that LIQ-042 accepts, filled in full at its own
  price, leaves the account's equity ≥ 0 and the pool (its execution's PnL and
  commission kept in it) at or above maintenance.
* **LIQ-036 an owing pool ends solvent** (linear and quanto; inverse tested):
  the largest position of a pool that owes more than any price in range
  returns is taken over beyond the range, so the pool keeps ≥ 0 and the
  liquidation engine holds the deficit (fund, then ADL) — bounded by "some
  positive price covers it".
* **LIQ-042 better price is no worse** — if the order is safe at its price, it
  is safe at every better tick price (a limit order may fill better): the
  retained pool equity and the account's equity only grow.

Known-bad variants (each expected refuted): the fill check without the
commission; the order check at the mark instead of the order price.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from perpspec.proofs import lemmas
from perpspec.proofs.known_bad_solvency import (
    FREE_WALLET_DRAW_COUNTEREXAMPLES,
    LOSS_CHARGED_TO_THE_REST_COUNTEREXAMPLES,
    compute_fill_outcome_charging_the_rest,
    compute_fill_outcome_on_the_free_wallet,
    compute_fill_outcome_without_commission,
    is_order_solvent_at_mark,
)
from perpspec.proofs.obligations_waterfall import (
    SLOW_TIMEOUT_MS,
    SYMBOLS,
    assume_position,
    assume_price,
    prove_each,
)
from perpspec.proofs.prover import Lemma, ProofResult, Prover
from perpspec.proofs.registry import Obligation, register
from perpspec.proofs.sym import BoolLike, all_of, implies
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import (
    compute_owing_cover_takeover_price,
    compute_owing_takeover_price,
    compute_requirement,
)
from perpspec.rules.margin import CROSS, AccountMargin, PositionMargin, compute_account_margin
from perpspec.rules.num import PPM, abs_, and_, ite, max_, or_
from perpspec.rules.order_margin import compute_order_premium
from perpspec.rules.position import Position, apply_fill, compute_commission
from perpspec.rules.solvency import (
    FillOutcome,
    PoolState,
    compute_fill_outcome,
    compute_opened_qty,
    compute_pool_equity,
    compute_pool_excess,
    compute_reducing_qty,
    compute_spot_spendable,
    is_cross_pool_kept,
    is_fill_solvent,
    is_order_solvent,
    is_spot_spend_allowed,
    is_spot_spend_withdrawable,
)
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill

MODES = (("cross", CROSS), ("isolated", 10_000))
OutcomeRule = Callable[[Instrument, PoolState, int, int, int, int], FillOutcome]
OrderRule = Callable[[Instrument, PoolState, int, int, int, int], bool]


class _Account:
    """A symbolic account around one position (the traded contract), the rest of the currency summarised."""

    def __init__(self, prover: Prover, inst: Instrument, leverage: int, mark: int) -> None:
        self.inst = inst
        self.leverage = leverage
        self.mark = mark
        self.position = prover.record(Position, "position")
        assume_position(prover, inst, self.position, "position")
        self.wallet = prover.symbol("wallet")
        self.other_iso = prover.symbol("other_isolated_margins")  # Σ margin of the account's other isolated pools
        self.other_pnl = prover.symbol("other_pnl")  # unrealised PnL at mark of every other position in the currency
        self.other_cross_pnl = prover.symbol("other_cross_pnl")  # the part of it in cross positions
        self.other_maint = prover.symbol("other_maintenance")
        prover.assume(self.other_iso >= 0, "other isolated margins ≥ 0")
        prover.assume(self.other_maint >= 0, "other maintenance ≥ 0")
        # ACC-006's ``available``: MRG-050's available balance as the fill finds it (the engine's available_at_fill,
        # carried in LIQ-040's PoolState).  Any integer: cross losses at mark take it below zero, cross profit may take
        # it above the free wallet; ACC-006 floors it at 0 and caps what it draws at the free wallet itself
        self.available = prover.symbol("available")
        self.is_cross = leverage == CROSS
        self.premium_posted_as_rules: bool = True  # post(): an isolated fill's premium is LIQ-040's (the lemma)
        if self.is_cross:
            self.iso_margin = 0
            pool_margin = self.wallet - self.other_iso
            other_pnl = self.other_cross_pnl
        else:
            self.iso_margin = prover.symbol("isolated_margin")
            prover.assume(self.iso_margin >= 0, "isolated margin ≥ 0")
            pool_margin = self.iso_margin
            other_pnl = 0
        own_pnl = compute_value(inst, self.position.qty, mark) - self.position.cost
        self.equity_before = self.wallet + self.other_pnl + own_pnl
        self.pool = PoolState(
            position=self.position,
            leverage_hundredths=leverage,
            chosen_tier=0,
            pool_margin=pool_margin,
            other_pnl=other_pnl,
            other_maintenance=self.other_maint if self.is_cross else 0,
            # as the engine builds it (Risk.pool_state, since e67ab9c): the wallet less the *other* isolated
            # margins, the pool's own included (what ACC-006 may bring into the pool, the same as post() uses)
            free_wallet=self.wallet - self.other_iso,
            account_equity=self.equity_before,
            available=self.available,  # the engine's figure for this fill (engine.core.isolated_fill)
        )

    def post(self, fill_qty: int, price: int, fee_ppm: int) -> tuple[int, int, int]:
        """The engine's postings of one fill: (account equity, pool equity, pool margin) at mark after it."""
        inst, mark = self.inst, self.mark
        after, realised = apply_fill(inst, self.position, fill_qty, price)
        commission = compute_commission(compute_notional(inst, fill_qty, price), fee_ppm)
        wallet = self.wallet + realised - commission
        own_pnl = compute_value(inst, after.qty, mark) - after.cost
        account = wallet + self.other_pnl + own_pnl
        if self.is_cross:
            margin = wallet - self.other_iso
            return account, margin + self.other_cross_pnl + own_pnl, margin
        old_req = compute_requirement(inst, self.position, self.leverage, 0)
        new_req = compute_requirement(inst, after, self.leverage, 0)
        # MRG-041 on the part opened: the engine's premium (its own opened-quantity test) is LIQ-040's by the lemma
        # premium_as_posted; the posting takes LIQ-040's term, so the two copies of ACC-006 are one term to the
        # solver, and ``premium_posted_as_rules`` (the lemma's conclusion here) joins each goal that uses it
        premium = compute_order_premium(inst, compute_opened_qty(self.position.qty, after.qty), price, mark)
        self.premium_posted_as_rules = _posted_premium(inst, self.position.qty, after.qty, price, mark) == premium
        margin = compute_isolated_margin_after_fill(
            self.iso_margin,
            old_req.pos_init + old_req.pos_comm,
            new_req.pos_init + new_req.pos_comm,
            realised,
            premium,
            # the wallet after the fill less the other isolated margins, summed in the order LIQ-040's outcome sums it
            self.wallet - self.other_iso + realised - commission,
            self.available,  # MRG-050's available as the fill finds it: the figure LIQ-040's pool carries
            self.position.qty,
            after.qty,
        )
        return account, margin + own_pnl, margin


def _opened(old_qty: int, new_qty: int) -> int:
    """The engine's ``get_opened_qty`` written out for symbols (independently of LIQ-045)."""
    same_side_growth = ite(old_qty > 0, ite(new_qty > old_qty, new_qty - old_qty, 0), ite(new_qty < old_qty, new_qty - old_qty, 0))
    flipped = or_(old_qty == 0, ite(old_qty > 0, 1, 0) != ite(new_qty > 0, 1, 0))
    return ite(flipped, new_qty, same_side_growth)


def _premium(inst: Instrument, qty: int, price: int, mark: int) -> int:
    loss = compute_value(inst, qty, price) - compute_value(inst, qty, mark)
    return ite(loss > 0, loss, 0)


def _posted_premium(inst: Instrument, old_qty: int, new_qty: int, price: int, mark: int) -> int:
    """The premium :meth:`_Account.post` brings into an isolated pool: MRG-041's loss on the part opened."""
    opened = _opened(old_qty, new_qty)
    return ite(opened == 0, 0, _premium(inst, opened, price, mark))


@functools.cache
def premium_as_posted(inst: Instrument) -> Lemma:
    """The engine's premium (its own opened-quantity test) is LIQ-040's (LIQ-045's opened quantity, MRG-041)."""
    return Lemma(
        name=f"{inst.symbol}: the posted premium is LIQ-040's",
        params=("old_qty", "new_qty", "price", "mark"),
        premise=lambda _old_qty, _new_qty, price, mark: and_(price > 0, mark > 0),
        conclusion=lambda old_qty, new_qty, price, mark: (
            _posted_premium(inst, old_qty, new_qty, price, mark)
            == compute_order_premium(inst, compute_opened_qty(old_qty, new_qty), price, mark)
        ),
    )


def _plain_witness(inst: Instrument, side: int, prices: tuple[str, ...], qty_name: str) -> dict[str, int]:
    """An ordinary account (a one-lot position closed at the mark, no fee, a large wallet) for the vacuity check.

    ``side`` is the order's; the position is the opposite one.  Assumptions that do not evaluate to
    true at it send the check back to the solver, so a witness that misses one costs time, never soundness.
    """
    price = 1000 * inst.tick_size
    position_qty = -side * inst.lot_size
    return {
        **dict.fromkeys(prices, price),
        qty_name: side * inst.lot_size,
        "fee_ppm": 0,
        "position.qty": position_qty,
        "position.cost": compute_value(inst, position_qty, price),
        "wallet": 10**12,
        "other_isolated_margins": 0,
        "other_pnl": 0,
        "other_cross_pnl": 0,
        "other_maintenance": 0,
        "isolated_margin": 10**9,
        "available": 0,
    }


def _assume_fee(prover: Prover, fee_ppm: int) -> None:
    prover.assume(all_of(fee_ppm > -PPM, fee_ppm < PPM), "fee rate in (−100%, 100%)")


def prove_accepted_fill_keeps_equity(
    symbol: str, leverage: int, outcome_rule: OutcomeRule = compute_fill_outcome, witness: dict[str, int] | None = None
) -> ProofResult:
    """LIQ-044: an accepted fill, as posted, keeps the account's and the pool's equity ≥ 0 (or no lower).

    ``witness``: a counterexample to check by evaluation first (known-bad variants)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.witness(**(witness or _plain_witness(inst, -1, ("mark_price", "price"), "fill_qty")))
        mark, price = prover.symbol("mark_price"), prover.symbol("price")
        fill_qty, fee = prover.symbol("fill_qty"), prover.symbol("fee_ppm")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, price, "fill price")
        prover.assume(all_of(fill_qty != 0, fill_qty % inst.lot_size == 0), "fill in whole lots")
        _assume_fee(prover, fee)
        account = _Account(prover, inst, leverage, mark)
        outcome: FillOutcome = outcome_rule(inst, account.pool, fill_qty, price, fee, mark)
        pool_before = compute_pool_equity(inst, account.pool, mark)
        prover.assume(
            is_fill_solvent(pool_before, outcome.pool_equity, account.equity_before, outcome.account_equity),
            "LIQ-044 accepts the fill",
        )
        equity_after, pool_after, _ = account.post(fill_qty, price, fee)
        if not account.is_cross:
            after_qty = account.position.qty + fill_qty
            prover.use(premium_as_posted(inst), account.position.qty, after_qty, price, mark)
        return prover.prove(
            all_of(
                or_(equity_after >= 0, equity_after >= account.equity_before),
                or_(pool_after >= 0, pool_after >= pool_before),
                account.premium_posted_as_rules,
            ),
            f"LIQ-044 accepted fill keeps equity {symbol} leverage {leverage}",
        )


def _reduction_witness(inst: Instrument) -> dict[str, int]:
    """An ordinary isolated account: a two-lot long half sold at the mark, no fee, a large wallet (vacuity check)."""
    witness = _plain_witness(inst, -1, ("mark_price", "price"), "fill_qty")
    witness["position.qty"] = 2 * inst.lot_size
    witness["position.cost"] = compute_value(inst, 2 * inst.lot_size, witness["price"])
    return witness


def prove_isolated_fill_keeps_requirement(
    symbol: str, outcome_rule: OutcomeRule = compute_fill_outcome, witness: dict[str, int] | None = None
) -> ProofResult:
    """LIQ-040 / ACC-006: an isolated fill that leaves a position leaves the pool holding what is left's requirement.

    Any fill (a reduction at any price, an increase, a flip), any fee, the mark anywhere: if the pool held its
    requirement (``posInit + posComm``) before and the account's wallet beyond its other isolated pools still
    holds the requirement of what is left after the fill, the pool's margin after (LIQ-040's outcome, ACC-006)
    is at least that requirement -- for a fill that opens, or where the pool's own money (what the closed part frees
    and its extra) and MRG-050's available at the fill (floored at 0, the pool's ``available``) together pay the
    closed part's loss (beyond them ACC-006 takes nothing from the rest of the account); so its margin excess at mark is at least the remainder's unrealised PnL plus
    ``requirement − posMaint`` (≥ 0: RSK-003, the initial requirement is above maintenance at every tier).  A
    reduction at an unchanged mark never leaves the rest liquidatable (attack review 2).  ``witness``: a
    counterexample to check by evaluation first (known-bad variants).
    """
    inst = load_instrument(symbol)
    leverage = 10_000
    with Prover() as prover:
        prover.witness(**(witness or _reduction_witness(inst)))
        mark, price = prover.symbol("mark_price"), prover.symbol("price")
        fill_qty, fee = prover.symbol("fill_qty"), prover.symbol("fee_ppm")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, price, "fill price")
        prover.assume(all_of(fill_qty != 0, fill_qty % inst.lot_size == 0), "fill in whole lots")
        _assume_fee(prover, fee)
        account = _Account(prover, inst, leverage, mark)
        old_req = compute_requirement(inst, account.position, leverage, 0)
        prover.assume(account.iso_margin >= old_req.pos_init + old_req.pos_comm, "the pool held its requirement")
        outcome = outcome_rule(inst, account.pool, fill_qty, price, fee, mark)
        new_req = compute_requirement(inst, outcome.position, leverage, 0)
        required = new_req.pos_init + new_req.pos_comm
        prover.assume(outcome.position.qty != 0, "the fill leaves a position")
        free_after = account.pool.free_wallet + outcome.realised - outcome.commission
        prover.assume(free_after >= required, "the wallet beyond the other isolated pools holds the requirement after")
        # ACC-006 draws a reduction's unpaid loss only from MRG-050's available (floored at 0): the remainder keeps its
        # requirement where the pool's own money (what the closed part frees, and the extra) and that available pay it
        opened = compute_opened_qty(account.position.qty, outcome.position.qty) != 0
        own_money = outcome.realised + account.iso_margin - required
        prover.assume(
            or_(opened, own_money + max_(0, account.available) >= 0),
            "a fill that opens, or the pool's own money and MRG-050's available pay the closed part's loss",
        )
        pnl_after = compute_value(inst, outcome.position.qty, mark) - outcome.position.cost
        return prover.prove(
            all_of(
                outcome.pool_margin >= required,
                outcome.pool_equity - outcome.maintenance >= pnl_after + required - new_req.pos_maint,
            ),
            f"LIQ-040 isolated fill keeps the requirement {symbol}",
        )


# Counterexamples to the known-bad "order checked at the mark" (isolated), found by the solver once and
# kept: each is checked by evaluation (it must satisfy every assumption and violate the goal), so the
# refutation needs no search (the search took 0.5 s to 25 s depending on the instrument and term numbering).
ORDER_AT_MARK_COUNTEREXAMPLES: dict[str, dict[str, int]] = {
    "XBTUSD": {
        "mark_price": 51, "price": 50, "order_qty": -100, "fee_ppm": 0, "position.qty": 100, "position.cost": 0,
        "wallet": 19607843138, "other_isolated_margins": 0, "other_pnl": 0, "other_cross_pnl": 0,
        "other_maintenance": 0, "isolated_margin": 19607843138,
    },
    "ETHUSD": {
        "mark_price": 2, "price": 571770, "order_qty": 1, "fee_ppm": -8, "position.qty": -1, "position.cost": -2,
        "wallet": 4, "other_isolated_margins": 0, "other_pnl": -1, "other_cross_pnl": 0, "other_maintenance": 0,
        "isolated_margin": 2,
    },
    "XBTUSDT": {
        "mark_price": 1, "price": 50, "order_qty": 1000, "fee_ppm": -7022, "position.qty": -1000, "position.cost": 0,
        "wallet": 2, "other_isolated_margins": 0, "other_pnl": 8, "other_cross_pnl": 0, "other_maintenance": 0,
        "isolated_margin": 10,
    },
}


def prove_accepted_order_keeps_equity(
    symbol: str, leverage: int, check: OrderRule = is_order_solvent, witness: dict[str, int] | None = None
) -> ProofResult:
    """LIQ-042: a reducing order accepted for a solvent pool, filled in full at its price, keeps equity ≥ 0.

    ``witness``: a counterexample to check by evaluation first (known-bad variants).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.witness(**(witness or _plain_witness(inst, -1, ("mark_price", "price"), "order_qty")))
        mark, price = prover.symbol("mark_price"), prover.symbol("price")
        order_qty, fee = prover.symbol("order_qty"), prover.symbol("fee_ppm")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, price, "order price")
        prover.assume(all_of(order_qty != 0, order_qty % inst.lot_size == 0), "order in whole lots")
        _assume_fee(prover, fee)
        account = _Account(prover, inst, leverage, mark)
        position = account.position
        prover.assume(compute_reducing_qty(position.qty, order_qty) > 0, "the order reduces (LIQ-046)")
        prover.assume(compute_pool_excess(inst, account.pool, mark) >= 0, "the pool is at or above maintenance")
        prover.assume(account.equity_before >= 0, "the account is solvent")
        prover.assume(check(inst, account.pool, order_qty, price, fee, mark), "LIQ-042 accepts the order")
        equity_after, _, _ = account.post(order_qty, price, fee)
        outcome = compute_fill_outcome(inst, account.pool, order_qty, price, fee, mark)
        return prover.prove(
            all_of(equity_after >= 0, outcome.retained_equity - outcome.maintenance >= 0),
            f"LIQ-042 accepted order keeps equity {symbol} leverage {leverage}",
        )


def prove_better_price_no_worse(symbol: str, leverage: int, side: int) -> ProofResult:
    """LIQ-042: a reducing order's retained pool equity and account equity at a better price are no lower.

    ``side`` is the order's: +1 a buy reducing a short, -1 a sell reducing a long; any fee rate in
    (−100%, 100%), whether the order flips the position or not, one case.  Both fill outcomes depend on
    the price only through ``value(order, price)`` and the commission on it, so three lemmas, each
    proved on its own (:mod:`proofs.lemmas`), carry the nonlinear part:

    * :func:`~proofs.lemmas.fill_cash_flow` at each price: realised PnL less the cost left is
      ``−cost before − value(order, price)`` (the kept cost ``cost · kept // qty`` cancels);
    * :func:`~proofs.lemmas.better_fill_value`: the order's value at the better price is no higher;
    * :data:`~proofs.lemmas.NET_OF_COMMISSION_MONOTONE`: ``−v − commission(|v|)`` does not grow with ``v``.

    The goals then follow in linear arithmetic (the prover decides them on their linear abstraction,
    milliseconds).  Before, the solver searched the two nonlinear outcomes whole: 0.3 s to past 300 s
    for the same query depending on term numbering (ETHUSD cross sell ended ``unknown``).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        prover.witness(**_plain_witness(inst, side, ("mark_price", "price", "better_price"), "order_qty"))
        mark, price, better = prover.symbol("mark_price"), prover.symbol("price"), prover.symbol("better_price")
        order_qty, fee = prover.symbol("order_qty"), prover.symbol("fee_ppm")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        assume_price(prover, inst, price, "order price")
        assume_price(prover, inst, better, "fill price")
        prover.assume(all_of(order_qty != 0, order_qty % inst.lot_size == 0), "order in whole lots")
        _assume_fee(prover, fee)
        account = _Account(prover, inst, leverage, mark)
        position = account.position
        if side > 0:
            prover.assume(all_of(position.qty < 0, order_qty > 0, better <= price), "a buy reducing a short, filled lower")
        else:
            prover.assume(all_of(position.qty > 0, order_qty < 0, better >= price), "a sell reducing a long, filled higher")
        for fill_price in (price, better):
            prover.use(lemmas.fill_cash_flow(inst), position.qty, position.cost, order_qty, fill_price)
        prover.use(lemmas.better_fill_value(inst, side), order_qty, better, price)
        value_better, value_price = compute_value(inst, order_qty, better), compute_value(inst, order_qty, price)
        prover.use(lemmas.NET_OF_COMMISSION_MONOTONE, fee, value_better, value_price)
        at_price = compute_fill_outcome(inst, account.pool, order_qty, price, fee, mark)
        at_better = compute_fill_outcome(inst, account.pool, order_qty, better, fee, mark)
        return prove_each(
            prover,
            [
                (at_better.retained_equity >= at_price.retained_equity, f"retained pool equity {symbol} side {side}"),
                (at_better.account_equity >= at_price.account_equity, f"account equity {symbol} side {side}"),
            ],
        )


def is_coverable(inst: Instrument, position: Position, backing: int, reserve: int) -> BoolLike:
    """LIQ-036's bound: some positive price covers a pool of ``position`` backed by ``backing`` (with its reserve).

    A short: one price unit (its value there is the most it can return); an inverse long: MRG-010's per-lot
    step ≥ 1; a linear or quanto long: always (its value has no ceiling beyond ``maxPrice``).
    """
    at_one = backing + compute_value(inst, position.qty, 1) - position.cost >= reserve
    if inst.is_inverse:  # structural: instrument configuration
        lots = abs_(position.qty) // inst.lot_size
        step_positive = (backing - reserve - position.cost) // ite(lots == 0, 1, lots) >= 1
        return or_(and_(position.qty < 0, at_one), and_(position.qty > 0, step_positive))
    return or_(position.qty > 0, at_one)


def prove_owing_pool_keeps_reserve(symbol: str, side: int) -> ProofResult:
    """LIQ-036: a position taken over at LIQ-036's price leaves its pool at least its reserve, whatever it owed.

    The pool may owe anything (``backing`` any integer).  Bound: some positive
    price must cover it — a short at one price unit, an inverse long's per-lot
    step ≥ 1 (LIQ-036's stated limits; beyond them nothing can, and the fund's
    capped top-up applies).
    """
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        backing, reserve = prover.symbol("backing"), prover.symbol("reserve")
        assume_position(prover, inst, position, "position")
        prover.assume(position.qty * side > 0, "long" if side > 0 else "short")
        prover.assume(reserve >= 0, "reserve ≥ 0")
        prover.assume(is_coverable(inst, position, backing, reserve), "a positive price covers the pool")
        price = compute_owing_takeover_price(inst, position, backing, reserve)
        left = backing + compute_value(inst, position.qty, price) - position.cost
        return prover.prove(all_of(price > 0, left >= 0), f"LIQ-036 owing pool keeps its reserve {symbol} side {side}")


def prove_owing_cover_ends_solvent(symbol: str, side: int) -> ProofResult:
    """LIQ-037: the last position of an owing cross pool, taken over at LIQ-037's price, leaves the pool ≥ 0 (bounds as LIQ-036)."""
    inst = load_instrument(symbol)
    with Prover() as prover:
        position = prover.record(Position, "position")
        backing, mark = prover.symbol("backing"), prover.symbol("mark_price")
        assume_position(prover, inst, position, "position")
        assume_price(prover, inst, mark, "mark price", on_tick=False)
        prover.assume(position.qty * side > 0, "long" if side > 0 else "short")
        if side < 0:
            prover.assume(backing + compute_value(inst, position.qty, 1) - position.cost >= 0, "one price unit covers")
        price = compute_owing_cover_takeover_price(inst, position, backing, mark)
        left = backing + compute_value(inst, position.qty, price) - position.cost
        return prover.prove(all_of(price > 0, left >= 0), f"LIQ-037 owing pool ends solvent {symbol} side {side}")


def prove_spot_spend_keeps_equity(rule: Callable[[int, int, int], bool]) -> ProofResult:
    """LIQ-052: a spot spend the rule accepts leaves the cross pool and the account ≥ 0, or spends nothing."""
    with Prover() as prover:
        pool, equity, spent = prover.symbol("pool_equity"), prover.symbol("account_equity"), prover.symbol("spent")
        prover.assume(spent >= 0, "spent ≥ 0")
        goal = or_(spent == 0, and_(pool - spent >= 0, equity - spent >= 0))
        return prover.prove(implies(rule(pool, equity, spent), goal), "LIQ-052")


def _spot_spend_pool_only(pool_equity: int, account_equity: int, spent: int) -> bool:
    """KNOWN-BAD LIQ-052: only the cross pool judged, the account's equity in the currency forgotten."""
    del account_equity
    return or_(pool_equity - spent >= 0, spent == 0)


SpotSpendable = Callable[[AccountMargin, int, int], int]


def _spot_spendable_by_rule(before: AccountMargin, extras: int, reserved_by_others: int) -> int:
    """LIQ-055 as the engine reads it: MRG-050's withdrawable less the tier extras (never below 0), less the others."""
    return compute_spot_spendable(max_(0, before.withdrawable_margin - extras), reserved_by_others)


def _spot_spendable_from_available(before: AccountMargin, extras: int, reserved_by_others: int) -> int:
    """KNOWN-BAD LIQ-055: the available balance (MRG-060's figure, cross unrealised profit included), as before."""
    return before.available_margin - extras - reserved_by_others


def prove_spot_spend_withdrawable(spendable_rule: SpotSpendable, positions_count: int = 2) -> ProofResult:
    """LIQ-055: a spot spend the rule accepts leaves the account's available balance in the currency covering its
    cross unrealised profit and its other spot reservations (INV-SPOT-SPEND), and the cross pool's margin (the
    wallet less the isolated margins) ≥ 0: it never spends unrealised profit, margin in use or reserved money.

    Over MRG-050 itself (``compute_account_margin``) with ``positions_count`` positions, cross and isolated
    alternately, each with any PnL and margin ≥ 0; any order margin ≥ 0, tier extras ≥ 0, reservations ≥ 0.
    """
    with Prover() as prover:
        wallet, order_margin = prover.symbol("wallet"), prover.symbol("order_margin")
        extras, reserved, spent = prover.symbol("tier_extras"), prover.symbol("reserved_by_others"), prover.symbol("spent")
        prover.assume(order_margin >= 0, "order margin ≥ 0")
        prover.assume(extras >= 0, "tier extras ≥ 0")
        prover.assume(reserved >= 0, "reservations ≥ 0")
        positions = []
        for i in range(positions_count):
            record = prover.record(PositionMargin, f"p{i}", leverage_hundredths=CROSS if i % 2 == 0 else 1_000)
            prover.assume(record.pos_margin >= 0, f"p{i}.pos_margin ≥ 0")
            positions.append(record)
        before = compute_account_margin(wallet, tuple(positions), order_margin)
        prover.assume(spent > 0, "a spend")
        prover.assume(is_spot_spend_withdrawable(spendable_rule(before, extras, reserved), spent), "LIQ-055 accepts it")
        after = compute_account_margin(wallet - spent, tuple(positions), order_margin)
        isolated = sum((p.pos_margin for p in positions if p.leverage_hundredths != CROSS), 0)
        return prover.prove(
            all_of(
                after.available_margin - after.cross_unrealised_profit - reserved >= 0,
                wallet - spent - isolated >= 0,
            ),
            f"LIQ-055 k={positions_count}",
        )


def prove_cross_pool_kept(rule: Callable[[int, int, int], bool]) -> ProofResult:
    """LIQ-053: an isolated fill the rule accepts leaves the cross pool at or above maintenance, or moves nothing."""
    with Prover() as prover:
        equity, maint, moved = prover.symbol("cross_equity"), prover.symbol("cross_maintenance"), prover.symbol("moved")
        prover.assume(maint >= 0, "maintenance ≥ 0")
        goal = or_(moved <= 0, equity - moved >= maint)
        return prover.prove(implies(rule(equity, maint, moved), goal), "LIQ-053")


def _cross_pool_kept_at_zero(cross_equity: int, cross_maintenance: int, moved: int) -> bool:
    """KNOWN-BAD LIQ-053: the cross pool only kept solvent (≥ 0), its maintenance forgotten."""
    del cross_maintenance
    return or_(moved <= 0, cross_equity - moved >= 0)


def _register() -> None:
    for symbol in SYMBOLS:
        for side, side_name in ((1, "long"), (-1, "short")):
            if load_instrument(symbol).is_inverse:
                continue  # per-lot rounded inverse values: beyond the solver here; tested (tests/test_solvency.py)
            register(
                Obligation(
                    id=f"LIQ-036/owing-pool-ends-solvent/{symbol}/{side_name}",
                    rule_id="LIQ-036",
                    invariant_id="INV-NO-NEG-EQUITY",
                    statement=(
                        f"A {symbol} {side_name} taken over at LIQ-036's price leaves its pool ≥ 0 whatever the pool "
                        "owed, the price beyond the order range where needed; the deficit stays with the liquidation "
                        "engine (fund, then ADL)."
                    ),
                    run=functools.partial(prove_owing_pool_keeps_reserve, symbol, side),
                    bounded="a positive price covers the pool (short: one price unit; inverse long: per-lot step ≥ 1)",
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
            register(
                Obligation(
                    id=f"LIQ-037/owing-cover-ends-solvent/{symbol}/{side_name}",
                    rule_id="LIQ-037",
                    invariant_id="INV-NO-NEG-EQUITY",
                    statement=(
                        f"The last {symbol} {side_name} of an owing cross pool, taken over at LIQ-037's price, leaves the "
                        "pool ≥ 0 (at the mark while it covers, beyond the price range where needed)."
                    ),
                    run=functools.partial(prove_owing_cover_ends_solvent, symbol, side),
                    bounded="a positive price covers the pool (short: one price unit)",
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
        for mode, leverage in MODES:
            register(
                Obligation(
                    id=f"LIQ-044/accepted-fill-keeps-equity/{symbol}/{mode}",
                    rule_id="LIQ-044",
                    invariant_id="INV-NO-NEG-EQUITY",
                    statement=(
                        f"A {mode} {symbol} fill accepted by LIQ-044, posted as the engine posts it (ACC-003, ACC-002, "
                        "ACC-006), leaves the account's and the pool's equity at mark ≥ 0, or no lower than before."
                    ),
                    run=functools.partial(prove_accepted_fill_keeps_equity, symbol, leverage),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
            register(
                Obligation(
                    id=f"LIQ-042/accepted-order-keeps-equity/{symbol}/{mode}",
                    rule_id="LIQ-042",
                    invariant_id="INV-NO-NEG-EQUITY",
                    statement=(
                        f"A {mode} {symbol} order reducing a solvent pool's position, accepted by LIQ-042 and filled in "
                        "full at its price, leaves the account's equity ≥ 0 and the pool at or above maintenance."
                    ),
                    run=functools.partial(prove_accepted_order_keeps_equity, symbol, leverage),
                    timeout_ms=SLOW_TIMEOUT_MS,
                )
            )
            for side, side_name in ((1, "buy"), (-1, "sell")):
                register(
                    Obligation(
                        id=f"LIQ-042/better-price-no-worse/{symbol}/{mode}/{side_name}",
                        rule_id="LIQ-042",
                        invariant_id="INV-NO-NEG-EQUITY",
                        statement=(
                            f"A {mode} {symbol} reducing {side_name} filled at a better tick price than its own leaves the "
                            "pool and the account no worse off than at its price (LIQ-042's check at its price covers it)."
                        ),
                        run=functools.partial(prove_better_price_no_worse, symbol, leverage, side),
                    )
                )
        register(
            Obligation(
                id=f"LIQ-040/isolated-fill-keeps-requirement/{symbol}",
                rule_id="LIQ-040",
                invariant_id="INV-NO-FALSE-LIQUIDATION",
                statement=(
                    f"An isolated {symbol} fill that leaves a position (reduced at any price, increased or flipped), on "
                    "a pool that held its requirement, leaves the pool holding the requirement of what is left "
                    "(ACC-006) whenever the wallet beyond the other isolated pools holds it: its excess at mark is at "
                    "least the remainder's unrealised PnL plus posInit + posComm − posMaint."
                ),
                run=functools.partial(prove_isolated_fill_keeps_requirement, symbol),
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-040/loss-charged-to-the-rest/{symbol}",
                rule_id="LIQ-040",
                invariant_id="INV-NO-FALSE-LIQUIDATION",
                statement=(
                    "Known-bad: ACC-006 before attack review 2 (the closed part's loss charged to what is left, a "
                    "flip's to the new side) leaves a pool that held its requirement below it."
                ),
                run=functools.partial(
                    prove_isolated_fill_keeps_requirement,
                    symbol,
                    compute_fill_outcome_charging_the_rest,
                    LOSS_CHARGED_TO_THE_REST_COUNTEREXAMPLES[symbol],
                ),
                expect="refuted",
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-044/fill-check-without-commission/{symbol}",
                rule_id="LIQ-044",
                invariant_id="INV-NO-NEG-EQUITY",
                statement="Known-bad: a fill check that forgets the commission accepts fills that leave equity < 0.",
                run=functools.partial(
                    prove_accepted_fill_keeps_equity, symbol, CROSS, compute_fill_outcome_without_commission
                ),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-044/fill-check-on-the-free-wallet/{symbol}",
                rule_id="LIQ-044",
                invariant_id="INV-NO-NEG-EQUITY",
                statement=(
                    "Known-bad: an isolated fill check that counts ACC-006's draws on the free wallet beyond the pool "
                    "instead of MRG-050's available at the fill (fix26_2) accepts a fill whose posted pool falls "
                    "below zero and below where it was."
                ),
                run=functools.partial(
                    prove_accepted_fill_keeps_equity,
                    symbol,
                    10_000,
                    compute_fill_outcome_on_the_free_wallet,
                    FREE_WALLET_DRAW_COUNTEREXAMPLES[symbol],
                ),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )
        register(
            Obligation(
                id=f"KNOWN-BAD/LIQ-042/order-checked-at-mark/{symbol}",
                rule_id="LIQ-042",
                invariant_id="INV-NO-NEG-EQUITY",
                statement=(
                    "Known-bad: an order checked as if executed at the mark accepts a sale through the bankruptcy "
                    "price (the collusion of issue 13) that leaves the account's equity < 0."
                ),
                run=functools.partial(
                    prove_accepted_order_keeps_equity,
                    symbol,
                    10_000,
                    is_order_solvent_at_mark,
                    ORDER_AT_MARK_COUNTEREXAMPLES[symbol],
                ),
                expect="refuted",
                timeout_ms=SLOW_TIMEOUT_MS,
            )
        )


    register(
        Obligation(
            id="LIQ-052/spot-spend-keeps-equity",
            rule_id="LIQ-052",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "A spot fill accepted by LIQ-052 leaves the cross pool and the account's equity in the currency it "
                "spends ≥ 0 (or spends nothing)."
            ),
            run=functools.partial(prove_spot_spend_keeps_equity, is_spot_spend_allowed),
        )
    )
    register(
        Obligation(
            id="LIQ-055/spot-spend-is-withdrawable",
            rule_id="LIQ-055",
            invariant_id="INV-SPOT-SPEND",
            statement=(
                "A spot spend accepted by LIQ-055 leaves the available balance in its currency covering the cross "
                "unrealised profit and the other spot reservations, and the cross pool's margin ≥ 0 (MRG-050, a "
                "cross and an isolated position)."
            ),
            run=functools.partial(prove_spot_spend_withdrawable, _spot_spendable_by_rule),
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/LIQ-055/available-balance",
            rule_id="LIQ-055",
            invariant_id="INV-SPOT-SPEND",
            statement="Known-bad: a spot spend judged on the available balance spends a cross position's unrealised profit.",
            run=functools.partial(prove_spot_spend_withdrawable, _spot_spendable_from_available),
            expect="refuted",
        )
    )
    register(
        Obligation(
            id="LIQ-053/cross-pool-kept",
            rule_id="LIQ-053",
            invariant_id="INV-NO-NEG-EQUITY",
            statement=(
                "An isolated fill accepted by LIQ-053 leaves the account's cross pool in its currency at or above "
                "maintenance after the margin it moves into the isolated pool (or moves nothing out)."
            ),
            run=functools.partial(prove_cross_pool_kept, is_cross_pool_kept),
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/LIQ-053/solvent-only",
            rule_id="LIQ-053",
            invariant_id="INV-NO-NEG-EQUITY",
            statement="Known-bad: a cross pool only kept ≥ 0 is left below maintenance by an isolated fill.",
            run=functools.partial(prove_cross_pool_kept, _cross_pool_kept_at_zero),
            expect="refuted",
        )
    )
    register(
        Obligation(
            id="KNOWN-BAD/LIQ-052/pool-only",
            rule_id="LIQ-052",
            invariant_id="INV-NO-NEG-EQUITY",
            statement="Known-bad: a spot spend judged on the cross pool alone takes the account's equity below zero.",
            run=functools.partial(prove_spot_spend_keeps_equity, _spot_spend_pool_only),
            expect="refuted",
        )
    )


_register()
