"""Hostile command *objects*, not hostile field values (session 16: redteam13_1, review12_4).

Before, the engine read a command's ``time_ms``, ``account`` and ``cl_ord_id`` with ``getattr(command, name,
default)`` before it knew the object was a command of a registered class holding its class's number of items.
``getattr`` absorbs only ``AttributeError``, so:

* a foreign object whose ``time_ms`` is a raising property, a subclass of a command class whose ``account`` or
  ``cl_ord_id`` is one, and a command built short (``tuple.__new__(PlaceOrder, [0])``: its missing fields raise
  ``IndexError``) got ``InternalError`` and a rollback (the checkpoint reloaded, every command since replayed)
  instead of a typed ``Malformed``;
* with ``track_steps`` on (the invariant checker) and on a halted engine the exception escaped ``Engine.process``;
* a clOrdID whose ``__bool__`` raises got ``InternalError`` too (``text_of`` tested its truth).

Now only the class of a foreign object is looked up (``Malformed``, "unknown command"), a reject reads its account
and clOrdID only from a registered command of the right width (``exchange.told``), and a foreign class's name is
read from type's own slot (``rejects.name_of``, ``rejects.class_name``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, InternalError, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.rejects import text_of


class RaisingTime:
    @property
    def time_ms(self) -> int:
        raise ValueError("time_ms read")


class RaisingAccount(c.Deposit):
    __slots__ = ()

    @property
    def account(self) -> int:  # type: ignore[override]
        raise ValueError("account read")


class RaisingClOrdId(c.PlaceOrder):
    __slots__ = ()

    @property
    def cl_ord_id(self) -> str:  # type: ignore[override]
        raise ValueError("cl_ord_id read")


class RaisingName(type):
    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise ValueError("__name__ read")


class Nameless(metaclass=RaisingName):
    pass


class Falsy:
    def __bool__(self) -> bool:
        raise ValueError("__bool__ read")

    def __repr__(self) -> str:
        raise ValueError("__repr__ read")


def _hostile() -> list[tuple[str, Any]]:
    return [
        ("raising time_ms", RaisingTime()),
        ("raising account", RaisingAccount(0, 1, "XBt", 5)),
        ("raising cl_ord_id", RaisingClOrdId(0, 1, "XBTUSD", "Buy", 1, 5_000_000)),
        ("foreign class with a raising name", Nameless()),
        ("short PlaceOrder", tuple.__new__(c.PlaceOrder, [0])),
        ("short AmendOrder", tuple.__new__(c.AmendOrder, [0])),
        ("empty CancelAll", tuple.__new__(c.CancelAll, [])),
        ("clOrdID whose truth raises", c.PlaceOrder(0, 1, "XBTUSD", "Buy", 1, 5_000_000, cl_ord_id=Falsy())),  # type: ignore[arg-type]
    ]


def _engine() -> Engine:
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.VerifyAccount(time_ms=0, account=1))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    return engine


LABELS = [label for label, _ in _hostile()]  # the objects are built in each test: pytest's own repr would read them


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("track_steps", [False, True], ids=["plain", "track_steps"])
def test_a_hostile_command_object_is_malformed_without_a_rollback(label: str, track_steps: bool) -> None:
    command = dict(_hostile())[label]
    engine = _engine()
    engine.track_steps = track_steps
    plain = _engine()  # what any malformed command changes: its Rejected's sequence number
    assert plain.process(c.TimeTick(time_ms="soon"))[-1].reason is Reason.MALFORMED  # type: ignore[arg-type]
    restores: list[int] = []
    original = engine._restore
    engine._restore = lambda: restores.append(1) or original()  # type: ignore[method-assign]
    events = engine.process(command)
    assert [type(event) for event in events] == [Rejected], (label, events)
    refused = events[0]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.MALFORMED, (label, refused)
    named = (1, "<unrepresentable Falsy: ValueError>") if label == "clOrdID whose truth raises" else (-1, "")
    assert (refused.account, refused.cl_ord_id) == named
    assert not restores
    assert engine.state_hash() == plain.state_hash()
    assert not any(isinstance(event, InternalError) for event in events)
    # the engine goes on: the same trader's order is accepted
    placed = engine.process(c.PlaceOrder(time_ms=1, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000))
    assert isinstance(placed[-1], Accepted), placed


@pytest.mark.parametrize("label", LABELS)
def test_a_halted_engine_refuses_a_hostile_command_object_without_raising(label: str) -> None:
    command = dict(_hostile())[label]
    engine = _engine()
    engine.halted = "engine halted: for the test"
    events = engine.process(command)
    assert [type(event) for event in events] == [Rejected], (label, events)
    refused = events[0]
    assert isinstance(refused, Rejected)
    assert (refused.reason, refused.text) == (Reason.INTERNAL_ERROR, "engine halted: for the test")


def test_the_names_and_fields_a_reject_reads() -> None:
    from perpspec.engine.core.rejects import name_of, told

    assert (name_of(c.PlaceOrder), name_of(RaisingTime), name_of(RaisingName)) == ("PlaceOrder", "RaisingTime", "RaisingName")
    assert name_of(Nameless) == "Nameless"  # the class's own name slot, not its metaclass's raising property
    assert told(c.CancelOrder(0, 7, 3, cl_ord_id="mine")) == (7, "mine")
    assert told(tuple.__new__(c.CancelOrder, [0, 7])) == (-1, "")  # short: nothing read
    assert told(RaisingAccount(0, 1, "XBt", 5)) == (-1, "")  # a subclass is not a registered class
    assert told(c.CancelOrder(0, True, 3)) == (-1, "")  # a bool is not an account


def test_a_clordid_shows_as_before_for_builtins_and_by_its_type_when_it_cannot_be_shown() -> None:
    assert [text_of(value) for value in ("", "a", None, 0, False, [], 7)] == ["", "a", "", "", "", "", "7"]
    assert text_of(Falsy()) == "<unrepresentable Falsy: ValueError>"


def test_a_replay_after_hostile_objects_reproduces_the_events() -> None:
    """The rejected objects stay in the rollback's replay list; an internal error later replays them deterministically."""
    engine = _engine()
    for _, command in _hostile():
        engine.process(command)
    twin = Engine.from_snapshot(engine.snapshot())
    follow = c.PlaceOrder(time_ms=2, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000)
    placed = engine.process(follow)
    assert isinstance(placed[-1], Accepted)
    assert placed == twin.process(follow)
    assert engine._restore() == ""  # the last checkpoint reloaded, the hostile objects and the order replayed
    assert engine.state_hash() == twin.state_hash()


