"""Why it happened: the report's narrative, timeline and ADL haircuts, computed from the event log's rule rows.

A committee reading a crash asks *why*: what drained the insurance fund, when the
book ran out, when auto-deleveraging began and against whom.  Every sentence and
row here is computed from the log's ``rule`` rows (the waterfall's explainable
steps) and ADL ``execution`` rows, and each names its rule with a link to that
rule's page in the generated rulebook (``specs/<area>.md#<id>``):

* INS-008, FND-008, FND-019 — deposits into the fund, funding residues and the liquidation engine's funding
  (they move its balance);
* LIQ-023 — a pool taken over by the liquidation engine at its bankruptcy price;
* INS-011 — the pool's residual margin paid into the fund;
* INS-005 — a close-out fill better (surplus) or worse (draw) than the bankruptcy price;
* ADL-031 — a close-out the book could not take and the fund could not cover: deferred to ADL;
* ADL-032 — the fund is depleted, but the mark has not reached the close-out's bankruptcy price: kept;
* ADL-020 — an ADL fill against a counterparty, with its haircut against the mark;
* ADL-021 — no eligible counterparty: the liquidation engine keeps the rest.

Money stays integer minor units here; only the page formats it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

EXPLAINED_RULES = ("INS-008", "FND-008", "FND-019", "LIQ-023", "INS-011", "INS-005", "ADL-031", "ADL-032", "ADL-020", "ADL-021", "LIQ-021")
RULE_PAGES = {"LIQ": "liquidation", "INS": "insurance", "ADL": "adl", "FND": "funding", "MRG": "margin", "ACC": "contracts"}


def get_rulebook_dir() -> Path:
    """The generated rulebook shipped with this perpspec (``specs/``)."""
    return Path(str(resources.files("perpspec.specs")))


def rule_link(rule_id: str) -> str:
    """``<a href=".../specs/adl.md#adl-020">ADL-020</a>``: the rule's page in the local generated rulebook."""
    page = RULE_PAGES.get(rule_id.split("-")[0], "README")
    target = get_rulebook_dir().joinpath(f"{page}.md").resolve().as_uri()
    return f'<a href="{target}#{rule_id.lower()}" data-rule="{rule_id}">{rule_id}</a>'


def utc_time(ms: int) -> str:
    """``HH:MM`` UTC of a logical-clock time (milliseconds since the epoch, which has no leap seconds)."""
    minute_of_day = ms // 60_000 % 1_440
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def format_money(amount: int, coin: int, currency: str) -> str:
    """Exact coins with thousands separators and the minor units: ``0.00000002 XBT (2 XBt)``."""
    digits = len(str(coin)) - 1
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), coin)
    frac_text = f"{frac:0{digits}d}".rstrip("0")
    coins = f"{sign}{whole:,}" + (f".{frac_text}" if frac_text else "")
    name = currency[:-1] + currency[-1].upper() if currency.endswith("t") else currency
    return f"{coins} {name} ({amount:,} {currency})"


@dataclass
class Step:
    """One explained waterfall step from the log."""

    time_ms: int
    rule_id: str
    kind: str
    account: int
    amount: int = 0  # fund movement (INS-*) or haircut (ADL-020), minor units
    qty: int = 0  # contracts (ADL-020 close, ADL-031/021 unfilled)
    balance_after: int | None = None  # the fund after an INS-* movement
    counterparty_of: int | None = None  # ADL-020: the liquidated account


def read_steps(records: Iterable[Mapping[str, Any]], parse_time_ms: Any) -> list[Step]:
    """The explained steps of a run, in log order."""
    steps = []
    for record in records:
        step = read_step(record, parse_time_ms)
        if step is not None:
            steps.append(step)
    return steps


