"""A trailing stop as ccxt sends it (BitMEX's form): ordType Stop, pegPriceType TrailingStopPeg, pegOffsetValue, no stopPx.

BitMEX's API explorer (Order.new): "Use pegPriceType of 'TrailingStopPeg' to create Trailing Stops. The pegged stopPx
will move as the market moves away from the peg ... combine with pegOffsetValue ... Use a negative offset for
stop-sell and buy-if-touched orders. Requires ordType: 'Stop', 'StopLimit', 'MarketIfTouched', 'LimitIfTouched'."
ccxt 4.5.83's ``create_order`` with ``trailingAmount`` sends exactly that (a sell's offset negated), and BitMEX's rows
show ordType Stop, the pegPriceType, the pegOffsetValue and the stopPx as it trails.  Serve refused it ("Invalid
stopPx for ordType", ccxt InvalidOrder) because the engine's trailing stop is ordType Pegged (ORD-007); serve now maps
BitMEX's form onto it.  The engine has no trailing StopLimit or if-touched order: those are refused, never placed as
something else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")

from perpspec.engine.serve.server import Running  # noqa: E402
from perpspec.engine.serve.units import encode_json  # noqa: E402
from tests.serve_helpers import ccxt_client, raw_request  # noqa: E402

INV = "BTC/USD:BTC"


def _mark(running: Running, price_units: int) -> None:
    gateway = running.server.gateway
    running.call(lambda: gateway.set_price("XBTUSD", price_units))


def test_ccxt_places_a_trailing_stop_and_its_row_trails_as_bitmex_s(served: Any) -> None:
    running, keys = served
    one = ccxt_client(running, keys["one"])
    sell = one.create_order(INV, "market", "sell", 100, None, {"trailingAmount": 100, "triggerDirection": "below"})
    info = sell["info"]
    assert (sell["type"], sell["status"], info["ordType"], info["pegPriceType"]) == (
        "stop", "open", "Stop", "TrailingStopPeg")
    assert (info["pegOffsetValue"], info["stopPx"], sell["triggerPrice"]) == (-100, 49_900, 49_900)
    assert info["timeInForce"] == "ImmediateOrCancel"  # BitMEX's Stop: executes as a market order
    buy = one.create_order(INV, "market", "buy", 100, None, {"trailingAmount": 200, "triggerDirection": "above"})
    assert (buy["info"]["ordType"], buy["info"]["pegOffsetValue"], buy["triggerPrice"]) == ("Stop", 200, 50_200)
    _mark(running, 5_100_000)  # the price rises 1,000: the sell stop follows it up, the buy stop stays
    assert one.fetch_order(sell["id"], INV)["triggerPrice"] == 50_900
    assert one.fetch_order(buy["id"], INV)["status"] == "canceled"  # triggered at 51,000 >= 50,200: no book, cancelled
    _mark(running, 5_095_000)  # back toward the stop: a trailing stop never moves back
    assert one.fetch_order(sell["id"], INV)["triggerPrice"] == 50_900
    [open_row] = one.fetch_open_orders(INV)
    assert (open_row["id"], open_row["type"], open_row["info"]["stopPx"]) == (sell["id"], "stop", 50_900)
    one.cancel_order(sell["id"], INV)


def test_a_trailing_order_the_engine_does_not_have_is_refused(served: Any) -> None:
    running, keys = served
    one = ccxt_client(running, keys["one"])
    with pytest.raises(ccxt.BadRequest, match="only a trailing Stop is supported"):  # ccxt: MarketIfTouched
        one.create_order(INV, "market", "sell", 100, None, {"trailingAmount": 100, "triggerDirection": "above"})
    with pytest.raises(ccxt.BadRequest, match="only a trailing Stop is supported"):  # ccxt: StopLimit
        one.create_order(INV, "limit", "sell", 100, 49_000, {"trailingAmount": 100, "triggerDirection": "below"})
    body = {"symbol": "XBTUSD", "side": "Sell", "orderQty": 100, "ordType": "Stop", "pegPriceType": "TrailingStopPeg",
            "pegOffsetValue": -100, "stopPx": 49_000}  # a trailing stop's stopPx is its peg's: never accepted as sent
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", json.dumps(body).encode(), keys["one"])
    assert (status, answer["error"]["message"]) == (400, "Invalid stopPx for ordType")
    assert one.fetch_open_orders(INV) == []


class Listener:
    """A realtime subscriber as the hub sees one (account, topics, send)."""

    def __init__(self, account: int, topics: set[tuple[str, str]]) -> None:
        self.account: int | None = account
        self.topics = topics
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(json.loads(encode_json(message)))  # as the client reads it


def test_the_order_table_shows_each_new_stop_px_as_the_stop_trails(served: Any) -> None:
    running, keys = served
    hub = running.server.gateway.hub
    mine, other = Listener(1, {("order", "")}), Listener(2, {("order", "")})
    running.call(lambda: hub.subscribers.extend([mine, other]))
    one = ccxt_client(running, keys["one"])
    sell = one.create_order(INV, "market", "sell", 100, None, {"trailingAmount": 100, "triggerDirection": "below"})

    def stops() -> list[object]:
        return [(m["action"], row["stopPx"]) for m in mine.messages if m["table"] == "order" for row in m["data"]
                if row["orderID"] == sell["id"]]

    assert stops() == [("insert", 49_900)]
    _mark(running, 5_100_000)
    _mark(running, 5_095_000)  # toward the stop: it stays, nothing to send
    _mark(running, 5_200_000)
    assert stops() == [("insert", 49_900), ("update", 50_900), ("update", 51_900)]
    assert other.messages == []  # another account's order: never sent
    one.cancel_order(sell["id"], INV)
    assert stops()[-1] == ("update", 51_900)  # the cancel's row: its stopPx as trailing left it
