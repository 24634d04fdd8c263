"""The liquidation waterfall on a mark update: liquidate, close out through the book and the fund, then ADL.

This module runs the rules of :mod:`rules.liquidation`, :mod:`rules.insurance`
and :mod:`rules.adl` over a whole (rules-level) exchange state, a
:class:`Ledger`.  The order book is an **input** (:class:`Book`, resting
levels per contract, best first): the engine passes its own levels and
executes the fills the waterfall returns; tests pass a small list of levels.
Every step returns a new state and explainable events (:mod:`rules.events`).

On every mark update:

1. every pool below maintenance at the **mark** is liquidated
   (:func:`liquidate_pool`), in the order a continuously moving mark would
   have reached their liquidation prices (:func:`find_liquidatable`, LIQ-033:
   by contract, the moved one first; longs then shorts; furthest beyond
   first; then account id): its open orders are cancelled, a position above
   the base risk limit is partially liquidated if that suffices, otherwise the
   liquidation engine takes the pool's positions over — the largest at its
   bankruptcy price, the others at mark, or beyond it as far as a deficit the
   bankruptcy price could not absorb needs (LIQ-035) — and the pool's leftover
   margin goes to the insurance fund;
2. every taken-over position is closed (:func:`close_out`), in take-over
   order (LIQ-034): in the book while
   the fund can pay for fills worse than the bankruptcy price; the rest stays
   with the liquidation engine while the fund still covers it at mark
   (ADL-031) and is retried on the next update; once the fund is depleted, it
   is closed by ADL at the bankruptcy price under the chosen policy; what no
   eligible position can take also stays with the liquidation engine;
3. fills in the book can move a maker below maintenance, so 1–2 repeat, at
   most ``max_rounds`` times (the bound on work per update).

The liquidation engine is the system account :data:`LIQUIDATOR_ACCOUNT_ID`
(negative ids are system accounts, not traders): it holds taken-over
positions at their take-over price, so its realised PnL is exactly the fund's
surplus or draw, and money moves only as balanced postings between traders'
wallets, cost bases and the fund (INV-CONSERVATION).

Decisions where BitMEX is silent: liquidation, FillOrKill and ADL fills pay no
commission (the fund keeps the pool's leftover margin instead); a cross pool
with several positions is taken over as a whole; ADL runs in the same update
as soon as the book cannot close a position and the fund, marked to market
with everything the liquidation engine holds, is depleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from perpspec.rules.adl import (
    AdlCandidate,
    AdlPolicy,
    compute_fund_cover,
    compute_haircut,
    compute_held_pnl,
    is_adl_eligible,
    rank_candidates,
)
from perpspec.rules.contract import compute_value
from perpspec.rules.events import (
    AdlDeferred,
    AdlFill,
    AdlShortfall,
    InsuranceMovement,
    Liquidation,
    LiquidationFill,
    OrdersCancelled,
    PartialLiquidation,
    PositionSnapshot,
    RiskLimitLowered,
    TakenOverPosition,
    WaterfallEvent,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import (
    Fill,
    InsuranceFund,
    apply_fund_delta,
    compute_draw,
    compute_fill_delta,
    settle_close_out,
)
from perpspec.rules.liquidation import (
    apply_partial_close,
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
from perpspec.rules.margin import (
    CROSS,
    MarginSetting,
    RestingOrder,
    compute_liquidation_price,
    compute_order_premium,
    compute_position_backing,
)
from perpspec.rules.num import concrete, ite, max_, min_
from perpspec.rules.position import FLAT, Position, apply_fill

LIQUIDATOR_ACCOUNT_ID = -1  # the liquidation engine: holds taken-over positions; not a trader


@attrs.frozen(kw_only=True)
class Holding:
    """One account's position in one contract, with its margin mode."""

    position: Position = FLAT
    leverage_hundredths: int = CROSS  # 0 = cross
    isolated_margin: int = 0  # isolated only: the money set aside for it (part of the wallet)
    chosen_tier: int = 0  # risk-limit steps the owner chose
    open_order_qty: int = 0  # contracts resting in orders in this contract (cancelled on liquidation)

    @property
    def is_isolated(self) -> bool:
        """True when the position is margined in isolation."""
        return self.leverage_hundredths != CROSS


