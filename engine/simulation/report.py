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

import html
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import perpspec
from perpspec.engine.simulation.explain import (
    Step,
    explain_why,
    format_money,
    get_rulebook_dir,
    read_steps,
    timeline_table,
    utc_time,
)

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
PLOTS = ("prices", "open-interest", "liquidations", "insurance", "adl", "equity")
TABLES = ("summary", "largest-losses", "adl-counterparties", "timeline")
LARGEST_LOSSES = 25


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


# ---------------------------------------------------------------------------
# Formatting


def coins(amount: int, coin: int, places: int = 4) -> str:
    """Minor units as coins with ``places`` decimals (exact rounding half away from zero for display)."""
    sign = "-" if amount < 0 else ""
    magnitude = abs(amount)
    step = coin // 10**places if coin >= 10**places else 1
    rounded = (magnitude + step // 2) // step
    digits = min(places, len(str(coin)) - 1)
    whole, frac = divmod(rounded, 10**digits)
    return f"{sign}{whole:,}.{frac:0{digits}d}" if digits else f"{sign}{whole:,}"


def coin_name(currency: str) -> str:
    """The whole-coin name of a minor unit: XBt -> XBT, USDt -> USDT."""
    return currency[:-1] + currency[-1].upper() if currency.endswith("t") else currency


def clock(ms: int, start_ms: int) -> str:
    """``HH:MM`` since the start of the run."""
    minutes = (ms - start_ms) // 60_000
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def esc(value: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(value))


# ---------------------------------------------------------------------------
# SVG plots


WIDTH, HEIGHT = 940, 290
LEFT, RIGHT, TOP, BOTTOM = 84, 230, 30, 44
CHAR_PX = 6.6  # about the width of one 11 px character: labels closer than their text are dropped


@dataclass
class Series:
    """One line of a chart."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    color: str
    dash: str = ""
    step: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis ticks covering ``[low, high]``."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = magnitude * factor
        if (high - low) / step <= count:
            break
    first = (low // step) * step
    ticks = []
    value = first
    while value <= high + step * 0.001:
        if value >= low - step * 0.001:
            ticks.append(value)
        value += step
    return ticks or [low, high]


def fmt_number(value: float) -> str:
    """Axis label text: millions as ``40M`` / ``2.5M`` (long labels collide with the axis title), else separated."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.3g}M"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{value:.3g}"


class Frame:
    """The coordinate system of one chart."""

    def __init__(self, x_low: float, x_high: float, y_low: float, y_high: float) -> None:
        if x_high <= x_low:
            x_high = x_low + 1
        if y_high <= y_low:
            pad = abs(y_low) * 0.05 or 1
            y_low, y_high = y_low - pad, y_high + pad
        self.x_low, self.x_high, self.y_low, self.y_high = x_low, x_high, y_low, y_high

    def x(self, value: float) -> float:
        """Pixel x of a data x."""
        return LEFT + (value - self.x_low) / (self.x_high - self.x_low) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        """Pixel y of a data y."""
        return HEIGHT - BOTTOM - (value - self.y_low) / (self.y_high - self.y_low) * (HEIGHT - TOP - BOTTOM)


def axes(frame: Frame, title: str, y_label: str, x_labels: Sequence[tuple[float, str]]) -> list[str]:
    """Axis lines, grid, tick labels and title."""
    parts = [
        f'<text x="{LEFT}" y="18" class="title">{esc(title)}</text>',
        f'<text x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f}" class="axis" '
        f'transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f})" text-anchor="middle">{esc(y_label)}</text>',
    ]
    for tick in nice_ticks(frame.y_low, frame.y_high):
        y = frame.y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{fmt_number(tick)}</text>')
    right_edge = -math.inf
    for x_value, text in x_labels:
        x = frame.x(x_value)
        half = len(text) * CHAR_PX / 2
        if x - half < right_edge + 4:
            continue  # would overlap the previous label
        right_edge = x + half
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}" class="tick"/>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="axis" text-anchor="middle">{esc(text)}</text>')
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" class="frame"/>'
    )
    return parts


