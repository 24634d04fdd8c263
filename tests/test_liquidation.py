"""LIQ: trigger at mark, take-over at the bankruptcy price, partial liquidation, cross and isolated pools."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from perpspec.proofs.known_bad_waterfall import is_liquidatable_on_last_price
from perpspec.proofs.registry import Obligation, discover, run_obligation
from perpspec.rules.adl import (
    RankedQueuePolicy,
    compare_adl_priority,
    compute_adl_score,
    compute_deleverage_band,
    compute_pro_rata_allocation,
    compute_queue_allocation,
    is_adl_eligible,
)
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.events import (
    AdlDeferred,
    AdlFill,
    Liquidation,
    OrdersCancelled,
    PartialLiquidation,
    PositionSnapshot,
    RiskLimitLowered,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import Fill, InsuranceFund, settle_close_out
from perpspec.rules.invariants import StepInfo, check_all
from perpspec.rules.invariants_trading import check_no_false_liquidation
from perpspec.rules.liquidation import (
    compute_pool_residual,
    compute_reduce_limit_price,
    compute_requirement,
    compute_takeover_price,
    is_liquidatable,
)
from perpspec.rules.margin import compute_position_margin
from perpspec.rules.position import Position, compute_commission
from perpspec.rules.waterfall import Book, BookLevel, Holding, Ledger, get_pool, process_waterfall
from tests.strategies import BUILTIN, instruments, positions, realistic_prices

XBTUSDT, XBTUSD, ETHUSD = BUILTIN["XBTUSDT"], BUILTIN["XBTUSD"], BUILTIN["ETHUSD"]
MAKER = 100


def make_ledger(
    instruments_: dict[str, Instrument],
    marks: dict[str, int],
    wallets: dict[tuple[int, str], int],
    holdings: dict[tuple[int, str], Holding],
) -> Ledger:
    """A ledger whose net deposits are whatever its wallets and positions hold (conserved by construction)."""
    deposits: dict[str, int] = {}
    for (_, asset), amount in wallets.items():
        deposits[asset] = deposits.get(asset, 0) + amount
    for (_, symbol), holding in holdings.items():
        asset = instruments_[symbol].settl_currency
        deposits[asset] = deposits.get(asset, 0) - holding.position.cost
    funds = {asset: InsuranceFund(currency=asset) for asset in deposits}
    return Ledger(
        instrument_map=instruments_, marks=marks, wallets=wallets, holdings=holdings, funds=funds, deposits=deposits
    )


def all_problems(ledger: Ledger, info: StepInfo) -> dict[str, list[str]]:
    return {key: value for key, value in check_all(ledger, info).items() if value}


# -- the trigger --------------------------------------------------------------------------------


def test_liquidation_at_exact_maintenance_is_not_triggered() -> None:
    assert (is_liquidatable(1_000, 1_000), is_liquidatable(999, 1_000)) == (False, True)


@given(inst=instruments(), data=st.data())
def test_requirement_matches_the_margin_rules_for_cross(inst: Instrument, data: st.DataObject) -> None:
    position = data.draw(positions(inst))
    mark = data.draw(realistic_prices(inst))
    fields = compute_position_margin(inst, position, mark, 0)
    req = compute_requirement(inst, position, 0, 0)
    assert (req.steps, req.pos_comm, req.pos_maint) == (fields.risk_steps, fields.pos_comm, fields.pos_maint)


def test_known_bad_last_price_trigger_liquidates_a_pool_safe_at_mark() -> None:
    position = Position(qty=1_000_000, cost=compute_value(XBTUSDT, 1_000_000, 5_000_000))  # 1 XBT long at 50,000
    maintenance = compute_requirement(XBTUSDT, position, 0, 0).pos_maint
    margin = 5_000_000_000  # 5,000 USDT
    mark, last = 5_000_000, 4_000_000  # one trade printed 40,000; the mark is still 50,000
    fired = is_liquidatable_on_last_price(XBTUSDT, position.qty, position.cost, margin, maintenance, last)
    event = Liquidation(
        rule_id="LIQ-023",
        account_id=1,
        pool="cross:USDt",
        currency="USDt",
        pool_margin=margin,
        positions=(
            PositionSnapshot(
                symbol="XBTUSDT", qty=position.qty, cost=position.cost, leverage_hundredths=0, chosen_tier=0, mark_price=last
            ),
        ),
        equity=margin + compute_value(XBTUSDT, position.qty, last) - position.cost,
        maintenance=maintenance,
        taken=(),
        residual_margin=0,
    )
    ledger = make_ledger({"XBTUSDT": XBTUSDT}, {"XBTUSDT": mark}, {}, {})
    problems = check_no_false_liquidation(ledger, StepInfo(waterfall_events=(event,)))
    assert (fired, len(problems)) == (True, 2)  # judged at the wrong price, and safe at mark


# -- take-over at the bankruptcy price ------------------------------------------------------------


@given(inst=instruments(), data=st.data())
def test_takeover_price_leaves_the_commission_reserve(inst: Instrument, data: st.DataObject) -> None:
    position = data.draw(positions(inst))
    assume(position.qty != 0)
    mark = data.draw(realistic_prices(inst))
    reserve = compute_requirement(inst, position, 0, 0).pos_comm
    margin = data.draw(st.integers(min_value=0, max_value=abs(position.cost)))
    assume(margin + compute_value(inst, position.qty, mark) - position.cost >= reserve)  # solvent at mark
    price = compute_takeover_price(inst, position, margin, reserve)
    assert compute_pool_residual(inst, position.qty, position.cost, margin, price) >= reserve


def test_gapped_isolated_long_is_taken_over_with_its_margin_to_the_fund() -> None:
    position = Position(qty=100_000, cost=compute_value(XBTUSD, 100_000, 5_000_000))  # 100k USD long at 50,000
    iso = compute_requirement(XBTUSD, position, 2_500, 0)
    holdings = {
        (1, "XBTUSD"): Holding(position=position, leverage_hundredths=2_500, isolated_margin=iso.pos_init + iso.pos_comm),
        (2, "XBTUSD"): Holding(position=Position(qty=-100_000, cost=-position.cost)),
    }
    wallets = {(1, "XBt"): 10**8, (2, "XBt"): 10**8}
    ledger = make_ledger({"XBTUSD": XBTUSD}, {"XBTUSD": 4_700_000}, wallets, holdings)
    result = process_waterfall(ledger, {}, RankedQueuePolicy())
    taken = [event for event in result.events if isinstance(event, Liquidation)]
    # the cross wallet outside the isolated margin is untouched: 1 XBT − the isolated margin
    cross_left = 10**8 - iso.pos_init - iso.pos_comm
    assert (len(taken), result.ledger.wallet(1, "XBt"), all_problems(result.ledger, StepInfo(waterfall_events=result.events, waterfall_complete=result.complete))) == (
        1,
        cross_left,
        {},
    )


def test_cross_pool_in_two_contracts_is_taken_over_whole_and_adl_ranks_the_isolated_short_first() -> None:
    xbt = Position(qty=200_000, cost=compute_value(XBTUSD, 200_000, 5_000_000))  # 4 XBT
    eth = Position(qty=1_000, cost=compute_value(ETHUSD, 1_000, 300_000))  # 3 XBT
    iso_eth_position = Position(qty=-500, cost=compute_value(ETHUSD, -500, 300_000))
    iso = compute_requirement(ETHUSD, iso_eth_position, 1_000, 0)
    holdings = {
        (1, "XBTUSD"): Holding(position=xbt),
        (1, "ETHUSD"): Holding(position=eth, open_order_qty=300),
        (2, "XBTUSD"): Holding(position=Position(qty=-200_000, cost=-xbt.cost)),
        (2, "ETHUSD"): Holding(position=Position(qty=-500, cost=-eth.cost // 2)),
        (3, "ETHUSD"): Holding(
            position=iso_eth_position, leverage_hundredths=1_000, isolated_margin=iso.pos_init + iso.pos_comm
        ),
    }
    wallets = {(1, "XBt"): 60_000_000, (2, "XBt"): 10**9, (3, "XBt"): 10**8}
    marks = {"XBTUSD": 4_600_000, "ETHUSD": 270_000}
    ledger = make_ledger({"XBTUSD": XBTUSD, "ETHUSD": ETHUSD}, marks, wallets, holdings)
    assert get_pool(ledger, 1, "cross:XBt").excess < 0
    result = process_waterfall(ledger, {}, RankedQueuePolicy(), trace=True)
    taken = [event for event in result.events if isinstance(event, Liquidation)]
    cancels = [event.symbol for event in result.events if isinstance(event, OrdersCancelled)]
    adl = [(event.symbol, event.account_id) for event in result.events if isinstance(event, AdlFill)]
    info = StepInfo(waterfall_events=result.events, waterfall_complete=result.complete)
    deferred = [(event.symbol, event.unfilled_qty) for event in result.events if isinstance(event, AdlDeferred)]
    # the isolated 10x short of account 3 has the higher effective leverage: deleveraged first.
    # The XBTUSD long was taken over at mark (the pool's other position), so holding it costs the
    # fund nothing at mark: no ADL for it (ADL-031); the liquidation engine keeps it for the book.
    assert ([len(event.taken) for event in taken], cancels, adl, deferred) == (
        [2],
        ["ETHUSD"],
        [("ETHUSD", 3), ("ETHUSD", 2)],
        [("XBTUSD", 200_000)],
    )
    assert (dict(result.ledger.positions(1)), all_problems(result.ledger, info)) == ({}, {})


# -- partial liquidation ---------------------------------------------------------------------------

WHALE = Position(qty=24_000_000, cost=compute_value(XBTUSDT, 24_000_000, 5_000_000))  # 24 XBT = 1.2M USDT: tier 1


def whale_ledger(wallet: int, chosen_tier: int = 0) -> Ledger:
    holdings = {
        (1, "XBTUSDT"): Holding(position=WHALE, chosen_tier=chosen_tier),
        (2, "XBTUSDT"): Holding(position=Position(qty=-WHALE.qty, cost=-WHALE.cost)),
    }
    wallets = {(1, "USDt"): wallet, (2, "USDt"): 10**13, (MAKER, "USDt"): 10**13}
    return make_ledger({"XBTUSDT": XBTUSDT}, {"XBTUSDT": 5_000_000}, wallets, holdings)


def test_partial_liquidation_steps_a_whale_down_one_tier_with_a_fill_or_kill() -> None:
    ledger = whale_ledger(20_000_000_000)  # 20,000 USDT against ~24,900 USDT maintenance at tier 1
    book = {"XBTUSDT": Book(bids=(BookLevel(price=4_990_000, qty=5_000_000, maker_account_id=MAKER),))}
    result = process_waterfall(ledger, book, RankedQueuePolicy())
    partial = [event for event in result.events if isinstance(event, PartialLiquidation)]
    info = StepInfo(waterfall_events=result.events, waterfall_complete=result.complete)
    assert [(event.filled, event.close_qty, event.to_tier) for event in partial] == [(True, 4_000_000, 0)]
    assert (result.ledger.positions(1)["XBTUSDT"].qty, get_pool(result.ledger, 1, "cross:USDt").excess >= 0) == (
        20_000_000,
        True,
    )
    assert all_problems(result.ledger, info) == {}


def test_partial_liquidation_killed_by_an_empty_book_falls_back_to_take_over() -> None:
    result = process_waterfall(whale_ledger(20_000_000_000), {}, RankedQueuePolicy())
    kinds = [type(event).__name__ for event in result.events if isinstance(event, PartialLiquidation | Liquidation)]
    assert kinds == ["PartialLiquidation", "Liquidation"]


def test_lowering_the_chosen_risk_limit_can_end_the_liquidation() -> None:
    # tier 2 chosen (3% maintenance) but the position fits tier 1 (2%): lowering it suffices
    ledger = whale_ledger(30_000_000_000, chosen_tier=2)
    assert get_pool(ledger, 1, "cross:USDt").excess < 0
    result = process_waterfall(ledger, {}, RankedQueuePolicy())
    lowered = [(event.from_tier, event.to_tier) for event in result.events if isinstance(event, RiskLimitLowered)]
    assert (lowered, [type(event).__name__ for event in result.events]) == ([(2, 1)], ["RiskLimitLowered"])


# -- worked examples (specs/examples/waterfall.toml) ---------------------------------------------

EXAMPLES_FILE = Path(__file__).resolve().parent.parent / "specs" / "examples" / "waterfall.toml"
with EXAMPLES_FILE.open("rb") as _handle:
    EXAMPLES: list[dict[str, Any]] = tomllib.load(_handle)["example"]


def run_example(example: dict[str, Any]) -> dict[str, Any]:
    """Execute one worked example's rule on its inputs; the result has the keys of ``expected``."""
    inputs, rule = example["inputs"], example["rule"]
    inst = BUILTIN[example["instrument"]] if "instrument" in example else None
    if rule == "LIQ-003":
        return {"liquidatable": [is_liquidatable(e, inputs["maintenance"]) for e in inputs["equities"]]}
    if rule == "LIQ-005":
        assert inst is not None
        position = Position(qty=inputs["qty"], cost=compute_value(inst, inputs["qty"], inputs["entry_price"]))
        req = compute_requirement(inst, position, inputs["leverage_hundredths"], 0)
        margin = req.pos_init + req.pos_comm
        price = compute_takeover_price(inst, position, margin, req.pos_comm)
        residual = compute_pool_residual(inst, position.qty, position.cost, margin, price)
        return {"pos_init": req.pos_init, "pos_comm": req.pos_comm, "takeover_price": price, "residual": residual}
    if rule == "INS-005":
        assert inst is not None
        offers = [Fill(qty=qty, price=price) for qty, price in inputs["offers"]]
        result = settle_close_out(inst, inputs["fund"], inputs["position_qty"], inputs["bankruptcy_price"], offers)
        return {
            "accepted": [[fill.qty, fill.price] for fill in result.accepted],
            "fund_delta": result.fund_delta,
            "unfilled_qty": result.unfilled_qty,
        }
    if rule == "ADL-001":
        scores = [compute_adl_score(*position) for position in inputs["positions"]]
        return {"scores": [[score.num, score.den] for score in scores]}
    if rule == "ADL-002":
        return {"comparisons": [compare_adl_priority(*a, *b) for a, b in inputs["pairs"]]}
    if rule in ("ADL-010", "ADL-011"):
        allocate = compute_queue_allocation if rule == "ADL-010" else compute_pro_rata_allocation
        return {"allocation": list(allocate(inputs["sizes"], inputs["unfilled"]))}
    if rule == "ADL-006":
        sizes = inputs["sizes"]  # in ranking order
        return {"lights": [compute_deleverage_band(sum(sizes[:rank]), sum(sizes)) for rank in range(len(sizes))]}
    if rule == "ADL-003":
        assert inst is not None
        qty, mark = inputs["qty"], inputs["mark_price"]
        cost = compute_value(inst, qty, inputs["entry_price"])
        equity = inputs["margin"] + compute_value(inst, qty, mark) - cost
        eligible = is_adl_eligible(inst, qty, cost, equity, mark, inputs["bankrupt_qty"], inputs["bankruptcy_price"])
        return {"eligible": eligible}
    raise AssertionError(f"no runner for {rule}")


