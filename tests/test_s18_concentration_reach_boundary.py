"""RSK-008's shortcut at its boundary: the engine and the obligation share one predicate (redteam22 find 2).

``OrderEntry.check_concentration`` accepts without summing the open interest when even the largest open interest
that leaves the account concentrated (``compute_concentration_reach``) is worth *less* than ``concentrationFloor``.
That condition was written twice, in the engine and as an assumption of ``RSK-008/reach/*``; ``<`` -> ``<=`` in the
engine's copy passed every obligation and test (/work/coord/repro18/redteam22_2.py).  It is now one function,
``rules.risk_limit.concentration_cannot_refuse``, called by both, with ``KNOWN-BAD/RSK-008/reach-at-floor/XBTUSD``
refuted.  These tests pin the boundary: the reach worth exactly the floor is not a shortcut, and the engine refuses.

Scenario (the reproducer's): XBTUSD with concentrationShare 333,333 ppm and concentrationFloor the value of 300
contracts at 50,000 USD (600,000 XBt).  Account 1 long 100, account 3 long 200: open interest 300; account 1's reach
is 300 (100 > 33.3333% of any open interest up to 300), worth exactly the floor, and it holds 33.33% > the share:
its buy of 100 is refused (reduce only).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry as entry_module
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.risk_limit import (
    check_concentration,
    compute_concentration_reach,
    concentration_cannot_refuse,
    is_concentrated,
)

X = "XBTUSD"
PRICE = 5_000_000  # 50,000 USD
SHARE = 333_333


def _inst(floor_qty: int = 300, extra: int = 0) -> Instrument:
    inst = attrs.evolve(load_builtin_instruments()[X], concentration_share_ppm=SHARE)
    return attrs.evolve(inst, concentration_floor=compute_notional(inst, floor_qty, PRICE) + extra)


def _engine(inst: Instrument) -> Engine:
    table = load_builtin_instruments()
    table[X] = inst
    e = Engine(instruments=table)
    e.process(c.PriceUpdate(time_ms=0, symbol=X, mark_price=PRICE, index_price=PRICE))
    for account in range(1, 5):
        e.process(c.VerifyAccount(time_ms=0, account=account))
        e.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    for buyer, seller, qty in ((1, 2, 100), (3, 4, 200)):
        for account, side in ((seller, "Sell"), (buyer, "Buy")):
            placed = e.process(c.PlaceOrder(time_ms=1, account=account, symbol=X, side=side, order_qty=qty, price=PRICE))
            assert isinstance(placed[-1], Accepted)
    return e


def _buy(e: Engine, **kwargs: Any) -> Any:
    return e.process(c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Buy", order_qty=100, price=PRICE - 500,
                                  **kwargs))[-1]


def test_rsk_008_the_reach_worth_exactly_the_floor_is_no_shortcut() -> None:
    inst = _inst()
    assert compute_concentration_reach(inst, 100) == 300
    assert compute_notional(inst, 300, PRICE) == inst.concentration_floor == 600_000
    assert concentration_cannot_refuse(inst, 300, PRICE) is False  # at the floor the rule can refuse
    assert check_concentration(inst, 100, 100, 300, inst.concentration_floor) is not None  # and does
    assert concentration_cannot_refuse(_inst(extra=1), 300, PRICE) is True  # one XBt above: nothing can refuse
    assert concentration_cannot_refuse(inst, -1, PRICE) is True  # a flat account's reach
    assert compute_concentration_reach(inst, 0) == -1


def test_rsk_008_the_engine_refuses_at_the_boundary() -> None:
    e = _engine(_inst())
    before, seq = e.state_hash(), e.seq
    last = _buy(e)
    assert isinstance(last, Rejected)
    assert last.reason is Reason.CONCENTRATED_REDUCE_ONLY
    assert "open interest 300" in last.text
    seq, e.seq = e.seq, seq
    assert e.state_hash() == before  # a refused order changes nothing but the event counter
    e.seq = seq
    # a sell within the long only reduces: accepted
    assert isinstance(e.process(c.PlaceOrder(time_ms=2, account=1, symbol=X, side="Sell", order_qty=100,
                                             price=PRICE + 500))[-1], Accepted)


def test_rsk_008_one_xbt_above_the_floor_the_engine_accepts_without_summing(monkeypatch: pytest.MonkeyPatch) -> None:
    e = _engine(_inst(extra=1))
    read: list[int] = []

    def counted(*args: Any) -> bool:
        read.append(1)
        return is_concentrated(*args)

    monkeypatch.setattr(entry_module, "is_concentrated", counted)
    assert isinstance(_buy(e), Accepted)
    assert read == []  # the shortcut: no open interest summed


def test_rsk_008_the_engine_s_shortcut_is_the_rule_s_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine decides the shortcut by calling ``rules.risk_limit.concentration_cannot_refuse`` (no copy)."""
    e = _engine(_inst(extra=1))
    calls: list[tuple[int, int]] = []

    def refusing(inst: Instrument, reach: int, mark: int) -> bool:
        calls.append((reach, mark))
        return False  # no shortcut: the engine sums, and the rule (open value below the floor) accepts

    monkeypatch.setattr(entry_module, "concentration_cannot_refuse", refusing)
    assert isinstance(_buy(e), Accepted)
    assert calls == [(300, PRICE)]
