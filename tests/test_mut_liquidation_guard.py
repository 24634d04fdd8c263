"""The liquidation engine's guard (``engine.core.liquidation_guard``) at its edges: LIQ-053 / LIQ-054 for the
makers of a close-out (LIQ-024), through public commands only (mutation survivors of the module).

* account 0 is a trader like any other: its isolated bids are judged (only negative ids are the liquidation
  engine's), and a maker hit twice in one close-out is judged after its first fill (LIQ-049);
* LIQ-053 measures what a fill *moves* into the isolated pool (the margin after less the margin before the
  sweep), against the cross pool's equity: an isolated maker that already holds margin may add to it;
* LIQ-054 judges a close-out's fill at no commission (LIQ-024): a close-out that leaves the free wallet at
  exactly 0 is made, one satoshi less is refused;
* LIQ-054's "no cross position left open" counts open positions only: a flat cross record in another contract
  of the currency backs nothing.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.rules.solvency import FILL_CANCEL_TEXT
from tests.test_free_wallet import _profit_backed, free_wallet

FUND = 10**9


def _ok(engine: Engine, command: c.Command) -> list[object]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return list(events)


def _cancelled(events: list[object]) -> list[int]:
    """Order ids cancelled with LIQ-044's text."""
    return [
        int(getattr(e, "order_id", -1)) for e in events if str(getattr(e, "text", "")) == FILL_CANCEL_TEXT
    ]


def _engine(wallets: tuple[tuple[int, int], ...]) -> Engine:
    engine = Engine()
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=FUND))
    for account_id, wallet in wallets:
        _ok(engine, c.VerifyAccount(time_ms=0, account=account_id))
        _ok(engine, c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=wallet))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    return engine


def _cross_long_fallen(engine: Engine, account: int) -> None:
    """``account``: cross long 50,000 XBTUSD at 50,000.00, the mark fallen to 45,000.00."""
    _ok(
        engine,
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_000_000),
    )
    _ok(
        engine,
        c.PlaceOrder(
            time_ms=0, account=account, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000
        ),
    )
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_500_000, index_price=4_500_000))


def _liquidate_eth_long(engine: Engine) -> list[object]:
    """Account 5's 50x ETHUSD long of 300 is liquidated; the close-out sells into the resting bids."""
    _ok(engine, c.SetLeverage(time_ms=2, account=5, symbol="ETHUSD", leverage_hundredths=5000))
    _ok(
        engine, c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=300, price=300_000)
    )
    _ok(engine, c.PlaceOrder(time_ms=2, account=5, symbol="ETHUSD", side="Buy", order_qty=300, price=300_000))
    return _ok(engine, c.PriceUpdate(time_ms=3, symbol="ETHUSD", mark_price=296_000, index_price=296_000))


def test_liq_053_account_0s_isolated_bids_are_judged_after_its_first_fill() -> None:
    # account 0 (1 XBT, cross long fallen: equity 88,814,000, maintenance 575,750) rests two 1x ETHUSD bids of 150
    engine = _engine(((0, 10**8), (3, 10**10), (4, 10**10), (5, 10**7)))
    _ok(engine, c.SetLeverage(time_ms=0, account=0, symbol="ETHUSD", leverage_hundredths=100))
    first = _ok(
        engine, c.PlaceOrder(time_ms=0, account=0, symbol="ETHUSD", side="Buy", order_qty=150, price=299_000)
    )
    second = _ok(
        engine, c.PlaceOrder(time_ms=0, account=0, symbol="ETHUSD", side="Buy", order_qty=150, price=298_900)
    )
    first_id, second_id = int(first[-1].order_id), int(second[-1].order_id)  # type: ignore[attr-defined]
    _cross_long_fallen(engine, 0)
    events = _liquidate_eth_long(engine)
    account = engine.accounts[0]
    # the first bid moves about 45M into the isolated pool: the cross pool keeps its maintenance, it fills; the
    # second, judged after it, would move about 90M in all: cancelled
    assert account.positions["ETHUSD"].qty == 150
    assert first_id not in _cancelled(events)
    assert second_id in _cancelled(events)
    assert account.positions["XBTUSD"].qty == 50_000
    assert not engine.risk.below_maintenance(account, "XBTUSD")


def test_liq_053_an_isolated_maker_holding_margin_may_add_what_the_cross_pool_can_spare() -> None:
    # account 2 (2 XBT): isolated 1x ETHUSD long of 200 (about 60M of margin), a 1x bid of 100 resting, and the
    # cross long fallen; the bid moves about 30M: the cross pool (about 129M of equity) keeps its maintenance
    engine = _engine(((2, 2 * 10**8), (3, 10**10), (4, 10**10), (5, 10**7)))
    _ok(engine, c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=100))
    _ok(
        engine, c.PlaceOrder(time_ms=0, account=4, symbol="ETHUSD", side="Sell", order_qty=200, price=300_000)
    )
    _ok(engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=200, price=300_000))
    bid = _ok(
        engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=100, price=299_000)
    )
    bid_id = int(bid[-1].order_id)  # type: ignore[attr-defined]
    _cross_long_fallen(engine, 2)
    events = _liquidate_eth_long(engine)
    account = engine.accounts[2]
    assert bid_id not in _cancelled(events)
    assert account.positions["ETHUSD"].qty == 300
    assert account.positions["XBTUSD"].qty == 50_000
    assert not engine.risk.below_maintenance(account, "XBTUSD")


