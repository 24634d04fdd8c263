"""``perpspec position``: compute a position the way the venue would, with BitMEX's field names.

::

    perpspec position --symbol XBTUSD --qty -1000 --entry 50000 --mark 50500 --leverage 100x
                      [--wallet SATS] [--pos-cross SATS] [--set NAME=VALUE ...] [--json]

The position is opened by one fill of ``--qty`` contracts (signed, long > 0)
at ``--entry``; every BitMEX field comes from :func:`rules.margin.compute_position_margin`.
``liquidationPrice`` is BitMEX's published figure (MRG-011: on the tick grid, rounded
toward the entry, a safe bound: no mark on its safe side liquidates).  The one
field that is not BitMEX's, ``liquidationMarkPrice``, is the trigger: the first
mark, at price resolution, at which the engine liquidates this position (for
cross with ``--wallet``, the pool of an account holding only this position), from
the engine's own LIQ-001/LIQ-003 predicate (:func:`compute_liquidation_mark_price`);
``null`` when no mark up to ``maxPrice`` liquidates.
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
from perpspec.rules.liquidation import compute_position_equity_term, compute_requirement, is_liquidatable
from perpspec.rules.margin import CROSS, PositionMargin, check_leverage, compute_position_margin
from perpspec.rules.num import PPM
from perpspec.rules.parse import ParseError, format_scaled, parse_int, parse_scaled
from perpspec.rules.position import FLAT, Position, apply_fill
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
# not a BitMEX field: the first mark (price resolution) at which the engine liquidates (compute_liquidation_mark_price)
TRIGGER_FIELD = "liquidationMarkPrice"


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


def compute_liquidation_mark_price(
    inst: Instrument,
    position: Position,
    leverage_hundredths: int,
    pos_cross: int = 0,
    wallet: int = 0,
    hints: tuple[int, ...] = (),
) -> int | None:
    """``liquidationMarkPrice``: the first mark, at price resolution, at which the engine liquidates ``position``.

    The engine's own test (``engine.core.risk.Risk.pool_of`` and LIQ-003 in the waterfall): the pool holding the
    position is liquidated at a mark where its equity, ``pool margin + compute_value(mark) − posCost``, is below
    its maintenance, LIQ-001's ``compute_requirement(...).pos_maint`` (default risk limit: chosen tier 0), as
    ``rules.liquidation.is_liquidatable`` decides.  The pool's margin:

    * isolated (``leverage_hundredths > 0``): what ACC-006 sets aside when the position opens at a mark equal to
      its entry, LIQ-001's ``posInit + posComm``, plus ``pos_cross`` added (the engine's ``iso_margin``; the fee
      on added margin is not part of LIQ-001's reserve, unlike MRG-020's ``posComm``);
    * cross (``0``): ``wallet``, the account's wallet in the settlement currency when the pool holds only this
      position (no isolated margin elsewhere, no other cross position).

    Long: the highest mark that liquidates (every mark below it liquidates too); short: the lowest.  Found by
    binary search over the price units ``[1, maxPrice]`` (the marks the engine accepts): sound because the
    equity is monotone in the mark (inverse: ``proofs.lemmas.lot_value_monotone``; linear and quanto: a floor of
    a linear function) while the requirement does not depend on it.  ``hints`` (the published liquidation and
    bankruptcy prices) only narrow the first bracket, each after being evaluated, so they are never trusted: at
    most ``log2(maxPrice) + 6`` evaluations of the rule.  The result is checked before it is returned: the pool
    is liquidatable at it and not at one price unit on the safe side (long: above, short: below), unless it is
    the end of the range on that side, in which case every mark liquidates.

    ``None`` when no mark in ``[1, maxPrice]`` liquidates the pool (a cross position whose wallet covers it at
    every mark, a short whose margin covers it even at ``maxPrice``), and for a flat position (its pool is never
    liquidated).
    """
    if position.qty == 0:
        return None
    requirement = compute_requirement(inst, position, leverage_hundredths, 0)  # LIQ-001
    if leverage_hundredths == CROSS:
        margin = wallet
    else:
        margin = requirement.pos_init + requirement.pos_comm + pos_cross
    maintenance = requirement.pos_maint

    def liquidates(mark: int) -> bool:
        # as Risk.pool_of: margin + the position's equity term at mark (LIQ-004), against the maintenance (LIQ-003)
        return is_liquidatable(margin + compute_position_equity_term(inst, position, mark), maintenance)

    long = position.qty > 0
    toward_safety = 1 if long else -1  # one price unit on the safe side
    safe_end, deep_end = (inst.max_price, 1) if long else (1, inst.max_price)
    if liquidates(safe_end):
        return safe_end  # every mark in range liquidates: the first one the mark reaches is the range's end
    if not liquidates(deep_end):
        return None  # no mark in range liquidates
    safe, deep = safe_end, deep_end  # invariant: not liquidates(safe), liquidates(deep)
    for hint in hints:
        if not 1 <= hint <= inst.max_price or not min(safe, deep) < hint < max(safe, deep):
            continue
        if liquidates(hint):
            deep = hint
        else:
            safe = hint
    while abs(safe - deep) > 1:
        middle = (safe + deep) // 2
        if liquidates(middle):
            deep = middle
        else:
            safe = middle
    if not liquidates(deep) or liquidates(deep + toward_safety):  # the boundary, evaluated: never a guess
        raise AssertionError(f"liquidationMarkPrice {deep} of {inst.symbol} is not the engine's boundary")
    return deep


def compute(args: argparse.Namespace) -> tuple[Instrument, int, PositionMargin, int | None]:
    """Validate the arguments and compute the position (raises UsageError on bad input).

    Returns the instrument, the mark (price units), MRG-020's fields and ``liquidationMarkPrice``
    (:func:`compute_liquidation_mark_price`, price units or ``None``).
    """
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
    trigger = compute_liquidation_mark_price(
        inst, position, leverage, pos_cross, 0 if wallet is None else wallet,
        hints=(margin.liquidation_price, margin.bankrupt_price),
    )  # fmt: skip
    return inst, mark, margin, trigger


def render_value(inst: Instrument, kind: str, value: int) -> str | int:
    """Money and quantities as integers, prices and rates as exact decimal strings."""
    if kind == "price":
        return format_scaled(value, inst.price_scale)
    if kind == "rate":
        return format_scaled(value, PPM)
    return value


def as_record(inst: Instrument, mark: int, margin: PositionMargin, trigger: int | None) -> dict[str, Any]:
    """The output as one BitMEX-named mapping, with ``liquidationMarkPrice`` (``trigger``; ``None``: null) after
    ``liquidationPrice``."""
    record: dict[str, Any] = {
        "symbol": inst.symbol,
        "currency": inst.settl_currency,
        "crossMargin": margin.leverage_hundredths == CROSS,
        "leverage": format_scaled(margin.leverage_hundredths, 100),
        "markPrice": format_scaled(mark, inst.price_scale),
    }
    for name, attribute, kind in FIELDS:
        record[name] = render_value(inst, kind, getattr(margin, attribute))
        if name == "liquidationPrice":
            record[TRIGGER_FIELD] = None if trigger is None else format_scaled(trigger, inst.price_scale)
    return record


def run(args: argparse.Namespace) -> int:
    """Print the position's fields; 0 on success (UsageError → exit 2 in the dispatcher)."""
    inst, mark, margin, trigger = compute(args)
    record = as_record(inst, mark, margin, trigger)
    if args.json:
        print(json.dumps(record))
        return 0
    width = max(len(name) for name in record)
    for name, value in record.items():
        unit = ""
        if any(name == field and kind == "money" for field, _, kind in FIELDS):
            unit = f"  {inst.settl_currency}"
        elif value is not None and (
            any(name == field and kind == "price" for field, _, kind in FIELDS) or name in ("markPrice", TRIGGER_FIELD)
        ):
            unit = f"  {inst.quote_currency}"
        shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        print(f"{name:<{width}}  {shown}{unit}")
    return 0