def read_step(record: Mapping[str, Any], parse_time_ms: Any) -> Step | None:
    """One record as an explained step (None: not a rule row of :data:`EXPLAINED_RULES`)."""
    if record.get("table") != "rule" or record.get("ruleId") not in EXPLAINED_RULES:
        return None
    rule_id = str(record["ruleId"])
    step = Step(
        time_ms=parse_time_ms(record["timestamp"]),
        rule_id=rule_id,
        kind=str(record.get("kind", "")),
        account=int(record.get("account", -1)),
    )
    if rule_id.startswith("INS-") or rule_id in ("FND-008", "FND-019"):
        step.amount = int(record["amount"])
        step.balance_after = int(record["balance_after"])
    elif rule_id == "ADL-020":
        step.amount = int(record["haircut"])
        step.qty = abs(int(record["close_qty"]))
    elif rule_id in ("ADL-031", "ADL-032", "ADL-021"):
        step.qty = int(record["unfilled_qty"])
    return step


@dataclass
class Minute:
    """One minute of the timeline: what the waterfall did in it."""

    time_ms: int
    liquidations: int = 0
    residual: int = 0
    surplus: int = 0
    draws: int = 0
    draw_amount: int = 0
    deferred: int = 0
    adl_fills: int = 0
    adl_contracts: int = 0
    shortfalls: int = 0
    fund_after: int | None = None


