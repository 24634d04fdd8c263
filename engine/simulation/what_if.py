"""What-if: the same positions under other instrument parameters (``perpspec what-if``).

A risk committee asks "what happens to today's book if we change this
parameter?".  This module takes a set of accounts with their positions and the
current mark prices, and evaluates every position twice with the margin rules
(:mod:`rules.margin`) and the ADL ranking (:mod:`rules.adl`): under the current
parameters and under the proposed ones.  It reports which liquidation prices
move, which positions would be liquidatable at the current mark, and how each
ADL queue changes.

What stays and what changes when parameters change:

* money does not move: an isolated position keeps the margin it posted under
  the current parameters (``posMargin``), a cross account keeps its wallet;
* requirements are recomputed: ``posMaint`` (maintenance margin, risk tiers,
  commission reserve) under the proposed parameters, so the liquidation price
  is where the *posted* margin plus the unrealised PnL reaches the *new*
  maintenance;
* a position that becomes liquidatable leaves the ADL queue (it is being
  liquidated, not deleveraged against); the others are re-ranked;
* the market does not move: a proposed ``priceScale`` re-expresses the marks
  and entry prices in the new price units, exactly, or the comparison is
  refused (a price finer than the new unit is not the same market); prices
  before and after are compared as amounts of the quote currency, not as
  counts of different units; a mark above the current or the proposed
  ``maxPrice`` is refused (no engine could hold it);
* the positions do not change: each must be a whole number of lots of the
  proposed ``lotSize`` (no engine could hold another, and inverse values count
  whole lots), or the comparison is refused naming them;
* the contract does not change: a proposal changing what a contract, a price or
  the money held is (``settlCurrency``, ``quoteCurrency``, ``multiplier``, the
  contract kind) is refused, since the same state would mean something else.

The positions file (TOML or JSON) is the input until engine snapshots are
available::

    [marks]
    XBTUSD = "50000"            # quote currency, exact decimal

    [[accounts]]
    id = 1
    wallet = { XBt = 100000000 }  # minor units per settlement currency
    positions = [
      { symbol = "XBTUSD", qty = 10000, entry = "50000", leverage = "25" },   # isolated 25x
      { symbol = "XBTUSD", qty = -500, entry = "52000", leverage = "cross" },  # (one per symbol)
    ]

Integers only: prices are parsed exactly at this edge with :mod:`rules.parse`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from perpspec.rules.adl import AdlCandidate, compute_deleverage_indicators
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import BITMEX_NAMES, Instrument
from perpspec.rules.margin import (
    CROSS,
    check_leverage,
    compute_cross_backing,
    compute_cross_margin_excess,
    compute_isolated_margin_excess,
    compute_liquidation_price,
    compute_position_margin,
)
from perpspec.rules.parse import (
    ParseError,
    format_scaled,
    loads_json,
    loads_toml,
    parse_int,
    parse_scaled,
    read_input_file,
)
from perpspec.rules.position import Position, compute_avg_entry_price
from perpspec.rules.risk_limit import compute_risk_steps


class StateError(ValueError):
    """A positions file that is malformed, or positions the proposed instruments cannot hold; the message
    names the place."""


LISTED_AT_MOST = 10
"""Positions named at most in one refusal (a snapshot may hold thousands): the count says the rest."""


@attrs.frozen(kw_only=True)
class HeldPosition:
    """One position as the positions file states it."""

    account_id: int
    symbol: str
    qty: int  # signed contracts
    entry_price: int  # price units
    leverage_hundredths: int  # 0 = cross
    pos_cross: int = 0  # isolated: extra margin, minor units
    cost: int | None = None  # exact cost basis when known (engine snapshot); else value at entry
    posted_margin: int | None = (
        None  # isolated margin as the engine holds it; else posInit + posComm + posCross
    )


@attrs.frozen(kw_only=True)
class State:
    """Accounts, wallets, positions and marks."""

    wallets: Mapping[int, Mapping[str, int]]  # account -> settlement currency -> minor units
    positions: tuple[HeldPosition, ...]
    marks: Mapping[str, int]  # symbol -> price units


@attrs.frozen(kw_only=True)
class Evaluation:
    """One position under one parameter set."""

    cost: int
    margin: int  # what backs it: isolated posMargin (as posted), cross: the backing of MRG-033
    pos_maint: int
    equity: int  # the pool's equity at mark (isolated: the position's; cross: the account's)
    excess: int  # the pool's margin excess at mark; < 0: liquidatable
    liquidation_price: int
    bankrupt_price: int
    mark_value: int
    price_scale: int  # the price unit of liquidation_price and bankrupt_price: 1/price_scale quote units

    @property
    def liquidatable(self) -> bool:
        """Below maintenance at the current mark."""
        return self.excess < 0


def same_price(price: int, scale: int, other: int, other_scale: int) -> bool:
    """Whether ``price`` (units of ``1/scale``) and ``other`` (units of ``1/other_scale``) are the same amount of
    the quote currency: both restated at the common unit ``1/(scale * other_scale)`` by cross-multiplying, which
    is exact (no rounding). A proposed ``priceScale`` changes the unit, not the price: 4926150 at 1/100 is
    492615000 at 1/10000, the same 49261.5 USD."""
    return price * other_scale == other * scale


@attrs.frozen(kw_only=True)
class PositionChange:
    """A position before and after the parameter change."""

    held: HeldPosition
    before: Evaluation
    after: Evaluation

    @property
    def liquidation_price_changed(self) -> bool:
        """True when the liquidation price moves (compared as quote-currency amounts: see :func:`same_price`)."""
        return not same_price(
            self.before.liquidation_price, self.before.price_scale, self.after.liquidation_price, self.after.price_scale
        )

    @property
    def bankrupt_price_changed(self) -> bool:
        """True when the bankruptcy price moves (compared as quote-currency amounts)."""
        return not same_price(
            self.before.bankrupt_price, self.before.price_scale, self.after.bankrupt_price, self.after.price_scale
        )

    @property
    def newly_liquidatable(self) -> bool:
        """Safe now, liquidatable under the proposed parameters."""
        return self.after.liquidatable and not self.before.liquidatable


@attrs.frozen(kw_only=True)
class QueueEntry:
    """A position's place in its ADL queue (``None``: not in the queue, being liquidated)."""

    account_id: int
    symbol: str
    side: str  # "long" | "short"
    rank_before: int | None
    rank_after: int | None
    lights_before: int | None
    lights_after: int | None