@attrs.frozen(kw_only=True)
class PendingCloseOut:
    """A position the liquidation engine took over and has not yet closed."""

    pending_id: int
    account_id: int  # the liquidated account
    symbol: str
    qty: int  # signed, what the engine still holds
    takeover_price: int  # bankruptcy price (or the mark, for a cross pool's other positions)


@attrs.frozen(kw_only=True)
class BookLevel:
    """Resting liquidity: ``qty`` contracts at ``price`` offered by ``maker_account_id``."""

    price: int
    qty: int
    maker_account_id: int


@attrs.frozen(kw_only=True)
class Book:
    """One contract's resting levels, best first on each side."""

    bids: tuple[BookLevel, ...] = ()
    asks: tuple[BookLevel, ...] = ()


@attrs.frozen(kw_only=True)
class Ledger:
    """A whole exchange state as the waterfall needs it (an :class:`rules.invariants.ExchangeView`)."""

    instrument_map: Mapping[str, Instrument]
    marks: Mapping[str, int]
    wallets: Mapping[tuple[int, str], int]  # (account, currency) -> wallet balance
    holdings: Mapping[tuple[int, str], Holding]  # (account, symbol) -> holding
    funds: Mapping[str, InsuranceFund]
    fees: Mapping[str, int] = attrs.field(factory=dict)
    deposits: Mapping[str, int] = attrs.field(factory=dict)  # net deposits per currency
    pending: tuple[PendingCloseOut, ...] = ()
    next_pending_id: int = 0
    clock_ms: int = 0

    # -- ExchangeView --------------------------------------------------------------
    def assets(self) -> Sequence[str]:
        """Settlement currencies, sorted."""
        return sorted({inst.settl_currency for inst in self.instrument_map.values()})

    def account_ids(self) -> Sequence[int]:
        """Every account with a wallet or a holding, and the liquidation engine."""
        ids = {account for account, _ in self.wallets} | {account for account, _ in self.holdings}
        return sorted(ids | {LIQUIDATOR_ACCOUNT_ID})

    def instruments(self) -> Mapping[str, Instrument]:
        """Instruments by symbol."""
        return self.instrument_map

    def wallet(self, account_id: int, asset: str) -> int:
        """Wallet balance (the liquidation engine's is always 0: its PnL is the fund's)."""
        return self.wallets.get((account_id, asset), 0)

    @concrete
    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Non-flat positions by symbol; the liquidation engine's are its pending close-outs."""
        if account_id == LIQUIDATOR_ACCOUNT_ID:
            merged: dict[str, Position] = {}
            for item in self.pending:
                inst = self.instrument_map[item.symbol]
                old = merged.get(item.symbol, FLAT)
                cost = compute_value(inst, item.qty, item.takeover_price)
                merged[item.symbol] = Position(qty=old.qty + item.qty, cost=old.cost + cost)
            return merged
        return {
            symbol: holding.position
            for (account, symbol), holding in sorted(self.holdings.items())
            if account == account_id and holding.position.qty != 0
        }

    @concrete
    def insurance(self, asset: str) -> int:
        """The fund's balance."""
        fund = self.funds.get(asset)
        return 0 if fund is None else fund.balance

    def fee_pool(self, asset: str) -> int:
        """Fees collected."""
        return self.fees.get(asset, 0)

    def funding_pool(self, asset: str) -> int:
        """Funding in flight (none at this level)."""
        del asset
        return 0

    def net_deposits(self, asset: str) -> int:
        """Deposits minus withdrawals, the fund's deposits included."""
        return self.deposits.get(asset, 0)

    def mark_price(self, symbol: str) -> int:
        """The current mark price."""
        return self.marks[symbol]

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting orders are abstracted to a quantity per holding here; none are priced."""
        del account_id
        return ()

    @concrete
    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage, and the isolated margin above posInit + posComm as ``pos_cross``."""
        holding = self.holdings.get((account_id, symbol), Holding())
        if not holding.is_isolated:
            return MarginSetting()
        inst = self.instrument_map[symbol]
        req = compute_requirement(inst, holding.position, holding.leverage_hundredths, holding.chosen_tier)
        return MarginSetting(
            leverage_hundredths=holding.leverage_hundredths,
            pos_cross=holding.isolated_margin - req.pos_init - req.pos_comm,
        )


