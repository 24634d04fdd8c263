"""Stress scenarios: the TOML schema, its validation, and the deterministic generators.

A scenario says *what happens to the market* — an index price path, a
population of leveraged accounts, market makers quoting a book of some
depth, funding intervals, the ADL policy and any instrument parameter
override; optionally venue outages (``[outage] windows``: no trading and no
mark update; ``requote_on_reopen``: the makers quote a fresh book before the
first mark after one; ``reopen_catch_up`` / ``reopen_gap``: that book starts
part of the way from where the makers stood to where the index went and walks
to it), makers that requote before each mark update and thin their depth in
fast moves (``market_makers.quote_first``, ``stress_level_qty``), a second entry window for part of the population
(``accounts.late_share`` / ``late_entry``) and the published figures a
calibrated scenario is judged against (``[published] insurance``, drawn
beside the simulated fund in the report) — and ``perpspec simulate`` turns it into engine commands
(:mod:`engine.simulation.simulate`).  Everything here is integer and deterministic:

* prices are in the instrument's price units, money in the settlement
  currency's minor unit, fractions in parts per million, time in ms;
* the "random" parts (noise on the price path, who is long, with what
  leverage) come from :class:`engine.simulation.splitmix.SplitMix64`, a seeded
  integer generator of the scenario generator's own.  Same scenario + same seed = same
  numbers on every machine and every Python.  The exchange itself never
  sees randomness, only the commands built from these numbers.

Every problem in a scenario file is a :class:`ScenarioError` naming the
field (``default_crash.toml: accounts.count: must be at least 1``).
Scenario fields can be overridden from the command line with
``--set section.field=value`` (e.g. ``--set adl.policy=pro-rata``,
``--set instrument.maintMargin=0.01``).
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from perpspec.engine.core.state_check import check_engine_instruments
from perpspec.engine.simulation.splitmix import SplitMix64
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import InstrumentError, load_instrument
from perpspec.rules.num import PPM
from perpspec.rules.parse import (
    ParseError,
    format_scaled,
    loads_toml,
    parse_duration_ms,
    parse_int,
    parse_ppm,
    parse_scaled,
    read_input_file,
)

DEFAULT_SCENARIO = "default_crash"
ADL_POLICIES = ("queue", "pro-rata")
# minor units per whole coin of a settlement currency (XBt = 1e-8 XBT, USDt = 1e-6 USDT)
CURRENCY_SCALE = {"XBt": 100_000_000, "USDt": 1_000_000}
MAX_ACCOUNTS = 1_000_000
MAX_STEPS = 1_000_000


class ScenarioError(ValueError):
    """A scenario file or override that is malformed or inconsistent; names the field."""

    def __init__(self, source: str, field: str, message: str) -> None:
        super().__init__(f"{source}: {field}: {message}")
        self.source = source
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------
# The schema


@attrs.frozen(kw_only=True)
class PricePoint:
    """One key point of the index path: at ``at_ms`` from the start, the index is ``price``."""

    at_ms: int
    price: int  # price units


@attrs.frozen(kw_only=True)
class IndexPath:
    """The index: key points linearly interpolated per step, plus mean-reverting noise."""

    points: tuple[PricePoint, ...]
    noise_ppm: int  # standard deviation of the per-step shock, ppm of price
    reversion_ppm: int  # share of the accumulated deviation removed each step
    source: str  # "points" or the CSV file it was read from


@attrs.frozen(kw_only=True)
class Population:
    """The leveraged accounts whose positions the scenario stresses."""

    count: int
    deposit_min: int  # settlement minor units
    deposit_max: int
    log_uniform: bool  # deposits log-uniform (many small accounts, a tail of whales) instead of uniform
    long_share_ppm: int
    isolated_share_ppm: int
    leverage: tuple[tuple[int, int], ...]  # (leverage, weight); exposure = leverage × deposit
    entry_ms: int  # positions are opened during [0, entry_ms)
    activity_ppm: int  # per step and account after entry: chance of a small trade
    trend_share_ppm: int  # share of later trades that follow the last index move (momentum)
    stop_share_ppm: int  # share of accounts that also place a protective stop-market order
    stop_distance_ppm: int  # how far from entry that stop sits
    resting_share_ppm: int  # share of accounts that enter with a resting limit order instead (dip buyers)
    resting_min_ppm: int  # how far from the index that order rests: uniform in [min, max]
    resting_max_ppm: int
    late_share_ppm: int = (
        0  # share of accounts that enter in a second window instead (traders piling into a crash)
    )
    late_start_ms: int = 0  # that window: [late_start_ms, late_end_ms) from the start
    late_end_ms: int = 0


@attrs.frozen(kw_only=True)
class MarketMakers:
    """Liquidity providers quoting both sides around the index."""

    count: int
    deposit: int  # settlement minor units each
    levels: int  # price levels quoted per side in normal times
    spread_ppm: int  # distance of the first level from the quote centre
    spacing_ppm: int  # distance between levels
    level_qty: int  # contracts per level (rounded to the lot)
    requote_ms: int
    skew_ppm: int  # quote centre shift at the inventory limit (proportional below it)
    max_leverage: int  # inventory limit: |inventory notional| <= max_leverage × deposit
    premium_ppm: int  # quote centre above the index (funding spiral: the perp trades rich)
    stress_move_ppm: int  # an index move this large in one step counts as stress
    stress_levels: int  # levels quoted per side under stress (the thin book)
    stress_spacing_ppm: int
    stress_ms: int  # how long the thin book lasts after a stress move
    stress_level_qty: int = 0  # contracts per level under stress (0: level_qty)
    quote_first: bool = (
        False  # requote around the new index before each mark update (the waterfall meets a fresh book)
    )


@attrs.frozen(kw_only=True)
class Outage:
    """A venue outage ``[start_ms, end_ms)`` from the start: no trading, no quotes and no mark update (so no
    mark-driven liquidation); the index keeps moving and the first mark after it jumps to where the index went."""

    start_ms: int
    end_ms: int


@attrs.frozen(kw_only=True)
class PublishedPoint:
    """A published figure the scenario is calibrated against (shown beside the simulated path in the report)."""

    at_ms: int  # from the start
    series: str  # e.g. "insurance"
    value: int  # settlement minor units (a fund balance), already scaled as the scenario says
    label: str


@attrs.frozen(kw_only=True)
class Scenario:
    """A whole stress scenario, validated, in integer units."""

    name: str
    description: str
    source: str  # file it came from, or "<built-in>"
    instrument: Instrument
    instrument_overrides: tuple[tuple[str, str], ...]
    seed: int
    duration_ms: int
    step_ms: int
    start_ms: int  # logical clock at the start (ms since the epoch)
    index: IndexPath
    accounts: Population
    makers: MarketMakers
    insurance: int  # initial insurance fund, settlement minor units
    adl_policy: str
    invariants_every: int  # 0: after every mark update; N > 0: every N events
    max_liquidations_per_update: int  # 0: the engine's default
    outages: tuple[Outage, ...] = ()
    requote_on_reopen: bool = (
        False  # [outage] the makers quote a fresh book before the first mark after an outage
    )
    reopen_catch_up_ms: int = (
        0  # [outage] after it the makers' quotes walk from where they stood to the index in this time
    )
    reopen_gap_ppm: int = (
        0  # [outage] share of the outage's index move the makers' first quotes after it already follow
    )
    published: tuple[PublishedPoint, ...] = ()

    def in_outage(self, at_ms: int) -> bool:
        """True when ``at_ms`` (from the start) falls in an outage window."""
        return any(window.start_ms <= at_ms < window.end_ms for window in self.outages)

    @property
    def steps(self) -> int:
        """Number of index updates."""
        return self.duration_ms // self.step_ms

    @property
    def currency_scale(self) -> int:
        """Minor units per whole settlement coin."""
        return CURRENCY_SCALE[self.instrument.settl_currency]


# ---------------------------------------------------------------------------
# Loading


def builtin_dir() -> Path:
    """The directory holding the shipped scenarios."""
    return Path(str(resources.files("perpspec.specs").joinpath("scenarios")))


def builtin_names() -> tuple[str, ...]:
    """Names of the shipped simulation scenarios (files with an ``[index]`` table), sorted.

    Every file in ``specs/scenarios/`` is a simulation scenario (the waterfall's
    ``crash_thin_book.toml`` test data lives in ``specs/waterfall/``).
    """
    names = []
    for path in sorted(builtin_dir().glob("*.toml")):
        try:
            if isinstance(read_mapping(path).get("index"), dict):
                names.append(path.stem)
        except ScenarioError:
            continue
    return tuple(names)


def resolve(name_or_path: str | None) -> Path:
    """The scenario file for a path or a shipped name (None: the built-in default)."""
    if name_or_path is None:
        name_or_path = DEFAULT_SCENARIO
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.exists():
            raise ScenarioError(str(candidate), "(file)", "no such file")
        return candidate
    path = builtin_dir().joinpath(f"{name_or_path}.toml")
    if not path.exists():
        raise ScenarioError(
            name_or_path, "(name)", f"unknown scenario (shipped: {', '.join(builtin_names())})"
        )
    return path


def load_instrument_file(symbol_or_path: str, overrides: Mapping[str, object] | None = None) -> Instrument:
    """:func:`load_instrument`, with a file that is not UTF-8 text (binary, Latin-1…) an :class:`InstrumentError`
    naming it rather than a ``UnicodeDecodeError`` from the TOML reader."""
    try:
        return load_instrument(symbol_or_path, overrides)
    except UnicodeDecodeError as error:
        raise InstrumentError(
            symbol_or_path, "(file)", f"not UTF-8 text (byte {error.start}): not an instrument file"
        ) from None


def read_mapping(path: Path) -> dict[str, Any]:
    """Read a scenario file (decimals kept as text, never as binary floats)."""
    try:
        return loads_toml(read_input_file(path).decode("utf-8"), parse_float=str)
    except tomllib.TOMLDecodeError as error:  # NestedTooDeeply too
        raise ScenarioError(path.name, "(file)", f"not valid TOML: {error}") from error
    except UnicodeDecodeError as error:
        raise ScenarioError(
            path.name, "(file)", f"not UTF-8 text (byte {error.start}): not a TOML file"
        ) from None
    except OSError as error:
        raise ScenarioError(str(path), "(file)", f"cannot read: {error.strerror}") from error


def parse_assignment(text: str) -> tuple[str, str]:
    """``"section.field=value"`` -> ``("section.field", "value")``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ScenarioError("--set", text, "expected NAME=VALUE, e.g. adl.policy=pro-rata")
    return name.strip(), value.strip()


