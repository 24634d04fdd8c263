"""Attack review 3: ``perpspec audit`` flagged a correct engine log whose waterfall was bounded (resolved).

Severity: medium (a false alarm in the tool venues run in CI: exit status 1 on a log of perpspec's own engine).
The engine bounds the work of one mark update by ``max_liquidations_per_update`` (a scenario and ``Engine``
parameter; LIQ-034): when the budget runs out, pools still below maintenance wait for the next update and the
step is *not* complete (``StepInfo.waterfall_complete = False``), so INV-NO-NEG-EQUITY-AFTER-ADL is not judged
(``rules.invariants_trading.check_no_neg_equity_after_adl``).  The event log carries no record of that cut, so the
auditor (``engine/audit/auditor.py``: ``close_instant`` judges every instant with a liquidation unless an
``AdlShortfall`` marked it incomplete) checks the equity of the accounts that are merely waiting their turn.

Reproduction: ``tiny_crash`` started at 03:45 (as tests/test_audit.py) with ``max_liquidations_per_update = 1``:
simulate's own invariant checks pass (no violation), while ``audit --invariants`` of its event log reports 12
INV-NO-NEG-EQUITY-AFTER-ADL findings, the first "account 14 XBt: equity at mark after the waterfall: expected
>= 0, reported -1955749" (line 1389).  With the default bound (64) the same log audits clean.  The attack3
random search found it first on a multi-contract log (account 10 USDt at −2,881,219, carried by a bound of 1).

Rules: LIQ-034 (the waterfall's bound), INV-NO-NEG-EQUITY-AFTER-ADL.

Resolved as proposed below: where the budget is spent, the engine (``Waterfall._carry``) and the rules' model
(``rules.waterfall.process_waterfall``, ``max_liquidations``) emit a ``WaterfallCarried`` record (LIQ-034) naming
every pool still due; the log writes it (table ``rule``), the perpspec mapping reads it as ``waterfall_carried``,
and the auditor (``engine/audit/instant.py``) exempts exactly the (account, currency) of the pools it names from
that instant's equity check.  Every other account is judged; a carry naming a pool with no position, or no pool,
is a LIQ-034 finding and licenses nothing.  The tests below keep the reproduction (dropping the records brings the
12 findings back) and check that a carry does not hide a negative equity it does not name.

Proposed fix: the engine reports the cut — a waterfall record (say ``WaterfallCarried``, LIQ-034, with the
symbol and the number of pools still due) emitted where ``Waterfall.run`` sets ``waterfall_complete = False``
for the budget (engine/core/waterfall.py; rules/events.py; the event log writes rule records already) — and the
auditor's handler marks the instant incomplete as ``on_adl_shortfall`` does.  (An auditor-only alternative, a
``--max-liquidations-per-update N`` option treating an instant with N liquidations as incomplete, needs room in
auditor.py, which is at 799 lines.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.reader import read_jsonl
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.rules.instrument_file import load_instrument

TINY_START = ("start", "1583984700000")
CARRIED = "WaterfallCarried"


def _tiny_crash_log(tmp_path: Path, bound: str) -> list[dict[str, Any]]:
    """The rows of ``tiny_crash``'s event log with ``max_liquidations_per_update = bound``."""
    scenario = load_scenario("tiny_crash", [TINY_START, ("max_liquidations_per_update", bound)])
    result = run_scenario(scenario, tmp_path)
    assert result.invariant_violations == ()  # the engine's own checks: nothing wrong
    return [row for _, row in read_jsonl(Path(result.event_log))]


def _audit(rows: list[dict[str, Any]], level: str = INVARIANTS) -> dict[str, int]:
    instruments = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "XBTUSDT")}
    audited = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), instruments, level)
    assert audited.error is None
    return audited.counts


def _is_carry(row: dict[str, Any]) -> bool:
    return row.get("table") == "rule" and row.get("kind") == CARRIED


def _carries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if _is_carry(row)]


