"""LIQ-054 for a trader's isolated maker in ``Fills.make_guard`` (both paths: the proved ``fill_*`` kernels and the
generic rules), through public commands only (session 8 mutation survivors of ``engine/core/fills.py``).

LIQ-054 refuses a trader's isolated fill that leaves the free wallet (the wallet less every isolated margin in
the currency: the cross pool's margin) below zero, and below what the cross pool held, when no cross position
in the currency is open to back it.  MRG-060 reserves an order's margin at entry, so the free wallet must fall
while the order rests: here the account closes, at a loss, the cross XBTUSD long that was open when its
isolated ETHUSD bid (20 at 3,000.00, 10x, ACC-006's requirement 604,950 XBt) was placed.  A market sell then
meets the bid (``Fills.sweep``'s guard, not the lean sweep of a plain limit order):

* an account that deposited 1,106,825 XBt has 603,450 free after the close; the fill's maker rebate (1,500)
  and the requirement leave it at exactly 0: the bid fills; one satoshi less and it would be −1: the bid is
  cancelled with LIQ-044's text and nothing trades;
* the free wallet is the wallet beyond *every* isolated margin: an account that also holds an isolated XBTZ26
  long (201,650 XBt of margin) and is left with 503,450 free is refused (the fill would leave −100,000), although
  its account equity less the ETHUSD requirement (+101,650) is not below zero;
* the comparison's "before" is the free wallet too, not the account equity less the pool's margin: an account
  whose own isolated ETHUSD long has lost 3,000,000 is refused a fill that would take its free wallet from
  2,420,125 to −284,600, although the equity figure (−579,875) is lower still;
* "or no lower than before": an account left owing by INS-011 (a cross take-over the fund cannot cover) with an isolated
  XBTZ26 long has a free wallet below zero and no cross position (reached through funding a carried pool, which
  FND-020 now refuses: the state as a pre-FND-020 engine's snapshot left it); a reduction above the mark raises it
  (still below zero) and is made.  So the free wallet *can* be below zero with no cross position at a trader's fill, and
  "before" must be exactly the free wallet: wallet less every isolated margin, this pool's included.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import CROSS
from perpspec.rules.solvency import FILL_CANCEL_TEXT
from tests.test_owing_cross_pool_after_funding import funded_before_fnd_020

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "ETHUSD", "XBTZ26")}
MAKER, OTHER = 3, 2


def _ok(engine: Engine, command: c.Command) -> None:
    events = engine.process(command)
    assert not isinstance(events[-1], Rejected), (command, events[-1])


def free_wallet(engine: Engine, account_id: int) -> int:
    """The account's XBt wallet less every isolated margin in XBt."""
    account = engine.accounts[account_id]
    isolated = sum(ps.iso_margin for ps in account.positions.values() if ps.leverage != CROSS)
    return account.wallet("XBt") - isolated


def _bid_left_by_a_closed_cross_long(deposit: int, isolated_future: bool) -> tuple[Engine, int]:
    """Account 3 (``deposit`` XBt): a cross XBTUSD long of 1,000 at 50,000.00 (and, with ``isolated_future``, an
    isolated 10x XBTZ26 long of 1,000 at 50,000.00), then an isolated 10x ETHUSD bid of 20 at 3,000.00 (the mark);
    the XBTUSD mark falls to 40,000.00 and account 3 sells its long at market there.  Returns the engine and the
    free wallet left."""
    engine = Engine(INSTRUMENTS)
    for symbol, price in (("XBTUSD", 5_000_000), ("ETHUSD", 300_000), ("XBTZ26", 5_000_000)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in ((OTHER, 10**10), (MAKER, deposit)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.SetLeverage(time_ms=0, account=MAKER, symbol="ETHUSD", leverage_hundredths=1_000))
    if isolated_future:
        _ok(engine, c.SetLeverage(time_ms=0, account=MAKER, symbol="XBTZ26", leverage_hundredths=1_000))
        _ok(
            engine,
            c.PlaceOrder(
                time_ms=0, account=OTHER, symbol="XBTZ26", side="Sell", order_qty=1_000, price=5_000_000
            ),
        )
        _ok(
            engine,
            c.PlaceOrder(
                time_ms=0, account=MAKER, symbol="XBTZ26", side="Buy", order_qty=1_000, price=5_000_000
            ),
        )
        assert engine.accounts[MAKER].positions["XBTZ26"].iso_margin == 201_650
    _ok(
        engine,
        c.PlaceOrder(
            time_ms=0, account=OTHER, symbol="XBTUSD", side="Sell", order_qty=1_000, price=5_000_000
        ),
    )
    _ok(
        engine,
        c.PlaceOrder(time_ms=0, account=MAKER, symbol="XBTUSD", side="Buy", order_qty=1_000, price=5_000_000),
    )
    _ok(
        engine,
        c.PlaceOrder(time_ms=0, account=MAKER, symbol="ETHUSD", side="Buy", order_qty=20, price=300_000),
    )
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_000_000, index_price=4_000_000))
    _ok(
        engine,
        c.PlaceOrder(time_ms=1, account=OTHER, symbol="XBTUSD", side="Buy", order_qty=1_000, price=4_000_000),
    )
    _ok(
        engine,
        c.PlaceOrder(
            time_ms=1, account=MAKER, symbol="XBTUSD", side="Sell", order_qty=1_000, ord_type="Market"
        ),
    )
    assert engine.positions(MAKER).get("XBTUSD") is None  # no cross position is left to back the free wallet
    return engine, free_wallet(engine, MAKER)


