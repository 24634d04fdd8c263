"""The state encoding: snapshots, the Engine's own checkpoint, any value a command record cannot hold compactly.

A compact tagged binary encoding of an object graph: ints as zig-zag varints
(any size), strings as UTF-8 (surrogatepass), floats and complex numbers (only
ever hostile command fields) as IEEE-754 binary64, lists, tuples, dicts, sets
(members sorted by their own encoding), deques, enums and objects of the
project's record classes (``__slots__`` or ``__dict__``, attrs records
included).  Shared and cyclic references are kept (each mutable container or
object is written once and referred to by index afterwards), and encoding and
decoding are iterative, so a long chain of linked orders does not hit the
recursion limit.

A class is written by its stable name and read back only through
:data:`engine.core.records.REGISTRY`.  Objects are built with
``object.__new__`` (no ``__init__``, no ``__setstate__``), their fields set
with ``object.__setattr__`` only under the names the class declares (a
``__dict__`` field must be a plain identifier that is not an attribute of the
class: no dunder, no property).  Every decoding error is a
:class:`CodecError` naming the byte offset.
"""

from __future__ import annotations

import enum
import json
import struct
import types
from collections import deque
from collections.abc import Iterable
from typing import Any, Final

from perpspec.engine.core.records import ADDED_FIELDS, REGISTERED_NAMES, REGISTRY, qualified_name, slot_names
from perpspec.engine.core.rejects import class_qualname


