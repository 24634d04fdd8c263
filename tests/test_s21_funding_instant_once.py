"""FND-021: a funding instant is paid once (session 21, helper fund21; note20 §4).

A FundingTick carries its instant and FND-008 pays the whole interval at it.  Until session 21 the engine applied a
tick whenever it was sent: a second tick for an instant already paid (a gateway's retry, a replayed message, an
operator's mistake) at the same ``time_ms`` charged every holder again (the clock guard refuses only an earlier
time).  Now ``rules.funding.check_funding_instant`` refuses a tick whose instant is not after the contract's last
paid one (``FundingAlreadyPaid``, naming that instant) before anything runs, and the engine keeps each perpetual's
last paid instant as state (``Market.funded``): in snapshots, recovery, replay and the state hash.  A snapshot from
before the field (the upgrade path: an older build's last snapshot) still loads, its stored hash checked as its
writer computed it, and every perpetual with a mark is taken as paid at its clock (safe: nothing at or before it is
paid again).

Account 1 is long 10,000 XBTUSD against account 2 at 50,000.00 (0.2 XBT = 20,000,000 XBt): a rate of 0.01% moves
2,000 XBt from the long to the short.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.audit import INVARIANTS, RULES, audit_rows, load_mapping
from perpspec.engine.audit.faults import decode_rows
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Reason, Rejected, Transaction
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.engine.durability.journal import read_snapshot, write_snapshot
from perpspec.engine.durability.recovery import DurableExchange, command_codec, list_snapshots
from perpspec.engine.simulation.eventlog import encode_json, event_records, iso_timestamp, price_num, rate_num
from perpspec.engine.simulation.result import Tally
from perpspec.rules.funding import FundingRejection, check_funding_instant
from perpspec.rules.instrument_file import load_instrument

MARK = 5_000_000
RATE = 10_000  # 0.01%: the long pays 2,000 XBt
PAID = 2_000
XBTUSD = load_instrument("XBTUSD")


def _setup() -> list[Any]:
    commands: list[Any] = []
    for account in (1, 2):
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**9)]
    return [*commands,
            c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=MARK, index_price=MARK),
            c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=MARK),
            c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=10_000, price=MARK)]


def _long_short() -> Engine:
    engine = Engine()
    for command in _setup():
        assert isinstance(engine.process(command)[-1], Accepted), command
    return engine


def _tick(time_ms: int, symbol: str = "XBTUSD") -> c.FundingTick:
    return c.FundingTick(time_ms=time_ms, symbol=symbol, rate_e8=RATE)


def _wallets(engine: Engine) -> tuple[int, int]:
    return engine.wallet(1, "XBt"), engine.wallet(2, "XBt")


def _unchanged_but_seq(engine: Engine, before: Engine) -> bool:
    """``engine``'s state is ``before``'s but for the sequence number (a refusal numbers its Rejected)."""
    before.seq = engine.seq
    return engine.state_hash() == before.state_hash() and engine.funded == before.funded


def _refused_as_paid(events: list[Event], last: int, time_ms: int) -> None:
    assert len(events) == 1  # the Rejected alone: no Funding transaction, no waterfall event
    refused = events[0]
    assert isinstance(refused, Rejected)
    assert (refused.reason, refused.text) == (
        Reason.FUNDING_ALREADY_PAID,
        f"XBTUSD's funding was last paid at {last}: an instant at {time_ms} is not after it and is paid once (FND-021)",
    )


# --- the rule -----------------------------------------------------------------------------------------------------


def test_fnd_021_refuses_exactly_the_instants_not_after_the_last_paid_one() -> None:
    assert check_funding_instant("XBTUSD", 0, None) is None  # nothing paid yet: any instant
    assert check_funding_instant("XBTUSD", 8, 7) is None
    for time_ms in (7, 6, 0):
        assert check_funding_instant("XBTUSD", time_ms, 7) == FundingRejection(
            reason="already-paid",
            detail=f"XBTUSD's funding was last paid at 7: an instant at {time_ms} is not after it and is paid once "
            "(FND-021)",
        )


# --- the engine ---------------------------------------------------------------------------------------------------


def test_fnd_021_a_second_tick_at_the_instant_just_paid_is_refused_and_changes_nothing() -> None:
    """The attack of note20 §4: before session 21 the second tick was Accepted and the long paid 4,000 XBt."""
    engine = _long_short()
    start = _wallets(engine)
    assert isinstance(engine.process(_tick(5))[-1], Accepted)
    assert _wallets(engine) == (start[0] - PAID, start[1] + PAID)
    before = Engine.from_snapshot(engine.snapshot())
    _refused_as_paid(engine.process(_tick(5)), 5, 5)
    assert _wallets(engine) == (start[0] - PAID, start[1] + PAID)
    assert _unchanged_but_seq(engine, before)
    assert engine.funded == {"XBTUSD": 5}


def test_fnd_021_a_tick_for_an_earlier_instant_is_refused_as_already_paid_whether_or_not_the_clock_moved() -> None:
    """An earlier instant is named as paid (not only TimeWentBackwards), before and after the clock moved on; an
    instant after the paid one but before the clock is the clock's refusal."""
    engine = _long_short()
    assert isinstance(engine.process(_tick(5))[-1], Accepted)
    before = Engine.from_snapshot(engine.snapshot())
    _refused_as_paid(engine.process(_tick(4)), 5, 4)
    assert _unchanged_but_seq(engine, before)
    assert isinstance(engine.process(c.TimeTick(time_ms=9))[-1], Accepted)
    before = Engine.from_snapshot(engine.snapshot())
    for instant in (5, 3):
        _refused_as_paid(engine.process(_tick(instant)), 5, instant)
    late = engine.process(_tick(8))[-1]
    assert isinstance(late, Rejected)
    assert late.reason is Reason.TIME_WENT_BACKWARDS
    assert _unchanged_but_seq(engine, before)


