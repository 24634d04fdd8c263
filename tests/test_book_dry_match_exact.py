"""ORD FillOrKill: ``Book.dry_match`` on a fixed book, every guard answer the fill guards give, exact results.

A FillOrKill is decided by ``Book.dry_match`` with the sweep's own guard (LIQ-044 / LIQ-052 grant a maker all,
part or nothing of a fill, or halt the sweep).  tests/test_book_dry_match.py compares it with ``Book.match`` on
random books; the mutation run of session 5 (issue 13) found edges the random books did not reach: a limit
exactly at a level's price, guards granting odd amounts (1, 150 of a 200-lot iceberg slice), a maker granted
nothing (no zero-quantity fill may be recorded), and a halt (the quantity left, encoded ``-1 - left``).  Here the
book is fixed (displayed, iceberg, hidden and own orders on three levels, both sides) and every answer is pinned:
the quantity left and the would-be fills, which must also be what ``Book.match`` then does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.book import Fill
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.orders import Order

MARK = 5_000_000
TICK = 50
TAKER = 1
# (account, ticks away from the mark, orderQty, displayQty): order ids 1..7 in this order
RESTING = (
    (2, 0, 300, None),  # 1: displayed
    (3, 0, 500, 200),  # 2: iceberg, slices 200, 200, 100
    (2, 0, 200, 0),  # 3: hidden
    (TAKER, 1, 100, None),  # 4: the taker's own order, skipped
    (3, 1, 400, None),  # 5
    (2, 1, 200, 0),  # 6: hidden
    (2, 2, 300, 0),  # 7: hidden
)

Guard = Callable[[Order, int], int] | None


def _grant(most: int) -> Guard:
    return lambda maker, wanted: min(wanted, most)


def _refuse(account: int) -> Guard:
    return lambda maker, wanted: 0 if maker.account == account else wanted


def _halt(order_id: int) -> Guard:
    return lambda maker, wanted: -1 if maker.order_id == order_id else wanted


GUARDS: dict[str, Guard] = {
    "None": None,
    "grant(1)": _grant(1),
    "grant(150)": _grant(150),
    "refuse(2)": _refuse(2),
    "halt(5)": _halt(5),
    "halt(3)": _halt(3),
}

# (taker buys, guard, limit in ticks from the mark, qty, dry_match's answer, fills as (order id, qty, ticks))
CASES = [
    (True, 'None', 0, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'None', 0, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'None', 0, 5000, 4000, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'None', 1, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'None', 1, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'None', 1, 5000, 3400, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0), (5, 400, 1), (6, 200, 1)]),
    (True, 'None', 2, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'None', 2, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'None', 2, 5000, 3100, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0), (5, 400, 1), (6, 200, 1), (7, 300, 2)]),
    (True, 'grant(1)', 0, 350, 347, [(1, 1, 0), (2, 1, 0), (3, 1, 0)]),
    (True, 'grant(1)', 0, 1000, 997, [(1, 1, 0), (2, 1, 0), (3, 1, 0)]),
    (True, 'grant(1)', 0, 5000, 4997, [(1, 1, 0), (2, 1, 0), (3, 1, 0)]),
    (True, 'grant(1)', 1, 350, 345, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1)]),
    (True, 'grant(1)', 1, 1000, 995, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1)]),
    (True, 'grant(1)', 1, 5000, 4995, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1)]),
    (True, 'grant(1)', 2, 350, 344, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1), (7, 1, 2)]),
    (True, 'grant(1)', 2, 1000, 994, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1), (7, 1, 2)]),
    (True, 'grant(1)', 2, 5000, 4994, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1), (7, 1, 2)]),
    (True, 'grant(150)', 0, 350, 0, [(1, 150, 0), (2, 150, 0), (3, 50, 0)]),
    (True, 'grant(150)', 0, 1000, 550, [(1, 150, 0), (2, 150, 0), (3, 150, 0)]),
    (True, 'grant(150)', 0, 5000, 4550, [(1, 150, 0), (2, 150, 0), (3, 150, 0)]),
    (True, 'grant(150)', 1, 350, 0, [(1, 150, 0), (2, 150, 0), (3, 50, 0)]),
    (True, 'grant(150)', 1, 1000, 250, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1)]),
    (True, 'grant(150)', 1, 5000, 4250, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1)]),
    (True, 'grant(150)', 2, 350, 0, [(1, 150, 0), (2, 150, 0), (3, 50, 0)]),
    (True, 'grant(150)', 2, 1000, 100, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1), (7, 150, 2)]),
    (True, 'grant(150)', 2, 5000, 4100, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1), (7, 150, 2)]),
    (True, 'refuse(2)', 0, 350, 0, [(2, 200, 0), (2, 150, 0)]),
    (True, 'refuse(2)', 0, 1000, 500, [(2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (True, 'refuse(2)', 0, 5000, 4500, [(2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (True, 'refuse(2)', 1, 350, 0, [(2, 200, 0), (2, 150, 0)]),
    (True, 'refuse(2)', 1, 1000, 100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (True, 'refuse(2)', 1, 5000, 4100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (True, 'refuse(2)', 2, 350, 0, [(2, 200, 0), (2, 150, 0)]),
    (True, 'refuse(2)', 2, 1000, 100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (True, 'refuse(2)', 2, 5000, 4100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (True, 'halt(5)', 0, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'halt(5)', 0, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'halt(5)', 0, 5000, 4000, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'halt(5)', 1, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'halt(5)', 1, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'halt(5)', 1, 5000, -4001, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'halt(5)', 2, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'halt(5)', 2, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'halt(5)', 2, 5000, -4001, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (True, 'halt(3)', 0, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'halt(3)', 0, 1000, -201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (True, 'halt(3)', 0, 5000, -4201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (True, 'halt(3)', 1, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'halt(3)', 1, 1000, -201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (True, 'halt(3)', 1, 5000, -4201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (True, 'halt(3)', 2, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (True, 'halt(3)', 2, 1000, -201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (True, 'halt(3)', 2, 5000, -4201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'None', 0, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'None', 0, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'None', 0, 5000, 4000, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'None', 1, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'None', 1, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'None', 1, 5000, 3400, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0), (5, 400, 1), (6, 200, 1)]),
    (False, 'None', 2, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'None', 2, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'None', 2, 5000, 3100, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0), (5, 400, 1), (6, 200, 1), (7, 300, 2)]),
    (False, 'grant(1)', 0, 350, 347, [(1, 1, 0), (2, 1, 0), (3, 1, 0)]),
    (False, 'grant(1)', 0, 1000, 997, [(1, 1, 0), (2, 1, 0), (3, 1, 0)]),
    (False, 'grant(1)', 0, 5000, 4997, [(1, 1, 0), (2, 1, 0), (3, 1, 0)]),
    (False, 'grant(1)', 1, 350, 345, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1)]),
    (False, 'grant(1)', 1, 1000, 995, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1)]),
    (False, 'grant(1)', 1, 5000, 4995, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1)]),
    (False, 'grant(1)', 2, 350, 344, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1), (7, 1, 2)]),
    (False, 'grant(1)', 2, 1000, 994, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1), (7, 1, 2)]),
    (False, 'grant(1)', 2, 5000, 4994, [(1, 1, 0), (2, 1, 0), (3, 1, 0), (5, 1, 1), (6, 1, 1), (7, 1, 2)]),
    (False, 'grant(150)', 0, 350, 0, [(1, 150, 0), (2, 150, 0), (3, 50, 0)]),
    (False, 'grant(150)', 0, 1000, 550, [(1, 150, 0), (2, 150, 0), (3, 150, 0)]),
    (False, 'grant(150)', 0, 5000, 4550, [(1, 150, 0), (2, 150, 0), (3, 150, 0)]),
    (False, 'grant(150)', 1, 350, 0, [(1, 150, 0), (2, 150, 0), (3, 50, 0)]),
    (False, 'grant(150)', 1, 1000, 250, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1)]),
    (False, 'grant(150)', 1, 5000, 4250, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1)]),
    (False, 'grant(150)', 2, 350, 0, [(1, 150, 0), (2, 150, 0), (3, 50, 0)]),
    (False, 'grant(150)', 2, 1000, 100, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1), (7, 150, 2)]),
    (False, 'grant(150)', 2, 5000, 4100, [(1, 150, 0), (2, 150, 0), (3, 150, 0), (5, 150, 1), (6, 150, 1), (7, 150, 2)]),
    (False, 'refuse(2)', 0, 350, 0, [(2, 200, 0), (2, 150, 0)]),
    (False, 'refuse(2)', 0, 1000, 500, [(2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'refuse(2)', 0, 5000, 4500, [(2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'refuse(2)', 1, 350, 0, [(2, 200, 0), (2, 150, 0)]),
    (False, 'refuse(2)', 1, 1000, 100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (False, 'refuse(2)', 1, 5000, 4100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (False, 'refuse(2)', 2, 350, 0, [(2, 200, 0), (2, 150, 0)]),
    (False, 'refuse(2)', 2, 1000, 100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (False, 'refuse(2)', 2, 5000, 4100, [(2, 200, 0), (2, 200, 0), (2, 100, 0), (5, 400, 1)]),
    (False, 'halt(5)', 0, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'halt(5)', 0, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'halt(5)', 0, 5000, 4000, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'halt(5)', 1, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'halt(5)', 1, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'halt(5)', 1, 5000, -4001, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'halt(5)', 2, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'halt(5)', 2, 1000, 0, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'halt(5)', 2, 5000, -4001, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0), (3, 200, 0)]),
    (False, 'halt(3)', 0, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'halt(3)', 0, 1000, -201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'halt(3)', 0, 5000, -4201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'halt(3)', 1, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'halt(3)', 1, 1000, -201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'halt(3)', 1, 5000, -4201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'halt(3)', 2, 350, 0, [(1, 300, 0), (2, 50, 0)]),
    (False, 'halt(3)', 2, 1000, -201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
    (False, 'halt(3)', 2, 5000, -4201, [(1, 300, 0), (2, 200, 0), (2, 200, 0), (2, 100, 0)]),
]


def _engine(taker_buys: bool) -> Engine:
    engine = Engine()
    for account in (1, 2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK))
    sign = 1 if taker_buys else -1
    for account, ticks, qty, display in RESTING:
        events = engine.process(
            c.PlaceOrder(
                time_ms=0, account=account, symbol="XBTUSD", side="Sell" if taker_buys else "Buy",
                order_qty=qty, price=MARK + sign * ticks * TICK, display_qty=display,
            )
        )
        assert isinstance(events[-1], Accepted)
    return engine


ENGINES = {True: _engine(True), False: _engine(False)}


def _seen(fills: list[Fill]) -> list[tuple[int, int, int]]:
    return [(maker.order_id, qty, abs(price - MARK) // TICK) for maker, qty, price in fills]


@pytest.mark.parametrize(("taker_buys", "guard", "ticks", "qty", "left", "expected"), CASES)
def test_dry_match_answers_exactly_and_as_match_then_does(
    taker_buys: bool, guard: str, ticks: int, qty: int, left: int, expected: list[tuple[int, int, int]]
) -> None:
    engine = ENGINES[taker_buys]
    book = engine.market.books["XBTUSD"]
    limit = MARK + (ticks if taker_buys else -ticks) * TICK
    before = engine.state_hash()
    dry: list[Fill] = []
    assert book.dry_match(taker_buys, limit, qty, TAKER, dry, GUARDS[guard]) == left
    assert _seen(dry) == expected
    assert engine.state_hash() == before  # a dry run changes nothing
    trial = copy.deepcopy(book)
    real: list[Fill] = []
    dropped: list[Order] = []
    real_left = trial.match(taker_buys, limit, qty, TAKER, real, dropped, GUARDS[guard])
    assert real_left == (left if left >= 0 else -1 - left)  # match reports a halt's leftover as it is
    assert _seen(real) == expected