# -- pools ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Pool:
    """A margin pool of one account: ``cross:<currency>`` or ``isolated:<symbol>``."""

    account_id: int
    key: str
    currency: str
    symbols: tuple[str, ...]  # its non-flat positions
    margin: int  # cross: wallet − isolated margins; isolated: the position's margin
    equity: int  # margin + Σ(markValue − cost) at mark
    maintenance: int  # Σ posMaint

    @property
    def excess(self) -> int:
        """LIQ-002: equity − maintenance."""
        return self.equity - self.maintenance


@concrete
def get_pool_keys(ledger: Ledger, account_id: int) -> list[str]:
    """The pools of an account in the fixed order: cross pools by currency, then isolated by symbol."""
    cross: set[str] = set()
    isolated: list[str] = []
    for (account, symbol), holding in sorted(ledger.holdings.items()):
        if account != account_id or holding.position.qty == 0:
            continue
        if holding.is_isolated:
            isolated.append(f"isolated:{symbol}")
        else:
            cross.add(f"cross:{ledger.instrument_map[symbol].settl_currency}")
    return sorted(cross) + isolated


@concrete
def get_pool(ledger: Ledger, account_id: int, key: str) -> Pool:
    """LIQ-030: a pool's margin, equity and maintenance at the current marks."""
    kind, _, name = key.partition(":")
    if kind == "isolated":
        holding = ledger.holdings[(account_id, name)]
        inst = ledger.instrument_map[name]
        currency = inst.settl_currency
        members = [name] if holding.position.qty != 0 else []
        margin = holding.isolated_margin
    else:
        currency = name
        members = []
        margin = ledger.wallet(account_id, currency)
        for (account, symbol), holding in sorted(ledger.holdings.items()):
            if account != account_id or ledger.instrument_map[symbol].settl_currency != currency:
                continue
            if holding.is_isolated:
                margin -= holding.isolated_margin
            elif holding.position.qty != 0:
                members.append(symbol)
    equity, maintenance = margin, 0
    for symbol in members:
        holding = ledger.holdings[(account_id, symbol)]
        inst = ledger.instrument_map[symbol]
        position = holding.position
        equity += compute_value(inst, position.qty, ledger.marks[symbol]) - position.cost
        maintenance += compute_requirement(inst, position, holding.leverage_hundredths, holding.chosen_tier).pos_maint
    return Pool(
        account_id=account_id,
        key=key,
        currency=currency,
        symbols=tuple(members),
        margin=margin,
        equity=equity,
        maintenance=maintenance,
    )


@concrete
def snapshot_pool(ledger: Ledger, pool: Pool) -> tuple[PositionSnapshot, ...]:
    """The trigger's inputs: every position of the pool as it stands."""
    snaps = []
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        snaps.append(
            PositionSnapshot(
                symbol=symbol,
                qty=holding.position.qty,
                cost=holding.position.cost,
                leverage_hundredths=holding.leverage_hundredths,
                chosen_tier=holding.chosen_tier,
                mark_price=ledger.marks[symbol],
            )
        )
    return tuple(snaps)


# -- postings ------------------------------------------------------------------------------


