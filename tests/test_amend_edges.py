"""AmendOrder through the engine: ReduceOnly amends, amends that cross and trade, untriggered stops, no-margin amends.

Found by ``python -m tests.mutation engine/core/entry.py`` (``OrderEntry.amend`` / ``_apply_amend`` /
``_check_amend_funds``).  BitMEX (reference §8): an amend that moves a limit price through the opposite side
trades like a new order at that price; the Replaced execution carries the new orderQty (cumQty + leavesQty); a
ReduceOnly order is amended down to the position; an amend that asks for no margin is not held to the available
balance.  ETHUSD (lot 1, tick 0.05) at 3,000.00.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000
WALLET = 10**10


def _engine(wallet: int = WALLET) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account, amount in ((1, wallet), (2, WALLET)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    return engine


def _place(engine: Engine, account: int, side: str, qty: int, price: int | None = None, **fields: object) -> int:
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price, **fields)  # type: ignore[arg-type]
    )
    assert not isinstance(events[-1], Rejected), events[-1]
    return max(engine.live_orders) if engine.live_orders else 0


def _replaced(events: list[Event]) -> list[tuple[int, int, int]]:
    return [(e.order_qty, e.leaves_qty, e.cum_qty) for e in events if isinstance(e, Execution) and e.exec_type == "Replaced"]


def _qty(engine: Engine, account: int) -> int:
    position = engine.positions(account).get("ETHUSD")
    return 0 if position is None else position.qty


def _long(engine: Engine, qty: int) -> None:
    _place(engine, 2, "Sell", qty, MARK)
    _place(engine, 1, "Buy", qty, MARK)
    assert _qty(engine, 1) == qty


# ---------------------------------------------------------------------------------------------- ReduceOnly


def test_a_reduce_only_order_may_be_amended_while_it_still_reduces() -> None:
    engine = _engine()
    _long(engine, 10)
    order_id = _place(engine, 1, "Sell", 10, MARK + 100, exec_inst="ReduceOnly")
    events = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=6))
    assert not isinstance(events[-1], Rejected), events[-1]
    assert _replaced(events) == [(6, 6, 0)]


def test_a_reduce_only_order_amended_beyond_the_position_is_cut_to_it() -> None:
    engine = _engine()
    _long(engine, 10)
    order_id = _place(engine, 1, "Sell", 4, MARK + 100, exec_inst="ReduceOnly")
    events = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=25))
    assert _replaced(events) == [(10, 10, 0)]


# ---------------------------------------------------------------------------------------------- crossing amends


def test_an_amend_through_the_ask_trades_in_full_and_the_order_is_gone() -> None:
    engine = _engine()
    _place(engine, 2, "Sell", 5, MARK)
    order_id = _place(engine, 1, "Buy", 5, MARK - 100)
    events = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, price=MARK))
    assert _replaced(events) == [(5, 5, 0)]
    trades = [(e.account, e.last_qty, e.last_px) for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert trades == [(1, 5, MARK), (2, 5, MARK)]
    assert (_qty(engine, 1), engine.live_orders) == (5, {})


def test_an_amend_through_the_ask_trades_what_it_can_and_rests_the_rest_at_its_new_price() -> None:
    engine = _engine()
    _place(engine, 2, "Sell", 3, MARK)
    order_id = _place(engine, 1, "Buy", 5, MARK - 100)
    events = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, price=MARK))
    assert _replaced(events) == [(5, 5, 0)]
    order = engine.live_orders[order_id]
    assert (_qty(engine, 1), order.price, order.leaves_qty, order.cum_qty, order.order_qty) == (3, MARK, 2, 3, 5)
    # it rests: a later sell at its price trades with it
    _place(engine, 2, "Sell", 2, MARK)
    assert (_qty(engine, 1), engine.live_orders) == (5, {})


def test_an_amend_of_the_quantity_alone_does_not_trade_even_when_the_book_is_crossed_at_that_price() -> None:
    # only a price change can cross; a resting bid never crosses the book it rests in
    engine = _engine()
    order_id = _place(engine, 1, "Buy", 5, MARK - 100)
    _place(engine, 2, "Sell", 5, MARK)
    events = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=8))
    assert _replaced(events) == [(8, 8, 0)]
    assert [e for e in events if isinstance(e, Execution) and e.exec_type == "Trade"] == []


def test_a_post_only_amend_through_the_ask_is_refused() -> None:
    engine = _engine()
    _place(engine, 2, "Sell", 5, MARK)
    order_id = _place(engine, 1, "Buy", 5, MARK - 100, exec_inst="ParticipateDoNotInitiate")
    last = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, price=MARK))[-1]
    assert isinstance(last, Rejected), last
    assert last.reason == Reason.POST_ONLY_WOULD_TRADE
    assert engine.live_orders[order_id].price == MARK - 100


# ---------------------------------------------------------------------------------------------- untriggered stops


def test_an_untriggered_stop_amended_reports_its_new_order_qty() -> None:
    engine = _engine()
    order_id = _place(engine, 1, "Sell", 5, ord_type="Stop", stop_px=MARK - 1_000)
    events = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=7))
    assert _replaced(events) == [(7, 7, 0)]
    assert engine.live_orders[order_id].order_qty == 7


# ---------------------------------------------------------------------------------------------- no margin asked


def test_an_account_with_nothing_available_may_reprice_its_reducing_sell() -> None:
    # MRG-060 on amend: a ReduceOnly sell of a long needs no margin, so the amend is not held to the available
    # balance (negative after the mark fell) and INV-MARGIN-ON-ENTRY does not apply
    engine = _engine(wallet=10**8)
    _long(engine, 10_000)
    order_id = _place(engine, 1, "Sell", 5_000, MARK + 1_000, exec_inst="ReduceOnly")
    lower = MARK - 4_500
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=lower, index_price=lower))
    assert isinstance(engine.process(c.Withdraw(time_ms=1, account=1, asset="XBt", amount=1))[-1], Rejected)
    engine.track_steps = True
    events = engine.process(c.AmendOrder(time_ms=1, account=1, order_id=order_id, price=MARK + 500))
    assert not isinstance(events[-1], Rejected), events[-1]
    assert {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v} == {}


def test_an_amend_needing_one_satoshi_more_than_available_is_refused() -> None:
    # ETHUSD at 10.00: a resting sell of 3 at 10.05 and a buy of 1 at 9.00 hold exactly the wallet; moving the buy
    # to 9.50 adds one satoshi of order margin, and one satoshi is more than nothing available (MRG-061)
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=1_000, index_price=1_000))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    for side, qty, price in (("Sell", 3, 1_005), ("Buy", 1, 900)):
        order = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side=side, order_qty=qty, price=price)
        refused = engine.process(order)[-1]
        if isinstance(refused, Rejected):
            engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=int(refused.text.split()[1].rstrip(","))))
            assert not isinstance(engine.process(order)[-1], Rejected)
    buy_id = max(engine.live_orders)
    last = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=buy_id, price=950))[-1]
    assert isinstance(last, Rejected), last
    assert (last.reason, last.text) == (Reason.INSUFFICIENT_MARGIN, "needs 1, available 0")
    assert engine.live_orders[buy_id].price == 900


def test_a_reduce_only_order_of_a_one_contract_position_may_be_repriced() -> None:
    engine = _engine()
    _long(engine, 1)
    order_id = _place(engine, 1, "Sell", 1, MARK + 100, exec_inst="ReduceOnly")
    events = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, price=MARK + 50))
    assert not isinstance(events[-1], Rejected), events[-1]
    assert (engine.live_orders[order_id].price, _replaced(events)) == (MARK + 50, [(1, 1, 0)])


def test_an_amend_that_changes_nothing_asks_for_nothing() -> None:
    # a resting buy of 100 at 3,000.00 holds exactly the wallet; the mark falls 1.7% (the buy now opens worse than
    # mark); re-sending its quantity and price changes nothing, so nothing is checked again and it is accepted
    engine = _engine(wallet=1)
    order = c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=100, price=MARK)
    refused = engine.process(order)[-1]
    assert isinstance(refused, Rejected), refused
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=int(refused.text.split()[1].rstrip(",")) - 1))
    assert not isinstance(engine.process(order)[-1], Rejected)
    order_id = max(engine.live_orders)
    engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=MARK - 5_000, index_price=MARK - 5_000))
    for amend in (
        c.AmendOrder(time_ms=1, account=1, order_id=order_id, order_qty=100),
        c.AmendOrder(time_ms=1, account=1, order_id=order_id, leaves_qty=100, price=MARK),
    ):
        events = engine.process(amend)
        assert not isinstance(events[-1], Rejected), events[-1]
        assert _replaced(events) == [(100, 100, 0)]


def test_an_amend_up_needs_what_a_new_order_of_the_added_quantity_would() -> None:
    # MRG-060 on amend, with a position open: the order-margin step of the whole order set, plus the position's
    # maintenance step if the *added* contracts filled (less the repricing PnL), the same as a new order of them
    def needs(events: list[Event]) -> int:
        last = events[-1]
        assert isinstance(last, Rejected), last
        assert last.reason == Reason.INSUFFICIENT_MARGIN
        return int(last.text.split()[1].rstrip(","))

    amended, added = _engine(wallet=2 * 10**7), _engine(wallet=2 * 10**7)  # 0.2 XBT: 1,000 fit, 10,000 do not
    for engine in (amended, added):
        _long(engine, 1_000)
    order_id = _place(amended, 1, "Buy", 1_000, MARK - 1_000)
    _place(added, 1, "Buy", 1_000, MARK - 1_000)
    by_amend = needs(amended.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=10_000)))
    by_order = needs(added.process(
        c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=9_000, price=MARK - 1_000)
    ))
    assert by_amend == by_order


def test_an_amend_up_to_the_risk_limit_counts_the_order_once() -> None:
    # RSK-007 on amend: the order set with this order replaced (not added again): 16,000 at 3,000.00 is 48 XBT
    engine = _engine()
    order_id = _place(engine, 1, "Buy", 8_000, MARK - 1_000)
    last = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=16_000))[-1]
    assert not isinstance(last, Rejected), last
    over = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, order_qty=17_000))[-1]
    assert isinstance(over, Rejected), over
    assert over.reason == Reason.RISK_LIMIT_EXCEEDED


def test_a_sell_trailing_stop_amended_to_an_offset_of_zero_is_refused() -> None:
    engine = _engine()
    order_id = _place(
        engine, 1, "Sell", 1, ord_type="Pegged", peg_price_type="TrailingStopPeg", peg_offset_value=-1_000,
        exec_inst="Fixed",
    )
    last = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, peg_offset_value=0))[-1]
    assert isinstance(last, Rejected), last
    assert (last.reason, last.text) == (Reason.INVALID_PRICE, "bad pegOffsetValue")
    assert engine.live_orders[order_id].peg_offset == -1_000
