"""Account 0 is a trader like any other after a fill in ``Fills._apply_fills`` (session 8 mutation survivor of
``engine/core/fills.py``: ``account_id >= 0`` → ``> 0`` on the accounts the sweep touched), through public commands.

Only the liquidation engine's negative ids are left out when a sweep's accounts are reported and refreshed.  Account
0 (1,000,000 XBt, cross) rests a bid of 10 ETHUSD at 3,000.00 and a market sell fills it: account 0 gets its
``PositionUpdate`` (liquidation price 2,031.55, bankruptcy 2,001.55), and its liquidation-index entry is refreshed
(LIQ-003), so a mark of 2,031.60 leaves it alone and 2,031.50 liquidates it.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, PositionUpdate, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation


def _ok(engine: Engine, command: c.Command) -> list[object]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


def test_liq_003_account_0_s_fill_is_reported_and_its_liquidation_index_refreshed() -> None:
    """LIQ-003 (and the PositionUpdate of each account a fill touched): account 0 as the maker."""
    engine = Engine()
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    for symbol, price in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in ((0, 1_000_000), (2, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=0, account=0, symbol="ETHUSD", side="Buy", order_qty=10, price=300_000))
    events = _ok(
        engine,
        c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=10, ord_type="Market"),
    )
    updates = [
        (e.account, e.current_qty, e.pos_cost, e.liquidation_price, e.bankrupt_price)
        for e in events
        if isinstance(e, PositionUpdate)
    ]
    assert (0, 10, 3_000_000, 203_155, 200_155) in updates
    quiet = _ok(engine, c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=203_160, index_price=203_160))
    assert not [e for e in quiet if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    crash = _ok(engine, c.PriceUpdate(time_ms=2, symbol="ETHUSD", mark_price=203_150, index_price=203_150))
    liquidated = [
        e.record.account_id for e in crash if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)
    ]
    assert liquidated == [0]
    assert engine.positions(0) == {}
