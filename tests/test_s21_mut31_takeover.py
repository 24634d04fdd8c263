"""Session 21, mut31 (a mutation red team over session 20's code, /work/coord/repro21/mut31_report.md): slips in
LIQ-034's take-over at a trade (liq20: ``Prices.take_over_filled``, ``Waterfall._rounds`` / ``_due_among``) and in
LIQ-053's close-out guard (fix29b) that survived every test.  Each test here fails with its slip planted:

- mut31_1: ``event.account >= 0`` -> ``> 0`` in take_over_filled: account 0 (an ordinary trader) never taken over at a
  trade.
- mut31_3: the take-over branch of ``_rounds`` breaking after one round: a maker the take-over's own close-out leaves
  below maintenance waits for the next mark update.
- mut31_4: ``-trigger if is_long`` -> ``trigger`` in ``_due_among``: the take-over ignores LIQ-033's order.
- T11: ``keys.append(min(found))`` -> ``max`` in ``_due_among``: a cross pool of several contracts ranked by its worst
  member.
- mut31_7: ``self.stream.judged = len(self.stream.out)`` (since session 22 ``self.stream.filled.clear()``) dropped
  in ``_waterfall``: a budget-1 update liquidates the pools its own WaterfallCarried names.
- mut31_6: LIQ-053's cross draw at the close-out guard site (C4 realised dropped, C5 the old measure, C9 a min):
  a close-out filling a resting isolated flip drains the owner's cross pool.
- T6: ``and not self.pending`` dropped in ``Waterfall.take_over``: a take-over that leaves a close-out held reports
  the waterfall complete.
- F3: ``_every_pool`` as ``max(budget, len(accounts))``: FND-020's unbounded waterfall stops short (carries pools)
  when the accounts hold more due pools than there are accounts.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation, WaterfallCarried
from perpspec.rules.invariants import check_all

X, E, P = "XBTUSD", "ETHUSD", 5_000_000


def _ok(engine: Engine, command: c.Command) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}, (command, found)
    return events


def _liquidated(events: list[Event]) -> list[int]:
    return [e.record.account_id for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]


def _carried(events: list[Event]) -> list[int]:
    return [a for e in events if isinstance(e, RuleEvent) and isinstance(e.record, WaterfallCarried)
            for a in e.record.account_ids]


def _market(decoys: list[tuple[int, int]], budget: int = 64) -> Engine:
    """redteam27_3's market (test_s20_maker_fill_takeover.py::_decoys): W (account 1) a 2 XBT cross long on 0.075 XBT;
    each decoy (account, deposit) rests a 100x isolated bid of 100 at 48,950, stale once the mark is at 48,600."""
    engine = Engine(max_liquidations_per_update=budget)
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
    for account, amount in ((1, 7_500_000), (2, 10**10), (3, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=X, side="Sell", order_qty=100_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Buy", order_qty=100_000, price=P))
    for account, deposit in decoys:
        _ok(engine, c.VerifyAccount(time_ms=1, account=account))
        _ok(engine, c.Deposit(time_ms=1, account=account, asset="XBt", amount=deposit))
        _ok(engine, c.SetLeverage(time_ms=1, account=account, symbol=X, leverage_hundredths=10_000))
        _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=X, side="Buy", order_qty=100, price=4_895_000))
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=4_895_000, index_price=4_895_000))
    _ok(engine, c.PriceUpdate(time_ms=3, symbol=X, mark_price=4_860_000, index_price=4_860_000))
    return engine


def test_mut31_1_account_0_s_stale_maker_fill_is_taken_over_at_the_fill() -> None:
    """redteam24_1's market with the stale maker as account 0 (VerifyAccount accepts it; the engine's ids are < 0)."""
    engine = Engine()
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
    for account, amount in ((0, 10**6), (2, 10**8), (3, 10**10), (4, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=1, account=3, symbol=X, side="Buy", order_qty=1_000_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=4, symbol=X, side="Sell", order_qty=1_000_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=0, symbol=X, side="Buy", order_qty=6_500, price=P))
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=4_650_000, index_price=4_650_000))
    sell = _ok(engine, c.PlaceOrder(time_ms=3, account=2, symbol=X, side="Sell", order_qty=6_500, price=P))
    assert _liquidated(sell) == [0]
    assert X not in engine.positions(0)


def test_mut31_3_a_maker_the_take_over_s_own_close_out_leaves_due_is_taken_over_in_the_command() -> None:
    """Decoy 100 is filled by the sell and taken over; its close-out sells into decoy 101's stale bid, leaving 101 due:
    the next round takes it over in the same command."""
    engine = _market([(100, 2_500), (101, 2_500)])
    sell = _ok(engine, c.PlaceOrder(time_ms=4, account=3, symbol=X, side="Sell", order_qty=100, price=4_895_000))
    assert _liquidated(sell) == [100, 101]
    assert X not in engine.positions(101)


def test_mut31_4_the_take_over_at_a_trade_follows_liq_033_s_order() -> None:
    """Two decoys of different margins: 101 (2,400 XBt) has the higher liquidation price, so LIQ-033 takes it first
    (the account order would put 100 first)."""
    engine = _market([(100, 2_500), (101, 2_400)])
    sell = _ok(engine, c.PlaceOrder(time_ms=4, account=3, symbol=X, side="Sell", order_qty=200, price=4_895_000))
    assert _liquidated(sell) == [101, 100]


def test_mut31_7_a_budget_1_update_leaves_the_pools_it_carries_to_the_next_update() -> None:
    """W is taken over; its close-out sells into both stale decoy bids.  The budget (1) is spent: the decoys are
    carried (WaterfallCarried) and keep their positions; the take-over after trades must not liquidate them."""
    engine = _market([(100, 2_500), (101, 2_500)], budget=1)
    update = _ok(engine, c.PriceUpdate(time_ms=5, symbol=X, mark_price=4_825_000, index_price=4_825_000))
    assert _liquidated(update) == [1]
    assert _carried(update) == [100, 101]
    assert all(X in engine.positions(a) for a in (100, 101))


def _largest_withdrawal(engine: Engine, account: int, time_ms: int) -> int:
    """The largest withdrawal MRG-050 allows (a binary search on copies of the engine)."""
    lo, hi = 0, engine.accounts[account].wallet("XBt")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        probe = Engine()
        probe._load(engine._dump())
        if isinstance(probe.process(c.Withdraw(time_ms=time_ms, account=account, asset="XBt", amount=mid))[-1], Accepted):
            lo = mid
        else:
            hi = mid - 1
    return lo


def test_mut31_6_a_close_out_filling_a_resting_isolated_flip_keeps_the_owner_s_cross_pool() -> None:
    """redteam29_2's set-up (test_s20_isolated_flip_cross_pool.py) with a close-out as the taker: account 1's isolated
    10x ETHUSD short of 1,000, drained by 80 funding ticks, rests a Buy 1,100 at 3,150 (a flip); its cross XBTUSD
    long keeps 5,000,000 XBt above MRG-050's limit.  Account 4's isolated 25x ETHUSD long is taken over when the mark
    falls to 2,500 and its close-out sells into the stale bid: LIQ-053 (at the close-out guard site) cancels the bid."""
    low, px, qb = 250_000, 315_000, 1100
    engine = Engine()
    for symbol, price in ((E, 300_000), (X, P)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account in (1, 2, 3, 4):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    for account, leverage in ((1, 1000), (4, 2500)):
        _ok(engine, c.Isolate(time_ms=0, account=account, symbol=E, enabled=True))
        _ok(engine, c.SetLeverage(time_ms=0, account=account, symbol=E, leverage_hundredths=leverage))
    for side, taker, qty in (("Buy", 1, 1000), ("Sell", 4, qb)):
        _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=E, side=side, order_qty=qty, price=300_000))
        _ok(engine, c.PlaceOrder(time_ms=1, account=taker, symbol=E, side="Sell" if side == "Buy" else "Buy",
                                 order_qty=qty, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=2, account=1, symbol=E, side="Buy", order_qty=qb, price=px))
    for t in range(3, 83):
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    _ok(engine, c.PlaceOrder(time_ms=171, account=2, symbol=X, side="Sell", order_qty=50_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=171, account=1, symbol=X, side="Buy", order_qty=50_000, price=P))
    most = _largest_withdrawal(engine, 1, 172)
    _ok(engine, c.Withdraw(time_ms=172, account=1, asset="XBt", amount=most - 5_000_000))
    update = _ok(engine, c.PriceUpdate(time_ms=180, symbol=E, mark_price=low, index_price=low))
    taken = _liquidated(update)
    assert 4 in taken  # the set-up: the close-out is account 4's
    assert 1 not in taken
    assert not [e for e in update if getattr(e, "account", None) == 1 and getattr(e, "exec_type", None) == "Trade"
                and getattr(e, "last_px", None) == px]
    _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[1], X)
    assert equity >= maintenance


def test_t6_a_take_over_that_leaves_a_close_out_held_does_not_report_the_waterfall_complete() -> None:
    """A mark update's waterfall completes (W, account 1, taken over; its close-out sells to account 6 at 2,945),
    then the print fires account 7's LastPrice stop, which sells into account 5's stale cross bid at 2,939: account
    5 is taken over in the command and its close-out finds no bid (held: the fund covers it, ADL-031).  The step
    must not say the waterfall completed while a close-out is held (``Waterfall.take_over``'s ``not self.pending``)."""
    low = 290_000
    engine = Engine()
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=300_000, index_price=300_000))
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**10))
    for account in (1, 3, 5, 6, 7):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    _ok(engine, c.Isolate(time_ms=1, account=1, symbol=E, enabled=True))
    _ok(engine, c.SetLeverage(time_ms=1, account=1, symbol=E, leverage_hundredths=5000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=3, symbol=E, side="Sell", order_qty=1000, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Buy", order_qty=1000, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=5, symbol=E, side="Buy", order_qty=1000, price=293_900))
    _ok(engine, c.Withdraw(time_ms=1, account=5, asset="XBt", amount=engine.accounts[5].wallet("XBt") - 6_500_000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=6, symbol=E, side="Buy", order_qty=1000, price=294_500))
    _ok(engine, c.PlaceOrder(time_ms=1, account=7, symbol=E, side="Sell", order_qty=1000, ord_type="Stop",
                             stop_px=295_000, exec_inst="LastPrice"))
    update = _ok(engine, c.PriceUpdate(time_ms=2, symbol=E, mark_price=low, index_price=low))
    assert _liquidated(update) == [1, 5]
    assert [(held.account, held.qty) for held in engine.waterfall.pending] == [(5, 1000)]
    assert engine.step_info(update).waterfall_complete is False


def test_f3_a_funding_tick_s_unbounded_waterfall_counts_every_pool_not_every_account() -> None:
    """FND-020's waterfall has no LIQ-034 budget: its bound is every pool that exists (each account's cross pool and
    one per contract), not one per account.  Budget 1; accounts 10-12 each hold 25x isolated longs in XBTUSD, ETHUSD
    and XBTZ26; each mark falls 3.8%, each update takes one pool over and carries the rest: six pools due at the
    XBTUSD FundingTick, more than the four accounts.  The tick takes all six over, none carried."""
    marks = {X: P, E: 300_000, "XBTZ26": P}
    qty = {X: 10_000, E: 100, "XBTZ26": 10_000}
    engine = Engine(max_liquidations_per_update=1)
    engine.track_steps = True
    for symbol, price in marks.items():
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**10))
    for account in (2, 10, 11, 12):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10 if account == 2 else 10**8))
    for account in (10, 11, 12):
        for symbol, price in marks.items():
            _ok(engine, c.SetLeverage(time_ms=1, account=account, symbol=symbol, leverage_hundredths=2500))
            _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Sell", order_qty=qty[symbol], price=price))
            _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=symbol, side="Buy", order_qty=qty[symbol],
                                     price=price))
    for symbol, price in marks.items():
        low = price * 962 // 1000 // 50 * 50
        _ok(engine, c.PriceUpdate(time_ms=2, symbol=symbol, mark_price=low, index_price=low))
    due = [(a, s) for a in (10, 11, 12) for s in marks if s in engine.positions(a)]
    assert len(due) == 6
    assert all(engine.risk.below_maintenance(engine.accounts[a], s) for a, s in due)
    tick = _ok(engine, c.FundingTick(time_ms=3, symbol=X, rate_e8=100))
    assert _carried(tick) == []
    assert sorted(_liquidated(tick)) == sorted(a for a, _s in due)
    assert not any(engine.positions(a) for a in (10, 11, 12))


