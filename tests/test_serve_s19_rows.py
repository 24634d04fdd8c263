"""``perpspec serve``'s Execution and Position rows: the fields session 18 noticed empty (note18_final §4).

* Execution ``homeNotional`` / ``foreignNotional`` of linear and quanto fills were null (inverse rows had them).
  BitMEX: the fill's value in the home (underlying) and foreign (quote) currency, signed for the side -- the buyer
  of XBTUSDT receives +0.001 XBT and pays -50 USDT for 1,000 contracts at 50,000 (the Position fixture in ccxt's
  bitmex.py: ``"homeNotional": 0.02, "foreignNotional": -39.2839`` for a long of 2,000 ETHUSDT contracts).
  Each figure is the engine's integer (CON-002's execCost, contracts × multiplier) over the currency's scale, exact.
* Position ``initMargin`` was always 0.  BitMEX: the margin of the position's open orders; the engine's figure is
  MRG-046's ``Risk.contract_order_margin``, the term ``/user/margin``'s ``initMargin`` (MRG-050) sums.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from perpspec.engine.serve.server import Running
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from tests.serve_helpers import raw_request

XBTUSD, XBTUSDT, ETHUSD = load_instrument("XBTUSD"), load_instrument("XBTUSDT"), load_instrument("ETHUSD")


def _order(running: Running, key: Any, **body: Any) -> dict[str, Any]:
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", json.dumps(body).encode(), key)
    assert status == 200, answer
    assert isinstance(answer, dict)
    return answer


def _trade(running: Running, keys: dict[str, Any], symbol: str, qty: int, price: int) -> None:
    """Account 2 rests a sell, account 1 buys it."""
    _order(running, keys["two"], symbol=symbol, side="Sell", orderQty=qty, price=price)
    _order(running, keys["one"], symbol=symbol, side="Buy", orderQty=qty, price=price)


def _fills(running: Running, key: Any, symbol: str) -> list[dict[str, Any]]:
    status, answer, _ = raw_request(running, "GET", f"/api/v1/execution/tradeHistory?symbol={symbol}", b"", key)
    assert status == 200, answer
    assert isinstance(answer, list)
    return answer


def _dec(value: Any) -> Decimal:
    assert value is not None
    return Decimal(str(value))


def test_linear_fill_rows_carry_the_underlying_and_the_quote_traded(served: Any) -> None:
    running, keys = served
    _trade(running, keys, "XBTUSDT", 1_000, 50_000)
    value = compute_value(XBTUSDT, 1_000, 50_000 * XBTUSDT.price_scale)
    assert value == 50_000_000  # 50 USDT in USDt
    (buy,) = _fills(running, keys["one"], "XBTUSDT")
    (sell,) = _fills(running, keys["two"], "XBTUSDT")
    assert (_dec(buy["homeNotional"]), _dec(buy["foreignNotional"])) == (Decimal("0.001"), Decimal("-50"))
    assert (_dec(sell["homeNotional"]), _dec(sell["foreignNotional"])) == (Decimal("-0.001"), Decimal("50"))
    for row in (buy, sell):  # the engine's integers over the currency's scale, exactly
        assert _dec(row["foreignNotional"]) * 10**6 == -row["execCost"]
        signed = row["lastQty"] if row["side"] == "Buy" else -row["lastQty"]
        assert _dec(row["homeNotional"]) * 10**6 == signed * XBTUSDT.multiplier


def test_quanto_fill_rows_carry_signed_settlement_figures(served: Any) -> None:
    running, keys = served
    _trade(running, keys, "ETHUSD", 1_000, 3_000)
    (buy,) = _fills(running, keys["one"], "ETHUSD")
    (sell,) = _fills(running, keys["two"], "ETHUSD")
    assert buy["execCost"] == compute_value(ETHUSD, 1_000, 300_000) == 300_000_000
    assert (_dec(buy["homeNotional"]), _dec(buy["foreignNotional"])) == (Decimal("0.001"), Decimal("-3"))
    assert (_dec(sell["homeNotional"]), _dec(sell["foreignNotional"])) == (Decimal("-0.001"), Decimal("3"))
    # the same figures as the Position row of the position the fill opened (one definition for the contract)
    status, positions, _ = raw_request(running, "GET", "/api/v1/position", b"", keys["one"])
    assert status == 200
    (held,) = [p for p in positions if p["symbol"] == "ETHUSD"]
    assert _dec(held["homeNotional"]) == _dec(buy["homeNotional"])
    assert _dec(held["foreignNotional"]) == _dec(buy["foreignNotional"])  # the mark is the fill's price


def test_inverse_rows_are_unchanged(served: Any) -> None:
    running, keys = served
    _trade(running, keys, "XBTUSD", 1_000, 50_000)
    (buy,) = _fills(running, keys["one"], "XBTUSD")
    assert (_dec(buy["homeNotional"]), buy["foreignNotional"]) == (Decimal("0.02"), -1_000)


def test_ccxt_sees_the_notionals_of_a_linear_fill(served: Any) -> None:
    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    running, keys = served
    _trade(running, keys, "XBTUSDT", 2_000, 50_000)
    (trade,) = ccxt_client(running, keys["one"]).fetch_my_trades("BTC/USDT:USDT")
    assert (trade["amount"], trade["side"]) == (2_000, "buy")
    assert (_dec(trade["info"]["homeNotional"]), _dec(trade["info"]["foreignNotional"])) == (
        Decimal("0.002"), Decimal("-100"))


def _engine_contract_order_margin(running: Running, account: int, symbol: str) -> int:
    exchange = running.server.gateway.exchange

    def read() -> int:
        inst = exchange.instruments()[symbol]
        return exchange.risk.contract_order_margin(inst, exchange.accounts[account].positions[symbol])

    figure: int = running.call(read)
    return figure


def _positions(running: Running, key: Any) -> dict[str, dict[str, Any]]:
    status, answer, _ = raw_request(running, "GET", "/api/v1/position", b"", key)
    assert status == 200, answer
    return {row["symbol"]: row for row in answer}


def test_position_init_margin_is_the_margin_of_its_open_orders(served: Any) -> None:
    running, keys = served
    _trade(running, keys, "XBTUSD", 2_000, 50_000)
    _trade(running, keys, "XBTUSDT", 2_000, 50_000)
    assert [r["initMargin"] for r in _positions(running, keys["one"]).values()] == [0, 0]  # no open order: nothing
    _order(running, keys["one"], symbol="XBTUSD", side="Buy", orderQty=5_000, price=40_000)
    _order(running, keys["one"], symbol="XBTUSDT", side="Buy", orderQty=3_000, price=40_000)
    rows = _positions(running, keys["one"])
    for symbol in ("XBTUSD", "XBTUSDT"):
        engine = _engine_contract_order_margin(running, 1, symbol)
        assert engine > 0
        assert rows[symbol]["initMargin"] == engine, symbol
    # the rows' per-contract figures are the terms /user/margin's initMargin sums (MRG-050), currency by currency
    status, margins, _ = raw_request(running, "GET", "/api/v1/user/margin?currency=all", b"", keys["one"])
    assert status == 200
    for margin in margins:
        assert margin["initMargin"] == sum(r["initMargin"] for r in rows.values() if r["currency"] == margin["currency"])
    # ccxt reads it raw (reference §5b: initMargin is not converted)
    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    (inverse,) = ccxt_client(running, keys["one"]).fetch_positions(["BTC/USD:BTC"])
    assert inverse["initialMargin"] == rows["XBTUSD"]["initMargin"]


def test_watch_positions_follows_the_order_margin(served: Any) -> None:
    """An order resting on a held contract moves the row's initMargin: the position row is sent again (ccxt.pro)."""
    pytest.importorskip("ccxt")
    import asyncio

    import ccxt.pro

    from tests.serve_helpers import ccxt_client

    running, keys = served
    _trade(running, keys, "XBTUSDT", 2_000, 50_000)
    lin = "BTC/USDT:USDT"

    async def session() -> list[Any]:
        watcher = ccxt_client(running, keys["one"], flavour=ccxt.pro.bitmex)
        try:
            await watcher.load_markets()
            task = asyncio.ensure_future(watcher.watch_positions([lin]))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while not running.call(lambda: any(c.account == 1 and ("position", "") in c.topics
                                                for c in list(running.server.connections))):
                assert loop.time() < deadline
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            await loop.run_in_executor(None, lambda: _order(running, keys["one"], symbol="XBTUSDT", side="Buy",
                                                            orderQty=3_000, price=40_000))
            while not (watcher.positions and any(p["initialMargin"] for p in watcher.positions)):
                assert loop.time() < deadline, "no position row with the order margin arrived"
                await asyncio.sleep(0.05)
            task.cancel()
            return [p for p in watcher.positions if p["symbol"] == lin]
        finally:
            await watcher.close()

    seen = asyncio.run(asyncio.wait_for(session(), 60))
    assert seen[-1]["initialMargin"] == _engine_contract_order_margin(running, 1, "XBTUSDT") > 0
