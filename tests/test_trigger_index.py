"""The trigger index (engine/core/triggers.py ``StopIndex``) fires exactly what the rule fired before it, and a
cascade reads only the due orders.

Before session 12 ``Triggers.run`` judged every untriggered order of the contract with ``is_due`` on every pass,
and a last-price cascade fires one stop per pass: N stops cost N^2/2 judgements in one command (red-team find_3).
:func:`reference_run` below is that rule, written out as it read (each pass: the prices read once, every order
judged in order-id order, the trailing stops that are not due moved, then the due ones fired).  Twin engines, one
with ``Triggers.run`` and one with the reference, must emit the same events and reach the same state hash on
random stop books (every conditional type, side, trigger source, LastWithinMark, trailing stops), price paths,
trades that move the last price into cascades, amendments, cancels, dead man's switches (undo of rejected
commands), and snapshots restored mid-stream.

Interpreted only: the compiled ``Triggers`` cannot be patched (tests/test_native.py compares the compiled
engine with the interpreted one on streams with stops).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core import triggers
from perpspec.engine.core.entry import OrderEntry
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.market import Market
from perpspec.engine.core.orders import Order
from perpspec.engine.core.triggers import Triggers, is_due
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.triggers import compute_trailed_stop_px

SYMBOL = "XBTUSD"
TICK = 50
LOT = 100
MAKER = 1
TRADERS = tuple(range(2, 12))
MARK = 5_000_000

COMPILED = not triggers.__file__.endswith(".py")
interpreted_only = pytest.mark.skipif(COMPILED, reason="patches the engine (a compiled class cannot be patched)")


def raw_note_print(self: Market, symbol: str, price: int) -> None:
    """``Market.note_print`` without its run compression: the reference judges every print as it came."""
    path = self.prints.setdefault(symbol, [])
    if not path or path[-1] != price:  # a price repeated at once is one tick
        path.append(price)


def reference_run(self: Triggers, inst: Instrument, fire: Callable[[Instrument, Order], None]) -> None:
    """``Triggers.run`` as it read before the index: every pass judges every untriggered order (session 14: a
    last-price order at every print since the last pass first, in order, trailing at each: red team 7)."""
    pool = self.conditional[inst.symbol]
    symbol = inst.symbol
    market = self.market
    for _ in range(len(pool) + 1):
        prints = market.prints.pop(symbol, [])
        if not pool:
            return
        mark = market.marks.get(symbol, 0)
        last = market.last_prices.get(symbol, 0)
        index = market.index_prices.get(symbol, 0)
        if prints and prints[-1] == last:
            prints.pop()  # judged as the last price below
        due: list[Order] = []
        pegged: list[Order] = []
        for order_id in sorted(pool):
            order = pool[order_id]
            if order.trigger_source != o.LAST_PRICE:
                continue
            for price in prints:
                if is_due(order, price, mark):
                    due.append(order)
                    break
                if order.ord_type == o.PEGGED:
                    order.stop_px = compute_trailed_stop_px(
                        order.is_buy, order.last_within_mark, order.stop_px, price, mark, order.peg_offset
                    )
        taken = {order.order_id for order in due}
        for order_id in sorted(pool):
            if order_id in taken:
                continue
            order = pool[order_id]
            source = order.trigger_source
            price = last if source == o.LAST_PRICE else index if source == o.INDEX_PRICE else mark
            if is_due(order, price, mark):
                due.append(order)
            elif order.ord_type == o.PEGGED:
                pegged.append(order)
        for order in pegged:
            self.trail(order)
        if not due:
            return
        due.sort(key=lambda order: order.order_id)
        for order in due:
            if order.order_id not in pool:
                continue
            del pool[order.order_id]
            fire(inst, order)


def setup() -> list[Any]:
    out: list[Any] = [c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8)]
    for account in (MAKER, *TRADERS):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**12 if account == MAKER else 10**9))
    out.append(c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    return out


# one step of a stream: (kind, a, b, k); read by ``commands`` against a running mark
STEPS = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 10**6), st.integers(-40, 40), st.integers(1, 12)), max_size=60
)
KINDS = ("Stop", "StopLimit", "MarketIfTouched", "LimitIfTouched")
SOURCES = ("", "LastPrice", "IndexPrice", "MarkPrice", "LastPrice,LastWithinMark")


def commands(steps: list[tuple[int, int, int, int]]) -> list[Any]:
    """The stream a list of steps stands for (stops near the mark, ladders, trades that move the last price).

    An engine runs the stream as it is built, so amendments and cancels name live orders of their owners.
    """
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
        waiting = sorted(engine.triggers.conditional[SYMBOL].values(), key=lambda order: order.order_id)
        live = sorted(engine.registry.live_orders.values(), key=lambda order: order.order_id)
        time_ms += a % 3
        trader = TRADERS[a % len(TRADERS)]
        side = "Buy" if a % 2 else "Sell"
        sign = 1 if side == "Buy" else -1
        if kind <= 2:  # a conditional order near the mark
            ord_type = KINDS[a % 4]
            source = SOURCES[(a // 4) % len(SOURCES)]
            price = mark + b * TICK if ord_type in ("StopLimit", "LimitIfTouched") else None
            send(c.PlaceOrder(time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=k * LOT,
                ord_type=ord_type, stop_px=max(TICK, mark + b * TICK), price=price,
                exec_inst=source))
        elif kind == 3:  # a trailing stop
            source = SOURCES[(a // 4) % 4]
            send(c.PlaceOrder(time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=k * LOT,
                ord_type="Pegged", peg_price_type="TrailingStopPeg",
                peg_offset_value=sign * (abs(b) % 20 + 1) * TICK, exec_inst=source))
        elif kind == 4:  # a ladder of maker quotes one tick apart
            for step in range(k):
                send(c.PlaceOrder(time_ms=time_ms, account=MAKER, symbol=SYMBOL, side=side, order_qty=LOT,
                    price=mark - sign * (abs(b) + step + 1) * TICK))
        elif kind == 5:  # a ladder of last-price stops one tick apart (a cascade waiting for a trade)
            for step in range(k):
                send(c.PlaceOrder(time_ms=time_ms, account=TRADERS[step % len(TRADERS)], symbol=SYMBOL,
                    side=side, order_qty=LOT, ord_type="Stop" if a % 3 else "MarketIfTouched",
                    stop_px=mark + sign * (abs(b) + step + 1) * TICK, exec_inst="LastPrice"))
        elif kind == 6:  # a trade: the last price moves
            send(c.PlaceOrder(time_ms=time_ms, account=trader, symbol=SYMBOL, side=side, order_qty=k * LOT))
        elif kind == 7:  # the mark (and sometimes the index) moves; now and then 6% (LastWithinMark's band is 5%)
            mark = max(10 * TICK, mark + (b * TICK if k < 11 else (1 if b >= 0 else -1) * mark * 6 // 100 // TICK * TICK))
            if a % 2:
                index = max(10 * TICK, index + (b // 2) * TICK)
            send(c.PriceUpdate(time_ms=time_ms, symbol=SYMBOL, mark_price=mark, index_price=index))
        elif kind == 8 and waiting:  # a stop moved (or a trailing stop's offset), maybe through the price
            order = waiting[a % len(waiting)]
            offset_sign = 1 if order.is_buy else -1
            if order.ord_type == o.PEGGED:
                send(c.AmendOrder(time_ms=time_ms, account=order.account, order_id=order.order_id,
                    peg_offset_value=offset_sign * (abs(b) % 20 + 1) * TICK))
            else:
                send(c.AmendOrder(time_ms=time_ms, account=order.account, order_id=order.order_id,
                    stop_px=max(TICK, mark + b * TICK)))
        elif kind == 9 and live:
            order = live[a % len(live)]
            send(c.CancelOrder(time_ms=time_ms, account=order.account, order_id=order.order_id))
        elif kind == 10:  # a dead man's switch: due at a later command (which may be rejected: undo)
            send(c.CancelAllAfter(time_ms=time_ms, account=trader, timeout_ms=1 + a % 2))
        elif kind == 11:  # a rejected command after the clock moved
            time_ms += 2
            send(c.Withdraw(time_ms=time_ms, account=trader, asset="XBt", amount=10**15))
    return out


def run(stream: list[Any], snapshot_at: int | None = None) -> tuple[list[Any], str]:
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    events: list[Any] = []
    for number, command in enumerate(stream):
        if number == snapshot_at:
            engine = Engine.from_snapshot(engine.snapshot())
        events.extend(engine.process(command))
    return events, engine.state_hash()


def fired(events: list[Any]) -> int:
    return sum(1 for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRIGGERED)


@interpreted_only
@settings(max_examples=150, deadline=None)
@given(STEPS, st.integers(0, 200))
def test_the_index_fires_what_the_reference_rule_fires(steps: list[tuple[int, int, int, int]], cut: int) -> None:
    stream = commands(steps)
    indexed = run(stream)
    restored = run(stream, snapshot_at=min(cut, len(stream)))  # the index rebuilt from a snapshot mid-stream
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Triggers, "run", reference_run)
        patch.setattr(Market, "note_print", raw_note_print)
        expected = run(stream)
    assert expected == indexed
    assert expected == restored


@interpreted_only
@pytest.mark.parametrize("seed", range(6))
def test_long_random_streams_fire_as_the_reference(seed: int) -> None:
    import random

    rng = random.Random(seed)
    steps = [(rng.randint(0, 11), rng.randint(0, 10**6), rng.randint(-40, 40), rng.randint(1, 12)) for _ in range(400)]
    stream = commands(steps)
    indexed = run(stream)
    restored = run(stream, snapshot_at=len(stream) // 2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Triggers, "run", reference_run)
        patch.setattr(Market, "note_print", raw_note_print)
        expected = run(stream)
    assert fired(expected[0]) > 10  # the comparison covers orders that fired
    assert expected == indexed
    assert expected == restored


def cascade(stops: int) -> tuple[Engine, c.PlaceOrder]:
    """find_3's book: ``stops`` last-price sell stops one tick apart over 1-lot bids, and the sell that starts it."""
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK, index_price=MARK))
    engine.process(c.VerifyAccount(time_ms=0, account=10**6))
    engine.process(c.Deposit(time_ms=0, account=10**6, asset="USDt", amount=10**15))
    for step in range(stops + 2):
        engine.process(c.PlaceOrder(time_ms=0, account=10**6, symbol="XBTUSDT", side="Buy", order_qty=1000,
                                    price=MARK - 50 * (step + 1)))
    for account in range(1, stops // 10 + 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="USDt", amount=10**12))
    for step in range(stops):
        engine.process(c.PlaceOrder(time_ms=0, account=step // 10 + 1, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                    ord_type="Stop", stop_px=MARK - 50 * (step + 1), exec_inst="LastPrice"))
    return engine, c.PlaceOrder(time_ms=0, account=stops // 10 + 2, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                price=MARK - 50)


@interpreted_only
def test_a_last_price_cascade_reads_each_stop_a_bounded_number_of_times() -> None:
    """find_3: 1,000 stops fire one per pass; the old rule read every stop's stopPx on every pass (~500,000 reads)."""
    reads = [0]

    class CountingOrder(Order):
        __slots__ = ()

        def __getattribute__(self, name: str) -> Any:
            if name == "stop_px":
                reads[0] += 1
            return object.__getattribute__(self, name)

    stops = 1_000
    engine, sell = cascade(stops)
    for order in engine.triggers.conditional["XBTUSDT"].values():
        order.__class__ = CountingOrder
    events = engine.process(sell)
    assert stops == fired(events)
    assert not engine.triggers.conditional["XBTUSDT"]
    assert reads[0] < 20 * stops


def test_a_cascade_fires_every_stop_in_order() -> None:
    """Each fired stop sells into the next bid: the stops fire nearest first, each trading at its own stop price."""
    engine, sell = cascade(50)
    events = engine.process(sell)
    triggered = [e for e in events if isinstance(e, Execution) and e.exec_type == o.EXEC_TRIGGERED]
    assert [e.order_id for e in triggered] == sorted(e.order_id for e in triggered)
    assert [e.stop_px for e in triggered] == [MARK - 50 * (step + 1) for step in range(50)]
    assert not engine.triggers.conditional["XBTUSDT"]


@interpreted_only
def test_a_failure_inside_a_cascade_leaves_an_index_that_fires_the_cascade_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fire that raises rolls the command back (Engine._restore); the same command then fires every stop."""
    engine, sell = cascade(30)
    twin, _ = cascade(30)
    original = OrderEntry._fire
    calls = [0]

    def failing(self: OrderEntry, inst: Instrument, order: Order) -> None:
        calls[0] += 1
        if calls[0] == 5:
            raise RuntimeError("injected")
        original(self, inst, order)

    with monkeypatch.context() as patch:
        patch.setattr(OrderEntry, "_fire", failing)
        failed = engine.process(sell)
    assert isinstance(failed[-1], Rejected)
    assert len(engine.triggers.conditional["XBTUSDT"]) == 30

    def executions(events: list[Any]) -> list[tuple[Any, ...]]:
        return [e[2:] for e in events if isinstance(e, Execution)]  # all but seq and time

    again = engine.process(sell)
    expected = twin.process(sell)
    assert fired(expected) == 30
    assert executions(expected) == executions(again)


def trailing_amended_to_the_same_stop() -> list[tuple[str, int]]:
    """A buy trailing stop whose offset is amended so that its stopPx stays: the new offset decides when it trails.

    Placed at mark 50,000 with offset +10 (stop 50,010); the mark rises to 50,005 (no trail); offset +5 keeps the
    stop at 50,010; the mark falls to 50,002.5 (the stop trails to 50,007.5), rises to 50,008: it fires.
    """
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    for command in setup():
        engine.process(command)
    events: list[Any] = []
    for command in (
        c.PlaceOrder(time_ms=1, account=2, symbol=SYMBOL, side="Buy", order_qty=LOT, ord_type="Pegged",
                     peg_price_type="TrailingStopPeg", peg_offset_value=20 * TICK),
        c.PriceUpdate(time_ms=2, symbol=SYMBOL, mark_price=MARK + 10 * TICK),
        c.AmendOrder(time_ms=3, account=2, order_id=1, peg_offset_value=10 * TICK),
        c.PriceUpdate(time_ms=4, symbol=SYMBOL, mark_price=MARK + 5 * TICK),
        c.PriceUpdate(time_ms=5, symbol=SYMBOL, mark_price=MARK + 16 * TICK),
    ):
        events.extend(engine.process(command))
    return [(e.exec_type, e.stop_px) for e in events if isinstance(e, Execution)]


def test_a_trailing_stop_amended_to_the_same_stop_price_trails_by_its_new_offset() -> None:
    assert trailing_amended_to_the_same_stop()[:3] == [
        ("New", MARK + 20 * TICK),
        ("Replaced", MARK + 20 * TICK),
        ("TriggeredOrActivatedBySystem", MARK + 15 * TICK),
    ]


@interpreted_only
@pytest.mark.parametrize("nested", [True, False])
def test_a_stop_placed_during_a_cascade_is_judged_as_the_reference_rule_judges_it(
    nested: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a path the engine has (a fire only takes orders out of the pool); the index reads the pool again if so.

    ``nested``: the placement runs the triggers itself (as PlaceOrder does); else the order only joins the pool.
    """

    def cascade_with_a_stop_placed_by_the_first_fire() -> tuple[list[Any], str]:
        engine, sell = cascade(30)
        original = OrderEntry._fire
        run_triggers = OrderEntry.run_triggers
        calls = [0]

        def placing(self: OrderEntry, inst: Instrument, order: Order) -> None:
            calls[0] += 1
            if calls[0] == 1:
                if not nested:
                    monkeypatch.setattr(OrderEntry, "run_triggers", lambda *_: None)
                self.place(c.PlaceOrder(time_ms=0, account=5, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                        ord_type="Stop", stop_px=MARK - 50 * 20, exec_inst="LastPrice"))
                monkeypatch.setattr(OrderEntry, "run_triggers", run_triggers)
            original(self, inst, order)

        with monkeypatch.context() as patch:
            patch.setattr(OrderEntry, "_fire", placing)
            events = engine.process(sell)
        return events, engine.state_hash()

    indexed = cascade_with_a_stop_placed_by_the_first_fire()
    with monkeypatch.context() as patch:
        patch.setattr(Triggers, "run", reference_run)
        patch.setattr(Market, "note_print", raw_note_print)
        expected = cascade_with_a_stop_placed_by_the_first_fire()
    assert fired(expected[0]) == 31
    assert expected == indexed


@pytest.mark.parametrize("engine_run", ["indexed", "reference"])
def test_an_order_replaced_in_place_by_a_copy_still_fires(engine_run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An undo that puts copies of the orders back into the same pool (same keys, same stop prices) changes nothing
    that fires: the index tells the copy from the order it indexed.  Since session 14 the index is kept in step by the
    pool's writers, so the copy enters as every writer enters an order, through ``Triggers.add``."""
    if engine_run == "reference":
        if COMPILED:
            pytest.skip("patches Triggers.run (a compiled class cannot be patched)")
        monkeypatch.setattr(Triggers, "run", reference_run)
    engine, _ = cascade(5)
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSDT", mark_price=MARK))  # the index holds the 5 stops
    pool = engine.triggers.conditional["XBTUSDT"]
    for key, order in list(pool.items()):
        engine.triggers.add(order.clone())
        engine.registry.live_orders[key] = pool[key]
        engine.ledger.accounts[order.account].orders[key] = pool[key]
    events = engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSDT", side="Sell", order_qty=1000,
                                         price=MARK - 50))
    assert fired(events) == 5
    assert not pool
