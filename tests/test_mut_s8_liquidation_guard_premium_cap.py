"""LIQ-053 for a close-out's isolated maker whose premium the free wallet caps (``engine.core.liquidation_guard``).

Mutation survivor ``engine/core/liquidation_guard.py`` #24: the fee rate (0) of the ``compute_fill_outcome`` that
measures LIQ-053's move.  For an isolated pool the commission is paid outside it and reaches the pool's margin
only through ACC-006's cap: a fill opening worse than mark brings its premium in from the free wallet, as far as it
reaches.  Where the cap binds the pool takes the whole free wallet (less the commission, which a liquidation fill
does not pay, LIQ-024), so the cross pool is left with its positions' PnL alone against their maintenance.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from tests.test_free_wallet import free_wallet
from tests.test_mut_liquidation_guard import _cancelled, _engine, _ok

WALLET = 9_509_003


@pytest.mark.parametrize(("mark", "equity", "made"), [(5_028_950, 9_609_103, False), (5_029_000, 9_609_303, True)])
def test_liq_053_a_close_out_moving_the_whole_free_wallet_leaves_the_cross_pnl_to_cover_maintenance(
    mark: int, equity: int, made: bool
) -> None:
    """LIQ-053 / ACC-006: account 2 (9,509,003 XBt) buys 10,000 XBTUSD cross at 50,000.00 (15,000 of commission:
    a wallet of 9,494,003) and rests a 10x isolated ETHUSD bid of 300 at 2,990.00.  The XBTUSD mark rises to
    ``mark``; account 5's 50x ETHUSD long is liquidated at a mark of 2,960.00 and its close-out sells into the bid:
    the requirement (about 9.04M) plus the premium of 900,000 exceeds the wallet, so the pool would take all
    9,494,003 of it (the close-out pays no commission).  The cross pool's equity less that move is its PnL alone:
    at 50,289.50 it is 115,100 against 115,150 of maintenance (refused: the bid is cancelled), at 50,290.00
    115,300 (made: the pool holds the whole wallet, the free wallet is 0)."""
    engine = _engine(((2, WALLET), (3, 10**10), (4, 10**10), (5, 10**7)))
    _ok(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=10_000, price=5_000_000))
    _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=10_000, price=5_000_000))
    _ok(engine, c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=1000))
    bid = _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=300, price=299_000))
    bid_id = int(bid[-1].order_id)  # type: ignore[attr-defined]
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=mark, index_price=mark))
    account = engine.accounts[2]
    assert account.wallet("XBt") == 9_494_003
    _, cross_equity, maintenance, _ = engine.risk.pool_of(account, "XBTUSD")
    assert (cross_equity, maintenance) == (equity, 115_150)
    _ok(engine, c.SetLeverage(time_ms=2, account=5, symbol="ETHUSD", leverage_hundredths=5000))
    _ok(engine, c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=300, price=300_000))
    _ok(engine, c.PlaceOrder(time_ms=2, account=5, symbol="ETHUSD", side="Buy", order_qty=300, price=300_000))
    events = _ok(engine, c.PriceUpdate(time_ms=3, symbol="ETHUSD", mark_price=296_000, index_price=296_000))
    position = account.positions["ETHUSD"]
    if made:
        assert bid_id not in _cancelled(events)
        assert (position.qty, position.iso_margin, free_wallet(engine, 2)) == (300, 9_494_003, 0)
    else:
        assert bid_id in _cancelled(events)
        assert (position.qty, position.iso_margin, free_wallet(engine, 2)) == (0, 0, 9_494_003)
    assert account.positions["XBTUSD"].qty == 10_000
