"""Session 15 intake: a WebSocket session outliving its key (redteam11_1) and inputs nested past the parser's stack
(redteam11_3), and their fixes.

* a key disabled (``"enabled": false``), stripped of ``read``, or re-issued under its id (another secret or account)
  after a ``/realtime`` login: its private subscribes and ``cancelAllAfter`` are refused at once (403, BitMEX's
  ``{"status", "error", "request"}``), it gets no more private rows, and the ticker closes the socket (1008) with the
  closing handshake completed (a client writing before it reads still gets the Close frame);
* a JSON or TOML input nested ~200,000 deep (key store, what-if state and parameters, instrument, scenario, grid,
  audit mapping) is a one-line input error (exit 2, "nested too deeply"), not ``RecursionError`` as an internal error
  (exit 70); a running server answers such a key store with the typed 503, not a 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.cli.main import main

pytest.importorskip("aiohttp")

from perpspec.engine.serve import server as server_module
from perpspec.engine.serve.keys import ApiKey, KeyStore, sign
from perpspec.engine.serve.server import Running
from tests.serve_helpers import raw_request, start_server

TIMEOUT = 10
DEPTH = 200_000  # the red team's depth: far past the interpreter's recursion limit
NESTED = "[" * DEPTH + "]" * DEPTH
WHAT_IF_STATE = Path(__file__).resolve().parent.parent / "specs" / "what_if" / "positions.toml"


# ---------------------------------------------------------------------------------------------------- redteam11_1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, ApiKey]]]:
    running, keys = start_server(tmp_path_factory.mktemp("store"))
    try:
        yield running, keys
    finally:
        running.stop()


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def _new_key(running: Running, permissions: list[str]) -> ApiKey:
    store = running.server.keys
    key: ApiKey = running.call(lambda: store.create(1, permissions))
    running.call(store.save)
    return key


def _edit_store(running: Running, key_id: str, change: dict[str, Any]) -> None:
    """Change one row of the store file as an operator's editor would (another process; the file stays valid)."""
    path = Path(running.server.keys.path)
    data = json.loads(path.read_text())
    for row in data["keys"]:
        if row["id"] == key_id:
            row.update(change)
    path.write_text(json.dumps(data))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # another stamp even within one mtime tick
    KeyStore(str(path)).load()  # still a valid store


def _revoke(running: Running, key_id: str) -> None:
    other = KeyStore(running.server.keys.path)
    other.load()
    assert other.revoke(key_id)
    other.save()


CHANGES = {
    "disabled": {"enabled": False},
    "read removed": {"permissions": ["trade"]},
    "secret changed": {"secret": "r" * 48},
    "account changed": {"account": 2},
}


async def _logged_in(running: Running, key: ApiKey, change: dict[str, Any] | None, then: Callable[[Any], Any]) -> Any:
    """Open /realtime, log in with ``key``, subscribe to ``order``, change the key in the store (None: revoke it, as
    ``perpspec keys revoke`` does), then ``then(ws)``."""
    import aiohttp

    expires = int(time.time()) + 600
    auth = {"op": "authKeyExpires", "args": [key.key_id, expires, sign(key.secret, "GET", "/realtime", str(expires), b"")]}
    async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
        await ws.receive()  # welcome
        await ws.send_str(json.dumps(auth))
        assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["success"] is True
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["order"]}))
        for _ in range(2):  # ack, partial
            await asyncio.wait_for(ws.receive(), TIMEOUT)
        if change is None:
            await asyncio.get_running_loop().run_in_executor(None, _revoke, running, key.key_id)
        else:
            await asyncio.get_running_loop().run_in_executor(None, _edit_store, running, key.key_id, change)
        return await then(ws)


async def _answer(ws: Any, request: dict[str, Any]) -> Any:
    await ws.send_str(json.dumps(request))
    return json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_key_changed_after_ws_login_cannot_subscribe_to_a_private_table(
    served: tuple[Running, dict[str, ApiKey]], monkeypatch: pytest.MonkeyPatch, change: dict[str, Any]
) -> None:
    running, _ = served
    monkeypatch.setattr(server_module, "check_keys", lambda server: None)  # no ticker re-read: the subscribe's refuses
    key = _new_key(running, ["read", "trade"])

    async def subscribe(ws: Any) -> Any:
        return await _answer(ws, {"op": "subscribe", "args": ["wallet"]})

    answer = run(_logged_in(running, key, change, subscribe))
    expected = "This key is disabled." if change == {"enabled": False} else "Access Denied"
    assert (403, expected) == (answer.get("status"), answer.get("error"))


