"""The key store's change reports and re-reads (session 15's ``KeyStore.watch``), pinned by mutants (session 16, "mut16").

``perpspec serve`` closes the WebSocket sessions the store refuses from the store's own change reports
(``server.watch_keys``), so each report the store owes its watchers is behaviour: a failing file is reported once per
failing file (not once per re-read, and again when another failing file replaces it); a failing store becomes usable
again however the good file comes back (its old stamp restored, or rewritten in place with the same size and mtime);
a failing store whose file is removed is an empty, usable store again, reported even when it never held a key; a key
added or revoked in process is reported.  While the same failing file stays, a re-read is answered from memory
(``KeyStore.refresh``: "unread, until its stat changes").
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.serve import keys as keys_module
from perpspec.engine.serve.keys import ApiKey, KeyStore, KeyStoreError

GOOD = json.dumps(
    {"keys": [{"id": "k1", "secret": "s" * 48, "account": 1, "permissions": ["read", "trade"], "enabled": True}]}
)


def _write(path: Path, text: str, mtime_ns: int | None = None) -> None:
    """Write the file in place (same inode), owner-only, with a new stamp unless ``mtime_ns`` is given."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    stamp = time.time_ns() + 1_000_000 if mtime_ns is None else mtime_ns
    os.utime(path, ns=(stamp, stamp))


def _watched(path: Path) -> tuple[KeyStore, list[Any]]:
    store = KeyStore(str(path))
    told: list[Any] = []
    store.watch(lambda: told.append(store.error))
    return store, told


def test_a_failing_key_store_is_reported_once_per_failing_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _write(path, GOOD)
    store, told = _watched(path)
    store.load()
    assert told == [None]
    _write(path, '{"keys": [')
    for _ in range(2):  # the ticker's beats and every request re-read it: one report
        with pytest.raises(KeyStoreError):
            store.refresh()
    with pytest.raises(KeyStoreError):
        store.load()  # read again, the same failing file: still one report
    assert len(told) == 2
    assert told[1] is not None
    _write(path, '{"keys": 5}')  # another failing file: reported again
    with pytest.raises(KeyStoreError):
        store.refresh()
    assert len(told) == 3
    assert "keys" in str(told[2])


def test_a_failing_store_whose_good_file_comes_back_with_its_old_stamp_is_usable_again(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _write(path, GOOD)
    store, told = _watched(path)
    store.load()
    good_mtime = os.stat(path).st_mtime_ns
    _write(path, "{" + " " * (len(GOOD) - 1))  # broken, same size
    with pytest.raises(KeyStoreError):
        store.refresh()
    assert store.error is not None
    time.sleep(0.01)
    _write(path, GOOD, mtime_ns=good_mtime)  # e.g. `mv keys.json.bak keys.json`: the stamp the store last loaded
    store.refresh()
    assert (store.error, [key.key_id for key in store.keys()], told[-1]) == (None, ["k1"], None)  # noqa: SIM118


def test_a_failing_store_fixed_in_place_with_the_same_size_and_mtime_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    broken = "[" + GOOD[1:]  # the same length, not JSON
    _write(path, broken, mtime_ns=1_700_000_000_000_000_000)
    store, told = _watched(path)
    with pytest.raises(KeyStoreError):
        store.load()
    time.sleep(0.01)
    _write(path, GOOD, mtime_ns=1_700_000_000_000_000_000)  # only its ctime tells it apart
    store.refresh()
    assert (store.error, store.get("k1") is not None, len(told)) == (None, True, 2)


def test_a_failing_store_is_not_read_again_until_its_stat_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.json"
    _write(path, '{"keys": [')
    store = KeyStore(str(path))
    reads: list[str] = []

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(str(file))
        return open(file, *args, **kwargs)

    monkeypatch.setattr(keys_module, "open", counting_open, raising=False)
    messages = []
    for _ in range(5):  # a hostile client's requests against a broken store
        with pytest.raises(KeyStoreError) as refused:
            store.refresh()
        messages.append(str(refused.value))
    assert (len(reads), len(set(messages))) == (1, 1)
    _write(path, GOOD)
    store.refresh()
    assert (len(reads), store.error) == (2, None)


def test_removing_a_failing_store_that_never_held_a_key_is_reported_usable_again(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _write(path, '{"keys": [')
    store, told = _watched(path)
    with pytest.raises(KeyStoreError):
        store.load()
    assert len(told) == 1
    path.unlink()
    store.refresh()  # an absent store is an empty, usable one
    assert (store.error, len(told), told[-1]) == (None, 2, None)


def test_a_key_replaced_or_revoked_in_process_is_reported_to_the_watchers(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _write(path, GOOD)
    store, told = _watched(path)
    store.load()
    store.add(ApiKey(key_id="k1", secret="t" * 48, account=1, permissions=("read",)))  # another key under its id
    assert len(told) == 2
    assert store.revoke("k1") is True
    assert len(told) == 3
    assert store.revoke("k1") is False  # nothing changed: no report
    assert len(told) == 3
