"""A handler's typed refusal and the input checks every handler shares.

Every command handler validates first and only then mutates; a refusal is a
:class:`Rej` (reason code and text), which the sequencer
(:class:`engine.core.exchange.Engine`) turns into a ``Rejected`` event,
naming the command (:func:`name_of`) and the account and clOrdID it came from
(:func:`told`), all read without running any code of a hostile command object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from perpspec.engine.core.commands import (
    COMMAND_TYPES,
    FIELD_CHECKS,
    FIELD_INT_MAX,
    FIELD_INT_MIN,
    FIELD_KINDS,
    FIELD_NOUNS,
)
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
    field takes an ``int`` within signed 64 bits (``commands.FIELD_INT_MIN`` ..
    ``FIELD_INT_MAX``; redteam18_1/_4) and nothing else (a ``bool`` is not a number here),
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
    """Every field value of ``command`` in its class's declaration order, read at once (a command is a
    NamedTuple: its items; no typed read); () for an object that is no command."""
    cls = type(command)
    check = _CHECKS.get(cls) if is_plain_class(cls) else None
    if check is None:
        return ()
    values: tuple[object, ...] = check[0](command)
    return values


def first_wrong_type(command: object, values: tuple[object, ...]) -> str | None:
    """:func:`wrong_field_type` of ``command`` whose fields :func:`field_values` read as ``values``."""
    cls = type(command)
    check = _CHECKS.get(cls) if is_plain_class(cls) else None
    if check is None:
        return None
    _, kinds, optional = check
    for index in range(len(kinds)):
        value = values[index]
        kind = kinds[index]
        if type(value) is not kind:
            if not (optional[index] and value is None):
                return f"{FIELD_KINDS[type(command)][index][0]} must be {FIELD_NOUNS[kind]}"
        elif kind is int and not FIELD_INT_MIN <= value <= FIELD_INT_MAX:  # type: ignore[operator]
            return (
                f"{FIELD_KINDS[type(command)][index][0]} {show(value)} is outside signed 64 bits "
                f"[{FIELD_INT_MIN}, {FIELD_INT_MAX}]"
            )
    return None


# type's own name slots: reading them never runs a metaclass's code (a metaclass may make __name__ a property)
_TYPE_NAME: Final[Any] = type.__dict__["__name__"]
_TYPE_QUALNAME: Final[Any] = type.__dict__["__qualname__"]


def class_name(kind: type) -> str:
    """``kind.__name__`` as the interpreter holds it: never a metaclass's property (review13_1)."""
    name: str = _TYPE_NAME.__get__(kind, type)
    return name


def class_qualname(kind: type) -> str:
    """``kind.__qualname__`` as the interpreter holds it: never a metaclass's property."""
    name: str = _TYPE_QUALNAME.__get__(kind, type)
    return name


def is_whole_command(command: object) -> bool:
    """``command`` is of a registered command class and holds that class's number of items, so its fields are plain
    tuple items: reading one runs no code of its own and raises nothing (a foreign object's attribute may run code,
    redteam13_1; a short command's missing field raises ``IndexError``, review12_4)."""
    cls = type(command)
    kinds = FIELD_KINDS.get(cls) if is_plain_class(cls) else None
    return kinds is not None and len(command) == len(kinds)  # type: ignore[arg-type]


def is_plain_class(kind: type) -> bool:
    """``kind``'s metaclass is exactly ``type``, so hashing and comparing it are ``type``'s own (by identity).

    Only such a class is looked up in a dict or a set: a metaclass of its own may make ``__hash__`` raise or
    ``__eq__`` call the class equal to a command class (review13_1, review13_2).  Every command class, and every
    record class but the enums, is plain.
    """
    return type(kind) is type


def text_of(value: object) -> str:
    """A rejected command's clOrdID as the ``Rejected`` event carries it (a hostile one shown canonically)."""
    if type(value) is str:
        return value
    kind = type(value)
    # an exact builtin's truth runs no code; compared by identity (a set lookup would hash the class: review13_1)
    builtin = (
        kind is int or kind is bool or kind is float or kind is bytes or kind is list or kind is tuple
        or kind is dict or kind is set or kind is frozenset
    )
    if value is None or (builtin and not value):
        return ""
    return show(value)  # any other object, truthy or not: its __bool__ may run code (it may raise)


# each registered class's name, read without touching the object (a foreign class's __name__ may run code)
_NAMES: Final[dict[type[Any], str]] = {kind: kind.__name__ for kind in COMMAND_TYPES.values()}


def name_of(kind: type[Any]) -> str:
    """The name a command's events carry: the class's own ``__name__`` slot, read without running any code of a
    foreign class (its metaclass may make ``__name__`` a property, or its hash raise: review13_1)."""
    known = _NAMES.get(kind) if is_plain_class(kind) else None
    return known if known is not None else class_name(kind)


