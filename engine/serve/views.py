"""What the API shows that the engine does not keep: order history, executions, public trades.

The engine keeps live orders and current positions; BitMEX's API also answers
``GET /order`` for filled and cancelled orders, ``/execution/tradeHistory``
and ``/trade``.  :class:`Views` builds those from the engine's events -- a
pure function of the event stream, so replaying the journal rebuilds them
exactly -- plus what only the request carried (``timeInForce``,
``execInst``, ``text``), taken from the command the gateway submitted.

History is bounded per account and per symbol (oldest dropped first).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.events import (
    Accepted,
    Event,
    Execution,
    PositionUpdate,
    Reason,
    Rejected,
    Transaction,
)
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import ContractKind, Instrument

MAX_ORDERS_PER_ACCOUNT: Final = 20_000  # closed orders beyond this are forgotten, oldest first
MAX_EXECUTIONS_PER_ACCOUNT: Final = 20_000
MAX_TRADES_PER_SYMBOL: Final = 10_000
MAX_FUNDING_ROWS: Final = 10_000
MINUTE_MS: Final = 60_000
DAY_MINUTES: Final = 1_440  # volume24h / turnover24h: the minutes of the last 24 hours, kept as per-minute sums
DONE_STATUSES: Final = frozenset(("Canceled", "Rejected", "Expired"))
OPEN_STATUSES: Final = frozenset(("New", "PartiallyFilled", "Untriggered", "Triggered", "PendingNew", "PendingCancel"))
# BitMEX's text for a post-only order cancelled because it would have traded (a BitMEX bot's lib/orders.js matches it
# on POST and on PUT /order answers, ordStatus Canceled, HTTP 200; ccxt issue #4808 shows the POST answer)
POST_ONLY_CANCELED: Final = "Canceled: Order had execInst of ParticipateDoNotInitiate"
# the engine's texts that BitMEX words otherwise, as the API shows them
API_TEXTS: Final[dict[str, str]] = {"Canceled: ParticipateDoNotInitiate order would have traded": POST_ONLY_CANCELED}


def api_text(text: str) -> str:
    """An execution report's text as BitMEX words it (:data:`API_TEXTS`), else as the engine wrote it."""
    return API_TEXTS.get(text, text)


class OrderRecord:
    """One order as the API shows it (mutable: updated by its execution reports)."""

    __slots__ = (
        "account", "cl_ord_id", "cum_qty", "cum_value", "display_qty", "exec_inst", "last_exec_type",
        "leaves_qty", "ord_status", "ord_type", "order_id", "order_qty", "peg_offset_value",
        "peg_price_type", "price", "side", "stop_px", "symbol", "text", "time_in_force", "timestamp",
        "transact_time", "triggered",
    )

    def __init__(self, report: Execution) -> None:
        self.order_id = report.order_id
        self.account = report.account
        self.symbol = report.symbol
        self.side = report.side
        self.cl_ord_id = report.cl_ord_id
        self.ord_type = report.ord_type
        self.order_qty = report.order_qty
        self.price = report.price
        self.stop_px = report.stop_px
        self.leaves_qty = report.leaves_qty
        self.cum_qty = report.cum_qty
        self.cum_value = 0  # Σ lastQty × lastPx (price units): avgPx = cum_value / cum_qty
        self.ord_status = report.ord_status
        self.time_in_force = ""
        self.exec_inst = ""
        self.display_qty: int | None = None
        self.peg_offset_value: int | None = None
        self.peg_price_type = ""
        self.text = api_text(report.text)
        self.timestamp = report.time_ms
        self.transact_time = report.time_ms
        self.triggered = ""
        self.last_exec_type = report.exec_type

    def apply(self, report: Execution) -> None:
        """Take one execution report's order fields (its clOrdID too: an amend may rename the order)."""
        self.cl_ord_id = report.cl_ord_id
        self.order_qty = report.order_qty
        self.price = report.price
        self.stop_px = report.stop_px
        self.leaves_qty = report.leaves_qty
        self.cum_qty = report.cum_qty
        self.ord_status = report.ord_status
        self.transact_time = report.time_ms
        self.timestamp = report.time_ms
        self.last_exec_type = report.exec_type
        if report.text:
            self.text = api_text(report.text)
        if report.exec_type == "Trade":
            self.cum_value += report.last_qty * report.last_px
        if report.exec_type == "TriggeredOrActivatedBySystem":
            self.triggered = "Triggered"
        if report.ord_status in DONE_STATUSES:
            self.leaves_qty = 0  # BitMEX: nothing is left of a cancelled, rejected or expired order

    @property
    def is_open(self) -> bool:
        return self.ord_status in OPEN_STATUSES


