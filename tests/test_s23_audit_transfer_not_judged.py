"""MRG-063 beside a contract the log states no mark for is listed as not judged when it passes (session 23, aud24).

``check_transfer`` judges an addition to an isolated pool against the available balance with the unmarked positions
left out (the most it can be: b06757a).  A transfer within that figure passed in silence although it may pass only
because the position left out was not valued; INV-WITHDRAW-SAFE lists the same case as *not judged* (aud22).  Now
MRG-063 does too: no finding (exit 0), a note the verdict states.  With every contract marked, no note.
"""

from __future__ import annotations

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.simulation.eventlog import encode_json, iso_timestamp, price_num
from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS, MARKS, E, _audit
from tests.test_s23_mut34_audit_transfer_unmarked import _transfer_beside_unmarked


def test_an_honest_transfer_beside_an_unmarked_contract_is_listed_as_not_judged() -> None:
    rows = decode_rows(_transfer_beside_unmarked().lines)
    line = next(i for i, row in enumerate(rows, start=1) if row.get("transactType") == "TransferMargin")
    result = _audit(rows, RULES)
    assert result.findings == []
    assert [(n.id, n.line) for n in result.unjudged] == [("MRG-063", line)]
    assert "ETHUSD" in result.unjudged[0].message
    assert result.clean
    assert not result.complete
    assert _audit(rows, INVARIANTS).unjudged == []  # MRG-063 is a --rules check


def test_the_same_transfer_with_every_contract_marked_is_judged() -> None:
    rows = decode_rows(_transfer_beside_unmarked().lines)
    mark = {"table": "instrument", "timestamp": iso_timestamp(0), "symbol": E,
            "markPrice": price_num(INSTRUMENTS[E], MARKS[E])}
    first = next(i for i, row in enumerate(rows) if row.get("table") == "instrument")
    marked = [*rows[:first + 1], *decode_rows([encode_json(mark)]), *rows[first + 1:]]
    result = _audit(marked, RULES)
    assert (result.findings, result.unjudged) == ([], [])
    assert result.complete
