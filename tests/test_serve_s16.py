"""Session 16: the key store and the list parameters of ``perpspec serve`` (review12_1, review12_2, redteam13).

* A key store that could not be *read* (an ``OSError``: EMFILE, EIO) is read again at the next refresh; only a file
  whose content is refused (mode, JSON, schema) is remembered by its stat and not re-read until it changes.  One
  transient error no longer leaves every signed request 503 until someone touches ``keys.json``.
* Every command's private rows (an admin deposit's, the price feed's, a funding tick's) are preceded by a check of
  the key store (one ``stat``), so a key disabled on disk gets no private row even before the ticker's next beat.
* ``startTime``/``endTime`` with an out-of-range component (hour 24+, minute or second 60+, a day the month does not
  have) are a 400, not a time carried into the next day, month or year.
* The store is reloaded when its inode or ctime changed, not only its mtime or size: an atomic same-size rewrite
  within the timestamp granularity is reloaded.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.serve import keys as keys_module
from perpspec.engine.serve.keys import KeyStore, KeyStoreError
from perpspec.engine.serve.units import parse_iso_ms

TIMEOUT = 10
PRIVATE = ("order", "execution", "position", "margin", "wallet")


def _store(tmp_path: Path) -> KeyStore:
    store = KeyStore(str(tmp_path / "keys.json"))
    store.create(1, ["read", "trade"])
    store.save()
    store.load()
    return store


def _rewrite_elsewhere(path: str, edit: Any) -> None:
    """Another process edits the store (as ``perpspec keys``): a new file, atomically replaced, a new stamp."""
    data = json.loads(Path(path).read_text())
    edit(data)
    temporary = f"{path}.edit"
    Path(temporary).write_text(json.dumps(data, indent=1))
    os.chmod(temporary, 0o600)
    os.utime(temporary, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    os.replace(temporary, path)


def _failing_open(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.EMFILE, "Too many open files", args[0] if args else "")


# ------------------------------------------------------------------ review12_1: transient read errors are retried


def test_a_transient_read_error_of_the_key_store_is_read_again_at_the_next_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    (key,) = store.keys()
    _rewrite_elsewhere(store.path, lambda data: data["keys"][0].update(enabled=False))
    monkeypatch.setattr(keys_module, "open", _failing_open, raising=False)  # the process out of descriptors
    with pytest.raises(KeyStoreError, match="Too many open files"):
        store.refresh()
    assert store.error is not None  # unusable while it cannot be read: refused, fail closed
    monkeypatch.delattr(keys_module, "open")  # the descriptors free again; the file itself never changed
    store.refresh()
    current = store.get(key.key_id)
    assert store.error is None  # the refresh read it: usable again
    assert current is not None  # read again: the edit seen
    assert not current.enabled
    # a malformed file, by contrast, is remembered by its stat: not read again per request until it changes
    Path(store.path).write_text('{"keys": [')
    with pytest.raises(KeyStoreError):
        store.refresh()
    opened: list[object] = []

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        opened.append(args[0])
        return open(*args, **kwargs)

    monkeypatch.setattr(keys_module, "open", counting_open, raising=False)
    for _ in range(3):
        with pytest.raises(KeyStoreError):
            store.refresh()
    assert opened == []  # the content error is remembered by the file's stat: not read per request


def test_a_server_whose_key_store_read_failed_once_serves_signed_requests_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("aiohttp")
    from tests.serve_helpers import raw_request, start_server

    running, keys = start_server(tmp_path)
    try:
        store = running.server.keys
        _rewrite_elsewhere(store.path, lambda data: None)  # an operator's rewrite: the next refresh reads the file

        def refresh_out_of_descriptors() -> str:
            monkeypatch.setattr(keys_module, "open", _failing_open, raising=False)
            try:
                store.refresh()
            except KeyStoreError as error:
                return str(error)
            finally:
                monkeypatch.delattr(keys_module, "open")
            return ""

        assert "Too many open files" in running.call(refresh_out_of_descriptors)
        status, body, _ = raw_request(running, "GET", "/api/v1/order", b"", key=keys["one"])
        assert (status, body) == (200, [])
    finally:
        running.stop()


# ------------------------------------------------------------------ review12_2: the hub checks keys before private rows


@pytest.fixture
def served_without_beats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A server whose ticker never beats during the test: only the paths under test re-read the key store."""
    pytest.importorskip("aiohttp")
    from perpspec.engine.serve import server as server_module
    from tests.serve_helpers import start_server

    monkeypatch.setattr(server_module, "TICK_SECONDS", 3600.0)
    running, keys = start_server(tmp_path)
    try:
        yield running, keys
    finally:
        running.stop()


