"""FND-008 at a funding instant with no posting: a plain trade at the tick's millisecond is not the tick's (session 22,
aud22; redteam33_1, redteam33_2).

audit21 (tests/test_s21_audit_funding_tick_start.py) judged a rate row with no payment over the holders at the start
of the instant of the row, or of the instant just closed at its timestamp, rolling back *every* position change of
that instant.  It is meant for what the tick's own waterfall after the payments fills (close-out and ADL fills), but
in a log whose instant holds more than the tick (the tick's end row left out, or no end rows at all: an instant also
ends when the timestamp changes) it rolled back plain trades too:

* redteam33_1: 1 and 2 open 1,000,000 contracts at t=5 and a tick at t=5 pays them; a venue leaving out the payments
  and the tick's end row was judged over the holders before the trade (flat) and audited clean;
* redteam33_2: 1 and 2 close their positions at t=5 and the tick finds them flat (pays nobody, rightly); without end
  rows the auditor judged them as before the trade and reported "no funding payment" on an honest log.

A FundingTick writes waterfall records and the fills they explain (a close-out's maker execution, a partial
liquidation's), never a plain trade, and its rate row follows them.  So the tick's rows are the instant's *run*: its
rows since its last plain trade (an execution no waterfall record claims).  Only what the run's waterfall records
changed is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.audit.instant import Execution as Unclaimed
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Transaction
from tests.audit_engine_log import EngineLog, Row, X, audit, audit_both

P = 5_000_000  # 50,000.00


def _no_end_rows(rows: list[Row]) -> list[Row]:
    """The rows without the engine's end rows (a foreign log's shape: an instant ends when the timestamp changes)."""
    return [row for row in rows if row.get("table") != "command"]


def _without_payments(rows: list[Row], drop_tick_end: bool = False) -> list[Row]:
    """A venue's consistent log of a skipped tick (as tests/test_s21_audit_funding_tick_start.py's): its Funding rows
    and the fund's funding movements (FND-008's residue, FND-019's share) left out, the fund's later balances lowered by the residue; with ``drop_tick_end``,
    the tick's own end row too."""
    out: list[Row] = []
    residue = 0
    for row in rows:
        if row.get("transactType") == "Funding" or (drop_tick_end and row.get("command") == "FundingTick"):
            continue
        if row.get("kind") in ("funding residue", "funding"):  # FND-008's residue, FND-019's share (the fund's)
            residue += row["amount"] if row["table"] == "rule" else 0
            continue
        if residue and row.get("table") == "rule" and "balance_after" in row:
            row = {**row, "balance_before": row["balance_before"] - residue, "balance_after": row["balance_after"] - residue}
        out.append(row)
    return out


def _trade_then_tick(close: bool) -> tuple[EngineLog, list[object]]:
    """XBTUSD at 50,000; 1 and 2 (10 XBT each) trade 1,000,000 contracts at t=5 (``close``: they opened them at t=1
    and trade them back at t=5), then a FundingTick at t=5 at 0.1%."""
    log = EngineLog()
    log.mark(0, P)
    log.open(0, {1: 10**9, 2: 10**9})
    if close:
        log.order(1, 2, "Sell", 1_000_000, P)
        log.order(1, 1, "Buy", 1_000_000, P)
    log.order(5, 2, "Buy" if close else "Sell", 1_000_000, P)
    log.order(5, 1, "Sell" if close else "Buy", 1_000_000, P)
    return log, log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=100_000))


def test_a_tick_whose_payments_are_left_out_after_a_trade_at_its_millisecond_is_reported() -> None:
    """redteam33_1: the positions opened at the tick's millisecond were paid on; leaving out their payments (and the
    tick's end row, or every end row) is reported at both holders (on e8165b1 both logs audited clean)."""
    log, events = _trade_then_tick(close=False)
    paid = [(e.account, e.amount) for e in events if isinstance(e, Transaction)]
    assert paid == [(1, -2_000_000), (2, 2_000_000)], paid
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}
    for forged in (_without_payments(log.rows, drop_tick_end=True), _no_end_rows(_without_payments(log.rows))):
        assert audit(forged, INVARIANTS) == []  # FND-008 is a rule
        findings = audit(forged, RULES)
        assert [(f[0], f[3], f[4]) for f in findings] == [
            ("FND-008", "-2000000", "none"), ("FND-008", "2000000", "none")
        ], findings
        assert ["account 1" in findings[0][2], "account 2" in findings[1][2]] == [True, True]


