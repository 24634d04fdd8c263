"""The journal's command records: a compact binary record per command, or the exact state encoding.

A command (a NamedTuple of :mod:`engine.core.commands`; an attrs record works too) is a **compact
record** ``C | class index | one type tag per field | fixed-width values |
UTF-8 text`` when every field is a plain value (exact int within 64 bits, str,
bool, None) — the class and field order come from the command schema, written
once in the journal header, so a record is decoded by the writer's field list
and a journal stays readable when a command class gains a defaulted field.  A
command with any other field value (a float, a bool or str subclass, a huge
int, a lone surrogate, a list, an object — what a hostile client may send) is
written as ``B`` + the state encoding (:mod:`engine.core.state_codec`)
instead, so replay sees exactly the value the engine saw.  Canonical JSON
records (``[class name, field 1, …]``, written by journal version 1) still
decode.  The byte layouts are in :class:`CommandCodec`'s docstring.
"""

from __future__ import annotations

import json
import operator
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from perpspec.engine.core import commands
from perpspec.engine.core.records import Opaque
from perpspec.engine.core.rejects import class_name, is_plain_class, show
from perpspec.engine.core.state_codec import STATE_MAGIC, CodecError, decode_state, encode_state


def journalable(value: object) -> object:
    """``value`` if the state encoding can hold it, else an :class:`Opaque` with the text a reject shows of it.

    That text is :func:`engine.core.rejects.show`'s (canonical, bounded, never raising), not ``repr``: a set of
    such objects lists its members in hash-table order in its ``repr``, so its replayed reject read differently
    from the live one (a red-team find).
    """
    try:
        encode_state(value)
    except CodecError:
        return Opaque(show(value))
    return value


# ----------------------------------------------------------------------------- commands


def field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names in declaration order: a NamedTuple's (the commands), or an attrs record's."""
    if issubclass(cls, tuple):
        return commands.field_names(cls)
    record: Any = cls
    return tuple(field.name for field in attrs.fields(record))


def field_defaults(cls: type) -> dict[str, Any]:
    """A record class's defaulted fields and their defaults (an attrs ``Factory`` as declared)."""
    if issubclass(cls, tuple):
        return commands.field_defaults(cls)
    record: Any = cls
    return {field.name: field.default for field in attrs.fields(record) if field.default is not attrs.NOTHING}


def schema_of(classes: Iterable[type]) -> dict[str, list[str]]:
    """The journal schema: class name -> field names, in declaration order."""
    return {cls.__name__: list(field_names(cls)) for cls in classes}


JSON_RECORD: Final = 0x5B  # '[': canonical JSON, written by journal version 1 (read, never written)
BINARY_RECORD: Final = 0x42  # 'B': the state encoding of [class name, field values] (hostile values)
COMPACT_RECORD: Final = 0x43  # 'C': the compact record (plain values)

# compact record field tags, and the fixed-width part each one has
_TAG_INT: Final = 0x69  # i   int64, little-endian two's complement
_TAG_STR: Final = 0x73  # s   u32 length in code points; the text follows the fixed-width part
_TAG_BOOL: Final = 0x62  # b   u8: 0 False, 1 True
_TAG_NONE: Final = 0x4E  # N   no bytes
_COMPACT_TAGS: Final[dict[type, str]] = {int: "i", str: "s", bool: "b", type(None): "N"}
_COMPACT_FIXED: Final = {_TAG_INT: "q", _TAG_STR: "I", _TAG_BOOL: "B", _TAG_NONE: ""}
_FIXED_BYTES: Final = {tag: struct.calcsize("<" + code) for tag, code in _COMPACT_FIXED.items()}  # per field
_BINARY_VALUE_AT: Final = 1 + len(STATE_MAGIC)  # a binary record's [name, fields] list: after ``B`` and the magic
_STATE_LIST: Final = 0x6C  # the state encoding's tags of a list and of a string (engine.core.state_codec)
_STATE_STR: Final = 0x73
_MAX_COMPACT_CLASSES: Final = 256  # the class index is one byte
# how many value shapes (field types) / tag strings a codec keeps packers / layouts for;
# a shape past this is still encoded compactly (with identical bytes), just not cached
MAX_CACHED_SHAPES: Final = 4096

Packer = Callable[[tuple[Any, ...]], bytes]


