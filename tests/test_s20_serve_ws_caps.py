"""The WebSocket caps hold on a loopback server, and an idle session keeps no slot (redteam28_3).

``max_ws_connections_per_ip`` was charged per source address, and any local process may send from every address
of 127.0.0.0/8: 16 addresses × 64 sessions took all 1,024 slots, and a session that never subscribed or logged in
was kept forever.  Now every loopback address is one client, a session that has neither subscribed nor
authenticated within ``ws_idle_timeout_s`` is closed, and when a cap is reached the oldest such idle session makes
room for the new one, dropped at once (its client may never answer a close handshake, and the descriptor is what the
newcomer needs); a session that subscribed or logged in is never closed for it: then 429 as before.

Each test fails on 136ac3c.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.serve_helpers import start_server

TIMEOUT = 10


async def _connect(ws_url: str, source: str) -> tuple[aiohttp.ClientSession, Any]:
    """A session from ``source`` (its welcome read); (http session, ws) or (http session, status refused)."""
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0)))
    try:
        ws = await http.ws_connect(ws_url)
    except aiohttp.WSServerHandshakeError as error:
        return http, error.status
    await ws.receive_json(timeout=TIMEOUT)  # the welcome
    return http, ws


async def _subscribe(ws: Any) -> None:
    await ws.send_str(json.dumps({"op": "subscribe", "args": ["instrument:XBTUSD"]}))
    while True:
        message = await ws.receive_json(timeout=TIMEOUT)
        if message.get("table") == "instrument":  # the partial
            return


async def _closed_with(ws: Any, timeout: float = TIMEOUT) -> int | None:
    """The close code the server sent (1006: the connection dropped without one; None: still open after
    ``timeout``)."""
    try:
        while True:
            message = await ws.receive(timeout=timeout)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                code: int | None = ws.close_code
                return code
    except TimeoutError:
        return None


def test_loopback_addresses_share_the_per_ip_cap(tmp_path: Path) -> None:
    running, _ = start_server(tmp_path, max_ws_connections_per_ip=2)

    async def scenario() -> list[Any]:
        out: list[Any] = []
        sessions = []
        for k in range(2):  # two sessions that subscribed: they keep their slots
            http, ws = await _connect(running.ws_url, f"127.0.0.{k + 2}")
            sessions.append((http, ws))
            await _subscribe(ws)
        http, third = await _connect(running.ws_url, "127.0.0.9")
        sessions.append((http, third))
        out.append(third)
        for http, ws in sessions:
            if not isinstance(ws, int):
                await ws.close()
            await http.close()
        return out

    try:
        assert asyncio.run(scenario()) == [429]
    finally:
        running.stop()


def test_an_idle_session_makes_room_for_a_new_one(tmp_path: Path) -> None:
    running, _ = start_server(tmp_path, max_ws_connections_per_ip=2)

    async def scenario() -> tuple[int | None, bool, bool]:
        a_http, idle = await _connect(running.ws_url, "127.0.0.2")
        b_http, busy = await _connect(running.ws_url, "127.0.0.3")
        await _subscribe(busy)
        c_http, new = await _connect(running.ws_url, "127.0.0.1")  # the victim of redteam28_3: connects
        code = await _closed_with(idle)  # the idle one made room: dropped at once, no handshake waited for (1006)
        connected = not isinstance(new, int)
        if connected:
            await new.send_str("ping")
            connected = (await new.receive(timeout=TIMEOUT)).data == "pong"
        busy_open = not busy.closed
        for http, ws in ((a_http, idle), (b_http, busy), (c_http, new)):
            if not isinstance(ws, int):
                await ws.close()
            await http.close()
        return code, connected, busy_open

    try:
        assert asyncio.run(scenario()) == (1006, True, True)
    finally:
        running.stop()


def test_a_session_that_never_subscribes_nor_logs_in_is_closed(tmp_path: Path) -> None:
    running, _ = start_server(tmp_path, ws_idle_timeout_s=0.5)

    async def scenario() -> tuple[int | None, bool]:
        a_http, idle = await _connect(running.ws_url, "127.0.0.1")
        b_http, busy = await _connect(running.ws_url, "127.0.0.1")
        await _subscribe(busy)
        code = await _closed_with(idle, timeout=5)
        await asyncio.sleep(0.5)
        busy_open = not busy.closed
        for http, ws in ((a_http, idle), (b_http, busy)):
            await ws.close()
            await http.close()
        return code, busy_open

    try:
        assert asyncio.run(scenario()) == (1008, True)
        deadline = time.monotonic() + TIMEOUT  # the server's side of the closes completes on its own loop
        while running.call(lambda: len(running.server.connections)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.call(lambda: len(running.server.connections)) == 0
    finally:
        running.stop()
