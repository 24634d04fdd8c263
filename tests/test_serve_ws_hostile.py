"""Hostile WebSocket clients (red-team findings find_13, find_6, find_4, find_9): a captured or far-future auth,
cancelAllAfter outside the key's rate limit, repeated topics rebuilding partials, a stalled reader pinning memory."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.serve.keys import ApiKey, sign
from perpspec.engine.serve.rest import ServerConfig
from perpspec.engine.serve.server import Running
from tests.serve_helpers import raw_request, start_server, state

TIMEOUT = 30


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def ws_auth(key: ApiKey, expires: int) -> str:
    signature = sign(key.secret, "GET", "/realtime", str(expires), b"")
    return json.dumps({"op": "authKeyExpires", "args": [key.key_id, expires, signature]})


def ws_session(running: Running, messages: list[str], answers: int) -> list[Any]:
    """Send ``messages`` on one fresh connection; the first ``answers`` messages after the welcome."""
    import aiohttp

    async def session() -> list[Any]:
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await ws.receive_json(timeout=TIMEOUT)  # the welcome
            for message in messages:
                await ws.send_str(message)
            return [await ws.receive_json(timeout=TIMEOUT) for _ in range(answers)]

    return list(run(session()))


# ----------------------------------------------------------------------------- find_13: WebSocket auth


def test_websocket_auth_with_expires_more_than_a_day_ahead_is_refused(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    try:
        answer = ws_session(running, [ws_auth(keys["one"], int(time.time()) + 10 * 365 * 86_400)], 1)[0]
        assert (answer["success"], answer["status"]) == (False, 401)
    finally:
        running.stop()


def test_one_login_signature_opens_several_connections_and_logins_never_fill_the_replay_guard(tmp_path: Path) -> None:
    """bitmex-ws signs ``int(now) + 3600``: two clients of one key in one second send the same login, and both are
    let in (a login is a read).  Logins are not written into the replay guard REST's mutations use: a flood of
    distinct logins once filled it and locked every key out of signed requests (review of session 11)."""
    running, keys = start_server(tmp_path)
    login = ws_auth(keys["one"], int(time.time()) + 600)
    try:
        answers = [ws_session(running, [login], 1)[0] for _ in range(2)]
        assert [answer["success"] for answer in answers] == [True, True]
        guarded = running.call(lambda: len(running.server.guard._seen))
        for connection in range(4):  # 40 distinct logins per connection: under its flood limit of 50 ops a second
            flood = [ws_auth(keys["one"], int(time.time() * 1000) + 40 * connection + step) for step in range(40)]
            assert all(answer["success"] for answer in ws_session(running, flood, len(flood)))
        assert running.call(lambda: len(running.server.guard._seen)) == guarded
    finally:
        running.stop()


# ----------------------------------------------------------------------------- find_6: WS cancelAllAfter rate limit


def test_websocket_cancel_all_after_is_charged_to_the_keys_rate_limit(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path, rate_limit_per_minute=2)
    key = keys["one"]
    try:
        for timeout in (60_000, 60_001):  # the key's whole budget, spent over REST
            assert raw_request(running, "POST", "/api/v1/order/cancelAllAfter",
                                      json.dumps({"timeout": timeout}).encode(), key)[0] == 200
        before = state(running)
        answers = ws_session(running, [ws_auth(key, int(time.time()) + 600),
                                       json.dumps({"op": "cancelAllAfter", "args": 60_002})], 2)
        assert (answers[0]["success"], answers[1]["status"]) == (True, 429)
        assert before == state(running)  # no command journaled
    finally:
        running.stop()


# ----------------------------------------------------------------------------- find_4 / find_9: partials, stalls


def test_a_topic_repeated_in_one_subscribe_gets_one_partial(tmp_path: Path) -> None:
    import aiohttp

    running, _ = start_server(tmp_path)

    async def session() -> list[Any]:
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await ws.receive_json(timeout=TIMEOUT)
            await ws.send_str(json.dumps({"op": "subscribe", "args": ["orderBookL2:XBTUSD"] * 3}))
            await ws.send_str("ping")  # answered after everything the subscribe queued
            seen = []
            while (message := await ws.receive(timeout=TIMEOUT)).data != "pong":
                seen.append(json.loads(message.data))
            return seen

    try:
        seen = run(session())
        assert sum(1 for m in seen if m.get("action") == "partial") == 1
        assert [m["success"] for m in seen if "subscribe" in m] == [True, True, True]
    finally:
        running.stop()


def test_a_writer_whose_client_stopped_reading_is_cut_off_at_the_write_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from perpspec.engine.serve import ws as ws_module

    monkeypatch.setattr(ws_module, "WRITE_DEADLINE_S", 0.2, raising=False)  # old code: no deadline (the test times out)

    class StalledSocket:  # its send never completes: the peer's receive window is closed
        async def send_str(self, text: str) -> None:
            await asyncio.sleep(3600)

        async def close(self, code: int, message: bytes) -> None:
            await asyncio.sleep(3600)

    class Transport:
        aborted = False

        def abort(self) -> None:
            self.aborted = True

    async def session() -> tuple[bool, bool, int]:
        transport = Transport()
        conn = ws_module.Connection(StalledSocket(), 100)  # type: ignore[arg-type]
        conn.transport = transport  # type: ignore[assignment]
        for _ in range(10):
            conn.send({"table": "orderBookL2", "data": "x" * 1000})
        await asyncio.wait_for(ws_module._writer(conn), 5)
        return conn.overflowed, transport.aborted, conn.queued_bytes

    assert run(session()) == (True, True, 0)


def test_stalled_connections_of_one_address_cannot_pin_more_than_128_mb() -> None:
    from perpspec.engine.serve.ws import MAX_QUEUED_BYTES

    assert MAX_QUEUED_BYTES * ServerConfig().max_ws_connections_per_ip <= 128 * 1024 * 1024
