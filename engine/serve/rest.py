"""REST ``/api/v1``: BitMEX's endpoints over the gateway, one route table.

Every route is a :class:`Route` in :data:`ROUTES` (verb, path, permission,
handler, parameters); the request pipeline (:func:`perpspec.engine.serve.pipeline.handle`) is the
same for all of them:

1. the raw body is read (size-limited) and kept as bytes for the signature;
2. a private route (and any request carrying ``api-key``) is authenticated
   (:func:`perpspec.engine.serve.keys.authenticate`), then permission-checked;
3. the client's rate limit is charged (headers on every answer, 429 JSON when spent);
4. parameters are the query (GET) merged with the JSON or form body;
5. the handler validates and converts at the edge, then asks the gateway to
   execute one engine command; an engine rejection becomes BitMEX's error.

Nothing raised inside a handler leaves as a stack trace: an unexpected
exception is logged and answered ``500 {"error": {"message": "Server Error"}}``.
Every refusal at the edge (parsing, types, auth, limits) happens before any
command is sent, so it changes nothing; a command that reaches the engine is
applied whole or rejected whole by the engine (which restores its state on a
bug of its own) -- a rejected command changes nothing itself, though the time it
carries may fire the order timers (Day orders, a dead man's switch), as any command's time does.
"""

from __future__ import annotations

import heapq
import logging
import re
from collections.abc import Callable
from typing import Any, Final

import attrs

from perpspec.engine.core import commands as cmd
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted, Event, Execution, Reason, Rejected
from perpspec.engine.serve import rows
from perpspec.engine.serve.errors import NOT_FOUND, ApiError, reduce_only_error, rejection_error
from perpspec.engine.serve.gateway import Gateway
from perpspec.engine.serve.history import execution_rows, order_rows
from perpspec.engine.serve.keys import (
    ApiKey,
)
from perpspec.engine.serve.listing import json_param, read_listing, select_rows, take
from perpspec.engine.serve.stats import stats_rows
from perpspec.engine.serve.units import (
    iso_timestamp,
    parse_bool,
    parse_order_uuid,
    parse_price,
    parse_text,
    parse_units,
    parse_whole,
    price_out,
)
from perpspec.engine.serve.views import OrderRecord
from perpspec.rules.instrument import Instrument

log = logging.getLogger("perpspec.serve")

API: Final = "/api/v1"
MAX_IDS_PER_CANCEL: Final = 100


@attrs.frozen(kw_only=True)
class Param:
    """One documented parameter (for the Swagger spec)."""

    name: str
    kind: str  # "string" | "number" | "integer" | "boolean"
    required: bool = False
    description: str = ""


@attrs.frozen(kw_only=True)
class Route:
    verb: str
    path: str  # under /api/v1
    tag: str
    operation: str  # BitMEX operationId suffix: Order.new -> tag "Order", operation "new"
    permission: str  # "" public, "read", "trade", "withdraw", "admin"
    handler: Callable[[Context], Any]
    params: tuple[Param, ...] = ()
    summary: str = ""
    many: bool = False  # the answer is a list of rows (Swagger: an array)


@attrs.define
class Context:
    """One request as a handler sees it."""

    gateway: Gateway
    key: ApiKey | None
    params: dict[str, Any]

    @property
    def account(self) -> int:
        assert self.key is not None  # private routes only
        return self.key.account

    def execute(self, command: Any) -> list[Event]:
        return self.gateway.execute(command)

    def now(self) -> int:
        return self.gateway.now_ms()


@attrs.define
class ServerConfig:
    """Limits of one server (all overridable by ``perpspec serve`` options)."""

    rate_limit_per_minute: int = 120  # per API key (BitMEX's figure)
    ip_rate_limit_per_minute: int = 300  # per IP, unauthenticated requests
    max_body_bytes: int = 64 * 1024
    max_ws_connections: int = 1024
    max_ws_connections_per_ip: int = 64  # per client: every loopback address is one (conns.client_of)
    ws_idle_timeout_s: float = 10  # a WebSocket that has neither subscribed nor authenticated by then is closed
    max_http_connections: int = 1024  # TCP connections in all, WebSockets included (and below the descriptor limit)
    max_http_connections_per_ip: int = 256  # per client (conns.py: beyond a cap an idle connection makes room)
    http_idle_timeout_s: float = 30  # a connection with no request in progress for this long is closed
    body_timeout_s: float = 10  # a request's body not read within this: 408, connection closed
    max_ws_subscriptions: int = 100  # topics per connection
    ws_queue_messages: int = 10_000  # a slower client is disconnected
    admin_token: str = ""  # empty: admin endpoints refused


# ----------------------------------------------------------------------------- helpers


def instrument_of(ctx: Context, name: str = "symbol", required: bool = True) -> Instrument | None:
    value = ctx.params.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"'{name}' is required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, "Invalid symbol")
    inst = ctx.gateway.exchange.instruments().get(value)
    if inst is None:
        raise ApiError(400, "Invalid symbol")
    return inst


