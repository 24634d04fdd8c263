"""Hypothesis strategies for other engines' tests: a stable API (needs ``hypothesis``, the ``test`` extra).

Instruments, positions, order streams, price paths and crash paths, in
perpspec's integer units, to drive a venue's engine in its own stateful
tests while :func:`perpspec.engine.audit.plugin.assert_invariants` checks
perpspec's invariants after every step::

    from hypothesis import given
    from perpspec.engine.audit import strategies as ps

    @given(ps.instruments().flatmap(lambda inst: ps.order_streams(inst, accounts=4)))
    def test_my_engine(stream): ...

Names and signatures here change only with a deprecation; tests/strategies.py
(perpspec's own, free to change) may use them too.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.num import PPM
from perpspec.rules.position import Position, apply_fill

PERPETUALS = ("XBTUSD", "ETHUSD", "XBTUSDT")  # shipped perpetuals: inverse, quanto, linear
TYPICAL_PRICE = {"XBTUSD": 50_000, "ETHUSD": 3_000, "XBTUSDT": 50_000}  # quote units, where paths start


def instruments() -> st.SearchStrategy[Instrument]:
    """One of the shipped perpetuals (inverse XBTUSD, quanto ETHUSD, linear XBTUSDT)."""
    shipped = load_builtin_instruments()
    return st.sampled_from(tuple(shipped[symbol] for symbol in PERPETUALS))


def prices(inst: Instrument, low_ticks: int = 1, high_ticks: int | None = None) -> st.SearchStrategy[int]:
    """A valid price: a whole number of ticks, at most ``maxPrice`` (price units)."""
    top = inst.max_price // inst.tick_size if high_ticks is None else high_ticks
    return st.integers(min_value=low_ticks, max_value=top).map(lambda ticks: ticks * inst.tick_size)


def typical_price(inst: Instrument) -> int:
    """A realistic price level of ``inst`` in price units (a whole number of ticks)."""
    level = TYPICAL_PRICE.get(inst.symbol, 50_000) * inst.price_scale
    return level // inst.tick_size * inst.tick_size


def lots(inst: Instrument, max_lots: int = 1_000) -> st.SearchStrategy[int]:
    """A positive quantity in whole lots (contracts)."""
    return st.integers(min_value=1, max_value=max_lots).map(lambda count: count * inst.lot_size)


@st.composite
def positions(draw: st.DrawFn, inst: Instrument, max_fills: int = 4) -> Position:
    """A position built as an engine builds one: fills at valid prices near the typical level (ACC-003)."""
    position = Position()
    level = typical_price(inst) // inst.tick_size
    for _ in range(draw(st.integers(min_value=0, max_value=max_fills))):
        qty = draw(lots(inst, 100)) * draw(st.sampled_from((1, -1)))
        price = draw(prices(inst, level // 2, level * 2))
        position, _ = apply_fill(inst, position, qty, price)
    return position


@attrs.frozen(kw_only=True)
class OrderIntent:
    """One order of a stream: who, which side, how much, at what limit (price units; 0 = market)."""

    account: int
    side: str  # "Buy" | "Sell"
    qty: int  # contracts, whole lots
    price: int


@st.composite
def order_streams(
    draw: st.DrawFn, inst: Instrument, accounts: int = 4, max_orders: int = 30, spread_ticks: int = 50
) -> list[OrderIntent]:
    """Orders of ``accounts`` accounts (ids 1…N) around the typical price: limits within ``spread_ticks``, some market."""
    level = typical_price(inst)
    intents = []
    for _ in range(draw(st.integers(min_value=1, max_value=max_orders))):
        offset = draw(st.integers(min_value=-spread_ticks, max_value=spread_ticks)) * inst.tick_size
        market = draw(st.integers(min_value=0, max_value=4)) == 0
        intents.append(
            OrderIntent(
                account=draw(st.integers(min_value=1, max_value=accounts)),
                side=draw(st.sampled_from(("Buy", "Sell"))),
                qty=draw(lots(inst, 50)),
                price=0 if market else level + offset,
            )
        )
    return intents


@st.composite
def price_paths(
    draw: st.DrawFn, inst: Instrument, steps: int = 30, max_move_ppm: int = 20_000, start: int | None = None
) -> list[int]:
    """Mark prices step by step: each move at most ``max_move_ppm`` of the price, on ticks, within [tick, maxPrice]."""
    price = typical_price(inst) if start is None else start
    path = [price]
    for _ in range(steps):
        move_ppm = draw(st.integers(min_value=-max_move_ppm, max_value=max_move_ppm))
        moved = price + price * move_ppm // PPM  # floor: a path, not money
        price = min(max(moved // inst.tick_size * inst.tick_size, inst.tick_size), inst.max_price)
        path.append(price)
    return path


@st.composite
def crash_paths(
    draw: st.DrawFn, inst: Instrument, steps: int = 30, start: int | None = None
) -> list[int]:
    """A crash: a fall of 10%–60% over a few steps, a floor, then a partial rebound (where liquidations and ADL happen)."""
    price = typical_price(inst) if start is None else start
    fall_ppm = draw(st.integers(min_value=100_000, max_value=600_000))
    fall_steps = draw(st.integers(min_value=1, max_value=max(steps // 2, 1)))
    rebound_ppm = draw(st.integers(min_value=0, max_value=fall_ppm // 2))
    bottom = price - price * fall_ppm // PPM
    path = [price]
    for step in range(1, steps + 1):
        if step <= fall_steps:
            level = price - (price - bottom) * step // fall_steps
        else:
            level = bottom + bottom * rebound_ppm * (step - fall_steps) // (steps - fall_steps) // PPM
        path.append(min(max(level // inst.tick_size * inst.tick_size, inst.tick_size), inst.max_price))
    return path
