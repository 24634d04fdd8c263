"""Open ``/realtime`` sessions as the key store changes (session 15's ``server.watch_keys``, ``ws._refused_key``),
pinned by mutants (session 16, "mut16").

* A session the store refuses loses its account in the same step as the re-read that refused it: a row published
  by that step's command (here a deposit to its account) never reaches it, though its close is still to come.
* Public (unauthenticated) sessions are untouched while the store is unusable: only authenticated ones are closed
  (1013); a public one still answers.
* ``cancelAllAfter`` over a session whose key was stripped of ``read`` is refused (403), even though the key still
  allows ``trade``: such a key no longer authenticates the session at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.serve import server as server_module
from perpspec.engine.serve.keys import ApiKey, KeyStoreError, sign
from perpspec.engine.serve.server import Running
from tests.serve_helpers import start_server

TIMEOUT = 10
PRIVATE = ("order", "execution", "position", "margin", "wallet")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    monkeypatch.setattr(server_module, "check_keys", lambda server: None)  # only the re-reads these tests make
    running, _ = start_server(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def _new_key(running: Running, permissions: list[str]) -> ApiKey:
    store = running.server.keys
    key: ApiKey = running.call(lambda: store.create(1, permissions))
    running.call(store.save)
    return key


def _write_store(running: Running, text: str) -> None:
    path = Path(running.server.keys.path)
    path.write_text(text)
    os.chmod(path, 0o600)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))


def _edit_key(running: Running, key: ApiKey, change: dict[str, Any]) -> None:
    data = json.loads(Path(running.server.keys.path).read_text())
    for row in data["keys"]:
        if row["id"] == key.key_id:
            row.update(change)
    _write_store(running, json.dumps(data))


async def _login(ws: Any, key: ApiKey, tables: tuple[str, ...]) -> None:
    expires = int(time.time()) + 600
    auth = {"op": "authKeyExpires", "args": [key.key_id, expires, sign(key.secret, "GET", "/realtime", str(expires), b"")]}
    await ws.receive()  # welcome
    await ws.send_str(json.dumps(auth))
    assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["success"] is True
    await ws.send_str(json.dumps({"op": "subscribe", "args": list(tables)}))
    for _ in range(2 * len(tables)):  # an ack and a partial each
        await asyncio.wait_for(ws.receive(), TIMEOUT)


async def _rest_of(ws: Any) -> tuple[list[dict[str, Any]], Any]:
    """The text messages the session gets until it is closed (or quiet for 2 s), and its close code."""
    import aiohttp

    received: list[dict[str, Any]] = []
    try:
        while True:
            message = await asyncio.wait_for(ws.receive(), 2.0)
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            received.append(json.loads(message.data))
    except TimeoutError:
        pass
    return received, ws.close_code


def _run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_a_session_refused_by_a_re_read_gets_no_row_the_same_step_publishes(served: Running) -> None:
    import aiohttp

    running = served
    key = _new_key(running, ["read", "trade"])

    def re_read_then_deposit() -> None:  # as a REST request does: its auth re-reads the store, then its command runs
        running.server.keys.refresh()
        running.server.gateway.deposit(1, "XBt", 1)  # account 1's wallet and margin rows

    async def session() -> tuple[list[dict[str, Any]], Any]:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await _login(ws, key, PRIVATE)
            await loop.run_in_executor(None, _edit_key, running, key, {"enabled": False})
            await loop.run_in_executor(None, running.call, re_read_then_deposit)
            return await _rest_of(ws)

    received, close_code = _run(session())
    assert ([message for message in received if message.get("table") in PRIVATE], close_code) == ([], 1008)


def test_an_unusable_key_store_closes_authenticated_sessions_and_leaves_public_ones(served: Running) -> None:
    import aiohttp

    running = served
    key = _new_key(running, ["read", "trade"])
    good = Path(running.server.keys.path).read_text()

    def break_the_store() -> None:
        _write_store(running, '{"keys": [')
        with pytest.raises(KeyStoreError):
            running.call(running.server.keys.refresh)

    async def sessions() -> tuple[Any, Any, Any]:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as public, \
                http.ws_connect(running.ws_url) as private:
            await public.receive()  # welcome
            await public.send_str(json.dumps({"op": "subscribe", "args": ["instrument:XBTUSD"]}))
            for _ in range(2):  # ack, partial
                await asyncio.wait_for(public.receive(), TIMEOUT)
            await _login(private, key, ("wallet",))
            await loop.run_in_executor(None, break_the_store)
            _, private_code = await _rest_of(private)
            await public.send_str("ping")
            answer = await asyncio.wait_for(public.receive(), TIMEOUT)
            return private_code, answer.data, public.close_code

    try:
        assert _run(sessions()) == (1013, "pong", None)
    finally:
        _write_store(running, good)


def test_a_key_stripped_of_read_cannot_arm_cancel_all_after_though_it_may_trade(served: Running) -> None:
    import aiohttp

    running = served
    key = _new_key(running, ["read", "trade"])

    async def arm() -> Any:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await _login(ws, key, ("order",))
            await loop.run_in_executor(None, _edit_key, running, key, {"permissions": ["trade"]})
            await ws.send_str(json.dumps({"op": "cancelAllAfter", "args": 60_000}))
            return json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)

    before = running.call(lambda: dict(running.server.gateway.views.deadlines))
    answer = _run(arm())
    assert (answer.get("status"), answer.get("error")) == (403, "Access Denied")
    assert before == running.call(lambda: dict(running.server.gateway.views.deadlines))


def test_a_private_subscribe_that_first_finds_the_store_unusable_is_answered_503(served: Running) -> None:
    import aiohttp

    running = served
    key = _new_key(running, ["read", "trade"])
    good = Path(running.server.keys.path).read_text()

    async def subscribe() -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await _login(ws, key, ("order",))
            await loop.run_in_executor(None, _write_store, running, '{"keys": [')  # no re-read has seen it yet
            await ws.send_str(json.dumps({"op": "subscribe", "args": ["wallet"]}))
            answer = json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)
            _, close_code = await _rest_of(ws)
            return answer, close_code

    try:
        answer, close_code = _run(subscribe())
    finally:
        _write_store(running, good)
    assert (answer.get("status"), answer.get("error"), close_code) == (503, "Service unavailable", 1013)


def test_a_session_whose_own_subscribe_finds_its_key_disabled_is_then_closed_without_writing_again(
    served: Running,
) -> None:
    import aiohttp

    running = served
    key = _new_key(running, ["read", "trade"])

    async def refused_then_closed() -> tuple[Any, Any, Any]:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await _login(ws, key, ("order",))
            await loop.run_in_executor(None, _edit_key, running, key, {"enabled": False})
            await ws.send_str(json.dumps({"op": "subscribe", "args": ["wallet"]}))  # its re-read finds the change
            answer = json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)
            closing = await asyncio.wait_for(ws.receive(), TIMEOUT)  # the client sends nothing more
            return answer.get("status"), closing.type, closing.data

    assert _run(refused_then_closed()) == (403, aiohttp.WSMsgType.CLOSE, 1008)
