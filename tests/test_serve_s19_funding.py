"""Funding in ``perpspec serve`` (note18_final §4): paid at the funding instant, announced only when someone pays.

* The price feed woke once a second and sent the instant's ``FundingTick`` stamped with its wake time: the
  ``funding`` row said up to a second after the instant (BitMEX: the instant, 04:00:00.000), and a position closed
  in between escaped funding it owed at the instant (or one opened in between paid for time it never held).  Now a
  due instant is applied before any command stamped at or after it (``Gateway.before``), stamped with the instant.
* ``perpspec serve --no-feed`` announced ``fundingTimestamp`` and ``indicativeFundingRate`` (and a ``fundingRate``
  before any was paid) that no one would ever pay.  Without a feed the rows now say null, as ccxt reads them
  (``fetch_funding_rate``: ``fundingTimestamp``/``fundingRate`` None).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from perpspec.engine.serve.feed import PriceFeed
from perpspec.engine.serve.server import Running
from perpspec.engine.serve.units import iso_timestamp
from tests.serve_helpers import raw_request


def _order(running: Running, key: Any, **body: Any) -> None:
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", json.dumps(body).encode(), key)
    assert status == 200, answer


def _wallet(running: Running, account: int) -> int:
    exchange = running.server.gateway.exchange
    amount: int = running.call(lambda: exchange.wallet(account, "XBt"))
    return amount


def test_without_a_feed_no_funding_is_announced(served: Any) -> None:
    running, keys = served
    rows = {r["symbol"]: r for r in raw_request(running, "GET", "/api/v1/instrument/active")[1]}
    for symbol in ("XBTUSD", "XBTUSDT", "ETHUSD"):
        row = rows[symbol]
        assert (row["fundingTimestamp"], row["indicativeFundingRate"], row["fundingRate"]) == (None, None, None)
    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    rate = ccxt_client(running, keys["one"]).fetch_funding_rate("BTC/USD:BTC")
    assert (rate["fundingTimestamp"], rate["fundingRate"]) == (None, None)
    # a feed that pays funding: the instant and rate it will pay are announced
    running.call(lambda: PriceFeed(running.server.gateway))
    row = raw_request(running, "GET", "/api/v1/instrument?symbol=XBTUSD")[1][0]
    assert row["fundingTimestamp"] is not None
    assert row["indicativeFundingRate"] == row["fundingRate"] == 0.0001


def test_the_instant_is_paid_at_its_time_before_a_later_trade(served: Any) -> None:
    running, keys = served
    gateway = running.server.gateway
    feed = running.call(lambda: PriceFeed(gateway))
    _order(running, keys["two"], symbol="XBTUSD", side="Sell", orderQty=1_000, price=50_000)
    _order(running, keys["one"], symbol="XBTUSD", side="Buy", orderQty=1_000, price=50_000)  # 1 long, 2 short
    long_before, short_before = _wallet(running, 1), _wallet(running, 2)
    due = running.call(gateway.now_ms) + 300
    running.call(lambda: feed.next_funding.update({"XBTUSD": due}))  # as if the clock were 300 ms before it
    time.sleep(0.5)  # the instant passes; the feed has not woken
    # the first command after the instant: account 2 rests a buy (no fee, no position change) -- funding comes first
    _order(running, keys["two"], symbol="XBTUSD", side="Buy", orderQty=1_000, price=50_000)
    paid, received = long_before - _wallet(running, 1), _wallet(running, 2) - short_before
    assert paid == 200  # 0.01 % of 2,000,000 XBt: the long held at the instant pays
    assert received > 0
    _order(running, keys["one"], symbol="XBTUSD", side="Sell", orderQty=1_000, price=50_000)  # 1 closes after it
    after_close = _wallet(running, 1)
    assert running.call(feed.fund_if_due, running.call(gateway.now_ms)) == []  # the wake: nothing left to pay
    assert _wallet(running, 1) == after_close
    history = raw_request(running, "GET", "/api/v1/funding?symbol=XBTUSD")[1]
    assert [(h["timestamp"], h["fundingRate"]) for h in history] == [(iso_timestamp(due), 0.0001)]
    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    (row,) = ccxt_client(running, keys["one"]).fetch_funding_rate_history("BTC/USD:BTC")
    assert row["timestamp"] == due  # what ccxt reads: the instant, not the feed's wake
