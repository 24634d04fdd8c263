"""`perpspec check-params`: committee properties of instrument files, proved or refuted with Z3.

The shipped instruments satisfy every property; each deliberately bad file in
specs/bad_params/ is refuted on the property it breaks, with a counterexample in
domain terms (a position, a price move, the resulting equity).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.proofs.params_check import check_instrument, check_tiers, position_grid, tier_table
from perpspec.rules.instrument_file import builtin_symbols, load_instrument

BAD = Path(__file__).resolve().parent.parent / "specs" / "bad_params"


def verdicts(path_or_symbol: str) -> dict[str, str]:
    return {result.id: result.verdict for result in check_instrument(load_instrument(path_or_symbol))}


def result_for(path_or_symbol: str, property_id: str):  # type: ignore[no-untyped-def]
    [result] = [r for r in check_instrument(load_instrument(path_or_symbol)) if r.id == property_id]
    return result


@pytest.mark.parametrize("symbol", builtin_symbols())
def test_shipped_instrument_satisfies_every_property(symbol: str) -> None:
    found = verdicts(symbol)
    assert dict.fromkeys(found, "holds") == found


def test_every_bad_file_loads_because_it_is_valid_at_the_base_tier() -> None:
    files = sorted(BAD.glob("*.toml"))
    assert [path.name for path in files] == [
        "fee_tiers_pay_out_across_accounts.toml",
        "funding_cap_not_below_gap.toml",
        "liquidation_fee_above_gap.toml",
        "maker_rebate_above_taker_fee.toml",
        "mm_above_im_at_tier.toml",
    ]
    for path in files:
        inst = load_instrument(str(path))
        assert inst.maint_margin_ppm < inst.init_margin_ppm


def test_maintenance_reaching_initial_at_tier_two_is_refuted_with_that_tier() -> None:
    result = result_for(str(BAD / "mm_above_im_at_tier.toml"), "PRM-TIERS")
    assert result.verdict == "fails"
    assert "tier 2" in result.counterexample[0]
    assert "maintenance 2.00%, initial 2.00%" in result.counterexample[0]


def test_tier_table_of_the_bad_file_shows_the_gap_closing() -> None:
    rows = tier_table(load_instrument(str(BAD / "mm_above_im_at_tier.toml")), tiers=3)
    assert [(row.maint_ppm, row.init_ppm) for row in rows] == [(5_000, 10_000), (12_500, 15_000), (20_000, 20_000)]


def test_funding_cap_equal_to_im_minus_mm_is_refuted() -> None:
    result = result_for(str(BAD / "funding_cap_not_below_gap.toml"), "PRM-FUNDING-CAP")
    assert result.verdict == "fails"
    assert result.counterexample[0].startswith("tier 0: IM 1.00% − MM 0.50% = 0.50%, funding cap 0.5%")


def test_liquidation_fee_above_the_gap_is_refuted_with_negative_equity() -> None:
    result = result_for(str(BAD / "liquidation_fee_above_gap.toml"), "PRM-LIQ-FEE")
    assert result.verdict == "fails"
    assert result.counterexample[-1].startswith("equity after fee and commission: -")


def test_bad_files_break_only_what_they_were_made_to_break() -> None:
    assert verdicts(str(BAD / "liquidation_fee_above_gap.toml")) == {
        "PRM-TIERS": "holds",
        "PRM-FUNDING-CAP": "holds",
        "PRM-LIQ-FEE": "fails",
        "PRM-LEVERAGE": "holds",
        "PRM-BANKRUPTCY-RANGE": "holds",
        "PRM-FEES": "holds",
    }


def test_tier_property_is_refuted_by_an_override_too() -> None:
    inst = load_instrument("XBTUSDT", {"maintMarginStep": "0.02", "initMarginStep": "0.01"})
    assert check_tiers(inst).verdict == "fails"


def test_position_grid_stays_within_allowed_positions() -> None:
    inst = load_instrument("XBTUSD")
    grid = position_grid(inst)
    assert grid != []
    assert all(lots * inst.lot_size <= inst.max_order_qty for _, lots, _, _ in grid)
    assert all(entry * inst.tick_size <= inst.max_price for _, _, entry, _ in grid)


def test_cli_exits_zero_on_a_shipped_instrument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-params", "XBTUSDT"]) == 0
    assert capsys.readouterr().out.strip().endswith("all properties hold")


def test_cli_exits_one_and_names_the_failure_on_a_bad_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-params", str(BAD / "liquidation_fee_above_gap.toml"), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in payload["properties"] if p["verdict"] != "holds"] == ["PRM-LIQ-FEE"]


def test_cli_rejects_an_unloadable_file_with_status_two(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('symbol = "X"\n')
    assert main(["check-params", str(bad)]) == 2


def test_liquidation_fee_bound_is_tight_at_a_quarter_percent_for_xbtusd() -> None:
    from perpspec.proofs.params_check import check_liquidation_fee

    within = check_liquidation_fee(load_instrument("XBTUSD", {"liquidationFee": "0.0025"}))
    beyond = check_liquidation_fee(load_instrument("XBTUSD", {"liquidationFee": "0.0026"}))
    assert (within.verdict, beyond.verdict) == ("holds", "fails")
    assert "leverage 1x" in beyond.counterexample[0]
