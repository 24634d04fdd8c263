"""No FillOrKill reduction is even tried in a dated future after its expiry (session 15, helper "mut15").

Session 14 (red team 7) stopped the liquidation waterfall trading in an expired future's book: its close-outs are
held for settlement, and no LIQ-022 reduction is tried in it (``Waterfall`` skips an expired member when it picks
the position to reduce).  Dropping that skip passed every test: the reduction's FillOrKill then found the expired
book refusing (no trade), so the position was still taken over whole, but a LIQ-022 ``PartialLiquidation`` (not
filled) was reported for a reduction that cannot happen.  Pinned here: after expiry the pool is taken over with no
LIQ-022 report at all, where before expiry the same mark move reduces it.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from tests.test_s14_expired_closeouts import EXPIRY, T0, Z, _rules, _trades, ok


def test_liq_022_no_reduction_is_tried_or_reported_in_an_expired_future() -> None:
    engine = Engine()
    for account, amount in ((1, 10**12), (2, 600_000_000), (3, 10**12)):
        ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=amount))
    ok(engine, c.DepositInsurance(time_ms=T0, asset="XBt", amount=10**11))
    ok(engine, c.PriceUpdate(time_ms=T0, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2, 3):
        ok(engine, c.SetRiskLimit(time_ms=T0, account=account, symbol=Z, risk_limit=35_000_000_000))
    for _ in range(2):
        ok(engine, c.PlaceOrder(time_ms=T0, account=1, symbol=Z, side="Sell", order_qty=6_000_000, price=5_000_000))
        ok(engine, c.PlaceOrder(time_ms=T0, account=2, symbol=Z, side="Buy", order_qty=6_000_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=3, symbol=Z, side="Buy", order_qty=10_000_000, price=4_980_000))
    probe = Engine.from_snapshot(engine.snapshot())
    early = ok(probe, c.PriceUpdate(time_ms=EXPIRY - 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    assert _rules(early, "PartialLiquidation")  # before expiry: reduced in the book
    events = ok(engine, c.PriceUpdate(time_ms=EXPIRY + 1, symbol=Z, mark_price=4_900_000, index_price=4_900_000))
    assert _rules(events, "PartialLiquidation") == []
    assert _trades(events, Z) == []
    assert engine.accounts[2].positions[Z].qty == 0  # taken over whole
