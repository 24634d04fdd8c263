"""Commands built past their ``__new__``, and records too large to journal (review11, session 15).

Commands are NamedTuples (issue 14), so ``tuple.__new__(TimeTick, [5, 6])`` is an object of a real command class
holding another number of items than its fields.  The codec journaled it as a compact record of the wrong width, the
engine accepted it (extra items ignored) or answered ``InternalError`` (too few), and recovery then refused the whole
store (``JournalCorrupt``).  Now such a command is a typed ``Malformed`` reject, journaled as no command; nested in a
field it is that field's opaque text; and the store recovers to the same events.  A record too large to journal
(``Oversized``) is malformed input too: like a wrong-typed field it fires no order timer (ORD-023, ORD-050).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, encode_state
from perpspec.engine.durability import recovery
from perpspec.engine.durability.recovery import DurableExchange, command_codec, event_stream_hash, recover

SHAPES: list[tuple[type[Any], list[Any]]] = [(c.TimeTick, [5, 6]), (c.TimeTick, []), (c.Deposit, [5, 1, "XBt"]), (c.VerifyAccount, [5, 1, 2])]


def _malformed(cls: type[Any], items: list[Any]) -> Any:
    return tuple.__new__(cls, items)


@pytest.mark.parametrize(("cls", "items"), SHAPES, ids=[f"{cls.__name__}{len(items)}" for cls, items in SHAPES])
def test_a_command_of_the_wrong_width_is_malformed_and_the_store_recovers(
    cls: type[Any], items: list[Any], tmp_path: Any
) -> None:
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    events = list(durable.submit(c.VerifyAccount(time_ms=0, account=1)))
    refused = list(durable.submit(_malformed(cls, items)))
    events += refused
    events += list(durable.submit(c.TimeTick(time_ms=10)))
    durable.close()
    last = refused[-1]
    assert isinstance(last, Rejected)
    assert last.reason == Reason.MALFORMED
    _, report, _ = recover(os.path.join(str(tmp_path), "journal.log"), command_codec())
    assert report.event_hash == event_stream_hash(events)


@pytest.mark.parametrize(("cls", "items"), SHAPES, ids=[f"{cls.__name__}{len(items)}" for cls, items in SHAPES])
def test_the_engine_itself_refuses_a_command_of_the_wrong_width(cls: type[Any], items: list[Any]) -> None:
    engine, reference = Engine(), Engine()
    reference.process(c.TimeTick(time_ms="0"))  # type: ignore[arg-type]  # refused at the first check: one Rejected
    events = engine.process(_malformed(cls, items))
    assert [type(event) for event in events] == [Rejected]
    assert events[-1].reason == Reason.MALFORMED  # type: ignore[union-attr]
    assert f"holds {len(items)} items" in events[-1].text  # type: ignore[union-attr]
    assert engine.state_hash() == reference.state_hash()


def test_a_command_of_the_wrong_width_nested_in_a_field_is_its_opaque_text(tmp_path: Any) -> None:
    with pytest.raises(CodecError, match="holding 2 items, not its 1 fields"):
        encode_state(_malformed(c.TimeTick, [1, 2]))
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    events = list(durable.submit(c.VerifyAccount(time_ms=0, account=1)))
    refused = list(durable.submit(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                               price=50_000_0, cl_ord_id=_malformed(c.TimeTick, [1, 2]))))
    events += refused
    durable.close()
    assert isinstance(refused[-1], Rejected)
    assert refused[-1].reason == Reason.MALFORMED
    _, report, _ = recover(os.path.join(str(tmp_path), "journal.log"), command_codec())
    assert report.event_hash == event_stream_hash(events)


def _armed(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(recovery, "MAX_RECORD_BYTES", 4_096)
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    for command in (
        c.VerifyAccount(time_ms=0, account=1),
        c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10),
        c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=4_000_000),
        c.CancelAllAfter(time_ms=1_000, account=1, timeout_ms=1_000),
    ):
        assert isinstance(durable.submit(command)[-1], Accepted), command
    return durable


@pytest.mark.parametrize("size", [10, 10_000])
def test_an_oversized_command_fires_no_timer_as_a_wrong_typed_one_does_not(
    size: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    durable = _armed(tmp_path, monkeypatch)  # the switch is due at 2,000
    events: list[Event] = list(durable.submit(c.PlaceOrder(
        time_ms=2_000, account=1, symbol="XBTUSD", side="Buy", order_qty="9" * size, price=4_000_000,  # type: ignore[arg-type]
    )))
    durable.close()
    assert [type(event) for event in events] == [Rejected]
    assert events[-1].reason == Reason.MALFORMED  # type: ignore[union-attr]
    assert durable.exchange.time_ms == 1_000  # the clock did not move: nothing fired
