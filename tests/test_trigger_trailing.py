"""Trailing stops in the trigger index (engine/core/triggers.py ``Bucket``) fire and trail as the one-by-one rule.

Before session 13 every pass of a run judged and trailed each trailing stop of the contract: a cascade of N passes
over T trailing stops cost N x T.  The index now keeps them in buckets that share a level (the extreme price seen)
and writes their stopPx when the run ends (or when one leaves the pool during it).  Twin engines, one running
tests/test_trigger_index.py ``reference_run`` (the rule as it read before any index: every order judged on every
pass, the trailing stops not due moved by ``Triggers.trail``), must emit the same events and reach the same state
hash on streams rich in trailing stops: both sides, every trigger source, LastWithinMark in and out of its band,
price walks that move them back and forth, cascades that fire them pass after pass, offset amendments, cancels,
dead man's switches (undo), snapshots restored mid-stream, and cancels inside a cascade.
"""

from __future__ import annotations

from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.entry import OrderEntry
from perpspec.engine.core.events import Execution
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order
from perpspec.engine.core.triggers import Triggers
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from tests.test_trigger_index import MARK, SYMBOL, TICK, fired, interpreted_only, reference_run, run

LOT = 100
MAKER = 1
TRADERS = tuple(range(2, 32))  # 30 accounts: 10 untriggered orders each (MAX_OPEN_STOPS)
SOURCES = ("", "LastPrice", "IndexPrice", "MarkPrice", "LastPrice,LastWithinMark")

# one step: (kind, a, b, k); read by ``trailing_stream`` against a running mark
STEPS = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 10**6), st.integers(-40, 40), st.integers(1, 12)), max_size=50
)


