"""ORD-001 / ORD-030: a resting maker's traded value (avgPx) after a partial fill, displayed, iceberg and hidden.

Found by ``python -m tests.mutation engine/core/book.py`` (issue 13, session 8): the book adds each fill's
``qty × price`` to the maker's ``cum_value`` (BitMEX ``avgPx = cum_value / cum_qty``, shown in the order rows and
part of the engine's state), and no test read it for a maker that stays in the book.  ETHUSD (lot 1, tick 0.05)
at a mark of 3,000.00; the maker rests a sell, the taker buys part of it at 3,000.05, and the maker's open order
is read through ``Engine.live_orders``: its open and filled quantities, its shown slice and its traded value.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000  # 3,000.00
ASK = MARK + 5  # 3,000.05, one tick above the mark
WALLET = 10**10
MAKER, TAKER = 1, 2


def _engine() -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK))
    for account in (MAKER, TAKER):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=WALLET))
    return engine


def _place(engine: Engine, account: int, side: str, qty: int, price: int, display: int | None = None) -> list[Event]:
    events = engine.process(
        c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price,
                     display_qty=display)
    )
    assert not any(isinstance(e, Rejected) for e in events), events
    return events


def _maker_after(display: int | None, bought: int) -> tuple[int, int, int, int, int, list[tuple[int, int]]]:
    """The maker's sell of 10 at ASK after the taker bought ``bought``: (leaves, cum, shown, cum_value, avg, fills)."""
    engine = _engine()
    _place(engine, MAKER, "Sell", 10, ASK, display)
    maker_id = next(iter(engine.live_orders))
    events = _place(engine, TAKER, "Buy", bought, ASK)
    fills = [(e.last_qty, e.last_px) for e in events
             if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == MAKER]
    order = engine.live_orders[maker_id]
    return order.leaves_qty, order.cum_qty, order.shown_qty, order.cum_value, order.avg_px(), fills


def test_a_displayed_maker_partly_filled_keeps_its_traded_value() -> None:
    """ORD-001: 4 of a displayed 10 at 3,000.05: cum_value 4 × 300,005 = 1,200,020, avgPx 300,005."""
    assert _maker_after(None, 4) == (6, 4, 6, 1_200_020, ASK, [(4, ASK)])


def test_an_iceberg_whose_slice_is_used_up_keeps_its_traded_value() -> None:
    """ORD-030: an iceberg of 10 showing 3, bought 3 (the whole slice): refreshed to 3, cum_value 900,015."""
    assert _maker_after(3, 3) == (7, 3, 3, 900_015, ASK, [(3, ASK)])


def test_an_iceberg_traded_across_two_slices_keeps_its_traded_value() -> None:
    """ORD-030: an iceberg of 10 showing 3, bought 5: the slice of 3, then 2 of the refreshed slice."""
    assert _maker_after(3, 5) == (5, 5, 1, 1_500_025, ASK, [(3, ASK), (2, ASK)])


def test_a_hidden_maker_partly_filled_keeps_its_traded_value() -> None:
    """ORD-030 (displayQty 0, hidden): 4 of a hidden 10: cum_value 1,200,020, nothing shown."""
    assert _maker_after(0, 4) == (6, 4, 0, 1_200_020, ASK, [(4, ASK)])
