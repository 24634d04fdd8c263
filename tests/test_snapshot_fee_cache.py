"""A snapshot's cached fee tiers must be what the account's volume gives (session 13).

``Account.fee_cache`` is not in the state hash (a cache), so a crafted snapshot could hand an account tier 8 of
XBTUSD (a maker rebate) under the same state hash as the honest one.  The state check now recomputes every cached
tier the engine could still read (today's or a later day's) from ``volume_by_day``; an earlier day's entry is never
read and may be stale.

Rules: the fee schedule by 30-day volume (feeTiers, engine.core.accounts.compute_fee_tier; ACC-002 charges the tier's rate); the state check.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.accounts import DAY_MS
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state

NOW = 20_000 * DAY_MS + 5_000


def traded_engine() -> Engine:
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=NOW, account=account))
        engine.process(c.Deposit(time_ms=NOW, account=account, asset="XBt", amount=10**10))
    engine.process(c.PriceUpdate(time_ms=NOW, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account, side in ((1, "Sell"), (2, "Buy")):
        events = engine.process(c.PlaceOrder(time_ms=NOW, account=account, symbol="XBTUSD", side=side,
                                             order_qty=1_000, price=5_000_000))
        assert isinstance(events[-1], Accepted)
    assert engine.accounts[2].fee_cache["XBTUSD"] == (NOW // DAY_MS, 0)  # read by the trade: tier 0
    return engine


def test_an_honest_snapshot_with_cached_tiers_loads() -> None:
    engine = traded_engine()
    again = Engine.from_snapshot(engine.snapshot())
    assert again.state_hash() == engine.state_hash()


@pytest.mark.parametrize("day_offset", [0, 1])
def test_a_better_tier_than_the_volume_gives_is_refused(day_offset: int) -> None:
    state = decode_state(traded_engine().snapshot())
    state["accounts"][2].fee_cache["XBTUSD"] = (NOW // DAY_MS + day_offset, 8)  # a maker rebate never earned
    with pytest.raises(CodecError, match=r"accounts\[2\].fee_cache\['XBTUSD'\]\[1\].*volume gives"):
        Engine.from_snapshot(encode_state(state))


def test_an_earlier_days_cached_tier_is_never_read_and_loads() -> None:
    state = decode_state(traded_engine().snapshot())
    state["accounts"][2].fee_cache["XBTUSD"] = (NOW // DAY_MS - 1, 8)
    engine = Engine.from_snapshot(encode_state(state))
    assert engine.accounts[2].fee_tier(engine.instrument_map["XBTUSD"], NOW) == 0
