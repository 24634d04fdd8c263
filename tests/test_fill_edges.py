"""Fills on the whole engine at their edges: account 0 is an ordinary trader, ReduceOnly makers never flip.

Found by ``python -m tests.mutation engine/core/fills.py``: the liquidation engine's accounts are the negative
ids, so account 0 must pay its taker fee, earn its maker rebate and get its position report like any other;
a ReduceOnly maker left flat by an earlier fill of the same sweep trades nothing more (issue 13 finding 2,
INV-REDUCE-ONLY: a ReduceOnly order may only reduce, reference §8).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, PositionUpdate, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.position import Position

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000
WALLET = 10**10


def _engine(*accounts: int) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account in accounts:
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    return engine


def _limit(engine: Engine, account: int, side: str, qty: int, price: int = MARK, exec_inst: str = "") -> list[Event]:
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price, exec_inst=exec_inst)
    )
    assert not isinstance(events[-1], Rejected), events[-1]
    return events


def _qty(engine: Engine, account: int) -> int:
    position = engine.positions(account).get("ETHUSD")
    return 0 if position is None else position.qty


def test_account_0_pays_the_taker_fee_and_earns_the_maker_rebate() -> None:
    # 10 contracts at 3,000.00: value 3,000,000 XBt; taker 0.075% = 2,250, maker -0.025% = -750
    taker_0, maker_0 = _engine(0, 1), _engine(0, 1)
    _limit(taker_0, 1, "Sell", 10)
    _limit(taker_0, 0, "Buy", 10)
    _limit(maker_0, 0, "Sell", 10)
    _limit(maker_0, 1, "Buy", 10)
    assert (taker_0.accounts[0].wallet("XBt"), maker_0.accounts[0].wallet("XBt")) == (WALLET - 2_250, WALLET + 750)


def test_account_0_gets_its_position_report_after_a_fill() -> None:
    engine = _engine(0, 1)
    _limit(engine, 1, "Sell", 10)
    events = _limit(engine, 0, "Buy", 10)
    reports = [(e.account, e.current_qty) for e in events if isinstance(e, PositionUpdate)]
    assert (0, 10) in reports


def test_a_reduce_only_sell_left_flat_by_the_same_sweep_trades_nothing_more() -> None:
    # the maker is long 5 with two ReduceOnly sells of 5; a buy of 10 takes the first, the second must not
    # sell from a flat position (it would open a short)
    engine = _engine(1, 2, 3)
    _limit(engine, 2, "Sell", 5)
    _limit(engine, 1, "Buy", 5)
    assert _qty(engine, 1) == 5
    _limit(engine, 1, "Sell", 5, MARK + 5, "ReduceOnly")
    _limit(engine, 1, "Sell", 5, MARK + 10, "ReduceOnly")
    _limit(engine, 3, "Buy", 10, MARK + 10)
    assert (_qty(engine, 1), _qty(engine, 3)) == (0, 5)


def test_a_reduce_only_buy_left_flat_by_the_same_sweep_trades_nothing_more() -> None:
    engine = _engine(1, 2, 3)
    _limit(engine, 2, "Buy", 5)
    _limit(engine, 1, "Sell", 5)
    assert _qty(engine, 1) == -5
    _limit(engine, 1, "Buy", 5, MARK - 5, "ReduceOnly")
    _limit(engine, 1, "Buy", 5, MARK - 10, "ReduceOnly")
    _limit(engine, 3, "Sell", 10, MARK - 10)
    assert (_qty(engine, 1), _qty(engine, 3)) == (0, -5)


def test_a_taker_that_rests_after_two_fills_shows_their_average_price() -> None:
    # avgPx = Σ lastQty × lastPx / cumQty: 1 @ 3,000.00 and 3 @ 3,000.10 -> 3,000.075, floored to 300,007
    engine = _engine(1, 2)
    _limit(engine, 2, "Sell", 1, MARK)
    _limit(engine, 2, "Sell", 3, MARK + 10)
    _limit(engine, 1, "Buy", 5, MARK + 10)
    [order] = [order for order in engine.live_orders.values() if order.account == 1]
    assert (order.cum_qty, order.leaves_qty, order.avg_px()) == (4, 1, (MARK + 3 * (MARK + 10)) // 4)


def test_an_isolated_maker_closing_part_at_a_loss_keeps_the_rest_requirement_plus_its_extra() -> None:
    # ACC-006 on the maker's side: posInit + posComm of what is left, plus the extra margin; the realised loss
    # (400) is paid from the requirement the 40 closed contracts free (attack review 2: never from the rest's)
    engine = _engine(1, 2, 3)
    engine.process(c.SetLeverage(time_ms=0, account=1, symbol="ETHUSD", leverage_hundredths=1_000))
    _limit(engine, 2, "Sell", 100)
    _limit(engine, 1, "Buy", 100)
    ps = engine.accounts[1].positions["ETHUSD"]
    before = compute_requirement(ETHUSD, Position(qty=ps.qty, cost=ps.cost), 1_000, 0)
    extra = ps.iso_margin - before.pos_init - before.pos_comm
    _limit(engine, 1, "Sell", 40, MARK - 10)  # rests: nothing bids there
    wallet = engine.accounts[1].wallet("XBt")
    _limit(engine, 3, "Buy", 40, MARK - 10)
    rest = compute_requirement(ETHUSD, Position(qty=ps.qty, cost=ps.cost), 1_000, 0)
    realised = compute_value(ETHUSD, 40, MARK - 10) - compute_value(ETHUSD, 40, MARK)  # 40 sold 0.10 lower
    rebate = engine.accounts[1].wallet("XBt") - wallet - realised
    assert (ps.qty, realised < 0, rebate > 0) == (60, True, True)  # a maker: the rebate is paid on top
    freed = before.pos_init + before.pos_comm - rest.pos_init - rest.pos_comm
    assert (freed + realised > 0, ps.iso_margin) == (True, rest.pos_init + rest.pos_comm + extra)
