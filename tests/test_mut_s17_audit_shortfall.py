"""Mutants of session 16's audit changes that the session-16 tests missed (helper mut17, session 17).

* ADL-021 (``instant.get_shortfall_problems`` / ``get_eligible_opposing``) on a ledger built directly: account 0's
  eligible short is named; a close-out of exactly one contract whose shortfall says one is accepted; the evidence
  names at most three positions (``MAX_EVIDENCE``) and counts the rest ("and 1 more"), with no "and 0 more" at three.
* INV-NO-NEG-EQUITY-AFTER-ADL (``Auditor.check_equity``): a second mark update that crashes the market after a first
  one already judged still reads every holder (the marks moved, no posting did), and account 0 is judged as any
  trader account.
* ``faults.plant_spurious_shortfall``: the planted log is the original with the ADL fill replaced by exactly one
  ADL-021 row (account -1, the close-out's quantity, no eligible count) and that fill's deleverage executions dropped.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import plant_spurious_shortfall
from perpspec.engine.audit.instant import (
    MAX_EVIDENCE,
    CloseOut,
    get_eligible_opposing,
    get_shortfall_problems,
)
from perpspec.engine.audit.ledger import Ledger, get_close_out_account
from perpspec.engine.core import commands as c
from perpspec.rules.instrument_file import load_instrument
from tests.test_audit import engine_log, ethusd_long

ETH = load_instrument("ETHUSD")
INSTS = {"ETHUSD": ETH}
XBT = 100_000_000
PENDING = 7
TAKEOVER = 280_000  # the held long's take-over (bankruptcy) price: a short sold at 300,000 profits there


def _ledger(shorts: dict[int, int], held: int) -> Ledger:
    ledger = Ledger(INSTS)
    ledger.set_mark("ETHUSD", 290_000)
    for account, qty in shorts.items():
        ledger.deposit(account, "XBt", 100 * XBT)
        ledger.fill(account, "ETHUSD", -qty, 300_000)
    ledger.fill(get_close_out_account(PENDING), "ETHUSD", held, TAKEOVER)
    return ledger


def _problems(ledger: Ledger, unfilled: int) -> list[str]:
    shortfall = {"pending_id": PENDING, "symbol": "ETHUSD", "unfilled_qty": unfilled}
    return get_shortfall_problems(ledger, INSTS, shortfall, CloseOut(owner=1, symbol="ETHUSD", takeover_price=TAKEOVER),
                                  get_close_out_account(PENDING))


def test_adl_021_account_0s_eligible_short_is_named() -> None:
    ledger = _ledger({0: 100}, 100)
    assert [e.split(" (")[0] for e in get_eligible_opposing(ledger, INSTS, "ETHUSD", 100, TAKEOVER)] == [
        "account 0 holds -100"]
    [problem] = _problems(ledger, 100)
    assert "account 0 holds -100" in problem


def test_adl_021_an_isolated_or_unvaluable_pool_is_never_named() -> None:
    # an account with an isolated margin setting in the currency: its pool's margin is not in the log
    ledger = _ledger({0: 100, 1: 100}, 100)
    ledger.set_leverage(0, "ETHUSD", 500)
    assert ledger.has_isolated(0, "XBt")
    assert not ledger.has_isolated(1, "XBt")
    assert [e.split(" (")[0] for e in get_eligible_opposing(ledger, INSTS, "ETHUSD", 100, TAKEOVER)] == [
        "account 1 holds -100"]
    # an account also holding a contract the log has stated no mark for: its equity cannot be valued
    both = {**INSTS, "XBTUSD": load_instrument("XBTUSD")}
    ledger = Ledger(both)
    ledger.set_mark("ETHUSD", 290_000)
    for account in (0, 1):
        ledger.deposit(account, "XBt", 100 * XBT)
        ledger.fill(account, "ETHUSD", -100, 300_000)
    ledger.fill(0, "XBTUSD", 100, 5_000_000)
    ledger.fill(get_close_out_account(PENDING), "ETHUSD", 100, TAKEOVER)
    assert [e.split(" (")[0] for e in get_eligible_opposing(ledger, both, "ETHUSD", 100, TAKEOVER)] == [
        "account 1 holds -100"]


def test_adl_021_a_one_contract_close_out_with_no_eligible_taker_is_accepted() -> None:
    assert _problems(_ledger({}, 1), 1) == []
    assert len(_problems(_ledger({}, 1), 2)) == 1  # it holds one, not two
    assert len(_problems(_ledger({}, 0), 0)) == 1  # it holds nothing: no shortfall to claim


def test_adl_021_names_three_eligible_positions_and_counts_the_rest() -> None:
    assert MAX_EVIDENCE == 3
    [three] = _problems(_ledger({1: 10, 2: 20, 3: 30}, 100), 100)
    assert three.endswith("at mark 290000)")
    assert " more" not in three
    [four] = _problems(_ledger({1: 10, 2: 20, 3: 30, 4: 40}, 100), 100)
    assert four.endswith(" and 1 more")
    assert "account 3 holds -30" in four
    assert "account 4" not in four


def _audit(rows: list[dict[str, Any]], level: str = INVARIANTS) -> list[tuple[str, int]]:
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), INSTS, level)
    assert result.error is None, result.error
    return [(f.id, f.line) for f in result.findings]


def _mark(rows: list[dict[str, Any]], suffix: str, quote: int) -> tuple[int, dict[str, Any]]:
    start = next(i for i, r in enumerate(rows) if r.get("timestamp", "").endswith(suffix))
    return start, {"table": "instrument", "timestamp": rows[start]["timestamp"], "symbol": "ETHUSD", "markPrice": quote}


def _crash_log(owner: int) -> tuple[list[dict[str, Any]], int]:
    """tests/test_audit_s16.py's mark crash, after a first mark update that moves nothing (judged clean), with the
    long held by ``owner``; returns the log of an engine that never liquidated, and the crash's line."""
    commands, _ = ethusd_long([
        c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=299_000, index_price=299_000),
        c.PriceUpdate(time_ms=2, symbol="ETHUSD", mark_price=270_000, index_price=270_000),
    ])
    commands = [cmd._replace(account=owner) if getattr(cmd, "account", None) == 1 else cmd for cmd in commands]
    rows = engine_log(commands, INSTS)
    first, mark1 = _mark(rows, "00.001Z", 2990)
    rows.insert(first, mark1)
    crash, mark2 = _mark(rows, "00.002Z", 2700)
    assert any(r.get("kind") == "Liquidation" for r in rows[crash:])  # the engine liquidates the owner
    honest = [*rows[:crash], mark2, *rows[crash:]]
    assert _audit(honest) == []
    assert rows[-1]["command"] == "PriceUpdate"
    return [*rows[:crash], mark2, rows[-1]], crash + 1


