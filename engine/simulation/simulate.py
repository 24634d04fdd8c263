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
     (:func:`rules.invariants.check_all`'s answers, read incrementally:
     :mod:`engine.simulation.checks`) — after every mark update, or every
     N events (``invariants_every``); INV-NO-NEG-EQUITY and INV-REDUCE-ONLY
     after every command, on the accounts it touched; INV-TRIGGERS-DUE-FIRED
     after every command, on the contracts whose prices or conditional orders
     it moved (:meth:`~engine.simulation.checks.IncrementalChecks.trigger_symbols`);
  4. **market makers** cancel and requote a ladder around the index, skewed
     against their inventory; after a large index move the ladder is thin
     (fewer levels, wider apart) for a while — the thin book of a crash.
     The waterfall of step 2 meets the book quoted at the previous step, or,
     with ``market_makers.quote_first``, the makers requote around the new
     index before the mark is sent (a short step then stands for liquidating
     along the way); under stress each level holds ``stress_level_qty``.
     After an outage with ``requote_on_reopen`` the makers quote first, so the
     venue reopens with a fresh book; with ``reopen_catch_up`` that book starts
     ``reopen_gap`` of the way from where the makers stood to the index and
     walks to it over the catch-up time (:meth:`Simulation.quote_reference`);
  5. **traders** act: during the entry window each opens its position with an
     aggressive immediate-or-cancel limit order (side, leverage, cross or
     isolated from the population) or rests a far-away limit order (dip
     buyers); afterwards a few per step trade again, most of them following
     the last move (selling into a fall), and some rest protective stops.

The agents' choices come from the scenario's seeded generator
(:class:`~engine.simulation.splitmix.SplitMix64`); they read the engine's state (book,
positions) but change it only through commands.  So the run is a pure
function of (scenario, seed): the same seed gives the same command journal,
byte for byte, and the same events.

The runner never reads a clock (wall time and the progress bar belong to the
CLI, :mod:`engine.cli.simulate`).  It writes the event log as the events come
(JSON Lines, BitMEX field names; see :func:`event_records`) and the journal
through :class:`engine.recovery.DurableExchange`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.events import (
    Accepted,
    Event,
    Execution,
    PositionUpdate,
    Rejected,
)
from perpspec.engine.simulation.checks import IncrementalChecks, KeptView
from perpspec.engine.simulation.engine_port import JOURNAL_DIR, EnginePort, impact_prices
from perpspec.engine.simulation.eventlog import (
    count_execution,
    encode_json,
    event_line,
    iso_timestamp,
    price_num,
    rate_num,
)
from perpspec.engine.simulation.population import Trader, build_population
from perpspec.engine.simulation.result import SimulationResult, Tally, scenario_parameters
from perpspec.engine.simulation.scenario import Scenario, generate_index_path
from perpspec.engine.simulation.splitmix import SplitMix64
from perpspec.rules import invariants, invariants_trading
from perpspec.rules.contract import compute_notional
from perpspec.rules.funding import (
    FundingRejection,
    FundingState,
    PremiumInputs,
    get_indicative_rate,
    make_funding_state,
    process_funding,
    process_premium_sample,
)
from perpspec.rules.mark import NO_IMPACT, MarkInputs, MarkState, process_mark_update
from perpspec.rules.num import PPM, ceildiv
from perpspec.rules.position import compute_unrealised_pnl

LIQUIDATOR = -1  # the liquidation engine's account id (it holds taken-over positions until they close)
ENTRY_SLIPPAGE_PPM = 1_000  # 0.1%: how far beyond the best price an entry order may fill

# ---------------------------------------------------------------------------
# The runner