def outcome(events: list[Event]) -> Accepted | Rejected:
    last = events[-1]
    assert isinstance(last, Accepted | Rejected)  # every command ends with one
    return last


def check(events: list[Event], currency: str, command: object = None, inst: Instrument | None = None) -> Accepted:
    """The command's Accepted, or its rejection as BitMEX's error (``command`` and ``inst`` name the field at fault)."""
    result = outcome(events)
    if isinstance(result, Rejected):
        raise rejection_error(result, currency, command, inst.tick_size if inst is not None else 0)
    return result


def select(ctx: Context, data: list[dict[str, Any]], *, time_key: str = "timestamp") -> list[dict[str, Any]]:
    """BitMEX's list parameters (filter, startTime/endTime, reverse, start, count, columns): see :mod:`.listing`."""
    return select_rows(ctx.params, data, time_key)


# ----------------------------------------------------------------------------- public


def get_assets(ctx: Context) -> Any:
    return rows.asset_rows(ctx.gateway.exchange)


def get_instruments(ctx: Context) -> Any:
    exchange = ctx.gateway.exchange
    symbol = ctx.params.get("symbol")
    now = ctx.now()
    data = [rows.instrument_row(exchange, inst, now, ctx.gateway.views)
            for s, inst in sorted(exchange.instruments().items()) if symbol in (None, "", s)]
    return select(ctx, data)


def get_active(ctx: Context) -> Any:
    exchange = ctx.gateway.exchange
    now = ctx.now()
    return [rows.instrument_row(exchange, inst, now, ctx.gateway.views)
            for s, inst in sorted(exchange.instruments().items()) if not rows.is_settled(exchange, s)]


def get_l2(ctx: Context) -> Any:
    inst = instrument_of(ctx)
    assert inst is not None
    depth = parse_whole(ctx.params.get("depth", 25), "'depth' must be a non-negative integer")
    if depth < 0:
        raise ApiError(400, "'depth' must be a non-negative integer")
    index = sorted(ctx.gateway.exchange.instruments()).index(inst.symbol)
    return rows.l2_rows(ctx.gateway.exchange, inst, index, depth or rows.MAX_L2_LEVELS, ctx.now())


def get_trades(ctx: Context) -> Any:
    """The public tape, merged across symbols by time; a row is built only when the listing reads it."""
    inst = instrument_of(ctx, required=False)
    listing = read_listing(ctx.params)
    views = ctx.gateway.views
    instruments = ctx.gateway.exchange.instruments()
    symbols = [s for s in sorted(views.trades) if (inst is None or s == inst.symbol) and listing.admits("symbol", s)]
    if listing.reverse:  # newest first: the exact reverse of the oldest-first order (ties: later symbols first)
        tapes = [reversed(views.trades[s]) for s in reversed(symbols)]
        merged = heapq.merge(*tapes, key=lambda t: t.time_ms, reverse=True)
    else:
        merged = heapq.merge(*(views.trades[s] for s in symbols), key=lambda t: t.time_ms)
    wanted = (t for t in merged if listing.admits("side", t.side))  # row "side" is the trade's: skipped unbuilt
    return take(listing, (rows.trade_row(instruments[t.symbol], t) for t in wanted))


def get_funding(ctx: Context) -> Any:
    inst = instrument_of(ctx, required=False)
    data = [ctx.gateway.hub.funding_row(t, s, r)
            for t, s, r in ctx.gateway.views.funding if inst is None or s == inst.symbol]
    return select(ctx, data)


def get_stats(ctx: Context) -> Any:
    """``GET /stats``: open interest and 24-hour volume per root symbol and currency (:mod:`.stats`)."""
    return stats_rows(ctx.gateway.exchange, ctx.gateway.views, ctx.now())


def get_insurance(ctx: Context) -> Any:
    return select(ctx, ctx.gateway.hub.insurance_rows(ctx.now()))


def get_root(ctx: Context) -> Any:
    return {"name": "perpspec BitMEX-compatible gateway", "version": "1.0.0", "timestamp": ctx.now()}


# ----------------------------------------------------------------------------- account


def _currency(ctx: Context) -> str | None:
    currency = ctx.params.get("currency", "XBt")
    if currency == "all":
        return None
    if not isinstance(currency, str) or currency not in ctx.gateway.exchange.assets():
        raise ApiError(400, "Invalid currency")
    return currency


def get_margin(ctx: Context) -> Any:
    exchange = ctx.gateway.exchange
    currency = _currency(ctx)
    now = ctx.now()
    if currency is None:
        return [rows.margin_row(exchange, ctx.account, c, now) for c in exchange.assets()]
    return rows.margin_row(exchange, ctx.account, currency, now)


def get_wallet(ctx: Context) -> Any:
    exchange = ctx.gateway.exchange
    currency = _currency(ctx)
    now = ctx.now()
    if currency is None:
        return [rows.wallet_row(exchange, ctx.account, c, now) for c in exchange.assets()]
    return rows.wallet_row(exchange, ctx.account, currency, now)


