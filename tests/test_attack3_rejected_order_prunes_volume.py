"""Attack review 3: a rejected order changed the state hash (the fee-tier read pruned the volume history; fixed).

Severity: low (no money moves; the days pruned are older than the 30-day window and never count again), but it
breaks the engine's contract "a rejected command changes nothing" (engine/core/exchange.py's docstring; checked by
tests/test_fuzz_commands.py with the whole state hash) and so a replica or an auditor comparing state hashes
after a rejected command sees a difference.

``Account.fee_tier`` (engine/core/accounts.py), called by order entry through ``Fills.fee_ppm`` *before* the
order is accepted or rejected, deletes the days of ``volume_by_day`` older than the window and fills
``fee_cache``.  ``volume_by_day`` is part of ``Account.canonical`` (the state hash).  A rejected command's
handler has run by then, and the engine only puts the clock back (``Engine._dispatch`` restores a snapshot only
when timers fired).

Reproduction (XBTUSD): account 2 buys 1,000 contracts on day 0 (``volume_by_day == {0: 1000}``).  On day 40 it
sends a buy of 10,000,000 contracts: rejected ``RiskLimitExceeded``, yet ``volume_by_day`` is now ``{}`` and the
state hash (sequence number aside) differs from before the command.

Rules: the engine's rejection contract (no partial state change), ACC-002's fee tiers (30-day ADV).

Proposed fix (engine/core/accounts.py): make ``fee_tier`` a pure read (sum the days inside the window, skip the
rest) and prune old days in ``add_volume``, which only runs for fills of an accepted command; keep ``fee_cache``
out of the rejected path too (or out of the snapshot, as it is out of the hash).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine

PRICE = 5_000_000
DAY_MS = 86_400_000


def _state_without_seq(engine: Engine) -> tuple[object, ...]:
    state = list(engine.canonical())
    counters = list(state[14])  # (next order id, next pending id, seq, time)
    counters[2] = 0
    state[14] = tuple(counters)
    return tuple(state)


def test_a_rejected_order_on_a_later_day_changes_nothing() -> None:
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Sell", order_qty=1_000, price=PRICE))
    assert isinstance(
        engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=1_000, price=PRICE))[-1],
        Accepted,
    )
    assert engine.accounts[2].volume_by_day == {0: 1_000}
    later = 40 * DAY_MS
    engine.process(c.PriceUpdate(time_ms=later, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    before = _state_without_seq(engine)
    last = engine.process(
        c.PlaceOrder(time_ms=later, account=2, symbol="XBTUSD", side="Buy", order_qty=10_000_000, price=PRICE)
    )[-1]
    assert isinstance(last, Rejected)
    assert last.reason is Reason.RISK_LIMIT_EXCEEDED
    assert _state_without_seq(engine) == before  # today: volume_by_day {0: 1000} -> {}
