"""A ``LastWithinMark`` trailing stop is moved only by last prices within ORD-014's band (red team 10, redteam10_2).

ORD-014: a ``LastWithinMark`` order's price "counts only while within 5% of mark" -- for trailing (ORD-007) as for
triggering (ORD-015).  Before the fix a wick printed outside the band could not fire the stop but dragged its stopPx
along (``StopIndex.take_at`` moved the band group's buckets whatever the band said; ``take_odd`` and
``Triggers.trail`` trailed with the band-less rule), so the next ordinary print at the mark fired it and sold the
victim's position.  Now ``rules.triggers.compute_trailed_stop_px`` is the trailing update, band included, and a
``LastWithinMark`` trailing stop placed or re-offset while the last price is out of the band starts from the mark
(``compute_trailing_reference``; docs/rulebook.md's decisions).  INV-TRIGGERS-DUE-FIRED reads the same rule: a
trailing stop left behind a price that counts is reported, one left where an out-of-band price found it is not.

Rules: ORD-007, ORD-014, ORD-015, ORD-016, ORD-017; invariant INV-TRIGGERS-DUE-FIRED.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all
from perpspec.rules.triggers import compute_trailed_stop_px, compute_trailing_reference

S = "XBTUSD"
MARK = 5_000_000  # the band: 4,750,000 .. 5,250,000
VICTIM, COLLUDER, OTHER = 1, 2, 3
WICK_UP = 5_400_000  # 8% above the mark: outside the band
WICK_DOWN = 4_600_000  # 8% below
INV = "INV-TRIGGERS-DUE-FIRED"
LWM = "LastPrice,LastWithinMark,ReduceOnly"
LAST = "LastPrice,ReduceOnly"


def now(engine: Engine) -> int:
    return engine.stream.time_ms


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def holding(position: int) -> Engine:
    """Mark 5,000,000; the victim holds ``position`` contracts (long > 0), bought or sold at the mark."""
    engine = Engine()
    ok(engine, c.PriceUpdate(time_ms=now(engine), symbol=S, mark_price=MARK, index_price=MARK))
    for account in (VICTIM, COLLUDER, OTHER):
        ok(engine, c.VerifyAccount(time_ms=now(engine), account=account))
        ok(engine, c.Deposit(time_ms=now(engine), account=account, asset="XBt", amount=10**10))
    side = "Buy" if position > 0 else "Sell"
    other = "Sell" if position > 0 else "Buy"
    ok(engine, c.PlaceOrder(time_ms=now(engine), account=COLLUDER, symbol=S, side=other, order_qty=abs(position), price=MARK))
    ok(engine, c.PlaceOrder(time_ms=now(engine), account=VICTIM, symbol=S, side=side, order_qty=abs(position), price=MARK))
    return engine


def trailing(engine: Engine, offset: int, exec_inst: str) -> int:
    """The victim's trailing stop closing its position, ``offset`` from the last price (a sell's < 0)."""
    side = "Sell" if offset < 0 else "Buy"
    events = ok(engine, c.PlaceOrder(time_ms=now(engine), account=VICTIM, symbol=S, side=side, order_qty=1_000,
                                     ord_type="Pegged", peg_price_type="TrailingStopPeg", peg_offset_value=offset,
                                     exec_inst=exec_inst))
    order_id = events[-1].order_id  # type: ignore[attr-defined]
    assert isinstance(order_id, int)
    return order_id


def trade(engine: Engine, price: int, qty: int = 100) -> list[Event]:
    """The colluder and another account trade ``qty`` at ``price`` (the last price): the side away from the mark
    rests first (the taker is then inside the fat-finger band of its best opposite price)."""
    sell = c.PlaceOrder(time_ms=now(engine), account=COLLUDER, symbol=S, side="Sell", order_qty=qty, price=price)
    buy = c.PlaceOrder(time_ms=now(engine), account=OTHER, symbol=S, side="Buy", order_qty=qty, price=price)
    maker, taker = (sell, buy) if price >= MARK else (buy, sell)
    ok(engine, maker)
    return ok(engine, taker)


def print_at_mark_with_a_bid(engine: Engine) -> list[Event]:
    """An ordinary print at the mark, with a bid there for a sell stop that fires."""
    ok(engine, c.PlaceOrder(time_ms=now(engine), account=OTHER, symbol=S, side="Buy", order_qty=2_000, price=MARK))
    return ok(engine, c.PlaceOrder(time_ms=now(engine), account=COLLUDER, symbol=S, side="Sell", order_qty=100, price=MARK))


def stop_px(engine: Engine, order_id: int) -> int:
    return engine.registry.live_orders[order_id].stop_px


def fired(events: list[Event], order_id: int) -> bool:
    return any(isinstance(x, Execution) and x.order_id == order_id and x.exec_type == "TriggeredOrActivatedBySystem"
               for x in events)


# ------------------------------------------------------------------------------------------- the rule


def test_the_trailing_rule_ignores_a_last_within_mark_price_outside_the_band() -> None:
    """compute_trailed_stop_px: out of the band a LastWithinMark sell stays; at the edge (5%) and without the
    instruction it follows the price."""
    assert compute_trailed_stop_px(False, True, 4_900_000, WICK_UP, MARK, -100_000) == 4_900_000
    assert compute_trailed_stop_px(False, True, 4_900_000, 5_250_000, MARK, -100_000) == 5_150_000
    assert compute_trailed_stop_px(False, False, 4_900_000, WICK_UP, MARK, -100_000) == 5_300_000
    assert compute_trailed_stop_px(True, True, 5_100_000, WICK_DOWN, MARK, 100_000) == 5_100_000
    assert compute_trailed_stop_px(True, True, 5_100_000, 4_750_000, MARK, 100_000) == 4_850_000


def test_a_last_within_mark_trailing_stop_starts_from_the_mark_while_the_last_price_is_out_of_the_band() -> None:
    """compute_trailing_reference: the last price in the band (or without LastWithinMark), else the mark; 0 (no
    last price yet) stays 0."""
    assert compute_trailing_reference(True, WICK_UP, MARK) == MARK
    assert compute_trailing_reference(True, 5_250_000, MARK) == 5_250_000
    assert compute_trailing_reference(False, WICK_UP, MARK) == WICK_UP
    assert compute_trailing_reference(True, 0, MARK) == 0


# ------------------------------------------------------------------------------------------- the engine


def test_a_wick_outside_the_band_does_not_move_a_last_within_mark_sell_trailing_stop() -> None:
    """redteam10_2: the wick at 5,400,000 leaves the stop at 4,900,000; the print at the mark then fires nothing
    and the victim keeps its 1,000 contracts."""
    engine = holding(1_000)
    stop = trailing(engine, -100_000, LWM)
    assert stop_px(engine, stop) == 4_900_000
    trade(engine, WICK_UP)
    assert stop_px(engine, stop) == 4_900_000
    events = print_at_mark_with_a_bid(engine)
    assert not fired(events, stop)
    assert (engine.accounts[VICTIM].positions[S].qty, stop_px(engine, stop)) == (1_000, 4_900_000)


def test_a_wick_outside_the_band_does_not_move_a_last_within_mark_buy_trailing_stop() -> None:
    """The mirror: a short's buy trailing stop 100,000 above stays at 5,100,000 through a wick down at 4,600,000."""
    engine = holding(-1_000)
    stop = trailing(engine, 100_000, LWM)
    assert stop_px(engine, stop) == 5_100_000
    trade(engine, WICK_DOWN)
    assert stop_px(engine, stop) == 5_100_000