def apply_overrides(mapping: dict[str, Any], overrides: Sequence[tuple[str, str]], source: str) -> None:
    """Set dotted fields (``accounts.count``) in a raw mapping; values stay text, parsed later."""
    for dotted, value in overrides:
        parts = dotted.split(".")
        table = mapping
        for part in parts[:-1]:
            inner = table.setdefault(part, {})
            if not isinstance(inner, dict):
                raise ScenarioError(source, dotted, f"{part} is not a table")
            table = inner
        table[parts[-1]] = _coerce(value)


def _coerce(value: str) -> Any:
    """Text from ``--set`` read as a TOML value (``500``, ``"0.01"``, ``["0.01", "0.5"]``), else as plain text."""
    try:
        return loads_toml(f"value = {value}", parse_float=str)["value"]
    except tomllib.TOMLDecodeError:  # NestedTooDeeply too
        return value


def load_scenario(
    name_or_path: str | None = None,
    overrides: Sequence[tuple[str, str]] = (),
    seed: int | None = None,
) -> Scenario:
    """Load, override and validate a scenario; ``seed`` replaces the file's seed."""
    path = resolve(name_or_path)
    mapping = read_mapping(path)
    apply_overrides(mapping, overrides, path.name)
    if seed is not None:
        mapping["seed"] = seed
    return parse_scenario(mapping, path.name, base_dir=path.parent)


