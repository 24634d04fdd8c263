"""The plain limit order's one-function path (``engine.core.entry_plain.place_resting``) at its edges (mutation survivors).

Found by ``python -m tests.mutation engine/core/entry_plain.py`` (issue 13, session 8).  ``place_resting`` hands
every order it would refuse back to the general path (issue 14's lean order path), so a check of the fast path made
stricter changes no outcome, only which path decides; a check made looser lets it accept what the rules refuse.
Each test sends public commands and asserts the outcome with exact figures and texts; where the order is accepted a
counter on the sequencer's ``place_resting`` checks that the fast path took it (the accepted edge is the fast
path's own case: ORD-040's maxOrderQty and maxPrice, account 0, MRG-040's empty ask side, MRG-050's whole available
balance, LIQ-042's boundary).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain
from perpspec.engine.core import exchange as exchange_module
from perpspec.engine.core.events import Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.solvency import EXECUTION_REJECT_TEXT

ETHUSD = load_instrument("ETHUSD")
XBTUSD = load_instrument("XBTUSD")
XBTZ26 = load_instrument("XBTZ26")
ETH_MARK = 300_000  # 3,000.00
XBT_MARK = 5_000_000  # $50,000.00


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The order ids ``place_resting`` accepted (the fast path), in order."""
    taken: list[int] = []

    def counted(entry: object, values: tuple[object, ...]) -> int:
        placed = entry_plain.place_resting(entry, values)  # type: ignore[arg-type]
        if placed != entry_plain.NOT_HANDLED:
            taken.append(placed)
        return placed

    monkeypatch.setattr(exchange_module, "place_resting", counted)
    return taken


