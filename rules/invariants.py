"""INV: the invariant registry — one id, one statement, one check, used by every checker.

Each invariant has a stable id (``INV-CONSERVATION``), a one-sentence
statement for the rulebook, and a check over an :class:`ExchangeView` (the
state after a step, plus what the step did).  The engine, the Hypothesis
state machines and the specs all read :data:`REGISTRY`; the Z3 obligations
use the same kernel predicates (``compute_*_gap``) on symbolic values.

A check returns a list of violation messages; an empty list means it holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import attrs

from perpspec.rules.adl import compare_adl_priority, compute_adl_score, compute_haircut
from perpspec.rules.contract import compute_value
from perpspec.rules.events import AdlFill, Liquidation, LiquidationFill, PartialLiquidation
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import compute_requirement, is_liquidatable
from perpspec.rules.margin import (
    AccountMargin,
    MarginSetting,
    compute_account_margin,
    compute_position_margin,
)
from perpspec.rules.num import concrete
from perpspec.rules.order_margin import RestingOrder, compute_contract_order_margin
from perpspec.rules.position import FLAT, Position, apply_fill
from perpspec.rules.triggers import (
    TriggerPrices,
    UntriggeredOrder,
    compute_trailed_stop_px,
    is_trigger_due,
    select_trigger_price,
)


class ExchangeView(Protocol):
    """Read-only view of a whole exchange state that invariants are checked on."""

    def assets(self) -> Sequence[str]: ...

    def account_ids(self) -> Sequence[int]: ...

    def instruments(self) -> Mapping[str, Instrument]: ...

    def wallet(self, account_id: int, asset: str) -> int: ...

    def positions(self, account_id: int) -> Mapping[str, Position]: ...

    def insurance(self, asset: str) -> int: ...

    def fee_pool(self, asset: str) -> int: ...

    def funding_pool(self, asset: str) -> int: ...

    def net_deposits(self, asset: str) -> int: ...

    def mark_price(self, symbol: str) -> int: ...

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting limit orders (leaves qty, signed); untriggered stops excluded."""
        ...

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage (0 = cross) and extra isolated margin of the account in ``symbol``."""
        ...


@attrs.frozen(kw_only=True)
class StepInfo:
    """What one step did, for invariants about transitions rather than states."""

    # accounts whose accepted order increased their order margin in this step
    # (INV-MARGIN-ON-ENTRY; a pure reduction needs no margin and is exempt)
    order_accounts: tuple[int, ...] = ()
    # ... and (account, settlement asset) of each such order when known (only that asset is checked)
    orders: tuple[tuple[int, str], ...] = ()
    # accounts that withdrew in this step (INV-WITHDRAW-SAFE: each of their assets is checked) ...
    withdraw_accounts: tuple[int, ...] = ()
    # ... and (account, asset) of each withdrawal when the asset is known (only that asset is checked)
    withdrawals: tuple[tuple[int, str], ...] = ()
    # (account, asset, reserved) of each account whose spot order was accepted in this step asking for money: the
    # asset it spends and what the account's *other* live spot orders reserve in it after the step (INV-SPOT-SPEND)
    spot_orders: tuple[tuple[int, str, int], ...] = ()
    # (account, asset) of each account that spent the asset in a spot fill of this step (INV-SPOT-SPEND)
    spot_spends: tuple[tuple[int, str], ...] = ()
    # True once the liquidation waterfall for a mark update has completed
    waterfall_complete: bool = False
    # funding exchanges applied in this step (INV-FUNDING-ZERO-SUM)
    funding: tuple[FundingPostings, ...] = ()
    # the liquidation waterfall's events in this step (rules.events; INV-NO-FALSE-LIQUIDATION, INV-ADL-*)
    waterfall_events: tuple[object, ...] = ()
    # (account, asset, wallet) of every trader account that held no position before the step
    # (INV-FLAT-NO-SOCIAL-LOSS)
    flat_before: tuple[tuple[int, str, int], ...] = ()
    # (account, symbol, position qty before, after) of every ReduceOnly or Close order that traded as the
    # incoming order in this step (INV-REDUCE-ONLY over fills)
    reduce_only_fills: tuple[tuple[int, str, int, int], ...] = ()
    # trader accounts the liquidation engine has not finished with: a take-over not yet closed (informational:
    # INV-NO-NEG-EQUITY no longer exempts them, a flat account's wallet after its take-over is final)
    liquidating_accounts: tuple[int, ...] = ()


Check = Callable[[ExchangeView, StepInfo], list[str]]


@attrs.frozen(kw_only=True)
class Invariant:
    """A named invariant: id, statement, and the one check every checker uses."""

    id: str
    statement: str
    check: Check


def compute_conservation_gap(
    wallets_minus_costs: int, insurance: int, fees: int, funding_pool: int, net_deposits: int
) -> int:
    """INV-CONSERVATION kernel: zero exactly when funds are conserved."""
    return wallets_minus_costs + insurance + fees + funding_pool - net_deposits


@concrete
def check_conservation(view: ExchangeView, step: StepInfo) -> list[str]:
    """Per asset: Σ(wallet − cost) + insurance + fees + funding pool = net deposits."""
    del step
    problems = []
    instruments = view.instruments()
    for asset in view.assets():
        settled_in_asset = {symbol for symbol, inst in instruments.items() if inst.settl_currency == asset}
        total = 0
        for account_id in view.account_ids():
            total += view.wallet(account_id, asset)
            for symbol, position in view.positions(account_id).items():
                if symbol in settled_in_asset:
                    total -= position.cost
        gap = compute_conservation_gap(
            total, view.insurance(asset), view.fee_pool(asset), view.funding_pool(asset), view.net_deposits(asset)
        )
        if gap != 0:
            problems.append(f"{asset}: funds off by {gap} minor units")
    return problems


def compute_oi_imbalance(quantities: Sequence[int]) -> int:
    """INV-OI-BALANCE kernel: Σ signed quantities; zero when longs equal shorts."""
    total = 0
    for qty in quantities:
        total = total + qty
    return total


@concrete
def check_oi_balance(view: ExchangeView, step: StepInfo) -> list[str]:
    """Per instrument: Σ long qty = Σ short qty."""
    del step
    per_symbol: dict[str, list[int]] = {symbol: [] for symbol in view.instruments()}
    for account_id in view.account_ids():
        for symbol, position in view.positions(account_id).items():
            per_symbol[symbol].append(position.qty)
    return [
        f"{symbol}: open interest off by {compute_oi_imbalance(qtys)} contracts"
        for symbol, qtys in sorted(per_symbol.items())
        if compute_oi_imbalance(qtys) != 0
    ]


REGISTRY: dict[str, Invariant] = {}


def register(invariant: Invariant) -> Invariant:
    """Add an invariant to the registry (ids are unique)."""
    assert invariant.id not in REGISTRY, invariant.id
    REGISTRY[invariant.id] = invariant
    return invariant


register(
    Invariant(
        id="INV-CONSERVATION",
        statement=(
            "Per settlement asset, Σ(wallet − cost basis) + insurance + fees + pending funding "
            "= net deposits, after every transition."
        ),
        check=check_conservation,
    )
)
register(
    Invariant(
        id="INV-OI-BALANCE",
        statement="Per instrument, the sum of long quantities equals the sum of short quantities.",
        check=check_oi_balance,
    )
)


@concrete
def check_all(view: ExchangeView, step: StepInfo) -> dict[str, list[str]]:
    """Every registered invariant's violations (empty lists when all hold)."""
    return {inv_id: invariant.check(view, step) for inv_id, invariant in REGISTRY.items()}


