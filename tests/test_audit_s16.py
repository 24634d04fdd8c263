"""Session 16 (redteam14_3): an ``adl_shortfall`` row is checked, and hides no one's negative equity but its owner's.

``on_adl_shortfall`` used to mark the whole instant incomplete and ``close_instant`` then skipped
INV-NO-NEG-EQUITY-AFTER-ADL for every account, without checking the row's claim (ADL-021: no eligible
opposing position is left), so one fake shortfall row per liquidation instant hid an account left below
zero.  And an instant with a mark update but no liquidation was never judged at all, so a mark crash that
left an account deeply negative, never liquidated, audited clean.  Now:

* a shortfall is accepted only when the close-out still holds what the row says and the ledger holds no
  eligible opposing position (ADL-003 at the take-over price) whose pool it can value; otherwise ADL-021,
  naming the positions, and the row licenses nothing;
* an accepted shortfall exempts only the close-out's owner, in its currency;
* every mark update (and funding instant) is judged, a waterfall that liquidated nobody included.
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
from perpspec.rules.invariants_trading import compute_account_equity
from tests.test_audit import engine_log, ethusd_long

Row = dict[str, Any]
WATERFALL = {"Liquidation", "PartialLiquidation", "LiquidationFill", "AdlFill"}
NEG = "INV-NO-NEG-EQUITY-AFTER-ADL"


def _audit(rows: list[Row], instruments: dict[str, Instrument], level: str = INVARIANTS) -> list[tuple[str, int]]:
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, level)
    assert result.error is None, result.error
    return [(f.id, f.line) for f in result.findings]


def _ids(rows: list[Row], instruments: dict[str, Instrument], level: str = INVARIANTS) -> set[str]:
    return {rule_id for rule_id, _ in _audit(rows, instruments, level)}


def _withdrawal(account: int, amount: int, like: Row) -> list[Row]:
    """A withdrawal (its own command) at ``like``'s time."""
    ts, seq = like["timestamp"], like.get("seq", 0)
    return [
        {"table": "transaction", "seq": seq, "timestamp": ts, "transactType": "Withdrawal", "account": account,
         "currency": "XBt", "amount": -amount, "symbol": "", "text": ""},
        {"table": "command", "event": "Accepted", "seq": seq, "timestamp": ts, "command": "Withdraw",
         "account": account, "orderID": 0},
    ]


def _shortfall(like: Row, symbol: str, pending_id: int, unfilled: int) -> Row:
    return {"table": "rule", "seq": like.get("seq", 0), "timestamp": like["timestamp"], "ruleId": "ADL-021",
            "kind": "AdlShortfall", "account": -1, "symbol": symbol, "rule_id": "ADL-021", "pending_id": pending_id,
            "unfilled_qty": unfilled, "bankruptcy_price": 1, "eligible_count": 0}


def _equity_before(rows: list[Row], upto: int, instruments: dict[str, Instrument], account: int) -> int:
    auditor = Auditor(instruments, load_mapping("perpspec"))
    for number, row in enumerate(rows[:upto], start=1):
        auditor.feed(row, number)
    return compute_account_equity(auditor.ledger, account, "XBt")


# -- redteam14_3's reproduction on tiny_crash ------------------------------------------------------------------------


def _tiny_crash(tmp_path: Path) -> tuple[list[Row], dict[str, Instrument]]:
    result = run_scenario(load_scenario("tiny_crash", [("accounts.count", "20")]), tmp_path)
    rows = decode_rows(Path(result.event_log).read_text().splitlines())
    return rows, {"XBTUSD": load_builtin_instruments()["XBTUSD"]}


def test_fake_shortfall_rows_no_longer_hide_an_account_left_below_zero(tmp_path: Path) -> None:
    rows, instruments = _tiny_crash(tmp_path)
    first_wf = next(i for i, r in enumerate(rows) if r.get("table") == "rule" and r.get("kind") in WATERFALL)
    start = max(i for i in range(first_wf) if rows[i].get("table") == "command") + 1
    end = next(i for i in range(first_wf, len(rows)) if rows[i].get("table") == "command")
    liquidated = {r.get("account_id") for r in rows[start:end] if r.get("kind") in WATERFALL}
    record = rows[first_wf]
    crash_mark = record["mark_price"] if "mark_price" in record else record["positions"][0]["mark_price"]
    auditor = Auditor(instruments, load_mapping("perpspec"))
    for number, row in enumerate(rows[:start], start=1):
        auditor.feed(row, number)
    ledger = auditor.ledger
    now = {a: compute_account_equity(ledger, a, "XBt") for a in sorted(ledger.holders) if a > 0}
    ledger.set_mark("XBTUSD", crash_mark)
    victim = next(a for a in now if a not in liquidated and compute_account_equity(ledger, a, "XBt") < now[a] - 1)
    broken = rows[:start] + _withdrawal(victim, now[victim] - 1, rows[start - 1]) + rows[start:]
    assert NEG in _ids(broken, instruments)
    hidden: list[Row] = []
    seen = False
    for row in broken:
        if row.get("table") == "rule" and row.get("kind") in WATERFALL:
            seen = True
        if row.get("table") == "command" and seen:
            hidden.append(_shortfall(row, "XBTUSD", 0, 1))
            seen = False
        hidden.append(row)
    for level in (INVARIANTS, RULES):
        found = _ids(hidden, instruments, level)
        assert NEG in found, (level, found)
        assert "ADL-021" in found, (level, found)  # the forged rows themselves: close-out 0 holds nothing


# -- a mark crash with no liquidation at all ------------------------------------------------------------------------