def compute_isolated_margin_after_fill(
    old_margin: int,
    old_requirement: int,
    new_requirement: int,
    realised: int,
    premium: int,
    unallocated: int,
    new_qty: int,
) -> int:
    """ACC-006: an isolated position's margin after a fill: posInit + posComm of what is left, plus its extra.

    Inputs (minor units): ``old_margin`` the isolated margin before the fill;
    ``old_requirement`` / ``new_requirement`` the position's ``posInit +
    posComm`` (MRG-003/004 at its leverage and chosen tier) before and after;
    ``realised`` the PnL the fill realised (ACC-003, already in the wallet);
    ``premium`` the loss against mark of the part the fill opened (MRG-041, 0
    for a reduction); ``unallocated`` the account's wallet after the fill
    beyond every *other* isolated margin in the currency; ``new_qty`` the
    position after the fill.

    The extra margin (``posCross``: the margin above the old ``posInit +
    posComm``) is kept, minus a realised loss (BitMEX ``posCross − posLoss``);
    the pool then holds the requirement of what is left plus that extra.  The
    margin a reduction frees and the profit it realises go to the cross wallet
    (the isolated margin is part of the wallet, so the wallet already holds
    them).  A fill opening worse than mark brings its premium into the pool, as
    far as ``unallocated`` reaches.  A closed position keeps no margin.

    [I] BitMEX says what a reduction does to an isolated margin (posInit is
    ``initMarginReq × posCost``, so it shrinks with the position; realised PnL
    goes to the wallet), not what an ADL, liquidation or close-out fill does:
    the rulebook applies the same rule to every fill, so a position reduced by
    ADL holds the same margin as one its owner reduced by a trade at that price.
    """
    extra = old_margin - old_requirement + min_(0, realised)  # a loss comes out of the extra; a profit does not stay
    kept = new_requirement + extra
    funded = ite(premium > 0, min_(kept + premium, max_(0, unallocated)), kept)
    return ite(new_qty == 0, 0, funded)


@concrete
def get_opened_qty(old_qty: int, new_qty: int) -> int:
    """The signed part of a position change that opens or increases (0 for a pure reduction)."""
    if old_qty == 0 or (old_qty > 0) != (new_qty > 0):
        return new_qty
    if abs(new_qty) > abs(old_qty):
        return new_qty - old_qty
    return 0


@concrete
def get_isolated_margin_after_fill(
    ledger: Ledger, account_id: int, symbol: str, after: Position, realised: int, price: int | None
) -> int:
    """Applies ACC-006 on the ledger (``price``: the fill's, for the premium; None: a close, no premium).

    ``ledger`` is the state before the fill; 0 for a cross holding.
    """
    holding = ledger.holdings.get((account_id, symbol), Holding())
    if not holding.is_isolated:
        return 0
    inst = ledger.instrument_map[symbol]
    old = compute_requirement(inst, holding.position, holding.leverage_hundredths, holding.chosen_tier)
    new = compute_requirement(inst, after, holding.leverage_hundredths, holding.chosen_tier)
    opened = get_opened_qty(holding.position.qty, after.qty)
    premium = 0 if price is None else compute_order_premium(inst, opened, price, ledger.marks[symbol])
    unallocated = ledger.wallet(account_id, inst.settl_currency) + realised
    for (account, other_symbol), other in sorted(ledger.holdings.items()):
        same_currency = ledger.instrument_map[other_symbol].settl_currency == inst.settl_currency
        if account == account_id and other_symbol != symbol and other.is_isolated and same_currency:
            unallocated -= other.isolated_margin  # another isolated pool's margin is not the account's to move
    return compute_isolated_margin_after_fill(
        holding.isolated_margin,
        old.pos_init + old.pos_comm,
        new.pos_init + new.pos_comm,
        realised,
        premium,
        unallocated,
        after.qty,
    )


