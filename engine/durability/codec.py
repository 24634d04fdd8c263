"""Deterministic serialisation of commands and of engine state (journal and snapshots).

Two encodings, both canonical — the same value gives the same bytes in every
process, whatever ``PYTHONHASHSEED`` is, because nothing here depends on
``hash()`` or on set iteration order:

* **Commands** (the journal's records, :class:`CommandCodec`) are a compact
  binary record ``C | class index | one type tag per field | fixed-width
  values | UTF-8 text`` when every field is a plain value (exact int within
  64 bits, str, bool, None) — the class and field order come from the
  command schema, written once in the journal header, so a record is decoded
  by the writer's field list and a journal stays readable when a command
  class gains a defaulted field.  A command with any other field value (a
  float, a bool or str subclass, a huge int, a lone surrogate, a list, an
  object — what a hostile client may send) is written as ``B`` + the binary
  state encoding below instead, so replay sees exactly the value the engine
  saw.  Canonical JSON records (``[class name, field 1, …]``, written by
  journal version 1) still decode.  The byte layouts are in
  :class:`CommandCodec`'s docstring.
* **State** (snapshots) is a compact tagged binary encoding of the object
  graph: ints as zig-zag varints (any size), strings as UTF-8 (surrogatepass),
  floats and complex numbers (only ever hostile command fields) as IEEE-754
  binary64, lists, tuples, dicts, sets (members sorted by their own encoding), deques,
  enums and objects of the project's record classes (``__slots__`` or
  ``__dict__``, attrs records included).  Shared and cyclic references are
  kept (each mutable container or object is written once and referred to by
  index afterwards), and encoding and decoding are iterative, so a long chain
  of linked orders does not hit the recursion limit.

**No byte selects code.**  A class is named in the bytes by its *stable name*
(``engine.orders:Order``, ``rules.instrument:Instrument``: the flat module names
from before the engine's rooms, kept so old bytes stay identical) and resolved
only by a lookup in :data:`REGISTRY`, a table of the project's own record
classes (attrs records, enums, NamedTuples and slotted classes defined in the
modules of :data:`RECORD_MODULES`) built when this module is imported.  Nothing
here imports a module, follows an attribute path or calls ``getattr`` with a
name read from the bytes; a class or function *reference* is not state and is
never decoded.  Objects are built with ``object.__new__`` (no ``__init__``, no
``__setstate__``), their fields set with ``object.__setattr__`` only under the
names the class declares (a ``__dict__`` field must be a plain identifier that
is not an attribute of the class: no dunder, no property).  So the worst a
hostile encoding can do is describe a well-typed value; it can never run code.

Every decoding error is a :class:`CodecError` naming the byte offset.
"""

from __future__ import annotations

import enum
import json
import operator
import struct
import types
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from perpspec.engine.core import account_desk as _core_account_desk
from perpspec.engine.core import accounts as _core_accounts
from perpspec.engine.core import adlrank as _core_adlrank
from perpspec.engine.core import book as _core_book
from perpspec.engine.core import commands as _core_commands
from perpspec.engine.core import compiled as _core_compiled
from perpspec.engine.core import entry as _core_entry
from perpspec.engine.core import events as _core_events
from perpspec.engine.core import exchange as _core_exchange
from perpspec.engine.core import fastmargin as _core_fastmargin
from perpspec.engine.core import fills as _core_fills
from perpspec.engine.core import ledger as _core_ledger
from perpspec.engine.core import liqindex as _core_liqindex
from perpspec.engine.core import market as _core_market
from perpspec.engine.core import orders as _core_orders
from perpspec.engine.core import prices as _core_prices
from perpspec.engine.core import refbook as _core_refbook
from perpspec.engine.core import registry as _core_registry
from perpspec.engine.core import rejects as _core_rejects
from perpspec.engine.core import risk as _core_risk
from perpspec.engine.core import stream as _core_stream
from perpspec.engine.core import triggers as _core_triggers
from perpspec.engine.core import views as _core_views
from perpspec.engine.core import waterfall as _core_waterfall
from perpspec.rules import adl as _rules_adl
from perpspec.rules import contract as _rules_contract
from perpspec.rules import digest as _rules_digest
from perpspec.rules import events as _rules_events
from perpspec.rules import funding as _rules_funding
from perpspec.rules import impact as _rules_impact
from perpspec.rules import index as _rules_index
from perpspec.rules import instrument as _rules_instrument
from perpspec.rules import instrument_file as _rules_instrument_file
from perpspec.rules import insurance as _rules_insurance
from perpspec.rules import invariants as _rules_invariants
from perpspec.rules import liquidation as _rules_liquidation
from perpspec.rules import liquidation_working as _rules_liquidation_working
from perpspec.rules import margin as _rules_margin
from perpspec.rules import mark as _rules_mark
from perpspec.rules import num as _rules_num
from perpspec.rules import parse as _rules_parse
from perpspec.rules import position as _rules_position
from perpspec.rules import risk_limit as _rules_risk_limit
from perpspec.rules import settlement as _rules_settlement
from perpspec.rules import solvency as _rules_solvency
from perpspec.rules import waterfall as _rules_waterfall
from perpspec.rules import waterfall_closeout as _rules_waterfall_closeout
from perpspec.rules import waterfall_liquidate as _rules_waterfall_liquidate
from perpspec.rules import waterfall_postings as _rules_waterfall_postings
from perpspec.rules import waterfall_state as _rules_waterfall_state


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
        if shift > 7 * 4096:  # an integer of more than ~28 000 bits is not engine state
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


