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
read only when that raises nothing (``exchange.name_of``).
"""

from __future__ import annotations

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
    from perpspec.engine.core.exchange import name_of, told

    assert (name_of(c.PlaceOrder), name_of(RaisingTime), name_of(RaisingName)) == ("PlaceOrder", "RaisingTime", "RaisingName")
    assert name_of(Nameless) == "?"
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
