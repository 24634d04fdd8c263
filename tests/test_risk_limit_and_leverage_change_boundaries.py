"""RSK-006 / MRG-050 / MRG-066 / LIQ-001: the exact edges of SetRiskLimit and of a leverage change.

Found by the session-5 mutation run over the new code of ``engine/core/account_desk.py`` (issue 13): the tests of
the attack review checked the direction of each refusal, not its edges.  Pinned here, through public commands:

* the refusal rule of both commands, "available balance would go below zero *and* below what it was": accepted at
  exactly 0, refused at -1, and accepted when it stays negative but does not get worse (the same setting again,
  or a lower risk limit);
* the chosen tier's extra ``posInit + posComm`` of a cross position (``_cross_tier_extra``) to the unit, for the
  tier asked for and for the tier the position is leaving;
* MRG-066's margin of an isolated position at its new setting for a one-contract position (ETHUSD's lot is 1);
* a configuration command is accepted with order id 0 (events.Accepted: no order addressed).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine

PRICE = 5_000_000  # 50,000.00
ETH_PRICE = 300_000  # 3,000.00
TIER_0 = 20_000_000_000  # XBTUSD riskLimit (200 XBT)
TIER_1 = 35_000_000_000  # + one riskStep (150 XBT)


def _long(deposit: int, symbol: str = "XBTUSD", qty: int = 10_000, price: int = PRICE) -> Engine:
    """Account 2 (``deposit`` XBt) buys ``qty`` ``symbol`` at ``price`` from account 3, cross."""
    engine = Engine()
    for account, amount in ((2, deposit), (3, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol=symbol, side="Sell", order_qty=qty, price=price))
    bought = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side="Buy", order_qty=qty, price=price))
    assert isinstance(bought[-1], Accepted)
    return engine


def _mark(engine: Engine, symbol: str, price: int) -> None:
    engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))


def _risk_limit(engine: Engine, limit: int, symbol: str = "XBTUSD") -> Accepted | Rejected:
    result = engine.process(c.SetRiskLimit(time_ms=0, account=2, symbol=symbol, risk_limit=limit))[-1]
    assert isinstance(result, Accepted | Rejected)
    return result


def _available(engine: Engine) -> int:
    return engine.risk.account_margin(engine.accounts[2], "XBt").available_margin


def _refused_at(result: Accepted | Rejected, available: int) -> bool:
    return isinstance(result, Rejected) and result.text == f"available balance would be {available}"


def test_rsk_006_a_cross_position_may_take_tier_1_when_its_extra_leaves_exactly_zero() -> None:
    # 10,000 XBTUSD (0.2 XBT) cross: MRG-050's available balance is 330,225 - 230,150 = 100,075 XBt, and tier 1
    # adds 0.5% of the value to posInit plus the commission on it: 100,075 XBt exactly.
    engine = _long(330_225)
    assert _available(engine) == 100_075
    result = _risk_limit(engine, TIER_1)
    assert result == Accepted(seq=result.seq, time_ms=0, command="SetRiskLimit", account=2, order_id=0)
    assert engine.accounts[2].positions["XBTUSD"].chosen_tier == 1
    assert _refused_at(_risk_limit(_long(330_224), TIER_1), -1)


def test_rsk_006_a_one_contract_cross_position_is_charged_its_chosen_tier_extra() -> None:
    # one ETHUSD contract (300,000 XBt, cross): on a 7,000 XBt deposit tier 1's extra would leave -2,457 XBt
    assert _refused_at(_risk_limit(_long(7_000, "ETHUSD", 1, ETH_PRICE), 10_000_000_000, "ETHUSD"), -2_457)
    assert isinstance(_risk_limit(_long(9_457, "ETHUSD", 1, ETH_PRICE), 10_000_000_000, "ETHUSD"), Accepted)
    assert _refused_at(_risk_limit(_long(9_456, "ETHUSD", 1, ETH_PRICE), 10_000_000_000, "ETHUSD"), -1)


def _isolated_after_a_loss(deposit: int, change: c.SetRiskLimit | c.SetLeverage, leverage: int | None) -> Engine:
    engine = _long(deposit)
    if leverage is not None:
        assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=leverage))[-1], Accepted)
    _mark(engine, "XBTUSD", 4_990_000)  # an unrealised loss: MRG-066 sets it aside at the change
    engine.process(change)
    return engine


def test_mrg_066_setting_the_same_risk_limit_sets_the_loss_aside_down_to_exactly_zero_available() -> None:
    same = c.SetRiskLimit(time_ms=0, account=2, symbol="XBTUSD", risk_limit=TIER_0)
    engine = _isolated_after_a_loss(470_431, same, 5_000)
    assert engine.accounts[2].positions["XBTUSD"].iso_margin == 455_400  # was 415,300
    assert _available(engine) == 0
    engine = _isolated_after_a_loss(470_430, same, 5_000)
    assert engine.accounts[2].positions["XBTUSD"].iso_margin == 415_300  # refused: -1
    assert _available(engine) == 40_130


def test_mrg_066_isolating_a_losing_position_is_accepted_down_to_exactly_zero_available() -> None:
    isolate = c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=5_000)
    engine = _isolated_after_a_loss(470_431, isolate, None)
    assert engine.accounts[2].positions["XBTUSD"].iso_margin == 455_400
    assert _available(engine) == 0
    engine = _long(470_430)
    _mark(engine, "XBTUSD", 4_990_000)
    assert _refused_at(engine.process(isolate)[-1], -1)


def test_mrg_066_a_one_contract_position_isolated_or_repriced_sets_its_margin_aside() -> None:
    engine = _long(10**6, "ETHUSD", 1, ETH_PRICE)
    assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=2_500))[-1], Accepted)
    assert engine.accounts[2].positions["ETHUSD"].iso_margin == 12_234  # posInit 4% + posComm, not 0
    _mark(engine, "ETHUSD", 299_000)  # a loss of 1,000 XBt
    assert isinstance(_risk_limit(engine, 5_000_000_000, "ETHUSD"), Accepted)
    assert engine.accounts[2].positions["ETHUSD"].iso_margin == 13_234  # the loss set aside


def _underwater_at_tier_1() -> Engine:
    """Cross long 10,000 at tier 1 with a resting sell of 21,000 at 51,000.00; the mark at 49,600.00.

    The resting order's margin makes the available balance negative (-39,652 XBt) while the pool stays well above
    maintenance (equity 423,700, maintenance 215,225).
    """
    engine = _long(600_000)
    assert isinstance(_risk_limit(engine, TIER_1), Accepted)
    sell = c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=21_000, price=5_100_000)
    assert isinstance(engine.process(sell)[-1], Accepted)
    _mark(engine, "XBTUSD", 4_960_000)
    assert _available(engine) == -39_652
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")
    return engine


def test_rsk_006_a_negative_available_balance_may_lower_the_risk_limit() -> None:
    engine = _underwater_at_tier_1()  # leaving tier 1 releases its extra: the balance gets better
    assert isinstance(_risk_limit(engine, TIER_0), Accepted)
    assert engine.accounts[2].positions["XBTUSD"].chosen_tier == 0


def test_rsk_006_and_mrg_050_the_same_setting_again_is_accepted_when_nothing_gets_worse() -> None:
    engine = _underwater_at_tier_1()
    assert isinstance(_risk_limit(engine, TIER_1), Accepted)
    assert isinstance(engine.process(c.Isolate(time_ms=0, account=2, symbol="XBTUSD", enabled=False))[-1], Accepted)
    assert _available(engine) == -39_652
