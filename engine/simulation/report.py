"""The HTML report of a simulation: one self-contained file, inline SVG, opens offline.

The report is built **from the event log** (the JSON Lines file the run
wrote), never from the engine's memory, so what it shows is what the log
says.  :func:`analyse` reads the records into a :class:`RunData`;
:func:`render` draws one or several runs (compare mode: side by side) as
HTML with plots drawn here as SVG — no JavaScript, no stylesheet or font
from the network, nothing to install.

Plots (``data-plot`` attribute): ``prices`` (index / mark / last),
``open-interest``, ``liquidations`` (per time bucket, full and partial),
``insurance`` (fund balance), ``adl`` (ADL fills), ``equity`` (distribution of
account equity before the stress and at the end).  Tables (``data-table``):
``summary``, ``largest-losses``, ``adl-counterparties`` (with each counterparty's
haircut), ``timeline`` (per minute: liquidations, fund surpluses and draws, ADL,
each column linked to its rule's page).  A "Why" section tells the waterfall's
story from the log's rule rows (:mod:`perpspec.engine.simulation.explain`).
Times are UTC; prices carry their quote currency; money is exact.  The numbers shown
are also embedded as JSON (``<script type="application/json"
id="perpspec-data">``) so a test can check them against the log.

Records the report understands (field names are BitMEX's where one exists):

* ``table=instrument``: ``timestamp``, ``markPrice``, ``lastPrice``,
  ``indicativeSettlePrice`` (the index), ``openInterest``, ``fundingRate``;
* ``table=execution``: ``execType`` (``Trade``, ``Deleverage``…), ``account``,
  ``side``, ``lastQty``, ``lastPx``, ``lastLiquidityInd`` (one ``AddedLiquidity``
  row per match); Deleverage rows also carry ``adlRankingScore`` and
  ``liquidatedAccount``;
* ``table=transaction``: ``transactType`` (``Funding`` payments are counted);
* ``table=liquidation``: ``account``, ``side``, ``leavesQty``, ``price``
  (bankruptcy price), ``liquidationType`` (``full`` / ``partial``);
* ``table=insurance``: ``timestamp``, ``currency``, ``walletBalance``;
* ``table=rule``: the waterfall's explainable steps (``ruleId``, ``kind`` and the rule's fields);
* ``table=margin``: ``phase`` (``before`` / ``after``), ``account``,
  ``marginBalance``, ``walletBalance``, ``currentQty``, ``crossMargin``,
  ``leverage``, ``role``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import perpspec
from perpspec.engine.simulation.explain import (
    explain_why,
    format_money,
    get_rulebook_dir,
    timeline_table,
    utc_time,
)
from perpspec.engine.simulation.report_charts import coin_name, coins, esc
from perpspec.engine.simulation.report_data import AdlRow, RunData
from perpspec.engine.simulation.report_plots import (
    bucket_edges,
    bucket_index,
    get_quote_currency,
    plot_adl,
    plot_equity,
    plot_insurance,
    plot_liquidations,
    plot_open_interest,
    plot_prices,
    published_points,
    published_table,
)

PLOTS = ("prices", "open-interest", "liquidations", "insurance", "adl", "equity")
TABLES = ("summary", "largest-losses", "adl-counterparties", "timeline")
LARGEST_LOSSES = 25


# ---------------------------------------------------------------------------
# Tables


SUMMARY_ROWS = (
    ("scenario", "scenario"),
    ("seed", "seed"),
    ("adl_policy", "ADL policy"),
    ("accounts", "accounts (traders + market makers)"),
    ("events", "events"),
    ("trades", "trades"),
    ("liquidations", "liquidations"),
    ("liquidations_full", "  full"),
    ("liquidations_partial", "  partial"),
    ("insurance_start", "insurance fund start"),
    ("insurance_min", "insurance fund min"),
    ("insurance_end", "insurance fund end"),
    ("adl_fills", "ADL fills"),
    ("adl_contracts", "ADL contracts"),
    ("funding_payments", "funding payments"),
    ("invariant_checks", "invariant checks"),
    ("invariant_violations", "invariant violations"),
    ("conservation_gap", "final conservation gap (minor units)"),
    ("journal_sha256", "journal SHA-256"),
    ("wall_seconds", "wall time (s)"),
    ("events_per_second", "events / s"),
)
MONEY_KEYS = {"insurance_start", "insurance_min", "insurance_end"}


def summary_table(runs: Sequence[RunData]) -> str:
    """The summary, one column per run."""
    header = "".join(f"<th>{esc(run.name)}</th>" for run in runs)
    rows = []
    for key, label in SUMMARY_ROWS:
        cells = []
        for run in runs:
            value = run.summary.get(key, run.counts().get(key, ""))
            text: object = value
            if key in MONEY_KEYS and isinstance(value, int):
                text = format_money(value, run.coin, run.currency)
            elif isinstance(value, int) and not isinstance(value, bool) and key != "seed":
                text = f"{value:,}"
            elif key == "journal_sha256" and isinstance(value, str):
                text = value[:16] + "…"
            cells.append(f'<td data-key="{key}" data-value="{esc(value)}">{esc(text)}</td>')
        rows.append(f"<tr><th>{esc(label)}</th>{''.join(cells)}</tr>")
    return f'<table data-table="summary"><tr><th></th>{header}</tr>{"".join(rows)}</table>'


def losses_table(run: RunData) -> str:
    """The largest equity losses between the two snapshots."""
    worst = sorted(run.accounts, key=lambda row: (-row.loss, row.account))[:LARGEST_LOSSES]
    unit = coin_name(run.currency)
    rows = [
        f'<tr data-account="{row.account}"><td>{row.account}</td><td>{esc(row.role)}</td>'
        f"<td>{'cross' if row.cross else 'isolated'}</td><td>{esc(row.leverage)}</td>"
        f"<td>{row.qty_before:,}</td><td>{coins(row.before, run.coin)}</td><td>{coins(row.after, run.coin)}</td>"
        f'<td data-loss="{row.loss}">{coins(row.loss, run.coin)}</td></tr>'
        for row in worst
    ]
    head = (
        "<tr><th>account</th><th>role</th><th>margin</th><th>leverage</th><th>currentQty before</th>"
        f"<th>equity before ({unit})</th><th>equity after ({unit})</th><th>loss ({unit})</th></tr>"
    )
    return f'<table data-table="largest-losses" data-run="{esc(run.name)}">{head}{"".join(rows)}</table>'


def adl_table(run: RunData) -> str:
    """Every ADL counterparty (one row each, in the order the ranking first reached it) with its ranking score."""
    by_account: dict[int, list[AdlRow]] = {}
    for row in run.adl:
        by_account.setdefault(row.account, []).append(row)
    rows = []
    for account, fills in by_account.items():
        first = fills[0]
        liquidated = sorted({str(f.liquidated) for f in fills if f.liquidated is not None}, key=int)
        shown = ", ".join(liquidated[:5]) + (f" … ({len(liquidated)})" if len(liquidated) > 5 else "")
        contracts = sum(f.qty for f in fills)
        haircut = sum(f.haircut for f in fills)
        rows.append(
            f'<tr data-account="{account}" data-contracts="{contracts}" data-haircut="{haircut}">'
            f"<td>{utc_time(first.time_ms)}</td>"
            f"<td>{account}</td><td>{esc(first.side)}</td><td>{len(fills):,}</td><td>{contracts:,}</td>"
            f"<td>{first.price:,.2f}</td><td>{esc(first.score)}</td>"
            f"<td>{esc(format_money(haircut, run.coin, run.currency))}</td><td>{esc(shown)}</td></tr>"
        )
    quote = get_quote_currency(run.symbol)
    head = (
        "<tr><th>first fill (UTC)</th><th>account</th><th>side</th><th>fills</th><th>contracts</th>"
        f"<th>lastPx (bankruptcy, {esc(quote)}), first fill</th><th>ranking score, first fill</th>"
        "<th>haircut against the mark (positive: closed worse than the mark)</th><th>liquidated accounts</th></tr>"
    )
    empty = '<tr><td colspan="9">no ADL in this run</td></tr>' if not rows else ""
    return f'<table data-table="adl-counterparties" data-run="{esc(run.name)}">{head}{"".join(rows)}{empty}</table>'


# ---------------------------------------------------------------------------
# The page


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f6f6f6}
tr th:first-child{text-align:left}
svg{display:block;margin:8px 0;background:#fff}
.title{font-size:14px;font-weight:600}.axis{font-size:11px;fill:#444}.legend{font-size:11px}
.grid{stroke:#eee}.frame{fill:none;stroke:#999}.tick{stroke:#999}.empty{fill:#999;font-size:14px}
.note{color:#555;font-size:13px}.runs{display:flex;flex-wrap:wrap;gap:24px}
details{margin:8px 0}
"""


