"""The HTML report of `perpspec simulate` (engine/simulation/report.py): self-contained, every plot and table, numbers from the log."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.simulation.report import PLOTS, TABLES, iter_plots, render, write_report
from perpspec.engine.simulation.report_data import RunBuilder, analyse, read_records
from perpspec.engine.simulation.result import SimulationResult
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario

T0 = 1_583_971_200_000  # 2020-03-12T00:00:00Z


def stamp(minute: int) -> str:
    return f"2020-03-12T{minute // 60:02d}:{minute % 60:02d}:00.000Z"


def small_log() -> list[dict[str, Any]]:
    """A hand-written event log: three steps, one trade, two liquidations, one ADL fill, fund path 300 → 100 → 0."""
    records: list[dict[str, Any]] = [{"table": "insurance", "timestamp": stamp(0), "currency": "XBt", "walletBalance": 300}]
    for minute, (index, mark, oi) in enumerate([(8000, 8001, 5000), (7000, 7002.5, 4000), (6000, 6000, 3000)]):
        records.append(
            {
                "table": "instrument",
                "timestamp": stamp(minute),
                "symbol": "XBTUSD",
                "indicativeSettlePrice": index,
                "markPrice": mark,
                "lastPrice": None if minute == 0 else index + 0.5,
                "openInterest": oi,
            }
        )
    records += [
        {"table": "execution", "execType": "Trade", "timestamp": stamp(1), "account": 5, "side": "Sell",
         "lastQty": 100, "lastPx": 7000.5, "lastLiquidityInd": "RemovedLiquidity"},
        {"table": "execution", "execType": "Trade", "timestamp": stamp(1), "account": 1, "side": "Buy",
         "lastQty": 100, "lastPx": 7000.5, "lastLiquidityInd": "AddedLiquidity"},
        {"table": "transaction", "transactType": "Funding", "timestamp": stamp(2), "account": 9, "amount": -5},
        {"table": "liquidation", "timestamp": stamp(1), "account": 7, "side": "Sell", "leavesQty": 500,
         "price": 6900, "liquidationType": "full"},
        {"table": "insurance", "timestamp": stamp(1), "currency": "XBt", "walletBalance": 100},
        {"table": "liquidation", "timestamp": stamp(2), "account": 8, "side": "Sell", "leavesQty": 300,
         "price": 5900, "liquidationType": "partial"},
        {"table": "insurance", "timestamp": stamp(2), "currency": "XBt", "walletBalance": 0},
        {"table": "execution", "execType": "Deleverage", "timestamp": stamp(2), "account": 9, "side": "Buy",
         "lastQty": 200, "lastPx": 5900, "adlRankingScore": "1.234567", "liquidatedAccount": 8},
    ]
    for phase, balances in (("before", {7: 1000, 8: 2000, 9: 500}), ("after", {7: 0, 8: 150, 9: 900})):
        for account, balance in balances.items():
            records.append(
                {"table": "margin", "phase": phase, "account": account, "marginBalance": balance,
                 "walletBalance": balance, "currentQty": -100 * account, "crossMargin": account != 7,
                 "leverage": "10x", "role": "trader"}
            )
    return records


def embedded_data(document: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="perpspec-data">(.*?)</script>', document, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1).replace("<\\/", "</"))
    return data


def test_report_contains_every_plot_and_table() -> None:
    document = render([analyse("crash", small_log())])
    assert sorted(set(iter_plots(document))) == sorted(PLOTS)
    assert [name for name in TABLES if f'data-table="{name}"' not in document] == []


def test_report_is_self_contained() -> None:
    document = render([analyse("crash", small_log())])
    assert re.findall(r'(?:src|href)=["\']?(?:https?:)?//', document) == []
    assert [marker for marker in ("<link", "@import", "<script src", "<img") if marker in document] == []


def test_counts_come_from_the_log() -> None:
    counts = analyse("crash", small_log()).counts()
    assert counts == {
        "trades": 1,
        "liquidations": 2,
        "liquidations_full": 1,
        "liquidations_partial": 1,
        "adl_fills": 1,
        "adl_contracts": 200,
        "insurance_start": 300,
        "insurance_min": 0,
        "insurance_end": 0,
        "funding_payments": 1,
        "accounts": 3,
    }


def test_embedded_numbers_equal_the_counts() -> None:
    run = analyse("crash", small_log())
    assert embedded_data(render([run]))["crash"]["counts"] == run.counts()


def test_largest_losses_table_is_sorted_by_loss() -> None:
    document = render([analyse("crash", small_log())])
    table = document.split('data-table="largest-losses"')[1].split("</table>")[0]
    assert re.findall(r'data-loss="(-?\d+)"', table) == ["1850", "1000", "-400"]


def test_adl_table_shows_the_ranking_score_of_every_counterparty() -> None:
    document = render([analyse("crash", small_log())])
    table = document.split('data-table="adl-counterparties"')[1].split("</table>")[0]
    assert re.findall(r'data-account="(\d+)"', table) == ["9"]
    assert "1.234567" in table


def test_compare_mode_puts_runs_side_by_side(tmp_path: Path) -> None:
    path = write_report(tmp_path / "r.html", [analyse("queue", small_log()), analyse("pro-rata", small_log()[:4])])
    document = path.read_text()
    summary = document.split('data-table="summary"')[1].split("</table>")[0]
    assert "<th>queue</th><th>pro-rata</th>" in summary
    assert document.count('data-table="largest-losses"') == 2
    assert set(embedded_data(document)) == {"queue", "pro-rata"}


def test_records_round_trip_through_a_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in small_log()))
    assert analyse("x", read_records(path)).counts() == analyse("x", small_log()).counts()


# ---------------------------------------------------------------------------
# A real run: the report's numbers against its event log


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationResult, list[dict[str, Any]], str]:
    """The report as ``perpspec simulate`` builds it: from aggregates the run fed record by record (not the log)."""
    out = tmp_path_factory.mktemp("tiny-report")
    builder = RunBuilder("tiny_crash")
    result = run_scenario(load_scenario("tiny_crash"), out, observer=builder.add)
    records = read_records(Path(result.event_log))
    document = write_report(out / "report.html", [builder.finish(result.summary())]).read_text()
    return result, records, document


def test_streamed_aggregates_equal_the_log_read_back(tmp_path: Path) -> None:
    """The aggregates fed during the run (exact decimals still text) equal those read from the written log."""
    builder = RunBuilder("tiny_crash")
    result = run_scenario(load_scenario("tiny_crash"), tmp_path, observer=builder.add)
    streamed = builder.finish(result.summary())
    read_back = analyse("tiny_crash", read_records(Path(result.event_log)), result.summary())
    assert streamed == read_back
    for kept in (streamed.liquidations, streamed.adl, streamed.steps, streamed.accounts, streamed.times):
        assert kept  # every kind of row the report keeps is compared, not only empty lists
    assert any(price is not None for price in streamed.last)
    assert streamed.adl[0].score  # an exact decimal handed over as text, read back as a JSON number
    assert render([streamed]) == render([read_back])


def recount(records: list[dict[str, Any]]) -> dict[str, int]:
    """The report's figures counted straight from the log lines, independently of engine/simulation/report.py."""
    balances = [row["walletBalance"] for row in records if row["table"] == "insurance"]
    adl = [row for row in records if row["table"] == "execution" and row["execType"] == "Deleverage"]
    liquidations = [row for row in records if row["table"] == "liquidation"]
    return {
        "trades": sum(
            1 for row in records
            if row["table"] == "execution" and row["execType"] == "Trade" and row["lastLiquidityInd"] == "AddedLiquidity"
        ),
        "liquidations": len(liquidations),
        "liquidations_full": sum(1 for row in liquidations if row["liquidationType"] == "full"),
        "liquidations_partial": sum(1 for row in liquidations if row["liquidationType"] == "partial"),
        "adl_fills": len(adl),
        "adl_contracts": sum(row["lastQty"] for row in adl),
        "insurance_start": balances[0],
        "insurance_min": min(balances),
        "insurance_end": balances[-1],
        "funding_payments": sum(
            1 for row in records if row["table"] == "transaction" and row["transactType"] == "Funding"
        ),
        "accounts": len({row["account"] for row in records if row["table"] == "margin"}),
    }