class ShapePacker:
    """The compact encoder of one class index and one value shape (the exact type of every field).

    Every type in ``shape`` must be int, str, bool or NoneType.  What the shape
    decides is kept once — the record's prefix (``C``, class index, field
    tags) and the ``struct`` layout of the fixed-width part — so encoding a
    record is one pass over the values, one ``struct`` pack and one UTF-8
    encode.  No source is generated.
    """

    def __init__(self, index: int, shape: tuple[type, ...]) -> None:
        tags = "".join(_COMPACT_TAGS[kind] for kind in shape).encode("ascii")
        self.shape = shape
        self.prefix = bytes((COMPACT_RECORD, index)) + tags
        # the prefix, then a fixed-width value per field that is not None: one pack makes the record's head (the
        # prefix packed as a string of its own length is its bytes, as they are)
        self._slots = 1 + len(shape) - shape.count(type(None))
        self._pack_fixed: Callable[..., bytes] = struct.Struct(
            f"<{len(self.prefix)}s" + "".join(_COMPACT_FIXED[tag] for tag in tags)
        ).pack

    def encode(self, values: tuple[Any, ...]) -> bytes | None:
        """The record of ``values``, or None when a value's type is not the shape's.

        Raises ``struct.error`` for an int beyond 64 bits or a string of 2**32
        code points, ``UnicodeEncodeError`` for a lone surrogate: values the
        caller writes in the exact binary encoding.
        """
        shape = self.shape
        if len(values) != len(shape):
            return None
        fixed: list[Any] = [self.prefix] * self._slots  # a string's fixed-width value is its length in code points
        slot = 1
        text = ""
        for position in range(len(shape)):
            value = values[position]
            if type(value) is not shape[position]:
                return None
            if type(value) is str:
                fixed[slot] = len(value)
                slot += 1
                if value:  # an empty string adds no text
                    text += value
            elif value is not None:
                fixed[slot] = value
                slot += 1
        pack_fixed = self._pack_fixed
        record = pack_fixed(*fixed)  # the prefix and the fixed-width part
        return record + text.encode() if text else record

    def pack(self, values: tuple[Any, ...]) -> bytes:
        """:meth:`encode` of values of this shape (``TypeError`` for any other)."""
        record = self.encode(values)
        if record is None:
            raise TypeError("the values do not have this packer's shape")
        return record


def compile_packer(index: int, shape: tuple[type, ...]) -> Packer:
    """The compact encoder of one class index and one value shape (see :class:`ShapePacker`)."""
    return ShapePacker(index, shape).pack


def _compact_layout(tags: bytes, start: int) -> struct.Struct:
    """The fixed-width part of a compact record with these field tags (``start``: offset of the tags)."""
    fixed = []
    for position, tag in enumerate(tags):
        code = _COMPACT_FIXED.get(tag)
        if code is None:
            raise CodecError(f"unknown field tag 0x{tag:02x} in a compact command record", start + position)
        fixed.append(code)
    return struct.Struct("<" + "".join(fixed))