def get_user(ctx: Context) -> Any:
    return {"id": ctx.account, "username": f"account-{ctx.account}", "verified": rows.account_exists(
        ctx.gateway.exchange, ctx.account)}


# ----------------------------------------------------------------------------- orders

_PLACE_TEXT: Final = (("side", "side"), ("ordType", "ord_type"), ("timeInForce", "time_in_force"),
                      ("execInst", "exec_inst"), ("pegPriceType", "peg_price_type"), ("clOrdID", "cl_ord_id"))


# BitMEX removed these in 2018 ("Deprecation of contingent orders", simpleOrderQty): an order carrying one is refused,
# never accepted with the field dropped (an OCO bracket accepted as two unlinked orders opens positions: redteam17_1)
_REMOVED_PLACE: Final = (("simpleOrderQty", "send orderQty"), ("contingencyType", "linked orders are not supported"),
                         ("clOrdLinkID", "linked orders are not supported"))
_REMOVED_AMEND: Final = (("simpleOrderQty", "send orderQty"), ("simpleLeavesQty", "send leavesQty"))
# what PUT /order reads (BitMEX's Order.amend, less the removed simple* quantities, which are refused above); any other
# key with a value is refused: an amend is never accepted with a field dropped (execInst, side, ... : redteam21_4)
_AMEND_KEYS: Final = frozenset(("orderID", "origClOrdID", "clOrdID", "orderQty", "leavesQty", "price", "stopPx",
                                "pegOffsetValue", "text", "simpleOrderQty", "simpleLeavesQty"))


def _refuse_removed(p: dict[str, Any], removed: tuple[tuple[str, str], ...]) -> None:
    """A 400 for a parameter BitMEX removed, when it is sent with a value (an empty string is BitMEX's own default)."""
    for name, instead in removed:
        if p.get(name) not in (None, ""):
            raise ApiError(400, f"{name} is not supported; {instead}")


def _order_fields(ctx: Context, inst: Instrument) -> dict[str, Any]:
    """PlaceOrder fields from BitMEX's parameters, converted exactly (typed refusals on bad values)."""
    p = ctx.params
    _refuse_removed(p, _REMOVED_PLACE)
    fields: dict[str, Any] = {}
    for name, field in _PLACE_TEXT:
        if p.get(name) not in (None, ""):
            fields[field] = parse_text(p[name], f"Invalid {name}", 64)
    if p.get("orderQty") is not None:
        fields["order_qty"] = parse_whole(p["orderQty"], "orderQty is invalid")
    if p.get("price") is not None:
        fields["price"] = parse_price(inst, p["price"], finer="Invalid price tickSize")
    if p.get("stopPx") is not None:
        fields["stop_px"] = parse_price(inst, p["stopPx"], "Invalid stopPx for ordType", "Invalid stopPx tickSize")
    if p.get("pegOffsetValue") is not None:
        fields["peg_offset_value"] = parse_units(p["pegOffsetValue"], inst.price_scale, "Invalid pegOffsetValue")
    if p.get("displayQty") is not None:
        fields["display_qty"] = parse_whole(p["displayQty"], "Invalid displayQty")
    if p.get("text") is not None:
        parse_text(p["text"], "Invalid text", 256)
    return trailing_stop(fields)


# BitMEX's trailing stop is a conditional ordType with pegPriceType TrailingStopPeg and pegOffsetValue, no stopPx (its
# API explorer: "Use pegPriceType of 'TrailingStopPeg' to create Trailing Stops ... Requires ordType: 'Stop',
# 'StopLimit', 'MarketIfTouched', 'LimitIfTouched'"; ccxt 4.5.83's create_order sends ordType Stop, pegPriceType and
# a signed pegOffsetValue).  The engine takes a trailing stop as ordType Pegged (ORD-007: a stop that executes as a
# market order, offset > 0 for a buy, < 0 for a sell -- BitMEX's Stop signs); the rows show it as BitMEX's Stop.
_TRAILABLE: Final = frozenset(("Stop", "StopLimit", "MarketIfTouched", "LimitIfTouched"))


def trailing_stop(fields: dict[str, Any]) -> dict[str, Any]:
    """BitMEX's trailing stop (ordType Stop + TrailingStopPeg) as the engine's (ordType Pegged); other fields as sent.

    The engine has no trailing StopLimit or if-touched order: those are refused, never placed as something else."""
    if fields.get("peg_price_type") != o.TRAILING_STOP_PEG or fields.get("ord_type") not in _TRAILABLE:
        return fields
    if fields["ord_type"] != o.STOP:
        raise ApiError(400, f"Unsupported pegPriceType for ordType {fields['ord_type']}: only a trailing Stop is supported")
    if "stop_px" in fields:
        raise ApiError(400, "Invalid stopPx for ordType")  # a trailing stop's stopPx is its peg's, never sent
    return {**fields, "ord_type": o.PEGGED}


