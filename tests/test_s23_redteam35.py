"""FND-008 at a funding instant with no posting: which rows are the tick's run, four more (session 23, aud25;
redteam35, /work/coord/repro23/redteam35/).

* redteam35_2 (forged, was clean): a run a plain trade opened whose first record is a liquidation stayed "explained"
  (a take-over at that trade) though a tick's waterfall after its payments liquidated a carried pool of another
  contract first and then worked a close-out held before the trade; a second plain trade restarted the run and the
  flat end was judged.  A take-over at a trade never works a close-out held before it (``Waterfall.take_over`` holds
  them back), so a close-out fill or ADL of one taken over in an earlier instant un-explains the run;
* redteam35_3 (honest, was reported, no end rows): a PriceUpdate of XBTUSD works a held ETHUSD close-out, and an
  ETHUSD tick after it found nobody to pay.  The mark row of any contract that opened the run licenses the end;
* redteam35_4 (forged, was clean, end rows kept): a trading command with its own end row moved between a skipped
  tick's end row and its rate row replaced the tick's instant as the one the rate row reads (so did a PriceUpdate
  command that liquidated nobody: an instant with no waterfall record and no rate row no longer replaces it);
* redteam35_5 (honest, was reported, no end rows): a take-over at a trade's second round (a cross pool due after the
  first round's close-out fills) was rolled back as the tick's: every liquidation of a take-over now adds its contracts
  to ``taken_first``.
"""

from __future__ import annotations

from perpspec.engine.audit import RULES, audit_rows, load_mapping
from perpspec.engine.audit.auditor import Auditor
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.audit.instant import CloseOut, Instant, TickStart, get_tick_before
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Transaction
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, rate_num
from perpspec.rules.position import Position
from tests.audit_engine_log import Row, audit
from tests.test_s22_audit_funding_trades import _no_end_rows, _without_payments
from tests.test_s22_audit_withdraw_unmarked import INSTRUMENTS, MARKS, E, Log, X, _audit
from tests.test_s23_redteam34 import SKIPPED, _tick_after_a_round_trip

P = 5_000_000


def _ids(rows: list[Row], level: str = RULES) -> list[str]:
    return [f.id for f in _audit(rows, level).findings]


def _found(rows: list[Row], level: str) -> list[str]:
    result = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), INSTRUMENTS, level)
    assert result.error is None, result.error
    return [f.id for f in result.findings]


def _rate(log: Log, symbol: str) -> None:
    log.lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(5), "symbol": symbol,
                                  "fundingRate": rate_num(10_000)}))


def _carried_pool_setup() -> Log:
    """The accounts, leverages and orders of the carried-pool logs (redteam35_2, redteam36_1): 2 short 200 XBTUSD at
    100x against 1; 3 and 4 long 100 ETHUSD each at 50x against 9; an insurance fund of 1 XBT; one liquidation per
    update (LIQ-034)."""
    log = Log()
    log.engine.waterfall.max_liquidations_per_update = 1
    for s in (X, E):
        log.run(c.PriceUpdate(time_ms=0, symbol=s, mark_price=MARKS[s], index_price=MARKS[s]))
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for a, amt in ((1, 10**9), (2, 8_000), (3, 10**9), (4, 10**9), (5, 10**9), (6, 10**9), (9, 10**10)):
        log.run(c.VerifyAccount(time_ms=0, account=a))
        log.run(c.Deposit(time_ms=0, account=a, asset="XBt", amount=amt))
    log.run(c.SetLeverage(time_ms=0, account=2, symbol=X, leverage_hundredths=10_000))
    for a in (3, 4):
        log.run(c.SetLeverage(time_ms=0, account=a, symbol=E, leverage_hundredths=5_000))
    for a, s, side, q in ((2, X, "Sell", 200), (1, X, "Buy", 200), (9, E, "Sell", 200), (3, E, "Buy", 100),
                          (4, E, "Buy", 100)):
        log.run(c.PlaceOrder(time_ms=1, account=a, symbol=s, side=side, order_qty=q, price=MARKS[s]))
    return log


def _carried_pool_tick() -> tuple[Log, int, int]:
    """redteam35_2's honest log: 2's XBTUSD short held as a close-out (no book), 4's isolated ETHUSD pool carried by a
    budget of one (LIQ-034), 1 offering 200 XBTUSD; 5 and 6 round-trip at t=5 (lines [a, b)); the XBTUSD tick at t=5
    pays 1 −40, and its waterfall after the payments liquidates 4's carried pool first, then buys the close-out."""
    log = _carried_pool_setup()
    log.run(c.PriceUpdate(time_ms=2, symbol=X, mark_price=5_060_000, index_price=5_060_000))
    down = MARKS[E] * 975 // 1000
    log.run(c.PriceUpdate(time_ms=3, symbol=E, mark_price=down, index_price=down))
    assert [(p.symbol, p.qty) for p in log.engine.waterfall.pending] == [(X, -200), (E, 100)]
    log.run(c.PlaceOrder(time_ms=4, account=1, symbol=X, side="Sell", order_qty=200, price=5_060_000))
    a = len(log.lines)
    for account, side in ((5, "Buy"), (6, "Sell"), (6, "Buy"), (5, "Sell")):
        log.run(c.PlaceOrder(time_ms=5, account=account, symbol=X, side=side, order_qty=100, price=4_950_000))
    b = len(log.lines)
    events = list(log.engine.process(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000)))
    for event in events:
        log.lines += [encode_json(row) for row in event_records(INSTRUMENTS[X], event, log.tally, log.pending)]
    _rate(log, X)
    assert [(e.account, e.amount) for e in events if isinstance(e, Transaction)] == [(1, -40)]
    assert log.engine.accounts[1].positions[X].qty == 0
    assert log.engine.accounts[4].positions[E].qty == 0
    return log, a, b


