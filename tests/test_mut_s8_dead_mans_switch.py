"""ORD-050: a fresh account's dead man's switch is disarmed (``cancel_at_ms`` 0), in the state the hash covers.

Mutation survivor ``engine/core/accounts.py`` #8 (``Account.cancel_at_ms = 0`` -> 1): no order is ever cancelled by
it (a switch fires only from the schedule, which arming fills), but the deadline is part of ``Account.canonical()``
and so of the state hash: an account that never armed and one whose switch has fired must be in the same state.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine


def _ok(engine: Engine, command: c.Command) -> None:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])


def test_ord_050_a_fresh_account_is_disarmed_in_its_canonical_state() -> None:
    """ORD-050: ``CancelAllAfter(0)`` means disarmed, and a new account starts disarmed: its canonical tuple is
    (id, verified, wallets, positions, clOrdIDs, deadline 0, volume, reserved)."""
    engine = Engine()
    _ok(engine, c.VerifyAccount(time_ms=0, account=2))
    assert engine.accounts[2].canonical() == (2, True, (), (), (), 0, (), ())


def test_ord_050_a_switch_that_fired_leaves_the_state_of_one_never_armed() -> None:
    """ORD-050: once a dead man's switch has fired (the deadline reached, nothing to cancel), the account is
    disarmed: the whole state hash equals that of an engine where the account never armed one."""
    fired, never = Engine(), Engine()
    for engine in (fired, never):
        _ok(engine, c.VerifyAccount(time_ms=0, account=2))
    _ok(fired, c.CancelAllAfter(time_ms=0, account=2, timeout_ms=5))
    _ok(never, c.CancelAll(time_ms=0, account=2))  # one accepted command each: the same event numbers
    for engine in (fired, never):
        _ok(engine, c.TimeTick(time_ms=10))
    assert fired.state_hash() == never.state_hash()
