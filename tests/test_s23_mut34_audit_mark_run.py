"""mut34: a mark row ends the run a plain trade before it started (session 23; engine/audit/auditor.py on_mark's
``self.now.claim()``, c880d3b).

A FundingTick writes no plain trade, and a waterfall record follows the fills it explains: so a trade execution still
unclaimed at a mark row was a plain one, and the run starts at that row.  The mark row also notes that a PriceUpdate's
waterfall may be the run (``run_marked``: the holders at the end are then an honest reading of a tick posting nothing).
Without the claim at the mark row (a mutation round, session 23: no test failed), the plain trade is found unclaimed
only at the next waterfall record, and the restart there drops the mark row's note: an honest log without end rows
was reported (FND-008 for a holder the tick rightly found flat).

The scenario of tests/test_s22_audit_funding_trades.py's ``_update_works_a_held_close_out`` with a plain trade
closing 3 and 4's positions (opened at t=1) at t=5 before the PriceUpdate: the update's waterfall closes 1 against
2's held close-out, and the tick at t=5 finds everyone flat and pays nobody.
"""

from __future__ import annotations

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Transaction
from tests.audit_engine_log import EngineLog, Row, X, audit_both

P = 5_000_000  # 50,000.00


def _no_end_rows(rows: list[Row]) -> list[Row]:
    """The rows without the engine's end rows (a foreign log's shape: an instant ends when the timestamp changes)."""
    return [row for row in rows if row.get("table") != "command"]


def test_a_plain_trade_before_an_update_that_closes_a_pair_then_a_tick_audits_clean_without_end_rows() -> None:
    log = EngineLog()
    log.mark(0, P)
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    log.open(0, {1: 10**9, 2: 8_000, 3: 10**9, 4: 10**9}, {2: 10_000})
    log.order(1, 2, "Sell", 200, P)
    log.order(1, 1, "Buy", 200, P)
    log.order(1, 4, "Sell", 100, P)
    log.order(1, 3, "Buy", 100, P)
    log.mark(2, 5_060_000)  # 2 taken over, held
    assert [p.qty for p in log.engine.waterfall.pending] == [-200]
    log.order(4, 1, "Sell", 200, 5_060_000)
    log.order(5, 3, "Sell", 100, P)  # a plain trade at t=5: 3 and 4 close what they opened at t=1
    traded = log.order(5, 4, "Buy", 100, P)
    assert sorted((e.account, e.side) for e in traded if isinstance(e, Execution) and e.exec_type == "Trade") == [
        (3, "Sell"), (4, "Buy")
    ]
    worked = log.mark(5, 5_060_000)  # the update's waterfall: 1's offer takes the held close-out
    assert [(e.account, e.side) for e in worked if isinstance(e, Execution) and e.exec_type == "Trade"] == [(1, "Sell")]
    events = log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))
    assert not [e for e in events if isinstance(e, Transaction)]  # everyone flat: the tick pays nobody
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}
    assert audit_both(_no_end_rows(log.rows)) == {INVARIANTS: [], RULES: []}
