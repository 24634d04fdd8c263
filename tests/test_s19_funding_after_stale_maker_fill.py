"""Session 19, redteam24_1 (/work/coord/repro19/redteam24_1.py, FND-020): a maker fill held back every holder's funding.

FND-020 refused a FundingTick while a pool holding the contract was below maintenance at mark, on the premise that
such a pool exists only because a waterfall's budget carried it (LIQ-034).  A maker fill at a stale price
(MRG-067: makers keep their orders; the maker guard stops fills only beyond bankruptcy) leaves the maker's pool
between bankruptcy and maintenance with no mark update, so every FundingTick of the contract was refused until the
next PriceUpdate (in serve up to a path step), and holders who closed meanwhile escaped the instant.  Now the
FundingTick first runs the waterfall at the current mark (as a PriceUpdate at an unchanged mark would), then judges
FND-020 again and funds the holders at the instant.  Since session 20 the stale maker fill's own command takes the
pool over (tests/test_s20_maker_fill_takeover.py); the tick's take-over is reached through pools a budget carried.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, RuleEvent, Transaction
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation
from perpspec.rules.invariants import check_all

E, P = "XBTUSD", 5_000_000


def _ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}
    return events


def test_fnd_020_a_stale_maker_fill_is_taken_over_at_the_fill_and_the_funding_tick_funds() -> None:
    """Since session 20 (redteam27_3) the pool a stale maker fill leaves below maintenance is taken over by the fill's
    own command (tests/test_s20_maker_fill_takeover.py), with the figures the FundingTick's take-over had here
    (equity 18,890, take-over price 46,470, 9,855 of residual margin to the fund); the tick then has nothing to take
    over and funds the holders: A is flat (0), the liquidation engine holds A's long (no bid took its close-out) and
    its 1,397 is paid by the fund (FND-019), so the fund moves by -1,397 at the tick (8,458 = 9,855 - 1,397 before,
    when the take-over was the tick's)."""
    engine = Engine()
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=P, index_price=P))
    for account, amount in ((1, 10**6), (2, 10**8), (3, 10**10), (4, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=1, account=3, symbol=E, side="Buy", order_qty=1_000_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=4, symbol=E, side="Sell", order_qty=1_000_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Buy", order_qty=6_500, price=P))  # A rests a bid
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=E, mark_price=4_650_000, index_price=4_650_000))  # the mark falls 7%
    fill = _ok(engine, c.PlaceOrder(time_ms=3, account=2, symbol=E, side="Sell", order_qty=6_500, price=P))  # B takes it
    [taken] = [e.record for e in fill if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert (taken.account_id, taken.equity, taken.taken[0].takeover_price, taken.residual_margin) == (
        1, 18_890, 4_647_000, 9_855
    )
    assert E not in engine.positions(1)
    wallets = {a: engine.wallet(a, "XBt") for a in (1, 2, 3, 4)}
    fund = engine.insurance("XBt")
    events = _ok(engine, c.FundingTick(time_ms=4, symbol=E, rate_e8=10_000))
    assert not any(isinstance(e, RuleEvent) and isinstance(e.record, Liquidation) for e in events)
    paid = {a: engine.wallet(a, "XBt") - wallets[a] for a in wallets}
    # paid at the instant: the holders at the rate on their value at mark; the liquidation engine's share from the fund
    assert paid == {1: 0, 2: 1_397, 3: -215_054, 4: 215_054}
    assert engine.insurance("XBt") - fund == -1_397


def _two_stale_maker_pools(budget: int) -> Engine:
    """Accounts 1, 5 and 6 below maintenance after a 7% fall (their longs bought at 50,000); the fall's waterfall,
    budget ``budget``, takes over only the first (LIQ-033: identical pools, by account) and carries the others.

    Until session 20 the pools were left due by stale maker fills with no mark update; such a pool is now taken over
    by the fill's command (tests/test_s20_maker_fill_takeover.py), so a pool a FundingTick finds due is one a mark
    update's budget carried."""
    symbol, price = "XBTUSD", 5_000_000
    engine = Engine(max_liquidations_per_update=budget)
    for command in (
        c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price),
        *(
            step
            for account, amount in ((1, 10**6), (5, 10**6), (6, 10**6), (2, 10**8), (3, 10**10), (4, 10**10))
            for step in (
                c.VerifyAccount(time_ms=0, account=account),
                c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount),
            )
        ),
        c.PlaceOrder(time_ms=1, account=3, symbol=symbol, side="Buy", order_qty=1_000_000, price=price),
        c.PlaceOrder(time_ms=1, account=4, symbol=symbol, side="Sell", order_qty=1_000_000, price=price),
        c.PlaceOrder(time_ms=1, account=1, symbol=symbol, side="Buy", order_qty=6_500, price=price),
        c.PlaceOrder(time_ms=1, account=5, symbol=symbol, side="Buy", order_qty=6_500, price=price),
        c.PlaceOrder(time_ms=1, account=6, symbol=symbol, side="Buy", order_qty=6_500, price=price),
        c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Sell", order_qty=19_500, price=price),  # fills at mark
        c.PriceUpdate(time_ms=2, symbol=symbol, mark_price=price - price * 70 // 1000, index_price=P * 93 // 100),
    ):
        assert isinstance(engine.process(command)[-1], Accepted), command
    return engine