def test_liq_053_a_one_contract_bid_is_judged_too() -> None:
    # account 0's first bid of 291 leaves its cross pool 801,486 of equity over 575,750 of maintenance; one more
    # contract at 1x would move 302,249 (and 292 at once would not fit either): the one-contract bid is cancelled
    engine = _engine(((0, 10**8), (3, 10**10), (4, 10**10), (5, 10**7)))
    _ok(engine, c.SetLeverage(time_ms=0, account=0, symbol="ETHUSD", leverage_hundredths=100))
    _ok(engine, c.PlaceOrder(time_ms=0, account=0, symbol="ETHUSD", side="Buy", order_qty=291, price=299_000))
    one = _ok(
        engine, c.PlaceOrder(time_ms=0, account=0, symbol="ETHUSD", side="Buy", order_qty=1, price=298_900)
    )
    _cross_long_fallen(engine, 0)
    events = _liquidate_eth_long(engine)
    account = engine.accounts[0]
    assert _cancelled(events) == [int(one[-1].order_id)]  # type: ignore[attr-defined]
    assert (account.positions["ETHUSD"].qty, account.positions["ETHUSD"].iso_margin) == (291, 88_012_514)
    _, equity, maintenance, _ = engine.risk.pool_of(account, "XBTUSD")
    assert (equity, maintenance) == (801_486, 575_750)


def test_liq_054_a_flat_cross_record_in_another_contract_backs_nothing() -> None:
    # tests/test_free_wallet.py's account 2 (isolated ETHUSD margin backed by its cross XBTUSD profit, a resting
    # sell of the long at 52,500.00), which has also opened and closed 100 XBTZ26 cross: the record is flat
    engine = _profit_backed()
    _ok(engine, c.PriceUpdate(time_ms=3, symbol="XBTZ26", mark_price=5_000_000, index_price=5_000_000))
    for account, side in ((3, "Sell"), (2, "Buy"), (3, "Buy"), (2, "Sell")):
        _ok(
            engine,
            c.PlaceOrder(
                time_ms=3, account=account, symbol="XBTZ26", side=side, order_qty=100, price=5_000_000
            ),
        )
    record = engine.accounts[2].positions["XBTZ26"]
    assert (record.qty, record.leverage) == (0, 0)
    events = _ok(
        engine, c.PriceUpdate(time_ms=4, symbol="XBTUSD", mark_price=6_000_000, index_price=6_000_000)
    )
    # the close-out may not buy the long below the mark: nothing would be left to back the free wallet
    assert any(str(getattr(e, "text", "")) == FILL_CANCEL_TEXT for e in events)
    assert engine.accounts[2].positions["XBTUSD"].qty == 50_000
    assert free_wallet(engine, 2) == -5_199_050


def _profit_backed_with(wallet: int, sells: tuple[int, ...]) -> Engine:
    """tests/test_free_wallet.py's ``_profit_backed`` with account 2's deposit ``wallet``, its long offered in
    resting sells of ``sells`` contracts."""
    engine = _engine(((2, wallet), (3, 10**10), (4, 10**10), (5, 7_500_000)))
    _ok(
        engine,
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_000_000),
    )
    _ok(
        engine,
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_000_000),
    )
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=5_500_000, index_price=5_500_000))
    _ok(
        engine,
        c.PlaceOrder(time_ms=1, account=3, symbol="XBTUSD", side="Buy", order_qty=50_000, price=5_500_000),
    )
    _ok(
        engine,
        c.PlaceOrder(time_ms=1, account=5, symbol="XBTUSD", side="Sell", order_qty=50_000, price=5_500_000),
    )
    for qty in sells:
        _ok(
            engine,
            c.PlaceOrder(time_ms=2, account=2, symbol="XBTUSD", side="Sell", order_qty=qty, price=5_250_000),
        )
    _ok(engine, c.SetLeverage(time_ms=2, account=2, symbol="ETHUSD", leverage_hundredths=500))
    _ok(
        engine, c.PlaceOrder(time_ms=2, account=4, symbol="ETHUSD", side="Sell", order_qty=250, price=300_000)
    )
    _ok(engine, c.PlaceOrder(time_ms=2, account=2, symbol="ETHUSD", side="Buy", order_qty=250, price=300_000))
    return engine


@pytest.mark.parametrize("sells", [(50_000,), (25_000, 25_000)], ids=["one-sell", "two-sells"])
@pytest.mark.parametrize(("wallet", "made"), [(10_436_749, False), (10_436_750, True)])
def test_liq_054_a_close_out_leaving_the_free_wallet_at_exactly_0_is_made(
    wallet: int, made: bool, sells: tuple[int, ...]
) -> None:
    # the close-out of account 5's short buys account 2's resting sells of its cross long at 52,500.00: the free
    # wallet after is the deposit less 10,436,750 (the close-out pays no commission, neither in the fill that
    # closes the long nor in an earlier one the guard folds in: LIQ-049)
    engine = _profit_backed_with(wallet, sells)
    assert free_wallet(engine, 2) == wallet - 15_198_750
    events = _ok(
        engine, c.PriceUpdate(time_ms=4, symbol="XBTUSD", mark_price=6_000_000, index_price=6_000_000)
    )
    assert (FILL_CANCEL_TEXT in [str(getattr(e, "text", "")) for e in events]) is not made
    left = 0 if made else sells[-1]
    assert engine.accounts[2].positions["XBTUSD"].qty == left
    # refused: the long (or its last 25,000) stays, and the free wallet is what the fills made left it
    assert free_wallet(engine, 2) == (0 if made else wallet - 10_436_750 - 4_762_000 * left // 50_000)
