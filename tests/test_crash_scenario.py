"""The crash scenario (specs/waterfall/crash_thin_book.toml) through the waterfall, every invariant after every event.

A thin book and a 30% mark drop in five updates: the events must show
liquidations, insurance surplus and draws, then ADL in ranking order; after
every single event every registered invariant holds, and at the end the
balances sum to the net deposits exactly.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from perpspec.rules.adl import POLICIES, AdlPolicy, compare_adl_priority
from perpspec.rules.events import AdlFill, InsuranceMovement, Liquidation, WaterfallEvent
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.invariants import StepInfo, check_all
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.position import apply_trade
from perpspec.rules.waterfall import (
    Book,
    BookLevel,
    Holding,
    Ledger,
    WaterfallResult,
    process_fund_deposit,
    process_waterfall,
)

SCENARIO = Path(__file__).resolve().parent.parent / "specs" / "waterfall" / "crash_thin_book.toml"


@attrs.frozen(kw_only=True)
class ScenarioRun:
    """Everything the scenario produced, per mark update."""

    opening: Ledger
    results: tuple[WaterfallResult, ...]
    violations: tuple[str, ...]  # "<step>/<event index> <invariant>: <message>"

    @property
    def events(self) -> list[WaterfallEvent]:
        return [event for result in self.results for event in result.events]

    @property
    def final(self) -> Ledger:
        return self.results[-1].ledger


def load_scenario(path: Path = SCENARIO) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def open_scenario(data: Mapping[str, Any]) -> Ledger:
    """The ledger after deposits, the fund's seed and the opening trades."""
    symbols = sorted(data["marks"])
    instruments = {symbol: load_instrument(symbol) for symbol in symbols}
    currency = data["currency"]
    wallets: dict[tuple[int, str], int] = {}
    holdings: dict[tuple[int, str], Holding] = {}
    deposits = 0
    for account in data["accounts"]:
        wallets[(account["id"], currency)] = account["deposit"]
        deposits += account["deposit"]
        for symbol, leverage in account.get("isolated", {}).items():
            holdings[(account["id"], symbol)] = Holding(leverage_hundredths=leverage)
        for symbol, qty in account.get("open_orders", {}).items():
            holding = holdings.get((account["id"], symbol), Holding())
            holdings[(account["id"], symbol)] = attrs.evolve(holding, open_order_qty=qty)
    ledger = Ledger(
        instrument_map=instruments,
        marks=dict(data["marks"]),
        wallets=wallets,
        holdings=holdings,
        funds={currency: InsuranceFund(currency=currency)},
        deposits={currency: deposits},
    )
    ledger, _ = process_fund_deposit(ledger, currency, data["insurance_deposit"])
    for trade in data["trades"]:
        ledger = apply_scenario_trade(ledger, trade["buyer"], trade["seller"], trade["symbol"], trade["qty"], trade["price"])
    return ledger


def apply_scenario_trade(ledger: Ledger, buyer: int, seller: int, symbol: str, qty: int, price: int) -> Ledger:
    """ACC-004 between two accounts (taker fee to both, into the fee pool); isolated sides set aside posInit + posComm."""
    inst = ledger.instrument_map[symbol]
    currency = inst.settl_currency
    wallets = dict(ledger.wallets)
    holdings = dict(ledger.holdings)
    buy_holding = holdings.get((buyer, symbol), Holding())
    sell_holding = holdings.get((seller, symbol), Holding())
    effect = apply_trade(
        inst, buy_holding.position, sell_holding.position, qty, price, inst.taker_fee_ppm, inst.taker_fee_ppm
    )
    for account, holding, side in ((buyer, buy_holding, effect.buyer), (seller, sell_holding, effect.seller)):
        wallets[(account, currency)] = wallets.get((account, currency), 0) + side.wallet_delta
        margin = 0
        if holding.is_isolated:
            req = compute_requirement(inst, side.position, holding.leverage_hundredths, holding.chosen_tier)
            margin = req.pos_init + req.pos_comm
        holdings[(account, symbol)] = attrs.evolve(holding, position=side.position, isolated_margin=margin)
    fees = dict(ledger.fees)
    fees[currency] = fees.get(currency, 0) + effect.fee_pool_delta
    return attrs.evolve(ledger, wallets=wallets, holdings=holdings, fees=fees)


