"""Attack review 3: the index rules (rules/index.py) publish an index of 0 from weights that are not positive.

Severity: low (library input validation: no engine path builds an index; a venue using ``perpspec.rules.index``
does).  ``Constituent.weight`` is documented as "relative weight, positive integer units", but
``make_index_state`` (IDX-009) takes any weight and any repeated reference, and ``compute_weighted_index``
(IDX-001) divides by a total weight of 0 as 1 (its ``safe_weight``), so:

* weights (1, −1), both constituents at 1.00: ``IndexUpdated`` publishes an index of **0** (not held);
* weights (0, 0): the same, an index of 0;
* two rows with the same reference "A" are both kept, and a price for "A" (IDX-005) updates both.

An index of 0 is not a price (``PriceUpdate`` refuses it; a fair price derived from it is 0), and a negative
weight lets one feed move the index *against* its own price, beyond the "weight share × band" the module
promises for a manipulated constituent.

Rules: IDX-001, IDX-004, IDX-009.

Proposed fix (rules/index.py): ``make_index_state`` refuses (an ``IndexRejection``, as IDX-005 does for prices)
rows with a weight ≤ 0, a price ≤ 0 or a repeated reference; ``process_index_tick`` holds the index (IDX-004's
``IndexHeld``) when the included weights sum to 0 instead of publishing 0.

Fixed: ``make_index_state`` (IDX-009) refuses rows with a weight ≤ 0 (or not an int), a price < 0 (0 stays
"not reported yet"), a repeated reference, or no row at all, with an ``IndexRejection``.  Constituents are
only made there, and weights never change afterwards, so every included weight is positive and the total of
any non-empty included set is > 0 — IDX-001's proof assumption (weights > 0) — and ``process_index_tick``
needs no extra hold.
"""

from __future__ import annotations

import pytest

from perpspec.rules.index import IndexParams, IndexRejection, make_index_state

PARAMS = IndexParams()


@pytest.mark.parametrize("weights", [(1, -1), (0, 0)], ids=["opposite", "zero"])
def test_idx_009_weights_that_are_not_positive_never_publish_an_index_of_zero(weights: tuple[int, int]) -> None:
    built = make_index_state((("A", weights[0], 100), ("B", weights[1], 100)), 0, PARAMS)
    assert isinstance(built, IndexRejection) or built.held or built.value > 0  # today: value 0, not held


def test_idx_009_a_repeated_reference_is_refused() -> None:
    built = make_index_state((("A", 1, 100), ("A", 1, 200)), 0, PARAMS)
    assert isinstance(built, IndexRejection)  # today: both rows kept


# --------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ((("A", 1, 100), ("B", 0, 100)), "non-positive-weight"),
        ((("A", 1, 100), ("B", -1, 100)), "non-positive-weight"),
        ((("A", 1, 100), ("B", True, 100)), "non-positive-weight"),
        ((("A", 1, 100), ("B", 1, -1)), "negative-price"),
        ((("A", 1, 100), ("B", 1, 100), ("A", 2, 100)), "repeated-constituent"),
        ((), "no-constituent"),
    ],
    ids=["zero", "negative", "bool", "negative-price", "repeated", "empty"],
)
def test_idx_009_refuses_rows_with_the_reason(rows: tuple[tuple[str, int, int], ...], reason: str) -> None:
    built = make_index_state(rows, 0, PARAMS)
    assert isinstance(built, IndexRejection)
    assert built.reason == reason


def test_idx_009_the_smallest_weights_and_an_unreported_price_are_accepted() -> None:
    built = make_index_state((("A", 1, 100), ("B", 1, 102), ("C", 1, 0)), 0, PARAMS)
    assert not isinstance(built, IndexRejection)
    assert (built.value, built.held) == (101, False)  # C has no price yet: excluded as stale
    assert [c.reference for c in built.constituents] == ["A", "B", "C"]
