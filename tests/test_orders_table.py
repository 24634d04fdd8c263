"""Every order type, instruction and time in force, from the example table ``specs/examples/orders.toml``.

Each example starts from the same market (XBTUSD, accounts 1–3 verified with
1 XBT each, mark and index 50000) and runs its steps through the engine; the
events each step names must appear in order (matched on the BitMEX fields
they give), the ones under ``absent`` must not appear, and a step with
``reject`` must be rejected with that reason.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, Rejected, event_to_dict
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.parse import parse_scaled

TABLE = Path(__file__).resolve().parent.parent / "specs" / "examples" / "orders.toml"
EXAMPLES: list[dict[str, Any]] = tomllib.loads(TABLE.read_text())["example"]
INSTRUMENT = load_instrument("XBTUSD")
PRICE_FIELDS = {"price", "stop_px", "peg_offset_value", "mark_price", "index_price", "lastPx", "stopPx"}
STEP_KEYS = {"type", "expect", "absent", "reject"}


def price_units(text: str) -> int:
    return parse_scaled(text, INSTRUMENT.price_scale, "price")


def make_engine() -> Engine:
    engine = Engine({"XBTUSD": INSTRUMENT})
    start = price_units("50000")
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=start, index_price=start))
    for account in (1, 2, 3):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=100_000_000))
    return engine


def build(step: dict[str, Any], clock: int) -> c.Command:
    fields = {k: (price_units(v) if k in PRICE_FIELDS and isinstance(v, str) else v)
              for k, v in step.items() if k not in STEP_KEYS}
    fields.setdefault("time_ms", clock)
    if step["type"] == "PlaceOrder":
        fields.setdefault("symbol", "XBTUSD")
    return c.command_from_dict({"type": step["type"], **fields})


def matches(event: Event, wanted: dict[str, Any]) -> bool:
    data = event_to_dict(event)
    for key, value in wanted.items():
        expected = price_units(value) if key in PRICE_FIELDS and isinstance(value, str) else value
        if data.get(key) != expected:
            return False
    return True


def find_in_order(events: list[Event], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The wanted events not found as an ordered subsequence of ``events``."""
    position = 0
    missing = []
    for item in wanted:
        while position < len(events) and not matches(events[position], item):
            position += 1
        if position == len(events):
            missing.append(item)
        else:
            position += 1
    return missing


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["id"] for e in EXAMPLES])
def test_order_example(example: dict[str, Any]) -> None:
    engine = make_engine()
    for step in example["step"]:
        events = engine.process(build(step, engine.time_ms))
        rendered = [event_to_dict(e) for e in events]
        if "reject" in step:
            assert isinstance(events[-1], Rejected), rendered
            assert events[-1].reason.value == step["reject"]
        else:
            assert isinstance(events[-1], Accepted), rendered
        assert find_in_order(events, step.get("expect", [])) == [], rendered
        assert [e for e in events if any(matches(e, bad) for bad in step.get("absent", []))] == []


def test_table_covers_every_order_type_instruction_and_time_in_force() -> None:
    used: set[str] = set()
    for example in EXAMPLES:
        for step in example["step"]:
            used.add(step.get("ord_type", "Limit" if "price" in step else ""))
            used.update(x for x in step.get("exec_inst", "").split(",") if x)
            used.add(step.get("time_in_force", ""))
            if "display_qty" in step:
                used.add("displayQty=0" if step["display_qty"] == 0 else "displayQty")
    wanted = {
        "Market", "Limit", "Stop", "StopLimit", "MarketIfTouched", "LimitIfTouched", "Pegged",
        "ParticipateDoNotInitiate", "ReduceOnly", "Close", "LastPrice", "IndexPrice", "LastWithinMark",
        "GoodTillCancel", "ImmediateOrCancel", "FillOrKill", "Day", "displayQty", "displayQty=0",
    }
    assert wanted - used == set()
