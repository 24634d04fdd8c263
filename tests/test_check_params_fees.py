"""Attack review of ``perpspec check-params``: a maker rebate larger than the taker fee must not "hold".

Found by the session-5 integrity review: ``perpspec check-params XBTUSD --set makerFee=-0.5`` printed
"all properties hold" (the instrument file's own checks only ask −1 < makerFee ≤ takerFee).  With such
a schedule every trade pays its maker more rebate than its taker pays in commission, so the fee pool
pays out on each trade: two colluding accounts that trade 1,000 XBTUSD contracts at 50,000.00 with
makerFee −50% take 998,500 XBt from the fee pool (which goes negative) in one trade, and can repeat it.
At makerFee −0.1% (a rebate above the 0.075% taker fee) the leak is small but still there.

PRM-FEES (proofs/params_check.py) now checks that at every fee tier
``makerFee + takerFee ≥ 0`` — the exchange never pays out more on a trade than it collects (ACC-002
rounds the taker's commission up and the rebate toward zero, so equality is safe).  Since attack review 3
it asks every *pair* of tiers (the maker's and the taker's, which differ when the two accounts trade
different volumes; tests/test_attack3_fee_tiers_across_accounts.py): XBTUSD's tier-0 rebate must be covered
by its *smallest* taker fee, 0.0175% at the top tier.
"""

from __future__ import annotations

import json

import pytest

from perpspec.engine.cli.main import main


def _holds(capsys: pytest.CaptureFixture[str], *sets: str) -> bool:
    argv = ["check-params", "XBTUSD", "--json"]
    for value in sets:
        argv += ["--set", value]
    main(argv)
    verdict: bool = json.loads(capsys.readouterr().out)["holds"]
    return verdict


def test_a_rebate_below_the_smallest_taker_fee_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert _holds(capsys, "makerFee=-0.00015")  # 0.015% rebate; taker fees 0.075% .. 0.0175% (top tier)


def test_a_rebate_below_its_own_tiers_taker_fee_but_above_another_tiers_does_not_hold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert not _holds(capsys, "makerFee=-0.0005")  # 0.05% rebate < 0.075% at tier 0, > 0.0175% at the top tier



def test_a_rebate_above_the_taker_fee_does_not_hold(capsys: pytest.CaptureFixture[str]) -> None:
    assert not _holds(capsys, "makerFee=-0.001")  # 0.1% rebate, 0.075% taker fee


def test_prm_fees_counterexample_names_the_tier_and_the_loss_per_trade() -> None:
    from perpspec.proofs.params_check import check_fees
    from perpspec.rules.instrument_file import load_instrument

    result = check_fees(load_instrument("XBTUSD", {"makerFee": "-0.001"}))
    assert result.verdict == "fails"
    assert result.counterexample[0] == "fee tier 0: makerFee -0.10%, takerFee 0.075%"
    assert result.counterexample[2].startswith("the fee pool loses ")
    equal = load_instrument("XBTUSD", {"makerFee": "-0.000175"})  # = the top tier's taker fee
    assert check_fees(equal).verdict == "holds"  # equal: rounding is safe


def test_prm_fees_the_bad_file_breaks_only_the_fees() -> None:
    from pathlib import Path

    from perpspec.proofs.params_check import check_instrument
    from perpspec.rules.instrument_file import load_instrument

    path = Path(__file__).resolve().parent.parent / "specs" / "bad_params" / "maker_rebate_above_taker_fee.toml"
    found = {result.id: result.verdict for result in check_instrument(load_instrument(str(path)))}
    assert found == {**dict.fromkeys(found, "holds"), "PRM-FEES": "fails"}
