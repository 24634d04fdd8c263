"""The auditor's funding checks, three more (session 23, aud26; redteam36, /work/coord/repro23/redteam36/).

* redteam36_3 (honest, was reported, no end rows): two FundingTicks of two XBt contracts at one millisecond, each
  leaving a FND-008 residue, are one instant; INV-FUNDING-ZERO-SUM is judged per contract, but the residue and the
  fund's part (FND-019) were summed per asset, so each contract was charged the other's.  They are now kept per the
  contract ``Auditor.funding_symbol`` attributes each movement to;
* redteam36_1 (forged, was clean, no end rows): a close-out taken over at t=5 by an XBTUSD PriceUpdate (no book), worked
  by the tick's waterfall after a plain trade T of the same millisecond restarted the run, was not "held" (``is_held``
  compared it with the instant's first line, and without end rows an instant is the whole millisecond), so the run
  stayed a take-over at T, T2 restarted it, and the flat end was judged with the payments left out.  "Held" is now
  relative to the run: taken over before the line where ``Instant.claim`` last restarted it (``run_line``);
* redteam36_2 (forged, was clean, end rows kept): another contract's rate row (rate 0) and a round trip with its end
  rows between a skipped tick's end row and its rate row: the rated instant with an empty run became the one the rate
  row read.  With end rows naming their command, a rate row not right after a FundingTick end row reads the instant
  the last FundingTick end row closed (``Auditor.tick_start``).  Variant B (an end row alone) is byte-identical to an
  honest log and stays clean (engine/audit/README.md, limits).
"""

from __future__ import annotations

from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Transaction
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, rate_num
from tests.audit_engine_log import Row
from tests.test_s22_audit_funding_trades import _no_end_rows, _without_payments
from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS, MARKS, E, Log, X, _audit
from tests.test_s23_redteam35 import _carried_pool_setup, _carried_pool_tick


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


def test_two_ticks_at_one_ms_keep_their_own_fund_share() -> None:
    """The fund's FND-019 share too: 2's XBTUSD short and 4's ETHUSD short held as close-outs (no book), the fund
    pays the liquidation engine's funding of each contract at t=5 (was: each charged the other's, off by 16 and 1160)."""
    log = Log()
    for s in (X, E):
        log.run(c.PriceUpdate(time_ms=0, symbol=s, mark_price=MARKS[s], index_price=MARKS[s]))
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for a, amt in ((1, 10**9), (2, 8_000), (3, 10**9), (4, 700_000)):
        log.run(c.VerifyAccount(time_ms=0, account=a))
        log.run(c.Deposit(time_ms=0, account=a, asset="XBt", amount=amt))
    log.run(c.SetLeverage(time_ms=0, account=2, symbol=X, leverage_hundredths=10_000))
    log.run(c.SetLeverage(time_ms=0, account=4, symbol=E, leverage_hundredths=5_000))
    for s, q in ((X, 200), (E, 100)):
        log.run(c.PlaceOrder(time_ms=1, account=2 if s == X else 4, symbol=s, side="Sell", order_qty=q, price=MARKS[s]))
        log.run(c.PlaceOrder(time_ms=1, account=1, symbol=s, side="Buy", order_qty=q, price=MARKS[s]))
        log.run(c.PlaceOrder(time_ms=1, account=3, symbol=s, side="Sell", order_qty=q, price=MARKS[s]))
        log.run(c.PlaceOrder(time_ms=1, account=1, symbol=s, side="Buy", order_qty=q, price=MARKS[s]))
    for s in (X, E):
        up = MARKS[s] * 1030 // 1000
        log.run(c.PriceUpdate(time_ms=3, symbol=s, mark_price=up, index_price=up))
    assert [(p.symbol, p.qty) for p in log.engine.waterfall.pending] == [(X, -200), (E, -100)]
    for s in (E, X):
        for event in log.engine.process(c.FundingTick(time_ms=5, symbol=s, rate_e8=3_750)):
            log.lines += [encode_json(row) for row in event_records(INSTRUMENTS[s], event, log.tally, log.pending)]
        log.lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(5), "symbol": s,
                                      "fundingRate": rate_num(3_750)}))
    rows = decode_rows(log.lines)
    shares = [r["symbol"] for r in rows if r.get("table") == "rule" and r.get("kind") == "funding"]
    assert shares == [E, X]
    assert _audit(rows, "rules").findings == []
    assert _audit(_no_end_rows(rows), "rules").findings == []


def _ids(rows: list[Row]) -> list[str]:
    return [f.id for f in _audit(rows, "rules").findings]