def post_order(ctx: Context) -> Any:
    inst = instrument_of(ctx)
    assert inst is not None
    fields = _order_fields(ctx, inst)
    command = cmd.PlaceOrder(time_ms=ctx.now(), account=ctx.account, symbol=inst.symbol, **fields)
    events = ctx.execute(command)
    _refuse_reduce_only(ctx, inst, events, fields.get("side"), fields.get("order_qty"))
    accepted = check(events, inst.settl_currency, command, inst)
    record = ctx.gateway.views.order_of(ctx.account, accepted.order_id)
    if record is None:
        raise ApiError(503, "Service unavailable")  # an accepted order always has its New report
    return rows.order_row(inst, record, ctx.gateway.exchange)


def _refuse_reduce_only(ctx: Context, inst: Instrument, events: list[Event], side: str | None, qty: int | None) -> None:
    """A Close/ReduceOnly order refused for having nothing to reduce: BitMEX's text, naming the order's side (a
    negative orderQty without side is a sell) and the position it found (the refusal changed nothing)."""
    refused = outcome(events)
    if not isinstance(refused, Rejected) or refused.command not in ("PlaceOrder", "AmendOrder"):
        return
    if side is None and isinstance(qty, int) and qty != 0:
        side = "Buy" if qty > 0 else "Sell"
    held = ctx.gateway.exchange.positions(ctx.account).get(inst.symbol) if rows.account_exists(
        ctx.gateway.exchange, ctx.account) else None
    error = reduce_only_error(refused, side, held.qty if held is not None else 0)
    if error is not None:
        raise error


def _find_order(ctx: Context, order_id: Any, cl_ord_id: Any) -> OrderRecord:
    views = ctx.gateway.views
    if order_id not in (None, ""):
        number = parse_order_uuid(order_id)
        record = views.order_of(ctx.account, number) if number is not None else None
    elif cl_ord_id not in (None, ""):
        record = views.order_by_cl_ord_id(ctx.account, parse_text(cl_ord_id, "Invalid clOrdID", 64))
    else:
        raise ApiError(400, "Must specify either orderID or clOrdID")
    if record is None:
        raise ApiError(404, NOT_FOUND)
    return record


def put_order(ctx: Context) -> Any:
    p = ctx.params
    record = _find_order(ctx, p.get("orderID"), p.get("origClOrdID"))
    inst = ctx.gateway.exchange.instruments()[record.symbol]
    if not record.is_open:
        raise ApiError(400, f"Invalid ordStatus: Unable to amend order due to existing state: {record.ord_status}")
    _refuse_removed(p, _REMOVED_AMEND)
    unknown = sorted(name for name, value in p.items() if name not in _AMEND_KEYS and value not in (None, ""))
    if unknown:
        raise ApiError(400, f"{', '.join(unknown)[:200]}: not an amendable field; cancel and place a new order")
    if p.get("text") is not None:
        parse_text(p["text"], "Invalid text", 256)  # an annotation, checked as on POST /order; not kept
    fields: dict[str, Any] = {}
    if p.get("orderQty") is not None:
        fields["order_qty"] = parse_whole(p["orderQty"], "orderQty is invalid")
    if p.get("leavesQty") is not None:
        fields["leaves_qty"] = parse_whole(p["leavesQty"], "Invalid leavesQty")
    if p.get("price") is not None:
        fields["price"] = parse_price(inst, p["price"], finer="Invalid price tickSize")
    if p.get("stopPx") is not None:
        fields["stop_px"] = parse_price(inst, p["stopPx"], "Invalid stopPx for ordType", "Invalid stopPx tickSize")
    if p.get("pegOffsetValue") is not None:
        fields["peg_offset_value"] = parse_units(p["pegOffsetValue"], inst.price_scale, "Invalid pegOffsetValue")
    if p.get("clOrdID") not in (None, ""):
        # BitMEX: "Optional new Client Order ID, requires origClOrdID" -- the amend renames the order (the engine
        # refuses another live order's id, DuplicateClOrdID, changing nothing).  ccxt 4.5.83's edit_order by
        # clientOrderId always sends one: the caller's clOrdID, else the literal "clientOrderId" (review20_1)
        fields["cl_ord_id"] = parse_text(p["clOrdID"], "Invalid clOrdID", 64)
    command = cmd.AmendOrder(time_ms=ctx.now(), account=ctx.account, order_id=record.order_id, **fields)
    events = ctx.execute(command)
    refused = outcome(events)
    if isinstance(refused, Rejected) and refused.reason is Reason.POST_ONLY_WOULD_TRADE:
        # BitMEX cancels a post-only order its amend would make trade (HTTP 200, ordStatus Canceled, "Canceled: Order
        # had execInst of ParticipateDoNotInitiate"); the engine refused the amend and changed nothing, so the order
        # is cancelled as DELETE /order cancels it, and the views give that cancel BitMEX's text (views.py)
        cancel = cmd.CancelOrder(time_ms=ctx.now(), account=ctx.account, order_id=record.order_id)
        check(ctx.execute(cancel), inst.settl_currency)
        return rows.order_row(inst, record, ctx.gateway.exchange)
    _refuse_reduce_only(ctx, inst, events, record.side, None)
    check(events, inst.settl_currency, command, inst)
    return rows.order_row(inst, record, ctx.gateway.exchange)