def test_inv_no_neg_equity_a_second_mark_update_crashing_the_market_is_judged() -> None:
    never, line = _crash_log(1)
    for level in (INVARIANTS, RULES):
        assert ("INV-NO-NEG-EQUITY-AFTER-ADL", line) in _audit(never, level)


def test_inv_no_neg_equity_judges_account_0() -> None:
    never, line = _crash_log(0)
    assert ("INV-NO-NEG-EQUITY-AFTER-ADL", line) in _audit(never)


def test_the_spurious_shortfall_fault_replaces_exactly_the_adl_fill() -> None:
    commands, _ = ethusd_long([
        c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000),
        c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000),
    ])
    rows = engine_log(commands, INSTS)
    index = next(i for i, r in enumerate(rows) if r.get("kind") == "AdlFill")
    fill = rows[index]
    planted, expected = plant_spurious_shortfall(rows, INSTS)
    assert (expected.id, expected.line) == ("ADL-021", index + 1)
    assert planted[:index] == rows[:index]
    shortfall = planted[index]
    assert shortfall == {
        "table": "rule", "seq": fill["seq"], "timestamp": fill["timestamp"], "ruleId": "ADL-021", "kind": "AdlShortfall",
        "account": -1, "symbol": "ETHUSD", "rule_id": "ADL-021", "pending_id": fill["pending_id"],
        "unfilled_qty": 25_000, "bankruptcy_price": fill["price"], "eligible_count": 0,
    }
    dropped = [r for r in rows[index + 1 :] if r.get("execType") == "Deleverage" and r["seq"] == fill["seq"]]
    assert dropped
    assert planted[index + 1 :] == [r for r in rows[index + 1 :] if r not in dropped]


