"""Attack review: a leverage change must never set aside less than a losing position needs (MRG-066, MRG-063).

Found by the session-5 integrity review; fixed on main by MRG-066 (846ceaa), these stay
as its regressions.  ``AccountDesk._change_leverage`` set an isolated position's margin
to ``posInit + posComm`` at the new leverage and only checked that the account's available balance stays non-negative.  The position's
unrealised loss is not counted, so a position in loss can be isolated (or an
isolated one moved to a higher leverage) straight below maintenance, even below
zero equity.  The next mark update liquidates it at its bankruptcy price: the
account loses only the small isolated margin and keeps the rest of its wallet,
and the loss goes to the liquidation engine (insurance fund, then ADL).
``TransferMargin`` refuses the same withdrawal of margin (MRG-063
``BelowInitialMargin``); SetLeverage goes around it.

BitMEX (reference §2): isolated position margin is ``entry value / leverage +
unrealised PnL``, and isolated margin is never removed below the initial margin.

The same gap needs no price move at all: an isolated account buys from a colluder
4.9% above the mark (MRG-060 funds the premium into its isolated margin), then sets
the same leverage again; the premium goes back to its wallet, the pool is below zero,
and the insurance fund pays what the colluder was paid (last two tests).

The fix (MRG-066): set aside the unrealised loss at mark as well, ``posInit + posComm +
max(0, −unrealisedPnl)``, on a leverage change and in SetRiskLimit's ``max(iso_margin, …)``.

XBTUSD at 50,000.00: account 2 buys 20,000 contracts from account 3 and the mark
falls 8% to 46,000.00 (unrealised loss about 0.035 XBT on 1 XBT of wallet).
"""

from __future__ import annotations

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


def test_isolating_a_losing_cross_position_never_leaves_it_below_maintenance() -> None:
    engine = _losing_long(0)
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")


def test_raising_isolated_leverage_of_a_losing_position_never_leaves_it_below_maintenance() -> None:
    engine = _losing_long(100)  # isolated 1x: the whole value set aside
    refused = engine.process(c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=-(10**6)))
    assert not isinstance(refused[-1], Accepted)  # MRG-063 keeps the margin in the position...
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")  # ...and so must a leverage change


def test_a_leverage_change_does_not_hand_the_loss_to_the_insurance_fund() -> None:
    engine = _losing_long(0)
    wallet_before = engine.accounts[2].wallets["XBt"]
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=FALLEN, index_price=FALLEN))
    # the account still holds its position (it was safe), or it paid the loss it had: at least 0.03 XBT
    position = engine.accounts[2].positions.get("XBTUSD")
    still_open = position is not None and position.qty == QTY
    assert still_open or wallet_before - engine.accounts[2].wallets["XBt"] >= 3_000_000


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


def _bought_above_the_mark() -> Engine:
    """Account 2 (isolated 100x) buys 20,000 XBTUSD from colluder 3 at 52,450.00, 4.9% above the 50,000.00 mark.

    MRG-060 funds the premium into the isolated margin (2,278,601 XBt: 1% + 4.9%). Account 1 bids at 49,900.00.
    """
    engine = Engine()
    engine.process(c.DepositInsurance(time_ms=0, asset="XBt", amount=WALLET))
    for account in (1, 2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=ENTRY, index_price=ENTRY))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=40_000, price=4_990_000))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=QTY, price=5_245_000))
    fill = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=QTY, price=5_245_000))
    assert isinstance(fill[-1], Accepted)
    assert engine.accounts[2].positions["XBTUSD"].iso_margin == 2_278_601
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")
    return engine


def test_setting_the_same_leverage_again_does_not_release_the_premium_a_fill_above_the_mark_set_aside() -> None:
    engine = _bought_above_the_mark()
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")


def test_a_colluding_pair_cannot_drain_the_insurance_fund_at_a_constant_mark() -> None:
    """Without the fix: the premium goes back to account 2's wallet, its pool is at −1,458,199, it is taken over at
    its bankruptcy price and closed into account 1's bid; the fund pays 1,538,399 XBt while colluder 3 keeps the
    1,830,773 XBt premium it was paid (account 2 loses only 438,800) — the mark never moved."""
    engine = _bought_above_the_mark()
    fund = engine.insurance_funds["XBt"]
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    for second in range(1, 10):
        engine.process(c.PriceUpdate(time_ms=second * 1000, symbol="XBTUSD", mark_price=ENTRY, index_price=ENTRY))
    assert engine.insurance_funds["XBt"] >= fund