@attrs.frozen(kw_only=True)
class WhatIf:
    """The whole comparison."""

    changes: tuple[PositionChange, ...]
    queue: tuple[QueueEntry, ...]


# -- loading ---------------------------------------------------------------------------


def _leverage(value: object, where: str) -> int:
    if isinstance(value, str) and value.strip().lower() == "cross":
        return CROSS
    text = value.strip().rstrip("xX") if isinstance(value, str) else value
    hundredths = parse_scaled(text, 100, where)
    if hundredths < 0:
        raise ParseError(where, "must not be negative")
    return hundredths


# The keys a positions file may hold (specs/what_if/positions.toml's format): any other is a misspelling, refused so
# that a committee's answer never silently leaves out what the file meant (redteam26_6: a `poscross` dropped).
STATE_KEYS: Final = ("accounts", "marks")
ACCOUNT_KEYS: Final = ("id", "positions", "wallet")
POSITION_KEYS: Final = ("entry", "leverage", "posCross", "qty", "symbol")


def _known_keys(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(key) for key in table if key not in known)
    if unknown:
        field = where if where != "the file" else unknown[0]
        raise ParseError(field, f"unknown key {unknown[0]!r} (known: {', '.join(known)})")


def parse_state(data: Mapping[str, Any], instruments: Mapping[str, Instrument], source: str) -> State:
    """Validate a positions mapping against the instruments it names; a key it does not know is refused."""
    try:
        _known_keys(data, STATE_KEYS, "the file")
        marks_raw = data.get("marks", {})
        if not isinstance(marks_raw, Mapping):
            raise ParseError("marks", "must be a table of symbol = price")
        marks: dict[str, int] = {}
        for symbol, value in marks_raw.items():
            if symbol not in instruments:
                raise ParseError(f"marks.{symbol}", "unknown instrument")
            marks[symbol] = parse_scaled(value, instruments[symbol].price_scale, f"marks.{symbol}")
            if marks[symbol] <= 0:
                raise ParseError(f"marks.{symbol}", "must be positive")
            if marks[symbol] > instruments[symbol].max_price:
                top = format_scaled(instruments[symbol].max_price, instruments[symbol].price_scale)
                raise ParseError(
                    f"marks.{symbol}",
                    f"{value} is above maxPrice {top} {instruments[symbol].quote_currency}: no engine could hold it",
                )
        accounts = data.get("accounts", [])
        if not isinstance(accounts, list):
            raise ParseError("accounts", "must be an array of tables")
        wallets: dict[int, dict[str, int]] = {}
        positions: list[HeldPosition] = []
        for index, account in enumerate(accounts):
            where = f"accounts[{index}]"
            if not isinstance(account, Mapping) or "id" not in account:
                raise ParseError(where, "needs an id")
            account_id = parse_int(account["id"], f"{where}.id")
            if account_id < 0:  # negative ids are the engine's own (the liquidator), never a trader's
                raise ParseError(f"{where}.id", "must be a non-negative integer (a trader account)")
            _known_keys(account, ACCOUNT_KEYS, where)
            if account_id in wallets:
                raise ParseError(f"{where}.id", f"duplicate account {account_id}")
            wallet_raw = account.get("wallet", {})
            if not isinstance(wallet_raw, Mapping):
                raise ParseError(f"{where}.wallet", "must be a table of currency = minor units")
            wallets[account_id] = {
                currency: parse_int(amount, f"{where}.wallet.{currency}")
                for currency, amount in wallet_raw.items()
            }
            seen: set[str] = set()
            rows = account.get("positions", [])
            if not isinstance(rows, list):
                raise ParseError(f"{where}.positions", "must be an array of tables")
            for number, row in enumerate(rows):
                spot = f"{where}.positions[{number}]"
                if not isinstance(row, Mapping):
                    raise ParseError(spot, "must be a table")
                _known_keys(row, POSITION_KEYS, spot)
                symbol = str(row.get("symbol", ""))
                if symbol not in instruments:
                    raise ParseError(f"{spot}.symbol", f"unknown instrument {symbol!r}")
                if symbol not in marks:
                    raise ParseError(f"{spot}.symbol", f"no mark price for {symbol} in [marks]")
                if symbol in seen:
                    raise ParseError(f"{spot}.symbol", f"a second position in {symbol} (one per contract)")
                seen.add(symbol)
                inst = instruments[symbol]
                qty = parse_int(row.get("qty", 0), f"{spot}.qty")
                if qty == 0 or qty % inst.lot_size != 0:
                    raise ParseError(f"{spot}.qty", f"must be a non-zero multiple of lotSize {inst.lot_size}")
                entry = parse_scaled(row.get("entry", 0), inst.price_scale, f"{spot}.entry")
                if entry <= 0:
                    raise ParseError(f"{spot}.entry", "must be positive")
                leverage = _leverage(row.get("leverage", "cross"), f"{spot}.leverage")
                # MRG-065 at the position's own risk tier, as SetLeverage checks it in the engine
                steps = compute_risk_steps(inst, abs(compute_value(inst, qty, entry)))
                problem = check_leverage(inst, leverage, steps)
                if problem is not None:
                    raise ParseError(
                        f"{spot}.leverage",
                        f"must be cross or 0.01x..{format_scaled(problem.available, 100)}x at this position's"
                        f" risk tier (MRG-065)",
                    )
                positions.append(
                    HeldPosition(
                        account_id=account_id,
                        symbol=symbol,
                        qty=qty,
                        entry_price=entry,
                        leverage_hundredths=leverage,
                        pos_cross=parse_int(row.get("posCross", 0), f"{spot}.posCross"),
                    )
                )
    except ParseError as error:
        raise StateError(f"{source}: {error}") from error
    return State(wallets=wallets, positions=tuple(positions), marks=marks)


