"""The state hash covers every field of a waiting conditional order that changes what it does (review9_1, session 14).

``Views.canonical`` described an untriggered order without ``close``, ``display_qty`` or ``post_only``: a Close
stop and a ReduceOnly stop with the same settings hashed alike, yet when they fire the Close one cancels the
account's same-side orders above its position (ORD-012) and the ReduceOnly one does not.  Recovery checks a
snapshot against this hash, so a flipped flag went unnoticed.  States without such a stop hash as before.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine


def _with_stop(**stop: object) -> Engine:
    engine = Engine()
    for command in (
        c.VerifyAccount(time_ms=0, account=1),
        c.VerifyAccount(time_ms=0, account=2),
        c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**10),
        c.Deposit(time_ms=0, account=2, asset="XBt", amount=10**9),
        c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=1000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=1000, price=5_000_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=1000, price=6_000_000),
        c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=5000, price=4_700_000),
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=1000, stop_px=4_900_000, **stop),
    ):
        events = engine.process(command)
        assert isinstance(events[-1], Accepted), (command, events[-1])
    return engine


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"ord_type": "Stop", "exec_inst": "Close"}, {"ord_type": "Stop", "exec_inst": "ReduceOnly"}),
        (
            {"ord_type": "StopLimit", "price": 4_850_000, "display_qty": 100},
            {"ord_type": "StopLimit", "price": 4_850_000},
        ),
        (
            {"ord_type": "StopLimit", "price": 4_850_000, "display_qty": 0},
            {"ord_type": "StopLimit", "price": 4_850_000},
        ),
    ],
    ids=["close-vs-reduce-only", "iceberg-vs-plain", "hidden-vs-plain"],
)
def test_waiting_stops_that_differ_hash_apart(one: dict[str, object], other: dict[str, object]) -> None:
    assert _with_stop(**one).state_hash() != _with_stop(**other).state_hash()  # old code: equal


def test_the_close_stop_and_the_reduce_only_stop_do_behave_differently() -> None:
    """Why the hash must tell them apart: at the fire, ORD-012's Close cancels the same-side sell above the position."""
    fire = c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_800_000, index_price=4_800_000)
    close = _with_stop(ord_type="Stop", exec_inst="Close").process(fire)
    reduce_only = _with_stop(ord_type="Stop", exec_inst="ReduceOnly").process(fire)
    assert repr(close) != repr(reduce_only)


def test_a_plain_stop_hashes_as_before_the_change() -> None:
    """The pinned hash of a state with a plain (non-Close, displayed, not post-only) stop is the old formula's."""
    engine = _with_stop(ord_type="Stop", exec_inst="ReduceOnly")
    conditional = engine.views.canonical()[2]
    rows = [row for _, pool in conditional for row in pool]
    assert rows
    assert all(len(row) == 14 for row in rows)