def key_moments(run: RunData) -> list[str]:
    """What happened, in a few sentences computed from the log (the screenshot-free description)."""

    def money(amount: int) -> str:
        return format_money(amount, run.coin, run.currency)

    lines = []
    if run.times:
        low = min(range(len(run.index)), key=lambda i: run.index[i])
        start, end = run.index[0], run.index[-1]
        lines.append(
            f"Index {start:,.1f} at the start, low {run.index[low]:,.1f} at {utc_time(run.times[low])} UTC "
            f"({(run.index[low] / start - 1) * 100:+.1f}%), {end:,.1f} at the end ({(end / start - 1) * 100:+.1f}%)."
        )
        lasts = [(price, i) for i, price in enumerate(run.last) if price is not None]
        if lasts:
            price, i = min(lasts)
            lines.append(f"Lowest last price {price:,.1f} at {utc_time(run.times[i])} UTC (mark then {run.mark[i]:,.2f}).")
        peak = max(range(len(run.open_interest)), key=lambda i: run.open_interest[i])
        lines.append(
            f"Open interest peaked at {run.open_interest[peak]:,} contracts at {utc_time(run.times[peak])} UTC "
            f"and ended at {run.open_interest[-1]:,}."
        )
    counts = run.counts()
    if run.liquidations:
        edges = bucket_edges(run.start_ms, run.end_ms)
        per_bucket = [0] * (len(edges) - 1)
        for row in run.liquidations:
            per_bucket[bucket_index(edges, row.time_ms)] += 1
        busiest = max(range(len(per_bucket)), key=lambda i: per_bucket[i])
        lines.append(
            f"{counts['liquidations']:,} liquidations ({counts['liquidations_full']:,} full, "
            f"{counts['liquidations_partial']:,} partial) of {len({row.account for row in run.liquidations}):,} accounts; "
            f"the busiest {(edges[1] - edges[0]) // 60_000}-minute interval began at "
            f"{utc_time(edges[busiest])} UTC with {per_bucket[busiest]:,}."
        )
    else:
        lines.append("No liquidation.")
    if run.insurance:
        top = max(run.insurance, key=lambda row: row[1])
        bottom = min(run.insurance, key=lambda row: row[1])
        lines.append(
            f"Insurance fund {money(run.insurance[0][1])} at the start, peak "
            f"{money(top[1])} at {utc_time(top[0])} UTC, minimum "
            f"{money(bottom[1])} at {utc_time(bottom[0])} UTC, "
            f"{money(run.insurance[-1][1])} at the end."
        )
    if run.adl:
        lines.append(
            f"ADL: {counts['adl_fills']:,} fills, {counts['adl_contracts']:,} contracts against "
            f"{len({row.account for row in run.adl}):,} accounts, between {utc_time(run.adl[0].time_ms)} UTC "
            f"and {utc_time(run.adl[-1].time_ms)} UTC."
        )
    else:
        lines.append("No ADL: the insurance fund and the book covered every liquidation.")
    return lines


