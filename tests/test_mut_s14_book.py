"""Session 13's book code measured by mutants (session 14, helper "mut14").

Found by ``python -m tests.mutation engine/core/book.py`` on the lines session 13 changed: ``Book.shows_at_least``
(the fat-finger band's size test, walking the best level only until the size is reached), the level compaction
of ``Book.remove`` and the dry run of ``Book._dry_level``.

Rules: price protection (reference §8: a limit order beyond the 5% band may be no larger than the best opposite
level's displayed size).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")  # quanto, tick 5 price units, lot 1
TRADER, MAKER = 1, 2


def _engine() -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=50_000, index_price=50_000))
    for account in (TRADER, MAKER):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    return engine


def _place(engine: Engine, account: int, side: str, qty: int, price: int) -> list[Event]:
    return engine.process(c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty,
                                       price=price))


def _rejected_by_band(events: list[Event]) -> bool:
    return isinstance(events[-1], Rejected) and events[-1].reason == Reason.FAT_FINGER


def test_a_best_level_showing_one_contract_bounds_the_size_beyond_the_band() -> None:
    """Kills ``if shown > 0`` -> ``if shown > 1`` in ``Book.shows_at_least`` (engine/core/book.py).

    The best ask shows a single contract and a deeper ask shows 100: a buy of 2 far beyond the band is larger than
    the best ask's displayed size and is refused (FAT_FINGER); a buy of 1 is not.  The mutant took a best level
    showing exactly one contract for an empty one and judged the order against the next level's 100 (and the sell
    side mirrored)."""
    buy = _engine()
    assert not any(isinstance(e, Rejected) for e in _place(buy, MAKER, "Sell", 1, 50_100))
    assert not any(isinstance(e, Rejected) for e in _place(buy, MAKER, "Sell", 100, 50_200))
    assert _rejected_by_band(_place(buy, TRADER, "Buy", 2, 60_000))
    sell = _engine()
    assert not any(isinstance(e, Rejected) for e in _place(sell, MAKER, "Buy", 1, 49_900))
    assert not any(isinstance(e, Rejected) for e in _place(sell, MAKER, "Buy", 100, 49_800))
    assert _rejected_by_band(_place(sell, TRADER, "Sell", 2, 40_000))
    assert not any(isinstance(e, Rejected) for e in _place(sell, TRADER, "Sell", 1, 40_000))


def test_a_level_is_compacted_exactly_when_its_dead_entries_outnumber_its_live_orders() -> None:
    """Kills ``len(level.shown) + len(level.hidden) > 2 * live`` -> ``>=`` and ``2 * live`` -> ``2 // live`` in
    ``Book.remove`` (engine/core/book.py).

    A cancel only marks its entry dead; the level is compacted once its dead entries outnumber its live orders
    (a compaction drops more entries than it keeps: amortised O(1) per cancel, the bound the module docstring
    states).  Ten orders at one price cancelled newest first: the queue keeps its ten entries until the sixth
    cancel (6 dead > 4 live), then its four live ones until the ninth (3 dead > 1 live).  ``2 // live`` compacted
    at every cancel (a level of N orders cancelled one by one cost N**2); ``>=`` compacted at 5 dead = 5 live."""
    engine = _engine()
    ids = []
    for _ in range(10):
        events = _place(engine, MAKER, "Sell", 1, 50_100)
        assert not any(isinstance(e, Rejected) for e in events)
        ids.append(events[-1].order_id)
    level = engine.books["ETHUSD"].asks[50_100]
    held = []
    for order_id in reversed(ids[1:]):
        events = engine.process(c.CancelOrder(time_ms=0, account=MAKER, order_id=order_id))
        assert not any(isinstance(e, Rejected) for e in events)
        held.append(len(level.shown) + len(level.hidden))
    assert held == [10, 10, 10, 10, 10, 4, 4, 4, 1]
    assert [order.order_id for order in level.shown] == ids[:1]
