"""ACC-006 and LIQ-040 read MRG-061's available: MRG-050's less what the chosen risk tiers hold (redteam31_4).

``engine.core.isolated_fill.available_at_fill`` capped what an isolated fill may draw from the rest of the account at
MRG-050's available balance, which prices a cross position at its own risk steps and so counts the margin a chosen
tier holds beyond them as free -- the money MRG-061 (order entry), MRG-064 (a withdrawal) and MRG-067 never spend
(``Risk.held_tier_extras``; redteam12_1's class).  On liq040 the same figure became LIQ-040's ``PoolState.available``
(``available_before_fill``), so LIQ-044/053 accepted the draw whenever the cross pool stayed above its chosen-tier
*maintenance*, and the fill spent the chosen tier's extra (a pool between maintenance and the tier's initial margin).
Now the figure is ``max(0, available − held_tier_extras)``.

Scenario (redteam31_4's, with fewer funding instants): account 1 shorts 15,000 ETHUSD at 3,000 isolated at 10x and
rests a ReduceOnly bid of 7,500 at 3,100; funding at -0.1% drains its pool below its requirement; it opens a
2,000,000 USD cross XBTUSD long at risk tier 3 and withdraws all MRG-064 allows (the pool's MRG-050 available is then
exactly the tier's extra, 60,045,000).  Account 3 sells into the bid at unchanged marks.
"""

from __future__ import annotations

from typing import Any

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.isolated_fill import available_at_fill, available_before_fill
from perpspec.engine.core.ledger import peek_position
from perpspec.rules.invariants import check_all

E, P = "ETHUSD", 300_000
X, XP = "XBTUSD", 5_000_000
Q, R, D = 15_000, 7_500, 10_000
OWNER, OTHER, TAKER = 1, 2, 3
TIER3 = 20_000_000_000 + 3 * 15_000_000_000  # XBTUSD's risk limit at tier 3


def _ok(engine: Engine, cmd: Any) -> list[Any]:
    events = list(engine.process(cmd))
    assert isinstance(events[-1], Accepted), (cmd, events[-1])
    found = {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v}
    assert not found, found
    return events


def _setup(ticks: int, tier: bool = True) -> Engine:
    """The account before the fill: the drained isolated short with its bid resting, the cross long, all withdrawn."""
    engine = Engine()
    for symbol, price in ((E, P), (X, XP)):
        _ok(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    _ok(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=10**9))
    for account in (OWNER, OTHER, TAKER):
        _ok(engine, c.VerifyAccount(time_ms=0, account=account))
        _ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**11))
    _ok(engine, c.Isolate(time_ms=0, account=OWNER, symbol=E, enabled=True))
    _ok(engine, c.SetLeverage(time_ms=0, account=OWNER, symbol=E, leverage_hundredths=1000))
    _ok(engine, c.PlaceOrder(time_ms=1, account=OTHER, symbol=E, side="Buy", order_qty=Q, price=P))
    _ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Sell", order_qty=Q, price=P))
    _ok(engine, c.PlaceOrder(time_ms=2, account=OWNER, symbol=E, side="Buy", order_qty=R, price=P + D, exec_inst="ReduceOnly"))
    for t in range(3, 3 + ticks):  # the short pays funding from its pool while the bid rests
        _ok(engine, c.FundingTick(time_ms=t, symbol=E, rate_e8=-100_000))
    if tier:
        _ok(engine, c.SetRiskLimit(time_ms=100, account=OWNER, symbol=X, risk_limit=TIER3))
    _ok(engine, c.PlaceOrder(time_ms=100, account=TAKER, symbol=X, side="Sell", order_qty=2_000_000, price=XP))
    _ok(engine, c.PlaceOrder(time_ms=100, account=OWNER, symbol=X, side="Buy", order_qty=2_000_000, price=XP))
    account = engine.accounts[OWNER]
    most = engine.desk.withdrawable(account, "XBt")
    refused = Engine()
    refused._load(engine._dump())
    assert not isinstance(refused.process(c.Withdraw(time_ms=101, account=OWNER, asset="XBt", amount=most + 1))[-1], Accepted)
    _ok(engine, c.Withdraw(time_ms=101, account=OWNER, asset="XBt", amount=most))
    return engine