def test_real_report_numbers_agree_with_the_event_log(
    tiny_report: tuple[SimulationResult, list[dict[str, Any]], str],
) -> None:
    _, records, document = tiny_report
    assert embedded_data(document)["tiny_crash"]["counts"] == recount(records)


def test_run_summary_agrees_with_the_event_log(tiny_report: tuple[SimulationResult, list[dict[str, Any]], str]) -> None:
    result, records, _ = tiny_report
    counted = recount(records)
    summary = {key: result.summary()[key] for key in counted}
    assert summary == counted


def test_real_report_summary_table_shows_the_logged_counts(
    tiny_report: tuple[SimulationResult, list[dict[str, Any]], str],
) -> None:
    _, records, document = tiny_report
    table = document.split('data-table="summary"')[1].split("</table>")[0]
    shown = {key: int(value) for key, value in re.findall(r'data-key="(\w+)" data-value="(-?\d+)"', table)}
    counted = recount(records)
    assert {key: shown[key] for key in ("liquidations", "adl_fills", "adl_contracts", "trades")} == {
        key: counted[key] for key in ("liquidations", "adl_fills", "adl_contracts", "trades")
    }


def test_real_report_lists_every_adl_counterparty(tiny_report: tuple[SimulationResult, list[dict[str, Any]], str]) -> None:
    _, records, document = tiny_report
    table = document.split('data-table="adl-counterparties"')[1].split("</table>")[0]
    fills = [row for row in records if row["table"] == "execution" and row["execType"] == "Deleverage"]
    counterparties = list(dict.fromkeys(str(row["account"]) for row in fills))
    shown = re.findall(r'data-account="(\d+)" data-contracts="(\d+)"', table)
    assert ([account for account, _ in shown], sum(int(qty) for _, qty in shown)) == (
        counterparties,
        sum(row["lastQty"] for row in fills),
    )


def test_real_report_contains_every_plot(tiny_report: tuple[SimulationResult, list[dict[str, Any]], str]) -> None:
    _, _, document = tiny_report
    assert sorted(set(iter_plots(document))) == sorted(PLOTS)


def test_key_moments_describe_the_fund_path_and_adl() -> None:
    from perpspec.engine.simulation.report import key_moments

    lines = key_moments(analyse("crash", small_log()))
    assert [line for line in lines if line.startswith(("Insurance fund", "ADL"))] == [
        "Insurance fund 0.000003 XBT (300 XBt) at the start, peak 0.000003 XBT (300 XBt) at 00:00 UTC, "
        "minimum 0 XBT (0 XBt) at 00:02 UTC, 0 XBT (0 XBt) at the end.",
        "ADL: 1 fills, 200 contracts against 1 accounts, between 00:02 UTC and 00:02 UTC.",
    ]


def test_real_report_shows_the_scenario_parameters(tiny_report: tuple[SimulationResult, list[dict[str, Any]], str]) -> None:
    _, _, document = tiny_report
    table = document.split('data-table="parameters"')[1].split("</table>")[0]
    assert "<th>traders</th><td>60</td>" in table