# --- margin invariants (INV-MARGIN-ON-ENTRY, INV-WITHDRAW-SAFE) ---------------------------


@concrete
def compute_best_prices(view: ExchangeView, symbol: str) -> tuple[int, int]:
    """(best bid, best ask) of ``symbol`` over every account's resting orders; 0 for an empty side."""
    best_bid: int | None = None  # max over the bids (one pass over every account's orders, both sides)
    best_ask: int | None = None  # min over the asks
    for account_id in view.account_ids():
        for order in view.open_orders(account_id):
            if order.symbol != symbol:
                continue
            if order.qty > 0:
                if best_bid is None or order.price > best_bid:
                    best_bid = order.price
            elif order.qty < 0 and (best_ask is None or order.price < best_ask):
                best_ask = order.price
    return (0 if best_bid is None else best_bid), (0 if best_ask is None else best_ask)


@concrete
def compute_view_account_margin(
    view: ExchangeView, account_id: int, asset: str, best_prices: dict[str, tuple[int, int]] | None = None
) -> AccountMargin:
    """Applies MRG-050 over a whole state: one account's margin in ``asset`` (positions, orders, settings).

    ``best_prices`` caches :func:`compute_best_prices` per symbol across calls on the same state.
    """
    cache = {} if best_prices is None else best_prices
    instruments = view.instruments()
    positions = view.positions(account_id)
    orders = view.open_orders(account_id)
    lines = []
    order_margin = 0
    for symbol, inst in sorted(instruments.items()):
        if inst.settl_currency != asset:
            continue
        position = positions.get(symbol, FLAT)
        setting = view.margin_setting(account_id, symbol)
        mark = view.mark_price(symbol)
        mine = tuple((o.qty, o.price) for o in orders if o.symbol == symbol)
        if mark <= 0 and position.qty == 0 and not mine:
            continue  # a contract with no mark price yet: nothing held or ordered in it (value at price 0 undefined)
        lines.append(compute_position_margin(inst, position, mark, setting.leverage_hundredths, setting.pos_cross))
        if mine:
            if symbol not in cache:
                cache[symbol] = compute_best_prices(view, symbol)
            best_bid, best_ask = cache[symbol]
            order_margin += compute_contract_order_margin(
                inst, position, mine, mark, best_bid, best_ask, setting.leverage_hundredths
            ).total
    return compute_account_margin(view.wallet(account_id, asset), tuple(lines), order_margin)


