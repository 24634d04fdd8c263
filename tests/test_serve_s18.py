"""Session 18: ``perpspec serve`` against BitMEX's API contract as unmodified clients read it (redteam21).

* orderBookL2: a level that changes side is a ``delete`` of the old side's row and an ``insert`` on the new side (the
  keys are symbol, id, side), never an ``update`` that a client applies to no row (redteam21_1);
* ``quote`` and the ``instrument`` row's bidPrice/askPrice follow the top of the book, also when a resting order or a
  cancel moves it (redteam21_2);
* the private ``wallet`` table streams every change of the wallet (redteam21_3);
* ``PUT /order`` refuses what it cannot apply (execInst, any key BitMEX's amend does not take) with a 400, never
  answers 200 with the field dropped (redteam21_4); a new clOrdID renames the order, as on BitMEX (review20_1);
* a cross position's bankruptPrice and liquidationPrice are the engine's MRG-011/012 on the margin that backs it now,
  as ``perpspec position --leverage 0 --wallet`` computes them (redteam21_6, redteam21_7);
* identical signed orders in one second are both executed (BitMEX: expiry only); a withdrawal's replay is a 400,
  ccxt's BadRequest, never the 401 of bad credentials (redteam21_8);
* instrument rows carry fundingTimestamp and indicativeFundingRate, the feed's next funding instant and rate (FND-012,
  FND-005), and a fundingRate before the first funding (redteam21_9).

The WebSocket tests attach a recording subscriber to the hub, on the server's loop, as a connection does.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import perpspec
from perpspec.engine.core import commands as cmd
from perpspec.engine.serve.keys import sign
from perpspec.engine.serve.rest import ServerConfig
from perpspec.engine.serve.server import Running, open_server, start_in_thread
from perpspec.engine.serve.units import encode_json, iso_timestamp
from perpspec.rules.funding import (
    compute_funding_rate_e8,
    compute_interval_interest_e8,
    compute_next_funding_ms,
)
from tests.serve_helpers import XBT, ccxt_client, raw_request, start_server, state

INV = "BTC/USD:BTC"


class Recorder:
    """A realtime subscriber that keeps every message (the hub's Subscriber protocol)."""

    def __init__(self, account: int | None, topics: set[tuple[str, str]]) -> None:
        self.account = account
        self.topics = topics
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(json.loads(encode_json(message)))  # as the wire carries it

    def table(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("table") == name]


def _subscribe(running: Running, account: int | None, *topics: tuple[str, str]) -> tuple[Recorder, list[dict[str, Any]]]:
    """A recorder subscribed to ``topics`` (partials taken as a connection takes them)."""
    recorder = Recorder(account, set(topics))
    hub = running.server.gateway.hub

    def attach() -> list[dict[str, Any]]:
        partials = [json.loads(encode_json(hub.partial(recorder, table, symbol))) for table, symbol in topics]
        hub.subscribers.append(recorder)
        return partials

    return recorder, running.call(attach)


def _order(running: Running, key: Any, verb: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, answer, _ = raw_request(running, verb, "/api/v1/order", json.dumps(body).encode(), key)
    return status, answer


def _settle(running: Running) -> None:
    running.call(lambda: None)  # everything sent before has been published on the loop


# ----------------------------------------------------------------------------- redteam21_1: a level changes side


def test_a_level_that_changes_side_is_deleted_and_inserted_and_the_streamed_book_matches_rest(served: Any) -> None:
    running, keys = served
    recorder, partials = _subscribe(running, None, ("orderBookL2", "XBTUSD"))
    book = {(row["id"], row["side"]): row for row in partials[0]["data"]}
    assert _order(running, keys["two"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 49000})[0] == 200
    # takes the bid and rests the other 100 at the same price: the level at 49,000 goes from Buy to Sell
    assert _order(running, keys["one"], "POST", {"symbol": "XBTUSD", "side": "Sell", "orderQty": 200, "price": 49000})[0] == 200
    _settle(running)
    for message in recorder.table("orderBookL2"):
        for row in message["data"]:
            key = (row["id"], row["side"])
            if message["action"] == "delete":
                assert key in book, row
                del book[key]
            elif message["action"] == "update":
                assert key in book, f"an update of a row the client does not hold: {row}"
                book[key].update(row)
            else:
                assert key not in book, row
                book[key] = row
    _, rest, _ = raw_request(running, "GET", "/api/v1/orderBook/L2?symbol=XBTUSD&depth=0")
    assert sorted((r["side"], r["price"], r["size"]) for r in book.values()) == \
        sorted((r["side"], r["price"], r["size"]) for r in rest) == [("Sell", 49000, 100)]


# ----------------------------------------------------------------------------- redteam21_2: the top of the book


def test_quote_and_instrument_follow_a_resting_order_and_its_cancel(served: Any) -> None:
    running, keys = served
    recorder, _ = _subscribe(running, None, ("quote", "XBTUSD"), ("instrument", "XBTUSD"))
    status, placed = _order(running, keys["two"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 49000})
    assert status == 200
    _settle(running)
    quotes, instruments = recorder.table("quote"), recorder.table("instrument")
    assert [(q["data"][0]["bidPrice"], q["data"][0]["bidSize"]) for q in quotes] == [(49000, 100)]
    assert [i["data"][0]["bidPrice"] for i in instruments] == [49000]
    recorder.messages.clear()
    assert _order(running, keys["two"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 48000})[0] == 200
    _settle(running)
    assert recorder.messages == []  # below the top: neither moves
    assert _order(running, keys["two"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 200, "price": 49000})[0] == 200
    _settle(running)
    assert [(q["data"][0]["bidPrice"], q["data"][0]["bidSize"]) for q in recorder.table("quote")] == [(49000, 300)]
    assert recorder.table("instrument") == []  # the size moved, the prices did not
    recorder.messages.clear()
    assert _order(running, keys["two"], "DELETE", {"orderID": placed["orderID"]})[0] == 200
    _settle(running)
    assert [(q["data"][0]["bidPrice"], q["data"][0]["bidSize"]) for q in recorder.table("quote")] == [(49000, 200)]
    assert _order(running, keys["two"], "DELETE", {"clOrdID": ""})[0] in (400, 404)  # (nothing to cancel by it)
    recorder.messages.clear()
    assert raw_request(running, "DELETE", "/api/v1/order/all", b"", keys["two"])[0] == 200
    _settle(running)
    assert [q["data"][0]["bidPrice"] for q in recorder.table("quote")] == [None]
    assert [i["data"][0]["bidPrice"] for i in recorder.table("instrument")] == [None]


# ----------------------------------------------------------------------------- redteam21_3: the wallet table


def test_the_wallet_table_streams_deposits_withdrawals_and_commission(served: Any) -> None:
    running, keys = served
    recorder, partials = _subscribe(running, 1, ("wallet", ""))
    start = next(r["amount"] for r in partials[0]["data"] if r["currency"] == "XBt")
    gateway = running.server.gateway
    running.call(lambda: gateway.deposit(1, "XBt", 12_345))
    running.call(lambda: gateway.execute(cmd.Withdraw(time_ms=gateway.now_ms(), account=1, asset="XBt", amount=1_000)))
    _settle(running)
    amounts = [row["amount"] for m in recorder.table("wallet") for row in m["data"] if row["currency"] == "XBt"]
    assert amounts == [start + 12_345, start + 11_345]
    assert all(m["action"] == "update" for m in recorder.table("wallet"))
    recorder.messages.clear()
    assert _order(running, keys["one"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 49000})[0] == 200
    _settle(running)
    assert recorder.table("wallet") == []  # a resting order moves no wallet: nothing is sent
    assert _order(running, keys["two"], "POST", {"symbol": "XBTUSD", "side": "Sell", "orderQty": 100, "price": 49000})[0] == 200
    _settle(running)
    _, wallet, _ = raw_request(running, "GET", "/api/v1/user/wallet?currency=XBt", b"", keys["one"])
    streamed = [row["amount"] for m in recorder.table("wallet") for row in m["data"] if row["currency"] == "XBt"]
    assert streamed
    assert streamed[-1] == wallet["amount"] != start + 11_345


# ----------------------------------------------------------------------------- redteam21_4: PUT /order


def test_an_amend_with_a_new_clordid_renames_the_order_and_a_duplicate_is_refused(served: Any) -> None:
    """BitMEX's PUT /order clOrdID: "Optional new Client Order ID, requires origClOrdID" (review20_1)."""
    running, keys = served
    recorder, _ = _subscribe(running, 1, ("order", ""))
    for cl_ord_id, price in (("a1", 49000), ("b1", 48000)):
        assert _order(running, keys["one"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": price,
                                                     "clOrdID": cl_ord_id})[0] == 200
    status, answer = _order(running, keys["one"], "PUT", {"origClOrdID": "a1", "clOrdID": "a2", "price": 49001,
                                                          "text": "CCXT"})
    assert (status, answer["clOrdID"], answer["price"]) == (200, "a2", 49001), answer
    _settle(running)
    assert [r["clOrdID"] for m in recorder.table("order") if m["action"] == "update" for r in m["data"]
            if r["orderID"] == answer["orderID"]][-1:] == ["a2"]  # the streamed order row carries the new id
    assert _order(running, keys["one"], "PUT", {"origClOrdID": "a1", "price": 49002})[0] == 404  # the old id names nothing
    exchange = running.server.gateway.exchange

    def live() -> list[tuple[str, int, int]]:
        orders: list[tuple[str, int, int]] = running.call(
            lambda: sorted((o.cl_ord_id, o.order_qty, o.price) for o in exchange.live_orders.values())
        )
        return orders

    before = live()
    status, refused = _order(running, keys["one"], "PUT", {"origClOrdID": "a2", "clOrdID": "b1", "orderQty": 200})
    assert (status, refused["error"]["message"]) == (400, "Duplicate clOrdID"), refused
    assert live() == before == [("a2", 100, 4900100), ("b1", 100, 4800000)]  # the engine refused it: nothing changed
    # the order's own id renames nothing
    status, answer = _order(running, keys["one"], "PUT", {"origClOrdID": "a2", "clOrdID": "a2", "price": 49003})
    assert (status, answer["clOrdID"], answer["price"]) == (200, "a2", 49003), answer
    status, cancelled, _ = raw_request(running, "DELETE", "/api/v1/order", json.dumps({"clOrdID": "a2"}).encode(),
                                       keys["one"])
    assert (status, [(o["clOrdID"], o["ordStatus"]) for o in cancelled]) == (200, [("a2", "Canceled")]), cancelled


def test_ccxt_edit_order_by_client_order_id_amends_and_renames_as_bitmex_does(served: Any) -> None:
    """review20_1: ccxt 4.5.83's edit_order by clientOrderId sends clOrdID (its literal default "clientOrderId"
    when the caller names none); BitMEX renames the order to it, and so does serve."""
    running, keys = served
    client = ccxt_client(running, keys["one"])
    client.load_markets()
    client.create_order(INV, "limit", "buy", 100, 49000, {"clientOrderId": "a1"})
    edited = client.edit_order(None, INV, "limit", "buy", 100, 49001, {"clientOrderId": "a1"})
    assert (edited["price"], edited["clientOrderId"]) == (49001.0, "clientOrderId")  # ccxt's own literal, BitMEX's rename
    edited = client.edit_order(None, INV, "limit", "buy", 200, 49002, {"origClOrdID": "clientOrderId", "clOrdID": "a3"})
    assert (edited["price"], edited["cost"], edited["clientOrderId"]) == (49002.0, 200, "a3")
    assert [(o["clientOrderId"], o["price"]) for o in client.fetch_open_orders(INV)] == [("a3", 49002.0)]
    client.cancel_order(None, INV, {"clientOrderId": "a3"})
    assert client.fetch_open_orders(INV) == []


def test_a_renamed_order_keeps_its_new_id_after_a_restart(tmp_path: Path) -> None:
    """serve's views are rebuilt from the journal's replayed events: the Replaced report carries the new id."""
    running, keys = start_server(tmp_path)
    try:
        assert _order(running, keys["one"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 49000,
                                                     "clOrdID": "a1"})[0] == 200
        assert _order(running, keys["one"], "PUT", {"origClOrdID": "a1", "clOrdID": "a2", "price": 49001})[0] == 200
    finally:
        running.stop()
    again = start_in_thread(open_server(str(tmp_path), ServerConfig(rate_limit_per_minute=10**6)))
    try:
        status, rows, _ = raw_request(again, "GET", '/api/v1/order?filter={"open":true}', b"", keys["one"])
        assert (status, [(r["clOrdID"], r["price"]) for r in rows]) == (200, [("a2", 49001)]), rows
        assert _order(again, keys["one"], "PUT", {"origClOrdID": "a1", "price": 49002})[0] == 404
        status, cancelled, _ = raw_request(again, "DELETE", "/api/v1/order", json.dumps({"clOrdID": "a2"}).encode(),
                                           keys["one"])
        assert (status, [o["ordStatus"] for o in cancelled]) == (200, ["Canceled"]), cancelled
    finally:
        again.stop()


@pytest.mark.parametrize(
    ("name", "value"),
    [("execInst", "ReduceOnly"), ("displayQty", 0), ("side", "Sell"), ("ordType", "Market"),
     ("timeInForce", "ImmediateOrCancel"), ("symbol", "XBTUSD"), ("pegPriceType", "PrimaryPeg"), ("bogus", 1)],
)
def test_an_amend_with_a_field_it_cannot_apply_is_refused(served: Any, name: str, value: Any) -> None:
    running, keys = served
    placed = _order(running, keys["one"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 49000})[1]
    before = state(running)
    status, answer = _order(running, keys["one"], "PUT", {"orderID": placed["orderID"], "price": 49001, name: value})
    assert (status, name in answer["error"]["message"]) == (400, True), answer
    assert state(running) == before


# ----------------------------------------------------------------------------- redteam21_6, 21_7: cross prices


def _cross_long(running: Running, keys: Any, qty: int) -> None:
    assert _order(running, keys["one"], "POST", {"symbol": "XBTUSD", "side": "Sell", "orderQty": qty, "price": 50000})[0] == 200
    assert _order(running, keys["two"], "POST", {"symbol": "XBTUSD", "side": "Buy", "orderQty": qty, "price": 50000})[0] == 200


def _published(running: Running, key: Any) -> dict[str, Any]:
    rows = raw_request(running, "GET", "/api/v1/position", b"", key)[1]
    return next(r for r in rows if r["symbol"] == "XBTUSD")


def _with_wallet(running: Running, key: Any, qty: int) -> dict[str, Any]:
    """``perpspec.position`` (the CLI's ``--leverage 0 --wallet``) on the account's wallet now."""
    wallet = raw_request(running, "GET", "/api/v1/user/margin?currency=XBt", b"", key)[1]["walletBalance"]
    return perpspec.position("XBTUSD", qty=qty, entry="50000", mark="50000", leverage=0, wallet=f"{wallet} XBt")


def test_a_cross_position_s_bankruptcy_price_is_backed_by_its_margin_balance(served: Any) -> None:
    running, keys = served
    _cross_long(running, keys, 1000)
    row = _published(running, keys["two"])
    truth = _with_wallet(running, keys["two"], 1000)
    assert row["crossMargin"] is True
    assert Decimal(str(row["bankruptPrice"])) == Decimal(truth["bankruptPrice"])
    assert Decimal(str(row["liquidationPrice"])) == Decimal(truth["liquidationPrice"])
    assert Decimal(str(row["bankruptPrice"])) <= Decimal(str(row["liquidationPrice"])) < Decimal(str(row["markPrice"]))


def test_a_cross_liquidation_price_follows_a_withdrawal_on_rest_and_the_websocket(served: Any) -> None:
    running, keys = served
    _cross_long(running, keys, 10000)
    recorder, _ = _subscribe(running, 2, ("position", ""))
    gateway = running.server.gateway
    events = running.call(lambda: gateway.execute(
        cmd.Withdraw(time_ms=gateway.now_ms(), account=2, asset="XBt", amount=990_000_000)))
    assert type(events[-1]).__name__ == "Accepted"
    _settle(running)
    truth = _with_wallet(running, keys["two"], 10000)
    row = _published(running, keys["two"])
    assert Decimal(str(row["liquidationPrice"])) == Decimal(truth["liquidationPrice"]) > 30000
    assert Decimal(str(row["bankruptPrice"])) == Decimal(truth["bankruptPrice"])
    streamed = [r for m in recorder.table("position") for r in m["data"] if r["symbol"] == "XBTUSD"]
    assert streamed
    assert streamed[-1]["liquidationPrice"] == row["liquidationPrice"]
    recorder.messages.clear()
    running.call(lambda: gateway.deposit(2, "XBt", 5 * XBT))  # and back down after a deposit
    _settle(running)
    streamed = [r for m in recorder.table("position") for r in m["data"] if r["symbol"] == "XBTUSD"]
    assert streamed
    assert Decimal(str(streamed[-1]["liquidationPrice"])) < Decimal(str(row["liquidationPrice"]))
    assert streamed[-1]["liquidationPrice"] == _published(running, keys["two"])["liquidationPrice"]


# ----------------------------------------------------------------------------- redteam21_8: identical requests


def test_identical_signed_orders_in_one_second_are_both_accepted(served: Any) -> None:
    running, keys = served
    key = keys["one"]
    body = json.dumps({"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 40000}, separators=(",", ":")).encode()
    expires = str(int(time.time()) + 5)
    headers = {"api-key": key.key_id, "api-expires": expires,
               "api-signature": sign(key.secret, "POST", "/api/v1/order", expires, body)}
    answers = [raw_request(running, "POST", "/api/v1/order", body, headers=headers) for _ in range(2)]
    assert [a[0] for a in answers] == [200, 200]
    assert answers[0][1]["orderID"] != answers[1][1]["orderID"]


def test_a_replayed_withdrawal_is_a_bad_request_not_an_authentication_error(served: Any) -> None:
    import ccxt

    running, _ = served
    key = running.call(running.server.keys.create, 1, ["read", "withdraw"])
    running.call(running.server.keys.save)
    body = json.dumps({"currency": "XBt", "amount": 1_000}).encode()
    expires = int(time.time()) + 60
    target = "/api/v1/user/requestWithdrawal"
    assert raw_request(running, "POST", target, body, key, expires=expires)[0] == 200
    before = state(running)
    status, answer, _ = raw_request(running, "POST", target, body, key, expires=expires)
    assert (status, state(running)) == (400, before)
    assert "replay" in answer["error"]["message"]
    assert "Signature not valid" not in answer["error"]["message"]
    with pytest.raises(ccxt.BadRequest):  # what ccxt 4.5.83 raises for it (never AuthenticationError)
        ccxt.bitmex().handle_errors(status, "", target, "POST", {}, json.dumps(answer), answer, {}, body.decode())


# ----------------------------------------------------------------------------- redteam21_9: funding fields


def test_instrument_rows_carry_the_next_funding_instant_and_the_indicative_rate(served: Any) -> None:
    from perpspec.engine.serve.feed import PriceFeed

    running, _ = served
    gateway = running.server.gateway
    feed = running.call(lambda: PriceFeed(gateway))  # a feed pays funding (without one none is announced: s19)
    now = running.call(gateway.now_ms)
    rows = raw_request(running, "GET", "/api/v1/instrument/active")[1]
    by_symbol = {r["symbol"]: r for r in rows}
    inst = running.call(lambda: gateway.exchange.instruments()["XBTUSD"])
    row = by_symbol["XBTUSD"]
    due = compute_next_funding_ms(now, inst.funding_interval_ms, 4 * 3_600_000)
    assert row["fundingTimestamp"] == iso_timestamp(due)  # FND-012 on BitMEX's grid (04:00 + k x interval)
    interest = compute_interval_interest_e8(30_000 if inst.fixed_interest_daily_ppm is None
                                            else inst.fixed_interest_daily_ppm * 100, inst.funding_interval_ms)
    rate = compute_funding_rate_e8(inst, 0, interest, 0)
    assert Decimal(str(row["indicativeFundingRate"])) == Decimal(rate) / 10**8
    assert Decimal(str(row["fundingRate"])) == Decimal(rate) / 10**8  # before the first funding: the rate to be paid
    assert running.call(lambda: feed.funding_rate_e8("XBTUSD")) == rate  # what the feed will pay is what is shown
    dated = [r for r in rows if r["typ"] == "FFCCSX"]
    assert dated
    assert all(r["fundingTimestamp"] is None and r["indicativeFundingRate"] is None for r in dated)


def test_ccxt_reads_a_funding_time_and_rate(served: Any) -> None:
    from perpspec.engine.serve.feed import PriceFeed
    from tests.serve_helpers import ccxt_client

    running, keys = served
    running.call(lambda: PriceFeed(running.server.gateway))  # a feed that pays funding (session 19: else none shown)
    rate = ccxt_client(running, keys["one"]).fetch_funding_rate("BTC/USD:BTC")
    assert rate["fundingTimestamp"] is not None
    assert rate["fundingRate"] is not None

