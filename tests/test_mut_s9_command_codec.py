"""The journal's command records refused byte for byte: every refusal's exact message and offset (session 9, "mutdur").

A record that does not decode is a typed :class:`CodecError` naming the offset in the record (recovery turns it into
a ``JournalCorrupt`` at the record's file offset) — never another exception, never a half-built command.  These
tests pin each refusal of :meth:`CommandCodec.decode` exactly, the non-command record (a value that is not a command
at all, journaled as received so replay rejects it again: INV-DETERMINISM), and the one-byte class index of the
compact record.  Mutation history: docs/mutation-engine.md, "Session 9 (mutdur)".
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import attrs
import pytest

from perpspec.engine.core.commands import COMMAND_TYPES, CancelOrder, Isolate, VerifyAccount
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.codec import CodecError, CommandCodec, encode_state
from perpspec.engine.durability.recovery import DurableExchange, command_codec, recover

CODEC = CommandCodec(COMMAND_TYPES.values())
NAMES = sorted(COMMAND_TYPES)


def refusal(payload: bytes, codec: CommandCodec = CODEC) -> tuple[str, int | None]:
    with pytest.raises(CodecError) as caught:
        codec.decode(payload)
    return str(caught.value), caught.value.offset


def test_a_record_of_no_known_kind_is_refused_at_its_first_byte() -> None:
    """An empty record, or one whose first byte is none of C/B/[ (a JSON object too), is refused at byte 0."""
    message = "command record starts with none of 'C', 'B', '[' at byte offset 0"
    assert [refusal(payload) for payload in (b"", b"Z", b"{}")] == [(message, 0)] * 3


def test_a_compact_record_cut_before_or_at_its_class_index() -> None:
    """``C`` alone ends before the class index (offset 1 = the size); ``C`` + an index ends inside the field tags."""
    tick = NAMES.index("TimeTick")
    assert refusal(b"C") == ("compact command record ends before its class index at byte offset 1", 1)
    assert refusal(b"C" + bytes([tick])) == ("TimeTick record ends inside its 1 field tags at byte offset 2", 2)
    assert refusal(b"C" + bytes([tick]) + b"i") == (
        "TimeTick record ends inside its fixed-width fields at byte offset 3",
        3,
    )


def test_a_class_index_outside_the_schema_or_of_a_class_gone_is_refused_at_byte_1() -> None:
    """The class index (byte 1) is read by the writer's schema: past its end, or naming a class this build lacks."""
    assert refusal(b"C\xee") == (
        f"class index 238 is not in the journal schema ({len(NAMES)} classes) at byte offset 1",
        1,
    )
    reader = CommandCodec(COMMAND_TYPES.values())
    reader.use_writer_schema({"AAAGone": ["time_ms"], **CODEC.schema})  # sorts first: index 0
    assert refusal(b"C\x00i" + struct.pack("<q", 1), reader) == ("unknown command class 'AAAGone' at byte offset 1", 1)


def test_bad_utf8_is_named_at_its_own_byte() -> None:
    """The text starts after the fixed-width part (2 + 4 tags + 2 int64 + 1 u32 + 1 u8 = byte 27 for Isolate); a
    bad second text byte is named at 28."""
    encoded = CODEC.encode(Isolate(time_ms=1, account=2, symbol="ab", enabled=True))
    assert encoded[27:] == b"ab"
    assert refusal(encoded[:28] + b"\xff") == (
        "invalid UTF-8 in Isolate record (invalid start byte) at byte offset 28",
        28,
    )


def test_a_bool_byte_above_1_is_refused_naming_its_own_byte() -> None:
    """Isolate's tags are ``iisb`` at bytes 2–5 and its fixed-width part two int64, a u32 and the bool's u8 (bytes
    6–26); a bool value of 2 is refused at its own byte, 26 (session 9 named its field's tag, 5)."""
    encoded = bytearray(CODEC.encode(Isolate(time_ms=1, account=2, symbol="X", enabled=True)))
    assert (bytes(encoded[2:6]), encoded[26]) == (b"iisb", 1)
    encoded[26] = 2
    assert refusal(bytes(encoded)) == ("bool byte 2 (not 0 or 1) in Isolate record at byte offset 26", 26)


def test_version_1_json_records_are_refused_at_the_record_or_at_the_name() -> None:
    """Malformed JSON, a list not headed by a name, a wrong field count (the record is the fields' array): at 0; an
    unknown name at its opening quote."""
    malformed = refusal(b"[")
    assert (malformed[0].startswith("malformed command JSON ("), malformed[1]) == (True, 0)
    not_named = ("command JSON is not [name, fields...] at byte offset 0", 0)
    assert [refusal(b'[5,"x"]'), refusal(b"[]")] == [not_named, not_named]
    assert refusal(b'["x"]') == ("unknown command class 'x' at byte offset 1", 1)
    assert refusal(b'[ \n"x"]') == ("unknown command class 'x' at byte offset 3", 3)
    assert refusal(b'["CancelOrder",1]') == ("CancelOrder record has 1 fields, schema has 4 at byte offset 0", 0)


def test_binary_records_that_are_not_a_named_field_list_are_refused() -> None:
    """``B`` + a state encoding that is not [name, [fields]] is refused at that value (byte 5, after ``B`` and the
    magic), fields that are not a list or not as many as the schema's at the fields (byte 20 after the name
    ``CancelOrder``: ``l``, count, ``s``, length, 11 bytes), an unknown class at its name (byte 7)."""

    def binary(value: Any) -> bytes:
        return b"B" + encode_state(value)

    assert binary(["CancelOrder", [1, 2]])[5:9] == b"l\x02s\x0b"
    assert refusal(binary([1, 2])) == ("binary command is not [name, fields] at byte offset 5", 5)
    assert refusal(binary(["CancelOrder", (1, 2)])) == ("binary command fields are not a list at byte offset 20", 20)
    assert refusal(binary(["Nope", [1]])) == ("unknown command class 'Nope' at byte offset 7", 7)
    assert refusal(binary(["CancelOrder", [1, 2]])) == (
        "CancelOrder record has 2 fields, schema has 4 at byte offset 20",
        20,
    )
    # a name of 200 characters: its length is a varint of two bytes, the fields start at 7 + 1 + 2 + 200
    assert refusal(binary(["N" * 200, [1]]))[1] == 7
    assert refusal(binary(["CancelOrder" + "x" * 200, [1]]))[1] == 7


def test_a_binary_records_state_encoding_errors_name_their_offset_in_the_record() -> None:
    """The state encoding starts at byte 1 of a ``B`` record, so each of its errors names its byte in the record
    (session 11: they named it in the bytes after the ``B``, one less)."""
    record = b"B" + encode_state(["CancelOrder", [1, 2]])  # 26 bytes: the last is the varint of 2
    assert len(record) == 26
    assert [refusal(payload) for payload in (b"BPSV", b"BPSV1Z", record[:-1], record + b"\x00")] == [
        ("not a perpspec state encoding (bad magic) at byte offset 1", 1),
        ("unknown tag 0x5a at byte offset 5", 5),
        ("truncated varint at byte offset 25", 25),
        ("1 trailing bytes after the state at byte offset 26", 26),
    ]
    assert refusal(b"BPSV1l\x02s\x01\xffl\x00") == ("invalid UTF-8 at byte offset 7", 7)


def test_a_binary_record_with_an_overlong_count_names_its_name_and_fields_where_they_are() -> None:
    """A list count of 2 written in two bytes (``0x82 0x00``, which the decoder accepts) moves the name to byte 8
    and the fields to byte 21."""
    record = b"BPSV1l\x82\x00" + encode_state("CancelOrder")[4:] + encode_state([1, 2])[4:]
    assert refusal(record) == ("CancelOrder record has 2 fields, schema has 4 at byte offset 21", 21)
    assert refusal(record.replace(b"CancelOrder", b"CancelOrdex")) == (
        "unknown command class 'CancelOrdex' at byte offset 8", 8
    )


def test_a_non_command_is_journaled_as_received_and_holds_exactly_one_value() -> None:
    """Something that is not a command at all is written ``B`` + ["", [value]] and decodes to that value; a
    non-command record holding no value or two is refused at its field list (byte 9: after ``B``, the magic, the
    list's tag and count, the empty name's tag and length)."""
    assert CODEC.encode(5) == b"B" + encode_state(["", [5]])
    assert (CODEC.decode(CODEC.encode(5)), CODEC.decode(CODEC.encode("x"))) == (5, "x")
    message = ("a non-command record holds one value at byte offset 9", 9)
    assert [refusal(b"B" + encode_state(["", values])) for values in ([], [5, 6])] == [message, message]


def test_a_non_command_submitted_to_a_store_is_rejected_and_replays_to_the_same_events(tmp_path: Path) -> None:
    """INV-DETERMINISM: a non-command submitted to a durable store is journaled, rejected (MALFORMED, nothing
    changes), and recovery replays it to the very same rejection and state."""
    directory = str(tmp_path / "store")
    durable, _ = DurableExchange.open(directory, command_codec(), Engine)
    live = list(durable.submit(VerifyAccount(time_ms=0, account=1)))
    events = durable.submit(5)
    live += events
    assert events == [
        Rejected(seq=2, time_ms=0, command="int", account=-1, reason=Reason.MALFORMED,
                 text="unknown command int", cl_ord_id="")  # its class looked up first (session 16)
    ]
    live += durable.submit(CancelOrder(time_ms=0, account=1, order_id=9))
    durable.close()
    replayed: list[Any] = []
    recovered, report, _ = recover(f"{directory}/journal.log", command_codec(), on_events=replayed.extend)
    assert (report.replayed, report.rejected, recovered.state_hash()) == (3, 2, durable.exchange.state_hash())
    assert replayed == live


def test_the_257th_command_class_is_written_exactly_the_class_index_being_one_byte() -> None:
    """The compact record's class index is one byte: in a codec of 257 classes the first 256 (by sorted name) are
    written compactly, the 257th as the exact ``B`` record — both decode to the command."""
    classes = [attrs.make_class(f"K{number:03d}", {"time_ms": attrs.field()}, frozen=True) for number in range(257)]
    codec = CommandCodec(classes)
    last, first_past = classes[255](time_ms=1), classes[256](time_ms=1)
    assert codec.encode(last) == b"C\xffi" + struct.pack("<q", 1)
    assert codec.encode(first_past) == b"B" + encode_state(["K256", [1]])
    assert (codec.decode(codec.encode(last)), codec.decode(codec.encode(first_past))) == (last, first_past)
