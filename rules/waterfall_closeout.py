"""Step 2 of the liquidation waterfall: closing out a taken-over position, then ADL.

Part of the waterfall of :mod:`rules.waterfall` (LIQ-032, :func:`close_out`): a
position the liquidation engine holds is closed in the book while the fund can
pay for fills worse than the bankruptcy price; the rest stays with the
liquidation engine while the fund still covers it at mark (ADL-031,
:func:`get_fund_cover`); once the fund is depleted and the mark has reached its
bankruptcy price (ADL-032: one in profit at mark is kept) it is closed by ADL at the
bankruptcy price against the ranked eligible opposing positions (ADL-003,
ADL-020, :func:`get_adl_candidates`).
"""

from __future__ import annotations

import attrs

from perpspec.rules.adl import (
    AdlCandidate,
    AdlPolicy,
    compute_fund_cover,
    compute_haircut,
    compute_held_pnl,
    is_adl_due,
    is_adl_eligible,
    rank_candidates,
)
from perpspec.rules.contract import compute_value
from perpspec.rules.events import (
    AdlDeferred,
    AdlFill,
    AdlShortfall,
    LiquidationFill,
    OrdersCancelled,
)
from perpspec.rules.insurance import (
    Fill,
    compute_fill_delta,
    settle_close_out,
)
from perpspec.rules.liquidation_working import get_working_offers
from perpspec.rules.num import concrete
from perpspec.rules.waterfall_postings import apply_fund_movement, apply_holding, apply_holding_fill
from perpspec.rules.waterfall_state import (
    Book,
    Ledger,
    PendingCloseOut,
    Pool,
    Recorder,
    apply_book_consumption,
    get_book_side,
    get_pool,
)


@concrete
def _set_pending_qty(ledger: Ledger, pending_id: int, qty: int) -> Ledger:
    """The engine's remaining quantity of one close-out (dropped once 0)."""
    kept = tuple(
        attrs.evolve(item, qty=qty) if item.pending_id == pending_id else item
        for item in ledger.pending
        if item.pending_id != pending_id or qty != 0
    )
    return attrs.evolve(ledger, pending=kept)


@concrete
def _candidate_pool(ledger: Ledger, account_id: int, symbol: str) -> Pool:
    holding = ledger.holdings[(account_id, symbol)]
    currency = ledger.instrument_map[symbol].settl_currency
    key = f"isolated:{symbol}" if holding.is_isolated else f"cross:{currency}"
    return get_pool(ledger, account_id, key)


@concrete
def get_adl_candidates(ledger: Ledger, item: PendingCloseOut) -> list[AdlCandidate]:
    """Applies ADL-003 over the ledger: the eligible opposing positions, in ranking order (ADL-005)."""
    inst = ledger.instrument_map[item.symbol]
    mark = ledger.marks[item.symbol]
    candidates: list[AdlCandidate] = []
    for (account, symbol), holding in sorted(ledger.holdings.items()):
        if symbol != item.symbol or account < 0 or holding.position.qty == 0:
            continue
        pool = _candidate_pool(ledger, account, symbol)
        position = holding.position
        if is_adl_eligible(inst, position.qty, position.cost, pool.equity, mark, item.qty, item.takeover_price):
            candidates.append(
                AdlCandidate(
                    account_id=account,
                    qty=position.qty,
                    cost=position.cost,
                    pool_equity=pool.equity,
                    mark_value=compute_value(inst, position.qty, mark),
                )
            )
    return rank_candidates(candidates)


