"""What one run's report shows, read from its event log (:class:`RunData`, :func:`analyse`).

The record kinds understood are listed in :mod:`perpspec.engine.simulation.report`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from perpspec.engine.simulation.explain import (
    Step,
    read_steps,
)

# ---------------------------------------------------------------------------
# Reading the log


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON Lines event log."""
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


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
    """Read one run's event log into what the report draws."""
    run = RunData(name=name, summary=dict(summary or {}))
    before: dict[int, Mapping[str, Any]] = {}
    after: dict[int, Mapping[str, Any]] = {}
    records = list(records)
    run.steps = read_steps(records, parse_time_ms)
    for record in records:
        table = record.get("table")
        if table == "instrument":
            run.symbol = str(record.get("symbol", run.symbol))
            run.times.append(parse_time_ms(record["timestamp"]))
            run.index.append(float(record["indicativeSettlePrice"]))
            run.mark.append(float(record["markPrice"]))
            last = record.get("lastPrice")
            run.last.append(None if last is None else float(last))
            run.open_interest.append(int(record["openInterest"]))
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
                    price=float(record["price"]),
                    kind=str(record.get("liquidationType", "full")),
                )
            )
        elif table == "execution":
            exec_type = record.get("execType")
            if exec_type == "Trade" and record.get("lastLiquidityInd") == "AddedLiquidity":
                run.trades += 1  # one row per match: the maker's (liquidation fills have no taker row)
            elif exec_type == "Deleverage":
                run.adl.append(
                    AdlRow(
                        time_ms=parse_time_ms(record["timestamp"]),
                        account=int(record["account"]),
                        side=str(record["side"]),
                        qty=int(record["lastQty"]),
                        price=float(record["lastPx"]),
                        score=str(record.get("adlRankingScore", "")),
                        liquidated=record.get("liquidatedAccount"),
                        haircut=int(record.get("haircut", 0)),
                    )
                )
        elif table == "transaction" and record.get("transactType") == "Funding":
            run.funding_payments += 1
        elif table == "margin":
            target = before if record.get("phase") == "before" else after
            target[int(record["account"])] = record
    if "coin" in run.summary:
        run.coin = int(run.summary["coin"])
    for account, first in sorted(before.items()):
        last_row = after.get(account, first)
        run.accounts.append(
            AccountRow(
                account=account,
                role=str(first.get("role", "trader")),
                before=int(first["marginBalance"]),
                after=int(last_row["marginBalance"]),
                qty_before=int(first.get("currentQty", 0)),
                cross=bool(first.get("crossMargin", True)),
                leverage=str(first.get("leverage", "")),
            )
        )
    return run