def test_a_tick_finding_its_holders_closed_at_its_millisecond_audits_clean_without_end_rows() -> None:
    """redteam33_2: 1 and 2 close at t=5 by a plain trade, the tick at t=5 finds them flat and pays nobody; the log
    without end rows audits clean (on e8165b1: FND-008 twice, the closing trade rolled back)."""
    log, events = _trade_then_tick(close=True)
    assert not [e for e in events if isinstance(e, Transaction)]
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}
    assert audit_both(_no_end_rows(log.rows)) == {INVARIANTS: [], RULES: []}


def _held_pair_and_a_trade() -> tuple[EngineLog, list[object]]:
    """redteam31_3's held close-outs (1 long and 2 short at 100x, taken over with no book, netting to 0; 3 bids 100
    at 49,800 and 4 offers 100 at 50,200), then at t=5 a plain trade (6 buys 100 from 5 at 50,000) and a FundingTick
    at 0.01%: it pays 5 and 6, and its waterfall after the payments sells the long close-out to 3 and buys the short
    one from 4.  Without end rows, t=5's instant is the trade, then the tick's run."""
    log = EngineLog()
    log.mark(0, P)
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    log.open(0, {1: 4_000, 2: 4_000, 3: 10**9, 4: 10**9, 5: 10**9, 6: 10**9}, {1: 10_000, 2: 10_000})
    log.order(1, 2, "Sell", 100, P)
    log.order(1, 1, "Buy", 100, P)
    log.mark(2, 5_060_000)  # 2 taken over, held
    log.mark(3, 4_940_000)  # 1 taken over, held
    assert sorted(p.qty for p in log.engine.waterfall.pending) == [-100, 100]
    log.order(4, 3, "Buy", 100, 4_980_000)
    log.order(4, 4, "Sell", 100, 5_020_000)
    log.order(5, 5, "Sell", 100, P)
    log.order(5, 6, "Buy", 100, P)
    events = log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))
    fills = sorted((e.account, e.side) for e in events if isinstance(e, Execution) and e.exec_type == "Trade")
    assert fills == [(3, "Buy"), (4, "Sell")], fills  # after the payments, the makers trade the close-outs
    return log, events


def test_the_waterfall_after_a_tick_is_rolled_back_but_not_the_trade_before_it() -> None:
    """Honest, without end rows: clean (the close-out fills after the payments rolled back: 3 and 4 held nothing
    at the tick).  Its payments to 5 and 6 left out: both reported (on e8165b1 the plain trade was rolled back with
    the fills, and the forged log audited clean)."""
    log, events = _held_pair_and_a_trade()
    paid = sorted((e.account, e.amount) for e in events if isinstance(e, Transaction))
    assert paid == [(5, 20), (6, -21)], paid  # and a residue of 1 to the fund
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}
    assert audit_both(_no_end_rows(log.rows)) == {INVARIANTS: [], RULES: []}
    for forged in (_without_payments(log.rows, drop_tick_end=True), _no_end_rows(_without_payments(log.rows))):
        findings = audit(forged, RULES)
        assert [(f[0], f[3], f[4]) for f in findings] == [
            ("FND-008", "20", "none"), ("FND-008", "-21", "none"), ("FND-008", "1", "0")
        ], findings
        assert ["account 5" in findings[0][2], "account 6" in findings[1][2], "residue" in findings[2][2]] == [True] * 3


