"""The state encoding byte for byte, and its refusals to the byte offset (engine/core/state_codec.py).

The format is the one the module docstring defines and every snapshot, genesis and checkpoint is written in
(DESIGN §7 "bytes from outside never select code"; docs/durability.md): a magic ``PSV1``, one ASCII tag per
value, ints as zig-zag LEB128 varints, a class named once per encoding by a JSON header (``0``, length,
``[name, slots]``) and by its index + 1 afterwards, mutable containers and objects numbered in the order
they are first written and referred to by that number.  The expected bytes below are written from that
definition with this file's own varint, not read back from the encoder, so a change of any tag, of the
varint or zig-zag arithmetic or of the class numbering changes a snapshot's bytes and fails here.

Every refusal is a :class:`CodecError` with its exact message and byte offset: a hostile or damaged snapshot
is refused as a typed error, never decoded into something else (helper "mutcodec", session 8, issue 13).
"""

from __future__ import annotations

import enum
import json
import struct
from collections import deque
from typing import Any

import pytest

from perpspec.engine.core.events import Reason
from perpspec.engine.core.records import REGISTRY
from perpspec.engine.core.rejects import Rej
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.rules.instrument import ContractKind
from perpspec.rules.insurance import Fill

MAGIC = b"PSV1"


def uv(value: int) -> bytes:
    """An unsigned LEB128 varint, written here independently of the codec."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def header(name: str, fields: list[str]) -> bytes:
    raw = json.dumps([name, fields], separators=(",", ":")).encode()
    return b"\x00" + uv(len(raw)) + raw


def text(value: str) -> bytes:
    raw = value.encode()
    return b"s" + uv(len(raw)) + raw


def refused(data: bytes) -> CodecError:
    with pytest.raises(CodecError) as caught:
        decode_state(data)
    return caught.value


# ----------------------------------------------------------------------------------------------- the format


PLAIN: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    63,
    -64,
    64,
    -65,
    300,
    2**70,
    -(2**70),
    "é",
    b"\x00\xff",
    (7,),
    {"k": 1},
    {3, 2},
    frozenset({"b"}),
    deque([5], maxlen=2),
    deque(),
    1.5,
    complex(1.0, -2.0),
]

PLAIN_BYTES = (
    MAGIC
    + b"l\x16"  # a list of 22
    + b"N"
    + b"T"
    + b"F"
    + b"i\x00"  # 0 -> 0
    + b"i\x01"  # -1 -> 1
    + b"i\x7e"  # 63 -> 126
    + b"i\x7f"  # -64 -> 127: the largest one-byte varint
    + b"i\x80\x01"  # 64 -> 128: the smallest two-byte varint
    + b"i\x81\x01"  # -65 -> 129
    + b"i\xd8\x04"  # 300 -> 600 = 0x58 + 4 * 128
    + b"i" + b"\x80" * 10 + b"\x02"  # 2**70 -> 2**71: ten empty groups of 7 bits, then 0b10
    + b"i" + b"\xff" * 10 + b"\x01"  # -(2**70) -> 2**71 - 1: 71 one bits
    + b"s\x02\xc3\xa9"  # UTF-8
    + b"b\x02\x00\xff"
    + b"t\x01i\x0e"
    + b"d\x01" + text("k") + b"i\x02"
    + b"S\x02i\x04i\x06"  # members sorted by their own bytes: 2 before 3
    + b"f\x01" + text("b")
    + b"q\x01i\x04i\x0a"  # length 1, maxlen 2, then the item 5
    + b"q\x00N"  # no maxlen
    + b"x" + struct.pack("<d", 1.5)
    + b"c" + struct.pack("<dd", 1.0, -2.0)
)


def test_plain_values_encode_to_the_defined_bytes_and_back() -> None:
    """Tags N T F i s b t d S f q x c, zig-zag varints at the one/two-byte edges and beyond 64 bits."""
    assert encode_state(PLAIN) == PLAIN_BYTES
    decoded = decode_state(PLAIN_BYTES)
    assert decoded == PLAIN
    assert [type(item) for item in decoded] == [type(item) for item in PLAIN]
    assert decoded[18].maxlen == 2
    assert decoded[19].maxlen is None


def _records() -> tuple[list[Any], bytes]:
    half = object.__new__(Fill)  # a slot never assigned: written as U, left unassigned when read
    object.__setattr__(half, "qty", 9)
    shared: list[Any] = []
    queue = deque([1])
    value = [
        Fill(qty=1, price=2),
        ContractKind.LINEAR,
        Fill(qty=3, price=4),
        Rej(Reason.MALFORMED, "x"),
        ContractKind.INVERSE,
        half,
        (5,),
        shared,
        shared,
        queue,
        queue,
    ]
    expected = (
        MAGIC
        + b"l\x0b"  # reference 0
        + b"o" + header("rules.insurance:Fill", ["qty", "price"]) + b"i\x02i\x04"  # class 0, reference 1
        + b"e" + header("rules.instrument:ContractKind", []) + text("linear")  # class 1
        + b"o\x01i\x06i\x08"  # class 0 again: index + 1; reference 2
        + b"n" + header("engine.core.rejects:Rej", []) + b"\x02"  # class 2: a NamedTuple of 2
        + b"e" + header("engine.events:Reason", []) + text("Malformed")  # class 3
        + text("x")
        + b"e\x02" + text("inverse")  # class 1 again
        + b"o\x01i\x12U"  # reference 3, price unset
        + b"t\x01i\x0a"  # a tuple is written by value: no reference number
        + b"l\x00"  # reference 4
        + b"r\x04"
        + b"q\x01Ni\x02"  # reference 5
        + b"r\x05"
    )
    return value, expected


def test_records_enums_named_tuples_and_references_encode_to_the_defined_bytes_and_back() -> None:
    """Classes numbered once per encoding (0 + header, then index + 1), references by first-written order."""
    value, expected = _records()
    assert encode_state(value) == expected
    decoded = decode_state(expected)
    assert decoded[:5] == value[:5]
    assert decoded[1] is ContractKind.LINEAR
    assert decoded[4] is ContractKind.INVERSE
    assert type(decoded[3]) is Rej
    assert decoded[3].reason is Reason.MALFORMED
    assert type(decoded[5]) is Fill
    assert decoded[5].qty == 9
    assert not hasattr(decoded[5], "price")
    assert decoded[6] == (5,)
    assert decoded[7] == []
    assert decoded[8] is decoded[7]
    assert decoded[9] == deque([1])
    assert decoded[10] is decoded[9]
    assert decoded[9] is not decoded[7]
    assert encode_state(decoded) == expected


def test_a_shared_list_after_a_tuple_and_a_shared_deque_keep_their_identity() -> None:
    """Tuples and frozensets take no reference number; a deque takes its own (the references stay aligned)."""
    shared: list[Any] = [1]
    queue: deque[Any] = deque([2], maxlen=4)
    decoded = decode_state(encode_state([(0,), frozenset({1}), shared, queue, shared, queue, [shared]]))
    assert decoded[2] is decoded[4] is decoded[6][0]
    assert decoded[3] is decoded[5]
    assert decoded[3].maxlen == 4
    assert decoded == [(0,), frozenset({1}), [1], deque([2]), [1], deque([2]), [[1]]]


def test_a_dict_of_two_entries_and_an_empty_dict_round_trip() -> None:
    value = {"a": {}, "b": {1: 2, 3: 4}}
    assert encode_state(value) == MAGIC + b"d\x02" + text("a") + b"d\x00" + text("b") + b"d\x02i\x02i\x04i\x06i\x08"
    assert decode_state(encode_state(value)) == value


def test_values_that_end_exactly_at_the_last_byte_decode() -> None:
    """A float, a complex, a string or a NamedTuple whose last byte is the state's last byte is whole."""
    assert decode_state(MAGIC + b"x" + struct.pack("<d", -0.5)) == -0.5
    assert decode_state(MAGIC + b"c" + struct.pack("<dd", 0.0, 3.0)) == 3j
    assert decode_state(MAGIC + text("abc")) == "abc"
    assert decode_state(MAGIC + b"n" + header("engine.core.rejects:Rej", []) + b"\x02NN") == Rej(None, None)  # type: ignore[arg-type]
    assert decode_state(MAGIC + b"l\x02NN") == [None, None]


