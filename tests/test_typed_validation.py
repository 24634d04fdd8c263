"""The typed validation layer: a wrong-typed command field is refused as Malformed before any handler reads it.

``engine.core.commands.wrong_field_type`` runs in the sequencer ahead of every
handler, so the interpreted and the mypyc-compiled engine (which checks an
annotation when compiled code reads the field) give the same typed reject
(tests/test_native.py compares the two on a hostile stream).
"""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine

# a well-typed instance of every command class the engine handles
VALID: tuple[Any, ...] = (
    c.PlaceOrder(time_ms=1, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=5_000_000),
    c.AmendOrder(time_ms=1, account=1, order_id=1, leaves_qty=100),
    c.CancelOrder(time_ms=1, account=1, order_id=1),
    c.CancelAll(time_ms=1, account=1, symbol="XBTUSD", side="Buy"),
    c.CancelAllAfter(time_ms=1, account=1, timeout_ms=60_000),
    c.VerifyAccount(time_ms=1, account=1),
    c.Deposit(time_ms=1, account=1, asset="XBt", amount=10),
    c.Withdraw(time_ms=1, account=1, asset="XBt", amount=10),
    c.SetLeverage(time_ms=1, account=1, symbol="XBTUSD", leverage_hundredths=1_000),
    c.Isolate(time_ms=1, account=1, symbol="XBTUSD", enabled=True),
    c.TransferMargin(time_ms=1, account=1, symbol="XBTUSD", amount=10),
    c.SetRiskLimit(time_ms=1, account=1, symbol="XBTUSD", risk_limit=20_000_000_000),
    c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_000_000),
    c.FundingTick(time_ms=1, symbol="XBTUSD", rate_e8=100),
    c.DepositInsurance(time_ms=1, asset="XBt", amount=10),
    c.Settle(time_ms=1, symbol="XBTZ26", settlement_price=5_000_000),
)
WRONG: dict[type[Any], tuple[Any, ...]] = {int: (True, 1.5, "7", None), str: (7, b"x", None), bool: (1, "yes", None)}


def cases() -> list[tuple[Any, str, Any]]:
    out = []
    for command in VALID:
        for name, kind, optional in c.FIELD_KINDS[type(command)]:
            if name == "time_ms":
                continue  # the sequencer's own first check ("time_ms must be an integer")
            for value in WRONG[kind]:
                if value is None and optional:
                    continue
                out.append((command, name, value))
    return out


def test_every_command_class_the_engine_handles_has_a_valid_example() -> None:
    assert {type(command) for command in VALID} == set(c.COMMAND_TYPES.values()) - {c.TimeTick, c.Oversized}


@pytest.mark.parametrize(("command", "name", "value"), cases(), ids=lambda x: type(x).__name__)
def test_a_wrong_typed_field_is_refused_as_malformed_and_changes_nothing(command: Any, name: str, value: Any) -> None:
    engine, reference = Engine(), Engine()
    for exchange in (engine, reference):
        exchange.process(c.VerifyAccount(time_ms=0, account=1))
    # the reference refuses a command at the sequencer's first check: one Rejected, nothing else changes
    assert type(reference.process(c.TimeTick(time_ms="0"))[-1]) is Rejected  # type: ignore[arg-type]
    events = engine.process(c.replace(command, **{name: value}))
    last = events[-1]
    assert (len(events), type(last), last.reason, last.text) == (1, Rejected, Reason.MALFORMED, c.wrong_field_type(
        c.replace(command, **{name: value})))
    assert last.text.startswith(f"{name} must be ")
    assert engine.state_hash() == reference.state_hash()


@pytest.mark.parametrize("command", VALID, ids=lambda x: type(x).__name__)
def test_a_well_typed_command_passes_the_layer(command: Any) -> None:
    assert c.wrong_field_type(command) is None