def _taken_over_earlier_at_the_same_ms() -> tuple[Log, int, int]:
    """redteam35_2's log with the XBTUSD update that takes 2's short over (no book, held) at t=5: 3 liquidated and 4
    carried by an ETHUSD update at t=3 (budget 1); at t=5 1 offers 200, 5 and 6 round-trip (lines a..b), and the XBTUSD
    tick pays 1 -40; its waterfall after the payments liquidates 4's carried pool, then buys the close-out from 1."""
    log = _carried_pool_setup()
    down = MARKS[E] * 975 // 1000
    log.run(c.PriceUpdate(time_ms=3, symbol=E, mark_price=down, index_price=down))
    log.run(c.PriceUpdate(time_ms=5, symbol=X, mark_price=5_060_000, index_price=5_060_000))
    assert sorted((p.symbol, p.qty) for p in log.engine.waterfall.pending) == [(E, 100), (X, -200)]
    log.run(c.PlaceOrder(time_ms=5, account=1, symbol=X, side="Sell", order_qty=200, price=5_060_000))
    a = len(log.lines)
    for account, side in ((5, "Buy"), (6, "Sell"), (6, "Buy"), (5, "Sell")):
        log.run(c.PlaceOrder(time_ms=5, account=account, symbol=X, side=side, order_qty=100, price=4_950_000))
    b = len(log.lines)
    events = list(log.engine.process(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000)))
    for event in events:
        log.lines += [encode_json(row) for row in event_records(INSTRUMENTS[X], event, log.tally, log.pending)]
    log.lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(5), "symbol": X,
                                  "fundingRate": rate_num(10_000)}))
    assert [(e.account, e.amount) for e in events if isinstance(e, Transaction)] == [(1, -40)]
    assert log.engine.accounts[1].positions[X].qty == 0
    assert log.engine.accounts[4].positions[E].qty == 0
    return log, a, b


def test_a_close_out_taken_over_earlier_in_the_same_ms_is_held() -> None:
    log, a, b = _taken_over_earlier_at_the_same_ms()
    rows = decode_rows(log.lines)
    assert _ids(rows) == []
    assert _ids(_no_end_rows(rows)) == []
    trip = [r for r in decode_rows(log.lines[a:b]) if r.get("table") != "command"]
    t1, t2 = trip[:len(trip) // 2], trip[len(trip) // 2:]
    rest = _no_end_rows(_without_payments(decode_rows(log.lines[:a] + log.lines[b:])))
    base = _no_end_rows(_without_payments(decode_rows(log.lines[:a])))
    tick = rest[len(base):-1]
    assert _ids([*base, *t1, *t2, *tick, rest[-1]]) == ["FND-008", "FND-008"]  # control
    assert _ids([*base, *t1, *tick, *t2, rest[-1]]) == ["FND-008", "FND-008"]  # was: clean


def test_a_rate_row_not_right_after_a_tick_end_row_reads_the_tick() -> None:
    log, a, b = _carried_pool_tick()
    rows = decode_rows(log.lines)
    assert _ids(rows) == []
    trip = decode_rows(log.lines[a:b])  # the round trip, end rows included
    w = _without_payments(decode_rows(log.lines[:a] + log.lines[b:]))
    tick_end = max(i for i, r in enumerate(w) if r.get("command") == "FundingTick")
    assert tick_end == len(w) - 2
    assert w[-1].get("table") == "funding"
    eth_rate = {"table": "funding", "timestamp": iso_timestamp(5), "symbol": E, "fundingRate": 0}
    assert _ids(w) == ["FND-008", "FND-008"]  # control
    assert _ids([*w[:tick_end + 1], eth_rate, *trip, w[-1]]) == ["FND-008", "FND-008"]  # A, was: clean
    # B, the same tick with an end row alone instead of the round trip: byte-identical to an honest log (an ETHUSD
    # tick at rate 0 did the XBTUSD tick's work), clean -- an inherent ambiguity of end rows (README, limits)
    assert _ids([*w[:tick_end + 1], eth_rate, dict(w[tick_end]), w[-1]]) == []


def test_end_rows_naming_no_command_read_the_instant_just_closed() -> None:
    """A log whose end rows name no command (another engine's mapping) cannot tell a tick's end row: a rate row reads
    the instant just closed, as before -- a skipped tick's payments are still reported (reading no instant at all,
    the holders now, would find 1 flat), and variant A is not caught (README, limits)."""
    log, a, b = _carried_pool_tick()
    w = _without_payments(decode_rows(log.lines[:a] + log.lines[b:]))
    unnamed = [{k: v for k, v in r.items() if k != "command"} if r.get("table") == "command" else r for r in w]
    assert _ids(unnamed) == ["FND-008", "FND-008"]
