"""The journal's command codec: compact records, the exact fallback for hostile values, old records.

Round trips are checked value *and* type: replay must feed the engine exactly
what it received (``True`` stays ``True``, not ``1``; a float stays a float; a
str subclass is not quietly turned into a str).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpspec.engine.core.commands import (
    COMMAND_TYPES,
    CancelOrder,
    Isolate,
    PlaceOrder,
    TimeTick,
    VerifyAccount,
)
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability import command_codec as command_codec_module
from perpspec.engine.durability.codec import CodecError, CommandCodec, Opaque, encode_state
from perpspec.engine.durability.journal import (
    JOURNAL_MAGIC,
    MAX_RECORD_BYTES,
    JournalCorrupt,
    JournalError,
    JournalWriter,
    RecordTooLarge,
    SyncPolicy,
    read_journal,
)
from perpspec.engine.durability.recovery import DurableExchange, command_codec, genesis_meta, recover

CODEC = CommandCodec(COMMAND_TYPES.values())
NAMES = sorted(COMMAND_TYPES)
INT64 = st.integers(-(2**63), 2**63 - 1)
plain = st.none() | st.booleans() | INT64 | st.text(st.characters(exclude_categories=["Cs"]))


class Text(str):
    """A str subclass (the engine takes only exact str)."""


class Number(int):
    """An int subclass."""


class Stranger:
    def __repr__(self) -> str:
        return "Stranger()"


hostile = (
    st.floats()
    | st.complex_numbers()
    | st.integers(min_value=2**63, max_value=2**200)
    | st.integers(min_value=-(2**200), max_value=-(2**63) - 1)
    | st.sampled_from(("\ud800", "a\udfffb", Text("Buy"), Number(5), Stranger()))
    | st.lists(st.integers(), max_size=3)
    | st.tuples(st.integers(), st.booleans())
    | st.binary(max_size=6)
)


def field_types(command: Any) -> list[type]:
    return [type(getattr(command, name)) for name in command_codec_module.field_names(type(command))]


def build(name: str, values: list[Any]) -> Any:
    return COMMAND_TYPES[name](**dict(zip(CODEC.schema[name], values, strict=True)))


def same_value(decoded: Any, original: Any) -> bool:
    """Equal with the same type; an object the state encoding cannot hold comes back as its repr."""
    if type(decoded) is Opaque:
        return repr(decoded) == repr(original)
    # bit for bit (NaN, -0.0) through the state encoding, which the fallback uses
    return type(decoded) is type(original) and encode_state(decoded) == encode_state(original)


# ----------------------------------------------------------------------------- compact records


def test_a_plain_place_order_is_the_documented_compact_record() -> None:
    command = PlaceOrder(time_ms=5, account=1, symbol="XBTUSD", side="Buy", order_qty=10, price=100)
    expected = (
        b"C"
        + bytes([NAMES.index("PlaceOrder")])
        + b"iissiiNNsNNNNs"
        + struct.pack("<qqIIqqII", 5, 1, 6, 3, 10, 100, 0, 0)
        + b"XBTUSDBuy"
    )
    assert CODEC.encode(command) == expected


def test_a_plain_cancel_is_a_compact_record_of_30_bytes() -> None:
    encoded = CODEC.encode(CancelOrder(time_ms=7, account=3, order_id=42))
    assert encoded == b"C" + bytes([NAMES.index("CancelOrder")]) + b"iiiN" + struct.pack("<qqq", 7, 3, 42)


def test_booleans_and_non_ascii_text_are_compact() -> None:
    command = Isolate(time_ms=1, account=2, symbol="ＸＢＴ€😀", enabled=False)
    encoded = CODEC.encode(command)
    assert (encoded[:1], encoded[-len("ＸＢＴ€😀".encode()) :]) == (b"C", "ＸＢＴ€😀".encode())
    assert struct.unpack_from("<I", encoded, 2 + 4 + 16)[0] == len("ＸＢＴ€😀")
    assert (CODEC.decode(encoded), field_types(CODEC.decode(encoded))) == (command, field_types(command))


@given(name=st.sampled_from(NAMES), data=st.data())
def test_every_command_with_plain_fields_round_trips_compactly_with_its_types(name: str, data: st.DataObject) -> None:
    values = [data.draw(plain, label=field) for field in CODEC.schema[name]]
    command = build(name, values)
    encoded = CODEC.encode(command)
    decoded = CODEC.decode(encoded)
    assert (encoded[:1], type(decoded), field_types(decoded)) == (b"C", type(command), field_types(command))
    assert (decoded, CODEC.encode(decoded)) == (command, encoded)


@given(name=st.sampled_from(NAMES), data=st.data())
def test_a_hostile_field_falls_back_to_the_exact_encoding_and_replays_as_received(
    name: str, data: st.DataObject
) -> None:
    fields = CODEC.schema[name]
    values: list[Any] = [data.draw(plain, label=field) for field in fields]
    values[data.draw(st.integers(0, len(fields) - 1), label="position")] = data.draw(hostile, label="hostile")
    command = build(name, values)
    encoded = CODEC.encode(command)
    decoded = CODEC.decode(encoded)
    assert (encoded[:1], type(decoded)) == (b"B", type(command))
    mismatched = [
        field for field in fields if not same_value(getattr(decoded, field), getattr(command, field))
    ]
    assert (mismatched, CODEC.encode(decoded)) == ([], encoded)


def test_a_falsy_complex_replays_falsy_not_as_a_truthy_stand_in() -> None:
    decoded = CODEC.decode(CODEC.encode(CancelOrder(time_ms=1, account=1, cl_ord_id=0j)))  # type: ignore[arg-type]
    assert (type(decoded.cl_ord_id), bool(decoded.cl_ord_id)) == (complex, False)


def test_true_in_an_int_field_replays_as_true_not_one() -> None:
    decoded = CODEC.decode(CODEC.encode(PlaceOrder(time_ms=True, account=1, symbol="X", order_qty=False)))
    assert (type(decoded.time_ms), decoded.time_ms, type(decoded.order_qty)) == (bool, True, bool)


def test_ints_at_the_64_bit_edges_are_compact_and_one_past_is_exact() -> None:
    edges = [CODEC.encode(TimeTick(time_ms=value))[:1] for value in (2**63 - 1, -(2**63), 2**63, -(2**63) - 1)]
    assert edges == [b"C", b"C", b"B", b"B"]


def test_a_shape_past_the_cache_is_encoded_with_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = [
        PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Sell", order_qty=None, price=True, cl_ord_id="c"),
        CancelOrder(time_ms=1, account=2, cl_ord_id="abc"),
        VerifyAccount(time_ms=None, account=False),  # type: ignore[arg-type]
    ]
    cached = [CODEC.encode(command) for command in commands]
    monkeypatch.setattr(command_codec_module, "MAX_CACHED_SHAPES", 0)
    uncached_codec = CommandCodec(COMMAND_TYPES.values())
    assert [uncached_codec.encode(command) for command in commands] == cached
    assert [uncached_codec.encode(command) for command in commands] == cached


def test_commands_of_one_class_in_alternating_shapes_encode_as_a_fresh_codec_does() -> None:
    """A codec tries the class's last shape first: a change of shape, or a value that fails mid-record
    (an int past 64 bits, a lone surrogate), never leaves a stale value in the next record."""
    commands = [
        PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Buy", order_qty=10, price=100),
        PlaceOrder(time_ms=1, account=2, symbol="XBTUSD", side="Buy", order_qty=2**64, price=100),
        PlaceOrder(time_ms=3, account=4, symbol="ETHUSD", side="Sell", order_qty=7, price=9),
        PlaceOrder(time_ms=3, account=4, symbol="X\ud800", side="Sell", order_qty=7, price=9),
        PlaceOrder(time_ms=5, account=6, symbol="é", side=None, order_qty=-1, price=None, cl_ord_id="c"),
        PlaceOrder(time_ms=5, account=6, symbol=Text("XBTUSD"), side="Buy", order_qty=1, price=1),
        PlaceOrder(time_ms=8, account=9, symbol="XBTUSD", side="Buy", order_qty=True, price=2),
        PlaceOrder(time_ms=8, account=9, symbol="XBTUSD", side="Buy", order_qty=3, price=2),
    ]
    warm = CommandCodec(COMMAND_TYPES.values())
    fresh = [CommandCodec(COMMAND_TYPES.values()).encode(command) for command in commands]
    assert [warm.encode(command) for command in commands + commands] == fresh + fresh
    assert [record[:1] for record in fresh] == [b"C", b"B", b"C", b"B", b"C", b"B", b"C", b"C"]


def test_a_packer_answers_none_for_values_of_another_shape_and_pack_refuses_them() -> None:
    packer = command_codec_module.ShapePacker(3, (int, str, type(None)))
    assert (packer.encode((7, "ab", None)), packer.encode((7, "ab", 0)), packer.encode((7, "ab"))) == (
        b"C\x03isN" + struct.pack("<qI", 7, 2) + b"ab",
        None,
        None,
    )
    with pytest.raises(TypeError, match="shape"):
        command_codec_module.compile_packer(3, (int, str, type(None)))((True, "ab", None))


# ----------------------------------------------------------------------------- damaged compact records


SAMPLE = CODEC.encode(
    PlaceOrder(time_ms=5, account=1, symbol="XBTUSD", side="Buy", order_qty=10, price=100, cl_ord_id="é")
)


def test_every_truncation_of_a_compact_record_is_a_codec_error_with_an_offset() -> None:
    for cut in range(len(SAMPLE)):
        with pytest.raises(CodecError, match="byte offset"):
            CODEC.decode(SAMPLE[:cut])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:1] + b"\xee" + data[2:], "class index 238 is not in the journal schema"),
        (lambda data: data[:3] + b"x" + data[4:], r"unknown field tag 0x78 .* at byte offset 3"),
        (lambda data: data + b"!", "string lengths add up to 10 code points, its text has 11"),
        (lambda data: data[:-2] + b"\xff\xfe", "invalid UTF-8"),
    ],
)
def test_a_damaged_compact_record_is_named(damage: Any, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        CODEC.decode(damage(SAMPLE))


def test_a_bool_byte_other_than_0_or_1_is_refused() -> None:
    encoded = bytearray(CODEC.encode(Isolate(time_ms=1, account=2, symbol="X", enabled=True)))
    encoded[2 + 4 + 16 + 4] = 2
    with pytest.raises(CodecError, match="bool byte 2"):
        CODEC.decode(bytes(encoded))


@given(tail=st.binary(max_size=80))
def test_random_compact_bytes_never_escape_as_anything_but_codec_error(tail: bytes) -> None:
    with contextlib.suppress(CodecError):
        CODEC.decode(b"C" + tail)


# ----------------------------------------------------------------------------- older writers


# bytes written by the version-1 encoder (canonical JSON and B records), kept as regression cases
VERSION_1_RECORDS = [
    (
        b'["PlaceOrder",5,1,"XBTUSD","Buy",10,100,null,null,"",null,null,null,null,""]',
        PlaceOrder(time_ms=5, account=1, symbol="XBTUSD", side="Buy", order_qty=10, price=100),
    ),
    (b'["CancelOrder",7,3,42,null]', CancelOrder(time_ms=7, account=3, order_id=42)),
    (b'["Isolate",7,3,"XBTUSD",true]', Isolate(time_ms=7, account=3, symbol="XBTUSD", enabled=True)),
    (
        b'["PlaceOrder",5,1,"X\\u00e9\\ud800",null,-1180591620717411303424,100,null,null,"",null,null,null,null,"a\\"b"]',
        PlaceOrder(time_ms=5, account=1, symbol="X\u00e9\ud800", order_qty=-(2**70), price=100, cl_ord_id='a"b'),
    ),
    (
        b"BPSV1l\x02s\nPlaceOrderl\x0ex\x00\x00\x00\x00\x00\x00\x16@i\x02s\x06XBTUSDs\x03Buyi\x14i\xc8\x01NNs\x00NNNNs\x00",
        PlaceOrder(time_ms=5.5, account=1, symbol="XBTUSD", side="Buy", order_qty=10, price=100),  # type: ignore[arg-type]
    ),
]


@pytest.mark.parametrize(("payload", "command"), VERSION_1_RECORDS)
def test_records_of_the_version_1_encoder_still_decode_with_their_types(payload: bytes, command: Any) -> None:
    decoded = CODEC.decode(payload)
    assert (decoded, field_types(decoded)) == (command, field_types(command))


@attrs.frozen(kw_only=True)
class OlderPlaceOrder:
    """PlaceOrder as an older build had it: no ``cl_ord_id``."""

    time_ms: int
    account: int
    symbol: str
    side: str | None = None
    order_qty: int | None = None
    price: int | None = None
    ord_type: str | None = None
    time_in_force: str | None = None
    exec_inst: str = ""
    display_qty: int | None = None
    stop_px: int | None = None
    peg_offset_value: int | None = None
    peg_price_type: str | None = None


@attrs.frozen(kw_only=True)
class AAAGone:
    """A command class an older build had and this one does not (sorts first: shifts every class index)."""

    time_ms: int


def older_codec() -> CommandCodec:
    OlderPlaceOrder.__name__ = "PlaceOrder"
    AAAGone.__name__ = "AAAGone"
    classes: list[type] = [cls for name, cls in COMMAND_TYPES.items() if name != "PlaceOrder"]
    return CommandCodec([*classes, OlderPlaceOrder, AAAGone])


def test_a_compact_record_written_under_an_older_schema_decodes_by_the_writers_schema() -> None:
    older = older_codec()
    place = older.encode(OlderPlaceOrder(time_ms=5, account=1, symbol="XBTUSD", side="Buy", order_qty=10, price=100))
    cancel = older.encode(CancelOrder(time_ms=6, account=1, order_id=9))
    reader = CommandCodec(COMMAND_TYPES.values())
    reader.use_writer_schema(older.schema)
    expected = [
        PlaceOrder(time_ms=5, account=1, symbol="XBTUSD", side="Buy", order_qty=10, price=100),
        CancelOrder(time_ms=6, account=1, order_id=9),
    ]
    assert [reader.decode(place), reader.decode(cancel)] == expected
    with pytest.raises(CodecError, match="unknown command class 'AAAGone'"):
        reader.decode(older.encode(AAAGone(time_ms=1)))


def test_a_compact_record_is_not_read_by_another_schema_without_it() -> None:
    older = older_codec()
    encoded = older.encode(CancelOrder(time_ms=6, account=1, order_id=9))
    decoded = None
    with contextlib.suppress(CodecError):
        decoded = CODEC.decode(encoded)
    assert decoded != CancelOrder(time_ms=6, account=1, order_id=9)


def version_1_journal(path: Path, scan_path: str) -> None:
    """Rewrite a journal as the version-1 writer would have: version 1 header, JSON records."""
    scan = read_journal(scan_path)
    meta = json.dumps(dict(scan.meta), sort_keys=True, separators=(",", ":")).encode()
    head = JOURNAL_MAGIC + struct.pack("<HI", 1, len(meta)) + meta
    out = bytearray(head + struct.pack("<I", zlib.crc32(head)))
    for seq, payload in scan.records:
        command = CODEC.decode(payload)
        values = [getattr(command, field) for field in CODEC.schema[type(command).__name__]]
        record = json.dumps([type(command).__name__, *values], separators=(",", ":")).encode("ascii")
        record_head = struct.pack("<IQ", len(record), seq)
        out += record_head + struct.pack("<I", zlib.crc32(record_head)) + record
        out += struct.pack("<I", zlib.crc32(record))
    path.write_bytes(bytes(out))


def test_a_version_1_journal_replays_to_the_state_of_the_same_commands(tmp_path: Path) -> None:
    from tests.streams import command_stream

    durable, _ = DurableExchange.open(str(tmp_path / "store"), command_codec(), Engine)
    for command in command_stream(seed=5, length=300):
        durable.submit(command)
    durable.close()
    journal = str(tmp_path / "store" / "journal.log")
    old = tmp_path / "v1.log"
    version_1_journal(old, journal)
    with open(old, "rb") as handle:
        assert struct.unpack_from("<H", handle.read(10), 8) == (1,)
    replayed, _, _ = recover(str(old), command_codec())
    assert replayed.state_hash() == durable.exchange.state_hash()


def test_a_store_written_under_another_schema_is_not_continued(tmp_path: Path) -> None:
    directory = str(tmp_path / "store")
    durable, _ = DurableExchange.open(directory, older_codec(), Engine)
    durable.submit(VerifyAccount(time_ms=0, account=1))
    durable.close()
    with pytest.raises(JournalError, match="another command schema"):
        DurableExchange.open(directory, command_codec(), Engine, policy=SyncPolicy())
    assert os.path.exists(os.path.join(directory, "journal.log"))


def test_a_command_too_large_for_a_record_is_journaled_as_a_rejected_stand_in(tmp_path: Path) -> None:
    directory = str(tmp_path / "store")
    durable, _ = DurableExchange.open(directory, command_codec(), Engine)
    durable.submit(VerifyAccount(time_ms=0, account=1))
    huge = PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=1, cl_ord_id="x" * MAX_RECORD_BYTES)
    with pytest.raises(RecordTooLarge, match=f"exceeds the journal's {MAX_RECORD_BYTES}"):
        durable.writer.append(command_codec().encode(huge))  # the writer alone refuses such a record
    reference = Engine.from_snapshot(durable.exchange.snapshot())
    reference.process(TimeTick(time_ms=0))  # a refusal changes nothing but the event sequence, as a bare tick
    events = durable.submit(huge)
    final = events[-1]
    assert isinstance(final, Rejected)
    assert (final.reason, "PlaceOrder of" in final.text, "record limit" in final.text) == (Reason.MALFORMED, True, True)
    assert (durable.exchange.state_hash(), durable.writer.next_seq) == (reference.state_hash(), 3)
    durable.submit(VerifyAccount(time_ms=0, account=2))
    durable.close()
    recovered, report, _ = recover(os.path.join(directory, "journal.log"), command_codec())
    assert (report.replayed, recovered.state_hash()) == (3, durable.exchange.state_hash())


def test_a_journal_header_schema_that_is_not_field_lists_is_named_damage(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.log")
    writer = JournalWriter.create(path, {"PlaceOrder": "time_ms"}, policy=SyncPolicy(), extra=genesis_meta(Engine()))
    writer.close()
    with pytest.raises(JournalCorrupt, match=r"journal header schema unusable .*PlaceOrder is not a list of field names"):
        recover(path, command_codec())
