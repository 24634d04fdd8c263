"""Session 20, redteam27_3 (/work/coord/repro20/redteam27_3.py) and redteam24_1: a pool a trade leaves below maintenance
is taken over in that trade's command (LIQ-034 at a trade, ``Prices.take_over_filled``).

A maker fill at a stale price (the mark moved, the bid rested) leaves the maker between bankruptcy and maintenance
with no mark update.  Until now such a pool waited for the next PriceUpdate, where it took a share of LIQ-034's
budget: one sell into 200 stale 100x bids of a trader's own accounts made 200 pools due whose liquidation prices sat
above the trader's, so three updates' budgets went to them and the trader, below maintenance, kept its position.
BitMEX's liquidation engine takes a pool over at once; now every pool of an account the command's fills touched
(maker or taker) that is below maintenance at mark is taken over before the command returns, at the current marks,
its work bounded by the command's own fills (not by the per-update budget, which stays the mark's).

Also redteam27_4 (/work/coord/repro20/redteam27_4.py): a command running two waterfalls took INV-FLAT-NO-SOCIAL-LOSS's
"flat before" snapshot at each, so an account the first deleveraged flat was reported "deleveraged while flat" at the
second; the snapshot is now taken once, at the command's first waterfall.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation, WaterfallCarried
from perpspec.rules.invariants import check_all

X, P = "XBTUSD", 5_000_000


def _ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    found = {name: problems for name, problems in check_all(engine, engine.step_info(events)).items() if problems}
    assert found == {}, (command, found)
    return events


def _records(events: list[Event], kind: type) -> list[object]:
    return [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, kind)]


def _px(bp: int) -> int:
    return P * bp // 10_000 // 50 * 50


def _decoys(decoys: int, budget: int, bid: int = _px(9790)) -> Engine:
    """redteam27_3's market before the sweep: W (2 XBT cross long on 0.075 XBT) above maintenance at 48,600; the
    decoys' 100-contract 100x isolated bids rest at ``bid`` (48,950: stale since the mark fell to 48,600)."""
    engine = Engine(max_liquidations_per_update=budget)
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
    for account, amount in ((1, 7_500_000), (2, 10**10), (3, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=X, side="Sell", order_qty=100_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Buy", order_qty=100_000, price=P))
    for account in range(100, 100 + decoys):
        _ok(engine, c.VerifyAccount(time_ms=1, account=account))
        _ok(engine, c.Deposit(time_ms=1, account=account, asset="XBt", amount=2_500))
        _ok(engine, c.SetLeverage(time_ms=1, account=account, symbol=X, leverage_hundredths=10_000))
        _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=X, side="Buy", order_qty=100, price=bid))
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=_px(9790), index_price=_px(9790)))
    _ok(engine, c.PriceUpdate(time_ms=3, symbol=X, mark_price=_px(9720), index_price=_px(9720)))
    assert not engine.risk.below_maintenance(engine.accounts[1], X)
    return engine


def test_redteam27_3_the_decoys_a_sell_leaves_below_maintenance_are_taken_over_at_the_sell() -> None:
    decoys, budget = 6, 2  # more decoys than the per-update budget, as 200 against 64
    engine = _decoys(decoys, budget)
    sell = _ok(engine, c.PlaceOrder(time_ms=4, account=3, symbol=X, side="Sell", order_qty=100 * decoys, price=_px(9790)))
    taken = sorted(record.account_id for record in _records(sell, Liquidation))  # type: ignore[attr-defined]
    assert taken == list(range(100, 100 + decoys))  # every decoy the sell filled, in the sell's own command
    assert not any(engine.risk.below_maintenance(engine.accounts[a], X) for a in sorted(engine.ledger.holders[X]))
    assert _records(sell, WaterfallCarried) == []
    # the mark's waterfall finds W alone: taken over at the first update that finds it below maintenance
    update = _ok(engine, c.PriceUpdate(time_ms=5, symbol=X, mark_price=_px(9650), index_price=_px(9650)))
    assert [record.account_id for record in _records(update, Liquidation)] == [1]  # type: ignore[attr-defined]
    assert _records(update, WaterfallCarried) == []
    assert X not in engine.positions(1)


