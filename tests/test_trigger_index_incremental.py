"""The stop index is kept in step with the pool by the pool's writers: a run no longer reads the whole pool.

Session 13's ``StopIndex.sync`` compared the pool with what the index saw last (every order by identity, every
stopPx, every trailing stop's offset) at the start of every run, and ``settle`` copied them all again after every
run that fired or trailed anything.  So with N resting stops every trade and every price update cost O(N): an
account (or ten, :data:`engine.core.entry.MAX_OPEN_STOPS` apiece) parking stops far from the price made every
other command on the contract slow.  Now the writers keep the index in step (``Triggers.add`` for an order placed or
put back by a timer undo, ``Triggers.reindex`` for one amended, ``Triggers.remove`` for one cancelled), a run reads
only what it fires and trails, and the stale entries those changes leave behind are swept by a rebuild once they
outnumber the pool (so a rebuild costs what the changes that made it due cost).

Cost is counted, not timed: reads of ``stop_px`` and ``peg_offset`` through an order class that counts them.  The
twin: random streams (every conditional type, trailing stops, amendments, cancels, dead man's switches and their
undo, snapshots) fire what the pre-index rule (``reference_run``) fires, event for event and state hash for state
hash, and after every command the index holds exactly one live entry per pooled order, at its stopPx.
"""

from __future__ import annotations

import re
from pathlib import Path
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import orders as o
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order
from perpspec.engine.core.triggers import StopIndex, Triggers
from perpspec.rules.instrument_file import load_instrument
from tests.test_trigger_index import (
    MARK,
    STEPS,
    SYMBOL,
    TICK,
    commands,
    fired,
    interpreted_only,
    reference_run,
)

READS = {"stop_px": 0, "peg_offset": 0}


