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

The codec lives in three modules, by concern, and this one gathers their public
names: :mod:`engine.core.records` (the registry of record classes and
their stable names), :mod:`engine.core.state_codec` (the state encoding)
and :mod:`engine.durability.command_codec` (the journal's command records).
"""

from __future__ import annotations

from perpspec.engine.core.records import (
    RECORD_MODULES,
    REGISTRY,
    Opaque,
    is_record_class,
    qualified_name,
    slot_names,
)
from perpspec.engine.core.state_codec import STATE_MAGIC, UNSET, CodecError, decode_state, encode_state
from perpspec.engine.durability.command_codec import (
    BINARY_RECORD,
    COMPACT_RECORD,
    JSON_RECORD,
    MAX_CACHED_SHAPES,
    CommandCodec,
    Packer,
    compile_packer,
    journalable,
    schema_of,
)

__all__ = [
    "BINARY_RECORD",
    "COMPACT_RECORD",
    "JSON_RECORD",
    "MAX_CACHED_SHAPES",
    "RECORD_MODULES",
    "REGISTRY",
    "STATE_MAGIC",
    "UNSET",
    "CodecError",
    "CommandCodec",
    "Opaque",
    "Packer",
    "compile_packer",
    "decode_state",
    "encode_state",
    "is_record_class",
    "journalable",
    "qualified_name",
    "schema_of",
    "slot_names",
]
