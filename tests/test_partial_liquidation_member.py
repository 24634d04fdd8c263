"""LIQ-022 on a cross pool of two contracts: the position with the largest maintenance is reduced first.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (``_partially_liquidate``'s choice
``min(candidates, key=(−posMaint, symbol))``): no test had a cross pool with two positions above their base
risk limits, so choosing by symbol alone went unnoticed.  Account 1 (10 XBT, cross) is long 25,000 ETHUSD at
3,000.00 (75 XBT) and 2,500,000 XBTUSD at $10,000 (250 XBT), each one risk step above its base limit; ETHUSD's
mark falls 10% and the pool is below maintenance.  XBTUSD holds the larger maintenance, although ETHUSD sorts first.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import PartialLiquidation
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position

ETHUSD = load_instrument("ETHUSD")
XBTUSD = load_instrument("XBTUSD")
XBT = 10**8


def test_liq_022_reduces_the_member_with_the_largest_maintenance_first() -> None:
    engine = Engine({"ETHUSD": ETHUSD, "XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=1_000_000, index_price=1_000_000))
    for account, amount in ((1, 10 * XBT), (2, 10_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for inst in (ETHUSD, XBTUSD):
        for account, steps in ((1, 1), (2, 4)):
            limit = inst.risk_limit + steps * inst.risk_step
            engine.process(c.SetRiskLimit(time_ms=0, account=account, symbol=inst.symbol, risk_limit=limit))
    for symbol, qty, price in (("ETHUSD", 25_000, 300_000), ("XBTUSD", 2_500_000, 1_000_000)):
        engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Sell", order_qty=qty, price=price))
        engine.process(c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side="Buy", order_qty=qty, price=price))
    held = engine.positions(1)
    maintenance = {
        symbol: compute_requirement(inst, Position(qty=held[symbol].qty, cost=held[symbol].cost), CROSS, 1).pos_maint
        for symbol, inst in (("ETHUSD", ETHUSD), ("XBTUSD", XBTUSD))
    }
    assert maintenance["XBTUSD"] > maintenance["ETHUSD"]
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000))
    partial = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, PartialLiquidation)]
    assert [(p.symbol, p.from_tier, p.filled) for p in partial] == [("XBTUSD", 1, False)]  # no bids: not filled
