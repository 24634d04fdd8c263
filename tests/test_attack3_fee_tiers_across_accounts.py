"""Attack review 3: PRM-FEES checks each fee tier alone, but a fill's maker and taker can sit in different tiers.

Severity: medium for anyone who loads their own fee schedule (the shipped schedules are safe: their largest
maker rebate, 0.01% at the top tier, is below their smallest taker fee, 0.0175%).  ``perpspec check-params``
promises "no trade pays out of the fee pool, so two colluding accounts cannot drain it by trading with each
other", and ``proofs/params_check.check_fees`` proves ``taker fee + maker fee >= 0`` *within* every tier.
The engine, however, charges each side at its own account's tier (``Fills.fee_ppm`` ->
``Account.fee_tier``, ACC-002 over the 30-day ADV).  The instrument file only asks ``makerFee <= takerFee`` per
tier and does not require the schedule to be monotone, so a valid file can pair one tier's large rebate with
another tier's small taker fee.

Reproduction (XBTUSD with two extra tiers: ADV 1,000,000 USD: maker −0.04% / taker 0.05%; ADV 5,000,000 USD:
maker 0 / taker 0.01%; each tier alone "holds"): on day 0 account 1 round-trips 30,000,000 USD with a third
account (ADV 1,000,000 -> tier 1) and account 2 150,000,000 USD (ADV 5,000,000 -> tier 2).  On day 1 account 1
rests an offer of 1,000,000 contracts at 50,000.00 and account 2 lifts it: the taker pays 200,000 XBt, the
maker receives 800,000 XBt, the fee pool loses 600,000 XBt on this one trade, and the pair can repeat it at
no market risk (their positions cancel).  ``check_fees`` says "holds".

Rules: PRM-FEES (proofs/params_check.py), ACC-002 (rules/position.compute_commission), the fee tiers of
rules/instrument_file.py.

Proposed fix: PRM-FEES proves ``compute_commission(v, min taker fee over the tiers) + compute_commission(v,
min maker fee over the tiers) >= 0`` (the worst pair of tiers, as the two sides of a fill are independent), and
its counterexample names the two tiers; optionally the instrument file's own check asks the same of every pair
(``min(taker) >= -min(maker)``), which the shipped schedules meet.

Fixed: PRM-FEES proves ``compute_commission(v, takerFee_j) + compute_commission(v, makerFee_i) >= 0`` for every
pair of tiers (i, j), the same tier included, in one Z3 query; its counterexample names both tiers.
``specs/bad_params/fee_tiers_pay_out_across_accounts.toml`` is this schedule.  The instrument file still loads
such a schedule (as it loads a single tier whose rebate exceeds its taker fee): fee-pool safety is a committee
property of ``perpspec check-params``, not a structural check of the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument

SPECS = Path(__file__).resolve().parent.parent / "specs" / "instruments"
PRICE = 5_000_000  # 50,000.00
DAY_MS = 86_400_000
TIERS = """[[feeTiers]]
adv = 1000000
makerFee = "-0.0004"
takerFee = "0.0005"
[[feeTiers]]
adv = 5000000
makerFee = "0"
takerFee = "0.0001"
"""


def _two_tier_xbtusd(tmp_path: Path) -> Instrument:
    head = (SPECS / "XBTUSD.toml").read_text().split("[[feeTiers]]")[0]
    path = tmp_path / "XBTUSD.toml"
    path.write_text(head + TIERS)
    return load_instrument(str(path))


def _fee_pool_change_of_one_cross_tier_trade(inst: Instrument) -> int:
    engine = Engine({"XBTUSD": inst})

    def ok(command: object) -> None:
        assert isinstance(engine.process(command)[-1], Accepted), command  # type: ignore[arg-type]

    for account in (1, 2, 3):
        ok(c.VerifyAccount(time_ms=0, account=account))
        ok(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**12))
    ok(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    for account, trips in ((1, 3), (2, 15)):  # 30,000,000 and 150,000,000 USD of volume against account 3
        for _ in range(trips):
            for side, back in (("Sell", "Buy"), ("Buy", "Sell")):
                ok(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side=side, order_qty=5_000_000, price=PRICE))
                ok(c.PlaceOrder(time_ms=0, account=account, symbol="XBTUSD", side=back, order_qty=5_000_000, price=PRICE))
    assert [engine.accounts[a].fee_tier(inst, DAY_MS) for a in (1, 2)] == [1, 2]
    before = engine.fees["XBt"]
    ok(c.PlaceOrder(time_ms=DAY_MS, account=1, symbol="XBTUSD", side="Sell", order_qty=1_000_000, price=PRICE))
    ok(c.PlaceOrder(time_ms=DAY_MS, account=2, symbol="XBTUSD", side="Buy", order_qty=1_000_000, price=PRICE))
    return engine.fees["XBt"] - before


def test_the_engine_pays_the_pair_out_of_the_fee_pool(tmp_path: Path) -> None:
    """The behaviour the check must catch (passes today: it documents the leak)."""
    assert _fee_pool_change_of_one_cross_tier_trade(_two_tier_xbtusd(tmp_path)) == 200_000 - 800_000


def test_prm_fees_fails_a_schedule_whose_tiers_pay_out_across_accounts(tmp_path: Path) -> None:
    from perpspec.proofs.params_check import check_fees

    result = check_fees(_two_tier_xbtusd(tmp_path))
    assert result.verdict == "fails"  # before the fix: "holds"
    assert result.counterexample[0] == "maker at fee tier 1 (makerFee -0.04%), taker at fee tier 2 (takerFee 0.01%)"
    assert result.counterexample[2].startswith("the fee pool loses ")


@pytest.mark.parametrize(("rebate", "verdict"), [("-0.0001", "holds"), ("-0.000101", "fails")])
def test_prm_fees_boundary_a_rebate_equal_to_another_tiers_taker_fee_holds(
    tmp_path: Path, rebate: str, verdict: str
) -> None:
    """Tier 1's rebate against tier 2's 0.01% taker fee: equal holds (rounding is the fee pool's), 1 ppm more fails."""
    from perpspec.proofs.params_check import check_fees

    head = (SPECS / "XBTUSD.toml").read_text().split("[[feeTiers]]")[0]
    path = tmp_path / "XBTUSD.toml"
    path.write_text(head + TIERS.replace('makerFee = "-0.0004"', f'makerFee = "{rebate}"'))
    assert check_fees(load_instrument(str(path))).verdict == verdict


def test_the_bad_params_file_breaks_only_the_fees() -> None:
    from perpspec.proofs.params_check import check_instrument

    path = SPECS.parent / "bad_params" / "fee_tiers_pay_out_across_accounts.toml"
    inst = load_instrument(str(path))
    found = {result.id: result.verdict for result in check_instrument(inst)}
    assert found == {**dict.fromkeys(found, "holds"), "PRM-FEES": "fails"}
    assert all(tier.maker_fee_ppm + tier.taker_fee_ppm >= 0 for tier in inst.fee_tiers)  # each tier alone is sound


def test_the_shipped_schedules_are_safe_across_tiers() -> None:
    for inst in load_builtin_instruments().values():
        worst_taker = min(tier.taker_fee_ppm for tier in inst.fee_tiers)
        worst_maker = min(tier.maker_fee_ppm for tier in inst.fee_tiers)
        assert worst_taker + worst_maker >= 0, inst.symbol
