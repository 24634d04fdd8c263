"""Attack review of ``perpspec audit``: a venue that pays out more than an account holds must not audit clean.

Found by the session-5 integrity review: a ``tiny_crash`` event log with one planted
``Withdrawal`` that took a flat account 1 XBT below zero (and the venue's margin rows
written to match) audited CLEAN at both levels.  Conservation still balances (the
net deposits fell by what was paid out), and no per-instant check looked at a flat
account outside a waterfall.  The auditor now checks, at every withdrawal, the part
of INV-WITHDRAW-SAFE that needs no venue margin rules: the account's equity at mark
in the withdrawn asset stays ≥ 0 (available − unrealised profit ≥ 0 implies it).  Since session 21 it calls the
registry's check itself over the least margin the log allows (tests/test_s21_audit_withdraw_safe.py, redteam31_2):
for this flat account the figure is the same.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.rules.instrument_file import load_instrument

TIME = "2020-03-12T00:00:00.000Z"


def _log(withdrawn: int) -> list[dict[str, Any]]:
    """Account 7 deposits 1,000,000 XBt, then withdraws ``withdrawn`` (two commands)."""
    return [
        {"table": "transaction", "seq": 1, "timestamp": TIME, "transactType": "Deposit", "account": 7,
         "currency": "XBt", "amount": 1_000_000, "symbol": "", "text": ""},
        {"table": "command", "event": "Accepted", "seq": 2, "timestamp": TIME, "command": "Deposit", "account": 7,
         "orderID": 0},
        {"table": "transaction", "seq": 3, "timestamp": TIME, "transactType": "Withdrawal", "account": 7,
         "currency": "XBt", "amount": -withdrawn, "symbol": "", "text": ""},
        {"table": "command", "event": "Accepted", "seq": 4, "timestamp": TIME, "command": "Withdraw", "account": 7,
         "orderID": 0},
    ]


def _audit(withdrawn: int, level: str) -> Any:
    instruments = {"XBTUSD": load_instrument("XBTUSD")}
    return audit_rows(enumerate(_log(withdrawn), 1), load_mapping("perpspec"), instruments, level)


def test_a_withdrawal_of_the_whole_wallet_audits_clean() -> None:
    assert _audit(1_000_000, INVARIANTS).clean
    assert _audit(1_000_000, RULES).clean


def test_a_withdrawal_beyond_the_wallet_of_a_flat_account_is_a_finding_at_both_levels() -> None:
    for level in (INVARIANTS, RULES):
        result = _audit(1_000_001, level)
        assert result.error is None
        assert result.counts == {"INV-WITHDRAW-SAFE": 1}
        finding = result.first["INV-WITHDRAW-SAFE"]
        assert (finding.line, finding.seq, finding.expected, finding.reported) == (3, 3, ">= 0", "-1")