def _edit_carries(rows: list[dict[str, Any]], **fields: Any) -> list[dict[str, Any]]:
    """The rows, every carry record's ``fields`` replaced (a value may be a function of the record)."""
    edited = []
    for row in rows:
        if _is_carry(row):
            row = {**row, **{name: value(row) if callable(value) else value for name, value in fields.items()}}
        edited.append(row)
    return edited


def test_the_default_bound_audits_clean(tmp_path: Path) -> None:
    rows = _tiny_crash_log(tmp_path, "64")
    assert (_carries(rows), _audit(rows)) == ([], {})  # nothing cut, nothing carried


def test_a_bounded_waterfall_audits_clean(tmp_path: Path) -> None:
    rows = _tiny_crash_log(tmp_path, "1")
    carries = _carries(rows)
    assert len(carries) == 16  # the log now says where the budget cut the waterfall (17 before FND-020's take-over)
    assert all(c["ruleId"] == "LIQ-034" and c["symbol"] == "XBTUSD" and c["max_liquidations"] == 1 for c in carries)
    assert all(c["pools_due"] == len(c["account_ids"]) == len(c["pools"]) > 0 for c in carries)
    assert carries[0]["account_ids"] == [3, 30]
    # before: 7 × INV-NO-NEG-EQUITY-AFTER-ADL (12 before session 19); FND-007 clean although FND-020 holds the 04:00
    # funding while pools stay carried: since session 19 (redteam24_1) each FundingTick first runs the waterfall at
    # the mark, so the carried pools are taken over sooner and the funding is paid at 04:06 (was 04:14)
    assert (_audit(rows), _audit(rows, RULES)) == ({}, {})


def test_without_its_carry_records_the_bounded_log_is_flagged(tmp_path: Path) -> None:
    rows = [row for row in _tiny_crash_log(tmp_path, "1") if not _is_carry(row)]
    assert _audit(rows) == {"INV-NO-NEG-EQUITY-AFTER-ADL": 7}  # the reproduction: the record is what clears it


def test_a_carry_does_not_license_an_account_it_does_not_name(tmp_path: Path) -> None:
    """Each carry cut to its first pool: the accounts it no longer names are judged, and found negative."""
    rows = _edit_carries(
        _tiny_crash_log(tmp_path, "1"),
        pools_due=1, account_ids=lambda c: c["account_ids"][:1], pools=lambda c: c["pools"][:1],
    )
    # 7 (12 before session 19, when FND-020 held the 04:00 funding until 04:14; 10 before session 9)
    assert _audit(rows) == {"INV-NO-NEG-EQUITY-AFTER-ADL": 7}


def test_a_carry_does_not_license_another_currency(tmp_path: Path) -> None:
    """The right accounts, but USDt pools (where they hold nothing): their XBt equity is judged; the record is wrong."""
    rows = _edit_carries(_tiny_crash_log(tmp_path, "1"), pools=lambda c: ["cross:USDt"] * len(c["pools"]))
    assert _audit(rows) == {"LIQ-034": 45, "INV-NO-NEG-EQUITY-AFTER-ADL": 7}  # 75 and 12 before session 19