def read_state_file(path: Path) -> dict[str, Any]:
    """A positions file as a raw mapping (TOML, or JSON by extension); decimals kept as text."""
    try:
        text = read_input_file(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise StateError(f"{path}: not UTF-8 text (byte {error.start}): not a positions file") from None
    except OSError as error:
        raise StateError(f"{path}: cannot read: {error.strerror}") from error
    try:
        if path.suffix.lower() == ".json":
            data = loads_json(text, parse_float=str)
        else:
            data = loads_toml(text, parse_float=str)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:  # NestedTooDeeply is both
        raise StateError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'TOML'}: {error}") from error
    if not isinstance(data, dict):
        raise StateError(f"{path}: must be a table / object")
    return data


def symbols_of(data: Mapping[str, Any]) -> list[str]:
    """Every symbol a raw positions mapping names (marks and positions), sorted."""
    found = set(data.get("marks", {}) if isinstance(data.get("marks"), Mapping) else ())
    for account in data.get("accounts", []) if isinstance(data.get("accounts"), list) else []:
        if isinstance(account, Mapping):
            for row in account.get("positions", []) or []:
                if isinstance(row, Mapping) and "symbol" in row:
                    found.add(str(row["symbol"]))
    return sorted(found)


# -- evaluation ------------------------------------------------------------------------


