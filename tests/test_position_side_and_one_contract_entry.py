"""ACC-003's side test and ACC-005 for one contract: the edges the mutation run found unpinned.

Found by ``python -m tests.mutation rules/position.py`` (issue 13):

* ``is_opposite`` (mutants 26, 27, 30, 44, 45) is the rulebook's definition of a fill that reduces or flips a
  position, used by ACC-003 and by the proofs' models of it (``proofs/obligations_core.py``,
  ``proofs/obligations_adl_eligibility.py``).  Through ``apply_fill`` its answer at a flat position or a zero fill
  cannot be seen (both branches keep the old quantity there), so nothing checked it: a fill on a flat position
  opens, and a fill of nothing reduces nothing.
* ACC-005 (mutants 48 and 40, ``qty == 0`` -> ``qty == 1`` on the inverse and on the linear/quanto branch): the
  average entry price of a one-contract position (XBTUSD in its lot-size-1 era, ETHUSD) is its fill price, not the
  flat position's 0.  (Mutant 40 was killed only by the proofs before.)
"""

from __future__ import annotations

from perpspec.rules.position import FLAT, Position, apply_fill, compute_avg_entry_price, is_opposite
from tests.strategies import BUILTIN, XBTUSD_LOT1


def test_acc_003_a_fill_is_opposite_exactly_when_it_and_the_position_have_opposite_signs() -> None:
    for position_qty in range(-3, 4):
        for fill_qty in range(-3, 4):
            expected = position_qty * fill_qty < 0
            assert bool(is_opposite(position_qty, fill_qty)) is expected, (position_qty, fill_qty)


def test_acc_003_a_flat_position_is_opened_and_a_zero_fill_reduces_nothing() -> None:
    assert not is_opposite(0, -5)
    assert not is_opposite(0, 5)
    assert not is_opposite(5, 0)
    assert not is_opposite(-5, 0)
    opened, realised = apply_fill(XBTUSD_LOT1, FLAT, -5, 5_000_000)
    assert (opened, realised) == (Position(qty=-5, cost=10_000), 0)


def test_acc_005_a_one_contract_inverse_position_shows_its_fill_price() -> None:
    for qty in (1, -1):
        position, _ = apply_fill(XBTUSD_LOT1, FLAT, qty, 5_000_000)  # one contract at 50,000.00: 2,000 XBt
        assert position == Position(qty=qty, cost=-2_000 * qty)
        assert compute_avg_entry_price(XBTUSD_LOT1, position) == 5_000_000
    assert compute_avg_entry_price(XBTUSD_LOT1, FLAT) == 0


def test_acc_005_a_one_contract_quanto_position_shows_its_fill_price() -> None:
    eth = BUILTIN["ETHUSD"]
    for qty in (1, -1):
        position, _ = apply_fill(eth, FLAT, qty, 312_345)  # one contract at 3,123.45: 312,345 XBt
        assert position == Position(qty=qty, cost=312_345 * qty)
        assert compute_avg_entry_price(eth, position) == 312_345
    assert compute_avg_entry_price(eth, FLAT) == 0