# -- which accounts an ADL-021 shortfall licenses, and for how long (Auditor.on_adl_shortfall / check_equity) ---------

NEG = "INV-NO-NEG-EQUITY-AFTER-ADL"


def _owner_findings(rows: list[dict[str, Any]], instruments: dict[str, Any]) -> list[tuple[str, int]]:
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, INVARIANTS)
    assert result.error is None, result.error
    return [(f.id, f.line) for f in result.findings if f.id != "INV-WITHDRAW-SAFE" and "account 1 " in f.message]


def _shortfall_with_owner_below_zero(extra: list[Any], forge_qty: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """tests/test_audit_s16.py's honest shortfall (account 1's long, taken over at the 2,900.00 update, left without a
    taker at 2,800.00), then ``extra`` commands; account 1, the close-out's owner, is made to withdraw one satoshi
    more than its equity just before the 2,800.00 update (a forged row: its equity is then -1)."""
    import tests.test_audit_s16 as s16

    original = s16.ethusd_long
    s16.ethusd_long = lambda more: original(more + extra)  # type: ignore[assignment]
    try:
        rows, instruments = s16._shortfall_log()
    finally:
        s16.ethusd_long = original  # type: ignore[assignment]
    start = next(i for i, r in enumerate(rows) if r.get("timestamp", "").endswith("00.002Z"))
    equity = s16._equity_before(rows, start, instruments, 1)
    assert equity >= 0
    rows = rows[:start] + s16._withdrawal(1, equity + 1, rows[start - 1]) + rows[start:]
    index = next(i for i, r in enumerate(rows) if r.get("kind") == "AdlShortfall")
    if forge_qty:
        rows[index] = {**rows[index], "unfilled_qty": rows[index]["unfilled_qty"] - 1}
    return rows, instruments


def _mark_only(rows: list[dict[str, Any]], millis: int) -> list[dict[str, Any]]:
    """A mark update that liquidated no one: its mark row and its command's Accepted, at ``millis`` ms."""
    command = next(r for r in reversed(rows) if r.get("command") == "PriceUpdate")
    ts = f"1970-01-01T00:00:00.{millis:03d}Z"
    return [{"table": "instrument", "timestamp": ts, "symbol": "ETHUSD", "markPrice": 2800},
            {**command, "timestamp": ts, "seq": command["seq"] + millis}]


def test_adl_021_an_honest_shortfall_licenses_its_owner_until_the_next_update() -> None:
    rows, instruments = _shortfall_with_owner_below_zero([])
    assert _owner_findings(rows, instruments) == []
    # the next mark update, though it liquidates no one, ends the exemption (review14_2): the owner is judged there
    later = _mark_only(rows, 3)
    found = _owner_findings(rows + later, instruments)
    assert found == [(NEG, len(rows) + 1)], found


def test_adl_021_the_owner_is_judged_at_the_end_of_the_next_waterfall() -> None:
    # at 00.003 a bid above the take-over price takes the whole close-out (LIQ-024): the owner's -1 is reported then
    bid = [c.PlaceOrder(time_ms=3, account=3, symbol="ETHUSD", side="Buy", order_qty=25_000, price=288_500),
           c.PriceUpdate(time_ms=3, symbol="ETHUSD", mark_price=280_000, index_price=280_000)]
    rows, instruments = _shortfall_with_owner_below_zero(bid)
    fill = next(i for i, r in enumerate(rows) if r.get("kind") == "LiquidationFill" and r["timestamp"].endswith("003Z"))
    found = _owner_findings(rows, instruments)
    assert [rule_id for rule_id, _ in found] == [NEG]
    assert found[0][1] > fill - 10


def test_adl_021_a_refused_shortfall_licenses_no_one() -> None:
    rows, instruments = _shortfall_with_owner_below_zero([], forge_qty=True)
    index = next(i for i, r in enumerate(rows) if r.get("kind") == "AdlShortfall")
    found = _owner_findings(rows, instruments)
    assert NEG in [rule_id for rule_id, _ in found], found
    assert _audit_all(rows, instruments).count(("ADL-021", index + 1)) == 1


def _audit_all(rows: list[dict[str, Any]], instruments: dict[str, Any]) -> list[tuple[str, int]]:
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, INVARIANTS)
    return [(f.id, f.line) for f in result.findings]


