"""INV-NO-NEG-EQUITY-AFTER-ADL with a position the log states no mark for (session 22, aud22b; redteam33_3's shape).

``Auditor.check_equity`` (and ``touch``, which notes the line a finding blames) skipped a whole account, in every
currency and without a word, once any of its positions was in a contract the log had stated no mark for.  A venue that
never writes a mark row for one contract could crash another's mark, liquidate nobody, and leave the account below
zero: audited clean at both levels.  Now each currency is judged over the positions settled in it, and one without a
mark is bounded (``engine/audit/bounds.py``: over every mark >= 1 an inverse contract's value lies between its value at
1 and 0, a linear one's is bounded on one side): an equity below zero at every mark the venue may hold is reported, one
at or above zero at every mark passes, the rest is listed as not judged (a note: exit 0, ``complete`` false).
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, AuditResult, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.simulation.eventlog import encode_json, iso_timestamp, price_num
from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS, MARKS, E, Log, T, X

Row = dict[str, Any]
NEG = "INV-NO-NEG-EQUITY-AFTER-ADL"
CRASH = 3_000_000  # XBTUSD 30,000.00: 5's 10,000-contract long loses 0.1333 XBT, more than its 0.1 XBT wallet


def _holding(other: str, side: str) -> Log:
    """5 (0.1 XBT and 10**8 USDt units) buys 10,000 XBTUSD cross at 50,000 and, on ``side``, the smallest lot of
    ``other`` from 2; the log states marks for XBTUSD only (``other``'s is the engine's, not written)."""
    log = Log()
    for symbol in (X, other):
        log.run(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=MARKS[symbol], index_price=MARKS[symbol]),
                mark_row=symbol == X)
    for account, amount in ((2, 10**11), (5, 10**7)):
        log.run(c.VerifyAccount(time_ms=0, account=account))
        log.run(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        log.run(c.Deposit(time_ms=0, account=account, asset="USDt", amount=amount * 10))
    lot = INSTRUMENTS[other].lot_size
    for symbol, qty, buyer in ((X, 10_000, 5), (other, lot, 5 if side == "Buy" else 2)):
        seller = 2 if buyer == 5 else 5
        log.run(c.PlaceOrder(time_ms=1, account=seller, symbol=symbol, side="Sell", order_qty=qty, price=MARKS[symbol]))
        log.run(c.PlaceOrder(time_ms=1, account=buyer, symbol=symbol, side="Buy", order_qty=qty, price=MARKS[symbol]))
    return log


def _crashed(log: Log, *later: tuple[int, str, int]) -> list[Row]:
    """The venue's forgery: a mark row taking XBTUSD to 30,000 at t=3, and no liquidation (5 left below zero); then
    ``later`` mark rows (time, symbol, mark)."""
    marks = [{"table": "instrument", "timestamp": iso_timestamp(time), "symbol": symbol,
              "markPrice": price_num(INSTRUMENTS[symbol], mark)} for time, symbol, mark in ((3, X, CRASH), *later)]
    return decode_rows([*log.lines, *(encode_json(mark) for mark in marks)])


def _audit(rows: list[Row], level: str) -> AuditResult:
    result = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert result.error is None, result.error
    return result


def test_an_unmarked_contract_in_another_currency_hides_no_negative_equity() -> None:
    """5 also holds XBTUSDT (settled in USDt, no mark in the log): the crash leaving its XBt equity below zero,
    unliquidated, is reported at both levels (on 027d44e: clean, the account skipped)."""
    log = _holding(T, "Buy")
    forged = _crashed(log)
    for level in (INVARIANTS, RULES):
        result = _audit(forged, level)
        assert [(f.id, f.line) for f in result.findings] == [(NEG, len(forged))], result.findings
        assert "account 5 XBt" in result.findings[0].message
        assert int(result.findings[0].reported) < 0
        assert "without a mark" not in result.findings[0].message
        # 2's XBTUSDT short (USDt) has no mark: a linear short's loss has no bound, so 2's USDt equity is not known
        # (5's long is bounded below by its value at 1: its USDt equity is >= 0 at every mark)
        assert [n.message.split(":")[0] for n in result.unjudged] == ["account 2 USDt"]
        honest = _audit(decode_rows(log.lines), level)
        assert (honest.findings, honest.unjudged) == ([], []), level


def test_an_unmarked_short_in_the_same_currency_is_bounded_and_the_negative_equity_reported() -> None:
    """5 also holds a 1-lot ETHUSD short (settled in XBt, no mark in the log): a quanto short gains at most its entry
    value (its value at any mark >= 1 is at most its value at 1), so 5's XBt equity is below zero whatever ETHUSD's
    mark: reported, "at most" (on 027d44e: clean)."""
    forged = _crashed(_holding(E, "Sell"))
    for level in (INVARIANTS, RULES):
        result = _audit(forged, level)
        assert [(f.id, f.line) for f in result.findings] == [(NEG, len(forged))], result.findings
        assert "account 5 XBt" in result.findings[0].message
        assert "at most: ETHUSD without a mark" in result.findings[0].message
        assert result.unjudged == []


def test_an_unmarked_long_in_the_same_currency_is_listed_as_not_judged() -> None:
    """5 also holds a 1-lot ETHUSD long (no mark in the log): a quanto long's gain has no bound, so 5's XBt equity after
    the crash cannot be decided: no finding, but listed as not judged, once (on 027d44e: clean and complete).  A later
    mark row for ETHUSD makes it judged again, and the equity below zero is then reported."""
    log = _holding(E, "Buy")
    forged = _crashed(log)
    for level in (INVARIANTS, RULES):
        result = _audit(forged, level)
        assert result.findings == []
        assert not result.complete
        # and 2's (its ETHUSD short's loss has no bound: its 1,000 XBT cannot be said to cover it)
        assert [(n.id, n.line, n.message.split(":")[0]) for n in result.unjudged] == [
            (NEG, len(forged), "account 2 XBt"), (NEG, len(forged), "account 5 XBt")]
        assert "ETHUSD" in result.unjudged[1].message
        later = _crashed(log, (4, X, CRASH - 100), (5, E, MARKS[E]))
        result = _audit(later, level)
        assert len(result.unjudged) == 2  # not listed again at the second XBTUSD move
        assert [(f.id, f.line) for f in result.findings] == [(NEG, len(later))], result.findings


def test_the_line_blamed_is_the_first_posting_found_below_zero_despite_an_unmarked_contract_elsewhere() -> None:
    """``touch`` notes the line where a posting found the account's equity below zero (the line a finding blames);
    it too skipped an account holding any unmarked contract, so the blame fell on the account's last posting of the
    instant.  5 holds XBTUSDT (USDt, no mark); the crash's mark row, then two 1-satoshi XBt deposits at the same
    millisecond, end rows dropped (one instant): the first deposit is blamed (with touch skipping: the second)."""
    log = _holding(T, "Buy")
    start = len(log.lines)
    for _ in range(2):
        log.run(c.Deposit(time_ms=3, account=5, asset="XBt", amount=1))
    crash = encode_json({"table": "instrument", "timestamp": iso_timestamp(3), "symbol": X,
                         "markPrice": price_num(INSTRUMENTS[X], CRASH)})
    rows = [row for row in decode_rows([*log.lines[:start], crash, *log.lines[start:]]) if row.get("table") != "command"]
    deposits = [i + 1 for i, row in enumerate(rows) if row.get("transactType") == "Deposit" and row["timestamp"] == rows[-1]["timestamp"]]
    assert len(deposits) == 2
    for level in (INVARIANTS, RULES):
        result = _audit(rows, level)
        assert [(f.id, f.line) for f in result.findings] == [(NEG, deposits[0])], result.findings