def _disable_on_disk(path: str, key_id: str) -> None:
    data = json.loads(Path(path).read_text())
    for row in data["keys"]:
        if row["id"] == key_id:
            row["enabled"] = False
    Path(path).write_text(json.dumps(data))  # the operator's edit in place (the mode stays 0600)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))


def _admin_deposit(running: Any) -> None:
    from tests.serve_helpers import raw_request

    body = json.dumps({"account": 1, "currency": "XBt", "amount": 1}).encode()
    status, _, _ = raw_request(running, "POST", "/api/v1/admin/deposit", body,
                               headers={"x-admin-token": running.server.config.admin_token})
    assert status == 200


async def _private_rows_after(running: Any, command: Any, reads: list[int]) -> tuple[list[str], list[str], Any]:
    """Log a new key of account 1 in, subscribe to every private table; run ``command`` (the store unchanged: its
    rows arrive and the store is not re-read), then disable the key on disk and run ``command`` again.  The private
    tables received each time, and the session's close code."""
    import aiohttp

    from perpspec.engine.serve.keys import sign

    store = running.server.keys
    key = running.call(lambda: store.create(1, ["read", "trade"]))
    running.call(store.save)
    loop = asyncio.get_running_loop()

    async def drain(ws: Any) -> list[str]:
        tables: list[str] = []
        try:
            while True:
                message = await asyncio.wait_for(ws.receive(), 1.0)
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                table = json.loads(message.data).get("table")
                if table in PRIVATE:
                    tables.append(table)
        except TimeoutError:
            pass
        return tables

    expires = int(time.time()) + 600
    auth = {"op": "authKeyExpires", "args": [key.key_id, expires, sign(key.secret, "GET", "/realtime", str(expires), b"")]}
    async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
        await ws.receive()  # welcome
        await ws.send_str(json.dumps(auth))
        assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["success"] is True
        await ws.send_str(json.dumps({"op": "subscribe", "args": list(PRIVATE)}))
        for _ in range(2 * len(PRIVATE)):  # an ack and a partial each
            await asyncio.wait_for(ws.receive(), TIMEOUT)
        reads.clear()
        await loop.run_in_executor(None, command, running)
        before = await drain(ws)
        reads_before = len(reads)
        await loop.run_in_executor(None, lambda: _disable_on_disk(store.path, key.key_id))
        await loop.run_in_executor(None, command, running)
        after = await drain(ws)
        assert reads_before == 0  # the check before private rows is one stat: no re-read of an unchanged store
        return before, after, ws.close_code


def _deposit_on_the_loop(running: Any) -> None:
    running.call(lambda: running.server.gateway.deposit(1, "XBt", 1))  # as the price feed's commands run


@pytest.mark.parametrize("command", [_admin_deposit, _deposit_on_the_loop], ids=["admin-route", "feed-path"])
def test_a_key_disabled_on_disk_gets_no_private_row_from_a_command_that_no_request_of_its_key_caused(
    served_without_beats: Any, monkeypatch: pytest.MonkeyPatch, command: Any
) -> None:
    running, _ = served_without_beats
    reads: list[int] = []
    load = KeyStore.load

    def counting_load(self: KeyStore) -> None:
        reads.append(1)
        load(self)

    monkeypatch.setattr(KeyStore, "load", counting_load)
    before, after, close_code = asyncio.run(asyncio.wait_for(_private_rows_after(running, command, reads), 30))
    assert "margin" in before  # the session was live: the deposit's margin row reached it
    assert (after, close_code) == ([], 1008)


# ------------------------------------------------------------------ redteam13: time components in range


OUT_OF_RANGE = ("9999-12-31T99:99:99", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z",
                "2026-02-29", "1900-02-29T00:00:00Z", "2026-04-31", "2026-06-31T12:00", "2026-11-31")


def test_an_out_of_range_time_component_is_malformed_not_carried_and_the_last_instants_are_times() -> None:
    assert {text: parse_iso_ms(text) for text in OUT_OF_RANGE} == dict.fromkeys(OUT_OF_RANGE)
    assert parse_iso_ms("2024-02-29T23:59:59.999Z") == parse_iso_ms("2024-03-01T00:00:00.000Z") - 1  # type: ignore[operator]
    assert parse_iso_ms("2000-02-29") is not None
    assert parse_iso_ms("2026-12-31T23:59:59Z") == parse_iso_ms("2027-01-01") - 1000  # type: ignore[operator]


