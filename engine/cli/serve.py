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
import importlib.util
import logging
import sys

from perpspec.engine.cli.main import UsageError, whole_number

DEFAULT_STORE = "perpspec-store"
DEFAULT_PORT = 8899
LOOPBACK = ("127.0.0.1", "::1", "localhost")
DEMO_ACCOUNTS = (1, 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=DEFAULT_STORE, help=f"store directory (default ./{DEFAULT_STORE})")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=whole_number, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--scenario", default="calm", help="built-in scenario or scenario file (TOML; its price path may be a CSV) replayed as the price feed (default calm)")
    parser.add_argument("--speed", type=whole_number, default=1, help="price feed speed factor (default 1: real time)")
    parser.add_argument("--no-feed", action="store_true", help="no price feed (prices from POST /api/v1/admin/price) and so no funding: instrument rows announce no fundingTimestamp or indicativeFundingRate")
    parser.add_argument("--fsync", default="never", help="journal fsync policy: never | always | every:N (default never)")
    parser.add_argument("--rate-limit", type=whole_number, default=120, help="requests per minute per API key (default 120)")
    parser.add_argument("--demo", action="store_true", help="verify and fund accounts 1 and 2 on first start")
    parser.add_argument("--makers", action="store_true", help="account 0 quotes every contract around the mark")


def run(args: argparse.Namespace) -> int:
    if args.host not in LOOPBACK:
        raise UsageError(f"--host {args.host!r}: only loopback addresses are served ({', '.join(LOOPBACK)})")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    if args.speed < 1:
        raise UsageError("--speed must be a positive integer")
    if args.rate_limit < 1:
        raise UsageError("--rate-limit must be a positive integer (requests per minute per key)")
    if not args.no_feed:  # refused before the server listens, in one line
        from perpspec.engine.simulation.scenario import ScenarioError, load_scenario

        try:
            load_scenario(args.scenario)
        except ScenarioError as error:
            raise UsageError(f"--scenario {error}") from None
    if importlib.util.find_spec("aiohttp") is None:
        raise UsageError("perpspec serve needs aiohttp: pip install 'perpspec[serve]'")
    from perpspec.engine.durability.journal import JournalError, SyncPolicy

    try:
        policy = SyncPolicy(group_records=1, fsync=args.fsync)
        policy.fsync_interval()
    except ValueError as error:
        raise UsageError(str(error)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from perpspec.engine.serve.keys import KeyStoreError
    from perpspec.engine.serve.server import serve_until_stopped

    try:
        return asyncio.run(
            serve_until_stopped(
                args.store, args.host, args.port, policy=policy, rate_limit=args.rate_limit,
                demo=DEMO_ACCOUNTS if args.demo else (), scenario=None if args.no_feed else args.scenario,
                speed=args.speed, makers=args.makers,
            )
        )
    except (JournalError, KeyStoreError) as error:
        print(f"perpspec serve: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the store is a file, not writable, or the port is taken
        print(f"perpspec serve: {error.filename or args.store}: {error.strerror or error}", file=sys.stderr)
        return 1