def _id_list(value: Any, name: str) -> list[Any]:
    value = json_param(value, name) if isinstance(value, str) and value.startswith("[") else value
    ids = value if isinstance(value, list) else [value]
    if not ids:
        raise ApiError(400, "Must specify either orderID or clOrdID")
    if len(ids) > MAX_IDS_PER_CANCEL:
        raise ApiError(400, f"Too many ids in '{name}' (at most {MAX_IDS_PER_CANCEL})")
    return ids


# BitMEX's row for an id it cannot find (unknown, malformed, or another account's): a Rejected row that echoes only
# what the caller sent (nautilus_trader's BitMEX fixture http_cancel_all_close_race.json, 2026: account 0, ordStatus
# "Rejected", ordRejReason "Invalid orderID", workingIndicator false), with the per-order ``error`` text clients read
UNKNOWN_CANCEL: Final = "Unable to cancel order: Not found or not owned by user"


_UUID_TEXT: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _unknown_cancel_row(ctx: Context, order_id: str | None, cl_ord_id: str | None) -> dict[str, Any]:
    stamp = iso_timestamp(ctx.now())
    return {"orderID": order_id or "", "clOrdID": cl_ord_id or "", "account": 0, "ordStatus": "Rejected",
            "ordRejReason": "Invalid orderID" if order_id is not None else "Invalid clOrdID",
            "workingIndicator": False, "leavesQty": 0, "cumQty": 0, "error": UNKNOWN_CANCEL,
            "transactTime": stamp, "timestamp": stamp}


def delete_order(ctx: Context) -> Any:
    """``DELETE /order``: one row per id sent, in order (BitMEX's batch contract, one id or a list).

    Every id is checked for its form first (an ``orderID`` that is no UUID text, a ``clOrdID`` that is no short
    printable text: a 400, and nothing is cancelled); then each is looked up
    and cancelled on its own: an open order is cancelled (its row, ``Canceled``), a closed one keeps its state (its
    row with ``error`` "Unable to cancel order due to existing state: ..." -- ccxt's ``cancel_order`` raises
    OrderNotFound on it), and an id the account does not own or nobody issued gets a Rejected row (``error``
    :data:`UNKNOWN_CANCEL`) -- never a 404 for the batch, which would leave the orders the caller could cancel alive.
    """
    p = ctx.params
    if p.get("orderID") not in (None, ""):
        ids = _id_list(p["orderID"], "orderID")
        if not all(type(i) is str and _UUID_TEXT.fullmatch(i) for i in ids):
            raise ApiError(400, "Invalid orderID")
        targets: list[tuple[str | None, str | None]] = [(i, None) for i in ids]
    elif p.get("clOrdID") not in (None, ""):
        targets = [(None, parse_text(c, "Invalid clOrdID", 64)) for c in _id_list(p["clOrdID"], "clOrdID")]
    else:
        raise ApiError(400, "Must specify either orderID or clOrdID")
    if p.get("text") is not None:
        parse_text(p["text"], "Invalid text", 256)
    views = ctx.gateway.views
    out = []
    for order_id, cl_ord_id in targets:
        if order_id is not None:
            number = parse_order_uuid(order_id)
            record = views.order_of(ctx.account, number) if number is not None else None
        else:
            assert cl_ord_id is not None
            record = views.order_by_cl_ord_id(ctx.account, cl_ord_id)
        if record is None:
            out.append(_unknown_cancel_row(ctx, order_id, cl_ord_id))
            continue
        inst = ctx.gateway.exchange.instruments()[record.symbol]
        if not record.is_open:
            row = rows.order_row(inst, record, ctx.gateway.exchange)
            row["error"] = f"Unable to cancel order due to existing state: {record.ord_status}"
            out.append(row)
            continue
        events = ctx.execute(cmd.CancelOrder(time_ms=ctx.now(), account=ctx.account, order_id=record.order_id))
        result = outcome(events)
        row = rows.order_row(inst, record, ctx.gateway.exchange)
        if isinstance(result, Rejected):
            row["error"] = rejection_error(result, inst.settl_currency).message
        out.append(row)
    return out


def delete_all(ctx: Context) -> Any:
    inst = instrument_of(ctx, required=False)
    side = None
    filter_ = json_param(ctx.params.get("filter"), "filter")
    if filter_ is not None and not (isinstance(filter_, dict) and set(filter_) <= {"side"}):
        raise ApiError(400, "'filter' must be a JSON object naming at most 'side'")
    if filter_ and filter_.get("side") is not None:
        side = parse_text(filter_["side"], "Invalid side", 8)
    events = ctx.execute(cmd.CancelAll(time_ms=ctx.now(), account=ctx.account,
                                       symbol=inst.symbol if inst else None, side=side))
    check(events, inst.settl_currency if inst else "XBt")
    return _changed_orders(ctx, events)