def _update_works_a_held_close_out(sold: int) -> tuple[EngineLog, list[object]]:
    """1 (10 XBT) buys 200 from 2 (100x), which is taken over at 50,600 with no book (its close-out held); 1 offers
    ``sold`` at 50,600; at t=5 a PriceUpdate (the same mark) works the close-out against 1's offer, then a FundingTick
    at t=5 at 0.01%."""
    log = EngineLog()
    log.mark(0, P)
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    log.open(0, {1: 10**9, 2: 8_000}, {2: 10_000})
    log.order(1, 2, "Sell", 200, P)
    log.order(1, 1, "Buy", 200, P)
    log.mark(2, 5_060_000)  # 2 taken over, held
    assert [p.qty for p in log.engine.waterfall.pending] == [-200]
    log.order(4, 1, "Sell", sold, 5_060_000)
    events = log.mark(5, 5_060_000)
    fills = [(e.account, e.side, e.last_qty) for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert fills == [(1, "Sell", sold)], fills
    return log, log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))


def test_a_tick_after_an_update_that_closed_every_holder_audits_clean_without_end_rows() -> None:
    """The update's waterfall closes 1 against the held close-out (everyone flat); the tick pays nobody.  Without end
    rows the update's fills cannot be told from the tick's own: the holders at the end (none) are an honest reading
    (after an update's waterfall, a tick posting nothing finds nothing new to do), so nothing is reported (on e8165b1,
    and with the run alone: "no funding payment" for 1 and a residue, the update's fills rolled back as the tick's)."""
    log, events = _update_works_a_held_close_out(200)
    assert not [e for e in events if isinstance(e, Transaction)]
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}
    assert audit_both(_no_end_rows(log.rows)) == {INVARIANTS: [], RULES: []}


def test_a_tick_after_an_update_whose_holders_still_owe_is_reported_without_its_payments() -> None:
    """The update closes half of 1's long: 1 (100) and the liquidation engine (−100) still hold; the tick pays them.
    A venue leaving out those payments (1's row and the fund's FND-019 movement, which net to zero) and the end rows
    is reported: neither reading (the run's start, or its end) is one at which the tick owed nobody."""
    log, events = _update_works_a_held_close_out(100)
    assert [(e.account, e.amount) for e in events if isinstance(e, Transaction)] == [(1, -20)]
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}
    forged = _no_end_rows(_without_payments(log.rows))
    assert audit(forged, INVARIANTS) == []
    findings = audit(forged, RULES)
    assert [f[0] for f in findings] == ["FND-008", "FND-008"], findings
    assert "account 1" in findings[0][2], findings


def test_an_instant_keeps_a_bounded_number_of_unclaimed_trades() -> None:
    """Memory stays one instant's bounded state: beyond MAX_UNCLAIMED trades between two waterfall records the oldest
    is let go.  A let-go execution may have been the next record's own, so it restarts nothing (redteam34_1: a
    restart judged the end, and hid a skipped tick's payments): the run keeps its waterfall work and its start is
    noted as unknown (FND-008 over it is listed as not judged, tests/test_s23_redteam34.py)."""
    from perpspec.engine.audit.instant import MAX_UNCLAIMED, Instant
    from perpspec.rules.position import Position

    now = Instant()
    now.before, now.worked = {(-1, X): Position(qty=1, cost=1)}, True
    for i in range(MAX_UNCLAIMED + 1):
        now.trade((i, X, 100, P, Position(qty=i, cost=0)))
    assert len(now.unclaimed) == MAX_UNCLAIMED
    assert now.unclaimed[0][0] == 1
    def claims(i: int) -> Callable[[Unclaimed], bool]:
        return lambda row: row[0] == i

    now.claim([claims(i) for i in range(1, MAX_UNCLAIMED + 1)])  # every one kept claimed
    kept = {(i, X): Position(qty=i, cost=0) for i in range(1, MAX_UNCLAIMED + 1)}
    assert now.before == {(-1, X): Position(qty=1, cost=1), **kept}  # not restarted
    assert now.worked
    assert now.start_unknown
    assert now.unclaimed == []