class CodecError(Exception):
    """Bytes that do not decode (or a value that cannot be encoded); names the byte offset."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} at byte offset {offset}")


# ----------------------------------------------------------------------------- varints


def _put_uvarint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


# an integer of more than ~28 000 bits is not engine state: the decoder reads at most this many 7-bit groups of a
# varint, and the encoder refuses an int whose zig-zag needs more (so every encoding decodes)
_VARINT_GROUPS: Final = 4097
_MAX_ZIGZAG_BITS: Final = 7 * _VARINT_GROUPS
# at most this many keys of one dict (members of one set) may share a hash: CPython hashes an int modulo 2**61 - 1,
# so ``i * (2**61 - 1)`` all hash to 0, and a dict of n of them costs n**2 / 2 comparisons to build (redteam18_4);
# ints within 64 bits share a hash at most ten at a time, strings (SipHash) never in practice
MAX_SHARED_HASH: Final = 16


def _get_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise CodecError("truncated varint", pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= _MAX_ZIGZAG_BITS:  # an integer of more than ~28 000 bits is not engine state
            raise CodecError("varint too long", pos)


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzigzag(value: int) -> int:
    return value >> 1 if value & 1 == 0 else -((value + 1) >> 1)


# ----------------------------------------------------------------------------- tags

_NONE: Final = 0x4E  # N
_TRUE: Final = 0x54  # T
_FALSE: Final = 0x46  # F
_INT: Final = 0x69  # i
_STR: Final = 0x73  # s
_BYTES: Final = 0x62  # b
_LIST: Final = 0x6C  # l
_TUPLE: Final = 0x74  # t
_DICT: Final = 0x64  # d
_SET: Final = 0x53  # S
_FROZENSET: Final = 0x66  # f
_DEQUE: Final = 0x71  # q
_OBJECT: Final = 0x6F  # o   object of a slotted / attrs class: fields positional per class table
_DOBJECT: Final = 0x4F  # O   object with a __dict__: field names per instance
_ENUM: Final = 0x65  # e
_REF: Final = 0x72  # r
_UNSET: Final = 0x55  # U   a slot that was never assigned
_GLOBAL: Final = 0x67  # g   a class or function reference: written by no version, refused when read
_NAMEDTUPLE: Final = 0x6E  # n   a NamedTuple (an event): class + items
_FLOAT: Final = 0x78  # x   IEEE-754 binary64, little-endian: only ever a hostile command field
_COMPLEX: Final = 0x63  # c   two binary64 (real, imaginary): only ever a hostile command field

STATE_MAGIC: Final = b"PSV1"


_DOUBLE: Final = struct.Struct("<d")
_FLOAT_TYPE: Final = type(_DOUBLE.unpack(bytes(8))[0])  # the engine never makes one; hostile input may
_DOUBLES: Final = struct.Struct("<dd")
_COMPLEX_TYPE: Final = complex  # likewise (kept exact: ``0j`` is falsy, an Opaque stand-in would not be)


class _Unset:
    __slots__ = ()


UNSET: Final = _Unset()


# the metaclasses of the classes the encoding writes: looking such a class up in a dict runs no code of its own
_ENUM_TYPE: Final = type(enum.Enum)


def _registered_name(cls: type) -> str:
    """The stable name of a registered class; :class:`CodecError` for any other class (encode side).

    Nothing of an unregistered class is read or run: its metaclass is tested by identity first (a metaclass of
    its own may make hashing raise, review13_1), and its ``__module__`` and ``__qualname__`` are not read.
    """
    meta = type(cls)
    name = REGISTERED_NAMES.get(cls) if meta is type or meta is _ENUM_TYPE else None
    if name is None:
        raise CodecError(f"class {class_qualname(cls)!r} is not a registered record class")
    return name



def _lookup(name: str, offset: int) -> type:
    """The registered class of a stable name read from the bytes (decode side): a table lookup, nothing else."""
    cls = REGISTRY.get(name)
    if cls is None:
        raise CodecError(f"unknown class {name[:200]!r} (not a registered record class)", offset)
    return cls


def _check_field_name(cls: type, name: object, offset: int) -> str:
    """A field name of a ``__dict__`` object from the bytes: a declared slot, or a plain identifier
    that is no attribute of the class (no dunder, method, property or other descriptor)."""
    if type(name) is not str:
        raise CodecError("object field name is not a string", offset)
    if name in slot_names(cls):
        return name
    if not name.isidentifier() or name.startswith("__") or any(name in vars(klass) for klass in cls.__mro__):
        raise CodecError(f"field name {name[:200]!r} is not a data field of {qualified_name(cls)}", offset)
    return name


# ----------------------------------------------------------------------------- state: encode


def encode_state(root: object) -> bytes:
    """Canonical binary encoding of an object graph (see the module docstring)."""
    out = bytearray(STATE_MAGIC)
    memo: dict[int, int] = {}  # id(container) -> reference index
    classes: dict[type, int] = {}
    fields_of: dict[type, tuple[str, ...]] = {}  # slot names per class, read once per encoding
    stack: list[object] = [root]
    put = _put_uvarint
    while stack:
        value = stack.pop()
        kind = type(value)
        if value is None:
            out.append(_NONE)
        elif kind is bool:
            out.append(_TRUE if value else _FALSE)
        elif kind is int:
            zigzag = _zigzag(value)  # type: ignore[arg-type]
            if zigzag >> _MAX_ZIGZAG_BITS:  # the decoder refuses it: never written (a hostile value becomes Opaque)
                raise CodecError(f"an integer of {zigzag.bit_length() - 1} bits is not state (at most ~28 000)")
            out.append(_INT)
            put(out, zigzag)
        elif kind is str:
            raw = value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
            out.append(_STR)
            put(out, len(raw))
            out += raw
        elif kind is bytes:
            out.append(_BYTES)
            put(out, len(value))  # type: ignore[arg-type]
            out += value  # type: ignore[arg-type]
        elif kind is _Unset:
            out.append(_UNSET)
        elif kind is _FLOAT_TYPE:
            out.append(_FLOAT)
            out += _DOUBLE.pack(value)
        elif kind is _COMPLEX_TYPE:
            out.append(_COMPLEX)
            out += _DOUBLES.pack(value.real, value.imag)  # type: ignore[attr-defined]
        elif kind is tuple:
            items: tuple[object, ...] = value  # type: ignore[assignment]
            out.append(_TUPLE)
            put(out, len(items))
            stack.extend(reversed(items))
        elif type(kind) is not type and type(kind) is not _ENUM_TYPE:
            # a class with a metaclass of its own is no record class: refused before anything of it is run (its
            # hash, equality or __instancecheck__ may raise; review13_1)
            raise CodecError(f"a {class_qualname(kind)!r} (its class has a metaclass of its own) is not state")
        elif issubclass(kind, tuple):  # a NamedTuple (events, commands): immutable, written by value
            _registered_name(kind)  # an unregistered class is refused before anything of it is read
            record: tuple[object, ...] = value  # type: ignore[assignment]
            named: Any = getattr(kind, "_fields", None)
            if named is not None and len(record) != len(named):  # built past its __new__: no decoder rebuilds it
                raise CodecError(f"a {class_qualname(kind)} holding {len(record)} items, not its {len(named)} fields")
            out.append(_NAMEDTUPLE)
            _encode_class(out, classes, kind)
            put(out, len(record))
            stack.extend(reversed(record))
        elif kind is frozenset:
            out.append(_FROZENSET)
            _encode_members(out, value)  # type: ignore[arg-type]
        elif id(value) in memo:
            out.append(_REF)
            put(out, memo[id(value)])
        elif kind is list or kind is dict or kind is deque or kind is set:
            memo[id(value)] = len(memo)
            if kind is list:
                out.append(_LIST)
                put(out, len(value))  # type: ignore[arg-type]
                stack.extend(reversed(value))  # type: ignore[call-overload]
            elif kind is dict:
                mapping: dict[object, object] = value  # type: ignore[assignment]
                if len(mapping) > MAX_SHARED_HASH:
                    _check_hashes(mapping)
                out.append(_DICT)
                put(out, len(mapping))
                flat: list[object] = []
                for key, item in mapping.items():
                    flat.append(key)
                    flat.append(item)
                stack.extend(reversed(flat))
            elif kind is deque:
                queue: deque[object] = value  # type: ignore[assignment]
                out.append(_DEQUE)
                stack.extend(reversed(queue))
                stack.append(queue.maxlen)
                put(out, len(queue))
            else:
                out.append(_SET)
                _encode_members(out, value)  # type: ignore[arg-type]
        elif issubclass(kind, enum.Enum):  # issubclass of type(value): isinstance would read value.__class__
            member: enum.Enum = value  # type: ignore[assignment]
            out.append(_ENUM)
            _encode_class(out, classes, kind)
            stack.append(member.value)
        elif issubclass(kind, type | types.FunctionType | types.BuiltinFunctionType | types.ModuleType):
            raise CodecError(f"a reference to a {class_qualname(kind)} is not state")  # nothing of it read
        else:
            _registered_name(kind)  # an unregistered class is refused before any attribute of the value is read
            memo[id(value)] = len(memo)
            fields = fields_of.get(kind)
            if fields is None:
                fields = fields_of[kind] = slot_names(kind)
            instance_dict = getattr(value, "__dict__", None)
            if instance_dict is not None:
                # field names per instance, sorted: canonical whatever the assignment order
                out.append(_DOBJECT)
                _encode_class(out, classes, kind)
                names = sorted(instance_dict)
                put(out, len(fields) + len(names))
                pending: list[object] = []
                for name in fields:
                    pending.append(name)
                    pending.append(getattr(value, name, UNSET))
                for name in names:
                    pending.append(name)
                    pending.append(instance_dict[name])
                stack.extend(reversed(pending))
            else:
                out.append(_OBJECT)
                _encode_class(out, classes, kind)
                stack.extend(reversed([getattr(value, name, UNSET) for name in fields]))
    return bytes(out)


def _encode_class(out: bytearray, classes: dict[type, int], cls: type) -> None:
    """A class reference: 0 + name + slot names the first time, index + 1 afterwards."""
    known = classes.get(cls)
    if known is not None:
        _put_uvarint(out, known + 1)
        return
    name = _registered_name(cls)  # once per class and encoding: only registered classes are written
    classes[cls] = len(classes)
    _put_uvarint(out, 0)
    header = json.dumps([name, list(slot_names(cls))], separators=(",", ":")).encode()
    _put_uvarint(out, len(header))
    out += header


def _check_hashes(keys: Iterable[object]) -> None:
    """Refuse (:class:`CodecError`) keys or members more than :data:`MAX_SHARED_HASH` of which share a hash: the
    decoder refuses them (hash flooding), so they are never written (a hostile command's value becomes Opaque)."""
    counts: dict[int, int] = {}
    for key in keys:
        digest = hash(key)
        seen = counts.get(digest, 0) + 1
        if seen > MAX_SHARED_HASH:
            raise CodecError(f"more than {MAX_SHARED_HASH} keys of one dict or set share a hash (hash flooding)")
        counts[digest] = seen


def _encode_members(out: bytearray, members: Iterable[object]) -> None:
    """Set members, each encoded standalone and sorted by those bytes (order-free)."""
    if len(members) > MAX_SHARED_HASH:  # type: ignore[arg-type]
        _check_hashes(members)
    encoded = []
    for member in members:
        kind = type(member)
        if not (
            member is None or kind in (bool, int, str, bytes, tuple, frozenset, _FLOAT_TYPE, _COMPLEX_TYPE)
        ):
            raise CodecError(f"set member of type {kind.__name__} has no canonical order")
        encoded.append(encode_state(member)[len(STATE_MAGIC) :])
    encoded.sort()
    _put_uvarint(out, len(encoded))
    for item in encoded:
        out += item


# ----------------------------------------------------------------------------- state: decode


class _Frame:
    """A container being decoded: what it is, how many children are still due."""

    __slots__ = ("fields", "hashes", "items", "key", "kind", "remaining", "target")

    def __init__(self, kind: int, target: Any, remaining: int, fields: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.target = target
        self.remaining = remaining
        self.fields = fields
        self.items: list[Any] = []
        self.key: Any = UNSET
        # a dict's, set's or frozenset's count of keys (members) by hash, kept once it has more than MAX_SHARED_HASH
        self.hashes: dict[int, int] | None = None


def decode_state(data: bytes) -> Any:
    """Inverse of :func:`encode_state`; raises :class:`CodecError` naming the offset on bad bytes."""
    if data[: len(STATE_MAGIC)] != STATE_MAGIC:
        raise CodecError("not a perpspec state encoding (bad magic)", 0)
    value, pos = _decode(data, len(STATE_MAGIC))
    if pos != len(data):
        raise CodecError(f"{len(data) - pos} trailing bytes after the state", pos)
    return value


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    refs: list[Any] = []
    classes: list[tuple[Any, tuple[str, ...]]] = []
    current_fields: dict[type, tuple[str, ...]] = {}  # slot names per class, read once per decoding
    frames: list[_Frame] = []
    end = len(data)
    result: Any = UNSET
    done = False
    while not done:
        start = pos
        if pos >= end:
            raise CodecError("truncated state encoding", pos)
        tag = data[pos]
        pos += 1
        value: Any = UNSET
        have_value = True
        if tag == _NONE:
            value = None
        elif tag == _TRUE:
            value = True
        elif tag == _FALSE:
            value = False
        elif tag == _UNSET:
            value = UNSET
        elif tag == _FLOAT:
            if pos + 8 > end:
                raise CodecError("truncated float", pos)
            value = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        elif tag == _COMPLEX:
            if pos + 16 > end:
                raise CodecError("truncated complex", pos)
            value = _COMPLEX_TYPE(*_DOUBLES.unpack_from(data, pos))
            pos += 16
        elif tag == _INT:
            raw_int, pos = _get_uvarint(data, pos)
            value = _unzigzag(raw_int)
        elif tag == _GLOBAL:
            raise CodecError("a class or function reference is not state (refused)", start)
        elif tag in (_STR, _BYTES):
            length, pos = _get_uvarint(data, pos)
            if pos + length > end:
                raise CodecError("string runs past the end", pos)
            chunk = data[pos : pos + length]
            pos += length
            if tag == _BYTES:
                value = bytes(chunk)
            else:
                try:
                    text = chunk.decode("utf-8", "surrogatepass")
                except UnicodeDecodeError:
                    raise CodecError("invalid UTF-8", start) from None
                value = text
        elif tag == _REF:
            index, pos = _get_uvarint(data, pos)
            if index >= len(refs):
                raise CodecError(f"reference {index} to an object not yet defined", start)
            value = refs[index]
        elif tag in (_LIST, _TUPLE, _DICT, _SET, _FROZENSET, _DEQUE):
            count, pos = _get_uvarint(data, pos)
            if count > end - pos + 1:
                raise CodecError(f"container of {count} items in {end - pos} bytes", start)
            target: Any = None
            remaining = count
            if tag == _LIST:
                target = []
            elif tag == _DICT:
                target = {}
                remaining = 2 * count
            elif tag == _SET:
                target = set()
            elif tag == _DEQUE:
                remaining = count + 1  # maxlen first
            if tag in (_LIST, _DICT, _SET):
                refs.append(target)
            elif tag == _DEQUE:
                refs.append(None)  # replaced once maxlen is known
            frame = _Frame(tag, target, remaining)
            if tag == _DEQUE:
                frame.key = len(refs) - 1
            elif count > MAX_SHARED_HASH and tag in (_DICT, _SET, _FROZENSET):
                frame.hashes = {}  # hash flooding is refused as the keys arrive (_deliver)
            frames.append(frame)
            have_value = False
        elif tag in (_OBJECT, _DOBJECT, _ENUM, _NAMEDTUPLE):
            cls, fields, pos = _decode_class(data, pos, classes)
            if tag == _NAMEDTUPLE:
                if not (isinstance(cls, type) and issubclass(cls, tuple)):
                    raise CodecError(f"{cls!r} is not a tuple class", start)
                count, pos = _get_uvarint(data, pos)
                if count > end - pos:
                    raise CodecError(f"tuple of {count} items in {end - pos} bytes", start)
                frames.append(_Frame(_NAMEDTUPLE, cls, count))
                have_value = False
            elif tag == _ENUM:
                if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
                    raise CodecError(f"{cls!r} is not an enum", start)
                frames.append(_Frame(_ENUM, cls, 1))
                have_value = False
            else:
                if not isinstance(cls, type):
                    raise CodecError(f"{cls!r} is not a class", start)
                try:
                    # a compiled class refuses object.__new__; its own __new__ does not run __init__
                    new: Any = cls.__new__ if "__mypyc_attrs__" in cls.__dict__ else object.__new__
                    instance: Any = new(cls)
                except TypeError as error:
                    raise CodecError(f"cannot rebuild {cls!r}: {error}", start) from None
                refs.append(instance)
                if tag == _DOBJECT:
                    count, pos = _get_uvarint(data, pos)
                    if count > end - pos:
                        raise CodecError(f"object of {count} fields in {end - pos} bytes", start)
                    frames.append(_Frame(_DOBJECT, instance, 2 * count))
                else:
                    current = current_fields.get(cls)
                    if current is None:
                        current = current_fields[cls] = slot_names(cls)
                    if fields != current:  # the class changed since this state was written
                        added = [name for name in current if name not in fields]
                        removed = [name for name in fields if name not in current]
                        defaults = ADDED_FIELDS.get(qualified_name(cls), {})
                        if not removed and added and all(name in defaults for name in added):
                            for name in added:  # an older state of a class that only gained fields since
                                object.__setattr__(instance, name, defaults[name])
                        else:
                            raise CodecError(
                                f"{qualified_name(cls)} changed since this state was written "
                                f"(fields added {added}, removed {removed}, or reordered): "
                                "state from another engine version",
                                start,
                            )
                    frames.append(_Frame(_OBJECT, instance, len(fields), fields))
                have_value = False
        else:
            raise CodecError(f"unknown tag 0x{tag:02x}", start)
        # deliver completed values to the enclosing containers, closing finished frames
        while True:
            if have_value:
                if not frames:
                    result = value
                    done = True
                    break
                _deliver(frames[-1], value, start)
            if not frames or frames[-1].remaining > 0:
                break
            finished = frames.pop()
            value = _finish(finished, refs, start)
            have_value = True
    return result, pos


def _decode_class(
    data: bytes, pos: int, classes: list[tuple[Any, tuple[str, ...]]]
) -> tuple[Any, tuple[str, ...], int]:
    start = pos
    index, pos = _get_uvarint(data, pos)
    if index > 0:
        if index > len(classes):
            raise CodecError(f"class reference {index - 1} not yet defined", start)
        cls, fields = classes[index - 1]
        return cls, fields, pos
    length, pos = _get_uvarint(data, pos)
    if pos + length > len(data):
        raise CodecError("class header runs past the end", pos)
    try:
        name, field_list = json.loads(data[pos : pos + length].decode("utf-8"))
        fields = tuple(str(field) for field in field_list)
        name = str(name)
    except (ValueError, TypeError, RecursionError) as error:  # RecursionError: a header nested past the stack
        raise CodecError(f"malformed class header ({type(error).__name__}: {error})", pos) from None
    cls = _lookup(name, pos)
    classes.append((cls, fields))
    return cls, fields, pos + length


def _deliver(frame: _Frame, value: Any, offset: int) -> None:
    frame.remaining -= 1
    kind = frame.kind
    try:
        if kind == _LIST:
            frame.target.append(value)
        elif kind == _DICT:
            if frame.key is UNSET:
                if frame.hashes is not None:
                    _count_hash(frame.hashes, value, offset)
                frame.key = value
            else:
                frame.target[frame.key] = value
                frame.key = UNSET
        elif kind == _SET:
            if frame.hashes is not None:
                _count_hash(frame.hashes, value, offset)
            frame.target.add(value)
        elif kind == _OBJECT:
            name = frame.fields[len(frame.fields) - frame.remaining - 1]
            if value is not UNSET:
                object.__setattr__(frame.target, name, value)
        elif kind == _DOBJECT:
            if frame.key is UNSET:
                frame.key = _check_field_name(type(frame.target), value, offset)
            else:
                if value is not UNSET:
                    object.__setattr__(frame.target, frame.key, value)
                frame.key = UNSET
        else:  # tuple, frozenset, deque, enum: built when complete
            if frame.hashes is not None:  # a frozenset's member
                _count_hash(frame.hashes, value, offset)
            frame.items.append(value)
    except CodecError:
        raise
    except Exception as error:  # hashing a decoded key or member runs only attrs-generated or builtin methods
        raise CodecError(f"cannot rebuild value ({type(error).__name__}: {error})", offset) from None


def _count_hash(counts: dict[int, int], key: object, offset: int) -> None:
    """Count ``key``'s hash; :class:`CodecError` once more than :data:`MAX_SHARED_HASH` keys of one container share
    it: a dict of n keys with one hash costs n**2 / 2 comparisons to build (redteam18_4).  Raises what hashing the
    key raises (an unhashable key), which the caller reports."""
    digest = hash(key)
    seen = counts.get(digest, 0) + 1
    if seen > MAX_SHARED_HASH:
        raise CodecError(f"more than {MAX_SHARED_HASH} keys of one dict or set share a hash (hash flooding)", offset)
    counts[digest] = seen


def _finish(frame: _Frame, refs: list[Any], offset: int) -> Any:
    kind = frame.kind
    try:
        if kind == _TUPLE:
            return tuple(frame.items)
        if kind == _FROZENSET:
            return frozenset(frame.items)
        if kind == _DEQUE:
            maxlen, *items = frame.items
            queue: deque[Any] = deque(items, maxlen)
            refs[frame.key] = queue
            return queue
        if kind == _ENUM:
            member_value = frame.items[0]
            if type(member_value) not in (int, str, bool, type(None)):
                raise CodecError(f"enum value of type {type(member_value).__name__} (not int or str)", offset)
            return frame.target(member_value)
        if kind == _NAMEDTUPLE:
            return frame.target(*frame.items)
    except CodecError:
        raise
    except (
        Exception
    ) as error:  # a constructor of a tuple, frozenset, deque, enum or NamedTuple refusing the items
        raise CodecError(f"cannot rebuild value ({type(error).__name__}: {error})", offset) from None
    return frame.target
