"""Price protection ("fat finger", reference §8) on the whole engine, at the exact edge of the 5% band.

BitMEX: a market buy fills at most 5% above max(best ask, mark), a market sell at most 5% below
min(best bid, mark), the rest cancelled; a limit buy more than 5% above max(best ask, mark) whose size
exceeds the best-ask size is rejected (sell mirrored).  The engine floors the band's width (it is never
widened) and rounds the market cap to the tick inwards.

The marks are chosen so that the 5% width has a fraction of .95 (``mark = 20 n + 19``): one unit more in the
width, or a width rounded the other way, moves the band across a tick (ETHUSD: tick 5 price units).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")  # quanto, tick 5 price units, lot 1
TRADER, MAKER = 1, 2


def _engine(mark: int) -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=mark, index_price=mark))
    for account in (TRADER, MAKER):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    return engine


def _place(engine: Engine, account: int, side: str, qty: int, price: int | None = None) -> list[Event]:
    if price is None:
        return engine.process(
            c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, ord_type="Market")
        )
    return engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price))


def _rejected_by_band(events: list[Event]) -> bool:
    last = events[-1]
    return isinstance(last, Rejected) and last.reason == Reason.FAT_FINGER


def _accepted(events: list[Event]) -> bool:
    return not any(isinstance(event, Rejected) for event in events)


def _qty(engine: Engine, account: int) -> int:
    position = engine.positions(account).get("ETHUSD")
    return 0 if position is None else position.qty


# -- limit orders: rejected beyond the band when larger than the best opposite level --------------------


def test_limit_buy_one_tick_above_the_floored_band_is_rejected() -> None:
    # mark 500.19, no asks: band 50,019 + floor(2,500.95) = 52,519
    inside, outside = _engine(50_019), _engine(50_019)
    assert _accepted(_place(inside, TRADER, "Buy", 1, 52_515))
    assert _rejected_by_band(_place(outside, TRADER, "Buy", 1, 52_520))


def test_limit_sell_one_tick_below_the_floored_band_is_rejected() -> None:
    # mark 500.79, no bids: band 50,079 - floor(2,503.95) = 47,576
    inside, outside = _engine(50_079), _engine(50_079)
    assert _accepted(_place(inside, TRADER, "Sell", 1, 47_580))
    assert _rejected_by_band(_place(outside, TRADER, "Sell", 1, 47_575))


def test_limit_buy_band_is_measured_from_the_best_ask_when_it_is_above_the_mark() -> None:
    # mark 500.00, best ask 501.00: band 50,100 + 2,505 = 52,605 (from the mark it would be 52,500)
    inside, outside = _engine(50_000), _engine(50_000)
    for engine in (inside, outside):
        assert _accepted(_place(engine, MAKER, "Sell", 1, 50_100))
    assert _accepted(_place(inside, TRADER, "Buy", 2, 52_605))
    assert _rejected_by_band(_place(outside, TRADER, "Buy", 2, 52_610))


def test_limit_sell_band_is_measured_from_the_best_bid_when_it_is_below_the_mark() -> None:
    # mark 500.00, best bid 499.00: band 49,900 - 2,495 = 47,405 (from the mark it would be 47,500)
    inside, outside = _engine(50_000), _engine(50_000)
    for engine in (inside, outside):
        assert _accepted(_place(engine, MAKER, "Buy", 1, 49_900))
    assert _accepted(_place(inside, TRADER, "Sell", 2, 47_405))
    assert _rejected_by_band(_place(outside, TRADER, "Sell", 2, 47_400))


def test_limit_order_beyond_the_band_no_larger_than_the_best_level_is_accepted() -> None:
    buy, sell = _engine(50_000), _engine(50_000)
    assert _accepted(_place(buy, MAKER, "Sell", 3, 50_100))
    assert _accepted(_place(buy, TRADER, "Buy", 3, 60_000))  # 3 <= best ask size 3
    assert _rejected_by_band(_place(buy, TRADER, "Buy", 4, 60_000))  # the first took the ask: 4 > 0
    assert _accepted(_place(sell, MAKER, "Buy", 3, 49_900))
    assert _accepted(_place(sell, TRADER, "Sell", 3, 40_000))
    assert _rejected_by_band(_place(sell, TRADER, "Sell", 4, 40_000))


def test_limit_buy_one_larger_than_the_best_ask_beyond_the_band_is_rejected() -> None:
    engine = _engine(50_000)
    assert _accepted(_place(engine, MAKER, "Sell", 3, 50_100))
    assert _rejected_by_band(_place(engine, TRADER, "Buy", 4, 60_000))
    assert _qty(engine, TRADER) == 0


# -- market orders: filled up to the band, the rest cancelled ---------------------------------------------


def test_market_buy_stops_at_the_band_floored_to_the_tick() -> None:
    # mark 500.19 above the best ask 500.15: cap floor_to_tick(50,019 + 2,500) = 52,515
    reached, beyond = _engine(50_019), _engine(50_019)
    for engine, far in ((reached, 52_515), (beyond, 52_520)):
        assert _accepted(_place(engine, MAKER, "Sell", 1, 50_015))
        assert _accepted(_place(engine, MAKER, "Sell", 1, far))
        _place(engine, TRADER, "Buy", 2)
    assert (_qty(reached, TRADER), _qty(beyond, TRADER)) == (2, 1)


def test_market_sell_stops_at_the_band_ceiled_to_the_tick() -> None:
    # mark 500.79 below the best bid 500.80: cap ceil_to_tick(50,079 - 2,503) = 47,580
    reached, beyond = _engine(50_079), _engine(50_079)
    for engine, far in ((reached, 47_580), (beyond, 47_575)):
        assert _accepted(_place(engine, MAKER, "Buy", 1, 50_080))
        assert _accepted(_place(engine, MAKER, "Buy", 1, far))
        _place(engine, TRADER, "Sell", 2)
    assert (_qty(reached, TRADER), _qty(beyond, TRADER)) == (-2, -1)


def test_market_buy_band_is_measured_from_the_best_ask_when_it_is_above_the_mark() -> None:
    # reference §8: best ask 100, mark 101 -> cap 106.05; here best ask 501.00 above mark 500.00:
    # cap 50,100 + 2,505 = 52,605
    reached, beyond = _engine(50_000), _engine(50_000)
    for engine, far in ((reached, 52_605), (beyond, 52_610)):
        assert _accepted(_place(engine, MAKER, "Sell", 1, 50_100))
        assert _accepted(_place(engine, MAKER, "Sell", 1, far))
        _place(engine, TRADER, "Buy", 2)
    assert (_qty(reached, TRADER), _qty(beyond, TRADER)) == (2, 1)


def test_market_sell_band_is_measured_from_the_best_bid_when_it_is_below_the_mark() -> None:
    reached, beyond = _engine(50_000), _engine(50_000)
    for engine, far in ((reached, 47_405), (beyond, 47_400)):
        assert _accepted(_place(engine, MAKER, "Buy", 1, 49_900))
        assert _accepted(_place(engine, MAKER, "Buy", 1, far))
        _place(engine, TRADER, "Sell", 2)
    assert (_qty(reached, TRADER), _qty(beyond, TRADER)) == (-2, -1)
