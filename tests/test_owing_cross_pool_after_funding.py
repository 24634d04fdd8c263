"""LIQ-037 and INS-011 through the engine: a cross pool of two contracts that owes beyond the price range.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (issue 13, mutants 62, 94 and 112 in
``Waterfall._take_over``, which member takes LIQ-037's owing cover, and 65, ``_insurance_draw``'s default when no
fund exists).  A pool owes beyond the range only when its *margin* is negative: every position's take-over price can
move in the trader's favour as far as the range allows, so a loss at mark alone (a mark gap) never strands a deficit.
Funding can do it.  Before FND-004's cap was enforced a single FundingTick of +100% did; now a tick is at most the
cap (XBTUSD 0.375%), below maintenance, so a pool it finds safe stays above zero.  But FND-008 charges the cap on
the value *at mark*, and an inverse long's value at a crashed mark is unbounded: a pool that is already due and
carried by LIQ-034 (one liquidation per update) paid it until session 9.  FND-020 now refuses that FundingTick
(LiquidationPending; pinned below), so the state is reached as an engine before FND-020 left it: its funding
posted into a snapshot, restored by ``Engine.from_snapshot`` (whose state check accepts it), and the next mark
update runs the waterfall.  The engine must still take such a pool over as the rules do.

Account 1 (0.5 XBT, cross) is long 2,000,000 XBTUSD at 50,000.00 (40 XBT) and holds one ETHUSD contract at
3,000.00; account 6 (240,000 XBt) is long 10,000 XBTUSD at 50,000.00, so its liquidation price (49,727.00) is above
account 1's (49,702.50).  The XBTUSD mark gaps to 187.50: both pools are due, account 6 is taken over (its
residual, 15,200, opens the XBt fund; its close-out is deleveraged against account 2) and account 1 is carried.
A FundingTick at the cap (pre-FND-020) then charges account 1 0.375% × 2,000,000 × 533,333.33 = 3,999,999,975 and
the waterfall takes its pool over.  XBTUSD has the larger maintenance, so it goes first, at its bankruptcy price clamped to
maxPrice (1,000,000.00), which recovers 38 XBT of the 39.53 owed; the ETHUSD contract is the last one and absorbs
the rest:

* a long is taken over beyond maxPrice, where the pool ends at exactly 0 (LIQ-037);
* a short owes more than its entry value (LIQ-036's [I] bound): it is taken over at one price unit, the fund pays
  what it holds (account 6's 15,200, INS-003/011) and the account is left owing the rest.  The fund cannot be
  absent here, as it was with a +100% tick: carrying a pool needs an earlier take-over in the same currency and
  update, and its residual (≥ the close-out's reserve) opens the fund.

Both are checked against ``rules.waterfall.process_waterfall`` on the same state.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import decode_state, encode_state
from perpspec.rules.adl import POLICIES
from perpspec.rules.events import Liquidation, WaterfallCarried
from perpspec.rules.funding import compute_funding_exchange
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import compute_owing_cover_takeover_price, compute_pool_residual
from perpspec.rules.margin import CROSS
from perpspec.rules.position import Position
from perpspec.rules.waterfall import process_waterfall
from tests.test_waterfall_differential import MAKER, ledger_of

INSTRUMENTS = {symbol: load_instrument(symbol) for symbol in ("ETHUSD", "XBTUSD")}
ETHUSD, XBTUSD = INSTRUMENTS["ETHUSD"], INSTRUMENTS["XBTUSD"]
ETH_MARK, XBT_MARK, XBT_CRASH = 300_000, 5_000_000, 18_750
CAP = 375_000  # FND-004's cap for XBTUSD, 0.375% in 1e-8
FUNDING = 3_999_999_975  # 0.375% of 2,000,000 XBTUSD at a mark of 187.50 (533,333.33 XBt a contract)
HELPER_RESIDUAL = 15_200  # account 6's take-over at the gap: the XBt fund


def _run(engine: Engine, command: c.Command) -> list[object]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), events[-1]
    return list(events)


def _records(events: list[object], kind: type) -> list[object]:
    return [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, kind)]


def _carried_pool(eth_side: str) -> Engine:
    engine = Engine(INSTRUMENTS, max_liquidations_per_update=1)
    for symbol, price in (("ETHUSD", ETH_MARK), ("XBTUSD", XBT_MARK)):
        _run(engine, c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=price, index_price=price))
    for account, amount in ((1, 50_000_000), (2, 10**12), (6, 240_000), (MAKER, 10**8)):  # the maker rests nothing
        _run(engine, c.VerifyAccount(time_ms=0, account=account))
        _run(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    other = "Sell" if eth_side == "Buy" else "Buy"
    for account, symbol, qty, price, side, counter in (
        (1, "XBTUSD", 2_000_000, XBT_MARK, "Buy", "Sell"),
        (1, "ETHUSD", 1, ETH_MARK, eth_side, other),
        (6, "XBTUSD", 10_000, XBT_MARK, "Buy", "Sell"),
    ):
        _run(engine, c.PlaceOrder(time_ms=0, account=2, symbol=symbol, side=counter, order_qty=qty, price=price))
        _run(engine, c.PlaceOrder(time_ms=0, account=account, symbol=symbol, side=side, order_qty=qty, price=price))
    assert (engine.wallet(1, "XBt"), engine.wallet(6, "XBt")) == (46_999_775, 225_000)  # after the taker fees
    gap = _run(engine, c.PriceUpdate(time_ms=1, symbol="XBTUSD", mark_price=XBT_CRASH, index_price=XBT_CRASH))
    [helper] = _records(gap, Liquidation)
    [carried] = _records(gap, WaterfallCarried)
    assert (helper.account_id, helper.residual_margin, carried.account_ids) == (6, HELPER_RESIDUAL, (1,))
    assert (engine.positions(1)["XBTUSD"].qty, engine.wallet(1, "XBt")) == (2_000_000, 46_999_775)
    assert engine.insurance_funds == {"XBt": HELPER_RESIDUAL}
    return engine


def funded_before_fnd_020(engine: Engine, symbol: str, rate_e8: int) -> tuple[Engine, dict[int, int]]:
    """``engine``'s state funded at ``rate_e8`` as an engine before FND-020 did, carried pools included: restored.

    FND-020 now never funds a pool holding the contract below maintenance (a FundingTick takes it over first, or
    is refused while it is carried), so this state is no longer reachable by commands; a snapshot an earlier engine wrote can still hold it, and
    :meth:`Engine.from_snapshot` accepts it.  FND-008's payments (``compute_funding_exchange``) are posted into
    the decoded snapshot (isolated margins with their wallets, a non-zero residue to the fund); the liquidation
    engine must hold nothing in ``symbol``.  Returns the restored engine (the waterfall not yet run) and the payments.
    """
    inst = engine.instrument_map[symbol]
    state = decode_state(engine.snapshot())
    assert not [p for p in state["pending"] if p.symbol == symbol and p.qty != 0]
    accounts = state["accounts"]
    holders = tuple(
        (account_id, accounts[account_id].positions[symbol].position)
        for account_id in sorted(accounts)
        if symbol in accounts[account_id].positions and accounts[account_id].positions[symbol].qty != 0
    )
    exchange = compute_funding_exchange(inst, holders, state["marks"][symbol], rate_e8)
    asset = inst.settl_currency
    for account_id, payment in exchange.payments:
        account = accounts[account_id]
        account.wallets[asset] = account.wallets.get(asset, 0) - payment
        ps = account.positions[symbol]
        if ps.leverage != CROSS:
            ps.iso_margin -= payment
    if exchange.residue:  # as the engine's Ledger.fund_move: a zero residue opens no fund
        state["insurance_funds"][asset] = state["insurance_funds"].get(asset, 0) + exchange.residue
    return Engine.from_snapshot(encode_state(state)), {a: -p for a, p in exchange.payments if p}


def _liquidations(engine: Engine) -> tuple[Engine, Liquidation, Liquidation]:
    """The take-over of account 1's pool after the capped funding (pre-FND-020) by the engine and the rules model."""
    # a FundingTick now takes the carried pool over first (redteam24_1), so it never funds it (FND-020)
    ticked = Engine.from_snapshot(engine.snapshot())
    taken_first = _run(ticked, c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=CAP))
    assert [r.account_id for r in _records(taken_first, Liquidation)] == [1]  # type: ignore[attr-defined]
    engine, paid = funded_before_fnd_020(engine, "XBTUSD", CAP)
    assert paid == {1: -FUNDING, 2: FUNDING}
    ledger, books = ledger_of(engine)
    events = _run(engine, c.PriceUpdate(time_ms=2, symbol="XBTUSD", mark_price=XBT_CRASH, index_price=XBT_CRASH))
    rules = process_waterfall(attrs.evolve(ledger, clock_ms=2), books, POLICIES["ranked-queue"], moved="XBTUSD")
    [by_engine] = _records(events, Liquidation)
    [by_rules] = [r for r in rules.events if isinstance(r, Liquidation)]
    assert (by_engine.account_id, by_engine.pool) == (1, "cross:XBt")  # type: ignore[attr-defined]
    return engine, by_engine, by_rules  # type: ignore[return-value]


