"""LIQ-050's age in the rules model's waterfall (helper mut18, session 17; a hand mutant of session 16's line in
``rules.waterfall.process_waterfall``).

``process_waterfall`` ages every held close-out with ``compute_next_age`` at the mark of its contract: one more while
the mark is at or beyond its take-over price T, back to 0 while it is in profit at mark (review16_1).  The engine's
waterfall was pinned (tests/test_s16_closeout_held_profit.py), the rules model was not: giving ``compute_next_age`` T
as the mark (the close-out "always reached", i.e. ageing in profit as before session 17) passed every test.  Here a
held long in profit at mark waits twelve waterfalls, then the mark reaches T: the first limit is one step past the
anchor, so a bid 1% below T is not taken (with the twelve waterfalls counted it was, the fund paying the difference).
"""

from __future__ import annotations

import attrs

from perpspec.rules.adl import RankedQueuePolicy
from perpspec.rules.events import LiquidationFill
from perpspec.rules.waterfall import Book, BookLevel, process_waterfall
from tests.test_waterfall_edges_closeout import XBT, _held

T = 5_000_000  # 50,000.00: the held long's take-over (bankruptcy) price


def test_liq_050_the_rules_model_does_not_age_a_close_out_in_profit_so_its_first_step_is_one() -> None:
    ledger, _ = _held("XBTUSD", 100, T, 5_100_000, fund=10 * XBT)  # the mark 2% above T: in profit at mark
    empty = {"XBTUSD": Book(), "ETHUSD": Book()}
    for _ in range(12):
        result = process_waterfall(ledger, empty, RankedQueuePolicy())
        assert not [e for e in result.events if isinstance(e, LiquidationFill)]
        ledger = result.ledger
        [held] = ledger.pending
        assert (held.qty, held.age) == (100, 0)
    ledger = attrs.evolve(ledger, marks={**ledger.marks, "XBTUSD": T})  # the mark reaches T
    bid = BookLevel(price=4_950_000, qty=100, maker_account_id=2)  # 1% below T, within the 5% band
    result = process_waterfall(ledger, {"XBTUSD": Book(bids=(bid,)), "ETHUSD": Book()}, RankedQueuePolicy())
    assert [e for e in result.events if isinstance(e, LiquidationFill)] == []  # one step: 49,750.00
    [held] = result.ledger.pending
    assert (held.qty, held.age) == (100, 1)
    assert result.ledger.insurance("XBt") == 10 * XBT
    assert result.books["XBTUSD"].bids == (bid,)
