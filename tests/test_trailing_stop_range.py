"""Trailing stops at the edges of their range (reference §8: ``pegPriceType=TrailingStopPeg``).

Found by ``python -m tests.mutation engine/core/entry.py`` (``OrderEntry._stop_prices``): the stop price of a
trailing stop is its reference plus the offset and must be a price, ``0 < stopPx <= maxPrice``; a LastPrice
trailing stop needs a last price.  ETHUSD (tick 0.05).
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000


def _engine(mark: int = MARK) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=mark, index_price=mark))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    return engine


def _trailing(engine: Engine, side: str, offset: int, source: str = "") -> Event:
    exec_inst = "Fixed" + ("," + source if source else "")
    return engine.process(
        c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side=side, order_qty=1, ord_type="Pegged",
                     peg_price_type="TrailingStopPeg", peg_offset_value=offset, exec_inst=exec_inst)
    )[-1]


def _refusal(event: Event) -> tuple[Reason, str]:
    assert isinstance(event, Rejected), event
    return event.reason, event.text


def test_a_sell_trailing_stop_down_to_zero_is_refused_and_one_tick_above_it_accepted() -> None:
    engine = _engine()
    assert _refusal(_trailing(engine, "Sell", -MARK)) == (Reason.INVALID_PRICE, "trailing stop price out of range")
    assert not isinstance(_trailing(engine, "Sell", -MARK + ETHUSD.tick_size), Rejected)
    assert [order.stop_px for order in engine.live_orders.values()] == [ETHUSD.tick_size]


def test_a_buy_trailing_stop_up_to_max_price_is_accepted_and_one_tick_beyond_refused() -> None:
    mark = ETHUSD.max_price - 1_000
    engine = _engine(mark)
    over = _trailing(engine, "Buy", 1_000 + ETHUSD.tick_size)
    assert _refusal(over) == (Reason.INVALID_PRICE, "trailing stop price out of range")
    assert not isinstance(_trailing(engine, "Buy", 1_000), Rejected)
    assert [order.stop_px for order in engine.live_orders.values()] == [ETHUSD.max_price]


def test_a_last_price_trailing_stop_before_any_trade_is_refused() -> None:
    engine = _engine()
    reason, text = _refusal(_trailing(engine, "Sell", -1_000, "LastPrice"))
    assert (reason, text) == (Reason.NO_MARK_PRICE, "no LastPrice yet for the trailing stop")
    assert engine.live_orders == {}


def test_a_sell_trailing_stop_one_price_unit_above_zero_is_accepted() -> None:
    # marks are not on the tick grid (reference §4): a mark of 3,000.01 less an offset of 3,000.00 is 0.01 > 0
    engine = _engine(MARK + 1)
    assert not isinstance(_trailing(engine, "Sell", -MARK), Rejected)
    assert [order.stop_px for order in engine.live_orders.values()] == [1]


def test_a_trailing_stop_offset_of_zero_is_refused_on_either_side() -> None:
    engine = _engine()
    for side in ("Sell", "Buy"):
        assert _refusal(_trailing(engine, side, 0)) == (
            Reason.INVALID_PRICE, "pegOffsetValue must be a non-zero multiple of tickSize"
        )
    assert engine.live_orders == {}


def test_a_buy_trailing_stop_one_price_unit_above_is_accepted_where_the_tick_is_one_unit() -> None:
    fine = attrs.evolve(ETHUSD, tick_size=1)
    engine = Engine({"ETHUSD": fine})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    assert not isinstance(_trailing(engine, "Buy", 1), Rejected)
    assert _refusal(_trailing(engine, "Sell", 1))[0] == Reason.INVALID_PRICE  # a sell trails below
    assert [order.stop_px for order in engine.live_orders.values()] == [MARK + 1]


def test_an_amended_trailing_offset_keeps_the_stop_within_the_price_range() -> None:
    engine = _engine()
    order_id = _trailing_id(engine, "Sell", -1_000)
    to_zero = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, peg_offset_value=-MARK))[-1]
    assert _refusal(to_zero) == (Reason.INVALID_PRICE, "trailing stop price out of range")
    low = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, peg_offset_value=-MARK + 5))[-1]
    assert not isinstance(low, Rejected), low
    assert engine.live_orders[order_id].stop_px == 5
    top = _engine(ETHUSD.max_price - 1_000)
    buy_id = _trailing_id(top, "Buy", 500)
    over = top.process(c.AmendOrder(time_ms=0, account=1, order_id=buy_id, peg_offset_value=1_005))[-1]
    assert _refusal(over) == (Reason.INVALID_PRICE, "trailing stop price out of range")
    at_max = top.process(c.AmendOrder(time_ms=0, account=1, order_id=buy_id, peg_offset_value=1_000))[-1]
    assert not isinstance(at_max, Rejected), at_max
    assert top.live_orders[buy_id].stop_px == ETHUSD.max_price


def _trailing_id(engine: Engine, side: str, offset: int) -> int:
    assert not isinstance(_trailing(engine, side, offset), Rejected)
    return max(engine.live_orders)


def test_an_amended_sell_trailing_stop_may_come_down_to_one_price_unit() -> None:
    engine = _engine(MARK + 1)  # an off-tick mark (reference §4)
    order_id = _trailing_id(engine, "Sell", -1_000)
    last = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, peg_offset_value=-MARK))[-1]
    assert not isinstance(last, Rejected), last
    assert engine.live_orders[order_id].stop_px == 1


def test_a_buy_trailing_stop_amended_to_one_price_unit_above_where_the_tick_is_one_unit() -> None:
    fine = attrs.evolve(ETHUSD, tick_size=1)
    engine = Engine({"ETHUSD": fine})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    order_id = _trailing_id(engine, "Buy", 7)
    last = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, peg_offset_value=1))[-1]
    assert not isinstance(last, Rejected), last
    assert engine.live_orders[order_id].stop_px == MARK + 1
