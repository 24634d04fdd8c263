"""The report's plots (``data-plot``): prices, open interest, liquidations, insurance fund, ADL, equity."""

from __future__ import annotations

import math
from collections.abc import Sequence

from perpspec.engine.simulation.report_charts import (
    HEIGHT,
    LEFT,
    RIGHT,
    WIDTH,
    Frame,
    Series,
    axes,
    bar_chart,
    clock,
    coin_name,
    coins,
    esc,
    fmt_number,
    legend,
    line_chart,
    svg,
)
from perpspec.engine.simulation.report_data import RunData

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# (dark, light) per run, for stacked bars (full / partial, shorts / longs)
PAIRS = (
    ("#d62728", "#ff9896"),
    ("#1f77b4", "#aec7e8"),
    ("#2ca02c", "#98df8a"),
    ("#9467bd", "#c5b0d5"),
    ("#8c564b", "#c49c94"),
    ("#ff7f0e", "#ffbb78"),
)


# ---------------------------------------------------------------------------
# The plots of a report


def bucket_edges(start_ms: int, end_ms: int, buckets: int = 48) -> list[int]:
    """Bucket boundaries on whole minutes, about ``buckets`` of them."""
    size = max((end_ms - start_ms) // buckets // 60_000, 1) * 60_000
    return list(range(start_ms, max(end_ms, start_ms + 1) + size, size))  # at least one bucket


def bucket_index(edges: Sequence[int], time_ms: int) -> int:
    """The bucket holding ``time_ms``."""
    size = edges[1] - edges[0] if len(edges) > 1 else 1
    return max(0, min((time_ms - edges[0]) // size, len(edges) - 2))


def plot_prices(runs: Sequence[RunData]) -> str:
    """Index, mark and last price (compare mode: index once, mark and last per run)."""
    first = runs[0]
    series = [Series("index", first.times, first.index, "#555555", dash="5 3")]
    names = legend_names(runs)
    for i, run in enumerate(runs):
        suffix = f" ({names[i]})" if len(runs) > 1 else ""
        color = COLORS[(2 * i) % len(COLORS)]
        series.append(Series(f"mark{suffix}", run.times, run.mark, color))
        series.append(Series(f"last{suffix}", run.times, run.last, COLORS[(2 * i + 1) % len(COLORS)], dash="2 2"))
    quote = get_quote_currency(first.symbol)
    return line_chart("prices", f"Index, mark and last price ({quote})", f"price ({quote})", series, *span(runs))


def get_quote_currency(symbol: str) -> str:
    """The quote currency of a shipped instrument (``XBTUSD`` -> ``USD``); ``quote`` if unknown."""
    from perpspec.rules.instrument_file import InstrumentError, load_instrument

    try:
        return load_instrument(symbol).quote_currency if symbol else "quote"
    except InstrumentError:
        return "quote"


def plot_open_interest(runs: Sequence[RunData]) -> str:
    """Open interest (contracts)."""
    names = legend_names(runs)
    series = [
        Series(names[i], run.times, [float(v) for v in run.open_interest], COLORS[i % len(COLORS)])
        for i, run in enumerate(runs)
    ]
    return line_chart("open-interest", "Open interest", "contracts", series, *span(runs), y_zero=True)


def plot_liquidations(runs: Sequence[RunData]) -> str:
    """Liquidations per time bucket, full and partial stacked, one bar per run."""
    start, end = span(runs)
    edges = bucket_edges(start, end)
    groups = []
    for i, run in enumerate(runs):
        buckets = [[0, 0] for _ in range(len(edges) - 1)]
        for row in run.liquidations:
            buckets[bucket_index(edges, row.time_ms)][0 if row.kind == "full" else 1] += 1
        groups.append((legend_names(runs)[i], buckets, PAIRS[i % len(PAIRS)]))
    minutes = (edges[1] - edges[0]) // 60_000 if len(edges) > 1 else 1
    return bar_chart(
        "liquidations", f"Liquidations per {minutes} minutes", "liquidations", edges, groups, ("full", "partial"), start, end,
        "liquidations",
    )


def plot_insurance(runs: Sequence[RunData]) -> str:
    """Insurance fund balance over time (step line)."""
    series = []
    for i, run in enumerate(runs):
        xs = [float(t) for t, _ in run.insurance] + ([float(run.end_ms)] if run.insurance else [])
        ys: list[float | None] = [b / run.coin for _, b in run.insurance]
        ys += ys[-1:]
        series.append(Series(legend_names(runs)[i], xs, ys, COLORS[i % len(COLORS)], step=True))
    for run in runs[:1]:  # a scenario's published figures (e.g. BitMEX's daily fund balance), drawn once
        points = published_points(run)
        if points:
            xs_published = [float(t) for t, _, _ in points]
            ys_published: list[float | None] = [b / run.coin for _, b, _ in points]
            series.append(Series("published", xs_published, ys_published, "#000000", dash="2 3"))
    unit = coin_name(runs[0].currency) if runs else ""
    return line_chart("insurance", "Insurance fund balance", unit, series, *span(runs), y_zero=True)


def published_points(run: RunData) -> list[tuple[int, int, str]]:
    """The scenario's published fund balances from the run's summary: (time ms, minor units, label), in time order."""
    raw = run.summary.get("published") or []
    return sorted((int(row[0]), int(row[1]), str(row[2])) for row in raw)


def published_table(run: RunData) -> str:
    """Each published fund balance beside the simulated balance at that time (the last movement at or before it)."""
    unit = coin_name(run.currency)
    rows = []
    for time_ms, value, label in published_points(run):
        before = [balance for t, balance in run.insurance if t <= time_ms]
        simulated = before[-1] if before else None
        shown = "" if simulated is None else coins(simulated, run.coin)
        rows.append(
            f"<tr><td>{esc(clock(time_ms, run.start_ms))}</td><td>{esc(label)}</td>"
            f"<td>{esc(coins(value, run.coin))}</td><td>{esc(shown)}</td></tr>"
        )
    return (
        f'<table data-table="published"><tr><th>time</th><th>published</th><th>published ({esc(unit)}, '
        f"scaled)</th><th>simulated ({esc(unit)})</th></tr>{''.join(rows)}</table>"
    )


def plot_adl(runs: Sequence[RunData]) -> str:
    """ADL fills per bucket, one bar per run: how many counterparty positions were cut (the policies' real difference).

    Both policies close about the same contracts; they differ in how many fills and accounts
    it takes, so the bars count fills and the legend gives each run's totals.
    """
    start, end = span(runs)
    edges = bucket_edges(start, end)
    groups = []
    for i, run in enumerate(runs):
        buckets = [[0, 0] for _ in range(len(edges) - 1)]
        for row in run.adl:
            buckets[bucket_index(edges, row.time_ms)][0 if row.side == "Buy" else 1] += 1
        accounts = len({row.account for row in run.adl})
        name = f"{legend_names(runs)[i]}: {len(run.adl):,} fills, {accounts:,} accounts"
        groups.append((name, buckets, PAIRS[(i + 2) % len(PAIRS)]))
    minutes = (edges[1] - edges[0]) // 60_000 if len(edges) > 1 else 1
    return bar_chart(
        "adl", f"ADL fills per {minutes} minutes (counterparty positions cut)", "fills", edges, groups,
        ("shorts", "longs"), start, end, "fills",
    )


def log_histogram(plot: str, title: str, groups: Sequence[tuple[str, Sequence[float], str]], x_label: str) -> str:
    """Overlaid histograms on a log-10 axis; values <= 0 (wiped out) get their own bar at the left."""
    positive = [v for _, sample, _ in groups for v in sample if v > 0]
    low = math.floor(math.log10(min(positive))) if positive else -3
    high = math.ceil(math.log10(max(positive))) if positive else 1
    high = max(high, low + 1)
    bins = 30
    width = (high - low) / bins
    counts = []
    for _, sample, _ in groups:
        row = [0] * (bins + 1)  # row[0]: <= 0
        for v in sample:
            row[0 if v <= 0 else 1 + min(int((math.log10(v) - low) / width), bins - 1)] += 1
        counts.append(row)
    zero_width = max(3 * width, (high - low) * 0.1)
    frame = Frame(low - zero_width, float(high), 0.0, float(max((max(row) for row in counts), default=1)) * 1.08)
    labels = [(low - zero_width / 2, "≤ 0")] + [(float(p), fmt_number(10.0**p)) for p in range(low, high + 1)]
    parts = axes(frame, title, "accounts", labels)
    parts.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.0f}" y="{HEIGHT - 2}" class="axis" text-anchor="middle">{esc(x_label)}</text>'
    )
    for (_, _, color), row in zip(groups, counts, strict=True):
        for i, count in enumerate(row):
            if count == 0:
                continue
            x0 = low - zero_width * 0.9 if i == 0 else low + (i - 1) * width
            x1 = low - zero_width * 0.1 if i == 0 else low + i * width
            y = frame.y(count)
            parts.append(
                f'<rect x="{frame.x(x0):.1f}" y="{y:.1f}" width="{max(frame.x(x1) - frame.x(x0) - 0.5, 0.5):.1f}" '
                f'height="{frame.y(0) - y:.1f}" fill="{color}" fill-opacity="0.45" stroke="{color}"><title>{count}</title></rect>'
            )
    parts.extend(legend([(label, color, "") for label, _, color in groups]))
    return svg(plot, parts)


def plot_equity(run: RunData) -> str:
    """Distribution of trader equity before the stress and at the end (market makers excluded)."""
    traders = [row for row in run.accounts if row.role == "trader"]
    before = [row.before / run.coin for row in traders]
    after = [row.after / run.coin for row in traders]
    unit = coin_name(run.currency)
    title = "Trader equity: before the stress and at the end" + (f" ({run.name})" if run.name else "")
    return log_histogram(
        "equity", title, [("before", before, COLORS[0]), ("after", after, COLORS[1])], f"equity ({unit}, log scale)"
    )


def legend_names(runs: Sequence[RunData]) -> list[str]:
    """Run names for legends: without the prefix they all share (``adl.policy=queue`` -> ``queue``)."""
    names = [run.name for run in runs]
    if len(names) < 2:
        return names
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    cut = max(prefix.rfind("=") + 1, prefix.rfind(",") + 1, 0) if prefix else 0
    shortened = [name[cut:] for name in names]
    return shortened if all(shortened) and len(set(shortened)) == len(names) else names


def span(runs: Sequence[RunData]) -> tuple[int, int]:
    """Common time range of several runs."""
    starts = [run.start_ms for run in runs if run.times]
    ends = [run.end_ms for run in runs if run.times]
    return (min(starts, default=0), max(ends, default=1))
