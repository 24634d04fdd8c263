"""LIQ-054 in the lean sweep of a crossing plain limit order (``engine.core.entry_sweep``, ``maker_allowed``).

An isolated maker with no open cross position in the currency: its fill is made only if it leaves the free wallet
(wallet − Σ isolated margins) ≥ 0, or no lower than it was.  Mutation survivors #59 #60 #110 #111 #113 of
``engine/core/entry_sweep.py`` (``is_free_wallet_kept(before[7] - before[4], out[4] - out[3], False)``): none of
the earlier tests reached the branch with a decision that depends on it.

With a second isolated pool (XBTZ26) the first case also pins ``Risk.pool_tuple``'s free wallet of an isolated
pool, the wallet *less* the other isolated margins (mutation survivor ``engine/core/risk.py`` #73).

Both cases need a free wallet that fell after MRG-060 admitted the resting order, which needs a cross position
that is gone by the time of the fill:

* the bid was admitted against cross unrealised profit (MRG-060 counts it as available), and the cross position
  was closed at its entry price since: the fill's initial margin is beyond the free wallet;
* a cross pool below zero equity, carried by a bounded waterfall (LIQ-034), was closed by its owner at a price
  better than the mark (LIQ-044: no lower than before), leaving the free wallet below zero with no cross
  position; a reduction of the isolated position then leaves it below zero but higher than before.  That
  setup is the path of an open finding (tests/test_mut_s8_carried_cross_close_owing.py: the account can end
  flat and owing); if the rules close it, #59/#111 need another way to a free wallet below zero with no cross
  position, or become equivalent (with the free wallet before ≥ 0 the three comparisons agree).

Each order is a plain GoodTillCancel limit order from a cross taker (a counter on ``entry_plain``'s
``enter_crossing`` checks it took the lean sweep).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain, entry_sweep
from perpspec.engine.core.events import Accepted, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.solvency import FILL_CANCEL_TEXT
from tests.test_free_wallet import free_wallet, has_cross_position

FUND = 10**9
XBT_50K, XBT_55K = 5_000_000, 5_500_000
ETH_3000, ETH_1500 = 300_000, 150_000


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many orders the lean sweep entered."""
    calls: list[int] = []
    original = entry_sweep.enter_crossing

    def counting(*args: object) -> None:
        calls.append(1)
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(entry_plain, "enter_crossing", counting)
    return calls


def _ok(engine: Engine, command: c.Command) -> list[object]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


def _maker(events: list[object], account: int) -> list[tuple[str, int, int, str]]:
    return [
        (e.exec_type, e.last_qty, e.last_px, e.text)
        for e in events
        if isinstance(e, Execution) and e.account == account
    ]


def _engine(wallets: tuple[tuple[int, int], ...], **options: int) -> Engine:
    engine = Engine(**options)  # type: ignore[arg-type]
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=FUND))
    for account_id, wallet in wallets:
        _ok(engine, c.VerifyAccount(time_ms=0, account=account_id))
        _ok(engine, c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=wallet))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=XBT_50K, index_price=XBT_50K))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=ETH_3000, index_price=ETH_3000))
    return engine


def _trade(engine: Engine, time_ms: int, maker: int, taker: int, symbol: str, taker_side: str, qty: int,
           price: int) -> list[object]:
    maker_side = "Sell" if taker_side == "Buy" else "Buy"
    _ok(engine, c.PlaceOrder(time_ms=time_ms, account=maker, symbol=symbol, side=maker_side, order_qty=qty,
                             price=price))
    return _ok(engine, c.PlaceOrder(time_ms=time_ms, account=taker, symbol=symbol, side=taker_side,
                                    order_qty=qty, price=price))


# (deposit, made, with an isolated XBTZ26 pool): the boundary moves by that pool's margin and commission
BOUNDARY = [
    (12_173_999, False, False), (12_174_000, True, False), (12_377_149, False, True), (12_377_150, True, True),
]


