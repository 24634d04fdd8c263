"""MRG-067's clean-up sorts no order of an account it finds funded (session 12 red team, r4_1).

A market maker sends one sell (an order that needs margin) into another account's bid and so sets off a cascade of
stops that fire into its own bids: it is named at every fire, so the clean-up judges it at every fire.  It sorted all the maker's resting orders
before looking at its balance: N fires over K resting bids cost N x K (1,000 fires, 60,000 bids: 0.67 s for one
command), although a funded account loses nothing.  Now the balance is read first.

Rules: MRG-067, MRG-068.
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import fills as fills_module
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000


def test_a_funded_maker_named_at_every_fire_has_its_orders_sorted_never(monkeypatch: pytest.MonkeyPatch) -> None:
    if not fills_module.__file__.endswith(".py"):
        pytest.skip("counts a name looked up by the interpreted fills module")
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK, index_price=MARK))
    maker, other = 1_000, 999
    for account in (maker, other, *range(1, 21)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**15 if account == maker else 10**12))
    engine.process(c.PlaceOrder(time_ms=0, account=other, symbol="XBTUSDT", side="Buy", order_qty=1000,
                                price=MARK - 50))
    for level in range(2, 202):  # the maker's 200 bids, 0.5 USDT apart under the other account's
        engine.process(c.PlaceOrder(time_ms=0, account=maker, symbol="XBTUSDT", side="Buy", order_qty=1000,
                                    price=MARK - 50 * level))
    for account in range(1, 21):  # 20 stops on the last price, one per account, from the other account's bid down
        placed = engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                             ord_type="Stop", stop_px=MARK - 50 * account, exec_inst="LastPrice"))
        assert isinstance(placed[-1], Accepted)
    sorts: list[int] = []

    def counted(items: Any, **kwargs: Any) -> Any:
        out = sorted(items, **kwargs)
        sorts.append(len(out))
        return out

    monkeypatch.setattr(fills_module, "sorted", counted, raising=False)
    events = engine.process(c.PlaceOrder(time_ms=0, account=maker, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                         price=MARK - 50))
    assert sum(1 for e in events if getattr(e, "exec_type", "") == "TriggeredOrActivatedBySystem") == 20
    assert max(sorts, default=0) < 200  # the maker's 200 bids were never sorted (before: at every fire)
