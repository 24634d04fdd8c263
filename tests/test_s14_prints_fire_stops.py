"""Every print a command trades is judged by the orders that watch the last price (red team 7, session 14).

A LastPrice stop was judged only at the last price a trigger pass read, so a trade that went through its stopPx and
back within one command never triggered it: two stops firing in one pass (7_1), two close-outs of one waterfall
that left the last price where it began (7_2: no trigger run at all), one order sweeping two levels either side of
the stop.  bitmex-rules.md §8: "A sell stop triggers when the trigger price falls to or below stopPx"; with
LastPrice the trigger price is the last traded price, and every trade prints one.  The market now notes every print
(``Market.prints``) and a trigger pass judges the last-price orders at each in turn (ORD-015, ORD-014 band at each,
a trailing stop moved by one print and judged at the next: ORD-007, tick by tick).

Rules: ORD-003/ORD-005 (stop / if-touched), ORD-007 (trailing), ORD-013 (LastPrice), ORD-014, ORD-015.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_builtin_instruments

S = "XBTUSD"


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def order_id(events: list[Event]) -> int:
    accepted = events[-1]
    assert isinstance(accepted, Accepted)
    return accepted.order_id


def prints(events: list[Event], symbol: str = S) -> list[int]:
    return [e.last_px for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.symbol == symbol]


def book_at_50k(accounts: tuple[int, ...] = (1, 2, 3, 4, 5)) -> Engine:
    """XBTUSD last 50,000 (a trade between accounts 1 and 5), mark 50,000."""
    engine = Engine()
    for account in accounts:
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=S, mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=100, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=5, symbol=S, side="Buy", order_qty=100, price=5_000_000))
    assert engine.last_prices[S] == 5_000_000
    return engine


def test_7_1_two_stops_of_one_pass_trade_through_a_last_price_stop_and_back() -> None:
    """redteam7_1: the first mark stop prints 49,800, the second 50,200; the LastPrice sell stop at 49,900 fires."""
    engine = book_at_50k()
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=1000, price=4_980_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=1000, price=5_020_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", order_qty=100, stop_px=4_996_000,
                            ord_type="Stop"))
    ok(engine, c.PlaceOrder(time_ms=1, account=3, symbol=S, side="Buy", order_qty=200, stop_px=4_996_000,
                            ord_type="MarketIfTouched"))
    victim = order_id(ok(engine, c.PlaceOrder(time_ms=1, account=4, symbol=S, side="Sell", order_qty=100,
                                              stop_px=4_990_000, ord_type="Stop", exec_inst="LastPrice")))
    events = ok(engine, c.PriceUpdate(time_ms=2, symbol=S, mark_price=4_995_000, index_price=4_995_000))
    assert prints(events)[:4] == [4_980_000, 4_980_000, 5_020_000, 5_020_000]
    assert victim not in engine.conditional[S]  # old code: still untriggered (last 50,200)
    assert any(isinstance(e, Execution) and e.order_id == victim and e.exec_type == "TriggeredOrActivatedBySystem"
               for e in events)


def test_7_2_two_close_outs_trade_through_a_stop_and_back_to_the_same_last_price() -> None:
    """redteam7_2: XBTZ26's close-outs print 49,800 then 50,000 (its last before): its stop fires."""
    engine = Engine(dict(load_builtin_instruments()))
    for account, amount in ((1, 60_000), (5, 60_000), (2, 10**10), (3, 10**10), (4, 10**10), (6, 10**10)):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for symbol in ("XBTUSD", "XBTZ26"):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    for account, symbol, side, qty, price in (
        (2, "XBTUSD", "Sell", 1_000, 5_000_000), (1, "XBTUSD", "Buy", 1_000, 5_000_000),
        (2, "XBTUSD", "Sell", 1_000, 5_000_000), (5, "XBTUSD", "Buy", 1_000, 5_000_000),
        (3, "XBTUSD", "Buy", 100_000, 4_900_000),
        (2, "XBTZ26", "Buy", 1_000, 5_000_000), (1, "XBTZ26", "Sell", 1_000, 5_000_000),
        (2, "XBTZ26", "Buy", 1_000, 5_000_000), (5, "XBTZ26", "Sell", 1_000, 5_000_000),
        (2, "XBTZ26", "Sell", 1_000, 5_000_000), (4, "XBTZ26", "Buy", 1_000, 5_000_000),
        (3, "XBTZ26", "Sell", 1_000, 4_980_000), (6, "XBTZ26", "Sell", 100_000, 5_000_000),
    ):
        ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price))
    stop = order_id(ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol="XBTZ26", side="Sell", order_qty=1_000,
                                            ord_type="Stop", stop_px=4_990_000, exec_inst="LastPrice")))
    events = ok(engine, c.PriceUpdate(time_ms=1_000, symbol="XBTUSD", mark_price=4_850_000, index_price=4_850_000))
    assert prints(events, "XBTZ26")[:2] == [4_980_000, 5_000_000]
    assert stop not in engine.triggers.conditional["XBTZ26"]  # old code: no XBTZ26 trigger run (last unchanged)


def test_one_market_order_sweeping_through_a_sell_stop_fires_it() -> None:
    """A buy sweeps asks 49,800 then 50,200 (last 50,000 before): the LastPrice sell stop at 49,900 fires."""
    engine = book_at_50k()
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=100, price=4_980_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=100, price=5_020_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=1000, price=4_900_000))  # a bid
    victim = order_id(ok(engine, c.PlaceOrder(time_ms=1, account=4, symbol=S, side="Sell", order_qty=100,
                                              stop_px=4_990_000, ord_type="Stop", exec_inst="LastPrice")))
    events = ok(engine, c.PlaceOrder(time_ms=2, account=5, symbol=S, side="Buy", order_qty=200, ord_type="Market"))
    assert prints(events)[:4] == [4_980_000, 4_980_000, 5_020_000, 5_020_000]
    assert victim not in engine.conditional[S]  # old code: still untriggered (last 50,200)


