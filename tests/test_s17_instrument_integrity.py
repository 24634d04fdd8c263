"""Session 17: instrument parameters that a running exchange would not honour are refused (redteam16).

* **CON-002 at every price unit.**  A linear or quanto lot must be worth whole minor units at every price *unit*,
  not only on the tick grid (``validate``: ``lotSize × multiplier`` a multiple of ``priceScale``).  Value is paid at
  prices off the grid — marks (BitMEX's finer precision), a take-over at mark (LIQ-035), ADL at that price, a
  settlement TWAP rounded to the price unit — and there a fractional value floored on both sides rounds each toward
  the trader (``floor(x) + floor(−x) = −1``).  redteam16_1's instrument (the shipped XBTUSDT at priceScale 10,000)
  created 20 USDt at one settlement and passed ``perpspec check-params``; it is now refused with a reason, and the
  proof ``CON-002/opposite-sides-cancel/*`` states the property at every price unit (its known-bad twin is that
  instrument, refuted).
* **liquidationFee.**  No rule charges it; an engine built with a non-zero one looked charged and was not
  (redteam16_2).  The engine refuses it; ``perpspec check-params`` still reads it (PRM-LIQ-FEE).
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import InstrumentError, builtin_dir, load_instrument, validate

REASON = "lotSize * multiplier must be a multiple of priceScale (whole minor units)"


def _fine_priced_xbtusdt(tmp_path: Path) -> Path:
    text = (builtin_dir() / "XBTUSDT.toml").read_text()
    lines = [("priceScale = 10000" if line.startswith("priceScale") else line) for line in text.splitlines()]
    assert "priceScale = 10000" in lines
    path = tmp_path / "XBTUSDT.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_linear_lot_worth_whole_units_only_on_the_grid_is_refused_on_load(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError) as refused:
        load_instrument(str(_fine_priced_xbtusdt(tmp_path)))
    assert str(refused.value) == f"XBTUSDT.toml: multiplier: {REASON}"


def test_check_params_refuses_it_instead_of_saying_all_properties_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-params", str(_fine_priced_xbtusdt(tmp_path))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert REASON in captured.err


def test_why_the_values_of_the_two_sides_did_not_cancel() -> None:
    # the refused instrument: one lot at a mark of 50,000.0001 USDT is worth 50,000,000.1 USDt, floored on both sides
    linear = load_instrument("XBTUSDT")
    fine = attrs.evolve(linear, price_scale=10_000, tick_size=5_000, max_price=linear.max_price * 100)
    assert validate(fine) == ("multiplier", REASON)
    assert compute_value(fine, 1_000, 500_000_001) + compute_value(fine, -1_000, 500_000_001) == -1
    # the shipped instruments: the two sides cancel at every price unit, on the grid or off it
    for symbol in ("XBTUSD", "XBTUSDT", "ETHUSD", "XBTZ26"):
        inst = load_instrument(symbol)
        for price in (1, 7, 333_333, 5_000_001, inst.max_price):
            for qty in (inst.lot_size, 37 * inst.lot_size):
                assert compute_value(inst, qty, price) + compute_value(inst, -qty, price) == 0, (symbol, price, qty)


def test_an_engine_is_not_built_with_a_liquidation_fee_no_rule_charges() -> None:
    charged = attrs.evolve(load_instrument("XBTUSD"), liquidation_fee_ppm=5_000)
    assert validate(charged) is None  # the file is sound: check-params weighs it (PRM-LIQ-FEE)
    with pytest.raises(InstrumentError) as refused:
        Engine({"XBTUSD": charged})
    assert str(refused.value) == (
        "instruments['XBTUSD']: liquidationFee: is not charged by the engine: must be 0 (perpspec check-params reads it)"
    )
    Engine({"XBTUSD": attrs.evolve(charged, liquidation_fee_ppm=0)})  # the same instrument without it is accepted