def told(command: object) -> tuple[int, str]:
    """The account and clOrdID a ``Rejected`` of ``command`` names.

    Read only from a command of a registered class holding its class's number of items, whose fields are plain
    tuple items.  A foreign object's attribute read may run code (redteam13_1: a subclass whose ``account`` is a
    raising property), and a short command's missing field raises ``IndexError`` (review12_4:
    ``tuple.__new__(PlaceOrder, [0])``); such a command names account -1 and no clOrdID, as does one whose
    account is not an int within signed 64 bits.
    """
    if not is_whole_command(command):
        return -1, ""
    account = getattr(command, "account", -1)
    # an account beyond 64 bits is none (the validation layer refused it): an event never carries such an int
    known = is_int(account) and FIELD_INT_MIN <= account <= FIELD_INT_MAX
    return (account if known else -1), text_of(getattr(command, "cl_ord_id", ""))


SHOWN_CHARS: Final = 256  # a value shown in a reject's text is cut after this many characters ("…")
SHOWN_DEPTH: Final = 16  # containers nested deeper than this are shown as "…"
_CUT: Final = "…"


def show(value: object) -> str:
    """A value as a reject's text shows it, the same in every process and on replay, and bounded.

    ``repr`` of a set lists its members in hash-table order, which depends on
    insertion history (and, for strings, on ``PYTHONHASHSEED``); the journal
    rebuilds a hostile set canonically, so its ``repr`` could differ on replay
    (a fuzz find).  Set members are shown sorted; containers recursively.

    Bounded (a red-team find): a clOrdID of a few journal bytes can be a
    list that holds itself twice per level, forty levels deep, or nested a
    hundred thousand levels, or a cycle; its full text would double per level
    or exhaust the stack.  So the text is cut after :data:`SHOWN_CHARS`
    characters, containers below :data:`SHOWN_DEPTH` levels are ``…``, a
    container met again at the same depth (shared, or a cycle) is rendered
    once, an int too long to print in full is shown by its size, and a value
    whose ``repr`` fails is named by its type.  The work is then bounded by
    the number of distinct containers times the depth, never by the text's
    unbounded size.
    """
    text = _show(value, SHOWN_DEPTH, {})
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + _CUT


def _show(value: object, depth: int, memo: dict[tuple[int, int], str]) -> str:
    """:func:`show` of ``value`` with ``depth`` levels of nesting left; at most about SHOWN_CHARS + 1 characters
    of a container are built (the caller cuts)."""
    kind = type(value)
    if kind is str:
        return repr(value[: SHOWN_CHARS + 1])  # type: ignore[index]
    if kind is int:
        bits = value.bit_length()  # type: ignore[attr-defined]
        return repr(value) if bits <= 3 * SHOWN_CHARS else f"<int of {bits} bits>"
    if kind is not set and kind is not frozenset and kind is not list and kind is not tuple and kind is not dict:
        try:
            text = repr(value)
        except BaseException as error:  # a hostile __repr__ (or one too long to build) named by its type,
            # SystemExit, KeyboardInterrupt and GeneratorExit included: they are the value's code, not the caller's
            # (review14_3: one escaped Engine.process after its Rejected's number was taken)
            return f"<unrepresentable {class_qualname(kind)}: {class_name(type(error))}>"
        return text if type(text) is str else f"<unrepresentable {class_qualname(kind)}>"
    if depth == 0:
        return _CUT
    key = (id(value), depth)
    known = memo.get(key)
    if known is not None:
        return known
    memo[key] = _CUT  # a cycle back to this container shows as "…"
    below = depth - 1
    parts: list[str] = []
    size = 0
    if kind is set or kind is frozenset:  # every member, to sort them (each one's text bounded)
        parts = sorted(_show(member, below, memo) for member in value)  # type: ignore[attr-defined]
        body = ", ".join(parts)
        text = f"{kind.__name__}({{{body}}})" if parts else f"{kind.__name__}()"
    else:
        items: Any = value.items() if kind is dict else value  # type: ignore[attr-defined]
        for item in items:
            if size > SHOWN_CHARS:
                parts.append(_CUT)
                break
            part = f"{_show(item[0], below, memo)}: {_show(item[1], below, memo)}" if kind is dict else _show(
                item, below, memo
            )
            parts.append(part)
            size += len(part) + 2
        body = ", ".join(parts)
        if kind is list:
            text = f"[{body}]"
        elif kind is dict:
            text = f"{{{body}}}"
        else:
            text = f"({body},)" if len(parts) == 1 and parts[0] != _CUT else f"({body})"
    text = text if len(text) <= SHOWN_CHARS + 1 else text[: SHOWN_CHARS + 1]
    memo[key] = text
    return text