def _sell_into_the_bid(engine: Engine, price: int | None = None) -> list[tuple[int, str, int, int, str]]:
    """Account 2 sells 20 ETHUSD at market (``Fills.sweep``'s guard) or, with ``price``, as a plain limit order (the
    lean sweep of ``engine.core.entry_sweep``, proved kernels only)."""
    if price is None:
        order = c.PlaceOrder(
            time_ms=2, account=OTHER, symbol="ETHUSD", side="Sell", order_qty=20, ord_type="Market"
        )
    else:
        order = c.PlaceOrder(
            time_ms=2, account=OTHER, symbol="ETHUSD", side="Sell", order_qty=20, price=price
        )
    events = engine.process(order)
    return [
        (e.account, e.exec_type, e.last_qty, e.last_px, e.text) for e in events if isinstance(e, Execution)
    ]


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_liq_054_an_isolated_bid_fills_to_a_free_wallet_of_exactly_zero(kernels: bool) -> None:
    """LIQ-054 (with ACC-006, MRG-060): the free wallet after the fill is 603,450 + 1,500 − 604,950 = 0: kept."""
    with nullcontext() if kernels else generic_rules_only():
        engine, free = _bid_left_by_a_closed_cross_long(1_106_825, isolated_future=False)
        assert free == 603_450
        executions = _sell_into_the_bid(engine)
    assert (MAKER, "Trade", 20, 300_000, "") in executions
    assert engine.positions(MAKER)["ETHUSD"].qty == 20
    assert engine.accounts[MAKER].positions["ETHUSD"].iso_margin == 604_950
    assert free_wallet(engine, MAKER) == 0


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_liq_054_one_satoshi_less_and_the_isolated_bid_is_cancelled(kernels: bool) -> None:
    """LIQ-054: the same fill would leave the free wallet at −1 with no cross position open: the maker is refused."""
    with nullcontext() if kernels else generic_rules_only():
        engine, free = _bid_left_by_a_closed_cross_long(1_106_824, isolated_future=False)
        assert free == 603_449
        executions = _sell_into_the_bid(engine)
    assert executions == [
        (OTHER, "New", 0, 0, ""),
        (MAKER, "Canceled", 0, 0, FILL_CANCEL_TEXT),
        (OTHER, "Canceled", 0, 0, "Canceled: market order reached its price limit"),
    ]
    assert "ETHUSD" not in engine.positions(MAKER)
    assert free_wallet(engine, MAKER) == 603_449


@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "generic-rules"])
def test_liq_054_the_free_wallet_is_beyond_every_isolated_margin_not_the_account_equity(
    kernels: bool,
) -> None:
    """LIQ-054: with an isolated XBTZ26 pool of 201,650 the fill would leave the free wallet at −100,000 (the
    account equity less the requirement, +101,650, is not what LIQ-054 reads): the maker is refused."""
    with nullcontext() if kernels else generic_rules_only():
        engine, free = _bid_left_by_a_closed_cross_long(1_209_975, isolated_future=True)
        assert free == 503_450
        executions = _sell_into_the_bid(engine)
    assert (MAKER, "Canceled", 0, 0, FILL_CANCEL_TEXT) in executions
    assert not [e for e in executions if e[1] == "Trade"]
    assert set(engine.positions(MAKER)) == {"XBTZ26"}
    assert free_wallet(engine, MAKER) == 503_450