@concrete
def apply_holding_fill(ledger: Ledger, account_id: int, symbol: str, fill_qty: int, price: int) -> Ledger:
    """Applies ACC-003 for a trader: the fill moves realised PnL into the wallet; an isolated margin follows ACC-006."""
    inst = ledger.instrument_map[symbol]
    holding = ledger.holdings.get((account_id, symbol), Holding())
    position, realised = apply_fill(inst, holding.position, fill_qty, price)
    isolated_margin = get_isolated_margin_after_fill(ledger, account_id, symbol, position, realised, price)
    wallets = dict(ledger.wallets)
    key = (account_id, inst.settl_currency)
    wallets[key] = wallets.get(key, 0) + realised
    holdings = dict(ledger.holdings)
    holdings[(account_id, symbol)] = attrs.evolve(holding, position=position, isolated_margin=isolated_margin)
    return attrs.evolve(ledger, wallets=wallets, holdings=holdings)


@concrete
def apply_partial_fill(
    ledger: Ledger, account_id: int, symbol: str, close_qty: int, close_value: int, new_tier: int
) -> Ledger:
    """Applies LIQ-012 for a trader: a FillOrKill reduction settled as one execution, and the lowered tier."""
    inst = ledger.instrument_map[symbol]
    holding = ledger.holdings[(account_id, symbol)]
    position, realised = apply_partial_close(holding.position, close_qty, close_value)
    isolated_margin = get_isolated_margin_after_fill(ledger, account_id, symbol, position, realised, None)
    wallets = dict(ledger.wallets)
    key = (account_id, inst.settl_currency)
    wallets[key] = wallets.get(key, 0) + realised
    holdings = dict(ledger.holdings)
    holdings[(account_id, symbol)] = attrs.evolve(
        holding, position=position, isolated_margin=isolated_margin, chosen_tier=new_tier
    )
    return attrs.evolve(ledger, wallets=wallets, holdings=holdings)


@concrete
def apply_fund_movement(
    ledger: Ledger, currency: str, delta: int, kind: str, symbol: str, pending_id: int, rule_id: str
) -> tuple[Ledger, InsuranceMovement]:
    """Applies INS-004 on the ledger, with its event."""
    fund = ledger.funds[currency]
    after = apply_fund_delta(fund, delta, ledger.clock_ms)
    funds = dict(ledger.funds)
    funds[currency] = after
    event = InsuranceMovement(
        rule_id=rule_id,
        currency=currency,
        kind=kind,
        amount=delta,
        balance_before=fund.balance,
        balance_after=after.balance,
        timestamp_ms=ledger.clock_ms,
        symbol=symbol,
        pending_id=pending_id,
    )
    return attrs.evolve(ledger, funds=funds), event


@concrete
def process_fund_deposit(ledger: Ledger, currency: str, amount: int) -> tuple[Ledger, InsuranceMovement]:
    """INS-008: money paid into the fund from outside: fund and net deposits rise together."""
    assert amount > 0, "checked by INS-006 before"
    assert currency in ledger.funds, "checked by INS-006 before"
    deposits = dict(ledger.deposits)
    deposits[currency] = deposits.get(currency, 0) + amount
    ledger = attrs.evolve(ledger, deposits=deposits)
    return apply_fund_movement(ledger, currency, amount, "deposit", "", -1, "INS-008")


@concrete
def _set_holding(ledger: Ledger, account_id: int, symbol: str, holding: Holding) -> Ledger:
    holdings = dict(ledger.holdings)
    holdings[(account_id, symbol)] = holding
    return attrs.evolve(ledger, holdings=holdings)


# -- the event recorder -------------------------------------------------------------------------


@attrs.define
class Recorder:
    """Collects the waterfall's events; with ``trace`` on, also the state right after each one."""

    trace_states: bool = False
    events: list[WaterfallEvent] = attrs.field(factory=list)
    states: list[Ledger] = attrs.field(factory=list)

    @concrete
    def emit(self, event: WaterfallEvent, ledger: Ledger) -> None:
        """Record ``event``; ``ledger`` is the (consistent) state once it has happened."""
        self.events.append(event)
        if self.trace_states:
            self.states.append(ledger)


# -- step 1: liquidation of one pool ------------------------------------------------------------