def test_inv_no_neg_equity_a_funding_instant_is_judged() -> None:
    """An account left below zero by a funding payment, with no liquidation and no later mark update, is reported at
    the funding instant (the forged withdrawal leaves it 1 satoshi of equity before it pays)."""
    import tests.test_audit_s16 as s16

    commands, _ = ethusd_long([c.FundingTick(time_ms=1, symbol="ETHUSD", rate_e8=750_000)])
    rows = engine_log(commands, INSTS)
    rows.insert(0, {"table": "instrument", "timestamp": rows[0]["timestamp"], "symbol": "ETHUSD", "markPrice": 3000})
    start = next(i for i, r in enumerate(rows) if r.get("timestamp", "").endswith("00.001Z"))
    assert any(r.get("transactType") == "Funding" and r["account"] == 1 and r["amount"] < -1 for r in rows[start:])
    equity = s16._equity_before(rows, start, INSTS, 1)
    forged = rows[:start] + s16._withdrawal(1, equity - 1, rows[start - 1]) + rows[start:]
    assert rows[-1]["command"] == "FundingTick"
    assert [rule_id for rule_id, _ in _owner_findings(forged, INSTS)] == [NEG]


def test_the_spurious_shortfall_fault_plants_on_a_one_contract_close_out() -> None:
    """tests/test_adl_fund_cover_boundary.py's one-contract crash: the held long of 1 ETHUSD is deleveraged against
    account 2's short; the fault replaces that fill by a shortfall of 1 (the mutant ``held != 1`` found no target)."""
    commands = [c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000)]
    for account, amount in ((1, 7_000), (2, XBT)):
        commands += [c.VerifyAccount(time_ms=0, account=account), c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)]
    commands += [
        c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000),
        c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000),
        c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000),
        c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000),
    ]
    rows = engine_log(commands, INSTS)
    index = next(i for i, r in enumerate(rows) if r.get("kind") == "AdlFill")
    assert (rows[index]["account_id"], rows[index]["close_qty"]) == (2, -1)
    planted, expected = plant_spurious_shortfall(rows, INSTS)
    assert expected.line == index + 1
    assert (planted[index]["kind"], planted[index]["unfilled_qty"]) == ("AdlShortfall", 1)


def _deposit(account: int, amount: int, like: dict[str, Any]) -> list[dict[str, Any]]:
    ts, seq = like["timestamp"], like.get("seq", 0)
    return [
        {"table": "transaction", "seq": seq, "timestamp": ts, "transactType": "Deposit", "account": account,
         "currency": "XBt", "amount": amount, "symbol": "", "text": ""},
        {"table": "command", "event": "Accepted", "seq": seq, "timestamp": ts, "command": "Deposit",
         "account": account, "orderID": 0},
    ]


def test_adl_021_the_exemption_holds_through_a_posting_and_a_restated_mark() -> None:
    """After the shortfall's instant the owner, left at -100 XBt, is posted a deposit of 1 XBt (still below zero, and
    now a candidate of the next check) and perpspec restates the 2,800.00 mark at the same timestamp: neither is an
    update, so the owner still waits (the mutants forgetting the waiting accounts at an instant that is no update, or
    not consulting them, reported it)."""
    rows, instruments = _shortfall_with_owner_below_zero([])
    last = rows[-1]
    assert last["timestamp"].endswith("00.002Z")
    rows[next(i for i, r in enumerate(rows) if r.get("transactType") == "Withdrawal")]["amount"] -= 99  # owner at -100
    tail = [*_deposit(1, 1, {**last, "seq": last["seq"] + 1}),
            {"table": "instrument", "timestamp": last["timestamp"], "symbol": "ETHUSD", "markPrice": 2800},
            {**last, "seq": last["seq"] + 2}]
    assert _owner_findings(rows + tail, instruments) == []