def test_a_mark_crash_leaving_an_account_below_zero_unliquidated_is_reported() -> None:
    commands, instruments = ethusd_long([c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000,
                                                       index_price=270_000)])
    rows = engine_log(commands, instruments)
    crash = next(i for i, r in enumerate(rows) if r.get("timestamp", "").endswith("00.001Z"))
    assert any(r.get("kind") == "Liquidation" for r in rows[crash:])  # the engine liquidates account 1
    mark = {"table": "instrument", "timestamp": rows[crash]["timestamp"], "symbol": "ETHUSD", "markPrice": 2700}
    honest = [*rows[:crash], mark, *rows[crash:]]
    assert _audit(honest, instruments) == []
    # an engine that never liquidated: the update's mark and its command, nothing else
    never = [*rows[:crash], mark, rows[-1]]
    assert rows[-1]["command"] == "PriceUpdate"
    for level in (INVARIANTS, RULES):
        assert (NEG, crash + 1) in _audit(never, instruments, level)


# -- an honest shortfall through the engine -------------------------------------------------------------------------


def _shortfall_log(withdraw: bool = False) -> tuple[list[Row], dict[str, Instrument]]:
    """Account 1's long taken over at 2,884.60 while the only short (account 3's, sold at 2,850.00) would lose there
    (ADL-003: not eligible): deferred at 2,900.00 (the fund covers), short at 2,800.00 (ADL-021).  Account 4 holds a
    small cross long of its own; ``withdraw``: it withdraws all but 1 satoshi of its equity before the 2,800 update."""
    eth = load_builtin_instruments()["ETHUSD"]
    limit = eth.risk_limit + 4 * eth.risk_step
    extra = [
        c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=26_000, price=285_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=25_000, price=285_000),
        c.PlaceOrder(time_ms=0, account=4, symbol="ETHUSD", side="Buy", order_qty=1_000, price=285_000),
        c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=290_000, index_price=290_000),
        c.PriceUpdate(time_ms=2, symbol="ETHUSD", mark_price=280_000, index_price=280_000),
    ]
    commands, instruments = ethusd_long(extra)
    commands[1:1] = [
        c.VerifyAccount(time_ms=0, account=3), c.Deposit(time_ms=0, account=3, asset="XBt", amount=1_000 * 10**8),
        c.SetRiskLimit(time_ms=0, account=3, symbol="ETHUSD", risk_limit=limit),
        c.VerifyAccount(time_ms=0, account=4), c.Deposit(time_ms=0, account=4, asset="XBt", amount=10**8),
    ]
    rows = engine_log(commands, instruments)
    for suffix, quote in (("00.001Z", 2900), ("00.002Z", 2800)):  # the mark rows perpspec simulate writes
        start = next(i for i, r in enumerate(rows) if r.get("timestamp", "").endswith(suffix))
        mark = {"table": "instrument", "timestamp": rows[start]["timestamp"], "symbol": "ETHUSD", "markPrice": quote}
        rows.insert(start, mark)
    if withdraw:
        start = next(i for i, r in enumerate(rows) if r.get("timestamp", "").endswith("00.002Z"))
        equity = _equity_before(rows, start, instruments, 4)
        rows = rows[:start] + _withdrawal(4, equity - 1, rows[start - 1]) + rows[start:]
    return rows, instruments


def test_an_honest_shortfall_audits_clean_at_both_levels() -> None:
    rows, instruments = _shortfall_log()
    assert [r["kind"] for r in rows if r.get("table") == "rule" and r["kind"].startswith("Adl")] == [
        "AdlDeferred", "AdlShortfall"]
    for level in (INVARIANTS, RULES):
        assert _audit(rows, instruments, level) == []


def test_an_honest_shortfall_does_not_hide_another_account_below_zero() -> None:
    rows, instruments = _shortfall_log(withdraw=True)
    found = _audit(rows, instruments)
    # account 4's long at 2,800.00; ADL-021 accepted.  The planted withdrawal itself took its cross position's margin
    # (INV-WITHDRAW-SAFE as the registry states it, judged since session 21: "equity ≥ 0" let it through)
    assert [rule_id for rule_id, _ in found] == ["INV-WITHDRAW-SAFE", NEG], found


def test_a_shortfall_claiming_another_quantity_is_reported() -> None:
    rows, instruments = _shortfall_log()
    index = next(i for i, r in enumerate(rows) if r.get("kind") == "AdlShortfall")
    forged = [*rows[:index], {**rows[index], "unfilled_qty": rows[index]["unfilled_qty"] - 1}, *rows[index + 1 :]]
    assert ("ADL-021", index + 1) in _audit(forged, instruments)


def test_a_shortfall_while_the_short_is_eligible_is_reported_and_names_it() -> None:
    commands, instruments = ethusd_long([
        c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000),
        c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000),
    ])
    rows = engine_log(commands, instruments)
    index = next(i for i, r in enumerate(rows) if r.get("kind") == "AdlFill")
    fill = rows[index]
    assert fill["account_id"] == 2
    shortfall = _shortfall(fill, "ETHUSD", fill["pending_id"], fill["unfilled_before"])
    rest = [r for r in rows[index + 1 :] if not (r.get("execType") == "Deleverage" and r["seq"] == fill["seq"])]
    forged = [*rows[:index], shortfall, *rest]
    result = audit_rows(enumerate(forged, 1), load_mapping("perpspec"), instruments, INVARIANTS)
    [finding] = [f for f in result.findings if f.id == "ADL-021"]
    assert finding.line == index + 1
    assert "account 2 holds -25000" in finding.message
