"""LIQ-050/051 for a close-out in profit at mark (session 17, review15 finds 1 and 2).

ADL-032 (session 16) keeps a held close-out whose mark has not reached its bankruptcy (take-over) price T away
from ADL: closing it at T would hand its profit at mark to the opposing trader.  The book path did the same:

1. LIQ-051's close-out bound was ``max(anchor, mark + 5%)`` for a held short (``min(anchor, mark − 5%)`` for a held
   long): once the mark moved more than 5% in the fund's favour the bound was T itself, at any age and cover, so an
   ask resting at T took the held profit (/work/coord/repro16/review15_1.py: 52,697,000 XBt);
2. the offer limit widened to the bound on ADL-031's cover alone, so an unrelated contract's gap had the fund pay a
   maker to take a held short in profit at mark + 5%, 4.5% above T (review15_2.py: 8,526,000 XBt); LIQ-050's walk
   did the same slowly (its step from T is away from the mark for a close-out in profit).

Now (rules/liquidation_working.py): the bound is the mark band alone; the walk steps only once the mark has reached
T (``rules.adl.has_mark_reached_bankruptcy``), else the limit is the anchor or the band, whichever is better for the
engine; the limit widens to the band only for a close-out ADL-032 calls due (``is_adl_due``).  So every close-out
fill is within 5% of the mark and a close-out in profit at mark never fills at a price that draws on the fund
(obligations LIQ-051/within-mark-band and LIQ-051/no-draw-before-bankruptcy).  Each test here fails on the rules
before session 17.
"""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Event, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlDeferred, AdlFill, LiquidationFill
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import Fill
from perpspec.rules.invariants import check_all
from perpspec.rules.liquidation_working import (
    CLOSE_OUT_MARK_BAND_PPM,
    compute_mark_bound,
    compute_offer_limit,
    compute_working_limit,
    get_working_offers,
)
from perpspec.rules.num import PPM

X, E = "XBTUSD", "ETHUSD"
T0 = 1_798_000_000_000
XBTUSD = load_instrument(X)
SYMBOLS = ("XBTUSD", "ETHUSD", "XBTUSDT")
V, C, W, D, K = 1, 2, 3, 4, 5


def ok(engine: Engine, cmd: object) -> list[Event]:
    events = engine.process(cmd)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (cmd, events[-1])
    problems = {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v}
    assert not problems, problems
    return events


def records(events: list[Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, kind)]


def held_short(fund: int = 0, with_eth: bool = False) -> Engine:
    """V sells 100,000 XBTUSD to C at 50,000 with 1% margin; the mark 50,450 takes V over (no ask): held short at
    50,683.5, kept (the fund covers it; in profit at mark by about 0.9M).  ``with_eth``: W long 1,000 ETHUSD at 3,000
    with 10^7 XBt, D short."""
    engine = Engine()
    engine.track_steps = True
    for account, amount in ((V, 3_000_000), (C, 10**10), (W, 10**7), (D, 10**10), (K, 10**10)):
        ok(engine, c.VerifyAccount(time_ms=T0, account=account))
        ok(engine, c.Deposit(time_ms=T0, account=account, asset="XBt", amount=amount))
    if fund:
        ok(engine, c.DepositInsurance(time_ms=T0, asset="XBt", amount=fund))
    ok(engine, c.PriceUpdate(time_ms=T0, symbol=X, mark_price=5_000_000, index_price=5_000_000))
    ok(engine, c.PriceUpdate(time_ms=T0, symbol=E, mark_price=300_000, index_price=300_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=C, symbol=X, side="Buy", order_qty=100_000, price=5_000_000))
    ok(engine, c.PlaceOrder(time_ms=T0, account=V, symbol=X, side="Sell", order_qty=100_000, price=5_000_000))
    if with_eth:
        ok(engine, c.PlaceOrder(time_ms=T0, account=D, symbol=E, side="Sell", order_qty=1000, price=300_000))
        ok(engine, c.PlaceOrder(time_ms=T0, account=W, symbol=E, side="Buy", order_qty=1000, price=300_000))
    ok(engine, c.PriceUpdate(time_ms=T0 + 1, symbol=X, mark_price=5_045_000, index_price=5_045_000))
    [held] = engine.waterfall.pending
    assert (held.qty, held.takeover_price) == (-100_000, 5_068_350)
    return engine


def test_an_ask_at_the_take_over_price_far_above_the_mark_is_not_taken() -> None:
    # review15_1: the mark falls to 40,000; K's ask at 50,683.5 (T, 26.7% above the mark) was bought, handing K the
    # held short's ~52.7M XBt profit at mark.  Now the limit is 42,000 (the mark + 5%): K's ask stays
    engine = held_short()
    ok(engine, c.PlaceOrder(time_ms=T0 + 2, account=K, symbol=X, side="Sell", order_qty=100_000, price=5_068_350))
    fund = engine.insurance_funds.get("XBt", 0)
    events = ok(engine, c.PriceUpdate(time_ms=T0 + 3, symbol=X, mark_price=4_000_000, index_price=4_000_000))
    assert records(events, LiquidationFill) == []
    assert records(events, AdlFill) == []
    assert engine.insurance_funds.get("XBt", 0) == fund
    assert engine.positions(K) == {}
    [held] = engine.waterfall.pending
    assert held.qty == -100_000
    # an ask within 5% of the mark is taken, at a surplus for the fund
    ok(engine, c.PlaceOrder(time_ms=T0 + 4, account=K, symbol=X, side="Sell", order_qty=100_000, price=4_200_000))
    events = ok(engine, c.PriceUpdate(time_ms=T0 + 5, symbol=X, mark_price=4_000_000, index_price=4_000_000))
    fills = records(events, LiquidationFill)
    assert [(f.qty, f.price) for f in fills] == [(100_000, 4_200_000)]
    assert all(f.fund_delta > 0 for f in fills)
    assert engine.waterfall.pending == []