def time_labels(start_ms: int, end_ms: int) -> list[tuple[float, str]]:
    """About six ``HH:MM`` (UTC) labels along a time axis, on whole quarter hours of the clock."""
    span = max(end_ms - start_ms, 60_000)
    step = 15 * 60_000
    while span // step > 8:
        step *= 2
    first = -(-start_ms // step) * step
    return [(float(t), utc_time(t)) for t in range(first, end_ms + 1, step)]


def time_caption(start_ms: int) -> str:
    """The time axis' caption: the zone and the date."""
    day = datetime.fromtimestamp(start_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
    return (
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.0f}" y="{HEIGHT - 4}" class="axis" text-anchor="middle">'
        f"time (UTC, from {day})</text>"
    )


LEGEND_CHARS = int((RIGHT - 48) / CHAR_PX)  # characters that fit beside a key


def wrap(label: str, width: int = LEGEND_CHARS) -> list[str]:
    """A legend label in lines of at most ``width`` characters (words kept whole)."""
    lines = [""]
    for word in label.split():
        candidate = f"{lines[-1]} {word}".strip()
        if len(candidate) > width and lines[-1]:
            lines.append(word)
        else:
            lines[-1] = candidate
    return lines


def legend(items: Sequence[tuple[str, str, str]]) -> list[str]:
    """Colour keys at the right of a chart: (label, colour, dash); long labels wrap onto more lines."""
    parts = []
    y = TOP + 12
    x = WIDTH - RIGHT + 12
    for label, color, dash in items:
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{x}" x2="{x + 22}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2.5"{dash_attr}/>')
        for line in wrap(label):
            parts.append(f'<text x="{x + 28}" y="{y + 4}" class="legend">{esc(line)}</text>')
            y += 14
        y += 4
    return parts


def svg(plot: str, parts: Iterable[str]) -> str:
    """Wrap chart parts in an ``<svg>`` element tagged with its plot name."""
    body = "\n".join(parts)
    return (
        f'<svg data-plot="{plot}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img">\n{body}\n</svg>'
    )


def line_chart(
    plot: str, title: str, y_label: str, series: Sequence[Series], start_ms: int, end_ms: int, y_zero: bool = False
) -> str:
    """A time-series chart with one polyline per series."""
    values = [y for s in series for y in s.ys if y is not None]
    low = min(values, default=0.0)
    high = max(values, default=1.0)
    if y_zero:
        low = min(low, 0.0)
    pad = (high - low) * 0.04
    frame = Frame(float(start_ms), float(end_ms), low - pad if not y_zero else low, high + pad)
    parts = axes(frame, title, y_label, time_labels(start_ms, end_ms))
    parts.append(time_caption(start_ms))
    for s in series:
        parts.append(polyline(frame, s))
    parts.extend(legend([(s.label, s.color, s.dash) for s in series]))
    if not values:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="empty" text-anchor="middle">no data</text>')
    return svg(plot, parts)


def polyline(frame: Frame, series: Series) -> str:
    """One series as SVG polylines (gaps where a value is missing)."""
    segments: list[list[str]] = [[]]
    previous_y: float | None = None
    for x_value, y_value in zip(series.xs, series.ys, strict=True):
        if y_value is None:
            if segments[-1]:
                segments.append([])
            previous_y = None
            continue
        x, y = frame.x(x_value), frame.y(y_value)
        if series.step and previous_y is not None:
            segments[-1].append(f"{x:.1f},{previous_y:.1f}")
        segments[-1].append(f"{x:.1f},{y:.1f}")
        previous_y = y
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    return "\n".join(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{series.color}" stroke-width="1.6"{dash}>'
        f"<title>{esc(series.label)}</title></polyline>"
        for points in segments
        if points
    )


def bar_chart(
    plot: str,
    title: str,
    y_label: str,
    edges: Sequence[int],
    groups: Sequence[tuple[str, Sequence[Sequence[int]], Sequence[str]]],
    stack_labels: Sequence[str],
    start_ms: int,
    end_ms: int,
    unit: str = "",
) -> str:
    """Bars per time bucket; one group per run, each bar stacked (e.g. full + partial)."""
    totals = [sum(stack) for _, buckets, _ in groups for stack in buckets]
    frame = Frame(float(start_ms), float(end_ms), 0.0, float(max(totals, default=0) or 1) * 1.08)
    parts = axes(frame, title, y_label, time_labels(start_ms, end_ms))
    parts.append(time_caption(start_ms))
    width_each = (frame.x(edges[1]) - frame.x(edges[0])) / max(len(groups), 1) if len(edges) > 1 else 4
    for g, (run_name, buckets, colors) in enumerate(groups):
        for b, stack in enumerate(buckets):
            base = 0
            for k, value in enumerate(stack):
                if value == 0:
                    continue
                what = " ".join(part for part in (run_name if len(groups) > 1 else "", stack_labels[k]) if part)
                until = edges[b + 1] if b + 1 < len(edges) else end_ms
                tip = f"{what}: {value:,} {unit}".rstrip() + f", {utc_time(edges[b])}–{utc_time(until)} UTC"
                x = frame.x(edges[b]) + g * width_each
                y_top, y_base = frame.y(base + value), frame.y(base)
                parts.append(
                    f'<rect x="{x + 0.5:.1f}" y="{y_top:.1f}" width="{max(width_each - 1, 0.8):.1f}" '
                    f'height="{y_base - y_top:.1f}" fill="{colors[k]}"><title>{esc(tip)}</title></rect>'
                )
                base += value
    keys = [
        (f"{run} ({label})" if len(groups) > 1 else label, colors[k], "")
        for run, buckets, colors in groups
        for k, label in enumerate(stack_labels)
        if any(stack[k] for stack in buckets) or not any(totals)
    ]
    parts.extend(legend(keys))
    if not any(totals):
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="empty" text-anchor="middle">none</text>')
    return svg(plot, parts)


def histogram(plot: str, title: str, groups: Sequence[tuple[str, Sequence[float], str]], x_label: str) -> str:
    """Overlaid histograms of several samples (same bins), as step outlines with light fill."""
    values = [v for _, sample, _ in groups for v in sample]
    low, high = min(values, default=0.0), max(values, default=1.0)
    if high <= low:
        high = low + 1
    bins = 30
    width = (high - low) / bins
    counts = []
    for _, sample, _ in groups:
        row = [0] * bins
        for v in sample:
            row[min(int((v - low) / width), bins - 1)] += 1
        counts.append(row)
    frame = Frame(low, high, 0.0, float(max((max(row) for row in counts), default=1)) * 1.08)
    labels = [(tick, fmt_number(tick)) for tick in nice_ticks(low, high, 6)]
    parts = axes(frame, title, "accounts", labels)
    parts.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.0f}" y="{HEIGHT - 2}" class="axis" text-anchor="middle">{esc(x_label)}</text>'
    )
    for (_, _, color), row in zip(groups, counts, strict=True):
        for i, count in enumerate(row):
            if count == 0:
                continue
            x0, x1 = frame.x(low + i * width), frame.x(low + (i + 1) * width)
            y = frame.y(count)
            parts.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 0.5, 0.5):.1f}" height="{frame.y(0) - y:.1f}" '
                f'fill="{color}" fill-opacity="0.45" stroke="{color}"><title>{count:,} accounts</title></rect>'
            )
    parts.extend(legend([(label, color, "") for label, _, color in groups]))
    return svg(plot, parts)


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
