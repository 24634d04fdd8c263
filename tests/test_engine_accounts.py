"""Engine accounts: fee tiers by 30-day volume, withdrawals, verification, the liquidation index."""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.liqindex import LiqIndex
from perpspec.rules.instrument_file import load_instrument

DAY = 86_400_000
XBTUSD = load_instrument("XBTUSD")


def market() -> Engine:
    engine = Engine({"XBTUSD": XBTUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=100 * 100_000_000))
    return engine


def trade(engine: Engine, time_ms: int, qty: int, buyer: int = 1, seller: int = 2) -> list[Execution]:
    engine.process(c.PlaceOrder(time_ms=time_ms, account=seller, symbol="XBTUSD", side="Sell", order_qty=qty,
                                price=5_000_000))
    events = engine.process(c.PlaceOrder(time_ms=time_ms, account=buyer, symbol="XBTUSD", side="Buy", order_qty=qty,
                                         price=5_000_000))
    return [e for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]


def test_taker_fee_drops_to_the_next_tier_the_day_after_30_day_volume_passes_it() -> None:
    engine = market()
    # 30 days × 1,000,000 USD a day: average daily volume 1,000,000 USD → tier 1 (taker 0.05%)
    for day in range(30):
        trade(engine, day * DAY, 500_000)
        trade(engine, day * DAY, 500_000, buyer=2, seller=1)
    taker = trade(engine, 30 * DAY, 100_000)[0]
    # 100,000 USD at 50,000 = 2 XBT = 200,000,000 sats; 0.05% = 100,000 sats
    assert taker.exec_comm == 100_000


def test_taker_fee_is_the_base_tier_without_volume() -> None:
    engine = market()
    taker = trade(engine, 0, 100_000)[0]
    assert taker.exec_comm == 150_000  # 0.075% of 200,000,000 sats


def test_withdrawal_of_unrealised_profit_is_rejected() -> None:
    engine = market()
    trade(engine, 0, 1_000_000)  # account 1 long 1,000,000 USD at 50,000
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_500_000, index_price=5_500_000))
    wallet = engine.wallet(1, "XBt")
    events = engine.process(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=wallet))
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason.value == "InsufficientBalance"


def test_withdrawal_within_the_withdrawable_balance_is_accepted() -> None:
    engine = market()
    events = engine.process(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=100_000_000))
    assert isinstance(events[-1], Accepted)
    assert engine.wallet(1, "XBt") == 99 * 100_000_000


def test_verifying_twice_is_rejected() -> None:
    engine = market()
    events = engine.process(c.VerifyAccount(time_ms=0, account=1))
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason.value == "AlreadyVerified"


def test_liquidation_index_finds_only_positions_beyond_their_trigger() -> None:
    index = LiqIndex()
    index.set(1, "X", True, 4_500_000)  # long, liquidated below 45,000
    index.set(2, "X", True, 4_000_000)
    index.set(3, "X", False, 5_500_000)  # short, liquidated above 55,000
    assert index.candidates("X", 4_400_000) == [(1, 4_500_000)]
    assert index.candidates("X", 5_600_000) == [(3, 5_500_000)]
    assert index.candidates("X", 5_000_000) == []


def test_liquidation_index_entry_moves_when_reset() -> None:
    index = LiqIndex()
    index.set(1, "X", True, 4_500_000)
    index.set(1, "X", True, 4_100_000)
    assert index.candidates("X", 4_400_000) == []
    index.remove(1, "X")
    assert len(index) == 0


def test_mark_update_liquidates_a_position_past_its_liquidation_price() -> None:
    engine = market()
    engine.process(c.Withdraw(time_ms=0, account=1, asset="XBt", amount=99 * 100_000_000))
    trade(engine, 0, 500_000)  # 10 XBT long on 1 XBT: 10x
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=500_000,
                                price=4_400_000))
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=4_500_000, index_price=4_500_000))
    kinds = [getattr(e, "kind", "") for e in events]
    assert "Liquidation" in kinds
    assert engine.positions(1) == {}


def test_fee_tier_of_one_contract_is_never_used_for_another_schedule() -> None:
    # regression (state machine): a tier index cached for XBTUSD (10 tiers) was used for ETHUSD (1 tier)
    engine = Engine({"XBTUSD": XBTUSD, "ETHUSD": load_instrument("ETHUSD")})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=1_000 * 100_000_000))
    for day in range(30):
        trade(engine, day * DAY, 2_000_000)  # 2M USD a day on XBTUSD: tier 1 there
    engine.process(c.PlaceOrder(time_ms=30 * DAY, account=2, symbol="ETHUSD", side="Sell", order_qty=10, price=300_000))
    events = engine.process(
        c.PlaceOrder(time_ms=30 * DAY, account=1, symbol="ETHUSD", side="Buy", order_qty=10, price=300_000)
    )
    trades = [e for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert trades[0].exec_comm == 2_250  # ETHUSD's only tier: 0.075% of 3,000,000 sats


def test_raising_the_risk_limit_of_an_isolated_position_needs_the_extra_margin() -> None:
    # regression (state machine): the raise was accepted unfunded, and the liquidation that followed
    # left the account with negative equity
    eth = load_instrument("ETHUSD")
    engine = Engine({"ETHUSD": eth})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, 2_000_000), (2, 100 * 100_000_000)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.SetLeverage(time_ms=0, account=1, symbol="ETHUSD", leverage_hundredths=2_500))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=133, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=133, price=300_000))
    assert engine.positions(1)["ETHUSD"].qty == 133
    events = engine.process(
        c.SetRiskLimit(time_ms=0, account=1, symbol="ETHUSD", risk_limit=eth.risk_limit + 3 * eth.risk_step)
    )
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason.value == "InsufficientAvailableBalance"
