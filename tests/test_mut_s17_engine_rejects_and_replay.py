"""Mutants of session 16's engine changes that survived the session-16 tests (helper mut17, session 17).

* ``exchange.told``'s default account: a ``Rejected`` of a registered command that has no ``account`` field (a
  ``PriceUpdate``, a ``TimeTick``) names account -1, as every reject of a command without an actor does.
* ``Engine._dispatch``'s replay stand-in (``_Noop``): a command that failed internally is replayed, on the next
  rollback, as a stand-in that numbers its ``Accepted`` at the failure's last event, so the events of a second
  failure (and of every command after it) are numbered on without a gap or a repeat.
* ``rejects.field_values`` / ``first_wrong_type`` (and ``commands.wrong_field_type``, public) look a class up only
  when its metaclass is ``type``: a foreign object whose metaclass's hash raises is no command (``()``, None).
* ``state_codec.encode_state`` refuses, as a ``CodecError`` and before running anything of it, an enum whose
  metaclass is its own (its hash raises), an unregistered tuple subclass (its ``__len__`` raises) and an unregistered
  object (its ``__getattribute__`` raises).
* ``state_check``'s ``ps.qty != 0`` (mut16_1): a position of exactly one contract (ETHUSD, lot 1) in a contract
  without a mark is refused as any other position there.
"""

from __future__ import annotations

import enum
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import exchange
from perpspec.engine.core.events import Accepted, Event, InternalError, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.rejects import field_values, first_wrong_type, text_of
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


def test_a_rejected_command_without_an_account_field_names_account_minus_one() -> None:
    engine = Engine()
    ok(engine, c.PriceUpdate(time_ms=10, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for command in (
        c.PriceUpdate(time_ms=5, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),  # backwards
        c.TimeTick(time_ms=5),
        c.PriceUpdate(time_ms=10, symbol="NOSUCH", mark_price=5_000_000, index_price=5_000_000),
    ):
        [rejected] = engine.process(command)
        assert isinstance(rejected, Rejected), rejected
        assert (rejected.account, rejected.cl_ord_id) == (-1, "")


def test_events_after_two_internal_failures_are_numbered_without_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine()
    ok(engine, c.VerifyAccount(time_ms=0, account=1))
    handler = exchange._HANDLERS[c.TimeTick]
    planted = {c.TimeTick(time_ms=1), c.TimeTick(time_ms=2)}

    def broken(self: Engine, command: c.TimeTick) -> object:
        if command in planted and not self.stream.replaying:
            raise ZeroDivisionError("planted bug")
        return handler(self, command)

    monkeypatch.setitem(exchange._HANDLERS, c.TimeTick, broken)
    seqs = [e.seq for e in ok(engine, c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))]
    first = engine.process(c.TimeTick(time_ms=1))
    assert [type(e) for e in first] == [InternalError, Rejected]
    # the second failure's rollback replays the first one's stand-in (exchange._Noop) since the checkpoint
    assert any(type(since).__name__ == "_Noop" for since in engine._since)
    second = engine.process(c.TimeTick(time_ms=2))
    assert [type(e) for e in second] == [InternalError, Rejected]
    after = ok(engine, c.Deposit(time_ms=3, account=1, asset="XBt", amount=1))
    numbers = seqs + [e.seq for e in first + second + after]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def test_a_snapshot_with_a_one_contract_position_in_a_contract_without_a_mark_is_refused() -> None:
    engine = Engine()
    ok(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account in (1, 2):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000))
    state = decode_state(engine.snapshot())
    assert state["accounts"][1].positions["ETHUSD"].qty == 1
    assert Engine.from_snapshot(encode_state(state)).state_hash() == engine.state_hash()
    del state["marks"]["ETHUSD"]
    # account 1's long of one contract is named first (the mutant `qty != 1` passed it and named account 2's short)
    with pytest.raises(CodecError, match=r"accounts\[1\]\.positions\['ETHUSD'\]\.qty: a position in 'ETHUSD', which has no"):
        Engine.from_snapshot(encode_state(state))


def test_an_empty_builtin_clordid_is_shown_as_none_and_a_non_empty_one_canonically() -> None:
    # text_of tests an exact builtin's truth by identity of its class, each of the nine (hand mutants of mut17)
    for empty in (0, False, 0.0, b"", [], (), {}, set(), frozenset(), None):
        assert text_of(empty) == "", empty
    assert [text_of(v) for v in (1.5, b"x", (1,), {1: 2}, frozenset({3}))] == ["1.5", "b'x'", "(1,)", "{1: 2}", "frozenset({3})"]
    engine = Engine()
    ok(engine, c.VerifyAccount(time_ms=0, account=1))
    for empty in (0.0, b"", (), {}, set(), frozenset()):
        [rejected] = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                                 price=5_000_000, cl_ord_id=empty))  # type: ignore[arg-type]
        assert isinstance(rejected, Rejected)
        assert rejected.reason is Reason.MALFORMED
        assert (rejected.account, rejected.cl_ord_id) == (1, ""), empty


class _RaisingHash(type):
    def __hash__(cls) -> int:
        raise ValueError("metaclass hash run")


class _Foreign(metaclass=_RaisingHash):
    pass


def test_the_typed_validation_layer_looks_up_no_foreign_class() -> None:
    foreign = _Foreign()
    assert field_values(foreign) == ()
    assert first_wrong_type(foreign, ()) is None
    assert c.wrong_field_type(foreign) is None


class _RaisingEnumMeta(enum.EnumMeta):
    def __hash__(cls) -> int:
        raise ValueError("metaclass hash run")


class _HostileEnum(enum.Enum, metaclass=_RaisingEnumMeta):
    A = 1


class _LongTuple(tuple):  # type: ignore[type-arg]
    _fields = ("a",)

    def __len__(self) -> int:
        raise ValueError("__len__ run")


class _Prying:
    def __getattribute__(self, name: str) -> object:
        raise ValueError(f"{name} read")


@pytest.mark.parametrize("make", [lambda: _HostileEnum.A, lambda: _LongTuple((1,)), _Prying], ids=["enum", "tuple", "object"])
def test_the_state_encoding_refuses_a_foreign_value_before_running_any_of_it(make: Any) -> None:
    with pytest.raises(CodecError):
        encode_state({"x": [make()]})


def test_an_oversized_foreign_or_short_command_is_stood_in_for_at_the_clock() -> None:
    from perpspec.engine.core.commands import Oversized
    from perpspec.engine.durability.recovery import oversized_stand_in

    assert oversized_stand_in(_Foreign(), 10, 7) == Oversized(time_ms=7, command="_Foreign", size=10)
    short = tuple.__new__(c.PlaceOrder, [])  # its time_ms would raise IndexError: not read
    assert oversized_stand_in(short, 10, 7) == Oversized(time_ms=7, command="PlaceOrder", size=10)
    assert oversized_stand_in(tuple.__new__(c.TimeTick, [9]), 10, 7).time_ms == 9  # a whole one's own time
