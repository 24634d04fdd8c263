"""A handler's typed refusal and the input checks every handler shares.

Every command handler validates first and only then mutates; a refusal is a
:class:`Rej` (reason code and text), which the sequencer
(:class:`engine.core.exchange.Engine`) turns into a ``Rejected`` event.
"""

from __future__ import annotations

from typing import NamedTuple

from perpspec.engine.core.events import Reason


class Rej(NamedTuple):
    """A handler's refusal (becomes a ``Rejected`` event)."""

    reason: Reason
    text: str


def is_int(value: object) -> bool:
    """Exactly an ``int`` (a ``bool`` or a float is malformed input)."""
    return type(value) is int


def is_str(value: object) -> bool:
    """Exactly a ``str``."""
    return type(value) is str


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
