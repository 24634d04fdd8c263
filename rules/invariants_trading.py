"""INV: the trading invariants — the liquidation waterfall, ADL, the matching engine, solvency, conditional orders.

The invariants about what trading and liquidating may do to positions, orders and equity: no negative equity
after a command or a completed waterfall, the insurance fund never below zero, no social loss for a flat account,
ADL minimal and in ranking order and never at a loss, no false liquidation, an uncrossed book, ReduceOnly orders
that only reduce, and no due conditional order left untriggered.  They are listed in :data:`TRADING_INVARIANTS`,
which :mod:`rules.invariants` registers in :data:`rules.invariant_registry.REGISTRY` after its money and margin
invariants, and are checked on the same :class:`~rules.invariant_registry.ExchangeView` and
:class:`~rules.invariant_registry.StepInfo`; this module imports only that machinery, never rules.invariants.
Split out of rules/invariants.py when it passed 800 lines.

A check returns a list of violation messages; an empty list means it holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from perpspec.rules.adl import compare_adl_priority, compute_adl_score, compute_haircut
from perpspec.rules.contract import compute_value
from perpspec.rules.events import AdlFill, Liquidation, LiquidationFill, PartialLiquidation
from perpspec.rules.invariant_registry import ExchangeView, Invariant, StepInfo, compute_best_prices
from perpspec.rules.liquidation import compute_requirement, is_liquidatable
from perpspec.rules.num import concrete
from perpspec.rules.position import FLAT, Position, apply_fill
from perpspec.rules.triggers import (
    TriggerPrices,
    UntriggeredOrder,
    compute_trailed_stop_px,
    is_trigger_due,
    select_trigger_price,
)

# The trading invariants in the registry's order; rules.invariants registers them after its own (importing this
# module alone registers nothing, so the registry's order never depends on which module a reader imported first).
_DECLARED: list[Invariant] = []
_declare = _DECLARED.append

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


_declare(
    Invariant(
        id="INV-NO-NEG-EQUITY-AFTER-ADL",
        statement="Once the waterfall for a mark update completes, no trader account's equity at mark is below zero.",
        check=check_no_neg_equity_after_adl,
    )
)
_declare(
    Invariant(id="INV-INSURANCE-NONNEG", statement="Every insurance fund is ≥ 0.", check=check_insurance_nonneg)
)
_declare(
    Invariant(
        id="INV-FLAT-NO-SOCIAL-LOSS",
        statement="An account with no position never pays for another's bankruptcy (never deleveraged, never debited).",
        check=check_flat_no_social_loss,
    )
)
_declare(
    Invariant(
        id="INV-ADL-MINIMAL",
        statement=(
            "ADL closes no more than the unfilled bankrupt quantity; every fill's haircut is ≥ 0 (ADL gives nothing "
            "away) and together they never exceed the shortfall."
        ),
        check=check_adl_minimal,
    )
)
_declare(
    Invariant(
        id="INV-ADL-ORDER",
        statement="ADL follows the ranking, a strict total order (score, then larger position, then smaller account id).",
        check=check_adl_order,
    )
)
_declare(
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


_declare(
    Invariant(
        id="INV-BOOK-UNCROSSED",
        statement="After matching, best bid < best ask in every book; fills are at the maker's price in price-time priority.",
        check=check_book_uncrossed,
    )
)
_declare(
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


_declare(
    Invariant(
        id="INV-NO-NEG-EQUITY",
        statement=(
            "After every command, no trader account without a pending liquidation has negative equity at mark "
            "(no fill, transfer or withdrawal leaves a flat account owing)."
        ),
        check=check_no_neg_equity,
    )
)
_declare(
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


_declare(
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


TRADING_INVARIANTS: tuple[Invariant, ...] = tuple(_DECLARED)
