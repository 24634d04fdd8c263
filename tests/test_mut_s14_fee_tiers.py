"""Session 13's fee-tier code measured by mutants (session 14, helper "mut14").

Found by ``python -m tests.mutation rules/instrument_file.py engine/core/accounts.py`` on the lines session 13
changed: the validation of the fee schedule's higher tiers (``validate``), the tier of a day
(``compute_fee_tier``) and the cache drop of ``Account.add_volume``.

Rules: the fee schedule by 30-day volume (feeTiers; ACC-002 charges the tier's rate); PRM-FEES's bounds as
``validate`` applies them.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.accounts import DAY_MS, Account, compute_fee_tier
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument import FeeTier
from perpspec.rules.instrument_file import load_builtin_instruments, validate

BUILTIN = load_builtin_instruments()
XBTUSD = BUILTIN["XBTUSD"]
XBTUSDT = BUILTIN["XBTUSDT"]


def test_a_higher_tier_that_charges_the_taker_nothing_is_valid() -> None:
    """Kills ``tier.taker_fee_ppm >= 0`` -> ``> 0`` and the constant ``0 -> 1`` there (rules/instrument_file.py,
    ``validate``).

    The bound refuses a *negative* taker fee (both sides of a trade paid out of the fee pool); a fee-free top tier
    (takerFee 0, a maker rebate) is an ordinary schedule and must still load -- the mutants refused it at every
    door (the loader, ``Engine(instruments=...)``, snapshots)."""
    tiers = (XBTUSDT.fee_tiers[0], FeeTier(adv_usd=10**6, maker_fee_ppm=-250, taker_fee_ppm=0))
    inst = attrs.evolve(XBTUSDT, fee_tiers=tiers)
    assert validate(inst) is None
    engine = Engine({"XBTUSDT": inst})
    assert engine.instrument_map["XBTUSDT"].fee_tiers[1].taker_fee_ppm == 0


def test_the_tier_is_reached_only_by_a_whole_dollar_of_average_daily_volume() -> None:
    """Kills ``total = 0`` -> ``total = 1`` in ``compute_fee_tier`` (engine/core/accounts.py).

    XBTUSD's tier 1 starts at an average daily volume of 1,000,000 USD over 30 days: 29,999,999 USD traded in the
    window averages 999,999 (floor), still tier 0; one dollar more reaches tier 1.  The mutant counted one dollar
    never traded and gave the lower fee a dollar early (ACC-002 charged at the wrong tier)."""
    day = 20_000
    assert compute_fee_tier(XBTUSD, {day - 1: 30 * 1_000_000 - 1}, day) == 0
    assert compute_fee_tier(XBTUSD, {day - 1: 30 * 1_000_000}, day) == 1
    account = Account(3)
    account.add_volume(30 * 1_000_000 - 1, (day - 1) * DAY_MS)
    assert account.fee_tier(XBTUSD, day * DAY_MS) == 0
    account.add_volume(1, (day - 1) * DAY_MS + 5)
    assert account.fee_tier(XBTUSD, day * DAY_MS + 5) == 1


def test_volume_of_the_cached_day_keeps_that_days_tier_when_a_later_one_goes() -> None:
    """Kills the inner ``cached_day > day`` -> ``>=`` of ``Account.add_volume`` (engine/core/accounts.py).

    Volume counts from the next day on, so a tier cached for the volume's own day stays exact; only tiers cached
    for a *later* day (by a command the engine then rejected) missed it and go.  The mutant also dropped the
    volume's own day's tier whenever a later one was cached: the snapshot lost it and every read recomputed it."""
    account = Account(7)
    account.fee_cache = {"XBTUSD": (11, 1), "XBTZ26": (12, 0)}
    account.add_volume(5, 11 * DAY_MS + 5)
    assert account.fee_cache == {"XBTUSD": (11, 1)}


def test_a_days_own_volume_counts_from_the_next_day() -> None:
    """Kills ``first <= d < day`` -> ``first <= d <= day`` in ``compute_fee_tier`` (a statement mutant).

    The window is the 30 days *before* the day: 30,000,000 USD traded on day D reaches XBTUSD's tier 1 from day
    D + 1 on, not on day D itself (BitMEX's tiers follow the previous 30 days).  The mutant counted the day's own
    volume: the first tier read of the day in another contract, after the day's trades, got the better fee."""
    day = 20_000
    assert compute_fee_tier(XBTUSD, {day: 30 * 1_000_000}, day) == 0
    assert compute_fee_tier(XBTUSD, {day: 30 * 1_000_000}, day + 1) == 1
    account = Account(4)
    account.add_volume(30 * 1_000_000, day * DAY_MS + 5)
    assert account.fee_tier(XBTUSD, day * DAY_MS + 10) == 0
    assert account.fee_tier(XBTUSD, (day + 1) * DAY_MS) == 1


def test_an_honest_snapshot_after_a_day_of_volume_reaching_a_tier_loads() -> None:
    """Kills ``compute_fee_tier(..., day)`` -> ``compute_fee_tier(..., day + 1)`` in the state check's cached-tier
    test (engine/core/state_check.py, a statement mutant).

    Account 1 trades 40,000,000 USD of XBTUSD today (flat afterwards): its tier cached for today is 0, and the
    volume reaches tier 1 only tomorrow.  The snapshot is the engine's own and loads with the same state hash;
    the mutant compared today's cached tier with tomorrow's and refused the honest snapshot."""
    now = 20_000 * DAY_MS + 1_000
    engine = Engine()
    engine.process(c.PriceUpdate(time_ms=now, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account, amount in ((1, 10**10), (9, 10**12)):
        assert isinstance(engine.process(c.VerifyAccount(time_ms=now, account=account))[-1], Accepted)
        assert isinstance(engine.process(c.Deposit(time_ms=now, account=account, asset="XBt", amount=amount))[-1],
                          Accepted)
        assert isinstance(engine.process(c.SetRiskLimit(time_ms=now, account=account, symbol="XBTUSD",
                                                        risk_limit=50_000_000_000))[-1], Accepted)
    for side, other in (("Buy", "Sell"), ("Sell", "Buy"), ("Buy", "Sell"), ("Sell", "Buy")):
        for account, way in ((9, other), (1, side)):
            events = engine.process(c.PlaceOrder(time_ms=now, account=account, symbol="XBTUSD", side=way,
                                                 order_qty=10_000_000, price=5_000_000))
            assert isinstance(events[-1], Accepted), events[-1]
    assert engine.accounts[1].fee_cache["XBTUSD"] == (20_000, 0)
    assert compute_fee_tier(XBTUSD, engine.accounts[1].volume_by_day, 20_001) == 1
    again = Engine.from_snapshot(engine.snapshot())
    assert again.state_hash() == engine.state_hash()
