"""Session 17 (redteam17_2): ORD-012's cancel of the account's other same-side orders happens only for a Close
order that enters the book -- one that trades or rests.  A post-only Close that would cross, a FillOrKill Close that
is killed and a market or IOC Close that finds nothing to trade with change nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine

X = "XBTUSD"
PRICE = 5_000_000  # 50,000 USD


def engine() -> Engine:
    e = Engine()
    ok(e, c.PriceUpdate(time_ms=0, symbol=X, mark_price=PRICE, index_price=PRICE))
    for a in range(1, 5):
        ok(e, c.VerifyAccount(time_ms=0, account=a))
        ok(e, c.Deposit(time_ms=0, account=a, asset="XBt", amount=10**10))
    return e


def ok(e: Engine, cmd: Any) -> Accepted:
    last = e.process(cmd)[-1]
    assert isinstance(last, Accepted), (cmd, last)
    return last


def trade(e: Engine, buyer: int, seller: int, qty: int) -> None:
    ok(e, c.PlaceOrder(time_ms=1, account=seller, symbol=X, side="Sell", order_qty=qty, price=PRICE))
    ok(e, c.PlaceOrder(time_ms=1, account=buyer, symbol=X, side="Buy", order_qty=qty, price=PRICE))


def qty(e: Engine, account: int) -> int:
    ps = e.positions(account).get(X)
    return 0 if ps is None else ps.qty


def close_setup() -> tuple[Engine, int]:
    """Account 1 long 1,000 with a take-profit sell 1,000 @ 52,000; a bid of 500 @ 49,900 (account 3)."""
    e = engine()
    trade(e, 1, 2, 1000)
    tp = ok(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Sell", order_qty=1000, price=5_200_000)).order_id
    ok(e, c.PlaceOrder(time_ms=2, account=3, symbol=X, side="Buy", order_qty=500, price=4_990_000))
    return e, tp


@pytest.mark.parametrize(
    "close",
    [
        {"side": "Sell", "order_qty": 500, "price": 4_990_000, "exec_inst": "Close,ParticipateDoNotInitiate"},
        {"side": "Sell", "order_qty": 1000, "ord_type": "Market", "time_in_force": "FillOrKill", "exec_inst": "Close"},
        {"side": "Sell", "order_qty": 500, "price": 5_100_000, "time_in_force": "ImmediateOrCancel", "exec_inst": "Close"},
    ],
    ids=["post-only-would-cross", "fok-killed", "ioc-finds-nothing"],
)
def test_close_that_neither_trades_nor_rests_cancels_nothing(close: dict[str, Any]) -> None:
    e, tp = close_setup()
    oid = ok(e, c.PlaceOrder(time_ms=3, account=1, symbol=X, **close)).order_id
    assert oid not in e.live_orders
    assert tp in e.live_orders
    assert qty(e, 1) == 1000


def test_market_close_finding_no_liquidity_cancels_nothing() -> None:
    """[I] a market Close that finds no order within its limit is cancelled without a fill and cancels nothing."""
    e = engine()
    trade(e, 1, 2, 1000)
    tp = ok(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Sell", order_qty=1000, price=5_200_000)).order_id
    oid = ok(e, c.PlaceOrder(time_ms=3, account=1, symbol=X, ord_type="Market", exec_inst="Close")).order_id
    assert oid not in e.live_orders
    assert tp in e.live_orders


def test_close_that_trades_or_rests_still_cancels() -> None:
    e, tp = close_setup()
    ok(e, c.PlaceOrder(time_ms=3, account=1, symbol=X, side="Sell", order_qty=500, price=4_990_000, exec_inst="Close"))
    assert tp not in e.live_orders
    assert qty(e, 1) == 500
    e, tp = close_setup()
    oid = ok(e, c.PlaceOrder(time_ms=3, account=1, symbol=X, side="Sell", order_qty=500, price=5_100_000,
                             exec_inst="Close")).order_id
    assert oid in e.live_orders
    assert tp not in e.live_orders


def test_close_within_the_position_cancels_nothing() -> None:
    e = engine()
    trade(e, 1, 2, 1000)
    tp = ok(e, c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Sell", order_qty=400, price=5_200_000)).order_id
    ok(e, c.PlaceOrder(time_ms=3, account=1, symbol=X, side="Sell", order_qty=600, price=5_100_000, exec_inst="Close"))
    assert tp in e.live_orders  # 400 + 600 ≤ 1,000
