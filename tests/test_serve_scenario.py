"""Clients trade through a crash: the liquidations they see over WebSocket are the engine's, and the
state after the session is ``perpspec replay`` of the server's journal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")
aiohttp = pytest.importorskip("aiohttp")

from perpspec.engine.core.events import RuleEvent  # noqa: E402
from perpspec.engine.durability.recovery import JOURNAL_NAME, command_codec, recover  # noqa: E402
from tests.serve_helpers import ccxt_client, start_server  # noqa: E402

LIN = "BTC/USDT:USDT"


def test_liquidations_seen_over_websocket_equal_the_engine_log_and_replay(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    maker, longer, shorter = (ccxt_client(running, keys[name]) for name in ("one", "two", "poor"))
    seen: list[Any] = []
    funds: list[Any] = []
    try:
        maker.load_markets()
        longer.load_markets()
        shorter.load_markets()
        longer.set_leverage(50, LIN)
        shorter.create_order(LIN, "limit", "sell", 20_000, 50000)
        longer.create_order(LIN, "market", "buy", 20_000)  # 50x long from 50,000
        maker.create_order(LIN, "limit", "buy", 5_000, 48500)  # a thin book under the market

        async def watch_crash() -> None:
            async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
                await ws.send_str(json.dumps({"op": "subscribe", "args": ["liquidation", "insurance"]}))
                for _ in range(5):  # welcome, two acks, two partials
                    await asyncio.wait_for(ws.receive(), 10)
                loop = asyncio.get_running_loop()
                for price in (4_950_000, 4_900_000, 4_850_000, 4_800_000):
                    await loop.run_in_executor(None, running.call, running.server.gateway.set_price, "XBTUSDT", price)
                await loop.run_in_executor(None, running.call, running.server.gateway.tick)
                while True:
                    try:
                        message = await asyncio.wait_for(ws.receive(), 1)
                    except TimeoutError:
                        return
                    table = json.loads(message.data)
                    (seen if table["table"] == "liquidation" else funds).extend(table["data"])

        asyncio.run(watch_crash())
        live_hash = running.call(running.server.gateway.exchange.state_hash)
    finally:
        running.stop()
    logged: list[RuleEvent] = []

    def keep(events: Any) -> None:
        logged.extend(e for e in events if isinstance(e, RuleEvent) and e.kind in ("Liquidation", "PartialLiquidation", "AdlFill"))

    engine, _, _ = recover(str(tmp_path / JOURNAL_NAME), command_codec(), on_events=keep)
    assert logged, "the crash liquidated nobody: the scenario tests nothing"
    # the public table names no account (who was liquidated or deleveraged is theirs to know); the
    # orderID carries the event's sequence number, so each row is still matched to its engine event
    assert all("account" not in row for row in seen)
    assert [(row["kind"], int(row["orderID"][:8], 16), row["ruleID"]) for row in seen] == [
        (e.kind, e.seq, e.rule_id) for e in logged
        if e.kind != "PartialLiquidation" or e.record.filled
    ]
    assert funds, "the insurance fund moved and nobody was told"
    assert funds[-1]["walletBalance"] == engine.insurance(funds[-1]["currency"])
    assert engine.state_hash() == live_hash
    replayed = subprocess.run([sys.executable, "-m", "perpspec", "replay", str(tmp_path), "--json"],
                              capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(replayed.stdout)["state_hash"] == live_hash


def test_a_restart_shows_the_same_orders_executions_and_positions(tmp_path: Path) -> None:
    from tests.serve_helpers import raw_request

    paths = ("/api/v1/order?count=1000", "/api/v1/execution/tradeHistory?count=1000", "/api/v1/position",
             "/api/v1/user/margin?currency=all", "/api/v1/trade?symbol=XBTUSDT&count=1000")
    running, keys = start_server(tmp_path)
    try:
        one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
        two.create_order(LIN, "limit", "sell", 5000, 50000)
        one.create_order(LIN, "market", "buy", 3000)
        resting = one.create_order(LIN, "limit", "buy", 1000, 49000, {"clOrdID": "keep-me"})
        one.cancel_order(one.create_order(LIN, "limit", "buy", 1000, 48000)["id"], LIN)
        before = [raw_request(running, "GET", path, key=keys["one"])[1] for path in paths]
    finally:
        running.stop()
    from perpspec.engine.serve.rest import ServerConfig
    from perpspec.engine.serve.server import open_server, start_in_thread

    again = start_in_thread(open_server(str(tmp_path), ServerConfig(rate_limit_per_minute=10**6)))
    try:
        after = [raw_request(again, "GET", path, key=keys["one"])[1] for path in paths]
    finally:
        again.stop()

    def without_now(rows: Any) -> Any:
        """Position and margin rows are stamped with the time of the request; every other time is an event's."""
        return [{k: v for k, v in row.items() if k != "timestamp" or "orderID" in row or "trdMatchID" in row}
                for row in (rows if isinstance(rows, list) else [rows])]

    assert [without_now(rows) for rows in after] == [without_now(rows) for rows in before]
    assert resting["id"] in [row["orderID"] for row in after[0] if row["ordStatus"] == "New"]