@concrete
def _cancel_orders(ledger: Ledger, pool: Pool, reason: str, rec: Recorder) -> Ledger:
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        if holding.open_order_qty > 0:
            ledger = _set_holding(ledger, pool.account_id, symbol, attrs.evolve(holding, open_order_qty=0))
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
            ledger = _set_holding(ledger, pool.account_id, symbol, attrs.evolve(holding, chosen_tier=fitting))
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
def _book_side(book: Book, closing_qty: int) -> tuple[BookLevel, ...]:
    """Closing a long sells into the bids; closing a short buys from the asks."""
    return book.bids if closing_qty > 0 else book.asks


@concrete
def _consume(book: Book, closing_qty: int, taken: Sequence[tuple[int, int]]) -> Book:
    """The book after ``taken`` ``(level index, qty)`` were filled on the side ``closing_qty`` hits."""
    levels = list(_book_side(book, closing_qty))
    for index, qty in taken:
        level = levels[index]
        levels[index] = attrs.evolve(level, qty=level.qty - qty)
    remaining = tuple(level for level in levels if level.qty > 0)
    return attrs.evolve(book, bids=remaining) if closing_qty > 0 else attrs.evolve(book, asks=remaining)


@concrete
def _fok_fills(
    inst: Instrument, book: Book, account_id: int, close_qty: int, limit_price: int
) -> list[tuple[int, int]]:
    """FillOrKill: ``(level index, qty)`` covering all of ``close_qty`` within the limit, or nothing."""
    remaining = abs(close_qty)
    taken: list[tuple[int, int]] = []
    for index, level in enumerate(_book_side(book, close_qty)):
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
    side_levels = _book_side(book, plan.close_qty)
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
        books[symbol] = _consume(book, plan.close_qty, taken)
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