# ----------------------------------------------------------------------------- review13: classes that run code
# A class's hash, equality, name and isinstance checks are its metaclass's code, and isinstance reads an object's
# __class__.  The engine, the journal's codec and the state encoding looked classes up in dicts (hashing them)
# and asked isinstance: a metaclass __hash__ that raises escaped Engine.process and DurableExchange.submit
# (review13_1), a metaclass __eq__ passing a foreign class for Deposit ran Deposit's handler on fields read twice
# (live 10**12, recovered 10: review13_2), and an object claiming __class__ = _Noop rewound the event numbers
# (review13_3).  Now a class is looked up only when its metaclass is exactly type (rejects.is_plain_class), and
# compared by identity otherwise.


def _boom(*_: object, **__: object) -> Any:
    raise RuntimeError("boom")


class HashRaises(type):
    __hash__ = _boom  # type: ignore[assignment]


class EqualToDeposit(type):
    def __eq__(cls, other: object) -> bool:
        return other is c.Deposit or other is cls

    def __hash__(cls) -> int:
        return hash(c.Deposit)


class Unhashable(metaclass=HashRaises):
    pass


class PosingAsDeposit(metaclass=EqualToDeposit):
    """Reads its fields differently each time: an amount of 10 for the codec, then 10**12 for a handler."""

    reads = 0
    time_ms, account, asset = 0, 1, "XBt"

    @property
    def amount(self) -> int:
        PosingAsDeposit.reads += 1
        return 10 if PosingAsDeposit.reads == 1 else 10**12

    def __len__(self) -> int:
        return 4

    def __iter__(self) -> Any:
        return iter((0, 1, "XBt", self.amount))


class ClassRaises:
    @property
    def __class__(self) -> type:  # type: ignore[override]
        raise RuntimeError("__class__ read")


class PosingAsNoop:
    seq = 1
    account = 1

    @property
    def __class__(self) -> type:  # type: ignore[override]
        from perpspec.engine.core.exchange import _Noop

        return _Noop