def test_the_same_wick_moves_a_last_price_trailing_stop_without_last_within_mark() -> None:
    """Without LastWithinMark every last price counts: the stop follows the wick to 5,300,000 and the print at the
    mark fires it (ORD-007 as before)."""
    engine = holding(1_000)
    stop = trailing(engine, -100_000, LAST)
    trade(engine, WICK_UP)
    assert stop_px(engine, stop) == 5_300_000
    events = print_at_mark_with_a_bid(engine)
    assert fired(events, stop)
    assert engine.accounts[VICTIM].positions[S].qty == 0


def test_an_in_band_print_still_moves_a_last_within_mark_trailing_stop() -> None:
    """5,200,000 (4% above the mark) moves the stop to 5,100,000; 5,250,000 (the band's edge) to 5,150,000."""
    engine = holding(1_000)
    stop = trailing(engine, -100_000, LWM)
    trade(engine, 5_200_000)
    assert stop_px(engine, stop) == 5_100_000
    trade(engine, 5_250_000)
    assert stop_px(engine, stop) == 5_150_000


def test_after_a_wick_only_the_in_band_price_moves_the_stop() -> None:
    """The wick at 5,400,000 moves nothing; the next print at 5,200,000 (in the band) moves the stop to 5,100,000,
    not to the wick's 5,300,000."""
    engine = holding(1_000)
    stop = trailing(engine, -100_000, LWM)
    trade(engine, WICK_UP)
    trade(engine, 5_200_000)
    assert stop_px(engine, stop) == 5_100_000


