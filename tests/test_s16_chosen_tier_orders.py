"""An accepted order never spends what a cross position's chosen risk tier holds (MRG-061, MRG-067; redteam12).

Found by redteam12 in session 16 (/work/coord/repro16/redteam12_1.py, _2.py, _3.py).  MRG-050's available balance
prices every cross position at its own risk steps; its pool (LIQ-001) holds it at the chosen tier.  Session 8 judged
withdrawals, transfers, leverage and risk-limit changes and spot reservations with every cross position's chosen-tier
extra ``posInit + posComm`` charged (``Risk.cross_tier_extras``), but order entry charged only the increase the
order's own contract's fill would add (``OrderEntry._chosen_tier_extra``).  So an owner holding 100,000 XBTUSD long at
tier 22 (25,000,000 XBt; MRG-050 available 22,698,500, of which the tier holds 22,016,500) bought 3,502 ETHUSD with
the rest and left its own pool at equity 24,062,050 against a maintenance of 34,477,709, with no price move; placed
between the operator's PriceUpdate and FundingTick, that refused every holder's funding (FND-020) and, after an
expiry, a future's Settle (SET-005), at will.

Now MRG-061 reads the available balance less the extras the account's chosen tiers hold (``Risk.held_tier_extras``)
on the general path, the plain limit order's fast path (``entry_plain.place_resting``) and AmendOrder, and MRG-067's
clean-up after a trade reads the same figure.  SetRiskLimit, SetLeverage and Isolate on an expired, unsettled future
are refused (``ContractExpired``), and FND-020/SET-005 wait only for pools below maintenance at the tiers LIQ-021
would lower them to (``Risk.below_fitting_maintenance``).
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core import entry_plain
from perpspec.engine.core.events import Accepted, Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.fills import UNFUNDED_TEXT
from perpspec.engine.core.rejects import field_values

X, E, Z = "XBTUSD", "ETHUSD", "XBTZ26"
XBT_MARK, ETH_MARK = 5_000_000, 300_000
OWNER, MAKER = 1, 2


def ok(engine: Engine, command: object) -> list[Event]:
    events = engine.process(command)  # type: ignore[arg-type]
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def owner_at_chosen_tier(time_ms: int = 0, symbol: str = X) -> Engine:
    """The owner (25,000,000 XBt) long 100,000 ``symbol`` at 50,000.00 at tier 22, the highest SetRiskLimit accepts."""
    engine = Engine()
    for s, mark in ((X, XBT_MARK), (E, ETH_MARK), (Z, XBT_MARK)):
        ok(engine, c.PriceUpdate(time_ms=time_ms, symbol=s, mark_price=mark, index_price=mark))
    for account, amount in ((OWNER, 25_000_000), (MAKER, 10**11)):
        ok(engine, c.VerifyAccount(time_ms=time_ms, account=account))
        ok(engine, c.Deposit(time_ms=time_ms, account=account, asset="XBt", amount=amount))
    ok(engine, c.PlaceOrder(time_ms=time_ms, account=MAKER, symbol=symbol, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=time_ms, account=OWNER, symbol=symbol, side="Buy", order_qty=100_000, price=XBT_MARK))
    inst = engine.instrument_map[symbol]
    refused = engine.process(c.SetRiskLimit(time_ms=time_ms, account=OWNER, symbol=symbol,
                                            risk_limit=inst.risk_limit + 23 * inst.risk_step))
    assert isinstance(refused[-1], Rejected)
    ok(engine, c.SetRiskLimit(time_ms=time_ms, account=OWNER, symbol=symbol, risk_limit=inst.risk_limit + 22 * inst.risk_step))
    return engine


def below(engine: Engine, symbol: str = X) -> bool:
    return engine.risk.below_maintenance(engine.accounts[OWNER], symbol)


def test_the_setup_figures() -> None:
    """22,698,500 available by MRG-050, of which tier 22 holds 22,016,500: 682,000 is what an order may take."""
    engine = owner_at_chosen_tier()
    account = engine.accounts[OWNER]
    assert engine.available(OWNER, "XBt") == 22_698_500
    assert engine.risk.held_tier_extras(account, "XBt") == 22_016_500
    assert engine.risk.pool_of(account, X)[:3] == (24_850_000, 24_850_000, 23_168_000)


def test_mrg_061_fast_path_an_order_in_another_contract_cannot_spend_the_chosen_tiers_margin() -> None:
    """A plain limit ETHUSD buy (the fast path's case) worth MRG-050's whole available balance is refused."""
    engine = owner_at_chosen_tier()
    buy = c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Buy", order_qty=3_502, price=ETH_MARK - 10_000)
    engine.stream.time_ms = 1
    assert entry_plain.place_resting(engine.entry, field_values(buy)) == entry_plain.NOT_HANDLED  # nothing changed
    refused = engine.process(buy)[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    assert refused.text == "needs 21850204, available 682000"
    assert not engine.accounts[OWNER].orders
    assert not below(engine)


def test_mrg_061_fast_path_the_largest_order_accepted_leaves_the_pool_at_maintenance_or_above() -> None:
    """106 ETHUSD fit in 682,000 (the fast path accepts them); 110 do not.  Filled, the pool stays above maintenance."""
    engine = owner_at_chosen_tier()
    refused = engine.process(c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Buy", order_qty=110,
                                          price=ETH_MARK - 10_000))[-1]
    assert isinstance(refused, Rejected)
    assert refused.text == "needs 686329, available 682000"
    buy = c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Buy", order_qty=106, price=ETH_MARK - 10_000)
    engine.stream.time_ms = 1
    assert entry_plain.place_resting(engine.entry, field_values(buy)) > 0  # the fast path's own acceptance
    ok(engine, c.PlaceOrder(time_ms=1, account=MAKER, symbol=E, side="Sell", order_qty=106, price=ETH_MARK - 10_000))
    assert engine.accounts[OWNER].positions[E].qty == 106
    assert not below(engine)


def test_mrg_061_general_path_an_order_with_a_clordid_or_a_market_order_is_refused_too() -> None:
    """The general path (clOrdID; a market order charged at its reach) reads the same figure."""
    engine = owner_at_chosen_tier()
    refused = engine.process(c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Buy", order_qty=3_502,
                                          price=ETH_MARK - 10_000, cl_ord_id="spend"))[-1]
    assert isinstance(refused, Rejected)
    assert refused.text == "needs 21850204, available 682000"
    ok(engine, c.PlaceOrder(time_ms=1, account=MAKER, symbol=E, side="Sell", order_qty=4_000, price=ETH_MARK))
    refused = engine.process(c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Buy", order_qty=3_400,
                                          ord_type="Market"))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    assert engine.accounts[OWNER].positions.get(E) is None or engine.accounts[OWNER].positions[E].qty == 0
    assert not below(engine)


def test_mrg_061_general_path_an_isolated_order_is_refused_too() -> None:
    """An isolated ETHUSD position's order (the general path) takes its margin from the same cross balance."""
    engine = owner_at_chosen_tier()
    ok(engine, c.SetLeverage(time_ms=1, account=OWNER, symbol=E, leverage_hundredths=1_000))
    refused = engine.process(c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Buy", order_qty=3_000,
                                          price=ETH_MARK - 10_000))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    assert refused.text.endswith("available 682000")
    assert not below(engine)


