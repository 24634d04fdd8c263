"""Commands are NamedTuples (issue 14): immutable, equal only within their class, and what attrs gave them.

The engine keeps the commands since its last rollback checkpoint and replays them, so a command must not change
after it is submitted; the journal's codec and the typed validation layer read a command's fields as its items.
"""

from __future__ import annotations

import operator
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.rejects import field_values

EXAMPLES: dict[str, dict[str, Any]] = {
    name: {field: (0 if kind is int else "x" if kind is str else True) for field, kind, optional in kinds if not optional}
    for name, kinds in ((cls.__name__, c.FIELD_KINDS[cls]) for cls in c.COMMAND_TYPES.values())
}


def example(name: str) -> Any:
    return c.COMMAND_TYPES[name](**EXAMPLES[name])


def test_two_commands_are_equal_only_of_the_same_class() -> None:
    cancel_all, cancel_one = c.CancelAll(time_ms=0, account=1), c.CancelOrder(time_ms=0, account=1)
    assert tuple(cancel_all) == tuple(cancel_one)  # the same items...
    # both operators are the commands' own (commands._same_command, _other_command): each is checked
    assert operator.ne(cancel_all, cancel_one)  # ...but different commands
    assert not operator.eq(cancel_all, cancel_one)
    assert operator.ne(cancel_all, (0, 1, None, None))
    assert not operator.eq(cancel_all, (0, 1, None, None))
    twin = c.CancelAll(time_ms=0, account=1)
    assert operator.eq(cancel_all, twin)
    assert not operator.ne(cancel_all, twin)
    assert hash(cancel_all) == hash(twin)
    assert c.CancelAll(time_ms=0, account=2) != twin
    assert len({cancel_all, cancel_one, twin}) == 2


@pytest.mark.parametrize("name", sorted(c.COMMAND_TYPES))
def test_a_command_cannot_be_changed_after_it_is_made(name: str) -> None:
    command = example(name)
    with pytest.raises(AttributeError):
        command.time_ms = 5


@pytest.mark.parametrize("name", sorted(c.COMMAND_TYPES))
def test_field_names_defaults_replace_and_the_dict_round_trip(name: str) -> None:
    cls = c.COMMAND_TYPES[name]
    command = example(name)
    assert c.field_names(cls)[0] == "time_ms"
    assert c.field_names(cls) == tuple(name for name, _, _ in c.FIELD_KINDS[cls])
    defaults = c.field_defaults(cls)
    assert {field for field, _, optional in c.FIELD_KINDS[cls] if optional} <= set(defaults) <= set(c.field_names(cls))
    assert cls(**{field: value for field, value in EXAMPLES[name].items() if field not in defaults}) == cls(
        **{field: value for field, value in EXAMPLES[name].items() if field not in defaults}, **defaults
    )
    later = c.replace(command, time_ms=7)
    assert (type(later), later.time_ms, command.time_ms) == (cls, 7, 0)
    assert field_values(command) == tuple(getattr(command, field) for field in c.field_names(cls))
    assert type(field_values(command)) is tuple
    assert c.command_from_dict(c.command_to_dict(command)) == command


def test_replace_takes_a_field_named_command_and_refuses_an_unknown_one() -> None:
    stand_in = c.Oversized(time_ms=0, command="PlaceOrder", size=10)
    assert c.replace(stand_in, command="AmendOrder").command == "AmendOrder"
    with pytest.raises(ValueError, match="nope"):
        c.replace(stand_in, nope=1)


def test_a_one_field_command_reads_as_one_value() -> None:
    assert field_values(c.TimeTick(time_ms=5)) == (5,)
    assert field_values(object()) == ()
