"""ADL-031 / ADL-032 at their boundaries (helper mut17, session 17; mutants of session 16's changed lines).

* A close-out kept with a fund cover of exactly 0 is kept by ADL-031 (the fund still covers), not ADL-032 (the mark
  has not reached the bankruptcy price): the ``AdlDeferred`` record names ADL-031, in the rules model
  (``rules.waterfall_closeout.close_out``) and in the engine (``Waterfall._close_pending``).  The mutants
  ``cover > 0`` / ``cover >= 1`` labelled it ADL-032.
* ``is_adl_due`` of a held quantity of 0 is False at any mark: nothing held is neither a held long nor a held short
  (the mutants ``held_qty >= 0``, ``held_qty <= 0`` and ``held_qty < 1`` made it due).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.rules.adl import compute_held_pnl, is_adl_due
from perpspec.rules.events import AdlDeferred, Liquidation
from perpspec.rules.waterfall import Book, get_fund_cover
from tests.test_adl_fund_cover_boundary import ETHUSD
from tests.test_engine_liquidation import open_long, setup
from tests.test_waterfall_edges_closeout import _held, _run, _with_eligible_short


def test_adl_031_a_cover_of_exactly_zero_is_labelled_adl_031_in_the_rules_model() -> None:
    ledger, item = _held("ETHUSD", 5, 300_000, 300_000, fund=0, holdings=_with_eligible_short())
    assert get_fund_cover(ledger, "XBt") == 0
    _, rest, events = _run(ledger, item, Book())
    assert rest == 5
    [deferred] = events
    assert isinstance(deferred, AdlDeferred)
    assert (deferred.rule_id, deferred.fund_cover, deferred.unfilled_qty) == ("ADL-031", 0, 5)


def test_adl_031_a_cover_of_exactly_zero_is_labelled_adl_031_by_the_engine() -> None:
    engine = setup(3 * 10**8)
    open_long(engine, 25_000)
    events = engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000))
    [liquidation] = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    [taken] = liquidation.taken
    fund = engine.insurance_funds["XBt"]
    mark = taken.takeover_price - fund // 25_000
    assert fund + compute_held_pnl(ETHUSD, taken.qty, taken.takeover_price, mark) == 0
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=mark, index_price=mark))
    deferred = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, AdlDeferred)]
    assert [(d.rule_id, d.fund_cover) for d in deferred] == [("ADL-031", 0)]


@pytest.mark.parametrize("mark", [299_999, 300_000, 300_001])
def test_adl_032_nothing_held_is_never_due(mark: int) -> None:
    assert not is_adl_due(0, 300_000, mark, -1)
    assert is_adl_due(1, 300_000, 299_999, -1)
    assert is_adl_due(-1, 300_000, 300_001, -1)
