"""The realtime hub: who subscribed to what, and the table messages each command produces.

After every command the gateway hands its events to :meth:`Hub.publish`,
which turns them into BitMEX table messages (``{"table", "action", "data"}``)
for the subscribers concerned:

* ``orderBookL2`` / ``orderBookL2_25``: the book as last published is kept per
  symbol; the new book is diffed against it into ``delete``/``update``/``insert``
  (a level that changes side is a delete of the old side's row and an insert:
  the keys are symbol, id, side);
* ``quote`` and the ``instrument`` row: on a trade, a mark, or a move of the top
  of the book (a resting order, a cancel), against the top last published; the
  ``instrument`` row also at a paid funding instant (its fundingRate and next
  fundingTimestamp moved);
* ``order``, ``execution``, ``position``, ``margin``, ``wallet``: full rows of the
  subscriber's own account only; ``wallet`` when the wallet changed, and the
  account's cross positions when their liquidation or bankruptcy price moved
  (a deposit, a withdrawal, another contract's PnL or mark);
* ``trade``, ``instrument``, ``funding``, ``liquidation``, ``insurance``: public.

A subscriber is anything with ``account`` (None before auth) and ``send``
(non-blocking; a slow client's queue overflow closes it, never the server).

Before the private rows of any command (a request's, the price feed's, a
funding tick's, an admin deposit's, a dead man's switch's) the hub calls
:attr:`Hub.check_keys` (the server's: one ``stat`` of the key store, a re-read
only if it changed), so a session whose key was disabled or revoked on disk
has lost its account before the next private row is built (review12_2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.events import Accepted, Event, Execution, PositionUpdate, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.serve import rows
from perpspec.engine.serve.units import iso_timestamp, num, price_out
from perpspec.engine.serve.views import Views
from perpspec.rules.instrument import Instrument
from perpspec.rules.parse import format_scaled

log = logging.getLogger("perpspec.serve")

PUBLIC_TABLES: Final = frozenset(
    ("orderBookL2", "orderBookL2_25", "instrument", "trade", "quote", "funding", "insurance", "liquidation")
)
PRIVATE_TABLES: Final = frozenset(("order", "execution", "position", "margin", "wallet"))
SYMBOL_TABLES: Final = frozenset(("orderBookL2", "orderBookL2_25", "quote"))  # need ":SYMBOL"
KEYS: Final[dict[str, list[str]]] = {
    "orderBookL2": ["symbol", "id", "side"],
    "orderBookL2_25": ["symbol", "id", "side"],
    "instrument": ["symbol"],
    "order": ["orderID"],
    "position": ["account", "symbol"],
    "margin": ["account", "currency"],
    "wallet": ["account", "currency"],
    "quote": [],
    "trade": [],
    "execution": [],
    "funding": ["timestamp", "symbol"],
    "insurance": ["currency", "timestamp"],
    "liquidation": ["orderID"],
}
L2_25: Final = 25


def _top_prices(top: Top) -> tuple[int | None, int | None]:
    """The best bid and ask prices of a top of book (None: that side is empty)."""
    return (top[0][0] if top[0] else None, top[1][0] if top[1] else None)


class Subscriber(Protocol):
    account: int | None
    topics: set[tuple[str, str]]  # (table, symbol or "")

    def send(self, message: dict[str, Any]) -> None: ...


Level = tuple[str, int, int]  # (side, size, price units)
Top = tuple[tuple[int, int] | None, tuple[int, int] | None]  # best (price units, size) of bids, of asks


class Hub:
    """Subscriptions and the per-symbol book state last published."""

    def __init__(self, exchange: Callable[[], Engine], views: Views, clock: Callable[[], int]) -> None:
        self._exchange = exchange
        self.views = views
        self.clock = clock
        self.subscribers: list[Subscriber] = []
        self._books: dict[tuple[str, str], dict[int, Level]] = {}  # (table, symbol) -> id -> level
        self._tops: dict[str, Top] = {}  # symbol -> the top of book last published (quote, instrument bid/ask)
        self._wallets: dict[tuple[int, str], int] = {}  # (account, currency) -> the wallet last published
        self._cross: dict[tuple[int, str], tuple[int, int]] = {}  # (account, symbol) -> cross prices last published
        self._trails: dict[int, int] = {}  # open trailing stop (order id) -> the stopPx last published for it
        self.check_keys: Callable[[], None] | None = None  # the key store re-read if changed (set by the server)

    @property
    def exchange(self) -> Engine:
        return self._exchange()

    def instrument(self, symbol: str) -> Instrument | None:
        return self.exchange.instruments().get(symbol)

    def symbol_index(self, symbol: str) -> int:
        return sorted(self.exchange.instruments()).index(symbol)

    # ------------------------------------------------------------------ partials
    def partial(self, subscriber: Subscriber, table: str, symbol: str) -> dict[str, Any]:
        """The ``partial`` message for a new subscription (current state; ``filter`` as BitMEX sends it)."""
        exchange = self.exchange
        now = self.clock()
        data: list[dict[str, Any]] = []
        filter_: dict[str, Any] = {}
        if symbol:
            filter_["symbol"] = symbol
        account = subscriber.account
        if table in ("orderBookL2", "orderBookL2_25"):
            inst = self.instrument(symbol)
            if inst is not None:
                data = self._book_rows(table, inst, now)
        elif table == "instrument":
            data = [rows.instrument_row(exchange, inst, now, self.views)
                    for s, inst in sorted(exchange.instruments().items()) if not symbol or s == symbol]
        elif table == "trade":
            for s in sorted(self.views.trades):
                if symbol and s != symbol:
                    continue
                inst = self.instrument(s)
                if inst is not None:
                    data.extend(rows.trade_row(inst, t) for t in list(self.views.trades[s])[-100:])
        elif table == "quote":
            inst = self.instrument(symbol)
            if inst is not None:
                data = [self._quote_row(inst, now)]
                self._tops[symbol] = self._top(symbol)
        elif table == "funding":
            data = [self.funding_row(t, s, r) for t, s, r in list(self.views.funding)[-100:] if not symbol or s == symbol]
        elif table == "insurance":
            data = self.insurance_rows(now)
        elif table in ("order", "execution", "position", "margin", "wallet") and account is not None:
            filter_["account"] = account
            data = self._private_rows(table, account, symbol, now)
        return {
            "table": table,
            "action": "partial",
            "keys": KEYS.get(table, []),
            "types": {},
            "foreignKeys": {},
            "attributes": {},
            "filter": filter_,
            "data": data,
        }

    def _private_rows(self, table: str, account: int, symbol: str, now: int) -> list[dict[str, Any]]:
        exchange = self.exchange
        out: list[dict[str, Any]] = []
        if table == "order":
            for record in self.views.order_records(account, open_only=True):  # the open-order index, not the history
                inst = self.instrument(record.symbol)
                if inst is not None and record.is_open and (not symbol or record.symbol == symbol):
                    out.append(rows.order_row(inst, record, self.exchange))
        elif table == "execution":
            for execution in list(self.views.executions.get(account, ()))[-100:]:
                inst = self.instrument(execution.report.symbol)
                if inst is not None and (not symbol or execution.report.symbol == symbol):
                    out.append(rows.execution_row(inst, execution))
        elif table == "position":
            for s, inst in sorted(exchange.instruments().items()):
                if (not symbol or s == symbol) and (account, s) in self.views.listed:
                    out.append(rows.position_row(exchange, self.views, inst, account, now))
        elif table == "margin":
            out = [rows.margin_row(exchange, account, currency, now) for currency in exchange.assets()]
        elif table == "wallet":
            out = [rows.wallet_row(exchange, account, currency, now) for currency in exchange.assets()]
            for row in out:
                self._wallets[(account, row["currency"])] = row["amount"]
        return out

    # ------------------------------------------------------------------ books
    def _levels(self, table: str, inst: Instrument) -> dict[int, Level]:
        depth = L2_25 if table == "orderBookL2_25" else rows.MAX_L2_LEVELS
        bids, asks = rows.book_depth(self.exchange, inst.symbol, depth)
        index = self.symbol_index(inst.symbol)
        levels: dict[int, Level] = {}
        for price, size in asks:
            levels[rows.l2_id(index, price)] = ("Sell", size, price)
        for price, size in bids:
            levels[rows.l2_id(index, price)] = ("Buy", size, price)
        return levels

    def _book_rows(self, table: str, inst: Instrument, now: int) -> list[dict[str, Any]]:
        key = (table, inst.symbol)
        levels = self._books.get(key)
        if levels is None:
            levels = self._levels(table, inst)
            self._books[key] = levels
        stamp = iso_timestamp(now)
        ordered = sorted(levels.items(), key=lambda item: -item[1][2])
        return [self._level_row(inst, level_id, level, stamp) for level_id, level in ordered]

    @staticmethod
    def _level_row(inst: Instrument, level_id: int, level: Level, stamp: str) -> dict[str, Any]:
        side, size, price = level
        return {"symbol": inst.symbol, "id": level_id, "side": side, "size": size,
                "price": price_out(inst, price), "timestamp": stamp}

    def _book_deltas(self, table: str, inst: Instrument, now: int) -> list[dict[str, Any]]:
        key = (table, inst.symbol)
        old = self._books.get(key)
        if old is None:
            return []
        new = self._levels(table, inst)
        self._books[key] = new
        stamp = iso_timestamp(now)
        # the keys are (symbol, id, side): a level that changed side is another row -- the old side's row is deleted
        # and the new side's inserted (BitMEX's own sequence), never an update a client would apply to no row
        moved = {i for i in new if i in old and old[i][0] != new[i][0]}
        deletes = [self._level_row(inst, i, old[i], stamp) for i in sorted(old) if i not in new or i in moved]
        updates = [self._level_row(inst, i, new[i], stamp) for i in sorted(new)
                   if i in old and old[i] != new[i] and i not in moved]
        inserts = [self._level_row(inst, i, new[i], stamp) for i in sorted(new) if i not in old or i in moved]
        out = []
        for action, data in (("delete", deletes), ("update", updates), ("insert", inserts)):
            if data:
                for row in data:
                    if action == "delete":
                        del row["size"]
                out.append({"table": table, "action": action, "data": data})
        return out

    # ------------------------------------------------------------------ rows
    def _top(self, symbol: str) -> Top:
        bids, asks = rows.book_depth(self.exchange, symbol, 1)
        return (bids[0] if bids else None, asks[0] if asks else None)

    def _quote_row(self, inst: Instrument, now: int) -> dict[str, Any]:
        bids, asks = rows.book_depth(self.exchange, inst.symbol, 1)
        return {
            "timestamp": iso_timestamp(now),
            "symbol": inst.symbol,
            "bidSize": bids[0][1] if bids else None,
            "bidPrice": price_out(inst, bids[0][0]) if bids else None,
            "askPrice": price_out(inst, asks[0][0]) if asks else None,
            "askSize": asks[0][1] if asks else None,
        }

    @staticmethod
    def funding_row(time_ms: int, symbol: str, rate_e8: int) -> dict[str, Any]:
        return {
            "timestamp": iso_timestamp(time_ms),
            "symbol": symbol,
            "fundingInterval": "2000-01-01T08:00:00.000Z",
            "fundingRate": num(format_scaled(rate_e8, 100_000_000)),
            "fundingRateDaily": num(format_scaled(rate_e8 * 3, 100_000_000)),
        }

    def insurance_rows(self, now: int) -> list[dict[str, Any]]:
        exchange = self.exchange
        return [{"currency": c, "timestamp": iso_timestamp(now), "walletBalance": exchange.insurance(c)}
                for c in exchange.assets()]

    def liquidation_rows(self, event: RuleEvent) -> list[dict[str, Any]]:
        """``liquidation`` rows of a waterfall step: a take-over, a partial liquidation or an ADL fill."""
        record = event.record
        out: list[dict[str, Any]] = []
        taken: list[tuple[str, int, int]] = []  # (symbol, signed qty closed, price)
        if event.kind == "Liquidation":
            taken = [(t.symbol, t.qty, t.takeover_price) for t in record.taken]
        elif event.kind == "PartialLiquidation" and record.filled:
            taken = [(record.symbol, record.close_qty, record.limit_price)]
        elif event.kind == "AdlFill":
            taken = [(record.symbol, record.close_qty, record.price)]
        for number, (symbol, qty, price) in enumerate(taken):
            inst = self.instrument(symbol)
            if inst is None or qty == 0:
                continue
            out.append({"orderID": f"{event.seq:08x}-0000-4000-9000-{number:012x}", "symbol": symbol,
                        "side": "Sell" if qty > 0 else "Buy", "price": price_out(inst, price), "leavesQty": abs(qty),
                        "kind": event.kind, "ruleID": event.rule_id,  # public: never the account (BitMEX's neither)
                        "timestamp": iso_timestamp(event.time_ms)})
        return out

    # ------------------------------------------------------------------ publish
    def publish(self, command: object, events: Sequence[Event]) -> None:
        """Send every subscriber the table messages that this command's events produce."""
        if not self.subscribers:
            self._books.clear()  # nobody watches: the next partial reads the book afresh
            self._tops.clear()  # and the next change of anything is published, as if new
            self._wallets.clear()
            self._cross.clear()
            self._trails.clear()
            return
        exchange = self.exchange
        now = self.clock()
        symbols, accounts = self.views.touched(events)
        priced: set[str] = set()
        if isinstance(command, cmd.PriceUpdate) and isinstance(command.symbol, str):
            priced.add(command.symbol)
            symbols.add(command.symbol)
        funded: set[str] = set()  # a paid funding instant: the row's fundingRate and fundingTimestamp moved (FND-012)
        if isinstance(command, cmd.FundingTick) and events and isinstance(events[-1], Accepted):
            funded.add(command.symbol)
            symbols.add(command.symbol)
        public: list[tuple[str, str, dict[str, Any]]] = []  # (table, symbol, message)
        for symbol in sorted(symbols):
            inst = self.instrument(symbol)
            if inst is None:
                continue
            for table in ("orderBookL2", "orderBookL2_25"):
                for message in self._book_deltas(table, inst, now):
                    public.append((table, symbol, message))
            # the top of the book moves with a resting order or a cancel too, not only with a trade or a mark
            top = self._top(symbol)
            last_top = self._tops.get(symbol)
            self._tops[symbol] = top
            traded = any(isinstance(e, Execution) and e.symbol == symbol and e.exec_type == "Trade" for e in events)
            prices_moved = last_top is None or _top_prices(last_top) != _top_prices(top)
            if traded or symbol in priced or symbol in funded or prices_moved:
                row = rows.instrument_row(exchange, inst, now, self.views)
                public.append(("instrument", symbol, {"table": "instrument", "action": "update", "data": [row]}))
            if traded or symbol in priced or top != last_top:
                public.append(("quote", symbol, {"table": "quote", "action": "insert", "data": [self._quote_row(inst, now)]}))
        trades: dict[str, list[dict[str, Any]]] = {}
        liquidations: list[dict[str, Any]] = []
        for trade in self.views.new_trades:
            inst = self.instrument(trade.symbol)
            if inst is not None:
                trades.setdefault(trade.symbol, []).append(rows.trade_row(inst, trade))
        for event in events:
            if isinstance(event, RuleEvent):
                liquidations.extend(self.liquidation_rows(event))
        for symbol, data in trades.items():
            public.append(("trade", symbol, {"table": "trade", "action": "insert", "data": data}))
        if liquidations:
            public.append(("liquidation", "", {"table": "liquidation", "action": "insert", "data": liquidations}))
        if any(isinstance(e, RuleEvent) and e.kind == "InsuranceMovement" for e in events):
            public.append(("insurance", "", {"table": "insurance", "action": "insert", "data": self.insurance_rows(now)}))
        if funded and self.views.funding:
            t, s, r = self.views.funding[-1]
            public.append(("funding", s, {"table": "funding", "action": "insert", "data": [self.funding_row(t, s, r)]}))
        private = self._keys_checked()
        watching: dict[str, set[int]] = {}  # private table -> the accounts an authenticated subscriber watches it for
        for subscriber in self.subscribers:
            if subscriber.account is not None:
                for table, _ in subscriber.topics:
                    watching.setdefault(table, set()).add(subscriber.account)
        # only a watched account can receive a row: the work and the caches are bounded by what subscribers watch,
        # never by every account the command touched or every holder of the contract priced (review20_2)
        wallets = self._wallet_changes(accounts, watching.get("wallet", set()), now)
        crossed = self._cross_changes(accounts, priced, watching.get("position", set()))
        trailed = self._trail_changes(symbols, events, watching.get("order", set())) if private else {}
        for subscriber in list(self.subscribers):
            for table, symbol, message in public:
                if (table, symbol) in subscriber.topics or (table, "") in subscriber.topics:
                    subscriber.send(message)
            if private:
                self._publish_private(subscriber, events, accounts, priced, now, wallets, crossed)
                self._send_trailed(subscriber, trailed)

    def _wallet_changes(self, accounts: set[int], watched: set[int], now: int) -> dict[int, list[dict[str, Any]]]:
        """``wallet`` rows of the touched and watched accounts whose wallet differs from the one last published (a
        deposit, a withdrawal, a fill's commission or realised PnL, funding), per account.  The accounts no longer
        watched leave the cache: their next change after a new subscription is published, as if new."""
        for key in [key for key in self._wallets if key[0] not in watched]:
            del self._wallets[key]
        exchange = self.exchange
        out: dict[int, list[dict[str, Any]]] = {}
        for account in sorted(accounts & watched):
            for currency in exchange.assets():
                row = rows.wallet_row(exchange, account, currency, now)
                if self._wallets.get((account, currency)) != row["amount"]:
                    self._wallets[(account, currency)] = row["amount"]
                    out.setdefault(account, []).append(row)
        return out

    def _cross_changes(self, accounts: set[int], priced: set[str], watched: set[int]) -> dict[int, set[str]]:
        """The cross positions whose liquidation or bankruptcy price moved since last published, per watched account
        (an authenticated subscriber watches its ``position`` table): those of a touched account (its wallet or
        another position changed) or of one holding a contract just priced.  O(the watched accounts' positions) per
        command, never O(every holder of the contract priced); the accounts no longer watched leave the cache."""
        for key in [key for key in self._cross if key[0] not in watched]:
            del self._cross[key]
        exchange = self.exchange
        positions = self.views.positions
        out: dict[int, set[str]] = {}
        for account in sorted(watched):
            if account < 0 or not rows.account_exists(exchange, account):
                continue
            if account not in accounts and not any((account, s) in positions for s in priced):
                continue
            for symbol in exchange.positions(account):
                setting = exchange.margin_setting(account, symbol)
                if setting.leverage_hundredths != 0 or (account, symbol) not in positions:
                    continue
                prices = rows.position_prices(exchange, account, symbol)
                if self._cross.get((account, symbol)) != prices:
                    self._cross[(account, symbol)] = prices
                    out.setdefault(account, set()).add(symbol)
        return out

    def _keys_checked(self) -> bool:
        """Before any private row: :attr:`check_keys`, so the sessions the key store now refuses lose their account
        first (``server.watch_keys``).  Skipped when no subscriber is authenticated; False (this command's private
        rows withheld: fail closed) if the check itself raised."""
        if self.check_keys is None or all(subscriber.account is None for subscriber in self.subscribers):
            return True
        try:
            self.check_keys()
        except Exception:  # logged; the command is applied already, only its private rows are withheld
            log.exception("key check failed: private rows withheld")
            return False
        return True

    def _publish_private(
        self, subscriber: Subscriber, events: Sequence[Event], accounts: set[int], priced: set[str], now: int,
        wallets: dict[int, list[dict[str, Any]]], crossed: dict[int, set[str]],
    ) -> None:
        account = subscriber.account
        if account is None:
            return
        holds_priced = bool(priced) and any((account, s) in self.views.positions for s in priced)
        if account not in accounts and not holds_priced and account not in crossed:
            return
        topics = subscriber.topics

        def wants(table: str, symbol: str) -> bool:  # "order" or "order:XBTUSD" (bitmex-ws scopes by symbol)
            return (table, "") in topics or (table, symbol) in topics

        mine = [e for e in events if isinstance(e, Execution) and e.account == account]
        self._send_orders(subscriber, account, mine, wants)
        if mine and any(table == "execution" for table, _ in topics):
            recent = list(self.views.executions.get(account, ()))[-len(mine):]
            data = [rows.execution_row(inst, execution) for execution in recent
                    if (inst := self.instrument(execution.report.symbol)) is not None
                    and wants("execution", execution.report.symbol)]
            if data:
                subscriber.send({"table": "execution", "action": "insert", "data": data})
        symbols = {e.symbol for e in events if isinstance(e, PositionUpdate) and e.account == account}
        symbols |= {e.symbol for e in mine if (account, e.symbol) in self.views.listed}  # its orders: initMargin moved
        symbols |= {s for s in priced if (account, s) in self.views.positions}
        symbols |= crossed.get(account, set())  # a cross position's prices follow the margin behind it
        inserted: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        for symbol in sorted(symbols):
            inst = self.instrument(symbol)
            if inst is not None and wants("position", symbol):
                batch = inserted if (account, symbol) in self.views.new_positions else updated
                batch.append(rows.position_row(self.exchange, self.views, inst, account, now))
        for action, batch in (("insert", inserted), ("update", updated)):
            if batch:  # full rows: ccxt needs homeNotional etc. in every row
                subscriber.send({"table": "position", "action": action, "data": batch})
        if ("margin", "") in topics:
            data = [rows.margin_row(self.exchange, account, currency, now) for currency in self.exchange.assets()]
            subscriber.send({"table": "margin", "action": "update", "data": data})
        if ("wallet", "") in topics and wallets.get(account):
            subscriber.send({"table": "wallet", "action": "update", "data": wallets[account]})

    def _trail_changes(self, symbols: set[str], events: Sequence[Event], watched: set[int]) -> dict[int, list[Any]]:
        """The watched accounts' untriggered trailing stops in ``symbols`` whose stopPx moved since last published,
        per account (ORD-007: the engine moves it with the price and reports no event; BitMEX's order table shows
        each new stopPx).  O(the touched contracts' trailing stops); an order this command reported is left out (its
        row went with its report); the cache keeps the watched accounts' open orders only."""
        orders = self.views.orders
        self._trails = {i: px for i, px in self._trails.items() if (r := orders.get(i)) is not None
                        and r.is_open and r.account in watched}
        if not watched:
            return {}
        reported = {e.order_id for e in events if isinstance(e, Execution)}
        out: dict[int, list[Any]] = {}
        for symbol in sorted(symbols):
            for order_id, account, stop_px in rows.untriggered_trailing(self.exchange, symbol):
                record = orders.get(order_id)
                if account not in watched or record is None:
                    continue
                last = self._trails.get(order_id, record.stop_px)
                self._trails[order_id] = stop_px
                if stop_px != last and order_id not in reported:
                    out.setdefault(account, []).append(record)
        return out

    def _send_trailed(self, subscriber: Subscriber, trailed: dict[int, list[Any]]) -> None:
        """The subscriber's share of :meth:`_trail_changes` as one ``order`` update (full rows)."""
        account = subscriber.account
        if account is None or account not in trailed:
            return
        data = [rows.order_row(inst, record, self.exchange) for record in trailed[account]
                if (inst := self.instrument(record.symbol)) is not None
                and (("order", "") in subscriber.topics or ("order", record.symbol) in subscriber.topics)]
        if data:
            subscriber.send({"table": "order", "action": "update", "data": data})

    def _send_orders(
        self, subscriber: Subscriber, account: int, mine: list[Execution], wants: Callable[[str, str], bool]
    ) -> None:
        """Full ``order`` rows of the orders these reports touched: ``insert`` when new, else ``update``."""
        inserted: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        for order_id in dict.fromkeys(e.order_id for e in mine):
            record = self.views.order_of(account, order_id)
            inst = self.instrument(record.symbol) if record else None
            if record is not None and inst is not None and wants("order", record.symbol):
                batch = inserted if order_id in self.views.new_orders else updated
                batch.append(rows.order_row(inst, record, self.exchange))
        for action, batch in (("insert", inserted), ("update", updated)):
            if batch:  # full rows either way: ccxt 4.5.83 does not merge deltas
                subscriber.send({"table": "order", "action": action, "data": batch})
