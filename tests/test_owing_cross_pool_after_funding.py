"""LIQ-037 and INS-011 through the engine: a cross pool of two contracts that owes beyond the price range.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (issue 13, mutants 62, 94 and 112 in
``Waterfall._take_over``, which member takes LIQ-037's owing cover, and 65, ``_insurance_draw``'s default when no
fund exists).  A pool owes beyond the range only when its *margin* is negative: every position's take-over price can
move in the trader's favour as far as the range allows, so a loss at mark alone never strands a deficit.  A
FundingTick can do it: the rate may be up to 100%, paid from the cross wallet at once.

Account 1 (0.5 XBT, cross) is long 2,000,000 XBTUSD at 50,000.00 (40 XBT) and holds one ETHUSD contract at
3,000.00.  A funding rate of +100% on XBTUSD takes 40 XBT from its wallet; the waterfall that follows takes the pool
over.  XBTUSD has the larger maintenance, so it goes first, at its bankruptcy price clamped to maxPrice
(1,000,000.00), which recovers 38 XBT of the 39.5 owed; the ETHUSD contract is the last one and absorbs the rest:

* a long is taken over beyond maxPrice, where the pool ends at exactly 0 (LIQ-037);
* a short owes more than its entry value (LIQ-036's [I] bound): it is taken over at one price unit, the fund pays
  what it holds — here there is no XBt fund at all, so nothing — and the account is left owing the rest (INS-011).

Both are checked against ``rules.waterfall.process_waterfall`` on the same state.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.adl import POLICIES
from perpspec.rules.events import Liquidation
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_owing_cover_takeover_price, compute_pool_residual
from perpspec.rules.position import Position
from perpspec.rules.waterfall import process_waterfall
from tests.test_waterfall_differential import MAKER, ledger_of

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD")}
ETHUSD, XBTUSD = INSTRUMENTS["ETHUSD"], INSTRUMENTS["XBTUSD"]
ETH_MARK, XBT_MARK = 300_000, 5_000_000
FUNDING = 4_000_000_000  # 100% of 2,000,000 XBTUSD at 50,000.00


def _run(engine: Engine, command: c.Command) -> None:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), events[-1]


def _owing_pool(eth_side: str) -> Engine:
    engine = Engine(INSTRUMENTS)
    for symbol, price in (("ETHUSD", ETH_MARK), ("XBTUSD", XBT_MARK)):
        _run(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in ((1, 50_000_000), (2, 10**12), (MAKER, 10**8)):  # the maker rests nothing
        _run(engine, c.VerifyAccount(time_ms=0, account=account))
        _run(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    other = "Sell" if eth_side == "Buy" else "Buy"
    for symbol, qty, price, side, counter in (
        ("XBTUSD", 2_000_000, XBT_MARK, "Buy", "Sell"),
        ("ETHUSD", 1, ETH_MARK, eth_side, other),
    ):
        _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side=counter, order_qty=qty, price=price))
        _run(engine, c.PlaceOrder(time_ms=0, account=1, symbol=symbol, side=side, order_qty=qty, price=price))
    assert engine.wallet(1, "XBt") == 46_999_775  # after the taker fees
    assert engine.insurance_funds == {}
    return engine


def _liquidations(engine: Engine) -> tuple[Liquidation, Liquidation]:
    """The engine's take-over of account 1's pool after the funding, and the rules model's on the same state."""
    ledger, books = ledger_of(engine)
    wallets = {**ledger.wallets, (1, "XBt"): ledger.wallets[(1, "XBt")] - FUNDING}
    wallets[(2, "XBt")] += FUNDING
    paid = attrs.evolve(ledger, wallets=wallets, clock_ms=1)
    rules = process_waterfall(paid, books, POLICIES["ranked-queue"], moved="XBTUSD")
    events = engine.process(c.FundingTick(time_ms=1, symbol="XBTUSD", rate_e8=100_000_000))
    assert isinstance(events[-1], Accepted)
    [by_engine] = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    [by_rules] = [r for r in rules.events if isinstance(r, Liquidation)]
    assert (by_engine.account_id, by_engine.pool) == (1, "cross:XBt")
    return by_engine, by_rules


def _after_xbtusd(liquidation: Liquidation) -> int:
    """The pool's residual after its first (largest) position is taken over at maxPrice."""
    first = liquidation.taken[0]
    assert (first.symbol, first.takeover_price) == ("XBTUSD", XBTUSD.max_price)
    return compute_pool_residual(XBTUSD, first.qty, first.cost, liquidation.pool_margin, XBTUSD.max_price)


def test_liq_037_the_last_contract_of_an_owing_cross_pool_is_taken_over_beyond_max_price() -> None:
    engine = _owing_pool("Buy")
    liquidation, by_rules = _liquidations(engine)
    assert liquidation.pool_margin == 46_999_775 - FUNDING
    residual = _after_xbtusd(liquidation)
    assert residual == -153_000_225  # the range recovers 38 XBT of the 39.53 owed
    last = liquidation.taken[1]
    expected = compute_owing_cover_takeover_price(ETHUSD, Position(qty=1, cost=300_000), residual, ETH_MARK)
    assert (last.symbol, last.qty, last.takeover_price) == ("ETHUSD", 1, expected)
    assert expected == 153_300_225 > ETHUSD.max_price
    assert liquidation.residual_margin == 0
    assert (engine.wallet(1, "XBt"), engine.insurance_funds.get("XBt", 0)) == (0, 0)
    assert (liquidation.taken, liquidation.residual_margin) == (by_rules.taken, by_rules.residual_margin)


def test_ins_011_an_owing_short_leaves_the_account_owing_when_no_fund_exists() -> None:
    engine = _owing_pool("Sell")
    liquidation, by_rules = _liquidations(engine)
    residual = _after_xbtusd(liquidation)
    last = liquidation.taken[1]
    # a quanto short is worth at most its entry value: no price covers 1.53 XBT, so LIQ-037's price is one unit
    assert (last.symbol, last.qty, last.takeover_price) == ("ETHUSD", -1, 1)
    assert liquidation.residual_margin == residual + 300_000 - 1 == -152_700_226
    assert engine.wallet(1, "XBt") == -152_700_226  # no fund to draw from: the account keeps the deficit
    assert engine.insurance_funds.get("XBt", 0) == 0
    assert (liquidation.taken, liquidation.residual_margin) == (by_rules.taken, by_rules.residual_margin)
