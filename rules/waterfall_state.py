"""The state the liquidation waterfall works on: a whole (rules-level) exchange as a :class:`Ledger`.

Part of the waterfall of :mod:`rules.waterfall` (which tells the whole story):
an account's :class:`Holding` per contract, the positions the liquidation
engine took over and still holds (:class:`PendingCloseOut`), the order book as
an input (:class:`Book`: resting levels per contract, best first), the
margin pools of an account (:class:`Pool`, LIQ-030) and the :class:`Recorder`
of the waterfall's events.  The liquidation engine is the system account
:data:`LIQUIDATOR_ACCOUNT_ID` (negative ids are system accounts, not traders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from perpspec.rules.contract import compute_value
from perpspec.rules.events import (
    PositionSnapshot,
    WaterfallEvent,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import (
    InsuranceFund,
)
from perpspec.rules.liquidation import (
    compute_requirement,
)
from perpspec.rules.margin import CROSS, MarginSetting
from perpspec.rules.num import concrete
from perpspec.rules.order_margin import RestingOrder
from perpspec.rules.position import FLAT, Position

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
    age: int = 0  # LIQ-050: waterfalls run since the take-over (0 in the one that took it over)


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


# -- the book ------------------------------------------------------------------------------------


@concrete
def get_book_side(book: Book, closing_qty: int) -> tuple[BookLevel, ...]:
    """Closing a long sells into the bids; closing a short buys from the asks."""
    return book.bids if closing_qty > 0 else book.asks


@concrete
def apply_book_consumption(book: Book, closing_qty: int, taken: Sequence[tuple[int, int]]) -> Book:
    """The book after ``taken`` ``(level index, qty)`` were filled on the side ``closing_qty`` hits."""
    levels = list(get_book_side(book, closing_qty))
    for index, qty in taken:
        level = levels[index]
        levels[index] = attrs.evolve(level, qty=level.qty - qty)
    remaining = tuple(level for level in levels if level.qty > 0)
    return attrs.evolve(book, bids=remaining) if closing_qty > 0 else attrs.evolve(book, asks=remaining)
