"""Boundaries of session 16's chosen-tier figures (helper mut17, session 17; mutants of engine/core/risk.py).

* MRG-061 with no chosen tier: ``Risk.held_tier_extras`` is exactly 0, so an order needing exactly the available
  balance is accepted (the mutant holding back 1 XBt refused it).
* FND-020 / SET-005 (``Risk.below_fitting_maintenance``): a pool whose equity at mark is exactly its maintenance at
  the tiers LIQ-021 leaves (its own risk steps, LIQ-001 with ``chosen_tier = 0``) is not waited for; one satoshi
  less is (LIQ-003: below maintenance is strictly below): since session 19 (redteam24_1) the FundingTick's own
  waterfall takes it over first (its tiers lowered, then liquidated) and then funds.
* MRG-061 at chosen tier 1: ``held_tier_extras`` is the chosen tier's extra for an account whose only position chose
  tier 1 (the mutant ``chosen_tier != 1`` took it for an account with no chosen tier and answered 0).
* MRG-067's loop: after each cancellation the available balance is read again net of what the chosen tiers hold,
  so a second unfunded order is cancelled when the first one's cancellation is not enough (the mutant adding the
  held figure back stopped after the first).
"""

from __future__ import annotations

import re

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Reason, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.fills import UNFUNDED_TEXT
from perpspec.rules.liquidation import compute_requirement
from tests.test_s16_chosen_tier_orders import ETH_MARK, MAKER, OWNER, XBT_MARK, E, X, ok, owner_at_chosen_tier

FUTURE = "XBTZ26"


def test_mrg_061_an_order_needing_exactly_the_available_balance_is_accepted_without_a_chosen_tier() -> None:
    engine = Engine()
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.VerifyAccount(time_ms=0, account=1))
    ok(engine, c.Deposit(time_ms=0, account=1, asset="XBt", amount=1_000))
    order = c.PlaceOrder(time_ms=0, account=1, symbol=X, side="Buy", order_qty=100, price=5_000_000)
    [refused] = engine.process(order)
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    match = re.fullmatch(r"needs (\d+), available (\d+)", refused.text)
    assert match is not None, refused.text
    needs, available = int(match[1]), int(match[2])
    assert available == 1_000
    assert engine.risk.held_tier_extras(engine.accounts[1], "XBt") == 0
    ok(engine, c.Deposit(time_ms=0, account=1, asset="XBt", amount=needs - available))
    assert engine.available(1, "XBt") == needs
    ok(engine, order)


def test_fnd_020_a_pool_exactly_at_its_fitting_maintenance_is_not_waited_for() -> None:
    engine = owner_at_chosen_tier()
    account = engine.accounts[OWNER]
    _, equity, _, members = engine.risk.pool_of(account, X)
    assert members == [X]
    maintenance = sum(
        compute_requirement(engine.instrument_map[m], account.positions[m].position, account.positions[m].leverage, 0).pos_maint
        for m in members
    )
    assert maintenance > 0
    account.wallets["XBt"] += maintenance - equity  # as a state only a price move reaches: equity == maintenance
    engine.ledger.deposits["XBt"] += maintenance - equity  # funds conserved, as the snapshot's state check requires
    assert engine.risk.pool_of(account, X)[1] == maintenance
    assert not engine.risk.below_fitting_maintenance(account, X)
    before = engine.snapshot()
    assert isinstance(engine.process(c.FundingTick(time_ms=2, symbol=X, rate_e8=10_000))[-1], Accepted)
    engine = Engine.from_snapshot(before)
    account = engine.accounts[OWNER]
    account.wallets["XBt"] -= 1
    assert engine.risk.below_fitting_maintenance(account, X)
    events = engine.process(c.FundingTick(time_ms=2, symbol=X, rate_e8=10_000))
    kinds = [e.kind for e in events if isinstance(e, RuleEvent)]
    assert kinds[:2] == ["RiskLimitLowered", "Liquidation"]  # taken over before the funding (redteam24_1)
    assert isinstance(events[-1], Accepted)
    assert engine.positions(OWNER) == {}


def test_mrg_061_chosen_tier_one_holds_its_extra() -> None:
    engine = Engine()
    inst = engine.instrument_map[X]
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    for account in (OWNER, MAKER):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + inst.risk_step))
    account = engine.accounts[OWNER]
    assert [ps.chosen_tier for ps in account.positions.values()] == [1]
    held = engine.risk.held_tier_extras(account, "XBt")
    assert held == engine.risk.cross_tier_extras(account, "XBt") > 0
    refused = engine.process(c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=10**7, price=XBT_MARK))[-1]
    assert isinstance(refused, Rejected)
    assert refused.text.endswith(f"available {engine.available(OWNER, 'XBt') - held}")


def test_mrg_067_cancels_a_second_unfunded_order_when_the_first_is_not_enough() -> None:
    """tests/test_s16_chosen_tier_orders.py's flip (owner long 100,000 XBTUSD at tier 5, long 400 ETHUSD, selling 500)
    with its far take-profit split into 90 and then 10 contracts: cancelling the 10 leaves the balance net of the
    tier's 5,003,750 below zero, so the 90 goes too."""
    engine = Engine()
    inst = engine.instrument_map[X]
    for account, amount in ((OWNER, 13_900_000), (MAKER, 10**13), (3, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for s, mark in ((X, XBT_MARK), (E, ETH_MARK)):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=s, mark_price=mark, index_price=mark))
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    for account, side, qty, price in (
        (MAKER, "Sell", 400, ETH_MARK), (OWNER, "Buy", 400, ETH_MARK), (OWNER, "Sell", 90, 3_000_000),
        (OWNER, "Sell", 10, 3_000_000), (3, "Buy", 500, ETH_MARK),
    ):
        ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol=E, side=side, order_qty=qty, price=price))
    events = ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Sell", order_qty=500, price=ETH_MARK))
    cancels = [(e.order_id, e.text) for e in events if isinstance(e, Execution) and e.exec_type == "Canceled"]
    assert cancels == [(6, UNFUNDED_TEXT), (5, UNFUNDED_TEXT)]
    account = engine.accounts[OWNER]
    assert account.positions[E].qty == -100
    assert not account.orders
    assert engine.risk.held_tier_extras(account, "XBt") == 5_003_750


def test_set_005_a_settled_futures_leverage_margin_mode_and_risk_limit_are_accepted_again() -> None:
    """After Settle the future is flat: ContractExpired is only for the time between expiry and Settle (the
    mutant refusing every expired future refused these)."""
    engine = owner_at_chosen_tier(symbol=FUTURE)
    inst = engine.instrument_map[FUTURE]
    expiry = inst.expiry_ms
    assert expiry is not None
    ok(engine, c.PriceUpdate(time_ms=expiry, symbol=FUTURE, mark_price=XBT_MARK))
    ok(engine, c.Settle(time_ms=expiry, symbol=FUTURE, settlement_price=XBT_MARK))
    assert engine.accounts[OWNER].positions[FUTURE].qty == 0
    ok(engine, c.SetLeverage(time_ms=expiry, account=OWNER, symbol=FUTURE, leverage_hundredths=500))
    ok(engine, c.Isolate(time_ms=expiry, account=OWNER, symbol=FUTURE, enabled=False))
    ok(engine, c.SetRiskLimit(time_ms=expiry, account=OWNER, symbol=FUTURE, risk_limit=inst.risk_limit))