@pytest.mark.parametrize("example", EXAMPLES, ids=[example["id"] for example in EXAMPLES])
def test_worked_example(example: dict[str, Any]) -> None:
    assert run_example(example) == example["expected"]


# -- the waterfall's proof obligations (proofs/obligations_waterfall.py, ADL-032's in obligations_adl_due.py) --------

WATERFALL_MODULES = ("perpspec.proofs.obligations_waterfall", "perpspec.proofs.obligations_adl_due")
WATERFALL_OBLIGATIONS = [
    obligation
    for obligation in discover()
    if obligation.run.__module__ in WATERFALL_MODULES
    or getattr(getattr(obligation.run, "func", None), "__module__", "") in WATERFALL_MODULES
]
# the slower ones (seconds each: nonlinear inverse values, k ≥ 5 candidates) run in `deep`
SLOW_MARKERS = ("k=5", "k=6", "k=7", "k=8", "no-negative-equity/XBTUSD", "INS-005/conservation/XBTUSD",
                "LIQ-012/partial-keeps-maintenance/ETHUSD", "LIQ-012/partial-keeps-maintenance/XBTUSDT",
                "conservation/XBTUSDT/k=2", "conservation/ETHUSD/k=2")  # fmt: skip


def _obligation_param(obligation: Obligation) -> object:
    slow = any(marker in obligation.id for marker in SLOW_MARKERS)
    return pytest.param(obligation, id=obligation.id, marks=[pytest.mark.deep] if slow else [])