def test_redteam24_1_a_single_stale_maker_fill_is_taken_over_at_the_fill() -> None:
    """tests/test_s19_funding_after_stale_maker_fill.py's market: A's bid rests at 50,000, the mark falls 7%, B sells
    into it.  A's pool (equity 18,890, maintenance 74,848) is taken over by B's command, at the mark of 46,500, with
    the figures the FundingTick's take-over had (bankruptcy 46,470, 9,855 of residual margin to the fund)."""
    engine = Engine()
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
    for account, amount in ((1, 10**6), (2, 10**8), (3, 10**10), (4, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=1, account=3, symbol=X, side="Buy", order_qty=1_000_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=4, symbol=X, side="Sell", order_qty=1_000_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Buy", order_qty=6_500, price=P))
    _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=4_650_000, index_price=4_650_000))
    fund = engine.insurance("XBt")
    fill = _ok(engine, c.PlaceOrder(time_ms=3, account=2, symbol=X, side="Sell", order_qty=6_500, price=P))
    [taken] = _records(fill, Liquidation)
    assert isinstance(taken, Liquidation)
    assert (taken.account_id, taken.equity, taken.maintenance) == (1, 18_890, 74_848)
    assert (taken.taken[0].takeover_price, taken.residual_margin) == (4_647_000, 9_855)
    assert engine.insurance("XBt") - fund == 9_855
    assert X not in engine.positions(1)
    assert engine.positions(2)[X].qty == -6_500  # B's trade stands: the taker is healthy, only the maker is taken over
    # the next FundingTick has nothing to take over and funds at once
    tick = _ok(engine, c.FundingTick(time_ms=4, symbol=X, rate_e8=10_000))
    assert _records(tick, Liquidation) == []


def test_a_taker_its_own_fills_leave_below_maintenance_is_taken_over_in_its_command() -> None:
    """The taker is judged as the makers are: W, carried by a budget of 1 and below maintenance, sells a part of its
    long (LIQ-042 lets an order that leaves its pool no worse through); still below maintenance, it is taken over by
    its own command instead of waiting for the next update."""
    engine = Engine(max_liquidations_per_update=1)
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
    for account, amount in ((1, 10**6), (5, 10**6), (2, 10**10), (3, 10**10)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=X, side="Sell", order_qty=13_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Buy", order_qty=6_500, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=5, symbol=X, side="Buy", order_qty=6_500, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=3, symbol=X, side="Buy", order_qty=100_000, price=4_640_000))
    update = _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=4_650_000, index_price=4_650_000))
    assert [r.account_id for r in _records(update, Liquidation)] == [1]  # type: ignore[attr-defined]
    [carried] = _records(update, WaterfallCarried)
    assert carried.account_ids == (5,)  # type: ignore[attr-defined]
    sell = _ok(engine, c.PlaceOrder(time_ms=3, account=5, symbol=X, side="Sell", order_qty=100, price=4_640_000))
    assert [r.account_id for r in _records(sell, Liquidation)] == [5]  # type: ignore[attr-defined]
    assert X not in engine.positions(5)


def test_redteam27_4_a_funding_tick_with_two_waterfalls_reports_no_deleveraged_flat_account() -> None:
    """FND-020's take-over and the tick's own waterfall: S, ADL'd flat by the first, is not "flat before" the step."""
    long1, long2, short = 1, 2, 3
    engine = Engine(max_liquidations_per_update=1)
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
    for account in (long1, long2, short):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8 if account == short else 2 * 10**6))
    for account in (long1, long2):
        _ok(engine, c.SetLeverage(time_ms=0, account=account, symbol=X, leverage_hundredths=2500))
    _ok(engine, c.PlaceOrder(time_ms=1, account=short, symbol=X, side="Sell", order_qty=20_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=long1, symbol=X, side="Buy", order_qty=10_000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=long2, symbol=X, side="Buy", order_qty=10_000, price=P))
    update = _ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=P * 90 // 100, index_price=P * 90 // 100))
    assert [r.account_ids for r in _records(update, WaterfallCarried)] == [(long2,)]  # type: ignore[attr-defined]
    tick = _ok(engine, c.FundingTick(time_ms=3, symbol=X, rate_e8=10_000))  # check_all: nothing reported
    assert [r.account_id for r in _records(tick, Liquidation)] == [long2]  # type: ignore[attr-defined]
    assert X not in engine.positions(short)


