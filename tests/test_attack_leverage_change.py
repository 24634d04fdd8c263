"""Attack review: a leverage change must never set aside less than a losing position needs (MRG-010, MRG-063).

Found by the session-5 integrity review.  ``AccountDesk._change_leverage`` sets an
isolated position's margin to ``posInit + posComm`` at the new leverage and only
checks that the account's available balance stays non-negative.  The position's
unrealised loss is not counted, so a position in loss can be isolated (or an
isolated one moved to a higher leverage) straight below maintenance, even below
zero equity.  The next mark update liquidates it at its bankruptcy price: the
account loses only the small isolated margin and keeps the rest of its wallet,
and the loss goes to the liquidation engine (insurance fund, then ADL).
``TransferMargin`` refuses the same withdrawal of margin (MRG-063
``BelowInitialMargin``); SetLeverage goes around it.

BitMEX (reference §2): isolated position margin is ``entry value / leverage +
unrealised PnL``, and isolated margin is never removed below the initial margin.

XBTUSD at 50,000.00: account 2 buys 20,000 contracts from account 3 and the mark
falls 8% to 46,000.00 (unrealised loss about 0.035 XBT on 1 XBT of wallet).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine

ENTRY = 5_000_000
FALLEN = 4_600_000
QTY = 20_000
WALLET = 10**8


def _losing_long(leverage_hundredths: int) -> Engine:
    """Account 2 long QTY XBTUSD at ENTRY (cross when 0, else isolated at that leverage), mark at FALLEN."""
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=WALLET))
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=ENTRY, index_price=ENTRY))
    if leverage_hundredths:
        engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=leverage_hundredths))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=QTY, price=ENTRY))
    fill = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=QTY, price=ENTRY))
    assert isinstance(fill[-1], Accepted)
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=FALLEN, index_price=FALLEN))
    assert engine.accounts[2].positions["XBTUSD"].qty == QTY
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")  # safe before the change
    return engine


@pytest.mark.xfail(strict=True, reason="engine/core/account_desk.py _change_leverage ignores the unrealised loss")
def test_isolating_a_losing_cross_position_never_leaves_it_below_maintenance() -> None:
    engine = _losing_long(0)
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")


@pytest.mark.xfail(strict=True, reason="engine/core/account_desk.py _change_leverage ignores the unrealised loss")
def test_raising_isolated_leverage_of_a_losing_position_never_leaves_it_below_maintenance() -> None:
    engine = _losing_long(100)  # isolated 1x: the whole value set aside
    refused = engine.process(c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=-(10**6)))
    assert not isinstance(refused[-1], Accepted)  # MRG-063 keeps the margin in the position...
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")  # ...and so must a leverage change


@pytest.mark.xfail(strict=True, reason="engine/core/account_desk.py _change_leverage ignores the unrealised loss")
def test_a_leverage_change_does_not_hand_the_loss_to_the_insurance_fund() -> None:
    engine = _losing_long(0)
    wallet_before = engine.accounts[2].wallets["XBt"]
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=FALLEN, index_price=FALLEN))
    # the account still holds its position (it was safe), or it paid the loss it had: at least 0.03 XBT
    position = engine.accounts[2].positions.get("XBTUSD")
    still_open = position is not None and position.qty == QTY
    assert still_open or wallet_before - engine.accounts[2].wallets["XBt"] >= 3_000_000


@pytest.mark.xfail(strict=True, reason="engine/core/account_desk.py set_risk_limit ignores the unrealised loss")
def test_raising_the_risk_limit_of_a_losing_isolated_position_never_leaves_it_below_maintenance() -> None:
    """RSK-006: a higher risk limit raises maintenance (XBTUSD tier 2: 1.5%); the isolated margin is raised to the
    tier's initial margin but not by the unrealised loss, so a 50x long 0.6% under water goes below maintenance
    (equity 662,850 against 709,425): the trader's own command liquidates it."""
    engine = Engine()
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=ENTRY, index_price=ENTRY))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=5_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=22_500, price=ENTRY))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=22_500, price=ENTRY))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=4_970_000, index_price=4_970_000))
    account = engine.accounts[2]
    assert not engine.risk.below_maintenance(account, "XBTUSD")
    engine.process(c.SetRiskLimit(time_ms=0, account=2, symbol="XBTUSD", risk_limit=50_000_000_000))
    assert not engine.risk.below_maintenance(account, "XBTUSD")