def _evaluate_pools(
    state: State, instruments: Mapping[str, Instrument], posted: Mapping[tuple[int, str], int] | None
) -> tuple[dict[tuple[int, str], Evaluation], dict[tuple[int, str], int]]:
    """Every position under ``instruments``; isolated margins as ``posted`` (None: post them now)."""
    evaluations: dict[tuple[int, str], Evaluation] = {}
    margins: dict[tuple[int, str], int] = {}
    by_account: dict[int, list[HeldPosition]] = {}
    for held in state.positions:
        by_account.setdefault(held.account_id, []).append(held)
    for account_id in sorted(by_account):
        helds = by_account[account_id]
        currencies = sorted({instruments[held.symbol].settl_currency for held in helds})
        for currency in currencies:
            in_currency = [held for held in helds if instruments[held.symbol].settl_currency == currency]
            isolated = [held for held in in_currency if held.leverage_hundredths != CROSS]
            cross = [held for held in in_currency if held.leverage_hundredths == CROSS]
            isolated_total = 0
            for held in isolated:
                inst = instruments[held.symbol]
                mark = state.marks[held.symbol]
                position = Position(qty=held.qty, cost=_cost(inst, held))
                fields = compute_position_margin(
                    inst, position, mark, held.leverage_hundredths, held.pos_cross
                )
                key = (account_id, held.symbol)
                as_posted = fields.pos_margin if held.posted_margin is None else held.posted_margin
                margin = as_posted if posted is None else posted[key]
                margins[key] = margin
                isolated_total += margin
                evaluations[key] = Evaluation(
                    cost=position.cost,
                    margin=margin,
                    pos_maint=fields.pos_maint,
                    equity=margin + fields.unrealised_pnl,
                    excess=compute_isolated_margin_excess(inst, position, margin, fields.pos_maint, mark),
                    liquidation_price=compute_liquidation_price(
                        inst, held.qty, position.cost, margin, fields.pos_maint
                    ),
                    bankrupt_price=_bankruptcy(inst, position, margin, fields.pos_comm),
                    mark_value=fields.mark_value,
                    price_scale=inst.price_scale,
                )
            cross_wallet = state.wallets.get(account_id, {}).get(currency, 0) - isolated_total
            cross_fields = []
            for held in cross:
                inst = instruments[held.symbol]
                position = Position(qty=held.qty, cost=_cost(inst, held))
                fields = compute_position_margin(inst, position, state.marks[held.symbol], CROSS)
                cross_fields.append((held, inst, position, fields))
            pnls = tuple(fields.unrealised_pnl for _, _, _, fields in cross_fields)
            maints = tuple(fields.pos_maint for _, _, _, fields in cross_fields)
            pool_excess = compute_cross_margin_excess(cross_wallet, pnls, maints)
            pool_equity = cross_wallet + sum(pnls)
            for index, (held, inst, position, fields) in enumerate(cross_fields):
                others_pnl = pnls[:index] + pnls[index + 1 :]
                others_maint = maints[:index] + maints[index + 1 :]
                backing = compute_cross_backing(cross_wallet, others_pnl, others_maint)
                evaluations[(account_id, held.symbol)] = Evaluation(
                    cost=position.cost,
                    margin=backing,
                    pos_maint=fields.pos_maint,
                    equity=pool_equity,
                    excess=pool_excess,
                    liquidation_price=compute_liquidation_price(
                        inst, held.qty, position.cost, backing, fields.pos_maint
                    ),
                    bankrupt_price=_bankruptcy(inst, position, backing, fields.pos_comm),
                    mark_value=fields.mark_value,
                    price_scale=inst.price_scale,
                )
    return evaluations, margins