def test_a_disabled_key_s_session_gets_no_more_private_rows_once_refused(
    served: tuple[Running, dict[str, ApiKey]], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, keys = served
    monkeypatch.setattr(server_module, "check_keys", lambda server: None)
    key = _new_key(running, ["read", "trade"])

    async def refused_then_quiet(ws: Any) -> Any:
        await _answer(ws, {"op": "subscribe", "args": ["wallet"]})  # refused: the session's account is dropped
        body = json.dumps({"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 40000}).encode()
        status, _, _ = await asyncio.get_running_loop().run_in_executor(
            None, lambda: raw_request(running, "POST", "/api/v1/order", body, key=keys["one"]))  # account 1's order
        assert status == 200
        try:
            message = await asyncio.wait_for(ws.receive(), 1.5)
        except TimeoutError:
            return None
        return json.loads(message.data) if isinstance(message.data, str) else None  # the Close frame: no row

    assert run(_logged_in(running, key, {"enabled": False}, refused_then_quiet)) is None


def test_a_key_re_issued_under_its_id_cannot_arm_cancel_all_after_over_ws(
    served: tuple[Running, dict[str, ApiKey]], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, _ = served
    monkeypatch.setattr(server_module, "check_keys", lambda server: None)
    key = _new_key(running, ["read", "trade"])

    async def arm(ws: Any) -> Any:
        return await _answer(ws, {"op": "cancelAllAfter", "args": 60_000})

    before = running.call(lambda: dict(running.server.gateway.views.deadlines))
    answer = run(_logged_in(running, key, {"secret": "r" * 48}, arm))
    assert (answer.get("status"), answer.get("error")) == (403, "Access Denied")
    assert before == running.call(lambda: dict(running.server.gateway.views.deadlines))


@pytest.mark.parametrize("change", [*CHANGES.values(), None], ids=[*CHANGES.keys(), "revoked"])
def test_a_changed_key_s_open_websocket_is_closed_by_the_ticker_even_if_the_client_writes_first(
    served: tuple[Running, dict[str, ApiKey]], monkeypatch: pytest.MonkeyPatch, change: dict[str, Any] | None
) -> None:
    import aiohttp

    running, _ = served
    key = _new_key(running, ["read", "trade"])

    async def closed(ws: Any) -> Any:
        await asyncio.sleep(1.0)  # ten beats: closed by now on an idle machine, and the client has not read yet
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["wallet"]}))  # the socket still takes it
        while True:  # on a loaded machine the ticker may come after the subscribe: it is refused, never answered
            message = await asyncio.wait_for(ws.receive(), TIMEOUT)
            if message.type != aiohttp.WSMsgType.TEXT:
                return message.type, message.data, message.extra
            row = json.loads(message.data)
            assert "data" not in row, row  # no wallet row
            assert row.get("success") is not True, row  # no subscription

    expected = (aiohttp.WSMsgType.CLOSE, 1008, "api key revoked or disabled")
    assert expected == run(_logged_in(running, key, change, closed))


# ---------------------------------------------------------------------------------------------------- redteam11_3


def test_nested_too_deeply_is_both_parsers_error_and_pickles() -> None:
    # imported here, not at the top: the file's other tests still run (and fail) on the code before the fix
    from perpspec.rules.parse import NestedTooDeeply, loads_json, loads_toml

    with pytest.raises(NestedTooDeeply) as json_error:
        loads_json(NESTED)
    with pytest.raises(NestedTooDeeply) as toml_error:
        loads_toml("a = " + NESTED, parse_float=str)
    for error in (json_error.value, toml_error.value):
        assert isinstance(error, json.JSONDecodeError)
        assert isinstance(error, tomllib.TOMLDecodeError)
        assert str(error) == str(pickle.loads(pickle.dumps(error)))


def _owner_only(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


READERS: dict[str, Callable[[Path], list[str]]] = {
    "keys list": lambda tmp: ["keys", "list", "--store", str(_owner_only(tmp / "keys.json", '{"keys": ' + NESTED + "}").parent)],
    "what-if --state JSON": lambda tmp: ["what-if", "--params", "XBTUSD", "--state",
                                         str(_owner_only(tmp / "state.json", '{"accounts": ' + NESTED + "}"))],
    "what-if --state TOML": lambda tmp: ["what-if", "--params", "XBTUSD", "--state",
                                         str(_owner_only(tmp / "state.toml", "a = " + NESTED))],
    "what-if --params": lambda tmp: ["what-if", "--params", str(_owner_only(tmp / "deep.toml", "a = " + NESTED)),
                                     "--state", str(WHAT_IF_STATE)],
    "check-params": lambda tmp: ["check-params", str(_owner_only(tmp / "deep.toml", "a = " + NESTED))],
    "simulate": lambda tmp: ["simulate", str(_owner_only(tmp / "deep.toml", "a = " + NESTED)), "--out", str(tmp / "out")],
    "sweep": lambda tmp: ["sweep", str(_owner_only(tmp / "deep.toml", "a = " + NESTED)), "--out", str(tmp / "out")],
    "audit --mapping": lambda tmp: ["audit", str(_owner_only(tmp / "e.jsonl", '{"table": "x"}\n')),
                                    "--mapping", str(_owner_only(tmp / "deep.toml", "a = " + NESTED))],
}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_an_input_file_nested_too_deeply_is_a_one_line_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reader: Callable[[Path], list[str]]
) -> None:
    status = main(reader(tmp_path))
    err = capsys.readouterr().err
    assert (status, len(err.strip().splitlines())) == (2, 1)
    assert "nested too deeply" in err


def test_simulate_set_with_a_value_nested_too_deeply_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["simulate", "calm", "--set", "accounts.count=" + "[" * 60_000 + "]" * 60_000,
                   "--out", str(tmp_path / "out")])
    assert status == 2
    assert "internal error" not in capsys.readouterr().err


def test_a_key_store_nested_too_deeply_makes_a_running_server_answer_503(
    served: tuple[Running, dict[str, ApiKey]]
) -> None:
    running, keys = served
    path = Path(running.server.keys.path)
    saved = path.read_text()
    try:
        path.write_text('{"keys": ' + NESTED + "}")
        status, body, _ = raw_request(running, "GET", "/api/v1/order", key=keys["one"])
        assert (status, body["error"]["message"]) == (503, "Service unavailable")
    finally:
        path.write_text(saved)
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
