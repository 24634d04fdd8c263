"""The event log's records: engine events as JSON Lines rows (BitMEX field names where BitMEX has one).

:func:`event_records` turns one engine event into its rows and counts what the
summary needs in a :class:`~perpspec.engine.simulation.result.Tally`; :func:`encode_json`
writes them compactly, exact decimals (:func:`Num`) as bare JSON numbers, never floats.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import attrs

from perpspec.engine.core.events import (
    Accepted,
    Event,
    Execution,
    PositionUpdate,
    Rejected,
    RuleEvent,
    Transaction,
    event_to_dict,
)
from perpspec.engine.simulation.result import Tally
from perpspec.rules.events import (
    AdlFill,
    InsuranceMovement,
    Liquidation,
    PartialLiquidation,
    RiskLimitLowered,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.parse import format_scaled

# ---------------------------------------------------------------------------
# Records of the event log (BitMEX field names where BitMEX has one)


NUM_MARK = "\x00"  # prefix of a decimal kept as text, written to JSON as a bare number


def Num(text: str) -> str:  # noqa: N802 - reads as the type of the value it makes
    """A decimal number kept as exact text, written to JSON as a number by :func:`encode_json` (never a float)."""
    return NUM_MARK + text


_PRICE_NUMS: dict[tuple[int, int], str] = {}  # (price scale, price) -> price_num's text: a run quotes few prices


def price_num(inst: Instrument, price: int) -> str:
    """Price units as a decimal number (XBTUSD 735350 -> 7353.5)."""
    key = (inst.price_scale, price)
    text = _PRICE_NUMS.get(key)
    if text is None:
        if len(_PRICE_NUMS) >= 100_000:
            _PRICE_NUMS.clear()
        text = _PRICE_NUMS[key] = Num(format_scaled(price, inst.price_scale))
    return text


def rate_num(rate_e8: int) -> str:
    """A rate in 1e-8 units as a decimal fraction (10_000 -> 0.0001)."""
    return Num(format_scaled(rate_e8, 100_000_000))


@functools.lru_cache(maxsize=4096)
def iso_timestamp(time_ms: int) -> str:
    """``2020-03-12T10:45:00.000Z`` from ms since the epoch (proleptic Gregorian, integers only).

    Kept for the last few thousand times: a step's events share one logical time.
    """
    days, ms_of_day = divmod(time_ms, 86_400_000)
    # Howard Hinnant's civil_from_days
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year += month <= 2
    seconds, ms = divmod(ms_of_day, 1000)
    return f"{year:04d}-{month:02d}-{day:02d}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ms:03d}Z"


_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)
_ENCODE = _ENCODER.encode
_BARE_NUMBER = re.compile(r'"\\u0000(-?[0-9]+(?:\.[0-9]+)?)"')
_NUM_ESCAPED = "\\u0000"  # how NUM_MARK reads in the encoded text: no bare number to make without it
# the C encoder that JSONEncoder.encode builds anew for every value, built once (same settings, so the same
# text; no circular-reference bookkeeping: records are fresh dicts of strings, numbers and None); None on an
# interpreter without the C accelerator (then JSONEncoder.encode)
def _c_encoder() -> Callable[[Any, int], list[str]] | None:
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # the C accelerator (not in the typeshed stubs)
    if make is None:
        return None
    try:  # the arguments JSONEncoder.iterencode passes (markers None: no circular-reference bookkeeping)
        encoder: Callable[[Any, int], list[str]] = make(
            None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
        )
    except TypeError:  # another interpreter's signature: JSONEncoder.encode
        return None
    return encoder


_C_ENCODE = _c_encoder()


def _number_text(match: re.Match[str]) -> str:
    return match[1]


def encode_json(value: Any) -> str:
    """Compact JSON text (the C encoder); :func:`Num` values become bare numbers."""
    text = "".join(_C_ENCODE(value, 0)) if _C_ENCODE is not None and type(value) is dict else _ENCODE(value)
    if _NUM_ESCAPED not in text:
        return text
    return _BARE_NUMBER.sub(_number_text, text)  # a function: quicker than expanding the template r"\1"


# ---------------------------------------------------------------------------
# The commonest rows written straight as text: what encode_json(event_records(...)[0]) writes, byte for byte
# (tests/test_eventlog_encoding_same.py), without the dictionary, the generic encoder and the bare-number pass

_STRING = json.encoder.encode_basestring_ascii  # the C encoder's own string escaping (ensure_ascii)
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # the bare numbers encode_json makes of a Num
_PRICE_TEXTS: dict[tuple[int, int], str] = {}  # (price scale, price) -> its JSON text in the log


def _price_text(inst: Instrument, price: int) -> str:
    """The JSON text of ``price_num(inst, price) if price else None``."""
    if not price:
        return "null"
    key = (inst.price_scale, price)
    text = _PRICE_TEXTS.get(key)
    if text is None:
        if len(_PRICE_TEXTS) >= 100_000:
            _PRICE_TEXTS.clear()
        number = price_num(inst, price)
        text = number[1:] if _NUMBER.fullmatch(number, 1) else _STRING(number)
        _PRICE_TEXTS[key] = text
    return text


def event_line(inst: Instrument, event: Event) -> str | None:
    """The log line (without its newline) of an ``Execution``, ``Accepted`` or ``PositionUpdate``; None for any other
    event, or one with a field of another type than its declared one or a string holding ``NUM_MARK`` (then
    :func:`event_records` and :func:`encode_json` write it).

    The events are named tuples: unpacked once, each field's type compared in line (a run writes
    a hundred thousand of these lines).
    """
    kind = type(event)
    if kind is Execution:
        assert isinstance(event, Execution)
        (seq, time_ms, exec_type, account, symbol, order_id, cl_ord_id, side, ord_type, order_qty, price, stop_px,
         last_qty, last_px, leaves_qty, cum_qty, ord_status, exec_comm, liquidity, text) = event  # fmt: skip
        if not (
            type(seq) is int and type(account) is int and type(order_id) is int and type(order_qty) is int
            and type(price) is int and type(stop_px) is int and type(last_qty) is int and type(last_px) is int
            and type(leaves_qty) is int and type(cum_qty) is int and type(exec_comm) is int
            and type(exec_type) is str and NUM_MARK not in exec_type and type(symbol) is str and NUM_MARK not in symbol
            and type(cl_ord_id) is str and NUM_MARK not in cl_ord_id and type(side) is str and NUM_MARK not in side
            and type(ord_type) is str and NUM_MARK not in ord_type
            and type(ord_status) is str and NUM_MARK not in ord_status
            and type(liquidity) is str and NUM_MARK not in liquidity and type(text) is str and NUM_MARK not in text
        ):  # fmt: skip
            return None
        return (
            f'{{"table":"execution","seq":{seq},"timestamp":"{iso_timestamp(time_ms)}","execType":{_STRING(exec_type)},'
            f'"account":{account},"symbol":{_STRING(symbol)},"orderID":{order_id},'
            f'"clOrdID":{_STRING(cl_ord_id)},"side":{_STRING(side)},"ordType":{_STRING(ord_type)},'
            f'"orderQty":{order_qty},"price":{_price_text(inst, price) if price else "null"},'
            f'"stopPx":{_price_text(inst, stop_px) if stop_px else "null"},'
            f'"lastQty":{last_qty},"lastPx":{_price_text(inst, last_px) if last_px else "null"},"leavesQty":{leaves_qty},'
            f'"cumQty":{cum_qty},"ordStatus":{_STRING(ord_status)},"execComm":{exec_comm},'
            f'"lastLiquidityInd":{_STRING(liquidity)},"text":{_STRING(text)}}}'
        )
    if kind is Accepted:
        assert isinstance(event, Accepted)
        seq, time_ms, command, account, order_id = event
        if not (
            type(seq) is int and type(account) is int and type(order_id) is int
            and type(command) is str and NUM_MARK not in command
        ):  # fmt: skip
            return None
        return (
            f'{{"table":"command","event":"Accepted","seq":{seq},"timestamp":"{iso_timestamp(time_ms)}",'
            f'"command":{_STRING(command)},"account":{account},"orderID":{order_id}}}'
        )
    if kind is PositionUpdate:
        assert isinstance(event, PositionUpdate)
        seq, time_ms, account, symbol, current_qty, pos_cost, leverage, liquidation, bankrupt = event
        if not (
            type(seq) is int and type(account) is int and type(current_qty) is int and type(pos_cost) is int
            and type(leverage) is int and type(liquidation) is int and type(bankrupt) is int
            and type(symbol) is str and NUM_MARK not in symbol
        ):  # fmt: skip
            return None
        return (
            f'{{"table":"position","event":"PositionUpdate","seq":{seq},"timestamp":"{iso_timestamp(time_ms)}",'
            f'"account":{account},"symbol":{_STRING(symbol)},"currentQty":{current_qty},"posCost":{pos_cost},'
            f'"leverage_hundredths":{leverage},'
            f'"liquidationPrice":{_price_text(inst, liquidation) if liquidation else "null"},'
            f'"bankruptPrice":{_price_text(inst, bankrupt) if bankrupt else "null"}}}'
        )
    return None


def count_execution(event: Execution, tally: Tally) -> None:
    """What the summary counts of an execution: one trade per match (the maker's row) and its contracts."""
    if event.exec_type == "Trade" and event.last_liquidity_ind == "AddedLiquidity":
        tally.trades += 1  # one row per match has the maker's AddedLiquidity
        tally.contracts_traded += event.last_qty


def event_records(
    inst: Instrument, event: Event, tally: Tally, pending_account: dict[int, int]
) -> list[dict[str, Any]]:
    """One engine event as event-log rows; updates the tally (trades, liquidations, ADL, funding, rejects)."""
    kind = type(event)
    timestamp = iso_timestamp(event.time_ms)
    if kind is Execution:
        assert isinstance(event, Execution)
        count_execution(event, tally)
        return [
            {
                "table": "execution",
                "seq": event.seq,
                "timestamp": timestamp,
                "execType": event.exec_type,
                "account": event.account,
                "symbol": event.symbol,
                "orderID": event.order_id,
                "clOrdID": event.cl_ord_id,
                "side": event.side,
                "ordType": event.ord_type,
                "orderQty": event.order_qty,
                "price": price_num(inst, event.price) if event.price else None,
                "stopPx": price_num(inst, event.stop_px) if event.stop_px else None,
                "lastQty": event.last_qty,
                "lastPx": price_num(inst, event.last_px) if event.last_px else None,
                "leavesQty": event.leaves_qty,
                "cumQty": event.cum_qty,
                "ordStatus": event.ord_status,
                "execComm": event.exec_comm,
                "lastLiquidityInd": event.last_liquidity_ind,
                "text": event.text,
            }
        ]
    if kind is Transaction:
        assert isinstance(event, Transaction)
        if event.transact_type == "Funding":
            tally.funding_payments += 1
        return [
            {
                "table": "transaction",
                "seq": event.seq,
                "timestamp": timestamp,
                "transactType": event.transact_type,
                "account": event.account,
                "currency": event.asset,
                "amount": event.amount,
                "symbol": event.symbol,
                "text": event.text,
            }
        ]
    if kind is RuleEvent:
        assert isinstance(event, RuleEvent)
        return rule_records(inst, event, timestamp, tally, pending_account)
    if kind is Rejected:
        assert isinstance(event, Rejected)
        tally.rejected += 1
        reason = event.reason.value
        tally.rejects_by_reason[reason] = tally.rejects_by_reason.get(reason, 0) + 1
        return [
            {
                "table": "command",
                "seq": event.seq,
                "timestamp": timestamp,
                "event": "Rejected",
                "command": event.command,
                "account": event.account,
                "ordRejReason": reason,
                "text": event.text,
            }
        ]
    row = event_to_dict(event)
    name = row.pop("event")
    table = {"Accepted": "command", "PositionUpdate": "position", "InternalError": "command"}.get(name, name)
    out = {"table": table, "event": name, **row, "timestamp": timestamp}
    if name == "PositionUpdate":
        out["liquidationPrice"] = price_num(inst, out["liquidationPrice"]) if out["liquidationPrice"] else None
        out["bankruptPrice"] = price_num(inst, out["bankruptPrice"]) if out["bankruptPrice"] else None
    if name == "InternalError":
        tally.violations.append(f"{timestamp} internal error in {row.get('command')}: {row.get('text')}")
    return [out]


def rule_records(
    inst: Instrument, event: RuleEvent, timestamp: str, tally: Tally, pending_account: dict[int, int]
) -> list[dict[str, Any]]:
    """A waterfall step: its full record (table ``rule``) plus the BitMEX-style row a reader looks for."""
    record = event.record
    detail = {"table": "rule", "seq": event.seq, "timestamp": timestamp, "ruleId": event.rule_id,
              "kind": event.kind, "account": event.account, "symbol": event.symbol,
              **_plain(attrs.asdict(record) if attrs.has(type(record)) else {})}
    rows: list[dict[str, Any]] = [detail]
    if isinstance(record, Liquidation):
        tally.liquidations_full += 1
        tally.liquidated_accounts.add(record.account_id)
        for taken in record.taken:
            pending_account[taken.pending_id] = record.account_id
            rows.append(
                {
                    "table": "liquidation",
                    "seq": event.seq,
                    "timestamp": timestamp,
                    "ruleId": record.rule_id,
                    "account": record.account_id,
                    "symbol": taken.symbol,
                    "side": "Sell" if taken.qty > 0 else "Buy",  # the liquidation order's side
                    "price": price_num(inst, taken.takeover_price),  # the bankruptcy price
                    "leavesQty": abs(taken.qty),
                    "liquidationType": "full",
                    "pool": record.pool,
                    "markPrice": price_num(inst, record.positions[0].mark_price) if record.positions else None,
                    "marginBalance": record.equity,
                    "maintMargin": record.maintenance,
                }
            )
    elif isinstance(record, PartialLiquidation) and record.filled:  # killed: the take-over follows (full)
        tally.liquidations_partial += 1
        tally.liquidated_accounts.add(record.account_id)
        rows.append(
            {
                "table": "liquidation",
                "seq": event.seq,
                "timestamp": timestamp,
                "ruleId": record.rule_id,
                "account": record.account_id,
                "symbol": record.symbol,
                "side": "Sell" if record.close_qty > 0 else "Buy",
                "price": price_num(inst, record.limit_price),
                "leavesQty": abs(record.close_qty),
                "liquidationType": "partial",
                "filled": record.filled,
                "markPrice": price_num(inst, record.mark_price),
                "marginBalance": record.equity,
                "maintMargin": record.maintenance,
            }
        )
    elif isinstance(record, RiskLimitLowered):
        tally.risk_limit_lowered += 1
    elif isinstance(record, InsuranceMovement):
        tally.insurance_end = record.balance_after
        tally.insurance_min = min(tally.insurance_min, record.balance_after)
        rows.append(
            {
                "table": "insurance",
                "seq": event.seq,
                "timestamp": timestamp,
                "currency": record.currency,
                "walletBalance": record.balance_after,
                "amount": record.amount,
                "kind": record.kind,
                "ruleId": record.rule_id,
            }
        )
    elif isinstance(record, AdlFill):
        tally.adl_fills += 1
        tally.adl_contracts += abs(record.close_qty)
        rows.append(
            {
                "table": "execution",
                "seq": event.seq,
                "timestamp": timestamp,
                "execType": "Deleverage",
                "account": record.account_id,
                "symbol": record.symbol,
                "side": "Sell" if record.close_qty > 0 else "Buy",
                "lastQty": abs(record.close_qty),
                "lastPx": price_num(inst, record.price),
                "markPrice": price_num(inst, record.mark_price),
                "adlRankingScore": score_text(record.score_num, record.score_den),
                "adlRank": record.rank,
                "adlPolicy": record.policy,
                "haircut": record.haircut,
                "liquidatedAccount": pending_account.get(record.pending_id),
                "ruleId": record.rule_id,
            }
        )
    return rows


def score_text(num: int, den: int) -> str:
    """An exact ranking fraction as a decimal with 6 places (floor: display only)."""
    scaled = num * 1_000_000 // max(den, 1)
    return Num(format_scaled(scaled, 1_000_000) if scaled % 1_000_000 else f"{scaled // 1_000_000}")


INT64 = 1 << 63


def _plain(value: Any) -> Any:
    """attrs.asdict output made JSON-ready: tuples to lists, integers beyond int64 to decimal strings.

    (The exact ADL score fractions can pass 2^63; pandas and DuckDB read JSON integers as int64.)
    """
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if type(value) is int and not -INT64 <= value < INT64:
        return str(value)
    return value