def _engine(marks: dict[str, int], wallets: dict[int, int], time_ms: int = 0) -> Engine:
    engine = Engine({symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD", "XBTZ26")})
    for symbol, mark in marks.items():
        engine.process(c.PriceUpdate(time_ms=time_ms, symbol=symbol, mark_price=mark, index_price=mark))
    for account, amount in wallets.items():
        engine.process(c.VerifyAccount(time_ms=time_ms, account=account))
        engine.process(c.Deposit(time_ms=time_ms, account=account, asset="XBt", amount=amount))
    return engine


def _place(engine: Engine, account: int, symbol: str, side: str, qty: int, price: int, time_ms: int = 0) -> list[Event]:
    return engine.process(
        c.PlaceOrder(time_ms=time_ms, account=account, symbol=symbol, side=side, order_qty=qty, price=price)
    )


def _new(events: list[Event]) -> tuple[object, ...]:
    """The New execution's (account, symbol, order id, side, orderQty, price, leaves, cum, ordStatus)."""
    [new] = [e for e in events if isinstance(e, Execution)]
    assert new.exec_type == "New"
    return (new.account, new.symbol, new.order_id, new.side, new.order_qty, new.price, new.leaves_qty, new.cum_qty,
            new.ord_status)


def _refusal(events: list[Event]) -> tuple[str, str]:
    last = events[-1]
    assert isinstance(last, Rejected), last
    assert [e for e in events if isinstance(e, Execution)] == []
    return last.reason.value, last.text


# ------------------------------------------------------------------------------------ ORD-040 at its edges


def test_ord_040_an_order_of_exactly_max_order_qty_rests_through_the_plain_path(fast: list[int]) -> None:
    """ORD-040: orderQty == maxOrderQty (10,000,000 XBTUSD, 100 XBT at $100,000) is allowed; the fast path takes it."""
    engine = _engine({"XBTUSD": 10_000_000}, {1: 1_000 * 10**8})
    events = _place(engine, 1, "XBTUSD", "Buy", XBTUSD.max_order_qty, 9_950_000)
    assert _new(events) == (1, "XBTUSD", 1, "Buy", 10_000_000, 9_950_000, 10_000_000, 0, "New")
    assert fast == [1]
    assert engine.live_orders[1].leaves_qty == 10_000_000


def test_ord_040_an_order_at_exactly_max_price_rests_through_the_plain_path(fast: list[int]) -> None:
    """ORD-040: price == maxPrice ($1,000,000.00) is allowed (at a mark of maxPrice, inside the fat-finger band)."""
    engine = _engine({"XBTUSD": XBTUSD.max_price}, {1: 10**8})
    events = _place(engine, 1, "XBTUSD", "Buy", 100, XBTUSD.max_price)
    assert _new(events) == (1, "XBTUSD", 1, "Buy", 100, 100_000_000, 100, 0, "New")
    assert fast == [1]


def test_account_0_is_a_trader_its_plain_limit_order_takes_the_plain_path(fast: list[int]) -> None:
    """ORD-051: a verified account trades; ids >= 0 are traders (only negative ids are the liquidation engine's), so
    account 0's order rests."""
    engine = _engine({"ETHUSD": ETH_MARK}, {0: 10**8})
    events = _place(engine, 0, "ETHUSD", "Sell", 10, ETH_MARK + 5)
    assert _new(events) == (0, "ETHUSD", 1, "Sell", 10, 300_005, 10, 0, "New")
    assert fast == [1]


# ------------------------------------------------------------------------------------ the contract's state


@pytest.mark.parametrize("side", ["Sell", "Buy"])
def test_a_plain_limit_order_before_the_contracts_first_mark_price_is_refused(side: str, fast: list[int]) -> None:
    """ORD-052 needs a mark (MRG-041's premium, LIQ-042): ETHUSD never priced (XBTUSD is) refuses with NoMarkPrice;
    nothing rests, nothing moves."""
    engine = _engine({"XBTUSD": XBT_MARK}, {1: 10**10})
    events = _place(engine, 1, "ETHUSD", side, 10, ETH_MARK)
    assert _refusal(events) == ("NoMarkPrice", "ETHUSD has no mark price yet")
    assert (engine.live_orders, engine.accounts[1].wallet("XBt"), fast) == ({}, 10**10, [])


def test_a_dated_future_takes_no_plain_limit_order_at_its_expiry(fast: list[int]) -> None:
    """SET-001/SET-004 (ContractExpired): the settlement window ends at expiry, so at ``time_ms == expiry`` XBTZ26
    takes no new order (it only settles); one millisecond earlier it does."""
    expiry = XBTZ26.expiry_ms
    assert expiry is not None
    engine = _engine({"XBTZ26": XBT_MARK}, {1: 10**10}, time_ms=expiry - 1)
    before = _place(engine, 1, "XBTZ26", "Buy", 100, XBT_MARK - 50, time_ms=expiry - 1)
    assert _new(before) == (1, "XBTZ26", 1, "Buy", 100, 4_999_950, 100, 0, "New")
    assert fast == [1]
    at = _place(engine, 1, "XBTZ26", "Buy", 100, XBT_MARK - 50, time_ms=expiry)
    assert _refusal(at) == ("ContractExpired", "XBTZ26 expired at 1798200000000; it only settles now")
    assert (sorted(engine.live_orders), fast) == ([1], [1])


# ------------------------------------------------------------------------------------ MRG-040, MRG-050


def test_mrg_040_an_inverse_buy_on_an_empty_ask_side_is_charged_at_its_limit(fast: list[int]) -> None:
    """MRG-040: with no ask (best ask 0) an XBTUSD buy is charged at its limit, not at a best ask of 1 price unit.

    10,000 contracts at $50,000 are 20,000,000 XBt; 1 XBT covers them at 100x.  Charged at 1 price unit they would
    be 10^12 XBt, beyond the wallet and the risk limit.
    """
    engine = _engine({"XBTUSD": XBT_MARK}, {1: 10**8})
    events = _place(engine, 1, "XBTUSD", "Buy", 10_000, XBT_MARK)
    assert _new(events) == (1, "XBTUSD", 1, "Buy", 10_000, 5_000_000, 10_000, 0, "New")
    assert fast == [1]


def test_mrg_050_an_order_needing_exactly_the_available_balance_with_an_open_position_takes_the_plain_path(
    fast: list[int],
) -> None:
    """MRG-050 with one open cross position: an order needing exactly the available balance is accepted.

    Account 1 is long 10 ETHUSD at the mark; its buy of 200 at 2,990.00 is first refused with MRG-050's figures,
    then the shortfall less one satoshi is deposited (refused: one short), then the last satoshi, and the same order takes the fast path (available counts the position's order
    margin before the order, and nothing reserved by spot orders).
    """
    engine = _engine({"ETHUSD": ETH_MARK}, {1: 1_000_000, 2: 10**10})
    _place(engine, 2, "ETHUSD", "Sell", 10, ETH_MARK)
    _place(engine, 1, "ETHUSD", "Buy", 10, ETH_MARK)
    assert engine.positions(1)["ETHUSD"].qty == 10
    fast.clear()
    reason, text = _refusal(_place(engine, 1, "ETHUSD", "Buy", 200, ETH_MARK - 1_000))
    assert reason == Reason.INSUFFICIENT_MARGIN.value
    needs, available = (int(word.rstrip(",")) for word in text.split()[1::2])
    assert (needs, available) == (1_940_344, 935_455)
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=needs - available - 1))
    short = _refusal(_place(engine, 1, "ETHUSD", "Buy", 200, ETH_MARK - 1_000))
    assert short == (Reason.INSUFFICIENT_MARGIN.value, "needs 1940344, available 1940343")
    engine.process(c.Deposit(time_ms=0, account=1, asset="XBt", amount=1))
    events = _place(engine, 1, "ETHUSD", "Buy", 200, ETH_MARK - 1_000)
    assert _new(events) == (1, "ETHUSD", 3, "Buy", 200, 299_000, 200, 0, "New")
    assert fast == [3]