ProgressHook = Callable[[int, int], None]
# sees every event-log record as it is written, but those of the tables its owner lists in ``ignored_tables`` and
# the execution rows of other types than its ``execution_types`` (report_data.RunBuilder reads no command or
# position row and only the Trade and Deleverage executions: the others are not built for it)
RecordObserver = Callable[[Mapping[str, Any]], None]
HOT_TABLES = {Execution: "execution", Accepted: "command", PositionUpdate: "position"}  # the rows event_line writes
NO_STEP = invariants.StepInfo()  # INV-TRIGGERS-DUE-FIRED reads nothing of the step
TOUCHING = (Execution, PositionUpdate)  # the events whose account the per-command check reads (a tuple: quicker)


class Simulation:
    """One scenario run through a fresh engine (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        out_dir: Path,
        progress: ProgressHook | None = None,
        observer: RecordObserver | None = None,
    ) -> None:
        self.scenario = scenario
        self.inst = scenario.instrument
        self.symbol = scenario.instrument.symbol
        self.asset = scenario.instrument.settl_currency
        self.out_dir = out_dir
        self.progress = progress
        self.observer = observer  # e.g. the report's streaming aggregates (report_data.RunBuilder.add)
        owner = getattr(observer, "__self__", None)
        ignored: frozenset[str] = getattr(owner, "ignored_tables", frozenset())
        self.observed = {kind for kind, table in HOT_TABLES.items() if observer is not None and table not in ignored}
        # the execution rows the observer reads (None: all), when its owner names them (execution_types)
        self.observed_executions: frozenset[str] | None = getattr(owner, "execution_types", None)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.port = EnginePort(scenario, out_dir.joinpath(JOURNAL_DIR))
        # the registry after every mark update, reading only the accounts the commands since the last check named
        # (engine/simulation/checks.py); None: the full check every time (PooledView), as the tests compare
        self.checks: IncrementalChecks | None = IncrementalChecks(self.port.engine)
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
        self.quoted_at = self.path[0]  # the price the makers last quoted around (before skew)
        self.reopen: tuple[int, int] | None = None  # (time, price the makers stood at) when the venue last reopened
        self.events_since_check = 0
        self.log: TextIO | None = None
        self.quantities: dict[int, int] = {}  # account -> currentQty, from PositionUpdate events
        self.long_qty = 0
        self.snapshots: dict[str, dict[int, int]] = {}
        self.impact_seen: tuple[int, Any] | None = None  # (commands sent, impact prices of the book then)

    # -- plumbing ------------------------------------------------------------------

    def send(self, command: Any) -> list[Event]:
        """Journal one command, run it through the engine, log its events, check invariants when due."""
        events = self.port.apply(command)
        tally = self.tally
        tally.commands += 1
        tally.events += len(events)
        if self.checks is not None:
            self.checks.saw(events)
        observe = self.observe
        for event in events:
            observe(event)
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
            if self.observer is not None:
                self.observer(record)

    def observe(self, event: Event) -> None:
        """Count an event and write its record(s).

        The commonest rows (executions, acceptances, position updates) are written as
        :func:`event_line` makes them, the same text as :meth:`write` of their record; the
        record itself is built only for the observer.
        """
        log = self.log
        line = event_line(self.inst, event) if log is not None else None
        kind = type(event)
        if log is None or line is None:
            for record in self.port.records(event, self.tally):
                self.write(record)
        else:
            if (
                kind in self.observed  # empty without an observer
                and (
                    kind is not Execution
                    or self.observed_executions is None
                    or event.exec_type in self.observed_executions  # type: ignore[union-attr]
                )
            ):
                for record in self.port.records(event, self.tally):  # counts, as for every event
                    self.observer(record)  # type: ignore[misc]
            elif kind is Execution and event.exec_type == "Trade":  # type: ignore[union-attr]
                count_execution(event, self.tally)  # type: ignore[arg-type]  # what event_records counts of a Trade
            log.write(line + "\n")
            self.tally.log_rows += 1
        if isinstance(event, Execution):
            if event.exec_type == "Trade":
                self.last_price = event.last_px
        elif isinstance(event, PositionUpdate):
            qty = event.current_qty
            quantities = self.quantities
            self.long_qty += max(qty, 0) - max(quantities.get(event.account, 0), 0)
            quantities[event.account] = qty

    def open_interest(self) -> int:
        """BitMEX ``openInterest``: Σ long quantity, kept from the position events, plus what the liquidation engine holds."""
        return self.long_qty + max(self.port.position(LIQUIDATOR, self.symbol).qty, 0)

    def check_command(self, events: Sequence[Event]) -> None:
        """After every command: no due conditional order left untriggered, no touched account left owing with nothing to
        liquidate, ReduceOnly fills never flip.

        The full registry runs after every mark update (or every N events); these
        two transition invariants are checked after each command, on the accounts
        its events name (issue 13: money left through a fill between mark updates),
        and INV-TRIGGERS-DUE-FIRED on the contracts whose prices or conditional
        orders it moved (session 13: a close-out traded through a LastPrice stop
        and left it waiting until the next command).
        """
        checks = self.checks
        if checks is not None:  # INV-TRIGGERS-DUE-FIRED on the contracts the command can have changed
            symbols = checks.trigger_symbols(events)
            if symbols:
                self.tally.trigger_checks += 1
                self.note("INV-TRIGGERS-DUE-FIRED", invariants_trading.check_triggers_due_fired_of(KeptView(checks, []), NO_STEP, symbols))
        touched = [event.account for event in events if isinstance(event, TOUCHING)]
        if not touched:
            return
        # on the engine itself: a command touches an account or two, each read once or twice (no memo pays off)
        results = invariants_trading.check_after_command(self.port.view(), self.port.step_info(events), touched)
        self.tally.command_checks += 1
        for inv_id, problems in results.items():
            self.note(inv_id, problems)

    def note(self, inv_id: str, problems: Sequence[str]) -> None:
        """Keep an invariant's violations (the first 100 in full, then their ids)."""
        for problem in problems:
            if len(self.tally.violations) < 100:
                self.tally.violations.append(f"{iso_timestamp(self.time_ms)} {inv_id}: {problem}")
            else:
                self.tally.violations.append(inv_id)

    def check_invariants(self, events: Sequence[Event] = (), final: bool = False) -> None:
        """Every registered invariant on the engine's state after a command; violations are kept (must be none).

        The step information (was the waterfall completed? which funding postings,
        which waterfall records?) is the engine's own account of that command.  The
        check reads only the accounts named since the last one (:class:`IncrementalChecks`);
        the ``final`` one reads every account (``PooledView``) and also reports any
        account whose kept answers the engine no longer gives (a change nothing named).
        """
        self.tally.invariant_checks += 1
        step = self.port.step_info(events)
        if not step.waterfall_complete:
            self.tally.waterfall_incomplete += 1
        if self.checks is None or final:
            results = invariants.check_all(self.port.check_view(), step)
            if self.checks is not None:
                results = {**results, "incremental check": self.checks.stale()}
        else:
            results = self.checks.check_all(step)
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
                # CPython's cycle collector re-reads every live object on each full collection, and the engine's
                # state (accounts, positions, books) only grows: at 20,000 accounts that was a tenth of the run.
                # What has survived a step is moved out of its reach; it is still freed by reference counting as
                # usual (the engine's objects form no cycles once they are dropped), and handed back at the end
                gc.freeze()
            if "before" not in self.snapshots:
                self.snapshot("before")
            self.snapshot("after")
            self.check_invariants(final=True)
        except BaseException:  # interrupted or failed: the previous event log and journal stay as they were
            self.log.close()
            partial_log.unlink(missing_ok=True)
            self.port.abandon()
            raise
        finally:
            gc.unfreeze()
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
        # the venue reopens after an outage with the makers' fresh quotes, not the book left before it
        reopening = scenario.requote_on_reopen and scenario.in_outage((step - 1) * scenario.step_ms)
        requote_steps = scenario.makers.requote_ms // scenario.step_ms
        due = step % requote_steps == 0 or self.time_ms <= self.stress_until_ms
        first = reopening or (scenario.makers.quote_first and due)
        if reopening:
            self.reopen = (self.time_ms, self.quoted_at)
        if first:
            self.index_price = index
            self.quote()
        self.update_mark(index)
        if not first and due:
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
        """Impact bid/ask/mid from the engine's book (MRK-004), when the instrument has an impact notional.

        Kept until the next command: a step's premium sample and its mark read the same book.
        """
        if self.inst.impact_notional is None:
            return NO_IMPACT
        if self.impact_seen is not None and self.impact_seen[0] == self.tally.commands:
            return self.impact_seen[1]
        impact = impact_prices(self.inst, lambda levels: self.port.depth(self.symbol, levels))
        self.impact_seen = (self.tally.commands, impact)
        return impact

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
        state, event = settled
        events = self.send(cmd.FundingTick(time_ms=self.time_ms, symbol=self.symbol, rate_e8=event.rate.rate_e8))
        if not isinstance(events[-1], Accepted):
            return  # FND-020: a pool is still carried (LIQ-034); the instant stays due, funded after the next mark
        self.funding_state = state
        self.tally.funding_instants += 1
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
            reference = self.quote_reference()
            centre = reference + reference * makers.premium_ppm // PPM  # floor: a quote, not money
            centre -= centre * makers.skew_ppm // PPM * lean_ppm // PPM  # floor: a quote
            may_buy = lean_ppm < PPM
            may_sell = lean_ppm > -PPM
            for level in range(levels):
                offset_ppm = spread + level * spacing
                bid = (centre - centre * offset_ppm // PPM) // tick * tick  # down to the tick
                ask = -((-(centre + centre * offset_ppm // PPM)) // tick) * tick  # up to the tick
                qty = (makers.stress_level_qty or makers.level_qty) if stressed else makers.level_qty
                if bid >= tick and may_buy:
                    self.send(self.limit(account, "Buy", qty, bid))
                if ask <= self.inst.max_price and may_sell:
                    self.send(self.limit(account, "Sell", qty, ask))

    def quote_reference(self) -> int:
        """The price the makers quote around: the index, or after an outage the walk from where they stood to it.

        With ``[outage] reopen_catch_up`` the makers do not jump to an index that moved
        while the venue was down: their quotes start where they stood when it went down
        and reach the index linearly over the catch-up time (floor: a quote, not money).
        """
        self.quoted_at = self.index_price
        catch_up = self.scenario.reopen_catch_up_ms
        if self.reopen is None or catch_up <= 0:
            return self.index_price
        since = self.time_ms - self.reopen[0]
        if since >= catch_up:
            return self.index_price
        stood, gap = self.reopen[1], self.index_price - self.reopen[1]
        start = stood + gap * self.scenario.reopen_gap_ppm // PPM  # floor: a quote, not money
        walked = start + (self.index_price - start) * since // catch_up
        self.quoted_at = walked
        return walked

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
            unrealised = compute_unrealised_pnl(self.inst, position, self.mark_price)  # ACC-001
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
                "after every mark update and funding instant; INV-NO-NEG-EQUITY and INV-REDUCE-ONLY after every command; "
                "INV-TRIGGERS-DUE-FIRED after every command that moved a contract's prices or conditional orders"
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



def run_scenario(
    scenario: Scenario, out_dir: Path, progress: ProgressHook | None = None, observer: RecordObserver | None = None
) -> SimulationResult:
    """Run ``scenario`` through a fresh engine; the event log and the journal go under ``out_dir``.

    ``observer`` sees every record of the event log as it is written (the report's
    aggregates are built that way, without reading the log back).
    """
    return Simulation(scenario, out_dir, progress, observer).run()