def _same_take_over(by_engine: Liquidation, by_rules: Liquidation) -> bool:
    """The same prices and residual (the engine's close-out ids count account 6's take-over, the model's do not)."""
    def terms(liquidation: Liquidation) -> tuple[object, ...]:
        return (tuple(attrs.evolve(t, pending_id=0) for t in liquidation.taken), liquidation.residual_margin)
    return terms(by_engine) == terms(by_rules)


def _after_xbtusd(liquidation: Liquidation) -> int:
    """The pool's residual after its first (largest) position is taken over at maxPrice."""
    first = liquidation.taken[0]
    assert (first.symbol, first.takeover_price) == ("XBTUSD", XBTUSD.max_price)
    return compute_pool_residual(XBTUSD, first.qty, first.cost, liquidation.pool_margin, XBTUSD.max_price)


def test_liq_037_the_last_contract_of_an_owing_cross_pool_is_taken_over_beyond_max_price() -> None:
    """LIQ-034/037, FND-004/008/020: a carried pool funded at the cap at a crashed mark (a pre-FND-020 snapshot) owes
    beyond the range."""
    engine = _carried_pool("Buy")
    engine, liquidation, by_rules = _liquidations(engine)
    assert liquidation.pool_margin == 46_999_775 - FUNDING == -3_953_000_200
    residual = _after_xbtusd(liquidation)
    assert residual == -153_000_200  # the range recovers 38 XBT of the 39.53 owed
    last = liquidation.taken[1]
    expected = compute_owing_cover_takeover_price(ETHUSD, Position(qty=1, cost=300_000), residual, ETH_MARK)
    assert (last.symbol, last.qty, last.takeover_price) == ("ETHUSD", 1, expected)
    assert expected == 153_300_200 > ETHUSD.max_price
    assert liquidation.residual_margin == 0
    assert (engine.wallet(1, "XBt"), engine.insurance_funds) == (0, {"XBt": HELPER_RESIDUAL})
    assert _same_take_over(liquidation, by_rules)


def test_ins_011_an_owing_short_leaves_the_account_owing_beyond_what_the_fund_holds() -> None:
    """LIQ-036/037, INS-003/011, FND-004/008: the fund pays what it holds; the account keeps the rest."""
    engine = _carried_pool("Sell")
    engine, liquidation, by_rules = _liquidations(engine)
    residual = _after_xbtusd(liquidation)
    last = liquidation.taken[1]
    # a quanto short is worth at most its entry value: no price covers 1.53 XBT, so LIQ-037's price is one unit
    assert (last.symbol, last.qty, last.takeover_price) == ("ETHUSD", -1, 1)
    assert liquidation.residual_margin == residual + 300_000 - 1 == -152_700_201
    assert engine.wallet(1, "XBt") == -152_700_201 + HELPER_RESIDUAL  # the fund's 15,200 drawn, the rest owed
    assert engine.insurance_funds == {"XBt": 0}
    assert _same_take_over(liquidation, by_rules)
