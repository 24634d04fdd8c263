"""The simulator's reading of INV-TRIGGERS-DUE-FIRED reports the due order of a group whose far order is not due
(session 15, helper "mut15").

``engine/simulation/checks.py`` ``deciding_orders`` lists, per trigger group (source, LastWithinMark, side, type),
only the group's nearest order when it is not due (ORD-015 is monotone in stopPx within a group), else the whole
group.  Its Hypothesis comparison with the whole pool (tests/test_triggers_due_fired.py) let three mutants through:
the nearest taken as the farthest (``min``/``max`` swapped), and a group key without LastWithinMark or without the
order type (two directions, or two bands, in one group).  Each hides a due order behind one that is not due; the
cases are written out here, each checked against the whole pool's answer and for the due order's report.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import orders as o
from perpspec.rules.invariants import StepInfo
from perpspec.rules.invariants_trading import check_triggers_due_fired_of
from perpspec.rules.triggers import TriggerPrices
from tests.test_triggers_due_fired import _pool, _PoolView

CASES = {
    # two buy stops (rising): the one at 950 is due at 1,000, the one at 1,050 is not
    "rising-nearest-due": ([(o.STOP, True, o.MARK_PRICE, False, 950, 1), (o.STOP, True, o.MARK_PRICE, False, 1_050, 1)],
                           (1_000, 0, 0), 1),
    # two sell stops (falling): the one at 1,050 is due at 1,000, the one at 950 is not
    "falling-nearest-due": ([(o.STOP, False, o.MARK_PRICE, False, 950, 1),
                             (o.STOP, False, o.MARK_PRICE, False, 1_050, 1)], (1_000, 0, 0), 2),
    # ORD-014: last 1,000 is 16.7% from the mark 1,200: the LastWithinMark buy stop at 950 is not due, the plain
    # one at 990 is
    "band-apart": ([(o.STOP, True, o.LAST_PRICE, True, 950, 1), (o.STOP, True, o.LAST_PRICE, False, 990, 1)],
                   (1_200, 1_000, 0), 2),
    # a buy stop at 1,005 (due at or above) is not due at 1,000; a buy MarketIfTouched at 1,010 (at or below) is
    "types-apart": ([(o.STOP, True, o.MARK_PRICE, False, 1_005, 1),
                     (o.MARKET_IF_TOUCHED, True, o.MARK_PRICE, False, 1_010, 1)], (1_000, 0, 0), 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_inv_triggers_due_fired_the_simulators_reading_reports_the_due_order(case: str) -> None:
    specs, (mark, last, index), due = CASES[case]
    pool = _pool(specs)
    read = TriggerPrices(mark_price=mark, last_price=last, index_price=index)
    whole = check_triggers_due_fired_of(_PoolView(pool, read, False), StepInfo(), ["X"])  # type: ignore[arg-type]
    deciding = check_triggers_due_fired_of(_PoolView(pool, read, True), StepInfo(), ["X"])  # type: ignore[arg-type]
    assert len(whole) == 1
    assert f" {due} (stopPx " in whole[0]
    assert deciding == whole
