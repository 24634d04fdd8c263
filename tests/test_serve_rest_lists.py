"""Lists in REST requests (red-team findings find_3, find_11): a cancel list refused whole before any command, and a
trade listing that builds only the rows it answers with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from tests.serve_helpers import raw_request, start_server, state

# ----------------------------------------------------------------------------- find_3: DELETE /order with a list


def test_cancel_list_with_an_unknown_id_is_refused_whole_and_cancels_nothing(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    key = keys["one"]
    try:
        ids = []
        for price in (40000, 40500):
            order = {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": price}
            ids.append(raw_request(running, "POST", "/api/v1/order", json.dumps(order).encode(), key)[1]["orderID"])
        before = state(running)
        unknown = "00000000-0000-4000-8000-00000000ffff"
        body = json.dumps({"orderID": [ids[0], unknown, ids[1]]}).encode()
        assert raw_request(running, "DELETE", "/api/v1/order", body, key)[0] == 404
        assert before == state(running)
        listed = raw_request(running, "GET", "/api/v1/order", b"", key)[1]
        assert [row["ordStatus"] for row in listed] == ["New", "New"]
    finally:
        running.stop()
