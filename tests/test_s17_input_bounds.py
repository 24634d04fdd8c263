"""Session 17 (redteam18_1, redteam18_4): every integer a command brings is bounded, and what perpspec reads cannot
make it quadratic.

redteam18_1: ``Deposit(amount=10**4400)`` was accepted; the state hash (``sha256(repr(...))``) then hit Python's
4,300-digit int-to-text limit, so ``snapshot()``, recovery and ``perpspec replay`` raised ``ValueError``.  The
engine's typed validation layer (``rejects.first_wrong_type``) now refuses every integer field outside signed 64 bits
(``commands.FIELD_INT_MIN`` .. ``FIELD_INT_MAX``) with ``Rejected(Malformed)`` naming the field, for every entry
point (library, journal replay, serve), and changes nothing.

redteam18_4: CPython hashes an int modulo 2**61 - 1, so keys ``i * (2**61 - 1)`` all collide: a journal record of a
dict of 20,000 of them replayed quadratically, and so did 15,000 ``VerifyAccount`` of such ids.  Ids are now within
64 bits (at most five non-negative ones share a hash), and the state codec refuses a dict, set or frozenset more
than 16 of whose keys share a hash, on decode and on encode (so a hostile value is journaled as Opaque and every
record written decodes).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.commands import COMMAND_TYPES, FIELD_INT_MAX, FIELD_INT_MIN, FIELD_KINDS
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.records import Opaque
from perpspec.engine.core.state_codec import MAX_SHARED_HASH, CodecError, decode_state, encode_state
from perpspec.engine.core.views import canonical_hash
from perpspec.engine.durability.journal import read_journal
from perpspec.engine.durability.recovery import DurableExchange, command_codec, replay
from perpspec.rules.instrument_file import load_builtin_instruments

P = (1 << 61) - 1  # CPython's modulus of int hashes


def engine() -> Engine:
    made = Engine(instruments=load_builtin_instruments())
    made.process(c.PriceUpdate(0, "XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2):
        made.process(c.VerifyAccount(0, account))
        made.process(c.Deposit(0, account, "XBt", 10**10))
    return made


_TEXT = {"symbol": "XBTUSD", "asset": "XBt", "side": "Buy", "command": "PlaceOrder"}


def base(cls: type[Any]) -> Any:
    """A command of ``cls`` with every field well-typed (a str field plausible, an int 1, a bool False)."""
    values = []
    for name, kind, _optional in FIELD_KINDS[cls]:
        values.append(1 if kind is int else _TEXT.get(name, "") if kind is str else False)
    return cls(*values)


INT_FIELDS = [
    (cls, name)
    for cls in COMMAND_TYPES.values()
    for name, kind, _ in FIELD_KINDS[cls]
    if kind is int and name != "time_ms"  # the clock's own, tighter bound comes first: TimeOutOfRange
]


def test_every_command_has_int_fields_covered() -> None:
    assert len(INT_FIELDS) >= 30
    assert (c.Deposit, "amount") in INT_FIELDS
    assert (c.VerifyAccount, "account") in INT_FIELDS


@pytest.mark.parametrize(("cls", "field"), INT_FIELDS, ids=[f"{cls.__name__}.{name}" for cls, name in INT_FIELDS])
@pytest.mark.parametrize("value", [FIELD_INT_MAX + 1, FIELD_INT_MIN - 1, 10**4400, -(10**4400)],
                         ids=["2^63", "-2^63-1", "10^4400", "-10^4400"])
def test_an_int_field_beyond_64_bits_is_malformed_and_changes_nothing(cls: type[Any], field: str, value: int) -> None:
    exchange, twin = engine(), engine()
    twin.process(c.replace(base(cls), **{field: "x"}))  # a wrong-typed field: Malformed, only the event counter moves
    events = exchange.process(c.replace(base(cls), **{field: value}))
    assert len(events) == 1
    assert isinstance(events[0], Rejected)
    assert events[0].reason is Reason.MALFORMED
    assert events[0].text.startswith(f"{field} ")
    assert "is outside signed 64 bits" in events[0].text
    assert len(events[0].text) < 400  # the value shown bounded (an int of 14,617 bits by its size)
    assert events[0].account in (-1, 1)  # never an int beyond 64 bits
    assert exchange.state_hash() == twin.state_hash()


@pytest.mark.parametrize(("cls", "field"), INT_FIELDS, ids=[f"{cls.__name__}.{name}" for cls, name in INT_FIELDS])
def test_an_int_field_at_the_64_bit_bounds_passes_the_layer(cls: type[Any], field: str) -> None:
    """At the bounds the layer lets the command through: the handler's own rules answer (or accept it)."""
    for value in (FIELD_INT_MAX, FIELD_INT_MIN):
        events = engine().process(c.replace(base(cls), **{field: value}))
        assert "outside signed 64 bits" not in getattr(events[-1], "text", "")


