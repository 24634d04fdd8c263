"""A Close or ReduceOnly order with nothing to reduce is refused with BitMEX's text (ccxt: BadRequest, as before).

BitMEX's answers (recorded in public clients' fixtures): "Canceled: Order had execInst of Close or ReduceOnly and
side of Buy but current position is 0" (2019, a Close limit order) and "Canceled: Order had execInst of Close or
ReduceOnly but current position is 0" (2017, a Close with no side); roq-trading's list of BitMEX's texts has the same
form.  Serve answered "ReduceOnlyWouldIncrease: ReduceOnly order would open or increase a position" and "NoPosition:
Close without orderQty needs an open position", the engine's reason and text.  Both texts give ccxt's BadRequest (no
entry of ccxt's table matches either), so the class is unchanged; BitMEX's own answer is HTTP 200 with the order
Canceled, which serve does not give (the engine refuses the order and keeps no record of it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")

from tests.serve_helpers import ccxt_client, raw_request  # noqa: E402
from tests.test_serve_s19_refusals import bitmex_class  # noqa: E402

INV = "BTC/USD:BTC"
TEXT = "Order had execInst of Close or ReduceOnly"


def test_nothing_to_reduce_is_refused_with_bitmex_s_text(served: Any) -> None:
    running, keys = served
    one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
    with pytest.raises(ccxt.BadRequest, match=f"^bitmex .*{TEXT} and side of Sell but current position is 0\""):
        one.create_order(INV, "market", "sell", 100, None, {"reduceOnly": True})
    with pytest.raises(ccxt.BadRequest, match=f"{TEXT} and side of Buy but current position is 0\""):
        one.close_position(INV, "buy")  # ccxt: side Buy, execInst Close, no orderQty
    body = json.dumps({"symbol": "XBTUSD", "execInst": "Close"}).encode()  # a Close with no side
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", body, keys["one"])
    assert (status, answer["error"]["message"]) == (400, f"{TEXT} but current position is 0")
    two.create_order(INV, "limit", "sell", 100, 50_000)
    one.create_order(INV, "limit", "buy", 100, 50_000)  # account 1 is long 100
    with pytest.raises(ccxt.BadRequest, match=f"{TEXT} and side of Buy but current position is 100\""):
        one.create_order(INV, "limit", "buy", 100, 49_000, {"reduceOnly": True})
    body = json.dumps({"symbol": "XBTUSD", "orderQty": 100, "price": 51_000, "execInst": "ReduceOnly"}).encode()
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", body, keys["one"])  # signed qty, no side: a buy
    assert (status, answer["error"]["message"]) == (400, f"{TEXT} and side of Buy but current position is 100")
    assert one.fetch_open_orders(INV) == []
    assert [p["contracts"] for p in one.fetch_positions()] == [100]


def test_the_text_keeps_ccxt_s_exception_class() -> None:
    old = "ReduceOnlyWouldIncrease: ReduceOnly order would open or increase a position"
    new = f"{TEXT} and side of Sell but current position is 0"
    assert bitmex_class(old) is bitmex_class(new) is ccxt.BadRequest
