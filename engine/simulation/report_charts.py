"""Drawing for the report: number formatting and SVG charts (line, stacked bars, histograms), no dependency."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from perpspec.engine.simulation.explain import (
    utc_time,
)

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