def parameters_table(runs: Sequence[RunData]) -> str:
    """The scenario parameters of each run (from summary.json), one column per run."""
    names: list[str] = []
    for run in runs:
        for name in run.summary.get("parameters", {}):
            if name not in names:
                names.append(name)
    header = "".join(f"<th>{esc(run.name)}</th>" for run in runs)
    rows = "".join(
        f"<tr><th>{esc(name)}</th>"
        + "".join(f"<td>{esc(run.summary.get('parameters', {}).get(name, ''))}</td>" for run in runs)
        + "</tr>"
        for name in names
    )
    return f'<table data-table="parameters"><tr><th></th>{header}</tr>{rows}</table>'


def render(runs: Sequence[RunData], title: str = "perpspec simulate") -> str:
    """The whole report as one HTML document (no external resource)."""
    compare = len(runs) > 1
    sections = [f"<h1>{esc(title)}</h1>", f'<p class="note" data-versions="1">{esc(versions_line())}</p>']
    for run in runs:
        description = run.summary.get("description", "")
        if description:
            sections.append(f'<p class="note"><b>{esc(run.name)}</b>: {esc(description)}</p>')
    sections.append("<h2>What happened</h2>")
    for run in runs:
        prefix = f"<h3>{esc(run.name)}</h3>" if compare else ""
        items = "".join(f"<li>{esc(line)}</li>" for line in key_moments(run))
        sections.append(f'{prefix}<ul data-list="key-moments">{items}</ul>')
    sections.append(
        "<h2>Why</h2><p class='note'>The liquidation waterfall's story, from the log's rule rows; each rule id "
        "links to its page in the generated rulebook.</p>"
    )
    for run in runs:
        prefix = f"<h3>{esc(run.name)}</h3>" if compare else ""
        items = "".join(f"<li>{line}</li>" for line in explain_why(run.steps, run.coin, run.currency))
        sections.append(f'{prefix}<ul data-list="why">{items}</ul>')
    sections.append("<h2>Summary</h2>" + summary_table(runs))
    sections.append("<details><summary>Scenario parameters</summary>" + parameters_table(runs) + "</details>")
    sections.append("<h2>Prices</h2>" + plot_prices(runs))
    sections.append("<h2>Open interest</h2>" + plot_open_interest(runs))
    sections.append("<h2>Liquidations</h2>" + plot_liquidations(runs))
    sections.append("<h2>Insurance fund</h2>" + plot_insurance(runs))
    if runs and published_points(runs[0]):
        sections.append(
            "<p class='note'>The dashed line joins the figures the scenario is calibrated against "
            "(its <code>[published]</code> table), beside the simulated fund.</p>" + published_table(runs[0])
        )
    sections.append("<h2>Auto-deleveraging</h2>" + plot_adl(runs))
    sections.append("<h2>Equity distribution</h2>" + "".join(plot_equity(run) for run in runs))
    sections.append(
        f"<h2>Largest losses</h2><p class='note'>Equity (margin balance at mark) when the stress starts vs at the end; "
        f"top {LARGEST_LOSSES} per run.</p>"
    )
    sections.append('<div class="runs">' + "".join(_titled(run, losses_table(run), compare) for run in runs) + "</div>")
    sections.append(
        "<h2>ADL counterparties</h2><p class='note'>Every position closed by auto-deleveraging, at the bankrupt "
        "order's price, in the order the ranking chose it. One account's whole story, liquidation and ADL included: "
        "<code>perpspec explain RUN_FOLDER --account N</code>.</p>"
    )
    sections.append("".join(_titled(run, adl_table(run), compare) for run in runs))
    sections.append(
        "<h2>Timeline</h2><p class='note'>Every minute in which the waterfall acted: liquidations, what the fund "
        "received and paid, close-outs deferred to ADL, ADL fills.</p>"
    )
    sections.append(
        "".join(
            f"<details{' open' if not compare else ''}><summary>{esc(run.name)}</summary>"
            f"{timeline_table(run.steps, run.coin, run.currency, run.name)}</details>"
            for run in runs
        )
    )
    data = {run.name: {"counts": run.counts(), "summary": run.summary} for run in runs}
    payload = json.dumps(data, sort_keys=True).replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(sections)
        + f'\n<script type="application/json" id="perpspec-data">{payload}</script>\n</body></html>\n'
    )