_TOP = {
    "name",
    "description",
    "symbol",
    "seed",
    "duration",
    "step",
    "start",
    "invariants_every",
    "max_liquidations_per_update",
    "instrument",
    "index",
    "accounts",
    "market_makers",
    "insurance",
    "adl",
    "outage",
    "published",
}
_INDEX = {"points", "file", "noise", "reversion"}
_ACCOUNTS = {
    "count",
    "deposit",
    "deposit_distribution",
    "long_share",
    "isolated_share",
    "leverage",
    "entry",
    "activity",
    "trend_share",
    "stop_share",
    "stop_distance",
    "resting_share",
    "resting_distance",
    "late_share",
    "late_entry",
}
_MAKERS = {
    "count",
    "deposit",
    "levels",
    "spread",
    "spacing",
    "level_qty",
    "requote",
    "skew",
    "max_leverage",
    "premium",
    "stress_move",
    "stress_levels",
    "stress_spacing",
    "stress_duration",
    "quote_first",
    "stress_level_qty",
}


def parse_scenario(mapping: Mapping[str, Any], source: str, base_dir: Path | None = None) -> Scenario:
    """Validate a raw mapping and build the :class:`Scenario`."""
    try:
        return _build(mapping, source, base_dir or Path("."))
    except ParseError as error:
        raise ScenarioError(source, error.field, error.message) from error
    except InstrumentError as error:
        raise ScenarioError(source, f"instrument.{error.field}", error.message) from error