@concrete
def check_margin_on_entry(view: ExchangeView, step: StepInfo) -> list[str]:
    """After an accepted order that needed margin, the account's available balance in its settlement asset is ≥ 0.

    An order draws margin in its instrument's settlement asset only: another asset's margin may
    already be short (a mark move did that), so only the order's asset is judged when known.
    """
    problems = []
    best_prices: dict[str, tuple[int, int]] = {}
    checked = set(step.orders)
    checked.update((account_id, asset) for account_id in step.order_accounts for asset in view.assets())
    for account_id, asset in sorted(checked):
        available = compute_view_account_margin(view, account_id, asset, best_prices).available_margin
        if available < 0:
            problems.append(f"account {account_id} {asset}: available balance {available} < 0 after an order")
    return problems


@concrete
def check_withdraw_safe(view: ExchangeView, step: StepInfo) -> list[str]:
    """After a withdrawal, the account's available balance in the withdrawn asset still covers its unrealised profit.

    A withdrawal moves one asset: the account's margin in another asset may already be short
    (a mark move did that, not the withdrawal), so only the withdrawn asset is judged when known.
    """
    problems = []
    best_prices: dict[str, tuple[int, int]] = {}
    checked = set(step.withdrawals)
    checked.update((account_id, asset) for account_id in step.withdraw_accounts for asset in view.assets())
    for account_id, asset in sorted(checked):
        margin = compute_view_account_margin(view, account_id, asset, best_prices)
        free = margin.available_margin - margin.cross_unrealised_profit
        if free < 0:
            problems.append(
                f"account {account_id} {asset}: withdrawal took {-free} of margin in use or unrealised profit"
            )
    return problems


register(
    Invariant(
        id="INV-MARGIN-ON-ENTRY",
        statement=(
            "An accepted order that needs margin never leaves the account's available balance below zero "
            "(a pure reduction needs none and is always accepted)."
        ),
        check=check_margin_on_entry,
    )
)
register(
    Invariant(
        id="INV-WITHDRAW-SAFE",
        statement="A withdrawal never takes margin in use or unrealised profit: available − unrealised profit ≥ 0 after it.",
        check=check_withdraw_safe,
    )
)


