"""mut34: INV-WITHDRAW-SAFE beside an unmarked contract at the edge (session 23; engine/audit/auditor.py, b06757a).

A withdrawal leaving "available − unrealised profit" (the positions the log states no mark for left out) exactly 0
is within the figure: no finding, and, the unmarked position's margin unknown, a check not judged.  A mutation round
(``free >= 0`` to ``free > 0``) found the edge untested: the note went missing and no test failed.

The scenario of tests/test_s22_audit_withdraw_unmarked.py (redteam33_3): 5 holds 10,000 XBTUSD cross and the smallest
lot of ETHUSD, whose mark the log never states; the engine lets it withdraw its available balance, which leaves 6,230
XBt of that figure (the ETHUSD margin the auditor cannot see); the venue pays out exactly 6,230 more.
"""

from __future__ import annotations

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.audit.faults import decode_rows
from tests.test_s22_audit_withdraw_unmarked import E, _audit, _paying_out, _withdraws


def test_a_payout_to_exactly_0_beside_an_unmarked_contract_is_no_finding_but_not_judged() -> None:
    log, _ = _withdraws(E)
    honest = decode_rows(log.lines)
    for level in (INVARIANTS, RULES):
        result = _audit(honest, level)
        assert [n.reported for n in result.unjudged] == ["6230"], result.unjudged  # the figure the payout may reach
        edge = _audit(_paying_out(honest, 6_230), level)
        assert edge.findings == []
        assert [(n.id, n.reported) for n in edge.unjudged] == [("INV-WITHDRAW-SAFE", "0")], edge.unjudged
        beyond = _audit(_paying_out(honest, 6_231), level)
        assert [(f.id, f.reported) for f in beyond.findings] == [("INV-WITHDRAW-SAFE", "-1")], beyond.findings
        assert beyond.unjudged == []
