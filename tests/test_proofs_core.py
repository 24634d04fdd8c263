"""The core proof obligations: proved, known-bad refuted, and every counterexample replayed concretely.

A counterexample Z3 finds against a known-bad rule is replayed on plain ints
twice: the broken rule must really violate the property, and the real rule
must not.  The counterexamples found when the obligations were written are
kept below as fixed regression examples.
"""

from __future__ import annotations

import functools
import json

import pytest

from perpspec.engine.cli.main import main
from perpspec.proofs import obligations_core, obligations_core_margin
from perpspec.proofs.known_bad import (
    compute_bankruptcy_price_rounded_wrong_way,
    compute_commission_floor,
    compute_realised_pnl_naive_inverse,
)
from perpspec.proofs.prover import Counterexample, ProofResult, Prover
from perpspec.proofs.registry import REGISTRY, Obligation, is_expected, run_obligation
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import compute_bankruptcy_price, compute_equity
from perpspec.rules.num import PPM
from perpspec.rules.position import Position, apply_fill, apply_trade, compute_commission

CORE = obligations_core.OBLIGATIONS + obligations_core_margin.OBLIGATIONS
# XBTZ26 has XBTUSD's contract parameters: its margin obligations repeat XBTUSD's and run in `deep`.
REPEATS = "XBTZ26"


def _param(obligation: Obligation) -> object:
    marks = [pytest.mark.deep] if obligation.id.startswith("MRG") and REPEATS in obligation.id else []
    return pytest.param(obligation, id=obligation.id, marks=marks)


@functools.cache
def _run(obligation_id: str) -> ProofResult:
    outcome = run_obligation(REGISTRY[obligation_id])
    assert outcome.result is not None, outcome.error
    return outcome.result


def _counterexample(obligation_id: str) -> Counterexample:
    result = _run(obligation_id)
    assert result.counterexample is not None, result
    return result.counterexample


@pytest.mark.parametrize("obligation", [_param(obligation) for obligation in CORE])
def test_core_obligation_has_its_expected_result(obligation: Obligation) -> None:
    result = _run(obligation.id)
    assert (result.status.value, is_expected(obligation, result)) == (obligation.expect, True), result


def test_every_known_bad_variant_is_registered_expecting_refutation() -> None:
    known_bad = [obligation for obligation in CORE if obligation.id.startswith(("KNOWN-BAD/", "FINDING/"))]
    assert (True, {"refuted"}) == (len(known_bad) >= 13, {obligation.expect for obligation in known_bad})


# -- ACC-002: commission rounded toward the trader ------------------------------------


def assert_commission_floor_undercharges(notional: int, fee_ppm: int) -> None:
    exact = notional * fee_ppm
    assert (
        compute_commission_floor(notional, fee_ppm) * PPM < exact,
        compute_commission(notional, fee_ppm) * PPM >= exact,
    ) == (True, True)


def test_commission_floor_counterexample_replays_on_both_rules() -> None:
    found = _counterexample("KNOWN-BAD/ACC-002/commission-floor")
    assert_commission_floor_undercharges(found.get("notional"), found.get("fee_ppm"))


def test_commission_floor_regression_one_unit_at_one_ppm() -> None:
    assert_commission_floor_undercharges(notional=1, fee_ppm=1)


# -- ACC-003: naive per-side inverse PnL -------------------------------------------------


def closing_gaps(symbol: str, qty: int, entry_price: int, exit_price: int) -> tuple[int, int]:
    """Δ Σ(wallet − cost) of closing a long opened at entry: (naive per-side PnL, the real rules)."""
    inst = load_instrument(symbol)
    long_cost = compute_value(inst, qty, entry_price)
    buyer_after, _ = apply_fill(inst, Position(), qty, exit_price)
    naive = compute_realised_pnl_naive_inverse(inst, qty, entry_price, exit_price)
    naive_gap = naive + long_cost - buyer_after.cost
    trade = apply_trade(inst, Position(), Position(qty=qty, cost=long_cost), qty, exit_price, 0, 0)
    real_gap = (
        trade.buyer.wallet_delta
        - trade.buyer.position.cost
        + trade.seller.wallet_delta
        - (trade.seller.position.cost - long_cost)
        + trade.fee_pool_delta
    )
    return naive_gap, real_gap


@pytest.mark.parametrize("symbol", ["XBTUSD", "XBTZ26"])
def test_naive_inverse_pnl_counterexample_replays_on_both_rules(symbol: str) -> None:
    found = _counterexample(f"KNOWN-BAD/ACC-003/naive-inverse-pnl/{symbol}")
    naive_gap, real_gap = closing_gaps(symbol, found.get("qty"), found.get("entry_price"), found.get("exit_price"))
    assert (naive_gap != 0, real_gap) == (True, 0)


@pytest.mark.parametrize(
    ("qty", "entry_price", "exit_price"),
    [(300, 99_009_900, 99_985_050), (8_873_500, 99_999_950, 112_600), (1_740_300, 150, 5_200)],
)
def test_naive_inverse_pnl_regression_examples_do_not_conserve(qty: int, entry_price: int, exit_price: int) -> None:
    naive_gap, real_gap = closing_gaps("XBTUSD", qty, entry_price, exit_price)
    assert (naive_gap != 0, real_gap) == (True, 0)


# -- MRG-012: bankruptcy price rounded toward the trader -----------------------------------