class CountingOrder(Order):
    """An order that counts the reads of its stop price and peg offset."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name in READS:
            READS[name] += 1
        return object.__getattribute__(self, name)


def reads() -> int:
    return READS["stop_px"] + READS["peg_offset"]


def counted(engine: Engine, command: Any) -> int:
    """The stopPx and peg offset reads ``command`` costs (every pooled order counts its reads)."""
    for order in engine.triggers.conditional[SYMBOL].values():
        order.__class__ = CountingOrder
    READS["stop_px"] = READS["peg_offset"] = 0
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), events[-1]
    return reads()


def parked(stops: int) -> Engine:
    """``stops`` conditional orders of every kind far from the price (10 per account), a maker on each side."""
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    p = engine.process
    p(c.PriceUpdate(time_ms=0, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    for account in range(1, stops // 10 + 3):
        p(c.VerifyAccount(time_ms=0, account=account))
        p(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    p(c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Sell", order_qty=100, price=MARK))
    p(c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Buy", order_qty=100, price=MARK))  # a last price
    p(c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Buy", order_qty=10**5, price=MARK - 100 * TICK))
    p(c.PlaceOrder(time_ms=0, account=1, symbol=SYMBOL, side="Sell", order_qty=10**5, price=MARK + 100 * TICK))
    for number in range(stops):
        account = number // 10 + 3
        side = "Buy" if number % 2 else "Sell"
        sign = 1 if side == "Buy" else -1
        far = MARK + sign * (1_000 + number) * TICK  # a stop: above the price to buy, below to sell
        kind = number % 4
        if kind == 3:  # a trailing stop far behind the price
            command = c.PlaceOrder(time_ms=0, account=account, symbol=SYMBOL, side=side, order_qty=100,
                                   ord_type="Pegged", peg_price_type="TrailingStopPeg",
                                   peg_offset_value=sign * (1_000 + number) * TICK, exec_inst="LastPrice")
        else:
            command = c.PlaceOrder(time_ms=0, account=account, symbol=SYMBOL, side=side, order_qty=100,
                                   ord_type="Stop", stop_px=far, exec_inst=("", "LastPrice", "IndexPrice")[kind])
        assert isinstance(p(command)[-1], Accepted)
    return engine


@interpreted_only
@pytest.mark.parametrize("stops", [400, 1_600])
def test_a_price_update_with_nothing_due_reads_no_parked_stop(stops: int) -> None:
    """It was every stop, twice (the identity scan and the stopPx list): >= 2 x ``stops`` reads."""
    engine = parked(stops)
    engine.process(c.PriceUpdate(time_ms=1, symbol=SYMBOL, mark_price=MARK + TICK, index_price=MARK))  # built
    assert counted(engine, c.PriceUpdate(time_ms=2, symbol=SYMBOL, mark_price=MARK + 2 * TICK, index_price=MARK)) <= 8
    assert counted(engine, c.PlaceOrder(time_ms=3, account=2, symbol=SYMBOL, side="Buy", order_qty=100)) <= 8


@interpreted_only
def test_a_stop_that_fires_among_many_parked_ones_costs_what_it_fires() -> None:
    """A run that fired or trailed anything re-read the whole pool at its end (``settle``)."""
    costs = []
    for stops in (400, 1_600):
        engine = parked(stops)
        engine.process(c.PlaceOrder(time_ms=0, account=2, symbol=SYMBOL, side="Sell", order_qty=100,
                                    ord_type="Stop", stop_px=MARK - TICK))
        engine.process(c.PriceUpdate(time_ms=1, symbol=SYMBOL, mark_price=MARK, index_price=MARK))  # built
        costs.append(counted(engine, c.PriceUpdate(time_ms=2, symbol=SYMBOL, mark_price=MARK - TICK)))
        assert not any(order.stop_px == MARK - TICK for order in engine.triggers.conditional[SYMBOL].values())
    assert costs[1] <= costs[0] + 8  # four times the stops, the same cost (it was >= 2 x stops)


@interpreted_only
def test_amend_and_cancel_churn_costs_a_bounded_number_of_reads_each() -> None:
    """Every amendment or cancel made the next run rebuild the index (every stop read); now the rebuild comes once
    the stale entries outnumber the pool, so a change costs O(1) reads amortised."""
    engine = parked(800)
    engine.process(c.PriceUpdate(time_ms=1, symbol=SYMBOL, mark_price=MARK + TICK, index_price=MARK))  # built
    pool = engine.triggers.conditional[SYMBOL]
    for order in pool.values():
        order.__class__ = CountingOrder
    fixed = sorted(key for key, order in pool.items() if order.ord_type == o.STOP)
    trailing = sorted(key for key, order in pool.items() if order.ord_type == o.PEGGED)
    rng = Random(7)
    READS["stop_px"] = READS["peg_offset"] = 0
    changes = 2_000
    for step in range(changes):
        order = pool[rng.choice(fixed if step % 3 else trailing)]
        sign = 1 if order.is_buy else -1
        if order.ord_type == o.PEGGED:
            amend = c.AmendOrder(time_ms=2, account=order.account, order_id=order.order_id,
                                 peg_offset_value=order.peg_offset + sign * TICK)
        else:
            amend = c.AmendOrder(time_ms=2, account=order.account, order_id=order.order_id,
                                 stop_px=order.stop_px + sign * TICK)
        assert isinstance(engine.process(amend)[-1], Accepted)
    assert reads() < 40 * changes  # it was >= 2 x 800 per amendment (the next run's rebuild)


def live_entries(index: StopIndex) -> dict[int, int]:
    """The live entries of ``index``: order id -> the stopPx it stands for (None for an ``odd`` one)."""
    live: dict[int, int] = {}
    for number, heap in enumerate(index.stop_heaps):
        for key, order_id, token, order in heap:
            if index.tokens.get(order_id) == token:
                assert order_id not in live
                assert index.pool.get(order_id) is order
                assert (key > 0) == (number % 2 == 1)  # a rising heap keyed by stopPx, a falling one by -stopPx
                live[order_id] = abs(key)
    buckets = {id(index.owner[order_id]): index.owner[order_id] for order_id in index.owner}
    for bucket in buckets.values():
        assert bucket.token != -1
        sign = -1 if bucket.group & 1 else 1
        for distance, order_id, token, order in bucket.stops:
            if index.owner.get(order_id) is bucket and index.tokens.get(order_id) == token:
                assert order_id not in live
                assert index.pool.get(order_id) is order
                live[order_id] = sign * (bucket.level - distance)
    return live


def assert_in_step(engine: Engine) -> None:
    """Outside a run the index of the pool holds one live entry per pooled order, at its stopPx; none for others."""
    pool = engine.triggers.conditional[SYMBOL]
    index = engine.triggers.by_stop.get(SYMBOL)
    if index is None or index.pool is not pool or not index.synced:
        return  # the next run builds it afresh
    live = live_entries(index)
    for order_id, order in index.odd.items():
        if pool.get(order_id) is order:
            live[order_id] = order.stop_px
    assert set(live) == set(pool)
    assert {key: order.stop_px for key, order in pool.items()} == live
    assert set(index.tokens) <= set(pool)


def run_checked(stream: list[Any], snapshot_at: int | None = None) -> tuple[list[Any], str]:
    engine = Engine({SYMBOL: load_instrument(SYMBOL)})
    events: list[Any] = []
    for number, command in enumerate(stream):
        if number == snapshot_at:
            engine = Engine.from_snapshot(engine.snapshot())
        events.extend(engine.process(command))
        assert_in_step(engine)
    return events, engine.state_hash()


def reference(stream: list[Any]) -> tuple[list[Any], str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Triggers, "run", reference_run)
        engine = Engine({SYMBOL: load_instrument(SYMBOL)})
        events: list[Any] = []
        for command in stream:
            events.extend(engine.process(command))
        return events, engine.state_hash()


@interpreted_only
@settings(max_examples=120, deadline=None)
@given(STEPS, st.integers(0, 200))
def test_the_kept_index_fires_what_the_reference_rule_fires_and_stays_in_step(
    steps: list[tuple[int, int, int, int]], cut: int
) -> None:
    stream = commands(steps)
    expected = reference(stream)
    assert expected == run_checked(stream)
    assert expected == run_checked(stream, snapshot_at=min(cut, len(stream)))


@interpreted_only
@pytest.mark.parametrize("seed", range(4))
def test_long_churning_streams_fire_as_the_reference(seed: int) -> None:
    """Long streams weighted to amendments, cancels and dead man's switches: the changes the index must follow."""
    rng = Random(1_000 + seed)
    kinds = (0, 1, 2, 3, 3, 5, 6, 7, 7, 8, 8, 8, 9, 9, 10, 11)
    steps = [(rng.choice(kinds), rng.randint(0, 10**6), rng.randint(-40, 40), rng.randint(1, 12)) for _ in range(500)]
    stream = commands(steps)
    expected = reference(stream)
    assert fired(expected[0]) > 10
    assert expected == run_checked(stream)


