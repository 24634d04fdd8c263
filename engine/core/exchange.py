"""The Engine: commands in, events out — the deterministic executor of the rulebook.

``Engine.process(command)`` applies one :mod:`engine.core.commands` record and
returns its events (:mod:`engine.core.events`): zero or more effects followed by
exactly one ``Accepted`` or ``Rejected``.  Nothing escapes: a bug inside a
command becomes ``InternalError`` + ``Rejected(InternalError)`` and the state is
restored to what it was before the command (a checkpoint plus deterministic
replay of the commands since, so the hot path pays nothing for it).

Handlers validate everything first and only then mutate, so a rejected
command changes nothing — except the logical clock: a command whose
``time_ms`` is valid advances the clock, and the timers due by then (dead
man's switches, Day-order expiry) fire first, even if the command itself is
then rejected.

All money comes from the rules: fills through ``rules.position.apply_trade``
(ACC-004), margin through ``rules.margin`` (MRG-*), liquidation through
``rules.liquidation``/``rules.insurance``/``rules.adl`` (LIQ-*, INS-*, ADL-*),
funding through ``rules.funding`` (FND-008).  The engine is an
:class:`rules.invariants.ExchangeView`, so every registered invariant can be
checked on it after any command.

Decisions where BitMEX is silent are listed in the README (``## Engine decisions``).
"""

from __future__ import annotations

import hashlib
import heapq
import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

from perpspec.engine.core import commands as cmd
from perpspec.engine.core import orders as o
from perpspec.engine.core.accounts import DAY_MS, Account, PositionState, compute_usd_volume
from perpspec.engine.core.adlrank import AdlRanking
from perpspec.engine.core.book import Book, Fill
from perpspec.engine.core.compiled import mypyc_attr
from perpspec.engine.core.events import (
    Accepted,
    Event,
    Execution,
    InternalError,
    PositionUpdate,
    Reason,
    Rejected,
    RuleEvent,
    Transaction,
)
from perpspec.engine.core.fastmargin import (  # the MRG-042/046 rules, memoised
    contract_order_margin,
    margin_of_sides,
    order_sides,
    resting_order_margin,
    resting_sides,
    sides_plus,
)
from perpspec.engine.core.liqindex import LiqIndex
from perpspec.engine.core.orders import Order
from perpspec.rules.adl import (
    POLICIES,
    AdlCandidate,
    AdlPolicy,
    RankedQueuePolicy,
    compute_fund_cover,
    compute_haircut,
    compute_held_pnl,
    is_adl_eligible,
)
from perpspec.rules.contract import compute_notional, compute_value
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
)
from perpspec.rules.funding import compute_funding_exchange
from perpspec.rules.instrument import ContractKind, Instrument
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.insurance import Fill as OfferFill
from perpspec.rules.insurance import settle_close_out
from perpspec.rules.liquidation import (
    compute_cover_takeover_price,
    compute_fitting_tier,
    compute_partial_plan,
    compute_pool_residual,
    compute_reduce_limit_price,
    compute_requirement,
    compute_takeover_price,
)
from perpspec.rules.margin import (
    CROSS,
    AccountMargin,
    MarginSetting,
    PositionMargin,
    RestingOrder,
    check_leverage,
    check_order_margin,
    check_transfer_margin,
    check_withdrawal,
    compute_account_margin,
    compute_order_premium,
    compute_order_requirement,
    compute_threshold_price,
)
from perpspec.rules.num import ceil_to_multiple, floor_to_multiple
from perpspec.rules.position import Position, apply_fill, apply_trade, compute_commission
from perpspec.rules.risk_limit import (
    check_risk_limit,
    check_risk_limit_choice,
    compute_max_leverage_hundredths,
    compute_risk_steps,
    compute_tier_limit,
)
from perpspec.rules.settlement import check_settlement_ready, compute_position_settlement
from perpspec.rules.waterfall import compute_isolated_margin_after_fill, get_opened_qty

LIQUIDATOR = -1  # the liquidation engine's account id (rules.waterfall.LIQUIDATOR_ACCOUNT_ID)
FAT_FINGER_PPM = 50_000  # 5%: market orders capped, limit orders checked (reference §8)
LAST_WITHIN_MARK_PPM = 50_000  # 5%: LastWithinMark band
MAX_CL_ORD_ID = 36
CHECKPOINT_EVERY = 100_000  # commands between rollback checkpoints (a rollback replays at most this many)


class Rej(NamedTuple):
    """A handler's refusal (becomes a ``Rejected`` event)."""

    reason: Reason
    text: str


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class Pending:
    """A position the liquidation engine took over and has not closed yet (rules.waterfall.PendingCloseOut)."""

    __slots__ = ("account", "cost", "pending_id", "qty", "symbol", "takeover_price")

    def __init__(self, pending_id: int, account: int, symbol: str, qty: int, cost: int, takeover_price: int) -> None:
        self.pending_id = pending_id
        self.account = account
        self.symbol = symbol
        self.qty = qty
        self.cost = cost
        self.takeover_price = takeover_price

    def canonical(self) -> tuple[int, int, str, int, int, int]:
        return (self.pending_id, self.account, self.symbol, self.qty, self.cost, self.takeover_price)

    def __getstate__(self) -> tuple[int, int, str, int, int, int]:
        return self.canonical()

    def __setstate__(self, state: tuple[int, int, str, int, int, int]) -> None:
        (self.pending_id, self.account, self.symbol, self.qty, self.cost, self.takeover_price) = state


def _is_int(value: object) -> bool:
    return type(value) is int


def _is_str(value: object) -> bool:
    return type(value) is str


def _text_of(value: object) -> str:
    """A rejected command's clOrdID as the ``Rejected`` event carries it (a hostile one shown canonically)."""
    if type(value) is str:
        return value
    return _show(value) if value else ""


def _show(value: object) -> str:
    """A value as a reject's text shows it, the same in every process and on replay.

    ``repr`` of a set lists its members in hash-table order, which depends on
    insertion history (and, for strings, on ``PYTHONHASHSEED``); the journal
    rebuilds a hostile set canonically, so its ``repr`` could differ on replay
    (a fuzz find).  Set members are shown sorted; containers recursively.
    """
    kind = type(value)
    if kind is set or kind is frozenset:
        members = sorted(_show(member) for member in value)  # type: ignore[attr-defined]
        return f"{kind.__name__}({{{', '.join(members)}}})" if members else f"{kind.__name__}()"
    if kind is list:
        return "[" + ", ".join(_show(item) for item in value) + "]"  # type: ignore[attr-defined]
    if kind is tuple:
        items = [_show(item) for item in value]  # type: ignore[attr-defined]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if kind is dict:
        return "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in value.items()) + "}"  # type: ignore[attr-defined]
    return repr(value)


# PlaceOrder's optional fields by type, in the order they are checked (the first wrong one is named)
_PLACE_INT_FIELDS = ("order_qty", "price", "display_qty", "stop_px", "peg_offset_value")
_PLACE_STR_FIELDS = ("side", "ord_type", "time_in_force", "peg_price_type")


# names of the attributes that are the engine's state (pickled for checkpoints, hashed)
_STATE = (
    "instrument_map",
    "books",
    "marks",
    "index_prices",
    "last_prices",
    "accounts",
    "insurance_funds",
    "fees",
    "deposits",
    "conditional",
    "live_orders",
    "day_orders",
    "holders",
    "dms_heap",
    "liq",
    "dirty",
    "multi",
    "pending",
    "spot_reservations",
    "next_order_id",
    "next_pending_id",
    "seq",
    "time_ms",
    "max_liquidations_per_update",
    "adl_policy_name",
    "stats",
    "settled",
)


