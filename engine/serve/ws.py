"""WebSocket ``/realtime``: BitMEX's subscribe/auth protocol over the gateway's hub.

* subscribe by message (``{"op": "subscribe", "args": ["orderBookL2:XBTUSD", "order"]}``) or by
  query string (``/realtime?subscribe=instrument:XBTUSD,order``); each topic gets an ack and then a
  ``partial`` (always, even empty: bitmex-ws waits for it), then ``insert``/``update``/``delete``;
* auth by ``{"op": "authKeyExpires", "args": [key, expires, signature]}`` (``expires`` in seconds or
  milliseconds) or by the upgrade headers ``api-key``/``api-expires``/``api-signature``; the signed
  text is ``GET/realtime`` + expires.  As on REST, ``expires`` may lie at most a day ahead (in seconds or
  milliseconds); a login is a read, so, as a GET on REST, it is not replay-checked;
* ``"ping"`` text -> ``"pong"``; protocol pings are answered by aiohttp (autoping);
* ``{"op": "cancelAllAfter", "args": timeout_ms}`` arms the dead man's switch (charged to the key's
  REST rate limit: it is one engine command, as ``POST /order/cancelAllAfter`` is).
* a session outlives its login, so its key is re-checked as REST re-checks it on every request: a private
  subscribe and ``cancelAllAfter`` re-read the key store and are refused (403, BitMEX's ``{"status", "error",
  "request"}``) once the key is revoked, changed, disabled or stripped of ``read`` (``trade`` for the switch);
  such a session stops receiving private rows at once and the server's ticker closes it (1008).

Each connection has a bounded outgoing queue (messages and bytes) drained by its
own writer task; a client that cannot keep up is disconnected (1008), and one whose
socket accepts nothing for WRITE_DEADLINE_S is cut off, never the server slowed.
A topic subscribed twice is acknowledged without a second partial.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable
from typing import Any, Final

from aiohttp import WSMessage, WSMsgType, web

from perpspec.engine.core import commands as cmd
from perpspec.engine.serve.conns import client_of
from perpspec.engine.serve.errors import ApiError
from perpspec.engine.serve.hub import PRIVATE_TABLES, PUBLIC_TABLES, SYMBOL_TABLES
from perpspec.engine.serve.keys import ApiKey, KeyStoreError, authenticate, require, session_key_refusal
from perpspec.engine.serve.units import decode_json, encode_json, iso_timestamp

log = logging.getLogger("perpspec.serve")

MAX_MESSAGE_BYTES: Final = 16 * 1024
MAX_OPS_PER_CONNECTION_SECOND: Final = 50  # WS flood: more ops than this in a second closes the connection
MAX_QUEUED_BYTES: Final = 2 * 1024 * 1024  # a client's unsent text beyond this: too slow (a 2,000-row L2 partial
# is ~0.25 MB; 64 stalled connections per IP hold at most 128 MB, and only until WRITE_DEADLINE_S)
WRITE_DEADLINE_S: Final = 10  # one message not written within this (a client that stopped reading): disconnected
IDLE_CLOSE_DEADLINE_S: Final = 1  # an idle session closed (timeout, or room made): its close handshake's wait
_SERIALS = itertools.count()


class Connection:
    """One client: its account (after auth), its topics and its outgoing queue."""

    def __init__(
        self, ws: web.WebSocketResponse, capacity: int, remote: str | None = None, byte_capacity: int = MAX_QUEUED_BYTES,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport  # aborted when a write misses its deadline (a close frame could not be sent)
        self.remote = remote
        self.account: int | None = None
        self.key: ApiKey | None = None
        self.topics: set[tuple[str, str]] = set()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=capacity)
        self.overflowed = False
        self.byte_capacity = byte_capacity
        self.queued_bytes = 0  # text queued and not yet written: bounded, not only the message count
        self.close_request: tuple[int, bytes] | None = None  # (code, reason) the server asked to close with
        self.wake: asyncio.Future[None] | None = None  # set by request_close: the connection's reader stops waiting
        self.serial = next(_SERIALS)  # order of arrival (the oldest idle session makes room first)
        self.evicted = False  # closed as idle (no subscription, no login): its close handshake is not waited for long

    def request_close(self, code: int, reason: bytes) -> None:
        """Ask the connection's own task to close it (``server.watch_keys``: its key refused), without waiting.

        Closed by its own task, a connection completes the closing handshake (the client's Close frame awaited, as
        RFC 6455 has it; aiohttp drops the TCP connection at once when another task closes a socket being read)."""
        if self.close_request is None:
            self.close_request = (code, reason)
            if self.wake is not None and not self.wake.done():
                self.wake.set_result(None)

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message (non-blocking); an overflow marks the client as too slow."""
        if self.overflowed:  # nothing more is sent to it: not even encoded
            return
        self.send_text(encode_json(message))

    def send_text(self, text: str) -> None:
        """Queue encoded text; more than ``capacity`` messages or ``byte_capacity`` bytes is an overflow."""
        if self.overflowed:
            return
        try:
            if self.queued_bytes + len(text) > self.byte_capacity:
                raise asyncio.QueueFull
            self.queue.put_nowait(text)
            self.queued_bytes += len(text)
        except asyncio.QueueFull:
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


