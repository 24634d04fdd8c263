"""Unmodified ccxt 4.5.83 (sync and async) trading on ``perpspec serve`` over 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

from perpspec.engine.serve.keys import ApiKey  # noqa: E402
from perpspec.engine.serve.server import Running  # noqa: E402
from tests.serve_helpers import ccxt_client, iterate, raw_request, start_server, state  # noqa: E402

INV = "BTC/USD:BTC"
LIN = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, ApiKey]]]:
    running, keys = start_server(Path(tmp_path_factory.mktemp("serve-ccxt")))
    for _ in iterate(running):
        yield running, keys


@pytest.fixture
def one(served: tuple[Running, dict[str, ApiKey]]) -> Any:
    running, keys = served
    return ccxt_client(running, keys["one"])


@pytest.fixture
def two(served: tuple[Running, dict[str, ApiKey]]) -> Any:
    running, keys = served
    return ccxt_client(running, keys["two"])


def test_ccxt_loads_every_shipped_market_with_bitmex_units(one: Any) -> None:
    markets = one.load_markets()
    assert {INV, LIN, "ETH/USD:BTC", "BTC/USD:BTC-261225"} <= set(markets)
    xbtusd = markets[INV]
    assert (xbtusd["id"], xbtusd["swap"], xbtusd["inverse"]) == ("XBTUSD", True, True)
    assert xbtusd["contractSize"] == 100000000  # ccxt's |multiplier| quirk for inverse contracts (reference §5a)
    assert (xbtusd["precision"]["amount"], xbtusd["precision"]["price"]) == (100, 0.5)
    assert markets[LIN]["contractSize"] == 1e-06
    assert markets["BTC/USD:BTC-261225"]["future"] is True


def test_ccxt_balance_is_the_deposit_in_coins(one: Any) -> None:
    balance = one.fetch_balance()
    assert balance["BTC"]["total"] == 10.0
    assert balance["USDT"]["free"] == 100_000.0


def test_ccxt_create_fetch_and_cancel_a_limit_order(one: Any) -> None:
    order = one.create_order(INV, "limit", "buy", 100, 49000.5)
    assert (order["status"], order["price"], order["side"]) == ("open", 49000.5, "buy")
    assert order["cost"] == 100  # inverse: ccxt shows orderQty (USD) as the cost
    fetched = one.fetch_order(order["id"], INV)
    assert (fetched["id"], fetched["status"]) == (order["id"], "open")
    assert order["id"] in [o["id"] for o in one.fetch_open_orders(INV)]
    cancelled = one.cancel_order(order["id"], INV)
    assert cancelled["status"] == "canceled"
    assert order["id"] not in [o["id"] for o in one.fetch_open_orders(INV)]


def test_ccxt_trade_between_two_accounts_shows_positions_trades_and_book(one: Any, two: Any) -> None:
    one.load_markets()
    two.create_order(LIN, "limit", "sell", 2000, 50000)
    two.create_order(LIN, "limit", "sell", 3000, 50010)
    book = one.fetch_order_book(LIN)
    assert book["asks"][:2] == [[50000.0, 2000.0], [50010.0, 3000.0]]
    filled = one.create_order(LIN, "market", "buy", 2000)
    assert filled["status"] == "closed"
    assert filled["filled"] == 2000
    positions = {p["symbol"]: p for p in one.fetch_positions()}
    assert positions[LIN]["contracts"] == 2000
    assert positions[LIN]["side"] == "long"
    assert positions[LIN]["entryPrice"] == 50000.0
    shorts = {p["symbol"]: p for p in two.fetch_positions()}
    assert (shorts[LIN]["contracts"], shorts[LIN]["side"]) == (2000, "short")
    mine = one.fetch_my_trades(LIN)
    assert [(t["side"], t["amount"], t["price"], t["takerOrMaker"]) for t in mine] == [("buy", 2000, 50000.0, "taker")]
    tape = one.fetch_trades(LIN)
    assert [(t["side"], t["amount"], t["price"]) for t in tape][-1:] == [("buy", 2000, 50000.0)]
    assert mine[0]["id"] == tape[-1]["id"]  # one trdMatchID for the match, on both feeds


def test_ccxt_set_leverage_and_margin_mode_return_the_position(one: Any) -> None:
    one.load_markets()
    row = one.set_leverage(25, INV)
    assert (row["symbol"], row["leverage"], row["crossMargin"]) == ("XBTUSD", 25, False)
    row = one.set_margin_mode("cross", INV)
    assert row["crossMargin"] is True


def test_wrong_secret_is_an_authentication_error(served: tuple[Running, dict[str, ApiKey]]) -> None:
    running, keys = served
    client = ccxt_client(running, keys["one"], secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError):
        client.fetch_balance()


def test_order_beyond_the_balance_is_insufficient_funds(served: tuple[Running, dict[str, ApiKey]]) -> None:
    running, keys = served
    poor = ccxt_client(running, keys["poor"])
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient Available Balance"):
        poor.create_order(INV, "limit", "buy", 100_000, 49000)
    assert poor.fetch_open_orders(INV) == []
    assert poor.fetch_balance()["BTC"]["total"] == 1e-05


def test_duplicate_client_order_id_is_an_invalid_order(one: Any) -> None:
    one.load_markets()
    first = one.create_order(INV, "limit", "buy", 100, 40000, {"clOrdID": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate clOrdID"):
        one.create_order(INV, "limit", "buy", 200, 40000.5, {"clOrdID": "dup-1"})
    one.cancel_order(first["id"], INV)


def test_cancelling_a_filled_order_is_order_not_found(one: Any, two: Any) -> None:
    one.load_markets()
    resting = two.create_order(INV, "limit", "sell", 100, 50000)
    one.create_order(INV, "market", "buy", 100)
    assert two.fetch_order(resting["id"], INV)["status"] == "closed"
    with pytest.raises(ccxt.OrderNotFound):
        two.cancel_order(resting["id"], INV)


def test_read_only_key_cannot_trade(served: tuple[Running, dict[str, ApiKey]]) -> None:
    running, keys = served
    reader = ccxt_client(running, keys["reader"])
    assert reader.fetch_balance()["BTC"]["total"] > 0
    with pytest.raises(ccxt.PermissionDenied):
        reader.create_order(INV, "limit", "buy", 100, 40000)


def test_an_account_never_sees_or_cancels_another_accounts_order(one: Any, two: Any,
                                                                  served: tuple[Running, dict[str, ApiKey]]) -> None:
    running, keys = served
    one.load_markets()
    order = one.create_order(INV, "limit", "buy", 100, 41000)
    with pytest.raises(ccxt.OrderNotFound):
        two.fetch_order(order["id"], INV)
    before = state(running)
    body = f'{{"orderID":"{order["id"]}"}}'.encode()
    status, answer, _ = raw_request(running, "DELETE", "/api/v1/order", body, keys["two"])
    # BitMEX's row for an order the caller does not own: only what it sent echoed back, nothing of the order's
    assert (status, [(r["orderID"], r["ordStatus"], r["account"]) for r in answer]) == (
        200, [(order["id"], "Rejected", 0)])
    assert set(answer[0]) == {"orderID", "clOrdID", "account", "ordStatus", "ordRejReason", "workingIndicator",
                              "leavesQty", "cumQty", "error", "transactTime", "timestamp"}
    assert state(running) == before  # no command: nothing journalled
    assert one.fetch_order(order["id"], INV)["status"] == "open"
    one.cancel_order(order["id"], INV)


def test_async_ccxt_places_and_cancels(served: tuple[Running, dict[str, ApiKey]]) -> None:
    import ccxt.async_support as accxt

    running, keys = served

    async def session() -> tuple[str, str, float]:
        client = ccxt_client(running, keys["one"], flavour=accxt.bitmex)
        try:
            balance = await client.fetch_balance()
            order = await client.create_order(INV, "limit", "buy", 100, 42000)
            cancelled = await client.cancel_order(order["id"], INV)
            return order["status"], cancelled["status"], balance["BTC"]["total"]
        finally:
            await client.close()

    opened, cancelled, total = asyncio.run(session())
    assert (opened, cancelled) == ("open", "canceled")
    assert total > 9


def test_ccxt_tickers_funding_edit_cancel_many_and_close(one: Any, two: Any) -> None:
    one.load_markets()
    ticker = one.fetch_ticker(INV)
    assert (ticker["symbol"], ticker["markPrice"]) == (INV, 50000.0)
    assert INV in one.fetch_tickers()
    assert one.fetch_funding_rate_history(INV) == []
    assert INV in one.fetch_funding_rates()
    order = one.create_order(INV, "limit", "buy", 100, 43000)
    edited = one.edit_order(order["id"], INV, "limit", "buy", 200, 43000.5)
    assert (edited["id"], edited["price"], edited["cost"]) == (order["id"], 43000.5, 200)
    second = one.create_order(INV, "limit", "buy", 100, 43001)
    cancelled = one.cancel_orders([order["id"], second["id"]], INV)
    assert sorted(o["status"] for o in cancelled) == ["canceled", "canceled"]
    one.create_order(INV, "limit", "buy", 100, 43002)
    one.create_order(INV, "limit", "buy", 100, 43003)
    assert len(one.cancel_all_orders(INV)) >= 2
    assert one.fetch_open_orders(INV) == []
    closed = one.fetch_closed_orders(INV)
    assert {o["id"] for o in closed} >= {order["id"], second["id"]}
    assert one.cancel_all_orders_after(60_000)["cancelTime"] is not None
    assert one.cancel_all_orders_after(0)["cancelTime"] is None
    two.create_order(INV, "limit", "sell", 1000, 50000)
    one.create_order(INV, "market", "buy", 1000)
    held = {p["symbol"]: p for p in one.fetch_positions()}[INV]["contracts"]
    two.create_order(INV, "limit", "buy", 10_000, 49000)
    one.close_position(INV, "sell")
    assert held > 0
    assert {p["symbol"]: p for p in one.fetch_positions()}[INV]["contracts"] == 0


def test_dead_mans_switch_fires_without_further_traffic(one: Any) -> None:
    import time

    one.load_markets()
    order = one.create_order(INV, "limit", "buy", 100, 39000)
    one.cancel_all_orders_after(1000)
    deadline = time.monotonic() + 10
    while one.fetch_order(order["id"], INV)["status"] == "open":
        assert time.monotonic() < deadline, "the dead man's switch never fired"
        time.sleep(0.2)
    assert one.fetch_order(order["id"], INV)["status"] == "canceled"


def test_ccxt_trigger_post_only_reduce_only_orders_and_leverages(one: Any, two: Any) -> None:
    one.load_markets()
    stop = one.create_order(LIN, "market", "sell", 1000, None, {"triggerPrice": 45000, "triggerDirection": "below"})
    assert (stop["type"], stop["triggerPrice"], stop["status"]) == ("stop", 45000.0, "open")
    stop_limit = one.create_order(LIN, "limit", "buy", 1000, 55000.5,
                                  {"triggerPrice": 54000, "triggerDirection": "above"})
    assert (stop_limit["type"], stop_limit["price"], stop_limit["triggerPrice"]) == ("stoplimit", 55000.5, 54000.0)
    post_only = one.create_order(LIN, "limit", "buy", 1000, 40000, {"postOnly": True})
    assert post_only["postOnly"] is True
    ask = two.create_order(LIN, "limit", "sell", 1000, 50200)
    crossing = one.create_order(LIN, "limit", "buy", 1000, 50200, {"postOnly": True})
    assert (crossing["status"], crossing["filled"]) == ("canceled", 0)  # ORD-010: cancelled instead of trading
    two.cancel_order(ask["id"], LIN)
    listed = {o["id"]: o for o in one.fetch_orders(LIN)}
    assert {stop["id"], stop_limit["id"], post_only["id"]} <= set(listed)
    one.cancel_all_orders(LIN)
    leverages = one.fetch_leverages([INV])
    assert leverages[INV]["longLeverage"] > 0
    rows = {row["symbol"]: row for row in one.fetch_positions()}
    assert rows[LIN]["info"]["deleveragePercentile"] == 1  # the only long: first in its ADL queue (ADL-007)
    ranks = {r["symbol"]: r["rank"] for r in one.fetch_positions_adl_rank()}
    assert ranks[LIN] == 1  # ccxt keeps int(deleveragePercentile): BitMEX's fraction
