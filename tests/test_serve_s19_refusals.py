"""Refusal texts: serve answers with BitMEX's own text, so ccxt raises what it raises on BitMEX (note18_final §4).

ccxt 4.5.83 maps an error body's ``message`` (bitmex.py ``exceptions``): InvalidOrder on exactly "Invalid price",
"Invalid stopPx for ordType", "orderQty is invalid", "Duplicate clOrdID"; BadRequest on any other 400.  BitMEX's
order-rejection texts are its documented list (kept verbatim by roq-trading's BitMEX gateway,
roq/bitmex/json/utils.cpp): "Invalid price tickSize", "Invalid stopPx for ordType", "Invalid stopPx tickSize",
"Invalid displayQty", "Invalid ordType or timeInForce for execInst", "Unsupported ordType", "Instrument expired",
"Instrument has no mark price", "Executing at order price would lead to immediate liquidation"...

Serve said "Invalid price" for a Stop without stopPx and for an off-tick price or stopPx, "orderQty is invalid" for a
bad displayQty, and the engine's reason prefix ("InvalidExecInst: ...") elsewhere.  For an off-tick price ccxt
raised InvalidOrder where BitMEX's "Invalid price tickSize" gives BadRequest; for a bad displayQty InvalidOrder where
BitMEX's gives BadRequest.  Each case below is sent as ccxt (or a raw client) sends it; the answer must be BitMEX's
text, and ccxt's exception the one ccxt raises for BitMEX's text (its own ``handle_errors`` on BitMEX's body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")

from perpspec.engine.serve import errors  # noqa: E402
from perpspec.engine.serve.server import Running  # noqa: E402
from tests.serve_helpers import ccxt_client, raw_request, start_server  # noqa: E402

INV = "BTC/USD:BTC"
ENGINE = Path(__file__).resolve().parent.parent / "engine" / "core"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, Any]]]:
    running, keys = start_server(Path(tmp_path_factory.mktemp("serve-s19-refusals")))
    try:
        yield running, keys
    finally:
        running.stop()


def bitmex_class(message: str, status: int = 400) -> type[Exception]:
    """The exception ccxt 4.5.83 raises for a BitMEX error body carrying ``message``."""
    client = ccxt.bitmex()
    body = json.dumps({"error": {"message": message, "name": "ValidationError"}})
    try:
        client.handle_errors(status, "", "http://x/api/v1/order", "POST", {}, body, json.loads(body), {}, "")
    except Exception as error:  # the class is the answer
        return type(error)
    raise AssertionError("ccxt raised nothing")


BASE = {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100}
# (case, body, BitMEX's text)
RAW_CASES = [
    ("Stop without stopPx", {**BASE, "ordType": "Stop"}, "Invalid stopPx for ordType"),
    ("StopLimit without stopPx", {**BASE, "ordType": "StopLimit", "price": 41000}, "Invalid stopPx for ordType"),
    ("Limit with a stopPx", {**BASE, "ordType": "Limit", "price": 40000, "stopPx": 41000}, "Invalid stopPx for ordType"),
    ("price off the tick", {**BASE, "price": 40000.25}, "Invalid price tickSize"),
    ("price finer than the price unit", {**BASE, "price": 40000.001}, "Invalid price tickSize"),
    ("stopPx off the tick", {**BASE, "ordType": "StopLimit", "price": 41000, "stopPx": 40999.25},
     "Invalid stopPx tickSize"),
    ("negative price", {**BASE, "price": -1}, "Invalid price"),
    ("displayQty off the lot", {**BASE, "orderQty": 1000, "price": 40000, "displayQty": 150}, "Invalid displayQty"),
    ("displayQty on a market order", {**BASE, "ordType": "Market", "displayQty": 0}, "Invalid displayQty"),
    ("post-only IOC", {**BASE, "price": 40000, "execInst": "ParticipateDoNotInitiate",
                       "timeInForce": "ImmediateOrCancel"}, "Invalid ordType or timeInForce for execInst"),
    ("trigger source on a limit", {**BASE, "price": 40000, "execInst": "LastPrice"}, "Invalid ordType for execInst"),
    ("unknown ordType", {**BASE, "ordType": "Iceberg"}, "Unsupported ordType"),
    ("unknown timeInForce", {**BASE, "price": 40000, "timeInForce": "Forever"}, "Unsupported timeInForce"),
    ("unknown execInst", {**BASE, "price": 40000, "execInst": "Sometimes"}, "Unsupported execInst"),
    ("pegged without TrailingStopPeg", {**BASE, "ordType": "Pegged", "pegPriceType": "PrimaryPeg",
                                        "pegOffsetValue": 10}, "Unsupported pegPriceType"),
    ("trailing stop of the wrong sign", {**BASE, "side": "Sell", "ordType": "Pegged", "pegPriceType": "TrailingStopPeg",
                                         "pegOffsetValue": 10}, "Invalid pegOffsetValue for pegPriceType"),
    ("trailing stop off the tick", {**BASE, "ordType": "Pegged", "pegPriceType": "TrailingStopPeg",
                                    "pegOffsetValue": 10.25}, "Invalid pegOffsetValue tickSize"),
]


@pytest.mark.parametrize(("case", "body", "text"), RAW_CASES, ids=[c for c, _, _ in RAW_CASES])
def test_a_refusal_carries_bitmex_s_text_and_ccxt_s_class_for_it(served: Any, case: str, body: dict[str, Any],
                                                                   text: str) -> None:
    running, keys = served
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", json.dumps(body).encode(), keys["one"])
    assert (status, answer["error"]["message"]) == (400, text), case
    open_orders = raw_request(running, "GET", "/api/v1/order?filter=%7B%22open%22%3Atrue%7D", b"", keys["one"])
    assert open_orders[:2] == (200, [])  # nothing placed
    assert bitmex_class(answer["error"]["message"]) is bitmex_class(text)


def test_ccxt_raises_invalid_order_with_bitmex_s_text_for_a_stop_without_trigger_price(served: Any) -> None:
    running, keys = served
    one = ccxt_client(running, keys["one"])
    with pytest.raises(ccxt.InvalidOrder, match="Invalid stopPx for ordType"):
        one.create_order(INV, "stop", "buy", 100)  # ccxt sends ordType Stop with no stopPx


def test_ccxt_raises_bad_request_for_an_off_tick_price_as_on_bitmex(served: Any) -> None:
    running, keys = served
    one = ccxt_client(running, keys["one"])
    assert bitmex_class("Invalid price tickSize") is ccxt.BadRequest
    with pytest.raises(ccxt.BadRequest, match="Invalid price tickSize") as raised:
        one.create_order(INV, "limit", "buy", 100, 40000, {"price": 40000.25})  # params override the rounded price
    assert not isinstance(raised.value, ccxt.InvalidOrder)  # BadRequest and InvalidOrder are siblings in ccxt
    with pytest.raises(ccxt.BadRequest, match="Invalid displayQty"):
        one.create_order(INV, "limit", "buy", 1000, 40000, {"displayQty": 150})


def test_an_amend_names_the_field_at_fault(served: Any) -> None:
    running, keys = served
    one = ccxt_client(running, keys["one"])
    order = one.create_order(INV, "limit", "buy", 100, 40000)
    with pytest.raises(ccxt.BadRequest, match="Invalid price tickSize"):
        one.edit_order(order["id"], INV, "limit", "buy", 100, 40000, {"price": 40000.25})
    body = json.dumps({"orderID": order["id"], "stopPx": 39000}).encode()  # a Limit has no stopPx
    status, answer, _ = raw_request(running, "PUT", "/api/v1/order", body, keys["one"])
    assert (status, answer["error"]["message"]) == (400, "Invalid stopPx for ordType")
    one.cancel_order(order["id"], INV)


def test_every_engine_text_the_mapping_reads_is_one_the_engine_writes() -> None:
    """A renamed engine text must not fall back silently to the generic message: each fragment is in engine/core."""
    source = "\n".join(path.read_text() for path in ENGINE.glob("*.py"))
    fragments = [fragment for _reason, fragment, _text in errors._BY_TEXT]
    fragments += [errors._OFF_TICK, "takes no stopPx or pegOffsetValue"]
    for fragment in fragments:
        assert re.search(re.escape(fragment.strip()), source), fragment