def test_mrg_061_amend_cannot_grow_an_order_into_the_chosen_tiers_margin() -> None:
    """AmendOrder (``_check_amend_funds``): an order that fits, grown to MRG-050's whole available balance, is refused."""
    engine = owner_at_chosen_tier()
    placed = ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=E, side="Buy", order_qty=50, price=ETH_MARK - 10_000))
    order_id = placed[-1].order_id  # type: ignore[attr-defined]
    refused = engine.process(c.AmendOrder(time_ms=1, account=OWNER, order_id=order_id, order_qty=3_502))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    assert engine.registry.live_orders[order_id].leaves_qty == 50
    ok(engine, c.AmendOrder(time_ms=1, account=OWNER, order_id=order_id, order_qty=100))  # what the tier leaves free


def after_a_flip(deposit: int) -> tuple[Engine, list[Event]]:
    """The owner, long 100,000 XBTUSD at tier 5, long 400 ETHUSD with a far take-profit (sell 100 at 30,000.00), sells
    500 ETHUSD: short 100, the far offer becomes an opening order charged in full (tests/test_attack11_*)."""
    engine = Engine()
    inst = engine.instrument_map[X]
    for account, amount in ((OWNER, deposit), (MAKER, 10**13), (3, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for s, mark in ((X, XBT_MARK), (E, ETH_MARK)):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=s, mark_price=mark, index_price=mark))
    ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=X, side="Sell", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=X, side="Buy", order_qty=100_000, price=XBT_MARK))
    ok(engine, c.SetRiskLimit(time_ms=0, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    for account, side, qty, price in (
        (MAKER, "Sell", 400, ETH_MARK), (OWNER, "Buy", 400, ETH_MARK), (OWNER, "Sell", 100, 3_000_000),
        (3, "Buy", 500, ETH_MARK),
    ):
        ok(engine, c.PlaceOrder(time_ms=0, account=account, symbol=E, side=side, order_qty=qty, price=price))
    return engine, ok(engine, c.PlaceOrder(time_ms=0, account=OWNER, symbol=E, side="Sell", order_qty=500, price=ETH_MARK))


def test_mrg_067_after_a_trade_the_clean_up_reads_the_balance_net_of_the_chosen_tiers() -> None:
    """After the flip MRG-050's available balance is ≥ 0 (4,3xx,xxx) but below the 5,003,750 tier 5 holds: the far
    offer, now opening, is cancelled (MRG-067), as it is when the available balance itself is below zero."""
    engine, events = after_a_flip(14_000_000)
    account = engine.accounts[OWNER]
    cancels = [e for e in events if isinstance(e, Execution) and e.exec_type == "Canceled"]
    assert [(e.order_id, e.price, e.text) for e in cancels] == [(5, 3_000_000, UNFUNDED_TEXT)]
    assert account.positions[E].qty == -100
    assert not account.orders
    held = engine.risk.held_tier_extras(account, "XBt")
    assert held == 5_003_750
    assert engine.available(OWNER, "XBt") - held >= 0
    assert not below(engine)


# -- stateful: an owner's accepted order never takes its own pool below maintenance -------------------------------

COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(["place", "place", "greedy", "amend", "tier", "tier", "leverage"]),
        st.sampled_from([X, E]),
        st.sampled_from(["Buy", "Sell"]),
        st.sampled_from([1, 2, 5, 10, 20, 50, 100, 200, 500]),  # quantity in lots (XBTUSD: ×500; ETHUSD: ×10)
        st.integers(-5, 5),  # price: mark ± steps of 0.2%
        st.sampled_from(["", "", "", "ReduceOnly", "clOrdID"]),
        st.integers(0, 30),  # tier / leverage choice
    ),
    min_size=1,
    max_size=14,
)


