"""The answers kept for the instrument asked about last (engine.kernels.load, engine.core.fastmargin, engine.core.fills).

Compiled, an attribute of an ``Instrument`` record is a dict lookup per read, so the order path keeps what it
read of the last instrument and recognises it by identity.  A changed instrument (a what-if, ``check-params``, a
scenario's parameters) is another object: it must get its own answers at once, and the old one its own again.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core.fastmargin import instrument_names, is_inverse
from perpspec.engine.core.fills import fee_rates
from perpspec.engine.kernels import load
from perpspec.rules.instrument import ContractKind
from perpspec.rules.instrument_file import builtin_symbols, load_instrument
from tests.strategies import BUILTIN


def test_kernel_index_is_the_index_of_the_kernel_set_of_each_shipped_instrument() -> None:
    for symbol in builtin_symbols():
        kernels = load.kernels_for(BUILTIN[symbol])
        expected = -1 if kernels is None else kernels.index
        assert (symbol, expected) == (symbol, load.kernel_index(BUILTIN[symbol]))


def test_a_changed_instrument_asked_right_after_the_shipped_one_gets_no_kernels() -> None:
    shipped = BUILTIN["XBTUSD"]
    changed = load_instrument("XBTUSD", {"takerFee": "0.001"})
    assert load.kernel_index(shipped) >= 0
    assert (load.kernels_for(changed), load.kernel_index(changed)) == (None, -1)
    assert load.kernels_for(shipped) is not None
    assert load.kernel_index(changed) == -1


def test_the_last_answer_is_not_given_inside_generic_rules_only() -> None:
    shipped = BUILTIN["ETHUSD"]
    assert load.kernel_index(shipped) >= 0
    with load.generic_rules_only():
        assert (load.kernels_for(shipped), load.kernel_index(shipped)) == (None, -1)
    assert load.kernel_index(shipped) >= 0


def test_instrument_names_and_kind_follow_the_instrument_asked() -> None:
    inverse, linear = BUILTIN["XBTUSD"], BUILTIN["XBTUSDT"]
    for inst in (inverse, linear, inverse, linear):
        assert (inst.symbol, inst.settl_currency, inst.kind is ContractKind.INVERSE) == (
            *instrument_names(inst),
            is_inverse(inst),
        )


def test_fee_rates_of_a_changed_fee_schedule_are_its_own() -> None:
    shipped = BUILTIN["XBTUSD"]
    tiers = tuple(attrs.evolve(row, maker_fee_ppm=row.maker_fee_ppm + 1) for row in shipped.fee_tiers)
    changed = attrs.evolve(shipped, fee_tiers=tiers)
    for inst in (shipped, changed, shipped):
        expected = ([row.maker_fee_ppm for row in inst.fee_tiers], [row.taker_fee_ppm for row in inst.fee_tiers])
        assert expected == fee_rates(inst)