# ------------------------------------------------------------------------------------ LIQ-042 at its boundary


def _two_longs() -> Engine:
    """Account 1 (700,000 XBt) holds cross longs of 1,000 XBTUSD at $50,000 and 100 ETHUSD at 3,000.00."""
    engine = _engine({"ETHUSD": ETH_MARK, "XBTUSD": XBT_MARK}, {1: 700_000, 2: 10**10})
    for symbol, qty, price in (("ETHUSD", 100, ETH_MARK), ("XBTUSD", 1_000, XBT_MARK)):
        _place(engine, 2, symbol, "Sell", qty, price)
        assert not isinstance(_place(engine, 1, symbol, "Buy", qty, price)[-1], Rejected)
    return engine


def test_liq_042_a_plain_limit_sale_one_tick_below_the_boundary_is_refused(fast: list[int]) -> None:
    """LIQ-042: selling the 100 ETHUSD at 2,935.75 leaves the cross pool below maintenance: ImmediateLiquidation.

    The pool holds the other position's PnL (0 at its entry price), not its maintenance; the kernel reads the
    position's cost, chosen tier (0) and other maintenance as they are.
    """
    engine = _two_longs()
    fast.clear()
    wallet = engine.accounts[1].wallet("XBt")
    events = _place(engine, 1, "ETHUSD", "Sell", 100, 293_575)
    assert _refusal(events) == (Reason.IMMEDIATE_LIQUIDATION.value, EXECUTION_REJECT_TEXT)
    assert (engine.positions(1)["ETHUSD"].qty, engine.accounts[1].wallet("XBt"), fast) == (100, wallet, [])
    assert [order.order_id for order in engine.live_orders.values() if order.account == 1] == []


def test_liq_042_a_plain_limit_sale_at_the_boundary_rests_through_the_plain_path(fast: list[int]) -> None:
    """LIQ-042: at 2,935.80 the same sale keeps the pool at or above its maintenance (and is not judged "worse"
    than holding: the position's own maintenance counts, not the free wallet)."""
    engine = _two_longs()
    fast.clear()
    events = _place(engine, 1, "ETHUSD", "Sell", 100, 293_580)
    assert _new(events) == (1, "ETHUSD", 5, "Sell", 100, 293_580, 100, 0, "New")
    assert fast == [5]