def _isolated_bid_behind_a_closed_cross_long(engine: Engine) -> None:
    """Account 3 (21,000,000 XBt): an isolated 2x ETHUSD long of 100 at 3,000.00 and a bid of 20 at 2,700.00; its
    cross XBTUSD long of 7,000 from 50,000.00 closed at 40,000.00 (2,420,125 free); the ETHUSD mark at 2,700.00."""
    for symbol, price in (("XBTUSD", 5_000_000), ("ETHUSD", 300_000)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in ((OTHER, 10**10), (MAKER, 21_000_000)):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    _ok(engine, c.SetLeverage(time_ms=0, account=MAKER, symbol="ETHUSD", leverage_hundredths=200))
    for account, symbol, side, qty, price in (
        (OTHER, "ETHUSD", "Sell", 100, 300_000),
        (MAKER, "ETHUSD", "Buy", 100, 300_000),
        (OTHER, "XBTUSD", "Sell", 7_000, 5_000_000),
        (MAKER, "XBTUSD", "Buy", 7_000, 5_000_000),
        (MAKER, "ETHUSD", "Buy", 20, 270_000),
    ):
        _ok(
            engine,
            c.PlaceOrder(
                time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price
            ),
        )
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=4_000_000, index_price=4_000_000))
    _ok(
        engine,
        c.PlaceOrder(
            time_ms=1, account=OTHER, symbol="XBTUSD", side="Buy", order_qty=7_000, price=4_000_000
        ),
    )
    _ok(
        engine,
        c.PlaceOrder(
            time_ms=1, account=MAKER, symbol="XBTUSD", side="Sell", order_qty=7_000, ord_type="Market"
        ),
    )
    _ok(engine, c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000))


@pytest.mark.parametrize(
    ("kernels", "price"),
    [(True, None), (False, None), (True, 270_000)],
    ids=["kernels", "generic-rules", "lean-sweep"],
)
def test_liq_054_compares_with_the_free_wallet_before_not_the_account_equity(
    kernels: bool, price: int | None
) -> None:
    """LIQ-054: account 3 (21,000,000 XBt) holds an isolated 2x ETHUSD long of 100 at 3,000.00 (15,033,750 of
    margin) and rests a bid of 20 at 2,700.00; it closes a cross XBTUSD long of 7,000 from 50,000.00 at 40,000.00,
    leaving 2,420,125 free, and the ETHUSD mark falls to 2,700.00 (the long loses 3,000,000).  The bid's fill would
    leave the free wallet at −284,600: refused, although that is above the account's equity less the pool's
    margin before the fill (−579,875)."""
    with nullcontext() if kernels else generic_rules_only():
        engine = Engine(INSTRUMENTS)
        _isolated_bid_behind_a_closed_cross_long(engine)
        assert free_wallet(engine, MAKER) == 2_420_125
        assert engine.risk.pool_of(engine.accounts[MAKER], "ETHUSD")[:3] == (15_033_750, 12_033_750, 333_750)
        executions = _sell_into_the_bid(engine, price)
    assert (MAKER, "Canceled", 0, 0, FILL_CANCEL_TEXT) in executions
    assert not [e for e in executions if e[1] == "Trade"]
    assert engine.positions(MAKER)["ETHUSD"].qty == 100
    assert free_wallet(engine, MAKER) == 2_420_125


@pytest.mark.parametrize(("deposit", "filled"), [(1_106_825, True), (1_106_824, False)])
def test_liq_054_a_plain_limit_sell_s_lean_sweep_judges_the_isolated_bid_alike(
    deposit: int, filled: bool
) -> None:
    """LIQ-054 in the lean sweep of a crossing plain limit order (``engine.core.entry_sweep``, the proved kernels):
    the same bid, met by a limit sell of 20 at 3,000.00, fills to a free wallet of exactly 0 and is cancelled one
    satoshi below (the sell then rests)."""
    engine, free = _bid_left_by_a_closed_cross_long(deposit, isolated_future=False)
    assert free == deposit - 503_375
    events = engine.process(
        c.PlaceOrder(time_ms=2, account=OTHER, symbol="ETHUSD", side="Sell", order_qty=20, price=300_000)
    )
    executions = [(e.account, e.exec_type, e.last_qty, e.text) for e in events if isinstance(e, Execution)]
    if filled:
        assert (MAKER, "Trade", 20, "") in executions
        assert free_wallet(engine, MAKER) == 0
    else:
        assert executions == [(OTHER, "New", 0, ""), (MAKER, "Canceled", 0, FILL_CANCEL_TEXT)]
        assert "ETHUSD" not in engine.positions(MAKER)
        assert free_wallet(engine, MAKER) == 603_449