def test_a_held_close_out_fill_after_a_liquidation_unexplains_a_run_a_plain_trade_opened() -> None:
    """redteam35_2: [T][tick: LIQ-023 of the carried ETHUSD pool, LIQ-024 of the held XBTUSD close-out][T2][rate],
    the tick's payments left out, audited clean on main (without end rows, and with them, T and T2 inside the tick's
    instant).  Now reported; the honest log stays clean."""
    log, a, b = _carried_pool_tick()
    rows = decode_rows(log.lines)
    assert (_ids(rows), _ids(_no_end_rows(rows))) == ([], [])
    trip = [r for r in decode_rows(log.lines[a:b]) if r.get("table") != "command"]
    t1, t2 = trip[:len(trip) // 2], trip[len(trip) // 2:]
    rest = _no_end_rows(_without_payments(decode_rows(log.lines[:a] + log.lines[b:])))
    base = _no_end_rows(_without_payments(decode_rows(log.lines[:a])))
    tick = rest[len(base):-1]
    assert _ids([*base, *t1, *tick, *t2, rest[-1]]) == SKIPPED
    assert _ids([*base, *tick, *t1, *t2, rest[-1]]) == SKIPPED  # controls
    assert _ids([*base, *t1, *t2, *tick, rest[-1]]) == SKIPPED
    w = _without_payments(decode_rows(log.lines[:a] + log.lines[b:]))
    wb = _without_payments(decode_rows(log.lines[:a]))
    tick_end = max(i for i, r in enumerate(w) if r.get("command") == "FundingTick")
    assert _ids([*wb, *t1, *w[len(wb):tick_end], *t2, *w[tick_end:]]) == SKIPPED


def _another_contracts_update() -> list[Row]:
    """redteam35_3's honest log: 2's isolated ETHUSD short held as a close-out, 1 (long 100 ETHUSD) offering 100; at t=5
    an XBTUSD PriceUpdate (mark as it was) works the ETHUSD close-out, then an ETHUSD tick at t=5 posts nothing."""
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
    log.run(c.PriceUpdate(time_ms=5, symbol=X, mark_price=MARKS[X], index_price=MARKS[X]))
    assert not log.engine.waterfall.pending
    assert log.engine.accounts[1].positions[E].qty == 0
    log.run(c.FundingTick(time_ms=5, symbol=E, rate_e8=10_000))
    _rate(log, E)
    return decode_rows(log.lines)


def test_another_contracts_mark_row_opens_the_run_for_every_contract() -> None:
    """redteam35_3: without end rows, FND-008 reported 1's 100 ETHUSD (the XBTUSD update's fill was rolled back)."""
    rows = _another_contracts_update()
    for each in (rows, _no_end_rows(rows)):
        for level in ("invariants", RULES):
            assert _found(each, level) == []


def test_a_command_between_a_ticks_end_row_and_its_rate_row_is_not_the_ticks_instant() -> None:
    """redteam35_4: with end rows kept, redteam34_1's round trip (each order with its end row) moved between the
    skipped tick's end row and its rate row audited clean on main (A), and with a second, empty FundingTick end row
    (B) too; so did a PriceUpdate command there that liquidated nobody (C, aud25: a mark row is no exception)."""
    rows, a, b = _tick_after_a_round_trip()
    trip = rows[a:b]
    w = _without_payments(rows[:a] + rows[b:])
    tick_end = max(i for i, r in enumerate(w) if r.get("command") == "FundingTick")
    assert w[-1].get("table") == "funding"
    assert tick_end == len(w) - 2
    assert [f[0] for f in audit(w[:tick_end + 1] + trip + w[-1:], RULES)] == SKIPPED
    assert [f[0] for f in audit(w[:tick_end + 1] + trip + [w[tick_end]] + w[-1:], RULES)] == SKIPPED
    assert [f[0] for f in audit(w, RULES)] == SKIPPED  # control
    # C: a PriceUpdate that liquidates nobody (its mark row restating the mark, its end row) in the same place
    t = w[-1]["timestamp"]
    mark = {**[r for r in w if r.get("table") == "instrument"][-1], "timestamp": t}
    end = {**[r for r in w if r.get("command") == "PriceUpdate"][-1], "timestamp": t}
    assert [f[0] for f in audit([*w[:tick_end + 1], mark, end, *w[-1:]], RULES)] == SKIPPED


def _second_round_take_over() -> list[Row]:
    """redteam35_5's honest log: at t=5, 9's trade takes A's ETHUSD-only pool over; its close-out fills B's stale bid,
    a second round takes B's cross pool (ETHUSD and XBTUSD) over, and B's XBTUSD close-out sells to C (no one holds
    XBTUSD); an XBTUSD tick at t=5 posts nothing."""
    log = Log()
    for s in (X, E):
        log.run(c.PriceUpdate(time_ms=0, symbol=s, mark_price=MARKS[s], index_price=MARKS[s]))
    log.run(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for a, amt in ((1, 1_600_000), (2, 1_500_000), (3, 10**9), (9, 10**10)):
        log.run(c.VerifyAccount(time_ms=0, account=a))
        log.run(c.Deposit(time_ms=0, account=a, asset="XBt", amount=amt))
    for a, s, side, price in ((3, X, "Sell", MARKS[X]), (2, X, "Buy", MARKS[X]), (3, X, "Buy", MARKS[X]),
                              (1, E, "Buy", 300_000), (2, E, "Buy", 299_000)):
        log.run(c.PlaceOrder(time_ms=1, account=a, symbol=s, side=side, order_qty=100, price=price))
    log.run(c.PriceUpdate(time_ms=2, symbol=E, mark_price=285_000, index_price=285_000))
    assert not log.engine.waterfall.pending
    log.run(c.PlaceOrder(time_ms=5, account=9, symbol=E, side="Sell", order_qty=100, price=299_000))
    assert {a: log.engine.accounts[a].positions[X].qty for a in (2, 3)} == {2: 0, 3: 0}
    assert not [p for p in log.engine.waterfall.pending if p.symbol == X]
    log.run(c.FundingTick(time_ms=5, symbol=X, rate_e8=10_000))
    _rate(log, X)
    rows = decode_rows(log.lines)
    assert not [r for r in rows if r.get("transactType") == "Funding"]
    return rows


def test_every_round_of_a_take_over_at_a_trade_is_the_trades() -> None:
    """redteam35_5: without end rows, FND-008 reported 2 and 3 (the second round's XBTUSD changes rolled back)."""
    rows = _second_round_take_over()
    assert _found(rows, RULES) == []
    assert _found(_no_end_rows(rows), RULES) == []


def test_a_held_close_out_worked_in_a_run_a_plain_trade_opened_unexplains_it() -> None:
    """The unit under redteam35_2: a liquidation first keeps a run a plain trade opened explained (a take-over at the
    trade), unless a close-out fill of a close-out held before the instant follows; then a later plain trade restarts
    nothing."""
    a = Position(qty=100, cost=10**6)
    for held in (False, True):
        now = Instant()
        now.trade((9, X, 100, P, a))
        now.claim()
        now.liquidate([E])
        now.before[(1, X)] = a
        now.work(held=held)
        assert now.explained is not held
        assert now.by_trade is not held
        now.trade((9, X, -100, P, a))
        now.claim()
        assert bool(now.before) is held  # kept (a FundingTick's run) or restarted (the take-over's, a new trade)


def test_a_close_out_is_held_when_taken_over_before_the_instant_or_before_the_log() -> None:
    auditor = Auditor(INSTRUMENTS, load_mapping("perpspec"))
    auditor.now.first_line = 10
    auditor.close_outs[1] = CloseOut(owner=2, symbol=X, takeover_price=P, line=9)
    auditor.close_outs[2] = CloseOut(owner=2, symbol=X, takeover_price=P, line=10)
    assert auditor.is_held(1)
    assert not auditor.is_held(2)
    assert auditor.is_held(3)  # not in the log: taken over before it began


def test_every_liquidation_of_a_take_over_at_a_trade_adds_its_contracts() -> None:
    """The unit under redteam35_5: after a close-out fill, a liquidation adds its contracts only in a run that is a
    take-over at a trade (opened by a plain trade, explained); in a run opened by a mark row or by nothing, not."""
    a = Position(qty=100, cost=10**6)
    now = Instant()
    now.trade((9, E, 100, P, a))
    now.claim()
    now.liquidate([E])
    now.work()
    now.liquidate([E, X])
    assert now.taken_first == {E, X}
    now = Instant()
    now.on_mark(E)
    now.liquidate([E])
    now.work()
    now.liquidate([E, X])
    assert now.taken_first == {E}


def test_any_contracts_mark_row_licenses_the_end() -> None:
    """The unit under redteam35_3: ``either`` is whether any mark row opened the run (or the instant just closed)."""
    a = Position(qty=100, cost=10**6)
    now = Instant()
    now.on_mark(X)
    now.before[(1, E)] = a
    now.worked = True
    now.first_line = 1
    assert get_tick_before(now, None, 9, "t", E) == ({(1, E): a}, True)
    previous = TickStart(timestamp="t", before={(1, E): a}, taken_first=frozenset(), marked=frozenset({X}))
    assert get_tick_before(Instant(first_line=9), previous, 9, "t", E, end_rows=True) == ({(1, E): a}, True)
