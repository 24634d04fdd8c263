"""The population of a stress scenario: the traders drawn from its distributions with its seed.

(Market makers are the runner's own accounts 1..N; see :mod:`perpspec.engine.simulation.simulate`.)
"""

from __future__ import annotations

import attrs

from perpspec.engine.simulation.scenario import Scenario
from perpspec.engine.simulation.splitmix import SplitMix64
from perpspec.rules.num import ceildiv
from perpspec.rules.risk_limit import compute_max_leverage_hundredths

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