def _free(engine: Engine) -> int:
    """MRG-061's figure: MRG-050's available less what the chosen tiers hold."""
    account = engine.accounts[OWNER]
    return engine.available(OWNER, "XBt") - engine.risk.held_tier_extras(account, "XBt")


def _fill(engine: Engine) -> list[Any]:
    return _ok(engine, c.PlaceOrder(time_ms=102, account=TAKER, symbol=E, side="Sell", order_qty=R, price=P + D))


def test_the_isolated_fill_spends_no_chosen_tier_extra() -> None:
    """70 funding instants: the fill's draw stayed above the tier-3 maintenance, so LIQ-053 let it through, and on
    liq040 it took 5,062,500 of the tier's extra (cross pool 98,012,500 against a tier-3 posInit + posComm of
    103,075,000).  Now nothing is drawn from the cross pool: the remainder keeps what the closed part's deficit share
    and loss need beyond what the fill frees (ACC-006: only as far as the available reaches)."""
    engine = _setup(70)
    account = engine.accounts[OWNER]
    _, equity, maintenance, _ = engine.risk.pool_of(account, X)
    assert (equity, maintenance) == (103_075_000, 83_075_000)
    assert engine.available(OWNER, "XBt") == engine.risk.held_tier_extras(account, "XBt") == 60_045_000
    assert _free(engine) == 0
    events = _fill(engine)
    assert not [x for x in events if isinstance(x, RuleEvent)]  # no take-over, no tier lowered
    assert account.positions[E].qty == -R  # the fill was accepted (LIQ-044), and ACC-006 drew nothing
    assert account.positions[E].iso_margin == 64_293_750  # was 69,356,250 with the tier's extra drawn
    assert engine.risk.pool_of(account, X)[1] == 103_075_000  # was 98,012,500
    assert _free(engine) == 0  # was -5,062,500: MRG-061's available below zero after a fill at unchanged marks
    assert account.positions[X].chosen_tier == 3


def test_redteam31_4_cross_pool_kept_at_its_chosen_tier() -> None:
    """redteam31_4 itself (80 instants): on main the fill drew 27,562,500 and left the cross pool at 75,512,500 below
    its tier-3 maintenance of 83,075,000 (the take-over then lowered the tier); on liq040 LIQ-053 refused it.  Now the
    fill is accepted with nothing drawn; the remainder is left below its maintenance and taken over at once (the
    owner's deficit; the fund gains the residual), while the cross pool and its tier are untouched."""
    engine = _setup(80)
    account = engine.accounts[OWNER]
    events = _fill(engine)
    assert account.positions[E].qty == 0
    assert [type(x.record).__name__ for x in events if isinstance(x, RuleEvent)] == [
        "Liquidation", "InsuranceMovement", "AdlDeferred"]
    assert engine.risk.pool_of(account, X)[1] == 103_075_000
    assert account.positions[X].chosen_tier == 3
    assert _free(engine) == 0


def test_the_figures_read_mrg_061s_available() -> None:
    """``available_at_fill`` (ACC-006) and ``available_before_fill`` (LIQ-040's ``PoolState.available``) are MRG-050's
    available less the held tier extras, floored at 0: with all withdrawn 0 (liq040: 60,045,000, the tier's extra),
    after a deposit of 10,000,000 that deposit (liq040: 70,045,000)."""
    engine = _setup(70)
    account = engine.accounts[OWNER]
    inst = engine.market.instrument_map[E]
    for deposit, expected in ((0, 0), (10_000_000, 10_000_000)):
        if deposit:
            _ok(engine, c.Deposit(time_ms=101, account=OWNER, asset="XBt", amount=deposit))
        assert engine.available(OWNER, "XBt") == 60_045_000 + deposit
        assert engine.risk.held_tier_extras(account, "XBt") == 60_045_000
        ps = peek_position(account, inst)
        (bid,) = ps.orders
        # the bid filled whole at no fee: the position after, the wallet as it stands, the order gone
        assert available_before_fill(engine.risk, account, inst, R, P + D, 0, (bid, 0)) == expected
        after = ps.copy()
        after.qty = -Q + R
        after.cost = ps.cost // 2
        assert available_at_fill(engine.risk, account, after, inst, account.wallet("XBt"), (bid, 0)) == expected