def _table(mapping: Mapping[str, Any], name: str, allowed: set[str]) -> Mapping[str, Any]:
    value = mapping.get(name, {})
    if not isinstance(value, dict):
        raise ParseError(name, "must be a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ParseError(f"{name}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(allowed))})")
    return value


def _require(table: Mapping[str, Any], section: str, name: str) -> Any:
    if name not in table:
        raise ParseError(f"{section}.{name}", "missing")
    return table[name]


def _check(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ParseError(field, message)


def _fraction(table: Mapping[str, Any], section: str, name: str, default: str) -> int:
    field = f"{section}.{name}"
    value = parse_ppm(table.get(name, default), field)
    _check(0 <= value <= PPM, field, "must be between 0 and 1")
    return value


def _duration(table: Mapping[str, Any], section: str, name: str, default: str) -> int:
    field = f"{section}.{name}" if section else name
    value = parse_duration_ms(table.get(name, default), field)
    _check(value > 0, field, "must be positive")
    return value


def _count(table: Mapping[str, Any], section: str, name: str, default: int, low: int, high: int) -> int:
    field = f"{section}.{name}"
    value = parse_int(table.get(name, default), field)
    _check(low <= value <= high, field, f"must be between {low} and {high}")
    return value


def _build(mapping: Mapping[str, Any], source: str, base_dir: Path) -> Scenario:
    unknown = sorted(set(mapping) - _TOP)
    if unknown:
        raise ParseError(unknown[0], f"unknown field (known: {', '.join(sorted(_TOP))})")
    name = str(mapping.get("name", Path(source).stem))
    symbol = str(mapping.get("symbol", "XBTUSD"))
    raw_overrides = mapping.get("instrument", {})
    if not isinstance(raw_overrides, dict):
        raise ParseError("instrument", "must be a table of BitMEX instrument fields")
    instrument = load_instrument_file(symbol, raw_overrides)
    # what the engine refuses (Engine(instruments=...)) is refused here, typed, before anything runs (review19_4: a
    # liquidationFee override the instrument files accept ended as an internal error inside run_scenario)
    check_engine_instruments({instrument.symbol: instrument})
    if instrument.settl_currency not in CURRENCY_SCALE:
        raise ParseError("symbol", f"settlement currency {instrument.settl_currency} is not supported")
    coin = CURRENCY_SCALE[instrument.settl_currency]
    seed = parse_int(mapping.get("seed", 1), "seed")
    _check(0 <= seed < (1 << 64), "seed", "must be between 0 and 2^64 - 1")
    duration_ms = _duration(mapping, "", "duration", "6h")
    step_ms = _duration(mapping, "", "step", "1m")
    _check(duration_ms % step_ms == 0, "duration", "must be a whole number of steps")
    _check(duration_ms // step_ms <= MAX_STEPS, "step", f"at most {MAX_STEPS} steps per scenario")
    start_ms = parse_int(mapping.get("start", 1_583_971_200_000), "start")  # 2020-03-12T00:00Z
    _check(start_ms >= 0, "start", "must not be negative")
    invariants_every = parse_int(mapping.get("invariants_every", 0), "invariants_every")
    _check(invariants_every >= 0, "invariants_every", "0 (every mark update) or a positive event count")
    max_liq = parse_int(mapping.get("max_liquidations_per_update", 0), "max_liquidations_per_update")
    _check(max_liq >= 0, "max_liquidations_per_update", "must not be negative")

    index = _build_index(mapping, instrument, base_dir)
    accounts = _build_population(_table(mapping, "accounts", _ACCOUNTS), coin, duration_ms)
    makers = _build_makers(_table(mapping, "market_makers", _MAKERS), instrument, coin, step_ms)

    insurance_table = _table(mapping, "insurance", {"balance"})
    insurance = parse_scaled(insurance_table.get("balance", "0"), coin, "insurance.balance")
    _check(insurance >= 0, "insurance.balance", "must not be negative")
    adl_table = _table(mapping, "adl", {"policy"})
    adl_policy = str(adl_table.get("policy", "queue"))
    _check(adl_policy in ADL_POLICIES, "adl.policy", f"must be one of {', '.join(ADL_POLICIES)}")
    outage_table = _table(
        mapping, "outage", {"windows", "requote_on_reopen", "reopen_catch_up", "reopen_gap"}
    )
    outages = _build_outages(outage_table)
    requote_on_reopen = outage_table.get("requote_on_reopen", False)
    _check(isinstance(requote_on_reopen, bool), "outage.requote_on_reopen", "true or false")
    reopen_catch_up_ms = parse_duration_ms(
        outage_table.get("reopen_catch_up", "0s"), "outage.reopen_catch_up"
    )
    _check(reopen_catch_up_ms >= 0, "outage.reopen_catch_up", "must not be negative")
    reopen_gap_ppm = _fraction(outage_table, "outage", "reopen_gap", "0")
    published = _build_published(_table(mapping, "published", {"insurance"}), coin)
    return Scenario(
        name=name,
        description=str(mapping.get("description", "")).strip(),
        source=source,
        instrument=instrument,
        instrument_overrides=tuple(sorted((str(k), str(v)) for k, v in raw_overrides.items())),
        seed=seed,
        duration_ms=duration_ms,
        step_ms=step_ms,
        start_ms=start_ms,
        index=index,
        accounts=accounts,
        makers=makers,
        insurance=insurance,
        adl_policy=adl_policy,
        invariants_every=invariants_every,
        max_liquidations_per_update=max_liq,
        outages=outages,
        requote_on_reopen=requote_on_reopen,
        reopen_catch_up_ms=reopen_catch_up_ms,
        reopen_gap_ppm=reopen_gap_ppm,
        published=published,
    )


def _build_outages(table: Mapping[str, Any]) -> tuple[Outage, ...]:
    """``[outage] windows = [["26:16:00", "26:40:00"], ...]``: from/to times from the start, in order, disjoint.

    A window past the end of the run is allowed (a shortened run simply never reaches it).
    """
    raw = table.get("windows", [])
    _check(isinstance(raw, list), "outage.windows", 'a list of ["from", "to"] pairs')
    windows: list[Outage] = []
    for i, row in enumerate(raw):
        field = f"outage.windows[{i}]"
        _check(isinstance(row, list) and len(row) == 2, field, 'expected ["from", "to"]')
        start, end = parse_duration_ms(row[0], field), parse_duration_ms(row[1], field)
        _check(0 < start < end, field, "need 0 < from < to")
        _check(not windows or windows[-1].end_ms <= start, field, "windows must be in order and disjoint")
        windows.append(Outage(start_ms=start, end_ms=end))
    return tuple(windows)


def _build_published(table: Mapping[str, Any], coin: int) -> tuple[PublishedPoint, ...]:
    """``[published] insurance = [["24:00:00", "338.81", "12 Mar"], ...]``: published fund balances (coins)."""
    raw = table.get("insurance", [])
    _check(isinstance(raw, list), "published.insurance", 'a list of ["time", "balance", "label"]')
    points = []
    for i, row in enumerate(raw):
        field = f"published.insurance[{i}]"
        _check(isinstance(row, list) and len(row) == 3, field, 'expected ["time", "balance", "label"]')
        value = parse_scaled(row[1], coin, field)
        _check(value >= 0, field, "a balance must not be negative")
        points.append(
            PublishedPoint(
                at_ms=parse_duration_ms(row[0], field), series="insurance", value=value, label=str(row[2])
            )
        )
    return tuple(points)


def _build_index(mapping: Mapping[str, Any], inst: Instrument, base_dir: Path) -> IndexPath:
    table = _table(mapping, "index", _INDEX)
    if "file" in table:
        _check("points" not in table, "index.file", "give either points or file, not both")
        path = base_dir.joinpath(str(table["file"]))
        points = read_price_file(path, inst)
        source = path.name
    else:
        raw = _require(table, "index", "points")
        _check(isinstance(raw, list) and len(raw) >= 1, "index.points", "a list of [time, price] pairs")
        points = tuple(_point(row, f"index.points[{i}]", inst) for i, row in enumerate(raw))
        source = "points"
    _check(points[0].at_ms == 0, "index.points[0]", "the first point must be at time 0")
    for i in range(1, len(points)):
        _check(points[i].at_ms > points[i - 1].at_ms, f"index.points[{i}]", "times must increase")
    for i, point in enumerate(points):
        _check(
            inst.tick_size <= point.price <= inst.max_price,
            f"index.points[{i}]",
            "price must be between one tick and maxPrice",
        )
    return IndexPath(
        points=points,
        noise_ppm=_fraction(table, "index", "noise", "0"),
        reversion_ppm=_fraction(table, "index", "reversion", "0.2"),
        source=source,
    )


def _point(row: object, field: str, inst: Instrument) -> PricePoint:
    _check(isinstance(row, list) and len(row) == 2, field, 'expected ["HH:MM:SS", "price"]')
    assert isinstance(row, list)
    return PricePoint(
        at_ms=parse_duration_ms(row[0], f"{field}.time"),
        price=parse_scaled(row[1], inst.price_scale, f"{field}.price"),
    )


def read_price_file(path: Path, inst: Instrument) -> tuple[PricePoint, ...]:
    """Key points from a CSV file of ``time,price`` lines (time: HH:MM:SS, 30m or ms; ``#`` comments)."""
    try:
        text = read_input_file(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParseError(
            "index.file", f"{path} is not UTF-8 text (byte {error.start}): not a CSV file"
        ) from None
    except OSError as error:
        raise ParseError("index.file", f"cannot read {path}: {error.strerror}") from error
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        cleaned = line.split("#", 1)[0].strip()
        if not cleaned or cleaned.lower().startswith("time"):
            continue
        cells = [cell.strip() for cell in cleaned.split(",")]
        field = f"index.file line {number}"
        _check(len(cells) == 2, field, "expected time,price")
        points.append(
            PricePoint(
                at_ms=parse_duration_ms(_maybe_int(cells[0]), field),
                price=parse_scaled(cells[1], inst.price_scale, field),
            )
        )
    _check(len(points) >= 1, "index.file", f"{path.name} has no price lines")
    return tuple(points)


def _maybe_int(text: str) -> object:
    return int(text) if text.isascii() and text.isdigit() else text


def _build_population(table: Mapping[str, Any], coin: int, duration_ms: int) -> Population:
    count = _count(table, "accounts", "count", 200, 1, MAX_ACCOUNTS)
    deposit = table.get("deposit", ["0.1", "2"])
    _check(
        isinstance(deposit, list) and len(deposit) == 2, "accounts.deposit", "expected [min, max] in coins"
    )
    deposit_min = parse_scaled(deposit[0], coin, "accounts.deposit")
    deposit_max = parse_scaled(deposit[1], coin, "accounts.deposit")
    _check(0 < deposit_min <= deposit_max, "accounts.deposit", "need 0 < min <= max")
    distribution = str(table.get("deposit_distribution", "uniform"))
    _check(
        distribution in ("uniform", "log-uniform"), "accounts.deposit_distribution", "uniform or log-uniform"
    )
    raw_leverage = table.get("leverage", [[10, 1]])
    _check(
        isinstance(raw_leverage, list) and len(raw_leverage) > 0,
        "accounts.leverage",
        "[[leverage, weight], ...]",
    )
    leverage = []
    for i, row in enumerate(raw_leverage):
        field = f"accounts.leverage[{i}]"
        _check(isinstance(row, list) and len(row) == 2, field, "expected [leverage, weight]")
        value, weight = parse_int(row[0], field), parse_int(row[1], field)
        _check(1 <= value <= 100 and weight >= 0, field, "leverage 1..100, weight >= 0")
        leverage.append((value, weight))
    _check(sum(w for _, w in leverage) > 0, "accounts.leverage", "weights must not all be zero")
    raw_resting = table.get("resting_distance", ["0.05", "0.3"])
    _check(
        isinstance(raw_resting, list) and len(raw_resting) == 2,
        "accounts.resting_distance",
        "expected [min, max]",
    )
    resting = (
        parse_ppm(raw_resting[0], "accounts.resting_distance"),
        parse_ppm(raw_resting[1], "accounts.resting_distance"),
    )
    _check(0 <= resting[0] <= resting[1] < PPM, "accounts.resting_distance", "need 0 <= min <= max < 1")
    entry_ms = _duration(table, "accounts", "entry", "30m")
    _check(entry_ms < duration_ms, "accounts.entry", "must end before the scenario does")
    late_share_ppm = _fraction(table, "accounts", "late_share", "0")
    raw_late = table.get("late_entry", [0, 0])
    _check(
        isinstance(raw_late, list) and len(raw_late) == 2, "accounts.late_entry", 'expected ["from", "to"]'
    )
    late_start = parse_duration_ms(raw_late[0], "accounts.late_entry")
    late_end = parse_duration_ms(raw_late[1], "accounts.late_entry")
    if late_share_ppm > 0:
        _check(entry_ms <= late_start < late_end, "accounts.late_entry", "need entry <= from < to")
    return Population(
        count=count,
        deposit_min=deposit_min,
        deposit_max=deposit_max,
        log_uniform=distribution == "log-uniform",
        long_share_ppm=_fraction(table, "accounts", "long_share", "0.5"),
        isolated_share_ppm=_fraction(table, "accounts", "isolated_share", "0.5"),
        leverage=tuple(leverage),
        entry_ms=entry_ms,
        activity_ppm=_fraction(table, "accounts", "activity", "0.002"),
        trend_share_ppm=_fraction(table, "accounts", "trend_share", "0.5"),
        stop_share_ppm=_fraction(table, "accounts", "stop_share", "0"),
        stop_distance_ppm=_fraction(table, "accounts", "stop_distance", "0.05"),
        resting_share_ppm=_fraction(table, "accounts", "resting_share", "0"),
        resting_min_ppm=resting[0],
        resting_max_ppm=resting[1],
        late_share_ppm=late_share_ppm,
        late_start_ms=late_start,
        late_end_ms=late_end,
    )


def _build_makers(table: Mapping[str, Any], inst: Instrument, coin: int, step_ms: int) -> MarketMakers:
    count = _count(table, "market_makers", "count", 3, 1, 100)
    deposit = parse_scaled(table.get("deposit", "1000"), coin, "market_makers.deposit")
    _check(deposit > 0, "market_makers.deposit", "must be positive")
    levels = _count(table, "market_makers", "levels", 10, 1, 200)
    level_qty = parse_int(table.get("level_qty", 10 * inst.lot_size), "market_makers.level_qty")
    _check(level_qty >= inst.lot_size, "market_makers.level_qty", f"at least one lot ({inst.lot_size})")
    _check(
        level_qty % inst.lot_size == 0,
        "market_makers.level_qty",
        f"must be a multiple of lotSize {inst.lot_size}",
    )
    requote_ms = parse_duration_ms(
        table.get("requote", step_ms), "market_makers.requote"
    )  # default: every step
    _check(requote_ms > 0, "market_makers.requote", "must be positive")
    _check(requote_ms % step_ms == 0, "market_makers.requote", "must be a whole number of steps")
    return MarketMakers(
        count=count,
        deposit=deposit,
        levels=levels,
        spread_ppm=_fraction(table, "market_makers", "spread", "0.0005"),
        spacing_ppm=_fraction(table, "market_makers", "spacing", "0.0005"),
        level_qty=level_qty,
        requote_ms=requote_ms,
        skew_ppm=_fraction(table, "market_makers", "skew", "0.002"),
        max_leverage=_count(table, "market_makers", "max_leverage", 2, 1, 100),
        premium_ppm=parse_ppm(table.get("premium", "0"), "market_makers.premium"),
        stress_move_ppm=_fraction(table, "market_makers", "stress_move", "1"),
        stress_levels=_count(table, "market_makers", "stress_levels", levels, 1, 200),
        stress_spacing_ppm=_fraction(table, "market_makers", "stress_spacing", "0.0005"),
        stress_ms=_duration(table, "market_makers", "stress_duration", "10m"),
        stress_level_qty=_lots(table, "market_makers", "stress_level_qty", level_qty, inst),
        quote_first=_flag(table, "market_makers", "quote_first"),
    )


def _lots(table: Mapping[str, Any], section: str, name: str, default: int, inst: Instrument) -> int:
    field = f"{section}.{name}"
    value = parse_int(table.get(name, default), field)
    _check(value >= inst.lot_size, field, f"at least one lot ({inst.lot_size})")
    _check(value % inst.lot_size == 0, field, f"must be a multiple of lotSize {inst.lot_size}")
    return value


def _flag(table: Mapping[str, Any], section: str, name: str) -> bool:
    value = table.get(name, False)
    _check(isinstance(value, bool), f"{section}.{name}", "true or false")
    return bool(value)


# ---------------------------------------------------------------------------
# The index path


def interpolate(points: Sequence[PricePoint], at_ms: int) -> int:
    """The key-point path at ``at_ms``: linear between points, flat after the last (price units)."""
    if at_ms >= points[-1].at_ms:
        return points[-1].price
    for left, right in itertools.pairwise(points):
        if left.at_ms <= at_ms < right.at_ms:
            span = right.at_ms - left.at_ms
            # floor: a display-level interpolation between two cited prices, nobody is favoured
            return left.price + (right.price - left.price) * (at_ms - left.at_ms) // span
    return points[0].price


def generate_index_path(scenario: Scenario) -> tuple[int, ...]:
    """The index at every step ``0..steps`` (price units, on the tick), deterministic from the seed.

    index(t) = path(t) × (1 + deviation(t)); the deviation takes a normal shock
    of ``noise`` each step and loses ``reversion`` of itself, so the noise never
    drifts away from the cited key points.
    """
    inst = scenario.instrument
    rng = SplitMix64(scenario.seed).fork(1)
    path = scenario.index
    deviation_ppm = 0
    prices = []
    for step in range(scenario.steps + 1):
        base = interpolate(path.points, step * scenario.step_ms)
        if step > 0 and path.noise_ppm > 0:
            deviation_ppm -= deviation_ppm * path.reversion_ppm // PPM  # floor: noise only
            deviation_ppm += rng.normal_ppm(path.noise_ppm)
            deviation_ppm = max(-PPM // 2, min(PPM // 2, deviation_ppm))
        price = base + base * deviation_ppm // PPM  # floor: noise only
        ticks = max(1, (price + inst.tick_size // 2) // inst.tick_size)  # nearest tick
        prices.append(min(ticks * inst.tick_size, inst.max_price))
    return tuple(prices)


def describe_path(points: Sequence[PricePoint], scale: int) -> str:
    """``"7900 → 4740 → 5530"``: the key points as exact decimal text."""
    return " → ".join(format_scaled(point.price, scale) for point in points)