@concrete
def check_spot_spend(view: ExchangeView, step: StepInfo) -> list[str]:
    """After a spot trade, the currency it spent was withdrawable money: never unrealised profit or margin in use.

    Each account that spent a currency in a spot fill of the step keeps its available balance in it at or above
    its cross unrealised profit (as after a withdrawal, INV-WITHDRAW-SAFE); an account whose spot order was
    accepted keeps it at or above that profit plus what its other live spot orders reserve (LIQ-055).  Only the
    spent currency is judged: another one may already be short by a mark move.
    """
    problems = []
    best_prices: dict[str, tuple[int, int]] = {}
    others = {(account_id, asset): reserved for account_id, asset, reserved in step.spot_orders}
    for account_id, asset in sorted({*step.spot_spends, *others}):
        margin = compute_view_account_margin(view, account_id, asset, best_prices)
        reserved = others.get((account_id, asset), 0)
        free = margin.available_margin - margin.cross_unrealised_profit - reserved
        if free < 0:
            problems.append(
                f"account {account_id} {asset}: a spot trade took {-free} of margin in use, unrealised profit "
                f"or money its other spot orders reserve ({reserved})"
            )
    return problems


register(
    Invariant(
        id="INV-SPOT-SPEND",
        statement=(
            "A spot trade spends only withdrawable money: after it, the spender's available balance in the currency "
            "it spent covers its unrealised profit (and, for an accepted spot order, its other spot reservations)."
        ),
        check=check_spot_spend,
    )
)


@attrs.frozen(kw_only=True)
class FundingPostings:
    """What one funding exchange posted: every holder's wallet delta and the residue to its home."""

    asset: str
    symbol: str
    wallet_deltas: tuple[int, ...]  # per holder: −payment (payers < 0, receivers > 0)
    residue: int  # credited to the insurance fund of ``asset`` (rules/funding.py)


def compute_funding_imbalance(wallet_deltas: tuple[int, ...], residue: int) -> int:
    """INV-FUNDING-ZERO-SUM kernel: Σ wallet deltas + residue; zero when paid = received + residue."""
    total = residue
    for delta in wallet_deltas:
        total = total + delta
    return total


@concrete
def check_funding_zero_sum(view: ExchangeView, step: StepInfo) -> list[str]:
    """Every funding exchange of the step: paid = received + residue, and the residue is ≥ 0."""
    del view
    problems = []
    for postings in step.funding:
        gap = compute_funding_imbalance(postings.wallet_deltas, postings.residue)
        if gap != 0:
            problems.append(f"{postings.symbol}: funding postings off by {gap} {postings.asset}")
        if postings.residue < 0:
            problems.append(f"{postings.symbol}: negative funding residue {postings.residue}")
    return problems


register(
    Invariant(
        id="INV-FUNDING-ZERO-SUM",
        statement=(
            "At every funding instant, funding paid = funding received + rounding residue (0 ≤ residue, "
            "credited to the insurance fund), so funding creates and destroys nothing."
        ),
        check=check_funding_zero_sum,
    )
)


# -- the liquidation waterfall (rules/liquidation.py, insurance.py, adl.py, waterfall*.py) ---------------
# Negative account ids are system accounts (the liquidation engine,
# rules.waterfall_state.LIQUIDATOR_ACCOUNT_ID): they hold taken-over positions and are not traders.


@concrete
def compute_account_equity(view: ExchangeView, account_id: int, asset: str) -> int:
    """An account's margin balance in ``asset`` at mark: wallet + Σ(markValue − cost)."""
    instruments = view.instruments()
    total = view.wallet(account_id, asset)
    for symbol, position in view.positions(account_id).items():
        inst = instruments[symbol]
        if inst.settl_currency == asset:
            total += compute_value(inst, position.qty, view.mark_price(symbol)) - position.cost
    return total


@concrete
def check_no_neg_equity_after_adl(view: ExchangeView, step: StepInfo) -> list[str]:
    """Once a mark update's waterfall has completed, no trader's margin balance is below zero."""
    if not step.waterfall_complete:
        return []
    return [
        f"account {account_id} {asset}: equity {equity} < 0 after the waterfall"
        for account_id in view.account_ids()
        if account_id >= 0
        for asset in view.assets()
        if (equity := compute_account_equity(view, account_id, asset)) < 0
    ]


@concrete
def check_insurance_nonneg(view: ExchangeView, step: StepInfo) -> list[str]:
    """Every insurance fund holds zero or more."""
    del step
    return [f"{asset}: insurance fund {view.insurance(asset)} < 0" for asset in view.assets() if view.insurance(asset) < 0]