def _foreign() -> list[tuple[str, Any]]:
    return [
        ("metaclass hash raises", Unhashable()),
        ("metaclass equal to Deposit", PosingAsDeposit()),
        ("__class__ raises", ClassRaises()),
        ("__class__ claims _Noop", PosingAsNoop()),
        ("a class with a raising metaclass hash", Unhashable),
    ]


FOREIGN = [label for label, _ in _foreign()]


def _in_fields(value: Any) -> list[Any]:
    return [
        c.PlaceOrder(0, 1, "XBTUSD", "Buy", 100, 5_000_000, cl_ord_id=value),
        c.PlaceOrder(0, 1, value, "Buy", 100, 5_000_000),
        c.Deposit(0, 1, "XBt", value),
        c.TimeTick(time_ms=value),
    ]


@pytest.mark.parametrize("label", FOREIGN)
@pytest.mark.parametrize("mode", ["plain", "track_steps", "halted"])
def test_a_class_that_runs_code_is_refused_by_the_engine_without_running_it(label: str, mode: str) -> None:
    for command in [dict(_foreign())[label], *_in_fields(dict(_foreign())[label])]:
        engine = _engine()
        engine.track_steps = mode == "track_steps"
        engine.halted = "engine halted: for the test" if mode == "halted" else ""
        seq = engine.stream.seq
        events = engine.process(command)  # nothing raises
        assert [type(event) for event in events] == [Rejected], (label, mode, events)
        refused = events[0]
        assert isinstance(refused, Rejected)
        wanted = Reason.INTERNAL_ERROR if mode == "halted" else Reason.MALFORMED
        assert refused.reason is wanted, (label, mode, refused)
        assert refused.seq == seq + 1  # numbered on, never rewound


@pytest.mark.parametrize("label", FOREIGN)
def test_a_class_that_runs_code_is_journaled_refused_and_recovered_to_the_same_state(label: str, tmp_path: Any) -> None:
    from perpspec.engine.durability.recovery import DurableExchange, command_codec, event_stream_hash, recover

    PosingAsDeposit.reads = 0
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    live = list(durable.submit(c.VerifyAccount(time_ms=0, account=1)))
    for command in [dict(_foreign())[label], *_in_fields(dict(_foreign())[label])]:
        refused = durable.submit(command)
        assert [type(event) for event in refused] == [Rejected], (label, refused)
        live += refused
    live += durable.submit(c.TimeTick(time_ms=5))
    live_hash = durable.exchange.state_hash()
    assert durable.exchange.accounts[1].wallets.get("XBt", 0) == 0  # no handler ran a foreign class
    durable.close()
    recovered, report, _ = recover(os.path.join(str(tmp_path), "journal.log"), command_codec())
    assert (report.state_hash, report.event_hash) == (live_hash, event_stream_hash(live))
    assert recovered.state_hash() == live_hash


class ReprExits:
    def __init__(self, error: type[BaseException]) -> None:
        self.error = error

    def __repr__(self) -> str:
        raise self.error


@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt, GeneratorExit], ids=lambda e: e.__name__)
def test_a_value_whose_repr_raises_a_base_exception_is_shown_by_its_type(error: type[BaseException], tmp_path: Any) -> None:
    """review14_3: the repr guard caught Exception only, so a clOrdID whose __repr__ raised SystemExit escaped
    Engine.process (after its Rejected's number was taken) and DurableExchange.submit."""
    from perpspec.engine.durability.recovery import DurableExchange, command_codec

    command = c.PlaceOrder(0, 1, "XBTUSD", "Buy", 100, 5_000_000, cl_ord_id=ReprExits(error))  # type: ignore[arg-type]
    engine = _engine()
    refused = engine.process(command)[-1]
    assert isinstance(refused, Rejected)
    assert (refused.reason, refused.cl_ord_id) == (Reason.MALFORMED, f"<unrepresentable ReprExits: {error.__name__}>")
    twin = Engine.from_snapshot(engine.snapshot())
    assert engine._restore() == ""  # the rejected command replays to the same numbering
    assert engine.state_hash() == twin.state_hash()
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    assert isinstance(durable.submit(command)[-1], Rejected)
    durable.close()
