"""LIQ-043's account side for an account whose only position is isolated (``Risk.other_sums``' single-position
answer: the other contracts' PnL is 0).

Mutation survivor ``engine/core/risk.py`` #64 (``return wallet, 0, 0, 0, 0`` → its third item 1, the account's
equity one satoshi higher).  The account side binds apart from the pool side only where they differ: for a single
isolated position the account's equity is the free wallet plus the pool's equity, so the pool must be below zero
equity (carried by a waterfall bounded to one liquidation per update, LIQ-034), a fill must raise it (LIQ-044: no
lower than before) while the account's equity falls to exactly −1 (refused) or 0 (made).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.solvency import FILL_CANCEL_TEXT
from tests.test_free_wallet import free_wallet

ETH_3000, ETH_2800, ETH_2690, ETH_2670 = 300_000, 280_000, 269_000, 267_000


def _ok(engine: Engine, command: c.Command) -> list[object]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


@pytest.mark.parametrize(("wallet", "made"), [(3_124_433, False), (3_124_434, True)])
def test_liq_043_a_single_isolated_position_below_zero_may_reduce_only_to_an_account_equity_of_0(
    wallet: int, made: bool
) -> None:
    """LIQ-043 / LIQ-044 (account side): account 2 (``wallet``), whose only position record is ETHUSD, buys 100 at
    10x isolated at 3,000.00 (margin 3,024,750); account 6 buys 100 at 12x.  At a mark of 2,800.00 account 2 rests
    a sell of 1 at 2,670.00.  The mark falls to 2,690.00 with one liquidation per update: account 6 (the higher
    liquidation price) is liquidated, account 2's pool is carried at −75,250 of equity (maintenance 324,750).
    Account 3's plain limit buy of 1 at 2,670.00 takes the sell: it realises −33,000, earns a rebate of 66 and
    the free wallet pays the loss the freed requirement does not (ACC-006, as far as MRG-050's available reaches:
    LIQ-040 reads the same figure), so the pool rises to −74,497 (no lower than before) while the account's equity
    falls by 1,934 to ``wallet`` − 3,124,434: made at 0 (the remainder, still below maintenance, is then taken over
    in the same command), and at −1 the sell is cancelled with LIQ-044's text."""
    engine = Engine(max_liquidations_per_update=1)
    for account, amount in ((2, wallet), (3, 10**10), (4, 10**10), (6, 3_000_000)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=ETH_3000, index_price=ETH_3000))
    for account, leverage in ((2, 1000), (6, 1200)):
        _ok(engine, c.SetLeverage(time_ms=0, account=account, symbol="ETHUSD", leverage_hundredths=leverage))
        _ok(engine, c.PlaceOrder(time_ms=0, account=4, symbol="ETHUSD", side="Sell", order_qty=100, price=ETH_3000))
        _ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side="Buy", order_qty=100,
                                 price=ETH_3000))
    assert engine.accounts[2].positions["ETHUSD"].iso_margin == 3_024_750
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=ETH_2800, index_price=ETH_2800))
    _ok(engine, c.PlaceOrder(time_ms=1, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=ETH_2670))
    _ok(engine, c.PriceUpdate(time_ms=2, symbol="ETHUSD", mark_price=ETH_2690, index_price=ETH_2690))
    assert "ETHUSD" not in engine.positions(6)  # liquidated; account 2's pool waits for the next update
    assert list(engine.accounts[2].positions) == ["ETHUSD"]
    _, equity, maintenance, _ = engine.risk.pool_of(engine.accounts[2], "ETHUSD")
    assert (equity, maintenance) == (-75_250, 324_750)
    events = _ok(engine, c.PlaceOrder(time_ms=2, account=3, symbol="ETHUSD", side="Buy", order_qty=1,
                                      price=ETH_2670))
    maker = [(e.exec_type, e.last_qty, e.last_px, e.text) for e in events if isinstance(e, Execution) and e.account == 2]
    position = engine.accounts[2].positions["ETHUSD"]
    account_equity = engine.accounts[2].wallet("XBt") + position.qty * ETH_2690 - position.cost  # 1 XBt a unit
    # LIQ-040 judges the fill on MRG-050's available as the fill finds it (PoolState.available, the figure the engine's
    # ACC-006 call takes): the free wallet pays the loss the freed requirement does not, as the engine posts it (during
    # session 20, fix26's stand-in counted on no available and cancelled the sell at both wallets)
    if made:
        assert maker == [("Trade", 1, ETH_2670, "")]
        # the fill posts 99 contracts on a pool margin of 2,994,503 (free wallet 74,497: the account's equity 0); that
        # remainder is below maintenance, so liq20 takes it over in the same command (LIQ-023, the fund takes the rest)
        taken = [e.record for e in events if isinstance(e, RuleEvent) and e.kind == "Liquidation" and e.account == 2]
        assert [(r.pool_margin, [p.qty for p in r.positions]) for r in taken] == [(2_994_503, [99])]
        assert (position.qty, position.iso_margin, free_wallet(engine, 2)) == (0, 0, 74_497)
    else:
        assert maker == [("Canceled", 0, 0, FILL_CANCEL_TEXT)]
        assert (position.qty, position.iso_margin, free_wallet(engine, 2)) == (100, 3_024_750, 77_183)
        assert account_equity == 1_933  # the fill would have taken it to −1