@concrete
def check_flat_no_social_loss(view: ExchangeView, step: StepInfo) -> list[str]:
    """An account flat before the step is never deleveraged and, still flat, has not lost money.

    Unless it opened a position in the step itself by filling the liquidation
    engine's orders as a maker (it then holds a position when deleveraged).
    """
    makers: set[int] = set()
    for event in step.waterfall_events:
        if isinstance(event, LiquidationFill):
            makers.add(event.maker_account_id)
        elif isinstance(event, PartialLiquidation):
            makers.update(event.makers)
    deleveraged = {
        event.account_id
        for event in step.waterfall_events
        if isinstance(event, AdlFill) and event.account_id not in makers
    }
    instruments = view.instruments()
    problems = []
    for account_id, asset, wallet_before in step.flat_before:
        if account_id in deleveraged:
            problems.append(f"account {account_id}: deleveraged while flat")
        holds = any(instruments[symbol].settl_currency == asset for symbol in view.positions(account_id))
        if not holds and view.wallet(account_id, asset) < wallet_before:
            problems.append(f"account {account_id} {asset}: flat account lost {wallet_before - view.wallet(account_id, asset)}")
    return problems


@concrete
def _adl_groups(step: StepInfo) -> list[list[AdlFill]]:
    """ADL fills of the step, grouped by the taken-over position they closed (in event order)."""
    groups: dict[int, list[AdlFill]] = {}
    order: list[int] = []
    for event in step.waterfall_events:
        if isinstance(event, AdlFill):
            if event.pending_id not in groups:
                groups[event.pending_id] = []
                order.append(event.pending_id)
            groups[event.pending_id].append(event)
    return [groups[pending_id] for pending_id in order]


@concrete
def check_adl_minimal(view: ExchangeView, step: StepInfo) -> list[str]:
    """ADL closes no more than the unfilled quantity, no position beyond its size; each haircut ≥ 0, all ≤ the shortfall.

    A fill's haircut below zero would be a gift: a held close-out the mark had not taken to its bankruptcy price
    (in profit at mark) closed there, its profit handed to the opposing trader (ADL-032; session 16, red team 15).
    """
    problems = []
    for group in _adl_groups(step):
        first = group[0]
        inst = view.instruments()[first.symbol]
        unfilled = first.unfilled_before
        haircut = 0
        for fill in group:
            closed = abs(fill.close_qty)
            if fill.unfilled_before != unfilled or fill.unfilled_after != unfilled - closed or fill.unfilled_after < 0:
                problems.append(f"{fill.symbol} close-out {fill.pending_id}: closes more than is unfilled")
            if closed > abs(fill.position_qty) or fill.close_qty * fill.position_qty <= 0:
                problems.append(f"{fill.symbol} account {fill.account_id}: closes beyond its position")
            if fill.haircut < 0:
                problems.append(
                    f"{fill.symbol} close-out {fill.pending_id}: account {fill.account_id}'s haircut {fill.haircut} < 0 "
                    f"(closed at {fill.price}, mark {fill.mark_price}: the mark had not reached the bankruptcy price)"
                )
            unfilled -= closed
            haircut += fill.haircut
        side = 1 if first.position_qty > 0 else -1
        shortfall = compute_haircut(inst, side * first.unfilled_before, first.mark_price, first.price)
        if haircut > max(shortfall, 0):
            problems.append(f"{first.symbol} close-out {first.pending_id}: haircut {haircut} > shortfall {shortfall}")
    return problems


@concrete
def check_adl_order(view: ExchangeView, step: StepInfo) -> list[str]:
    """ADL fills follow the ranking (ADL-001 scores, ADL-002 strict order) from the top."""
    problems = []
    for group in _adl_groups(step):
        inst = view.instruments()[group[0].symbol]
        for fill in group:
            score = compute_adl_score(
                compute_value(inst, fill.position_qty, fill.mark_price), fill.position_cost, fill.pool_equity
            )
            if (score.num, score.den) != (fill.score_num, fill.score_den):
                problems.append(f"account {fill.account_id}: ranking score is not ADL-001's")
        for before, after in itertools.pairwise(group):
            order = compare_adl_priority(
                before.score_num, before.score_den, abs(before.position_qty), before.account_id,
                after.score_num, after.score_den, abs(after.position_qty), after.account_id,
            )  # fmt: skip
            if order != 1:
                problems.append(f"{before.symbol}: account {after.account_id} deleveraged out of ranking order")
    return problems