async def _writer(conn: Connection) -> None:
    while True:
        text = await conn.queue.get()
        if text is None or conn.overflowed:
            _drop_queued(conn)
            await _within_deadline(conn, conn.ws.close(code=1008, message=b"too slow: outgoing queue full"))
            return
        conn.queued_bytes -= len(text)
        if not await _within_deadline(conn, conn.ws.send_str(text)):
            return


async def _within_deadline(conn: Connection, step: Awaitable[Any], deadline: float | None = None) -> bool:
    """True once ``step`` is done; False, the connection cut off, when its socket took more than ``deadline``
    (WRITE_DEADLINE_S by default)."""
    try:
        await asyncio.wait_for(step, WRITE_DEADLINE_S if deadline is None else deadline)
    except TimeoutError:  # the client stopped reading: nothing more is kept for it
        conn.overflowed = True
        _drop_queued(conn)
        if conn.transport is not None:
            conn.transport.abort()
        return False
    return True


async def _flushed(conn: Connection, writer: asyncio.Task[None]) -> None:
    """Wait until the writer has sent what is queued (or stopped)."""
    while not conn.queue.empty() and not writer.done():
        await asyncio.sleep(0.005)


def _drop_queued(conn: Connection) -> None:
    """Free the text queued for a client that is being disconnected."""
    while not conn.queue.empty():
        conn.queue.get_nowait()
    conn.queued_bytes = 0


