"""What one run's report shows, read from its event log (:class:`RunData`, :func:`analyse`).

The record kinds understood are listed in :mod:`perpspec.engine.simulation.report`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from perpspec.engine.simulation.explain import (
    Step,
    read_step,
)
from perpspec.rules.parse import loads_json

# ---------------------------------------------------------------------------
# Reading the log


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON Lines event log."""
    with path.open() as handle:
        return [loads_json(line) for line in handle if line.strip()]


def parse_time_ms(value: Any) -> int:
    """Milliseconds since the epoch from an ISO 8601 timestamp (``2020-03-12T10:45:00.000Z``) or an int."""
    if isinstance(value, int):
        return value
    text = str(value).replace("Z", "+00:00")
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@dataclass
class LiquidationRow:
    """One liquidation as the log shows it."""

    time_ms: int
    account: int
    side: str
    qty: int
    price: float
    kind: str


@dataclass
class AdlRow:
    """One ADL fill: the counterparty closed at the bankrupt order's price."""

    time_ms: int
    account: int
    side: str
    qty: int
    price: float
    score: str
    liquidated: int | None
    haircut: int = 0  # against the mark, minor units (positive: closed worse than the mark)


@dataclass
class AccountRow:
    """An account's equity before the stress and at the end."""

    account: int
    role: str
    before: int
    after: int
    qty_before: int
    cross: bool
    leverage: str

    @property
    def loss(self) -> int:
        """Equity lost (positive) between the two snapshots."""
        return self.before - self.after


@dataclass
class RunData:
    """Everything one run's report shows, read from its event log."""

    name: str
    summary: dict[str, Any]
    currency: str = "XBt"
    coin: int = 100_000_000
    times: list[int] = field(default_factory=list)
    index: list[float] = field(default_factory=list)
    mark: list[float] = field(default_factory=list)
    last: list[float | None] = field(default_factory=list)
    open_interest: list[int] = field(default_factory=list)
    insurance: list[tuple[int, int]] = field(default_factory=list)
    liquidations: list[LiquidationRow] = field(default_factory=list)
    adl: list[AdlRow] = field(default_factory=list)
    accounts: list[AccountRow] = field(default_factory=list)
    trades: int = 0
    funding_payments: int = 0
    steps: list[Step] = field(default_factory=list)
    symbol: str = ""

    @property
    def start_ms(self) -> int:
        """First time in the run."""
        return self.times[0] if self.times else 0

    @property
    def end_ms(self) -> int:
        """Last time in the run."""
        return self.times[-1] if self.times else 1

    def counts(self) -> dict[str, int]:
        """The figures a test checks against the log."""
        insurance = [balance for _, balance in self.insurance] or [0]
        return {
            "trades": self.trades,
            "liquidations": len(self.liquidations),
            "liquidations_full": sum(1 for row in self.liquidations if row.kind == "full"),
            "liquidations_partial": sum(1 for row in self.liquidations if row.kind == "partial"),
            "adl_fills": len(self.adl),
            "adl_contracts": sum(row.qty for row in self.adl),
            "insurance_start": insurance[0],
            "insurance_min": min(insurance),
            "insurance_end": insurance[-1],
            "funding_payments": self.funding_payments,
            "accounts": len(self.accounts),
        }


def analyse(name: str, records: Iterable[Mapping[str, Any]], summary: Mapping[str, Any] | None = None) -> RunData:
    """Read one run's event log into what the report draws (one record at a time: the log is never held whole)."""
    builder = RunBuilder(name)
    for record in records:
        builder.add(record)
    return builder.finish(summary)


_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # the text encode_json writes as a bare number
NUM_MARK = "\x00"  # a runner's record keeps an exact decimal as marked text (engine.simulation.eventlog.Num)


def json_value(value: Any) -> Any:
    """A field as the JSON log gives it back: marked decimal text becomes the number ``json.loads`` would read.

    The runner hands :class:`RunBuilder` its records before they are written,
    with exact decimals as text (``"\\x00" + "7353.5"``); the log has them as
    bare numbers, which ``json.loads`` reads as ``int`` (no fraction or
    exponent) or ``float``.  Every other value is the same either way.
    """
    if isinstance(value, str) and value.startswith(NUM_MARK) and _DECIMAL.fullmatch(value, 1):
        text = value[1:]
        return float(text) if "." in text else int(text)
    return value