def test_redteam27_3_by_a_stop_the_update_fires_the_decoys_are_taken_over_before_its_waterfall() -> None:
    """The same sweep made by a stop the update itself fires: the decoys bid at 48,800, a StopLimit sell there watches
    the mark, which falls to 48,250 (the decoys between bankruptcy and maintenance, liquidation prices above W's).
    The stop's fills come before the mark's waterfall, and the decoys they leave due are taken over first, so the
    waterfall's budget (2) is not spent on them and W is taken over by that update (before: decoys 100 and 101 took
    the budget, and W was carried with the other four)."""
    decoys, budget = 6, 2
    engine = _decoys(decoys, budget, bid=_px(9760))
    _ok(engine, c.PlaceOrder(time_ms=4, account=3, symbol=X, side="Sell", order_qty=100 * decoys, price=_px(9760),
                             ord_type="StopLimit", stop_px=_px(9700), exec_inst="MarkPrice"))
    update = _ok(engine, c.PriceUpdate(time_ms=5, symbol=X, mark_price=_px(9650), index_price=_px(9650)))
    taken = [record.account_id for record in _records(update, Liquidation)]  # type: ignore[attr-defined]
    assert sorted(taken) == [1, *range(100, 100 + decoys)]
    assert taken[-1] == 1  # the decoys at the stop's fills, then W in the mark's waterfall
    assert _records(update, WaterfallCarried) == []
    assert X not in engine.positions(1)


def test_the_audit_of_a_trade_s_take_over_keeps_a_carried_pool_waiting() -> None:
    """perpspec audit: a trade's take-over is no update a carry waits for.  L2 (25x, below zero after a 10% fall) is
    carried by a budget of 1; M's bid at 47,000, stale, is then filled and M is taken over by the seller's command.
    The auditor took any instant with waterfall records for the update that ends a carry's exemption and reported
    L2 (INV-NO-NEG-EQUITY-AFTER-ADL, account equity -237,200); the instant's end row names the PlaceOrder, so L2
    waits on."""
    from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
    from perpspec.engine.audit.faults import decode_rows
    from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num
    from perpspec.engine.simulation.result import Tally
    from tests.test_s20_fnd019_licence import INSTRUMENTS, XBTUSD

    fall = P * 90 // 100
    commands: list[object] = [c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P)]
    for account, amount in ((1, 2 * 10**6), (2, 2 * 10**6), (3, 10**8), (4, 10**6), (5, 10**10)):
        commands += [c.VerifyAccount(time_ms=0, account=account), c.Deposit(time_ms=0, account=account, asset="XBt",
                                                                          amount=amount)]
    commands += [c.SetLeverage(time_ms=0, account=account, symbol=X, leverage_hundredths=2500) for account in (1, 2)]
    commands += [
        c.PlaceOrder(time_ms=1, account=3, symbol=X, side="Sell", order_qty=20_000, price=P),
        c.PlaceOrder(time_ms=1, account=1, symbol=X, side="Buy", order_qty=10_000, price=P),
        c.PlaceOrder(time_ms=1, account=2, symbol=X, side="Buy", order_qty=10_000, price=P),
        c.PlaceOrder(time_ms=1, account=4, symbol=X, side="Buy", order_qty=9_800, price=P * 94 // 100),  # M
        c.PriceUpdate(time_ms=2, symbol=X, mark_price=fall, index_price=fall),
        c.PlaceOrder(time_ms=3, account=5, symbol=X, side="Sell", order_qty=9_800, price=P * 94 // 100),
    ]
    engine = Engine(INSTRUMENTS, max_liquidations_per_update=1)
    tally, pending, lines = Tally(), {}, []  # type: ignore[var-annotated]
    for command in commands:
        events = list(engine.process(command))
        assert isinstance(events[-1], Accepted), (command, events[-1])
        if isinstance(command, c.PriceUpdate) and command.mark_price is not None:  # simulate's mark row
            lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms), "symbol": X,
                                      "markPrice": price_num(XBTUSD, command.mark_price)}))
        lines += [encode_json(row) for event in events for row in event_records(XBTUSD, event, tally, pending)]
    assert [r.account_id for r in _records(events, Liquidation)] == [4]  # type: ignore[attr-defined]
    assert engine.risk.pool_of(engine.accounts[2], X)[1] == -1_406_600  # L2's pool, carried, below zero
    for level in (INVARIANTS, RULES):
        audited = audit_rows(enumerate(decode_rows(lines), start=1), load_mapping("perpspec"), INSTRUMENTS, level)
        assert audited.error is None, audited.error
        assert {name: count for name, count in audited.counts.items() if count} == {}, level
