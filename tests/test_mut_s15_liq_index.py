"""The liquidation index of one-contract longs and of account 0 (session 15, helper "mut15": mutants of session 14's
``Risk._index_account`` / ``Risk.rebuilt_index`` the suite let through).

* ``ps.qty > 0`` -> ``ps.qty > 1`` in ``_index_account``: a long of one contract (ETHUSD's lot is one) was indexed as
  a short (a fall through its liquidation price never selected it: LIQ-003 never judged it), or its clamped
  trigger at one tick was indexed at 0 (a short's clamp), a different index and state hash.
* ``account_id >= 0`` -> ``> 0`` in ``rebuilt_index``: account 0's stale entry (dirty: refreshed at the next mark)
  was dropped on load, so the loaded engine's state hash was not the saved one's.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event
from perpspec.engine.core.exchange import Engine

ETH = "ETHUSD"
PRICE = 300_000  # 3,000.00
TICK = 5


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def _one_contract_long(deposit: int, trader: int = 2) -> Engine:
    """``trader`` long one ETHUSD contract at 3,000.00 with ``deposit`` satoshis; account 1 the maker, with a deep
    bid at 2,000.00 to take a close-out."""
    engine = Engine()
    for account in sorted({1, trader}):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit if account == trader else 10**12))
    ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=ETH, mark_price=PRICE, index_price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Sell", order_qty=1, price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=trader, symbol=ETH, side="Buy", order_qty=1, price=PRICE))
    ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol=ETH, side="Buy", order_qty=100, price=200_000))
    ok(engine, c.PriceUpdate(time_ms=1, symbol=ETH, mark_price=PRICE, index_price=PRICE))
    assert engine.accounts[trader].positions[ETH].qty == 1
    return engine


def test_a_one_contract_long_is_indexed_as_a_long_and_liquidated_on_a_fall_through_its_trigger() -> None:
    engine = _one_contract_long(100_000)
    is_long, trigger = engine.liq.entries[(2, ETH)]
    assert is_long
    assert 200_000 < trigger < PRICE
    ok(engine, c.PriceUpdate(time_ms=2, symbol=ETH, mark_price=trigger, index_price=trigger))
    assert engine.accounts[2].positions[ETH].qty == 1  # at its trigger: still safe
    ok(engine, c.PriceUpdate(time_ms=3, symbol=ETH, mark_price=trigger - TICK, index_price=trigger - TICK))
    assert engine.accounts[2].positions[ETH].qty == 0  # LIQ-003: taken over one tick below it


def test_a_one_contract_long_safe_at_every_price_is_indexed_at_one_tick() -> None:
    """Its threshold is clamped to one tick (a long's lower bound): indexed there, as any long's (0 is where a short
    clamped at one tick is indexed)."""
    engine = _one_contract_long(400_000)
    assert engine.liq.entries[(2, ETH)] == (True, TICK)


@pytest.mark.parametrize("trader", [0, 2])
def test_a_dirty_accounts_stale_entry_survives_the_round_trip_account_0_too(trader: int) -> None:
    """A deposit marks the trader dirty; its entry is refreshed only at the next mark: a snapshot loads with it as it
    is (the index rebuilt on load keeps a dirty account's entries), and the same state hash."""
    engine = _one_contract_long(100_000, trader)
    ok(engine, c.Deposit(time_ms=1, account=trader, asset="XBt", amount=10**5))
    assert trader in engine.risk.dirty
    stale = dict(engine.liq.entries)
    assert (trader, ETH) in stale
    loaded = Engine.from_snapshot(engine.snapshot())
    assert loaded.liq.entries == stale
    assert loaded.state_hash() == engine.state_hash()