def test_a_mark_that_brings_the_last_price_into_the_band_moves_the_stop() -> None:
    """The wick's 5,400,000 counts once the mark is 5,200,000 (3.8% away): the stop then follows it to 5,300,000."""
    engine = holding(1_000)
    stop = trailing(engine, -100_000, LWM)
    trade(engine, WICK_UP)
    ok(engine, c.PriceUpdate(time_ms=now(engine), symbol=S, mark_price=5_200_000, index_price=5_200_000))
    assert stop_px(engine, stop) == 5_300_000


def test_a_last_within_mark_trailing_stop_placed_during_a_wick_starts_from_the_mark() -> None:
    """Placed while the last price is 5,400,000 (out of the band): 100,000 below the mark, 4,900,000; a LastPrice
    one without LastWithinMark starts from the wick, 5,300,000."""
    engine = holding(1_000)
    trade(engine, WICK_UP)
    within = trailing(engine, -100_000, LWM)
    plain = trailing(engine, -100_000, LAST)
    assert (stop_px(engine, within), stop_px(engine, plain)) == (4_900_000, 5_300_000)


def test_amending_the_offset_during_a_wick_starts_from_the_mark() -> None:
    """pegOffsetValue amended to -200,000 while the last price is 5,400,000: 4,800,000 (from the mark); amended
    back in the band (last 5,100,000): 4,900,000 (from the last price)."""
    engine = holding(1_000)
    stop = trailing(engine, -100_000, LWM)
    trade(engine, WICK_UP)
    ok(engine, c.AmendOrder(time_ms=now(engine), account=VICTIM, order_id=stop, peg_offset_value=-200_000))
    assert stop_px(engine, stop) == 4_800_000
    trade(engine, 5_100_000)  # in the band: moves the stop to 4,900,000 already
    ok(engine, c.AmendOrder(time_ms=now(engine), account=VICTIM, order_id=stop, peg_offset_value=-150_000))
    assert stop_px(engine, stop) == 4_950_000


# ------------------------------------------------------------------------------------------- the invariant


def test_the_invariant_sees_a_last_within_mark_trailing_stop_left_behind_an_in_band_price() -> None:
    """INV-TRIGGERS-DUE-FIRED: the last price moved to 5,200,000 behind the engine's back (no trigger run) leaves
    the stop stale at 4,900,000 where ORD-007 puts it at 5,100,000: reported."""
    engine = holding(1_000)
    stop = trailing(engine, -100_000, LWM)
    assert check_all(engine, engine.step_info())[INV] == []
    engine.market.last_prices[S] = 5_200_000  # a crafted state
    assert check_all(engine, engine.step_info())[INV] == [
        f"{S}: account {VICTIM}'s sell trailing stop {stop} (stopPx 4900000, pegOffsetValue -100000, LastPrice, "
        "LastWithinMark) was not moved by 5200000 (mark 5000000): ORD-007 puts it at 5100000"
    ]


def test_the_invariant_accepts_a_last_within_mark_trailing_stop_an_out_of_band_price_left_alone() -> None:
    """The wick's 5,400,000 does not count: the stop at 4,900,000 is where ORD-007 and ORD-014 leave it (a checker
    trailing with the band-less rule would call it stale); without LastWithinMark the same stop is reported."""
    engine = holding(1_000)
    within = trailing(engine, -100_000, LWM)
    trade(engine, WICK_UP)
    assert check_all(engine, engine.step_info())[INV] == []
    plain = trailing(engine, -100_000, LAST)
    engine.registry.live_orders[plain].stop_px = 4_900_000  # a crafted state: left behind the wick
    assert check_all(engine, engine.step_info())[INV] == [
        f"{S}: account {VICTIM}'s sell trailing stop {plain} (stopPx 4900000, pegOffsetValue -100000, LastPrice) "
        f"was not moved by {WICK_UP} (mark {MARK}): ORD-007 puts it at 5300000"
    ]
    assert stop_px(engine, within) == 4_900_000
