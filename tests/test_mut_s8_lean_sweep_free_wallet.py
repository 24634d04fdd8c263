"""LIQ-054 in the lean sweep of a crossing plain limit order (``engine.core.entry_sweep``, ``maker_allowed``).

An isolated maker with no open cross position in the currency: its fill is made only if it leaves the free wallet
(wallet − Σ isolated margins) ≥ 0, or no lower than it was.  Mutation survivors #59 #60 #110 #111 #113 of
``engine/core/entry_sweep.py`` (``is_free_wallet_kept(before[7] - before[4], out[4] - out[3], False)``): none of
the earlier tests reached the branch with a decision that depends on it.

With a second isolated pool (XBTZ26) the first case also pins ``Risk.pool_tuple``'s free wallet of an isolated
pool, the wallet *less* the other isolated margins (mutation survivor ``engine/core/risk.py`` #73).

The case needs a free wallet that fell after MRG-060 admitted the resting order, which needs a cross position
that is gone by the time of the fill: the bid was admitted against cross unrealised profit (MRG-060 counts it as
available), and the cross position was closed at its entry price since, so the fill's initial margin is beyond the
free wallet.

#59 and #111 (the free wallet *before* read wrongly) differ only where the free wallet is already below zero with
no cross position open; this file reached that once through a carried cross pool closed by its owner, the finding
that LIQ-054 now refuses (tests/test_mut_s8_carried_cross_close_owing.py); they are killed through an account
INS-011 leaves owing beside an isolated pool (tests/test_mut_s8_fills_free_wallet.py).

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