def _changed_orders(ctx: Context, events: list[Event]) -> list[dict[str, Any]]:
    out = []
    seen: set[int] = set()
    for event in events:
        if isinstance(event, Execution) and event.account == ctx.account and event.order_id not in seen:
            seen.add(event.order_id)
            record = ctx.gateway.views.order_of(ctx.account, event.order_id)
            if record is not None:
                exchange = ctx.gateway.exchange
                out.append(rows.order_row(exchange.instruments()[record.symbol], record, exchange))
    return out


def post_cancel_all_after(ctx: Context) -> Any:
    timeout = parse_whole(ctx.params.get("timeout"), "'timeout' must be a non-negative integer of milliseconds")
    if timeout < 0 or timeout > 7 * 86_400_000:
        raise ApiError(400, "'timeout' must be between 0 and one week of milliseconds")
    now = ctx.now()
    events = ctx.execute(cmd.CancelAllAfter(time_ms=now, account=ctx.account, timeout_ms=timeout))
    check(events, "XBt")
    return {"now": iso_timestamp(now), "cancelTime": iso_timestamp(now + timeout) if timeout else None}


def get_orders(ctx: Context) -> Any:
    """The account's orders: filtered and paged before any row is built (:mod:`.history`, redteam28_2)."""
    inst = instrument_of(ctx, required=False)
    return order_rows(read_listing(ctx.params), ctx.gateway.views, ctx.gateway.exchange, ctx.account,
                      None if inst is None else inst.symbol)


def get_executions(ctx: Context, trades_only: bool = False) -> Any:
    inst = instrument_of(ctx, required=False)
    return execution_rows(read_listing(ctx.params), ctx.gateway.views, ctx.gateway.exchange, ctx.account,
                          None if inst is None else inst.symbol, trades_only)


def get_trade_history(ctx: Context) -> Any:
    return get_executions(ctx, trades_only=True)


# ----------------------------------------------------------------------------- positions


def get_positions(ctx: Context) -> Any:
    exchange = ctx.gateway.exchange
    now = ctx.now()
    held = exchange.positions(ctx.account) if rows.account_exists(exchange, ctx.account) else {}
    listed = ctx.gateway.views.listed  # held, or with orders (BitMEX: currentQty 0 and the orders' initMargin)
    data = [rows.position_row(exchange, ctx.gateway.views, inst, ctx.account, now)
            for s, inst in sorted(exchange.instruments().items()) if s in held or (ctx.account, s) in listed]
    return select(ctx, data)


def _position_answer(ctx: Context, inst: Instrument, events: list[Event]) -> Any:
    check(events, inst.settl_currency)
    return rows.position_row(ctx.gateway.exchange, ctx.gateway.views, inst, ctx.account, ctx.now())


def post_leverage(ctx: Context) -> Any:
    inst = instrument_of(ctx)
    assert inst is not None
    hundredths = parse_units(ctx.params.get("leverage"), 100, "Invalid leverage")
    command = cmd.SetLeverage(time_ms=ctx.now(), account=ctx.account, symbol=inst.symbol, leverage_hundredths=hundredths)
    return _position_answer(ctx, inst, ctx.execute(command))


def post_isolate(ctx: Context) -> Any:
    inst = instrument_of(ctx)
    assert inst is not None
    enabled = parse_bool(ctx.params.get("enabled", True), "'enabled' must be a boolean")
    command = cmd.Isolate(time_ms=ctx.now(), account=ctx.account, symbol=inst.symbol, enabled=enabled)
    return _position_answer(ctx, inst, ctx.execute(command))


def post_transfer_margin(ctx: Context) -> Any:
    inst = instrument_of(ctx)
    assert inst is not None
    amount = parse_whole(ctx.params.get("amount"), "Invalid amount")
    command = cmd.TransferMargin(time_ms=ctx.now(), account=ctx.account, symbol=inst.symbol, amount=amount)
    return _position_answer(ctx, inst, ctx.execute(command))


def post_risk_limit(ctx: Context) -> Any:
    inst = instrument_of(ctx)
    assert inst is not None
    limit = parse_whole(ctx.params.get("riskLimit"), "Invalid riskLimit")
    command = cmd.SetRiskLimit(time_ms=ctx.now(), account=ctx.account, symbol=inst.symbol, risk_limit=limit)
    return _position_answer(ctx, inst, ctx.execute(command))


# ----------------------------------------------------------------------------- admin


def _admin_account(ctx: Context) -> int:
    account = parse_whole(ctx.params.get("account"), "'account' must be a non-negative integer")
    if account < 0:
        raise ApiError(400, "'account' must be a non-negative integer")
    return account


def post_withdrawal(ctx: Context) -> Any:
    """``POST /user/requestWithdrawal``: the amount leaves the account at once (no address book, no 2FA)."""
    currency = ctx.params.get("currency")
    if not isinstance(currency, str) or currency not in ctx.gateway.exchange.assets():
        raise ApiError(400, "Invalid currency")
    amount = parse_whole(ctx.params.get("amount"), "Invalid amount")
    if amount <= 0:
        raise ApiError(400, "Invalid amount")
    now = ctx.now()
    events = ctx.execute(cmd.Withdraw(time_ms=now, account=ctx.account, asset=currency, amount=amount))
    accepted = check(events, currency)
    return {"transactID": f"{accepted.seq:08x}-0000-4000-a000-000000000000", "account": ctx.account,
            "currency": currency, "transactType": "Withdrawal", "amount": -amount, "transactStatus": "Completed",
            "timestamp": iso_timestamp(now)}


