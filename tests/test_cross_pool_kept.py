"""LIQ-053: an isolated fill may not move into its isolated pool the margin a cross pool in the same currency needs.

Found by the session-5 money-path review (tests/test_attack2_isolated_fill_drains_cross.py has the fund-loss
scenario): money MRG-060 set aside for a resting isolated order still counts in the cross pool's equity, so a
cross loss could eat it, and when the isolated order then filled the cross pool went below zero and the insurance
fund paid its deficit.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.exchange import Engine
from perpspec.rules.solvency import FILL_CANCEL_TEXT, is_cross_pool_kept


def test_liq_053_the_cross_pool_keeps_its_maintenance_after_the_move() -> None:
    assert is_cross_pool_kept(1_000, 400, 600)
    assert not is_cross_pool_kept(1_000, 400, 601)
    assert is_cross_pool_kept(-5, 400, 0)  # nothing moves out: never refused
    assert is_cross_pool_kept(100, 400, -50)  # margin coming back from the isolated pool


def _engine(fallen: int) -> Engine:
    """Account 2: isolated 1x ETHUSD bid of 300 at 2,990.00 resting, then cross long 50,000 XBTUSD; XBTUSD falls."""
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    for account, wallet in ((2, 10**8), (3, 10**10), (4, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=100))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=300, price=299_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=fallen, index_price=fallen))
    return engine


def test_liq_053_the_isolated_bid_is_cancelled_when_its_fill_would_take_the_cross_pool_below_maintenance() -> None:
    engine = _engine(4_500_000)
    account = engine.accounts[2]
    events = engine.process(c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=300, price=299_000))
    assert [getattr(e, "text", None) for e in events].count(FILL_CANCEL_TEXT) == 1
    assert account.positions["ETHUSD"].qty == 0
    assert not engine.risk.below_maintenance(account, "XBTUSD")


def test_liq_053_the_isolated_bid_fills_when_the_cross_pool_can_spare_the_margin() -> None:
    engine = _engine(4_990_000)  # a small fall: the cross pool keeps its maintenance after the move
    account = engine.accounts[2]
    events = engine.process(c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=300, price=299_000))
    assert FILL_CANCEL_TEXT not in [getattr(e, "text", None) for e in events]
    assert account.positions["ETHUSD"].qty == 300
    assert not engine.risk.below_maintenance(account, "XBTUSD")