@concrete
def _adl(ledger: Ledger, item: PendingCloseOut, policy: AdlPolicy, rec: Recorder) -> tuple[Ledger, int]:
    """ADL-020: close ``item.qty`` against the ranked eligible opposing positions; returns the signed rest."""
    inst = ledger.instrument_map[item.symbol]
    mark = ledger.marks[item.symbol]
    ranked = get_adl_candidates(ledger, item)
    side = 1 if item.qty > 0 else -1
    unfilled = abs(item.qty)
    allocation = policy.allocate([abs(c.qty) // inst.lot_size for c in ranked], unfilled // inst.lot_size)
    for rank, (candidate, lots) in enumerate(zip(ranked, allocation, strict=True)):
        if lots == 0:
            continue
        close_qty = (lots if candidate.qty > 0 else -lots) * inst.lot_size
        holding = ledger.holdings[(candidate.account_id, item.symbol)]
        if holding.open_order_qty > 0:
            ledger = apply_holding(ledger, candidate.account_id, item.symbol, attrs.evolve(holding, open_order_qty=0))
            cancel = OrdersCancelled(
                rule_id="LIQ-020",
                account_id=candidate.account_id,
                symbol=item.symbol,
                open_order_qty=holding.open_order_qty,
                reason="adl",
            )
            rec.emit(cancel, ledger)
        ledger = apply_holding_fill(ledger, candidate.account_id, item.symbol, -close_qty, item.takeover_price)
        ledger = _set_pending_qty(ledger, item.pending_id, side * (unfilled - abs(close_qty)))
        after = _candidate_pool(ledger, candidate.account_id, item.symbol)
        score = candidate.score
        event = AdlFill(
            rule_id="ADL-020",
            policy=policy.name,
            pending_id=item.pending_id,
            symbol=item.symbol,
            account_id=candidate.account_id,
            rank=rank,
            position_qty=candidate.qty,
            position_cost=candidate.cost,
            pool_equity=candidate.pool_equity,
            score_num=score.num,
            score_den=score.den,
            close_qty=close_qty,
            price=item.takeover_price,
            mark_price=mark,
            haircut=compute_haircut(inst, close_qty, mark, item.takeover_price),
            unfilled_before=unfilled,
            unfilled_after=unfilled - abs(close_qty),
            equity_after=after.equity,
        )
        unfilled -= abs(close_qty)
        rec.emit(event, ledger)
    if unfilled > 0:
        shortfall = AdlShortfall(
            rule_id="ADL-021",
            pending_id=item.pending_id,
            symbol=item.symbol,
            unfilled_qty=unfilled,
            bankruptcy_price=item.takeover_price,
            eligible_count=len(ranked),
        )
        rec.emit(shortfall, ledger)
    return ledger, side * unfilled


@concrete
def close_out(
    ledger: Ledger, books: dict[str, Book], item: PendingCloseOut, policy: AdlPolicy, rec: Recorder
) -> tuple[Ledger, int]:
    """LIQ-032: close one taken-over position: the book while the fund can pay, then ADL. Returns the signed rest.

    The book levels offered are LIQ-051's: those within the working limit (LIQ-050) of the
    position's age, or within the close-out bound (5% past the mark) once ADL-032 says it is due
    (ADL-031's cover < 0 and the mark at or beyond its bankruptcy price); never further than 5%
    past the mark, and, while the mark has not reached that price, none worse than it (session 17).
    The rest is deleveraged at the bankruptcy price (ADL-020) once ADL-032 says it is due, else kept.
    """
    inst = ledger.instrument_map[item.symbol]
    currency = inst.settl_currency
    book = books.get(item.symbol, Book())
    levels = get_book_side(book, item.qty)
    usable = [(index, level) for index, level in enumerate(levels) if level.maker_account_id != item.account_id]
    offers = get_working_offers(
        inst,
        item.qty,
        item.takeover_price,
        item.age,
        ledger.marks[item.symbol],
        get_fund_cover(ledger, currency),
        [Fill(qty=level.qty, price=level.price) for _, level in usable],
    )
    result = settle_close_out(inst, ledger.insurance(currency), item.qty, item.takeover_price, offers)
    side = 1 if item.qty > 0 else -1
    remaining = abs(item.qty)
    taken: list[tuple[int, int]] = []
    for offer_index, fill in zip(result.offer_indices, result.accepted, strict=True):
        index, level = usable[offer_index]
        delta = compute_fill_delta(inst, side * fill.qty, fill.price, item.takeover_price)
        remaining -= fill.qty
        ledger = apply_holding_fill(ledger, level.maker_account_id, item.symbol, side * fill.qty, fill.price)
        ledger = _set_pending_qty(ledger, item.pending_id, side * remaining)
        movement = None
        if delta != 0:
            kind = "surplus" if delta > 0 else "draw"
            ledger, movement = apply_fund_movement(
                ledger, currency, delta, kind, item.symbol, item.pending_id, "INS-005"
            )
        event = LiquidationFill(
            rule_id="LIQ-024",
            pending_id=item.pending_id,
            symbol=item.symbol,
            maker_account_id=level.maker_account_id,
            qty=-side * fill.qty,
            price=fill.price,
            bankruptcy_price=item.takeover_price,
            fund_delta=delta,
        )
        rec.emit(event, ledger)
        if movement is not None:
            rec.emit(movement, ledger)
        taken.append((index, fill.qty))
    books[item.symbol] = apply_book_consumption(book, item.qty, taken)
    if remaining == 0:
        return ledger, 0
    cover = get_fund_cover(ledger, currency)
    if not is_adl_due(item.qty, item.takeover_price, ledger.marks[item.symbol], cover):
        # ADL-031: the fund still covers what is held at mark; ADL-032: or the mark has not reached this close-out's
        # bankruptcy price (in profit at mark: kept, retried next update)
        deferred = AdlDeferred(
            rule_id="ADL-031" if cover >= 0 else "ADL-032",
            pending_id=item.pending_id,
            symbol=item.symbol,
            unfilled_qty=remaining,
            bankruptcy_price=item.takeover_price,
            mark_price=ledger.marks[item.symbol],
            fund_balance=ledger.insurance(currency),
            fund_cover=cover,
        )
        rec.emit(deferred, ledger)
        return ledger, side * remaining
    return _adl(ledger, attrs.evolve(item, qty=side * remaining), policy, rec)


@concrete
def get_fund_cover(ledger: Ledger, currency: str) -> int:
    """Applies ADL-031 over the ledger: fund + PnL at mark of every position held by the liquidation engine."""
    pnls = []
    for held in ledger.pending:
        inst = ledger.instrument_map[held.symbol]
        if inst.settl_currency == currency:
            pnls.append(compute_held_pnl(inst, held.qty, held.takeover_price, ledger.marks[held.symbol]))
    return compute_fund_cover(ledger.insurance(currency), pnls)
