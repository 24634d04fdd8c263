"""Attack review: raising a cross position's risk limit must not put its own pool below maintenance (RSK-006, LIQ-001).

Found by the session-5 integrity review (after MRG-066, which covers isolated positions).
``AccountDesk.set_risk_limit`` refuses a new risk limit only when the available balance
(MRG-050) would go below zero; for a cross position MRG-050 prices the position at its
own risk steps, not at the chosen tier, so the available balance does not move.  The
pool (LIQ-001) holds the position at the chosen tier, whose maintenance margin is higher
(XBTUSD tier 3: 0.5% + 3 × 0.5% = 2%).  A trader short 17,600 XBTUSD at 50,000.00 on
0.006 XBT, the mark at 50,050.00 (equity 538,400 XBt, maintenance 202,664), asks for a
650 XBT risk limit: accepted, maintenance 731,060 > equity, the pool is liquidated at the
next mark update by its owner's own configuration command.  BitMEX charges the higher
initial margin of the chosen tier, so the request would be refused for lack of balance.

Fixed (engine/core/account_desk.py ``set_risk_limit``): the trial is judged at the
chosen tier, as order entry already does (``OrderEntry._chosen_tier_extra``): refuse with
InsufficientAvailableBalance when the available balance less the chosen tier's extra
``posInit + posComm`` over the position's own tier would go below zero (which also keeps
the pool above maintenance).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine


def test_raising_the_risk_limit_of_a_cross_position_never_leaves_its_pool_below_maintenance() -> None:
    engine = Engine()
    for account, deposit in ((2, 600_000), (3, 10**9)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=17_600, price=5_000_000))
    sold = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=17_600, price=5_000_000))
    assert isinstance(sold[-1], Accepted)
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_005_000, index_price=5_005_000))
    account = engine.accounts[2]
    assert engine.risk.pool_of(account, "XBTUSD")[1:3] == (538_400, 202_664)  # equity, maintenance
    engine.process(c.SetRiskLimit(time_ms=0, account=2, symbol="XBTUSD", risk_limit=65_000_000_000))
    assert not engine.risk.below_maintenance(account, "XBTUSD")