@concrete
def check_no_false_liquidation(view: ExchangeView, step: StepInfo) -> list[str]:
    """Every liquidation step acted on a pool whose equity was below its maintenance at the mark price."""
    problems = []
    instruments = view.instruments()
    for event in step.waterfall_events:
        if not isinstance(event, Liquidation | PartialLiquidation):
            continue
        equity, maintenance = event.pool_margin, 0
        for snap in event.positions:
            inst = instruments[snap.symbol]
            mark = view.mark_price(snap.symbol)
            if snap.mark_price != mark:
                problems.append(f"account {event.account_id} {snap.symbol}: judged at {snap.mark_price}, mark is {mark}")
            position = Position(qty=snap.qty, cost=snap.cost)
            equity += compute_value(inst, snap.qty, mark) - snap.cost
            maintenance += compute_requirement(inst, position, snap.leverage_hundredths, snap.chosen_tier).pos_maint
        if not is_liquidatable(equity, maintenance):
            problems.append(
                f"account {event.account_id} {event.pool}: liquidated with equity {equity} ≥ maintenance {maintenance}"
            )
    return problems


register(
    Invariant(
        id="INV-NO-NEG-EQUITY-AFTER-ADL",
        statement="Once the waterfall for a mark update completes, no trader account's equity at mark is below zero.",
        check=check_no_neg_equity_after_adl,
    )
)
register(
    Invariant(id="INV-INSURANCE-NONNEG", statement="Every insurance fund is ≥ 0.", check=check_insurance_nonneg)
)
register(
    Invariant(
        id="INV-FLAT-NO-SOCIAL-LOSS",
        statement="An account with no position never pays for another's bankruptcy (never deleveraged, never debited).",
        check=check_flat_no_social_loss,
    )
)
register(
    Invariant(
        id="INV-ADL-MINIMAL",
        statement=(
            "ADL closes no more than the unfilled bankrupt quantity; every fill's haircut is ≥ 0 (ADL gives nothing "
            "away) and together they never exceed the shortfall."
        ),
        check=check_adl_minimal,
    )
)
register(
    Invariant(
        id="INV-ADL-ORDER",
        statement="ADL follows the ranking, a strict total order (score, then larger position, then smaller account id).",
        check=check_adl_order,
    )
)
register(
    Invariant(
        id="INV-NO-FALSE-LIQUIDATION",
        statement="A position is liquidated only if its pool's margin is below maintenance at the mark price.",
        check=check_no_false_liquidation,
    )
)


# -- the matching engine (engine/core/book.py, engine/core/exchange.py) ------------------------------------------


@concrete
def check_book_uncrossed(view: ExchangeView, step: StepInfo) -> list[str]:
    """After matching, every contract's best bid is below its best ask (resting orders of every account).

    Fills at the maker's price and price-time priority are properties of the
    matching itself; they are checked by the differential test of the fast
    book against the naive reference book (tests/test_book_differential.py).
    """
    del step
    problems = []
    for symbol in sorted(view.instruments()):
        bid, ask = compute_best_prices(view, symbol)
        if bid > 0 and ask > 0 and bid >= ask:
            problems.append(f"{symbol}: book crossed, best bid {bid} >= best ask {ask}")
    return problems


@concrete
def check_reduce_only(view: ExchangeView, step: StepInfo) -> list[str]:
    """Every live ReduceOnly order is on the reducing side of its position and no larger than it.

    So no fill of one can increase or flip a position.  Views that keep
    ReduceOnly orders expose them as ``reduce_only_orders(account_id)``
    (signed leaves qty, like ``open_orders``); a view without that method has
    none to check.
    """
    del step
    listing = getattr(view, "reduce_only_orders", None)
    if listing is None:
        return []
    problems = []
    for account_id in view.account_ids():
        positions = view.positions(account_id)
        for order in listing(account_id):
            held = positions.get(order.symbol, FLAT).qty
            if order.qty * held >= 0 or abs(order.qty) > abs(held):
                problems.append(
                    f"account {account_id} {order.symbol}: ReduceOnly order {order.qty} against position {held}"
                )
    return problems


