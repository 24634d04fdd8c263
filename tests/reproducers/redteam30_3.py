"""redteam30_3 (low-medium, the auditor: a false finding on a correct engine log; CI's `perpspec audit` exits 1):
an index-only PriceUpdate that fires an IndexPrice stop into a stale bid now takes the maker over in the same
command (liq20), so the instant holds waterfall records and its end row names "PriceUpdate"; the auditor's
``is_update`` (``(now.waterfall and not now.take_over) or now.updated or bool(now.funding)``, take_over decided from
the end row's label) takes it for a mark update and judges the pools an earlier update carried (LIQ-034).  The
engine ran no mark waterfall (no mark moved: ``Prices.price_update`` runs it only with a mark_price), so the carried
pools rightly still wait; the audit reports INV-NO-NEG-EQUITY-AFTER-ADL for each (2 findings at both levels).

Scenario: 7, 8, 9 (25x longs of 10,000 at 50,000) fall to 45,000, beyond bankruptcy; budget 1: 7 is taken, 8 and 9
carried (WaterfallCarried).  M (account 20, 100x) rests a bid of 100 at 45,315 (placed before the fall, so stale);
a sell Stop (IndexPrice, 44,950) of account 21 rests.  PriceUpdate(index_price=44,900) alone: the stop fires, sells
into M's bid, M is left below maintenance and taken over by that PriceUpdate (take_over_filled in _dispatch).
The pre-merge auditor (ba7c970) with the pre-merge engine: M is left due (no take-over), no waterfall records, no
finding.  With liq20: 2 INV-NO-NEG-EQUITY-AFTER-ADL findings (accounts 8 and 9) on an honest log.
Money: none (checker).  Rule: the auditor must not report a correct engine log (the bar; attack3 review's class).
Suggested fix: an instant is the update a carry waits for only when a mark row moved/stated a mark or funding was
paid (``now.updated or now.funding``), or a waterfall ran *and* the instant has no trade fill of a non-liquidator
before its first waterfall record; at least treat a PriceUpdate whose instant has no mark row as a take-over.  (The
same change should close redteam30_2: do not trust the end row's label.)
Exits 0 when the honest log audits clean, 1 when the auditor reports it.
Run: PYTHONPATH=/work/wt/liq20 PERPSPEC_ROOT=/work/wt/liq20 python redteam30_3.py
"""
import os
import sys

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num
from perpspec.engine.simulation.result import Tally

sys.path.insert(0, os.environ.get("PERPSPEC_ROOT", "."))
from tests.test_s20_fnd019_licence import INSTRUMENTS, XBTUSD

X, P = "XBTUSD", 5_000_000
m = P * 90 // 100
cmds = [c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P)]
for a, amount in ((2, 10**11), (3, 10**11), (7, 2 * 10**6), (8, 2 * 10**6), (9, 2 * 10**6), (20, 2_800), (21, 10**9)):
    cmds += [c.VerifyAccount(time_ms=0, account=a), c.Deposit(time_ms=0, account=a, asset="XBt", amount=amount)]
cmds += [c.SetLeverage(time_ms=0, account=a, symbol=X, leverage_hundredths=2500) for a in (7, 8, 9)]
cmds += [c.SetLeverage(time_ms=0, account=20, symbol=X, leverage_hundredths=10_000)]
cmds += [c.PlaceOrder(time_ms=0, account=2, symbol=X, side="Sell", order_qty=30_000, price=P)]
cmds += [c.PlaceOrder(time_ms=0, account=a, symbol=X, side="Buy", order_qty=10_000, price=P) for a in (7, 8, 9)]
cmds += [c.PlaceOrder(time_ms=0, account=3, symbol=X, side="Buy", order_qty=10_000, price=4_650_000),  # 7's close-out
         c.PlaceOrder(time_ms=0, account=20, symbol=X, side="Buy", order_qty=100, price=4_531_500)]  # M, stale after the fall
cmds += [c.PriceUpdate(time_ms=3, symbol=X, mark_price=m, index_price=m),  # 7 taken, 8 and 9 carried (budget 1)
         c.CancelAll(time_ms=3, account=3),
         c.PlaceOrder(time_ms=3, account=21, symbol=X, side="Sell", order_qty=100, ord_type="Stop", stop_px=m - 5_000,
                      exec_inst="IndexPrice"),
         c.PriceUpdate(time_ms=6, symbol=X, index_price=m - 10_000)]  # index only: fires the stop; no mark move
engine = Engine(INSTRUMENTS, max_liquidations_per_update=1)
tally, pending, lines = Tally(), {}, []
for command in cmds:
    events = list(engine.process(command))
    assert isinstance(events[-1], Accepted), (command, events[-1])
    records = [type(x.record).__name__ for x in events if isinstance(x, RuleEvent)]
    if records:
        print(type(command).__name__, command.time_ms, records)
    if isinstance(command, c.PriceUpdate) and command.mark_price is not None:  # simulate's mark row
        lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms), "symbol": X,
                                  "markPrice": price_num(XBTUSD, command.mark_price)}))
    lines += [encode_json(row) for event in events for row in event_records(XBTUSD, event, tally, pending)]
print("carried pools still waiting (no mark update since):", {a: engine.risk.pool_of(engine.accounts[a], X)[1] for a in (8, 9)})
found = {}
for level in (INVARIANTS, RULES):
    audited = audit_rows(enumerate(decode_rows(lines), start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert audited.error is None, audited.error
    found[level] = {name: count for name, count in audited.counts.items() if count}
print("audit of the honest log:", found)
bad = any(found.values())
print("WRONG: the auditor reports a correct engine log" if bad else "ok")
sys.exit(1 if bad else 0)
