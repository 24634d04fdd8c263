"""Attack review 11 (a red-team helper, session 11): a spot pair's own parameters were not checked.

``validate`` (the instrument files' check, also what a snapshot's and a journal genesis' instruments pass)
checked nothing particular to spot pairs.  With ``baseMultiplier = -100`` a seller holding no XBt received
XBt for a sale and the buyer's XBt wallet went below zero (INV-NO-NEG-EQUITY broken); with 0 the buyer paid
USDt and received nothing.  Fixed: a spot pair's ``baseMultiplier`` must be positive and its
``baseCurrency`` named and other than its ``settlCurrency``.

Rules: none (the instrument file's contract, specs/instruments/).
"""

from __future__ import annotations

import pytest

from perpspec.rules.instrument_file import InstrumentError, builtin_dir, load_instrument, validate

SPOT = str(builtin_dir() / "spot" / "XBT_USDT.toml")


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        ({"baseMultiplier": -100}, "baseMultiplier", "must be positive for a spot pair"),
        ({"baseMultiplier": 0}, "baseMultiplier", "must be positive for a spot pair"),
        ({"baseCurrency": ""}, "baseCurrency", "must be named for a spot pair"),
        ({"baseCurrency": "USDt"}, "baseCurrency", "must differ from settlCurrency"),
    ],
)
def test_a_spot_pair_that_would_move_the_base_asset_wrongly_is_refused(
    override: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InstrumentError) as refused:
        load_instrument(SPOT, override)
    assert (refused.value.field, refused.value.message) == (field, reason)


def test_the_shipped_spot_pair_passes() -> None:
    inst = load_instrument(SPOT)
    assert (inst.base_currency, inst.settl_currency, inst.base_multiplier > 0) == ("XBt", "USDt", True)
    assert validate(inst) is None
