"""Lists in REST requests (red-team findings find_3, find_11): a cancel list answers one row per id (BitMEX's contract,
session 19: an unknown id gets its Rejected row and the others are cancelled), a malformed one is refused whole before
any command; a trade listing builds only the rows it answers with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("aiohttp")

from perpspec.engine.core import commands as cmd
from perpspec.engine.serve import rows
from perpspec.engine.serve.server import Running
from tests.serve_helpers import raw_request, start_server, state

# ----------------------------------------------------------------------------- find_3: DELETE /order with a list


def test_cancel_list_with_an_unknown_id_cancels_the_others_and_rows_the_unknown(tmp_path: Path) -> None:
    running, keys = start_server(tmp_path)
    key = keys["one"]
    try:
        ids = []
        for price in (40000, 40500):
            order = {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": price}
            ids.append(raw_request(running, "POST", "/api/v1/order", json.dumps(order).encode(), key)[1]["orderID"])
        unknown = "00000000-0000-4000-8000-00000000ffff"
        before = state(running)
        malformed = json.dumps({"orderID": [ids[0], "7", ids[1]]}).encode()  # no orderID text: nothing happens
        assert raw_request(running, "DELETE", "/api/v1/order", malformed, key)[:2] == (
            400, {"error": {"message": "Invalid orderID", "name": "ValidationError"}})
        assert before == state(running)
        body = json.dumps({"orderID": [ids[0], unknown, ids[1]]}).encode()
        status, answer, _ = raw_request(running, "DELETE", "/api/v1/order", body, key)
        assert status == 200
        assert [(r["orderID"], r["ordStatus"], r.get("error")) for r in answer] == [
            (ids[0], "Canceled", None),
            (unknown, "Rejected", "Unable to cancel order: Not found or not owned by user"),
            (ids[1], "Canceled", None),
        ]
        listed = raw_request(running, "GET", "/api/v1/order", b"", key)[1]
        assert [row["ordStatus"] for row in listed] == ["Canceled", "Canceled"]
    finally:
        running.stop()


# ----------------------------------------------------------------------------- find_11: GET /trade


def _trade_tape(running: Running, per_symbol: int) -> None:
    def history() -> None:
        gateway = running.server.gateway
        for symbol, qty in (("XBTUSD", 100), ("XBTUSDT", 1000), ("ETHUSD", 1)):
            price = 300_000 if symbol == "ETHUSD" else 5_000_000
            for _ in range(per_symbol):
                gateway.execute(cmd.PlaceOrder(time_ms=gateway.now_ms(), account=1, symbol=symbol, side="Sell",
                                               order_qty=qty, price=price))
                gateway.execute(cmd.PlaceOrder(time_ms=gateway.now_ms(), account=2, symbol=symbol, side="Buy",
                                               order_qty=qty, price=price))

    running.call(history)


def test_trade_listing_builds_only_the_rows_it_answers_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running, _ = start_server(tmp_path)
    try:
        _trade_tape(running, 200)
        built = [0]
        trade_row = rows.trade_row

        def counted(*args: Any) -> Any:
            built[0] += 1
            return trade_row(*args)

        monkeypatch.setattr(rows, "trade_row", counted)
        flt = quote(json.dumps({"symbol": [0] * 1000 + ["XBTUSD"]}, separators=(",", ":")), safe=",:[]")
        status, answer, _ = raw_request(running, "GET", f"/api/v1/trade?count=2&reverse=true&filter={flt}")
        assert (status, [row["symbol"] for row in answer]) == (200, ["XBTUSD", "XBTUSD"])
        assert built[0] <= 4  # not one per kept trade (600)
    finally:
        running.stop()


def test_trade_listing_equals_the_sorted_filtered_tape_in_both_directions(tmp_path: Path) -> None:
    running, _ = start_server(tmp_path)
    try:
        _trade_tape(running, 30)
        everything = raw_request(running, "GET", "/api/v1/trade?count=1000")[1]
        assert len(everything) == 90
        assert sorted(everything, key=lambda row: row["timestamp"]) == everything
        newest = raw_request(running, "GET", "/api/v1/trade?count=1000&reverse=true")[1]
        assert list(reversed(everything)) == newest
        flt = quote(json.dumps({"symbol": ["ETHUSD", "XBTUSDT"], "side": "Buy"}, separators=(",", ":")), safe=",:[]")
        picked = raw_request(running, "GET", f"/api/v1/trade?start=5&count=7&reverse=true&filter={flt}")[1]
        wanted = [r for r in newest if r["symbol"] in ("ETHUSD", "XBTUSDT") and r["side"] == "Buy"][5:12]
        assert wanted == picked
        sells = quote(json.dumps({"side": ["Sell"]}), safe=",:[]")  # every taker here bought
        assert raw_request(running, "GET", f"/api/v1/trade?filter={sells}")[1] == []
    finally:
        running.stop()
