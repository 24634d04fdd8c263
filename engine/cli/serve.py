"""``perpspec serve``: a BitMEX-compatible REST + WebSocket exchange over the durable engine.

With no arguments: the shipped instruments, a store in ``./perpspec-store``
(journal, snapshots, ``keys.json``, ``admin.token``), a price feed that
replays the ``calm`` scenario's index path in real time (``--speed``), on
``http://127.0.0.1:8899`` (REST ``/api/v1``, WebSocket ``/realtime``,
Swagger ``/api/explorer/swagger.json``).  ``--demo`` verifies and funds
accounts 1 and 2 on first start.  Keys: ``perpspec keys create --account 1``.
Only loopback addresses are served.  Stop with Ctrl-C (the journal is closed
cleanly; a kill loses nothing acknowledged either).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from perpspec.engine.cli.main import UsageError

DEFAULT_STORE = "perpspec-store"
DEFAULT_PORT = 8899
LOOPBACK = ("127.0.0.1", "::1", "localhost")
DEMO_ACCOUNTS = (1, 2)
DEMO_XBT = 10 * 100_000_000  # 10 XBT in XBt
DEMO_USDT = 100_000 * 1_000_000  # 100,000 USDT in USDt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=DEFAULT_STORE, help=f"store directory (default ./{DEFAULT_STORE})")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--scenario", default="calm", help="scenario whose index path is the price feed (default calm)")
    parser.add_argument("--speed", type=int, default=1, help="price feed speed factor (default 1: real time)")
    parser.add_argument("--no-feed", action="store_true", help="no price feed (prices from POST /api/v1/admin/price)")
    parser.add_argument("--fsync", default="never", help="journal fsync policy: never | always | every:N (default never)")
    parser.add_argument("--rate-limit", type=int, default=120, help="requests per minute per API key (default 120)")
    parser.add_argument("--demo", action="store_true", help="verify and fund accounts 1 and 2 on first start")


def run(args: argparse.Namespace) -> int:
    if args.host not in LOOPBACK:
        raise UsageError(f"--host {args.host!r}: only loopback addresses are served ({', '.join(LOOPBACK)})")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    if args.speed < 1:
        raise UsageError("--speed must be a positive integer")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise UsageError("perpspec serve needs aiohttp: pip install 'perpspec[serve]'") from None
    from perpspec.engine.durability.journal import JournalError, SyncPolicy

    try:
        policy = SyncPolicy(group_records=1, fsync=args.fsync)
        policy.fsync_interval()
    except ValueError as error:
        raise UsageError(str(error)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return asyncio.run(_serve(args, policy))
    except JournalError as error:
        print(f"perpspec serve: {error}", file=sys.stderr)
        return 1


async def _serve(args: argparse.Namespace, policy: object) -> int:
    from aiohttp import web

    from perpspec.engine.serve.feed import PriceFeed
    from perpspec.engine.serve.rest import ServerConfig
    from perpspec.engine.serve.server import build_app, open_server

    server = open_server(args.store, ServerConfig(rate_limit_per_minute=args.rate_limit), policy=policy)
    gateway = server.gateway
    if args.demo:
        for account in DEMO_ACCOUNTS:
            if account not in gateway.exchange.account_ids():
                gateway.verify(account)
                gateway.deposit(account, "XBt", DEMO_XBT)
                gateway.deposit(account, "USDt", DEMO_USDT)
    runner = web.AppRunner(build_app(server), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    for address in runner.addresses[:1]:  # the bound port, also when --port 0
        host, port = address[0], address[1]
        print(f"perpspec serve: http://{host}:{port}/api/v1  ws://{host}:{port}/realtime  store {args.store}", flush=True)
    feed_task = None
    if not args.no_feed:
        feed_task = asyncio.create_task(PriceFeed(gateway, args.scenario, args.speed).run())
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
    print(f"perpspec serve: stopped after {gateway.commands} commands; state hash {gateway.exchange.state_hash()}")
    return 0