@concrete
def check_reduce_only_fills(view: ExchangeView, step: StepInfo) -> list[str]:
    """Every ReduceOnly/Close order that traded in the step left its position on the same side (or flat) and no larger."""
    del view
    problems = []
    for account_id, symbol, before, after in step.reduce_only_fills:
        if before * after < 0 or abs(after) > abs(before) or (before == 0 and after != 0):
            problems.append(f"account {account_id} {symbol}: ReduceOnly order took the position from {before} to {after}")
    return problems


@concrete
def check_reduce_only_orders_and_fills(view: ExchangeView, step: StepInfo) -> list[str]:
    """INV-REDUCE-ONLY: the live ReduceOnly orders (:func:`check_reduce_only`) and the step's ReduceOnly fills."""
    return check_reduce_only(view, step) + check_reduce_only_fills(view, step)


register(
    Invariant(
        id="INV-BOOK-UNCROSSED",
        statement="After matching, best bid < best ask in every book; fills are at the maker's price in price-time priority.",
        check=check_book_uncrossed,
    )
)
register(
    Invariant(
        id="INV-REDUCE-ONLY",
        statement=(
            "A reduce-only order never increases or flips a position: each live one is opposite to and within it, "
            "and a ReduceOnly or Close order's fills leave its position on the same side or flat, and no larger."
        ),
        check=check_reduce_only_orders_and_fills,
    )
)


# -- solvency after every command (rules/solvency.py) and ADL-003 -------------------------------------------


@concrete
def has_open_position(view: ExchangeView, account_id: int, asset: str) -> bool:
    """Whether the account holds a position in a contract settled in ``asset`` (it can still be liquidated)."""
    instruments = view.instruments()
    for symbol in view.positions(account_id):  # noqa: SIM110 - a loop, not any(): no generator per account
        if instruments[symbol].settl_currency == asset:
            return True
    return False


@concrete
def check_no_neg_equity(view: ExchangeView, step: StepInfo) -> list[str]:
    """No trader account without a pending liquidation has negative equity at mark, after any command.

    Pending: the account holds a position in the currency (a position whose
    pool is below zero is below maintenance, so the waterfall of the next mark
    update liquidates it; funding and mark updates run it at once).  A flat
    account below zero is never pending: nothing will ever cover it — also
    while the liquidation engine still works a close-out taken from it, which
    moves only the fund's money, never the trader's (session 9: exempting
    such an account hid a debt for as long as its close-out stayed open).
    """
    return check_no_neg_equity_of(view, step, view.account_ids())


@concrete
def check_no_neg_equity_of(view: ExchangeView, step: StepInfo, account_ids: Iterable[int]) -> list[str]:
    """INV-NO-NEG-EQUITY for the given accounts only (a simulator checks the accounts a command touched)."""
    del step
    problems = []
    for account_id in account_ids:
        if account_id < 0:
            continue
        for asset in view.assets():
            # an account holding a position in the asset is pending, whatever its equity: only the others' is computed
            if has_open_position(view, account_id, asset):
                continue
            equity = compute_account_equity(view, account_id, asset)
            if equity < 0:
                problems.append(f"account {account_id} {asset}: equity {equity} < 0 with no position left to liquidate")
    return problems


@concrete
def check_adl_not_losing(view: ExchangeView, step: StepInfo) -> list[str]:
    """Every ADL fill realises a PnL ≥ 0 at the ADL price for the deleveraged position (ADL-003)."""
    problems = []
    instruments = view.instruments()
    for event in step.waterfall_events:
        if not isinstance(event, AdlFill):
            continue
        inst = instruments[event.symbol]
        position = Position(qty=event.position_qty, cost=event.position_cost)
        _, realised = apply_fill(inst, position, -event.close_qty, event.price)
        if realised < 0:
            problems.append(
                f"account {event.account_id} {event.symbol}: deleveraged at {event.price} with realised PnL {realised} < 0"
            )
    return problems


@concrete
def check_after_command(view: ExchangeView, step: StepInfo, touched: Iterable[int]) -> dict[str, list[str]]:
    """The per-command invariants, cheap enough for every command of a large simulation.

    INV-NO-NEG-EQUITY on the accounts the command touched (the others did not
    change) and INV-REDUCE-ONLY over the command's ReduceOnly fills.
    """
    return {
        "INV-NO-NEG-EQUITY": check_no_neg_equity_of(view, step, sorted(set(touched))),
        "INV-REDUCE-ONLY": check_reduce_only_fills(view, step),
    }