class ExecutionRecord:
    """One execution report with what the order record knew at that moment."""

    __slots__ = ("avg_value", "exec_inst", "match_seq", "report", "text", "time_in_force")

    def __init__(self, report: Execution, match_seq: int, order: OrderRecord | None) -> None:
        self.report = report
        self.text = api_text(report.text)  # BitMEX's text where the API's differs from the engine's (Views.apply)
        self.match_seq = match_seq  # trdMatchID's number (0: not a trade)
        self.time_in_force = order.time_in_force if order else ""
        self.exec_inst = order.exec_inst if order else ""
        self.avg_value = order.cum_value if order else 0


class PublicTrade:
    """A trade on the tape (``GET /trade``): the aggressor's side, size and price."""

    __slots__ = ("match_seq", "price", "side", "size", "symbol", "time_ms")

    def __init__(self, symbol: str, side: str, size: int, price: int, time_ms: int, match_seq: int) -> None:
        self.symbol = symbol
        self.side = side
        self.size = size
        self.price = price
        self.time_ms = time_ms
        self.match_seq = match_seq


class Views:
    """Orders, executions, trades, funding and last position reports, from the event stream."""

    def __init__(self) -> None:
        self.orders: dict[int, OrderRecord] = {}
        self.account_orders: dict[int, deque[int]] = {}
        # indexes of the remembered orders (redteam28_2: GET /order, the WS order partial and DELETE /order by clOrdID
        # scanned the whole history, 20,000 orders an account): account -> its open order ids in order of arrival;
        # account -> clOrdID -> the ids that carry it (all, and the open ones), ascending (an order's id is its arrival)
        self.open_orders: dict[int, dict[int, None]] = {}
        self.cl_orders: dict[int, dict[str, list[int]]] = {}
        self.cl_open: dict[int, dict[str, list[int]]] = {}
        self.executions: dict[int, deque[ExecutionRecord]] = {}
        self.trades: dict[str, deque[PublicTrade]] = {}
        self.positions: dict[tuple[int, str], PositionUpdate] = {}
        # (account, symbol) with a Position row: BitMEX lists a contract once the account has held it or placed an
        # order in it (currentQty 0 while only orders are open), spot pairs never
        self.listed: set[tuple[int, str]] = set()
        self.funding: deque[tuple[int, str, int]] = deque(maxlen=MAX_FUNDING_ROWS)  # (time, symbol, rate_e8)
        self.settlements: list[tuple[int, str, int]] = []  # (time, symbol, settledPrice in price units)
        self.liquidations: deque[tuple[int, int, str]] = deque(maxlen=MAX_TRADES_PER_SYMBOL)
        self.adl_cache: dict[tuple[int, str, bool], dict[int, int]] = {}  # (seq, symbol, longs) -> ADL-007 ppm
        self.deadlines: dict[int, int] = {}  # account -> armed dead man's switch (ms of the logical clock)
        # not from the events: set by the price feed that pays funding (feed.PriceFeed); without one (``serve
        # --no-feed``) nobody pays, and the instrument rows announce no funding instant or indicative rate
        self.funding_scheduled = False
        self.new_trades: list[PublicTrade] = []  # the trades of the last command applied
        self.new_orders: set[int] = set()  # orders first seen in the last command (WS "insert", not "update")
        self.new_positions: set[tuple[int, str]] = set()  # positions first reported in the last command
        # genesis configuration (the gateway's engine's instruments), not an event: values the tape's trades
        self.instruments: Mapping[str, Instrument] = {}
        # symbol -> [minute, contracts, value, high, low, last price] per minute of the last 24 hours of the tape
        # (GET /stats, the instrument rows); every trade counted, however many (the tape itself keeps the last
        # MAX_TRADES_PER_SYMBOL); at most DAY_MINUTES a symbol
        self.volume: dict[str, deque[list[int]]] = {}
        self.dropped: dict[str, list[int]] = {}  # symbol -> the last minute bucket that left ``volume`` (prevPrice24h)
        self._match_seq = 0
        self._match_symbol = ""
        # orders whose amend the engine refused because the post-only order would then trade: the gateway cancels
        # them next (BitMEX cancels such an order), and that cancel carries BitMEX's text (POST_ONLY_CANCELED)
        self.post_only_refused: set[int] = set()

    def order_of(self, account: int, order_id: int) -> OrderRecord | None:
        """The account's order ``order_id`` (None when unknown or another account's)."""
        record = self.orders.get(order_id)
        return record if record is not None and record.account == account else None

    def order_by_cl_ord_id(self, account: int, cl_ord_id: str) -> OrderRecord | None:
        """The account's most recent order with this clOrdID (open ones first): two look-ups, not a scan."""
        for index in (self.cl_open, self.cl_orders):
            ids = index.get(account, {}).get(cl_ord_id)
            if ids:
                return self.orders[ids[-1]]
        return None

    def order_records(self, account: int, *, newest_first: bool = False, open_only: bool = False) -> Iterator[OrderRecord]:
        """The account's remembered orders in order of arrival (or newest first), lazily; only the open ones from
        the open-order index (never the whole history)."""
        ids: Iterable[int] = (self.open_orders if open_only else self.account_orders).get(account, ())
        for order_id in reversed(ids) if newest_first else ids:  # type: ignore[call-overload]
            yield self.orders[order_id]

    def _index(self, record: OrderRecord) -> None:
        """File a newly remembered order."""
        self._file(self.cl_orders, record, None, record.cl_ord_id)
        if record.is_open:
            self.open_orders.setdefault(record.account, {})[record.order_id] = None
            self._file(self.cl_open, record, None, record.cl_ord_id)

    def _update(self, record: OrderRecord, report: Execution) -> None:
        """Apply a report to a remembered order; its index entries move when its clOrdID (an amend may rename it) or
        its openness changed (an open order keeps its place among the open ones)."""
        cl_ord_id, was_open = record.cl_ord_id, record.is_open
        record.apply(report)
        is_open = record.is_open
        self._file(self.cl_orders, record, cl_ord_id, record.cl_ord_id)
        self._file(self.cl_open, record, cl_ord_id if was_open else None, record.cl_ord_id if is_open else None)
        if was_open and not is_open:
            self.open_orders.get(record.account, {}).pop(record.order_id, None)
        elif is_open and not was_open:
            self.open_orders.setdefault(record.account, {})[record.order_id] = None

    @staticmethod
    def _file(index: dict[int, dict[str, list[int]]], record: OrderRecord, old: str | None, new: str | None) -> None:
        """Move ``record``'s id in ``index`` from under clOrdID ``old`` to under ``new`` (None: not filed)."""
        if old == new:
            return
        by_cl = index.setdefault(record.account, {})
        if old is not None:
            ids = by_cl.get(old, [])
            at = bisect.bisect_left(ids, record.order_id)
            if at < len(ids) and ids[at] == record.order_id:
                del ids[at]
                if not ids:
                    del by_cl[old]
        if new is not None:
            bisect.insort(by_cl.setdefault(new, []), record.order_id)

    def apply(self, command: object, events: Sequence[Event]) -> None:
        """Take one command's events (and the request fields of a PlaceOrder it accepted)."""
        self.new_trades = []
        self.new_orders = set()
        self.new_positions = set()
        for event in events:
            if isinstance(event, Execution):
                self._execution(event)
            elif isinstance(event, PositionUpdate):
                self._list(event.account, event.symbol, held=True)
                self.positions[(event.account, event.symbol)] = event
            elif isinstance(event, Transaction):
                pass
            elif isinstance(event, Accepted) and isinstance(command, cmd.PlaceOrder) and event.order_id:
                record = self.orders.get(event.order_id)
                if record is not None:
                    record.time_in_force = command.time_in_force or record.time_in_force
                    record.exec_inst = command.exec_inst
                    record.display_qty = command.display_qty
                    record.peg_offset_value = command.peg_offset_value
                    record.peg_price_type = command.peg_price_type or ""
        self._post_only_text(command, events)
        if self.post_only_refused:  # bounded by the open orders: a closed order's mark goes
            self.post_only_refused = {i for i in self.post_only_refused if i in self.orders and self.orders[i].is_open}
        if isinstance(command, cmd.FundingTick) and events and isinstance(events[-1], Accepted):  # paid, not refused
            self.funding.append((command.time_ms, command.symbol, command.rate_e8))
        if isinstance(command, cmd.Settle) and events and isinstance(events[-1], Accepted):
            self.settlements.append((command.time_ms, command.symbol, command.settlement_price))
        self._track_deadlines(command, events)

    def _post_only_text(self, command: object, events: Sequence[Event]) -> None:
        """An amend refused as ParticipateDoNotInitiateWouldTrade marks its order; the accepted cancel of a marked
        order shows BitMEX's text on the order and on the cancel's execution row (from the journal too)."""
        if not events:
            return
        last = events[-1]
        if isinstance(command, cmd.AmendOrder) and isinstance(last, Rejected):
            if last.reason is Reason.POST_ONLY_WOULD_TRADE and type(command.order_id) is int:
                self.post_only_refused.add(command.order_id)
            return
        if not (isinstance(command, cmd.CancelOrder) and isinstance(last, Accepted)):
            return
        if last.order_id not in self.post_only_refused:
            return
        self.post_only_refused.discard(last.order_id)
        record = self.orders.get(last.order_id)
        if record is None:
            return
        record.text = POST_ONLY_CANCELED
        for execution in reversed(self.executions.get(record.account, ())):
            if execution.report.order_id == last.order_id:
                execution.text = POST_ONLY_CANCELED
                break

    def _track_deadlines(self, command: object, events: Sequence[Event]) -> None:
        """Armed dead man's switches: the gateway ticks the clock when one is due (the engine fires it)."""
        time_ms = getattr(command, "time_ms", None)
        if type(time_ms) is int:
            for account in [a for a, at in self.deadlines.items() if at <= time_ms]:
                del self.deadlines[account]  # fired (or due) by this command's clock advance
        accepted = bool(events) and isinstance(events[-1], Accepted)
        if isinstance(command, cmd.CancelAllAfter) and accepted:
            if command.timeout_ms:
                self.deadlines[command.account] = command.time_ms + command.timeout_ms
            else:
                self.deadlines.pop(command.account, None)

    def _list(self, account: int, symbol: str, held: bool = False) -> None:
        """The account's Position row of ``symbol`` exists from now on (new in this command: a WS insert); an order
        lists a contract, never a spot pair (no positions), a position report anything reported."""
        key = (account, symbol)
        if key in self.listed or account < 0:
            return
        inst = self.instruments.get(symbol)
        if not held and inst is not None and inst.kind is ContractKind.SPOT:
            return
        self.listed.add(key)
        self.new_positions.add(key)

    def _execution(self, report: Execution) -> None:
        record = self.orders.get(report.order_id)
        if record is None:
            record = OrderRecord(report)
            self._list(report.account, report.symbol)
            if report.account >= 0:
                self._remember_order(record)
                self.new_orders.add(report.order_id)
        else:  # a remembered order (an account's: the liquidation engine's are not kept)
            self._update(record, report)
        if report.exec_type != "Trade":
            match_seq = 0
        elif report.last_liquidity_ind == "RemovedLiquidity":
            self._match_seq, self._match_symbol = report.seq, report.symbol
            match_seq = report.seq
        elif self._match_seq and self._match_symbol == report.symbol and self._match_seq == report.seq - 1:
            match_seq = self._match_seq  # the maker's report follows its taker's: one match
            self._match_seq = 0
        else:
            match_seq = report.seq  # a fill against the liquidation engine: its own match
        if match_seq and report.last_liquidity_ind == "AddedLiquidity":
            aggressor = "Sell" if report.side == "Buy" else "Buy"
            tape = self.trades.setdefault(report.symbol, deque(maxlen=MAX_TRADES_PER_SYMBOL))
            trade = PublicTrade(report.symbol, aggressor, report.last_qty, report.last_px, report.time_ms, match_seq)
            tape.append(trade)
            self.new_trades.append(trade)
            self._count(trade)
        if report.account >= 0:
            rows = self.executions.setdefault(report.account, deque(maxlen=MAX_EXECUTIONS_PER_ACCOUNT))
            rows.append(ExecutionRecord(report, match_seq, record))

    def _count(self, trade: PublicTrade) -> None:
        """Add a trade to its minute's sums: contracts, and CON-003's value (settlement minor units)."""
        inst = self.instruments.get(trade.symbol)
        value = compute_notional(inst, trade.size, trade.price) if inst is not None else 0
        minute = trade.time_ms // MINUTE_MS
        buckets = self.volume.setdefault(trade.symbol, deque())
        if buckets and buckets[-1][0] == minute:
            last = buckets[-1]
            last[1] += trade.size
            last[2] += value
            last[3] = max(last[3], trade.price)
            last[4] = min(last[4], trade.price)
            last[5] = trade.price
        else:
            buckets.append([minute, trade.size, value, trade.price, trade.price, trade.price])
        while buckets[0][0] <= minute - DAY_MINUTES:
            self.dropped[trade.symbol] = buckets.popleft()

    def day_volume(self, symbol: str, now_ms: int) -> tuple[int, int]:
        """(contracts, value) traded in ``symbol`` in the 24 hours to ``now_ms``, at minute resolution: the trades of
        the current minute and the 1,439 before it."""
        first = now_ms // MINUTE_MS - DAY_MINUTES
        contracts = value = 0
        for minute, size, worth, *_prices in self.volume.get(symbol, ()):
            if minute > first:
                contracts += size
                value += worth
        return contracts, value

    def day_prices(self, symbol: str, now_ms: int) -> tuple[int, int, int]:
        """(high, low, price 24 hours ago) of ``symbol``'s trades in price units, 0 where there is none: the high and
        low over :meth:`day_volume`'s minutes, and the last price of the latest minute at or before the window's."""
        first = now_ms // MINUTE_MS - DAY_MINUTES
        high = low = before = 0
        dropped = self.dropped.get(symbol)
        if dropped is not None and dropped[0] <= first:
            before = dropped[5]
        for minute, _size, _worth, top, bottom, last in self.volume.get(symbol, ()):
            if minute > first:
                high = max(high, top)
                low = bottom if low == 0 else min(low, bottom)
            else:
                before = last
        return high, low, before

    def _remember_order(self, record: OrderRecord) -> None:
        self.orders[record.order_id] = record
        ids = self.account_orders.setdefault(record.account, deque())
        ids.append(record.order_id)
        self._index(record)
        if len(ids) > MAX_ORDERS_PER_ACCOUNT:
            self._forget_oldest_closed(ids)

    def _forget_oldest_closed(self, ids: deque[int]) -> None:
        for order_id in ids:  # the oldest closed one is near the front: no copy of the whole history
            record = self.orders[order_id]
            if not record.is_open:
                break
        else:
            return
        ids.remove(order_id)
        del self.orders[order_id]
        self._file(self.cl_orders, record, record.cl_ord_id, None)  # closed: in no open index

    def touched(self, events: Iterable[Event]) -> tuple[set[str], set[int]]:
        """Symbols whose book may have changed and accounts whose orders, positions or money did."""
        symbols: set[str] = set()
        accounts: set[int] = set()
        for event in events:
            if isinstance(event, Execution):
                symbols.add(event.symbol)
                accounts.add(event.account)
            elif isinstance(event, PositionUpdate | Transaction):
                accounts.add(event.account)
        accounts.discard(-1)
        return symbols, accounts
