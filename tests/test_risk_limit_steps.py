"""RSK-001..007 on exact examples at the tier boundaries (BitMEX: the requirement rises by one step per riskStep
of position value above riskLimit; any part of a step counts; a chosen limit is riskLimit + k × riskStep)."""

from __future__ import annotations

from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.risk_limit import (
    RiskLimitReason,
    check_risk_limit,
    check_risk_limit_choice,
    compute_maint_margin_req_ppm,
    compute_max_leverage_hundredths,
    compute_risk_init_margin_req_ppm,
    compute_risk_steps,
    compute_tier_limit,
)

XBTUSD = load_instrument("XBTUSD")
BASE, STEP = XBTUSD.risk_limit, XBTUSD.risk_step


def test_rsk_001_any_part_of_a_step_above_the_base_limit_is_a_whole_step() -> None:
    values = [0, BASE - 1, BASE, BASE + 1, BASE + STEP, BASE + STEP + 1, BASE + 3 * STEP]
    assert [compute_risk_steps(XBTUSD, value) for value in values] == [0, 0, 0, 1, 1, 2, 3]


def test_rsk_002_to_005_requirements_and_limits_per_step() -> None:
    mm, im = XBTUSD.maint_margin_ppm, XBTUSD.init_margin_ppm
    assert [compute_maint_margin_req_ppm(XBTUSD, steps) for steps in (0, 1, 3)] == [mm, 2 * mm, 4 * mm]
    assert [compute_risk_init_margin_req_ppm(XBTUSD, steps) for steps in (0, 1, 3)] == [im, im + mm, im + 3 * mm]
    assert [compute_tier_limit(XBTUSD, steps) for steps in (0, 1, 3)] == [BASE, BASE + STEP, BASE + 3 * STEP]
    # 100x at the base tier (IM 1%), 66.66x one step up (IM 1.5%): rounded down
    assert [compute_max_leverage_hundredths(XBTUSD, steps) for steps in (0, 1)] == [
        100_000_000 // im,
        100_000_000 // (im + mm),
    ]
    assert compute_max_leverage_hundredths(XBTUSD, 0) == 10_000


def test_rsk_006_a_chosen_limit_is_the_base_plus_whole_steps() -> None:
    for limit in (BASE, BASE + STEP, BASE + 5 * STEP):
        assert check_risk_limit_choice(XBTUSD, limit) is None, limit
    for limit in (BASE - STEP, BASE - 1, BASE + STEP // 2, BASE + STEP + 1):
        refusal = check_risk_limit_choice(XBTUSD, limit)
        assert refusal is not None, limit
        assert (refusal.reason, refusal.value, refusal.limit) == (RiskLimitReason.RISK_LIMIT_INVALID, limit, BASE)


def test_rsk_007_exactly_at_the_chosen_limit_is_allowed_one_unit_more_is_not() -> None:
    assert check_risk_limit(BASE, BASE) is None
    refusal = check_risk_limit(BASE + 1, BASE)
    assert refusal is not None
    assert (refusal.reason, refusal.value, refusal.limit) == (RiskLimitReason.RISK_LIMIT_EXCEEDED, BASE + 1, BASE)
