"""ACC-002's 30-day volume history is pruned when a fill adds to it, never while an order is judged.

Moved from ``Account.fee_tier`` (run by order entry before the order is accepted or refused, so a
refused order changed the hashed ``volume_by_day``: attack3, tests/test_attack3_rejected_order_prunes_volume.py)
to ``Account.add_volume``: a day is dropped once no window from the fill's day on can count it
(older than ``day - 30``).  The boundary: a fill on day 30 keeps day 0, a fill on day 31 drops it.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine

PRICE = 5_000_000
DAY_MS = 86_400_000


def _trade(engine: Engine, day: int) -> None:
    time_ms = day * DAY_MS
    engine.process(c.PriceUpdate(time_ms=time_ms, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    engine.process(
        c.PlaceOrder(time_ms=time_ms, account=1, symbol="XBTUSD", side="Sell", order_qty=100, price=PRICE)
    )
    engine.process(
        c.PlaceOrder(time_ms=time_ms, account=2, symbol="XBTUSD", side="Buy", order_qty=100, price=PRICE)
    )


@pytest.mark.parametrize(("second_day", "kept"), [(30, [0, 30]), (31, [31])])
def test_a_fill_drops_only_the_days_no_later_window_counts(second_day: int, kept: list[int]) -> None:
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    _trade(engine, 0)
    assert sorted(engine.accounts[2].volume_by_day) == [0]
    _trade(engine, second_day)
    assert sorted(engine.accounts[2].volume_by_day) == kept
    assert sorted(engine.accounts[1].volume_by_day) == kept