register(
    Invariant(
        id="INV-NO-NEG-EQUITY",
        statement=(
            "After every command, no trader account without a pending liquidation has negative equity at mark "
            "(no fill, transfer or withdrawal leaves a flat account owing)."
        ),
        check=check_no_neg_equity,
    )
)
register(
    Invariant(
        id="INV-ADL-NOT-LOSING",
        statement="Every ADL fill realises a PnL ≥ 0 at the ADL price for the deleveraged side (ADL-003).",
        check=check_adl_not_losing,
    )
)


# -- conditional orders (rules/triggers.py, engine/core/triggers.py) --------------------------------------------


@concrete
def check_triggers_due_fired(view: ExchangeView, step: StepInfo) -> list[str]:
    """No untriggered conditional order is due (ORD-015) at the prices its contract is left at.

    Every command that moves a price (a mark, index or last price: a trade, a
    liquidation's close-out in any contract of a taken-over pool) or places or
    amends a conditional order fires what is due before it ends, so after any
    accepted command every live untriggered order is still waiting: it is not
    due at its trigger source's price (ORD-013) and the mark (ORD-014's band);
    and every trailing stop has followed those prices as far as they count:
    :func:`~rules.triggers.compute_trailed_stop_px` moves it no further (ORD-007;
    a LastWithinMark one only within the band, ORD-014).  Views that keep conditional orders expose them per contract as
    ``untriggered_orders(symbol)`` and the prices as ``trigger_prices(symbol)``
    (:class:`~rules.triggers.TriggerPrices`); a view without them has none to check.
    """
    return check_triggers_due_fired_of(view, step, sorted(view.instruments()))


@concrete
def check_triggers_due_fired_of(view: ExchangeView, step: StepInfo, symbols: Iterable[str]) -> list[str]:
    """INV-TRIGGERS-DUE-FIRED for the given contracts only (a simulator checks those a command can have changed)."""
    del step
    listing = getattr(view, "untriggered_orders", None)
    reading = getattr(view, "trigger_prices", None)
    if listing is None or reading is None:
        return []
    problems = []
    for symbol in symbols:
        orders: Sequence[UntriggeredOrder] = listing(symbol)
        if not orders:
            continue
        prices: TriggerPrices = reading(symbol)
        mark = prices.mark_price
        for order in orders:
            price = select_trigger_price(order.trigger_source, prices)
            if is_trigger_due(order.is_buy, order.if_touched, order.last_within_mark, order.stop_px, price, mark):
                kind = "if-touched" if order.if_touched else "trailing stop" if order.trailing else "stop"
                problems.append(
                    f"{symbol}: account {order.account}'s {'buy' if order.is_buy else 'sell'} {kind} {order.order_id} "
                    f"(stopPx {order.stop_px}, {order.trigger_source}"
                    f"{', LastWithinMark' if order.last_within_mark else ''}) is due at {price} (mark {mark}) "
                    "and was not triggered"
                )
            elif order.trailing:
                trailed = compute_trailed_stop_px(
                    order.is_buy, order.last_within_mark, order.stop_px, price, mark, order.peg_offset
                )
                if trailed != order.stop_px:
                    problems.append(
                        f"{symbol}: account {order.account}'s {'buy' if order.is_buy else 'sell'} trailing stop "
                        f"{order.order_id} (stopPx {order.stop_px}, pegOffsetValue {order.peg_offset}, "
                        f"{order.trigger_source}{', LastWithinMark' if order.last_within_mark else ''}) was not moved "
                        f"by {price} (mark {mark}): ORD-007 puts it at {trailed}"
                    )
    return problems


register(
    Invariant(
        id="INV-TRIGGERS-DUE-FIRED",
        statement=(
            "After every accepted command, no live untriggered conditional order is due (ORD-015) at the mark, last "
            "and index prices the command leaves: every order a price move reached has been triggered, and every "
            "trailing stop has followed the prices that count (ORD-007, ORD-014)."
        ),
        check=check_triggers_due_fired,
    )
)