# -- step 2: close-out of taken-over positions -------------------------------------------------


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
            ledger = _set_holding(ledger, candidate.account_id, item.symbol, attrs.evolve(holding, open_order_qty=0))
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
    """LIQ-032: close one taken-over position: the book while the fund can pay, then ADL. Returns the signed rest."""
    inst = ledger.instrument_map[item.symbol]
    currency = inst.settl_currency
    book = books.get(item.symbol, Book())
    levels = _book_side(book, item.qty)
    usable = [(index, level) for index, level in enumerate(levels) if level.maker_account_id != item.account_id]
    offers = [Fill(qty=level.qty, price=level.price) for _, level in usable]
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
    books[item.symbol] = _consume(book, item.qty, taken)
    if remaining == 0:
        return ledger, 0
    cover = get_fund_cover(ledger, currency)
    if cover >= 0:  # ADL-031: the fund still covers what is held at mark: keep it, retry next update
        deferred = AdlDeferred(
            rule_id="ADL-031",
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


# -- the whole waterfall ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WaterfallResult:
    """The state after a mark update's waterfall, the book left, the events, and whether it completed."""

    ledger: Ledger
    books: Mapping[str, Book]
    events: tuple[WaterfallEvent, ...]
    states: tuple[Ledger, ...]  # with tracing: the state right after each event
    complete: bool  # no pool is left below maintenance at mark


@concrete
def get_contract_order(ledger: Ledger, moved: str) -> list[str]:
    """The contracts a waterfall visits: ``moved`` (whose mark or funding changed) first, then the others by symbol."""
    others = sorted(symbol for symbol in ledger.marks if symbol != moved)
    return [moved, *others] if moved in ledger.marks else others


@concrete
def get_liquidation_order_key(ledger: Ledger, pool: Pool, contracts: Sequence[str]) -> tuple[int, int, int, int]:
    """The sort key of a pool in LIQ-033's order: (contract, side, liquidation price furthest first, account)."""
    keys = []
    for symbol in pool.symbols:
        holding = ledger.holdings[(pool.account_id, symbol)]
        inst = ledger.instrument_map[symbol]
        position = holding.position
        own_maint = compute_requirement(inst, position, holding.leverage_hundredths, holding.chosen_tier).pos_maint
        own_term = compute_value(inst, position.qty, ledger.marks[symbol]) - position.cost
        # MRG-034: the margin behind this position, every other input of the pool fixed
        backing = compute_position_backing(pool.margin, pool.equity, pool.maintenance, own_term, own_maint)
        price = compute_liquidation_price(inst, position.qty, position.cost, backing, own_maint)
        is_long = position.qty > 0
        keys.append((contracts.index(symbol), 0 if is_long else 1, -price if is_long else price, pool.account_id))
    return min(keys)


@concrete
def find_liquidatable(ledger: Ledger, moved: str = "") -> list[tuple[int, str]]:
    """LIQ-033: every (account, pool) below maintenance at mark, in the order the mark crossed their liquidation prices.

    The order, a strict total order on the pools due:

    1. by contract: ``moved`` (the contract whose mark — or funding — changed)
       first, then the others by symbol; a pool with positions in several
       contracts (cross) counts in the first of them;
    2. in a contract, longs before shorts;
    3. longs from the highest liquidation price down, shorts from the lowest up
       (MRG-011 for the pool's position in that contract, the pool's other
       positions held at mark, as MRG-033): the order in which a mark moving
       continuously from its old value to the new one would have reached them,
       so the pool furthest beyond its liquidation price goes first;
    4. ties by account id (one account has one position per contract, so the
       key is unique).

    [I] BitMEX liquidates each position as the mark reaches its liquidation
    price and says nothing about positions passed in the same update.  This
    order replays a continuous mark path; it is also the engine's
    liquidation index order (sorted by liquidation price per contract and
    side), so the engine finds the pools due in that order from its index,
    one query per contract, without scanning the accounts.
    """
    contracts = get_contract_order(ledger, moved)
    found = []
    for account_id in ledger.account_ids():
        if account_id < 0:
            continue
        for key in get_pool_keys(ledger, account_id):
            pool = get_pool(ledger, account_id, key)
            if pool.excess < 0 and pool.symbols:
                found.append((get_liquidation_order_key(ledger, pool, contracts), account_id, key))
    found.sort()
    return [(account_id, key) for _, account_id, key in found]


@concrete
def process_waterfall(
    ledger: Ledger,
    books: Mapping[str, Book],
    policy: AdlPolicy,
    max_rounds: int = 8,
    trace: bool = False,
    moved: str = "",
) -> WaterfallResult:
    """LIQ-034: liquidations, close-outs and ADL after a mark update, at most ``max_rounds`` rounds.

    Each round first liquidates every pool due, in LIQ-033's order (``moved``:
    the contract whose mark changed, whose pools go first), then works every
    close-out still open in take-over order (``pending_id``: pools in the
    order they were liquidated, a pool's positions largest maintenance first,
    LIQ-023), each through LIQ-032 — the book while the fund can pay, then
    ADL.  A close-out left open is not retried before the next update.

    [I] BitMEX is silent on the order of close-outs of one update.  Take-over
    order is one queue whatever the contracts: all of the update's
    take-overs are done before the first close-out, so ADL-031's fund cover
    sees every position the liquidation engine holds, and a cross pool's
    largest position (taken over at its bankruptcy price) meets the fund
    before the pool's others (taken over at mark).

    With ``trace`` the result also holds the state after every event, so a
    checker can test every invariant between the steps of the waterfall.
    """
    work = dict(books)
    rec = Recorder(trace_states=trace)
    stuck: set[int] = set()  # close-outs that found no taker this update: retried on the next one
    for _ in range(max_rounds):
        due = find_liquidatable(ledger, moved)
        for account_id, key in due:
            ledger = liquidate_pool(ledger, work, account_id, key, rec)
        for item in ledger.pending:
            if item.pending_id in stuck:
                continue
            current = next(p for p in ledger.pending if p.pending_id == item.pending_id)
            ledger, left = close_out(ledger, work, current, policy, rec)
            if left != 0:
                stuck.add(item.pending_id)
        if not due:
            break
    return WaterfallResult(
        ledger=ledger,
        books=work,
        events=tuple(rec.events),
        states=tuple(rec.states),
        complete=not find_liquidatable(ledger),
    )