async def realtime(request: web.Request) -> web.StreamResponse:
    """The ``/realtime`` endpoint."""
    from perpspec.engine.serve.pipeline import SERVER

    server = request.app[SERVER]
    connections = server.connections
    client = client_of(request.remote)
    if not _room_for(server, client):
        return web.json_response({"error": {"message": "Too many connections", "name": "HTTPError"}}, status=429)
    ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    conn = Connection(ws, server.config.ws_queue_messages, client, transport=request.transport)
    connections.add(conn)
    idle_check = asyncio.get_running_loop().call_later(server.config.ws_idle_timeout_s, _close_if_idle, conn)
    writer = asyncio.get_running_loop().create_task(_writer(conn))
    hub = server.gateway.hub
    hub.subscribers.append(conn)
    try:
        conn.send({"info": "Welcome to the BitMEX Realtime API.", "version": "perpspec",
                   "timestamp": iso_timestamp(server.gateway.now_ms()), "docs": "/api/explorer",
                   "limit": {"remaining": server.config.rate_limit_per_minute}})
        if request.headers.get("api-key"):
            _auth(server, conn, request.headers.get("api-key"), request.headers.get("api-expires"),
                  request.headers.get("api-signature"), None)
        query_topics = request.query.get("subscribe", "")
        if query_topics:
            _subscribe(server, conn, query_topics.split(",")[:100], None)
        second, ops = 0, 0
        while True:
            message = await _receive(conn)
            if message is None:  # the server asked (request_close): closed from here, the handshake completed
                code, reason = conn.close_request or (1000, b"")
                await _within_deadline(conn, _flushed(conn, writer))  # answers queued before it (a 403) go first
                # an idle session closed to make room or by its timeout: its descriptor is not held for long
                await _within_deadline(conn, ws.close(code=code, message=reason),
                                       IDLE_CLOSE_DEADLINE_S if conn.evicted else None)
                break
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):  # as `async for` ends
                break
            if message.type != WSMsgType.TEXT:
                if message.type == WSMsgType.BINARY:
                    conn.send({"status": 400, "error": "Binary messages are not supported"})
                continue
            now = server.gateway.now_ms() // 1000
            ops = ops + 1 if now == second else 1
            second = now
            if ops > MAX_OPS_PER_CONNECTION_SECOND:
                conn.send({"status": 429, "error": "Rate limit exceeded: too many messages"})
                await ws.close(code=1008, message=b"rate limit")
                break
            _on_text(server, conn, message.data)
            if conn.overflowed:
                break
    except Exception:
        log.exception("websocket error")
    finally:
        idle_check.cancel()
        with contextlib.suppress(ValueError):
            hub.subscribers.remove(conn)
        connections.discard(conn)
        with contextlib.suppress(asyncio.QueueFull):
            conn.queue.put_nowait(None)
        if not writer.done():
            writer.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await writer
        if not ws.closed:
            await ws.close()
    return ws


def _idle(conn: Connection) -> bool:
    """Neither subscribed nor authenticated (nor already being closed): a session that holds a slot for nothing."""
    return not conn.topics and conn.key is None and conn.close_request is None


def _close_if_idle(conn: Connection) -> None:
    """``ws_idle_timeout_s`` after the connection opened: closed if it never subscribed nor authenticated."""
    if _idle(conn):
        conn.evicted = True
        conn.request_close(1008, b"no subscription or authentication in time")


def _room_for(server: Any, client: str) -> bool:
    """Whether a new session of ``client`` fits the caps (``max_ws_connections``, ``max_ws_connections_per_ip`` per
    client: every loopback address is one, conns.client_of), after closing, when a cap is reached, the oldest idle
    session (of the client, or anyone's for the total): an idle session never keeps a slot from a new one
    (redteam28_3).  Sessions being closed do not count."""
    config = server.config
    live = [conn for conn in server.connections if conn.close_request is None]
    for cap, holders in ((config.max_ws_connections_per_ip, [conn for conn in live if conn.remote == client]),
                         (config.max_ws_connections, live)):
        if len(holders) < cap:
            continue
        idle = [conn for conn in holders if _idle(conn)]
        if not idle:
            return False
        victim = min(idle, key=lambda conn: conn.serial)
        victim.evicted = True
        victim.request_close(1008, b"idle session closed to make room")
        if victim.transport is not None:  # at once: a close handshake its client may never answer would hold the
            victim.transport.abort()  # descriptor (and the TCP slot, conns.py) while the next sessions arrive
        live.remove(victim)
    return True


