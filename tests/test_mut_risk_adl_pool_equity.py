"""ADL-001's ranking reads each candidate's pool equity at mark, one-contract positions' PnL included.

Found by the session-7 mutation run over ``engine/core/risk.py`` (issue 13): ``Risk.pool_equity`` (the ADL rows'
equity) adds an isolated position's own PnL only for an open position (``qty != 0``) and, for a cross pool, the PnL
of every other open member; no ADL test ranked a one-contract isolated position or a cross pool with a one-contract
other member, so skipping exactly one contract went unnoticed.

ETHUSD at 3,000.00: account 1 (7,000 XBt) sells one contract to account 4 (isolated 10x: 30,248 XBt set aside),
account 6 one to account 5 (cross, 11,250 XBt deposited). At a mark of 3,300.00 account 1 is beyond its bankruptcy
price with no insurance fund: its short is deleveraged (ADL-020) against the top-ranked long. Both longs are
30,000 XBt in profit (PnL 10%); account 4's pool equity is 60,248 (leverage 5.5), account 5's 41,025 (leverage
8.0): account 5 ranks first. Without account 4's own profit its equity would be 30,248 (leverage 10.9) and it
would be deleveraged instead.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlFill
from perpspec.rules.instrument_file import load_instrument


def test_adl_001_an_isolated_one_contract_candidate_is_ranked_on_its_equity_with_its_own_profit() -> None:
    engine = Engine()
    for account, amount in ((1, 7_000), (4, 10**6), (5, 11_250), (6, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=4, symbol="ETHUSD", leverage_hundredths=1_000))[-1], Accepted)
    for seller, buyer in ((1, 4), (6, 5)):
        engine.process(c.PlaceOrder(time_ms=0, account=seller, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
        bought = engine.process(c.PlaceOrder(time_ms=0, account=buyer, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000))
        assert isinstance(bought[-1], Accepted), bought[-1]
    assert engine.accounts[4].positions["ETHUSD"].iso_margin == 30_248
    assert engine.wallet(5, "XBt") == 11_025
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=330_000, index_price=330_000))
    fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)]
    assert [(f.account_id, f.close_qty) for f in fills] == [(5, 1)]
    assert (engine.accounts[4].positions["ETHUSD"].qty, engine.accounts[5].positions["ETHUSD"].qty) == (1, 0)


def test_adl_001_a_cross_candidates_equity_counts_a_one_contract_other_member() -> None:
    # as above, but account 5 (40,450 XBt deposited) also holds, cross, one contract of a copy of ETHUSD bought at
    # 3,000.00 and marked at 2,800.00 (20,000 XBt lost): its pool equity at the ADL is 40,000 + 30,000 - 20,000 =
    # 50,000 (leverage 6.6, above account 4's 5.5), so it ranks first; without the other member's loss it would be
    # 70,000 (leverage 4.7) and account 4 would be deleveraged
    copy = attrs.evolve(load_instrument("ETHUSD"), symbol="ETHUSDX")
    engine = Engine({"ETHUSD": load_instrument("ETHUSD"), "ETHUSDX": copy})
    for account, amount in ((1, 7_000), (4, 10**6), (5, 40_450), (6, 10**10)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol in ("ETHUSD", "ETHUSDX"):
        engine.process(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=300_000, index_price=300_000))
    assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=4, symbol="ETHUSD", leverage_hundredths=1_000))[-1], Accepted)
    for seller, buyer, symbol in ((1, 4, "ETHUSD"), (6, 5, "ETHUSD"), (6, 5, "ETHUSDX")):
        engine.process(c.PlaceOrder(time_ms=0, account=seller, symbol=symbol, side="Sell", order_qty=1, price=300_000))
        bought = engine.process(c.PlaceOrder(time_ms=0, account=buyer, symbol=symbol, side="Buy", order_qty=1, price=300_000))
        assert isinstance(bought[-1], Accepted), bought[-1]
    assert engine.wallet(5, "XBt") == 40_000
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSDX", mark_price=280_000, index_price=280_000))
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=330_000, index_price=330_000))
    fills = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlFill)]
    assert [(f.account_id, f.close_qty) for f in fills] == [(5, 1)]
