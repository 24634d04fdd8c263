"""MRG-050 at order entry for an account with cross positions in two contracts: every position counts.

Found by the session-6 mutation run over ``engine/core/risk.py`` (issue 13): ``Risk.available_margin`` takes the
proved ``account_margin_cross_1`` kernel (MRG-050 over one cross position) only when the account's single position
is the order's; no test refused an order of an account with a second position, so taking the kernel for an account
with two positions (ignoring the other one's margin and PnL) went unnoticed.  Pinned here through public commands: the
refusal names the available balance, which must be the account's whole MRG-050 available balance.

Account 2 (1 XBT) buys 10,000 XBTUSD at 50,000.00 (0.2 XBT; fee 15,000; posInit 1% = 200,000 + posComm 15,150) and
10 ETHUSD at 3,000.00 (3,000,000 XBt; fee 2,250; posInit 2% = 60,000 + posComm 0.075% of 3,060,000 = 2,295), cross:
wallet 99,982,750, available 99,982,750 − 215,150 − 62,295 = 99,705,305; after ETHUSD's mark falls to 2,900.00
(a loss of 10 × 10,000 = 100,000): 99,605,305.  A buy of 5,000,000 XBTUSD at 40,000.00 needs more than that.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine


def _two_positions() -> Engine:
    engine = Engine()
    for account, amount in ((2, 10**8), (3, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol, price, qty in (("XBTUSD", 5_000_000, 10_000), ("ETHUSD", 300_000, 10)):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
        engine.process(
            c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Sell", order_qty=qty, price=price)
        )
        bought = engine.process(
            c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=qty, price=price)
        )
        assert isinstance(bought[-1], Accepted)
    return engine


def _refusal(engine: Engine) -> Rejected:
    result = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=5_000_000, price=4_000_000)
    )[-1]
    assert isinstance(result, Rejected)
    return result


def test_mrg_050_an_order_refusal_counts_the_accounts_other_cross_position() -> None:
    engine = _two_positions()
    assert engine.wallet(2, "XBt") == 99_982_750
    assert engine.available(2, "XBt") == 99_705_305
    refusal = _refusal(engine)
    assert (refusal.reason, refusal.text) == (
        Reason.INSUFFICIENT_MARGIN,
        "needs 220812500, available 99705305",
    )
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=290_000, index_price=290_000))
    assert engine.available(2, "XBt") == 99_605_305
    refusal = _refusal(engine)
    assert (refusal.reason, refusal.text) == (
        Reason.INSUFFICIENT_MARGIN,
        "needs 220812500, available 99605305",
    )
