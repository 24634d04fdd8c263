"""Engine ``Settle`` command: a dated future closed at its settlement price (SET-001..004 through the engine)."""

from __future__ import annotations

from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Reason, Rejected
from perpspec.engine.core.exchange import LIQUIDATOR, Engine, Pending
from perpspec.engine.durability.recovery import DurableExchange, command_codec, event_stream_hash, recover
from perpspec.rules.invariants import check_all
from perpspec.rules.position import Position
from perpspec.rules.settlement import compute_position_settlement, compute_twap

SYMBOL = "XBTZ26"
ENGINE = Engine()
INST = ENGINE.instrument_map[SYMBOL]
assert INST.expiry_ms is not None
EXPIRY = INST.expiry_ms
OPEN = EXPIRY - 3_600_000  # trading an hour before expiry
MARK = 5_000_000  # 50,000 USD
ACCOUNTS = (1, 2, 3, 4)
# SET-001: the settlement price is the rule's TWAP of the index over the 30 minutes before expiry
SAMPLES = ((EXPIRY - 2_400_000, 5_010_000), (EXPIRY - 600_000, 5_040_050), (EXPIRY + 1_000, 9_000_000))
TWAP = compute_twap(SAMPLES, EXPIRY - INST.settlement_twap_ms, EXPIRY)
assert TWAP is not None
PRICE = TWAP[0]


def violations(engine: Engine) -> dict[str, list[str]]:
    return {key: found for key, found in check_all(engine, engine.step_info()).items() if found}


def run(engine: Engine, command: Any) -> list[Any]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def market() -> Engine:
    """Four accounts: 1 cross long, 2 isolated short, 3 isolated long, 4 cross short; resting orders left."""
    engine = Engine()
    engine.track_steps = True
    run(engine, c.PriceUpdate(time_ms=OPEN, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    for account in ACCOUNTS:
        run(engine, c.VerifyAccount(time_ms=OPEN, account=account))
        run(engine, c.Deposit(time_ms=OPEN, account=account, asset="XBt", amount=10 * 100_000_000))
    for account in (2, 3):
        run(engine, c.SetLeverage(time_ms=OPEN, account=account, symbol=SYMBOL, leverage_hundredths=1_000))
    for buyer, seller, qty, price in ((1, 2, 30_000, MARK), (3, 4, 20_000, MARK + 500), (1, 4, 5_000, MARK - 500)):
        run(engine, c.PlaceOrder(time_ms=OPEN, account=seller, symbol=SYMBOL, side="Sell", order_qty=qty, price=price))
        run(engine, c.PlaceOrder(time_ms=OPEN, account=buyer, symbol=SYMBOL, side="Buy", order_qty=qty, price=price))
    run(engine, c.PlaceOrder(time_ms=OPEN, account=1, symbol=SYMBOL, side="Buy", order_qty=1_000, price=MARK - 5_000))
    run(engine, c.PlaceOrder(time_ms=OPEN, account=4, symbol=SYMBOL, side="Sell", order_qty=1_000,
                             price=MARK + 5_000))
    run(engine, c.PlaceOrder(time_ms=OPEN, account=2, symbol=SYMBOL, side="Buy", order_qty=1_000,
                             stop_px=MARK + 50_000))
    run(engine, c.PriceUpdate(time_ms=EXPIRY - 60_000, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE))
    return engine


def reference_after_tick(engine: Engine, time_ms: int) -> str:
    """The state a rejected command must leave: the state before it, clock included (issue 12), with
    only the sequence number its Rejected event takes (``time_ms``: the command's, which must not count)."""
    del time_ms
    reference = Engine.from_snapshot(engine.snapshot())
    reference.seq += 1
    return reference.state_hash()


def test_set_004_settle_after_expiry_closes_every_position_at_the_settlement_price() -> None:
    engine = market()
    positions = {account: engine.positions(account)[SYMBOL] for account in ACCOUNTS}
    wallets = {account: engine.wallet(account, "XBt") for account in ACCOUNTS}
    fee_pool = engine.fee_pool("XBt")
    expected = {account: compute_position_settlement(INST, positions[account], PRICE) for account in ACCOUNTS}

    events = run(engine, c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))

    assert {account: engine.positions(account).get(SYMBOL) for account in ACCOUNTS} == dict.fromkeys(ACCOUNTS)
    assert {account: engine.wallet(account, "XBt") - wallets[account] for account in ACCOUNTS} == {
        account: realised - fee for account, (_, realised, fee) in expected.items()
    }
    assert engine.fee_pool("XBt") - fee_pool == sum(fee for _, _, fee in expected.values())
    settlements = [(e.account, e.last_qty, e.last_px, e.exec_comm) for e in events
                   if isinstance(e, Execution) and e.exec_type == "Settlement"]
    assert settlements == [
        (account, abs(positions[account].qty), PRICE, expected[account][2]) for account in ACCOUNTS
    ]


def test_set_004_settlement_keeps_every_invariant_and_leaves_no_open_interest() -> None:
    engine = market()
    assert {account: engine.positions(account)[SYMBOL].qty for account in ACCOUNTS} == {
        1: 35_000, 2: -30_000, 3: 20_000, 4: -25_000
    }
    run(engine, c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    assert violations(engine) == {}
    assert [account for account in engine.account_ids() if SYMBOL in engine.positions(account)] == []
    assert engine.holders[SYMBOL] == {}
    # isolated pools are released into the wallet: nothing left earmarked
    assert [engine.accounts[account].positions[SYMBOL].iso_margin for account in (2, 3)] == [0, 0]


def test_set_004_settlement_cancels_every_open_order_in_the_contract() -> None:
    engine = market()
    live = sorted(order_id for order_id, order in engine.live_orders.items() if order.symbol == SYMBOL)
    assert len(live) == 3  # two resting limits and one untriggered stop
    events = run(engine, c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    cancelled = sorted(e.order_id for e in events if isinstance(e, Execution) and e.exec_type == "Canceled")
    assert (cancelled, [o for o in engine.live_orders.values() if o.symbol == SYMBOL]) == (live, [])


def test_set_004_an_order_in_a_settled_contract_is_rejected() -> None:
    engine = market()
    run(engine, c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    events = engine.process(c.PlaceOrder(time_ms=EXPIRY + 1, account=1, symbol=SYMBOL, side="Buy", order_qty=100,
                                         price=MARK))
    assert isinstance(events[-1], Rejected)
    assert events[-1].reason is Reason.CONTRACT_SETTLED


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (c.Settle(time_ms=EXPIRY, symbol="XBTZ99", settlement_price=PRICE), Reason.UNKNOWN_SYMBOL),
        (c.Settle(time_ms=EXPIRY, symbol="XBTUSD", settlement_price=PRICE), Reason.NOT_DATED_FUTURE),
        (c.Settle(time_ms=EXPIRY - 1, symbol=SYMBOL, settlement_price=PRICE), Reason.NOT_EXPIRED),
        (c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=0), Reason.INVALID_PRICE),
        (c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=-PRICE), Reason.INVALID_PRICE),
        (c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=INST.max_price + 1), Reason.INVALID_PRICE),
        # wrong-typed fields: the sequencer's typed validation layer refuses them before the handler
        (c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=5.0e6), Reason.MALFORMED),  # type: ignore[arg-type]
        (c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=True), Reason.MALFORMED),
        (c.Settle(time_ms=EXPIRY, symbol=None, settlement_price=PRICE), Reason.MALFORMED),  # type: ignore[arg-type]
        (c.Settle(time_ms="now", symbol=SYMBOL, settlement_price=PRICE), Reason.MALFORMED),  # type: ignore[arg-type]
        (c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE + 50), Reason.MARK_NOT_SETTLEMENT_PRICE),
    ],
    ids=["unknown-symbol", "perpetual", "before-expiry", "zero-price", "negative-price", "above-max-price",
         "float-price", "bool-price", "symbol-not-a-string", "time-not-an-int", "mark-elsewhere"],
)
def test_set_004_a_bad_settlement_is_rejected_with_its_reason_and_changes_nothing(
    command: c.Settle, reason: Reason
) -> None:
    engine = market()
    time_ms = command.time_ms if type(command.time_ms) is int else engine.time_ms
    expected_hash = reference_after_tick(engine, time_ms)
    events = engine.process(command)
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [(Rejected, reason)]
    assert engine.state_hash() == expected_hash


