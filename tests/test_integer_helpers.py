"""rules/num.py on plain ints: every helper equals its exact rational definition on a grid around zero.

The symbolic side (the same helpers on Z3 terms) is tests/test_sym.py's; here each rounding direction,
comparison and constant is pinned where a one-token slip would show: at 0, ±1, and exact halves.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

from perpspec.rules.num import (
    PPM,
    abs_,
    and_,
    ceil_to_multiple,
    ceildiv,
    clamp,
    floor_to_multiple,
    floordiv,
    ite,
    max_,
    min_,
    not_,
    or_,
    ppm_of_ceil,
    ppm_of_floor,
    round_half_up_div,
    sign,
)

VALUES = range(-7, 8)
POSITIVE = range(1, 6)


def test_ppm_is_one_million() -> None:
    assert PPM == 1_000_000


def test_choices_and_logic() -> None:
    for left, right in itertools.product(VALUES, VALUES):
        assert min_(left, right) == min(left, right)
        assert max_(left, right) == max(left, right)
    for value in VALUES:
        assert abs_(value) == abs(value)
        assert sign(value) == (value > 0) - (value < 0)
        for low, high in itertools.product(VALUES, VALUES):
            if low <= high:
                assert clamp(value, low, high) == min(max(value, low), high)
    for left, right in itertools.product((False, True), (False, True)):
        assert and_(left, right) == (left and right)
        assert or_(left, right) == (left or right)
    assert (not_(True), not_(False), ite(True, 1, 2), ite(False, 1, 2)) == (False, True, 1, 2)


def test_divisions_round_as_named() -> None:
    for numerator, denominator in itertools.product(VALUES, POSITIVE):
        exact = Fraction(numerator, denominator)
        assert floordiv(numerator, denominator) == math.floor(exact)
        assert ceildiv(numerator, denominator) == math.ceil(exact)
        assert round_half_up_div(numerator, denominator) == math.floor(exact + Fraction(1, 2))
        assert floor_to_multiple(numerator, denominator) == math.floor(exact) * denominator
        assert ceil_to_multiple(numerator, denominator) == math.ceil(exact) * denominator


def test_ppm_shares_round_toward_the_system() -> None:
    for amount, rate in itertools.product((-1_000_001, -3, -1, 0, 1, 3, 999_999, 1_000_001), (0, 1, 333_333, 750, PPM)):
        exact = Fraction(amount * rate, 1_000_000)
        assert ppm_of_ceil(amount, rate) == math.ceil(exact), (amount, rate)
        assert ppm_of_floor(amount, rate) == math.floor(exact), (amount, rate)
