"""INV-WITHDRAW-SAFE with a position the log states no mark for (session 22, aud22; redteam33_3).

The auditor's INV-WITHDRAW-SAFE (the registry's ``check_withdraw_safe`` over the least margin the log allows) returned
early for the whole account whenever any of its positions, in any currency, was in a contract the log had stated no
mark for.  One contract in an unmarked instrument (or in a USDt contract, for an XBt withdrawal) switched the check
off, and a venue could pay out an account's whole wallet, the margin of its cross position included, audited clean at
both levels (/work/coord/repro22/redteam33_3.py).

Now only the positions settled in the withdrawn currency enter the figure (as MRG-050's).  One of those without a mark
cannot be valued, but a position only lowers "available − unrealised profit" (a cross one by its margin and its loss,
an isolated one by its margin), so the figure without it is the most it can be: a withdrawal beyond that is reported
for sure; one within it is listed as *not judged* (a note the verdict states, not a finding: an honest engine's log
can need one, and it exits 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, AuditResult, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.audit.report import format_text, to_json
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num
from perpspec.engine.simulation.result import Tally
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from tests.test_audit_plugin import run_pytest

Row = dict[str, Any]
X, E, T = "XBTUSD", "ETHUSD", "XBTUSDT"
INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in (X, E, T)}
MARKS = {X: 5_000_000, E: 300_000, T: 50_000_00}  # each in its instrument's price units


class Log:
    """Commands through a fresh engine, written as simulate writes them (a mark row per PriceUpdate the venue
    states); every command accepted, the registry's invariants holding."""

    def __init__(self) -> None:
        self.engine = Engine(INSTRUMENTS)
        self.engine.track_steps = True
        self.tally, self.pending, self.lines = Tally(), {}, []  # type: ignore[var-annotated]

    def run(self, command: Any, mark_row: bool = True) -> None:
        events = list(self.engine.process(command))
        assert isinstance(events[-1], Accepted), (command, events[-1])
        found = {k: v for k, v in check_all(self.engine, self.engine.step_info(events)).items() if v}
        assert not found, found
        if isinstance(command, c.PriceUpdate) and mark_row and command.mark_price is not None:
            inst = INSTRUMENTS[command.symbol]
            self.lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms),
                                           "symbol": command.symbol, "markPrice": price_num(inst, command.mark_price)}))
        for event in events:
            inst = INSTRUMENTS.get(getattr(event, "symbol", X) or X, INSTRUMENTS[X])
            self.lines += [encode_json(row) for row in event_records(inst, event, self.tally, self.pending)]


def _audit(rows: list[Row], level: str) -> AuditResult:
    result = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert result.error is None, result.error
    return result


