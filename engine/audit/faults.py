"""Planted faults: realistic engine bugs applied to a clean perpspec event log, each with the finding it must raise.

The audit is only as good as the faults it catches.  Each entry of
:data:`CATALOGUE` takes the rows of a clean log (perpspec's own format,
``perpspec simulate``), breaks one thing the way a real engine would, and
says which finding the audit must report for it — the rule or invariant id,
the line of the first offending event, and the level (``invariants`` or
``rules``) that must see it.  ``tests/test_audit_faults.py`` plants every
one and checks the hit; the README's hit table is this catalogue.

A fault that finds nothing to break in a given log (no ADL in it, no
funding instant) raises :class:`NoTarget`; the tests use logs that have
every kind of event.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from perpspec.engine.audit.findings import INVARIANTS, RULES
from perpspec.engine.audit.schema import DecimalText, decode_line, scale_exact
from perpspec.rules.adl import compute_haircut
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import compute_position_equity_term, compute_requirement, is_liquidatable
from perpspec.rules.parse import format_scaled
from perpspec.rules.position import Position

Row = dict[str, Any]


class NoTarget(Exception):
    """The log has nothing this fault can break."""


@attrs.frozen(kw_only=True)
class Expected:
    """The finding a planted fault must raise: id, line of the first offending event, lowest level that sees it."""

    id: str
    line: int  # 1-based, in the faulty log
    level: str


@attrs.frozen(kw_only=True)
class Planted:
    """A faulty log and what the audit must say about it."""

    name: str
    rows: tuple[Row, ...]
    expected: Expected


# -- reading and writing rows exactly (decimals stay text) --------------------------------------------


def decode_rows(lines: Sequence[str]) -> list[Row]:
    """The rows of a JSON Lines log, decimals kept exact."""
    return [decode_line(line, number) for number, line in enumerate(lines, start=1) if line.strip()]


def encode_row(value: Any) -> str:
    """Compact JSON with :class:`DecimalText` written as a bare number."""
    if isinstance(value, DecimalText):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(key) + ":" + encode_row(item) for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode_row(item) for item in value) + "]"
    return json.dumps(value)


def encode_rows(rows: Sequence[Row]) -> str:
    """A whole JSON Lines log."""
    return "".join(encode_row(row) + "\n" for row in rows)


def quote_price(inst: Instrument, price: int) -> DecimalText:
    """Price units as the quote decimal perpspec's BitMEX-style rows write."""
    return DecimalText(format_scaled(price, inst.price_scale))


def price_units(inst: Instrument, value: object) -> int:
    """A quote decimal of a BitMEX-style row in price units."""
    return scale_exact(value, inst.price_scale, 1, 0, "price")


# -- helpers ----------------------------------------------------------------------------------------------------


def _is(row: Row, table: str, **fields: object) -> bool:
    return row.get("table") == table and all(row.get(key) == value for key, value in fields.items())


def _instants(rows: Sequence[Row]) -> list[tuple[int, int]]:
    """(first, last) indices of every instant: runs of rows closed by a command row or a new timestamp."""
    spans = []
    start = 0
    for index, row in enumerate(rows):
        if index > start and row.get("timestamp") != rows[index - 1].get("timestamp"):
            spans.append((start, index - 1))
            start = index
        if row.get("table") == "command":
            spans.append((start, index))
            start = index + 1
    if start < len(rows):
        spans.append((start, len(rows) - 1))
    return [(first, last) for first, last in spans if first <= last]


def _trades(rows: Sequence[Row], first: int, last: int) -> list[int]:
    return [i for i in range(first, last + 1) if _is(rows[i], "execution", execType="Trade")]


# -- the catalogue --------------------------------------------------------------------------------------------------


