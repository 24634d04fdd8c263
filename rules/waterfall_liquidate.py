"""Step 1 of the liquidation waterfall: liquidating one margin pool below maintenance at the mark.

Part of the waterfall of :mod:`rules.waterfall` (LIQ-031, :func:`liquidate_pool`):
the pool's risk limits are lowered to what its positions and orders fit, its
open orders are cancelled, a position above the base risk limit is reduced by
FillOrKill orders if that suffices, otherwise the liquidation engine takes the
pool's positions over (LIQ-023) and the pool's leftover margin goes to the
insurance fund.
"""

from __future__ import annotations

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.events import (
    Liquidation,
    OrdersCancelled,
    PartialLiquidation,
    RiskLimitLowered,
    TakenOverPosition,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import (
    compute_draw,
)
from perpspec.rules.liquidation import (
    compute_cover_takeover_price,
    compute_fitting_tier,
    compute_owing_cover_takeover_price,
    compute_owing_takeover_price,
    compute_partial_plan,
    compute_pool_residual,
    compute_requirement,
    compute_takeover_price,
    is_price_within_limit,
)
from perpspec.rules.num import concrete
from perpspec.rules.waterfall_postings import (
    apply_fund_movement,
    apply_holding,
    apply_holding_fill,
    apply_partial_fill,
)
from perpspec.rules.waterfall_state import (
    Book,
    Ledger,
    PendingCloseOut,
    Pool,
    Recorder,
    apply_book_consumption,
    get_book_side,
    get_pool,
    snapshot_pool,
)


@concrete
def _cancel_orders(ledger: Ledger, pool: Pool, reason: str, rec: Recorder) -> Ledger:
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        if holding.open_order_qty > 0:
            ledger = apply_holding(ledger, pool.account_id, symbol, attrs.evolve(holding, open_order_qty=0))
            event = OrdersCancelled(
                rule_id="LIQ-020",
                account_id=pool.account_id,
                symbol=symbol,
                open_order_qty=holding.open_order_qty,
                reason=reason,
            )
            rec.emit(event, ledger)
    return ledger


@concrete
def _lower_risk_limits(ledger: Ledger, pool: Pool, rec: Recorder) -> Ledger:
    """Partial liquidation step 1: each position's chosen tier lowered to what it and its orders fit."""
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        inst = ledger.instrument_map[symbol]
        order_value = abs(compute_value(inst, holding.open_order_qty, ledger.marks[symbol]))
        gross = abs(holding.position.cost) + order_value
        fitting = compute_fitting_tier(inst, gross)
        if fitting < holding.chosen_tier:
            before = get_pool(ledger, pool.account_id, pool.key)
            ledger = apply_holding(ledger, pool.account_id, symbol, attrs.evolve(holding, chosen_tier=fitting))
            after = get_pool(ledger, pool.account_id, pool.key)
            event = RiskLimitLowered(
                rule_id="LIQ-021",
                account_id=pool.account_id,
                symbol=symbol,
                from_tier=holding.chosen_tier,
                to_tier=fitting,
                gross_value=gross,
                equity=before.equity,
                maintenance_before=before.maintenance,
                maintenance_after=after.maintenance,
            )
            rec.emit(event, ledger)
    return ledger



@concrete
def _fok_fills(
    inst: Instrument, book: Book, account_id: int, close_qty: int, limit_price: int
) -> list[tuple[int, int]]:
    """FillOrKill: ``(level index, qty)`` covering all of ``close_qty`` within the limit, or nothing."""
    remaining = abs(close_qty)
    taken: list[tuple[int, int]] = []
    for index, level in enumerate(get_book_side(book, close_qty)):
        if remaining == 0 or not is_price_within_limit(close_qty, level.price, limit_price):
            break
        if level.maker_account_id == account_id:
            continue
        qty = min(level.qty, remaining) // inst.lot_size * inst.lot_size
        if qty > 0:
            taken.append((index, qty))
            remaining -= qty
    return taken if remaining == 0 else []


@concrete
def _try_partial(ledger: Ledger, books: dict[str, Book], pool: Pool, rec: Recorder) -> tuple[Ledger, bool]:
    """Partial liquidation step 3: one FillOrKill reduction of the pool's largest position above the base tier."""
    candidates = []
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        inst = ledger.instrument_map[symbol]
        req = compute_requirement(inst, holding.position, holding.leverage_hundredths, holding.chosen_tier)
        if req.steps > 0:
            candidates.append((-req.pos_maint, symbol, req))
    if not candidates:
        return ledger, False
    _, symbol, req = sorted(candidates)[0]
    holding = ledger.holdings[(pool.account_id, symbol)]
    inst = ledger.instrument_map[symbol]
    mark = ledger.marks[symbol]
    other_maintenance = pool.maintenance - req.pos_maint
    plan = compute_partial_plan(
        inst, holding.position, holding.leverage_hundredths, req.steps, pool.equity, other_maintenance, mark
    )
    book = books.get(symbol, Book())
    taken = _fok_fills(inst, book, pool.account_id, plan.close_qty, plan.limit_price) if plan.feasible else []
    snapshot = snapshot_pool(ledger, pool)
    side_levels = get_book_side(book, plan.close_qty)
    fills = tuple((qty, side_levels[index].price) for index, qty in taken)
    filled = bool(taken)
    if filled:
        side = 1 if plan.close_qty > 0 else -1
        close_value = 0
        for index, qty in taken:
            level = side_levels[index]
            ledger = apply_holding_fill(ledger, level.maker_account_id, symbol, side * qty, level.price)
            close_value += compute_value(inst, side * qty, level.price)
        ledger = apply_partial_fill(ledger, pool.account_id, symbol, plan.close_qty, close_value, plan.new_tier)
        books[symbol] = apply_book_consumption(book, plan.close_qty, taken)
    event = PartialLiquidation(
        rule_id="LIQ-022",
        account_id=pool.account_id,
        pool=pool.key,
        symbol=symbol,
        mark_price=mark,
        equity=pool.equity,
        maintenance=pool.maintenance,
        pool_margin=pool.margin,
        positions=snapshot,
        close_qty=plan.close_qty,
        limit_price=plan.limit_price,
        filled=filled,
        fills=fills,
        from_tier=req.steps,
        to_tier=plan.new_tier,
        maintenance_after=other_maintenance + plan.new_maintenance,
        makers=tuple(side_levels[index].maker_account_id for index, _ in taken),
    )
    rec.emit(event, ledger)
    return ledger, filled


@concrete
def _take_over(ledger: Ledger, pool: Pool, rec: Recorder) -> Ledger:
    """LIQ-023: the liquidation engine takes the pool over; its leftover margin goes to the fund.

    The positions are taken over largest maintenance first: the largest at its
    bankruptcy price (LIQ-005, the others held at mark), the others at the mark
    — or, while the pool is still in deficit because that bankruptcy price was
    clamped to the price range, beyond the mark as far as the deficit needs
    (LIQ-035).  The take-over so consumes the pool's margin exactly (within a
    tick, rounded toward the system): the residual is ``≥ 0`` and goes to the
    fund, and the liquidation engine holds the loss, which reaches the fund
    and then ADL like any bankrupt position's.  A pool whose margin was
    already negative beyond every position's best price in range is taken over
    beyond the range (LIQ-036): the liquidation engine holds the deficit, the
    fund absorbs it, then ADL.  Only where no positive price covers it (LIQ-036's
    bounds) can it still owe (the fund tops it up as far as it reaches, INS-003).
    """
    snapshot = snapshot_pool(ledger, pool)
    ranked = []
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        inst = ledger.instrument_map[symbol]
        req = compute_requirement(inst, holding.position, holding.leverage_hundredths, holding.chosen_tier)
        ranked.append((-req.pos_maint, symbol, req.pos_comm))
    ranked.sort()
    _, primary, primary_comm = ranked[0]
    primary_position = ledger.holdings[(pool.account_id, primary)].position
    primary_inst = ledger.instrument_map[primary]
    own_term = compute_value(primary_inst, primary_position.qty, ledger.marks[primary]) - primary_position.cost
    backing = pool.equity - own_term  # the pool's margin plus the other positions' unrealised PnL
    # LIQ-036 for a pool of one position (beyond the price range when it already owes), else LIQ-005
    if len(ranked) == 1:
        bankruptcy = compute_owing_takeover_price(primary_inst, primary_position, backing, primary_comm)
    else:
        bankruptcy = compute_takeover_price(primary_inst, primary_position, backing, primary_comm)
    taken: list[TakenOverPosition] = []
    pending = list(ledger.pending)
    next_id = ledger.next_pending_id
    residual = pool.margin
    terms = {}  # each position's unrealised PnL at mark
    for _, symbol, _ in ranked:
        position = ledger.holdings[(pool.account_id, symbol)].position
        inst = ledger.instrument_map[symbol]
        terms[symbol] = compute_value(inst, position.qty, ledger.marks[symbol]) - position.cost
    for index, (_, symbol, _) in enumerate(ranked):
        position = ledger.holdings[(pool.account_id, symbol)].position
        inst = ledger.instrument_map[symbol]
        later = sum(terms[other] for _, other, _ in ranked[index + 1 :])  # the positions still to take, at mark
        # LIQ-035 for the others; the last one taken over absorbs what the range could not (LIQ-037)
        cover = compute_owing_cover_takeover_price if index == len(ranked) - 1 else compute_cover_takeover_price
        price = bankruptcy if symbol == primary else cover(inst, position, residual + later, ledger.marks[symbol])
        residual = compute_pool_residual(inst, position.qty, position.cost, residual, price)
        ledger = apply_holding_fill(ledger, pool.account_id, symbol, -position.qty, price)
        pending.append(
            PendingCloseOut(
                pending_id=next_id, account_id=pool.account_id, symbol=symbol, qty=position.qty, takeover_price=price
            )
        )
        taken.append(
            TakenOverPosition(
                symbol=symbol, qty=position.qty, cost=position.cost, takeover_price=price, pending_id=next_id
            )
        )
        next_id += 1
    ledger = attrs.evolve(ledger, pending=tuple(pending), next_pending_id=next_id)
    event = Liquidation(
        rule_id="LIQ-023",
        account_id=pool.account_id,
        pool=pool.key,
        currency=pool.currency,
        pool_margin=pool.margin,
        positions=snapshot,
        equity=pool.equity,
        maintenance=pool.maintenance,
        taken=tuple(taken),
        residual_margin=residual,
    )
    rec.emit(event, ledger)
    # the pool's leftover margin moves to the fund; a pool that owed more than any
    # price returns is topped up by the fund as far as it reaches (INS-003)
    amount = residual if residual >= 0 else -compute_draw(ledger.insurance(pool.currency), -residual)
    if amount != 0:
        wallets = dict(ledger.wallets)
        key = (pool.account_id, pool.currency)
        wallets[key] = wallets.get(key, 0) - amount
        ledger = attrs.evolve(ledger, wallets=wallets)
        kind = "residual" if amount > 0 else "draw"
        ledger, movement = apply_fund_movement(ledger, pool.currency, amount, kind, primary, -1, "INS-011")
        rec.emit(movement, ledger)
    return ledger


@concrete
def liquidate_pool(ledger: Ledger, books: dict[str, Book], account_id: int, key: str, rec: Recorder) -> Ledger:
    """LIQ-031: the BitMEX steps for one pool below maintenance at mark (a no-op when it is not)."""
    pool = get_pool(ledger, account_id, key)
    if pool.excess >= 0 or not pool.symbols:
        return ledger
    ledger = _lower_risk_limits(ledger, pool, rec)  # step 1: orders + position fit a lower limit
    pool = get_pool(ledger, account_id, key)
    if pool.excess >= 0:
        return ledger
    ledger = _cancel_orders(ledger, pool, "liquidation", rec)  # step 2: cancel, retry
    ledger = _lower_risk_limits(ledger, get_pool(ledger, account_id, key), rec)
    pool = get_pool(ledger, account_id, key)
    for _ in range(16):  # step 3: FillOrKill reductions, one tier at a time
        if pool.excess >= 0:
            return ledger
        ledger, filled = _try_partial(ledger, books, pool, rec)
        pool = get_pool(ledger, account_id, key)
        if not filled:
            break
    if pool.excess >= 0:
        return ledger
    return _take_over(ledger, pool, rec)  # step 4
