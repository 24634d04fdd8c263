"""The audit schema: what ``perpspec audit`` reads an event log as.

A log is a stream of JSON objects, one per line (JSON Lines; or the rows of a
Parquet file).  A **mapping** (:mod:`perpspec.engine.audit.mapping`) turns each
source row into one *audit record*: a ``kind`` from :data:`KINDS` and the
kind's fields, in BitMEX's names and in integer units:

* money in the settlement currency's minor unit (XBt, USDt), signed;
* quantities in contracts, prices in the instrument's price unit
  (``price_scale`` per quote unit: XBTUSD 7353.5 is ``735350``); a mapping
  may declare prices as quote-currency decimals and have them scaled;
* rates in 1e-8 (``fundingRate`` 0.0001 is ``10_000``).

Numbers are never floats: a decimal in the source is kept as its text and
scaled exactly, or refused with the line and the field.  Every problem with
a row is a :class:`LogError` (one line: ``line N, field F: what``), never a
traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

MAX_DIGITS = 40  # |number| < 10**40: larger is refused (money, prices and quantities are far smaller)
LIMIT = 10**MAX_DIGITS


class LogError(Exception):
    """A row of the log that cannot be read as the schema says: names the line and the field."""

    def __init__(self, line: int, field: str, message: str) -> None:
        self.line = line
        self.field = _clip(field, MAX_FIELD_CHARS)
        self.message = _clip(message, MAX_MESSAGE_CHARS)  # a message quotes values of the log: a 1 MiB symbol
        field = self.field
        where = f"line {line}" + (f", field {field}" if field else "")
        super().__init__(f"{where}: {self.message}")


MAX_MESSAGE_CHARS = 500  # a LogError's message, at most (redteam18_7: a refusal printed a 1 MiB cell twice)
MAX_FIELD_CHARS = 100


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


class DecimalText(str):
    """A JSON number with a fraction or exponent, kept as its exact text (never a float)."""

    __slots__ = ()


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a number")


# integers parse natively (Python refuses more than 4,300 digits; scale_exact refuses more than MAX_DIGITS)
_DECODER = json.JSONDecoder(parse_float=DecimalText, parse_constant=_no_constant)


def decode_line(text: str, line: int) -> dict[str, Any]:
    """One JSON object from one line of the log (decimals kept exact)."""
    try:
        value = _DECODER.decode(text)
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        if "digits" in str(error):  # an integer beyond the interpreter's limit for parsing
            raise LogError(line, "", "a number is out of range") from None
        raise LogError(line, "", f"not valid JSON ({error})") from None
    except RecursionError:
        raise LogError(line, "", "JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise LogError(line, "", f"a row must be a JSON object, not {type(value).__name__}")
    return value


_DECIMAL = re.compile(r"^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]+))?$")
_MAX_EXPONENT_DIGITS = 6  # a longer exponent is out of range (and too long for int())


def scale_exact(value: object, factor: int, divisor: int, line: int, field: str) -> int:
    """``value × factor / divisor`` as an exact integer (a JSON integer, an integer string or a decimal)."""
    if isinstance(value, bool) or value is None:
        raise LogError(line, field, f"expected a number, got {json.dumps(value)}")
    if isinstance(value, int):
        numerator, denominator = value, 1
    elif isinstance(value, str):
        match = _DECIMAL.match(value)
        if match is None:
            raise LogError(line, field, f"expected a number, got {json.dumps(str(value))[:60]}")
        sign, whole, fraction, exponent = match.groups()
        fraction = fraction or ""
        if exponent is not None and len(exponent.lstrip("+-")) > _MAX_EXPONENT_DIGITS:
            raise LogError(line, field, f"number {str(value)[:40]} is out of range")
        shift = int(exponent or "0") - len(fraction)
        if abs(shift) > MAX_DIGITS or len(whole) + len(fraction) > MAX_DIGITS + 20:
            raise LogError(line, field, f"number {str(value)[:40]} is out of range")
        digits = int(whole + fraction)
        numerator = -digits if sign else digits
        denominator = 1
        if shift >= 0:
            numerator *= 10**shift
        else:
            denominator = 10**-shift
    else:
        raise LogError(line, field, f"expected a number, got {type(value).__name__}")
    total = numerator * factor
    whole_units, rest = divmod(total, denominator * divisor)
    if rest != 0:
        raise LogError(line, field, f"{value} is not a whole number of units (× {factor} / {divisor})")
    if not -LIMIT < whole_units < LIMIT:
        raise LogError(line, field, f"number {str(value)[:40]} is out of range")
    return whole_units


# -- field types --------------------------------------------------------------------------------------

INT = "int"  # an integer (contracts, money, ids, rates in their unit)
PRICE = "price"  # a price: price units, or quote decimals when the mapping says prices = "quote"
STR = "str"
BOOL = "bool"
SNAPSHOTS = "snapshots"  # a list of objects (positions of a liquidated pool)
TAKEN = "taken"  # a list of objects (positions the liquidation engine took over)
FILLS = "fills"  # a list of [qty, price] pairs
INTS = "ints"  # a list of integers (account ids)
STRS = "strs"  # a list of strings (pool names)

# A field spec: (audit name, type, required).
FieldSpec = tuple[str, str, bool]


@attrs.frozen(kw_only=True)
class KindSpec:
    """One audit record kind: what it means and its fields."""

    name: str
    meaning: str
    fields: tuple[FieldSpec, ...]


def _f(name: str, kind: str = INT, required: bool = True) -> FieldSpec:
    return (name, kind, required)


SNAPSHOT_FIELDS: tuple[FieldSpec, ...] = (
    _f("symbol", STR), _f("qty"), _f("cost"), _f("leverage_hundredths"), _f("chosen_tier"), _f("mark_price", PRICE),
)
TAKEN_FIELDS: tuple[FieldSpec, ...] = (
    _f("symbol", STR), _f("qty"), _f("cost"), _f("takeover_price", PRICE), _f("pending_id"),
)

KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec(
            name="execution",
            meaning="a trade of one account (BitMEX execution, execType Trade): its position moves by ±lastQty at lastPx",
            fields=(
                _f("account"), _f("symbol", STR), _f("side", STR), _f("lastQty"), _f("lastPx", PRICE),
                _f("execComm"), _f("lastLiquidityInd", STR, False), _f("text", STR, False), _f("execID", STR, False),
            ),
        ),
        KindSpec(
            name="position",
            meaning="a position as the venue reports it after a change (checked at the end of the instant)",
            fields=(
                _f("account"), _f("symbol", STR), _f("currentQty"), _f("posCost", INT, False),
                _f("leverage_hundredths", INT, False), _f("crossMargin", BOOL, False), _f("liquidationPrice", PRICE, False),
                # BitMEX margin fields, checked at --rules when present (isolated: against posMargin)
                _f("posMargin", INT, False), _f("riskLimit", INT, False), _f("bankruptPrice", PRICE, False),
                _f("markPrice", PRICE, False), _f("markValue", INT, False), _f("unrealisedPnl", INT, False),
            ),
        ),
        KindSpec(
            name="transaction",
            meaning="a wallet movement: transactType Deposit, Withdrawal or Funding (signed amount, minor units); or "
            "TransferMargin: margin moved within the wallet, into (> 0) or out of the isolated pool of its symbol",
            fields=(_f("account"), _f("currency", STR), _f("transactType", STR), _f("amount"), _f("symbol", STR, False)),
        ),
        KindSpec(
            name="wallet",
            meaning="a reported wallet balance (BitMEX margin/wallet walletBalance), compared with the ledger",
            fields=(_f("account"), _f("currency", STR), _f("walletBalance", INT, False)),
        ),
        KindSpec(
            name="mark",
            meaning="a mark price update (BitMEX instrument markPrice)",
            fields=(_f("symbol", STR), _f("markPrice", PRICE, False)),  # a row without one changes nothing
        ),
        KindSpec(
            name="insurance",
            meaning="an insurance fund movement: kind deposit | residual | surplus | draw | funding | funding residue",
            fields=(
                _f("currency", STR), _f("kind", STR), _f("amount"), _f("balance_before", INT, False),
                _f("balance_after", INT, False), _f("symbol", STR, False), _f("pending_id", INT, False),
            ),
        ),
        KindSpec(
            name="funding",
            meaning="a funding instant's rate (BitMEX funding fundingRate, in 1e-8); it settles the payments before it",
            fields=(_f("symbol", STR), _f("fundingRate")),
        ),
        KindSpec(
            name="liquidation",
            meaning="LIQ-023: a pool below maintenance at mark taken over by the liquidation engine",
            fields=(
                _f("account_id"), _f("pool", STR), _f("currency", STR), _f("pool_margin"),
                _f("positions", SNAPSHOTS), _f("equity"), _f("maintenance"), _f("taken", TAKEN), _f("residual_margin"),
            ),
        ),
        KindSpec(
            name="partial_liquidation",
            meaning="LIQ-022: a FillOrKill reduction of a pool below maintenance (its fills are executions)",
            fields=(
                _f("account_id"), _f("pool", STR), _f("symbol", STR), _f("mark_price", PRICE), _f("equity"),
                _f("maintenance"), _f("pool_margin"), _f("positions", SNAPSHOTS), _f("close_qty"),
                _f("limit_price", PRICE), _f("filled", BOOL), _f("fills", FILLS), _f("from_tier"), _f("to_tier"),
                _f("maintenance_after"), _f("makers", INTS, False),
            ),
        ),
        KindSpec(
            name="liquidation_fill",
            meaning="LIQ-024: the liquidation engine's side of a close-out fill (qty signed from its side)",
            fields=(
                _f("pending_id"), _f("symbol", STR), _f("maker_account_id"), _f("qty"), _f("price", PRICE),
                _f("bankruptcy_price", PRICE), _f("fund_delta"),
            ),
        ),
        KindSpec(
            name="adl",
            meaning="ADL-020: an opposing position closed at the bankruptcy price, with its ranking inputs",
            fields=(
                _f("policy", STR), _f("pending_id"), _f("symbol", STR), _f("account_id"), _f("rank"),
                _f("position_qty"), _f("position_cost"), _f("pool_equity"), _f("score_num"), _f("score_den"),
                _f("close_qty"), _f("price", PRICE), _f("mark_price", PRICE), _f("haircut"),
                _f("unfilled_before"), _f("unfilled_after"), _f("equity_after"),
            ),
        ),
        KindSpec(
            name="adl_shortfall",
            meaning="ADL-021: no eligible opposing position is left: the close-out carries over (checked against the"
            " ledger's opposing holders; its owner's equity is not judged at the end of the instant)",
            fields=(_f("pending_id"), _f("symbol", STR), _f("unfilled_qty")),
        ),
        KindSpec(
            name="liquidation_step",
            meaning="LIQ-020/021: a liquidation's order cancellation or risk-limit lowering (reason adl: not one);"
            " counted: every pool a waterfall liquidates leaves at least one liquidation record",
            fields=(_f("account_id"), _f("symbol", STR), _f("reason", STR, False)),
        ),
        KindSpec(
            name="waterfall_carried",
            meaning="LIQ-034: the update's liquidation budget (max_liquidations, >= 1, at most the instant's"
            " liquidation records) is spent; the pools named (parallel account_ids and pools, cross:<currency> or"
            " isolated:<symbol>) wait for the next update: their equity is not judged until then",
            fields=(
                _f("symbol", STR), _f("max_liquidations", INT, False), _f("pools_due"), _f("account_ids", INTS),
                _f("pools", STRS),
            ),
        ),
        KindSpec(
            name="end",
            meaning="the end of an instant (one command's events); also implied when the timestamp changes",
            fields=(),
        ),
        KindSpec(name="ignore", meaning="a row the audit does not read", fields=()),
    )
}


Converter = Callable[[object, int, str], int]


def convert_fields(
    spec: KindSpec, row: Mapping[str, Any], line: int, price: Converter, scales: Mapping[str, tuple[int, int]]
) -> dict[str, Any]:
    """The typed fields of ``spec`` from a renamed row (missing required field, wrong type: :class:`LogError`)."""
    out: dict[str, Any] = {}
    for name, kind, required in spec.fields:
        if name not in row or row[name] is None:
            if required:
                raise LogError(line, name, "missing")
            continue
        out[name] = _convert(kind, row[name], line, name, price, scales)
    return out


def _convert(
    kind: str, value: object, line: int, name: str, price: Converter, scales: Mapping[str, tuple[int, int]]
) -> Any:
    if kind == STR:
        if not isinstance(value, str) or isinstance(value, DecimalText):
            raise LogError(line, name, f"expected a string, got {json.dumps(value)[:60]}")
        return str(value)
    if kind == BOOL:
        if not isinstance(value, bool):
            raise LogError(line, name, f"expected true or false, got {json.dumps(value)[:60]}")
        return value
    if kind == INT:
        factor, divisor = scales.get(name, (1, 1))
        return scale_exact(value, factor, divisor, line, name)
    if kind == PRICE:
        return price(value, line, name)
    if kind in (SNAPSHOTS, TAKEN):
        if not isinstance(value, list):
            raise LogError(line, name, "expected a list of objects")
        fields = SNAPSHOT_FIELDS if kind == SNAPSHOTS else TAKEN_FIELDS
        inner = KindSpec(name=name, meaning="", fields=fields)
        items = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise LogError(line, f"{name}[{index}]", "expected an object")
            items.append(convert_fields(inner, item, line, price, {}))
        return tuple(items)
    if kind == INTS:
        if not isinstance(value, list):
            raise LogError(line, name, "expected a list of integers")
        return tuple(scale_exact(item, 1, 1, line, name) for item in value)
    if kind == STRS:
        if not isinstance(value, list) or not all(type(item) is str for item in value):
            raise LogError(line, name, "expected a list of strings")
        return tuple(str(item) for item in value)
    if kind == FILLS:
        if not isinstance(value, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in value):
            raise LogError(line, name, "expected a list of [qty, price] pairs")
        return tuple((scale_exact(q, 1, 1, line, name), price(p, line, name)) for q, p in value)
    raise AssertionError(kind)