def scenario_books(step: Mapping[str, Any], maker: int) -> dict[str, Book]:
    return {
        symbol: Book(bids=tuple(BookLevel(price=price, qty=qty, maker_account_id=maker) for price, qty in levels))
        for symbol, levels in step.get("bids", {}).items()
    }


def flat_accounts(ledger: Ledger) -> tuple[tuple[int, str, int], ...]:
    return tuple(
        (account, asset, ledger.wallet(account, asset))
        for account in ledger.account_ids()
        if account >= 0 and not ledger.positions(account)
        for asset in ledger.assets()
    )


def run_scenario(data: Mapping[str, Any], policy: AdlPolicy | None = None) -> ScenarioRun:
    """Every mark update through the waterfall, every registered invariant after every event."""
    chosen = policy if policy is not None else POLICIES[data["policy"]]
    ledger = open_scenario(data)
    opening = ledger
    results = []
    violations: list[str] = []
    for number, step in enumerate(data["steps"]):
        flat = flat_accounts(ledger)
        ledger = attrs.evolve(ledger, marks={**ledger.marks, **step["marks"]}, clock_ms=(number + 1) * 60_000)
        result = process_waterfall(ledger, scenario_books(step, 100), chosen, trace=True)
        for index, (_event, state) in enumerate(zip(result.events, result.states, strict=True)):
            info = StepInfo(waterfall_events=result.events[: index + 1], flat_before=flat)
            for inv_id, problems in check_all(state, info).items():
                violations += [f"{number}/{index} {inv_id}: {problem}" for problem in problems]
        final_info = StepInfo(waterfall_events=result.events, flat_before=flat, waterfall_complete=result.complete)
        for inv_id, problems in check_all(result.ledger, final_info).items():
            violations += [f"{number}/end {inv_id}: {problem}" for problem in problems]
        results.append(result)
        ledger = result.ledger
    return ScenarioRun(opening=opening, results=tuple(results), violations=tuple(violations))


@pytest.fixture(scope="module")
def crash() -> ScenarioRun:
    return run_scenario(load_scenario())


def test_crash_keeps_every_invariant_after_every_event(crash: ScenarioRun) -> None:
    assert list(crash.violations) == []


def test_crash_liquidates_the_expected_accounts(crash: ScenarioRun) -> None:
    liquidated = [event.account_id for event in crash.events if isinstance(event, Liquidation)]
    assert load_scenario()["expected"]["liquidated"] == liquidated


def test_crash_fund_takes_surpluses_and_pays_draws(crash: ScenarioRun) -> None:
    kinds = {event.kind for event in crash.events if isinstance(event, InsuranceMovement)}
    assert {"residual", "surplus", "draw"} <= kinds


def test_crash_deleverages_in_ranking_order(crash: ScenarioRun) -> None:
    fills = [event for event in crash.events if isinstance(event, AdlFill)]
    assert load_scenario()["expected"]["adl_order"] == [event.account_id for event in fills]
    for before, after in itertools.pairwise(fills):
        if before.pending_id == after.pending_id:
            order = compare_adl_priority(
                before.score_num, before.score_den, abs(before.position_qty), before.account_id,
                after.score_num, after.score_den, abs(after.position_qty), after.account_id,
            )  # fmt: skip
            assert order == 1


def test_crash_final_balances_sum_to_net_deposits(crash: ScenarioRun) -> None:
    ledger = crash.final
    total = ledger.insurance("XBt") + ledger.fee_pool("XBt")
    for account in ledger.account_ids():
        total += ledger.wallet(account, "XBt") - sum(p.cost for p in ledger.positions(account).values())
    assert ledger.net_deposits("XBt") == total


def test_crash_insurance_history_has_one_row_per_movement(crash: ScenarioRun) -> None:
    movements = [event for event in crash.events if isinstance(event, InsuranceMovement)]
    history = crash.final.funds["XBt"].history
    assert [event.balance_after for event in movements] == [row.wallet_balance for row in history[1:]]


def test_crash_under_pro_rata_keeps_every_invariant() -> None:
    run = run_scenario(load_scenario(), POLICIES["pro-rata"])
    assert list(run.violations) == []