async def _receive(conn: Connection) -> WSMessage | None:
    """The connection's next message, or None once :meth:`Connection.request_close` asked for the close."""
    if conn.close_request is not None:
        return None
    wake: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    conn.wake = wake
    receiving: asyncio.Future[Any] = asyncio.ensure_future(conn.ws.receive())
    try:
        await asyncio.wait({receiving, wake}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not receiving.done():  # a close asked for (or this task cancelled): aiohttp keeps the unread frames
            receiving.cancel()
            await asyncio.wait({receiving})
    if receiving.cancelled():
        return None
    message: WSMessage = receiving.result()
    return message


def _on_text(server: Any, conn: Connection, text: str) -> None:
    if text == "ping":
        conn.send_text("pong")
        return
    try:
        request = decode_json(text.encode())
    except (ValueError, UnicodeError, RecursionError):
        conn.send({"status": 400, "error": "Unable to parse request: malformed JSON"})
        return
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        conn.send({"status": 400, "error": "Unknown or missing op", "request": request if isinstance(request, dict) else {}})
        return
    op = request["op"]
    args = request.get("args", [])
    if op in ("subscribe", "unsubscribe"):
        topics = args if isinstance(args, list) else [args]
        if len(topics) > server.config.max_ws_subscriptions:
            # each topic is answered with the whole request echoed: thousands of topics in one 16 KB message
            # would make the server encode and queue megabytes for it (a CPU and memory amplification)
            conn.send({"status": 400, "error": f"Too many topics in one request (at most "
                       f"{server.config.max_ws_subscriptions})", "request": {"op": op}})
            return
        if op == "subscribe":
            _subscribe(server, conn, topics, request)
        else:
            _unsubscribe(conn, topics, request)
    elif op in ("authKeyExpires", "authKey"):
        if not (isinstance(args, list) and len(args) == 3):
            conn.send({"success": False, "status": 400, "request": request})
            return
        _auth(server, conn, args[0], str(args[1]) if isinstance(args[1], int | str) else None, args[2], request)
    elif op == "cancelAllAfter":
        _cancel_all_after(server, conn, args, request)
    else:
        conn.send({"status": 400, "error": f"Unknown op {op[:32]!r}", "request": request})


def _auth(server: Any, conn: Connection, key_id: Any, expires: str | None, signature: Any, request: Any) -> None:
    try:
        server.keys.refresh()
        key = authenticate(
            server.keys, server.guard, verb="GET", target="/realtime", body=b"",
            key_id=key_id if isinstance(key_id, str) else None, expires=expires,
            signature=signature if isinstance(signature, str) else None,
            # REST's bound (expires at most a day ahead) but no replay check: a login is a GET (GET/realtime), the
            # same signature may open several connections (bitmex-ws signs int(now) + 3600: two clients of one key
            # in one second sign alike), and logins written into the guard REST's mutations share would let a
            # login flood fill it and lock every key out (review find)
            now_s=server.gateway.now_ms() // 1000, replay_check=False,
        )
        require(key, "read")
    except (ApiError, KeyStoreError) as error:
        # no "error" key: ccxt.pro then raises AuthenticationError instead of hanging (reference §7)
        conn.send({"success": False, "status": 401, "message": str(error), "request": request or {"op": "authKeyExpires"}})
        return
    conn.account = key.account
    conn.key = key
    conn.send({"success": True, "request": request or {"op": "authKeyExpires", "args": [key_id, expires, signature]}})


def _subscribe(server: Any, conn: Connection, topics: list[Any], request: Any) -> None:
    hub = server.gateway.hub
    for topic in topics:
        if not isinstance(topic, str) or len(topic) > 64:
            conn.send({"status": 400, "error": "Invalid subscription topic", "request": request or {}})
            continue
        table, _, symbol = topic.partition(":")
        if table not in PUBLIC_TABLES and table not in PRIVATE_TABLES:
            conn.send({"status": 400, "error": f"Unknown table: {table}", "request": request or {}})
            continue
        if table in PRIVATE_TABLES and conn.key is None:  # never logged in (a refused key: its reason, below)
            conn.send({"status": 401, "error": "You must be authenticated to subscribe to this table.",
                       "request": request or {}})
            continue
        if table in PRIVATE_TABLES and _refused_key(server, conn, "read", request or {}):
            continue
        if symbol and hub.instrument(symbol) is None:
            conn.send({"status": 400, "error": f"Unknown symbol: {symbol}", "request": request or {}})
            continue
        if table in SYMBOL_TABLES and not symbol:
            conn.send({"status": 400, "error": f"Table {table} needs a symbol ({table}:SYMBOL)", "request": request or {}})
            continue
        ack = {"success": True, "subscribe": topic, "request": request or {"op": "subscribe", "args": [topic]}}
        if (table, symbol) in conn.topics:  # a repeated topic: acknowledged, but its partial is never rebuilt
            conn.send({**ack, "alreadySubscribed": True})
            continue
        if len(conn.topics) >= server.config.max_ws_subscriptions:
            conn.send({"status": 400, "error": "Too many subscriptions", "request": request or {}})
            continue
        conn.topics.add((table, symbol))
        conn.send(ack)
        if not conn.overflowed:  # a client already cut off costs no partial
            conn.send(hub.partial(conn, table, symbol))


def _refused_key(server: Any, conn: Connection, permission: str, request: Any) -> bool:
    """True, and the refusal answered, unless the connection's key still allows ``permission`` (the store re-read
    first, as REST re-reads it for every request: :func:`keys.session_key_refusal`).

    A key revoked, changed, disabled or stripped of ``read`` also ends the connection's authentication at once (its
    account: not one more private row); ``server.watch_keys``, told by the store's re-read, closes the socket.  An op
    sent after that re-read (the ticker's, say) gets the same answer, its reason, not a bare 401: the connection keeps
    its key for this.  A connection that lost its account while the store was unusable stays refused (401) though
    its key is fine again: it is being closed (1013) and logs in again on a new one."""
    try:
        server.keys.refresh()
    except KeyStoreError as error:
        log.error("key store: %s", error)
        conn.send({"status": 503, "error": "Service unavailable", "request": request})
        return True
    if conn.key is None:
        conn.send({"status": 401, "error": "Not authenticated", "request": request})
        return True
    refusal = session_key_refusal(server.keys, conn.key, "read")
    if refusal is not None:
        conn.account = None  # already done by server.watch_keys when the re-read changed the store; kept as a guard
    else:
        refusal = session_key_refusal(server.keys, conn.key, permission)
    if refusal is None and conn.account is None:
        conn.send({"status": 401, "error": "Not authenticated", "request": request})
        return True
    if refusal is None:
        return False
    conn.send({"status": 403, "error": refusal, "request": request})
    return True


def _unsubscribe(conn: Connection, topics: list[Any], request: Any) -> None:
    for topic in topics:
        if isinstance(topic, str):
            table, _, symbol = topic.partition(":")
            conn.topics.discard((table, symbol))
            conn.send({"success": True, "unsubscribe": topic, "request": request})


def _cancel_all_after(server: Any, conn: Connection, args: Any, request: Any) -> None:
    timeout = args[0] if isinstance(args, list) and args else args
    if conn.key is None:  # never logged in (a key refused since: its reason, from _refused_key)
        conn.send({"status": 401, "error": "Not authenticated", "request": request})
        return
    if not (type(timeout) is int and 0 <= timeout <= 7 * 86_400_000):
        conn.send({"status": 400, "error": "timeout must be an integer of milliseconds", "request": request})
        return
    if _refused_key(server, conn, "trade", request):  # a key revoked since this connection authenticated must not trade
        return
    assert conn.key is not None  # _refused_key refuses a connection without a key
    assert conn.account is not None  # or without its account (dropped while the store was unusable)
    gateway = server.gateway
    now = gateway.now_ms()
    verdict = server.key_limiter.take(conn.key.key_id, now)  # the same budget as REST's POST /order/cancelAllAfter
    if not verdict.allowed:
        conn.send({"status": 429, "error": f"Rate limit exceeded, retry in {verdict.retry_after_s} seconds.",
                   "request": request})
        return
    gateway.execute(cmd.CancelAllAfter(time_ms=now, account=conn.account, timeout_ms=timeout))
    conn.send({"now": iso_timestamp(now), "cancelTime": iso_timestamp(now + timeout) if timeout else None,
               "request": request})