def test_every_waterfall_obligation_is_registered() -> None:
    known_bad = [obligation.id for obligation in WATERFALL_OBLIGATIONS if obligation.expect == "refuted"]
    assert (len(WATERFALL_OBLIGATIONS), len(known_bad)) == (116, 23)  # LIQ-035: one per symbol; ADL-032: 6 + 6


@pytest.mark.parametrize("obligation", [_obligation_param(obligation) for obligation in WATERFALL_OBLIGATIONS])
def test_waterfall_obligation_has_its_expected_result(obligation: Obligation) -> None:
    outcome = run_obligation(obligation)
    assert (outcome.status_text, outcome.passed) == (obligation.expect, True), outcome.error or outcome.result


@given(
    inst=instruments(),
    data=st.data(),
    extra_margin=st.integers(0, 10**9),
    taker_fee_ppm=st.sampled_from((0, 250, 500, 750, 2_000)),
    fills=st.integers(1, 50),
)
def test_liq_016_closing_at_the_reduce_limit_in_any_split_of_fills_never_leaves_the_margin_negative(
    inst: Instrument, data: st.DataObject, extra_margin: int, taker_fee_ppm: int, fills: int
) -> None:
    """LIQ-016: a trader's market order closing the whole position at its limit price pays its fees from the margin."""
    position = data.draw(positions(inst))
    assume(position.qty != 0)
    lots_held = abs(position.qty) // inst.lot_size
    requirement = compute_requirement(inst, position, 0, 0)
    margin = requirement.pos_init + requirement.pos_comm + extra_margin
    limit = compute_reduce_limit_price(inst, position, margin, requirement.pos_comm, taker_fee_ppm)
    assume(compute_takeover_price(inst, position, margin, requirement.pos_comm) not in (inst.tick_size, inst.max_price))
    # the close split into up to `fills` fills of whole lots, all at the limit (the worst case of a sweep)
    split = min(fills, lots_held)
    sizes = [lots_held // split + (1 if index < lots_held % split else 0) for index in range(split)]
    sign = 1 if position.qty > 0 else -1
    fees = sum(compute_commission(compute_notional(inst, size * inst.lot_size, limit), taker_fee_ppm) for size in sizes)
    left = compute_pool_residual(inst, position.qty, position.cost, margin, limit) - fees
    assert (left >= 0, sign * sum(sizes) * inst.lot_size) == (True, position.qty)