def _first_liquidating_instant(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(index of its first take-over, index of its command's end row) in the default-bound log."""
    first = next(i for i, row in enumerate(rows) if row.get("table") == "rule" and row.get("kind") == "Liquidation")
    return first, next(i for i in range(first, len(rows)) if rows[i].get("table") == "command")


def _with_forged_carry(
    rows: list[dict[str, Any]], account_ids: list[int], pools: list[str], budget: int = 1
) -> list[dict[str, Any]]:
    """A carry record slipped into the first instant that liquidated (before its command's end row)."""
    _, end = _first_liquidating_instant(rows)
    forged = {
        "table": "rule", "timestamp": rows[end]["timestamp"], "ruleId": "LIQ-034", "kind": CARRIED, "account": -1,
        "symbol": "XBTUSD", "rule_id": "LIQ-034", "max_liquidations": budget, "pools_due": len(pools),
        "account_ids": account_ids, "pools": pools,
    }
    return [*rows[:end], forged, *rows[end:]]


def _a_holder_in_the_first_liquidating_instant(rows: list[dict[str, Any]]) -> int:
    _, end = _first_liquidating_instant(rows)
    last = {row["account"]: row["currentQty"] for row in rows[:end] if row.get("table") == "position"}
    return next(account for account, qty in sorted(last.items()) if account >= 0 and qty != 0)


def test_a_forged_carry_naming_no_pool_is_reported(tmp_path: Path) -> None:
    rows = _with_forged_carry(_tiny_crash_log(tmp_path, "64"), [], [])
    assert _audit(rows) == {"LIQ-034": 1}


def test_a_forged_carry_naming_a_pool_without_a_position_is_reported(tmp_path: Path) -> None:
    rows = _with_forged_carry(_tiny_crash_log(tmp_path, "64"), [999], ["isolated:XBTUSD"])
    assert _audit(rows) == {"LIQ-034": 1}


def test_a_forged_carry_claiming_a_budget_the_instant_did_not_spend_is_reported(tmp_path: Path) -> None:
    """Nothing was cut: a real holder named, but a budget of 64 with far fewer liquidation records (LIQ-020..023)."""
    rows = _tiny_crash_log(tmp_path, "64")
    holder = _a_holder_in_the_first_liquidating_instant(rows)
    assert _audit(_with_forged_carry(rows, [holder], ["isolated:XBTUSD"], budget=64)) == {"LIQ-034": 1}


def test_a_plausible_forged_carry_is_trusted(tmp_path: Path) -> None:
    """What the audit cannot check: a real holder's pool, a budget the instant's records could have spent.

    Whether the pool was below maintenance needs its margin and risk tier, which the log does not carry; the
    licence only matters for an account whose equity is negative, and such an account has a pool due.
    """
    rows = _tiny_crash_log(tmp_path, "64")
    holder = _a_holder_in_the_first_liquidating_instant(rows)
    assert _audit(_with_forged_carry(rows, [holder], ["isolated:XBTUSD"], budget=1)) == {}


def _cut_funding_credit(rows: list[dict[str, Any]], account: int, amount: int) -> list[dict[str, Any]]:
    """The rows with ``account``'s funding credit of ``amount`` reported one satoshi lower."""
    index = next(
        i for i, row in enumerate(rows)
        if row.get("transactType") == "Funding" and row["account"] == account and row["amount"] == amount
    )
    return [*rows[:index], {**rows[index], "amount": amount - 1}, *rows[index + 1:]]


def test_fnd_007_a_credit_cut_in_the_bounded_log_is_caught(tmp_path: Path) -> None:
    """FND-007, INV-FUNDING-ZERO-SUM: in the bounded log FND-020 holds the 04:00 funding while pools stay carried;
    since session 19 each FundingTick first takes them over at the mark, so it is paid at 04:06 with nothing held by
    the liquidation engine (before: at 04:14, when the fund could not pay the engine's share and account 1 was
    credited less, FND-019, and a cut one satoshi beyond the fund's shortfall was caught here: that end-to-end case of
    the auditor's FND-019 licence is now tests/test_s20_fnd019_licence.py, on a log where funding finds a close-out
    held).  Account 1's credit of 189,501 reported one
    satoshi lower is an FND-007 finding and breaks zero-sum."""
    rows = _cut_funding_credit(_tiny_crash_log(tmp_path, "1"), 1, 189_501)
    assert _audit(rows, RULES) == {"INV-CONSERVATION": 1, "INV-FUNDING-ZERO-SUM": 1, "FND-007": 1, "ACC-003": 1}


def test_fnd_007_a_credit_cut_while_the_fund_pays_nothing_is_caught(tmp_path: Path) -> None:
    """FND-007: with the default bound the 04:00 funding is on time and leaves the fund above zero, so no cut is
    licensed: account 1's credit of 26,668 reported as 26,667 is an FND-007 finding (and breaks zero-sum)."""
    rows = _cut_funding_credit(_tiny_crash_log(tmp_path, "64"), 1, 26_668)
    assert _audit(rows, RULES) == {"INV-CONSERVATION": 1, "INV-FUNDING-ZERO-SUM": 1, "FND-007": 1, "ACC-003": 1}