def test_set_004_a_second_settlement_is_rejected_and_changes_nothing() -> None:
    engine = market()
    run(engine, c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    expected_hash = reference_after_tick(engine, EXPIRY + 1)
    events = engine.process(c.Settle(time_ms=EXPIRY + 1, symbol=SYMBOL, settlement_price=PRICE + 50))
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [(Rejected, Reason.CONTRACT_SETTLED)]
    assert engine.state_hash() == expected_hash


def hand_short_to_liquidation_engine(engine: Engine) -> tuple[int, int]:
    """Move account 4's short to the liquidation engine (as a takeover would), open interest kept balanced."""
    assert engine.pending == []  # the scenario takes nothing over: build one directly from a trader's position
    ps = engine.accounts[4].positions[SYMBOL]
    engine.pending.append(Pending(0, 4, SYMBOL, ps.qty, ps.cost, MARK))
    held = (ps.qty, ps.cost)
    ps.qty, ps.cost = 0, 0
    del engine.holders[SYMBOL][4]
    engine.liq.remove(4, SYMBOL)  # flat: out of the liquidation index, as a takeover's index refresh leaves it
    return held


def test_set_003_a_position_held_by_the_liquidation_engine_settles_into_the_insurance_fund() -> None:
    engine = market()
    run(engine, c.DepositInsurance(time_ms=EXPIRY - 1, asset="XBt", amount=10 * 100_000_000))
    held_qty, held_cost = hand_short_to_liquidation_engine(engine)
    fund = engine.insurance("XBt")
    run(engine, c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    _, realised, _ = compute_position_settlement(INST, Position(qty=held_qty, cost=held_cost), PRICE)
    assert (engine.insurance("XBt") - fund, engine.positions(LIQUIDATOR)) == (realised, {})


def test_settlement_the_insurance_fund_cannot_bear_is_rejected_and_changes_nothing() -> None:
    engine = market()
    hand_short_to_liquidation_engine(engine)  # a short taken over at 50,000 loses at the higher settlement price
    assert (engine.insurance("XBt"), PRICE > MARK) == (0, True)
    expected_hash = reference_after_tick(engine, EXPIRY)
    events = engine.process(c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE))
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [(Rejected, Reason.INSURANCE_SHORTFALL)]
    assert engine.state_hash() == expected_hash


def test_settlement_journals_and_replays_to_the_same_state_and_events(tmp_path: Any) -> None:
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    events: list[Any] = []
    commands = [
        c.PriceUpdate(time_ms=OPEN, symbol=SYMBOL, mark_price=MARK, index_price=MARK),
        *(c.VerifyAccount(time_ms=OPEN, account=account) for account in (1, 2)),
        *(c.Deposit(time_ms=OPEN, account=account, asset="XBt", amount=100_000_000) for account in (1, 2)),
        c.PlaceOrder(time_ms=OPEN, account=2, symbol=SYMBOL, side="Sell", order_qty=10_000, price=MARK),
        c.PlaceOrder(time_ms=OPEN, account=1, symbol=SYMBOL, side="Buy", order_qty=10_000, price=MARK),
        c.Settle(time_ms=OPEN, symbol=SYMBOL, settlement_price=PRICE),  # refused: the mark is not there yet
        c.PriceUpdate(time_ms=EXPIRY - 1, symbol=SYMBOL, mark_price=PRICE, index_price=PRICE),
        c.Settle(time_ms=EXPIRY - 1, symbol=SYMBOL, settlement_price=PRICE),
        c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=PRICE),
        c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=5.5),  # type: ignore[arg-type]
    ]
    for command in commands:
        events.extend(durable.submit(command))
    durable.close()
    _, report, _ = recover(str(tmp_path / "journal.log"), command_codec())
    assert (report.state_hash, report.event_hash, report.replayed) == (
        durable.exchange.state_hash(),
        event_stream_hash(events),
        len(commands),
    )
    assert durable.exchange.settled == {SYMBOL: PRICE}


