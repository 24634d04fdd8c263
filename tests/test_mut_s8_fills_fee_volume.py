"""Fee tiers from traded volume (reference §10) on ``Fills.sweep``'s path: account 0's volume counts as a taker and
as a maker when the taker is a market order (session 8 mutation survivors of ``engine/core/fills.py``, ``_apply_fills``'
``taker.account >= 0`` / ``maker.account >= 0``; ``tests/test_fee_tier_volume.py`` pins the same with plain limit
orders, which take the lean sweep of ``engine/core/entry_sweep.py``).

XBTUSD at $100,000: 30 M contracts traded on day 0 by market orders are an average of $1 M a day over the 30-day
window: XBTUSD's second tier (taker 0.05%, maker 0.01%; the first is 0.075% and 0.02%) from day 1, for both sides,
account 0 included.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

XBTUSD = load_instrument("XBTUSD")
MARK = 10_000_000  # $100,000.00
DAY_MS = 86_400_000
VALUE = 1_000_000_000  # 1 M contracts at $100,000: 10 XBT


def _trade(
    engine: Engine, time_ms: int, taker: int, maker: int, taker_side: str, qty: int
) -> list[tuple[int, int]]:
    maker_side = "Sell" if taker_side == "Buy" else "Buy"
    engine.process(
        c.PlaceOrder(
            time_ms=time_ms, account=maker, symbol="XBTUSD", side=maker_side, order_qty=qty, price=MARK
        )
    )
    events = engine.process(
        c.PlaceOrder(
            time_ms=time_ms, account=taker, symbol="XBTUSD", side=taker_side, order_qty=qty, ord_type="Market"
        )
    )
    return [(e.account, e.exec_comm) for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]


@pytest.mark.parametrize(("taker", "maker"), [(0, 1), (1, 0)])
def test_fee_tiers_count_account_0_s_volume_from_market_orders(taker: int, maker: int) -> None:
    """ACC-002 at the fee tier of the 30-day volume (reference §10): a day of market-order volume lowers both sides'
    commission rates the next day."""
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    for account in (0, 1):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**11))
    first = _trade(engine, 0, taker, maker, "Buy", 10_000_000)
    assert first == [(taker, 10 * VALUE * 750 // 1_000_000), (maker, 10 * VALUE * 200 // 1_000_000)]
    for side in ("Sell", "Buy"):
        _trade(engine, 0, taker, maker, side, 10_000_000)
    engine.process(c.PriceUpdate(time_ms=DAY_MS, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    fills = _trade(engine, DAY_MS, taker, maker, "Sell", 1_000_000)
    assert fills == [(taker, VALUE * 500 // 1_000_000), (maker, VALUE * 100 // 1_000_000)]
