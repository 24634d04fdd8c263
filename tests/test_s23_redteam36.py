"""The auditor's funding checks, three more (session 23, aud26; redteam36, /work/coord/repro23/redteam36/).

* redteam36_3 (honest, was reported, no end rows): two FundingTicks of two XBt contracts at one millisecond, each
  leaving a FND-008 residue, are one instant; INV-FUNDING-ZERO-SUM is judged per contract, but the residue and the
  fund's part (FND-019) were summed per asset, so each contract was charged the other's.  They are now kept per the
  contract ``Auditor.funding_symbol`` attributes each movement to.
"""

from __future__ import annotations

from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, rate_num
from tests.audit_engine_log import Row
from tests.test_s22_audit_funding_trades import _no_end_rows
from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS, MARKS, E, Log, X, _audit


def _two_ticks_one_ms() -> list[Row]:
    """1 short, 2 and 3 long in XBTUSD and ETHUSD; an ETHUSD and an XBTUSD tick at t=5, each leaving a residue."""
    log = Log()
    for s in (X, E):
        log.run(c.PriceUpdate(time_ms=0, symbol=s, mark_price=MARKS[s], index_price=MARKS[s]))
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for a in (1, 2, 3):
        log.run(c.VerifyAccount(time_ms=0, account=a))
        log.run(c.Deposit(time_ms=0, account=a, asset="XBt", amount=10**9))
    for s, q in ((X, 300), (E, 3)):
        log.run(c.PlaceOrder(time_ms=1, account=1, symbol=s, side="Sell", order_qty=q, price=MARKS[s]))
        for a in (2, 3):
            log.run(c.PlaceOrder(time_ms=1, account=a, symbol=s, side="Buy", order_qty=q // 3 * (a - 1),
                                 price=MARKS[s]))
    for s in (E, X):
        for event in log.engine.process(c.FundingTick(time_ms=5, symbol=s, rate_e8=3_750)):
            log.lines += [encode_json(row) for row in event_records(INSTRUMENTS[s], event, log.tally, log.pending)]
        log.lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(5), "symbol": s,
                                      "fundingRate": rate_num(3_750)}))
    return decode_rows(log.lines)


def test_two_ticks_of_one_currency_at_one_ms_keep_their_own_residue() -> None:
    rows = _two_ticks_one_ms()
    residues = [r for r in rows if r.get("table") == "rule" and r.get("kind") == "funding residue"]
    assert sorted(r["symbol"] for r in residues) == [E, X]  # both leave one (the case)
    assert _audit(rows, "rules").findings == []
    assert _audit(_no_end_rows(rows), "rules").findings == []  # was: ZERO-SUM off by 1 (ETHUSD) and 2 (XBTUSD)
    assert _audit(_no_end_rows(rows), "invariants").findings == []  # without --rules too (attributed by payments)



def test_a_residue_naming_no_contract_is_the_last_funded_ones() -> None:
    """A movement row without a symbol: the last contract of its currency funded in the instant (with ``--rules``:
    still open, as FND-008 has it; without: paid)."""
    rows = _no_end_rows(_two_ticks_one_ms())
    unnamed = [{k: v for k, v in r.items() if k != "symbol"} if r.get("kind") == "funding residue" else r
               for r in rows]
    assert _audit(unnamed, "rules").findings == []
    assert _audit(unnamed, "invariants").findings == []
