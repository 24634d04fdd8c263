"""LIQ-034's carry in the audit ends at a funding instant too (helper mut18, session 17; a hand mutant of session 16's
``Auditor.is_update``).

A ``waterfall_carried`` row exempts the pools it names from INV-NO-NEG-EQUITY-AFTER-ADL until the next update: a
waterfall record, a mark row that moves a mark or states one at a new timestamp, *or a funding payment* (the engine's
waterfall runs after funding and sees the pools due).  perpspec's funding instant holds no mark row (its payments and
the FundingTick's command row), so only the payments make it an update.  Here account 1's ETHUSD long is crashed below
zero and carried; the next instant pays funding and liquidates nobody: account 1 is judged there.  The mutant
``Auditor.is_update`` without the funding term kept the exemption through it.
"""

from __future__ import annotations

from typing import Any

from tests.test_audit_s17 import NEG, _audit, _cancelled, _carry, _crash

Row = dict[str, Any]


def _funding(command: Row, k: int, amount: int) -> list[Row]:
    """A funding instant ``k`` ms after the crash: account 1 pays ``amount`` to account 2, no mark row."""
    ts = command["timestamp"][:-5] + f"{1 + k:03d}Z"
    seq = command.get("seq", 0) + 10 * k
    pay = {"table": "transaction", "timestamp": ts, "transactType": "Funding", "currency": "XBt", "symbol": "ETHUSD",
           "text": "rate_e8=10000"}
    return [
        {**pay, "seq": seq, "account": 1, "amount": -amount},
        {**pay, "seq": seq + 1, "account": 2, "amount": amount},
        {"table": "command", "event": "Accepted", "seq": seq + 2, "timestamp": ts, "command": "FundingTick",
         "account": -1, "orderID": 0},
    ]


def test_liq_034_a_carried_pool_is_judged_at_the_next_funding_instant() -> None:
    before, mark, command, instruments = _crash()
    crash = [mark, _cancelled(command, 2), _carry(command, max_liquidations=1), command]
    assert _audit([*before, *crash], instruments) == []  # the carry is accepted: account 1 waits
    log = [*before, *crash, *_funding(command, 1, 675_000)]
    found = _audit(log, instruments)
    assert [line for rule, line in found if rule == NEG] == [len(before) + len(crash) + 1], found