def _cost(inst: Instrument, held: HeldPosition) -> int:
    """The position's cost basis: as held, or the value of its quantity at the entry price."""
    return compute_value(inst, held.qty, held.entry_price) if held.cost is None else held.cost


def _bankruptcy(inst: Instrument, position: Position, margin: int, pos_comm: int) -> int:
    from perpspec.rules.margin import compute_bankruptcy_price

    return compute_bankruptcy_price(inst, position.qty, position.cost, margin, pos_comm)


def _queue(
    state: State, evaluations: Mapping[tuple[int, str], Evaluation]
) -> dict[tuple[int, str], tuple[int, int]]:
    """``(account, symbol) -> (rank, lights)`` per contract side, liquidatable positions left out."""
    places: dict[tuple[int, str], tuple[int, int]] = {}
    sides: dict[tuple[str, int], list[AdlCandidate]] = {}
    for held in state.positions:
        evaluation = evaluations[(held.account_id, held.symbol)]
        if evaluation.liquidatable:
            continue
        side = 1 if held.qty > 0 else -1
        sides.setdefault((held.symbol, side), []).append(
            AdlCandidate(
                account_id=held.account_id,
                qty=held.qty,
                cost=evaluation.cost,
                pool_equity=evaluation.equity,
                mark_value=evaluation.mark_value,
            )
        )
    for (symbol, _), candidates in sorted(sides.items()):
        for indicator in compute_deleverage_indicators(candidates):
            places[(indicator.account_id, symbol)] = (indicator.rank, indicator.lights)
    return places


# -- the proposed units ------------------------------------------------------------------


FIELD_NAMES: dict[str, str] = {
    **{attribute: name for name, attribute in BITMEX_NAMES.items()},
    "kind": "type",
    "price_scale": "priceScale",
    "fee_tiers": "feeTiers",
    "base_currency": "baseCurrency",
    "base_multiplier": "baseMultiplier",
}
"""Every :class:`Instrument` field by the name an instrument file and ``--set`` spell it (BitMEX's name, where
BitMEX has the field): what a what-if shows and refuses, never the Python attribute."""


CONTRACT_FIELDS = ("kind", "quote_currency", "settl_currency", "multiplier", "base_currency", "base_multiplier")
"""Instrument fields that say what one contract, a price or the money held *is*: the marks are in the quote
currency, wallets, cost bases and posted margins in the settlement currency's minor units, a contract is
worth ``multiplier``. Under another value the same state means something else, so a what-if refuses them."""


def check_same_contract(current: Mapping[str, Instrument], proposed: Mapping[str, Instrument]) -> None:
    """Refuse a proposal that changes a :data:`CONTRACT_FIELDS` field of an instrument, naming it."""
    for symbol in sorted(current):
        if symbol not in proposed:
            continue
        for field in CONTRACT_FIELDS:
            before, after = getattr(current[symbol], field), getattr(proposed[symbol], field)
            if before != after:
                if field == "kind":
                    before, after = before.value, after.value
                raise StateError(
                    f"{symbol}: {FIELD_NAMES[field]} {before} → {after} changes what a contract, a price or"
                    f" the money held is, not a parameter of the same contract: a what-if cannot compare it"
                )


