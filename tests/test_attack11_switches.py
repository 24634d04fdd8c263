"""Attack review 11 (a red-team helper, session 11): the dead man's switch (``CancelAllAfter``).

1. **Stale entries grew the state without limit.**  Each arm pushed ``(deadline, account)`` onto
   ``registry.dms_heap`` and nothing removed the entry a re-arm or a disarm replaced.  One verified account
   with no money, re-arming over ``perpspec serve``'s WebSocket 45 times a second (under every rate limit),
   added an entry per re-arm to the state, every checkpoint, snapshot and state hash.
2. **A stale deadline on top cost every command an undo dump.**  ``timers_due`` looked at the heap's top
   only; a stale deadline there said "a timer is due", so the next command encoded the whole state for its
   undo, although nothing fired: ``CancelAllAfter(1)``, ``(2)``, … ``(N)`` made the first command of each of
   the next N milliseconds, from any account, a hundred times dearer.
3. **A deadline past the clock's end** (``timeout_ms=10**40``) was accepted: a switch that can never fire,
   and an int of any size in the state.

4. **A live switch due on an account with no orders** (re-armed ``CancelAllAfter(1)`` between commands) also
   made the next command of any account encode the whole state for its undo: 0.007 ms became 130-190 ms per
   command with a 1 MB state, from an account with no money.

Fixed: ``Registry.tidy_switches`` (after every arm, disarm and clock move) keeps no stale entry on top and
compacts the heap to its live entries when its length reaches a power of two from 64 on with at most half
live (so it stays below four times the live switches, or 128); a timeout whose deadline passes ``MAX_TIME_MS`` is refused ``TimeOutOfRange``; and when the only timers a command's time fires are switches of accounts with no
order, its undo is the heap and their deadlines (``Registry.switches_undo``), not a dump of the whole state.
Session 12: whatever the timers fire (switches that cancel orders too, Day-order expiry), a rejected command's
undo is what they recorded (``registry.TimerUndo``), never a dump of the whole state.  Session 15: there is no undo
any more: the timers a command's time fires are committed whatever the command's fate (as a ``TimeTick`` at that
time would leave them; ``registry.OrderRegistry.advance_clock``), so a rejected command neither dumps nor undoes.

Rules: none (the engine's dead man's switch, BitMEX ``POST /order/cancelAllAfter``).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import MAX_TIME_MS, Engine

COMPILED = not exchange.__file__.endswith(".py")  # a compiled engine's own calls cannot be counted from here


def verified(accounts: range) -> Engine:
    engine = Engine()
    for account in accounts:
        engine.process(c.VerifyAccount(time_ms=0, account=account))
    return engine


def live_entries(engine: Engine) -> list[tuple[int, int]]:
    return sorted(
        (account.cancel_at_ms, account.account_id)
        for account in engine.ledger.accounts.values()
        if account.cancel_at_ms
    )


def test_re_arming_and_disarming_leave_one_entry_per_armed_account() -> None:
    engine = verified(range(1, 2))
    for step in range(1_000):
        engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=10**9 + step))
    assert engine.registry.dms_heap == [(10**9 + 999, 1)]
    engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=0))
    assert engine.registry.dms_heap == []


def test_the_heap_stays_below_four_times_the_live_switches() -> None:
    engine = verified(range(1, 41))
    for step in range(4_000):  # 40 accounts re-arming in turn, deadlines not in arrival order
        account = 1 + step * 7 % 40
        engine.process(c.CancelAllAfter(time_ms=0, account=account, timeout_ms=10**6 + step * 7919 % 5_000))
        heap = engine.registry.dms_heap
        assert len(heap) < max(128, 4 * len(live_entries(engine)))
        assert heap[0] == live_entries(engine)[0]  # the top is always live
    assert set(live_entries(engine)) <= set(engine.registry.dms_heap)


def test_a_stale_deadline_is_no_due_timer() -> None:
    engine = verified(range(1, 3))
    for timeout in range(1, 201):  # the attack: each arm replaced at once by a later one
        engine.process(c.CancelAllAfter(time_ms=0, account=2, timeout_ms=timeout))
    assert engine.registry.dms_heap == [(200, 2)]
    assert not engine.registry.timers_due(199)
    assert engine.registry.timers_due(200)


def test_only_the_last_arm_fires() -> None:
    engine = verified(range(1, 3))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000))
    placed = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000))
    assert not isinstance(placed[-1], Rejected)
    engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=1_000))
    engine.process(c.CancelAllAfter(time_ms=500, account=1, timeout_ms=1_000))  # now due at 1,500
    engine.process(c.TimeTick(time_ms=1_200))
    assert engine.accounts[1].orders
    engine.process(c.TimeTick(time_ms=1_500))
    assert not engine.accounts[1].orders
    assert engine.registry.dms_heap == []


def test_a_deadline_past_the_clocks_end_is_refused_and_changes_nothing() -> None:
    engine = verified(range(1, 2))
    engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=5_000))
    # beyond 64 bits the validation layer refuses it first (session 17, redteam18_1): Malformed
    for timeout, reason in ((10**40, Reason.MALFORMED), (MAX_TIME_MS + 1, Reason.TIME_OUT_OF_RANGE)):
        events = engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=timeout))
        assert isinstance(events[-1], Rejected)
        assert events[-1].reason is reason
    assert (engine.accounts[1].cancel_at_ms, engine.registry.dms_heap) == (5_000, [(5_000, 1)])
    assert not isinstance(engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=MAX_TIME_MS))[-1], Rejected)


def test_a_restored_engine_compacts_at_the_same_commands() -> None:
    """Compaction is decided by the state alone: an engine restored from a snapshot mid-way ends with the same
    state hash as the one that ran throughout."""
    engine = verified(range(1, 31))
    commands = [
        c.CancelAllAfter(time_ms=step // 10, account=1 + step * 11 % 30, timeout_ms=(step * 7919 % 997) * (step % 3))
        for step in range(3_000)
    ]
    for command in commands[:1_300]:
        engine.process(command)
    restored = Engine.from_snapshot(engine.snapshot())
    for command in commands[1_300:]:
        assert engine.process(command) == restored.process(command)
    assert engine.state_hash() == restored.state_hash()
    assert len(engine.registry.dms_heap) < max(128, 4 * len(live_entries(engine)))


def counted_dumps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dumps: list[int] = []
    dump = Engine._dump

    def counting(engine: Engine) -> bytes:
        dumps.append(1)
        return dump(engine)

    monkeypatch.setattr(Engine, "_dump", counting)
    return dumps


def ticked(engine: Engine, time_ms: int) -> Engine:
    """A twin of ``engine`` that saw a ``TimeTick`` at ``time_ms`` (numbered as one event fewer: a rejected
    command's timers leave the state the tick leaves, its ``Rejected`` taking the tick's ``Accepted`` number)."""
    twin = Engine.from_snapshot(engine.snapshot())
    assert isinstance(twin.process(c.TimeTick(time_ms=time_ms))[-1], Accepted)
    return twin


@pytest.mark.skipif(COMPILED, reason="counts the engine's own calls: interpreted only")
def test_a_switch_firing_on_an_account_without_orders_is_committed_without_a_dump(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = verified(range(1, 3))
    dumps = counted_dumps(monkeypatch)
    for step in range(1, 40):
        armed = engine.process(c.CancelAllAfter(time_ms=step, account=1, timeout_ms=1))
        assert isinstance(armed[-1], Accepted)
        twin = ticked(engine, step + 1)
        dumped = len(dumps)  # (the twin's snapshot and checkpoint)
        refused = engine.process(c.CancelOrder(time_ms=step + 1, account=2, order_id=10**9))  # due: switch fires
        assert len(dumps) == dumped
        assert [type(event) for event in refused] == [Rejected]  # it had no order to cancel
        assert engine.state_hash() == twin.state_hash()  # fired and disarmed, the clock at the command's time
        assert (engine.accounts[1].cancel_at_ms, engine.registry.dms_heap, engine.time_ms) == (0, [], step + 1)


@pytest.mark.skipif(COMPILED, reason="counts the engine's own calls: interpreted only")
def test_a_switch_that_cancels_orders_fires_for_good_in_a_rejected_command_without_a_dump(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Session 15: the cancels stay (ORD-050); before, they were put back from what the switch recorded."""
    engine = verified(range(1, 3))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000))
    engine.process(c.CancelAllAfter(time_ms=0, account=1, timeout_ms=1))
    twin = ticked(engine, 5)
    dumps = counted_dumps(monkeypatch)
    refused = engine.process(c.CancelOrder(time_ms=5, account=2, order_id=10**9))
    assert [type(event).__name__ for event in refused] == ["Execution", "Rejected"]
    assert dumps == []
    assert engine.state_hash() == twin.state_hash()
    assert not engine.accounts[1].orders


def test_a_rejected_command_among_many_due_and_later_switches_fires_exactly_the_due_ones() -> None:
    """Many switches armed, some due at the command's time, some later, in heap order: a rejected command fires
    the due ones, as a TimeTick at its time would, and leaves the later ones armed."""
    engine = verified(range(1, 301))
    for account in range(1, 301):
        engine.process(c.CancelAllAfter(time_ms=0, account=account, timeout_ms=1 + account * 7919 % 997))
    for time_ms in (250, 500, 998):
        assert engine.registry.timers_due(time_ms)
        twin = ticked(engine, time_ms)
        refused = engine.process(c.CancelOrder(time_ms=time_ms, account=1, order_id=10**9))
        assert [type(event) for event in refused] == [Rejected]
        assert engine.state_hash() == twin.state_hash()
        assert all(deadline > time_ms for deadline, _ in live_entries(engine))
        assert engine.registry.dms_heap[:1] == live_entries(engine)[:1]