def test_fnd_020_a_funding_tick_takes_over_more_pools_than_the_budget_then_funds() -> None:
    """redteam27_2 (/work/coord/repro20/redteam27_2.py): the tick's waterfall ran with LIQ-034's budget, so one sell
    into more stale bids than the budget left pools carried, the tick was refused, and a holder closing before the
    retry escaped the instant's funding.  The tick's waterfall now takes every pool due over (here two, with a budget
    of 1), and the instant is paid at once; the log names no carry (nothing was cut).  Since session 20 the two pools
    are carried by a mark update's budget of 1 (a stale maker fill's pool is taken over at the fill)."""
    engine = _two_stale_maker_pools(budget=1)
    assert sum(engine.risk.below_maintenance(engine.accounts[a], E) for a in (1, 5, 6)) == 2  # 1 taken, 5 and 6 carried
    events = _ok(engine, c.FundingTick(time_ms=1_000, symbol=E, rate_e8=10_000))
    taken = sorted(e.record.account_id for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation))
    assert taken == [5, 6]
    assert not any(isinstance(e, RuleEvent) and type(e.record).__name__ == "WaterfallCarried" for e in events)
    assert any(isinstance(e, Transaction) and e.transact_type == "Funding" for e in events)


def test_fnd_020_a_funding_tick_refused_after_its_waterfall_keeps_the_clock_at_its_time(monkeypatch: object) -> None:
    """review21_1: a FundingTick refused after its waterfall ran keeps that waterfall's events (stamped at its time);
    the clock went back to before them, so a later command at an earlier time was accepted and the event stream went
    backwards in time.  The clock now stays at the tick's time, as a fired timer leaves it.  Since redteam27_2 the
    tick's waterfall leaves no pool due, so FND-020's second judgement is made to hold here (as it would if a pool
    could stay due) to keep the engine's guard for refused commands with standing events tested."""
    import pytest

    from perpspec.engine.core import prices
    from perpspec.engine.core.events import Reason, Rejected
    from perpspec.rules.funding import FundingRejection

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    engine = _two_stale_maker_pools(budget=1)
    monkeypatch.setattr(
        prices, "check_funding_ready", lambda symbol, pools: FundingRejection(reason="liquidation-pending", detail="held for the test")
    )
    events = engine.process(c.FundingTick(time_ms=1_000, symbol=E, rate_e8=10_000))
    refused = events[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason == Reason.LIQUIDATION_PENDING
    assert len(events) > 1  # the take-over stands, stamped at the tick's time
    assert {event.time_ms for event in events[:-1]} == {1_000}
    assert engine.time_ms == 1_000
    late = engine.process(c.PlaceOrder(time_ms=500, account=2, symbol=E, side="Buy", order_qty=100, price=P * 93 // 100))
    assert isinstance(late[-1], Rejected)
    assert late[-1].reason == Reason.TIME_WENT_BACKWARDS