def _withdraws(other: str) -> tuple[Log, int]:
    """redteam33_3: marks stated for XBTUSD only (``other``'s mark is the engine's, not in the log); 5 (0.1 XBT, and
    100 USDt for a USDt contract) buys 10,000 XBTUSD cross at 50,000 and the smallest lot of ``other`` from 2, then
    withdraws what the engine allows (MRG-064).  Returns the log and the wallet the withdrawal left (all of it margin
    in use)."""
    log = Log()
    for symbol in (X, other):
        log.run(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=MARKS[symbol], index_price=MARKS[symbol]),
                mark_row=symbol == X)
    for account, amount in ((2, 10**11), (5, 10**7)):
        log.run(c.VerifyAccount(time_ms=0, account=account))
        log.run(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        log.run(c.Deposit(time_ms=0, account=account, asset="USDt", amount=amount * 10))
    lot = INSTRUMENTS[other].lot_size
    for symbol, qty in ((X, 10_000), (other, lot)):
        log.run(c.PlaceOrder(time_ms=1, account=2, symbol=symbol, side="Sell", order_qty=qty, price=MARKS[symbol]))
        log.run(c.PlaceOrder(time_ms=1, account=5, symbol=symbol, side="Buy", order_qty=qty, price=MARKS[symbol]))
    free = log.engine.available(5, "XBt")
    log.run(c.Withdraw(time_ms=2, account=5, asset="XBt", amount=free))
    return log, log.engine.accounts[5].wallet("XBt")


def _paying_out(rows: list[Row], more: int) -> list[Row]:
    """The venue's forgery: the withdrawal ``more`` larger, its own wallet rows left out."""
    out = [{**row, "amount": row["amount"] - more} if row.get("transactType") == "Withdrawal" else row for row in rows]
    return [row for row in out if row.get("table") != "wallet"]


def test_a_payout_of_cross_margin_beside_an_unmarked_contract_in_its_currency_is_reported() -> None:
    """redteam33_3: ETHUSD (settled in XBt) has no mark in the log; paying out 5's whole wallet (221,380 of cross
    margin more than the engine allows) is reported at both levels, as it is without the ETHUSD contract (on e8165b1:
    clean).  The ETHUSD position, which the auditor cannot value, is left out: the figure is the most it can be."""
    log, left = _withdraws(E)
    assert left == 221_380
    forged = _paying_out(decode_rows(log.lines), left)
    line = next(i for i, row in enumerate(forged, start=1) if row.get("transactType") == "Withdrawal")
    for level in (INVARIANTS, RULES):
        result = _audit(forged, level)
        assert [(f.id, f.line, f.reported) for f in result.findings] == [("INV-WITHDRAW-SAFE", line, "-215150")]
        assert "account 5 XBt" in result.findings[0].message
        assert "ETHUSD without a mark" in result.findings[0].message


def test_an_unmarked_contract_in_another_currency_does_not_switch_the_check_off() -> None:
    """5 holds XBTUSDT (settled in USDt, no mark in the log): an XBt withdrawal is judged over its XBt positions alone,
    and the payout of its cross margin is reported, with no note (on e8165b1: clean)."""
    log, left = _withdraws(T)
    honest = decode_rows(log.lines)
    forged = _paying_out(honest, left)
    for level in (INVARIANTS, RULES):
        result = _audit(forged, level)
        assert [f.id for f in result.findings] == ["INV-WITHDRAW-SAFE"], result.findings
        assert "without a mark" not in result.findings[0].message
        assert result.unjudged == []
        result = _audit(honest, level)
        assert (result.findings, result.unjudged) == ([], []), level


def test_an_honest_withdrawal_beside_an_unmarked_contract_is_clean_but_not_judged() -> None:
    """The engine's own log: no finding (exit 0), but the withdrawal, whose ETHUSD margin the log cannot value, is
    listed as not judged in the report and the JSON document (on e8165b1 it passed unsaid)."""
    log, _ = _withdraws(E)
    for level in (INVARIANTS, RULES):
        result = _audit(decode_rows(log.lines), level)
        assert result.findings == []
        assert result.clean
        assert not result.complete
        assert [(n.id, n.kind) for n in result.unjudged] == [("INV-WITHDRAW-SAFE", "transaction")]
        assert "ETHUSD" in result.unjudged[0].message
        text = format_text(result, "log.jsonl")
        assert "not judged" in text, text
        assert text.splitlines()[-1] == "verdict: CLEAN (1 check not judged)", text
        document = to_json(result, "log.jsonl")
        assert document["clean"] is True
        assert document["complete"] is False
        assert document["not_judged"]["summary"] == [{"id": "INV-WITHDRAW-SAFE", "count": 1}]


def test_the_pytest_plugin_shows_a_check_not_judged_as_a_skipped_item(tmp_path: Path) -> None:
    """``pytest --perpspec-audit``: the honest log passes (exit 0), its withdrawal one skipped item saying why."""
    log, _ = _withdraws(E)
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(log.lines) + "\n")
    done = run_pytest(tmp_path, "--perpspec-audit", str(path), "--perpspec-level", "rules", "-rs")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout, done.stdout
    assert "not judged:" in done.stdout
    assert "INV-WITHDRAW-SAFE" in done.stdout