def get_settlements(ctx: Context) -> Any:
    instruments = ctx.gateway.exchange.instruments()
    symbol = ctx.params.get("symbol")
    data = [{"timestamp": iso_timestamp(t), "symbol": s, "settlementType": "Settlement",
             "settledPrice": price_out(instruments[s], price)}
            for t, s, price in ctx.gateway.views.settlements if symbol in (None, "", s) and s in instruments]
    return select(ctx, data)


def admin_verify(ctx: Context) -> Any:
    account = _admin_account(ctx)
    events = ctx.execute(cmd.VerifyAccount(time_ms=ctx.now(), account=account))
    check(events, "XBt")
    return {"account": account, "verified": True}


def admin_deposit(ctx: Context) -> Any:
    account = _admin_account(ctx)
    currency = ctx.params.get("currency")
    if currency not in ctx.gateway.exchange.assets():
        raise ApiError(400, "Invalid currency")
    amount = parse_whole(ctx.params.get("amount"), "Invalid amount")
    events = ctx.execute(cmd.Deposit(time_ms=ctx.now(), account=account, asset=str(currency), amount=amount))
    check(events, str(currency))
    return rows.wallet_row(ctx.gateway.exchange, account, str(currency), ctx.now())


def admin_price(ctx: Context) -> Any:
    inst = instrument_of(ctx)
    assert inst is not None
    mark = parse_price(inst, ctx.params.get("markPrice"), "Invalid markPrice")
    index = ctx.params.get("indexPrice")
    index_units = parse_price(inst, index, "Invalid indexPrice") if index is not None else mark
    command = cmd.PriceUpdate(time_ms=ctx.now(), symbol=inst.symbol, mark_price=mark, index_price=index_units)
    check(ctx.execute(command), inst.settl_currency)
    return rows.instrument_row(ctx.gateway.exchange, inst, ctx.now(), ctx.gateway.views)


def admin_state(ctx: Context) -> Any:
    durable = ctx.gateway.durable
    return {"stateHash": ctx.gateway.exchange.state_hash(), "committedSeq": durable.committed_seq,
            "commands": ctx.gateway.commands}


# ----------------------------------------------------------------------------- the table

_S = "string"
_N = "number"
_I = "integer"
_B = "boolean"
_LIST_PARAMS = (Param(name="filter", kind=_S, description="JSON object of field equalities"),
                Param(name="columns", kind=_S), Param(name="count", kind=_N), Param(name="start", kind=_N),
                Param(name="reverse", kind=_B), Param(name="startTime", kind=_S), Param(name="endTime", kind=_S))
_SYMBOL = Param(name="symbol", kind=_S)
_SYMBOL_REQ = Param(name="symbol", kind=_S, required=True)