def compute_timeline(steps: Sequence[Step]) -> list[Minute]:
    """Per minute with any waterfall step: liquidations, fund surpluses and draws, deferrals, ADL fills."""
    minutes: dict[int, Minute] = {}
    for step in steps:
        minute = minutes.setdefault(step.time_ms // 60_000, Minute(time_ms=step.time_ms // 60_000 * 60_000))
        if step.rule_id == "LIQ-023":
            minute.liquidations += 1
        elif step.rule_id == "INS-011":
            minute.residual += step.amount
        elif step.rule_id == "INS-005" and step.amount >= 0:
            minute.surplus += step.amount
        elif step.rule_id == "INS-005":
            minute.draws += 1
            minute.draw_amount += step.amount
        elif step.rule_id in ("ADL-031", "ADL-032"):
            minute.deferred += 1
        elif step.rule_id == "ADL-020":
            minute.adl_fills += 1
            minute.adl_contracts += step.qty
        elif step.rule_id == "ADL-021":
            minute.shortfalls += 1
        if step.balance_after is not None:
            minute.fund_after = step.balance_after
    return [minutes[key] for key in sorted(minutes)]


@dataclass
class Counterparty:
    """An ADL counterparty: its fills, contracts and haircut against the mark."""

    account: int
    fills: int = 0
    contracts: int = 0
    haircut: int = 0


def compute_counterparties(steps: Sequence[Step]) -> list[Counterparty]:
    """ADL counterparties in the order the ranking first reached them."""
    found: dict[int, Counterparty] = {}
    for step in steps:
        if step.rule_id != "ADL-020":
            continue
        row = found.setdefault(step.account, Counterparty(account=step.account))
        row.fills += 1
        row.contracts += step.qty
        row.haircut += step.amount
    return list(found.values())


def explain_why(steps: Sequence[Step], coin: int, currency: str) -> list[str]:
    """The narrative: what fed and drained the fund, when the book ran out, when ADL began and against whom (HTML)."""

    def money(amount: int) -> str:
        return html.escape(format_money(amount, coin, currency))

    lines: list[str] = []
    fund = [step for step in steps if step.balance_after is not None]
    liquidations = [step for step in steps if step.rule_id == "LIQ-023"]
    surpluses = [step for step in steps if step.rule_id == "INS-005" and step.amount >= 0]
    residuals = [step for step in steps if step.rule_id == "INS-011"]
    draws = [step for step in steps if step.rule_id == "INS-005" and step.amount < 0]
    if not liquidations:
        return ["No position was liquidated: the waterfall never ran."]
    lines.append(
        f"{len(liquidations):,} pools were taken over by the liquidation engine at their bankruptcy price "
        f"({rule_link('LIQ-023')}), the first at {utc_time(liquidations[0].time_ms)} UTC, the last at "
        f"{utc_time(liquidations[-1].time_ms)} UTC."
    )
    if surpluses or residuals:
        lines.append(
            f"What fed the fund: {len(residuals):,} residual margins ({money(sum(s.amount for s in residuals))}, "
            f"{rule_link('INS-011')}) and {len(surpluses):,} close-outs filled better than the bankruptcy price "
            f"({money(sum(s.amount for s in surpluses))}, {rule_link('INS-005')})."
        )
    if fund:
        peak = max(fund, key=lambda step: step.balance_after or 0)
        low = min(fund, key=lambda step: step.balance_after or 0)
        lines.append(f"The fund peaked at {money(peak.balance_after or 0)} at {utc_time(peak.time_ms)} UTC.")
        if draws:
            by_minute: dict[int, int] = {}
            for step in draws:
                by_minute[step.time_ms // 60_000] = by_minute.get(step.time_ms // 60_000, 0) + step.amount
            worst = min(by_minute, key=lambda key: by_minute[key])
            lines.append(
                f"What drained it: {len(draws):,} close-outs filled worse than the bankruptcy price — the book "
                f"below the bankrupt positions was thin — and the fund paid the difference "
                f"({money(-sum(s.amount for s in draws))} in all, {rule_link('INS-005')}); the worst minute, "
                f"{utc_time(worst * 60_000)} UTC, drew {money(-by_minute[worst])}. "
                + (
                    f"The fund never fell below its starting {money(low.balance_after or 0)}."
                    if low.rule_id == "INS-008"
                    else f"The fund's minimum was {money(low.balance_after or 0)} at {utc_time(low.time_ms)} UTC."
                )
            )
    deferred = [step for step in steps if step.rule_id == "ADL-031"]
    adl = [step for step in steps if step.rule_id == "ADL-020"]
    if deferred:
        lines.append(
            f"The book ran out at {utc_time(deferred[0].time_ms)} UTC: a close-out of {deferred[0].qty:,} contracts "
            f"found no bid the fund could pay for, and was deferred to auto-deleveraging ({rule_link('ADL-031')}; "
            f"{len(deferred):,} deferrals in all)."
        )
    if adl:
        parties = compute_counterparties(steps)
        total_haircut = sum(party.haircut for party in parties)
        largest = max(parties, key=lambda party: (party.haircut, -party.account))
        lines.append(
            f"ADL began at {utc_time(adl[0].time_ms)} UTC and ended at {utc_time(adl[-1].time_ms)} UTC: "
            f"{len(adl):,} fills closed {sum(s.qty for s in adl):,} contracts of {len(parties):,} counterparties "
            f"at the bankrupt positions' bankruptcy prices ({rule_link('ADL-020')}). Against the mark at the time, "
            f"their haircut sums to {money(total_haircut)} (positive: closed worse than the mark); the largest, "
            f"account {largest.account}, {money(largest.haircut)}."
        )
    else:
        lines.append("No ADL: the book and the fund took every close-out.")
    shortfalls = [step for step in steps if step.rule_id == "ADL-021"]
    if shortfalls:
        lines.append(
            f"{len(shortfalls):,} times no eligible counterparty was left: the liquidation engine kept the rest "
            f"and retried at the next mark update ({rule_link('ADL-021')})."
        )
    return lines


def timeline_table(steps: Sequence[Step], coin: int, currency: str, run_name: str) -> str:
    """The timeline as an HTML table, one row per minute with a waterfall step, headers linked to the rules."""
    rows = []
    for minute in compute_timeline(steps):
        fund = "" if minute.fund_after is None else format_money(minute.fund_after, coin, currency)
        rows.append(
            f'<tr data-minute="{minute.time_ms}"><td>{utc_time(minute.time_ms)}</td><td>{minute.liquidations:,}</td>'
            f"<td>{format_money(minute.residual, coin, currency)}</td><td>{format_money(minute.surplus, coin, currency)}</td>"
            f"<td>{minute.draws:,}</td><td>{format_money(-minute.draw_amount, coin, currency)}</td>"
            f"<td>{minute.deferred:,}</td><td>{minute.adl_fills:,}</td><td>{minute.adl_contracts:,}</td>"
            f"<td>{minute.shortfalls:,}</td><td>{html.escape(fund)}</td></tr>"
        )
    head = (
        "<tr><th>minute (UTC)</th>"
        f"<th>liquidations {rule_link('LIQ-023')}</th><th>residual margin {rule_link('INS-011')}</th>"
        f"<th>surplus {rule_link('INS-005')}</th><th>draws</th><th>drawn {rule_link('INS-005')}</th>"
        f"<th>deferred to ADL {rule_link('ADL-031')}</th><th>ADL fills {rule_link('ADL-020')}</th>"
        f"<th>ADL contracts</th><th>no counterparty {rule_link('ADL-021')}</th><th>fund after</th></tr>"
    )
    empty = '<tr><td colspan="11">no waterfall step in this run</td></tr>' if not rows else ""
    return f'<table data-table="timeline" data-run="{html.escape(run_name)}">{head}{"".join(rows)}{empty}</table>'


def explain_account(records: Iterable[Mapping[str, Any]], account: int, coin: int, currency: str) -> list[str]:
    """One account's story from the log: its margin before and after, trades, liquidation, ADL on either side, funding."""

    def money(amount: int) -> str:
        return format_money(amount, coin, currency)

    lines: list[str] = []
    trades = fees = funding = 0
    margins: dict[str, Mapping[str, Any]] = {}
    for record in records:
        table = record.get("table")
        if table == "margin" and record.get("account") == account:
            margins[str(record.get("phase"))] = record
        elif table == "execution" and record.get("account") == account and record.get("execType") == "Trade":
            trades += 1
            fees += int(record.get("execComm") or 0)
        elif table == "transaction" and record.get("account") == account and record.get("transactType") == "Funding":
            funding += int(record["amount"])
        elif table == "rule" and record.get("ruleId") == "LIQ-023" and record.get("account") == account:
            lines.append(
                f"{record['timestamp'][11:16]} UTC: liquidated ({record['pool']}): equity at mark "
                f"{money(int(record['equity']))} below maintenance {money(int(record['maintenance']))}; the "
                f"liquidation engine took the position over at its bankruptcy price (LIQ-023), the residual margin "
                f"{money(int(record['residual_margin']))} went to the insurance fund (INS-011)."
            )
        elif table == "execution" and record.get("execType") == "Deleverage":
            if record.get("account") == account:
                lines.append(
                    f"{record['timestamp'][11:16]} UTC: auto-deleveraged as a counterparty (ADL-020): "
                    f"{int(record['lastQty']):,} contracts closed at {record['lastPx']} (mark {record.get('markPrice')}), "
                    f"ranking score {record.get('adlRankingScore')}, haircut {money(int(record.get('haircut', 0)))}, "
                    f"against liquidated account {record.get('liquidatedAccount')}."
                )
            elif record.get("liquidatedAccount") == account:
                lines.append(
                    f"{record['timestamp'][11:16]} UTC: {int(record['lastQty']):,} contracts of this account's "
                    f"liquidated position closed by ADL against account {record['account']} (ADL-020)."
                )
    head = []
    for phase, label in (("before", "Before the stress"), ("after", "At the end")):
        row = margins.get(phase)
        if row is not None:
            margin_mode = "cross" if row.get("crossMargin", True) else f"isolated at {row.get('leverage')}"
            head.append(
                f"{label}: {row.get('role', 'trader')}, position {int(row.get('currentQty', 0)):,} contracts "
                f"({margin_mode}), wallet {money(int(row['walletBalance']))}, margin balance {money(int(row['marginBalance']))}."
            )
    if not head and not lines:
        return [f"Account {account} does not appear in this log."]
    summary = f"{trades:,} trades (commission {money(fees)}), funding {money(funding)}."
    return [*head[:1], summary, *lines, *head[1:]]