def plant_commission_off_by_one(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """A commission one minor unit too high (ACC-002 rounding done twice, say)."""
    del insts
    for index, row in enumerate(rows):
        if _is(row, "execution", execType="Trade") and row.get("execComm", 0) > 0:
            rows[index] = {**row, "execComm": row["execComm"] + 1}
            return rows, Expected(id="ACC-002", line=index + 1, level=RULES)
    raise NoTarget("no trade paying commission")


def plant_dropped_insurance_draw(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """A close-out filled worse than bankruptcy whose draw on the insurance fund was never booked."""
    del insts
    for index, row in enumerate(rows):
        if _is(row, "rule", kind="draw") and row.get("pending_id", -1) >= 0:
            fill = max(i for i in range(index) if _is(rows[i], "rule", kind="LiquidationFill"))
            drop = {index} | {i for i in (index + 1,) if i < len(rows) and _is(rows[i], "insurance", seq=row["seq"])}
            kept = [r for i, r in enumerate(rows) if i not in drop]
            return kept, Expected(id="INV-CONSERVATION", line=fill + 1, level=INVARIANTS)
    raise NoTarget("no insurance draw for a close-out")


def plant_liquidation_before_mark_crossed(
    rows: list[Row], insts: Mapping[str, Instrument]
) -> tuple[list[Row], Expected]:
    """A pool liquidated at the previous mark, where it was still above maintenance."""
    previous: dict[str, int] = {}
    for index, row in enumerate(rows):
        if _is(row, "instrument") and row.get("markPrice") is not None:
            previous[row["symbol"]] = price_units(insts[row["symbol"]], row["markPrice"])
        if not (_is(row, "rule", kind="Liquidation") and len(row["positions"]) == 1):
            continue
        snap = row["positions"][0]
        inst = insts[snap["symbol"]]
        mark = previous.get(snap["symbol"])
        if mark is None or mark == snap["mark_price"]:
            continue
        position = Position(qty=snap["qty"], cost=snap["cost"])
        equity = row["pool_margin"] + compute_position_equity_term(inst, position, mark)  # LIQ-004
        maintenance = compute_requirement(inst, position, snap["leverage_hundredths"], snap["chosen_tier"]).pos_maint
        if is_liquidatable(equity, maintenance):
            continue
        rows[index] = {**row, "positions": [{**snap, "mark_price": mark}]}
        return rows, Expected(id="INV-NO-FALSE-LIQUIDATION", line=index + 1, level=INVARIANTS)
    raise NoTarget("no liquidation whose pool was healthy at the previous mark")


def plant_adl_out_of_order(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """Two ADL fills of one close-out swapped: the lower-ranked position deleveraged first (amounts still add up)."""
    del insts
    fills = [i for i, row in enumerate(rows) if _is(row, "rule", kind="AdlFill")]
    for a, b in itertools.pairwise(fills):
        first, second = rows[a], rows[b]
        if first["pending_id"] != second["pending_id"] or second["rank"] != first["rank"] + 1:
            continue
        if abs(first["close_qty"]) != abs(first["position_qty"]):
            continue  # the first must close all of its position, so the second can too
        unfilled = first["unfilled_before"]
        swapped_first = {**second, "rank": first["rank"], "unfilled_before": unfilled,
                         "unfilled_after": unfilled - abs(second["close_qty"]), "seq": first["seq"]}
        swapped_second = {**first, "rank": second["rank"], "unfilled_before": swapped_first["unfilled_after"],
                          "unfilled_after": second["unfilled_after"], "seq": second["seq"]}
        rows[a], rows[b] = swapped_first, swapped_second
        return rows, Expected(id="INV-ADL-ORDER", line=b + 1, level=INVARIANTS)
    raise NoTarget("no close-out with two consecutive ADL fills")


def plant_funding_sign_flipped(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """One holder's funding payment booked with the wrong sign."""
    del insts
    for index, row in enumerate(rows):
        if _is(row, "transaction", transactType="Funding") and row["amount"] != 0:
            rows[index] = {**row, "amount": -row["amount"]}
            return rows, Expected(id="FND-007", line=index + 1, level=RULES)
    raise NoTarget("no funding payment")


def plant_funding_sign_flipped_invariant(
    rows: list[Row], insts: Mapping[str, Instrument]
) -> tuple[list[Row], Expected]:
    """The same flipped payment seen by ``--invariants`` alone: funding no longer sums to zero."""
    rows, expected = plant_funding_sign_flipped(rows, insts)
    first = expected.line - 1
    while first > 0 and _is(rows[first - 1], "transaction", transactType="Funding"):
        first -= 1
    return rows, Expected(id="INV-FUNDING-ZERO-SUM", line=first + 1, level=INVARIANTS)


def plant_funding_credit_as_residue(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """A receiver's funding credit left out and booked to the fund as FND-008's residue (fnd20_2): zero-sum and
    conservation hold (the fund's later balances and the account's reported wallets follow); reported at the
    instant's first payment, whose holders the audit recomputes FND-008 over."""
    del insts
    for first, last in _instants(rows):
        paid = [i for i in range(first, last + 1) if _is(rows[i], "transaction", transactType="Funding")]
        residues = [i for i in range(first, last + 1) if _is(rows[i], "rule", kind="funding residue")]
        credits = [i for i in paid[1:] if rows[i]["amount"] > 0]
        if not credits or not residues:
            continue
        drop, into = credits[-1], residues[0]
        account, amount = rows[drop]["account"], rows[drop]["amount"]
        out = []
        for index, row in enumerate(rows):
            if index == into:
                row = {**row, "amount": row["amount"] + amount, "balance_after": row["balance_after"] + amount}
            elif index > into and row.get("table") == "rule" and "balance_after" in row:
                row = {**row, "balance_before": row["balance_before"] + amount,
                       "balance_after": row["balance_after"] + amount}
            elif index > drop and _is(row, "margin", account=account):
                row = {**row, "walletBalance": row["walletBalance"] - amount}
            if index != drop:
                out.append(row)
        return out, Expected(id="FND-008", line=paid[0] + 1, level=RULES)
    raise NoTarget("no funding instant with a residue and a credit after its first payment")


def plant_liquidation_price_one_tick(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """An isolated position reported with a liquidation price one tick off (the one the take-over then used)."""
    for index, row in enumerate(rows):
        if not (_is(row, "rule", kind="Liquidation") and row["pool"].startswith("isolated:")):
            continue
        for back in range(index - 1, -1, -1):
            earlier = rows[back]
            if earlier.get("table") == "command" or earlier.get("timestamp") != row.get("timestamp"):
                break
            if _is(earlier, "position", account=row["account_id"]) and earlier.get("liquidationPrice") is not None:
                inst = insts[earlier["symbol"]]
                price = price_units(inst, earlier["liquidationPrice"]) + inst.tick_size
                rows[back] = {**earlier, "liquidationPrice": quote_price(inst, price)}
                return rows, Expected(id="MRG-011", line=back + 1, level=RULES)
    raise NoTarget("no isolated take-over with a reported liquidation price")


def _single_match(rows: Sequence[Row]) -> tuple[int, int]:
    """The two execution rows (taker, maker) of the first instant with exactly one match."""
    for first, last in _instants(rows):
        trades = _trades(rows, first, last)
        if len(trades) == 2:
            return trades[0], trades[1]
    raise NoTarget("no instant with exactly one match")


def plant_missing_execution(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """One side of a trade never written: the surviving side is the first offending event."""
    del insts
    survivor, dropped = _single_match(rows)
    kept = rows[:dropped] + rows[dropped + 1 :]
    return kept, Expected(id="INV-OI-BALANCE", line=survivor + 1, level=INVARIANTS)


def plant_duplicated_execution(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """One side of a trade written twice (a replayed message)."""
    del insts
    _, second = _single_match(rows)
    out = [*rows[: second + 1], dict(rows[second]), *rows[second + 1 :]]
    return out, Expected(id="INV-OI-BALANCE", line=second + 2, level=INVARIANTS)


def plant_adl_negative_equity(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """An ADL fill priced beyond what its counterparty can pay: left with negative equity after the waterfall."""
    from perpspec.engine.audit.auditor import Auditor
    from perpspec.engine.audit.mapping import load_mapping
    from perpspec.rules.invariants_trading import compute_account_equity

    auditor = Auditor(insts, load_mapping("perpspec"))
    for index, row in enumerate(rows):
        if _is(row, "rule", kind="AdlFill"):
            inst = insts[row["symbol"]]
            auditor.ledger.set_mark(row["symbol"], row["mark_price"])
            equity = compute_account_equity(auditor.ledger, row["account_id"], inst.settl_currency)
            price = _price_beyond(inst, row["close_qty"], row["mark_price"], row["price"], equity)
            if price is not None:
                haircut = compute_haircut(inst, row["close_qty"], row["mark_price"], price)
                rows[index] = {**row, "price": price, "haircut": haircut}
                for after in range(index + 1, min(index + 3, len(rows))):
                    if _is(rows[after], "execution", execType="Deleverage", seq=row["seq"]):
                        rows[after] = {**rows[after], "lastPx": quote_price(inst, price)}
                return rows, Expected(id="INV-NO-NEG-EQUITY-AFTER-ADL", line=index + 1, level=INVARIANTS)
        auditor.feed(row, index + 1)
    raise NoTarget("no ADL fill whose counterparty could be pushed below zero")


def plant_adl_of_flat_account(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """An ADL fill booked against an account that holds nothing (the wrong account deleveraged)."""
    from perpspec.engine.audit.auditor import Auditor
    from perpspec.engine.audit.mapping import load_mapping

    auditor = Auditor(insts, load_mapping("perpspec"))
    spans = dict(_instants(rows))
    start = 0
    for index, row in enumerate(rows):
        if index in spans:
            start = index
        if _is(row, "rule", kind="AdlFill"):
            end = next(last for first, last in spans.items() if first <= index <= last)
            instant = rows[start : end + 1]
            named = {r.get("account") for r in instant} | {r.get("account_id") for r in instant}
            ledger = auditor.ledger
            flat = [a for a in ledger.account_ids() if a > 0 and a not in named and not ledger.positions(a)]
            if flat:
                account = flat[0]
                rows[index] = {**row, "account": account, "account_id": account}
                for after in range(index + 1, min(index + 3, len(rows))):
                    if _is(rows[after], "execution", execType="Deleverage", seq=row["seq"]):
                        rows[after] = {**rows[after], "account": account}
                return rows, Expected(id="INV-FLAT-NO-SOCIAL-LOSS", line=index + 1, level=INVARIANTS)
        auditor.feed(row, index + 1)
    raise NoTarget("no ADL fill while some account was flat")


def plant_spurious_shortfall(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """An ADL fill replaced by a shortfall (ADL-021) while an eligible opposing position remains: the engine gave up
    on ADL, and the shortfall would have carried the close-out over."""
    from perpspec.engine.audit.auditor import Auditor
    from perpspec.engine.audit.instant import get_eligible_opposing
    from perpspec.engine.audit.ledger import get_close_out_account
    from perpspec.engine.audit.mapping import load_mapping

    auditor = Auditor(insts, load_mapping("perpspec"))
    for index, row in enumerate(rows):
        if _is(row, "rule", kind="AdlFill"):
            ledger = auditor.ledger
            ledger.set_mark(row["symbol"], row["mark_price"])
            held = ledger.position(get_close_out_account(row["pending_id"]), row["symbol"]).qty
            if held != 0 and get_eligible_opposing(ledger, insts, row["symbol"], held, row["price"]):
                shortfall = {
                    "table": "rule", "seq": row["seq"], "timestamp": row["timestamp"], "ruleId": "ADL-021",
                    "kind": "AdlShortfall", "account": -1, "symbol": row["symbol"], "rule_id": "ADL-021",
                    "pending_id": row["pending_id"], "unfilled_qty": abs(held), "bankruptcy_price": row["price"],
                    "eligible_count": 0,
                }
                kept = [r for r in rows[index + 1 :] if not _is(r, "execution", execType="Deleverage", seq=row["seq"])]
                return [*rows[:index], shortfall, *kept], Expected(id="ADL-021", line=index + 1, level=INVARIANTS)
        auditor.feed(row, index + 1)
    raise NoTarget("no ADL fill while another opposing position was eligible")


LIQUIDATION_KINDS = frozenset({"Liquidation", "PartialLiquidation", "OrdersCancelled", "RiskLimitLowered"})
WATERFALL_KINDS = LIQUIDATION_KINDS | {"LiquidationFill", "AdlFill", "AdlShortfall", "WaterfallCarried"}


def _next_update(rows: Sequence[Row], spans: Sequence[tuple[int, int]], after: int) -> tuple[int, int] | None:
    """The next update after the instant ``spans[after]``: (its last row, the row its equity check names).

    An instant with a waterfall record, a funding payment, or a mark row at a new timestamp (perpspec's mark
    row at the end of a step restates, at the step's timestamp, the mark its waterfall records stated).  An
    account it leaves untouched is named at its first mark row, else at its first row the audit reads."""
    from perpspec.engine.audit.mapping import load_mapping

    mapping = load_mapping("perpspec")
    timestamp = rows[spans[after][0]].get("timestamp")
    for first, last in spans[after + 1 :]:
        instant = range(first, last + 1)
        marks = [i for i in instant if _is(rows[i], "instrument") and rows[i].get("markPrice") is not None]
        if any(_is(rows[i], "rule") and rows[i].get("kind") in WATERFALL_KINDS for i in instant) or any(
            _is(rows[i], "transaction", transactType="Funding") for i in instant
        ):
            read = [i for i in instant if getattr(mapping.classify(rows[i]), "kind", "ignore") not in ("ignore", "end")]
            return last, (marks or read)[0]
        if any(rows[i].get("timestamp") != timestamp for i in marks):
            return last, marks[0]
    return None


def plant_carried_forever(rows: list[Row], insts: Mapping[str, Instrument]) -> tuple[list[Row], Expected]:
    """A pool carried over by a spent budget (LIQ-034) and never liquidated: the next update liquidates nobody.

    An account the crash takes below zero (a withdrawal just before leaves it 1 minor unit of equity at the old
    mark) is named by a ``WaterfallCarried`` row of a liquidation instant, whose budget is the instant's
    liquidations (all spent); the engine then liquidates nobody at the next update.  Its equity is judged there."""
    from perpspec.engine.audit.auditor import Auditor
    from perpspec.engine.audit.mapping import load_mapping
    from perpspec.rules.invariants_trading import compute_account_equity

    auditor = Auditor(insts, load_mapping("perpspec"))
    ledger = auditor.ledger
    spans = _instants(rows)
    fed = 0
    for k, (start, end) in enumerate(spans):
        instant = rows[start : end + 1]
        spent = sum(1 for r in instant if _is(r, "rule") and r.get("kind") in ("Liquidation", "PartialLiquidation"))
        marks = {snap["symbol"]: snap["mark_price"] for r in instant if _is(r, "rule", kind="Liquidation")
                 for snap in r["positions"]}
        update = _next_update(rows, spans, k) if spent and _is(rows[end], "command") else None
        if update is None:
            continue
        for row in rows[fed:start]:
            fed += 1
            auditor.feed(row, fed)
        last, named_at = update
        named = {r.get(key) for r in rows[start : last + 1] for key in ("account", "account_id")}
        for account in sorted(a for a in ledger.holders if a > 0 and a not in named):
            held = ledger.positions(account)
            if len(held) != 1 or not all(ledger.has_mark(symbol) for symbol in held):
                continue
            (symbol,) = held
            inst = insts[symbol]
            asset = inst.settl_currency
            if symbol not in marks:
                continue
            later = marks[symbol]  # the mark at the end of the update: the last one stated before
            for r in rows[end + 1 : last + 1]:
                if _is(r, "instrument", symbol=symbol) and r.get("markPrice") is not None:
                    later = price_units(inst, r["markPrice"])
                elif _is(r, "rule", symbol=symbol) and "mark_price" in r:
                    later = r["mark_price"]
                elif _is(r, "rule", kind="Liquidation"):
                    later = next((snap["mark_price"] for snap in r["positions"] if snap["symbol"] == symbol), later)
            now = ledger.mark_price(symbol)
            equity = {}
            for price in (now, marks[symbol], later):
                ledger.set_mark(symbol, price)
                equity[price] = compute_account_equity(ledger, account, asset)
            ledger.set_mark(symbol, now)
            withdrawn = equity[now] - 1
            if withdrawn <= 0 or equity[marks[symbol]] >= withdrawn or equity[later] >= withdrawn:
                continue  # the crash must take it below zero, and the next update leave it there
            ts, seq = rows[start - 1]["timestamp"], rows[start - 1].get("seq", 0)
            withdrawal = [
                {"table": "transaction", "seq": seq, "timestamp": ts, "transactType": "Withdrawal", "account": account,
                 "currency": asset, "amount": -withdrawn, "symbol": "", "text": ""},
                {"table": "command", "event": "Accepted", "seq": seq, "timestamp": ts, "command": "Withdraw",
                 "account": account, "orderID": 0},
            ]
            pool = f"isolated:{symbol}" if ledger.has_isolated(account, asset) else f"cross:{asset}"
            carry = {"table": "rule", "seq": rows[end].get("seq", 0), "timestamp": rows[end]["timestamp"],
                     "ruleId": "LIQ-034", "kind": "WaterfallCarried", "account": -1, "symbol": symbol,
                     "rule_id": "LIQ-034", "max_liquidations": spent, "pools_due": 1, "account_ids": [account],
                     "pools": [pool]}
            faulty = [*rows[:start], *withdrawal, *rows[start:end], carry, *rows[end:]]
            return faulty, Expected(id="INV-NO-NEG-EQUITY-AFTER-ADL", line=named_at + 4, level=INVARIANTS)
    raise NoTarget("no liquidation instant followed by an update that liquidated nobody, with an account to carry")


def _price_beyond(inst: Instrument, close_qty: int, mark: int, price: int, equity: int) -> int | None:
    """The price nearest ``price`` (in the owner's disfavour) at which the haircut exceeds ``equity`` (None: none)."""
    step = inst.tick_size if close_qty < 0 else -inst.tick_size  # a short buys back higher, a long sells lower
    worst = inst.max_price if close_qty < 0 else inst.tick_size
    current = compute_haircut(inst, close_qty, mark, price)
    if compute_haircut(inst, close_qty, mark, worst) - current <= equity:
        return None
    low, high = 0, abs(worst - price) // inst.tick_size  # ticks away from ``price``
    while low < high:
        middle = (low + high) // 2
        if compute_haircut(inst, close_qty, mark, price + middle * step) - current > equity:
            high = middle
        else:
            low = middle + 1
    return price + low * step


Planter = Callable[[list[Row], Mapping[str, Instrument]], tuple[list[Row], Expected]]

CATALOGUE: dict[str, tuple[str, Planter]] = {
    "commission-off-by-one": ("a commission one satoshi too high", plant_commission_off_by_one),
    "dropped-insurance-draw": ("a close-out's draw on the insurance fund never booked", plant_dropped_insurance_draw),
    "liquidation-before-mark-crossed": (
        "a pool liquidated at a mark where it was above maintenance", plant_liquidation_before_mark_crossed,
    ),
    "adl-out-of-order": ("two ADL fills of one close-out in the wrong ranking order", plant_adl_out_of_order),
    "funding-sign-flipped": ("a funding payment with its sign flipped (rules)", plant_funding_sign_flipped),
    "funding-sign-flipped-invariant": (
        "a funding payment with its sign flipped (invariants only)", plant_funding_sign_flipped_invariant,
    ),
    "funding-credit-as-residue": (
        "a receiver's funding credit left out and booked as the residue", plant_funding_credit_as_residue,
    ),
    "liquidation-price-one-tick": ("a liquidation price one tick off", plant_liquidation_price_one_tick),
    "missing-execution": ("one side of a trade missing", plant_missing_execution),
    "duplicated-execution": ("one side of a trade written twice", plant_duplicated_execution),
    "adl-negative-equity": ("an ADL counterparty left with negative equity", plant_adl_negative_equity),
    "adl-of-flat-account": ("an ADL fill against an account with no position", plant_adl_of_flat_account),
    "spurious-shortfall": (
        "an ADL shortfall while an eligible opposing position remains", plant_spurious_shortfall,
    ),
    "carried-forever": (
        "a pool carried by a spent budget, then not liquidated at the next update", plant_carried_forever,
    ),
}


def plant(name: str, rows: Sequence[Row], instruments: Mapping[str, Instrument]) -> Planted:
    """Apply the catalogue's fault ``name`` to a copy of ``rows``."""
    _, planter = CATALOGUE[name]
    faulty, expected = planter([dict(row) for row in rows], instruments)
    return Planted(name=name, rows=tuple(faulty), expected=expected)


@attrs.frozen(kw_only=True)
class Hit:
    """How the audit fared on one planted fault."""

    name: str
    description: str
    expected: Expected
    invariants_hit: bool  # the id at the planted event with ``--invariants``
    rules_hit: bool  # the id at the planted event with ``--rules``
    first: str  # the first finding's id at ``--rules`` (what a reader sees first)


def run_catalogue(rows: Sequence[Row], instruments: Mapping[str, Instrument]) -> list[Hit]:
    """Plant every fault of the catalogue in ``rows`` and audit each at both levels."""
    from perpspec.engine.audit import audit_rows
    from perpspec.engine.audit.mapping import load_mapping

    mapping = load_mapping("perpspec")
    hits = []
    for name, (description, _) in CATALOGUE.items():
        planted = plant(name, rows, instruments)
        found = {}
        for level in (INVARIANTS, RULES):
            result = audit_rows(enumerate(planted.rows, 1), mapping, instruments, level)
            found[level] = result
        expected = planted.expected
        hit = {
            level: any(f.id == expected.id and f.line == expected.line for f in result.findings)
            for level, result in found.items()
        }
        first = found[RULES].findings[0].id if found[RULES].findings else "-"
        hits.append(
            Hit(name=name, description=description, expected=expected, invariants_hit=hit[INVARIANTS],
                rules_hit=hit[RULES], first=first)
        )
    return hits


def format_hit_table(hits: Sequence[Hit]) -> str:
    """The hit table as Markdown (the README's copy is checked against it)."""
    lines = [
        "| fault | expected id | `--invariants` | `--rules` |",
        "|---|---|---|---|",
    ]
    for hit in hits:
        lines.append(
            f"| {hit.description} | {hit.expected.id} | {'caught' if hit.invariants_hit else '—'} | "
            f"{'caught' if hit.rules_hit else '—'} |"
        )
    return "\n".join(lines)
