"""`perpspec bench` judges the engine/stick ratio against issue 14's targets for the build it ran on."""

from __future__ import annotations

from perpspec.engine.cli.bench import ratio_verdict


def test_compiled_ratio_is_judged_against_0_1_and_the_stretch_0_2() -> None:
    assert ratio_verdict(0.0999, compiled=True) == "below the compiled target 0.1; stretch 0.2: not met"
    assert ratio_verdict(0.1, compiled=True) == "meets the compiled target 0.1; stretch 0.2: not met"
    assert ratio_verdict(0.2, compiled=True) == "meets the compiled target 0.1; stretch 0.2: met"


def test_interpreted_ratio_is_judged_against_0_04() -> None:
    assert ratio_verdict(0.0399, compiled=False) == "below the interpreted target 0.04"
    assert ratio_verdict(0.04, compiled=False) == "meets the interpreted target 0.04"
