"""LIQ-040 judges an isolated fill on MRG-050's available as the fill finds it (``PoolState.available``, session 21).

ACC-006 (fix26) draws an isolated reduction's unpaid loss and the closed part's deficit share only from MRG-050's
available balance at the fill (floored at 0) plus what the fill returns; LIQ-040 had no available and counted on none
for a fill without a premium, so LIQ-044 refused fills the engine funds (tests/test_mut_s8_single_pool_account_side.py).
Now the sweep guards give LIQ-040 the figure ACC-006 will read (``engine.core.isolated_fill.available_before_fill``:
exact for an account's first fill of a sweep when it holds no other order in the contract, else 0, a lower bound).

The differential: the guard's own judgement of the maker's fill (the proved ``fill_isolated`` kernel's arguments and
outcome, recorded as the sweep calls it) against what the engine then posts (``Fills.apply_effect``, recorded before
any take-over): the same position, pool margin, free wallet and account equity, so the same pool equity at mark --
for isolated fills with and without a premium, with MRG-050's available above and below what ACC-006 would draw.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import fills as fills_module
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.fills import Fills
from perpspec.engine.kernels import dispatch
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.contract import compute_value
from perpspec.rules.position import Position
from perpspec.rules.solvency import PoolState, compute_fill_outcome, is_fill_allowed

E, P = "ETHUSD", 300_000
X, XP = "XBTUSD", 5_000_000
MAKER, TAKER, OTHER = 1, 3, 2


def _ok(engine: Engine, cmd: Any) -> list[Any]:
    events = engine.process(cmd)
    assert isinstance(events[-1], Accepted), (cmd, events[-1])
    return list(events)


def _engine(leverage: int) -> Engine:
    engine = Engine()
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=E, mark_price=P, index_price=P))
    _ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XP, index_price=XP))
    for account in (MAKER, OTHER, TAKER):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10))
    _ok(engine, c.Isolate(time_ms=0, account=MAKER, symbol=E, enabled=True))
    _ok(engine, c.SetLeverage(time_ms=0, account=MAKER, symbol=E, leverage_hundredths=leverage))
    return engine


def _leave_available(engine: Engine, left: int, time_ms: int, reserve: int = 0) -> None:
    """The maker withdraws all but ``left`` of MRG-050's available (as far as a Withdraw may); ``reserve``: first a
    resting XBTUSD bid of that many contracts far below the mark, whose order margin MRG-050's available holds while
    the free wallet (ACC-006's other cap) does not."""
    if reserve:
        _ok(engine, c.PlaceOrder(time_ms=time_ms, account=MAKER, symbol=X, side="Buy", order_qty=reserve,
                                 price=XP // 2))
    surplus = engine.risk.available(MAKER, "XBt") - left
    if surplus > 0:
        events = engine.process(c.Withdraw(time_ms=time_ms, account=MAKER, asset="XBt", amount=surplus))
        assert isinstance(events[-1], Accepted), events[-1]


@contextmanager
def _recorded(engine: Engine) -> Iterator[tuple[list[tuple[int, ...]], list[tuple[int, ...]]]]:
    """The maker's ``fill_isolated`` judgements (arguments + outcome) and its postings (position, margin, wallet)."""
    judged: list[tuple[int, ...]] = []
    posted: list[tuple[int, ...]] = []
    kernel = dispatch.fill_isolated
    apply_effect = Fills.apply_effect
    maker = engine.accounts[MAKER]

    def fill_isolated(*args: int) -> tuple[int, int, int, int, int, int]:
        out = kernel(*args)
        judged.append((*args, *out))
        return out

    def post(self: Fills, account: Any, ps: Any, *args: Any) -> None:
        apply_effect(self, account, ps, *args)
        if account is maker:
            posted.append((ps.qty, ps.cost, ps.iso_margin, account.wallet("XBt")))

    dispatch.fill_isolated = fill_isolated  # type: ignore[assignment]
    Fills.apply_effect = post  # type: ignore[method-assign, assignment]
    try:
        yield judged, posted
    finally:
        dispatch.fill_isolated = kernel
        Fills.apply_effect = apply_effect  # type: ignore[method-assign]


def _take(engine: Engine, price: int, qty: int, mark: int, taker: bool = False) -> tuple[bool, int, bool]:
    """Account 3 sells ``qty`` at ``price`` into the maker's resting buy (``taker``: account 1 buys ``qty`` at
    ``price`` from account 3's resting sell); checks LIQ-040's prediction against the posting.

    Returns (the fill was made, the available LIQ-040 read, whether that available bound ACC-006's draws).
    """
    inst = engine.market.instrument_map[E]
    if taker:
        _ok(engine, c.PlaceOrder(time_ms=50, account=TAKER, symbol=E, side="Sell", order_qty=qty, price=price))
    with _recorded(engine) as (judged, posted):
        account, side = (MAKER, "Buy") if taker else (TAKER, "Sell")
        events = engine.process(c.PlaceOrder(time_ms=50, account=account, symbol=E, side=side, order_qty=qty, price=price))
    if taker and not isinstance(events[-1], Accepted):
        return False, 0, False  # LIQ-042 refused the order at entry (it judges with no available: a lower bound)
    assert isinstance(events[-1], Accepted), events[-1]
    assert judged, "the maker's fill was judged by the isolated kernel"
    args = judged[0]
    # (index, qty, cost, leverage, tier, margin, other_pnl, other_maint, free, equity, available, fill_qty, price, fee,
    #  mark, allowed, qty', cost', margin', free', equity')
    available, fill_qty, allowed = args[10], args[11], args[15]
    predicted_qty, predicted_cost, predicted_margin, predicted_free = args[16], args[17], args[18], args[19]
    # the same judgement with an unbounded available: does MRG-050's figure bind ACC-006's draws here?
    unbounded = cast(Any, dispatch.fill_isolated)(*args[:10], 10**15, *args[11:15])
    binds = unbounded[3] != predicted_margin
    if not posted:  # refused by LIQ-044 (the kernel's verdict) or by LIQ-053/054 after it
        return False, available, binds
    assert allowed == 1  # a posted fill is one LIQ-044 accepted on this prediction
    qty_after, cost_after, margin_after, wallet_after = posted[0]
    assert fill_qty > 0
    assert (predicted_qty, predicted_cost) == (qty_after, cost_after)
    assert predicted_margin == margin_after  # LIQ-040's pool margin is the one ACC-006 posts
    assert predicted_free == wallet_after  # the maker's only isolated pool: free wallet = wallet
    pnl = compute_value(inst, qty_after, mark) - cost_after
    assert args[20] == wallet_after + pnl  # the account's equity at mark (its only position)
    # the rule itself (the kernel is proved equal to it): LIQ-040's pool equity at mark is the posted pool's
    pool = PoolState(
        position=Position(qty=args[1], cost=args[2]), leverage_hundredths=args[3], chosen_tier=args[4],
        pool_margin=args[5], other_pnl=args[6], other_maintenance=args[7], free_wallet=args[8], account_equity=args[9],
        available=available,
    )
    outcome = compute_fill_outcome(inst, pool, fill_qty, args[12], args[13], args[14])
    assert (outcome.pool_margin, outcome.pool_equity) == (margin_after, margin_after + pnl)
    return True, available, binds


def _deficit_scenario(
    instants: int, left: int, close_price: int, qty: int, mark: int, reserve: int = 0
) -> tuple[bool, int, bool] | None:
    """An isolated 50x short of 1,000 at 3,000.00 with a resting Close buy at ``close_price``, ``instants`` funding
    instants paid from the pool (its deficit), all but ``left`` of MRG-050's available withdrawn, the mark moved to
    ``mark``; account 3 sells ``qty`` into the Close."""
    engine = _engine(5000)
    _ok(engine, c.PlaceOrder(time_ms=1, account=OTHER, symbol=E, side="Buy", order_qty=1000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=MAKER, symbol=E, side="Sell", order_qty=1000, price=P))
    close = c.PlaceOrder(time_ms=2, account=MAKER, symbol=E, side="Buy", order_qty=1000, price=close_price,
                         exec_inst="Close")
    if not isinstance(engine.process(close)[-1], Accepted):
        return None  # LIQ-042 refuses a Close that would take the pool beyond its bankruptcy price at entry
    for t in range(3, 3 + instants):  # -0.1%: the short pays 300,000 XBt an instant from its isolated pool
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    _leave_available(engine, left, 20, reserve)
    _ok(engine, c.PriceUpdate(time_ms=30, symbol=E, mark_price=mark, index_price=mark))
    if engine.accounts[MAKER].positions[E].qty != -1000 or not engine.accounts[MAKER].positions[E].orders:
        return None  # liquidated at the mark, or the Close gone: nothing to judge
    return _take(engine, close_price, qty, mark)


def _taker_scenario(
    instants: int, left: int, price: int, qty: int, mark: int, reserve: int = 0
) -> tuple[bool, int, bool] | None:
    """:func:`_deficit_scenario` with the isolated short's buy as the incoming order (account 3's sell resting)."""
    engine = _engine(5000)
    _ok(engine, c.PlaceOrder(time_ms=1, account=OTHER, symbol=E, side="Buy", order_qty=1000, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=MAKER, symbol=E, side="Sell", order_qty=1000, price=P))
    for t in range(3, 3 + instants):
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    _leave_available(engine, left, 20, reserve)
    _ok(engine, c.PriceUpdate(time_ms=30, symbol=E, mark_price=mark, index_price=mark))
    if engine.accounts[MAKER].positions[E].qty != -1000:
        return None
    return _take(engine, price, qty, mark, taker=True)


def _premium_scenario(leverage: int, held: int, bid: int, left: int, mark: int) -> tuple[bool, int, bool] | None:
    """An isolated long of ``held`` at 3,000.00 (or flat) with a resting buy of ``bid`` at 3,000.00; all but ``left``
    of the available withdrawn; the mark falls to ``mark``: account 3's sell takes the bid, which opens at a premium."""
    engine = _engine(leverage)
    if held:
        _ok(engine, c.PlaceOrder(time_ms=1, account=OTHER, symbol=E, side="Sell", order_qty=held, price=P))
        _ok(engine, c.PlaceOrder(time_ms=1, account=MAKER, symbol=E, side="Buy", order_qty=held, price=P))
    _ok(engine, c.PlaceOrder(time_ms=2, account=MAKER, symbol=E, side="Buy", order_qty=bid, price=P))
    _leave_available(engine, left, 20)
    _ok(engine, c.PriceUpdate(time_ms=30, symbol=E, mark_price=mark, index_price=mark))
    ps = engine.accounts[MAKER].positions[E]
    if ps.qty != held or not ps.orders:
        return None
    return _take(engine, P, bid, mark)


@given(
    instants=st.one_of(st.integers(0, 12), st.integers(6, 10)),  # a deficit of 1.8M-3M XBt, often
    left=st.one_of(st.integers(0, 60_000), st.integers(0, 4_000_000)),
    close_price=st.one_of(st.integers(590, 620), st.integers(601, 612)).map(lambda half: half * 500),
    qty=st.integers(1, 1000),
    mark=st.integers(595, 605).map(lambda half: half * 500),
    reserve=st.sampled_from([0, 1_000_000]),
)
@example(instants=8, left=10**9, close_price=305_000, qty=500, mark=P, reserve=0)  # the available reaches: all drawn
@example(instants=8, left=0, close_price=305_000, qty=500, mark=P, reserve=0)  # none: what the fill returns alone
@example(instants=8, left=50_000, close_price=305_000, qty=500, mark=P, reserve=0)  # some of the share
@example(instants=8, left=50_000, close_price=305_000, qty=500, mark=P, reserve=1_000_000)  # an XBTUSD bid held
@example(instants=0, left=20_000, close_price=306_000, qty=700, mark=P, reserve=0)  # a loss within the freed requirement
@example(instants=2, left=30_000, close_price=305_500, qty=1000, mark=302_000, reserve=0)  # the whole Close
def test_liq040_predicts_what_acc006_posts_for_a_reduction(
    instants: int, left: int, close_price: int, qty: int, mark: int, reserve: int
) -> None:
    _deficit_scenario(instants, left, close_price, qty, mark, reserve)


@given(
    instants=st.one_of(st.integers(0, 12), st.integers(6, 10)),
    left=st.one_of(st.integers(0, 400_000), st.integers(0, 4_000_000)),  # the taker pays its fee from it first
    price=st.one_of(st.integers(590, 620), st.integers(601, 612)).map(lambda half: half * 500),
    qty=st.integers(1, 999),
    mark=st.integers(595, 605).map(lambda half: half * 500),
    reserve=st.sampled_from([0, 1_000_000]),
)
@example(instants=8, left=150_000, price=304_000, qty=500, mark=P, reserve=0)  # its fee paid, ~35,000 of the draw
@example(instants=8, left=150_000, price=304_000, qty=500, mark=P, reserve=1_000_000)  # an XBTUSD bid's margin held
@example(instants=8, left=10**9, price=304_000, qty=500, mark=P, reserve=0)
def test_liq040_predicts_what_acc006_posts_for_an_incoming_reduction(
    instants: int, left: int, price: int, qty: int, mark: int, reserve: int
) -> None:
    _taker_scenario(instants, left, price, qty, mark, reserve)


@given(
    leverage=st.sampled_from([500, 1000, 5000]),
    held=st.integers(0, 500),
    bid=st.integers(1, 500),
    left=st.one_of(st.integers(0, 60_000), st.integers(0, 4_000_000)),
    mark=st.integers(5_900, 5_999).map(lambda twentieth: twentieth * 50),
)
@example(leverage=1000, held=0, bid=100, left=10**9, mark=295_000)
@example(leverage=1000, held=200, bid=100, left=0, mark=297_000)
def test_liq040_predicts_what_acc006_posts_for_a_premium_fill(
    leverage: int, held: int, bid: int, left: int, mark: int
) -> None:
    judged = _premium_scenario(leverage, held, bid, left, mark)
    assert judged is None or not judged[2]  # ACC-006 never reads the available for a fill that opens


def test_the_available_binds_below_and_not_above_what_acc006_draws() -> None:
    """The explicit cases above reach both sides: MRG-050's available bounding ACC-006's draws and not (else the
    differential would not tell the available's figure apart), for a resting and for an incoming reduction."""
    plenty = _deficit_scenario(8, 10**9, 305_000, 500, P)
    short = _deficit_scenario(8, 50_000, 305_000, 500, P)
    none = _deficit_scenario(8, 0, 305_000, 500, P)
    assert plenty is not None
    assert short is not None
    assert none is not None
    assert plenty[0]
    assert not plenty[2]  # made; the available does not bind
    assert plenty[1] > 10**8
    assert short[2]  # the available binds (it pays part of the share)
    assert 0 < short[1] < 100_000
    assert none[2]
    held = _deficit_scenario(8, 50_000, 305_000, 500, P, 1_000_000)  # an XBTUSD bid's order margin held apart
    assert held is not None
    assert held[2]
    incoming = _taker_scenario(8, 150_000, 304_000, 500, P)  # the isolated pool's own order, its fee paid first
    assert incoming is not None
    assert incoming[0]
    assert incoming[2]
    assert 0 < incoming[1] < 100_000


def test_the_generic_guard_judges_the_same_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without kernels (``generic_rules_only``: Fills.make_guard's PoolState path) the maker's first fill is judged on
    the same PoolState.available and LIQ-040's outcome is the posted one (the reduction with MRG-050's available
    binding, held apart from the free wallet by an XBTUSD bid, and the one where it does not bind)."""
    judged: list[Any] = []
    posted: list[tuple[int, int, int]] = []
    apply_effect = Fills.apply_effect

    def record(inst: Any, pool: Any, *args: int) -> bool:
        judged.append((inst, pool, args))
        return is_fill_allowed(inst, pool, *args)

    def post(self: Fills, account: Any, ps: Any, *args: Any) -> None:
        apply_effect(self, account, ps, *args)
        if account.account_id == MAKER:
            posted.append((ps.qty, ps.cost, ps.iso_margin))

    monkeypatch.setattr(fills_module, "is_fill_allowed", record)
    monkeypatch.setattr(Fills, "apply_effect", post)
    with generic_rules_only():
        for left, reserve in ((50_000, 1_000_000), (10**9, 0)):
            engine = _engine(5000)
            _ok(engine, c.PlaceOrder(time_ms=1, account=OTHER, symbol=E, side="Buy", order_qty=1000, price=P))
            _ok(engine, c.PlaceOrder(time_ms=1, account=MAKER, symbol=E, side="Sell", order_qty=1000, price=P))
            _ok(engine, c.PlaceOrder(time_ms=2, account=MAKER, symbol=E, side="Buy", order_qty=1000, price=305_000,
                                     exec_inst="Close"))
            for t in range(3, 11):
                _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
            _leave_available(engine, left, 20, reserve)
            judged.clear()
            posted.clear()
            _ok(engine, c.PlaceOrder(time_ms=50, account=TAKER, symbol=E, side="Sell", order_qty=500, price=305_000))
            inst, pool, (fill_qty, price, fee, mark) = judged[0]  # the maker's fill, judged first
            assert pool.leverage_hundredths == 5000
            assert 0 < pool.available < 2 * 10**9  # the figure the fill finds (the rebate included), not 0
            outcome = compute_fill_outcome(inst, pool, fill_qty, price, fee, mark)
            assert posted[0] == (outcome.position.qty, outcome.position.cost, outcome.pool_margin)
            unbounded = compute_fill_outcome(inst, attrs.evolve(pool, available=10**15), fill_qty, price, fee, mark)
            assert (unbounded.pool_margin != outcome.pool_margin) == (left == 50_000)
