"""The simulator's impact prices read the book's first levels first (session 23, issue 14).

``engine/simulation/engine_port.py`` :func:`impact_prices` (the simulator's impact prices) asks the book for
``IMPACT_LEVELS`` levels a side and reads up to ``DEPTH_LEVELS`` only when a side too thin there may go deeper: its
answer must be ``compute_impact_prices`` over ``DEPTH_LEVELS`` levels, whatever the book.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.simulation import engine_port
from perpspec.engine.simulation.engine_port import DEPTH_LEVELS
from perpspec.rules.impact import BookSide, compute_impact_fill, compute_impact_prices
from perpspec.rules.instrument_file import load_instrument

LEVELS = st.integers(0, 3 * engine_port.IMPACT_LEVELS).flatmap(  # as many books deeper than IMPACT_LEVELS as not
    lambda count: st.lists(st.tuples(st.integers(1, 400), st.integers(1, 30)), min_size=count, max_size=count)
)


def _side(steps: list[tuple[int, int]], best: int, rising: bool) -> BookSide:
    """Levels best first: each ``step`` ticks further from ``best`` than the one before, ``lots`` lots."""
    levels = []
    price = best
    for step, lots in steps:
        levels.append((price, lots * 100))
        price = price + step * 50 if rising else price - step * 50
        if price <= 0:
            break
    return tuple(levels)


@settings(max_examples=300, deadline=None)
@given(LEVELS, LEVELS, st.integers(0, 3 * engine_port.IMPACT_LEVELS), st.integers(-2, 2), st.booleans())
def test_the_impact_prices_are_those_over_the_whole_depth(
    bid_steps: list[tuple[int, int]], ask_steps: list[tuple[int, int]], filled_by: int, beyond: int, by_bids: bool
) -> None:
    """Books thin and deep; the notional about what the first ``filled_by`` levels of one side hold (so that it is
    filled within, at or beyond IMPACT_LEVELS of it): the same prices as over DEPTH_LEVELS."""
    bids = _side(bid_steps, 7_000_000, rising=False)
    asks = _side(ask_steps, 7_000_050, rising=True)
    inst = load_instrument("XBTUSD")
    held = compute_impact_fill(inst, (bids if by_bids else asks)[:filled_by], 10**30).value
    inst = load_instrument("XBTUSD", {"impactNotional": str(max(held + beyond, 1))})
    asked: list[int] = []

    def depth(levels: int) -> tuple[BookSide, BookSide]:
        asked.append(levels)
        return bids[:levels], asks[:levels]

    assert engine_port.impact_prices(inst, depth) == compute_impact_prices(inst, bids[:DEPTH_LEVELS], asks[:DEPTH_LEVELS])
    assert asked[0] == engine_port.IMPACT_LEVELS


@pytest.mark.parametrize("thin_bids", [True, False])
def test_a_notional_the_first_levels_do_not_fill_is_read_deeper(thin_bids: bool) -> None:
    """One side 40 levels of one lot, the other one deep level; a notional one more than the first IMPACT_LEVELS of
    the thin side hold: the whole depth's prices, not the first levels' (none on that side: too thin)."""
    thin = [(1, 1)] * 40
    bids = _side(thin if thin_bids else [(1, 10_000)], 7_000_000, rising=False)
    asks = _side([(1, 10_000)] if thin_bids else thin, 7_000_050, rising=True)
    inst = load_instrument("XBTUSD")
    first = compute_impact_fill(inst, (bids if thin_bids else asks)[: engine_port.IMPACT_LEVELS], 10**30).value
    inst = load_instrument("XBTUSD", {"impactNotional": str(first + 1)})
    expected = compute_impact_prices(inst, bids, asks)
    assert expected.bid is not None
    assert expected.ask is not None
    assert engine_port.impact_prices(inst, lambda levels: (bids[:levels], asks[:levels])) == expected
