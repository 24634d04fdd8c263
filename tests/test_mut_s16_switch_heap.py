"""ORD-050's dead man's switch with a stale deadline behind a live one, pinned by mutants of session 15's
``OrderRegistry.advance_clock`` (session 16, "mut16").

Re-arming a switch leaves its old ``(deadline, account)`` in the heap; only the heap's top is tidied at once.  So a
stale entry can wait behind another account's live deadline, and surface when that one fires.  Two things then hold:
the stale deadline fires nothing (the account's switch is due at its new deadline only), and it does not stay on the
top, where it would make a later command's time look like a due timer, and a rejected command move the clock
(session 15's rule: only time that fires a timer is committed for a rejected command).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine


def _engine_with_a_stale_deadline_behind_a_live_one() -> tuple[Engine, int]:
    """Account 2's switch due at 50; account 1's armed for 100 then re-armed for 300 at time 10 (the stale 100 stays
    behind 50); account 1 has one resting order.  Returns the engine and that order's id."""
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000))
    placed = engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100,
                                         price=4_000_000))
    assert isinstance(placed[-1], Accepted)
    for command in (
        c.CancelAllAfter(time_ms=0, account=2, timeout_ms=50),
        c.CancelAllAfter(time_ms=0, account=1, timeout_ms=100),
        c.CancelAllAfter(time_ms=10, account=1, timeout_ms=290),  # now due at 300
    ):
        assert isinstance(engine.process(command)[-1], Accepted)
    assert (100, 1) in engine.registry.dms_heap  # behind (50, 2): not tidied away yet
    return engine, placed[-1].order_id  # type: ignore[attr-defined]


def test_ord_050_a_re_armed_switchs_old_deadline_fires_nothing_when_it_surfaces() -> None:
    engine, order_id = _engine_with_a_stale_deadline_behind_a_live_one()
    engine.process(c.TimeTick(time_ms=120))  # fires account 2's switch (no orders); 100 is account 1's old deadline
    assert order_id in engine.accounts[1].orders
    assert engine.accounts[1].cancel_at_ms == 300
    engine.process(c.TimeTick(time_ms=300))
    assert order_id not in engine.accounts[1].orders


def test_ord_050_a_stale_deadline_surfacing_is_tidied_so_a_later_rejected_command_keeps_the_clock() -> None:
    engine, order_id = _engine_with_a_stale_deadline_behind_a_live_one()
    engine.process(c.TimeTick(time_ms=60))  # account 2's switch fires; the stale (100, 1) would be on top
    refused = engine.process(c.CancelOrder(time_ms=150, account=1, order_id=10**9))
    assert [type(event) for event in refused] == [Rejected]
    accepted = engine.process(c.TimeTick(time_ms=100))  # the clock stayed at 60: 100 is not in the past
    assert isinstance(accepted[-1], Accepted)
    assert order_id in engine.accounts[1].orders