@mypyc_attr(allow_interpreted_subclasses=True)  # picklable when compiled (engine.core.compiled)
class Engine:
    """The whole exchange: books, accounts, prices, funds; ``process`` one command at a time."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        max_liquidations_per_update: int = 64,
        adl_policy: str = "ranked-queue",
    ) -> None:
        self.instrument_map: dict[str, Instrument] = dict(
            load_builtin_instruments() if instruments is None else instruments
        )
        self.books: dict[str, Book] = {symbol: Book(symbol) for symbol in sorted(self.instrument_map)}
        self.marks: dict[str, int] = {}
        self.index_prices: dict[str, int] = {}
        self.last_prices: dict[str, int] = {}
        self.accounts: dict[int, Account] = {LIQUIDATOR: Account(LIQUIDATOR)}
        self.accounts[LIQUIDATOR].verified = True
        self.insurance_funds: dict[str, int] = {}
        self.fees: dict[str, int] = {}
        self.deposits: dict[str, int] = {}
        self.conditional: dict[str, dict[int, Order]] = {symbol: {} for symbol in self.books}  # untriggered
        self.live_orders: dict[int, Order] = {}
        self.day_orders: dict[int, int] = {}  # order id -> day placed
        self.holders: dict[str, dict[int, None]] = {symbol: {} for symbol in self.books}
        self.dms_heap: list[tuple[int, int]] = []
        self.liq = LiqIndex()
        self.dirty: dict[int, None] = {}
        self.multi: dict[int, None] = {}  # accounts with cross positions in several contracts
        self.pending: list[Pending] = []
        self.spot_reservations: dict[int, tuple[str, int]] = {}  # spot order id -> (asset, amount)
        self.next_order_id = 1
        self.next_pending_id = 0
        self.seq = 0
        self.time_ms = 0
        self.max_liquidations_per_update = max_liquidations_per_update
        self.adl_policy_name = adl_policy
        self.stats: dict[str, int] = {}
        self.settled: dict[str, int] = {}  # settled dated futures -> settlement price (SET-004)
        # not state: the output buffer, the step record and the rollback machinery
        self._out: list[Event] = []
        self._order_accounts: dict[int, None] = {}
        self._withdraw_accounts: dict[int, None] = {}
        self._waterfall_complete = True
        self._funding_postings: list[Any] = []
        self._flat_before: tuple[tuple[int, str, int], ...] = ()
        self.track_steps = False  # record what step_info() needs for transition invariants (tests)
        self._fee_free = False  # True during a partial liquidation's FillOrKill
        self._checkpoint = self._dump()
        self._since: list[Any] = []
        self._replaying = False

    # ================================================================ entry point
    def process(self, command: cmd.Command) -> list[Event]:
        """Apply one command; return its events (the last one is ``Accepted`` or ``Rejected``)."""
        out: list[Event] = []
        self._out = out
        self._order_accounts = {}
        self._withdraw_accounts = {}
        self._waterfall_complete = False  # True only once a mark update's (or funding's) waterfall completed
        self._funding_postings = []
        if self.track_steps and not self._replaying:
            self._flat_before = self._flat_accounts(command)
        name = type(command).__name__
        try:
            result = self._dispatch(command)
            if isinstance(result, Rej):
                self.seq += 1
                account = getattr(command, "account", -1)
                out.append(
                    Rejected(
                        self.seq,
                        self.time_ms,
                        name,
                        account if _is_int(account) else -1,
                        result.reason,
                        result.text,
                        _text_of(getattr(command, "cl_ord_id", "")),
                    )
                )
            else:
                self.seq += 1
                out.append(Accepted(self.seq, self.time_ms, name, getattr(command, "account", -1), result))
        except Exception as error:  # a bug: restore the state, answer with a typed reject
            if self._replaying:
                raise
            self._restore()
            out = []
            self._out = out
            self.seq += 1
            out.append(InternalError(self.seq, self.time_ms, name, f"{type(error).__name__}: {error}"))
            self.seq += 1
            out.append(Rejected(self.seq, self.time_ms, name, -1, Reason.INTERNAL_ERROR, str(error), ""))
            self._since.append(_Noop(seq=self.seq))
            return out
        if not self._replaying:
            self._since.append(command)
            if len(self._since) >= CHECKPOINT_EVERY:
                self._checkpoint = self._dump()
                self._since = []
        return out

    def _dispatch(self, command: cmd.Command) -> Rej | int:
        if isinstance(command, _Noop):
            self.seq = command.seq
            return 0
        time_ms = getattr(command, "time_ms", None)
        if not _is_int(time_ms):
            return Rej(Reason.MALFORMED, "time_ms must be an integer")
        assert isinstance(time_ms, int)
        if time_ms < self.time_ms:
            return Rej(Reason.TIME_WENT_BACKWARDS, f"time {time_ms} < clock {self.time_ms}")
        handler = _HANDLERS.get(type(command))
        if handler is None:
            return Rej(Reason.MALFORMED, f"unknown command {type(command).__name__}")
        self._advance_clock(time_ms)
        return handler(self, command)

    # ================================================================ rollback
    def _dump(self) -> bytes:
        return pickle.dumps({name: getattr(self, name) for name in _STATE}, protocol=pickle.HIGHEST_PROTOCOL)

    def _load(self, blob: bytes) -> None:
        for name, value in pickle.loads(blob).items():
            setattr(self, name, value)

    def _restore(self) -> None:
        """Back to the state before the failed command: last checkpoint + replay (deterministic)."""
        self._load(self._checkpoint)
        self._replaying = True
        try:
            for command in self._since:
                self.process(command)
        finally:
            self._replaying = False

    def snapshot(self) -> bytes:
        """The whole state as bytes (for the journal's snapshots); :meth:`from_snapshot` restores it."""
        return self._dump()

    @classmethod
    def from_snapshot(cls, blob: bytes) -> Engine:
        """An engine in the state :meth:`snapshot` saved."""
        engine: Engine = getattr(cls, "__new__")(cls)  # noqa: B009  (cls.__new__(cls) crashes mypyc 2.4)
        engine.settled = {}  # a snapshot from before settlement existed has none
        engine._load(blob)
        engine._out = []
        engine._order_accounts = {}
        engine._withdraw_accounts = {}
        engine._waterfall_complete = True
        engine._funding_postings = []
        engine._flat_before = ()
        engine.track_steps = False
        engine._fee_free = False
        engine._checkpoint = blob
        engine._since = []
        engine._replaying = False
        return engine

    # ================================================================ events
    def _emit_exec(
        self,
        exec_type: str,
        order: Order,
        *,
        last_qty: int = 0,
        last_px: int = 0,
        comm: int = 0,
        liquidity: str = "",
        text: str = "",
        leaves: int | None = None,
        cum: int | None = None,
        status: str | None = None,
    ) -> None:
        leaves_qty = order.leaves_qty if leaves is None else leaves
        cum_qty = order.cum_qty if cum is None else cum
        if status is None:
            if exec_type == o.EXEC_CANCELED:
                status = o.CANCELED
            elif leaves_qty == 0 and cum_qty > 0:
                status = o.FILLED
            elif cum_qty > 0:
                status = o.PARTIALLY_FILLED
            else:
                status = o.NEW
        self.seq += 1
        self._out.append(
            Execution(
                self.seq,
                self.time_ms,
                exec_type,
                order.account,
                order.symbol,
                order.order_id,
                order.cl_ord_id,
                o.BUY if order.is_buy else o.SELL,
                order.ord_type,
                order.order_qty,
                order.price,
                order.stop_px,
                last_qty,
                last_px,
                leaves_qty,
                cum_qty,
                status,
                comm,
                liquidity,
                text,
            )
        )

    def _emit_tx(self, kind: str, account: int, asset: str, amount: int, symbol: str = "", text: str = "") -> None:
        self.seq += 1
        self._out.append(Transaction(self.seq, self.time_ms, kind, account, asset, amount, symbol, text))

    def _emit_rule(self, record: Any, account: int, symbol: str) -> None:
        self.seq += 1
        self._out.append(
            RuleEvent(self.seq, self.time_ms, record.rule_id, type(record).__name__, account, symbol, record)
        )

    def _emit_position(self, account: int, symbol: str) -> None:
        ps = self.accounts[account].positions[symbol]
        self.seq += 1
        liq = self.liq.entries.get((account, symbol))
        self._out.append(
            PositionUpdate(
                self.seq, self.time_ms, account, symbol, ps.qty, ps.cost, ps.leverage, 0 if liq is None else liq[1]
            )
        )

    # ================================================================ clock
    def _advance_clock(self, time_ms: int) -> None:
        if time_ms // DAY_MS > self.time_ms // DAY_MS and self.day_orders:
            self.time_ms = time_ms
            today = time_ms // DAY_MS
            for order_id in sorted(self.day_orders):
                if self.day_orders[order_id] < today and order_id in self.live_orders:
                    self._cancel(self.live_orders[order_id], "Canceled: Day order expired")
        self.time_ms = time_ms
        heap = self.dms_heap
        while heap and heap[0][0] <= time_ms:
            deadline, account_id = heapq.heappop(heap)
            account = self.accounts.get(account_id)
            if account is not None and account.cancel_at_ms == deadline:
                account.cancel_at_ms = 0
                for order_id in sorted(account.orders):
                    order = self.live_orders[order_id]
                    self._cancel(order, "Canceled: Cancel-all-after (dead man's switch) fired")

    # ================================================================ lookups
    def _account(self, account_id: object) -> Account | Rej:
        if not _is_int(account_id):
            return Rej(Reason.MALFORMED, "account must be an integer")
        assert isinstance(account_id, int)
        account = self.accounts.get(account_id)
        if account is None or not account.verified or account_id < 0:
            return Rej(Reason.UNVERIFIED_ACCOUNT, f"account {account_id} is not verified")
        return account

    def _account_in(self, account_id: object, symbol: object) -> tuple[Account, Instrument] | Rej:
        """A verified account and a known instrument, or the first typed reject (account checked first)."""
        account = self._account(account_id)
        if isinstance(account, Rej):
            return account
        inst = self._instrument(symbol)
        if isinstance(inst, Rej):
            return inst
        return account, inst

    def _instrument(self, symbol: object) -> Instrument | Rej:
        if not _is_str(symbol):
            return Rej(Reason.MALFORMED, "symbol must be a string")
        assert isinstance(symbol, str)
        inst = self.instrument_map.get(symbol)
        if inst is None:
            return Rej(Reason.UNKNOWN_SYMBOL, f"unknown symbol {_show(symbol)}")
        return inst

    def _asset_known(self, asset: object) -> bool:
        return _is_str(asset) and asset in self.assets()

    @staticmethod
    def _is_spot(inst: Instrument) -> bool:
        return inst.kind is ContractKind.SPOT

    def _free(self, account: Account, asset: str, margin: AccountMargin) -> int:
        """Available balance net of what live spot orders reserve."""
        return margin.available_margin - account.reserved.get(asset, 0)

    def _spot_need(self, inst: Instrument, is_buy: bool, qty: int, price: int) -> tuple[str, int]:
        """What a spot order reserves: a buy its quote value plus the taker fee, a sell its base amount."""
        if is_buy:
            value = compute_notional(inst, qty, price)
            return inst.settl_currency, value + max(0, compute_commission(value, inst.taker_fee_ppm))
        return inst.base_currency, qty * inst.base_multiplier

    def _reserve(self, order: Order, price: int | None = None) -> None:
        """Set a spot order's reservation from its open quantity (0 once it is no longer live)."""
        account = self.accounts[order.account]
        old = self.spot_reservations.pop(order.order_id, None)
        if old is not None:
            left = account.reserved.get(old[0], 0) - old[1]
            if left:
                account.reserved[old[0]] = left
            else:
                account.reserved.pop(old[0], None)
        if order.order_id in self.live_orders and order.leaves_qty > 0:
            inst = self.instrument_map[order.symbol]
            asset, amount = self._spot_need(inst, order.is_buy, order.leaves_qty, price or order.price)
            self.spot_reservations[order.order_id] = (asset, amount)
            account.reserved[asset] = account.reserved.get(asset, 0) + amount

    def _peek_position(self, account: Account, inst: Instrument) -> PositionState:
        """The account's position in ``inst`` without creating one (a flat stand-in if none)."""
        state = account.positions.get(inst.symbol)
        return state if state is not None else PositionState(inst.symbol, inst.risk_limit)

    # ================================================================ margin
    def _best(self, symbol: str) -> tuple[int, int]:
        book = self.books[symbol]
        return (book.best_bid() or 0, book.best_ask() or 0)

    def _contract_order_margin(
        self, inst: Instrument, ps: PositionState, orders: tuple[tuple[int, int], ...] | None = None
    ) -> int:
        """MRG-046 total of ``orders`` (default: the position's resting orders, kept summed with them)."""
        if orders is None:
            if not ps.orders:
                return 0
            best_bid, best_ask = self._best(inst.symbol)
            return resting_order_margin(inst, ps, self.marks[inst.symbol], best_bid, best_ask).total
        if not orders:
            return 0
        best_bid, best_ask = self._best(inst.symbol)
        return contract_order_margin(
            inst, ps.position, orders, self.marks[inst.symbol], best_bid, best_ask, ps.leverage
        ).total

    def _margin_setting(self, inst: Instrument, ps: PositionState) -> MarginSetting:
        """The isolated margin as MRG-020 sees it: ``posCross = iso_margin − posInit − posComm``.

        ``posInit``/``posComm`` are MRG-020's own (risk steps of the entry value,
        no extra margin), so ``posMargin`` in MRG-050 is at least the money set
        aside (more by the fee on the extra) even when the owner chose a higher
        risk tier: the available balance never counts set-aside money as free.
        """
        if ps.leverage == CROSS:
            return MarginSetting()
        bare = compute_requirement(inst, ps.position, ps.leverage, 0)
        return MarginSetting(leverage_hundredths=ps.leverage, pos_cross=ps.iso_margin - bare.pos_init - bare.pos_comm)

    def _position_margin(self, inst: Instrument, ps: PositionState) -> PositionMargin:
        setting = self._margin_setting(inst, ps)
        return ps.margin(inst, self.marks[inst.symbol], setting.pos_cross)

    def _account_margin(
        self,
        account: Account,
        asset: str,
        replace: tuple[str, PositionState, tuple[tuple[int, int], ...]] | None = None,
        known: tuple[str, int] | None = None,
    ) -> AccountMargin:
        """MRG-050 for one account.

        ``replace`` substitutes one contract's position record and orders;
        ``known`` gives one contract's order margin already computed (by the caller, just now).
        """
        lines: list[PositionMargin] = []
        order_margin = 0
        seen_replace = False
        for symbol in sorted(account.positions):
            inst = self.instrument_map[symbol]
            if inst.settl_currency != asset:
                continue
            ps = account.positions[symbol]
            orders: tuple[tuple[int, int], ...] | None = None  # the resting ones
            if replace is not None and replace[0] == symbol:
                ps, orders, seen_replace = replace[1], replace[2], True
            if ps.qty != 0 or ps.iso_margin != 0:
                lines.append(self._position_margin(inst, ps))
            if known is not None and known[0] == symbol and replace is None:
                order_margin += known[1]
            else:
                order_margin += self._contract_order_margin(inst, ps, orders)
        if replace is not None and not seen_replace:
            inst = self.instrument_map[replace[0]]
            if inst.settl_currency == asset:
                order_margin += self._contract_order_margin(inst, replace[1], replace[2])
        return compute_account_margin(account.wallet(asset), tuple(lines), order_margin)

    def available(self, account_id: int, asset: str) -> int:
        """BitMEX ``availableMargin`` of an account in ``asset``."""
        return self._account_margin(self.accounts[account_id], asset).available_margin

    # ================================================================ handlers: accounts
    def _verify(self, c: cmd.VerifyAccount) -> Rej | int:
        if not _is_int(c.account) or c.account < 0:
            return Rej(Reason.MALFORMED, "account must be a non-negative integer")
        account = self.accounts.get(c.account)
        if account is not None and account.verified:
            return Rej(Reason.ALREADY_VERIFIED, f"account {c.account} is already verified")
        account = Account(c.account)
        account.verified = True
        self.accounts[c.account] = account
        return 0

    def _deposit(self, c: cmd.Deposit) -> Rej | int:
        account = self._account(c.account)
        if isinstance(account, Rej):
            return account
        if not self._asset_known(c.asset):
            return Rej(Reason.UNKNOWN_ASSET, f"unknown asset {_show(c.asset)}")
        if not _is_int(c.amount) or c.amount <= 0:
            return Rej(Reason.MALFORMED, "amount must be a positive integer")
        account.wallets[c.asset] = account.wallet(c.asset) + c.amount
        self.deposits[c.asset] = self.deposits.get(c.asset, 0) + c.amount
        self.dirty[account.account_id] = None
        self._emit_tx("Deposit", account.account_id, c.asset, c.amount)
        return 0

    def _withdraw(self, c: cmd.Withdraw) -> Rej | int:
        account = self._account(c.account)
        if isinstance(account, Rej):
            return account
        if not self._asset_known(c.asset):
            return Rej(Reason.UNKNOWN_ASSET, f"unknown asset {_show(c.asset)}")
        if not _is_int(c.amount) or c.amount <= 0:
            return Rej(Reason.MALFORMED, "amount must be a positive integer")
        margin = self._account_margin(account, c.asset)
        withdrawable = max(0, min(margin.withdrawable_margin, self._free(account, c.asset, margin)))
        problem = check_withdrawal(c.amount, withdrawable)
        if problem is not None:
            return Rej(Reason.INSUFFICIENT_BALANCE, f"{problem.reason.value}: withdrawable {problem.available}")
        account.wallets[c.asset] = account.wallet(c.asset) - c.amount
        self.deposits[c.asset] = self.deposits.get(c.asset, 0) - c.amount
        self.dirty[account.account_id] = None
        self._withdraw_accounts[account.account_id] = None
        self._emit_tx("Withdrawal", account.account_id, c.asset, -c.amount)
        return 0

    def _deposit_insurance(self, c: cmd.DepositInsurance) -> Rej | int:
        if not self._asset_known(c.asset):
            return Rej(Reason.UNKNOWN_ASSET, f"unknown asset {_show(c.asset)}")
        if not _is_int(c.amount) or c.amount <= 0:
            return Rej(Reason.MALFORMED, "amount must be a positive integer")
        self._fund_move(c.asset, c.amount, "deposit", "", -1, "INS-008")
        self.deposits[c.asset] = self.deposits.get(c.asset, 0) + c.amount
        return 0

    def _set_leverage(self, c: cmd.SetLeverage) -> Rej | int:
        target = self._account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if not _is_int(c.leverage_hundredths):
            return Rej(Reason.MALFORMED, "leverage_hundredths must be an integer")
        if self._is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no leverage")
        return self._change_leverage(account, inst, c.leverage_hundredths)

    def _change_leverage(self, account: Account, inst: Instrument, leverage: int) -> Rej | int:
        if inst.symbol not in self.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        ps = self._peek_position(account, inst)
        steps = max(compute_risk_steps(inst, abs(ps.cost)), ps.chosen_tier)
        problem = check_leverage(inst, leverage, steps)
        if problem is not None:
            return Rej(Reason.INVALID_LEVERAGE, f"leverage must be 0 (cross) or 1..{problem.available}")
        trial = ps.copy()
        trial.leverage = leverage
        trial.iso_margin = self._isolated_requirement(inst, trial) if leverage != CROSS and ps.qty != 0 else 0
        asset = inst.settl_currency
        before = self._account_margin(account, asset)
        after = self._account_margin(account, asset, (inst.symbol, trial, tuple(ps.orders.values())))
        if after.available_margin < 0 and after.available_margin < before.available_margin:
            return Rej(Reason.INSUFFICIENT_MARGIN, f"available balance would be {after.available_margin}")
        real = account.position(inst)
        real.leverage = trial.leverage
        real.iso_margin = trial.iso_margin
        self._touch(account, inst)
        self._emit_position(account.account_id, inst.symbol)
        return 0

    def _isolated_requirement(self, inst: Instrument, ps: PositionState) -> int:
        req = compute_requirement(inst, ps.position, ps.leverage, ps.chosen_tier)
        return req.pos_init + req.pos_comm

    def _isolate(self, c: cmd.Isolate) -> Rej | int:
        target = self._account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if type(c.enabled) is not bool:
            return Rej(Reason.MALFORMED, "enabled must be a boolean")
        if self._is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no margin mode")
        if not c.enabled:
            return self._change_leverage(account, inst, CROSS)
        ps = self._peek_position(account, inst)
        if ps.leverage != CROSS:
            return 0
        steps = max(compute_risk_steps(inst, abs(ps.cost)), ps.chosen_tier)
        # isolate at the tier's maximum leverage: the same initial margin as cross
        return self._change_leverage(account, inst, compute_max_leverage_hundredths(inst, steps))

    def _transfer_margin(self, c: cmd.TransferMargin) -> Rej | int:
        target = self._account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if not _is_int(c.amount):
            return Rej(Reason.MALFORMED, "amount must be an integer")
        if self._is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no position margin")
        if inst.symbol not in self.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        ps = account.positions.get(inst.symbol)
        if ps is None or ps.qty == 0:
            return Rej(Reason.NO_POSITION, "no open position to transfer margin to or from")
        pm = self._position_margin(inst, ps)
        available = self._free(account, inst.settl_currency, self._account_margin(account, inst.settl_currency))
        problem = check_transfer_margin(pm, c.amount, available)
        if problem is not None:
            reason = Reason.NOT_ISOLATED if problem.reason.value == "PositionNotIsolated" else Reason.INSUFFICIENT_MARGIN
            return Rej(reason, f"{problem.reason.value}: required {problem.required}, available {problem.available}")
        ps.iso_margin += c.amount
        self._touch(account, inst)
        self._emit_tx("TransferMargin", account.account_id, inst.settl_currency, c.amount, inst.symbol)
        return 0

    def _set_risk_limit(self, c: cmd.SetRiskLimit) -> Rej | int:
        target = self._account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if not _is_int(c.risk_limit):
            return Rej(Reason.MALFORMED, "risk_limit must be an integer")
        if self._is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no risk limit")
        problem = check_risk_limit_choice(inst, c.risk_limit)
        if problem is not None:
            return Rej(Reason.INVALID_RISK_LIMIT, "risk limit must be riskLimit + k × riskStep")
        if inst.symbol not in self.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        ps = self._peek_position(account, inst)
        gross = self._gross_value(inst, ps, tuple(ps.orders.values()))
        if check_risk_limit(gross, c.risk_limit) is not None:
            return Rej(Reason.RISK_LIMIT_EXCEEDED, f"position and orders worth {gross} exceed {c.risk_limit}")
        trial = ps.copy()
        trial.risk_limit = c.risk_limit
        trial.chosen_tier = (c.risk_limit - inst.risk_limit) // inst.risk_step  # exact: checked by RSK-006
        if trial.leverage != CROSS and trial.qty != 0:
            trial.iso_margin = max(trial.iso_margin, self._isolated_requirement(inst, trial))
        asset = inst.settl_currency
        after = self._account_margin(account, asset, (inst.symbol, trial, tuple(ps.orders.values())))
        before = self._account_margin(account, asset)
        if after.available_margin < 0 and after.available_margin < before.available_margin:
            return Rej(Reason.INSUFFICIENT_MARGIN, f"available balance would be {after.available_margin}")
        real = account.position(inst)
        real.risk_limit, real.chosen_tier, real.iso_margin = trial.risk_limit, trial.chosen_tier, trial.iso_margin
        self._touch(account, inst)
        return 0

    def _gross_value(self, inst: Instrument, ps: PositionState, orders: tuple[tuple[int, int], ...]) -> int:
        """RSK-007 input: |position value| plus the larger side of the resting orders."""
        best_bid, best_ask = self._best(inst.symbol)
        bids, asks = order_sides(inst, orders, self.marks[inst.symbol], best_bid, best_ask)
        return abs(ps.cost) + max(bids.value, asks.value)

    # ================================================================ handlers: orders
    def _place(self, c: cmd.PlaceOrder) -> Rej | int:
        parsed = self._validate_place(c)
        if isinstance(parsed, Rej):
            return parsed
        account, inst, order = parsed
        order.order_id = self.next_order_id
        self.next_order_id += 1
        if order.cl_ord_id:
            account.cl_ord_ids[order.cl_ord_id] = order.order_id
        if order.time_in_force == o.DAY:
            self.day_orders[order.order_id] = self.time_ms // DAY_MS
        if not order.triggered:
            account.orders[order.order_id] = order
            self.live_orders[order.order_id] = order
            self.conditional[inst.symbol][order.order_id] = order
            self._emit_exec(o.EXEC_NEW, order)
            self._run_triggers(inst)
            return order.order_id
        self._enter(account, inst, order, emit_new=True)
        self._after_trading(inst)
        return order.order_id

    def _validate_place(self, c: cmd.PlaceOrder) -> tuple[Account, Instrument, Order] | Rej:
        target = self._account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if inst.symbol in self.settled:
            return Rej(Reason.CONTRACT_SETTLED, f"{inst.symbol} is settled")
        if inst.symbol not in self.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        numbers: tuple[object, ...] = (c.order_qty, c.price, c.display_qty, c.stop_px, c.peg_offset_value)
        for name, number in zip(_PLACE_INT_FIELDS, numbers, strict=True):
            if number is not None and type(number) is not int:
                return Rej(Reason.MALFORMED, f"{name} must be an integer")
        texts: tuple[object, ...] = (c.side, c.ord_type, c.time_in_force, c.peg_price_type)
        for name, text in zip(_PLACE_STR_FIELDS, texts, strict=True):
            if text is not None and type(text) is not str:
                return Rej(Reason.MALFORMED, f"{name} must be a string")
        if type(c.exec_inst) is not str or type(c.cl_ord_id) is not str:
            return Rej(Reason.MALFORMED, "exec_inst and cl_ord_id must be strings")
        insts = o.parse_exec_inst(c.exec_inst)
        if insts is None:
            return Rej(Reason.INVALID_INSTRUCTION, f"bad execInst {_show(c.exec_inst)}")
        sources = [s for s in insts if s in o.TRIGGER_SOURCES]
        if len(sources) > 1:
            return Rej(Reason.INVALID_INSTRUCTION, "at most one trigger source")
        close = o.CLOSE in insts
        reduce_only = o.REDUCE_ONLY in insts or close
        post_only = o.POST_ONLY in insts
        ord_type = c.ord_type
        if ord_type is None:
            if c.peg_price_type is not None:
                ord_type = o.PEGGED
            elif c.stop_px is not None:
                ord_type = o.STOP_LIMIT if c.price is not None else o.STOP
            else:
                ord_type = o.LIMIT if c.price is not None else o.MARKET
        if ord_type not in o.ORD_TYPES:
            return Rej(Reason.INVALID_ORD_TYPE, f"unknown ordType {_show(ord_type)}")
        if self._is_spot(inst) and (reduce_only or ord_type in o.CONDITIONAL_TYPES):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "spot orders are Limit or Market, without ReduceOnly/Close")
        if len(c.cl_ord_id) > MAX_CL_ORD_ID:
            return Rej(Reason.MALFORMED, "clOrdID longer than 36 characters")
        if c.cl_ord_id and c.cl_ord_id in account.cl_ord_ids:
            return Rej(Reason.DUPLICATE_CL_ORD_ID, f"clOrdID {_show(c.cl_ord_id)} is live")
        ps = self._peek_position(account, inst)
        # side and quantity
        qty = c.order_qty
        side = c.side
        if side is not None and side not in o.SIDES:
            return Rej(Reason.MALFORMED, f"side must be Buy or Sell, got {_show(side)}")
        if qty is None:
            if not close:
                return Rej(Reason.INVALID_QTY, "orderQty is required (except with Close)")
            if ps.qty == 0:
                return Rej(Reason.NO_POSITION, "Close without orderQty needs an open position")
            if side is None:
                side = o.SELL if ps.qty > 0 else o.BUY
            qty = abs(ps.qty)
        elif qty < 0:
            if side is not None:
                return Rej(Reason.INVALID_QTY, "negative orderQty together with side")
            side, qty = o.SELL, -qty
        elif side is None:
            side = o.BUY
        is_buy = side == o.BUY
        if qty <= 0 or qty % inst.lot_size != 0:
            return Rej(Reason.INVALID_QTY, f"orderQty must be a positive multiple of lotSize {inst.lot_size}")
        if qty > inst.max_order_qty:
            return Rej(Reason.QTY_TOO_LARGE, f"orderQty above maxOrderQty {inst.max_order_qty}")
        # prices
        price = c.price
        if ord_type in o.PRICED_TYPES:
            if price is None:
                return Rej(Reason.INVALID_PRICE, f"{ord_type} needs a price")
            problem = self._check_price(inst, price)
            if problem is not None:
                return problem
        elif price is not None:
            return Rej(Reason.INVALID_PRICE, f"{ord_type} takes no price")
        stop_px = 0
        peg_offset = 0
        if ord_type in (o.STOP, o.STOP_LIMIT, o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED):
            if c.stop_px is None:
                return Rej(Reason.INVALID_PRICE, f"{ord_type} needs stopPx")
            problem = self._check_price(inst, c.stop_px)
            if problem is not None:
                return problem
            stop_px = c.stop_px
        elif ord_type == o.PEGGED:
            if c.peg_price_type != o.TRAILING_STOP_PEG:
                return Rej(Reason.INVALID_ORD_TYPE, "only pegPriceType=TrailingStopPeg is supported")
            offset = c.peg_offset_value
            if offset is None or offset == 0 or offset % inst.tick_size != 0:
                return Rej(Reason.INVALID_PRICE, "pegOffsetValue must be a non-zero multiple of tickSize")
            if (offset > 0) == (not is_buy):
                return Rej(Reason.INVALID_PRICE, "trailing stop: pegOffsetValue < 0 for a sell, > 0 for a buy")
            peg_offset = offset
        elif c.stop_px is not None or c.peg_offset_value is not None:
            return Rej(Reason.INVALID_PRICE, f"{ord_type} takes no stopPx or pegOffsetValue")
        conditional = ord_type in o.CONDITIONAL_TYPES
        if sources and not conditional:
            return Rej(Reason.INVALID_INSTRUCTION, "trigger source only for stops and if-touched orders")
        if o.LAST_WITHIN_MARK in insts and (not conditional or sources != [o.LAST_PRICE]):
            return Rej(Reason.INVALID_INSTRUCTION, "LastWithinMark needs a stop with LastPrice")
        if o.FIXED in insts and ord_type != o.PEGGED:
            return Rej(Reason.INVALID_INSTRUCTION, "Fixed is for pegged orders")
        trigger_source = sources[0] if sources else o.MARK_PRICE
        if ord_type == o.PEGGED:
            reference = self._trigger_price(inst.symbol, trigger_source)
            if reference == 0:
                return Rej(Reason.NO_MARK_PRICE, f"no {trigger_source} yet for the trailing stop")
            stop_px = reference + peg_offset
            if stop_px <= 0 or stop_px > inst.max_price:
                return Rej(Reason.INVALID_PRICE, "trailing stop price out of range")
        # time in force
        executes_as_market = ord_type in (o.MARKET, o.STOP, o.MARKET_IF_TOUCHED, o.PEGGED)
        tif = c.time_in_force
        if tif is None:
            tif = o.IMMEDIATE_OR_CANCEL if executes_as_market else o.GOOD_TILL_CANCEL
        if tif not in o.TIMES_IN_FORCE:
            return Rej(Reason.INVALID_TIME_IN_FORCE, f"unknown timeInForce {_show(tif)}")
        if executes_as_market and tif not in (o.IMMEDIATE_OR_CANCEL, o.FILL_OR_KILL):
            return Rej(Reason.INVALID_TIME_IN_FORCE, f"{ord_type} executes as a market order: IOC or FOK only")
        if post_only and (executes_as_market or tif in (o.IMMEDIATE_OR_CANCEL, o.FILL_OR_KILL)):
            return Rej(Reason.INVALID_INSTRUCTION, "ParticipateDoNotInitiate needs a resting limit order")
        # display
        display = c.display_qty
        if display is not None:
            if ord_type not in o.PRICED_TYPES:
                return Rej(Reason.INVALID_QTY, "displayQty only on limit orders")
            if display < 0 or display > qty or display % inst.lot_size != 0:
                return Rej(Reason.INVALID_QTY, "displayQty must be 0 or a lot multiple up to orderQty")
            if tif in (o.IMMEDIATE_OR_CANCEL, o.FILL_OR_KILL):
                return Rej(Reason.INVALID_TIME_IN_FORCE, "displayQty only on resting orders")
        order = Order(
            order_id=0,
            account=account.account_id,
            symbol=inst.symbol,
            is_buy=is_buy,
            price=price or 0,
            order_qty=qty,
            ord_type=ord_type,
            time_in_force=tif,
            display_qty=display,
            cl_ord_id=c.cl_ord_id,
            post_only=post_only,
            reduce_only=reduce_only,
            close=close,
            stop_px=stop_px,
            peg_offset=peg_offset,
            trigger_source=trigger_source,
            last_within_mark=o.LAST_WITHIN_MARK in insts,
            time_ms=self.time_ms,
        )
        if conditional:
            return account, inst, order
        problem = self._check_entry(account, inst, order)
        if problem is not None:
            return problem
        return account, inst, order

    def _check_price(self, inst: Instrument, price: int) -> Rej | None:
        if price <= 0 or price % inst.tick_size != 0:
            return Rej(Reason.INVALID_PRICE, f"price must be a positive multiple of tickSize {inst.tick_size}")
        if price > inst.max_price:
            return Rej(Reason.PRICE_TOO_HIGH, f"price above maxPrice {inst.max_price}")
        return None

    def _reducible(self, ps: PositionState, is_buy: bool) -> int:
        """How much an order on this side can reduce the position (0 if it would increase it)."""
        return max(0, -ps.qty) if is_buy else max(0, ps.qty)

    def _market_limit(self, inst: Instrument, ps: PositionState, is_buy: bool) -> int:
        """The worst price a market order may fill at: the fat-finger band, and the bankruptcy price when reducing."""
        mark = self.marks[inst.symbol]
        book = self.books[inst.symbol]
        tick = inst.tick_size
        if is_buy:
            reference = max(book.best_ask() or 0, mark)
            # floor to the tick: the cap never exceeds 5% above the reference
            cap = floor_to_multiple(reference + reference * FAT_FINGER_PPM // 1_000_000, tick)
            cap = min(cap, inst.max_price)
        else:
            best_bid = book.best_bid()
            reference = mark if best_bid is None else min(best_bid, mark)
            # ceil to the tick: the floor never goes below 5% under the reference
            cap = max(ceil_to_multiple(reference - reference * FAT_FINGER_PPM // 1_000_000, tick), tick)
        del ps
        return cap

    def _bankruptcy_limit(self, account: Account, inst: Instrument, is_buy: bool, cap: int) -> int:
        """A market order that reduces a position stops at its bankruptcy price, fee of closing there covered (LIQ-016)."""
        ps = account.positions.get(inst.symbol)
        if ps is None or ps.qty == 0 or self._reducible(ps, is_buy) == 0:
            return cap
        _, equity, _, _ = self._pool_of(account, inst.symbol)
        own_term = compute_value(inst, ps.qty, self.marks[inst.symbol]) - ps.cost
        req = compute_requirement(inst, ps.position, ps.leverage, ps.chosen_tier)
        taker_fee = self._fee_ppm(account, inst, maker=False)
        bankrupt = compute_reduce_limit_price(inst, ps.position, equity - own_term, req.pos_comm, taker_fee)
        return min(cap, bankrupt) if is_buy else max(cap, bankrupt)

    def _chosen_tier_extra(self, inst: Instrument, ps: PositionState, signed: int, price: int) -> int:
        """What a chosen risk limit above the position's own tier adds to an order's requirement.

        MRG-060 prices the position at its own risk steps; the pools (LIQ-001) hold
        it at the chosen tier.  The difference in ``posInit + posComm`` that the fill
        would add is required too, so a position is never born below its own tier's
        initial margin (state-machine find).
        """
        if ps.chosen_tier == 0:
            return 0
        filled, _ = apply_fill(inst, ps.position, signed, price)

        def gap(position: Position) -> int:
            chosen = compute_requirement(inst, position, ps.leverage, ps.chosen_tier)
            own = compute_requirement(inst, position, ps.leverage, 0)
            return chosen.pos_init + chosen.pos_comm - own.pos_init - own.pos_comm

        return max(0, gap(filled) - gap(ps.position))

    @staticmethod
    def _market_reach(book: Book, is_buy: bool, qty: int, cap: int, account_id: int) -> int:
        """The worst price a market order of ``qty`` can reach before ``cap`` (0 if no liquidity).

        Own orders (cancelled by self-trade prevention) and ReduceOnly makers (which
        may not be allowed to trade) are not counted, so the price is never better
        than the one the sweep will actually reach: the margin is charged there.
        """
        levels = book.asks if is_buy else book.bids
        keys = book.ask_keys if is_buy else book.bid_keys
        need = qty
        worst = 0
        for key in reversed(keys):
            price = -key if is_buy else key
            if (price > cap) if is_buy else (price < cap):
                break
            level = levels[price]
            available = 0
            for resting in (*level.shown, *level.hidden):
                if resting.live and resting.account != account_id and not resting.reduce_only:
                    available += resting.leaves_qty
            if available == 0:
                continue
            worst = price
            need -= min(need, available)
            if need == 0:
                break
        return worst

    def _check_entry(self, account: Account, inst: Instrument, order: Order) -> Rej | None:
        """Pre-trade checks of an order about to enter the book (new or triggered): no mutation."""
        ps = self._peek_position(account, inst)
        book = self.books[inst.symbol]
        if order.reduce_only:
            room = self._reducible(ps, order.is_buy)
            if room == 0:
                return Rej(Reason.REDUCE_ONLY_WOULD_INCREASE, "ReduceOnly order would open or increase a position")
            if order.leaves_qty > room:
                order.leaves_qty = order.order_qty = room  # amended down to the position (not yet live)
                order.reset_shown()
        if order.ord_type in (o.LIMIT, o.STOP_LIMIT, o.LIMIT_IF_TOUCHED):
            mark = self.marks[inst.symbol]
            if order.is_buy:
                best = book.best_ask()
                reference = max(best or 0, mark)
                band = reference + reference * FAT_FINGER_PPM // 1_000_000  # floor: the band is not widened
                if order.price > band:
                    best_size = book.depth(False, 1)[0][1] if best is not None and book.depth(False, 1) else 0
                    if order.leaves_qty > best_size:
                        return Rej(Reason.FAT_FINGER, f"buy more than 5% above {reference} larger than best ask size")
            else:
                best = book.best_bid()
                reference = mark if best is None else min(best, mark)
                band = reference - reference * FAT_FINGER_PPM // 1_000_000
                if order.price < band:
                    best_size = book.depth(True, 1)[0][1] if best is not None and book.depth(True, 1) else 0
                    if order.leaves_qty > best_size:
                        return Rej(Reason.FAT_FINGER, f"sell more than 5% below {reference} larger than best bid size")
            charge_price = order.price
        else:
            cap = self._market_limit(inst, ps, order.is_buy)
            charge_price = self._market_reach(book, order.is_buy, order.leaves_qty, cap, account.account_id)
            if charge_price == 0:
                return None  # nothing it could trade with: it will be cancelled without a fill
        if self._is_spot(inst):
            asset, need = self._spot_need(inst, order.is_buy, order.leaves_qty, charge_price)
            free = self._free(account, asset, self._account_margin(account, asset))
            if need > free:
                return Rej(Reason.INSUFFICIENT_BALANCE, f"needs {need} {asset}, free {free}")
            return None
        signed = order.leaves_qty if order.is_buy else -order.leaves_qty
        mark = self.marks[inst.symbol]
        best_bid, best_ask = self._best(inst.symbol)
        position = ps.position
        # MRG-042 is a sum over orders: the resting orders' sides (kept summed with them) plus the new term
        sides_before = resting_sides(inst, ps, mark, best_bid, best_ask)
        sides_after = sides_plus(inst, sides_before, signed, charge_price, mark, best_bid, best_ask)
        if not order.reduce_only:
            gross = abs(ps.cost) + max(sides_after[0].value, sides_after[1].value)  # RSK-007's input
            if check_risk_limit(gross, ps.risk_limit) is not None:
                return Rej(Reason.RISK_LIMIT_EXCEEDED, f"position and orders worth {gross} exceed {ps.risk_limit}")
        om_before = resting_order_margin(inst, ps, mark, best_bid, best_ask).total
        om_after = margin_of_sides(inst, position, sides_after, ps.leverage).total
        setting = self._margin_setting(inst, ps)
        requirement = compute_order_requirement(
            inst,
            position,
            mark,
            ps.leverage,
            setting.pos_cross,
            om_before,
            om_after,
            signed,
            charge_price,
        )
        if requirement > 0:
            requirement += self._chosen_tier_extra(inst, ps, signed, charge_price)
            margin = self._account_margin(
                account, inst.settl_currency, known=(inst.symbol, om_before) if inst.symbol in account.positions else None
            )
            available = self._free(account, inst.settl_currency, margin)
            problem = check_order_margin(available, requirement)
            if problem is not None:
                return Rej(Reason.INSUFFICIENT_MARGIN, f"needs {problem.required}, available {problem.available}")
            self._order_accounts[account.account_id] = None  # INV-MARGIN-ON-ENTRY applies to this step
        return None

    def _enter(self, account: Account, inst: Instrument, order: Order, emit_new: bool) -> None:
        """An accepted (or just triggered) order meets the book: match, then rest or cancel the rest."""
        book = self.books[inst.symbol]
        if emit_new:
            self._emit_exec(o.EXEC_NEW, order)
        self.live_orders[order.order_id] = order
        account.orders[order.order_id] = order
        if order.close:
            self._close_cancels_same_side(account, inst, order)
        if order.post_only and book.crosses(order.is_buy, order.price):
            self._cancel(order, "Canceled: ParticipateDoNotInitiate order would have traded")
            return
        is_limit = order.ord_type in o.PRICED_TYPES
        ps = account.position(inst)
        limit = (
            order.price
            if is_limit
            else self._bankruptcy_limit(account, inst, order.is_buy, self._market_limit(inst, ps, order.is_buy))
        )
        if self._is_spot(inst):
            self._reserve(order, limit)
        if order.time_in_force == o.FILL_OR_KILL and not book.can_fill(
            order.is_buy, limit, order.leaves_qty, account.account_id
        ):
            self._cancel(order, "Canceled: FillOrKill could not be filled in full")
            return
        self._sweep(account, inst, order, limit)
        if order.leaves_qty == 0:
            self._forget(order)
            return
        if is_limit and order.time_in_force in (o.GOOD_TILL_CANCEL, o.DAY):
            order.reset_shown()
            book.add(order)
            if self._is_spot(inst):
                self._reserve(order)
                return
            ps.put_order(order.order_id, order.leaves_qty if order.is_buy else -order.leaves_qty, order.price)
            return
        text = "Canceled: market order reached its price limit" if not is_limit else "Canceled: ImmediateOrCancel"
        self._cancel(order, text)

    def _close_cancels_same_side(self, account: Account, inst: Instrument, close: Order) -> None:
        """ORD-012: a Close order entering the book cancels the account's other active same-side limit orders
        in the contract when, together with it, their open quantity exceeds the position.

        BitMEX: "will cancel other active limit orders with the same side and
        symbol if the open quantity exceeds the current position".  Active means
        in the book (triggered); untriggered stops wait and are handled by
        ReduceOnly when they fire.  All of them go (by order id), not just
        enough to fit: the Close order is the trader's instruction for the
        position [I].
        """
        ps = account.positions.get(inst.symbol)
        room = 0 if ps is None else self._reducible(ps, close.is_buy)
        others = sorted(
            order_id
            for order_id, order in account.orders.items()
            if order_id != close.order_id
            and isinstance(order, Order)
            and order.symbol == inst.symbol
            and order.is_buy == close.is_buy
            and order.triggered
            and order.live
            and order.level is not None
        )
        open_qty = close.leaves_qty + sum(self.live_orders[order_id].leaves_qty for order_id in others)
        if open_qty <= room:
            return
        for order_id in others:
            self._cancel(self.live_orders[order_id], "Canceled: Close order and open quantity above the position")

    def _sweep(self, account: Account, inst: Instrument, order: Order, limit: int) -> list[tuple[int, int]]:
        """Match ``order`` (not in the book) against the book up to ``limit``; apply every fill.

        Returns the ``(qty, price)`` of each fill.
        """
        book = self.books[inst.symbol]
        fills: list[Fill] = []
        dropped: list[Order] = []
        guard = self._make_guard(inst.symbol, fills)
        book.match(order.is_buy, limit, order.leaves_qty, account.account_id, fills, dropped, guard)
        self._apply_fills(inst, order, fills, dropped)
        return [(qty, price) for _, qty, price in fills]

    def _make_guard(self, symbol: str, fills: list[Fill]) -> Callable[[Order, int], int]:
        accounts = self.accounts

        def guard(maker: Order, wanted: int) -> int:
            qty = accounts[maker.account].positions[symbol].qty
            for other, traded, _ in fills:
                if other.account == maker.account:
                    qty += traded if other.is_buy else -traded
            room = max(0, -qty) if maker.is_buy else max(0, qty)
            return min(wanted, room)

        return guard

    def _fee_ppm(self, account: Account, inst: Instrument, maker: bool) -> int:
        if account.account_id < 0 or self._fee_free:
            return 0  # liquidation fills pay no commission (rules.waterfall decision)
        tier = inst.fee_tiers[account.fee_tier(inst, self.time_ms)]
        return tier.maker_fee_ppm if maker else tier.taker_fee_ppm

    def _usd_per_unit(self, inst: Instrument) -> int:
        if inst.settl_currency == "USDt":
            return 1
        mark = self.marks.get("XBTUSD")
        xbtusd = self.instrument_map.get("XBTUSD")
        if mark is None or xbtusd is None:
            return 0
        return mark // xbtusd.price_scale

    def _apply_fills(self, inst: Instrument, taker: Order, fills: list[Fill], dropped: list[Order]) -> None:
        """Money and bookkeeping of a sweep: ACC-004 per fill, executions, maker orders, positions."""
        if self._is_spot(inst):
            self._apply_spot_fills(inst, taker, fills, dropped)
            return
        symbol = inst.symbol
        asset = inst.settl_currency
        taker_account = self.accounts[taker.account]
        taker_ps = taker_account.positions.get(symbol) or taker_account.position(inst)
        totals: dict[int, int] = {}
        for maker, qty, _ in fills:
            totals[maker.order_id] = totals.get(maker.order_id, 0) + qty
        running: dict[int, tuple[int, int]] = {}
        for maker in {m.order_id: m for m, _, _ in fills}.values():
            total = totals[maker.order_id]
            running[maker.order_id] = (maker.leaves_qty + total, maker.cum_qty - total)
        touched: dict[int, None] = {taker.account: None} if fills else {}
        usd_unit = self._usd_per_unit(inst)
        for maker, qty, price in fills:
            maker_account = self.accounts[maker.account]
            maker_ps = maker_account.position(inst)
            taker_fee = self._fee_ppm(taker_account, inst, maker=False)
            maker_fee = self._fee_ppm(maker_account, inst, maker=True)
            if taker.is_buy:
                effect = apply_trade(inst, taker_ps.position, maker_ps.position, qty, price, taker_fee, maker_fee)
                taker_effect, maker_effect = effect.buyer, effect.seller
            else:
                effect = apply_trade(inst, maker_ps.position, taker_ps.position, qty, price, maker_fee, taker_fee)
                taker_effect, maker_effect = effect.seller, effect.buyer
            self._apply_effect(taker_account, taker_ps, inst, taker_effect.position, taker_effect.wallet_delta,
                               taker_effect.realised_pnl, price)
            self._apply_effect(maker_account, maker_ps, inst, maker_effect.position, maker_effect.wallet_delta,
                               maker_effect.realised_pnl, price)
            self.fees[asset] = self.fees.get(asset, 0) + effect.fee_pool_delta
            taker.leaves_qty -= qty
            taker.cum_qty += qty
            taker.cum_value += qty * price
            leaves, cum = running[maker.order_id]
            leaves, cum = leaves - qty, cum + qty
            running[maker.order_id] = (leaves, cum)
            self._emit_exec(o.EXEC_TRADE, taker, last_qty=qty, last_px=price, comm=taker_effect.commission,
                            liquidity=o.REMOVED_LIQUIDITY)
            self._emit_exec(o.EXEC_TRADE, maker, last_qty=qty, last_px=price, comm=maker_effect.commission,
                            liquidity=o.ADDED_LIQUIDITY, leaves=leaves, cum=cum)
            if taker.account >= 0:
                taker_account.add_volume(compute_usd_volume(inst, qty, price, usd_unit), self.time_ms)
            if maker.account >= 0:
                maker_account.add_volume(compute_usd_volume(inst, qty, price, usd_unit), self.time_ms)
            touched[maker.account] = None
            self.last_prices[symbol] = price
        for maker in {m.order_id: m for m, _, _ in fills}.values():
            ps = self.accounts[maker.account].positions[symbol]
            if maker.leaves_qty == 0:
                ps.drop_order(maker.order_id)
                if maker.live or maker.order_id in self.live_orders:
                    self._forget(maker)
            elif maker.live:
                ps.put_order(maker.order_id, maker.leaves_qty if maker.is_buy else -maker.leaves_qty, maker.price)
        for maker in dropped:
            self.accounts[maker.account].positions[symbol].drop_order(maker.order_id)
            text = (
                "Canceled: self-trade prevention (resting order of the same account)"
                if maker.account == taker.account
                else "Canceled: ReduceOnly order would have increased the position"
            )
            self._cancel(maker, text, in_book=False)
        for account_id in sorted(touched):
            account = self.accounts[account_id]
            self._fix_reduce_only(account, inst)
            if account_id >= 0:
                self._touch(account, inst)
                self._emit_position(account_id, symbol)

    def _apply_spot_fills(self, inst: Instrument, taker: Order, fills: list[Fill], dropped: list[Order]) -> None:
        """A spot trade moves the quote value one way and the base amount the other; fees in the quote asset."""
        quote, base = inst.settl_currency, inst.base_currency
        taker_account = self.accounts[taker.account]
        usd_unit = self._usd_per_unit(inst)
        totals: dict[int, int] = {}
        for maker, qty, _ in fills:
            totals[maker.order_id] = totals.get(maker.order_id, 0) + qty
        running = {m.order_id: (m.leaves_qty + totals[m.order_id], m.cum_qty - totals[m.order_id]) for m, _, _ in fills}
        for maker, qty, price in fills:
            maker_account = self.accounts[maker.account]
            value = compute_notional(inst, qty, price)
            amount = qty * inst.base_multiplier
            taker_fee = compute_commission(value, self._fee_ppm(taker_account, inst, maker=False))  # ACC-002
            maker_fee = compute_commission(value, self._fee_ppm(maker_account, inst, maker=True))
            buyer, seller = (taker_account, maker_account) if taker.is_buy else (maker_account, taker_account)
            buyer_fee, seller_fee = (taker_fee, maker_fee) if taker.is_buy else (maker_fee, taker_fee)
            buyer.wallets[quote] = buyer.wallet(quote) - value - buyer_fee
            buyer.wallets[base] = buyer.wallet(base) + amount
            seller.wallets[base] = seller.wallet(base) - amount
            seller.wallets[quote] = seller.wallet(quote) + value - seller_fee
            self.fees[quote] = self.fees.get(quote, 0) + buyer_fee + seller_fee
            taker.leaves_qty -= qty
            taker.cum_qty += qty
            taker.cum_value += qty * price
            leaves, cum = running[maker.order_id]
            running[maker.order_id] = (leaves - qty, cum + qty)
            self._emit_exec(o.EXEC_TRADE, taker, last_qty=qty, last_px=price, comm=taker_fee,
                            liquidity=o.REMOVED_LIQUIDITY)
            self._emit_exec(o.EXEC_TRADE, maker, last_qty=qty, last_px=price, comm=maker_fee,
                            liquidity=o.ADDED_LIQUIDITY, leaves=leaves - qty, cum=cum + qty)
            taker_account.add_volume(compute_usd_volume(inst, qty, price, usd_unit), self.time_ms)
            maker_account.add_volume(compute_usd_volume(inst, qty, price, usd_unit), self.time_ms)
            self.last_prices[inst.symbol] = price
        for maker in {m.order_id: m for m, _, _ in fills}.values():
            if maker.leaves_qty == 0:
                self._forget(maker)
            else:
                self._reserve(maker)
        for maker in dropped:
            self._cancel(maker, "Canceled: self-trade prevention (resting order of the same account)", in_book=False)

    def _apply_effect(
        self, account: Account, ps: PositionState, inst: Instrument, position: Position, wallet_delta: int,
        realised: int, price: int | None = None,
    ) -> None:
        asset = inst.settl_currency
        old_qty = ps.qty
        if account.account_id == LIQUIDATOR:
            raise AssertionError("the liquidation engine trades only through _liquidator_fill")
        if ps.leverage != CROSS:
            # isolated: ACC-006 (the rule the waterfall model applies to every fill too)
            old_req = self._isolated_requirement(inst, ps)
            old_margin = ps.iso_margin
            ps.qty, ps.cost = position.qty, position.cost
            premium = unallocated = 0
            if price is not None and ps.qty != 0:
                # a fill that opens worse than mark brings its premium (MRG-041; MRG-060 charged it against the
                # mark of the order's moment) into the pool, from money the account has: its wallet beyond every
                # other isolated pool's margin (what the pool lacks shows as equity below maintenance)
                premium = compute_order_premium(inst, get_opened_qty(old_qty, position.qty), price, self.marks[inst.symbol])
                unallocated = account.wallet(asset) + wallet_delta - sum(
                    other.iso_margin
                    for other_symbol, other in account.positions.items()
                    if other is not ps and other.leverage != CROSS
                    and self.instrument_map[other_symbol].settl_currency == asset
                )
            ps.iso_margin = compute_isolated_margin_after_fill(
                old_margin, old_req, self._isolated_requirement(inst, ps), realised, premium, unallocated, ps.qty
            )
        else:
            ps.qty, ps.cost = position.qty, position.cost
        account.wallets[asset] = account.wallet(asset) + wallet_delta
        if (old_qty == 0) != (ps.qty == 0):
            holders = self.holders[inst.symbol]
            if ps.qty == 0:
                holders.pop(account.account_id, None)
            else:
                holders[account.account_id] = None

    def _fix_reduce_only(self, account: Account, inst: Instrument) -> None:
        """A resting ReduceOnly order is amended down to the position, or cancelled when nothing is left to reduce."""
        ps = account.positions.get(inst.symbol)
        if ps is None:
            return
        symbol = inst.symbol
        live = self.live_orders
        candidates = [
            order_id
            for order_id in account.orders
            if live[order_id].reduce_only and live[order_id].symbol == symbol and live[order_id].triggered
        ]
        for order_id in sorted(candidates):  # by order id: deterministic
            order = live[order_id]
            room = self._reducible(ps, order.is_buy)
            if room == 0:
                self._cancel(order, "Canceled: ReduceOnly order has no position left to reduce")
            elif order.leaves_qty > room:
                self._amend_qty(order, room)
                self._emit_exec(o.EXEC_REPLACED, order, text="Amended: ReduceOnly order reduced to the position")

    def _amend_qty(self, order: Order, leaves: int) -> None:
        self.books[order.symbol].amend(order, leaves, order.price)
        order.order_qty = order.cum_qty + leaves
        ps = self.accounts[order.account].positions[order.symbol]
        ps.put_order(order.order_id, leaves if order.is_buy else -leaves, order.price)

    def _after_trading(self, inst: Instrument) -> None:
        """Triggers that watch the last price may fire after trades."""
        self._run_triggers(inst)

    def _forget(self, order: Order) -> None:
        """An order leaves every index (filled or cancelled)."""
        self.live_orders.pop(order.order_id, None)
        self.day_orders.pop(order.order_id, None)
        account = self.accounts[order.account]
        account.orders.pop(order.order_id, None)
        if order.cl_ord_id and account.cl_ord_ids.get(order.cl_ord_id) == order.order_id:
            del account.cl_ord_ids[order.cl_ord_id]
        self.conditional[order.symbol].pop(order.order_id, None)
        ps = account.positions.get(order.symbol)
        if ps is not None:
            ps.drop_order(order.order_id)
        if order.order_id in self.spot_reservations:
            self._reserve(order)

    def _cancel(self, order: Order, text: str, in_book: bool = True) -> None:
        if in_book and order.live and order.level is not None:
            self.books[order.symbol].remove(order)
        order.live = False
        self._forget(order)
        self._emit_exec(o.EXEC_CANCELED, order, text=text)

    def _find_order(self, account: Account, order_id: object, cl_ord_id: object) -> Order | Rej:
        if order_id is not None:
            if not _is_int(order_id):
                return Rej(Reason.MALFORMED, "order_id must be an integer")
            assert isinstance(order_id, int)
            if order_id in account.orders:
                return self.live_orders[order_id]
            return Rej(Reason.UNKNOWN_ORDER, f"no live order {order_id}")
        if cl_ord_id is not None:
            if not _is_str(cl_ord_id):
                return Rej(Reason.MALFORMED, "clOrdID must be a string")
            assert isinstance(cl_ord_id, str)
            found = account.cl_ord_ids.get(cl_ord_id)
            if found is not None:
                return self.live_orders[found]
            return Rej(Reason.UNKNOWN_ORDER, f"no live order with clOrdID {_show(cl_ord_id)}")
        return Rej(Reason.MALFORMED, "orderID or clOrdID required")

    def _cancel_cmd(self, c: cmd.CancelOrder) -> Rej | int:
        account = self._account(c.account)
        if isinstance(account, Rej):
            return account
        order = self._find_order(account, c.order_id, c.cl_ord_id)
        if isinstance(order, Rej):
            return order
        self._cancel(order, "Canceled: Canceled via API")
        return order.order_id

    def _cancel_all(self, c: cmd.CancelAll) -> Rej | int:
        account = self._account(c.account)
        if isinstance(account, Rej):
            return account
        if c.symbol is not None:
            inst = self._instrument(c.symbol)
            if isinstance(inst, Rej):
                return inst
        if c.side is not None and not (_is_str(c.side) and c.side in o.SIDES):  # type first: a list is unhashable
            return Rej(Reason.MALFORMED, "side must be Buy or Sell")
        for order_id in sorted(account.orders):
            order = self.live_orders[order_id]
            if c.symbol is not None and order.symbol != c.symbol:
                continue
            if c.side is not None and order.side != c.side:
                continue
            self._cancel(order, "Canceled: Cancel all via API")
        return 0

    def _cancel_all_after(self, c: cmd.CancelAllAfter) -> Rej | int:
        account = self._account(c.account)
        if isinstance(account, Rej):
            return account
        if not _is_int(c.timeout_ms) or c.timeout_ms < 0:
            return Rej(Reason.MALFORMED, "timeout must be a non-negative integer (0 disarms)")
        if c.timeout_ms == 0:
            account.cancel_at_ms = 0
            return 0
        account.cancel_at_ms = self.time_ms + c.timeout_ms
        heapq.heappush(self.dms_heap, (account.cancel_at_ms, account.account_id))
        return 0

    def _amend(self, c: cmd.AmendOrder) -> Rej | int:
        account = self._account(c.account)
        if isinstance(account, Rej):
            return account
        order = self._find_order(account, c.order_id, c.orig_cl_ord_id)
        if isinstance(order, Rej):
            return order
        for name in ("order_qty", "leaves_qty", "price", "stop_px", "peg_offset_value"):
            value = getattr(c, name)
            if value is not None and not _is_int(value):
                return Rej(Reason.MALFORMED, f"{name} must be an integer")
        inst = self.instrument_map[order.symbol]
        if c.order_qty is not None and c.leaves_qty is not None:
            return Rej(Reason.MALFORMED, "orderQty or leavesQty, not both")
        leaves = order.leaves_qty
        if c.order_qty is not None:
            leaves = c.order_qty - order.cum_qty
        elif c.leaves_qty is not None:
            leaves = c.leaves_qty
        if leaves <= 0 or leaves % inst.lot_size != 0:
            return Rej(Reason.INVALID_QTY, "the new open quantity must be a positive multiple of lotSize")
        if order.cum_qty + leaves > inst.max_order_qty:
            return Rej(Reason.QTY_TOO_LARGE, "orderQty above maxOrderQty")
        price = order.price
        if c.price is not None:
            if order.ord_type not in o.PRICED_TYPES:
                return Rej(Reason.NOT_AMENDABLE, f"{order.ord_type} has no price")
            problem = self._check_price(inst, c.price)
            if problem is not None:
                return problem
            price = c.price
        stop_px = order.stop_px
        peg_offset = order.peg_offset
        if c.stop_px is not None or c.peg_offset_value is not None:
            if order.triggered:
                return Rej(Reason.NOT_AMENDABLE, "stopPx/pegOffsetValue only on untriggered orders")
            if c.stop_px is not None:
                if order.ord_type == o.PEGGED:
                    return Rej(Reason.NOT_AMENDABLE, "a trailing stop is amended by pegOffsetValue")
                problem = self._check_price(inst, c.stop_px)
                if problem is not None:
                    return problem
                stop_px = c.stop_px
            if c.peg_offset_value is not None:
                if order.ord_type != o.PEGGED:
                    return Rej(Reason.NOT_AMENDABLE, "pegOffsetValue only on pegged orders")
                offset = c.peg_offset_value
                if offset == 0 or offset % inst.tick_size != 0 or (offset > 0) == (not order.is_buy):
                    return Rej(Reason.INVALID_PRICE, "bad pegOffsetValue")
                peg_offset = offset
                reference = self._trigger_price(order.symbol, order.trigger_source)
                stop_px = reference + offset
                if stop_px <= 0 or stop_px > inst.max_price:
                    return Rej(Reason.INVALID_PRICE, "trailing stop price out of range")
        ps = self._peek_position(account, inst)
        if order.reduce_only and order.triggered:
            leaves = min(leaves, self._reducible(ps, order.is_buy))
            if leaves == 0:
                return Rej(Reason.REDUCE_ONLY_WOULD_INCREASE, "nothing left to reduce")
        book = self.books[order.symbol]
        crosses = order.triggered and book.crosses(order.is_buy, price) and price != order.price
        if crosses and order.post_only:
            return Rej(Reason.POST_ONLY_WOULD_TRADE, "amended ParticipateDoNotInitiate order would trade")
        spot = self._is_spot(inst)
        if spot:
            asset, need = self._spot_need(inst, order.is_buy, leaves, price)
            held = self.spot_reservations.get(order.order_id, (asset, 0))[1]
            free = self._free(account, asset, self._account_margin(account, asset))
            if need - held > free:
                return Rej(Reason.INSUFFICIENT_BALANCE, f"needs {need - held} more {asset}, free {free}")
        elif order.triggered and (leaves > order.leaves_qty or price != order.price):
            signed = leaves if order.is_buy else -leaves
            others = tuple(v for k, v in ps.orders.items() if k != order.order_id)
            after = (*others, (signed, price))
            if not order.reduce_only:
                gross = self._gross_value(inst, ps, after)
                if check_risk_limit(gross, ps.risk_limit) is not None:
                    return Rej(Reason.RISK_LIMIT_EXCEEDED, f"position and orders worth {gross} exceed the risk limit")
            om_before = self._contract_order_margin(inst, ps)
            om_after = self._contract_order_margin(inst, ps, after)
            setting = self._margin_setting(inst, ps)
            old_signed = order.leaves_qty if order.is_buy else -order.leaves_qty
            requirement = compute_order_requirement(
                inst, ps.position, self.marks[inst.symbol], ps.leverage, setting.pos_cross, om_before, om_after,
                signed - old_signed if leaves > order.leaves_qty else signed, price,
            )
            if requirement > 0:
                requirement += self._chosen_tier_extra(inst, ps, signed, price)
                available = self._free(account, inst.settl_currency, self._account_margin(account, inst.settl_currency))
                refusal = check_order_margin(available, requirement)
                if refusal is not None:
                    return Rej(Reason.INSUFFICIENT_MARGIN, f"needs {refusal.required}, available {refusal.available}")
                self._order_accounts[account.account_id] = None  # INV-MARGIN-ON-ENTRY: it needed margin
        # --- apply
        order.stop_px = stop_px
        order.peg_offset = peg_offset
        if not order.triggered:
            order.leaves_qty = leaves
            order.order_qty = order.cum_qty + leaves
            order.price = price
            self._emit_exec(o.EXEC_REPLACED, order)
            self._run_triggers(inst)
            return order.order_id
        if crosses:
            book.take_out(order)
            ps_real = account.positions[inst.symbol]
            ps_real.drop_order(order.order_id)
            order.price = price
            order.leaves_qty = leaves
            order.order_qty = order.cum_qty + leaves
            self._emit_exec(o.EXEC_REPLACED, order)
            self._sweep(account, inst, order, price)
            if order.leaves_qty == 0:
                self._forget(order)
            else:
                order.reset_shown()
                book.add(order)
                if spot:
                    self._reserve(order)
                else:
                    ps_real.put_order(order.order_id, order.leaves_qty if order.is_buy else -order.leaves_qty, price)
            self._after_trading(inst)
            return order.order_id
        book.amend(order, leaves, price)
        order.order_qty = order.cum_qty + leaves
        if spot:
            self._reserve(order)
        else:
            account.positions[inst.symbol].put_order(order.order_id, leaves if order.is_buy else -leaves, price)
        self._emit_exec(o.EXEC_REPLACED, order)
        return order.order_id

    # ================================================================ triggers
    def _trigger_price(self, symbol: str, source: str) -> int:
        if source == o.LAST_PRICE:
            return self.last_prices.get(symbol, 0)
        if source == o.INDEX_PRICE:
            return self.index_prices.get(symbol, 0)
        return self.marks.get(symbol, 0)

    def _should_trigger(self, order: Order) -> bool:
        price = self._trigger_price(order.symbol, order.trigger_source)
        if price == 0:
            return False
        if order.last_within_mark:
            mark = self.marks.get(order.symbol, 0)
            if abs(price - mark) * 1_000_000 > mark * LAST_WITHIN_MARK_PPM:
                return False
        if order.ord_type in (o.MARKET_IF_TOUCHED, o.LIMIT_IF_TOUCHED):
            return price <= order.stop_px if order.is_buy else price >= order.stop_px
        return price >= order.stop_px if order.is_buy else price <= order.stop_px

    def _trail(self, order: Order) -> None:
        """TrailingStopPeg: stopPx follows the trigger price away from the stop, never toward it."""
        price = self._trigger_price(order.symbol, order.trigger_source)
        if price == 0:
            return
        candidate = price + order.peg_offset
        if (order.is_buy and candidate < order.stop_px and candidate > 0) or (not order.is_buy and candidate > order.stop_px):
            order.stop_px = candidate

    def _run_triggers(self, inst: Instrument) -> None:
        """Fire every due conditional order of ``inst`` in order-id order; repeat while trades move the last price."""
        pool = self.conditional[inst.symbol]
        for _ in range(len(pool) + 1):
            if not pool:
                return
            due = [order for _, order in sorted(pool.items()) if self._should_trigger(order)]
            for order in sorted(pool.values(), key=lambda x: x.order_id):
                if order.ord_type == o.PEGGED and order not in due:
                    self._trail(order)
            if not due:
                return
            for order in due:
                if order.order_id not in pool:
                    continue
                del pool[order.order_id]
                self._fire(inst, order)

    def _fire(self, inst: Instrument, order: Order) -> None:
        account = self.accounts[order.account]
        order.triggered = True
        self._emit_exec(o.EXEC_TRIGGERED, order)
        problem = self._check_entry(account, inst, order)
        if problem is not None:
            self._cancel(order, f"Canceled: triggered but {problem.reason.value}: {problem.text}")
            return
        self._enter(account, inst, order, emit_new=False)

    # ================================================================ prices, funding, time
    def _price_update(self, c: cmd.PriceUpdate) -> Rej | int:
        inst = self._instrument(c.symbol)
        if isinstance(inst, Rej):
            return inst
        if c.mark_price is None and c.index_price is None:
            return Rej(Reason.MALFORMED, "mark_price or index_price required")
        for value in (c.mark_price, c.index_price):
            if value is not None and (not _is_int(value) or value <= 0 or value > inst.max_price):
                return Rej(Reason.INVALID_PRICE, "prices must be integers in (0, maxPrice]")
        if c.index_price is not None:
            self.index_prices[inst.symbol] = c.index_price
        if c.mark_price is not None:
            self.marks[inst.symbol] = c.mark_price
            for account_id in self.multi:
                self.dirty[account_id] = None
        self._run_triggers(inst)
        if c.mark_price is not None:
            self._waterfall(inst)
        return 0

    def _funding(self, c: cmd.FundingTick) -> Rej | int:
        inst = self._instrument(c.symbol)
        if isinstance(inst, Rej):
            return inst
        if not _is_int(c.rate_e8) or abs(c.rate_e8) > 100_000_000:
            return Rej(Reason.MALFORMED, "rate_e8 must be an integer within ±100%")
        if self._is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no funding")
        if inst.symbol not in self.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        holders = tuple(
            (account_id, self.accounts[account_id].positions[inst.symbol].position)
            for account_id in sorted(self.holders[inst.symbol])
        )
        pending_qty = sum(p.qty for p in self.pending if p.symbol == inst.symbol)
        if pending_qty != 0:
            pending_cost = sum(p.cost for p in self.pending if p.symbol == inst.symbol)
            holders = ((LIQUIDATOR, Position(qty=pending_qty, cost=pending_cost)), *holders)
        exchange = compute_funding_exchange(inst, holders, self.marks[inst.symbol], c.rate_e8)
        asset = inst.settl_currency
        deltas = self._cap_liquidator_funding(asset, exchange.wallet_deltas, exchange.residue)
        from perpspec.rules.invariants import FundingPostings

        self._funding_postings.append(
            FundingPostings(
                asset=asset,
                symbol=inst.symbol,
                wallet_deltas=tuple(delta for _, delta in deltas),
                residue=exchange.residue,
            )
        )
        for account_id, delta in deltas:
            if delta == 0:
                continue
            if account_id == LIQUIDATOR:
                self._fund_move(asset, delta, "funding", inst.symbol, -1, "FND-008")
                continue
            account = self.accounts[account_id]
            account.wallets[asset] = account.wallet(asset) + delta
            ps = account.positions[inst.symbol]
            if ps.leverage != CROSS:
                ps.iso_margin += delta  # funding is paid from / credited to the isolated pool
            self._touch(account, inst)
            self._emit_tx("Funding", account_id, asset, delta, inst.symbol, f"rate_e8={c.rate_e8}")
        if exchange.residue:
            self._fund_move(asset, exchange.residue, "funding residue", inst.symbol, -1, "FND-008")
        self._waterfall(inst)
        return 0

    def _cap_liquidator_funding(
        self, asset: str, deltas: tuple[tuple[int, int], ...], residue: int
    ) -> list[tuple[int, int]]:
        """The liquidation engine's funding is paid by the insurance fund, never beyond its balance.

        When the fund (plus the residue it receives) cannot pay the liquidation
        engine's share, the receiving traders are credited that much less, in
        account order (a funding haircut); the postings still sum to minus the
        residue, so funding stays zero-sum.
        """
        out = list(deltas)
        liquidator = [index for index, (account_id, _) in enumerate(out) if account_id == LIQUIDATOR]
        if not liquidator:
            return out
        index = liquidator[0]
        fund_after = self.insurance_funds.get(asset, 0) + residue + out[index][1]
        shortfall = max(0, -fund_after)
        if shortfall == 0:
            return out
        out[index] = (LIQUIDATOR, out[index][1] + shortfall)
        for position, (account_id, delta) in enumerate(out):
            if shortfall == 0:
                break
            if account_id == LIQUIDATOR or delta <= 0:
                continue
            cut = min(delta, shortfall)
            out[position] = (account_id, delta - cut)
            shortfall -= cut
        assert shortfall == 0, "receivers' credits cover the liquidation engine's payment"
        return out

    def _settle(self, c: cmd.Settle) -> Rej | int:
        """SET-003/004: close every position of a dated future at the settlement price; no more trading.

        Every live order in the contract is cancelled; each holder's position is
        closed by ``rules.settlement.compute_position_settlement`` (a fill of −qty
        through ``apply_fill``, the settlement fee rounded up into the fee pool);
        what the liquidation engine holds is closed at the same price into the
        insurance fund, without a fee.

        Losses go through the waterfall first (``check_settlement_ready``,
        SET-005): refused unless the mark is already the settlement price and
        no pool holding the contract is below maintenance there.
        """
        inst = self._instrument(c.symbol)
        if isinstance(inst, Rej):
            return inst
        price = c.settlement_price
        if not _is_int(price) or price <= 0 or price > inst.max_price:
            return Rej(Reason.INVALID_PRICE, "settlement_price must be an integer in (0, maxPrice]")
        if inst.expiry_ms is None or self._is_spot(inst):
            return Rej(Reason.NOT_DATED_FUTURE, f"{inst.symbol} has no expiry")
        if self.time_ms < inst.expiry_ms:
            return Rej(Reason.NOT_EXPIRED, f"{inst.symbol} expires at {inst.expiry_ms}")
        if inst.symbol in self.settled:
            return Rej(Reason.CONTRACT_SETTLED, f"{inst.symbol} settled at {self.settled[inst.symbol]}")
        symbol, asset = inst.symbol, inst.settl_currency
        below = tuple(
            account_id
            for account_id in sorted(self.holders[symbol])
            if symbol in self.marks and self._below_maintenance(self.accounts[account_id], symbol)
        )
        hold = check_settlement_ready(self.marks.get(symbol), price, below)
        if hold is not None:
            reason = (
                Reason.MARK_NOT_SETTLEMENT_PRICE if hold.reason == "mark-not-at-settlement-price"
                else Reason.LIQUIDATION_PENDING
            )
            return Rej(reason, f"{hold.detail} (SET-005)")
        held = [p for p in self.pending if p.symbol == symbol and p.qty != 0]
        held_pnl = [apply_fill(inst, Position(qty=p.qty, cost=p.cost), -p.qty, price)[1] for p in held]
        if self.insurance_funds.get(asset, 0) + sum(held_pnl) < 0:
            return Rej(Reason.INSURANCE_SHORTFALL, "the fund cannot bear the held positions' loss: run the waterfall")
        self.settled[symbol] = price
        for order_id in sorted(self.live_orders):
            order = self.live_orders[order_id]
            if order.symbol == symbol:
                self._cancel(order, "Canceled: contract settled")
        for pending, pnl in zip(held, held_pnl, strict=True):
            pending.qty, pending.cost = 0, 0
            if pnl != 0:
                self._fund_move(asset, pnl, "surplus" if pnl > 0 else "draw", symbol, pending.pending_id, "SET-003")
        self.pending = [p for p in self.pending if p.qty != 0]
        settled = sorted(self.holders[symbol])
        for account_id in settled:
            account = self.accounts[account_id]
            ps = account.positions[symbol]
            before = ps.position
            closed, realised, fee = compute_position_settlement(inst, before, price)
            self._apply_effect(account, ps, inst, closed, realised - fee, realised)
            self.fees[asset] = self.fees.get(asset, 0) + fee
            self.seq += 1
            self._out.append(
                Execution(
                    self.seq, self.time_ms, "Settlement", account_id, symbol, 0, "",
                    o.SELL if before.qty > 0 else o.BUY, "", abs(before.qty), price, 0, abs(before.qty), price,
                    0, abs(before.qty), o.FILLED, fee, "", f"Settlement: realisedPnl {realised}",
                )
            )
            self._touch(account, inst)
        self._refresh_index()  # flat positions leave the liquidation index before their updates are reported
        for account_id in settled:
            self._emit_position(account_id, symbol)
        return 0

    def _below_maintenance(self, account: Account, symbol: str) -> bool:
        """LIQ-003 at the current mark for the pool holding ``symbol`` (read only)."""
        _, equity, maintenance, members = self._pool_of(account, symbol)
        return bool(members) and equity - maintenance < 0

    def _oversized(self, c: cmd.Oversized) -> Rej | int:
        """The durable exchange's stand-in for a command too large to journal: always refused."""
        return Rej(Reason.MALFORMED, f"{c.command} of {c.size} bytes exceeds the journal's record limit")

    def _tick(self, c: cmd.TimeTick) -> Rej | int:
        del c
        return 0

    # ================================================================ liquidation
    def _touch(self, account: Account, inst: Instrument) -> None:
        """The account's margin inputs changed: refresh its liquidation-index entries before the next query.

        And if a loss (realised, liquidation, funding) took its balance below what
        its spot orders reserve in that asset, those spot orders are cancelled.
        """
        self.dirty[account.account_id] = None
        asset = inst.settl_currency
        if account.reserved.get(asset, 0) > account.wallet(asset):
            for order_id in sorted(account.orders):
                reserved = self.spot_reservations.get(order_id)
                if reserved is not None and reserved[0] == asset:
                    self._cancel(self.live_orders[order_id], "Canceled: balance no longer covers the reservation")
        cross_symbols = [s for s, p in account.positions.items() if p.qty != 0 and p.leverage == CROSS]
        if len(cross_symbols) > 1:
            self.multi[account.account_id] = None
        else:
            self.multi.pop(account.account_id, None)

    def _pool_of(self, account: Account, symbol: str) -> tuple[int, int, int, list[str]]:
        """(pool margin, equity at mark, maintenance, member symbols) of the pool holding ``symbol``."""
        ps = account.positions[symbol]
        inst = self.instrument_map[symbol]
        if ps.leverage != CROSS:
            members = [symbol] if ps.qty != 0 else []
            margin = ps.iso_margin
        else:
            asset = inst.settl_currency
            margin = account.wallet(asset)
            members = []
            for other_symbol in sorted(account.positions):
                other = account.positions[other_symbol]
                if self.instrument_map[other_symbol].settl_currency != asset:
                    continue
                if other.leverage != CROSS:
                    margin -= other.iso_margin
                elif other.qty != 0:
                    members.append(other_symbol)
        equity, maintenance = margin, 0
        for member in members:
            mps = account.positions[member]
            minst = self.instrument_map[member]
            equity += compute_value(minst, mps.qty, self.marks[member]) - mps.cost
            maintenance += compute_requirement(minst, mps.position, mps.leverage, mps.chosen_tier).pos_maint
        return margin, equity, maintenance, members

    def _refresh_index(self) -> None:
        """Recompute the liquidation-index entries of every dirty account (then none is dirty)."""
        for account_id in self.dirty:
            account = self.accounts.get(account_id)
            if account is None or account_id < 0:
                continue
            for symbol in sorted(account.positions):
                ps = account.positions[symbol]
                if ps.qty == 0 or symbol not in self.marks:
                    self.liq.remove(account_id, symbol)
                    continue
                inst = self.instrument_map[symbol]
                margin, equity, maintenance, _ = self._pool_of(account, symbol)
                own_maint = compute_requirement(inst, ps.position, ps.leverage, ps.chosen_tier).pos_maint
                own_term = compute_value(inst, ps.qty, self.marks[symbol]) - ps.cost
                # the margin behind this position with every other input of the pool fixed
                backing = equity - own_term - (maintenance - own_maint)
                del margin
                price = compute_threshold_price(inst, ps.qty, ps.cost, backing, own_maint)
                self.liq.set(account_id, symbol, ps.qty > 0, price)
        self.dirty = {}

    def _waterfall(self, inst: Instrument) -> None:
        """LIQ-034 after a mark move or funding: liquidate every pool due (found through the index), close out, ADL.

        Each round, as rules.waterfall.process_waterfall: first every pool below maintenance
        at mark is liquidated, in LIQ-033's order (:meth:`_due_pools`: the contract whose mark
        moved first, then the others by symbol; in each, the index's order), then every
        close-out still open is worked in take-over order (pending id), the book first,
        then ADL (:meth:`_close_pending`).  Each contract costs one index query per round;
        the work (liquidated pools) is bounded by ``max_liquidations_per_update`` in all.
        """
        if self.track_steps and not self._replaying:
            # INV-FLAT-NO-SOCIAL-LOSS is about the waterfall: who is flat when it starts
            self._flat_before = self._flat_accounts(None)
        self._refresh_index()
        budget = self.max_liquidations_per_update
        order = [inst.symbol, *(s for s in sorted(self.marks) if s != inst.symbol)]
        stuck: set[int] = set()  # close-outs left open in this update: retried on the next one (as rules.waterfall)
        while True:
            # rules.waterfall step 3: close-out fills (and partial liquidations' FillOrKill orders) can take
            # a maker below maintenance, even to negative equity when its bid rested far above a falling
            # mark; the index re-checks every touched account, so a round that liquidated anything is
            # followed by another.  Each further round needs a liquidation of the round before: at most
            # ``max_liquidations_per_update`` rounds, the same bound on work.
            round_start = budget
            # this round's ADL rankings: the marks do not move, and every account changed in the round stays in
            # ``self.dirty`` until the index refresh that ends it, so the ranking re-reads exactly those
            ranking = AdlRanking()
            for account_id, symbol in self._due_pools(order):
                if budget == 0:
                    self._waterfall_complete = False
                    break
                account = self.accounts[account_id]
                _, equity, maintenance, members = self._pool_of(account, symbol)
                if equity - maintenance >= 0 or not members:
                    continue  # LIQ-031 re-checks: an earlier liquidation's fills may have restored it
                budget -= 1
                self._liquidate(account, symbol)
            self._close_pending(stuck, ranking)
            self._refresh_index()
            if budget == round_start or budget == 0:
                break
        if budget > 0 and not self.pending:
            self._waterfall_complete = True

    def _due_pools(self, order: list[str]) -> list[tuple[int, str]]:
        """LIQ-033 through the index: every pool below maintenance at mark, as (account, a symbol of the pool).

        The contracts in ``order``; in each, the index's candidates — longs from the highest
        liquidation price down, then shorts from the lowest up, ties by account — confirmed
        by LIQ-003 on the pool; a cross pool with positions in several contracts is taken
        where it is first found.  One query per contract, ``O(log n + k)``: no scan.
        """
        due: list[tuple[int, str]] = []
        found: dict[tuple[int, str], None] = {}
        for symbol in order:
            for account_id, _ in self.liq.candidates(symbol, self.marks[symbol]):
                account = self.accounts[account_id]
                ps = account.positions.get(symbol)
                if ps is None or ps.qty == 0:
                    continue
                pool = (account_id, self._pool_key(account, symbol))
                if pool in found:
                    continue
                _, equity, maintenance, members = self._pool_of(account, symbol)
                if equity - maintenance >= 0 or not members:
                    continue
                found[pool] = None
                due.append((account_id, symbol))
        return due

    def _liquidate(self, account: Account, symbol: str) -> None:
        """LIQ-023: cancel the pool's orders, take its positions over (the largest at its bankruptcy price).

        The others at mark, or beyond it as far as the pool's deficit needs (LIQ-035), as rules.waterfall._take_over.
        """
        inst = self.instrument_map[symbol]
        margin, equity, maintenance, members = self._pool_of(account, symbol)
        snapshot = tuple(
            PositionSnapshot(
                symbol=m,
                qty=account.positions[m].qty,
                cost=account.positions[m].cost,
                leverage_hundredths=account.positions[m].leverage,
                chosen_tier=account.positions[m].chosen_tier,
                mark_price=self.marks[m],
            )
            for m in members
        )
        # LIQ-020: an isolated pool's orders in its contract; a cross pool's orders in every contract
        # settled in its currency (their margin came from the same balance, which the pool now loses)
        if account.positions[symbol].leverage != CROSS:
            order_symbols = [symbol]
        else:
            currency = inst.settl_currency
            order_symbols = sorted(
                {
                    self.live_orders[i].symbol
                    for i in account.orders
                    if self.instrument_map[self.live_orders[i].symbol].settl_currency == currency
                    and not self._is_spot(self.instrument_map[self.live_orders[i].symbol])
                }
                | set(members)
            )
        for member in order_symbols:
            open_qty = 0
            for order_id in sorted(account.orders):
                order = self.live_orders[order_id]
                if order.symbol == member:
                    open_qty += order.leaves_qty
                    self._cancel(order, "Canceled: liquidation")
            if open_qty:
                self._emit_rule(
                    OrdersCancelled(
                        rule_id="LIQ-020", account_id=account.account_id, symbol=member, open_order_qty=open_qty,
                        reason="liquidation",
                    ),
                    account.account_id,
                    member,
                )
        if self._partially_liquidate(account, symbol):
            self._touch(account, inst)
            return
        margin, equity, maintenance, members = self._pool_of(account, symbol)
        if not members:
            return
        snapshot = self._snapshot(account, members)
        ranked = []
        for member in members:
            mps = account.positions[member]
            minst = self.instrument_map[member]
            req = compute_requirement(minst, mps.position, mps.leverage, mps.chosen_tier)
            ranked.append((-req.pos_maint, member, req.pos_comm))
        ranked.sort()
        _, primary, primary_comm = ranked[0]
        pps = account.positions[primary]
        pinst = self.instrument_map[primary]
        own_term = compute_value(pinst, pps.qty, self.marks[primary]) - pps.cost
        bankruptcy = compute_takeover_price(pinst, pps.position, equity - own_term, primary_comm)
        residual = margin
        taken = []
        terms = {}  # LIQ-035: each position's unrealised PnL at mark
        for _, member, _ in ranked:
            mps = account.positions[member]
            terms[member] = compute_value(self.instrument_map[member], mps.qty, self.marks[member]) - mps.cost
        for index, (_, member, _) in enumerate(ranked):
            mps = account.positions[member]
            minst = self.instrument_map[member]
            later = sum(terms[other] for _, other, _ in ranked[index + 1 :])  # the positions still to take, at mark
            price = (
                bankruptcy
                if member == primary
                else compute_cover_takeover_price(minst, mps.position, residual + later, self.marks[member])
            )
            qty, cost = mps.qty, mps.cost
            residual = compute_pool_residual(minst, qty, cost, residual, price)
            position, realised = apply_fill(minst, mps.position, -qty, price)
            liq_position, _ = apply_fill(minst, Position(), qty, price)
            asset = minst.settl_currency
            account.wallets[asset] = account.wallet(asset) + realised
            mps.qty, mps.cost, mps.iso_margin = position.qty, position.cost, 0
            self.holders[member].pop(account.account_id, None)
            pending = Pending(self.next_pending_id, account.account_id, member, qty, liq_position.cost, price)
            self.next_pending_id += 1
            self.pending.append(pending)
            taken.append(
                TakenOverPosition(symbol=member, qty=qty, cost=cost, takeover_price=price, pending_id=pending.pending_id)
            )
            self._emit_position(account.account_id, member)
        self._emit_rule(
            Liquidation(
                rule_id="LIQ-023", account_id=account.account_id,
                pool=("isolated:" + symbol) if account.positions[symbol].leverage != CROSS else "cross:" + inst.settl_currency,
                currency=inst.settl_currency, pool_margin=margin, positions=snapshot, equity=equity,
                maintenance=maintenance, taken=tuple(taken), residual_margin=residual,
            ),
            account.account_id,
            symbol,
        )
        asset = inst.settl_currency
        if residual >= 0:
            amount = residual
        else:
            amount = -min(max(self.insurance_funds.get(asset, 0), 0), -residual)  # INS-003: as far as it reaches
        if amount != 0:
            account.wallets[asset] = account.wallet(asset) - amount
            self._fund_move(asset, amount, "residual" if amount > 0 else "draw", primary, -1, "INS-011")
        self.stats["liquidations"] = self.stats.get("liquidations", 0) + 1
        self._touch(account, inst)

    def _snapshot(self, account: Account, members: list[str]) -> tuple[PositionSnapshot, ...]:
        return tuple(
            PositionSnapshot(
                symbol=m,
                qty=account.positions[m].qty,
                cost=account.positions[m].cost,
                leverage_hundredths=account.positions[m].leverage,
                chosen_tier=account.positions[m].chosen_tier,
                mark_price=self.marks[m],
            )
            for m in members
        )

    def _pool_key(self, account: Account, symbol: str) -> str:
        ps = account.positions[symbol]
        inst = self.instrument_map[symbol]
        return ("isolated:" + symbol) if ps.leverage != CROSS else "cross:" + inst.settl_currency

    def _partially_liquidate(self, account: Account, symbol: str) -> bool:
        """LIQ-021/022: lower risk limits, then FillOrKill reductions one tier at a time; True when that sufficed."""
        pool_key = self._pool_key(account, symbol)
        _, _, _, members = self._pool_of(account, symbol)
        for member in members:  # LIQ-021: the chosen risk limit down to what the position fits
            mps = account.positions[member]
            minst = self.instrument_map[member]
            fitting = compute_fitting_tier(minst, abs(mps.cost))
            if fitting < mps.chosen_tier:
                _, equity, before, _ = self._pool_of(account, symbol)
                from_tier = mps.chosen_tier
                mps.chosen_tier = fitting
                mps.risk_limit = compute_tier_limit(minst, fitting)
                _, _, after, _ = self._pool_of(account, symbol)
                self._emit_rule(
                    RiskLimitLowered(
                        rule_id="LIQ-021", account_id=account.account_id, symbol=member, from_tier=from_tier,
                        to_tier=fitting, gross_value=abs(mps.cost), equity=equity, maintenance_before=before,
                        maintenance_after=after,
                    ),
                    account.account_id,
                    member,
                )
        for _ in range(16):  # LIQ-022: one tier at a time
            margin, equity, maintenance, members = self._pool_of(account, symbol)
            if equity - maintenance >= 0:
                return True
            candidates = []
            for member in members:
                mps = account.positions[member]
                minst = self.instrument_map[member]
                req = compute_requirement(minst, mps.position, mps.leverage, mps.chosen_tier)
                if req.steps > 0:
                    candidates.append((-req.pos_maint, member, req))
            if not candidates:
                return False
            _, member, req = min(candidates, key=lambda item: (item[0], item[1]))
            mps = account.positions[member]
            minst = self.instrument_map[member]
            plan = compute_partial_plan(
                minst, mps.position, mps.leverage, req.steps, equity, maintenance - req.pos_maint, self.marks[member]
            )
            snapshot = self._snapshot(account, members)
            qty = abs(plan.close_qty)
            is_buy = plan.close_qty < 0  # closing a short buys
            fills: list[tuple[int, int]] = []
            filled = False
            if plan.feasible and qty > 0 and self.books[member].can_fill(
                is_buy, plan.limit_price, qty, account.account_id
            ):
                order = Order(
                    order_id=self.next_order_id, account=account.account_id, symbol=member, is_buy=is_buy,
                    price=plan.limit_price, order_qty=qty, time_in_force=o.FILL_OR_KILL, time_ms=self.time_ms,
                )
                self.next_order_id += 1
                self.live_orders[order.order_id] = order
                account.orders[order.order_id] = order
                self._emit_exec(o.EXEC_NEW, order, text="Liquidation: partial (FillOrKill)")
                self._fee_free = True
                try:
                    fills = self._sweep(account, minst, order, plan.limit_price)
                finally:
                    self._fee_free = False
                self._forget(order)
                filled = order.leaves_qty == 0
                if filled:
                    mps.chosen_tier = plan.new_tier
                    mps.risk_limit = compute_tier_limit(minst, plan.new_tier)
                    self.stats["partial_liquidations"] = self.stats.get("partial_liquidations", 0) + 1
            _, _, maintenance_after, _ = self._pool_of(account, symbol)
            self._emit_rule(
                PartialLiquidation(
                    rule_id="LIQ-022", account_id=account.account_id, pool=pool_key, symbol=member,
                    mark_price=self.marks[member], equity=equity, maintenance=maintenance, pool_margin=margin,
                    positions=snapshot, close_qty=plan.close_qty, limit_price=plan.limit_price, filled=filled,
                    fills=tuple(fills), from_tier=req.steps, to_tier=plan.new_tier,
                    maintenance_after=maintenance_after,
                ),
                account.account_id,
                member,
            )
            if not filled:
                return False
        return False

    def _fund_move(self, asset: str, delta: int, kind: str, symbol: str, pending_id: int, rule_id: str) -> None:
        before = self.insurance_funds.get(asset, 0)
        self.insurance_funds[asset] = before + delta
        self._emit_rule(
            InsuranceMovement(
                rule_id=rule_id, currency=asset, kind=kind, amount=delta, balance_before=before,
                balance_after=before + delta, timestamp_ms=self.time_ms, symbol=symbol, pending_id=pending_id,
            ),
            -1,
            symbol,
        )

    def _close_pending(self, stuck: set[int], ranking: AdlRanking) -> None:
        """LIQ-032 for everything the liquidation engine holds, in take-over order: the book while the fund pays, then ADL.

        A close-out left open (deferred by ADL-031, or with no eligible ADL taker) joins ``stuck`` and
        is not retried by a later round of the same update, only by the next update.
        """
        for pending in [p for p in self.pending if p.pending_id not in stuck]:
            inst = self.instrument_map[pending.symbol]
            self._close_in_book(inst, pending)
            if pending.qty == 0:
                continue
            stuck.add(pending.pending_id)
            cover = self._fund_cover(inst.settl_currency)
            if cover >= 0:  # ADL-031: the fund still covers what is held at mark: keep it for the book
                self._emit_rule(
                    AdlDeferred(
                        rule_id="ADL-031", pending_id=pending.pending_id, symbol=inst.symbol,
                        unfilled_qty=abs(pending.qty), bankruptcy_price=pending.takeover_price,
                        mark_price=self.marks[inst.symbol],
                        fund_balance=self.insurance_funds.get(inst.settl_currency, 0), fund_cover=cover,
                    ),
                    -1,
                    inst.symbol,
                )
                continue
            self._adl(inst, pending, ranking)
        self.pending = [p for p in self.pending if p.qty != 0]

    def _fund_cover(self, asset: str) -> int:
        """ADL-031: the fund plus the PnL at mark of everything the liquidation engine holds in ``asset``."""
        pnls = []
        for held in self.pending:
            inst = self.instrument_map[held.symbol]
            if inst.settl_currency == asset and held.qty != 0:
                pnls.append(compute_held_pnl(inst, held.qty, held.takeover_price, self.marks[held.symbol]))
        return compute_fund_cover(self.insurance_funds.get(asset, 0), pnls)

    def _close_in_book(self, inst: Instrument, pending: Pending) -> None:
        book = self.books[inst.symbol]
        closing_buy = pending.qty < 0  # closing a taken-over short buys
        offers = [
            OfferFill(qty=qty, price=price)
            for price, qty in self._level_totals(book, bid_side=not closing_buy)
        ]
        asset = inst.settl_currency
        result = settle_close_out(inst, self.insurance_funds.get(asset, 0), pending.qty, pending.takeover_price, offers)
        if not result.accepted:
            return
        total = sum(f.qty for f in result.accepted)
        limit = result.accepted[-1].price
        fills: list[Fill] = []
        dropped: list[Order] = []
        book.match(closing_buy, limit, total, LIQUIDATOR, fills, dropped, self._make_guard(inst.symbol, fills))
        self._liquidator_fills(inst, pending, fills, dropped)

    def _level_totals(self, book: Book, bid_side: bool) -> list[tuple[int, int]]:
        """Every level's full tradable quantity (displayed, iceberg reserve and hidden), best first."""
        levels = book.bids if bid_side else book.asks
        keys = book.bid_keys if bid_side else book.ask_keys
        out = []
        for key in reversed(keys):
            level = levels[key if bid_side else -key]
            qty = sum(x.leaves_qty for x in (*level.shown, *level.hidden) if x.live and not x.reduce_only)
            if qty > 0:
                out.append((level.price, qty))
        return out

    def _liquidator_fills(self, inst: Instrument, pending: Pending, fills: list[Fill], dropped: list[Order]) -> None:
        symbol = inst.symbol
        asset = inst.settl_currency
        touched: dict[int, None] = {}
        for maker, qty, price in fills:
            maker_account = self.accounts[maker.account]
            maker_ps = maker_account.position(inst)
            maker_signed = qty if maker.is_buy else -qty
            position, realised = apply_fill(inst, maker_ps.position, maker_signed, price)
            self._apply_effect(maker_account, maker_ps, inst, position, realised, realised, price)  # no commission
            liq_position, liq_realised = apply_fill(
                inst, Position(qty=pending.qty, cost=pending.cost), -maker_signed, price
            )
            pending.qty, pending.cost = liq_position.qty, liq_position.cost
            self._emit_exec(o.EXEC_TRADE, maker, last_qty=qty, last_px=price, liquidity=o.ADDED_LIQUIDITY,
                            text="Liquidation")
            self._emit_rule(
                LiquidationFill(
                    rule_id="LIQ-024", pending_id=pending.pending_id, symbol=symbol, maker_account_id=maker.account,
                    qty=-maker_signed, price=price, bankruptcy_price=pending.takeover_price, fund_delta=liq_realised,
                ),
                maker.account,
                symbol,
            )
            if liq_realised != 0:
                self._fund_move(asset, liq_realised, "surplus" if liq_realised > 0 else "draw", symbol,
                                pending.pending_id, "INS-005")
            touched[maker.account] = None
            self.last_prices[symbol] = price
        for maker in {m.order_id: m for m, _, _ in fills}.values():
            ps = self.accounts[maker.account].positions[symbol]
            if maker.leaves_qty == 0:
                ps.drop_order(maker.order_id)
                self._forget(maker)
            elif maker.live:
                ps.put_order(maker.order_id, maker.leaves_qty if maker.is_buy else -maker.leaves_qty, maker.price)
        for maker in dropped:
            self.accounts[maker.account].positions[symbol].drop_order(maker.order_id)
            self._cancel(maker, "Canceled: ReduceOnly order would have increased the position", in_book=False)
        for account_id in sorted(touched):
            account = self.accounts[account_id]
            self._fix_reduce_only(account, inst)
            self._touch(account, inst)
            self._emit_position(account_id, symbol)

    def _pool_equity(self, account: Account, symbol: str) -> int:
        """The equity at mark of the pool holding ``symbol``: :meth:`_pool_of`'s, without the maintenance."""
        ps = account.positions[symbol]
        inst = self.instrument_map[symbol]
        if ps.leverage != CROSS:
            own = compute_value(inst, ps.qty, self.marks[symbol]) - ps.cost if ps.qty != 0 else 0
            return ps.iso_margin + own
        asset = inst.settl_currency
        equity = account.wallet(asset)
        for other_symbol, other in account.positions.items():
            other_inst = self.instrument_map[other_symbol]
            if other_inst.settl_currency != asset:
                continue
            if other.leverage != CROSS:
                equity -= other.iso_margin
            elif other.qty != 0:
                equity += compute_value(other_inst, other.qty, self.marks[other_symbol]) - other.cost
        return equity

    def _adl_row(self, inst: Instrument, longs: bool, account_id: int) -> AdlCandidate | None:
        """A holder's position in ``inst`` as ADL ranks it, when it is on the ``longs`` side (else None)."""
        symbol = inst.symbol
        if account_id < 0 or account_id not in self.holders[symbol]:
            return None
        ps = self.accounts[account_id].positions.get(symbol)
        if ps is None or ps.qty == 0 or (ps.qty > 0) != longs:
            return None
        return AdlCandidate(
            account_id=account_id, qty=ps.qty, cost=ps.cost,
            pool_equity=self._pool_equity(self.accounts[account_id], symbol),
            mark_value=compute_value(inst, ps.qty, self.marks[symbol]),
        )

    def _adl_ranked(self, inst: Instrument, pending: Pending, policy: AdlPolicy, ranking: AdlRanking) -> list[AdlCandidate]:
        """ADL-003 and ADL-005: the eligible opposing positions in ranking order, as far as ``policy`` reads them.

        The ranked queue (ADL-010) closes the first ones in full until covered, so the walk down
        the ranking stops there; any other policy gets every eligible position.  The ranking is
        the waterfall's (engine.core.adlrank), brought up to date with the accounts touched since.
        """
        symbol = inst.symbol
        mark = self.marks[symbol]
        bankruptcy = pending.takeover_price
        longs = pending.qty < 0  # a taken-over short is closed against longs
        lots = abs(pending.qty) // inst.lot_size
        prefix_only = isinstance(policy, RankedQueuePolicy)
        ranking.note(self.dirty)
        ranked: list[AdlCandidate] = []
        covered = 0
        rows = ranking.ranked(symbol, longs, self.holders[symbol], lambda account_id: self._adl_row(inst, longs, account_id))
        for candidate in rows:
            if not is_adl_eligible(inst, candidate.qty, candidate.cost, candidate.pool_equity, mark, pending.qty, bankruptcy):
                continue
            ranked.append(candidate)
            covered += abs(candidate.qty) // inst.lot_size
            if prefix_only and covered >= lots:
                break
        return ranked

    def _adl(self, inst: Instrument, pending: Pending, ranking: AdlRanking) -> None:
        """ADL-020: close the rest against ranked, eligible opposing positions at the bankruptcy price."""
        symbol = inst.symbol
        mark = self.marks[symbol]
        policy: AdlPolicy = POLICIES[self.adl_policy_name]
        ranked = self._adl_ranked(inst, pending, policy, ranking)
        lots = abs(pending.qty) // inst.lot_size
        allocation = policy.allocate([abs(c.qty) // inst.lot_size for c in ranked], lots)
        unfilled = abs(pending.qty)
        asset = inst.settl_currency
        for rank, (candidate, take) in enumerate(zip(ranked, allocation, strict=True)):
            if take == 0:
                continue
            account = self.accounts[candidate.account_id]
            for order_id in sorted(account.orders):
                order = self.live_orders[order_id]
                if order.symbol == symbol:
                    self._cancel(order, "Canceled: auto-deleveraging")
            close_qty = (take if candidate.qty > 0 else -take) * inst.lot_size
            ps = account.positions[symbol]
            price = pending.takeover_price
            position, realised = apply_fill(inst, ps.position, -close_qty, price)
            self._apply_effect(account, ps, inst, position, realised, realised)
            liq_position, liq_realised = apply_fill(inst, Position(qty=pending.qty, cost=pending.cost), close_qty, price)
            pending.qty, pending.cost = liq_position.qty, liq_position.cost
            if liq_realised != 0:
                self._fund_move(asset, liq_realised, "surplus" if liq_realised > 0 else "draw", symbol,
                                pending.pending_id, "INS-005")
            _, equity_after, _, _ = self._pool_of(account, symbol)
            score = candidate.score
            self._emit_rule(
                AdlFill(
                    rule_id="ADL-020", policy=policy.name, pending_id=pending.pending_id, symbol=symbol,
                    account_id=candidate.account_id, rank=rank, position_qty=candidate.qty,
                    position_cost=candidate.cost, pool_equity=candidate.pool_equity, score_num=score.num,
                    score_den=score.den, close_qty=close_qty, price=price, mark_price=mark,
                    haircut=compute_haircut(inst, close_qty, mark, price), unfilled_before=unfilled,
                    unfilled_after=unfilled - abs(close_qty), equity_after=equity_after,
                ),
                candidate.account_id,
                symbol,
            )
            unfilled -= abs(close_qty)
            self._fix_reduce_only(account, inst)
            self._touch(account, inst)
            self._emit_position(candidate.account_id, symbol)
            self.stats["adl_fills"] = self.stats.get("adl_fills", 0) + 1
        if unfilled > 0:
            self._emit_rule(
                AdlShortfall(
                    rule_id="ADL-021", pending_id=pending.pending_id, symbol=symbol, unfilled_qty=unfilled,
                    bankruptcy_price=pending.takeover_price, eligible_count=len(ranked),  # all: the walk was not cut short
                ),
                -1,
                symbol,
            )
            self._waterfall_complete = False

    # ================================================================ ExchangeView
    def assets(self) -> Sequence[str]:
        """Settlement assets, sorted."""
        assets = {inst.settl_currency for inst in self.instrument_map.values()}
        assets |= {inst.base_currency for inst in self.instrument_map.values() if inst.base_currency}
        return sorted(assets)

    def account_ids(self) -> Sequence[int]:
        """Every account id (the liquidation engine's -1 included), sorted."""
        return sorted(self.accounts)

    def instruments(self) -> Mapping[str, Instrument]:
        """Instruments by symbol."""
        return self.instrument_map

    def wallet(self, account_id: int, asset: str) -> int:
        """walletBalance."""
        return self.accounts[account_id].wallet(asset)

    def positions(self, account_id: int) -> Mapping[str, Position]:
        """Non-flat positions by symbol (the liquidation engine's are its pending close-outs)."""
        if account_id == LIQUIDATOR:
            merged: dict[str, Position] = {}
            for p in self.pending:
                old = merged.get(p.symbol, Position())
                merged[p.symbol] = Position(qty=old.qty + p.qty, cost=old.cost + p.cost)
            return merged
        account = self.accounts[account_id]
        return {s: Position(qty=p.qty, cost=p.cost) for s, p in sorted(account.positions.items()) if p.qty != 0}

    def insurance(self, asset: str) -> int:
        """Insurance fund balance."""
        return self.insurance_funds.get(asset, 0)

    def fee_pool(self, asset: str) -> int:
        """Commission collected (net of rebates)."""
        return self.fees.get(asset, 0)

    def funding_pool(self, asset: str) -> int:
        """Funding in flight: none (payments settle within the funding command)."""
        del asset
        return 0

    def net_deposits(self, asset: str) -> int:
        """Deposits − withdrawals (insurance deposits included)."""
        return self.deposits.get(asset, 0)

    def mark_price(self, symbol: str) -> int:
        """Current mark price (0 before the first update)."""
        return self.marks.get(symbol, 0)

    def open_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Resting orders in the books (untriggered stops excluded)."""
        account = self.accounts[account_id]
        out = []
        for order_id in sorted(account.orders):
            order = self.live_orders[order_id]
            if order.live and order.level is not None and order.order_id not in self.spot_reservations:
                out.append(
                    RestingOrder(symbol=order.symbol, qty=order.leaves_qty if order.is_buy else -order.leaves_qty,
                                 price=order.price)
                )
        return out

    def reduce_only_orders(self, account_id: int) -> Sequence[RestingOrder]:
        """Live ReduceOnly orders that can trade (resting or triggered), for INV-REDUCE-ONLY."""
        account = self.accounts[account_id]
        out = []
        for order_id in sorted(account.orders):
            order = self.live_orders[order_id]
            if order.reduce_only and order.triggered:
                out.append(
                    RestingOrder(symbol=order.symbol, qty=order.leaves_qty if order.is_buy else -order.leaves_qty,
                                 price=order.price)
                )
        return out

    def margin_setting(self, account_id: int, symbol: str) -> MarginSetting:
        """Leverage and extra isolated margin (``posCross``)."""
        ps = self.accounts[account_id].positions.get(symbol)
        if ps is None:
            return MarginSetting()
        return self._margin_setting(self.instrument_map[symbol], ps)

    # ================================================================ step info, hash
    def _flat_accounts(self, command: object) -> tuple[tuple[int, str, int], ...]:
        """(account, asset, wallet) for every asset of the trader accounts holding no position (before a step)."""
        # the account acting in the step (withdrawing, or trading: spot trades move its wallets by design)
        acting = (
            getattr(command, "account", None)
            if isinstance(command, cmd.Withdraw | cmd.PlaceOrder | cmd.AmendOrder)
            else None
        )
        out = []
        for account_id in sorted(self.accounts):
            account = self.accounts[account_id]
            if account_id < 0 or account_id == acting or account.orders:
                continue  # an account with live orders can legitimately become a holder in the step
            if any(p.qty != 0 for p in account.positions.values()):
                continue  # INV-FLAT-NO-SOCIAL-LOSS is about accounts with no position at all
            for asset in self.assets():
                out.append((account_id, asset, account.wallet(asset)))
        return tuple(out)

    def step_info(self, events: Sequence[Event] = ()) -> Any:
        """What the last command did (for transition invariants): a ``rules.invariants.StepInfo``.

        ``events`` are that command's events (the waterfall's records are taken from them).
        """
        from perpspec.rules.invariants import StepInfo

        return StepInfo(
            order_accounts=tuple(sorted(self._order_accounts)),
            withdraw_accounts=tuple(sorted(self._withdraw_accounts)),
            waterfall_complete=self._waterfall_complete,
            funding=tuple(self._funding_postings),
            waterfall_events=tuple(e.record for e in events if isinstance(e, RuleEvent)),
            flat_before=self._flat_before,
        )

    def canonical(self) -> tuple[object, ...]:
        """The full state as nested tuples of ints and strings, in a fixed order."""
        books = []
        for symbol in sorted(self.books):
            book = self.books[symbol]
            books.append(
                (
                    symbol,
                    tuple(
                        (x.order_id, x.account, x.is_buy, x.price, x.order_qty, x.leaves_qty, x.shown_qty,
                         x.display_qty, x.cum_qty, x.cum_value, x.ord_type, x.time_in_force, x.cl_ord_id,
                         x.post_only, x.reduce_only, x.close)
                        for x in book.orders_in_priority()
                    ),
                )
            )
        conditional = tuple(
            (symbol, tuple((x.order_id, x.account, x.is_buy, x.ord_type, x.order_qty, x.leaves_qty, x.price,
                            x.stop_px, x.peg_offset, x.trigger_source, x.last_within_mark, x.reduce_only,
                            x.time_in_force, x.cl_ord_id) for _, x in sorted(pool.items())))
            for symbol, pool in sorted(self.conditional.items())
        )
        return (
            tuple(sorted((s, attrs.astuple(i)) for s, i in self.instrument_map.items())),
            tuple(books),
            conditional,
            tuple(sorted(self.marks.items())),
            tuple(sorted(self.index_prices.items())),
            tuple(sorted(self.last_prices.items())),
            tuple(self.accounts[a].canonical() for a in sorted(self.accounts)),
            tuple(sorted(self.insurance_funds.items())),
            tuple(sorted(self.fees.items())),
            tuple(sorted(self.deposits.items())),
            tuple(sorted(self.day_orders.items())),
            tuple(sorted(self.dms_heap)),
            tuple(p.canonical() for p in self.pending),
            self.liq.canonical(),
            (self.next_order_id, self.next_pending_id, self.seq, self.time_ms),
            (self.max_liquidations_per_update, self.adl_policy_name),
            # only once a contract settled: the hash of every earlier state is unchanged
            *((tuple(sorted(self.settled.items())),) if self.settled else ()),
        )

    def state_hash(self) -> str:
        """SHA-256 of :meth:`canonical` (independent of PYTHONHASHSEED and dict insertion order)."""
        return hashlib.sha256(repr(self.canonical()).encode()).hexdigest()


@attrs.frozen(kw_only=True)
class _Noop:
    """Replay stand-in for a command that failed internally (keeps sequence numbers in step)."""

    seq: int
    time_ms: int = 0


_HANDLERS: dict[type[Any], Callable[[Engine, Any], Rej | int]] = {
    cmd.PlaceOrder: Engine._place,
    cmd.AmendOrder: Engine._amend,
    cmd.CancelOrder: Engine._cancel_cmd,
    cmd.CancelAll: Engine._cancel_all,
    cmd.CancelAllAfter: Engine._cancel_all_after,
    cmd.VerifyAccount: Engine._verify,
    cmd.Deposit: Engine._deposit,
    cmd.Withdraw: Engine._withdraw,
    cmd.SetLeverage: Engine._set_leverage,
    cmd.Isolate: Engine._isolate,
    cmd.TransferMargin: Engine._transfer_margin,
    cmd.SetRiskLimit: Engine._set_risk_limit,
    cmd.PriceUpdate: Engine._price_update,
    cmd.FundingTick: Engine._funding,
    cmd.TimeTick: Engine._tick,
    cmd.DepositInsurance: Engine._deposit_insurance,
    cmd.Settle: Engine._settle,
    cmd.Oversized: Engine._oversized,
}
