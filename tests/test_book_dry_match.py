"""ORD FillOrKill: ``Book.dry_match`` answers exactly what ``Book.match`` then does, and changes nothing.

A FillOrKill is decided by a dry run of the sweep with the sweep's own guard (LIQ-044/LIQ-052 cancel unsafe
makers, so counting resting quantity is not enough: tests/test_attack_fill_or_kill_partial.py).  The dry run
must mirror matching exactly, icebergs (a new slice at the back of the level), hidden quantity and own orders
(skipped) included; this compares the two on random books.
"""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core.book import Fill
from perpspec.engine.core.exchange import Engine

MARK = 5_000_000
ACCOUNTS = (1, 2, 3)

resting = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.integers(min_value=0, max_value=4),  # ticks above the mark
        st.integers(min_value=1, max_value=30),  # lots of 100
        st.sampled_from([None, 0, 100, 300]),  # displayQty (0: hidden)
    ),
    min_size=1,
    max_size=12,
)


def _engine(orders: list[tuple[int, int, int, int | None]]) -> Engine:
    engine = Engine()
    for account in ACCOUNTS:
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    for account, ticks, lots, display in orders:
        engine.process(
            c.PlaceOrder(
                time_ms=0, account=account, symbol="XBTUSD", side="Sell", order_qty=lots * 100,
                price=MARK + ticks * 50, display_qty=display,
            )
        )
    return engine


def _granting(limit_per_maker: int):  # type: ignore[no-untyped-def]
    """A deterministic guard: every maker may trade at most ``limit_per_maker`` per call."""

    def guard(maker: object, wanted: int) -> int:
        return min(wanted, limit_per_maker)

    return guard


@given(resting, st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=4), st.sampled_from([None, 200, 10**9]))
def test_dry_match_leaves_and_fills_equal_match(
    orders: list[tuple[int, int, int, int | None]], lots: int, ticks: int, grant: int | None
) -> None:
    engine = _engine(orders)
    book = engine.market.books["XBTUSD"]
    before = engine.state_hash()
    guard = None if grant is None else _granting(grant)
    dry: list[Fill] = []
    left = book.dry_match(True, MARK + ticks * 50, lots * 100, 1, dry, guard)
    assert engine.state_hash() == before
    trial = copy.deepcopy(book)
    real: list[Fill] = []
    dropped: list[object] = []
    real_left = trial.match(True, MARK + ticks * 50, lots * 100, 1, real, dropped, guard)  # type: ignore[arg-type]
    assert left == real_left
    assert [(m.order_id, q, p) for m, q, p in dry] == [(m.order_id, q, p) for m, q, p in real]
