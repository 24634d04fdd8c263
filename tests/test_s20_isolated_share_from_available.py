"""ACC-006 (session 20, redteam24_2 and review21_2): what an isolated pool takes from the rest of the account at a
fill -- the closed part's deficit share, ``top_up`` and the premium -- is paid from MRG-050's available balance at
the fill (floored at 0, plus what the fill itself frees and realises), never from the cross pool's margin.

* redteam24_2 (/work/coord/repro19): a resting Close accepted by LIQ-042 before eight funding instants made the pool
  short of its requirement, half taken at 3,050: the remainder kept the closed half's deficit share and was
  liquidated at the unchanged mark (0.823x on 136ac3c).  Now it keeps exactly its share: 1.186x, as before the fill.
* review21_2: the same with a cross XBTUSD long and everything MRG-050 allows withdrawn: fix24's free-wallet draw
  (631c60e) moved 547,125 XBt of the cross pool's margin into the remainder (cross 0.918x).  Now the remainder takes
  only what MRG-050 leaves available; the cross pool keeps its equity.
* fix26_1 (/work/coord/repro20): ``top_up`` with 20,000,000 XBt of margin added, a Close at 3,150, sixty funding
  instants: the closed half's loss beyond the pool took the cross pool's whole margin (XBTUSD 1.871x -> 0.000x at
  unchanged marks on 136ac3c).
* fix26_2: with the draws capped, LIQ-044 (on LIQ-040, which had no available) let a fill leave the pool
  below zero; a reduction is now judged on the available the fill finds (session 21; session 20: on none).
* the premium: a resting isolated bid filled after the ETHUSD mark fell took 200,000 XBt of its premium from the
  cross pool's margin on 136ac3c (1.868x -> 1.521x; LIQ-053 stops it at maintenance); now only the order's own
  released margin beyond the requirement pays it.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import Liquidation
from perpspec.rules.invariants import check_all
from perpspec.rules.waterfall_postings import compute_isolated_margin_after_fill

E, P = "ETHUSD", 300_000
X, XP, QTY = "XBTUSD", 5_000_000, 50_000


def _ok(engine: Engine, cmd: object) -> None:
    events = engine.process(cmd)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (cmd, events[-1])
    found = {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v}
    assert not found, found


def _engine() -> Engine:
    engine = Engine()
    for symbol, price in ((E, P), (X, XP)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account in (1, 2, 3):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    _ok(engine, c.Isolate(time_ms=0, account=1, symbol=E, enabled=True))
    _ok(engine, c.SetLeverage(time_ms=0, account=1, symbol=E, leverage_hundredths=5000))
    return engine


def _short_with_resting_close(engine: Engine, close_price: int, added: int, instants: int) -> None:
    """Account 1: an isolated ETHUSD 50x short of 1,000 at 3,000, ``added`` margin, a resting Close buy, funding."""
    _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol=E, side="Buy", order_qty=1000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Sell", order_qty=1000, price=P))
    if added:
        _ok(engine, c.TransferMargin(time_ms=1, account=1, symbol=E, amount=added))
    _ok(engine, c.PlaceOrder(time_ms=2, account=1, symbol=E, side="Buy", order_qty=1000, price=close_price,
                             exec_inst="Close"))  # accepted by LIQ-042: no deficit yet
    for t in range(3, 3 + instants):  # -0.1%: the short pays 300,000 XBt an instant from its isolated pool
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))


def _cross_long_and_withdraw_all(engine: Engine, time_ms: int) -> None:
    """Account 1 opens a cross XBTUSD long of 50,000 USD and withdraws the most MRG-050 allows."""
    _ok(engine, c.PlaceOrder(time_ms=time_ms, account=2, symbol=X, side="Sell", order_qty=QTY, price=XP))
    _ok(engine, c.PlaceOrder(time_ms=time_ms, account=1, symbol=X, side="Buy", order_qty=QTY, price=XP))
    low, high = 0, engine.accounts[1].wallet("XBt")
    while low < high:
        mid = (low + high + 1) // 2
        probe = Engine()
        probe._load(engine._dump())
        if isinstance(probe.process(c.Withdraw(time_ms=time_ms, account=1, asset="XBt", amount=mid))[-1], Accepted):
            low = mid
        else:
            high = mid - 1
    _ok(engine, c.Withdraw(time_ms=time_ms, account=1, asset="XBt", amount=low))


def _pool(engine: Engine, symbol: str) -> tuple[int, int]:
    _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[1], symbol)
    return equity, maintenance


def test_redteam24_2_the_remainder_of_a_half_filled_resting_close_keeps_its_standing_at_the_unchanged_mark() -> None:
    engine = _engine()
    _short_with_resting_close(engine, 305_000, 0, 8)
    assert _pool(engine, E) == (3_829_500, 3_229_500)  # 1.186x
    _ok(engine, c.PlaceOrder(time_ms=20, account=3, symbol=E, side="Sell", order_qty=500, price=305_000))
    ps = engine.accounts[1].positions[E]
    # the remainder keeps exactly its share of the deficit: 1.186x as before (136ac3c: 1,329,500, 0.823x)
    assert (ps.qty, ps.iso_margin) == (-500, 1_914_750)
    assert _pool(engine, E) == (1_914_750, 1_614_750)
    _ok(engine, c.CancelAll(time_ms=21, account=1))
    _ok(engine, c.PriceUpdate(time_ms=22, symbol=E, mark_price=P, index_price=P))
    assert engine.accounts[1].positions[E].qty == -500  # not liquidated at the unchanged mark


def test_review21_2_the_share_never_takes_the_cross_pools_margin() -> None:
    engine = _engine()
    _short_with_resting_close(engine, 305_000, 0, 8)
    _cross_long_and_withdraw_all(engine, 11)
    cross_before = _pool(engine, X)
    assert cross_before == (1_075_750, 575_750)
    events = engine.process(c.PlaceOrder(time_ms=20, account=3, symbol=E, side="Sell", order_qty=500, price=305_000))
    assert isinstance(events[-1], Accepted)
    cross_after = _pool(engine, X)
    # the cross pool keeps its equity (it gains the maker rebate left over): fix24's draw left it at 0.918x
    assert cross_after[0] >= cross_before[0]
    assert cross_after[0] >= cross_after[1]
    # the remainder takes what MRG-050 left available beyond the closed half's freed + realised, no more
    # (136ac3c: 1,329,500, freed + realised only; 631c60e: 1,914,750, 547,125 of it the cross pool's): 0.847x, so
    # the fill's own command takes it over (liq20: a pool a command's fills leave below maintenance)
    taken = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert [(r.account_id, r.pool, r.pool_margin) for r in taken] == [(1, "isolated:ETHUSD", 1_367_088)]
    assert engine.accounts[1].positions[E].qty == 0
    _ok(engine, c.CancelAll(time_ms=21, account=1))
    for symbol, price in ((E, P), (X, XP)):
        _ok(engine, c.PriceUpdate(time_ms=22, symbol=symbol, mark_price=price, index_price=price))
    assert engine.accounts[1].positions[X].qty == QTY  # the cross long is not liquidated at unchanged marks


def test_fix26_1_top_up_never_takes_the_cross_pools_margin() -> None:
    engine = _engine()
    _short_with_resting_close(engine, 315_000, 20_000_000, 60)
    _cross_long_and_withdraw_all(engine, 71)
    cross_before = _pool(engine, X)
    assert cross_before[0] > cross_before[1]
    events = engine.process(c.PlaceOrder(time_ms=80, account=3, symbol=E, side="Sell", order_qty=500, price=315_000))
    assert isinstance(events[-1], Accepted)
    cross_after = _pool(engine, X)
    # 136ac3c: the closed half's loss beyond the pool took the cross pool's whole margin (equity 0, 0.000x)
    assert cross_after[0] >= cross_before[0]
    assert cross_after[0] >= cross_after[1]
    # the isolated pool bears its own loss beyond what MRG-050 left available (BitMEX: an isolated position risks
    # only its own margin): below maintenance (0.475x), taken over in the fill's own command (liq20)
    taken = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert [(r.account_id, r.pool) for r in taken] == [(1, "isolated:ETHUSD")]
    assert 0 < taken[0].equity < taken[0].maintenance
    assert engine.accounts[1].positions[E].qty == 0


def test_the_premium_of_a_resting_isolated_bid_is_paid_from_the_free_wallet_as_liq_040_models_it() -> None:
    """The premium of a resting isolated bid (its loss against a mark that fell after it was placed) comes from the
    free wallet as far as it reaches, as at 136ac3c and as LIQ-040 (what LIQ-044/053 judge) models it: capped at
    MRG-050's available as well (fix26's first form), a bid whose premium made the available negative started its
    pool below zero while LIQ-044 let the fill through, the fund paying and its owner withdrawing the rest
    (redteam29_1, redteam29_4).  LIQ-053 keeps the rest of the account at maintenance: the cross pool gives up
    200,000 of its margin and stays above its maintenance."""
    engine = _engine()
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Buy", order_qty=1000, price=P))  # at the mark
    _cross_long_and_withdraw_all(engine, 11)
    _ok(engine, c.PriceUpdate(time_ms=13, symbol=E, mark_price=299_500, index_price=299_500))  # the premium: 500,000
    cross_reserved = _pool(engine, X)  # the cross pool's equity still holds the bid's reserved margin
    _ok(engine, c.PlaceOrder(time_ms=20, account=3, symbol=E, side="Sell", order_qty=1000, price=P))
    ps = engine.accounts[1].positions[E]
    assert ps.qty == 1000
    # the pool gets its requirement (6,229,500) and the premium (500,000): at the mark it holds its requirement
    assert ps.iso_margin == 6_729_500
    _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[1], E)
    assert equity > maintenance
    rebate = 75_000  # the maker rebate of the fill (0.025% of 30,000,000 XBt)
    assert cross_reserved == (7_530_250, 575_750)
    assert _pool(engine, X) == (cross_reserved[0] - 6_729_500 + rebate, 575_750) == (875_750, 575_750)


def test_the_kernel_pays_a_deficit_share_from_the_available_as_far_as_it_reaches() -> None:
    # a pool of requirement 1,000 holding 600 (extra -400), half closed: freed 500, realised -450 (closed part brings
    # 50), the remainder's share of the deficit -200: the closed part's share 200 is 50 of its own and 150 lent
    args = {
        "old_margin": 600, "old_requirement": 1_000, "new_requirement": 500, "realised": -450, "premium": 0,
        "unallocated": 10**9, "old_qty": 10, "new_qty": 5,
    }
    assert compute_isolated_margin_after_fill(**args, available=10**9) == 300  # 500 - 200: its share
    assert compute_isolated_margin_after_fill(**args, available=100) == 250  # 100 of the 150 available
    assert compute_isolated_margin_after_fill(**args, available=0) == 150  # freed + realised only (136ac3c's)
    assert compute_isolated_margin_after_fill(**args, available=-10**6) == 150  # a negative available lends nothing


def test_fix26_2_liq_044_never_counts_on_money_mrg_050_may_not_lend() -> None:
    # fix26_1 with 64 funding instants: the closed half's loss exceeds what it frees, the extra and MRG-050's
    # available.  LIQ-040 modelled the draw from the free wallet, so LIQ-044 let the fill leave the isolated pool at
    # -433,462 XBt at the unchanged mark (the fund's; fix26 before its stopgap); 136ac3c drained the cross pool to 0
    # instead.  Now LIQ-044 judges a reduction on the draw MRG-050's available at the fill allows (session 21:
    # PoolState.available, the figure ACC-006 reads; session 20: no draw counted on), and the Close is cancelled.
    engine = _engine()
    _short_with_resting_close(engine, 315_000, 20_000_000, 64)
    _cross_long_and_withdraw_all(engine, 71)
    cross_before = _pool(engine, X)
    _ok(engine, c.PlaceOrder(time_ms=80, account=3, symbol=E, side="Sell", order_qty=500, price=315_000))
    assert engine.accounts[1].positions[E].qty == -1000  # the Close was not filled (LIQ-044)
    assert _pool(engine, E)[0] >= 0
    assert _pool(engine, X)[0] >= cross_before[0]


def test_redteam29_4_a_premium_fill_never_starts_its_pool_below_zero() -> None:
    """redteam29_4 (/work/coord/repro20/redteam29_4.py): two resting isolated bids, the mark 3.3% lower (MRG-050's
    available negative), one bid filled at its price.  With the premium capped at the available the pool started at
    -3,770,500 XBt, the fund paid it at the take-over, and the owner withdrew the rest; paid from the free wallet (as
    LIQ-040 models it) the pool holds its requirement and its premium, and the fund pays nothing."""
    engine = Engine()
    engine.track_steps = True
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=P, index_price=P))
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    for account in (1, 2, 3):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10 if account > 1 else 20_000_000))
    _ok(engine, c.Isolate(time_ms=0, account=1, symbol=E, enabled=True))
    _ok(engine, c.SetLeverage(time_ms=0, account=1, symbol=E, leverage_hundredths=5000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Buy", order_qty=1000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=1, symbol=E, side="Buy", order_qty=1000, price=P - 100))
    _ok(engine, c.PriceUpdate(time_ms=13, symbol=E, mark_price=P - 10_000, index_price=P - 10_000))
    assert engine.available(1, "XBt") < 0
    fund = engine.insurance("XBt")
    _ok(engine, c.PlaceOrder(time_ms=20, account=3, symbol=E, side="Sell", order_qty=1000, price=P))
    _, equity, _, _ = engine.risk.pool_of(engine.accounts[1], E)
    assert engine.accounts[1].positions[E].qty == 1000
    assert equity >= 0  # -3,770,500 with the premium capped at the available
    _ok(engine, c.CancelAll(time_ms=21, account=1))
    _ok(engine, c.PriceUpdate(time_ms=30, symbol=E, mark_price=P - 10_000, index_price=P - 10_000))
    assert engine.insurance("XBt") >= fund  # the fund pays nothing for it
