"""``perpspec serve``'s money fields beyond execCost/execComm, against BitMEX's signs and the engine's figures (redteam22
find 3).

No test named the Execution row's ``commission``, ``homeNotional`` or ``foreignNotional``, and swapping
``initMargin`` and ``maintMargin`` in ``GET /user/margin`` passed every test that reads it
(/work/coord/repro18/redteam22_3.py).  An unmodified client reads them as money: ccxt's ``fetch_my_trades`` gives
``commission`` as ``fee.rate`` (reference §5b), its positions' side comes from the sign of ``homeNotional``.

BitMEX's conventions (reference §6, the tradeHistory and position fixtures):

* ``commission`` is the fee *rate* the fill paid: positive for a fee (0.00075 for a taker of XBTUSD), negative for a
  rebate (-0.00025 for a maker of ETHUSD); so ``execComm = commission × |execCost|``, whatever the side;
* ``execCost`` is the signed value of the contracts traded (CON-002, BitMEX's multiplier sign: the inverse XBTUSD's
  is negative, so 1,000 at 50,000 is -2,000,000 XBt for the buyer and +2,000,000 for the seller; the quanto ETHUSD's
  is positive, so its buyer's execCost is positive);
* for the inverse XBTUSD, ``homeNotional`` is the XBT received (+0.02 for the buyer, -0.02 for the seller) and
  ``foreignNotional`` the USD paid (-1,000 for the buyer, +1,000 for the seller);
* ``/user/margin``: ``initMargin`` is the margin of the account's open orders, ``maintMargin`` that of its positions
  (Σ posMargin), each the engine's own MRG-050 figure (``Risk.account_margin``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from perpspec.engine.core.events import Execution
from perpspec.engine.serve.rows import execution_row
from perpspec.engine.serve.server import Running
from perpspec.engine.serve.units import NUM_MARK
from perpspec.engine.serve.views import ExecutionRecord
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import compute_commission
from tests.serve_helpers import XBT, raw_request

X, E = "XBTUSD", "ETHUSD"
XBTUSD, ETHUSD = load_instrument(X), load_instrument(E)
P_X, P_E = 5_000_000, 300_000  # 50,000.00 and 3,000.00 USD (the server's marks)


def _order(running: Running, key: Any, **body: Any) -> dict[str, Any]:
    status, answer, _ = raw_request(running, "POST", "/api/v1/order", json.dumps(body).encode(), key)
    assert status == 200, answer
    assert isinstance(answer, dict)
    return answer


def _trade(running: Running, keys: dict[str, Any], symbol: str, qty: int, price: float) -> None:
    """Account 2 rests a sell, account 1 buys it (taker)."""
    _order(running, keys["two"], symbol=symbol, side="Sell", orderQty=qty, price=price)
    _order(running, keys["one"], symbol=symbol, side="Buy", orderQty=qty, price=price)


def _fills(running: Running, key: Any, symbol: str) -> list[dict[str, Any]]:
    status, answer, _ = raw_request(running, "GET", f"/api/v1/execution/tradeHistory?symbol={symbol}", b"", key)
    assert status == 200, answer
    assert isinstance(answer, list)
    return answer


def _engine_trades(running: Running, account: int, symbol: str) -> list[Execution]:
    """The engine's own Execution reports of ``account``'s fills in ``symbol`` (what serve's rows are made from)."""
    views = running.server.gateway.views
    reports: list[Execution] = running.call(lambda: [e.report for e in views.executions.get(account, ())
                                                     if e.report.exec_type == "Trade" and e.report.symbol == symbol])
    return reports


def _rate(value: Any) -> Decimal:
    """A decimal field as the wire carries it: a JSON number, or (``execution_row`` called directly) ``num``'s text
    with its marker."""
    return Decimal(str(value).lstrip(NUM_MARK))


def test_xbtusd_taker_buy_and_maker_sell_rows_carry_bitmex_signs(served: Any) -> None:
    running, keys = served
    _trade(running, keys, X, 1_000, 50_000)
    value = compute_notional(XBTUSD, 1_000, P_X)
    assert value == 2_000_000
    taker_comm, maker_comm = compute_commission(value, XBTUSD.taker_fee_ppm), compute_commission(value, XBTUSD.maker_fee_ppm)
    assert (taker_comm, maker_comm) == (1_500, 400)  # XBTUSD's maker pays 0.02% (no rebate)
    (buy,) = _fills(running, keys["one"], X)
    (sell,) = _fills(running, keys["two"], X)
    expected = {
        "Buy": (-2_000_000, taker_comm, Decimal("0.00075"), Decimal("0.02"), -1_000, "RemovedLiquidity"),
        "Sell": (2_000_000, maker_comm, Decimal("0.0002"), Decimal("-0.02"), 1_000, "AddedLiquidity"),
    }
    for row in (buy, sell):
        got = (row["execCost"], row["execComm"], _rate(row["commission"]), _rate(row["homeNotional"]),
               row["foreignNotional"], row["lastLiquidityInd"])
        assert got == expected[row["side"]], row["side"]
        # the engine's figures: execCost is CON-002's signed value, execComm the engine's, commission their ratio
        assert row["execCost"] == compute_value(XBTUSD, 1_000 if row["side"] == "Buy" else -1_000, P_X)
        assert _rate(row["commission"]) * abs(row["execCost"]) == row["execComm"]
        assert _rate(row["homeNotional"]) * XBT == -row["execCost"]  # the XBT the side receives
    assert [r.exec_comm for r in _engine_trades(running, 1, X)] == [buy["execComm"]]
    assert [r.exec_comm for r in _engine_trades(running, 2, X)] == [sell["execComm"]]
    assert (buy["execCost"], buy["execComm"]) == (-2_000_000, 1_500)  # reference §6's row, ten times over


def test_a_maker_rebate_is_a_negative_commission_rate(served: Any) -> None:
    running, keys = served
    _trade(running, keys, E, 1_000, 3_000)
    value = compute_notional(ETHUSD, 1_000, P_E)
    assert value == 300_000_000  # 3 XBT
    (buy,) = _fills(running, keys["one"], E)
    (sell,) = _fills(running, keys["two"], E)
    assert compute_value(ETHUSD, 1_000, P_E) == value  # a quanto's multiplier is positive
    assert (buy["execCost"], buy["execComm"], _rate(buy["commission"])) == (
        value, compute_commission(value, ETHUSD.taker_fee_ppm), Decimal("0.00075"))
    assert (sell["execCost"], sell["execComm"], _rate(sell["commission"])) == (
        -value, compute_commission(value, ETHUSD.maker_fee_ppm), Decimal("-0.00025"))
    assert sell["execComm"] == -75_000  # a rebate: the rate is negative for the seller as for a buyer


def test_the_row_function_on_the_engine_s_reports_gives_the_same_signs(served: Any) -> None:
    """``execution_row`` on the engine's own reports (the reproducer's scenario), a buy and a sell for each role."""
    running, keys = served
    _trade(running, keys, X, 1_000, 50_000)  # account 1 buys as taker
    _order(running, keys["one"], symbol=X, side="Sell", orderQty=3_000, price=50_000)  # account 1 sells as maker
    _order(running, keys["two"], symbol=X, side="Buy", orderQty=3_000, price=50_000)
    rows = [execution_row(XBTUSD, ExecutionRecord(report, 1, None)) for report in _engine_trades(running, 1, X)]
    got = [(r["side"], r["lastLiquidityInd"], r["execCost"], _rate(r["commission"]), _rate(r["homeNotional"]),
            r["foreignNotional"]) for r in rows]
    assert got == [
        ("Buy", "RemovedLiquidity", -2_000_000, Decimal("0.00075"), Decimal("0.02"), -1_000),
        ("Sell", "AddedLiquidity", 6_000_000, Decimal("0.0002"), Decimal("-0.06"), 3_000),
    ]


def test_ccxt_reads_the_fee_rate_and_cost_of_both_sides(served: Any) -> None:
    pytest.importorskip("ccxt")
    from tests.serve_helpers import ccxt_client

    running, keys = served
    _trade(running, keys, X, 1_000, 50_000)
    _trade(running, keys, E, 1_000, 3_000)
    one, two = ccxt_client(running, keys["one"]), ccxt_client(running, keys["two"])
    for client, role in ((one, "taker"), (two, "maker")):
        trades = {t["symbol"]: t for t in client.fetch_my_trades("BTC/USD:BTC") + client.fetch_my_trades("ETH/USD:BTC")}
        inverse, quanto = trades["BTC/USD:BTC"], trades["ETH/USD:BTC"]
        if role == "taker":
            assert (inverse["fee"]["rate"], inverse["fee"]["cost"]) == (0.00075, 1_500)
            assert (quanto["fee"]["rate"], quanto["fee"]["cost"]) == (0.00075, 225_000)
        else:
            assert (inverse["fee"]["rate"], inverse["fee"]["cost"]) == (0.0002, 400)
            assert (quanto["fee"]["rate"], quanto["fee"]["cost"]) == (-0.00025, -75_000)
            assert quanto["takerOrMaker"] == "maker"  # ccxt: maker when execComm < 0


def _margin(running: Running, key: Any) -> dict[str, Any]:
    status, answer, _ = raw_request(running, "GET", "/api/v1/user/margin?currency=XBt", b"", key)
    assert status == 200, answer
    assert isinstance(answer, dict)
    return answer


def _engine_margin(running: Running, account: int) -> tuple[int, int]:
    """The engine's MRG-050 (order margin, position margin) of ``account`` in XBt."""
    exchange = running.server.gateway.exchange
    figures = running.call(lambda: exchange.risk.account_margin(exchange.accounts[account], "XBt"))
    return figures.order_margin, figures.position_margin


def test_user_margin_init_is_the_order_margin_and_maint_the_position_margin(served: Any) -> None:
    running, keys = served
    # account 1: only a resting order (no position): initMargin > 0, maintMargin 0
    _order(running, keys["one"], symbol=X, side="Buy", orderQty=1_000, price=40_000)
    row = _margin(running, keys["one"])
    order_margin, position_margin = _engine_margin(running, 1)
    assert order_margin > 0
    assert position_margin == 0
    assert (row["initMargin"], row["maintMargin"]) == (order_margin, 0)
    # account 1 buys 2,000 from account 2: account 1 holds a position and the resting order, account 2 a position only
    _trade(running, keys, X, 2_000, 50_000)
    row_one, row_two = _margin(running, keys["one"]), _margin(running, keys["two"])
    order_one, position_one = _engine_margin(running, 1)
    order_two, position_two = _engine_margin(running, 2)
    assert order_one > 0
    assert position_one > 0
    assert order_one != position_one
    assert (row_one["initMargin"], row_one["maintMargin"]) == (order_one, position_one)
    assert (order_two, row_two["initMargin"]) == (0, 0)  # a position and no order: initMargin 0
    assert row_two["maintMargin"] == position_two > 0
    # maintMargin is the Σ posMargin of the account's positions as /position shows them
    status, positions, _ = raw_request(running, "GET", "/api/v1/position", b"", keys["one"])
    assert status == 200
    assert row_one["maintMargin"] == sum(p.get("posMargin", 0) for p in positions if p["currency"] == "XBt")
    # cross positions: available = marginBalance − initMargin − maintMargin (MRG-050)
    for row in (row_one, row_two):
        assert row["availableMargin"] == row["marginBalance"] - row["initMargin"] - row["maintMargin"]
