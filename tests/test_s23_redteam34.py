"""FND-008 at a funding instant with no posting: which rows are the tick's run (session 23, aud24; redteam34).

The auditor judges a rate row with no payment over the holders at the start of the tick's *run* (its waterfall rows,
rolled back; ``engine/audit/instant.py``: ``Instant.claim``, ``get_tick_before``).  redteam34 found three ways the run
was drawn wrong:

* redteam34_1: a plain trade written after a tick's waterfall rows (or more than MAX_UNCLAIMED executions) restarted
  the run, so the holders at the end were judged and a skipped tick's payments audited clean.  Now a run opened by
  nothing an earlier command did (no mark row, no plain trade before its first waterfall record: only a FundingTick
  writes one) is not restarted; an overflow restarts nothing and lists FND-008 as not judged;
* redteam34_2: a mark row after the tick's waterfall rows switched on the "a PriceUpdate's waterfall may be the run"
  leniency.  Now a mark row counts only before the run's first waterfall record;
* redteam34_3: an honest log without end rows was reported when the PriceUpdate before the tick fired a stop before its
  waterfall: the stop's trade restarted the run and dropped the update's mark.  Now a restart by trades that came
  right after the run's mark row (no waterfall record between) keeps the mark.

Also: a rate row ends the run, whatever the contract (another contract's tick is not this one's run).
"""

from __future__ import annotations

import pytest

from perpspec.engine.audit import INVARIANTS, RULES, AuditResult, audit_rows, load_mapping
from perpspec.engine.audit import instant as instant_module
from perpspec.engine.audit.instant import Instant, get_tick_before
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Transaction
from perpspec.rules.position import Position
from tests.audit_engine_log import INSTRUMENTS, EngineLog, Row, X, audit, audit_both
from tests.test_s22_audit_funding_trades import _no_end_rows, _without_payments

P = 5_000_000
CLEAN: dict[str, list[tuple[str, int, str, str, str]]] = {INVARIANTS: [], RULES: []}
SKIPPED = ["FND-008", "FND-008"]  # 1's payment (it owed 40) and the residue


def _held_close_out(log: EngineLog, extra: dict[int, int]) -> None:
    """2 taken over with no book (the liquidation engine holds a short close-out of 200), 1 (long 200) offering 200."""
    log.mark(0, P)
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    log.open(0, {1: 10**9, 2: 8_000, **extra}, {2: 10_000})
    log.order(1, 2, "Sell", 200, P)
    log.order(1, 1, "Buy", 200, P)


def _tick_after_a_round_trip() -> tuple[list[Row], int, int]:
    """redteam34_1's honest log: 5 and 6 make a plain round trip at t=5 (rows [a, b)), then a FundingTick at t=5 pays 1
    −40 and its waterfall after the payments buys the held close-out from 1's offer (everyone flat)."""
    log = EngineLog()
    _held_close_out(log, {5: 10**9, 6: 10**9})
    log.mark(2, 5_060_000)
    assert [p.qty for p in log.engine.waterfall.pending] == [-200]
    log.order(4, 1, "Sell", 200, 5_060_000)
    a = len(log.lines)
    for account, side in ((5, "Buy"), (6, "Sell"), (6, "Buy"), (5, "Sell")):
        log.order(5, account, side, 100, 4_950_000)
    b = len(log.lines)
    events = log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))
    assert [(e.account, e.amount) for e in events if isinstance(e, Transaction)] == [(1, -40)]
    assert not log.engine.waterfall.pending
    assert log.engine.accounts[1].positions[X].qty == 0
    return log.rows, a, b


def _audit_result(rows: list[Row], level: str) -> AuditResult:
    result = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert result.error is None, result.error
    return result


