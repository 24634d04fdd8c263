"""Instrument rows carry BitMEX's open interest and 24-hour figures, the same as ``GET /stats``, over REST and WS.

BitMEX's ``Instrument`` rows have ``openInterest``, ``openValue``, ``volume24h``, ``turnover24h``,
``homeNotional24h``, ``foreignNotional24h``, ``vwap``, ``highPrice``, ``lowPrice`` and ``prevPrice24h``; ccxt 4.5.83's
``parse_ticker`` reads high/low/open/vwap/baseVolume/quoteVolume from them.  Serve's rows had none of them (ccxt's
ticker showed None), while ``GET /stats`` (serve19) computed the open interest and the day's volume.
"""

from __future__ import annotations

from typing import Any

import pytest

ccxt = pytest.importorskip("ccxt")

from perpspec.engine.serve.views import MINUTE_MS, PublicTrade, Views  # noqa: E402
from perpspec.rules.contract import compute_notional  # noqa: E402
from perpspec.rules.instrument_file import load_instrument  # noqa: E402
from tests.serve_helpers import ccxt_client, raw_request  # noqa: E402

INV, LIN = "BTC/USD:BTC", "BTC/USDT:USDT"
XBTUSD = load_instrument("XBTUSD")
FIELDS = ("openInterest", "openValue", "volume24h", "turnover24h")


class Listener:
    def __init__(self, topics: set[tuple[str, str]]) -> None:
        self.account: int | None = None
        self.topics = topics
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def _trade(one: Any, two: Any, symbol: str, qty: int, price: float) -> None:
    two.create_order(symbol, "limit", "sell", qty, price)
    one.create_order(symbol, "limit", "buy", qty, price)


def test_instrument_rows_carry_the_stats_figures_and_ccxt_reads_them(served: Any) -> None:
    running, keys = served
    hub = running.server.gateway.hub
    listener = Listener({("instrument", "")})
    running.call(lambda: hub.subscribers.append(listener))
    one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
    _trade(one, two, INV, 1_000, 50_000)
    _trade(one, two, INV, 500, 50_500)
    _trade(one, two, LIN, 2_000, 50_000)
    stats = {(r["rootSymbol"], r["currency"]): r for r in raw_request(running, "GET", "/api/v1/stats")[1]}
    [inv] = raw_request(running, "GET", "/api/v1/instrument?symbol=XBTUSD")[1]
    [lin] = raw_request(running, "GET", "/api/v1/instrument?symbol=XBTUSDT")[1]
    assert [inv[f] for f in FIELDS] == [stats[("XBT", "XBt")][f] for f in FIELDS]  # only XBTUSD traded in XBT/XBt
    assert [lin[f] for f in FIELDS] == [stats[("XBT", "USDt")][f] for f in FIELDS]
    turnover = compute_notional(XBTUSD, 1_000, 5_000_000) + compute_notional(XBTUSD, 500, 5_050_000)
    assert (inv["openInterest"], inv["volume24h"], inv["turnover24h"]) == (1_500, 1_500, turnover)
    assert (inv["homeNotional24h"], inv["foreignNotional24h"]) == (turnover / 1e8, 1_500)
    assert (inv["highPrice"], inv["lowPrice"], inv["prevPrice24h"]) == (50_500, 50_000, None)
    assert inv["vwap"] == pytest.approx(1_500 / (turnover / 1e8), abs=1e-4)
    assert (lin["homeNotional24h"], lin["foreignNotional24h"], lin["vwap"]) == (0.002, 100, 50_000)
    ticker = one.fetch_ticker(INV)
    assert (ticker["high"], ticker["low"], ticker["baseVolume"], ticker["quoteVolume"]) == (
        50_500, 50_000, turnover / 1e8, 1_500)
    assert ticker["vwap"] == inv["vwap"]
    [active] = list(one.fetch_tickers([LIN]).values())
    assert active["quoteVolume"] == 100  # USDT
    partial = running.call(lambda: hub.partial(Listener(set()), "instrument", "XBTUSD"))
    assert [partial["data"][0][f] for f in FIELDS] == [inv[f] for f in FIELDS]
    updates = [row for m in listener.messages if m["table"] == "instrument" for row in m["data"]
               if row["symbol"] == "XBTUSD"]
    assert (updates[-1]["volume24h"], updates[-1]["openInterest"]) == (1_500, 1_500)  # the WS row moved with the trade


def test_the_day_s_prices_come_from_the_tape_s_minutes() -> None:
    views = Views()
    views.instruments = {"XBTUSD": XBTUSD}
    start = 1_800_000_000_000 // MINUTE_MS * MINUTE_MS
    for offset, price in ((0, 5_000_000), (30_000, 5_100_000), (MINUTE_MS, 4_900_000), (2 * MINUTE_MS, 5_050_000)):
        views._count(PublicTrade("XBTUSD", "Buy", 100, price, start + offset, 1))
    assert views.day_prices("XBTUSD", start + 2 * MINUTE_MS) == (5_100_000, 4_900_000, 0)
    # 24 hours later the first minute has left the window: its last price (51,000) is the price 24 hours ago
    assert views.day_prices("XBTUSD", start + 1_440 * MINUTE_MS) == (5_050_000, 4_900_000, 5_100_000)
    assert views.day_prices("XBTUSD", start + 1_441 * MINUTE_MS) == (5_050_000, 5_050_000, 4_900_000)
    views._count(PublicTrade("XBTUSD", "Buy", 100, 5_200_000, start + 1_442 * MINUTE_MS, 1))  # drops minutes 0..2
    assert len(views.volume["XBTUSD"]) == 1
    assert views.day_prices("XBTUSD", start + 1_442 * MINUTE_MS) == (5_200_000, 5_200_000, 5_050_000)
    assert views.day_prices("XBTUSD", start + 2_882 * MINUTE_MS) == (0, 0, 5_200_000)
