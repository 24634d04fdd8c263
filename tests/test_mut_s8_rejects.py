"""A hostile clOrdID shown in its ``Rejected`` event, canonically (mutation survivors of ``engine/core/rejects.py``).

Found by ``python -m tests.mutation engine/core/rejects.py`` (issue 13, session 8).  The typed validation layer
(issue 14) refuses a PlaceOrder whose clOrdID is not a string as ``Malformed``; the ``Rejected`` event still carries
the clOrdID as text, shown by ``rejects.show`` the same in every process and on replay: containers recursively, a
one-item tuple with its comma, set members sorted (a fuzz find).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine


@pytest.mark.parametrize(
    ("cl_ord_id", "shown"),
    [
        ([1, "a", [2]], "[1, 'a', [2]]"),
        ((7,), "(7,)"),
        ((7, 8), "(7, 8)"),
        (((),), "((),)"),
        ({"k": (1,), 2: [3, 4]}, "{'k': (1,), 2: [3, 4]}"),
        ({"b", "a"}, "set({'a', 'b'})"),
        ([frozenset({3, 1})], "[frozenset({1, 3})]"),
    ],
)
def test_a_hostile_cl_ord_id_is_refused_and_shown_canonically(cl_ord_id: object, shown: str) -> None:
    """Malformed ("cl_ord_id must be a string"), for account 1, with the clOrdID shown exactly."""
    engine = Engine()
    command = c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=5_000_000,
                           cl_ord_id=cl_ord_id)  # type: ignore[arg-type]
    [rejected] = engine.process(command)
    assert isinstance(rejected, Rejected)
    assert (rejected.account, rejected.reason, rejected.cl_ord_id) == (1, Reason.MALFORMED, shown)
    assert rejected.text == "cl_ord_id must be a string"