@pytest.mark.parametrize(("wallet", "made", "other_pool"), BOUNDARY)
def test_liq_054_lean_sweep_a_bid_admitted_against_cross_profit_fills_only_to_a_free_wallet_of_0(
    lean: list[int], wallet: int, made: bool, other_pool: bool
) -> None:
    """LIQ-054 (lean sweep): account 2 (``wallet``) buys 50,000 XBTUSD cross at 50,000.00; at a mark of 55,000.00
    (about 9.09M of profit) it sets ETHUSD to 1x isolated, buys 30 at 3,000.00 (margin 9,013,500) and rests a bid
    of 20 at 1,500.00 (MRG-060 counts the cross profit as available: without it the bid is refused).  The XBTUSD
    mark goes back to 50,000.00 and account 2 sells its long there, paying 75,000 of commission: no cross
    position, a free wallet of ``wallet`` − 9,170,250.  The ETHUSD mark falls to 1,500.00; account 4 (cross) sells
    20 at 1,500.00 into the bid: the fill moves 3,004,500 into the isolated pool and the maker's rebate brings 750,
    so the free wallet after is ``wallet`` − 12,174,000: made at 0, refused (the bid cancelled, LIQ-044's text) at
    −1.  With ``other_pool`` account 2 first buys 1,000 XBTZ26 10x isolated at 50,000.00 (margin 201,650,
    commission 1,500): the free wallet is the wallet less *both* isolated pools (``Risk.pool_tuple``), and the
    boundary moves by 203,150."""
    engine = _engine(((2, wallet), (3, 10**10), (4, 10**10)))
    other = 0
    if other_pool:
        _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTZ26", mark_price=XBT_50K, index_price=XBT_50K))
        _ok(engine, c.SetLeverage(time_ms=0, account=2, symbol="XBTZ26", leverage_hundredths=1000))
        _trade(engine, 0, 3, 2, "XBTZ26", "Buy", 1_000, XBT_50K)
        assert engine.accounts[2].positions["XBTZ26"].iso_margin == 201_650
        other = 203_150
    _trade(engine, 0, 3, 2, "XBTUSD", "Buy", 50_000, XBT_50K)
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=XBT_55K, index_price=XBT_55K))
    _ok(engine, c.SetLeverage(time_ms=1, account=2, symbol="ETHUSD", leverage_hundredths=100))
    _trade(engine, 1, 4, 2, "ETHUSD", "Buy", 30, ETH_3000)
    assert engine.accounts[2].positions["ETHUSD"].iso_margin == 9_013_500
    _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Buy", order_qty=20, price=ETH_1500))
    assert free_wallet(engine, 2) == wallet - other - 9_095_250  # the XBTUSD buy's commission, the ETHUSD margin
    _ok(engine, c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=XBT_50K, index_price=XBT_50K))
    _trade(engine, 2, 3, 2, "XBTUSD", "Sell", 50_000, XBT_50K)
    assert not has_cross_position(engine, 2, "XBt")
    assert free_wallet(engine, 2) == wallet - other - 9_170_250
    _ok(engine, c.PriceUpdate(time_ms=3, symbol="ETHUSD", mark_price=ETH_1500, index_price=ETH_1500))
    lean.clear()
    events = _ok(engine, c.PlaceOrder(time_ms=3, account=4, symbol="ETHUSD", side="Sell", order_qty=20,
                                      price=ETH_1500))
    assert lean == [1]
    position = engine.accounts[2].positions["ETHUSD"]
    if made:
        assert _maker(events, 2) == [("Trade", 20, ETH_1500, "")]
        assert (position.qty, position.iso_margin) == (50, 12_018_000)
        assert free_wallet(engine, 2) == 0
        assert engine.positions(4)["ETHUSD"].qty == -50
    else:
        assert _maker(events, 2) == [("Canceled", 0, 0, FILL_CANCEL_TEXT)]
        assert (position.qty, position.iso_margin) == (30, 9_013_500)
        assert free_wallet(engine, 2) == 3_003_749  # one satoshi short of the 3,003,750 the fill takes
        assert engine.positions(4)["ETHUSD"].qty == -30  # its sell rests


def test_liq_054_lean_sweep_a_free_wallet_below_zero_may_be_raised_by_a_reduction(lean: list[int]) -> None:
    """LIQ-054 (lean sweep), "or no lower than before": account 2 (10,000,000 XBt) buys 50,000 XBTUSD cross at
    50,000.00; at 55,000.00 it buys 50 ETHUSD 1x isolated at 3,000.00 (margin 15,022,500: the free wallet is
    −5,108,750, backed by the cross profit, LIQ-053).  Account 6 (600,000 XBt) buys 10,000 XBTUSD cross at
    55,000.00.  The XBTUSD mark falls back to 50,000.00 with a waterfall bounded to one liquidation per update
    (LIQ-034): account 6 (the higher liquidation price) is liquidated, account 2's cross pool, at −5,108,750 of
    equity, is carried.  Account 2 then sells its long at 50,500.00 (LIQ-044: its pool no lower than before),
    leaving no cross position and a free wallet of −4,193,008.  A resting 1x sell of 1 ETHUSD at 3,000.00 taken
    by account 4's plain limit buy frees 300,450 of margin and earns a rebate of 75: the free wallet rises to
    −3,892,483, still below zero but no lower than before, so the fill is made (the pool keeps 14,722,050)."""
    engine = _engine(((2, 10**7), (3, 10**10), (4, 10**10), (6, 600_000)), max_liquidations_per_update=1)
    _trade(engine, 0, 3, 2, "XBTUSD", "Buy", 50_000, XBT_50K)
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=XBT_55K, index_price=XBT_55K))
    _ok(engine, c.SetLeverage(time_ms=1, account=2, symbol="ETHUSD", leverage_hundredths=100))
    _trade(engine, 1, 4, 2, "ETHUSD", "Buy", 50, ETH_3000)
    assert engine.accounts[2].positions["ETHUSD"].iso_margin == 15_022_500
    assert free_wallet(engine, 2) == -5_108_750
    _trade(engine, 1, 3, 6, "XBTUSD", "Buy", 10_000, XBT_55K)
    _ok(engine, c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=XBT_50K, index_price=XBT_50K))
    assert "XBTUSD" not in engine.positions(6)  # liquidated (flat); account 2's pool waits for the next update
    assert engine.positions(2)["XBTUSD"].qty == 50_000
    _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[2], "XBTUSD")
    assert (equity, maintenance) == (-5_108_750, 575_750)
    _trade(engine, 2, 3, 2, "XBTUSD", "Sell", 50_000, 5_050_000)
    assert not has_cross_position(engine, 2, "XBt")
    assert free_wallet(engine, 2) == -4_193_008
    _ok(engine, c.PlaceOrder(time_ms=3, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=ETH_3000))
    lean.clear()
    events = _ok(engine, c.PlaceOrder(time_ms=3, account=4, symbol="ETHUSD", side="Buy", order_qty=1,
                                      price=ETH_3000))
    assert lean == [1]
    assert _maker(events, 2) == [("Trade", 1, ETH_3000, "")]
    position = engine.accounts[2].positions["ETHUSD"]
    assert (position.qty, position.iso_margin) == (49, 14_722_050)
    assert free_wallet(engine, 2) == -3_892_483