def pools_below(engine: Engine) -> dict[str, bool]:
    account = engine.accounts[OWNER]
    return {engine.risk.pool_key(account, s): engine.risk.below_maintenance(account, s) for s in account.positions}


ATTACK = [("place", X, "Buy", 200, 1, "", 0), ("tier", X, "Buy", 1, 0, "", 30)]  # long 100,000, the highest tier


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(COMMANDS, st.integers(5_000_000, 40_000_000))
@example([*ATTACK, ("greedy", E, "Buy", 500, 1, "", 0)], 25_000_000)  # redteam12_1 (the fast path)
@example([*ATTACK, ("greedy", E, "Buy", 500, 1, "clOrdID", 0)], 25_000_000)  # the general path
@example([*ATTACK, ("place", E, "Buy", 10, -5, "", 0), ("amend", E, "Buy", 200, 1, "", 0)], 25_000_000)  # amended
def test_mrg_061_an_owners_accepted_order_never_takes_its_pool_below_maintenance_at_its_chosen_tier(
    commands: list[tuple[str, str, str, int, int, str, int]], deposit: int
) -> None:
    """Random orders, amendments, risk limits and leverages of one owner, no price move: after every accepted
    PlaceOrder or AmendOrder, no pool of the owner is below maintenance (LIQ-003 at its chosen tiers) unless it was
    before the command."""
    engine = Engine()
    for s, mark in ((X, XBT_MARK), (E, ETH_MARK)):
        ok(engine, c.PriceUpdate(time_ms=0, symbol=s, mark_price=mark, index_price=mark))
    for account, amount in ((OWNER, deposit), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=account))
        ok(engine, c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    for s, mark, qty, tick in ((X, XBT_MARK, 100_000, 50), (E, ETH_MARK, 1_500, 5)):
        for k in range(1, 6):  # the maker's book around the mark, both sides
            ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=s, side="Sell", order_qty=qty,
                                    price=mark + k * mark // 500 // tick * tick))
            ok(engine, c.PlaceOrder(time_ms=0, account=MAKER, symbol=s, side="Buy", order_qty=qty,
                                    price=mark - k * mark // 500 // tick * tick))
    for n, (kind, symbol, side, lots, step, flag, choice) in enumerate(commands):
        inst = engine.instrument_map[symbol]
        mark = XBT_MARK if symbol == X else ETH_MARK
        price = mark + step * (mark // 500 // inst.tick_size * inst.tick_size)
        qty = lots * (500 if symbol == X else 10)
        command: object
        if kind in ("place", "greedy"):
            command = c.PlaceOrder(time_ms=1, account=OWNER, symbol=symbol, side=side, order_qty=qty, price=price,
                                   exec_inst="ReduceOnly" if flag == "ReduceOnly" else "",
                                   cl_ord_id=f"o{n}" if flag == "clOrdID" else "")
        elif kind == "amend":
            live = sorted(engine.accounts[OWNER].orders)
            if not live:
                continue
            command = c.AmendOrder(time_ms=1, account=OWNER, order_id=live[choice % len(live)], order_qty=qty,
                                   price=price)
        elif kind == "tier":  # the highest tier up to ``choice`` that SetRiskLimit accepts (the attack's first step)
            for tier in range(choice, 0, -1):
                if isinstance(engine.process(c.SetRiskLimit(time_ms=1, account=OWNER, symbol=symbol,
                                                            risk_limit=inst.risk_limit + tier * inst.risk_step))[-1],
                              Accepted):
                    break
            continue
        else:
            command = c.SetLeverage(time_ms=1, account=OWNER, symbol=symbol,
                                    leverage_hundredths=0 if choice < 15 else 100 * (choice - 14))
        before = pools_below(engine)
        events = engine.process(command)  # type: ignore[arg-type]
        while kind == "greedy" and not isinstance(events[-1], Accepted) and qty > inst.lot_size:
            # the attack's second step: the largest order MRG-061 accepts, down from ``qty`` by a tenth at a time
            qty = max(inst.lot_size, qty * 9 // 10 // inst.lot_size * inst.lot_size)
            command = c.replace(command, order_qty=qty)  # type: ignore[arg-type]
            events = engine.process(command)  # type: ignore[arg-type]
        if kind in ("place", "greedy", "amend") and isinstance(events[-1], Accepted):
            for pool, is_below in pools_below(engine).items():
                assert not is_below or before.get(pool, False), (n, command, pool)


# -- the consequences: funding and settlement are not the owner's to hold back (FND-020, SET-005) ------------------


def test_fnd_020_a_chosen_tier_and_an_order_cannot_refuse_the_funding_instant() -> None:
    """redteam12_2: SetRiskLimit then an order between the operator's PriceUpdate and FundingTick; both accepted."""
    engine = owner_at_chosen_tier()
    ok(engine, c.PriceUpdate(time_ms=2, symbol=X, mark_price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=2, account=MAKER, symbol=E, side="Sell", order_qty=7_000, price=ETH_MARK))
    refused = engine.process(c.PlaceOrder(time_ms=2, account=OWNER, symbol=E, side="Buy", order_qty=3_502, price=ETH_MARK))
    assert isinstance(refused[-1], Rejected)
    ok(engine, c.PlaceOrder(time_ms=2, account=OWNER, symbol=E, side="Buy", order_qty=100, price=ETH_MARK))
    assert not below(engine)
    ok(engine, c.FundingTick(time_ms=2, symbol=X, rate_e8=10_000))
    ok(engine, c.FundingTick(time_ms=2, symbol=E, rate_e8=10_000))


def test_fnd_020_waits_only_for_a_pool_below_maintenance_at_the_tier_liq_021_leaves() -> None:
    """A pool below maintenance at its chosen tier but not at its own steps (LIQ-021 would only lower the tier) does
    not hold the funding instant back; a pool below maintenance at its own steps does."""
    engine = owner_at_chosen_tier()
    account = engine.accounts[OWNER]
    account.positions[X].chosen_tier = 40  # as a state the order checks can no longer reach: beyond what it fits
    assert below(engine)
    assert not engine.risk.below_fitting_maintenance(account, X)
    ok(engine, c.FundingTick(time_ms=2, symbol=X, rate_e8=10_000))
    account.wallets["XBt"] = 1_000_000  # now below maintenance at its own steps too
    assert engine.risk.below_fitting_maintenance(account, X)
    refused = engine.process(c.FundingTick(time_ms=3, symbol=X, rate_e8=10_000))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.LIQUIDATION_PENDING


def test_set_005_an_expired_futures_risk_limit_leverage_and_margin_mode_are_refused() -> None:
    """redteam12_3: after expiry, before Settle, SetRiskLimit, SetLeverage and Isolate are ContractExpired; Settle is
    accepted."""
    engine = owner_at_chosen_tier(symbol=Z)
    inst = engine.instrument_map[Z]
    expiry = inst.expiry_ms
    assert expiry is not None
    ok(engine, c.PriceUpdate(time_ms=expiry, symbol=Z, mark_price=XBT_MARK))
    for command in (
        c.SetRiskLimit(time_ms=expiry, account=OWNER, symbol=Z, risk_limit=inst.risk_limit + 22 * inst.risk_step),
        c.SetRiskLimit(time_ms=expiry, account=OWNER, symbol=Z, risk_limit=inst.risk_limit),
        c.SetLeverage(time_ms=expiry, account=OWNER, symbol=Z, leverage_hundredths=500),
        c.Isolate(time_ms=expiry, account=OWNER, symbol=Z, enabled=True),
        c.Isolate(time_ms=expiry, account=OWNER, symbol=Z, enabled=False),
    ):
        refused = engine.process(command)[-1]
        assert isinstance(refused, Rejected), command
        assert refused.reason is Reason.CONTRACT_EXPIRED, command
    refused = engine.process(c.PlaceOrder(time_ms=expiry, account=OWNER, symbol=X, side="Buy", order_qty=986_200,
                                          price=XBT_MARK))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason is Reason.INSUFFICIENT_MARGIN
    ok(engine, c.Settle(time_ms=expiry, symbol=Z, settlement_price=XBT_MARK))