def test_t11_a_cross_pool_of_several_contracts_is_ranked_where_it_is_first_found() -> None:
    """LIQ-033 at a take-over: a cross pool is ranked by its member in the first contract of the order (ETHUSD
    before XBTUSD), not by its worst.  Budget 1; three cross longs, withdrawn to MRG-050's limit (less a margin
    ``keep``): 12 (ETHUSD only), 10 (200 ETHUSD + 1,000 XBTUSD, keeps 1,000,000) and 11 (50 ETHUSD + 20,000
    XBTUSD); 10 and 11 rest an XBTUSD bid of 100 at 49,000.  The ETHUSD mark falls to 2,910: 12 is taken over, 10
    and 11 are carried.  A sell of 200 at 49,000 fills both bids and takes both over: 11's ETHUSD trigger is the
    higher (11 first), though 10's XBTUSD trigger is (ranked by its worst member, 10 would go first)."""
    engine = Engine(max_liquidations_per_update=1)
    engine.track_steps = True
    for symbol, price in ((X, P), (E, 300_000)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**10))
    for account in (2, 3, 10, 11, 12):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10 if account < 10 else 10**9))
    for account, eth, xbt, keep in ((10, 200, 1_000, 1_000_000), (11, 50, 20_000, 0), (12, 200, 0, 0)):
        for symbol, qty, price in ((E, eth, 300_000), (X, xbt, P)):
            if qty:
                _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Sell", order_qty=qty, price=price))
                _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=symbol, side="Buy", order_qty=qty,
                                         price=price))
        if xbt:
            _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=X, side="Buy", order_qty=100, price=4_900_000))
        most = _largest_withdrawal(engine, account, 1)
        _ok(engine, c.Withdraw(time_ms=1, account=account, asset="XBt", amount=most - keep))
    update = _ok(engine, c.PriceUpdate(time_ms=2, symbol=E, mark_price=291_000, index_price=291_000))
    assert (_liquidated(update), sorted(_carried(update))) == ([12], [10, 11])
    sell = _ok(engine, c.PlaceOrder(time_ms=3, account=3, symbol=X, side="Sell", order_qty=200, price=4_900_000))
    assert _liquidated(sell) == [11, 10]