def check_whole_lots(state: State, instruments: Mapping[str, Instrument], which: str) -> None:
    """Refuse a state holding a position that is not a whole number of lots of its ``lotSize`` under
    ``instruments`` (``which`` names them: "current" / "proposed"), naming every such position."""
    off_lot = [held for held in state.positions if held.qty % instruments[held.symbol].lot_size != 0]
    if off_lot:
        listed = ", ".join(
            f"account {held.account_id} {held.symbol} qty {held.qty} (lotSize {instruments[held.symbol].lot_size})"
            for held in off_lot[:LISTED_AT_MOST]
        )
        more = f" and {len(off_lot) - LISTED_AT_MOST} more" if len(off_lot) > LISTED_AT_MOST else ""
        raise StateError(
            f"{len(off_lot)} position(s) not a whole number of lots of the {which} lotSize, which no engine could"
            f" hold: {listed}{more}"
        )


def _price_in_scale(price: int, from_scale: int, to_scale: int, where: str) -> int:
    """``price`` (units of ``1/from_scale``) in units of ``1/to_scale``, exactly, else a StateError naming it."""
    scaled = price * to_scale
    if scaled % from_scale != 0:
        raise StateError(
            f"{where} {format_scaled(price, from_scale)} cannot be expressed exactly at the proposed"
            f" priceScale {to_scale} (unit 1/{to_scale}): not the same market"
        )
    return scaled // from_scale


def restate_in_proposed_units(
    state: State, current: Mapping[str, Instrument], proposed: Mapping[str, Instrument]
) -> State:
    """``state`` with its marks and entry prices in the proposed instruments' price units (exactly).

    Money (wallets, cost bases, posted margins) has no price unit and stays. An entry price read back
    from a cost basis (engine snapshot) is only displayed, so it is re-derived from that cost.
    """
    rescaled = {
        symbol for symbol in state.marks if symbol in proposed and current[symbol].price_scale != proposed[symbol].price_scale
    }
    if not rescaled:
        return state
    marks = {
        symbol: _price_in_scale(mark, current[symbol].price_scale, proposed[symbol].price_scale, f"mark of {symbol}")
        if symbol in rescaled
        else mark
        for symbol, mark in state.marks.items()
    }
    positions = []
    for held in state.positions:
        if held.symbol not in rescaled:
            positions.append(held)
            continue
        inst = proposed[held.symbol]
        if held.cost is None:
            where = f"entry price of account {held.account_id} {held.symbol}"
            entry = _price_in_scale(held.entry_price, current[held.symbol].price_scale, inst.price_scale, where)
        else:
            entry = compute_avg_entry_price(inst, Position(qty=held.qty, cost=held.cost))
        positions.append(attrs.evolve(held, entry_price=entry))
    return State(wallets=state.wallets, positions=tuple(positions), marks=marks)


def check_marks_in_range(state: State, instruments: Mapping[str, Instrument], which: str) -> None:
    """Refuse a mark outside ``(0, maxPrice]`` of the ``which`` ("current" / "proposed") instruments, naming it.

    The engine holds no mark above ``maxPrice``, and MRG-010/MRG-011 clamp a liquidation price into
    ``[tickSize, maxPrice]``: past it, a liquidation price could lie beyond the mark while the position
    reads "not liquidatable". A proposal lowering ``maxPrice`` below today's mark is not a parameter change
    the same market survives, so the comparison is refused rather than printed.
    """
    for symbol, mark in sorted(state.marks.items()):
        if symbol not in instruments:
            continue
        inst = instruments[symbol]
        if not 0 < mark <= inst.max_price:
            raise StateError(
                f"mark of {symbol} {format_scaled(mark, inst.price_scale)} {inst.quote_currency} is outside"
                f" (0, maxPrice {format_scaled(inst.max_price, inst.price_scale)} {inst.quote_currency}] of the"
                f" {which} {symbol}: no engine could hold that mark"
            )


# -- the comparison ---------------------------------------------------------------------


