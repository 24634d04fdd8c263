"""Session 17: parameters BitMEX removed are refused by ``perpspec serve``, never accepted with the field dropped.

BitMEX removed contingent (linked) orders and the ``simple*`` quantities in 2018 and refused orders that still carried
them.  The gateway refused ``simpleOrderQty`` on ``POST /order`` but read neither ``contingencyType`` nor
``clOrdLinkID``: an OCO bracket was accepted as two unlinked orders, and after the take-profit filled the stop opened
the opposite position (redteam17_1).  ``PUT /order`` ignored ``simpleOrderQty``/``simpleLeavesQty``.  Each is now a
400 that changes nothing; an empty string (BitMEX's own default for the text fields) is still accepted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.serve_helpers import raw_request, start_server, state

ORDER = {"symbol": "XBTUSD", "side": "Sell", "orderQty": 100, "price": 51000}


def _send(running: Any, key: Any, verb: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, answer, _ = raw_request(running, verb, "/api/v1/order", json.dumps(body).encode(), key)
    return status, answer


@pytest.mark.parametrize(
    ("name", "value"),
    [("contingencyType", "OneCancelsTheOther"), ("contingencyType", "OneTriggersTheOther"), ("clOrdLinkID", "bracket"),
     ("simpleOrderQty", 1), ("simpleOrderQty", 0)],
)
def test_a_new_order_with_a_removed_parameter_is_refused_and_changes_nothing(
    tmp_path: Path, name: str, value: Any
) -> None:
    running, keys = start_server(tmp_path)
    try:
        before = state(running)
        status, answer = _send(running, keys["one"], "POST", {**ORDER, name: value})
        assert status == 400
        assert f"{name} is not supported" in answer["error"]["message"]
        assert before == state(running)
        assert raw_request(running, "GET", "/api/v1/order", b"", keys["one"])[1] == []
    finally:
        running.stop()


def test_empty_link_fields_are_bitmex_s_defaults_and_accepted(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    try:
        status, answer = _send(running, keys["one"], "POST", {**ORDER, "contingencyType": "", "clOrdLinkID": ""})
        assert status == 200
        assert (answer["contingencyType"], answer["clOrdLinkID"], answer["ordStatus"]) == ("", "", "New")
    finally:
        running.stop()


@pytest.mark.parametrize(("name", "value"), [("simpleOrderQty", 2), ("simpleLeavesQty", 1)])
def test_an_amend_with_a_removed_quantity_is_refused_and_changes_nothing(tmp_path: Path, name: str, value: Any) -> None:
    running, keys = start_server(tmp_path)
    try:
        order_id = _send(running, keys["one"], "POST", ORDER)[1]["orderID"]
        before = state(running)
        status, answer = _send(running, keys["one"], "PUT", {"orderID": order_id, "orderQty": 200, name: value})
        assert status == 400
        assert f"{name} is not supported" in answer["error"]["message"]
        assert before == state(running)
    finally:
        running.stop()
