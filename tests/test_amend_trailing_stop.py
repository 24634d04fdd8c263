"""Amending stops and trailing stops on the whole engine (reference §8: a trailing stop is a pegged order,
``pegPriceType=TrailingStopPeg``; amend changes ``stopPx`` or ``pegOffsetValue``).

Found by ``python -m tests.mutation engine/core/entry.py``: nothing exercised the amend of a pegged order.  A sell
trailing stop sits below the reference (negative offset), a buy one above (positive); an offset of 0 or off the
tick is refused; a trailing stop is moved by its offset, never by ``stopPx``, and a plain stop the other way round.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")  # tick 5
MARK = 300_000


def _engine() -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10))
    return engine


def _trailing(engine: Engine, side: str, offset: int) -> int:
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side=side, order_qty=1, ord_type="Pegged",
                     peg_price_type="TrailingStopPeg", peg_offset_value=offset, exec_inst="Fixed")
    )
    assert not isinstance(events[-1], Rejected), events[-1]
    return engine.live_orders[max(engine.live_orders)].order_id


def _amend(engine: Engine, order_id: int, **change: int) -> Reason | None:
    events: list[Event] = engine.process(c.AmendOrder(time_ms=0, account=1, order_id=order_id, **change))
    last = events[-1]
    return last.reason if isinstance(last, Rejected) else None


def _stop_px(engine: Engine, order_id: int) -> int:
    return engine.live_orders[order_id].stop_px


def test_a_sell_trailing_stop_is_moved_by_a_negative_offset_only() -> None:
    engine = _engine()
    order_id = _trailing(engine, "Sell", -1_000)
    assert _stop_px(engine, order_id) == MARK - 1_000
    assert _amend(engine, order_id, peg_offset_value=-2_000) is None
    assert _stop_px(engine, order_id) == MARK - 2_000
    refused = [_amend(engine, order_id, peg_offset_value=offset) for offset in (0, 1_000, -1_003)]
    assert refused == [Reason.INVALID_PRICE] * 3
    assert _stop_px(engine, order_id) == MARK - 2_000


def test_a_buy_trailing_stop_is_moved_by_a_positive_offset_only() -> None:
    engine = _engine()
    order_id = _trailing(engine, "Buy", 1_000)
    assert _stop_px(engine, order_id) == MARK + 1_000
    assert _amend(engine, order_id, peg_offset_value=5) is None
    assert _stop_px(engine, order_id) == MARK + 5
    assert [_amend(engine, order_id, peg_offset_value=offset) for offset in (0, -5)] == [Reason.INVALID_PRICE] * 2


def test_a_trailing_stop_refuses_a_stop_price_and_a_plain_stop_refuses_an_offset() -> None:
    engine = _engine()
    trailing = _trailing(engine, "Sell", -1_000)
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Sell", order_qty=1, ord_type="Stop", stop_px=290_000)
    )
    assert not isinstance(events[-1], Rejected)
    stop = max(engine.live_orders)
    assert _amend(engine, trailing, stop_px=290_000) == Reason.NOT_AMENDABLE
    assert _amend(engine, stop, peg_offset_value=-5) == Reason.NOT_AMENDABLE
    assert _amend(engine, stop, stop_px=280_000) is None
    assert (_stop_px(engine, trailing), _stop_px(engine, stop)) == (MARK - 1_000, 280_000)
