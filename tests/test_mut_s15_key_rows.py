"""A key store's rows, at the edges session 14's typed loader left untested (session 15, helper "mut15").

``engine/serve/keys.py`` ``KeyStore.load`` / ``key_from_row`` (session 14, intake): fields exactly typed, never
coerced.  Three of its mutants passed every test:

* ``keys`` must be a list: an empty object (``{"keys": {}}``) was taken for no keys (the check weakened to "not
  None") -- a store of the wrong shape is refused, not read as empty;
* ``permissions`` must be a list: an empty string (iterated, it has no unknown permission and no repeat) was taken
  for no permissions when strings were let through;
* the order a row lists its permissions in means nothing: the key holds them in the canonical order (``PERMISSIONS``),
  so two stores that differ only by that order load the same keys (and save the same file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.serve.keys import PERMISSIONS, KeyStore, KeyStoreError
from tests.test_intake_s14 import GOOD, _store


@pytest.mark.parametrize("rows", [{}, ""])
def test_an_empty_object_or_string_is_not_a_list_of_keys(tmp_path: Path, rows: object) -> None:
    with pytest.raises(KeyStoreError, match="not an object with a list 'keys'"):
        _store(tmp_path, rows).load()


def test_an_empty_string_is_not_a_list_of_permissions(tmp_path: Path) -> None:
    store = _store(tmp_path, [{**GOOD, "permissions": ""}])
    with pytest.raises(KeyStoreError, match=r"keys\[0\]\.permissions"):
        store.load()


def test_a_rows_permissions_are_held_in_the_canonical_order(tmp_path: Path) -> None:
    loaded: list[Any] = []
    for number, listed in enumerate((["withdraw", "trade", "read"], ["read", "trade", "withdraw"])):
        folder = tmp_path / str(number)
        folder.mkdir()
        store = _store(folder, [{**GOOD, "permissions": listed}])
        store.load()
        loaded.append(store.get(GOOD["id"]))
        store.save()
        loaded.append((folder / "keys.json").read_text())
    assert loaded[0] == loaded[2]
    assert loaded[0].permissions == PERMISSIONS
    assert loaded[1] == loaded[3]  # the saved files too
    again = KeyStore(str(tmp_path / "0" / "keys.json"))
    again.load()
    assert again.get(GOOD["id"]) == loaded[0]
