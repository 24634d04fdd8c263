"""A close-out in the book reads only the levels it can use (engine/core/closeout.py ``level_totals(..., enough)``).

``BookCloseOut.close_in_book`` hands LIQ-051 (``get_working_offers``) and INS-005
(``settle_close_out``) the book's levels best first, but only up to the first
level at which their whole lots cover the close-out: the rules read no further.
These tests build random books (live, cancelled, hidden, ReduceOnly orders,
odd quantities), random close-outs (size, take-over price, age, fund, fund
cover) and check that the rules' answer on that prefix is the answer on the
whole book, and that the prefix is what it says.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core.book import Book
from perpspec.engine.core.closeout import level_totals
from perpspec.engine.core.orders import Order
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import Fill as OfferFill
from perpspec.rules.insurance import settle_close_out
from perpspec.rules.liquidation_working import get_working_offers

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "XBTUSDT", "ETHUSD")}

order_rows = st.lists(
    st.tuples(
        st.integers(-40, 40),  # price offset in ticks from the centre
        st.integers(1, 30),  # lots
        st.integers(0, 7),  # odd contracts (not whole lots) when the lot is larger than one
        st.booleans(),  # hidden
        st.integers(0, 9),  # 0: ReduceOnly, 1: cancelled, else plain
    ),
    max_size=40,
)


def build_book(symbol: str, centre: int, rows: list[tuple[int, int, int, bool, int]], bid_side: bool) -> Book:
    inst = INSTRUMENTS[symbol]
    book = Book(symbol)
    for order_id, (offset, lots, odd, hidden, kind) in enumerate(rows, start=1):
        price = max(centre + offset * inst.tick_size, inst.tick_size)
        qty = lots * inst.lot_size + (odd % inst.lot_size if inst.lot_size > 1 else 0)
        order = Order(
            order_id=order_id, account=order_id, symbol=symbol, is_buy=bid_side, price=price, order_qty=qty,
            display_qty=0 if hidden else None, reduce_only=kind == 0,
        )
        book.add(order)
        if kind == 1:
            order.live = False  # cancelled: marked dead, still queued
    return book


def close_out(
    symbol: str, offers: list[tuple[int, int]], qty: int, takeover: int, age: int, mark: int, fund: int, cover: int
) -> object:
    inst = INSTRUMENTS[symbol]
    working = get_working_offers(inst, qty, takeover, age, mark, cover, [OfferFill(qty=q, price=p) for p, q in offers])
    return settle_close_out(inst, fund, qty, takeover, working)


@settings(max_examples=300, deadline=None)
@given(
    symbol=st.sampled_from(sorted(INSTRUMENTS)),
    rows=order_rows,
    lots=st.integers(1, 400),
    long_held=st.booleans(),
    takeover_ticks=st.integers(-60, 60),
    age=st.integers(0, 400),
    fund=st.integers(-10**6, 10**12),
    cover=st.integers(-10**9, 10**9),
    mark_base=st.sampled_from((100, 95, 105)),  # the mark at the centre, or where LIQ-051's 5% floor/ceiling is
    mark_ticks=st.integers(-60, 60),
)
def test_the_close_out_on_the_prefix_is_the_close_out_on_the_whole_book(
    symbol: str,
    rows: list[tuple[int, int, int, bool, int]],
    lots: int,
    long_held: bool,
    takeover_ticks: int,
    age: int,
    fund: int,
    cover: int,
    mark_base: int,
    mark_ticks: int,
) -> None:
    inst = INSTRUMENTS[symbol]
    centre = 40_000 * inst.tick_size * 10 if inst.tick_size < 100 else 400 * inst.tick_size
    qty = lots * inst.lot_size * (1 if long_held else -1)
    bid_side = qty > 0  # a taken-over long is closed by selling into the bids
    book = build_book(symbol, centre, rows, bid_side)
    takeover = max(centre + takeover_ticks * inst.tick_size, inst.tick_size)
    mark = centre * 100 // mark_base + mark_ticks * inst.tick_size
    whole = level_totals(book, bid_side)
    prefix = level_totals(book, bid_side, abs(qty), inst.lot_size)
    assert prefix == whole[: len(prefix)]
    held = sum(q // inst.lot_size * inst.lot_size for _, q in prefix)
    assert held >= abs(qty) or prefix == whole  # cut only once the close-out is covered ...
    assert sum(q // inst.lot_size * inst.lot_size for _, q in prefix[:-1]) < abs(qty) or not prefix  # ... and no later
    assert close_out(symbol, prefix, qty, takeover, age, mark, fund, cover) == close_out(
        symbol, whole, qty, takeover, age, mark, fund, cover
    )


def test_a_close_out_reads_only_as_many_levels_as_cover_it() -> None:
    inst = INSTRUMENTS["XBTUSD"]
    rows = [(-offset, 10, 0, False, 5) for offset in range(30)]  # 30 bid levels of 10 lots each
    book = build_book("XBTUSD", 400_000 * inst.tick_size, rows, bid_side=True)
    assert len(level_totals(book, True)) == 30
    assert len(level_totals(book, True, 25 * inst.lot_size, inst.lot_size)) == 3
    assert len(level_totals(book, True, 10 * inst.lot_size, inst.lot_size)) == 1
    assert len(level_totals(book, True, 1_000 * inst.lot_size, inst.lot_size)) == 30
