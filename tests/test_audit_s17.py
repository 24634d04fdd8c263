"""Session 17 (review14_2): a ``waterfall_carried`` row hides no account past the next update.

A LIQ-034 carry exempts the pools it names from INV-NO-NEG-EQUITY-AFTER-ADL.  Two holes let one forged carry
hide an account below zero for good: ``max_liquidations`` was optional and defaulted to 0, so a carry was
accepted with no liquidation at all in its instant (``liquidation_records < 0`` never holds); and the exemption
was dropped only by an instant holding a liquidation record, so every later mark update that liquidated nobody
kept it.  Now:

* a carry must state its budget (``max_liquidations`` >= 1) and its instant must hold at least that many
  liquidation records; otherwise LIQ-034 at the row, and it licenses nothing;
* a carry's (and an accepted shortfall's) exemption ends at the next instant with a mark update or funding,
  where the pools are judged unless that instant carries them again; a mark row restating, at the same
  timestamp, the mark a waterfall record already stated (perpspec writes one at the end of each step) is not
  that update.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.auditor import Auditor
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_builtin_instruments
from tests.test_audit import engine_log, ethusd_long
from tests.test_audit_s16 import _shortfall_log

Row = dict[str, Any]
NEG = "INV-NO-NEG-EQUITY-AFTER-ADL"


def _audit(rows: list[Row], instruments: dict[str, Instrument], level: str = INVARIANTS) -> list[tuple[str, int]]:
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, level)
    assert result.error is None, result.error
    return [(f.id, f.line) for f in result.findings]


def _crash() -> tuple[list[Row], Row, Row, dict[str, Instrument]]:
    """review14_2's log: account 1's ETHUSD long, the mark crashed to 2,700.00 and nobody liquidated.

    The rows before the crash, the crash's mark row, its command row, and the instrument."""
    commands, instruments = ethusd_long([c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000,
                                                       index_price=270_000)])
    rows = engine_log(commands, instruments)
    crash = next(i for i, r in enumerate(rows) if r.get("timestamp", "").endswith("00.001Z"))
    mark = {"table": "instrument", "timestamp": rows[crash]["timestamp"], "symbol": "ETHUSD", "markPrice": 2700}
    return rows[:crash], mark, rows[-1], instruments


def _carry(like: Row, account: int = 1, **fields: Any) -> Row:
    return {"table": "rule", "seq": like.get("seq", 0), "timestamp": like["timestamp"], "ruleId": "LIQ-034",
            "kind": "WaterfallCarried", "account": -1, "rule_id": "LIQ-034", "symbol": "ETHUSD", "pools_due": 1,
            "account_ids": [account], "pools": ["cross:XBt"], **fields}


def _cancelled(like: Row, account: int) -> Row:
    """A liquidation's order cancellation (LIQ-020): one liquidation record, counted against a carry's budget."""
    return {"table": "rule", "seq": like.get("seq", 0), "timestamp": like["timestamp"], "ruleId": "LIQ-020",
            "kind": "OrdersCancelled", "account": account, "rule_id": "LIQ-020", "account_id": account,
            "symbol": "ETHUSD"}


def _update(command: Row, k: int, quote: int = 2700, carried: bool = False) -> list[Row]:
    """A later mark update (``k`` ms after the crash) that liquidates nobody; ``carried``: it carries account 1 on."""
    ts = command["timestamp"][:-5] + f"{1 + k:03d}Z"
    at = {**command, "timestamp": ts, "seq": command.get("seq", 0) + k}
    mark = {"table": "instrument", "timestamp": ts, "symbol": "ETHUSD", "markPrice": quote}
    carry = [_cancelled(at, 2), _carry(at, max_liquidations=1)] if carried else []
    return [mark, *carry, at]


def test_a_carry_stating_no_budget_spent_is_reported() -> None:
    before, mark, command, instruments = _crash()
    for budget in ({}, {"max_liquidations": 0}, {"max_liquidations": 1}):  # none, 0, or 1 with no liquidation
        log = [*before, mark, _carry(command, **budget), command]
        for level in (INVARIANTS, RULES):
            found = _audit(log, instruments, level)
            assert ("LIQ-034", len(before) + 2) in found, (budget, level, found)
            assert (NEG, len(before) + 1) in found, (budget, level, found)  # licensing nothing


def test_a_carried_pool_is_judged_at_the_next_update_that_liquidates_nobody() -> None:
    before, mark, command, instruments = _crash()
    crash = [mark, _cancelled(command, 2), _carry(command, max_liquidations=1), command]
    assert _audit([*before, *crash], instruments) == []  # the carry is accepted: account 1 waits
    later = _update(command, 1) + _update(command, 2)  # the same mark, new timestamps, nobody liquidated
    log = [*before, *crash, *later]
    for level in (INVARIANTS, RULES):
        assert _audit(log, instruments, level) == [(NEG, len(before) + len(crash) + 1)], level


def test_a_restated_mark_keeps_the_carry_and_an_update_carrying_it_again_too() -> None:
    before, mark, command, instruments = _crash()
    crash = [mark, _cancelled(command, 2), _carry(command, max_liquidations=1), command]
    restated = {**mark}  # perpspec's mark row at the end of the step: same timestamp, same mark
    again = _update(command, 1, carried=True)
    log = [*before, *crash, restated, *again]
    assert _audit(log, instruments) == []
    last = _update(command, 2, quote=2650)
    found = _audit([*log, *last], instruments)
    assert found == [(NEG, len(log) + 1)], found
    # a restatement at another price is an update
    moved = {**mark, "markPrice": 2690}
    found = _audit([*before, *crash, moved], instruments)
    assert found == [(NEG, len(before) + len(crash) + 1)], found


def test_a_shortfall_waits_only_until_the_next_update() -> None:
    rows, instruments = _shortfall_log()
    auditor = Auditor(instruments, load_mapping("perpspec"))
    for number, row in enumerate(rows, start=1):
        auditor.feed(row, number)
    auditor.close_instant()
    assert list(auditor.waiting) == [(1, "XBt")]  # ADL-021 accepted: the close-out's owner waits
    for row in _update(rows[-1], 1, quote=2800):
        auditor.feed(row, len(rows) + 1)
    auditor.close_instant()
    assert auditor.waiting == {}


def test_honest_bounded_waterfalls_audit_clean(tmp_path: Path) -> None:
    """tiny_crash with a budget of one liquidation per update: carries and shortfalls, judged at every update."""
    scenario = load_scenario("tiny_crash", [("max_liquidations_per_update", "1")])
    result = run_scenario(scenario, tmp_path)
    rows = decode_rows(Path(result.event_log).read_text().splitlines())
    kinds = [r.get("kind") for r in rows if r.get("table") == "rule"]
    assert kinds.count("WaterfallCarried") > 0
    assert kinds.count("AdlShortfall") > 0
    instruments = {"XBTUSD": load_builtin_instruments()["XBTUSD"]}
    for level in (INVARIANTS, RULES):
        assert _audit(rows, instruments, level) == [], level