def test_an_index_holding_many_stale_entries_is_rebuilt_small() -> None:
    """Changes leave stale entries behind; the run after they outnumber the pool rebuilds the index."""
    engine = parked(40)
    engine.process(c.PriceUpdate(time_ms=1, symbol=SYMBOL, mark_price=MARK + TICK, index_price=MARK))
    pool = engine.triggers.conditional[SYMBOL]
    index = engine.triggers.by_stop[SYMBOL]
    order = next(order for order in pool.values() if order.ord_type == o.STOP and not order.is_buy)
    most = 0
    for step in range(500):
        engine.process(c.AmendOrder(time_ms=2, account=order.account, order_id=order.order_id,
                                    stop_px=order.stop_px - (1 if step % 2 else -1) * TICK))
        most = max(most, index.entries)
    assert index is engine.triggers.by_stop[SYMBOL]
    assert most <= 2 * len(pool) + 64 + 1  # SLACK_ENTRIES; +1: the amendment before the run that rebuilds



def test_only_the_triggers_write_the_untriggered_pools() -> None:
    """The index is in step only if every writer goes through ``Triggers``: no other engine module stores into, or
    deletes from, a contract's pool."""
    engine_dir = Path(__file__).resolve().parent.parent / "engine"
    write = re.compile(r"conditional(\[[^\]]+\]|\.get\([^)]*\))?\[[^\]]+\]\s*=[^=]|del\s+\S*conditional|conditional\S*\.(pop|clear|update|setdefault)\(")
    offenders = [
        f"{path.relative_to(engine_dir)}:{number}"
        for path in sorted(engine_dir.rglob("*.py"))
        if path.name != "triggers.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if write.search(line)
    ]
    assert offenders == []