def test_a_plain_trade_after_the_ticks_waterfall_rows_does_not_hide_its_skipped_payments() -> None:
    """redteam34_1 forged B (no end rows) and B2 (end rows kept, the trade inside the tick's own instant): on main both
    audited clean (the trade restarted the run, the flat end was judged)."""
    rows, a, b = _tick_after_a_round_trip()
    assert audit_both(rows) == CLEAN
    assert audit_both(_no_end_rows(rows)) == CLEAN
    assert [f[0] for f in audit(_no_end_rows(_without_payments(rows)), RULES)] == SKIPPED  # forged A
    trip = [r for r in rows[a:b] if r.get("table") != "command"]
    rest = _no_end_rows(_without_payments(rows[:a] + rows[b:]))
    assert rest[-1].get("table") == "funding"
    forged_b = rest[:-1] + trip + rest[-1:]
    assert [f[0] for f in audit(forged_b, RULES)] == SKIPPED
    with_ends = _without_payments(rows[:a] + rows[b:])
    tick_end = max(i for i, r in enumerate(with_ends) if r.get("command") == "FundingTick")
    forged_b2 = with_ends[:tick_end] + trip + with_ends[tick_end:]
    assert [f[0] for f in audit(forged_b2, RULES)] == SKIPPED


def test_a_plain_trade_before_the_ticks_waterfall_still_opens_its_run() -> None:
    """The honest order (the round trip before the tick) stays clean without end rows, and a forged log with the trade
    there is still reported: the trade restarts an empty run, the tick's rows after it are rolled back."""
    rows, _a, _b = _tick_after_a_round_trip()
    assert audit_both(_no_end_rows(rows)) == CLEAN
    assert [f[0] for f in audit(_no_end_rows(_without_payments(rows)), RULES)] == SKIPPED


def test_too_many_unclaimed_trades_in_a_ticks_run_leave_fnd008_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    """redteam34_1's second key: executions let go beyond MAX_UNCLAIMED restarted the run (the end judged: clean).
    With the bound at 3, forged B's round trip (4 executions) overflows: no finding, FND-008 listed as not judged."""
    monkeypatch.setattr(instant_module, "MAX_UNCLAIMED", 3)
    rows, a, b = _tick_after_a_round_trip()
    trip = [r for r in rows[a:b] if r.get("table") != "command"]
    rest = _no_end_rows(_without_payments(rows[:a] + rows[b:]))
    result = _audit_result(rest[:-1] + trip + rest[-1:], RULES)
    assert [f.id for f in result.findings] == []
    assert [f.id for f in result.unjudged] == ["FND-008"]
    assert "not judged" in result.unjudged[0].message
    assert not result.complete
    assert audit_both(_no_end_rows(rows)) == CLEAN  # the honest log: its trades come before the tick's run


def _tick_alone() -> list[Row]:
    """redteam34_2's honest log: the tick at t=5 pays 1 −40, its waterfall after the payments flattens everyone."""
    log = EngineLog()
    _held_close_out(log, {})
    log.mark(2, 5_060_000)
    log.order(4, 1, "Sell", 200, 5_060_000)
    events = log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))
    assert [(e.account, e.amount) for e in events if isinstance(e, Transaction)] == [(1, -40)]
    return log.rows


def test_a_mark_row_after_the_ticks_waterfall_rows_does_not_hide_its_skipped_payments() -> None:
    """redteam34_2 forged C (no end rows, a restating mark row just before the rate row) and E (end rows kept, the mark
    row inside the tick's own instant): on main both audited clean."""
    rows = _tick_alone()
    assert audit_both(rows) == CLEAN
    assert audit_both(_no_end_rows(rows)) == CLEAN
    last_mark = [r for r in rows if r.get("table") == "instrument"][-1]
    mark = {"table": "instrument", "timestamp": rows[-1]["timestamp"], "symbol": X, "markPrice": last_mark["markPrice"]}
    no_ends = _no_end_rows(_without_payments(rows))
    assert [f[0] for f in audit(no_ends, RULES)] == SKIPPED
    assert [f[0] for f in audit([*no_ends[:-1], mark, *no_ends[-1:]], RULES)] == SKIPPED  # C
    with_ends = _without_payments(rows)
    tick_end = max(i for i, r in enumerate(with_ends) if r.get("command") == "FundingTick")
    assert [f[0] for f in audit([*with_ends[:tick_end], mark, *with_ends[tick_end:]], RULES)] == SKIPPED  # E
    assert [f[0] for f in audit([*with_ends[:-1], mark, *with_ends[-1:]], RULES)] == SKIPPED  # F: after the end row


