"""What a simulation run produces: the running tally of its events and the summary figures."""

from __future__ import annotations

from typing import Any

import attrs

from perpspec.engine.simulation.scenario import Scenario
from perpspec.rules.parse import format_ppm, format_scaled

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
    command_checks: int = 0  # INV-NO-NEG-EQUITY and INV-REDUCE-ONLY after a command (rules.invariants_trading.check_after_command)
    trigger_checks: int = 0  # INV-TRIGGERS-DUE-FIRED after a command that moved a contract's prices or conditional orders
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