class Opaque:
    """Stand-in for a hostile command value the state encoding cannot hold (an arbitrary object).

    It keeps the value's ``repr`` — all the engine can say about such a value
    (a typed reject's text) — so a journaled command replays to the same events.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def journalable(value: object) -> object:
    """``value`` if the state encoding can hold it, else an :class:`Opaque` with its repr."""
    try:
        encode_state(value)
    except CodecError:
        try:
            text = repr(value)
        except Exception as error:  # a hostile __repr__: keep what can be said deterministically
            text = f"<unrepresentable {type(value).__qualname__}: {type(error).__name__}>"
        return Opaque(text)
    return value


# The stable module names written into the bytes: the engine's modules were flat (``engine.core.orders``)
# before they moved into rooms (``engine.core.orders``); journals and snapshots keep the flat names.
_STABLE_MODULES: Final = {
    "engine.core.accounts": "engine.accounts",
    "engine.core.adlrank": "engine.adlrank",
    "engine.core.book": "engine.book",
    "engine.core.commands": "engine.commands",
    "engine.core.compiled": "engine.compiled",
    "engine.core.events": "engine.events",
    "engine.core.exchange": "engine.exchange",
    "engine.core.fastmargin": "engine.fastmargin",
    "engine.core.liqindex": "engine.liqindex",
    "engine.core.orders": "engine.orders",
    "engine.durability.codec": "engine.codec",
    "engine.durability.journal": "engine.journal",
    "engine.durability.recovery": "engine.recovery",
}
# A class that moved to another module keeps the stable name it was always written under.
_STABLE_CLASSES: Final = {
    "engine.core.waterfall:Pending": "engine.exchange:Pending",
    # rules/waterfall.py's records, split out to rules/waterfall_state.py
    "rules.waterfall_state:Book": "rules.waterfall:Book",
    "rules.waterfall_state:BookLevel": "rules.waterfall:BookLevel",
    "rules.waterfall_state:Holding": "rules.waterfall:Holding",
    "rules.waterfall_state:Ledger": "rules.waterfall:Ledger",
    "rules.waterfall_state:PendingCloseOut": "rules.waterfall:PendingCloseOut",
    "rules.waterfall_state:Pool": "rules.waterfall:Pool",
    "rules.waterfall_state:Recorder": "rules.waterfall:Recorder",
}
# Slots added to a record class after states holding it were written: the value an older state means
# (stable name -> field -> value).  An older state lacking exactly these fields still decodes, with them.
_ADDED_FIELDS: Final[Mapping[str, Mapping[str, object]]] = {
    "engine.exchange:Pending": {"age": 0},  # LIQ-050: a close-out taken over before ages were kept is age 0
    "rules.waterfall:PendingCloseOut": {"age": 0},  # the rules model's record of the same
}


def _qualified_name(obj: Any) -> str:
    # the stable name in the bytes stays ``engine.x:Name`` / ``rules.x:Name`` whatever the package is called
    module = obj.__module__.removeprefix("perpspec.")
    moved = _STABLE_CLASSES.get(f"{module}:{obj.__qualname__}")
    return moved if moved is not None else f"{_STABLE_MODULES.get(module, module)}:{obj.__qualname__}"


def _slot_names(cls: type) -> tuple[str, ...]:
    compiled = cls.__dict__.get("__mypyc_attrs__")
    if compiled is not None:
        # a class compiled by `perpspec build-native` keeps no __slots__; mypyc lists its fields in
        # assignment order, the source's __slots__ lists them sorted (ruff RUF023): sorted, the two
        # agree, so compiled and interpreted engines write the same bytes (tests/test_native.py)
        return tuple(sorted(compiled))
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for name in slots:
            if name not in ("__weakref__", "__dict__") and name not in names:
                names.append(name)
    return tuple(names)


# The modules whose record classes may appear in a state or a command (tests/test_repo.py checks that every
# module of engine/core and rules/ is listed, so a class added to a new module is not silently undecodable).
RECORD_MODULES: Final = (
    _core_waterfall,
    _core_views,
    _core_triggers,
    _core_stream,
    _core_risk,
    _core_rejects,
    _core_registry,
    _core_prices,
    _core_market,
    _core_ledger,
    _core_fills,
    _core_entry,
    _core_account_desk,
    _core_accounts,
    _core_adlrank,
    _core_book,
    _core_commands,
    _core_compiled,
    _core_events,
    _core_exchange,
    _core_fastmargin,
    _core_liqindex,
    _core_orders,
    _core_refbook,
    _rules_adl,
    _rules_contract,
    _rules_digest,
    _rules_events,
    _rules_funding,
    _rules_impact,
    _rules_index,
    _rules_instrument,
    _rules_instrument_file,
    _rules_insurance,
    _rules_invariants,
    _rules_liquidation,
    _rules_liquidation_working,
    _rules_margin,
    _rules_mark,
    _rules_num,
    _rules_parse,
    _rules_position,
    _rules_risk_limit,
    _rules_settlement,
    _rules_solvency,
    _rules_waterfall,
    _rules_waterfall_closeout,
    _rules_waterfall_liquidate,
    _rules_waterfall_postings,
    _rules_waterfall_state,
)


def is_record_class(cls: type) -> bool:
    """An attrs record, an enum, a NamedTuple or a slotted class (never an exception or a plain class)."""
    if issubclass(cls, BaseException):
        return False
    return (
        attrs.has(cls)
        or issubclass(cls, enum.Enum)
        or issubclass(cls, tuple)
        or "__slots__" in cls.__dict__
        or "__mypyc_attrs__" in cls.__dict__
    )


def _build_registry() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in RECORD_MODULES:
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__ and is_record_class(value):
                found[_qualified_name(value)] = value
    found[_qualified_name(Opaque)] = Opaque
    return found


# stable name -> class: the only way a name in the bytes becomes a class
REGISTRY: Final[Mapping[str, type]] = types.MappingProxyType(_build_registry())


def _registered_name(cls: type) -> str:
    """The stable name of a registered class; :class:`CodecError` for any other class (encode side)."""
    name = _qualified_name(cls)
    if REGISTRY.get(name) is not cls:
        raise CodecError(f"class {name!r} is not a registered record class")
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
    if name in _slot_names(cls):
        return name
    if not name.isidentifier() or name.startswith("__") or any(name in vars(klass) for klass in cls.__mro__):
        raise CodecError(f"field name {name[:200]!r} is not a data field of {_qualified_name(cls)}", offset)
    return name


# ----------------------------------------------------------------------------- state: encode


def encode_state(root: object) -> bytes:
    """Canonical binary encoding of an object graph (see the module docstring)."""
    out = bytearray(STATE_MAGIC)
    memo: dict[int, int] = {}  # id(container) -> reference index
    classes: dict[type, int] = {}
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
            out.append(_INT)
            put(out, _zigzag(value))  # type: ignore[arg-type]
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
        elif isinstance(value, tuple):  # a NamedTuple (events): immutable, written by value
            out.append(_NAMEDTUPLE)
            _encode_class(out, classes, kind)
            put(out, len(value))
            stack.extend(reversed(value))
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
        elif isinstance(value, enum.Enum):
            out.append(_ENUM)
            _encode_class(out, classes, kind)
            stack.append(value.value)
        elif isinstance(value, type | types.FunctionType | types.BuiltinFunctionType | types.ModuleType):
            raise CodecError(
                f"a reference to {type(value).__name__} {getattr(value, '__qualname__', '?')!r} is not state"
            )
        else:
            memo[id(value)] = len(memo)
            fields = _slot_names(kind)
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
    header = json.dumps([name, list(_slot_names(cls))], separators=(",", ":")).encode()
    _put_uvarint(out, len(header))
    out += header


def _encode_members(out: bytearray, members: Iterable[object]) -> None:
    """Set members, each encoded standalone and sorted by those bytes (order-free)."""
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

    __slots__ = ("fields", "items", "key", "kind", "remaining", "target")

    def __init__(self, kind: int, target: Any, remaining: int, fields: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.target = target
        self.remaining = remaining
        self.fields = fields
        self.items: list[Any] = []
        self.key: Any = UNSET


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
                    current = _slot_names(cls)
                    if fields != current:  # the class changed since this state was written
                        added = [name for name in current if name not in fields]
                        removed = [name for name in fields if name not in current]
                        defaults = _ADDED_FIELDS.get(_qualified_name(cls), {})
                        if not removed and added and all(name in defaults for name in added):
                            for name in added:  # an older state of a class that only gained fields since
                                object.__setattr__(instance, name, defaults[name])
                        else:
                            raise CodecError(
                                f"{_qualified_name(cls)} changed since this state was written "
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
    except (ValueError, TypeError) as error:
        raise CodecError(f"malformed class header ({error})", pos) from None
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
                frame.key = value
            else:
                frame.target[frame.key] = value
                frame.key = UNSET
        elif kind == _SET:
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
            frame.items.append(value)
    except CodecError:
        raise
    except Exception as error:  # hashing a decoded key or member runs only attrs-generated or builtin methods
        raise CodecError(f"cannot rebuild value ({type(error).__name__}: {error})", offset) from None


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


# ----------------------------------------------------------------------------- commands


def schema_of(classes: Iterable[type]) -> dict[str, list[str]]:
    """The journal schema: class name -> attrs field names, in declaration order."""
    return {cls.__name__: [field.name for field in attrs.fields(cls)] for cls in classes}


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
_MAX_COMPACT_CLASSES: Final = 256  # the class index is one byte
# how many value shapes (field types) / tag strings a codec keeps compiled packers / layouts for;
# a shape past this is still encoded compactly (with identical bytes), just not cached
MAX_CACHED_SHAPES: Final = 4096

Packer = Callable[[tuple[Any, ...]], bytes]


def compile_packer(index: int, shape: tuple[type, ...]) -> Packer:
    """The compact encoder of one class index and one value shape (the exact type of every field).

    Every type in ``shape`` must be int, str, bool or NoneType. The function is
    generated from the shape once (a straight line of tuple reads, one
    ``struct`` pack and one UTF-8 encode) and raises ``struct.error`` for an int
    beyond 64 bits or a string of 2**32 code points, ``UnicodeEncodeError`` for
    a lone surrogate: values the caller writes in the exact binary encoding.
    """
    tags = "".join(_COMPACT_TAGS[kind] for kind in shape)
    raw_tags = tags.encode("ascii")
    layout = struct.Struct("<" + "".join(_COMPACT_FIXED[tag] for tag in raw_tags))
    arguments: list[str] = []
    texts: list[str] = []
    for position, tag in enumerate(tags):
        if tag == "s":
            arguments.append(f"len(v[{position}])")
            texts.append(f"v[{position}]")
        elif tag != "N":
            arguments.append(f"v[{position}]")
    body = f"PREFIX + PACK({', '.join(arguments)})"
    if len(texts) == 1:
        body += f" + {texts[0]}.encode()"
    elif texts:
        body += f" + ({' + '.join(texts)}).encode()"
    namespace: dict[str, Any] = {"PREFIX": bytes((COMPACT_RECORD, index)) + raw_tags, "PACK": layout.pack}
    # the source is built from field positions only, never from a value
    exec(f"def pack(v):\n    return {body}\n", namespace)
    packer: Packer = namespace["pack"]
    return packer


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
    """A C-level getter of the fields as a tuple (``attrgetter`` of one name returns the bare value)."""
    if len(names) == 1:
        (name,) = names

        def one(command: object) -> tuple[Any, ...]:
            return (getattr(command, name),)

        return one
    getter: Callable[[object], tuple[Any, ...]] = operator.attrgetter(*names)
    return getter


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
    class's field list.  Packers are compiled per (class, value shape) on first
    use (:func:`compile_packer`); the common case costs one attrgetter, one
    tuple of types, one dict lookup and the packer's one ``struct`` pack.
    """

    def __init__(self, classes: Iterable[type]) -> None:
        self.classes: dict[str, type] = {}
        self._fields: dict[type, tuple[str, ...]] = {}
        for cls in classes:
            self.classes[cls.__name__] = cls
            self._fields[cls] = tuple(field.name for field in attrs.fields(cls))
        self.schema: dict[str, list[str]] = {
            name: list(self._fields[cls]) for name, cls in self.classes.items()
        }
        # encode side: class -> (field getter, packers by value shape, class index)
        self._compact: dict[
            type, tuple[Callable[[object], tuple[Any, ...]], dict[tuple[type, ...], Packer], int]
        ] = {}
        for index, name in enumerate(sorted(self.classes)[:_MAX_COMPACT_CLASSES]):
            cls = self.classes[name]
            self._compact[cls] = (_field_getter(self._fields[cls]), {}, index)
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
        for name in sorted(schema):
            fields = schema[name]
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
            defaults = []
            for field in attrs.fields(cls):
                if field.name not in fields and field.default is not attrs.NOTHING:
                    defaults.append((field.name, field.default))
            entry = _ReadEntry(cls=cls, fields=tuple(fields), defaults=tuple(defaults))
            by_name[name] = entry
            by_index.append((name, entry))
        self._by_name = by_name
        self._by_index = by_index

    def encode(self, command: object) -> bytes:
        """The journal record of ``command`` (see the class docstring)."""
        entry = self._compact.get(type(command))
        if entry is not None:
            values = entry[0](command)
            packer = entry[1].get(tuple(map(type, values)))
            if packer is None:
                packer = self._packer(entry, values)
            if packer is not None:
                try:
                    return packer(values)
                except (struct.error, UnicodeEncodeError):
                    pass  # an int beyond 64 bits, a lone surrogate: the exact encoding below
        return self._encode_exact(command)

    def _packer(
        self,
        entry: tuple[Callable[[object], tuple[Any, ...]], dict[tuple[type, ...], Packer], int],
        values: tuple[Any, ...],
    ) -> Packer | None:
        """The packer for a shape seen for the first time (None when a value is not plain)."""
        shape = tuple(map(type, values))
        if not all(kind in _COMPACT_TAGS for kind in shape):
            return None
        packer = compile_packer(entry[2], shape)
        if self._shapes_cached < MAX_CACHED_SHAPES:
            entry[1][shape] = packer
            self._shapes_cached += 1
        return packer

    def _encode_exact(self, command: object) -> bytes:
        """``B`` + the state encoding of [class name, field values]: any value, exactly."""
        fields = self._fields.get(type(command))
        if fields is None:  # not a command at all: journaled as received, the engine rejects it
            return b"B" + encode_state(["", [journalable(command)]])
        values = [journalable(getattr(command, name)) for name in fields]
        return b"B" + encode_state([type(command).__name__, values])

    def decode(self, payload: bytes) -> Any:
        """The command of a journal record; :class:`CodecError` naming the offset in ``payload``."""
        kind = payload[0] if payload else -1
        if kind == COMPACT_RECORD:
            entry, values = self._decode_compact(payload)
            return _build(entry, values)
        if kind == JSON_RECORD:
            try:
                decoded = json.loads(payload)
            except (ValueError, UnicodeDecodeError) as error:
                raise CodecError(f"malformed command JSON ({error})", 0) from None
            if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
                raise CodecError("command JSON is not [name, fields...]", 0)
            name: str = decoded[0]
            values = [tuple(v) if isinstance(v, list) else v for v in decoded[1:]]
        elif kind == BINARY_RECORD:
            decoded = decode_state(payload[1:])
            if not (isinstance(decoded, list) and len(decoded) == 2 and isinstance(decoded[0], str)):
                raise CodecError("binary command is not [name, fields]", 1)
            name = decoded[0]
            values = decoded[1]
            if not isinstance(values, list):
                raise CodecError("binary command fields are not a list", 1)
            if name == "":
                if len(values) != 1:
                    raise CodecError("a non-command record holds one value", 1)
                return values[0]
        else:
            raise CodecError("command record starts with none of 'C', 'B', '['", 0)
        read = self._by_name.get(name)
        if read is None:
            raise CodecError(f"unknown command class {name!r}", 0)
        if len(values) != len(read.fields):
            raise CodecError(f"{name} record has {len(values)} fields, schema has {len(read.fields)}", 0)
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
        for position, tag in enumerate(tags):
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
                raise CodecError(f"bool byte {number} (not 0 or 1) in {name} record", 2 + position)
            else:
                values.append(number == 1)
        if cursor != len(text):
            raise CodecError(
                f"{name} record's string lengths add up to {cursor} code points, its text has {len(text)}",
                text_start,
            )
        return read, values


def _build(read: _ReadEntry, values: list[Any]) -> Any:
    """A command of ``read.cls`` from the writer's field values, without calling ``__init__``.

    Built this way so that a journaled hostile value is replayed exactly as
    received; fields the writer did not have keep their class defaults.
    """
    command: Any = object.__new__(read.cls)
    for name, default in read.defaults:
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        object.__setattr__(command, name, default)
    for name, value in zip(read.fields, values, strict=True):
        object.__setattr__(command, name, value)
    return command