def test_a_stop_the_update_fires_before_its_waterfall_keeps_the_updates_mark() -> None:
    """redteam34_3: a PriceUpdate at t=5 fires 7's stop (it trades with 8's bid) and works the held close-out against
    1's offer (everyone flat); a FundingTick at t=5 pays nobody.  Honest: clean with end rows and (on main: FND-008
    for 1 and the residue) without them."""
    log = EngineLog()
    _held_close_out(log, {7: 10**9, 8: 10**9})
    log.order(1, 8, "Sell", 100, P)
    log.order(1, 7, "Buy", 100, P)
    log.mark(2, 5_060_000)
    assert [p.qty for p in log.engine.waterfall.pending] == [-200]
    log.order(4, 1, "Sell", 200, 5_060_000)
    log.order(4, 8, "Buy", 100, 5_040_000)
    log.run(c.PlaceOrder(time_ms=4, account=7, symbol=X, side="Sell", order_qty=100, stop_px=5_058_000,
                         exec_inst="IndexPrice"))
    update = log.run(c.PriceUpdate(time_ms=5, symbol=X, mark_price=5_060_000, index_price=5_055_000))
    trades = [(e.account, e.side) for e in update if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert trades == [(7, "Sell"), (8, "Buy"), (1, "Sell")]
    tick = log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))
    assert not [e for e in tick if isinstance(e, Transaction)]
    rows = log.rows
    assert audit_both(rows) == CLEAN
    assert audit_both(_no_end_rows(rows)) == CLEAN


A = Position(qty=100, cost=1)


def test_a_restart_right_after_the_mark_row_keeps_it_and_a_later_one_does_not() -> None:
    """Unit: trades between the mark row and the first waterfall record restart the run and keep the mark; trades
    after a waterfall record restart it and drop the mark (they are a later command's)."""
    now = Instant()
    now.claim()
    now.on_mark(X)
    now.trade((7, X, -100, P, A))  # the update's stop
    now.claim()
    assert now.run_marked == {X}
    assert now.explained
    now.before = {(1, X): A}
    now.trade((9, X, 100, P, A))  # a plain trade after the update's waterfall
    now.claim()
    assert (now.before, now.run_marked) == ({}, set())


def test_a_mark_row_counts_only_before_the_runs_first_waterfall_record() -> None:
    now = Instant()
    now.before, now.worked = {(1, X): A}, True  # a tick's waterfall rows, opened by nothing
    now.on_mark(X)
    assert now.run_marked == set()
    assert not now.explained
    now.first_line = 1
    assert get_tick_before(now, None, 9, "t", X) == ({(1, X): A}, False)


def test_a_plain_trade_does_not_restart_a_run_opened_by_nothing() -> None:
    now = Instant()
    now.before, now.worked = {(1, X): A}, True
    now.trade((9, X, 100, P, A))
    now.claim()
    assert now.before == {(1, X): A}
    assert now.worked
    assert not now.start_unknown
    now.explained = True  # the same run opened by a mark row or a plain trade: restarted
    now.trade((9, X, 100, P, A))
    now.claim()
    assert (now.before, now.worked, now.explained) == ({}, False, True)


def test_a_rate_row_ends_the_run() -> None:
    now = Instant()
    now.on_mark(X)
    now.before, now.worked, now.taken_first, now.start_unknown = {(1, X): A}, True, {X}, True
    now.end_run()
    assert (now.before, now.worked, now.taken_first, now.run_marked) == ({}, False, set(), set())
    assert not (now.explained)
    assert not (now.mark_open)
    assert not (now.start_unknown)