def setup() -> list[Any]:
    out: list[Any] = [c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8)]
    for account in (MAKER, *TRADERS):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**12 if account == MAKER else 10**9))
    out.append(c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    return out


def trailing_stream(steps: list[tuple[int, int, int, int]]) -> list[Any]:
    """The stream a list of steps stands for: trailing stops (one or a ladder of offsets), fixed-stop cascades,
    maker ladders, trades, mark and index walks (now and then 6%: LastWithinMark's band is 5%), offset amends,
    cancels, dead man's switches and rejected commands (undo).  Built against a running engine, so amends and
    cancels name live orders."""
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    out: list[Any] = []

    def send(*batch: Any) -> None:
        for command in batch:
            out.append(command)
            engine.process(command)

    send(*setup())
    mark = MARK
    index = MARK
    time_ms = 0
    for kind, a, b, k in steps:
        time_ms += a % 3
        trader = TRADERS[a % len(TRADERS)]
        side = "Buy" if a % 2 else "Sell"
        sign = 1 if side == "Buy" else -1
        if kind <= 2:  # trailing stops: k of them, offsets spread (several share one, so they share a level)
            source = SOURCES[(a // 2) % len(SOURCES)]
            for step in range(k if kind == 0 else 1):
                send(c.PlaceOrder(time_ms=time_ms, account=TRADERS[(a + step) % len(TRADERS)], symbol=SYMBOL,
                    side=side, order_qty=LOT, ord_type="Pegged", peg_price_type="TrailingStopPeg",
                    peg_offset_value=sign * ((abs(b) + step * (a % 3)) % 25 + 1) * TICK, exec_inst=source))
        elif kind == 3:  # a ladder of maker quotes one tick apart
            for step in range(k):
                send(c.PlaceOrder(time_ms=time_ms, account=MAKER, symbol=SYMBOL, side=side, order_qty=LOT,
                    price=mark - sign * (abs(b) % 10 + step + 1) * TICK))
        elif kind == 4:  # a ladder of last-price stops one tick apart (a cascade: one pass per stop)
            for step in range(k):
                send(c.PlaceOrder(time_ms=time_ms, account=TRADERS[(a + step) % len(TRADERS)], symbol=SYMBOL,
                    side=side, order_qty=LOT, ord_type="Stop", stop_px=max(TICK, mark + sign * (abs(b) % 10 + step + 1) * TICK),
                    exec_inst="LastPrice"))
        elif kind == 5:  # a trade: the last price moves
            send(c.PlaceOrder(time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=k * LOT))
        elif kind == 6:  # the mark (and sometimes the index) walks
            mark = max(10 * TICK, mark + (b * TICK if k < 11 else (1 if b >= 0 else -1) * mark * 6 // 100 // TICK * TICK))
            if a % 2:
                index = max(10 * TICK, index + (b // 2) * TICK)
            send(c.PriceUpdate(time_ms=time_ms, symbol=SYMBOL, mark_price=mark, index_price=index))
        elif kind == 7:  # a trailing stop's offset amended (maybe to the same stop price)
            waiting = sorted(
                (order for order in engine.triggers.conditional[SYMBOL].values() if order.ord_type == o.PEGGED),
                key=lambda order: order.order_id,
            )
            if waiting:
                order = waiting[a % len(waiting)]
                send(c.AmendOrder(time_ms=time_ms, account=order.account, order_id=order.order_id,
                    peg_offset_value=(1 if order.is_buy else -1) * (abs(b) % 25 + 1) * TICK))
        elif kind == 8:  # a cancel
            live = sorted(engine.registry.live_orders.values(), key=lambda order: order.order_id)
            if live:
                order = live[a % len(live)]
                send(c.CancelOrder(time_ms=time_ms, account=order.account, order_id=order.order_id))
        elif a % 2:  # a dead man's switch: due at a later command (which may be rejected: undo)
            send(c.CancelAllAfter(time_ms=time_ms, account=trader, timeout_ms=1 + a % 2))
        else:  # a rejected command after the clock moved
            time_ms += 2
            send(c.Withdraw(time_ms=time_ms, account=trader, asset="XBt", amount=10**15))
    return out


def reference(stream: list[Any], snapshot_at: int | None = None) -> tuple[list[Any], str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Triggers, "run", reference_run)
        return run(stream, snapshot_at)


def random_steps(seed: int, length: int) -> list[tuple[int, int, int, int]]:
    rng = Random(seed)
    return [(rng.randint(0, 9), rng.randint(0, 10**6), rng.randint(-40, 40), rng.randint(1, 12)) for _ in range(length)]


def trailing_fired(events: list[Any]) -> int:
    return sum(
        1 for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRIGGERED and e.ord_type == o.PEGGED
    )


@interpreted_only
@settings(max_examples=120, deadline=None)
@given(STEPS, st.integers(0, 400))
def test_trailing_stops_fire_and_trail_as_the_reference_rule(steps: list[tuple[int, int, int, int]], cut: int) -> None:
    stream = trailing_stream(steps)
    expected = reference(stream)
    assert expected == run(stream)
    assert expected == run(stream, snapshot_at=min(cut, len(stream)))  # the buckets rebuilt from a snapshot


@interpreted_only
@pytest.mark.parametrize("seed", range(5))
def test_long_trailing_streams_fire_as_the_reference(seed: int) -> None:
    stream = trailing_stream(random_steps(seed, 300))
    expected = reference(stream)
    assert trailing_fired(expected[0]) > 20  # the comparison covers trailing stops that fired
    assert expected == run(stream)
    assert expected == run(stream, snapshot_at=len(stream) // 2)


def ladder_cascade(stops: int, trailing: int) -> tuple[Engine, c.PlaceOrder]:
    """A last-price cascade of ``stops`` sell stops one tick apart over 1-lot bids (one fire per pass) and
    ``trailing`` buy trailing stops on the last price far above (each pass's lower price moves every one)."""
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK, index_price=MARK))
    engine.process(c.VerifyAccount(time_ms=0, account=10**6))
    engine.process(c.Deposit(time_ms=0, account=10**6, asset="USDt", amount=10**15))
    for step in range(stops + 2):
        engine.process(c.PlaceOrder(time_ms=0, account=10**6, symbol="XBTUSDT", side="Buy", order_qty=1000,
                                    price=MARK - 50 * (step + 1)))
    accounts = (stops + trailing) // 10 + 3
    for account in range(1, accounts + 1):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**12))
    for step in range(stops):
        engine.process(c.PlaceOrder(time_ms=0, account=step // 10 + 1, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                    ord_type="Stop", stop_px=MARK - 50 * (step + 1), exec_inst="LastPrice"))
    engine.process(c.PlaceOrder(time_ms=0, account=10**6, symbol="XBTUSDT", side="Sell", order_qty=1000, price=MARK))
    engine.process(c.PlaceOrder(time_ms=0, account=accounts, symbol="XBTUSDT", side="Buy", order_qty=1000, price=MARK))
    assert engine.market.last_prices["XBTUSDT"] == MARK  # a last price for the trailing stops to start from
    first = stops // 10 + 2
    for step in range(trailing):
        engine.process(c.PlaceOrder(time_ms=0, account=first + step // 10, symbol="XBTUSDT", side="Buy",
                                    order_qty=1000, ord_type="Pegged", peg_price_type="TrailingStopPeg",
                                    peg_offset_value=50 * (400 + step), exec_inst="LastPrice"))
    assert len(engine.triggers.conditional["XBTUSDT"]) == stops + trailing
    return engine, c.PlaceOrder(time_ms=0, account=accounts, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                price=MARK - 50)


def test_a_cascade_trails_every_trailing_stop_to_the_lowest_price() -> None:
    """200 passes, each a tick lower: every buy trailing stop ends at the lowest last price plus its offset."""
    engine, sell = ladder_cascade(200, 30)
    events = engine.process(sell)
    assert fired(events) == 200
    lowest = engine.market.last_prices["XBTUSDT"]
    assert lowest == MARK - 50 * 201  # the last stop sold into the next bid
    pool = engine.triggers.conditional["XBTUSDT"]
    assert [order.stop_px for order in pool.values()] == [lowest + order.peg_offset for order in pool.values()]


@interpreted_only
def test_a_cascade_reads_each_trailing_stop_a_bounded_number_of_times() -> None:
    """Before session 13 each of the 200 passes read every trailing stop's stopPx (~200 x 100 x 2 reads)."""
    reads = [0]

    class CountingOrder(Order):
        __slots__ = ()

        def __getattribute__(self, name: str) -> Any:
            if name in ("stop_px", "peg_offset"):
                reads[0] += 1
            return object.__getattribute__(self, name)

    stops, trailing = 200, 100
    engine, sell = ladder_cascade(stops, trailing)
    for order in engine.triggers.conditional["XBTUSDT"].values():
        if order.ord_type == o.PEGGED:
            order.__class__ = CountingOrder
    assert stops == fired(engine.process(sell))
    assert reads[0] < 20 * trailing


@interpreted_only
def test_the_fire_loop_does_not_read_the_pool_in_key_order() -> None:
    """rev3_2 (session 12 review): each fire read ``next(reversed(pool.keys()))`` twice, O(deleted slots at the
    dict's end) each; the loop now counts what left the pool instead."""
    calls = [0]

    class CountingPool(dict[int, Order]):
        def keys(self) -> Any:
            calls[0] += 1
            return super().keys()

        def __reversed__(self) -> Any:
            calls[0] += 1
            return super().__reversed__()

    engine, sell = ladder_cascade(50, 5)
    pool = engine.triggers.conditional["XBTUSDT"] = CountingPool(engine.triggers.conditional["XBTUSDT"])
    assert fired(engine.process(sell)) == 50
    assert len(pool) == 5
    assert calls[0] == 0


@interpreted_only
@pytest.mark.parametrize("victim", [0, 1, 7])
def test_a_trailing_stop_cancelled_inside_a_cascade_reports_its_trailed_stop_price(
    victim: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a path the engine has (a fire cancels no untriggered order): a trailing stop that leaves the pool during
    a run leaves with the stopPx the passes so far gave it, as the one-by-one rule reports it."""

    def cascade_cancelling_a_trailing_stop() -> tuple[list[Any], str]:
        engine, sell = ladder_cascade(40, 12)
        original = OrderEntry._fire
        calls = [0]
        pegged = sorted(k for k, order in engine.triggers.conditional["XBTUSDT"].items() if order.ord_type == o.PEGGED)

        def cancelling(self: OrderEntry, inst: Instrument, order: Order) -> None:
            calls[0] += 1
            if calls[0] == 20:  # in pass 20: 20 passes have moved the trailing stops
                self.registry.cancel(self.registry.live_orders[pegged[victim]], "Canceled: test")
            original(self, inst, order)

        with monkeypatch.context() as patch:
            patch.setattr(OrderEntry, "_fire", cancelling)
            events = engine.process(sell)
        return events, engine.state_hash()

    indexed = cascade_cancelling_a_trailing_stop()
    with monkeypatch.context() as patch:
        patch.setattr(Triggers, "run", reference_run)
        expected = cascade_cancelling_a_trailing_stop()
    cancelled = [e for e in expected[0] if isinstance(e, Execution) and e.text == "Canceled: test"]
    assert [e.stop_px for e in cancelled] == [MARK - 50 * 20 + 50 * (400 + victim)]
    assert expected == indexed


@interpreted_only
def test_trailing_stops_with_offsets_the_engine_refuses_trail_as_the_reference_rule() -> None:
    """A state the engine does not make (a snapshot's offsets pointing the wrong way, or 0): judged one by one."""

    def run_with_odd_offsets() -> tuple[list[Any], str]:
        engine, sell = ladder_cascade(30, 12)
        pool = engine.triggers.conditional["XBTUSDT"]
        pegged = [order for order in pool.values() if order.ord_type == o.PEGGED]
        for number, order in enumerate(pegged[:6]):
            order.peg_offset = (-10**7, 0, 50 * 3)[number % 3]  # a buy's offset <= 0; below -price: no candidate
            engine.triggers.reindex(order)  # as an amendment tells the index (session 14: it is kept in step)
        events = engine.process(sell)
        events += engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK - 50 * 40))
        return events, engine.state_hash()

    indexed = run_with_odd_offsets()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Triggers, "run", reference_run)
        expected = run_with_odd_offsets()
    assert trailing_fired(expected[0]) >= 2
    assert expected == indexed
