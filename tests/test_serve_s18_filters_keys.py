"""Session 18: a ``filter`` on a decimal field finds its rows; a key's account is one the engine can hold.

``GET /order?filter={"price":49000}`` answered ``[]`` while orders rested at 49,000: a row's decimal fields are exact
text marked for the encoder, the filter's number an int or the client's decimal text, and ``==`` never matched them
(redteam21_10).  Integer and string fields did match, so the failure was silent and field-dependent.  Now numbers
compare by exact value whichever way either side spells them; a string still never equals a number.

``perpspec keys create --account 9223372036854775808`` wrote a key whose every order the engine refuses as Malformed
(outside a command's signed 64 bits) while its reads answered an empty account (redteam21_11).  ``create`` now refuses
such an account, and the store file's reader loads one as a disabled key (review20_3: so it can be listed and revoked).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core.commands import FIELD_INT_MAX
from perpspec.engine.serve.keys import KeyStoreError, key_from_row
from perpspec.engine.serve.listing import comparable, field_test
from perpspec.engine.serve.units import JsonDecimal, num
from tests.serve_helpers import raw_request, start_server


def _listed(running: Any, key: Any, flt: dict[str, Any]) -> list[Any]:
    query = urllib.parse.quote(json.dumps(flt, separators=(",", ":")))
    status, rows, _ = raw_request(running, "GET", f"/api/v1/order?filter={query}", b"", key)
    assert status == 200, rows
    assert isinstance(rows, list)
    return rows


def test_a_filter_on_price_finds_the_orders_resting_there(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    try:
        for n, price in enumerate((49000, 49000, 48999.5)):
            body = json.dumps({"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": price, "clOrdID": f"b{n}"})
            assert raw_request(running, "POST", "/api/v1/order", body.encode(), keys["one"])[0] == 200
        assert len(_listed(running, keys["one"], {"price": 49000})) == 2
        assert len(_listed(running, keys["one"], {"price": 49000.0})) == 2  # JSON decimal text "49000.0"
        assert [r["clOrdID"] for r in _listed(running, keys["one"], {"price": 48999.5})] == ["b2"]
        assert len(_listed(running, keys["one"], {"price": [48999.5, 49000]})) == 3
        assert _listed(running, keys["one"], {"price": 49000.25}) == []
        assert _listed(running, keys["one"], {"price": "49000"}) == []  # a string is not a number
        assert len(_listed(running, keys["one"], {"orderQty": 100})) == 3  # integer fields as before
        assert len(_listed(running, keys["one"], {"side": "Buy"})) == 3  # and strings
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("wanted", "row_value", "matches"),
    [(49000, num("49000"), True), (JsonDecimal("4.9e4"), num("49000"), True), (JsonDecimal("0.5"), num("0.50"), True),
     (49000, num("49000.5"), False), ("49000", num("49000"), False), (JsonDecimal("1e999999999999999999999"),
     num("1"), False), (True, 1, True)],
)
def test_field_test_compares_numbers_by_exact_value(wanted: Any, row_value: Any, matches: bool) -> None:
    assert field_test("price", wanted)(row_value) is matches
    assert field_test("price", [wanted])(row_value) is matches


def test_comparable_leaves_plain_strings_alone() -> None:
    assert comparable("Buy") == "Buy"
    assert comparable("") == ""


@pytest.mark.parametrize("account", [FIELD_INT_MAX + 1, 2**64, -1])
def test_a_key_for_an_account_the_engine_cannot_hold_is_refused(tmp_path: Path, account: int) -> None:
    from perpspec.engine.serve.keys import KeyStore

    store = KeyStore(tmp_path / "keys.json")
    with pytest.raises(KeyStoreError, match="account"):
        store.create(account, ["read", "trade"])
    row = {"id": "k", "secret": "A" * 48, "account": account, "permissions": ["read"]}
    if account < 0:  # never written by any release
        with pytest.raises(KeyStoreError, match="account"):
            key_from_row(row, "keys[0]")
    else:  # written by the previous release's create: loaded, never usable (review20_3, tests/test_serve_s18_review20.py)
        assert key_from_row(row, "keys[0]").enabled is False


def test_the_largest_account_a_command_can_carry_gets_a_key(tmp_path: Path) -> None:
    from perpspec.engine.serve.keys import KeyStore

    assert KeyStore(tmp_path / "keys.json").create(FIELD_INT_MAX, ["read"]).account == FIELD_INT_MAX