def compare(state: State, current: Mapping[str, Instrument], proposed: Mapping[str, Instrument]) -> WhatIf:
    """Evaluate ``state`` under the current and the proposed instruments (each in its own price units).

    Refused with a :class:`StateError` when the proposed instruments cannot hold the same positions
    at the same prices (another contract, off-lot quantities, prices finer than a new ``priceScale``,
    a mark above a ``maxPrice``).
    """
    check_same_contract(current, proposed)
    check_whole_lots(state, current, "current")
    check_whole_lots(state, proposed, "proposed")
    check_marks_in_range(state, current, "current")
    restated = restate_in_proposed_units(state, current, proposed)
    check_marks_in_range(restated, proposed, "proposed")
    before, posted = _evaluate_pools(state, current, None)
    after, _ = _evaluate_pools(restated, proposed, posted)
    queue_before, queue_after = _queue(state, before), _queue(state, after)
    order = sorted(state.positions, key=lambda held: (held.symbol, held.account_id))
    changes = tuple(
        PositionChange(
            held=held,
            before=before[(held.account_id, held.symbol)],
            after=after[(held.account_id, held.symbol)],
        )
        for held in order
    )
    queue = tuple(
        QueueEntry(
            account_id=held.account_id,
            symbol=held.symbol,
            side="long" if held.qty > 0 else "short",
            rank_before=_first(queue_before.get((held.account_id, held.symbol))),
            rank_after=_first(queue_after.get((held.account_id, held.symbol))),
            lights_before=_second(queue_before.get((held.account_id, held.symbol))),
            lights_after=_second(queue_after.get((held.account_id, held.symbol))),
        )
        for held in sorted(order, key=lambda held: (held.symbol, held.qty < 0, held.account_id))
    )
    return WhatIf(changes=changes, queue=queue)


def _first(pair: tuple[int, int] | None) -> int | None:
    return None if pair is None else pair[0]


def _second(pair: tuple[int, int] | None) -> int | None:
    return None if pair is None else pair[1]


def summary(result: WhatIf) -> dict[str, int]:
    """Counts a committee reads first."""
    return {
        "positions": len(result.changes),
        "liquidation_price_changed": sum(1 for change in result.changes if change.liquidation_price_changed),
        "liquidatable_before": sum(1 for change in result.changes if change.before.liquidatable),
        "liquidatable_after": sum(1 for change in result.changes if change.after.liquidatable),
        "newly_liquidatable": sum(1 for change in result.changes if change.newly_liquidatable),
        "adl_rank_changed": sum(1 for entry in result.queue if entry.rank_before != entry.rank_after),
    }


def state_from_engine(exchange: Any, liquidator_id: int) -> tuple[State, dict[str, Instrument], int]:
    """The positions of an engine (e.g. restored from a journal snapshot), its instruments, and how many
    open positions were left out because their contract has no mark price yet.

    The liquidation engine's own account (``liquidator_id``) is left out: it is not a trader.
    """
    instruments: dict[str, Instrument] = dict(exchange.instrument_map)
    marks: dict[str, int] = {symbol: price for symbol, price in sorted(exchange.marks.items()) if price > 0}
    wallets: dict[int, dict[str, int]] = {}
    positions: list[HeldPosition] = []
    skipped = 0
    for account_id in sorted(exchange.accounts):
        if account_id == liquidator_id:
            continue
        account = exchange.accounts[account_id]
        wallets[account_id] = dict(sorted(account.wallets.items()))
        for symbol in sorted(account.positions):
            held = account.positions[symbol]
            if held.qty == 0:
                continue
            if symbol not in marks:
                skipped += 1
                continue
            inst = instruments[symbol]
            position = Position(qty=held.qty, cost=held.cost)
            positions.append(
                HeldPosition(
                    account_id=account_id,
                    symbol=symbol,
                    qty=held.qty,
                    entry_price=compute_avg_entry_price(inst, position),
                    leverage_hundredths=held.leverage,
                    cost=held.cost,
                    posted_margin=held.iso_margin if held.leverage != CROSS else None,
                )
            )
    return State(wallets=wallets, positions=tuple(positions), marks=marks), instruments, skipped
