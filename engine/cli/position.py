"""``perpspec position``: compute a position the way the venue would, with BitMEX's field names.

::

    perpspec position --symbol XBTUSD --qty -1000 --entry 50000 --mark 50500 --leverage 100x
                      [--wallet SATS] [--pos-cross SATS] [--set NAME=VALUE ...] [--json]

The position is opened by one fill of ``--qty`` contracts (signed, long > 0)
at ``--entry``; every field comes from :func:`rules.margin.compute_position_margin`.
``--leverage`` is isolated leverage (``100``, ``100x``, ``2.5``) or ``0`` for
cross; a cross position needs ``--wallet``, the margin balance backing it
(minor units, excluding the position's own unrealised PnL).  ``--pos-cross``
adds isolated margin.  ``--set`` overrides any instrument field by its BitMEX
name (``--set takerFee=0.00075 --set tickSize=0.5``).

Money is printed as integers of the settlement currency's minor unit (XBt,
USDt), prices and rates as exact decimal strings.  Bad input: one line on
stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from perpspec.engine.cli.main import UsageError
from perpspec.engine.simulation.scenario import load_instrument_file as load_instrument
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import InstrumentError
from perpspec.rules.margin import CROSS, PositionMargin, check_leverage, compute_position_margin
from perpspec.rules.num import PPM
from perpspec.rules.parse import ParseError, format_scaled, parse_int, parse_scaled
from perpspec.rules.position import FLAT, apply_fill
from perpspec.rules.risk_limit import compute_max_leverage_hundredths, compute_risk_steps

# Output rows: BitMEX name, attribute of PositionMargin, kind ("money", "price", "rate", "qty").
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("currentQty", "current_qty", "qty"),
    ("initMarginReq", "init_margin_req_ppm", "rate"),
    ("maintMarginReq", "maint_margin_req_ppm", "rate"),
    ("posCost", "pos_cost", "money"),
    ("posInit", "pos_init", "money"),
    ("posComm", "pos_comm", "money"),
    ("posCross", "pos_cross", "money"),
    ("posMargin", "pos_margin", "money"),
    ("posMaint", "pos_maint", "money"),
    ("maintMargin", "maint_margin", "money"),
    ("markValue", "mark_value", "money"),
    ("unrealisedPnl", "unrealised_pnl", "money"),
    ("liquidationPrice", "liquidation_price", "price"),
    ("bankruptPrice", "bankrupt_price", "price"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec position``."""
    parser.add_argument("--symbol", default="XBTUSD", help="instrument symbol or path to a TOML file (default XBTUSD)")
    parser.add_argument("--qty", required=True, help="signed quantity in contracts (long > 0), whole lots")
    parser.add_argument("--entry", required=True, help="entry price, e.g. 50000.5")
    parser.add_argument("--mark", help="mark price (default: the entry price)")
    parser.add_argument("--leverage", default="0", help="isolated leverage (100, 100x, 2.5) or 0 for cross (default)")
    parser.add_argument("--wallet", help="cross: margin balance backing the position, minor units (XBt/USDt)")
    parser.add_argument("--pos-cross", default="0", help="isolated: extra margin added, minor units (default 0)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an instrument field by its BitMEX name (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["takerFee=0.00075", ...]`` → ``{"takerFee": "0.00075"}``."""
    overrides: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value.strip()
    return overrides


def parse_leverage(text: str) -> int:
    """``"100"``, ``"100x"``, ``"2.5"`` → hundredths; ``"0"`` → cross."""
    cleaned = text.strip()
    if cleaned[-1:] in ("x", "X"):
        cleaned = cleaned[:-1]
    if not cleaned:
        raise ParseError("--leverage", f"not a leverage: {text!r} (use 100, 100x, 2.5 or 0 for cross)")
    leverage = parse_scaled(cleaned, 100, "--leverage")
    if leverage < 0:
        raise ParseError("--leverage", "must be 0 (cross) or positive")
    return leverage


def parse_price(inst: Instrument, text: str, field: str, on_tick: bool = True) -> int:
    """A price in price units: on the instrument's tick grid, or (``on_tick=False``, marks) at price resolution.

    BitMEX's mark prices are not on the order tick grid (XBTUSD marks carried
    cents on a 0.5 tick): a mark is any price the price unit can express.
    """
    price = parse_scaled(text, inst.price_scale, field)
    tick = format_scaled(inst.tick_size, inst.price_scale)
    if price <= 0 or price > inst.max_price:
        raise ParseError(field, f"must be above 0 and at most maxPrice {format_scaled(inst.max_price, inst.price_scale)}")
    if on_tick and price % inst.tick_size != 0:
        raise ParseError(field, f"{text} is not a multiple of tickSize {tick}")
    return price


def compute(args: argparse.Namespace) -> tuple[Instrument, int, PositionMargin]:
    """Validate the arguments and compute the position (raises UsageError on bad input)."""
    try:
        inst = load_instrument(args.symbol, parse_overrides(args.set))
    except InstrumentError as error:
        raise UsageError(str(error)) from error
    try:
        qty = parse_int(args.qty, "--qty")
        entry = parse_price(inst, args.entry, "--entry")
        mark = entry if args.mark is None else parse_price(inst, args.mark, "--mark", on_tick=False)
        leverage = parse_leverage(args.leverage)
        pos_cross = parse_int(args.pos_cross, "--pos-cross")
        wallet = None if args.wallet is None else parse_int(args.wallet, "--wallet")
    except ParseError as error:
        raise UsageError(str(error)) from error
    if qty == 0 or qty % inst.lot_size != 0:
        raise UsageError(f"--qty: must be a non-zero multiple of lotSize {inst.lot_size}, got {qty}")
    if pos_cross < 0:
        raise UsageError("--pos-cross: must not be negative")
    if leverage == CROSS and wallet is None:
        raise UsageError("--wallet: required for a cross position (--leverage 0): the margin balance backing it")
    if leverage != CROSS and wallet is not None:
        raise UsageError("--wallet: applies to cross margin only (--leverage 0); use --pos-cross to add isolated margin")
    if leverage == CROSS and pos_cross != 0:
        raise UsageError("--pos-cross: applies to isolated margin only (--leverage above 0)")
    position, _ = apply_fill(inst, FLAT, qty, entry)
    steps = compute_risk_steps(inst, abs(position.cost))
    if check_leverage(inst, leverage, steps) is not None:
        top = compute_max_leverage_hundredths(inst, steps)
        if top == 0:  # RSK-005: the tier's initial margin is above 10,000%: no isolated leverage is possible
            raise UsageError(f"--leverage: must be 0 (cross): this position's risk tier ({steps} steps) allows no isolated leverage")
        raise UsageError(
            f"--leverage: must be 0 (cross) or between 0.01 and {format_scaled(top, 100)} at this position's risk tier"
        )
    margin = compute_position_margin(inst, position, mark, leverage, pos_cross, 0 if wallet is None else wallet)
    return inst, mark, margin


def render_value(inst: Instrument, kind: str, value: int) -> str | int:
    """Money and quantities as integers, prices and rates as exact decimal strings."""
    if kind == "price":
        return format_scaled(value, inst.price_scale)
    if kind == "rate":
        return format_scaled(value, PPM)
    return value


def as_record(inst: Instrument, mark: int, margin: PositionMargin) -> dict[str, Any]:
    """The output as one BitMEX-named mapping."""
    record: dict[str, Any] = {
        "symbol": inst.symbol,
        "currency": inst.settl_currency,
        "crossMargin": margin.leverage_hundredths == CROSS,
        "leverage": format_scaled(margin.leverage_hundredths, 100),
        "markPrice": format_scaled(mark, inst.price_scale),
    }
    for name, attribute, kind in FIELDS:
        record[name] = render_value(inst, kind, getattr(margin, attribute))
    return record


def run(args: argparse.Namespace) -> int:
    """Print the position's fields; 0 on success (UsageError → exit 2 in the dispatcher)."""
    inst, mark, margin = compute(args)
    record = as_record(inst, mark, margin)
    if args.json:
        print(json.dumps(record))
        return 0
    width = max(len(name) for name in record)
    for name, value in record.items():
        unit = ""
        if any(name == field and kind == "money" for field, _, kind in FIELDS):
            unit = f"  {inst.settl_currency}"
        elif any(name == field and kind == "price" for field, _, kind in FIELDS) or name == "markPrice":
            unit = f"  {inst.quote_currency}"
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        print(f"{name:<{width}}  {shown}{unit}")
    return 0