def test_a_gap_elsewhere_does_not_make_the_fund_pay_for_a_close_out_in_profit() -> None:
    # review15_2: an unrelated ETHUSD gap takes the cover below 0; the held XBTUSD short (mark 50,450 < T 50,683.5)
    # was bought at 52,972.5 (the mark + 5%), the fund drawing 8,526,000.  Now it is kept: not due, no draw
    engine = held_short(fund=20_000_000, with_eth=True)
    ok(engine, c.PlaceOrder(time_ms=T0 + 2, account=K, symbol=X, side="Sell", order_qty=100_000, price=5_297_250))
    events = ok(engine, c.PriceUpdate(time_ms=T0 + 3, symbol=E, mark_price=150_000, index_price=150_000))
    assert [f for f in records(events, LiquidationFill) if f.symbol == X] == []
    assert engine.positions(K) == {}
    deferred = [d for d in records(events, AdlDeferred) if d.symbol == X]
    assert [(d.rule_id, d.unfilled_qty) for d in deferred] == [("ADL-032", 100_000)]
    [xbt] = [p for p in engine.waterfall.pending if p.symbol == X]
    assert xbt.qty == -100_000


def test_the_walk_does_not_step_away_from_the_mark_for_a_close_out_in_profit() -> None:
    # the mark stays at 50,450 (below T 50,683.5); K asks 50,800 (0.23% above T, inside the band).  The LIQ-050 walk
    # reached it at age 1 (T + 0.5%) and the fund paid ~450,000 for each waterfall's fill.  Now: never above T
    engine = held_short(fund=20_000_000)
    ok(engine, c.PlaceOrder(time_ms=T0 + 2, account=K, symbol=X, side="Sell", order_qty=100_000, price=5_080_000))
    fund = engine.insurance_funds["XBt"]
    for step in range(5):
        events = ok(engine, c.PriceUpdate(time_ms=T0 + 3 + step, symbol=X, mark_price=5_045_000, index_price=5_045_000))
        assert records(events, LiquidationFill) == []
    assert engine.insurance_funds["XBt"] == fund
    assert engine.positions(K) == {}
    [held] = engine.waterfall.pending
    assert (held.qty, held.age) == (-100_000, 0)  # in profit at mark it does not age (review16_1): no walk to jump


def test_the_offer_limit_widens_only_when_adl_032_calls_the_close_out_due() -> None:
    # a held long taken over at 5,000.00: the mark 5,100.00 (not reached) and the cover < 0: still the anchor
    assert compute_offer_limit(XBTUSD, 1, 500_000, 0, 510_000, -1) == 500_000
    assert compute_offer_limit(XBTUSD, -1, 500_000, 0, 490_000, -1) == 500_000
    # the mark at the take-over price and the cover < 0: due, the band (5% past the mark)
    assert compute_offer_limit(XBTUSD, 1, 500_000, 0, 500_000, -1) == 475_000
    assert compute_offer_limit(XBTUSD, -1, 500_000, 0, 500_000, -1) == 525_000
    bids = [Fill(qty=100, price=p) for p in (520_000, 500_000, 499_950, 490_000)]
    assert get_working_offers(XBTUSD, 300, 500_000, 9, 510_000, -1, bids) == bids[:2]  # never below T, any age


def test_the_limit_of_a_close_out_deep_in_profit_is_the_mark_band() -> None:
    # the mark 20% beyond T: the limit is 5% from the mark at every age and cover, never T
    for age in (0, 1, 50):
        for cover in (-1, 0, 10**9):
            assert compute_offer_limit(XBTUSD, -1, 500_000, age, 400_000, cover) == 420_000
            assert compute_offer_limit(XBTUSD, 1, 500_000, age, 600_000, cover) == 570_000
    assert compute_working_limit(XBTUSD, -1, 500_000, 0, 400_000) == 420_000


prices = st.integers(min_value=-10**9, max_value=2 * 10**8)


@given(st.sampled_from(SYMBOLS), st.sampled_from((1, -1)), prices, st.integers(min_value=0, max_value=400),
       st.integers(min_value=0, max_value=PPM), st.integers(min_value=1, max_value=10**8), st.integers(-5, 5),
       st.integers(min_value=1, max_value=10**8))
def test_every_allowed_price_is_within_the_band_and_draws_nothing_before_the_bankruptcy_price(
    symbol: str, side: int, takeover: int, age: int, step: int, mark: int, cover: int, ticks: int
) -> None:
    inst = attrs.evolve(load_instrument(symbol), liquidation_work_step_ppm=step)
    mark = min(max(mark, inst.tick_size), inst.max_price)
    price = min(ticks * inst.tick_size, inst.max_price // inst.tick_size * inst.tick_size)
    limit = compute_offer_limit(inst, side, takeover, age, mark, cover)
    if not (price >= limit if side > 0 else price <= limit):
        return
    band = mark * CLOSE_OUT_MARK_BAND_PPM // PPM
    assert price >= mark - band if side > 0 else price <= mark + band
    assert (price >= compute_mark_bound(inst, side, mark)) if side > 0 else (price <= compute_mark_bound(inst, side, mark))
    in_profit = mark > takeover if side > 0 else mark < takeover
    if in_profit:
        assert price >= takeover if side > 0 else price <= takeover
