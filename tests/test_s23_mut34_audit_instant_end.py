"""mut34: the instant a funding rate row reads when the row opens one (session 23; engine/audit/auditor.py's end of an
instant, c880d3b / f397542: ``now.claim()`` there and ``TickStart.marked``).

A rate row after the tick's end row opens an instant; the tick's holders are then read from the instant just closed
at its timestamp (``TickStart``).  In a log with end rows for some commands only (here: the FundingTick's kept, the
PriceUpdate's and the orders' at its millisecond left out, a venue's shape the auditor accepts), that instant holds
the update's waterfall, any plain trade after it, and the tick.  A mutation round found untested:

- ``marked``: the mark row in that instant's run (the update's waterfall may be all of it, so the holders at the end
  are an honest reading of a tick paying nothing); dropped, an honest log was reported (FND-008);
- the claim at the instant's end: a plain trade after its last waterfall record restarts the run (the update's fills
  are then not rolled back); dropped, a log leaving the tick's payments out was judged over the holders before the
  update (account 1's payment of 40 for its 200 contracts instead of 20 for the 100 the update left it).

The scenario of tests/test_s22_audit_funding_trades.py's ``_update_works_a_held_close_out``: 1 (10 XBT) buys 200
from 2 (100x), 2 taken over at 50,600 with no book (its close-out held); 1 offers ``sold`` at 50,600; at t=5 a
PriceUpdate works the close-out against the offer, then (``trade``) 4 buys 100 from 3, then a FundingTick at 0.01%.
"""

from __future__ import annotations

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Transaction
from tests.audit_engine_log import EngineLog, Row, X, audit, audit_both

P = 5_000_000
T5 = "1970-01-01T00:00:00.005Z"


def _scenario(sold: int, trade: bool) -> tuple[EngineLog, list[object]]:
    log = EngineLog()
    log.mark(0, P)
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    log.open(0, {1: 10**9, 2: 8_000, 3: 10**9, 4: 10**9}, {2: 10_000})
    log.order(1, 2, "Sell", 200, P)
    log.order(1, 1, "Buy", 200, P)
    log.mark(2, 5_060_000)  # 2 taken over, held
    assert [p.qty for p in log.engine.waterfall.pending] == [-200]
    log.order(4, 1, "Sell", sold, 5_060_000)
    log.mark(5, 5_060_000)  # the update's waterfall: 1's offer takes (part of) the held close-out
    if trade:
        log.order(5, 3, "Sell", 100, P)
        log.order(5, 4, "Buy", 100, P)
    return log, log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))


def _tick_end_only(rows: list[Row]) -> list[Row]:
    """The log with the end rows at t=5 left out but the FundingTick's."""
    return [row for row in rows
            if not (row.get("table") == "command" and row.get("timestamp") == T5 and row.get("command") != "FundingTick")]


def _without_payments(rows: list[Row]) -> list[Row]:
    """The tick's Funding rows and the fund's funding movements left out, the fund's later balances lowered by the
    residue (as tests/test_s22_audit_funding_trades.py's)."""
    out: list[Row] = []
    residue = 0
    for row in rows:
        if row.get("transactType") == "Funding":
            continue
        if row.get("kind") in ("funding residue", "funding"):
            residue += row["amount"] if row["table"] == "rule" else 0
            continue
        if residue and row.get("table") == "rule" and "balance_after" in row:
            row = {**row, "balance_before": row["balance_before"] - residue, "balance_after": row["balance_after"] - residue}
        out.append(row)
    return out


def test_a_tick_after_an_update_that_closed_every_holder_in_one_instant_with_it_audits_clean() -> None:
    log, events = _scenario(200, trade=False)
    assert not [e for e in events if isinstance(e, Transaction)]
    rows = _tick_end_only(log.rows)
    assert rows.index(next(r for r in rows if r.get("table") == "funding")) == len(rows) - 1  # the rate row opens one
    assert audit_both(rows) == {INVARIANTS: [], RULES: []}


def test_a_plain_trade_after_the_update_s_waterfall_ends_its_run() -> None:
    log, events = _scenario(100, trade=True)
    paid = sorted((e.account, e.amount) for e in events if isinstance(e, Transaction))
    assert paid == [(1, -20), (3, 19), (4, -20)], paid  # 1 holds 100 after the update (the shorts share FND-008)
    assert audit_both(_tick_end_only(log.rows)) == {INVARIANTS: [], RULES: []}
    findings = audit(_without_payments(_tick_end_only(log.rows)), RULES)
    assert sorted((f[0], f[3]) for f in findings if "account" in f[2]) == [
        ("FND-008", "-20"), ("FND-008", "-20"), ("FND-008", "19")
    ], findings
    assert [f[3] for f in findings if "account 1 " in f[2]] == ["-20"], findings  # its 100 at the tick, not 200


def test_a_plain_trade_after_the_update_s_waterfall_ends_its_run_without_end_rows() -> None:
    """No end rows at all: the update, the trade and the tick are one instant, and the rate row's own claim finds the
    trade unclaimed (it came before the tick, which writes none): the run restarts, nothing is rolled back (without
    that claim, the update's fills were rolled back as the tick's: 1's payment 40)."""
    log, _ = _scenario(100, trade=True)
    rows = [row for row in log.rows if row.get("table") != "command"]
    assert audit_both(rows) == {INVARIANTS: [], RULES: []}
    findings = audit(_without_payments(rows), RULES)
    assert [f[3] for f in findings if "account 1 " in f[2]] == ["-20"], findings  # its 100 at the tick, not 200
