"""redteam30_2 (low to medium-low, the auditor: a tampered log hides a missed take-over): since liq20 the auditor
decides whether an instant is "the update a carry waits for" from the *label* of its end row: an instant whose end
row names a command other than PriceUpdate/FundingTick is a trade's take-over and does not end a carry's exemption
(engine/audit/auditor.py: ``now.take_over = row.get("command") not in (None, "PriceUpdate", "FundingTick")``;
``is_update``: ``(now.waterfall and not now.take_over) or now.updated or bool(now.funding)``).  Nothing checks the
label against the rows.

The attack (a venue's log, the auditor's adversary): three 25x longs (7, 8, 9) fall beyond bankruptcy; with
``max_liquidations_per_update = 1`` the update at t=3 takes 7 and carries 8 and 9 (WaterfallCarried), and the next
update (t=6) takes 8 and carries 9 again.  Suppose the venue did not carry 9 at t=6 as it should (a missed take-over;
here: the LIQ-034 carry record of t=6 deleted): the audit reports INV-NO-NEG-EQUITY-AFTER-ADL for 9 (equity < 0
after an update, not carried) -- on the pre-merge auditor and on liq20's.  Now also drop t=6's mark row and relabel its
end row "PriceUpdate" -> "PlaceOrder": the instant still holds waterfall records (8's liquidation, ADL), but liq20's
auditor takes it for a trade's take-over, not an update, so 9 stays "waiting" from t=3's carry and nothing is
reported (invariants and rules levels).  The pre-merge auditor (ba7c970) counts any instant with waterfall records as
an update and still reports it.  A venue can so repeat the relabel at every update that liquidates someone (and
whose mark row it omits) and keep a carried pool un-taken for ever without a finding.
Money: none by itself; it hides a missed liquidation (whose loss beyond bankruptcy goes to the fund / ADL).
Rule broken: the auditor's purpose (INV-NO-NEG-EQUITY-AFTER-ADL / LIQ-034's exemption lasts until the next update).
Suggested fix: decide "take-over" from the rows, not the label: an instant is a trade's take-over only if it has a
trade fill of a non-liquidator account before its first waterfall record (the fills whose makers the take-over
judges); or require that a take-over instant liquidate only accounts that a trade fill of the same instant touched
(or that its own close-outs filled), and report LIQ-034 otherwise.
Exits 0 when the tampered log is reported, 1 when it audits clean.
Run: PYTHONPATH=/work/wt/liq20 PERPSPEC_ROOT=/work/wt/liq20 python redteam30_2.py
"""
import json
import os
import sys

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num
from perpspec.engine.simulation.result import Tally

sys.path.insert(0, os.environ.get("PERPSPEC_ROOT", "."))
from tests.test_s20_fnd019_licence import INSTRUMENTS, XBTUSD

X, P = "XBTUSD", 5_000_000
cmds = [c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P)]
for a, amount in ((2, 10**11), (3, 10**11), (7, 2 * 10**6), (8, 2 * 10**6), (9, 2 * 10**6)):
    cmds += [c.VerifyAccount(time_ms=0, account=a), c.Deposit(time_ms=0, account=a, asset="XBt", amount=amount)]
cmds += [c.SetLeverage(time_ms=0, account=a, symbol=X, leverage_hundredths=2500) for a in (7, 8, 9)]
cmds += [c.PlaceOrder(time_ms=0, account=2, symbol=X, side="Sell", order_qty=30_000, price=P)]
cmds += [c.PlaceOrder(time_ms=0, account=a, symbol=X, side="Buy", order_qty=10_000, price=P) for a in (7, 8, 9)]
cmds += [c.PlaceOrder(time_ms=0, account=3, symbol=X, side="Buy", order_qty=10_000, price=4_650_000)]
m = P * 90 // 100
cmds += [c.PriceUpdate(time_ms=3, symbol=X, mark_price=m, index_price=m),
         c.PriceUpdate(time_ms=6, symbol=X, mark_price=m - 50, index_price=m - 50)]
engine = Engine(INSTRUMENTS, max_liquidations_per_update=1)
tally, pending, lines = Tally(), {}, []
for command in cmds:
    events = list(engine.process(command))
    assert isinstance(events[-1], Accepted), (command, events[-1])
    if isinstance(command, c.PriceUpdate):  # simulate's mark row
        lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms), "symbol": X,
                                  "markPrice": price_num(XBTUSD, command.mark_price)}))
    lines += [encode_json(row) for event in events for row in event_records(XBTUSD, event, tally, pending)]
rows = [json.loads(line) for line in lines]
T6 = iso_timestamp(6)


def audit(rs):
    out = {}
    for level in (INVARIANTS, RULES):
        a = audit_rows(enumerate(decode_rows([encode_json(r) for r in rs]), start=1), load_mapping("perpspec"),
                       INSTRUMENTS, level)
        assert a.error is None, a.error
        out[level] = {n: k for n, k in a.counts.items() if k}
    return out


honest = audit(rows)
at6 = [r for r in rows if r.get("timestamp") == T6]
assert any(r.get("table") == "liquidation" for r in at6)
assert any(r.get("ruleId") == "LIQ-034" for r in at6)
missed = [r for r in rows if not (r.get("timestamp") == T6 and r.get("ruleId") == "LIQ-034")]
relabelled = [dict(r, command="PlaceOrder") if r.get("timestamp") == T6 and r.get("table") == "command" else r
              for r in missed if not (r.get("timestamp") == T6 and r.get("table") == "instrument")]
print("honest log:", honest)
print("t=6 carry deleted (a missed take-over):", audit(missed))
found = audit(relabelled)
print("... and t=6's mark row dropped, its end row relabelled PlaceOrder:", found)
bad = honest == {INVARIANTS: {}, RULES: {}} and not any(found.values())
print("WRONG: the tampered log hides the missed take-over" if bad else "ok")
sys.exit(1 if bad else 0)
