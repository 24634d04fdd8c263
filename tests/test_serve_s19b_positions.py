"""A contract in which the account has only open orders has its Position row, as on BitMEX.

BitMEX creates an account's Position row for a contract with its first order there: ``GET /position`` lists it with
``currentQty`` 0 and the margin of its open orders in ``initMargin`` (ccxt's ``fetch_positions`` shows it with
contracts 0 and initialMargin), and the ``position`` table's partial carries it.  Serve listed only contracts the
account had held, so a trader with open orders saw no position and no order margin there.
"""

from __future__ import annotations

from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")

from tests.serve_helpers import ccxt_client, raw_request  # noqa: E402

INV, LIN = "BTC/USD:BTC", "BTC/USDT:USDT"


class Listener:
    """A realtime subscriber as the hub sees one (account, topics, send)."""

    def __init__(self, account: int, topics: set[tuple[str, str]]) -> None:
        self.account: int | None = account
        self.topics = topics
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def test_a_contract_with_only_open_orders_is_listed_with_their_margin(served: Any) -> None:
    running, keys = served
    hub = running.server.gateway.hub
    listener = Listener(1, {("position", "")})
    running.call(lambda: hub.subscribers.append(listener))
    one = ccxt_client(running, keys["one"])
    assert one.fetch_positions() == []
    one.create_order(INV, "limit", "buy", 1_000, 40_000)
    [position] = one.fetch_positions()
    status, margin, _ = raw_request(running, "GET", "/api/v1/user/margin?currency=XBt", b"", keys["one"])
    assert status == 200
    assert (position["symbol"], position["contracts"], position["info"]["currentQty"]) == (INV, 0, 0)
    assert position["initialMargin"] == margin["initMargin"] > 0  # the orders' margin: all the account's order margin
    inserts = [row for m in listener.messages if m["table"] == "position" and m["action"] == "insert" for row in m["data"]]
    assert [(row["symbol"], row["currentQty"], row["initMargin"]) for row in inserts] == [
        ("XBTUSD", 0, margin["initMargin"])]
    partial = running.call(lambda: hub.partial(Listener(1, set()), "position", ""))
    assert [(row["symbol"], row["currentQty"]) for row in partial["data"]] == [("XBTUSD", 0)]
    one.create_order(LIN, "limit", "sell", 1_000, 60_000)
    assert sorted(p["symbol"] for p in one.fetch_positions()) == [INV, LIN]
    one.cancel_all_orders()  # BitMEX keeps the rows, flat, with no order margin left
    rows = {p["symbol"]: p for p in one.fetch_positions()}
    assert (rows[INV]["contracts"], rows[INV]["initialMargin"], rows[LIN]["initialMargin"]) == (0, 0, 0)
    assert raw_request(running, "GET", "/api/v1/position", b"", keys["two"])[:2] == (200, [])  # another account
