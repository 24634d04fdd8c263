"""INV-NO-FALSE-LIQUIDATION's "judged at another mark" on a log without end rows (session 23, aud23).

``Auditor.on_mark`` reports a waterfall record of the instant judged at a mark other than the one a later mark row of
the instant states.  With end rows (perpspec's command rows) an instant is one command, and a command that liquidated
at one mark and states another is false.  Without them an instant is a timestamp: ``perpspec simulate funding_spiral``
with its command rows dropped gave 9 such findings on an honest log (a funding tick's waterfall at the old mark, then a
PriceUpdate and its mark row at the same millisecond).  Now, without end rows, a record judged at the mark the log had
stated in force when it came is in line with the log's order (the mark moved after it); one judged at a mark the log
had not stated is listed as not judged; with end rows the check is as before.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, AuditResult, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.simulation.eventlog import encode_json, iso_timestamp, price_num
from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS, MARKS, Log, X

Row = dict[str, Any]
FALSE = "INV-NO-FALSE-LIQUIDATION"
LIQUIDATES = 3_340_000  # XBTUSD 33,400.00: 5's 10,000-contract long (0.1 XBT) below maintenance, above bankruptcy
LATER = 3_300_000  # the same millisecond's second mark


def _log(first_row: bool) -> list[Row]:
    """5 (0.1 XBT) buys 10,000 XBTUSD cross at 50,000 from 2; at t=2 a PriceUpdate to 33,400 liquidates it (its mark
    row written when ``first_row``), then a second PriceUpdate, to 33,000, with its mark row, at the same t=2."""
    log = Log()
    log.run(c.PriceUpdate(time_ms=0, symbol=X, mark_price=MARKS[X], index_price=MARKS[X]))
    for account, amount in ((2, 10**11), (5, 10**7)):
        log.run(c.VerifyAccount(time_ms=0, account=account))
        log.run(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    log.run(c.PlaceOrder(time_ms=1, account=2, symbol=X, side="Sell", order_qty=10_000, price=MARKS[X]))
    log.run(c.PlaceOrder(time_ms=1, account=5, symbol=X, side="Buy", order_qty=10_000, price=MARKS[X]))
    log.run(c.PriceUpdate(time_ms=2, symbol=X, mark_price=LIQUIDATES, index_price=LIQUIDATES), mark_row=first_row)
    log.run(c.PriceUpdate(time_ms=2, symbol=X, mark_price=LATER, index_price=LATER))
    return decode_rows(log.lines)


def _no_end_rows(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.get("table") != "command"]


def _audit(rows: list[Row], level: str) -> AuditResult:
    result = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert result.error is None, result.error
    return result


def _liquidation_line(rows: list[Row]) -> int:
    [index] = [i for i, row in enumerate(rows) if row.get("kind") == "Liquidation"]
    return index + 1


def test_a_liquidation_at_the_stated_mark_then_a_later_mark_row_is_not_false_without_end_rows() -> None:
    """Both PriceUpdates write their mark row: without end rows the liquidation (at 33,400, the mark the log stated
    just before it) and the 33,000 row share the instant; the log's order says the mark moved after it (on main:
    reported, as funding_spiral's 9)."""
    rows = _log(first_row=True)
    assert {row["positions"][0]["mark_price"] for row in rows if row.get("kind") == "Liquidation"} == {LIQUIDATES}
    for level in (INVARIANTS, RULES):
        for log in (rows, _no_end_rows(rows)):
            result = _audit(log, level)
            assert (result.findings, result.unjudged) == ([], []), (level, len(log), result.findings)
    assert _audit(_no_end_rows(rows), INVARIANTS).instants < _audit(rows, INVARIANTS).instants


def test_a_liquidation_at_a_mark_never_stated_then_another_mark_row_is_not_judged_without_end_rows() -> None:
    """The first PriceUpdate writes no mark row (as perpspec's mid-step ones): the liquidation states 33,400, which no
    row stated, and a row then states 33,000 at the same millisecond.  With end rows they are two commands: clean.
    Without, the log cannot tell one command from two: listed as not judged, once, blaming the liquidation's line, no
    finding (on main: reported)."""
    rows = _log(first_row=False)
    for level in (INVARIANTS, RULES):
        result = _audit(rows, level)
        assert (result.findings, result.unjudged) == ([], []), (level, result.findings)
        stripped = _no_end_rows(rows)
        result = _audit(stripped, level)
        assert result.findings == [], (level, result.findings)
        assert [(n.id, n.line, n.reported) for n in result.unjudged] == [
            (FALSE, _liquidation_line(stripped), str(LIQUIDATES))]
        assert not result.complete


def test_with_end_rows_a_command_liquidating_at_one_mark_and_stating_another_is_still_reported() -> None:
    """A forged mark row inside the liquidating command (before its end row), stating 33,000: one command, two marks,
    reported at the liquidation's line, as before the change."""
    rows = _log(first_row=True)
    line = _liquidation_line(rows)
    end = next(i for i in range(line, len(rows)) if rows[i].get("table") == "command")
    forged_mark = decode_rows([encode_json({"table": "instrument", "timestamp": iso_timestamp(2), "symbol": X,
                                            "markPrice": price_num(INSTRUMENTS[X], LATER)})])
    forged = [*rows[:end], *forged_mark, *rows[end:]]
    result = _audit(forged, INVARIANTS)
    assert (FALSE, line) in [(f.id, f.line) for f in result.findings], result.findings
