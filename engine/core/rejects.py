"""A handler's typed refusal and the input checks every handler shares.

Every command handler validates first and only then mutates; a refusal is a
:class:`Rej` (reason code and text), which the sequencer
(:class:`engine.core.exchange.Engine`) turns into a ``Rejected`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from perpspec.engine.core.commands import FIELD_CHECKS, FIELD_KINDS, FIELD_NOUNS
from perpspec.engine.core.events import Reason


class Rej(NamedTuple):
    """A handler's refusal (becomes a ``Rejected`` event)."""

    reason: Reason
    text: str


# FIELD_CHECKS with the (exact type, may be None) pairs as two flat tuples: the compiled loop indexes them directly
_CHECKS: Final[dict[type[Any], tuple[Callable[[Any], Any], tuple[type[Any], ...], tuple[bool, ...]]]] = {
    cls: (getter, tuple(kind for kind, _ in kinds), tuple(optional for _, optional in kinds))
    for cls, (getter, kinds) in FIELD_CHECKS.items()
}


def is_int(value: object) -> bool:
    """Exactly an ``int`` (a ``bool`` or a float is malformed input)."""
    return type(value) is int


def is_str(value: object) -> bool:
    """Exactly a ``str``."""
    return type(value) is str


def wrong_field_type(command: object) -> str | None:
    """The first field of ``command`` whose value is not exactly its declared type, as a reject text; else None.

    The engine's typed validation layer (issue 14): the sequencer calls it
    (as :func:`first_wrong_type` on :func:`field_values`) before any handler
    reads a field, so every later read sees the declared type.  An ``int``
    field takes an ``int`` and nothing else (a ``bool`` is not a number here),
    a ``str`` field a ``str``, a ``bool`` field a ``bool``; an optional field
    may also be None.  The mypyc-compiled engine checks a field's annotation
    when it reads it (and unboxes ``True`` read as ``int`` to 1): with this
    layer in front, the compiled and the interpreted engine give the same
    typed ``Malformed`` reject.  The fields are read through the class's
    ``attrgetter`` (never by a typed read), so compiling this module
    (``perpspec build-native``) checks nothing by itself; it only makes the
    loop below native code.
    """
    return first_wrong_type(command, field_values(command))


def field_values(command: object) -> tuple[object, ...]:
    """Every field value of ``command`` in its class's declaration order, read at once by the class's
    ``attrgetter`` (no typed read); () for an object that is no command."""
    check = _CHECKS.get(type(command))
    if check is None:
        return ()
    raw: Any = check[0](command)
    return (raw,) if len(check[1]) == 1 else raw


def first_wrong_type(command: object, values: tuple[object, ...]) -> str | None:
    """:func:`wrong_field_type` of ``command`` whose fields :func:`field_values` read as ``values``."""
    check = _CHECKS.get(type(command))
    if check is None:
        return None
    _, kinds, optional = check
    for index in range(len(kinds)):
        value = values[index]
        kind = kinds[index]
        if type(value) is not kind and not (optional[index] and value is None):
            return f"{FIELD_KINDS[type(command)][index][0]} must be {FIELD_NOUNS[kind]}"
    return None


def text_of(value: object) -> str:
    """A rejected command's clOrdID as the ``Rejected`` event carries it (a hostile one shown canonically)."""
    if type(value) is str:
        return value
    return show(value) if value else ""


def show(value: object) -> str:
    """A value as a reject's text shows it, the same in every process and on replay.

    ``repr`` of a set lists its members in hash-table order, which depends on
    insertion history (and, for strings, on ``PYTHONHASHSEED``); the journal
    rebuilds a hostile set canonically, so its ``repr`` could differ on replay
    (a fuzz find).  Set members are shown sorted; containers recursively.
    """
    kind = type(value)
    if kind is set or kind is frozenset:
        members = sorted(show(member) for member in value)  # type: ignore[attr-defined]
        return f"{kind.__name__}({{{', '.join(members)}}})" if members else f"{kind.__name__}()"
    if kind is list:
        return "[" + ", ".join(show(item) for item in value) + "]"  # type: ignore[attr-defined]
    if kind is tuple:
        items = [show(item) for item in value]  # type: ignore[attr-defined]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if kind is dict:
        return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in value.items()) + "}"  # type: ignore[attr-defined]
    return repr(value)