@pytest.mark.parametrize("name", ["startTime", "endTime"])
def test_an_out_of_range_time_bound_is_a_400_not_an_empty_list(tmp_path: Path, name: str) -> None:
    pytest.importorskip("aiohttp")
    from tests.serve_helpers import raw_request, start_server

    running, keys = start_server(tmp_path)
    try:
        query = urllib.parse.urlencode({"symbol": "XBTUSD", name: "2026-01-01T99:99:99"})
        for path in ("/api/v1/trade", "/api/v1/funding", "/api/v1/order"):
            status, body, _ = raw_request(running, "GET", f"{path}?{query}", b"", key=keys["one"])
            assert (path, status, body) == (
                path, 400, {"error": {"message": f"'{name}' is not a valid time", "name": "ValidationError"}})
    finally:
        running.stop()


# ------------------------------------------------------------------ redteam13: the inode is in the fingerprint


def test_an_atomic_same_size_rewrite_with_the_same_mtime_is_reloaded(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (key,) = store.keys()
    old = os.stat(store.path)
    data = json.loads(Path(store.path).read_text())
    data["keys"][0]["secret"] = ("B" if key.secret[0] == "A" else "A") + key.secret[1:]  # another key, same size
    temporary = f"{store.path}.edit"
    Path(temporary).write_text(json.dumps(data, indent=1))
    os.chmod(temporary, 0o600)
    os.utime(temporary, ns=(old.st_atime_ns, old.st_mtime_ns))  # within the timestamp granularity: the same mtime
    os.replace(temporary, store.path)
    new = os.stat(store.path)
    assert (new.st_mtime_ns, new.st_size) == (old.st_mtime_ns, old.st_size)
    assert new.st_ino != old.st_ino
    store.refresh()
    current = store.get(key.key_id)
    assert current is not None
    assert current.secret == data["keys"][0]["secret"]


# ------------------------------------------------------------------ an op already received when the beat drops the key


@pytest.mark.parametrize(("op", "expected"), [
    ({"op": "cancelAllAfter", "args": 60_000}, {"status": 403, "error": "Access Denied"}),
    ({"op": "subscribe", "args": ["order"]}, {"status": 403, "error": "Access Denied"}),
])
def test_an_op_handled_after_the_beat_dropped_its_revoked_key_gets_the_reason_not_a_bare_401(
    served_without_beats: Any, op: dict[str, Any], expected: dict[str, Any]
) -> None:
    """The ticker may re-read the store between an op's arrival and its handling (the window test_serve_ws's
    revoked-key cancelAllAfter test hit now and then): the answer is still the key's refusal, and nothing is armed."""
    import aiohttp

    from perpspec.engine.serve import ws as ws_module
    from perpspec.engine.serve.keys import sign
    from perpspec.engine.serve.server import check_keys

    running, _ = served_without_beats
    server = running.server
    key = running.call(lambda: server.keys.create(1, ["read", "trade"]))
    running.call(server.keys.save)

    def beat_then_handle() -> None:  # on the loop, in one slot: the beat's re-read, then the op already received
        other = KeyStore(server.keys.path)  # the revoke was written by another process just before
        other.load()
        other.revoke(key.key_id)
        other.save()
        check_keys(server)
        (conn,) = [c for c in server.connections if c.key is not None and c.key.key_id == key.key_id]
        ws_module._on_text(server, conn, json.dumps(op))

    async def scenario() -> list[dict[str, Any]]:
        expires = int(time.time()) + 600
        auth = {"op": "authKeyExpires",
                "args": [key.key_id, expires, sign(key.secret, "GET", "/realtime", str(expires), b"")]}
        async with aiohttp.ClientSession() as http, http.ws_connect(running.ws_url) as ws:
            await ws.receive()  # welcome
            await ws.send_str(json.dumps(auth))
            assert json.loads((await asyncio.wait_for(ws.receive(), TIMEOUT)).data)["success"] is True
            await asyncio.get_running_loop().run_in_executor(None, running.call, beat_then_handle)
            got: list[dict[str, Any]] = []
            while True:
                message = await asyncio.wait_for(ws.receive(), TIMEOUT)
                if message.type != aiohttp.WSMsgType.TEXT:
                    return got
                got.append(json.loads(message.data))

    before = running.call(lambda: dict(server.gateway.views.deadlines))
    got = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [{name: m.get(name) for name in expected} for m in got] == [expected]
    assert running.call(lambda: dict(server.gateway.views.deadlines)) == before
