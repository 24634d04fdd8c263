"""Attack review 3: isolating a cross position needs the margin it sets aside to exist (MRG-010, MRG-066).

Found by the session-6 attack review's random search (seed 3120: a flat account left at −9.40 USDT);
fixed in ``engine/core/account_desk.py`` (``AccountDesk._change_leverage``).  Severity was high: the insurance
fund's balance came to include money that does not exist.

A leverage change was refused only when the available balance (MRG-050) would go below zero *and* below what it
was.  Isolating a cross position at the tier's maximum leverage (``Isolate`` or ``SetLeverage``) turns its
``posInit + posComm`` requirement into an isolated margin of the same size (MRG-066, no loss to set aside), so the
available balance does not change: when funding had already taken it below zero (the position still above
maintenance), the isolation was "not worse" and was accepted, and the isolated pool was credited more margin than
the wallet held.  The cross pool of the currency was left negative with nothing to liquidate; when the isolated
position was taken over, its whole margin left the wallet, the wallet went negative (INV-NO-NEG-EQUITY once the
close-out is done), and the fund booked the uncollectable difference as income.

Reproduction (XBTUSDT, USDt): account 2 (70 USDT) buys 60,000 at 50,000.00 (3,000 USDT at 50x: posInit + posComm
62.295 USDT) from account 3; two funding instants at the +0.375% cap take 22.5 USDT: wallet 45.25 USDT, available
−17.045 USDT, pool equity 45.25 above maintenance 32.295.  ``Isolate`` was accepted with an isolated margin of
62.295 USDT.  The mark falls to 49,400.00 and stays (a bid for the close-out rests there): the position is taken
over, the wallet ends at −17.045 USDT, and the fund gains 26.295 USDT instead of the 9.25 USDT it gains when the
same position stays cross (where the wallet ends at 0).

Fix: a change that sets more money aside (a larger isolated margin) is refused whenever the available balance
would be below zero; only changes that set nothing more aside keep the "not worse" exception (the same setting
again, going back to cross, a flat position).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.invariants import check_all

PRICE = 5_000_000  # 50,000.00
FALLEN = 4_940_000  # 49,400.00
FUND = 10**9


def _long_after_funding() -> Engine:
    engine = Engine({"XBTUSDT": load_builtin_instruments()["XBTUSDT"]})
    engine.track_steps = True
    engine.process(c.DepositInsurance(time_ms=0, asset="USDt", amount=FUND))
    for account, wallet in ((2, 70_000_000), (3, 10**12), (4, 10**12)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=wallet))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=PRICE, index_price=PRICE))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSDT", side="Sell", order_qty=60_000, price=PRICE))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSDT", side="Buy", order_qty=60_000, price=PRICE))
    for step in (1, 2):
        engine.process(c.FundingTick(time_ms=step, symbol="XBTUSDT", rate_e8=375_000))
    account = engine.accounts[2]
    assert account.wallets["USDt"] == 45_250_000
    assert engine.available(2, "USDt") == -17_045_000
    assert not engine.risk.below_maintenance(account, "XBTUSDT")
    return engine


def _fall_and_close_out(engine: Engine) -> list[dict[str, list[str]]]:
    engine.process(c.PlaceOrder(time_ms=4, account=4, symbol="XBTUSDT", side="Buy", order_qty=60_000, price=FALLEN))
    found = []
    for step in range(5, 9):
        events = engine.process(c.PriceUpdate(time_ms=step, symbol="XBTUSDT", mark_price=FALLEN, index_price=FALLEN))
        found.append({key: problems for key, problems in check_all(engine, engine.step_info(events)).items() if problems})
    return found


def test_mrg_010_isolating_with_a_negative_available_balance_is_refused() -> None:
    for command in (
        c.Isolate(time_ms=3, account=2, symbol="XBTUSDT", enabled=True),
        c.SetLeverage(time_ms=3, account=2, symbol="XBTUSDT", leverage_hundredths=5_000),
    ):
        engine = _long_after_funding()
        last = engine.process(command)[-1]
        assert isinstance(last, Rejected)
        assert last.reason is Reason.INSUFFICIENT_MARGIN
        assert last.text == "available balance would be -17045000"
        assert engine.accounts[2].positions["XBTUSDT"].iso_margin == 0  # before the fix: 62,295,000


def test_mrg_010_the_take_over_never_leaves_the_wallet_negative_and_the_fund_gains_only_real_money() -> None:
    engine = _long_after_funding()
    engine.process(c.Isolate(time_ms=3, account=2, symbol="XBTUSDT", enabled=True))
    found = _fall_and_close_out(engine)
    assert found == [{}, {}, {}, {}]
    assert engine.accounts[2].wallets["USDt"] == 0  # before the fix: -17,045,000
    assert engine.insurance_funds["USDt"] - FUND == 9_250_000  # before the fix: 26,295,000


def test_mrg_010_with_the_money_there_isolating_is_still_accepted() -> None:
    engine = _long_after_funding()
    engine.process(c.Deposit(time_ms=3, account=2, asset="USDt", amount=17_045_000))
    assert isinstance(engine.process(c.Isolate(time_ms=3, account=2, symbol="XBTUSDT", enabled=True))[-1], Accepted)
    assert engine.accounts[2].positions["XBTUSDT"].iso_margin == 62_295_000
    assert engine.available(2, "USDt") == 0