def test_an_object_written_with_field_names_is_rebuilt_field_by_field() -> None:
    """The ``O`` framing (fields by name): a declared slot only; 0, 1 or 2 fields."""
    fill = header("rules.insurance:Fill", [])
    empty = decode_state(MAGIC + b"O" + fill + b"\x00")
    assert type(empty) is Fill
    assert not hasattr(empty, "qty")
    assert not hasattr(empty, "price")
    one = decode_state(MAGIC + b"O" + fill + b"\x01" + text("price") + b"i\x04")
    assert one.price == 2
    assert not hasattr(one, "qty")
    both = decode_state(MAGIC + b"l\x02O" + fill + b"\x02" + text("qty") + b"i\x02" + text("price") + b"i\x04N")
    assert both == [Fill(qty=1, price=2), None]


# ----------------------------------------------------------------------------------------------- varints


def test_a_varint_of_4097_bytes_is_read_and_one_of_4098_is_refused() -> None:
    """The varint bound: 4096 continuation bytes (7 * 4096 bits) are state, one more is refused at its end."""
    longest = MAGIC + b"i" + b"\x80" * 4096 + b"\x01"
    assert decode_state(longest) == 1 << (7 * 4096 - 1)
    error = refused(MAGIC + b"i" + b"\x80" * 4097 + b"\x01")
    assert str(error) == "varint too long at byte offset 4102"
    assert error.offset == 4102