def test_fnd_021_a_later_instant_is_paid_once_and_each_contract_keeps_its_own() -> None:
    engine = _long_short()
    start = _wallets(engine)
    assert isinstance(engine.process(_tick(5))[-1], Accepted)
    assert isinstance(engine.process(_tick(6))[-1], Accepted)  # the next instant (1 ms on: the engine keeps no grid)
    assert isinstance(engine.process(c.PriceUpdate(time_ms=6, symbol="ETHUSD", mark_price=300_000))[-1], Accepted)
    assert isinstance(engine.process(_tick(6, "ETHUSD"))[-1], Accepted)  # XBTUSD's instant is not ETHUSD's
    assert _wallets(engine) == (start[0] - 2 * PAID, start[1] + 2 * PAID)
    assert engine.funded == {"ETHUSD": 6, "XBTUSD": 6}


def test_fnd_021_a_tick_refused_for_another_reason_pays_nothing_and_records_no_instant() -> None:
    """A refused tick (a rate beyond FND-004's cap) is no paid instant: the same instant is paid once sent right."""
    engine = _long_short()
    refused = engine.process(c.FundingTick(time_ms=5, symbol="XBTUSD", rate_e8=375_001))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.MALFORMED
    assert engine.funded == {}
    assert isinstance(engine.process(_tick(5))[-1], Accepted)
    assert engine.funded == {"XBTUSD": 5}


def test_fnd_021_a_tick_held_by_fnd_020_is_no_paid_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """FND-020's hold (forced here) refuses after the waterfall: the instant stays unpaid and its retry is paid."""
    from perpspec.engine.core import prices

    engine = _long_short()
    held = FundingRejection(reason="liquidation-pending", detail="held for the test")
    with monkeypatch.context() as patch:
        patch.setattr(prices, "check_funding_ready", lambda symbol, pools: held)
        refused = engine.process(_tick(5))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.LIQUIDATION_PENDING
    assert engine.funded == {}
    assert isinstance(engine.process(_tick(5))[-1], Accepted)


def test_fnd_021_the_paid_instants_are_state_a_forged_one_is_refused_on_load() -> None:
    """Checked on load: only a perpetual's, never after the clock (a tick moved the clock to its instant)."""
    engine = _long_short()
    assert isinstance(engine.process(_tick(5))[-1], Accepted)
    state = decode_state(engine.snapshot())
    for funded, words in (({"XBTUSD": 6}, "outside [0, 5]"), ({"XBTUSD": -1}, "outside [0, 5]"),
                          ({"XBTZ26": 5}, "only a perpetual contract funds"), ({"NOPE": 5}, "not an instrument")):
        with pytest.raises(CodecError, match=re.escape(words)):
            Engine.from_snapshot(encode_state({**state, "funded": funded}))


# --- snapshots, recovery, replay ----------------------------------------------------------------------------------


def _store(directory: Path) -> DurableExchange:
    durable, _ = DurableExchange.open(str(directory), command_codec(), Engine)
    return durable


def _paid_then_repeated(directory: Path) -> tuple[str, tuple[int, int]]:
    """A store whose journal holds the setup, the tick at 5, its repeat (refused) and a snapshot after them."""
    durable = _store(directory)
    for command in _setup():
        assert isinstance(durable.submit(command)[-1], Accepted)
    assert isinstance(durable.submit(_tick(5))[-1], Accepted)
    _refused_as_paid(list(durable.submit(_tick(5))), 5, 5)
    durable.snapshot()
    state, wallets = durable.exchange.state_hash(), _wallets(durable.exchange)
    durable.close()
    return state, wallets


def test_fnd_021_a_repeated_instant_is_refused_after_recovery_from_a_snapshot(tmp_path: Path) -> None:
    state, wallets = _paid_then_repeated(tmp_path)
    durable = _store(tmp_path)
    assert durable.exchange.state_hash() == state
    assert durable.exchange.funded == {"XBTUSD": 5}
    _refused_as_paid(list(durable.submit(_tick(5))), 5, 5)
    assert isinstance(durable.submit(_tick(6))[-1], Accepted)
    assert _wallets(durable.exchange) == (wallets[0] - PAID, wallets[1] + PAID)
    durable.close()