def versions_line() -> str:
    """perpspec's version and the rulebook's (``specs/RULEBOOK_VERSION``)."""
    path = get_rulebook_dir() / "RULEBOOK_VERSION"
    rulebook = path.read_text().strip() if path.exists() else "unknown"
    return f"perpspec {perpspec.__version__}, rulebook version {rulebook}"


def _titled(run: RunData, table: str, compare: bool) -> str:
    return f"<div><h3>{esc(run.name)}</h3>{table}</div>" if compare else f"<div>{table}</div>"


def write_report(path: Path, runs: Sequence[RunData], title: str = "perpspec simulate") -> Path:
    """Write the report; returns its path."""
    path.write_text(render(runs, title))
    return path


def iter_plots(document: str) -> Iterator[str]:
    """Names of the plots present in a rendered report (for tests and checks)."""
    marker = 'data-plot="'
    position = document.find(marker)
    while position >= 0:
        end = document.find('"', position + len(marker))
        yield document[position + len(marker) : end]
        position = document.find(marker, end)


def iter_plot_svgs(document: str) -> Iterator[tuple[str, str]]:
    """(plot name, a standalone SVG: the page's style inlined, white background) for every plot of a report."""
    start = document.find("<svg ")
    while start >= 0:
        end = document.find("</svg>", start) + len("</svg>")
        element = document[start:end]
        name = element.split('data-plot="', 1)[1].split('"', 1)[0]
        opening = element.index(">") + 1
        inlined = f'<style>{STYLE}</style><rect width="100%" height="100%" fill="white"/>'
        yield name, element[:opening] + inlined + element[opening:]
        start = document.find("<svg ", end)