def assert_wrong_way_price_is_unsafe(
    symbol: str, side_sign: int, qty: int, cost: int, margin: int, reserve: int, mark: int
) -> None:
    """At ``mark`` the broken price calls the position safe, its equity is below the reserve,
    and the real price does not call it safe."""
    inst = load_instrument(symbol)
    bad = compute_bankruptcy_price_rounded_wrong_way(inst, qty, cost, margin, reserve)
    real = compute_bankruptcy_price(inst, qty, cost, margin, reserve)
    equity = compute_equity(inst, Position(qty=qty, cost=cost), margin, mark)
    assert (
        side_sign * (mark - bad) >= 0,
        equity < reserve,
        side_sign * (mark - real) >= 0,
    ) == (True, True, False)


@pytest.mark.parametrize("symbol", ["XBTUSD", "XBTUSDT", "ETHUSD"])
@pytest.mark.parametrize("side", ["long", "short"])
def test_wrong_way_bankruptcy_counterexample_replays_on_both_rules(symbol: str, side: str) -> None:
    found = _counterexample(f"KNOWN-BAD/MRG-012/rounded-wrong-way/{symbol}/{side}")
    assert_wrong_way_price_is_unsafe(
        symbol,
        1 if side == "long" else -1,
        found.get("position.qty"),
        found.get("position.cost"),
        found.get("margin"),
        found.get("reserve"),
        found.get("mark_price"),
    )


@pytest.mark.parametrize(
    ("symbol", "side_sign", "qty", "cost", "margin", "reserve", "mark"),
    [
        ("XBTUSDT", 1, 1_000, 12_000, 499, 0, 1_150),
        ("ETHUSD", -1, -1, -99_999_990, 4, 0, 99_999_995),
        ("XBTUSD", 1, 10_000_000, -1_000_000_000, 998_500_300_000, 0, 100_000),
        ("XBTUSD", -1, -9_999_900, 1_999_980_000_000_000, 99_999, 0, 100),
    ],
)
def test_wrong_way_bankruptcy_regression_examples(
    symbol: str, side_sign: int, qty: int, cost: int, margin: int, reserve: int, mark: int
) -> None:
    assert_wrong_way_price_is_unsafe(symbol, side_sign, qty, cost, margin, reserve, mark)


# -- MRG-012 finding: inverse bankruptcy price is not strictly tight -------------------------


def equity_around_bankruptcy(symbol: str, qty: int, cost: int, margin: int, pos_comm: int) -> tuple[int, int, int]:
    """(equity at the bankruptcy price, equity one tick beyond, lots) of a position."""
    inst = load_instrument(symbol)
    price = compute_bankruptcy_price(inst, qty, cost, margin, pos_comm)
    beyond = price - inst.tick_size if qty > 0 else price + inst.tick_size
    position = Position(qty=qty, cost=cost)
    lots = abs(qty) // inst.lot_size
    return compute_equity(inst, position, margin, price), compute_equity(inst, position, margin, beyond), lots


def assert_not_strictly_tight_but_within_a_unit_per_lot(
    symbol: str, qty: int, cost: int, margin: int, pos_comm: int
) -> None:
    at_price, beyond, lots = equity_around_bankruptcy(symbol, qty, cost, margin, pos_comm)
    assert (at_price >= pos_comm, beyond >= pos_comm, beyond < pos_comm + lots) == (True, True, True)


@pytest.mark.parametrize("side", ["long", "short"])
def test_strict_tightness_counterexample_replays_within_a_unit_per_lot(side: str) -> None:
    found = _counterexample(f"FINDING/MRG-012/strictly-tight/XBTUSD/{side}")
    inst = load_instrument("XBTUSD")
    qty, entry = found.get("position.qty"), found.get("entry_price")
    assert compute_value(inst, qty, entry) == found.get("position.cost")
    assert_not_strictly_tight_but_within_a_unit_per_lot(
        "XBTUSD", qty, found.get("position.cost"), found.get("margin"), found.get("pos_comm")
    )


@pytest.mark.parametrize(
    ("qty", "cost", "margin", "pos_comm"),
    [
        (200, -20_006, 0, 0),  # 2 lots long at 999,750 USD, no margin
        (400, -40_004, 13_333_293_331, 0),  # 4 lots long at 999,950 USD
        (-100, 11_948, 1_943, 0),  # 1 lot short at 836,926 USD
    ],
)
def test_strict_tightness_regression_examples(qty: int, cost: int, margin: int, pos_comm: int) -> None:
    assert_not_strictly_tight_but_within_a_unit_per_lot("XBTUSD", qty, cost, margin, pos_comm)


# -- perpspec prove --------------------------------------------------------------------------


def test_perpspec_prove_json_reports_every_selected_obligation(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["prove", "--only", "ACC-002/*", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (
        status,
        {key: value for key, value in report["summary"].items() if key != "total_time_us"},
    ) == (0, {"obligations": 1, "proved": 1, "refuted_as_expected": 0, "failures": 0})


def _refuted_goal() -> ProofResult:
    with Prover(timeout_ms=5_000) as prover:
        x = prover.symbol("x")
        return prover.prove(x > 0, "x > 0 for every x")


def test_perpspec_prove_exits_1_and_prints_the_counterexample_of_a_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    obligation = Obligation(id="TEST/false-goal", rule_id="T", invariant_id="T", statement="x > 0", run=_refuted_goal)
    REGISTRY[obligation.id] = obligation
    try:
        status = main(["prove", "--only", "TEST/false-goal"])
    finally:
        del REGISTRY[obligation.id]
    out = capsys.readouterr().out
    assert (status, "FAILED TEST/false-goal" in out, "counterexample:\n    x = " in out) == (1, True, True)


def test_perpspec_prove_rejects_a_pattern_that_matches_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["prove", "--only", "NO-SUCH-OBLIGATION"])
    assert (status, "no obligation matches" in capsys.readouterr().err) == (2, True)