def test_a_varint_cut_after_a_continuation_byte_is_truncated_at_the_end() -> None:
    error = refused(MAGIC + b"i\x80")
    assert (str(error), error.offset) == ("truncated varint at byte offset 6", 6)


# ----------------------------------------------------------------------------------------------- refusals

FILL_HEADER = header("rules.insurance:Fill", [])
LONG = "a" * 300
SECOND_CLASS = MAGIC + b"l\x02o" + header("rules.insurance:Fill", ["qty", "price"]) + b"NNo\x02"
HEADER_AT_END = MAGIC + b"e" + header("rules.instrument:ContractKind", [])


def _field_offset() -> int:
    return len(MAGIC + b"O" + FILL_HEADER + b"\x01")


REFUSALS = [
    (b"PSV2N", "not a perpspec state encoding (bad magic)", 0),
    (MAGIC, "truncated state encoding", 4),
    (MAGIC + b"NNN", "2 trailing bytes after the state", 5),
    (MAGIC + b"x" + bytes(7), "truncated float", 5),
    (MAGIC + b"c" + bytes(15), "truncated complex", 5),
    (MAGIC + b"s\x03ab", "string runs past the end", 6),
    (MAGIC + b"g" + text("os:system"), "a class or function reference is not state (refused)", 4),  # the old route
    (MAGIC + b"h", "unknown tag 0x68", 4),
    (MAGIC + b"r\x00", "reference 0 to an object not yet defined", 4),
    (MAGIC + b"l\x02Nr\x01", "reference 1 to an object not yet defined", 7),
    (MAGIC + b"l\x03NN", "truncated state encoding", 8),  # a count up to one past the bytes left is read on
    (MAGIC + b"l\x04NN", "container of 4 items in 2 bytes", 4),
    (MAGIC + b"d\x05NN", "container of 5 items in 2 bytes", 4),
    (MAGIC + b"n" + header("engine.core.rejects:Rej", []) + b"\x03NN", "tuple of 3 items in 2 bytes", 4),
    (MAGIC + b"O" + FILL_HEADER + b"\x03N", "object of 3 fields in 1 bytes", 4),
    (MAGIC + b"o\x01", "class reference 0 not yet defined", 5),
    (SECOND_CLASS, "class reference 1 not yet defined", len(SECOND_CLASS) - 1),
    (MAGIC + b"e\x00\x05ab", "class header runs past the end", 7),
    (HEADER_AT_END, "truncated state encoding", len(HEADER_AT_END)),  # the header itself ends exactly there
    (MAGIC + b"e" + header(LONG, []), f"unknown class {'a' * 200!r} (not a registered record class)", 8),
    (
        MAGIC + b"O" + FILL_HEADER + b"\x01" + text("__" + LONG) + b"N",  # a dunder: the pickle-reduce route
        f"field name {('__' + LONG)[:200]!r} is not a data field of rules.insurance:Fill",
        _field_offset(),
    ),
]


@pytest.mark.parametrize(("data", "message", "offset"), REFUSALS)
def test_each_damaged_or_hostile_encoding_is_refused_with_its_message_at_its_offset(
    data: bytes, message: str, offset: int
) -> None:
    """Each refusal names what is wrong and where: a typed error, never a value decoded from damaged bytes."""
    error = refused(data)
    assert str(error) == f"{message} at byte offset {offset}"
    assert error.offset == offset


def test_a_malformed_class_header_is_refused_at_the_header() -> None:
    error = refused(MAGIC + b"e\x00\x02[]")
    assert str(error).startswith("malformed class header (")
    assert error.offset == 7


def test_no_registered_record_class_has_instances_with_a_dict() -> None:
    """The encoder writes every registered object by its slots (``o``); the ``O`` framing with per-instance field
    names is written for no engine state (the argument of the recorded equivalent in
    tests/mutation_survivors_engine6.toml, kept true here)."""
    for name, cls in REGISTRY.items():
        if issubclass(cls, enum.Enum | tuple):
            continue
        new = cls.__new__ if "__mypyc_attrs__" in cls.__dict__ else object.__new__  # as the decoder builds it
        assert not hasattr(new(cls), "__dict__"), name
