"""``perpspec serve``'s Position and Margin rows after a mark move, read raw and through unmodified ccxt (redteam25).

Session 18's money-field tests read the Execution row and ``/user/margin`` at unrealised PnL 0; five fields of the
Position and Margin rows that ccxt turns into a client's view of its positions had no test, and a slip in each passed
every test (/work/coord/repro19/redteam25_2, _3, _4, _7, _8):

* ``homeNotional`` of an inverse position is the XBT held, ``+qty / mark`` for a long and negative for a short;
  ccxt's ``parse_position`` takes the position's **side** from its sign (redteam25_2);
* ``unrealisedPnlPcnt`` is ``unrealisedPnl / |posCost|``: the sign of the PnL, whatever the sign of posCost
  (negative for an XBTUSD long, positive for an ETHUSD long); ccxt's ``percentage`` (redteam25_3);
* ``marginBalance`` is the wallet plus the unrealised PnL (MRG-050's margin balance); ccxt's balance ``total``
  (redteam25_4);
* ``avgEntryPrice`` is the price, positive for a short as for a long, of every contract kind; ccxt's ``entryPrice``
  (redteam25_7);
* ``initMarginReq`` of an isolated position is ``1 / leverage``, of a cross one the instrument's initial margin;
  ccxt's ``initialMarginPercentage`` (redteam25_8).

The scene (one server for the module): account 1 buys 1,000 XBTUSD at 50,000 from account 2, sells 100 ETHUSD at
3,000 and 2,000 XBTUSDT at 50,000 to account 2; then XBTUSD's mark falls to 49,000 and ETHUSD's rises to 3,100.
XBTUSDT is isolated at 10x for account 1 and 2.5x for account 2, ETHUSD at 1x for account 2; the rest is cross.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.serve.keys import ApiKey
from perpspec.engine.serve.rows import account_margin
from perpspec.engine.serve.server import Running
from perpspec.engine.serve.units import NUM_MARK, ratio_out
from perpspec.rules.instrument_file import load_instrument
from tests.serve_helpers import XBT, ccxt_client, iterate, raw_request, start_server

ccxt = pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

INV, QUANTO, LIN = "BTC/USD:BTC", "ETH/USD:BTC", "BTC/USDT:USDT"
XBTUSD = load_instrument("XBTUSD")


def _post(running: Running, key: ApiKey, target: str, **body: Any) -> dict[str, Any]:
    status, answer, _ = raw_request(running, "POST", target, json.dumps(body).encode(), key)
    assert status == 200, answer
    assert isinstance(answer, dict)
    return answer


def _trade(running: Running, maker: ApiKey, taker: ApiKey, symbol: str, side: str, qty: int, price: float) -> None:
    other = "Buy" if side == "Sell" else "Sell"
    _post(running, maker, "/api/v1/order", symbol=symbol, side=other, orderQty=qty, price=price)
    done = _post(running, taker, "/api/v1/order", symbol=symbol, side=side, orderQty=qty, price=price)
    assert done["ordStatus"] == "Filled", done


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, ApiKey]]]:
    running, keys = start_server(Path(tmp_path_factory.mktemp("serve-s19-rows")))
    one, two = keys["one"], keys["two"]
    _trade(running, two, one, "XBTUSD", "Buy", 1_000, 50_000)
    _trade(running, two, one, "ETHUSD", "Sell", 100, 3_000)
    _trade(running, two, one, "XBTUSDT", "Sell", 2_000, 50_000)
    for key, symbol, leverage in ((one, "XBTUSDT", 10), (two, "XBTUSDT", 2.5), (two, "ETHUSD", 1)):
        row = _post(running, key, "/api/v1/position/leverage", symbol=symbol, leverage=leverage)
        assert row["crossMargin"] is False, row
    gateway = running.server.gateway
    running.call(lambda: gateway.set_price("XBTUSD", 4_900_000))
    running.call(lambda: gateway.set_price("ETHUSD", 310_000))
    for _ in iterate(running):
        yield running, keys


def _rows(running: Running, key: ApiKey) -> dict[str, dict[str, Any]]:
    status, answer, _ = raw_request(running, "GET", "/api/v1/position", b"", key)
    assert status == 200, answer
    return {row["symbol"]: row for row in answer}


def _ccxt_positions(running: Running, key: ApiKey) -> dict[str, Any]:
    client = ccxt_client(running, key)
    client.load_markets()
    return {p["symbol"]: p for p in client.fetch_positions()}


def test_an_inverse_positions_home_notional_is_the_xbt_held_and_gives_ccxt_its_side(
    served: tuple[Running, dict[str, ApiKey]],
) -> None:
    running, keys = served
    long_row, short_row = _rows(running, keys["one"])["XBTUSD"], _rows(running, keys["two"])["XBTUSD"]
    assert (long_row["currentQty"], short_row["currentQty"]) == (1_000, -1_000)
    # 1,000 USD at a mark of 49,000: 0.020408163... XBT, toward zero to 8 decimals
    assert (long_row["homeNotional"], long_row["foreignNotional"]) == (0.02040816, -1_000)
    assert (short_row["homeNotional"], short_row["foreignNotional"]) == (-0.02040816, 1_000)
    assert _ccxt_positions(running, keys["one"])[INV]["side"] == "long"
    assert _ccxt_positions(running, keys["two"])[INV]["side"] == "short"
    # the other kinds: the quanto and the linear contract, each side
    one, two = _ccxt_positions(running, keys["one"]), _ccxt_positions(running, keys["two"])
    assert [one[s]["side"] for s in (QUANTO, LIN)] == ["short", "short"]
    assert [two[s]["side"] for s in (QUANTO, LIN)] == ["long", "long"]


def test_unrealised_pnl_percent_has_the_sign_of_the_pnl_for_every_side_and_kind(
    served: tuple[Running, dict[str, ApiKey]],
) -> None:
    running, keys = served
    one, two = _rows(running, keys["one"]), _rows(running, keys["two"])
    # XBTUSD: the long (posCost negative) lost 2.04% when the mark fell 50,000 -> 49,000, the short won it
    assert one["XBTUSD"]["posCost"] < 0 < two["XBTUSD"]["posCost"]
    assert one["XBTUSD"]["unrealisedPnl"] == -40_820  # the engine's MRG-020 figure (the system's rounding)
    assert (one["XBTUSD"]["unrealisedPnlPcnt"], two["XBTUSD"]["unrealisedPnlPcnt"]) == (-0.0204, 0.0204)
    # ETHUSD: the long (posCost positive) won 3.33% when the mark rose 3,000 -> 3,100, the short lost it
    assert one["ETHUSD"]["posCost"] < 0 < two["ETHUSD"]["posCost"]
    assert (one["ETHUSD"]["unrealisedPnlPcnt"], two["ETHUSD"]["unrealisedPnlPcnt"]) == (-0.0333, 0.0333)
    for rows in (one, two):
        for symbol in ("XBTUSD", "ETHUSD"):
            row = rows[symbol]
            expected = _dec(ratio_out(row["unrealisedPnl"], abs(row["posCost"]), 4))
            assert Decimal(str(row["unrealisedPnlPcnt"])) == expected, (symbol, row)
    assert _ccxt_positions(running, keys["one"])[INV]["percentage"] == -0.0204
    assert _ccxt_positions(running, keys["two"])[QUANTO]["percentage"] == 0.0333


def test_avg_entry_price_is_the_trade_price_for_longs_and_shorts_of_every_kind(
    served: tuple[Running, dict[str, ApiKey]],
) -> None:
    running, keys = served
    one, two = _rows(running, keys["one"]), _rows(running, keys["two"])
    for symbol, price in (("XBTUSD", 50_000), ("ETHUSD", 3_000), ("XBTUSDT", 50_000)):
        assert (one[symbol]["avgEntryPrice"], two[symbol]["avgEntryPrice"]) == (price, price), symbol
    for key in (keys["one"], keys["two"]):
        positions = _ccxt_positions(running, key)
        assert [positions[s]["entryPrice"] for s in (INV, QUANTO, LIN)] == [50_000, 3_000, 50_000]


def _dec(text: str | None) -> Decimal:
    """The number a ratio_out text is written as (NUM_MARK + exact decimal text)."""
    assert text is not None
    assert text.startswith(NUM_MARK), text
    return Decimal(text[len(NUM_MARK):])


def test_ratio_out_signs_follow_both_operands() -> None:
    signs = [_dec(ratio_out(n, d, 2)) for n, d in ((3, 2), (-3, 2), (3, -2), (-3, -2))]
    assert signs == [Decimal("1.5"), Decimal("-1.5"), Decimal("-1.5"), Decimal("1.5")]
    assert _dec(ratio_out(-1, 3, 4)) == Decimal("-0.3333")  # toward zero
    assert ratio_out(5, 0) is None


def test_init_margin_req_is_one_over_the_isolated_leverage_and_the_instruments_for_cross(
    served: tuple[Running, dict[str, ApiKey]],
) -> None:
    running, keys = served
    one, two = _rows(running, keys["one"]), _rows(running, keys["two"])
    assert (one["XBTUSDT"]["leverage"], one["XBTUSDT"]["initMarginReq"]) == (10, 0.1)
    assert (two["XBTUSDT"]["leverage"], two["XBTUSDT"]["initMarginReq"]) == (2.5, 0.4)
    assert (two["ETHUSD"]["leverage"], two["ETHUSD"]["initMarginReq"]) == (1, 1)
    assert one["XBTUSD"]["crossMargin"] is True
    assert one["XBTUSD"]["initMarginReq"] == XBTUSD.init_margin_ppm / 1_000_000 == 0.01
    # the pool's own posInit says the same: 10% of |posCost| (rounded up), 40% at 2.5x
    for row, share in ((one["XBTUSDT"], Decimal("0.1")), (two["XBTUSDT"], Decimal("0.4"))):
        assert 0 <= row["posInit"] - abs(row["posCost"]) * share < 1, row
    assert _ccxt_positions(running, keys["one"])[LIN]["initialMarginPercentage"] == 0.1
    assert _ccxt_positions(running, keys["two"])[LIN]["initialMarginPercentage"] == 0.4
    assert _ccxt_positions(running, keys["two"])[QUANTO]["initialMarginPercentage"] == 1


def test_margin_balance_is_the_wallet_plus_the_unrealised_pnl_and_ccxts_total(
    served: tuple[Running, dict[str, ApiKey]],
) -> None:
    running, keys = served
    gateway = running.server.gateway
    for name, account in (("one", 1), ("two", 2)):
        status, answer, _ = raw_request(running, "GET", "/api/v1/user/margin?currency=XBt", b"", keys[name])
        assert status == 200, answer
        row = answer[0] if isinstance(answer, list) else answer
        engine = running.call(lambda account=account: account_margin(gateway.exchange, account, "XBt"))
        assert row["unrealisedPnl"] == engine.unrealised_pnl != 0
        assert row["marginBalance"] == row["walletBalance"] + row["unrealisedPnl"] == engine.margin_balance
        # the XBTUSD leg alone moves it by about 40,816 XBt: lost by the long (account 1), won by the short
        if account == 1:
            assert row["unrealisedPnl"] < -40_000
        else:
            assert row["unrealisedPnl"] > 40_000
        balance = ccxt_client(running, keys[name]).fetch_balance()
        assert Decimal(str(balance["BTC"]["total"])) == Decimal(row["marginBalance"]) / XBT
        assert balance["BTC"]["total"] != row["walletBalance"] / XBT
