"""``GET /stats`` (ccxt's ``fetch_open_interest``/``fetch_open_interests``), which serve did not serve (404).

BitMEX's rows: ``rootSymbol``, ``currency``, ``volume24h``, ``turnover24h``, ``openInterest``, ``openValue`` per root
and settlement currency, and a ``Total`` per currency (ccxt 4.5.83's sample in ``fetch_open_interests``).  The open
interest is the engine's (the long contracts held), its value CON-003 at the mark; the 24-hour volume and turnover
are the public tape's, per minute.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from perpspec.engine.serve.server import Running
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument_file import load_instrument
from tests.serve_helpers import raw_request

XBTUSD, XBTUSDT, ETHUSD = load_instrument("XBTUSD"), load_instrument("XBTUSDT"), load_instrument("ETHUSD")


def _trade(running: Running, keys: dict[str, Any], symbol: str, qty: int, price: int, buyer: str = "one") -> None:
    seller = "two" if buyer == "one" else "one"
    for key, side in ((keys[seller], "Sell"), (keys[buyer], "Buy")):
        body = json.dumps({"symbol": symbol, "side": side, "orderQty": qty, "price": price}).encode()
        status, answer, _ = raw_request(running, "POST", "/api/v1/order", body, key)
        assert status == 200, answer


def _stats(running: Running) -> dict[tuple[str, str], dict[str, Any]]:
    status, answer, _ = raw_request(running, "GET", "/api/v1/stats")
    assert status == 200, answer
    return {(row["rootSymbol"], row["currency"]): row for row in answer}


def test_stats_carry_the_engine_s_open_interest_and_the_day_s_volume(served: Any) -> None:
    running, keys = served
    assert _stats(running)[("XBT", "XBt")]["openInterest"] == 0
    _trade(running, keys, "XBTUSD", 1_000, 50_000)
    _trade(running, keys, "XBTUSD", 400, 50_000, buyer="two")  # account 1 reduces its long: 600 open
    _trade(running, keys, "XBTUSDT", 2_000, 50_000)
    _trade(running, keys, "ETHUSD", 1_000, 3_000)
    stats = _stats(running)
    xbt, lin, eth = stats[("XBT", "XBt")], stats[("XBT", "USDt")], stats[("ETH", "XBt")]
    assert (xbt["openInterest"], xbt["volume24h"]) == (600, 1_400)
    assert xbt["openValue"] == compute_notional(XBTUSD, 600, 5_000_000) == 1_200_000
    assert xbt["turnover24h"] == compute_notional(XBTUSD, 1_400, 5_000_000) == 2_800_000
    assert (lin["openInterest"], lin["openValue"], lin["volume24h"], lin["turnover24h"]) == (
        2_000, 100_000_000, 2_000, 100_000_000)  # 100 USDT in USDt
    assert (eth["openInterest"], eth["openValue"]) == (1_000, compute_notional(ETHUSD, 1_000, 300_000))
    total = stats[("Total", "XBt")]
    assert (total["openInterest"], total["volume24h"]) == (0, 0)  # contracts of different series do not add
    assert total["openValue"] == xbt["openValue"] + eth["openValue"]
    assert total["turnover24h"] == xbt["turnover24h"] + eth["turnover24h"]
    # the open interest is the longs held, which are the shorts held (engine positions)
    exchange = running.server.gateway.exchange
    shorts = running.call(lambda: -sum(min(p.qty, 0) for a in exchange.account_ids()
                                       if (p := exchange.positions(a).get("XBTUSD")) is not None))
    assert shorts == 600


def test_ccxt_fetches_the_open_interest(served: Any) -> None:
    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    running, keys = served
    _trade(running, keys, "XBTUSDT", 2_000, 50_000)
    client = ccxt_client(running, keys["one"])
    interest = client.fetch_open_interest("BTC/USDT:USDT")
    assert (interest["symbol"], interest["openInterestAmount"], interest["openInterestValue"]) == (
        "BTC/USDT:USDT", 2_000, 100_000_000)
    every = client.fetch_open_interests()
    assert every["BTC/USDT:USDT"]["openInterestAmount"] == 2_000


def test_the_day_s_volume_is_the_last_1440_minutes() -> None:
    from perpspec.engine.serve.views import MINUTE_MS, PublicTrade, Views

    views = Views()
    views.instruments = {"XBTUSD": XBTUSD}
    start = 1_800_000_000_000 // MINUTE_MS * MINUTE_MS
    for offset, size in ((0, 100), (MINUTE_MS - 1, 200), (1_439 * MINUTE_MS, 300)):
        views._count(PublicTrade("XBTUSD", "Buy", size, 5_000_000, start + offset, 1))
    assert views.day_volume("XBTUSD", start + 1_439 * MINUTE_MS) == (600, compute_notional(XBTUSD, 600, 5_000_000))
    views._count(PublicTrade("XBTUSD", "Buy", 400, 5_000_000, start + 1_440 * MINUTE_MS, 1))
    assert views.day_volume("XBTUSD", start + 1_440 * MINUTE_MS)[0] == 700  # the first minute has left the window
    assert len(views.volume["XBTUSD"]) == 2  # older minutes are dropped: at most 1,440 kept
    assert views.day_volume("XBTUSD", start + 2_880 * MINUTE_MS) == (0, 0)
