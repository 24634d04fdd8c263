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

import errno
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.serve import keys as keys_module
from perpspec.engine.serve.keys import KeyStore, KeyStoreError

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
