"""FND-008 at a funding instant with no posting: the holders the engine paid on (session 21, audit21; redteam31_3).

The engine's FundingTick (``engine/core/prices.py`` ``Prices.funding``) first takes every due pool holding the contract
over (FND-020: a waterfall before the payments), pays the holders then, and runs the waterfall again after the
payments, whose close-out fills can give makers positions.  The auditor's FND-008 ("every holder paid") took the
holders of an instant with no payment row (and no FND-019 / residue movement) from its ledger at the rate's row, after
that second waterfall: the makers it filled were reported as holders "with no funding payment" on an honest log
(/work/coord/repro21/redteam31_3.py, found by an honest-log fuzz).  It now takes them as of the tick's start, unless
the tick liquidated a pool holding the contract before its first close-out fill or ADL (FND-020's waterfall ran before
the payments: then at the tick's end, as before).  A venue that leaves out a tick's payments is still reported, and
now also when the waterfall after the tick closed the unpaid holders.
"""

from __future__ import annotations

from perpspec.engine.audit import INVARIANTS, RULES
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, RuleEvent, Transaction
from tests.audit_engine_log import EngineLog, Row, X, audit, audit_both

P = 5_000_000  # 50,000.00
RATE = 10_000  # 0.01%


def _held_pair(makers_hold: bool = False) -> tuple[EngineLog, list[object]]:
    """redteam31_3: 1 (long) and 2 (short) at 100x, taken over at 50,600 and 49,400 with no book (both close-outs
    held, netting to 0); 3 rests a bid of 100 at 49,800 and 4 an ask at 50,200; then a FundingTick at 0.01%, whose
    waterfall after the payments sells the long close-out to 3 and buys the short one from 4.  ``makers_hold``: 3 and
    4 first trade 100 between them at 50,000 (3 short, 4 long), so the tick pays them and its fills close them."""
    log = EngineLog()
    log.mark(0, P)
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    log.open(0, {1: 4_000, 2: 4_000, 3: 10**9, 4: 10**9}, {1: 10_000, 2: 10_000})
    log.order(1, 2, "Sell", 100, P)
    log.order(1, 1, "Buy", 100, P)
    if makers_hold:
        log.order(1, 4, "Buy", 100, P)
        log.order(1, 3, "Sell", 100, P)
    log.mark(2, 5_060_000)  # 2 taken over, held
    log.mark(3, 4_940_000)  # 1 taken over, held
    assert sorted(p.qty for p in log.engine.waterfall.pending) == [-100, 100]
    log.order(4, 3, "Buy", 100, 4_980_000)
    log.order(4, 4, "Sell", 100, 5_020_000)
    events = log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=RATE))
    fills = sorted((e.account, e.side) for e in events if isinstance(e, Execution) and e.exec_type == "Trade")
    assert fills == [(3, "Buy"), (4, "Sell")], fills  # after the payments, the makers trade the close-outs
    return log, events


def test_a_tick_paying_nobody_whose_later_waterfall_fills_makers_audits_clean() -> None:
    """redteam31_3's log: no payment (only the liquidation engine holds, net 0); the makers' positions come after."""
    log, events = _held_pair()
    assert not [e for e in events if isinstance(e, Transaction)]
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}


def test_a_tick_paying_nobody_after_fnd_020_took_a_carried_pool_over_audits_clean() -> None:
    """FND-020's waterfall before the payments: 1 and 4 (long) and 2 and 6 (short) at 100x, budget 1.  At 50,600 the
    shorts are due (2 taken, 6 carried; 6 taken at the next update), at 49,400 the longs (1 taken, 4 carried): the
    liquidation engine holds -200 + 100, 4 holds 100.  The tick takes 4 over first: the engine then holds net 0 and
    pays nobody.  The holders are those after that take-over (at the tick's start 4 held 100: a naive "holders at the
    tick's first row" reported it unpaid, with the residue)."""
    log = EngineLog(max_liquidations_per_update=1)
    log.mark(0, P)
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    log.open(0, dict.fromkeys((1, 2, 4, 6), 4000), dict.fromkeys((1, 2, 4, 6), 10000))
    for short, long in ((2, 1), (6, 4)):
        log.order(1, short, "Sell", 100, P)
        log.order(1, long, "Buy", 100, P)
    for time_ms, mark in ((2, 5_060_000), (3, 5_060_000), (4, 4_940_000)):
        log.mark(time_ms, mark)
    assert log.engine.accounts[4].positions[X].qty == 100
    events = log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=RATE))
    records = [type(e.record).__name__ for e in events if isinstance(e, RuleEvent)]
    assert records[0] == "Liquidation", records  # the take-over of 4's pool, before any close-out fill
    assert "LiquidationFill" not in records, records
    assert not [e for e in events if isinstance(e, Transaction)]  # nobody paid
    assert log.engine.accounts[4].positions[X].qty == 0
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}


def _without_funding(rows: list[Row]) -> list[Row]:
    """The rows with every funding payment and FND-008 residue movement left out, and the fund's later balances
    lowered by the residue: a venue's consistent log of a skipped tick (the skipped postings sum to 0, so conservation,
    zero-sum and the fund's continuity hold)."""
    out: list[Row] = []
    residue = 0
    for row in rows:
        if row.get("transactType") == "Funding":
            continue
        if row.get("kind") == "funding residue":
            residue += row["amount"] if row["table"] == "rule" else 0
            continue
        if residue and row.get("table") == "rule" and "balance_after" in row:
            row = {**row, "balance_before": row["balance_before"] - residue, "balance_after": row["balance_after"] - residue}
        out.append(row)
    return out


def test_a_tick_whose_payments_are_left_out_is_reported() -> None:
    """Tampered: 3 and 4 hold 100 each before the tick, are paid at it, and the waterfall after the payments closes
    both.  Without their payment rows the tick posts nothing: 3 and 4 held at its start, and they are reported (on
    the old auditor, which took the holders at the rate's row after those fills, this log audited clean)."""
    log, events = _held_pair(makers_hold=True)
    paid = sorted((e.account, e.amount) for e in events if isinstance(e, Transaction))
    assert paid == [(3, 20), (4, -21)], paid
    assert audit_both(log.rows) == {INVARIANTS: [], RULES: []}
    tampered = _without_funding(log.rows)
    assert len(tampered) == len(log.rows) - 4  # two payments, the residue (and its BitMEX-style copy)
    assert audit(tampered, INVARIANTS) == []  # no invariant is broken: FND-008 is a rule
    findings = audit(tampered, RULES)
    assert [(f[0], f[3], f[4]) for f in findings] == [
        ("FND-008", "20", "none"), ("FND-008", "-21", "none"), ("FND-008", "1", "0")
    ], findings
    assert ["account 3" in findings[0][2], "account 4" in findings[1][2], "residue" in findings[2][2]] == [True] * 3