def test_one_sell_sweeping_bids_through_a_buy_stop_and_a_last_within_mark_one() -> None:
    """A sell sweeps bids 50,200 then 49,800: the buy stops at 50,100 fire (LastPrice and LastWithinMark)."""
    engine = book_at_50k()
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=100, price=5_020_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=100, price=4_980_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=1000, price=5_100_000))  # an ask
    stops = [
        order_id(ok(engine, c.PlaceOrder(time_ms=1, account=4, symbol=S, side="Buy", order_qty=100,
                                         stop_px=5_010_000, ord_type="Stop", exec_inst=exec_inst)))
        for exec_inst in ("LastPrice", "LastPrice,LastWithinMark")
    ]
    events = ok(engine, c.PlaceOrder(time_ms=2, account=5, symbol=S, side="Sell", order_qty=200, ord_type="Market"))
    assert prints(events)[:4] == [5_020_000, 5_020_000, 4_980_000, 4_980_000]
    assert not set(stops) & set(engine.conditional[S])


def trailing_between_two_stops(buy_first: bool) -> tuple[Engine, int, list[Event]]:
    """A mark-price buy if-touched (prints 50,200) and sell stop (prints 49,800) fire in one pass, in order-id order;
    account 4's LastPrice sell trailing stop is 300 below the highest last price (49,700 when placed)."""
    engine = book_at_50k()
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Buy", order_qty=1000, price=4_980_000))
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=1000, price=5_020_000))
    mit = c.PlaceOrder(time_ms=1, account=3, symbol=S, side="Buy", order_qty=100, stop_px=4_996_000,
                       ord_type="MarketIfTouched")
    stop = c.PlaceOrder(time_ms=1, account=2, symbol=S, side="Sell", order_qty=100, stop_px=4_996_000, ord_type="Stop")
    for command in (mit, stop) if buy_first else (stop, mit):
        ok(engine, command)
    trailing = order_id(ok(engine, c.PlaceOrder(time_ms=1, account=4, symbol=S, side="Sell", order_qty=100,
                                                ord_type="Pegged", peg_price_type="TrailingStopPeg",
                                                peg_offset_value=-30_000, exec_inst="LastPrice")))
    assert engine.conditional[S][trailing].stop_px == 4_970_000
    events = ok(engine, c.PriceUpdate(time_ms=2, symbol=S, mark_price=4_995_000, index_price=4_995_000))
    return engine, trailing, events


def test_a_trailing_stop_follows_a_print_up_and_fires_at_the_next_one_down() -> None:
    """50,200 then 49,800: the trailing stop moves to 49,900 at the first print and is due at the second (ORD-007
    tick by tick); old code read only the last price 49,800 against 49,700."""
    engine, trailing, events = trailing_between_two_stops(buy_first=True)
    assert prints(events)[:4] == [5_020_000, 5_020_000, 4_980_000, 4_980_000]
    assert trailing not in engine.conditional[S]


def test_a_trailing_stop_is_judged_at_the_prints_in_their_order() -> None:
    """49,800 then 50,200: not due at 49,800 (stop 49,700), then moved to 49,900 by 50,200 and left there -- the
    prints in their order, not their range (a low after the high would have been needed)."""
    engine, trailing, events = trailing_between_two_stops(buy_first=False)
    assert prints(events)[:4] == [4_980_000, 4_980_000, 5_020_000, 5_020_000]
    assert engine.conditional[S][trailing].stop_px == 4_990_000


def test_no_print_outlives_its_command() -> None:
    """The prints are consumed by the trigger runs or dropped when the command ends: never state."""
    engine = book_at_50k()
    ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=S, side="Sell", order_qty=100, price=4_980_000))
    ok(engine, c.PlaceOrder(time_ms=2, account=5, symbol=S, side="Buy", order_qty=100, ord_type="Market"))
    assert engine.market.prints == {}
    # a stop placed later is judged at the last price (49,800) only: one at 49,700 waits
    stop = order_id(ok(engine, c.PlaceOrder(time_ms=3, account=4, symbol=S, side="Sell", order_qty=100,
                                            stop_px=4_970_000, ord_type="Stop", exec_inst="LastPrice")))
    assert stop in engine.conditional[S]


def test_a_run_of_prints_keeps_its_turning_points_and_band_edges() -> None:
    """Market.note_print: a monotone run is kept as its ends, cut where it enters or leaves the mark band."""
    engine = Engine()
    market = engine.market
    market.marks[S] = 5_000_000  # band: [4,750,000, 5,250,000]
    for price in (5_000_000, 5_010_000, 5_020_000, 5_020_000, 4_990_000, 4_980_000, 5_030_000):
        market.note_print(S, price)
    assert market.prints[S] == [5_000_000, 5_020_000, 4_980_000, 5_030_000]
    market.prints.clear()
    for price in (4_700_000, 4_720_000, 4_800_000, 4_900_000, 5_200_000, 5_300_000, 5_400_000):
        market.note_print(S, price)
    assert market.prints[S] == [4_700_000, 4_720_000, 4_800_000, 5_200_000, 5_300_000, 5_400_000]