class RunBuilder:
    """What the report draws, kept up to date record by record (the streaming side of :func:`analyse`).

    ``add`` takes each event-log record — read back from the log, or handed over
    by the runner as it writes it (``Simulation(..., observer=builder.add)``) —
    and keeps only the aggregates and the rows the report shows (one per step,
    per liquidation, per ADL fill, per fund movement, per explained waterfall
    step, per account), never the log itself.
    """

    ignored_tables = frozenset({"command", "position"})  # add() reads nothing of these rows (a runner may skip them)
    execution_types = frozenset({"Trade", "Deleverage"})  # the only execution rows add() reads (by execType)

    def __init__(self, name: str) -> None:
        self.run = RunData(name=name, summary={})
        # account -> (role, marginBalance, currentQty, crossMargin, leverage) of its margin rows
        self.before: dict[int, tuple[str, int, int, bool, str]] = {}
        self.after: dict[int, int] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        """Take one record of the log."""
        table = record.get("table")
        run = self.run
        if table == "execution":
            exec_type = record.get("execType")
            if exec_type == "Trade":
                if record.get("lastLiquidityInd") == "AddedLiquidity":
                    run.trades += 1  # one row per match: the maker's (liquidation fills have no taker row)
            elif exec_type == "Deleverage":
                run.adl.append(
                    AdlRow(
                        time_ms=parse_time_ms(record["timestamp"]),
                        account=int(record["account"]),
                        side=str(record["side"]),
                        qty=int(record["lastQty"]),
                        price=float(json_value(record["lastPx"])),
                        score=str(json_value(record.get("adlRankingScore", ""))),
                        liquidated=record.get("liquidatedAccount"),
                        haircut=int(record.get("haircut", 0)),
                    )
                )
        elif table == "instrument":
            run.symbol = str(record.get("symbol", run.symbol))
            run.times.append(parse_time_ms(record["timestamp"]))
            run.index.append(float(json_value(record["indicativeSettlePrice"])))
            run.mark.append(float(json_value(record["markPrice"])))
            last = record.get("lastPrice")
            run.last.append(None if last is None else float(json_value(last)))
            run.open_interest.append(int(record["openInterest"]))
        elif table == "rule":
            step = read_step(record, parse_time_ms)
            if step is not None:
                run.steps.append(step)
        elif table == "insurance":
            run.currency = str(record.get("currency", run.currency))
            run.insurance.append((parse_time_ms(record["timestamp"]), int(record["walletBalance"])))
        elif table == "liquidation":
            run.liquidations.append(
                LiquidationRow(
                    time_ms=parse_time_ms(record["timestamp"]),
                    account=int(record["account"]),
                    side=str(record["side"]),
                    qty=int(record["leavesQty"]),
                    price=float(json_value(record["price"])),
                    kind=str(record.get("liquidationType", "full")),
                )
            )
        elif table == "transaction":
            if record.get("transactType") == "Funding":
                run.funding_payments += 1
        elif table == "margin":
            account = int(record["account"])
            balance = int(record["marginBalance"])
            if record.get("phase") == "before":
                self.before[account] = (
                    str(record.get("role", "trader")),
                    balance,
                    int(record.get("currentQty", 0)),
                    bool(record.get("crossMargin", True)),
                    str(record.get("leverage", "")),
                )
            else:
                self.after[account] = balance

    def finish(self, summary: Mapping[str, Any] | None = None) -> RunData:
        """The run's data, with its summary (summary.json's figures) once the run is over."""
        run = self.run
        run.summary = dict(summary or {})
        if "coin" in run.summary:
            run.coin = int(run.summary["coin"])
        run.accounts = [
            AccountRow(
                account=account,
                role=role,
                before=before,
                after=self.after.get(account, before),
                qty_before=qty,
                cross=cross,
                leverage=leverage,
            )
            for account, (role, before, qty, cross, leverage) in sorted(self.before.items())
        ]
        return run