def test_another_contracts_rate_row_ends_the_run() -> None:
    """Two contracts, one currency: 2's isolated ETHUSD short is taken over with no book (held), 1 (long ETHUSD)
    offers it; a FundingTick of XBTUSD at t=5 pays 3 and 4, and its waterfall buys the ETHUSD close-out from 1; a
    FundingTick of ETHUSD at t=5 then pays nobody (no ETHUSD holder is left).  Honest; on main, without end rows, the
    ETHUSD rate row rolled back the XBTUSD tick's fill (FND-008: "no funding payment" for 1's 100 ETHUSD)."""
    from perpspec.engine.audit.faults import decode_rows
    from perpspec.engine.simulation.eventlog import encode_json, iso_timestamp, rate_num
    from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS as BOTH
    from tests.test_s22_audit_withdraw_unmarked import MARKS, E, Log

    log = Log()
    for symbol in (X, E):
        log.run(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=MARKS[symbol], index_price=MARKS[symbol]))
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for account, amount in ((1, 10**9), (2, 10**6), (3, 10**9), (4, 10**9)):
        log.run(c.VerifyAccount(time_ms=0, account=account))
        log.run(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    log.run(c.SetLeverage(time_ms=0, account=2, symbol=E, leverage_hundredths=5_000))
    for account, symbol, side in ((2, E, "Sell"), (1, E, "Buy"), (3, X, "Sell"), (4, X, "Buy")):
        log.run(c.PlaceOrder(time_ms=1, account=account, symbol=symbol, side=side, order_qty=100, price=MARKS[symbol]))
    up = MARKS[E] * 1025 // 1000
    log.run(c.PriceUpdate(time_ms=2, symbol=E, mark_price=up, index_price=up))
    assert [(p.symbol, p.qty) for p in log.engine.waterfall.pending] == [(E, -100)]
    log.run(c.PlaceOrder(time_ms=4, account=1, symbol=E, side="Sell", order_qty=100, price=up))
    for symbol in (X, E):
        log.run(c.FundingTick(time_ms=5, symbol=symbol, rate_e8=10_000))
        log.lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(5), "symbol": symbol,
                                      "fundingRate": rate_num(10_000)}))
        if symbol == X:  # its waterfall bought the ETHUSD close-out from 1
            assert not log.engine.waterfall.pending
            assert log.engine.accounts[1].positions[E].qty == 0
    rows = decode_rows(log.lines)
    for level in (INVARIANTS, RULES):
        for each in (rows, _no_end_rows(rows)):
            result = audit_rows(enumerate(each, start=1), load_mapping("perpspec"), BOTH, level)
            assert result.error is None, result.error
            assert [f.id for f in result.findings] == []
            assert result.complete


def test_a_plain_trade_before_and_one_after_the_ticks_waterfall_rows_do_not_hide_its_skipped_payments() -> None:
    """[trade][the tick's waterfall rows][trade][rate row]: the first trade opened the run as a take-over at a trade
    could (then the second restarted it and the flat end was judged: clean).  A take-over at a trade liquidates a pool
    before it works a close-out; a run whose first work is a close-out fill is a FundingTick's: kept, reported."""
    rows, a, b = _tick_after_a_round_trip()
    trip = rows[a:b]
    ends = [i for i, r in enumerate(trip) if r.get("table") == "command"]
    first = _no_end_rows(trip[:ends[1] + 1])  # 5 buys 100 from 6
    second = _no_end_rows(trip[ends[1] + 1:])  # and they trade back
    base = _no_end_rows(_without_payments(rows[:a]))
    rest = _no_end_rows(_without_payments(rows[:a] + rows[b:]))
    forged = [*base, *first, *rest[len(base):-1], *second, *rest[-1:]]
    assert [f[0] for f in audit(forged, RULES)] == SKIPPED


def test_a_close_out_fill_first_after_a_plain_trade_unexplains_the_run() -> None:
    now = Instant()
    now.trade((9, X, 100, P, A))
    now.work((lambda row: row[0] == 1,))  # the plain trade restarts the run; a close-out fill is its first work
    assert not now.explained
    now = Instant()
    now.trade((9, X, 100, P, A))
    now.claim()  # a liquidation (LIQ-023) first: a take-over at the trade
    now.taken_first.add(X)
    now.work()
    assert now.explained


def test_the_updates_stops_before_its_close_out_fill_keep_the_run_explained() -> None:
    """The stops a PriceUpdate fired (trades right after its mark row) restart the run but do not open it as a plain
    trade would: its close-out fill first is the update's, and a plain trade after it still restarts the run."""
    now = Instant()
    now.on_mark(X)
    now.trade((7, X, -100, P, A))  # the update's stop
    now.work((lambda row: row[0] == 1,))
    assert now.explained
    assert now.run_marked == {X}
