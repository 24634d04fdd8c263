"""Trailing stops at the edges of their range (reference §8: ``pegPriceType=TrailingStopPeg``).

Found by ``python -m tests.mutation engine/core/entry.py`` (``OrderEntry._stop_prices``): the stop price of a
trailing stop is its reference plus the offset and must be a price, ``0 < stopPx <= maxPrice``; a LastPrice
trailing stop needs a last price.  ETHUSD (tick 0.05).
"""

from __future__ import annotations

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