def test_set_005_settlement_waits_for_the_waterfall_at_the_settlement_price() -> None:
    """Two 50x longs fall below maintenance at the settlement price; one liquidation per update.

    The first update liquidates one and carries the other: Settle is refused
    (LiquidationPending) and changes nothing; the next update liquidates the
    second; then Settle closes everything and no wallet is negative.
    """
    engine = Engine(max_liquidations_per_update=1)
    lot = INST.lot_size
    low = MARK - MARK * 3 // 100  # 3% down
    low -= low % INST.tick_size
    run(engine, c.PriceUpdate(time_ms=OPEN, symbol=SYMBOL, mark_price=MARK, index_price=MARK))
    run(engine, c.DepositInsurance(time_ms=OPEN, asset="XBt", amount=100_000_000))
    for account, amount in ((1, 10**10), (2, 10**10), (5, 4_500), (6, 4_500)):
        run(engine, c.VerifyAccount(time_ms=OPEN, account=account))
        run(engine, c.Deposit(time_ms=OPEN, account=account, asset="XBt", amount=amount))
    run(engine, c.PlaceOrder(time_ms=OPEN, account=1, symbol=SYMBOL, side="Sell", order_qty=2 * lot, price=MARK))
    for account in (5, 6):
        run(engine, c.SetLeverage(time_ms=OPEN, account=account, symbol=SYMBOL, leverage_hundredths=5_000))
        run(engine, c.PlaceOrder(time_ms=OPEN, account=account, symbol=SYMBOL, side="Buy", order_qty=lot, price=MARK))
    run(engine, c.PlaceOrder(time_ms=OPEN, account=2, symbol=SYMBOL, side="Buy", order_qty=10 * lot, price=low))
    run(engine, c.PriceUpdate(time_ms=EXPIRY, symbol=SYMBOL, mark_price=low, index_price=low))
    assert sorted(a for a in (5, 6) if engine.positions(a).get(SYMBOL, Position()).qty != 0) in ([5], [6])
    expected_hash = reference_after_tick(engine, EXPIRY)
    events = engine.process(c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=low))
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [(Rejected, Reason.LIQUIDATION_PENDING)]
    assert engine.state_hash() == expected_hash
    run(engine, c.PriceUpdate(time_ms=EXPIRY, symbol=SYMBOL, mark_price=low, index_price=low))
    run(engine, c.Settle(time_ms=EXPIRY, symbol=SYMBOL, settlement_price=low))
    wallets = {account: engine.wallet(account, "XBt") for account in (1, 2, 5, 6)}
    assert {account: wallet for account, wallet in wallets.items() if wallet < 0} == {}
    assert (engine.settled, {a: engine.positions(a) for a in (1, 2, 5, 6)}) == ({SYMBOL: low}, {1: {}, 2: {}, 5: {}, 6: {}})
