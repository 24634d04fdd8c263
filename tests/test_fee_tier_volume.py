"""Fee tiers from traded volume (reference §10): every fill counts for both sides, account 0 included.

Found by ``python -m tests.mutation engine/core/fills.py`` (``taker.account >= 0`` / ``maker.account >= 0``): only
the liquidation engine's negative ids trade without counting volume, so account 0's volume must count as a
taker and as a maker.  XBTUSD (inverse: one contract is one USD) at $100,000: 30 M contracts traded on day 0 are
an average of $1 M a day over the 30-day window, XBTUSD's second tier (taker 0.05%, maker 0.01%) from day 1.
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


def _trade(engine: Engine, time_ms: int, taker: int, maker: int, taker_side: str, qty: int) -> list[tuple[int, int]]:
    maker_side = "Sell" if taker_side == "Buy" else "Buy"
    engine.process(c.PlaceOrder(time_ms=time_ms, account=maker, symbol="XBTUSD", side=maker_side, order_qty=qty, price=MARK))
    events = engine.process(
        c.PlaceOrder(time_ms=time_ms, account=taker, symbol="XBTUSD", side=taker_side, order_qty=qty, price=MARK)
    )
    return [(e.account, e.exec_comm) for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]


def _after_a_day_of_volume(taker: int, maker: int) -> list[tuple[int, int]]:
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    for account in (0, 1):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**11))
    for side in ("Buy", "Sell", "Buy"):
        _trade(engine, 0, taker, maker, side, 10_000_000)
    engine.process(c.PriceUpdate(time_ms=DAY_MS, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    return _trade(engine, DAY_MS, taker, maker, "Sell", 1_000_000)


@pytest.mark.parametrize(("taker", "maker"), [(0, 1), (1, 0)])
def test_a_days_volume_lowers_both_sides_fees_from_the_next_day_account_0_included(taker: int, maker: int) -> None:
    fills = _after_a_day_of_volume(taker, maker)
    assert fills == [(taker, VALUE * 500 // 1_000_000), (maker, VALUE * 100 // 1_000_000)]
