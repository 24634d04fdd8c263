"""LIQ-054 in ``Fills._kernel_guard`` (the proved-kernel guard of the general path): the free wallet before.

Mutation survivor ``engine/core/fills.py`` #180 on the final session-8 tree (``before[7]`` → ``before[8]`` in
``is_free_wallet_kept(before[7] - before[4], out[4] - out[3], False)``: the free wallet before read as the account's
equity).  ``tests/test_mut_s8_fills_free_wallet.py`` reaches the same state with a market sell, which the
``fill_isolated`` kernel's own flag refuses before this line, and with a plain limit sell, which takes the lean sweep
(``engine.core.entry_sweep``).  Here the taker is *isolated*, so its limit sell takes the general path and the
kernel guard, and LIQ-054 decides.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain
from perpspec.engine.core.events import Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.solvency import FILL_CANCEL_TEXT
from tests.test_free_wallet import free_wallet
from tests.test_mut_s8_fills_free_wallet import (
    INSTRUMENTS,
    MAKER,
    OTHER,
    _isolated_bid_behind_a_closed_cross_long,
    _ok,
)


def test_liq_054_kernel_guard_compares_with_the_free_wallet_before_not_the_account_equity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LIQ-054: account 3 (21,000,000 XBt) holds an isolated 2x ETHUSD long of 100 at 3,000.00 and rests a bid of 20
    at 2,700.00; it closes a cross XBTUSD long of 7,000 from 50,000.00 at 40,000.00 (2,420,125 free) and the ETHUSD
    mark falls to 2,700.00.  Account 2, its short of 100 ETHUSD isolated at 10x, sells 20 at 2,700.00: the bid's fill
    would leave the free wallet at −284,600, below zero and below the 2,420,125 it was, so the bid is cancelled
    (with the account's equity less the pool's margin, −579,875, as "before", it would have been made)."""
    lean: list[int] = []
    original = entry_plain.enter_crossing

    def counting(*args: object, **kwargs: object) -> None:
        lean.append(1)
        original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(entry_plain, "enter_crossing", counting)
    engine = Engine(INSTRUMENTS)
    _isolated_bid_behind_a_closed_cross_long(engine)
    assert free_wallet(engine, MAKER) == 2_420_125
    _ok(engine, c.SetLeverage(time_ms=2, account=OTHER, symbol="ETHUSD", leverage_hundredths=1_000))
    lean.clear()
    events = engine.process(
        c.PlaceOrder(time_ms=2, account=OTHER, symbol="ETHUSD", side="Sell", order_qty=20, price=270_000)
    )
    assert lean == []  # an isolated taker: the general path, Fills._kernel_guard
    executions = [(e.account, e.exec_type, e.last_qty, e.text) for e in events if isinstance(e, Execution)]
    assert executions == [(OTHER, "New", 0, ""), (MAKER, "Canceled", 0, FILL_CANCEL_TEXT)]
    assert engine.positions(MAKER)["ETHUSD"].qty == 100
    assert free_wallet(engine, MAKER) == 2_420_125