ROUTES: Final[tuple[Route, ...]] = (
    Route(verb="GET", path="", tag="Announcement", operation="root", permission="", handler=get_root),
    Route(verb="GET", path="/wallet/assets", tag="Wallet", operation="getAssetsConfig", permission="", handler=get_assets, many=True),
    Route(verb="GET", path="/instrument", tag="Instrument", operation="get", permission="", handler=get_instruments,
          params=(_SYMBOL, *_LIST_PARAMS), many=True),
    Route(verb="GET", path="/instrument/active", tag="Instrument", operation="getActive", permission="", handler=get_active, many=True),
    Route(verb="GET", path="/instrument/activeAndIndices", tag="Instrument", operation="getActiveAndIndices",
          permission="", handler=get_active, many=True),
    Route(verb="GET", path="/orderBook/L2", tag="OrderBook", operation="getL2", permission="", handler=get_l2,
          params=(_SYMBOL_REQ, Param(name="depth", kind=_N)), many=True),
    Route(verb="GET", path="/trade", tag="Trade", operation="get", permission="", handler=get_trades,
          params=(_SYMBOL, *_LIST_PARAMS), many=True),
    Route(verb="GET", path="/funding", tag="Funding", operation="get", permission="", handler=get_funding,
          params=(_SYMBOL, *_LIST_PARAMS), many=True),
    Route(verb="GET", path="/insurance", tag="Insurance", operation="get", permission="", handler=get_insurance,
          params=_LIST_PARAMS, many=True),
    Route(verb="GET", path="/stats", tag="Stats", operation="get", permission="", handler=get_stats, many=True),
    Route(verb="GET", path="/user", tag="User", operation="get", permission="read", handler=get_user),
    Route(verb="GET", path="/user/margin", tag="User", operation="getMargin", permission="read", handler=get_margin,
          params=(Param(name="currency", kind=_S),)),
    Route(verb="POST", path="/user/requestWithdrawal", tag="User", operation="requestWithdrawal",
          permission="withdraw", handler=post_withdrawal,
          params=(Param(name="currency", kind=_S, required=True), Param(name="amount", kind=_I, required=True),
                  Param(name="address", kind=_S))),
    Route(verb="GET", path="/settlement", tag="Settlement", operation="get", permission="", handler=get_settlements,
          params=(_SYMBOL, *_LIST_PARAMS), many=True),
    Route(verb="GET", path="/user/wallet", tag="User", operation="getWallet", permission="read", handler=get_wallet,
          params=(Param(name="currency", kind=_S),)),
    Route(verb="GET", path="/order", tag="Order", operation="getOrders", permission="read", handler=get_orders,
          params=(_SYMBOL, *_LIST_PARAMS), many=True),
    Route(verb="POST", path="/order", tag="Order", operation="new", permission="trade", handler=post_order,
          params=(_SYMBOL_REQ, Param(name="side", kind=_S), Param(name="orderQty", kind=_I), Param(name="price", kind=_N),
                  Param(name="displayQty", kind=_I), Param(name="stopPx", kind=_N), Param(name="clOrdID", kind=_S),
                  Param(name="pegOffsetValue", kind=_N), Param(name="pegPriceType", kind=_S),
                  Param(name="ordType", kind=_S), Param(name="timeInForce", kind=_S), Param(name="execInst", kind=_S),
                  Param(name="text", kind=_S))),
    Route(verb="PUT", path="/order", tag="Order", operation="amend", permission="trade", handler=put_order,
          params=(Param(name="orderID", kind=_S), Param(name="origClOrdID", kind=_S), Param(name="orderQty", kind=_I),
                  Param(name="leavesQty", kind=_I), Param(name="price", kind=_N), Param(name="stopPx", kind=_N),
                  Param(name="pegOffsetValue", kind=_N), Param(name="text", kind=_S),
                  Param(name="clOrdID", kind=_S, description="a new clOrdID: renames the order"))),
    Route(verb="DELETE", path="/order", tag="Order", operation="cancel", permission="trade", handler=delete_order,
          params=(Param(name="orderID", kind=_S), Param(name="clOrdID", kind=_S), Param(name="text", kind=_S)), many=True),
    Route(verb="DELETE", path="/order/all", tag="Order", operation="cancelAll", permission="trade", handler=delete_all,
          params=(_SYMBOL, Param(name="filter", kind=_S), Param(name="text", kind=_S)), many=True),
    Route(verb="POST", path="/order/cancelAllAfter", tag="Order", operation="cancelAllAfter", permission="trade",
          handler=post_cancel_all_after, params=(Param(name="timeout", kind=_N, required=True),)),
    Route(verb="GET", path="/execution", tag="Execution", operation="get", permission="read", handler=get_executions,
          params=(_SYMBOL, *_LIST_PARAMS), many=True),
    Route(verb="GET", path="/execution/tradeHistory", tag="Execution", operation="getTradeHistory", permission="read",
          handler=get_trade_history, params=(_SYMBOL, *_LIST_PARAMS), many=True),
    Route(verb="GET", path="/position", tag="Position", operation="get", permission="read", handler=get_positions,
          params=_LIST_PARAMS, many=True),
    Route(verb="POST", path="/position/leverage", tag="Position", operation="updateLeverage", permission="trade",
          handler=post_leverage, params=(_SYMBOL_REQ, Param(name="leverage", kind=_N, required=True))),
    Route(verb="POST", path="/position/isolate", tag="Position", operation="isolateMargin", permission="trade",
          handler=post_isolate, params=(_SYMBOL_REQ, Param(name="enabled", kind=_B))),
    Route(verb="POST", path="/position/transferMargin", tag="Position", operation="transferIsolatedMargin",
          permission="trade", handler=post_transfer_margin,
          params=(_SYMBOL_REQ, Param(name="amount", kind=_N, required=True))),
    Route(verb="POST", path="/position/riskLimit", tag="Position", operation="updateRiskLimit", permission="trade",
          handler=post_risk_limit, params=(_SYMBOL_REQ, Param(name="riskLimit", kind=_N, required=True))),
    Route(verb="POST", path="/admin/verify", tag="Admin", operation="verify", permission="admin", handler=admin_verify,
          params=(Param(name="account", kind=_I, required=True),)),
    Route(verb="POST", path="/admin/deposit", tag="Admin", operation="deposit", permission="admin", handler=admin_deposit,
          params=(Param(name="account", kind=_I, required=True), Param(name="currency", kind=_S, required=True),
                  Param(name="amount", kind=_I, required=True))),
    Route(verb="POST", path="/admin/price", tag="Admin", operation="price", permission="admin", handler=admin_price,
          params=(_SYMBOL_REQ, Param(name="markPrice", kind=_N, required=True), Param(name="indexPrice", kind=_N))),
    Route(verb="GET", path="/admin/state", tag="Admin", operation="state", permission="admin", handler=admin_state),
)

ROUTE_MAP: Final[dict[tuple[str, str], Route]] = {(r.verb, API + r.path): r for r in ROUTES}
