"""The state hash tells a waiting post-only StopLimit from a plain one (session 15, helper "mut15").

Session 14 (review9_1) extended an untriggered order's row in ``Views.canonical`` by its Close, whole-position,
displayQty and post-only fields whenever one of them is set; the Close, iceberg and hidden cases are pinned by
tests/test_s14_conditional_hash.py, but dropping ``or x.post_only`` from the condition passed every test.  A
ParticipateDoNotInitiate StopLimit (ORD-010: cancelled instead of trading when it fires into the book) does not
do what a plain one does, so two states differing only by it must hash apart (recovery checks snapshots by it).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from tests.test_s14_conditional_hash import _with_stop


def test_ord_010_a_post_only_stop_limit_and_a_plain_one_hash_apart_and_behave_apart() -> None:
    post_only = _with_stop(ord_type="StopLimit", price=4_650_000, exec_inst="ParticipateDoNotInitiate")
    plain = _with_stop(ord_type="StopLimit", price=4_650_000)
    assert post_only.state_hash() != plain.state_hash()
    fire = c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_800_000, index_price=4_800_000)
    assert repr(post_only.process(fire)) != repr(plain.process(fire))  # why: its limit crosses account 1's bid
