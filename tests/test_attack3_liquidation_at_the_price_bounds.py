"""Attack review 3: with the mark at one tick (or at maxPrice) a pool below zero is never liquidated.

Severity: low-medium (marks at the instrument's bounds are extreme, but valid: ``PriceUpdate`` takes any price in
``(0, maxPrice]``).  The waterfall finds its candidates through the liquidation index
(``engine/core/liqindex.py``): a short is due when the mark is *above* its trigger price, a long when it is
*below*.  The trigger is MRG-010's threshold (``rules.margin.compute_threshold_price``), which is clamped to
``[tickSize, maxPrice]``: a short that is unsafe at every valid price gets ``tickSize``, a long ``maxPrice``
("already liquidatable").  But with the mark exactly at that bound (or a short's mark below one tick) the strict
comparison never selects it: the pool stays below maintenance — below zero — after every waterfall, funding keeps
draining it, and nothing fires (the account still holds the position, so INV-NO-NEG-EQUITY exempts it).  Found by
the attack3 random search (seed 4121: ETHUSD at 0.05, an isolated short at −27 XBt after funding).

Reproduction (ETHUSD, tick 0.05 USD = 5 price units): account 2 (0.01 XBT) isolates at 50x and sells 500 at 0.05
to account 3, the mark at 0.05 (isolated margin 52 XBt, maintenance 27).  A funding instant at −3.2% (shorts pay)
takes 80 XBt: the pool is at −28 XBt, below maintenance, its trigger is 5 (= the mark).  Three mark updates at
0.05: still short 500, pool −28.  The first update at 0.10 liquidates it.  The mirror case: a one-contract long
at maxPrice (1,000,000.00) after a +3.2% funding instant stays at −1,123,500 XBt while the mark stays at maxPrice.

Rules: LIQ-003 (liquidatable below maintenance), LIQ-033 (the due pools, through the index), MRG-010 (the clamped
threshold).

Proposed fix (engine/core/risk.py ``Risk.refresh_index``, or ``LiqIndex.candidates``): index a position whose
threshold was clamped because it is unsafe at every valid price at a trigger every mark passes (a short at 0, a
long at ``maxPrice + 1``) — e.g. when ``compute_threshold_price`` returns the bound and the pool is below
maintenance at that bound — so LIQ-003's own check decides; the rule itself (MRG-010) stays as proved.

Fixed (``engine.core.liqindex.index_trigger``, used by ``Risk.refresh_index``): a short whose MRG-010 threshold
is one tick is indexed at 0, a long whose threshold is ``maxPrice`` at ``maxPrice + 1``, so every mark selects it
and LIQ-003 decides.  The funding instant's own waterfall now liquidates the pool (its equity below zero in the
LIQ-023 record); a short exactly safe at one tick is a candidate there that LIQ-003 finds healthy and keeps.

Since FundingTick refuses a rate beyond FND-004's cap (ETHUSD ±0.75%, below the gap between initial and
maintenance margin by construction), the −3.2% instant above is refused and no single instant takes a pool below
maintenance.  The regression test therefore funds twice at the cap: the short's pool goes 52 → 33 → 14 XBt
(19 = 0.75% of 2,500 rounded up, each time), below its maintenance of 27 at the second instant, whose own
waterfall now liquidates it (equity 14); the long's (value 100,000,000 XBt, 750,000 a time) goes 2,076,500 →
1,326,500 → 576,500, below 1,076,500.  Without the fix both stay held and a third capped instant takes them below
zero (−5 and −173,500 XBt) with nothing firing, so the test still pins the bug.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.invariants import check_all

ETHUSD = load_builtin_instruments()["ETHUSD"]


def _held_at_the_bound(price: int, qty: int, rate_e8: int | None) -> tuple[Engine, list[Event], list[Event]]:
    """Account 2 isolated at 50x holds ``qty`` (signed) at ``price``; two funding instants (``rate_e8``, FND-004's
    cap) then take its pool below maintenance, the first leaving it held.  Returns the engine after three more mark
    updates at ``price``, the second funding instant's events and the last update's."""
    engine = Engine({"ETHUSD": ETHUSD})
    engine.track_steps = True

    def ok(command: object) -> list[Event]:
        events = engine.process(command)  # type: ignore[arg-type]
        assert isinstance(events[-1], Accepted), command
        return events

    ok(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**8))
    for account in (2, 3):
        ok(c.VerifyAccount(time_ms=0, account=account))
        ok(c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**12 if qty > 0 else 10**6))
    ok(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=price, index_price=price))
    ok(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=5_000))
    side, other = ("Buy", "Sell") if qty > 0 else ("Sell", "Buy")
    ok(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side=other, order_qty=abs(qty), price=price))
    ok(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side=side, order_qty=abs(qty), price=price))
    funding: list[Event] = []
    if rate_e8 is not None:
        first = ok(c.FundingTick(time_ms=1, symbol="ETHUSD", rate_e8=rate_e8))
        assert not any(isinstance(e, RuleEvent) and isinstance(e.record, Liquidation) for e in first)
        # one capped instant leaves it above maintenance, held
        assert engine.accounts[2].positions["ETHUSD"].qty == qty
        funding = ok(c.FundingTick(time_ms=2, symbol="ETHUSD", rate_e8=rate_e8))
    last: list[Event] = []
    for step in (3, 4, 5):
        last = ok(c.PriceUpdate(time_ms=step, symbol="ETHUSD", mark_price=price, index_price=price))
    return engine, funding, last


@pytest.mark.parametrize(
    ("price", "qty", "rate_e8", "equity", "maintenance"),
    [(ETHUSD.tick_size, -500, -750_000, 14, 27), (ETHUSD.max_price, 1, 750_000, 576_500, 1_076_500)],
    ids=["short-at-one-tick", "long-at-max-price"],
)
def test_liq_033_a_pool_below_maintenance_at_a_price_bound_is_liquidated(
    price: int, qty: int, rate_e8: int, equity: int, maintenance: int
) -> None:
    engine, funding, last = _held_at_the_bound(price, qty, rate_e8)
    taken = [
        e.record
        for e in funding
        if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation) and e.account == 2
    ]
    assert len(taken) == 1
    # the second capped instant took the pool below maintenance; its own waterfall liquidated it
    assert (taken[0].equity, taken[0].maintenance) == (equity, maintenance)
    assert engine.accounts[2].positions["ETHUSD"].qty == 0  # before the fix: still held, then below zero
    found = check_all(engine, engine.step_info(last))  # type: ignore[arg-type]
    assert {key: problems for key, problems in found.items() if problems} == {}


def test_liq_003_a_short_safe_at_one_tick_is_a_candidate_there_and_kept() -> None:
    """The boundary: the same short without the funding is safe at one tick (equity 52 >= maintenance 27, its
    MRG-010 threshold 5.05 floored to the tick: 5).  Indexed at 0, it is a candidate at every mark update at one
    tick, and LIQ-003 keeps it: the index only widens the filter, it liquidates nobody LIQ-003 does not."""
    engine, _, _ = _held_at_the_bound(ETHUSD.tick_size, -500, None)
    account = engine.accounts[2]
    assert account.positions["ETHUSD"].qty == -500
    assert engine.risk.liq.entries[(2, "ETHUSD")] == (False, 0)
    assert engine.risk.liq.candidates("ETHUSD", ETHUSD.tick_size) == [(2, 0)]
    _, equity, maintenance, _ = engine.risk.pool_of(account, "ETHUSD")
    assert equity >= maintenance
    assert not engine.risk.below_maintenance(account, "ETHUSD")
    assert engine.waterfall.stats.get("liquidations", 0) == 0


def test_liq_033_a_short_one_tick_from_the_bound_keeps_its_own_trigger() -> None:
    """Only the bound is moved: a short whose threshold is two ticks or more is indexed at its threshold."""
    engine, _, _ = _held_at_the_bound(2 * ETHUSD.tick_size, -500, None)
    is_long, trigger = engine.risk.liq.entries[(2, "ETHUSD")]
    assert not is_long
    assert trigger >= 2 * ETHUSD.tick_size
    assert engine.risk.liq.candidates("ETHUSD", 2 * ETHUSD.tick_size) == []
