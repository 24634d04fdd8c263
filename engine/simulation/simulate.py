"""The scenario runner: a stress scenario played through the real engine, command by command.

:class:`Simulation` builds the market a :class:`~engine.scenario.Scenario`
describes and drives the engine with **commands only** — the same commands a
gateway would send, journaled so that ``perpspec replay`` rebuilds the run:

* **setup** — the insurance fund is funded (``DepositInsurance``); the first
  mark price is set; every account is verified and funded (``VerifyAccount``,
  ``Deposit``); market makers and whales choose a risk-limit tier
  (``SetRiskLimit``); isolated traders set their leverage (``SetLeverage``);
* **every step** (``scenario.step``, e.g. one minute of the logical clock):

  1. the index moves to the scenario's path; a due **funding instant** is
     settled first (``FundingTick`` with the rate the rules compute from the
     interval's premium samples, :mod:`rules.funding`), then the minute's
     premium sample is taken from the book's impact prices;
  2. the **mark price** is computed by the rules (:mod:`rules.mark`: fair
     price = index × (1 + funding basis)) and sent (``PriceUpdate``): the
     engine triggers stops and runs the liquidation waterfall — close-outs
     against this same book, insurance fund, ADL;
  3. every registered invariant is checked on the engine's state
     (:func:`rules.invariants.check_all`) — after every mark update, or every
     N events (``invariants_every``); INV-NO-NEG-EQUITY and INV-REDUCE-ONLY
     after every command, on the accounts it touched;
  4. **market makers** cancel and requote a ladder around the index, skewed
     against their inventory; after a large index move the ladder is thin
     (fewer levels, wider apart) for a while — the thin book of a crash;
  5. **traders** act: during the entry window each opens its position with an
     aggressive immediate-or-cancel limit order (side, leverage, cross or
     isolated from the population) or rests a far-away limit order (dip
     buyers); afterwards a few per step trade again, most of them following
     the last move (selling into a fall), and some rest protective stops.

The agents' choices come from the scenario's seeded generator
(:class:`~engine.scenario.SplitMix64`); they read the engine's state (book,
positions) but change it only through commands.  So the run is a pure
function of (scenario, seed): the same seed gives the same command journal,
byte for byte, and the same events.

The runner never reads a clock (wall time and the progress bar belong to the
CLI, :mod:`engine.cli.simulate`).  It writes the event log as the events come
(JSON Lines, BitMEX field names; see :func:`event_records`) and the journal
through :class:`engine.recovery.DurableExchange`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.events import (
    Event,
    Execution,
    PositionUpdate,
    Rejected,
    RuleEvent,
    Transaction,
    event_to_dict,
)
from perpspec.engine.simulation.scenario import Scenario, SplitMix64, generate_index_path
from perpspec.rules import invariants
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.events import (
    AdlFill,
    InsuranceMovement,
    Liquidation,
    PartialLiquidation,
    RiskLimitLowered,
)
from perpspec.rules.funding import (
    FundingRejection,
    FundingState,
    PremiumInputs,
    get_indicative_rate,
    make_funding_state,
    process_funding,
    process_premium_sample,
)
from perpspec.rules.impact import compute_impact_prices
from perpspec.rules.instrument import Instrument
from perpspec.rules.mark import NO_IMPACT, MarkInputs, MarkState, process_mark_update
from perpspec.rules.num import PPM, ceildiv
from perpspec.rules.parse import format_ppm, format_scaled
from perpspec.rules.position import Position
from perpspec.rules.risk_limit import compute_max_leverage_hundredths

LIQUIDATOR = -1  # the liquidation engine's account id (it holds taken-over positions until they close)
ENTRY_SLIPPAGE_PPM = 1_000  # 0.1%: how far beyond the best price an entry order may fill


# ---------------------------------------------------------------------------
# The population


@attrs.frozen(kw_only=True)
class Trader:
    """One leveraged account of the population."""

    account: int
    is_long: bool
    isolated: bool
    leverage: int  # exposure = leverage × deposit (isolated: also the position's leverage)
    deposit: int  # settlement minor units
    entry_step: int
    stop: bool  # rests a protective stop-market after entering
    resting_ppm: int  # > 0: enters with a limit order resting this far from the index (dip buyer)
    risk_steps: int  # risk-limit steps chosen above the base limit (whales: position value > riskLimit)


def build_population(scenario: Scenario, first_account: int) -> tuple[Trader, ...]:
    """The traders, drawn from the scenario's distributions with its seed (account ids from ``first_account``)."""
    rng = SplitMix64(scenario.seed).fork(2)
    people = scenario.accounts
    weights = [weight for _, weight in people.leverage]
    entry_steps = max(people.entry_ms // scenario.step_ms, 1)
    inst = scenario.instrument
    traders = []
    for offset in range(people.count):
        leverage = people.leverage[rng.weighted(weights)][0]
        is_long = rng.chance_ppm(people.long_share_ppm)
        isolated = rng.chance_ppm(people.isolated_share_ppm)
        if people.log_uniform:
            deposit = rng.log_uniform(people.deposit_min, people.deposit_max)
        else:
            deposit = rng.between(people.deposit_min, people.deposit_max)
        entry_step = 1 + rng.below(entry_steps)
        # a late entrant (drawn only when the scenario has them, so other scenarios keep their numbers)
        # opens its position in the second window instead: a step in [late_start, late_end)
        if people.late_share_ppm > 0 and rng.chance_ppm(people.late_share_ppm):
            first = max(people.late_start_ms // scenario.step_ms, 1)
            last = max(people.late_end_ms // scenario.step_ms, first + 1)
            entry_step = first + rng.below(last - first)
        # a whale whose exposure passes the base risk limit chooses the tier that holds it (with 20% room)
        # and, like on BitMEX, can have no more leverage than that tier's initial margin allows
        risk_steps = max(0, ceildiv(deposit * leverage * 6 // 5 - inst.risk_limit, inst.risk_step))
        if risk_steps > 0:
            leverage = min(leverage, compute_max_leverage_hundredths(inst, risk_steps) // 100)
        traders.append(
            Trader(
                account=first_account + offset,
                is_long=is_long,
                isolated=isolated,
                leverage=leverage,
                deposit=deposit,
                risk_steps=risk_steps,
                entry_step=entry_step,
                stop=rng.chance_ppm(people.stop_share_ppm),
                resting_ppm=(
                    rng.between(max(people.resting_min_ppm, 1), max(people.resting_max_ppm, 1))
                    if rng.chance_ppm(people.resting_share_ppm)
                    else 0
                ),
            )
        )
    return tuple(traders)


# ---------------------------------------------------------------------------
# Records of the event log (BitMEX field names where BitMEX has one)


NUM_MARK = "\x00"  # prefix of a decimal kept as text, written to JSON as a bare number


def Num(text: str) -> str:  # noqa: N802 - reads as the type of the value it makes
    """A decimal number kept as exact text, written to JSON as a number by :func:`encode_json` (never a float)."""
    return NUM_MARK + text


def price_num(inst: Instrument, price: int) -> str:
    """Price units as a decimal number (XBTUSD 735350 -> 7353.5)."""
    return Num(format_scaled(price, inst.price_scale))


def rate_num(rate_e8: int) -> str:
    """A rate in 1e-8 units as a decimal fraction (10_000 -> 0.0001)."""
    return Num(format_scaled(rate_e8, 100_000_000))


def iso_timestamp(time_ms: int) -> str:
    """``2020-03-12T10:45:00.000Z`` from ms since the epoch (proleptic Gregorian, integers only)."""
    days, ms_of_day = divmod(time_ms, 86_400_000)
    # Howard Hinnant's civil_from_days
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year += month <= 2
    seconds, ms = divmod(ms_of_day, 1000)
    return f"{year:04d}-{month:02d}-{day:02d}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ms:03d}Z"


_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode
_BARE_NUMBER = re.compile(r'"\\u0000(-?[0-9]+(?:\.[0-9]+)?)"')


def encode_json(value: Any) -> str:
    """Compact JSON text (the C encoder); :func:`Num` values become bare numbers."""
    return _BARE_NUMBER.sub(r"\1", _ENCODE(value))


# ---------------------------------------------------------------------------
# What a run produces


@attrs.define
class Tally:
    """Running counts of what the events said (the summary table)."""

    events: int = 0
    commands: int = 0
    log_rows: int = 0
    rejected: int = 0
    rejects_by_reason: dict[str, int] = attrs.Factory(dict)
    trades: int = 0
    contracts_traded: int = 0
    liquidations_full: int = 0
    liquidations_partial: int = 0
    liquidated_accounts: set[int] = attrs.Factory(set)
    risk_limit_lowered: int = 0  # LIQ-021: partial liquidation's first step (no contract closed)
    adl_fills: int = 0
    adl_contracts: int = 0
    funding_instants: int = 0
    funding_payments: int = 0
    insurance_start: int = 0
    insurance_min: int = 0
    insurance_end: int = 0
    invariant_checks: int = 0
    command_checks: int = 0  # INV-NO-NEG-EQUITY and INV-REDUCE-ONLY after a command (rules.invariants.check_after_command)
    waterfall_incomplete: int = 0  # checks made while the waterfall was incomplete (budget spent, ADL shortfall)
    violations: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class SimulationResult:
    """The outcome of a run: the summary figures, and where the files went."""

    scenario: str
    description: str
    seed: int
    adl_policy: str
    accounts: int
    traders: int
    makers: int
    steps: int
    commands: int
    events: int
    log_rows: int  # lines of the event log (engine events, their BitMEX-style rows, the runner's own rows)
    rejected: int
    rejects_by_reason: tuple[tuple[str, int], ...]
    trades: int
    contracts_traded: int
    liquidations: int
    liquidations_full: int
    liquidations_partial: int
    liquidated_accounts: int
    risk_limit_lowered: int
    insurance_start: int
    insurance_min: int
    insurance_end: int
    adl_fills: int
    adl_contracts: int
    funding_instants: int
    funding_payments: int
    invariant_checks: int
    waterfall_incomplete: int
    invariant_policy: str
    invariant_violations: tuple[str, ...]
    conservation_gap: int
    net_deposits: int
    journal_sha256: str
    state_sha256: str
    currency: str
    coin: int
    event_log: str
    journal: str
    parameters: tuple[tuple[str, str], ...] = ()
    # published figures the scenario is calibrated against: (time ms since the epoch, balance minor units, label)
    published: tuple[tuple[int, int, str], ...] = ()

    def summary(self) -> dict[str, Any]:
        """The figures as a plain mapping (summary.json, the report)."""
        out = attrs.asdict(self)
        out["invariant_violations"] = len(self.invariant_violations)
        out["rejects_by_reason"] = dict(self.rejects_by_reason)
        out["parameters"] = dict(self.parameters)
        out["published"] = [list(point) for point in self.published]
        return out


# ---------------------------------------------------------------------------
# The runner


ProgressHook = Callable[[int, int], None]


class Simulation:
    """One scenario run through a fresh engine (see the module docstring)."""

    def __init__(self, scenario: Scenario, out_dir: Path, progress: ProgressHook | None = None) -> None:
        self.scenario = scenario
        self.inst = scenario.instrument
        self.symbol = scenario.instrument.symbol
        self.asset = scenario.instrument.settl_currency
        self.out_dir = out_dir
        self.progress = progress
        out_dir.mkdir(parents=True, exist_ok=True)
        self.port = EnginePort(scenario, out_dir.joinpath(JOURNAL_DIR))
        self.makers = tuple(range(1, scenario.makers.count + 1))
        self.traders = build_population(scenario, first_account=scenario.makers.count + 1)
        self.by_account = {trader.account: trader for trader in self.traders}
        self.entering: dict[int, list[Trader]] = {}  # entry step -> traders, in account order
        for trader in self.traders:
            self.entering.setdefault(trader.entry_step, []).append(trader)
        self.entry_qty: dict[int, int] = {}
        self.flow_rng = SplitMix64(scenario.seed).fork(3)
        self.maker_rng = SplitMix64(scenario.seed).fork(4)
        self.path = generate_index_path(scenario)
        self.tally = Tally()
        self.mark_state = MarkState()
        self.mark_state_basis_e8 = 0
        self.funding_state: FundingState = make_funding_state(self.inst, scenario.start_ms)
        self.time_ms = scenario.start_ms
        self.index_price = self.path[0]
        self.mark_price = self.path[0]
        self.last_price: int | None = None
        self.stress_until_ms = -1
        self.events_since_check = 0
        self.log: TextIO | None = None
        self.quantities: dict[int, int] = {}  # account -> currentQty, from PositionUpdate events
        self.long_qty = 0
        self.snapshots: dict[str, dict[int, int]] = {}

    # -- plumbing ------------------------------------------------------------------

    def send(self, command: Any) -> list[Event]:
        """Journal one command, run it through the engine, log its events, check invariants when due."""
        events = self.port.apply(command)
        self.tally.commands += 1
        self.tally.events += len(events)
        for event in events:
            self.observe(event)
        self.check_command(events)
        every = self.scenario.invariants_every
        if every > 0:
            self.events_since_check += len(events)
            if self.events_since_check >= every:
                self.events_since_check = 0
                self.check_invariants(events)
        return events

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record to the event log."""
        if self.log is not None:
            self.log.write(encode_json(record) + "\n")
            self.tally.log_rows += 1

    def observe(self, event: Event) -> None:
        """Count an event and write its record(s)."""
        for record in self.port.records(event, self.tally):
            self.write(record)
        if isinstance(event, Execution):
            if event.exec_type == "Trade":
                self.last_price = event.last_px
        elif isinstance(event, PositionUpdate):
            old = self.quantities.get(event.account, 0)
            self.long_qty += max(event.current_qty, 0) - max(old, 0)
            self.quantities[event.account] = event.current_qty

    def open_interest(self) -> int:
        """BitMEX ``openInterest``: Σ long quantity, kept from the position events, plus what the liquidation engine holds."""
        return self.long_qty + max(self.port.position(LIQUIDATOR, self.symbol).qty, 0)

    def check_command(self, events: Sequence[Event]) -> None:
        """After every command: no touched account left owing with nothing to liquidate, ReduceOnly fills never flip.

        The full registry runs after every mark update (or every N events); these
        two transition invariants are checked after each command, on the accounts
        its events name (issue 13: money left through a fill between mark updates).
        """
        touched = [event.account for event in events if isinstance(event, Execution | PositionUpdate)]
        if not touched:
            return
        results = invariants.check_after_command(self.port.view(), self.port.step_info(events), touched)
        self.tally.command_checks += 1
        for inv_id, problems in results.items():
            for problem in problems:
                if len(self.tally.violations) < 100:
                    self.tally.violations.append(f"{iso_timestamp(self.time_ms)} {inv_id}: {problem}")
                else:
                    self.tally.violations.append(inv_id)

    def check_invariants(self, events: Sequence[Event] = ()) -> None:
        """Every registered invariant on the engine's state after a command; violations are kept (must be none).

        The step information (was the waterfall completed? which funding postings,
        which waterfall records?) is the engine's own account of that command.
        """
        self.tally.invariant_checks += 1
        step = self.port.step_info(events)
        if not step.waterfall_complete:
            self.tally.waterfall_incomplete += 1
        results = invariants.check_all(self.port.view(), step)
        for inv_id, problems in results.items():
            for problem in problems:
                if len(self.tally.violations) < 100:
                    self.tally.violations.append(f"{iso_timestamp(self.time_ms)} {inv_id}: {problem}")
                else:
                    self.tally.violations.append(inv_id)

    # -- the run ----------------------------------------------------------------------

    def run(self) -> SimulationResult:
        """Play the whole scenario; write the event log and the journal when ``out_dir`` is set."""
        log_path = self.out_dir.joinpath("events.jsonl")
        partial_log = log_path.with_name(f".{log_path.name}.partial")
        self.log = open(partial_log, "w")  # noqa: SIM115 - closed below, on every path
        try:
            self.setup()
            scenario = self.scenario
            before_step = max(scenario.accounts.entry_ms // scenario.step_ms, 1) + 1
            for step in range(1, scenario.steps + 1):
                self.step(step)
                if step == before_step:
                    self.snapshot("before")
                if self.progress is not None:
                    self.progress(step, self.tally.events)
            if "before" not in self.snapshots:
                self.snapshot("before")
            self.snapshot("after")
            self.check_invariants()
        except BaseException:  # interrupted or failed: the previous event log and journal stay as they were
            self.log.close()
            partial_log.unlink(missing_ok=True)
            self.port.abandon()
            raise
        self.log.close()
        os.replace(partial_log, log_path)
        journal_sha256 = self.port.close()
        return self.result(str(log_path), str(self.port.journal_path), journal_sha256)

    def setup(self) -> None:
        """Fund the insurance fund; first mark; fund every account, choose risk limits and leverage; first quotes."""
        scenario = self.scenario
        t = self.time_ms
        if scenario.insurance > 0:
            self.send(cmd.DepositInsurance(time_ms=t, asset=self.asset, amount=scenario.insurance))
        else:
            self.write({"table": "insurance", "timestamp": iso_timestamp(t), "currency": self.asset, "walletBalance": 0})
        self.tally.insurance_start = self.tally.insurance_min = self.tally.insurance_end = self.port.insurance(self.asset)
        self.update_mark(self.path[0])  # leverage and risk limits can be set only once the contract has a mark
        inst = self.inst
        # makers carry inventory beyond the base risk limit: they choose the tier that holds their inventory
        # limit plus one side of quotes, with half as much again for a fall of the price (inverse values grow)
        makers = scenario.makers
        quotes = compute_notional(inst, makers.levels * makers.level_qty, self.path[0])
        gross = (makers.max_leverage * makers.deposit + quotes) * 3 // 2
        steps = max(0, ceildiv(gross - inst.risk_limit, inst.risk_step))
        for account in self.makers:
            self.send(cmd.VerifyAccount(time_ms=t, account=account))
            self.send(cmd.Deposit(time_ms=t, account=account, asset=self.asset, amount=scenario.makers.deposit))
            if steps > 0:
                self.send(
                    cmd.SetRiskLimit(
                        time_ms=t, account=account, symbol=self.symbol, risk_limit=inst.risk_limit + steps * inst.risk_step
                    )
                )
        for trader in self.traders:
            self.send(cmd.VerifyAccount(time_ms=t, account=trader.account))
            self.send(cmd.Deposit(time_ms=t, account=trader.account, asset=self.asset, amount=trader.deposit))
            if trader.risk_steps > 0:
                limit = inst.risk_limit + trader.risk_steps * inst.risk_step
                self.send(cmd.SetRiskLimit(time_ms=t, account=trader.account, symbol=self.symbol, risk_limit=limit))
            if trader.isolated:
                self.send(
                    cmd.SetLeverage(
                        time_ms=t, account=trader.account, symbol=self.symbol, leverage_hundredths=trader.leverage * 100
                    )
                )
        self.quote()
        self.write_instrument_row()

    def step(self, step: int) -> None:
        """One step of the logical clock (see the module docstring)."""
        scenario = self.scenario
        self.time_ms = scenario.start_ms + step * scenario.step_ms
        if scenario.in_outage(step * scenario.step_ms):
            return  # the venue is down: no mark update (no liquidation), no funding sample, no quotes, no trades
        previous_index = self.index_price
        index = self.path[step]
        move_ppm = abs(index - previous_index) * PPM // max(previous_index, 1)
        if move_ppm >= scenario.makers.stress_move_ppm:
            self.stress_until_ms = self.time_ms + scenario.makers.stress_ms
        self.settle_funding()
        self.sample_premium(index)
        self.update_mark(index)
        requote_steps = scenario.makers.requote_ms // scenario.step_ms
        if step % requote_steps == 0 or self.time_ms <= self.stress_until_ms:
            self.quote()
        self.trade(step, index - previous_index)
        self.write_instrument_row()

    # -- prices and funding --------------------------------------------------------------

    def update_mark(self, index: int) -> None:
        """MRK: the mark from the rules, sent to the engine; the waterfall runs; invariants are checked."""
        self.index_price = index
        state = self.funding_state
        rate = get_indicative_rate(self.inst, state).rate_e8
        inputs = MarkInputs(
            time_ms=self.time_ms,
            index_price=index,
            last_price=self.last_price or 0,
            impact=self.impact(),
            funding_rate_e8=rate,
            funding_until_ms=max(state.next_funding_ms - self.time_ms, 0),
            funding_interval_ms=max(state.next_funding_ms - state.last_funding_ms, 1),
        )
        self.mark_state, updated = process_mark_update(self.inst, self.mark_state, inputs)
        self.mark_state_basis_e8 = updated.fair_basis_e8
        mark = min(max(updated.mark_price, self.inst.tick_size), self.inst.max_price)
        self.mark_price = mark
        events = self.send(cmd.PriceUpdate(time_ms=self.time_ms, symbol=self.symbol, mark_price=mark, index_price=index))
        if self.scenario.invariants_every == 0:
            self.check_invariants(events)

    def impact(self) -> Any:
        """Impact bid/ask/mid from the engine's book (MRK-004), when the instrument has an impact notional."""
        if self.inst.impact_notional is None:
            return NO_IMPACT
        bids, asks = self.port.depth(self.symbol)
        return compute_impact_prices(self.inst, bids, asks)

    def sample_premium(self, index: int) -> None:
        """FND-009: the minute's premium sample (missed slots are not back-filled)."""
        impact = self.impact()
        state = self.funding_state
        inputs = PremiumInputs(
            impact_bid=impact.bid,
            impact_ask=impact.ask,
            mark_price=self.mark_price,
            spot_price=index,
            fair_basis_e8=self.mark_state_basis_e8,  # the funding basis used in the last mark
        )
        sampled = process_premium_sample(self.inst, state, self.time_ms, inputs)
        if not isinstance(sampled, FundingRejection):
            self.funding_state = sampled[0]

    def settle_funding(self) -> None:
        """FND-011: at a funding instant, fix the rate from the samples and send the engine a FundingTick."""
        if self.time_ms < self.funding_state.next_funding_ms:
            return
        holders = self.port.holders(self.symbol)
        settled = process_funding(self.inst, self.funding_state, self.time_ms, holders, self.mark_price)
        if isinstance(settled, FundingRejection):
            return
        self.funding_state, event = settled
        self.tally.funding_instants += 1
        events = self.send(cmd.FundingTick(time_ms=self.time_ms, symbol=self.symbol, rate_e8=event.rate.rate_e8))
        self.write(
            {
                "table": "funding",
                "timestamp": iso_timestamp(self.time_ms),
                "symbol": self.symbol,
                "fundingInterval": event.rate.interval_ms,
                "fundingRate": rate_num(event.rate.rate_e8),
                "premiumIndex": rate_num(event.rate.premium_e8),
                "interestRate": rate_num(event.rate.interest_e8),
                "samples": event.rate.samples,
            }
        )
        if self.scenario.invariants_every == 0:
            self.check_invariants(events)

    # -- market makers -----------------------------------------------------------------------

    def quote(self) -> None:
        """Every maker cancels its orders and quotes a fresh ladder (thin under stress)."""
        makers = self.scenario.makers
        stressed = self.time_ms <= self.stress_until_ms
        levels = makers.stress_levels if stressed else makers.levels
        spacing = makers.stress_spacing_ppm if stressed else makers.spacing_ppm
        spread = max(makers.spread_ppm, spacing // 2) if stressed else makers.spread_ppm
        tick = self.inst.tick_size
        max_notional = makers.deposit * makers.max_leverage
        for account in self.makers:
            self.send(cmd.CancelAll(time_ms=self.time_ms, account=account, symbol=self.symbol))
            inventory = self.port.position(account, self.symbol).qty
            notional = compute_notional(self.inst, inventory, self.index_price)
            # signed share of the inventory limit in ppm, capped at ±100%: the quote centre leans against it
            lean_ppm = max(-PPM, min(PPM, notional * PPM // max_notional)) * (1 if inventory >= 0 else -1)
            centre = self.index_price + self.index_price * makers.premium_ppm // PPM  # floor: a quote, not money
            centre -= centre * makers.skew_ppm // PPM * lean_ppm // PPM  # floor: a quote
            may_buy = lean_ppm < PPM
            may_sell = lean_ppm > -PPM
            for level in range(levels):
                offset_ppm = spread + level * spacing
                bid = (centre - centre * offset_ppm // PPM) // tick * tick  # down to the tick
                ask = -((-(centre + centre * offset_ppm // PPM)) // tick) * tick  # up to the tick
                qty = makers.level_qty
                if bid >= tick and may_buy:
                    self.send(self.limit(account, "Buy", qty, bid))
                if ask <= self.inst.max_price and may_sell:
                    self.send(self.limit(account, "Sell", qty, ask))

    def limit(self, account: int, side: str, qty: int, price: int) -> cmd.PlaceOrder:
        """A good-till-cancel limit order.

        Not post-only: a quote that crosses a stale order left behind by a fast move
        (a dip buyer's bid now above the market) trades with it, as an arbitrageur would.
        """
        return cmd.PlaceOrder(
            time_ms=self.time_ms, account=account, symbol=self.symbol, side=side, order_qty=qty, price=price,
            ord_type="Limit",
        )

    # -- traders -------------------------------------------------------------------------------

    def trade(self, step: int, last_move: int) -> None:
        """Entries due at this step, protective stops after entry, then the step's extra flow."""
        for trader in self.entering.get(step, ()):
            if trader.resting_ppm > 0:
                self.rest(trader)
            else:
                self.enter(trader)
        for trader in self.entering.get(step - 1, ()):
            if trader.stop:
                self.place_stop(trader)
        people = self.scenario.accounts
        if step * self.scenario.step_ms < people.entry_ms:
            return
        rng = self.flow_rng
        expected_ppm = people.count * people.activity_ppm  # expected actors this step, in ppm
        actors = expected_ppm // PPM + rng.chance_ppm(expected_ppm % PPM)
        for _ in range(actors):
            trader = self.traders[rng.below(len(self.traders))]
            base = self.entry_qty.get(trader.account, 0)
            if base <= 0:
                continue
            follows = rng.chance_ppm(people.trend_share_ppm)
            if follows and last_move != 0:
                is_buy = last_move > 0
            else:
                is_buy = rng.chance_ppm(PPM // 2)
            share_ppm = rng.between(100_000, 300_000)
            qty = self.lots(base * share_ppm // PPM)
            self.send(self.market(trader.account, "Buy" if is_buy else "Sell", qty))

    def lots(self, qty: int) -> int:
        """``qty`` rounded down to whole lots, at least one lot."""
        lot = self.inst.lot_size
        return max(qty // lot, 1) * lot

    def enter(self, trader: Trader) -> None:
        """Open the trader's position: ``leverage × deposit × 80%`` of notional at the current index."""
        qty = self.entry_size(trader, self.index_price)
        if qty <= 0:
            return
        side = "Buy" if trader.is_long else "Sell"
        events = self.send(self.market(trader.account, side, qty, ENTRY_SLIPPAGE_PPM))
        if type(events[-1]) is Rejected:  # too big for the margin after all: the trader resizes once
            qty = self.lots(qty * 3 // 4)
            events = self.send(self.market(trader.account, side, qty, ENTRY_SLIPPAGE_PPM))
        if type(events[-1]) is not Rejected:
            self.entry_qty[trader.account] = qty

    def entry_size(self, trader: Trader, price: int) -> int:
        """Contracts for ``leverage × deposit`` of exposure at ``price``, with room for fees and reserves."""
        lot_value = compute_notional(self.inst, self.inst.lot_size, price)
        # deposit × L × 0.9 / (1 + 0.3% × L): the margin 1/L of the notional plus room for the opening
        # fee, the commission reserve (posComm) and the limit's premium over mark (100x -> 69x of deposit)
        exposure = trader.deposit * trader.leverage * 9 // (10 + trader.leverage * 3 // 100)
        lots = exposure // max(lot_value, 1)
        return min(lots * self.inst.lot_size, self.inst.max_order_qty)

    def rest(self, trader: Trader) -> None:
        """A dip buyer (or rally seller): a good-till-cancel limit order resting far from the index."""
        tick = self.inst.tick_size
        distance = self.index_price * trader.resting_ppm // PPM
        if trader.is_long:
            price = max((self.index_price - distance) // tick * tick, tick)
        else:
            price = min(-((-(self.index_price + distance)) // tick) * tick, self.inst.max_price)
        qty = self.entry_size(trader, price)
        if qty <= 0:
            return
        side = "Buy" if trader.is_long else "Sell"
        order = cmd.PlaceOrder(
            time_ms=self.time_ms, account=trader.account, symbol=self.symbol, side=side, order_qty=qty, price=price,
            ord_type="Limit",
        )
        if type(self.send(order)[-1]) is not Rejected:
            self.entry_qty[trader.account] = qty

    def place_stop(self, trader: Trader) -> None:
        """A reduce-only stop-market on the mark, ``stop_distance`` beyond the entry."""
        position = self.port.position(trader.account, self.symbol)
        if position.qty == 0:
            return
        distance = self.scenario.accounts.stop_distance_ppm
        tick = self.inst.tick_size
        if position.qty > 0:
            stop_px = (self.index_price - self.index_price * distance // PPM) // tick * tick
        else:
            stop_px = -((-(self.index_price + self.index_price * distance // PPM)) // tick) * tick
        self.send(
            cmd.PlaceOrder(
                time_ms=self.time_ms,
                account=trader.account,
                symbol=self.symbol,
                side="Sell" if position.qty > 0 else "Buy",
                order_qty=abs(position.qty),
                ord_type="Stop",
                stop_px=max(stop_px, tick),
                exec_inst="ReduceOnly",
            )
        )

    def market(self, account: int, side: str, qty: int, slippage_ppm: int = 5_000) -> cmd.PlaceOrder:
        """An aggressive immediate-or-cancel limit order: up to ``slippage_ppm`` beyond the best opposite price.

        Traders cross the spread with a price limit rather than a bare market
        order: the engine charges a market order's margin at its fat-finger
        cap (5% beyond the best price), which a leveraged entry cannot afford.
        """
        tick = self.inst.tick_size
        bids, asks = self.port.top(self.symbol)
        if side == "Buy":
            best = asks if asks is not None else self.mark_price
            price = -((-(best + best * slippage_ppm // PPM)) // tick) * tick  # up to the tick
        else:
            best = bids if bids is not None else self.mark_price
            price = max((best - best * slippage_ppm // PPM) // tick * tick, tick)  # down to the tick
        return cmd.PlaceOrder(
            time_ms=self.time_ms, account=account, symbol=self.symbol, side=side, order_qty=qty,
            price=min(price, self.inst.max_price), ord_type="Limit", time_in_force="ImmediateOrCancel",
        )

    # -- observations --------------------------------------------------------------------------

    def write_instrument_row(self) -> None:
        """BitMEX ``instrument`` fields at the end of the step."""
        state = self.funding_state
        self.write(
            {
                "table": "instrument",
                "timestamp": iso_timestamp(self.time_ms),
                "symbol": self.symbol,
                "indicativeSettlePrice": price_num(self.inst, self.index_price),
                "markPrice": price_num(self.inst, self.mark_price),
                "lastPrice": None if self.last_price is None else price_num(self.inst, self.last_price),
                "openInterest": self.open_interest(),
                "fundingRate": rate_num(state.last_rate_e8),
                "indicativeFundingRate": rate_num(get_indicative_rate(self.inst, state).rate_e8),
                "fundingTimestamp": iso_timestamp(state.next_funding_ms),
            }
        )

    def snapshot(self, phase: str) -> None:
        """Every account's margin balance at mark (``margin`` rows), before the stress or at the end."""
        balances: dict[int, int] = {}
        for account in (*self.makers, *(trader.account for trader in self.traders)):
            wallet = self.port.wallet(account, self.asset)
            position = self.port.position(account, self.symbol)
            unrealised = compute_value(self.inst, position.qty, self.mark_price) - position.cost
            balance = wallet + unrealised
            balances[account] = balance
            trader = self.by_account.get(account)
            self.write(
                {
                    "table": "margin",
                    "phase": phase,
                    "timestamp": iso_timestamp(self.time_ms),
                    "account": account,
                    "currency": self.asset,
                    "role": "trader" if trader is not None else "market_maker",
                    "walletBalance": wallet,
                    "unrealisedPnl": unrealised,
                    "marginBalance": balance,
                    "currentQty": position.qty,
                    "crossMargin": trader is None or not trader.isolated,
                    "leverage": "" if trader is None else f"{trader.leverage}x",
                }
            )
        self.snapshots[phase] = balances

    def result(self, log_path: str, journal_path: str, journal_sha256: str) -> SimulationResult:
        """The summary figures (conservation computed on the final state)."""
        tally = self.tally
        view = self.port.view()
        gap_problems = invariants.check_conservation(view, invariants.StepInfo())
        gap = self.port.conservation_gap(self.asset)
        scenario = self.scenario
        return SimulationResult(
            scenario=scenario.name,
            description=scenario.description,
            seed=scenario.seed,
            adl_policy=scenario.adl_policy,
            accounts=len(self.makers) + len(self.traders),
            traders=len(self.traders),
            makers=len(self.makers),
            steps=scenario.steps,
            commands=tally.commands,
            events=tally.events,
            log_rows=tally.log_rows,
            rejected=tally.rejected,
            rejects_by_reason=tuple(sorted(tally.rejects_by_reason.items())),
            trades=tally.trades,
            contracts_traded=tally.contracts_traded,
            liquidations=tally.liquidations_full + tally.liquidations_partial,
            liquidations_full=tally.liquidations_full,
            liquidations_partial=tally.liquidations_partial,
            liquidated_accounts=len(tally.liquidated_accounts),
            risk_limit_lowered=tally.risk_limit_lowered,
            insurance_start=tally.insurance_start,
            insurance_min=tally.insurance_min,
            insurance_end=tally.insurance_end,
            adl_fills=tally.adl_fills,
            adl_contracts=tally.adl_contracts,
            funding_instants=tally.funding_instants,
            funding_payments=tally.funding_payments,
            invariant_checks=tally.invariant_checks,
            waterfall_incomplete=tally.waterfall_incomplete,
            invariant_policy=(
                "after every mark update and funding instant; INV-NO-NEG-EQUITY and INV-REDUCE-ONLY after every command"
                if scenario.invariants_every == 0
                else f"every {scenario.invariants_every} events"
            ),
            invariant_violations=tuple(tally.violations) + tuple(f"final {p}" for p in gap_problems),
            conservation_gap=gap,
            net_deposits=view.net_deposits(self.asset),
            journal_sha256=journal_sha256,
            state_sha256=self.port.state_hash(),
            currency=self.asset,
            coin=scenario.currency_scale,
            event_log=log_path,
            journal=journal_path,
            parameters=scenario_parameters(scenario),
            published=tuple(
                (scenario.start_ms + point.at_ms, point.value, point.label)
                for point in scenario.published
                if point.series == "insurance"
            ),
        )


def scenario_parameters(scenario: Scenario) -> tuple[tuple[str, str], ...]:
    """The scenario's settings as readable text, for the report."""
    inst = scenario.instrument
    coin = scenario.currency_scale
    unit = inst.settl_currency[:-1] + inst.settl_currency[-1].upper()
    people, makers = scenario.accounts, scenario.makers

    def money(amount: int) -> str:
        return f"{format_scaled(amount, coin)} {unit}"

    def price(units: int) -> str:
        return format_scaled(units, inst.price_scale)

    path = " → ".join(f"{price(p.price)} @{p.at_ms // 60_000}m" for p in scenario.index.points)
    leverage = ", ".join(f"{value}x:{weight}" for value, weight in people.leverage)
    return (
        ("symbol", inst.symbol),
        ("instrument overrides", ", ".join(f"{k}={v}" for k, v in scenario.instrument_overrides) or "none"),
        ("duration / step", f"{scenario.duration_ms // 60_000} min / {scenario.step_ms // 1000} s"),
        ("index key points", f"{path} ({scenario.index.source})"),
        ("index noise / reversion", f"{format_ppm(scenario.index.noise_ppm)} / {format_ppm(scenario.index.reversion_ppm)}"),
        ("traders", f"{people.count:,}"),
        (
            "deposits",
            f"{money(people.deposit_min)} – {money(people.deposit_max)} "
            f"({'log-uniform' if people.log_uniform else 'uniform'})",
        ),
        ("leverage (weight)", leverage),
        ("long / isolated share", f"{format_ppm(people.long_share_ppm)} / {format_ppm(people.isolated_share_ppm)}"),
        ("entry window", f"{people.entry_ms // 60_000} min"),
        ("stops / dip buyers", f"{format_ppm(people.stop_share_ppm)} / {format_ppm(people.resting_share_ppm)}"),
        ("market makers", f"{makers.count} × {money(makers.deposit)}, inventory ≤ {makers.max_leverage}× deposit"),
        (
            "book",
            f"{makers.levels} levels × {makers.level_qty:,} contracts, {format_ppm(makers.spacing_ppm)} apart; "
            f"after a {format_ppm(makers.stress_move_ppm)} move: {makers.stress_levels} levels "
            f"{format_ppm(makers.stress_spacing_ppm)} apart for {makers.stress_ms // 60_000} min",
        ),
        ("insurance fund", money(scenario.insurance)),
        *(
            (("outage", ", ".join(f"{w.start_ms // 60_000}–{w.end_ms // 60_000} min" for w in scenario.outages)),)
            if scenario.outages
            else ()
        ),
        ("ADL policy", scenario.adl_policy),
        ("seed", str(scenario.seed)),
    )


def run_scenario(scenario: Scenario, out_dir: Path, progress: ProgressHook | None = None) -> SimulationResult:
    """Run ``scenario`` through a fresh engine; the event log and the journal go under ``out_dir``."""
    return Simulation(scenario, out_dir, progress).run()


# ---------------------------------------------------------------------------
# The engine, as the runner sees it


JOURNAL_DIR = "journal"  # under the output directory: journal.log, replayable by `perpspec replay`
ADL_POLICY_NAMES = {"queue": "ranked-queue", "ranked-queue": "ranked-queue", "pro-rata": "pro-rata"}


class EnginePort:
    """The runner's only contact with the engine: journal and apply commands, read state, name events.

    Commands go through :class:`engine.recovery.DurableExchange` (journal
    first, then the engine), so the journal replays the run exactly.  Reads
    use the engine's :class:`~rules.invariants.ExchangeView` methods and its
    books' L2 depth; nothing here changes engine state except ``apply``.
    """

    def __init__(self, scenario: Scenario, journal_dir: Path) -> None:
        from perpspec.engine.core.exchange import Engine
        from perpspec.engine.durability.journal import SyncPolicy
        from perpspec.engine.durability.recovery import JOURNAL_NAME, DurableExchange, command_codec

        self.inst = scenario.instrument
        options: dict[str, Any] = {"adl_policy": ADL_POLICY_NAMES[scenario.adl_policy]}
        if scenario.max_liquidations_per_update > 0:
            options["max_liquidations_per_update"] = scenario.max_liquidations_per_update
        self.engine = Engine({self.inst.symbol: self.inst}, **options)
        # the journal is written in a fresh store of its own and renamed over journal/journal.log only
        # when the run completes: an earlier run's journal is replaced whole or not at all, never
        # continued, and nothing else in journal/ is touched
        journal_dir.mkdir(parents=True, exist_ok=True)
        self.store = Path(tempfile.mkdtemp(prefix=".journal-", dir=journal_dir))
        self.durable, _ = DurableExchange.open(
            str(self.store), command_codec(), lambda: self.engine, policy=SyncPolicy(group_records=512, fsync="never")
        )
        self.journal_path = journal_dir.joinpath(JOURNAL_NAME)
        self.pending_account: dict[int, int] = {}  # pending close-out id -> liquidated account

    def apply(self, command: Any) -> list[Event]:
        """Journal and run one command; its events."""
        return list(self.durable.submit(command))

    def close(self) -> str:
        """Commit the journal, snapshot the final state and move both into place; the journal's SHA-256.

        The snapshot (``journal/snapshot-<seq>.snap``) is what ``what-if --state`` and
        ``replay --snapshot`` read; it is bound to this journal's chain head.
        """
        snapshot = Path(self.durable.snapshot())
        self.durable.close()
        os.replace(self.store.joinpath(self.journal_path.name), self.journal_path)
        os.replace(snapshot, self.journal_path.with_name(snapshot.name))
        self.abandon()
        return hashlib.sha256(self.journal_path.read_bytes()).hexdigest()

    def abandon(self) -> None:
        """Remove this run's journal store (a failed or interrupted run leaves the old journal as it was)."""
        self.durable.close()
        shutil.rmtree(self.store, ignore_errors=True)

    def state_hash(self) -> str:
        """The engine's state hash (``perpspec replay`` of the journal must print the same)."""
        return self.engine.state_hash()

    def step_info(self, events: Sequence[Event]) -> invariants.StepInfo:
        """What the engine's last command did, for the transition invariants."""
        info: invariants.StepInfo = self.engine.step_info(events)
        return info

    def view(self) -> invariants.ExchangeView:
        """The engine as the invariants read it."""
        return self.engine

    def insurance(self, asset: str) -> int:
        """Insurance fund balance."""
        return self.engine.insurance(asset)

    def wallet(self, account: int, asset: str) -> int:
        """walletBalance."""
        return self.engine.wallet(account, asset)

    def position(self, account: int, symbol: str) -> Position:
        """The account's position (flat if none)."""
        return self.engine.positions(account).get(symbol, Position())

    def holders(self, symbol: str) -> tuple[tuple[int, Position], ...]:
        """(account, position) of every holder, the liquidation engine's pending close-outs included."""
        out = []
        for account in self.engine.account_ids():
            position = self.engine.positions(account).get(symbol)
            if position is not None and position.qty != 0:
                out.append((account, position))
        return tuple(out)

    def open_interest(self, symbol: str) -> int:
        """Σ long quantity (BitMEX ``openInterest``, contracts)."""
        total = 0
        for account in self.engine.account_ids():
            position = self.engine.positions(account).get(symbol)
            if position is not None and position.qty > 0:
                total += position.qty
        return total

    def top(self, symbol: str) -> tuple[int | None, int | None]:
        """Best bid and best ask (None: that side is empty)."""
        book = self.engine.books[symbol]
        return book.best_bid(), book.best_ask()

    def depth(self, symbol: str) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """Displayed L2 levels (price, qty), best first, both sides."""
        book = self.engine.books[symbol]
        return tuple(book.depth(True, 1_000)), tuple(book.depth(False, 1_000))

    def conservation_gap(self, asset: str) -> int:
        """Σ(wallet − cost) + insurance + fees + funding pool − net deposits (0: conserved to the minor unit)."""
        engine = self.engine
        total = 0
        for account in engine.account_ids():
            total += engine.wallet(account, asset)
            for symbol, position in engine.positions(account).items():
                if engine.instruments()[symbol].settl_currency == asset:
                    total -= position.cost
        return invariants.compute_conservation_gap(
            total, engine.insurance(asset), engine.fee_pool(asset), engine.funding_pool(asset), engine.net_deposits(asset)
        )

    def records(self, event: Event, tally: Tally) -> Iterable[dict[str, Any]]:
        """The event's rows for the log (BitMEX names), counting what the summary needs."""
        return event_records(self.inst, event, tally, self.pending_account)


def event_records(
    inst: Instrument, event: Event, tally: Tally, pending_account: dict[int, int]
) -> list[dict[str, Any]]:
    """One engine event as event-log rows; updates the tally (trades, liquidations, ADL, funding, rejects)."""
    kind = type(event)
    timestamp = iso_timestamp(event.time_ms)
    if kind is Execution:
        assert isinstance(event, Execution)
        if event.exec_type == "Trade" and event.last_liquidity_ind == "AddedLiquidity":
            tally.trades += 1  # one row per match has the maker's AddedLiquidity
            tally.contracts_traded += event.last_qty
        return [
            {
                "table": "execution",
                "seq": event.seq,
                "timestamp": timestamp,
                "execType": event.exec_type,
                "account": event.account,
                "symbol": event.symbol,
                "orderID": event.order_id,
                "clOrdID": event.cl_ord_id,
                "side": event.side,
                "ordType": event.ord_type,
                "orderQty": event.order_qty,
                "price": price_num(inst, event.price) if event.price else None,
                "stopPx": price_num(inst, event.stop_px) if event.stop_px else None,
                "lastQty": event.last_qty,
                "lastPx": price_num(inst, event.last_px) if event.last_px else None,
                "leavesQty": event.leaves_qty,
                "cumQty": event.cum_qty,
                "ordStatus": event.ord_status,
                "execComm": event.exec_comm,
                "lastLiquidityInd": event.last_liquidity_ind,
                "text": event.text,
            }
        ]
    if kind is Transaction:
        assert isinstance(event, Transaction)
        if event.transact_type == "Funding":
            tally.funding_payments += 1
        return [
            {
                "table": "transaction",
                "seq": event.seq,
                "timestamp": timestamp,
                "transactType": event.transact_type,
                "account": event.account,
                "currency": event.asset,
                "amount": event.amount,
                "symbol": event.symbol,
                "text": event.text,
            }
        ]
    if kind is RuleEvent:
        assert isinstance(event, RuleEvent)
        return rule_records(inst, event, timestamp, tally, pending_account)
    if kind is Rejected:
        assert isinstance(event, Rejected)
        tally.rejected += 1
        reason = event.reason.value
        tally.rejects_by_reason[reason] = tally.rejects_by_reason.get(reason, 0) + 1
        return [
            {
                "table": "command",
                "seq": event.seq,
                "timestamp": timestamp,
                "event": "Rejected",
                "command": event.command,
                "account": event.account,
                "ordRejReason": reason,
                "text": event.text,
            }
        ]
    row = event_to_dict(event)
    name = row.pop("event")
    table = {"Accepted": "command", "PositionUpdate": "position", "InternalError": "command"}.get(name, name)
    out = {"table": table, "event": name, **row, "timestamp": timestamp}
    if name == "PositionUpdate":
        out["liquidationPrice"] = price_num(inst, out["liquidationPrice"]) if out["liquidationPrice"] else None
        out["bankruptPrice"] = price_num(inst, out["bankruptPrice"]) if out["bankruptPrice"] else None
    if name == "InternalError":
        tally.violations.append(f"{timestamp} internal error in {row.get('command')}: {row.get('text')}")
    return [out]


def rule_records(
    inst: Instrument, event: RuleEvent, timestamp: str, tally: Tally, pending_account: dict[int, int]
) -> list[dict[str, Any]]:
    """A waterfall step: its full record (table ``rule``) plus the BitMEX-style row a reader looks for."""
    record = event.record
    detail = {"table": "rule", "seq": event.seq, "timestamp": timestamp, "ruleId": event.rule_id,
              "kind": event.kind, "account": event.account, "symbol": event.symbol,
              **_plain(attrs.asdict(record) if attrs.has(type(record)) else {})}
    rows: list[dict[str, Any]] = [detail]
    if isinstance(record, Liquidation):
        tally.liquidations_full += 1
        tally.liquidated_accounts.add(record.account_id)
        for taken in record.taken:
            pending_account[taken.pending_id] = record.account_id
            rows.append(
                {
                    "table": "liquidation",
                    "seq": event.seq,
                    "timestamp": timestamp,
                    "ruleId": record.rule_id,
                    "account": record.account_id,
                    "symbol": taken.symbol,
                    "side": "Sell" if taken.qty > 0 else "Buy",  # the liquidation order's side
                    "price": price_num(inst, taken.takeover_price),  # the bankruptcy price
                    "leavesQty": abs(taken.qty),
                    "liquidationType": "full",
                    "pool": record.pool,
                    "markPrice": price_num(inst, record.positions[0].mark_price) if record.positions else None,
                    "marginBalance": record.equity,
                    "maintMargin": record.maintenance,
                }
            )
    elif isinstance(record, PartialLiquidation) and record.filled:  # killed: the take-over follows (full)
        tally.liquidations_partial += 1
        tally.liquidated_accounts.add(record.account_id)
        rows.append(
            {
                "table": "liquidation",
                "seq": event.seq,
                "timestamp": timestamp,
                "ruleId": record.rule_id,
                "account": record.account_id,
                "symbol": record.symbol,
                "side": "Sell" if record.close_qty > 0 else "Buy",
                "price": price_num(inst, record.limit_price),
                "leavesQty": abs(record.close_qty),
                "liquidationType": "partial",
                "filled": record.filled,
                "markPrice": price_num(inst, record.mark_price),
                "marginBalance": record.equity,
                "maintMargin": record.maintenance,
            }
        )
    elif isinstance(record, RiskLimitLowered):
        tally.risk_limit_lowered += 1
    elif isinstance(record, InsuranceMovement):
        tally.insurance_end = record.balance_after
        tally.insurance_min = min(tally.insurance_min, record.balance_after)
        rows.append(
            {
                "table": "insurance",
                "seq": event.seq,
                "timestamp": timestamp,
                "currency": record.currency,
                "walletBalance": record.balance_after,
                "amount": record.amount,
                "kind": record.kind,
                "ruleId": record.rule_id,
            }
        )
    elif isinstance(record, AdlFill):
        tally.adl_fills += 1
        tally.adl_contracts += abs(record.close_qty)
        rows.append(
            {
                "table": "execution",
                "seq": event.seq,
                "timestamp": timestamp,
                "execType": "Deleverage",
                "account": record.account_id,
                "symbol": record.symbol,
                "side": "Sell" if record.close_qty > 0 else "Buy",
                "lastQty": abs(record.close_qty),
                "lastPx": price_num(inst, record.price),
                "markPrice": price_num(inst, record.mark_price),
                "adlRankingScore": score_text(record.score_num, record.score_den),
                "adlRank": record.rank,
                "adlPolicy": record.policy,
                "haircut": record.haircut,
                "liquidatedAccount": pending_account.get(record.pending_id),
                "ruleId": record.rule_id,
            }
        )
    return rows


def score_text(num: int, den: int) -> str:
    """An exact ranking fraction as a decimal with 6 places (floor: display only)."""
    scaled = num * 1_000_000 // max(den, 1)
    return Num(format_scaled(scaled, 1_000_000) if scaled % 1_000_000 else f"{scaled // 1_000_000}")


INT64 = 1 << 63


def _plain(value: Any) -> Any:
    """attrs.asdict output made JSON-ready: tuples to lists, integers beyond int64 to decimal strings.

    (The exact ADL score fractions can pass 2^63; pandas and DuckDB read JSON integers as int64.)
    """
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if type(value) is int and not -INT64 <= value < INT64:
        return str(value)
    return value