def test_a_huge_deposit_is_refused_and_the_store_snapshots_reopens_and_replays(tmp_path: Any) -> None:
    """redteam18_1 end to end: the Deposit is refused; snapshot, reopen and replay work and agree."""
    store = str(tmp_path)

    def make() -> Engine:
        return Engine(instruments=load_builtin_instruments())

    durable, _ = DurableExchange.open(store, command_codec(), make)
    durable.submit(c.VerifyAccount(0, 1))
    live = [durable.submit(c.Deposit(0, 1, "XBt", amount))[-1] for amount in (10**4400, 2**30_000, 10**8)]
    assert [type(event) for event in live] == [Rejected, Rejected, Accepted]
    assert live[0].reason is live[1].reason is Reason.MALFORMED
    durable.snapshot()
    state = durable.exchange.state_hash()
    durable.close()
    again, _ = DurableExchange.open(store, command_codec(), make)
    assert again.exchange.state_hash() == state
    again.close()
    fresh = make()
    scan = read_journal(f"{store}/journal.log")
    replay(scan, command_codec(), fresh, 0)
    assert fresh.state_hash() == state


def test_ids_that_share_a_hash_are_refused_beyond_64_bits() -> None:
    exchange = Engine(instruments=load_builtin_instruments())
    accepted = [i for i in range(1, 20) if isinstance(exchange.process(c.VerifyAccount(0, i * P))[-1], Accepted)]
    assert accepted == [1, 2, 3, 4]  # 5 * (2**61 - 1) > 2**63 - 1: at most five non-negative ids share a hash
    assert isinstance(exchange.process(c.VerifyAccount(0, FIELD_INT_MAX))[-1], Accepted)


def test_a_rejected_command_names_no_account_beyond_64_bits() -> None:
    events = engine().process(c.Deposit(0, 2**64, "XBt", 1))
    assert isinstance(events[-1], Rejected)
    assert events[-1].account == -1


# ----------------------------------------------------------------------------- the state codec: hash flooding


def colliding(n: int) -> list[int]:
    return [i * P for i in range(1, n + 1)]


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def forged_container(tag: bytes, keys: list[int]) -> bytes:
    """The state encoding of a dict (``d``, each key mapped to None), set (``S``) or frozenset (``f``) of ``keys``."""
    body = bytearray(b"PSV1" + tag + uvarint(len(keys)))
    for key in keys:
        body += encode_state(key)[4:] + (b"N" if tag == b"d" else b"")
    return bytes(body)


@pytest.mark.parametrize(("make", "tag"), [(dict.fromkeys, b"d"), (set, b"S"), (frozenset, b"f")],
                         ids=["dict", "set", "frozenset"])
def test_more_than_16_keys_with_one_hash_are_refused_both_ways(make: Any, tag: bytes) -> None:
    fine = make(colliding(MAX_SHARED_HASH))
    assert decode_state(encode_state(fine)) == fine
    assert decode_state(forged_container(tag, colliding(MAX_SHARED_HASH))) == fine
    with pytest.raises(CodecError, match="share a hash"):
        encode_state(make(colliding(MAX_SHARED_HASH + 1)))
    with pytest.raises(CodecError, match="share a hash"):
        decode_state(forged_container(tag, colliding(MAX_SHARED_HASH + 1)))


def test_ordinary_keys_and_64_bit_ids_never_trip_the_guard() -> None:
    keys = [*range(-1000, 1000), *(FIELD_INT_MAX - i for i in range(100)), *(i * P for i in range(-4, 5))]
    table = dict.fromkeys(keys, 0)
    assert decode_state(encode_state(table)) == table
    names = {f"account-{i}": i for i in range(5000)}
    assert decode_state(encode_state(names)) == names


def test_a_flood_record_decodes_in_linear_time_or_not_at_all() -> None:
    """20,000 colliding keys: refused after the 17th, not after n**2 / 2 comparisons."""
    data = forged_container(b"d", colliding(20_000))
    start = time.monotonic()
    with pytest.raises(CodecError, match="share a hash"):
        decode_state(data)
    assert time.monotonic() - start < 1.0


def test_a_hostile_command_value_that_floods_is_journaled_as_opaque(tmp_path: Any) -> None:
    """The durable exchange journals it as the encoder can (Opaque): the live and the replayed engine agree."""
    store = str(tmp_path)

    def make() -> Engine:
        return Engine(instruments=load_builtin_instruments())

    durable, _ = DurableExchange.open(store, command_codec(), make)
    hostile = dict.fromkeys(colliding(40))
    events = durable.submit(c.PlaceOrder(0, 1, "XBTUSD", "Buy", 100, 5_000_000, cl_ord_id=hostile))  # type: ignore[arg-type]
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason is Reason.MALFORMED
    state = durable.exchange.state_hash()
    durable.close()
    scan = read_journal(f"{store}/journal.log")
    decoded = command_codec().decode(scan.records[-1][1])
    assert isinstance(decoded.cl_ord_id, Opaque)
    fresh = make()
    replay(scan, command_codec(), fresh, 0)
    assert fresh.state_hash() == state


# ----------------------------------------------------------------------------- the state hash


def test_the_state_hash_is_unchanged_for_every_ordinary_state() -> None:
    exchange = engine()
    assert exchange.state_hash() == hashlib.sha256(repr(exchange.views.canonical()).encode()).hexdigest()


def test_the_state_hash_spells_an_int_repr_refuses_in_hex() -> None:
    """No state holds one (the bounds); were one there, hashing it never raises."""
    digest = canonical_hash((1, (10**4400, "XBt")))
    assert digest == canonical_hash((1, (10**4400, "XBt")))
    assert len(digest) == 64
    assert canonical_hash((10**4400,)) != canonical_hash((10**4400 + 1,))