def test_fnd_021_replaying_the_journal_refuses_the_repeat_again(tmp_path: Path) -> None:
    """No snapshot: the journal's commands replayed (the repeat among them) give the same state, the tick paid once."""
    state, wallets = _paid_then_repeated(tmp_path)
    for _, path in list_snapshots(str(tmp_path)):
        os.unlink(path)
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    assert report is not None
    assert (report.snapshot_seq, report.rejected) == (0, 1)  # the repeat, refused on replay as when it ran
    assert (durable.exchange.state_hash(), _wallets(durable.exchange)) == (state, wallets)
    _refused_as_paid(list(durable.submit(_tick(5))), 5, 5)
    durable.close()


def _as_an_older_engine_saved_it(path: str) -> None:
    """Rewrite the snapshot at ``path`` as a build from before FND-021 wrote it: no ``funded`` field, and the state
    hash of the state without it (an empty table is left out of the canonical state, as before the field existed)."""
    snapshot = read_snapshot(path)
    state = decode_state(snapshot.payload)
    del state["funded"]
    engine = Engine.from_snapshot(snapshot.payload)
    engine.funded = {}
    write_snapshot(path, snapshot.seq, engine.state_hash().encode(), encode_state(state), snapshot.chain_head,
                   snapshot.rules_digest)


def test_fnd_021_a_snapshot_from_before_the_field_loads_and_still_refuses_the_instant_it_paid(tmp_path: Path) -> None:
    """The upgrade path: the older build's last snapshot is used (not skipped: its stored hash is checked as its
    writer computed it), and the perpetual with a mark is taken as paid at the snapshot's clock (5): the repeat is
    refused, the next instant paid.  ETHUSD, without a mark, has no instant."""
    _paid_then_repeated(tmp_path)
    [(seq, path)] = list_snapshots(str(tmp_path))
    _as_an_older_engine_saved_it(path)
    assert "funded" not in decode_state(read_snapshot(path).payload)
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    assert report is not None
    assert (report.snapshot_seq, report.problems, report.replayed) == (seq, (), 0)
    assert durable.exchange.funded == {"XBTUSD": 5}
    before = _wallets(durable.exchange)
    _refused_as_paid(list(durable.submit(_tick(5))), 5, 5)
    assert isinstance(durable.submit(_tick(6))[-1], Accepted)
    assert _wallets(durable.exchange) == (before[0] - PAID, before[1] + PAID)
    durable.snapshot()  # the next snapshot holds the field
    durable.close()
    durable = _store(tmp_path)
    assert durable.exchange.funded == {"XBTUSD": 6}
    durable.close()


def test_fnd_021_an_older_state_that_ran_no_command_paid_nothing() -> None:
    """A state of seq 0 (a journal's genesis) from before the field: nothing was paid, whatever its marks."""
    engine = Engine()
    engine.marks = {"XBTUSD": MARK}
    state = decode_state(engine.snapshot())
    del state["funded"]
    loaded = Engine.from_snapshot(encode_state(state))
    assert loaded.funded == {}
    assert loaded.saved_state_hash() == loaded.state_hash() == engine.state_hash()


# --- the auditor --------------------------------------------------------------------------------------------------


def test_fnd_021_a_log_with_a_refused_repeat_audits_clean_at_both_levels() -> None:
    """The refused repeat is a Rejected command row between two paid instants: no finding at either level."""
    engine = Engine({"XBTUSD": XBTUSD})
    tally, pending = Tally(), {}  # type: ignore[var-annotated]
    lines = []
    refused = 0
    for command in [*_setup(), _tick(5), _tick(5), _tick(6)]:
        events = engine.process(command)
        refused += isinstance(events[-1], Rejected)
        if isinstance(command, c.PriceUpdate):  # simulate's mark row
            lines.append(encode_json({"table": "instrument", "timestamp": iso_timestamp(command.time_ms),
                                      "symbol": "XBTUSD", "markPrice": price_num(XBTUSD, MARK)}))
        lines += [encode_json(row) for event in events for row in event_records(XBTUSD, event, tally, pending)]
        if isinstance(command, c.FundingTick) and isinstance(events[-1], Accepted):  # the rate's row
            lines.append(encode_json({"table": "funding", "timestamp": iso_timestamp(command.time_ms),
                                      "symbol": "XBTUSD", "fundingRate": rate_num(command.rate_e8)}))
    lines += [encode_json({"table": "margin", "timestamp": iso_timestamp(6), "account": account, "currency": "XBt",
                           "walletBalance": engine.wallet(account, "XBt")}) for account in (1, 2)]
    rows = decode_rows(lines)
    assert refused == 1
    assert [row["amount"] for row in rows if row.get("transactType") == "Funding"] == [-PAID, PAID, -PAID, PAID]
    for level in (INVARIANTS, RULES):
        audited = audit_rows(enumerate(rows, start=1), load_mapping("perpspec"), {"XBTUSD": XBTUSD}, level)
        assert audited.error is None, audited.error
        assert audited.counts == {}


def test_fnd_021_no_funding_transaction_follows_a_refused_repeat() -> None:
    engine = _long_short()
    engine.process(_tick(5))
    events = engine.process(_tick(5))
    assert not any(isinstance(event, Transaction) for event in events)
