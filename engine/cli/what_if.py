"""``perpspec what-if --params NEW.toml --state POSITIONS``: today's positions under proposed parameters.

Shows, for every position, its liquidation price and maintenance margin under
the current (shipped) and the proposed parameters, whether it would be
liquidatable at the current mark, and how the ADL queue of each contract side
changes (:mod:`engine.simulation.what_if`).  ``--json`` prints one JSON object.

Exit status: 0 success (whatever the result), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

import attrs

from perpspec.engine.cli.main import UsageError
from perpspec.engine.simulation.scenario import load_instrument_file as load_instrument
from perpspec.engine.simulation.what_if import (
    FIELD_NAMES,
    State,
    StateError,
    WhatIf,
    compare,
    parse_state,
    read_state_file,
    state_from_engine,
    summary,
    symbols_of,
)
from perpspec.rules.instrument import FeeTier, Instrument
from perpspec.rules.instrument_file import InstrumentError
from perpspec.rules.parse import format_ppm, format_scaled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec what-if``."""
    parser.add_argument("--params", required=True, metavar="NEW.toml", help="the proposed instrument file")
    parser.add_argument(
        "--state",
        required=True,
        metavar="FILE",
        help="a positions file (.toml/.json: accounts, positions, marks) or an engine journal snapshot",
    )
    parser.add_argument(
        "--current",
        metavar="OLD.toml",
        help="the current parameters of that instrument (default: the shipped instrument of the same symbol)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="override a proposed parameter (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def _overrides(items: list[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        found[name.strip()] = value.strip()
    return found


def _price(inst: Instrument, value: int) -> str:
    return format_scaled(value, inst.price_scale)


PRICE_FIELDS = ("tick_size", "max_price")
"""Instrument fields in price units: shown as decimals of the quote currency, each in its own instrument's
``priceScale`` (a raw count would compare units of 1/100 with units of 1 when ``priceScale`` changes)."""


def _fee_tiers(tiers: tuple[FeeTier, ...]) -> str:
    """The fee schedule above tier 0 (tier 0 is ``makerFee`` / ``takerFee``, shown on their own rows)."""
    return "; ".join(
        f"adv {tier.adv_usd}: makerFee {format_ppm(tier.maker_fee_ppm)}, takerFee {format_ppm(tier.taker_fee_ppm)}"
        for tier in tiers[1:]
    ) or "(none)"


HELD_FIELDS = (
    "funding_interval_ms",
    "mark_method",
    "settlement_fee_ppm",
    "expiry_ms",
    "impact_notional",
    "fixed_interest_daily_ppm",
    "premium_clamp_ppm",
    "funding_cap_ratio_ppm",
    "funding_change_cap_ratio_ppm",
    "premium_sample_ms",
    "fair_basis_refresh_ms",
    "impact_spread_ticks",
    "limit_band_ppm",
    "settlement_twap_ms",
)
"""Index, mark, funding and settlement parameters: a what-if holds the state's marks and settles nothing, so no
figure it shows depends on them (tests/test_what_if_units.py checks it).  A change of one is listed apart."""

DURATION_FIELDS = ("funding_interval_ms", "premium_sample_ms", "fair_basis_refresh_ms", "settlement_twap_ms")


def _duration(ms: int) -> str:
    """A duration as the instrument file writes it: ``"08:00:00"`` (``"250ms"`` below a whole second)."""
    if ms % 1000:
        return f"{ms}ms"
    minutes, seconds = divmod(ms // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _file_value(name: str, value: object) -> str:
    """``value`` of the :class:`Instrument` field ``name`` as the instrument file writes it: rates and fractions as
    percentages (``fixedInterestRate`` a day), durations as ``HH:MM:SS``, an optional field not set as "not set"."""
    if value is None:
        return "not set"
    if isinstance(value, int) and not isinstance(value, bool):
        if name.endswith("_ppm"):
            return format_ppm(value) + (" a day" if name == "fixed_interest_daily_ppm" else "")
        if name in DURATION_FIELDS:
            return _duration(value)
    return str(value)


def changed_parameters(current: Instrument, proposed: Instrument) -> list[tuple[str, str, str]]:
    """(name as the instrument file spells it, current, proposed) for every field whose value differs, each value
    written as the instrument file writes it (see :func:`held_parameters` for the ones no figure depends on)."""
    rows = []
    for field in attrs.fields(Instrument):
        before, after = getattr(current, field.name), getattr(proposed, field.name)
        if field.name in PRICE_FIELDS:
            before, after = _price(current, before), _price(proposed, after)
        elif field.name == "fee_tiers":
            before, after = _fee_tiers(before), _fee_tiers(after)
        elif field.name == "kind":
            before, after = before.value, after.value
        if before == after:
            continue
        rows.append((FIELD_NAMES[field.name], _file_value(field.name, before), _file_value(field.name, after)))
    return rows


HELD_NAMES = frozenset(FIELD_NAMES[name] for name in HELD_FIELDS)


def held_parameters(changed: list[tuple[str, str, str]]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """``changed`` split into (parameters the comparison evaluates, :data:`HELD_FIELDS` ones it does not)."""
    return [row for row in changed if row[0] not in HELD_NAMES], [row for row in changed if row[0] in HELD_NAMES]


def _optional(value: int | None) -> str:
    return "—" if value is None else str(value)


def render_json(
    result: WhatIf,
    instruments: Mapping[str, Instrument],
    changed: list[tuple[str, str, str]],
    *,
    current: Mapping[str, Instrument],
) -> str:
    """The comparison as one JSON object (integers for money, decimal strings for prices): the current
    column in the ``current`` instruments' price units, the proposed one in ``instruments``'."""
    positions = []
    for change in result.changes:
        inst, now = instruments[change.held.symbol], current[change.held.symbol]
        positions.append(
            {
                "account": change.held.account_id,
                "symbol": change.held.symbol,
                "currentQty": change.held.qty,
                "leverage": format_scaled(change.held.leverage_hundredths, 100) if change.held.leverage_hundredths else "cross",
                "liquidationPrice": {
                    "current": _price(now, change.before.liquidation_price),
                    "proposed": _price(inst, change.after.liquidation_price),
                },
                "bankruptPrice": {
                    "current": _price(now, change.before.bankrupt_price),
                    "proposed": _price(inst, change.after.bankrupt_price),
                },
                "posMaint": {"current": change.before.pos_maint, "proposed": change.after.pos_maint},
                "marginExcess": {"current": change.before.excess, "proposed": change.after.excess},
                "liquidatable": {"current": change.before.liquidatable, "proposed": change.after.liquidatable},
                "liquidationPriceChanged": change.liquidation_price_changed,
            }
        )
    queue = [
        {
            "symbol": entry.symbol,
            "side": entry.side,
            "account": entry.account_id,
            "rank": {"current": entry.rank_before, "proposed": entry.rank_after},
            "lights": {"current": entry.lights_before, "proposed": entry.lights_after},
        }
        for entry in result.queue
    ]
    evaluated, held = held_parameters(changed)
    payload = {
        "changedParameters": [{"name": n, "current": b, "proposed": a} for n, b, a in evaluated],
        "changedHeldParameters": [{"name": n, "current": b, "proposed": a} for n, b, a in held],
        "summary": summary(result),
        "positions": positions,
        "adlQueue": queue,
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return lines


def render_text(
    result: WhatIf,
    instruments: Mapping[str, Instrument],
    changed: list[tuple[str, str, str]],
    *,
    current: Mapping[str, Instrument],
) -> str:
    """Tables for a terminal: prices now in the ``current`` instruments' units, new in ``instruments``'."""
    evaluated, held = held_parameters(changed)
    lines = ["Changed parameters:"]
    lines.extend(f"  {name}: {before} → {after}" for name, before, after in evaluated)
    if not evaluated:
        lines.append("  (none)")
    if held:
        lines.append("Changed index, funding and settlement parameters (a what-if holds the marks: no figure below depends on them):")
        lines.extend(f"  {name}: {before} → {after}" for name, before, after in held)
    lines.append("")
    rows = []
    for change in result.changes:
        inst, now = instruments[change.held.symbol], current[change.held.symbol]
        mode = (
            f"isolated {format_scaled(change.held.leverage_hundredths, 100)}x"
            if change.held.leverage_hundredths
            else "cross"
        )
        flag = "*" if change.liquidation_price_changed else ""
        rows.append(
            [
                str(change.held.account_id),
                change.held.symbol,
                f"{change.held.qty:_}",
                mode,
                f"{_price(now, change.before.liquidation_price)} → {_price(inst, change.after.liquidation_price)}{flag}",
                f"{change.before.pos_maint:_} → {change.after.pos_maint:_}",
                f"{'yes' if change.before.liquidatable else 'no'} → {'YES' if change.after.liquidatable else 'no'}",
            ]
        )
    lines.extend(
        _table(["Account", "Symbol", "Qty", "Margin", "Liq. price now → new", "posMaint now → new", "Liquidatable"], rows)
    )
    lines.append("")
    lines.append("ADL queue (rank 0 is deleveraged first; — : not in the queue, being liquidated):")
    queue_rows = [
        [
            entry.symbol,
            entry.side,
            str(entry.account_id),
            f"{_optional(entry.rank_before)} → {_optional(entry.rank_after)}",
            f"{_optional(entry.lights_before)} → {_optional(entry.lights_after)}",
        ]
        for entry in result.queue
    ]
    lines.extend(_table(["Symbol", "Side", "Account", "Rank now → new", "Lights now → new"], queue_rows))
    lines.append("")
    counts = summary(result)
    lines.append(
        f"{counts['positions']} positions: {counts['liquidation_price_changed']} liquidation prices change, "
        f"{counts['liquidatable_after']} liquidatable at the current mark (now {counts['liquidatable_before']}, "
        f"{counts['newly_liquidatable']} newly), {counts['adl_rank_changed']} ADL ranks change"
    )
    return "\n".join(lines)


def _snapshot_state(path: str) -> tuple[State, dict[str, Instrument], int]:
    """Positions, instruments and marks of an engine journal snapshot (validated, hash-checked)."""
    from perpspec.engine.core.exchange import LIQUIDATOR
    from perpspec.engine.durability.journal import JournalError, read_snapshot
    from perpspec.engine.durability.recovery import load_snapshot_state

    try:
        exchange = load_snapshot_state(read_snapshot(path), path)
    except (JournalError, OSError) as error:
        raise UsageError(f"{path}: not a positions file (.toml/.json) nor a readable engine snapshot: {error}") from error
    return state_from_engine(exchange, LIQUIDATOR)


def check_positions_to_compare(state: State, symbol: str, source: str) -> None:
    """A what-if needs at least one position in the instrument whose parameters change: else it is an error,
    not an empty table that reads as "nothing changes"."""
    if not state.positions:
        raise UsageError(f"{source}: holds no open positions, nothing to compare")
    symbols = sorted({held.symbol for held in state.positions})
    if symbol not in symbols:
        raise UsageError(
            f"{source}: none of its {len(state.positions)} positions is in {symbol} (the instrument --params changes); "
            f"they are in {', '.join(symbols)}"
        )


def run(args: argparse.Namespace) -> int:
    """Compare the positions under the current and the proposed parameters."""
    skipped = 0
    try:
        proposed_inst = load_instrument(args.params, _overrides(args.set))
        if Path(args.state).suffix.lower() in (".toml", ".json"):
            data = read_state_file(Path(args.state))
            current = {symbol: load_instrument(symbol) for symbol in symbols_of(data) if symbol != proposed_inst.symbol}
            current[proposed_inst.symbol] = load_instrument(args.current or proposed_inst.symbol)
            state = parse_state(data, current, args.state)
        else:
            state, current, skipped = _snapshot_state(args.state)
            if args.current:
                current[proposed_inst.symbol] = load_instrument(args.current)
            if proposed_inst.symbol not in current:
                raise UsageError(f"the snapshot has no instrument {proposed_inst.symbol}")
    except (InstrumentError, StateError) as error:
        raise UsageError(str(error)) from error
    if skipped and not args.json:
        print(f"note: {skipped} open positions left out (their contract has no mark price yet)")
    if current[proposed_inst.symbol].symbol != proposed_inst.symbol:
        raise UsageError(f"--current is {current[proposed_inst.symbol].symbol}, --params is {proposed_inst.symbol}")
    check_positions_to_compare(state, proposed_inst.symbol, args.state)
    proposed = dict(current)
    proposed[proposed_inst.symbol] = proposed_inst
    try:
        result = compare(state, current, proposed)
    except StateError as error:
        raise UsageError(f"{args.state}: {error}") from error
    changed = changed_parameters(current[proposed_inst.symbol], proposed_inst)
    render = render_json if args.json else render_text
    print(render(result, proposed, changed, current=current))
    return 0
