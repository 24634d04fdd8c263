"""MRG-066: a leverage or risk-limit change keeps an isolated position's unrealised loss set aside.

Found by the session-5 attack review (tests/test_attack_leverage_change.py has the engine scenarios, among them a
colluding pair draining the insurance fund at a constant mark): the engine reset the isolated margin to
``posInit + posComm`` on every SetLeverage, Isolate and SetRiskLimit, handing back the loss a fill above the
mark had set aside (MRG-060) or a falling mark had eaten into.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import compute_isolated_margin_on_change
from perpspec.rules.position import compute_unrealised_pnl

WALLET = 100_000_000
MARK = 5_000_000  # 50,000.00


def test_mrg_066_a_loss_is_added_a_profit_is_not() -> None:
    assert compute_isolated_margin_on_change(1_000, 75, -400) == 1_475
    assert compute_isolated_margin_on_change(1_000, 75, -1) == 1_076
    assert compute_isolated_margin_on_change(1_000, 75, 0) == 1_075
    assert compute_isolated_margin_on_change(1_000, 75, 400) == 1_075


def _losing_isolated(mark_after: int) -> Engine:
    """Account 2: isolated 10x long 10,000 XBTUSD at 50,000.00 from account 3, then the mark moves."""
    engine = Engine()
    for account in (2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=1_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=10_000, price=MARK))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=10_000, price=MARK))
    engine.process(c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=mark_after, index_price=mark_after))
    return engine


def _expected(engine: Engine, leverage: int, chosen_tier: int = 0) -> int:
    inst = engine.market.instrument_map["XBTUSD"]
    ps = engine.accounts[2].positions["XBTUSD"]
    req = compute_requirement(inst, ps.position, leverage, chosen_tier)
    pnl = compute_unrealised_pnl(inst, ps.position, engine.market.marks["XBTUSD"])
    return req.pos_init + req.pos_comm + max(0, -pnl)


def test_mrg_066_set_leverage_on_a_loss_sets_the_loss_aside_and_the_wallet_pays_it() -> None:
    engine = _losing_isolated(4_800_000)  # 4% down: a loss of about 0.0083 XBT
    inst = engine.market.instrument_map["XBTUSD"]
    loss = -compute_unrealised_pnl(inst, engine.accounts[2].positions["XBTUSD"].position, 4_800_000)
    assert loss > 0
    events = engine.process(c.SetLeverage(time_ms=2, account=2, symbol="XBTUSD", leverage_hundredths=2_000))
    assert isinstance(events[-1], Accepted)
    held = engine.accounts[2].positions["XBTUSD"].iso_margin
    assert held == _expected(engine, 2_000)
    req = compute_requirement(inst, engine.accounts[2].positions["XBTUSD"].position, 2_000, 0)
    assert held - loss == req.pos_init + req.pos_comm  # the equity at mark is posInit + posComm at 20x
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")


def test_mrg_066_set_leverage_in_profit_sets_aside_only_the_requirement() -> None:
    engine = _losing_isolated(5_200_000)  # 4% up: a profit
    engine.process(c.SetLeverage(time_ms=2, account=2, symbol="XBTUSD", leverage_hundredths=2_000))
    inst = engine.market.instrument_map["XBTUSD"]
    ps = engine.accounts[2].positions["XBTUSD"]
    req = compute_requirement(inst, ps.position, 2_000, 0)
    assert ps.iso_margin == req.pos_init + req.pos_comm


def test_mrg_066_a_loss_the_wallet_cannot_fund_refuses_the_change_and_changes_nothing() -> None:
    engine = _losing_isolated(4_600_000)
    account = engine.accounts[2]
    before = (account.positions["XBTUSD"].iso_margin, account.positions["XBTUSD"].leverage, dict(account.wallets))
    engine.process(c.Withdraw(time_ms=2, account=2, asset="XBt", amount=engine.risk.available(2, "XBt")))
    after_withdrawal = (account.positions["XBTUSD"].iso_margin, account.positions["XBTUSD"].leverage)
    assert after_withdrawal == before[:2]
    events = engine.process(c.SetLeverage(time_ms=3, account=2, symbol="XBTUSD", leverage_hundredths=1_000))
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason.value == "InsufficientAvailableBalance"
    assert (account.positions["XBTUSD"].iso_margin, account.positions["XBTUSD"].leverage) == before[:2]
