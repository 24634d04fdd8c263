"""ccxt.pro 4.5.83 watching ``/realtime``: order book, orders, positions, balance, my trades."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

from perpspec.engine.serve.keys import ApiKey  # noqa: E402
from perpspec.engine.serve.server import Running  # noqa: E402
from tests.serve_helpers import ccxt_client, iterate, start_server  # noqa: E402

LIN = "BTC/USDT:USDT"
TIMEOUT = 15


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, ApiKey]]]:
    running, keys = start_server(Path(tmp_path_factory.mktemp("serve-ws")))
    for _ in iterate(running):
        yield running, keys


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def test_watch_order_book_sees_partial_then_updates(served: tuple[Running, dict[str, ApiKey]]) -> None:
    import ccxt.pro

    running, keys = served
    maker = ccxt_client(running, keys["two"])

    async def session() -> tuple[list[Any], list[Any]]:
        watcher = ccxt_client(running, None, flavour=ccxt.pro.bitmex)
        try:
            await watcher.load_markets()
            first = await asyncio.wait_for(watcher.watch_order_book(LIN), TIMEOUT)
            before = [list(level[:2]) for level in first["asks"]]
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: maker.create_order(LIN, "limit", "sell", 1000, 61000)
            )

            def asks() -> list[list[float]]:  # the client's book: every message it read is applied there
                return [list(level[:2]) for level in watcher.orderbooks[LIN]["asks"]]

            await until(lambda: [61000.0, 1000.0] in asks())
            return before, asks()
        finally:
            await watcher.close()

    before, after = run(session())
    assert [61000.0, 1000.0] not in before
    assert [61000.0, 1000.0] in after


async def until(condition: Any, seconds: float = TIMEOUT) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def subscribed(running: Running, account: int | None, topics: set[tuple[str, str]]) -> None:
    """Wait until the server holds these subscriptions (each partial is queued with its ack), then a moment."""

    def holds() -> bool:
        return any(conn.account == account and topics <= conn.topics for conn in list(running.server.connections))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not await loop.run_in_executor(None, running.call, holds):
        assert loop.time() < deadline, "the subscriptions never reached the server"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the client reads its partials


def test_watch_orders_positions_balance_and_my_trades_follow_a_fill(served: tuple[Running, dict[str, ApiKey]]) -> None:
    import ccxt.pro

    running, keys = served
    taker = ccxt_client(running, keys["one"])
    taker.load_markets()

    async def session() -> dict[str, Any]:
        watcher = ccxt_client(running, keys["two"], flavour=ccxt.pro.bitmex)
        seen: dict[str, Any] = {}
        try:
            await watcher.load_markets()
            tasks = [asyncio.ensure_future(watch) for watch in (
                watcher.watch_orders(LIN), watcher.watch_positions([LIN]), watcher.watch_balance(),
                watcher.watch_my_trades(LIN))]
            await subscribed(running, 2, {("order", ""), ("position", ""), ("margin", ""), ("execution", "")})
            loop = asyncio.get_running_loop()
            order = await loop.run_in_executor(None, lambda: taker.create_order(LIN, "limit", "buy", 3000, 49000))
            sold = await loop.run_in_executor(None, lambda: ccxt_client(running, keys["two"]).create_order(
                LIN, "market", "sell", 3000))
            # every message the client read is in its caches, whether or not a watch was waiting for it
            await until(lambda: watcher.orders is not None and sold["id"] in [o["id"] for o in watcher.orders]
                        and [o for o in watcher.orders if o["id"] == sold["id"]][-1]["status"] == "closed")
            await until(lambda: watcher.myTrades is not None and len(watcher.myTrades) > 0)
            await until(lambda: watcher.positions is not None and len(watcher.positions) > 0)
            seen["orders"] = [o for o in watcher.orders if o["id"] == sold["id"]]
            seen["positions"] = [p for p in watcher.positions if p["symbol"] == LIN]
            seen["balance"] = watcher.balance
            seen["trades"] = list(watcher.myTrades)
            seen["order_id"] = order["id"]
            for task in tasks:
                task.cancel()
        finally:
            await watcher.close()
        return seen

    seen = run(session())
    assert [(o["side"], o["amount"], o["filled"], o["status"]) for o in seen["orders"]][-1] == ("sell", 3000, 3000, "closed")
    position = seen["positions"][-1]
    assert (position["symbol"], position["side"], position["contracts"]) == (LIN, "short", 3000)
    assert seen["balance"]["USDT"]["total"] > 0
    assert [(t["side"], t["amount"], t["price"]) for t in seen["trades"]][-1] == ("sell", 3000, 49000.0)


def test_failed_ws_auth_is_an_authentication_error(served: tuple[Running, dict[str, ApiKey]]) -> None:
    import ccxt.pro

    running, keys = served

    async def session() -> None:
        watcher = ccxt_client(running, keys["one"], secret="wrong", flavour=ccxt.pro.bitmex)
        with contextlib.suppress(Exception):  # REST with the wrong secret fails too; the WS auth is tested
            await watcher.load_markets()
        try:
            watcher.markets = ccxt_client(running, keys["one"]).load_markets()
            await asyncio.wait_for(watcher.watch_balance(), TIMEOUT)
        finally:
            await watcher.close()

    with pytest.raises(ccxt.AuthenticationError):
        run(session())


def _collect(running: Running, path: str, sends: list[str], wanted: int, headers: dict[str, str] | None = None) -> list[Any]:
    """Connect with a plain aiohttp client, send ``sends``, return the first ``wanted`` JSON messages."""
    import aiohttp

    async def session() -> list[Any]:
        out: list[Any] = []
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url + path, headers=headers) as ws:
            for text in sends:
                await ws.send_str(text)
            while len(out) < wanted:
                message = await asyncio.wait_for(ws.receive(), TIMEOUT)
                if message.type != aiohttp.WSMsgType.TEXT:
                    out.append({"closed": message.type.name, "code": ws.close_code})
                    break
                out.append(message.data if message.data == "pong" else json.loads(message.data))
        return out

    return run(session())


def test_subscribe_by_query_string_and_header_auth_like_bitmex_ws(served: tuple[Running, dict[str, ApiKey]]) -> None:
    from perpspec.engine.serve.keys import sign

    running, keys = served
    key = keys["one"]
    expires = str(int(time.time()) + 3600)
    headers = {"api-key": key.key_id, "api-expires": expires,
               "api-signature": sign(key.secret, "GET", "/realtime", expires, b"")}
    messages = _collect(running, "?subscribe=instrument:XBTUSD,orderBookL2_25:XBTUSD,position,margin", [], 10, headers)
    partials = {m["table"]: m for m in messages if m.get("action") == "partial"}
    assert set(partials) == {"instrument", "orderBookL2_25", "position", "margin"}
    assert partials["orderBookL2_25"]["filter"] == {"symbol": "XBTUSD"}
    assert partials["margin"]["filter"] == {"account": 1}
    assert {row["currency"] for row in partials["margin"]["data"]} == {"XBt", "USDt"}
    assert partials["instrument"]["data"][0]["markPrice"] == 50000


def test_ws_refuses_bad_input_with_bitmex_errors(served: tuple[Running, dict[str, ApiKey]]) -> None:
    running, _ = served
    messages = _collect(running, "", ["{not json", '{"op": "explode"}', '{"op": "subscribe", "args": ["order"]}',
                                      '{"op": "subscribe", "args": ["nosuchtable"]}', "ping"], 6)
    assert messages[0]["info"].startswith("Welcome")
    assert [m if isinstance(m, str) else m["status"] for m in messages[1:]] == [400, 400, 401, 400, "pong"]


def test_ws_flood_closes_that_connection_only(served: tuple[Running, dict[str, ApiKey]]) -> None:
    from tests.serve_helpers import raw_request

    running, _ = served
    messages = _collect(running, "", ["ping"] * 200, 300)
    assert messages[-1]["closed"] in ("CLOSE", "CLOSED", "CLOSING")
    assert raw_request(running, "GET", "/api/v1/instrument?symbol=XBTUSD")[0] == 200


def test_watch_ticker_and_trades_follow_a_price_update_and_a_trade(served: tuple[Running, dict[str, ApiKey]]) -> None:
    import ccxt.pro

    running, keys = served
    taker, maker = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])

    async def session() -> tuple[Any, Any]:
        watcher = ccxt_client(running, None, flavour=ccxt.pro.bitmex)
        try:
            await watcher.load_markets()
            tasks = [asyncio.ensure_future(watcher.watch_ticker(LIN)), asyncio.ensure_future(watcher.watch_trades(LIN))]
            await subscribed(running, None, {("instrument", "XBTUSDT"), ("trade", "XBTUSDT")})
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, running.call, running.server.gateway.set_price, "XBTUSDT", 5_010_000)
            await loop.run_in_executor(None, lambda: maker.create_order(LIN, "limit", "sell", 1000, 50100))
            await loop.run_in_executor(None, lambda: taker.create_order(LIN, "market", "buy", 1000))
            # the caches hold every message read, whether or not a watch was waiting for it
            await until(lambda: watcher.tickers.get(LIN, {}).get("markPrice") == 50100.0)
            await until(lambda: LIN in watcher.trades and any(t["price"] == 50100.0 for t in watcher.trades[LIN]))
            for task in tasks:
                task.cancel()
            return watcher.tickers[LIN], list(watcher.trades[LIN])
        finally:
            await watcher.close()

    ticker, trades = run(session())
    assert ticker["markPrice"] == 50100.0
    assert [(t["side"], t["amount"], t["price"]) for t in trades][-1] == ("buy", 1000, 50100.0)


def test_auth_key_expires_then_cancel_all_after_over_websocket(served: tuple[Running, dict[str, ApiKey]]) -> None:
    from perpspec.engine.serve.keys import sign

    running, keys = served
    key = keys["one"]
    expires = int(time.time() * 1000) + 60_000  # ccxt.pro sends milliseconds
    auth = {"op": "authKeyExpires", "args": [key.key_id, expires, sign(key.secret, "GET", "/realtime", str(expires), b"")]}
    messages = _collect(running, "", [json.dumps(auth), json.dumps({"op": "cancelAllAfter", "args": 60_000}),
                                      json.dumps({"op": "cancelAllAfter", "args": 0})], 4)
    assert messages[1]["success"] is True
    assert messages[2]["cancelTime"] is not None
    assert messages[3]["cancelTime"] is None


def test_a_slow_client_is_cut_off_when_its_queue_overflows() -> None:
    from perpspec.engine.serve.ws import Connection, _writer

    class FakeSocket:
        def __init__(self) -> None:
            self.sent: list[str] = []
            self.closed_with: int | None = None

        async def send_str(self, text: str) -> None:
            self.sent.append(text)

        async def close(self, code: int, message: bytes) -> None:
            self.closed_with = code

    async def session() -> tuple[bool, int | None, int]:
        socket = FakeSocket()
        conn = Connection(socket, 3)  # type: ignore[arg-type]
        for number in range(10):  # the writer has not run: the client "reads" nothing
            conn.send({"n": number})
        await asyncio.wait_for(_writer(conn), TIMEOUT)
        return conn.overflowed, socket.closed_with, len(socket.sent)

    overflowed, code, delivered = run(session())
    assert (overflowed, code) == (True, 1008)
    assert delivered == 0  # nothing more is sent to a client that fell behind


def test_a_slow_client_is_cut_off_by_the_bytes_it_has_queued_not_only_the_message_count() -> None:
    # a subscribe storm of large partials (a deep book) fills memory long before 10,000 messages
    from perpspec.engine.serve.ws import Connection, _writer

    class StuckSocket:
        closed_with: int | None = None

        async def send_str(self, text: str) -> None:
            raise AssertionError("nothing is sent to a client that fell behind")

        async def close(self, code: int, message: bytes) -> None:
            self.closed_with = code

    async def session() -> tuple[bool, int | None, int]:
        socket = StuckSocket()
        conn = Connection(socket, 10_000, byte_capacity=10_000)  # type: ignore[arg-type]
        for _ in range(100):  # 100 partials of ~1 kB each, never read
            conn.send({"table": "orderBookL2", "action": "partial", "data": "x" * 1000})
            assert conn.queued_bytes <= 10_000
        await asyncio.wait_for(_writer(conn), TIMEOUT)
        return conn.overflowed, socket.closed_with, conn.queue.qsize()

    overflowed, code, left = run(session())
    assert (overflowed, code) == (True, 1008)
    assert left < 11


def test_connections_per_ip_are_limited(tmp_path: Path) -> None:
    import aiohttp

    running, _ = start_server(tmp_path, max_ws_connections_per_ip=2)

    async def session() -> list[int]:
        statuses = []
        async with aiohttp.ClientSession() as http:
            sockets = []
            for _ in range(3):
                try:
                    socket = await http.ws_connect(running.ws_url)
                    statuses.append(101)
                except aiohttp.WSServerHandshakeError as error:
                    statuses.append(error.status)
                    continue
                sockets.append(socket)
                # a session that subscribed keeps its slot (an idle one would make room: test_s20_serve_ws_caps)
                await socket.send_str(json.dumps({"op": "subscribe", "args": ["instrument:XBTUSD"]}))
                while (await socket.receive_json(timeout=TIMEOUT)).get("table") != "instrument":
                    pass
            for socket in sockets:
                await socket.close()
        return statuses

    try:
        assert run(session()) == [101, 101, 429]
    finally:
        running.stop()


def test_order_book_l2_partial_insert_update_delete_keep_one_id_per_price(tmp_path: Path) -> None:
    import aiohttp

    running, keys = start_server(tmp_path)
    maker, taker = ccxt_client(running, keys["two"]), ccxt_client(running, keys["one"])
    inv = "BTC/USD:BTC"

    async def session() -> list[Any]:
        out: list[Any] = []
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await ws.send_str(json.dumps({"op": "subscribe", "args": ["orderBookL2:XBTUSD"]}))
            loop = asyncio.get_running_loop()
            steps = [
                lambda: maker.create_order(inv, "limit", "sell", 100, 50100, {"clOrdID": "a"}),
                lambda: maker.create_order(inv, "limit", "sell", 200, 50100, {"clOrdID": "b"}),
                lambda: taker.create_order(inv, "market", "buy", 200),
                lambda: maker.cancel_all_orders(inv),
            ]
            for step in steps:
                await loop.run_in_executor(None, step)
            while True:
                try:
                    message = await asyncio.wait_for(ws.receive(), 1)
                except TimeoutError:
                    return out
                data = json.loads(message.data)
                if data.get("table") == "orderBookL2":
                    out.append(data)

    try:
        messages = run(session())
    finally:
        running.stop()
    assert [m["action"] for m in messages] == ["partial", "insert", "update", "update", "delete"]
    assert messages[0]["data"] == []
    rows = [m["data"][0] for m in messages[1:]]
    assert [(r["side"], r["price"], r.get("size")) for r in rows] == [
        ("Sell", 50100, 100), ("Sell", 50100, 300), ("Sell", 50100, 100), ("Sell", 50100, None)]
    assert len({r["id"] for r in rows}) == 1


def test_ws_auth_with_non_ascii_digits_in_expires_is_a_401_and_the_connection_stays(
    served: tuple[Running, dict[str, ApiKey]]
) -> None:
    running, keys = served
    auth = {"op": "authKeyExpires", "args": [keys["one"].key_id, "\u00b2", "0" * 64]}  # '²'.isdigit(), int('²') fails
    messages = _collect(running, "", [json.dumps(auth), "ping"], 3)
    assert (messages[1]["success"], messages[1]["status"]) == (False, 401)
    assert messages[2] == "pong"


async def _authenticate_then_revoke(running: Running, key: ApiKey, then: Any) -> Any:
    """Open /realtime, authenticate with ``key``, revoke it as `perpspec keys revoke` does, then ``then(ws)``."""
    import aiohttp

    from perpspec.engine.serve.keys import KeyStore, sign

    def revoke() -> None:  # another process's view of the store file
        other = KeyStore(running.server.keys.path)
        other.load()
        assert other.revoke(key.key_id)
        other.save()

    expires = int(time.time()) + 600
    auth = {"op": "authKeyExpires", "args": [key.key_id, expires, sign(key.secret, "GET", "/realtime", str(expires), b"")]}
    async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
        await ws.receive()  # welcome
        await ws.send_str(json.dumps(auth))
        assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["success"] is True
        await asyncio.get_running_loop().run_in_executor(None, revoke)
        return await then(ws)


def test_a_key_revoked_after_ws_auth_can_no_longer_arm_cancel_all_after(
    served: tuple[Running, dict[str, ApiKey]]
) -> None:
    running, _ = served
    store = running.server.keys
    key = running.call(lambda: store.create(1, ["read", "trade"]))
    running.call(store.save)

    async def arm(ws: Any) -> Any:
        await ws.send_str(json.dumps({"op": "cancelAllAfter", "args": 60_000}))
        return json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)

    before = running.call(lambda: dict(running.server.gateway.views.deadlines))
    answer = run(_authenticate_then_revoke(running, key, arm))
    assert answer["status"] == 403
    assert running.call(lambda: dict(running.server.gateway.views.deadlines)) == before


def test_a_revoked_key_s_open_websocket_is_closed_by_the_ticker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aiohttp

    from perpspec.engine.serve import server as server_module

    monkeypatch.setattr(server_module, "PRUNE_EVERY", 1)  # the ticker's housekeeping on every beat
    running, keys = start_server(tmp_path)

    async def closed(ws: Any) -> Any:
        while True:
            message = await asyncio.wait_for(ws.receive(), TIMEOUT)
            if message.type != aiohttp.WSMsgType.TEXT:
                return ws.close_code

    try:
        assert run(_authenticate_then_revoke(running, keys["one"], closed)) == 1008
    finally:
        running.stop()
