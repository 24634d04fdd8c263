"""A rejected command leaves the fee tier alone (red team 5, redteam5_1: a stale tier overcharged a trade by 50%).

``Account.fee_tier`` caches (day, tier) per contract.  A command stamped day D+1 that the engine rejects reads the
tier (its solvency check asks for the fee) and caches day D+1's tier from the volume known so far; the rejection
puts the clock back to day D, and day-D volume traded afterwards (in another contract) never reached that cached
tier: on day D+1 the account paid tier 0 (0.075%) instead of tier 1 (0.05%).  ``add_volume`` now drops a tier cached
for a later day than the volume's.  The cache is not hashed, so the test compares what the trader pays.

Rules: the fee schedule by 30-day volume (feeTiers; ACC-002 charges the tier's rate); "a rejected command changes nothing".
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.accounts import Account
from perpspec.engine.core.events import Accepted, Event, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_builtin_instruments

DAY = 86_400_000
T0 = 1798200000000 - 10 * DAY  # ten days before XBTZ26 expires
T0 -= T0 % DAY  # midnight: day D starts


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def commission_on_day_two(with_rejected: bool) -> tuple[int, int]:
    """Account 1 trades 40M USD of XBTZ26 on day D (tier 1 of XBTUSD from D+1), then takes 1M XBTUSD on D+1."""
    engine = Engine(dict(load_builtin_instruments()))
    for account in (1, 9):
        ok(engine, c.VerifyAccount(time_ms=T0, account=account))
    for symbol in ("XBTUSD", "XBTZ26"):
        ok(engine, c.PriceUpdate(time_ms=T0, symbol=symbol, mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.Deposit(time_ms=T0, account=1, asset="XBt", amount=10**10))
    ok(engine, c.Deposit(time_ms=T0, account=9, asset="XBt", amount=10**12))
    for account in (1, 9):
        ok(engine, c.SetRiskLimit(time_ms=T0, account=account, symbol="XBTZ26", risk_limit=50_000_000_000))
    if with_rejected:  # stamped day D+1 and refused (risk limit): the clock goes back to day D
        events = engine.process(c.PlaceOrder(time_ms=T0 + DAY, account=1, symbol="XBTUSD", side="Buy",
                                             order_qty=10_000_000, price=4_000_000))
        assert not isinstance(events[-1], Accepted)
        assert engine.time_ms < T0 + DAY
    for side in ("Buy", "Sell", "Buy", "Sell"):  # day D: 40M USD of XBTZ26, flat afterwards
        other = "Sell" if side == "Buy" else "Buy"
        ok(engine, c.PlaceOrder(time_ms=T0 + 1000, account=9, symbol="XBTZ26", side=other, order_qty=10_000_000,
                                price=5_000_000))
        ok(engine, c.PlaceOrder(time_ms=T0 + 1000, account=1, symbol="XBTZ26", side=side, order_qty=10_000_000,
                                price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0 + DAY + 1000, account=9, symbol="XBTUSD", side="Sell", order_qty=1_000_000,
                            price=5_000_000))
    events = ok(engine, c.PlaceOrder(time_ms=T0 + DAY + 1000, account=1, symbol="XBTUSD", side="Buy",
                                     order_qty=1_000_000, price=5_000_000))
    paid = sum(e.exec_comm for e in events if isinstance(e, Execution) and e.exec_type == "Trade" and e.account == 1)
    return paid, engine.accounts[1].fee_tier(engine.instrument_map["XBTUSD"], T0 + DAY + 1000)


def test_a_rejected_order_of_the_next_day_does_not_fix_that_days_fee_tier() -> None:
    clean = commission_on_day_two(with_rejected=False)
    assert clean == (1_000_000, 1)  # 0.05% of 20 XBT: tier 1
    assert commission_on_day_two(with_rejected=True) == clean  # old code: (1_500_000, 0)


def test_volume_of_an_earlier_day_drops_only_later_cached_tiers() -> None:
    account = Account(7)
    account.fee_cache = {"XBTUSD": (10, 1), "XBTZ26": (12, 0), "ETHUSD": (9, 2)}
    account.add_volume(5, 11 * DAY + 5)
    assert account.fee_cache == {"XBTUSD": (10, 1), "ETHUSD": (9, 2)}  # day 12's tier did not count day 11
    account.add_volume(5, 12 * DAY)
    assert account.fee_cache == {"XBTUSD": (10, 1), "ETHUSD": (9, 2)}
