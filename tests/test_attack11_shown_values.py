"""Attack review 11 (a red-team helper, session 11): a hostile value echoed in a reject's text.

A ``Rejected`` event echoes the command's clOrdID, and several reject texts show a field's value
(``unknown asset …``).  A value that is not a string is shown by ``engine.core.rejects.show``.  Four ways
past it, each a few bytes in the journal:

1. **A self-sharing list** ``x = [x, x]`` twenty levels deep (a 132-byte journal record: the state
   encoding writes a shared list once) was shown in full: 6 MB of text and 3 s at depth 20, doubling per
   level; depth 40 never finished, live or on every recovery of the journal.
2. **A list nested 100,000 levels** (or a cycle) exhausted the stack: ``RecursionError`` answered as
   ``InternalError`` (the engine's "a bug" path), which restores the state by replaying every command since
   the last checkpoint: a cheap command amplified into seconds of work.
3. **An int of 5,000 digits**, or an object whose ``__repr__`` raises: ``ValueError`` / the object's own
   error, the same ``InternalError`` path.
4. **A set of objects the state encoding cannot hold** was journaled as its ``repr`` (members in
   hash-table order) while the live reject showed the members sorted: the replayed events differed from
   the live ones.

Fixed: ``show`` is bounded (``SHOWN_CHARS`` characters, ``SHOWN_DEPTH`` levels, a container met again at
the same depth rendered once, a long int shown by its size, a failing ``repr`` named by its type), and the
journal keeps such a value as ``show``'s text (``journalable``), so live and replayed rejects agree.

Rules: none (the engine's input contract: bad input gets a typed rejection, the same on replay).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import InternalError, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.rejects import SHOWN_CHARS, SHOWN_DEPTH, show
from perpspec.engine.durability.recovery import DurableExchange, command_codec, event_stream_hash, recover


def shared_list(levels: int) -> list[object]:
    """``x = [x, x]`` per level: ``levels`` + 1 lists, a text of 2 ** levels brackets when shown in full."""
    value: list[object] = []
    for _ in range(levels):
        value = [value, value]
    return value


def nested_list(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels):
        value = [value]
    return value


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no")


class Hashed:
    """A client object the state encoding cannot hold, whose hash puts members of a set out of sorted order."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"K{self.n}"

    def __hash__(self) -> int:
        return self.n * 7919 % 13


def place(cl_ord_id: object) -> c.PlaceOrder:
    return c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=1, price=1, cl_ord_id=cl_ord_id)  # type: ignore[arg-type]


def test_small_values_are_shown_as_before() -> None:
    assert show(frozenset((4, -4))) == "frozenset({-4, 4})"
    assert show(frozenset(("b", "a"))) == "frozenset({'a', 'b'})"
    assert show({3}) == "set({3})"
    assert show(set()) == "set()"
    assert show(("a",)) == "('a',)"
    assert show(((), [1, None])) == "((), [1, None])"
    assert show({1: "x", "k": (2.5, True)}) == "{1: 'x', 'k': (2.5, True)}"
    assert show(b"\x00") == "b'\\x00'"


def test_a_long_value_is_cut_after_the_bound() -> None:
    assert show("a" * 1_000) == "'" + "a" * (SHOWN_CHARS - 1) + "…"
    assert show(list(range(10_000))) == show(list(range(200)))  # both cut within the first items
    assert len(show(list(range(10_000)))) == SHOWN_CHARS + 1
    assert show(10**5000) == "<int of 16610 bits>"
    assert show([2**700]) == f"[{2**700}]"  # 211 digits: in full


def test_a_self_sharing_list_is_shown_in_bounded_text() -> None:
    assert len(show(shared_list(20))) == SHOWN_CHARS + 1  # in full: 2 ** 20 pairs of brackets
    assert show(shared_list(40)) == show(shared_list(20))  # all the text fits in the first levels


def test_nesting_and_cycles_stop_at_the_depth_bound() -> None:
    assert show(nested_list(100_000)) == "[" * SHOWN_DEPTH + "…" + "]" * SHOWN_DEPTH
    cycle: list[object] = []
    cycle.append(cycle)
    assert show(cycle) == show(nested_list(SHOWN_DEPTH + 1))


def test_a_failing_repr_is_named_by_its_type() -> None:
    assert show(RaisingRepr()) == "<unrepresentable RaisingRepr: RuntimeError>"
    assert show([RaisingRepr()]) == "[<unrepresentable RaisingRepr: RuntimeError>]"


def test_hostile_cl_ord_ids_get_a_typed_reject_not_an_internal_error() -> None:
    engine, twin = Engine(), Engine()  # the twin is sent a plainly wrong clOrdID (an int) at each step
    cycle: list[object] = []
    cycle.append(cycle)
    for hostile in (shared_list(20), nested_list(100_000), cycle, [10**5000], RaisingRepr(), [RaisingRepr()]):
        events = engine.process(place(hostile))
        assert [type(event) for event in twin.process(place(5))] == [Rejected]
        assert [type(event) for event in events] == [Rejected], hostile
        assert events[0].reason is Reason.MALFORMED
        assert events[0].text == "cl_ord_id must be a string"
        assert events[0].cl_ord_id == show(hostile)
        assert len(events[0].cl_ord_id) <= SHOWN_CHARS + 1
        assert not any(isinstance(event, InternalError) for event in events)
        assert engine.state_hash() == twin.state_hash()  # nothing changed but the event count


def test_hostile_values_replay_to_the_same_events(tmp_path: Path) -> None:
    members = frozenset(Hashed(n) for n in range(8))
    assert repr(members) != show(members)  # the hash-table order is not the sorted one
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    events: list[Any] = []
    for hostile in (members, [members, 1], shared_list(30), RaisingRepr(), 10**5000):
        events += durable.submit(place(hostile))
    events += durable.submit(c.DepositInsurance(time_ms=0, asset=members, amount=1))  # type: ignore[arg-type]
    durable.close()
    _, report, _ = recover(str(tmp_path / "journal.log"), command_codec())
    assert (report.event_hash, report.state_hash) == (event_stream_hash(events), durable.exchange.state_hash())
    rejected = [event for event in events if isinstance(event, Rejected)]
    assert rejected[0].cl_ord_id == "frozenset({K0, K1, K2, K3, K4, K5, K6, K7})"
    assert rejected[1].cl_ord_id == "[frozenset({K0, K1, K2, K3, K4, K5, K6, K7}), 1]"
    assert len(rejected) == 6


class Drifting:
    """A client object whose repr changes on every call (each process sees another)."""

    calls = 0

    def __repr__(self) -> str:
        Drifting.calls += 1
        return f"D{Drifting.calls}"


def test_a_command_journaled_exactly_is_applied_as_the_journal_holds_it(tmp_path: Path) -> None:
    """The engine runs a hostile command (exact encoding) decoded from its own record, so a value whose repr
    drifts, or a non-command whose class the journal cannot name, replays to the live events."""
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    events: list[Any] = []
    for hostile in (place(Drifting()), place([Drifting(), 2**70]), Drifting(), type("N" * 70, (), {})()):
        events += durable.submit(hostile)
    durable.close()
    _, report, _ = recover(str(tmp_path / "journal.log"), command_codec())
    assert report.event_hash == event_stream_hash(events)
    assert [event.cl_ord_id for event in events[:2]] == ["D1", "[D2, 1180591620717411303424]"]
    assert [event.command for event in events[2:]] == ["Opaque", "Opaque"]  # as replay names them
