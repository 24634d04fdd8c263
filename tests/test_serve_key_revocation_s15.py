"""Session 15 (review10_2): a key change reaches an open ``/realtime`` session before its next private row.

A key disabled or revoked on disk used to keep its session's private stream (order, execution, position, margin,
wallet) until the ticker's housekeeping ran, every 10 s.  Now any re-read of the store that changes it (a REST
request, a WebSocket op, or the ticker's one ``stat`` per beat) drops the account of every session the store refuses
and closes it (1008) at once; while the store is unusable every authenticated session is closed (1013, REST answers
503), reported once, and the ticker keeps beating.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.serve import server as server_module
from perpspec.engine.serve.keys import ApiKey, KeyStore, sign
from perpspec.engine.serve.server import TICKER, Running
from tests.serve_helpers import raw_request, start_server

TIMEOUT = 10
BEAT_S = 0.05  # the ticker's beat in these tests
PRIVATE = ("order", "execution", "position", "margin", "wallet")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Running, dict[str, ApiKey]]]:
    monkeypatch.setattr(server_module, "TICK_SECONDS", BEAT_S)
    running, keys = start_server(tmp_path)
    try:
        yield running, keys
    finally:
        running.stop()


def _new_key(running: Running) -> ApiKey:
    store = running.server.keys
    key: ApiKey = running.call(lambda: store.create(1, ["read", "trade"]))
    running.call(store.save)
    return key


def _write_store(path: Path, text: str) -> None:
    """Write the store file as an operator's editor would (another process), with a new stamp."""
    path.write_text(text)
    os.chmod(path, 0o600)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))


def _disable(running: Running, key: ApiKey) -> None:
    path = Path(running.server.keys.path)
    data = json.loads(path.read_text())
    for row in data["keys"]:
        if row["id"] == key.key_id:
            row["enabled"] = False
    _write_store(path, json.dumps(data))


def _revoke(running: Running, key: ApiKey) -> None:
    other = KeyStore(running.server.keys.path)  # as `perpspec keys revoke` does
    other.load()
    assert other.revoke(key.key_id)
    other.save()


def _break(running: Running, key: ApiKey) -> None:
    _write_store(Path(running.server.keys.path), '{"keys": [')


async def _session_after(running: Running, key: ApiKey, change: Any, between: Any) -> tuple[list[dict[str, Any]], Any]:
    """Log in with ``key`` (account 1), subscribe to every private table, ``change`` the store, run ``between``, then
    deposit to account 1 (a margin row for it); the messages the session got afterwards and its close code."""
    import aiohttp

    loop = asyncio.get_running_loop()
    expires = int(time.time()) + 600
    auth = {"op": "authKeyExpires", "args": [key.key_id, expires, sign(key.secret, "GET", "/realtime", str(expires), b"")]}
    async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
        await ws.receive()  # welcome
        await ws.send_str(json.dumps(auth))
        assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["success"] is True
        await ws.send_str(json.dumps({"op": "subscribe", "args": list(PRIVATE)}))
        for _ in range(2 * len(PRIVATE)):  # an ack and a partial each
            await asyncio.wait_for(ws.receive(), TIMEOUT)
        await loop.run_in_executor(None, change, running, key)
        await between()
        await loop.run_in_executor(None, running.call, lambda: running.server.gateway.deposit(1, "XBt", 1))
        received: list[dict[str, Any]] = []
        try:
            while True:
                message = await asyncio.wait_for(ws.receive(), 1.0)
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                received.append(json.loads(message.data))
        except TimeoutError:
            pass
        return received, ws.close_code


def _private_rows(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [message for message in received if message.get("table") in PRIVATE]


def _run(running: Running, key: ApiKey, change: Any, between: Any) -> tuple[list[dict[str, Any]], Any]:
    return asyncio.run(asyncio.wait_for(_session_after(running, key, change, between), 30))


async def _next_beats() -> None:
    await asyncio.sleep(5 * BEAT_S)


def test_a_key_disabled_on_disk_sends_its_session_no_private_row_after_the_next_beat(
    served: tuple[Running, dict[str, ApiKey]]
) -> None:
    running, _ = served
    received, close_code = _run(running, _new_key(running), _disable, _next_beats)
    assert (_private_rows(received), close_code) == ([], 1008)


def test_a_key_revoked_on_disk_sends_its_session_no_private_row_after_the_next_beat(
    served: tuple[Running, dict[str, ApiKey]]
) -> None:
    running, _ = served
    received, close_code = _run(running, _new_key(running), _revoke, _next_beats)
    assert (_private_rows(received), close_code) == ([], 1008)


def test_a_rest_request_that_re_reads_the_store_refuses_the_session_before_any_beat(
    served: tuple[Running, dict[str, ApiKey]], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, _ = served
    monkeypatch.setattr(server_module, "check_keys", lambda server: None, raising=False)  # no beat re-reads the store
    key = _new_key(running)

    async def refused_rest() -> None:
        status, _, _ = await asyncio.get_running_loop().run_in_executor(
            None, lambda: raw_request(running, "GET", "/api/v1/order", b"", key=key))
        assert status == 403

    received, close_code = _run(running, key, _disable, refused_rest)
    assert (_private_rows(received), close_code) == ([], 1008)


def test_an_unusable_key_store_closes_authenticated_sessions_once_and_the_ticker_keeps_beating(
    served: tuple[Running, dict[str, ApiKey]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    running, _ = served
    monkeypatch.setattr(server_module, "PRUNE_EVERY", 1)  # (the old ticker's key check ran only on these beats)
    caplog.set_level(logging.INFO, logger="perpspec.serve")
    good = Path(running.server.keys.path).read_text()
    received, close_code = _run(running, _new_key(running), _break, _next_beats)
    assert (_private_rows(received), close_code) == ([], 1013)
    time.sleep(10 * BEAT_S)  # ten more beats with the store still unusable
    reports = [r.getMessage()[:40] for r in caplog.records if r.name == "perpspec.serve" and r.levelno >= logging.ERROR]
    ticker: asyncio.Task[None] = running.runner.app[TICKER]
    assert (reports, ticker.done()) == ([f"key store: {running.server.keys.path}"[:40]], False)  # once, not per beat
    _write_store(Path(running.server.keys.path), good)  # fixed: the next beat reads it again
    time.sleep(5 * BEAT_S)
    assert (running.call(lambda: running.server.keys.error), ticker.done()) == (None, False)