def _field_getter(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """A C-level getter of an attrs record's fields as a tuple: an ``attrgetter`` (of one name it returns the bare
    value, so one name is wrapped).  A NamedTuple command needs none: it is the tuple of its fields
    (:meth:`CommandCodec.encode_read`)."""
    if len(names) == 1:
        (name,) = names

        def one(command: object) -> tuple[Any, ...]:
            return (getattr(command, name),)

        return one
    getter: Callable[[object], tuple[Any, ...]] = operator.attrgetter(*names)
    return getter


class _ClassEncoder:
    """How to encode one class's commands: its field reader, class index and packers by value shape."""

    def __init__(self, cls: type, index: int, fields: tuple[str, ...]) -> None:
        self.index = index
        # a NamedTuple command's number of items (-1 for an attrs record): one built past its __new__ holds another
        self.size = len(fields) if issubclass(cls, tuple) else -1
        self.read = _field_getter(fields)  # an attrs record's fields (a NamedTuple command is read as it is)
        self.packers: dict[tuple[type, ...], ShapePacker] = {}
        self.last: ShapePacker | None = None  # the packer of the shape encoded last: tried first


@attrs.frozen(kw_only=True)
class _ReadEntry:
    """How to rebuild one class's records written under the writer's field list."""

    cls: type
    fields: tuple[str, ...]  # the writer's field names, by position
    defaults: tuple[tuple[str, Any], ...]  # fields the writer did not have: (name, default or attrs Factory)


class CommandCodec:
    """Encode/decode commands (attrs records) for the journal, by a fixed class registry.

    ``encode`` returns a **compact record** when every field is a plain value
    (exact type int within 64 bits, str without lone surrogates, bool, None)::

        b"C" | class u8 | tag u8 per field | fixed-width part | text

    * ``class``: the index of the class's name in the *sorted* names of the
      journal schema (so it is read by the header's schema, not by this build's);
    * one tag per field of that class in the schema, in schema order: ``i``
      int, ``s`` str, ``b`` bool, ``N`` None;
    * the fixed-width part, little-endian, in field order: an int64 per ``i``,
      a u8 (0/1) per ``b``, a u32 per ``s`` — the string's length in code
      points; nothing for ``N``;
    * the text: the UTF-8 of all ``s`` fields concatenated in field order (the
      lengths split it).

    Otherwise (a float, a bool subclass, a str subclass, a tuple, an int beyond
    64 bits, a lone surrogate, an arbitrary object — what a hostile client may
    send) it returns ``B`` followed by the binary state encoding of
    ``[class name, field values]``, so a hostile value is journaled exactly as
    the engine received it (an object the state encoding cannot hold becomes an
    :class:`Opaque` with its repr).  Records written by journal version 1 —
    canonical ASCII JSON ``["PlaceOrder", field, …]`` — still decode.

    The encoding is canonical: a value's bytes depend only on the value and the
    class's field list.  Packers are built per (class, value shape) on first
    use (:class:`ShapePacker`); the common case — the shape of the class's
    previous command — costs one pass over the values that checks their
    types (a NamedTuple command's own items; an attrs record's read by one
    attrgetter), one ``struct`` pack and one UTF-8 encode.
    """

    def __init__(self, classes: Iterable[type]) -> None:
        self.classes: dict[str, type] = {}
        self._fields: dict[type, tuple[str, ...]] = {}
        for cls in classes:
            self.classes[cls.__name__] = cls
            self._fields[cls] = field_names(cls)
        self.schema: dict[str, list[str]] = {
            name: list(self._fields[cls]) for name, cls in self.classes.items()
        }
        # encode side: class -> its field reader, class index and packers by value shape
        self._compact: dict[type, _ClassEncoder] = {}
        for index, name in enumerate(sorted(self.classes)[:_MAX_COMPACT_CLASSES]):
            cls = self.classes[name]
            self._compact[cls] = _ClassEncoder(cls, index, self._fields[cls])
        self._shapes_cached = 0
        # decode side: the writer's schema (from the journal header) may differ from ours
        self._by_name: dict[str, _ReadEntry] = {}
        self._by_index: list[tuple[str, _ReadEntry | None]] = []
        self._layouts: dict[bytes, struct.Struct] = {}
        self.use_writer_schema(self.schema)

    def use_writer_schema(self, schema: Mapping[str, list[str]]) -> None:
        """Decode records written under ``schema`` (field names by position, from the journal header)."""
        by_name: dict[str, _ReadEntry] = {}
        by_index: list[tuple[str, _ReadEntry | None]] = []
        untyped: Mapping[str, object] = schema  # read as objects: compiled, list[str] values are type-checked on read
        for name in sorted(untyped):
            fields = untyped[name]
            if not (isinstance(fields, list) and all(type(field) is str for field in fields)):
                raise CodecError(f"journal schema of {name} is not a list of field names")
            cls = self.classes.get(name)
            if cls is None:  # a class we no longer have: a record of it fails to decode, by name
                by_index.append((name, None))
                continue
            ours = self._fields[cls]
            missing = [field for field in fields if field not in ours]
            if missing:
                raise CodecError(f"journal schema has fields {missing} that {name} no longer has")
            defaults = [(name, default) for name, default in field_defaults(cls).items() if name not in fields]
            entry = _ReadEntry(cls=cls, fields=tuple(fields), defaults=tuple(defaults))
            by_name[name] = entry
            by_index.append((name, entry))
        self._by_name = by_name
        self._by_index = by_index

    def encode(self, command: object) -> bytes:
        """The journal record of ``command`` (see the class docstring)."""
        return self.encode_read(command)[0]

    def encode_read(self, command: object) -> tuple[bytes, tuple[Any, ...] | None]:
        """:meth:`encode`, and the field values it read (every field in declaration order; None when it read none).

        The durable exchange hands the values on to the engine's typed validation layer, so one command's fields
        are read once.
        """
        kind = type(command)
        # a class is looked up only when its metaclass is type's own: another's hash or equality may run code, or
        # pass the class for a command's (review13_1, review13_2)
        entry = self._compact.get(kind) if is_plain_class(kind) else None
        if entry is None:
            return self._encode_exact(command), None
        if entry.size >= 0 and len(command) != entry.size:  # type: ignore[arg-type]
            # built past its __new__ (tuple.__new__(TimeTick, [5, 6])): journaled as no command, which the engine
            # refuses, so the journal holds a record every reader decodes (review11_1)
            return b"B" + encode_state(["", [Opaque(show(command))]]), None
        # a NamedTuple command (the plain class checked above, its length its field count) is the tuple of its fields
        # already: read as it is, without a copy (tuple(command) per command); an attrs record by its getter
        values: tuple[Any, ...] = command if entry.size >= 0 else entry.read(command)  # type: ignore[assignment]
        last = entry.last
        try:
            record = None if last is None else last.encode(values)  # None: not the shape encoded last
            if record is None:
                record = self._encode_shape(entry, values)
        except (struct.error, UnicodeEncodeError):
            record = None  # an int beyond 64 bits, a lone surrogate: the exact encoding below
        if record is None:
            return self._encode_exact(command), values
        return record, values

    def _encode_shape(self, entry: _ClassEncoder, values: tuple[Any, ...]) -> bytes | None:
        """The compact record by the packer of the values' shape (None when a value is not plain)."""
        shape = tuple([type(value) for value in values])
        for kind in shape:
            if not is_plain_class(kind):  # hashing the shape would hash this class: the exact encoding instead
                return None
        packer = entry.packers.get(shape)
        if packer is None:
            if not all(kind in _COMPACT_TAGS for kind in shape):
                return None
            packer = ShapePacker(entry.index, shape)
            if self._shapes_cached < MAX_CACHED_SHAPES:
                entry.packers[shape] = packer
                self._shapes_cached += 1
        entry.last = packer
        return packer.encode(values)

    def _encode_exact(self, command: object) -> bytes:
        """``B`` + the state encoding of [class name, field values]: any value, exactly."""
        kind = type(command)
        fields = self._fields.get(kind) if is_plain_class(kind) else None
        if fields is None:  # not a command at all: journaled as received, the engine rejects it
            return b"B" + encode_state(["", [journalable(command)]])
        values = [journalable(getattr(command, name)) for name in fields]
        return b"B" + encode_state([class_name(kind), values])

    def decode(self, payload: bytes) -> Any:
        """The command of a journal record; :class:`CodecError` naming the offset in ``payload`` of what is wrong.

        That is the byte itself (a field tag, a bool value, a UTF-8 byte, the end a truncated record reaches, any
        byte of a binary record's state encoding), or the start of what it belongs to: an unknown class at its
        index (compact) or its name, a wrong number of fields at the fields' list (at 0, the record itself, for
        JSON), a binary record that is not ``[name, fields]`` at that value (byte 5, after ``B`` and the magic).
        """
        kind = payload[0] if payload else -1
        if kind == COMPACT_RECORD:
            entry, values = self._decode_compact(payload)
            return _build(entry, values)
        if kind == JSON_RECORD:
            try:
                decoded = json.loads(payload)
            except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: nested past the stack
                raise CodecError(f"malformed command JSON ({error})", 0) from None
            if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
                raise CodecError("command JSON is not [name, fields...]", 0)
            name: str = decoded[0]
            values = [tuple(v) if isinstance(v, list) else v for v in decoded[1:]]
            name_at, fields_at = payload.index(b'"'), 0  # the name's opening quote; the array holds the fields
        elif kind == BINARY_RECORD:
            decoded = _decode_binary(payload)
            if not (isinstance(decoded, list) and len(decoded) == 2 and isinstance(decoded[0], str)):
                raise CodecError("binary command is not [name, fields]", _BINARY_VALUE_AT)
            name = decoded[0]
            fields: object = decoded[1]  # object: compiled, assigning a tuple to the list ``values`` raises TypeError
            name_at, fields_at = _binary_items_at(payload)
            if not isinstance(fields, list):
                raise CodecError("binary command fields are not a list", fields_at)
            values = fields
            if name == "":
                if len(values) != 1:
                    raise CodecError("a non-command record holds one value", fields_at)
                return values[0]
        else:
            raise CodecError("command record starts with none of 'C', 'B', '['", 0)
        read = self._by_name.get(name)
        if read is None:
            raise CodecError(f"unknown command class {name!r}", name_at)
        if len(values) != len(read.fields):
            raise CodecError(f"{name} record has {len(values)} fields, schema has {len(read.fields)}", fields_at)
        return _build(read, values)

    def _decode_compact(self, payload: bytes) -> tuple[_ReadEntry, list[Any]]:
        size = len(payload)
        if size < 2:
            raise CodecError("compact command record ends before its class index", size)
        index = payload[1]
        if index >= len(self._by_index):
            raise CodecError(
                f"class index {index} is not in the journal schema ({len(self._by_index)} classes)", 1
            )
        name, read = self._by_index[index]
        if read is None:
            raise CodecError(f"unknown command class {name!r}", 1)
        start = 2 + len(read.fields)
        if start > size:
            raise CodecError(f"{name} record ends inside its {len(read.fields)} field tags", size)
        tags = payload[2:start]
        layout = self._layouts.get(tags)
        if layout is None:
            layout = _compact_layout(tags, 2)
            if len(self._layouts) < MAX_CACHED_SHAPES:
                self._layouts[tags] = layout
        text_start = start + layout.size
        if text_start > size:
            raise CodecError(f"{name} record ends inside its fixed-width fields", size)
        fixed = layout.unpack_from(payload, start)
        try:
            text = payload[text_start:].decode("utf-8")
        except UnicodeDecodeError as error:
            raise CodecError(
                f"invalid UTF-8 in {name} record ({error.reason})", text_start + error.start
            ) from None
        values: list[Any] = []
        item = 0
        cursor = 0
        value_at = start  # where the field's fixed-width value is in the payload
        for tag in tags:
            if tag == _TAG_NONE:
                values.append(None)
                continue
            number = fixed[item]
            item += 1
            if tag == _TAG_INT:
                values.append(number)
            elif tag == _TAG_STR:
                values.append(text[cursor : cursor + number])
                cursor += number
            elif number > 1:
                raise CodecError(f"bool byte {number} (not 0 or 1) in {name} record", value_at)
            else:
                values.append(number == 1)
            value_at += _FIXED_BYTES[tag]
        if cursor != len(text):
            raise CodecError(
                f"{name} record's string lengths add up to {cursor} code points, its text has {len(text)}",
                text_start,
            )
        return read, values


def _decode_binary(payload: bytes) -> Any:
    """The state encoding after a binary record's ``B``, its errors naming their offset in ``payload``."""
    try:
        return decode_state(payload[1:])
    except CodecError as error:
        if error.offset is None:
            raise
        message = str(error).removesuffix(f" at byte offset {error.offset}")
        raise CodecError(message, error.offset + 1) from None


def _binary_items_at(payload: bytes) -> tuple[int, int]:
    """Where a decoded binary record's name and its fields are in ``payload``: ``B``, the magic, the list (``l``, its
    count as a varint), the name (``s``, its length as a varint, its UTF-8), then the fields.

    Called only once the payload has decoded to ``[str, value]``, so every byte read here exists.  A list or a name
    written with another tag (no writer does) is named, with the fields, at its own offset.
    """
    if payload[_BINARY_VALUE_AT] != _STATE_LIST:
        return _BINARY_VALUE_AT, _BINARY_VALUE_AT
    at = _BINARY_VALUE_AT + 1
    while payload[at] & 0x80:  # the list's count
        at += 1
    name_at = at + 1
    if payload[name_at] != _STATE_STR:
        return name_at, name_at
    at = name_at + 1
    length = shift = 0
    while True:  # the name's length
        byte = payload[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return name_at, at + length


def _build(read: _ReadEntry, values: list[Any]) -> Any:
    """A command of ``read.cls`` from the writer's field values, without calling ``__init__``.

    Built this way so that a journaled hostile value is replayed exactly as
    received; fields the writer did not have keep their class defaults.
    """
    cls = read.cls
    if issubclass(cls, tuple):  # a NamedTuple: its items in our field order, the writer's values by name
        by_name = dict(read.defaults)
        by_name.update(zip(read.fields, values, strict=True))
        names = field_names(cls)
        missing = [name for name in names if name not in by_name]
        if missing:
            raise CodecError(f"record of {cls.__name__} lacks its fields {missing}")
        return tuple.__new__(cls, [by_name[name] for name in names])
    command: Any = object.__new__(cls)
    for name, default in read.defaults:
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        object.__setattr__(command, name, default)
    for name, value in zip(read.fields, values, strict=True):
        object.__setattr__(command, name, value)
    return command
