"""INS-003/011 through the engine: an owing cross pool taken over when no insurance fund of its currency exists.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (helper "mutcheck", session 9): mutant #66,
``Waterfall._insurance_draw``'s default ``insurance_funds.get(asset, 0)`` -> ``get(asset, 1)``, a draw of one satoshi
from a fund that was never opened.  Session 5 killed it with a +100% FundingTick, which FND-004's cap now refuses;
``tests/test_owing_cross_pool_after_funding.py`` reaches the owing pool within the cap, but through a carried pool
whose carry was caused by an earlier take-over, and that take-over's residual opens the fund.

Here the update's budget (``max_liquidations_per_update = 1``, LIQ-034) is spent without any fund movement:
account 7's cross pool (100 XBTUSD long, 5,000 ETHUSD long at a chosen risk limit 14 steps above what the position
needs) is the first XBTUSD long due when the XBTUSD mark gaps from 50,000.00 to 125.00, and LIQ-021 (lowering the
chosen risk limit to the fitting one) brings it back above maintenance: no take-over, no residual, no fund.  Account
1 (10 XBT, long 2,000,000 XBTUSD at 50,000.00 and short one ETHUSD contract) is due too and carried.  A
FundingTick at XBTUSD's cap (0.375%) then charges account 1 0.375% of 2,000,000 contracts at 125.00 (16,000 XBT):
60 XBT, exactly (every payment of this tick is an integer, so FND-008's residue is 0 and the fund stays unopened).
FND-020 (main, session 9) now refuses that tick while the carried pool is below maintenance, and no command reaches
an owing pool any more; the funded state is reached, as in ``tests/test_owing_cross_pool_after_funding.py``, as a
snapshot an engine before FND-020 wrote, which ``Engine.from_snapshot`` accepts, and the next mark update takes
the pool over: XBTUSD at maxPrice recovers 38 XBT, the ETHUSD short (a quanto short is worth at most its
entry value, LIQ-036's [I] bound) at one price unit, and the account is left owing; the fund it may draw on does
not exist, so it pays nothing (INS-003: as far as its balance reaches) and no insurance movement is reported.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import InsuranceMovement, Liquidation, RiskLimitLowered, WaterfallCarried
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import Position
from tests.test_owing_cross_pool_after_funding import funded_before_fnd_020

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD")}
ETHUSD, XBTUSD = INSTRUMENTS["ETHUSD"], INSTRUMENTS["XBTUSD"]
CAP = 375_000  # FND-004's cap for XBTUSD, 0.375% in 1e-8
CRASH = 12_500  # 125.00: a contract is worth 800,000 XBt, so every funding payment below is exact
STEPS = 14  # account 7's chosen ETHUSD risk limit, above the fitting tier 0


def _run(engine: Engine, command: c.Command) -> list[object]:
    events: list[object] = list(engine.process(command))
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def _records(events: list[object], kind: type) -> list[object]:
    return [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, kind)]


def _carried_without_a_fund() -> Engine:
    engine = Engine(INSTRUMENTS, max_liquidations_per_update=1)
    for symbol, price in (("ETHUSD", 300_000), ("XBTUSD", 5_000_000)):
        _run(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in ((1, 1_000_000_000), (2, 10**12), (7, 300_000_000)):
        _run(engine, c.VerifyAccount(time_ms=0, account=account))
        _run(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for account, symbol, qty, price, side in (
        (1, "XBTUSD", 2_000_000, 5_000_000, "Buy"),
        (1, "ETHUSD", 1, 300_000, "Sell"),
        (7, "ETHUSD", 5_000, 300_000, "Buy"),
        (7, "XBTUSD", 100, 5_000_000, "Buy"),
    ):
        other = "Sell" if side == "Buy" else "Buy"
        _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side=other, order_qty=qty, price=price))
        _run(engine, c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price))
    _run(engine, c.SetRiskLimit(time_ms=0, account=7, symbol="ETHUSD",
                                risk_limit=ETHUSD.risk_limit + STEPS * ETHUSD.risk_step))
    # account 7's pool close to its (chosen-tier) maintenance, so its XBTUSD liquidation price (45,725.50) is above
    # account 1's (40,209.50): it is the first pool the XBTUSD gap finds due (LIQ-033)
    eth = _run(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=285_490, index_price=285_490))
    assert _records(eth, Liquidation) == _records(eth, RiskLimitLowered) == []
    gap = _run(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=CRASH, index_price=CRASH))
    [lowered] = _records(gap, RiskLimitLowered)
    assert (lowered.account_id, lowered.symbol, lowered.from_tier, lowered.to_tier) == (7, "ETHUSD", STEPS, 0)  # type: ignore[attr-defined]
    [carried] = _records(gap, WaterfallCarried)
    assert carried.account_ids == (1,)  # type: ignore[attr-defined]
    # a record of the waterfall itself is the liquidation engine's (account -1), not a trader's
    assert [(e.account, e.symbol) for e in gap if isinstance(e, RuleEvent) and e.kind == "WaterfallCarried"] == [
        (-1, "XBTUSD")]
    assert _records(gap, Liquidation) == _records(gap, InsuranceMovement) == []
    assert engine.insurance_funds == {}
    return engine


def test_ins_011_a_pool_owing_with_no_fund_of_its_currency_draws_nothing() -> None:
    """LIQ-021/034, FND-004/007/008/020, LIQ-036/037, INS-003/011: no fund exists, so the owing account keeps all of
    it.  The FundingTick takes account 1's carried pool over first (redteam24_1: its waterfall at the mark) and only
    then funds, so FND-020 never funds it; the state an engine before FND-020 left after funding it (its snapshot,
    which Engine.from_snapshot accepts) is taken over on the next mark update."""
    engine = _carried_without_a_fund()
    wallet = engine.wallet(1, "XBt")
    assert wallet == 996_999_775  # 10 XBT less the taker fees
    ticked = Engine.from_snapshot(engine.snapshot())
    events = ticked.process(c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=CAP))
    assert isinstance(events[-1], Accepted)
    kinds = [e.kind for e in events if isinstance(e, RuleEvent)]
    assert kinds[0] == "Liquidation"
    assert _records(events, Liquidation)[0].account_id == 1  # type: ignore[attr-defined]
    assert ticked.positions(1) == {}
    # FND-008 at 125.00: every payment exact, residue 0, so (as the engine) the snapshot opens no XBt fund
    engine, paid = funded_before_fnd_020(engine, "XBTUSD", CAP)
    assert paid == {1: -6_000_000_000, 2: 6_000_300_000, 7: -300_000}
    assert (engine.wallet(1, "XBt"), engine.insurance_funds) == (wallet - 6_000_000_000, {})
    events = _run(engine, c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=CRASH, index_price=CRASH))
    rules = [(e.kind, e.rule_id, e.account, e.symbol) for e in events if isinstance(e, RuleEvent)]
    # the liquidation engine now holds both contracts and no position opposite is eligible (ADL-021): account -1's
    assert rules == [("Liquidation", "LIQ-023", 1, "XBTUSD"), ("AdlShortfall", "ADL-021", -1, "XBTUSD"),
                     ("AdlShortfall", "ADL-021", -1, "ETHUSD")]
    [liquidation] = _records(events, Liquidation)
    assert (liquidation.account_id, liquidation.pool) == (1, "cross:XBt")  # type: ignore[attr-defined]
    assert liquidation.pool_margin == wallet - 6_000_000_000 == -5_003_000_225  # type: ignore[attr-defined]
    taken = [(t.symbol, t.qty, t.takeover_price) for t in liquidation.taken]  # type: ignore[attr-defined]
    assert taken == [("XBTUSD", 2_000_000, XBTUSD.max_price), ("ETHUSD", -1, 1)]
    # maxPrice recovers 38 XBT (40 at entry, 2 at 1,000,000.00); the short at one unit its 300,000 less one
    residual = liquidation.residual_margin  # type: ignore[attr-defined]
    assert residual == -5_003_000_225 + 3_800_000_000 + 299_999 == -1_202_700_226
    assert _records(events, InsuranceMovement) == []  # nothing drawn from a fund that does not exist
    assert engine.insurance_funds == {}
    assert engine.wallet(1, "XBt") == residual  # the account owes the whole deficit


def test_adl_031_a_deferred_close_out_is_reported_as_the_liquidation_engines() -> None:
    """LIQ-023, INS-011, ADL-031: account 3 (1 XBT) buys 1,000 XBTUSD at 50,000.00 at 100x; the mark falls to
    49,628.00, between its liquidation (49,751.50) and bankruptcy (49,505.00) prices, with no bid: the take-over's
    residual opens the fund, and the fund plus the held position's PnL at mark covers it, so ADL waits.  Account 3 is
    left flat, with no isolated margin left over for its next position."""
    engine = Engine({"XBTUSD": XBTUSD})
    _run(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    for account in (2, 3):
        _run(engine, c.VerifyAccount(time_ms=0, account=account))
        _run(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**8))
    _run(engine, c.SetLeverage(time_ms=0, account=3, symbol="XBTUSD", leverage_hundredths=10_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=1_000, price=5_000_000))
    _run(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=1_000, price=5_000_000))
    events = _run(engine, c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=4_962_800, index_price=4_962_800))
    rules = [(e.kind, e.rule_id, e.account, e.symbol) for e in events if isinstance(e, RuleEvent)]
    assert rules == [("Liquidation", "LIQ-023", 3, "XBTUSD"), ("InsuranceMovement", "INS-011", -1, "XBTUSD"),
                     ("AdlDeferred", "ADL-031", -1, "XBTUSD")]
    [deferred] = [e.record for e in events if isinstance(e, RuleEvent) and e.kind == "AdlDeferred"]
    assert (deferred.unfilled_qty, deferred.fund_balance, deferred.fund_cover) == (1_000, 1_515, 6_525)
    # LIQ-023 leaves the taken-over position flat with no isolated margin: buying 1,000 again at 100x puts up its
    # margin from nothing (1% of 2,014,990 plus the closing fee's reserve: 21,677), all MRG-050 keeps back
    _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=1_000, price=4_962_800))
    _run(engine, c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=1_000, price=4_962_800))
    assert engine.positions(3)["XBTUSD"] == Position(qty=1_000, cost=-2_014_990)
    assert engine.wallet(3, "XBt") == 99_975_473
    refused = engine.process(c.Withdraw(time_ms=0, account=3, asset="XBt", amount=10**12))[-1]
    assert isinstance(refused, Rejected)
    assert refused.text == f"InsufficientWithdrawableBalance: withdrawable {99_975_473 - 21_677}"
