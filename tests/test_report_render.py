"""The report as a committee sees it: plots rendered to PNG, no overlapping labels, the "why" checked against the log."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import perpspec
from perpspec.engine.simulation.report import PLOTS, iter_plot_svgs, render
from perpspec.engine.simulation.report_charts import CHAR_PX
from perpspec.engine.simulation.report_data import analyse, read_records


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str]:
    out = tmp_path_factory.mktemp("tiny")
    summary = perpspec.simulate("tiny_crash", out=out)
    records = read_records(out / "events.jsonl")
    return records, render([analyse("tiny_crash", records, summary)])


def text_boxes(svg: str) -> list[tuple[float, float, float, float, str]]:
    """(left, right, top, bottom, text) of every axis and legend label, estimated from the text's length."""
    boxes = []
    for match in re.finditer(r'<text x="([\d.]+)" y="([\d.]+)" class="(axis|legend)"([^>]*)>([^<]*)</text>', svg):
        x, y, attributes, text = float(match.group(1)), float(match.group(2)), match.group(4), match.group(5)
        if "rotate" in attributes:
            continue  # the vertical axis title stands apart, left of every tick label
        width = len(text) * CHAR_PX
        left = x - width if 'text-anchor="end"' in attributes else x - width / 2 if "middle" in attributes else x
        boxes.append((left, left + width, y - 10, y + 2, text))
    return boxes


def overlaps(boxes: list[tuple[float, float, float, float, str]]) -> list[tuple[str, str]]:
    found = []
    for i, (l1, r1, t1, b1, a) in enumerate(boxes):
        for l2, r2, t2, b2, b in boxes[i + 1 :]:
            if l1 < r2 and l2 < r1 and t1 < b2 and t2 < b1:
                found.append((a, b))
    return found


def test_every_plot_renders_to_a_png(tiny: tuple[list[dict[str, Any]], str], tmp_path: Path) -> None:
    cairosvg = pytest.importorskip("cairosvg")
    rendered = []
    for name, svg in iter_plot_svgs(tiny[1]):
        path = tmp_path / f"{name}.png"
        cairosvg.svg2png(bytestring=svg.encode(), write_to=str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        rendered.append(name)
    assert sorted(set(rendered)) == sorted(PLOTS)


def test_no_two_labels_of_a_plot_overlap(tiny: tuple[list[dict[str, Any]], str]) -> None:
    assert {name: overlaps(text_boxes(svg)) for name, svg in iter_plot_svgs(tiny[1])} == {
        name: [] for name, _ in iter_plot_svgs(tiny[1])
    }


def test_million_tick_labels_are_short_enough_to_clear_the_axis_title() -> None:
    from perpspec.engine.simulation.report_charts import fmt_number

    assert [fmt_number(v) for v in (40_000_000.0, 2_500_000.0, 10_000.0)] == ["40M", "2.5M", "10,000"]


def test_the_time_axis_says_utc_and_the_price_axis_its_unit(tiny: tuple[list[dict[str, Any]], str]) -> None:
    prices = dict(iter_plot_svgs(tiny[1]))["prices"]
    assert ("time (UTC, from 2020-03-12)" in prices, "price (USD)" in prices) == (True, True)


def test_the_report_names_the_versions(tiny: tuple[list[dict[str, Any]], str]) -> None:
    assert f"perpspec {perpspec.__version__}, rulebook version " in tiny[1]


def test_why_names_the_waterfall_rules_with_links_and_the_logged_counts(tiny: tuple[list[dict[str, Any]], str]) -> None:
    records, document = tiny
    why = document.split('<ul data-list="why">')[1].split("</ul>")[0]
    liquidations = sum(1 for r in records if r["table"] == "rule" and r["ruleId"] == "LIQ-023")
    adl = [r for r in records if r["table"] == "rule" and r["ruleId"] == "ADL-020"]
    assert f"{liquidations:,} pools were taken over" in why
    assert f"{len(adl):,} fills closed {sum(abs(r['close_qty']) for r in adl):,} contracts" in why
    assert sorted(set(re.findall(r'data-rule="([A-Z]+-\d+)"', why))) == ["ADL-020", "ADL-031", "INS-005", "INS-011", "LIQ-023"]
    assert re.search(r'href="file://[^"]+/specs/adl\.md#adl-020"', why) is not None


def test_adl_table_haircuts_sum_to_the_logged_haircuts(tiny: tuple[list[dict[str, Any]], str]) -> None:
    records, document = tiny
    table = document.split('data-table="adl-counterparties"')[1].split("</table>")[0]
    shown = sum(int(value) for value in re.findall(r'data-haircut="(-?\d+)"', table))
    assert shown == sum(r["haircut"] for r in records if r["table"] == "execution" and r.get("execType") == "Deleverage")


def test_timeline_has_a_row_per_minute_with_a_waterfall_step(tiny: tuple[list[dict[str, Any]], str]) -> None:
    records, document = tiny
    explained = {"INS-008", "FND-008", "LIQ-023", "INS-011", "INS-005", "ADL-031", "ADL-020", "ADL-021", "LIQ-021"}
    minutes = {r["timestamp"][:16] for r in records if r["table"] == "rule" and r["ruleId"] in explained}
    table = document.split('data-table="timeline"')[1].split("</table>")[0]
    assert table.count("data-minute=") == len(minutes)


def test_compare_mode_adl_plot_counts_fills_per_run() -> None:
    def run(name: str, fills: int) -> Any:
        rows = [{"table": "instrument", "timestamp": "2020-03-12T00:00:00.000Z", "symbol": "XBTUSD",
                 "indicativeSettlePrice": 8000, "markPrice": 8000, "lastPrice": None, "openInterest": 0}]
        rows += [{"table": "execution", "execType": "Deleverage", "timestamp": "2020-03-12T00:01:00.000Z",
                  "account": account, "side": "Buy", "lastQty": 600 // fills, "lastPx": 7900, "haircut": 1}
                 for account in range(fills)]
        return analyse(name, rows, json.loads("{}"))

    adl = dict(iter_plot_svgs(render([run("adl.policy=queue", 2), run("adl.policy=pro-rata", 6)])))["adl"]
    assert ("queue: 2 fills, 2 accounts" in adl, "pro-rata: 6 fills, 6 accounts" in adl) == (True, True)