@pytest.mark.parametrize(
    ("kernels", "price"),
    [(True, None), (False, None), (True, 5_050_000)],
    ids=["kernels", "generic-rules", "lean-sweep"],
)
def test_liq_054_an_owing_account_may_reduce_an_isolated_position_when_the_free_wallet_rises(
    kernels: bool, price: int | None
) -> None:
    """LIQ-054 ("or no lower than before") with INS-011, LIQ-034/037, FND-004/008: account 1 (50,000,000 XBt) is
    cross long 2,000,000 XBTUSD and short 1 ETHUSD and isolated 10x long 10,000 XBTZ26 (2,016,500 of margin);
    account 6 (231,000) is cross long 10,000 XBTUSD.  One liquidation per update: the XBTUSD mark gaps to 187.50,
    account 6 is taken over (residual 15,200: the XBt fund) and account 1's cross pool is carried.  A FundingTick
    at FND-004's cap (0.375%; refused since FND-020, so as an engine before it left the state: its snapshot,
    restored) charges it 3,999,999,975 on the value at mark and the next mark update takes it over
    (XBTUSD at maxPrice, the ETHUSD short at one price unit, as tests/test_owing_cross_pool_after_funding.py):
    the residual −154,731,701 draws the fund's 15,200, leaving the wallet owing −152,700,001 and the free wallet
    −154,716,501 with no cross position.  It sells 5,000 XBTZ26 at 50,500.00 (above the mark: its equity rises)
    and account 2 buys them: the free wallet rises by 1,109,725 to −153,606,776, still below zero but no lower
    than before: the fill is made."""
    with nullcontext() if kernels else generic_rules_only():
        engine = Engine(
            {symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD", "XBTZ26")}, max_liquidations_per_update=1
        )
        for symbol, mark in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000), ("XBTZ26", 5_000_000)):
            _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=mark, index_price=mark))
        for account, amount in ((1, 50_000_000), (OTHER, 10**12), (6, 231_000)):
            _ok(engine, c.VerifyAccount(time_ms=0, account=account))
            _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
        _ok(engine, c.SetLeverage(time_ms=0, account=1, symbol="XBTZ26", leverage_hundredths=1_000))
        for account, symbol, qty, at, side, counter in (
            (1, "XBTZ26", 10_000, 5_000_000, "Buy", "Sell"),
            (1, "XBTUSD", 2_000_000, 5_000_000, "Buy", "Sell"),
            (1, "ETHUSD", 1, 300_000, "Sell", "Buy"),
            (6, "XBTUSD", 10_000, 5_000_000, "Buy", "Sell"),
        ):
            _ok(
                engine,
                c.PlaceOrder(time_ms=0, account=OTHER, symbol=symbol, side=counter, order_qty=qty, price=at),
            )
            _ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=at))
        assert engine.accounts[1].positions["XBTZ26"].iso_margin == 2_016_500
        # the gap: account 6 is taken over (its residual opens the fund), account 1's cross pool is carried
        _ok(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=18_750, index_price=18_750))
        assert (engine.positions(1)["XBTUSD"].qty, "XBTUSD" in engine.positions(6)) == (2_000_000, False)
        assert engine.insurance_funds == {"XBt": 15_200}
        # FND-020 refuses the tick while the pool is carried; an engine before it charged it (its snapshot, restored)
        engine, _ = funded_before_fnd_020(engine, "XBTUSD", 375_000)
        _ok(engine, c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=18_750, index_price=18_750))
        assert set(engine.positions(1)) == {"XBTZ26"}
        assert engine.insurance_funds == {"XBt": 0}
        assert (engine.accounts[1].wallet("XBt"), free_wallet(engine, 1)) == (-152_700_001, -154_716_501)
        _ok(
            engine,
            c.PlaceOrder(
                time_ms=3, account=1, symbol="XBTZ26", side="Sell", order_qty=5_000, price=5_050_000
            ),
        )
        if price is None:
            taker = c.PlaceOrder(
                time_ms=3, account=OTHER, symbol="XBTZ26", side="Buy", order_qty=5_000, ord_type="Market"
            )
        else:
            taker = c.PlaceOrder(
                time_ms=3, account=OTHER, symbol="XBTZ26", side="Buy", order_qty=5_000, price=price
            )
        events = engine.process(taker)
    trades = [(e.account, e.last_qty) for e in events if isinstance(e, Execution) and e.exec_type == "Trade"]
    assert sorted(trades) == [(1, 5_000), (OTHER, 5_000)]
    assert engine.positions(1)["XBTZ26"].qty == 5_000
    assert engine.accounts[1].positions["XBTZ26"].iso_margin == 1_008_250
    assert free_wallet(engine, 1) == -153_606_776 == -154_716_501 + 1_109_725
