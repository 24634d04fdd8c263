"""The aiohttp application and how to run it: in the foreground (``perpspec serve``) or in a thread (tests).

Only loopback addresses are served unless the operator names another host
explicitly; the store directory holds the journal, snapshots, the key store
(``keys.json``, mode 0600), the admin token (``admin.token``, mode 0600)
and the replay guard (``replay.guard``: the signed mutations already accepted and not yet expired).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import Sequence
from typing import Any

import attrs
from aiohttp import web

from perpspec.engine.durability.journal import SyncPolicy
from perpspec.engine.serve.feed import PriceFeed
from perpspec.engine.serve.gateway import Gateway
from perpspec.engine.serve.keys import KeyStore, KeyStoreError, ReplayGuard, keys_path, session_key_refusal
from perpspec.engine.serve.makers import MarketMaker
from perpspec.engine.serve.pipeline import SERVER, Server, add_routes, json_response
from perpspec.engine.serve.rest import ServerConfig
from perpspec.engine.serve.swagger import swagger_spec
from perpspec.engine.serve.ws import realtime

DEMO_XBT = 10 * 100_000_000  # 10 XBT in XBt
DEMO_USDT = 100_000 * 1_000_000  # 100,000 USDT in USDt
TICK_SECONDS = 0.1  # how often the key store's stat and the dead man's switches are checked
PRUNE_EVERY = 100  # ticks between two prunings of the replay guard
SWEEP_EVERY = 10  # ticks between two sweeps of the idle connections
LINGER_S = 1.0  # the unread rest of a refused body (413, 408) is drained this long before the close (aiohttp: 10 s)
TICKER: web.AppKey[asyncio.Task[None]] = web.AppKey("ticker")
log = logging.getLogger("perpspec.serve")
ADMIN_TOKEN_NAME = "admin.token"
GUARD_NAME = "replay.guard"  # the signatures already accepted (a restart must not accept them again)


def url_authority(host: str, port: int) -> str:
    """``host:port`` as a URL writes it: an IPv6 literal in brackets (RFC 3986), or no client parses the address
    serve announces (redteam26_8: ``http://::1:8899`` does not parse)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def admin_token(store: str) -> str:
    """The store's admin token (created, mode 0600, on first use)."""
    path = os.path.join(store, ADMIN_TOKEN_NAME)
    if not os.path.exists(path):
        os.makedirs(store, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(32).encode())
        finally:
            os.close(fd)
    with open(path, encoding="ascii") as handle:
        return handle.read().strip()


def build_app(server: Server) -> web.Application:
    """The whole HTTP + WebSocket application over one :class:`Server`."""
    conns = server.conns

    @web.middleware
    async def busy(request: web.Request, handler: Any) -> web.StreamResponse:
        """A connection with a request in progress (a WebSocket: its whole life) is not idle (conns.py)."""
        conns.begin(request.protocol)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            conns.end(request.protocol)

    app = web.Application(client_max_size=server.config.max_body_bytes, middlewares=[busy])
    app[SERVER] = server
    app.router.add_get("/realtime", realtime)

    async def swagger(request: web.Request) -> web.StreamResponse:
        return json_response(swagger_spec(request.host))

    app.router.add_get("/api/explorer/swagger.json", swagger)
    add_routes(app)

    async def close_sockets(_app: web.Application) -> None:
        for conn in list(server.connections):
            await conn.ws.close(code=1001, message=b"server shutdown")

    app.on_shutdown.append(close_sockets)

    watch_keys(server)

    async def ticker() -> None:
        """Re-read a changed key store and fire dead man's switches on time even when no request arrives (until the
        app stops).  Neither step stops the ticker: a failure is logged and the next beat tries again."""
        beats = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            beats += 1
            try:  # first: a switch firing on this beat publishes no private row to a session the store now refuses
                check_keys(server)
            except Exception:
                log.exception("key check failed")
            try:
                server.gateway.tick_if_due()
                if beats % PRUNE_EVERY == 0:  # expired signatures can never be replayed: forget them
                    server.guard.prune(server.gateway.now_ms() // 1000)
                if beats % SWEEP_EVERY == 0:  # idle connections past their timeout (conns.py)
                    server.conns.sweep()
            except Exception:  # logged; the ticker keeps running
                log.exception("clock tick failed")

    async def start_ticker(app: web.Application) -> None:
        app[TICKER] = asyncio.get_running_loop().create_task(ticker())

    async def stop_ticker(app: web.Application) -> None:
        app[TICKER].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app[TICKER]

    app.on_startup.append(start_ticker)
    app.on_cleanup.append(stop_ticker)
    return app


async def start_site(server: Server, host: str, port: int) -> web.AppRunner:
    """Set up the app's runner and listen on ``host:port``; every connection it accepts is bounded (conns.py)."""
    runner = web.AppRunner(build_app(server), access_log=None, keepalive_timeout=server.config.http_idle_timeout_s,
                           lingering_time=LINGER_S)
    await runner.setup()
    assert runner.server is not None  # set up
    server.conns.install(runner.server)
    await web.TCPSite(runner, host, port).start()
    return runner


def check_keys(server: Server) -> None:
    """The ticker's beat, and the hub's check before private rows: re-read the key store if its file changed (one
    ``stat`` when it did not), so a key revoked or edited on disk reaches the open sessions within one beat even when
    no request re-reads the store first, and before any command's private rows.

    The sessions themselves are dealt with by :func:`watch_keys`, called by the store itself on the change; an
    unusable store was reported there once, and is not an error of the ticker's (REST answers it with 503)."""
    with contextlib.suppress(KeyStoreError):
        server.keys.refresh()


def watch_keys(server: Server) -> None:
    """Make every change of the key store, whoever re-read it (a REST request, a WebSocket op, the ticker, the hub),
    reach the open realtime sessions before the call that read it returns; and make the hub re-read it (if it changed:
    one ``stat``, :func:`check_keys`) before it publishes the private rows of any command, a request's or not (the
    price feed's, a funding tick's, an admin route's, a dead man's switch's).  Hence a change on disk reaches the
    sessions before the next private row is published (review12_2).

    A session whose key was revoked (``perpspec keys revoke``), disabled, changed (another secret or account under its
    id) or stripped of ``read`` since it authenticated loses its account at once and is closed (1008): REST refuses
    such a key at its next request, a session must not outlive it (session 15, redteam11_1, review10_2).

    While the store is unusable (unreadable, malformed, readable by others) no key can be checked: REST answers every
    signed request 503, and every authenticated session loses its account and is closed with 1013 (try again later).
    A demanding operator wants the private stream to fail closed, as REST does, and not to go quiet: rows withheld
    from an open session would leave its client's orders and positions silently stale, while a closed one reconnects,
    logs in again once the store is fixed and starts from fresh partials.  Public sessions are untouched; the failure
    is logged once per episode (and its end)."""
    failing = False

    def on_change() -> None:
        nonlocal failing
        store = server.keys
        if store.error is not None and not failing:
            log.error("key store: %s (authenticated realtime sessions closed until it is usable)", store.error)
        elif store.error is None and failing:
            log.warning("key store: %s is usable again", store.path)
        failing = store.error is not None
        for conn in list(server.connections):
            if conn.key is None:
                continue
            if failing:
                close = (1013, b"key store unavailable")
            elif session_key_refusal(store, conn.key, "read") is not None:
                close = (1008, b"api key revoked or disabled")
            else:
                continue
            conn.account = None  # not one more private row, even before the close completes (the key kept: an op
            # sent meanwhile is refused with its reason, ws._refused_key)
            conn.request_close(*close)  # by its own task: the store's reader never waits on a client

    server.keys.watch(on_change)
    server.gateway.hub.check_keys = lambda: check_keys(server)


@attrs.define
class Running:
    """A server running in a background thread (tests, benchmarks)."""

    server: Server
    port: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/realtime"

    def call(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` on the server's loop (the sequencer's thread) and return its result."""

        async def run() -> Any:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def stop(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
        future.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.server.gateway.close()
        self.server.guard.close()


def start_in_thread(server: Server, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Start the app on ``host:port`` (0: an ephemeral port) in a daemon thread; returns once listening."""
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            runner = await start_site(server, host, port)
            ready["runner"] = runner
            ready["port"] = runner.addresses[0][1]

        try:
            loop.run_until_complete(start())
        except BaseException as error:  # reported to the starting thread
            ready["error"] = error
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=main, name="perpspec-serve", daemon=True)
    thread.start()
    if not started.wait(timeout=30) or "error" in ready:
        raise RuntimeError(f"server did not start: {ready.get('error')!r}")
    return Running(server=server, port=ready["port"], loop=loop, thread=thread, runner=ready["runner"])


def open_server(store: str, config: ServerConfig | None = None, **gateway_options: Any) -> Server:
    """A :class:`Server` over the store in ``store`` (gateway, keys, admin token, replay guard)."""
    gateway = Gateway.open(store, **gateway_options)
    for problem in gateway.recovery.problems if gateway.recovery is not None else ():
        log.warning("store %s: recovery: %s", store, problem)  # a rules-unknown store is never opened silently
    policy = gateway_options.get("policy")
    guard = ReplayGuard.open(os.path.join(store, GUARD_NAME), gateway.now_ms() // 1000,
                             fsync=policy is not None and policy.fsync == "always")  # as durable as each command
    keys = KeyStore(keys_path(store))
    keys.load()
    config = config or ServerConfig()
    if not config.admin_token:
        config.admin_token = admin_token(store)
    return Server(gateway=gateway, keys=keys, config=config, guard=guard)


async def serve_until_stopped(
    store: str,
    host: str,
    port: int,
    *,
    policy: SyncPolicy,
    rate_limit: int,
    demo: Sequence[int] = (),
    scenario: str | None = "calm",
    speed: int = 1,
    makers: bool = False,
) -> int:
    """``perpspec serve``: listen until SIGINT/SIGTERM, then close the journal cleanly."""
    server = open_server(store, ServerConfig(rate_limit_per_minute=rate_limit), policy=policy)
    gateway = server.gateway
    for account in demo:  # first start only: verified and funded demo accounts
        if account not in gateway.exchange.account_ids():
            gateway.verify(account)
            gateway.deposit(account, "XBt", DEMO_XBT)
            gateway.deposit(account, "USDt", DEMO_USDT)
    runner = await start_site(server, host, port)
    for address in runner.addresses[:1]:  # the bound port, also with port 0
        bound_host, bound_port = address[0], address[1]
        authority = url_authority(bound_host, bound_port)
        print(f"perpspec serve: http://{authority}/api/v1  ws://{authority}/realtime  store {store}", flush=True)
    feed_task = None
    if scenario is not None:
        maker = MarketMaker(gateway) if makers else None
        if maker is not None:
            maker.ensure_account()
        feed_task = asyncio.create_task(PriceFeed(gateway, scenario, speed, maker).run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    if feed_task is not None:
        feed_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed_task
    await runner.cleanup()
    gateway.close()
    server.guard.close()
    print(f"perpspec serve: stopped after {gateway.commands} commands; state hash {gateway.exchange.state_hash()}")
    return 0
