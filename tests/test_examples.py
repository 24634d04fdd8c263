"""The worked examples of specs/examples/contracts.toml and specs/examples/margin.toml, executed.

Each row names the rule it exercises (CON-001, ACC-003, RSK-001, MRG-020, MRG-044, MRG-050, MRG-062); the row's
inputs go through that rule and every expected value must come out exactly.  The rows are data
so that the generated rulebook can show them; this module is what makes them true.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from perpspec.rules.contract import compute_lot_value_inverse, compute_value
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import (
    POSITION_FIELDS,
    compute_account_margin,
    compute_position_margin,
    compute_removable_margin,
)
from perpspec.rules.num import PPM
from perpspec.rules.order_margin import compute_order_margin, compute_order_sides
from perpspec.rules.parse import format_scaled, parse_ppm, parse_scaled
from perpspec.rules.position import FLAT, apply_fill
from perpspec.rules.risk_limit import (
    compute_maint_margin_req_ppm,
    compute_risk_init_margin_req_ppm,
    compute_risk_steps,
)

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "specs" / "examples"
EXAMPLE_FILES = ("contracts.toml", "margin.toml")
XBT = 100_000_000

Row = Mapping[str, Any]


def load_rows() -> list[tuple[str, Row]]:
    rows: list[tuple[str, Row]] = []
    for name in EXAMPLE_FILES:
        with (EXAMPLES_DIR / name).open("rb") as handle:
            data = tomllib.load(handle, parse_float=str)
        rows.extend((name, row) for row in data["example"])
    return rows


def instrument_of(row: Row) -> Instrument:
    return load_instrument(row["instrument"], row.get("overrides", {}))


def price(inst: Instrument, text: str) -> int:
    return parse_scaled(text, inst.price_scale, "price")


def run_contract_value(inst: Instrument, given: Row) -> dict[str, object]:
    return {"value_per_lot_sats": compute_lot_value_inverse(inst, price(inst, given["price_usd"]))}


def run_realised_pnl(inst: Instrument, given: Row) -> dict[str, object]:
    qty, entry, exit_ = given["qty"], price(inst, given["entry_usd"]), price(inst, given["exit_usd"])
    opened, _ = apply_fill(inst, FLAT, qty, entry)
    closed, realised = apply_fill(inst, opened, -qty, exit_)
    assert closed == FLAT
    # the reference's exact arithmetic: Q × (1/E − 1/X) XBT, prices in USD
    entry_usd, exit_usd = Fraction(entry, inst.price_scale), Fraction(exit_, inst.price_scale)
    exact_entry = qty * XBT / entry_usd
    exact_pnl = qty * XBT * (1 / entry_usd - 1 / exit_usd)
    assert exact_entry.denominator == 1
    assert exact_pnl.denominator == 1
    return {
        "exact_entry_value_sats": int(exact_entry),
        "exact_pnl_sats": int(exact_pnl),
        "entry_value_sats": -compute_value(inst, qty, entry),
        "realised_pnl_sats": realised,
        "rounding_difference_sats": realised - int(exact_pnl),
    }


def run_risk_tier(inst: Instrument, given: Row) -> dict[str, object]:
    steps = compute_risk_steps(inst, given["position_value_sats"])
    return {
        "steps": steps,
        "maintMarginReq": format_scaled(compute_maint_margin_req_ppm(inst, steps), PPM),
        "initMarginReq": format_scaled(compute_risk_init_margin_req_ppm(inst, steps), PPM),
    }


def run_position(inst: Instrument, given: Row) -> dict[str, object]:
    position, _ = apply_fill(inst, FLAT, given["qty"], price(inst, given["entry_usd"]))
    leverage = parse_scaled(given["leverage"], 100, "leverage")
    pm = compute_position_margin(
        inst,
        position,
        price(inst, given["mark_usd"]),
        leverage,
        pos_cross=given.get("pos_cross_sats", 0),
        cross_balance=given.get("cross_balance_minor", 0),
    )
    shown: dict[str, object] = {}
    for attribute, name in POSITION_FIELDS.items():
        value = getattr(pm, attribute)
        if name in ("liquidationPrice", "bankruptPrice"):
            shown[name] = format_scaled(value, inst.price_scale)
        elif name in ("initMarginReq", "maintMarginReq"):
            shown[name] = format_scaled(value, PPM)
        else:
            shown[name] = value
    return shown


def run_order_margin(inst: Instrument, given: Row) -> dict[str, object]:
    orders = tuple((qty, price(inst, text)) for qty, text in given["orders"])
    bids, asks = compute_order_sides(inst, orders, price(inst, given["mark_usd"]), 0, 0)
    margin = compute_order_margin(
        inst,
        given["position_qty"],
        bids,
        asks,
        parse_ppm(given["init_margin_req"], "init_margin_req"),
        parse_ppm(given["taker_fee"], "taker_fee"),
    )
    return {
        "bid_qty_charged": margin.bid_qty_charged,
        "ask_qty_charged": margin.ask_qty_charged,
        "init_margin_sats": margin.init_margin,
        "premium_sats": margin.premium,
    }


def run_account(inst: Instrument, given: Row) -> dict[str, object]:
    mark = price(inst, given["mark_usd"])
    lines = []
    for qty, entry, leverage in given["positions"]:
        position, _ = apply_fill(inst, FLAT, qty, price(inst, entry))
        lines.append(compute_position_margin(inst, position, mark, parse_scaled(leverage, 100, "leverage")))
    account = compute_account_margin(given["wallet_sats"], tuple(lines), given["order_margin_sats"])
    return {
        "margin_balance_sats": account.margin_balance,
        "available_sats": account.available_margin,
        "withdrawable_sats": account.withdrawable_margin,
        "cross_margin_excess_sats": account.cross_margin_excess,
    }


def run_removable(inst: Instrument, given: Row) -> dict[str, object]:
    position, _ = apply_fill(inst, FLAT, given["qty"], price(inst, given["entry_usd"]))
    pm = compute_position_margin(
        inst,
        position,
        price(inst, given["mark_usd"]),
        parse_scaled(given["leverage"], 100, "leverage"),
        pos_cross=given["pos_cross_sats"],
    )
    return {"removable_sats": compute_removable_margin(pm.pos_cross, pm.unrealised_pnl)}


RUNNERS: dict[str, Callable[[Instrument, Row], dict[str, object]]] = {
    "CON-001": run_contract_value,
    "ACC-003": run_realised_pnl,
    "RSK-001": run_risk_tier,
    "MRG-020": run_position,
    "MRG-044": run_order_margin,
    "MRG-050": run_account,
    "MRG-062": run_removable,
}

ROWS = load_rows()


@pytest.mark.parametrize(("file", "row"), ROWS, ids=[row["id"] for _, row in ROWS])
def test_worked_example_comes_out_exactly(file: str, row: Row) -> None:
    actual = RUNNERS[row["rule"]](instrument_of(row), row["inputs"])
    expected = dict(row["expected"])
    assert set(expected) <= set(actual), f"{file} {row['id']}: unknown expected fields"
    assert expected == {name: actual[name] for name in expected}


def test_every_example_row_is_self_describing() -> None:
    ids = [row["id"] for _, row in ROWS]
    assert len(ids) == len(set(ids))
    for _, row in ROWS:
        assert {"id", "rule", "description", "instrument", "inputs", "expected"} <= set(row)
        assert row["rule"] in RUNNERS


def test_the_15000_contract_example_differs_from_exact_arithmetic_by_the_per_lot_rounding() -> None:
    """Reference §1: +1.25 XBT exactly; the rulebook pays 1.24995 XBT at lot size 1.

    1e8 / 750 = 133,333.33… sats is rounded to 133,333 per contract, so the long's entry cost
    is ⅓ sat per contract lower and the PnL 15,000 × ⅓ = 5,000 sats lower than exact.
    """
    inst = load_instrument("XBTUSD", {"lotSize": 1})
    opened, _ = apply_fill(inst, FLAT, 15_000, 75_000)
    _, realised = apply_fill(inst, opened, -15_000, 80_000)
    exact = 15_000 * XBT * (Fraction(1, 750) - Fraction(1, 800))
    per_contract_rounding = Fraction(XBT, 750) - 133_333
    assert exact == 125_000_000
    assert realised == 124_995_000
    assert realised - exact == -15_000 * per_contract_rounding
