"""ACC-007: hidden orders, and icebergs whose hidden part trades, pay the taker rate (redteam17 find 3).

BitMEX (support article 6909929283997, "What Fees Do Hidden and Iceberg Orders Pay on BitMEX"): "Hidden orders on
BitMEX always incur the taker fee, regardless of execution type"; an iceberg's displayed portion pays the maker fee
when it executes on its own, but "if the displayed and hidden portions execute in the same transaction, both pay
taker fees".  Before the rule every resting order was charged its maker rate: in ETHUSD (maker -0.025%, taker
0.075%) a hidden seller of 10,000 contracts was paid a rebate of 750,000 instead of paying 2,250,000
(/work/coord/repro17/redteam17_3.py).

The scenarios run through every sweep the engine has: a plain limit order from a cross position (the lean sweep,
``entry_sweep.CrossGuard``), IOC and market orders (``Fills.sweep`` with the kernel guard), a FillOrKill (its dry run
and its sweep), an instrument without proved kernels (the generic rules guard) and a spot pair.  Each checks the
maker's execComm against ACC-002 at the rate ACC-007 gives, that the execution still says AddedLiquidity, that the
taker's commission is unchanged, and that the fee pool received exactly the commissions (INV-CONSERVATION).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.proofs.known_bad import compute_resting_fee_ppm_maker_always
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all
from perpspec.rules.position import compute_commission, compute_resting_fee_ppm

E = "ETHUSD"
PRICE = 300_000
ETH = load_instrument(E)
MAKER, TAKER = ETH.maker_fee_ppm, ETH.taker_fee_ppm  # -250, 750
SPOT = load_instrument(str(Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"))


def _engine(inst: Instrument = ETH) -> Engine:
    engine = Engine({inst.symbol: inst})
    engine.track_steps = True
    engine.process(c.PriceUpdate(time_ms=0, symbol=inst.symbol, mark_price=PRICE, index_price=PRICE))
    for account in (1, 2, 3, 4):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=inst.settl_currency, amount=10**11))
    return engine


def _ok(engine: Engine, command: Any) -> list[Any]:
    events = engine.process(command)
    assert isinstance(events[-1], Accepted), (command, events[-1])
    return events


def _rest(engine: Engine, account: int, qty: int, display: int | None, side: str = "Sell", symbol: str = E) -> int:
    events = _ok(engine, c.PlaceOrder(time_ms=1, account=account, symbol=symbol, side=side, order_qty=qty,
                                      price=PRICE, display_qty=display))
    order_id: int = events[-1].order_id
    return order_id


def _take(engine: Engine, qty: int, symbol: str = E, side: str = "Buy", **kwargs: Any) -> list[Execution]:
    fees_before = dict(engine.ledger.fees)
    events = _ok(engine, c.PlaceOrder(time_ms=2, account=1, symbol=symbol, side=side, order_qty=qty, **kwargs))
    trades = [x for x in events if isinstance(x, Execution) and x.exec_type == "Trade"]
    # the fee pool received exactly the commissions of both sides; INV-CONSERVATION and the others hold
    asset = engine.instrument_map[symbol].settl_currency
    assert engine.ledger.fees.get(asset, 0) - fees_before.get(asset, 0) == sum(x.exec_comm for x in trades)
    assert {key: found for key, found in check_all(engine, engine.step_info(events)).items() if found} == {}
    return trades


def _comm(qty: int, fee_ppm: int, inst: Instrument = ETH) -> int:
    return compute_commission(compute_notional(inst, qty, PRICE), fee_ppm)


def _of(trades: list[Execution], order_id: int) -> list[tuple[int, int, str]]:
    return [(x.last_qty, x.exec_comm, x.last_liquidity_ind) for x in trades if x.order_id == order_id]


def _taker_side(trades: list[Execution]) -> list[tuple[int, int, str]]:
    return [(x.last_qty, x.exec_comm, x.last_liquidity_ind) for x in trades if x.account == 1]


TAKERS: dict[str, dict[str, Any]] = {
    "limit (lean sweep)": {"price": PRICE},
    "IOC": {"price": PRICE, "time_in_force": "ImmediateOrCancel"},
    "market": {"ord_type": "Market"},
    "FillOrKill": {"price": PRICE, "time_in_force": "FillOrKill"},
}


@pytest.mark.parametrize("taker", list(TAKERS), ids=list(TAKERS))
def test_acc_007_hidden_maker_pays_the_taker_rate_every_sweep(taker: str) -> None:
    engine = _engine()
    hidden = _rest(engine, 2, 10_000, 0)
    trades = _take(engine, 10_000, **TAKERS[taker])
    assert _of(trades, hidden) == [(10_000, _comm(10_000, TAKER), "AddedLiquidity")]
    assert _of(trades, hidden)[0][1] == 2_250_000  # the reproducer's figure: no rebate of 750,000
    assert _taker_side(trades) == [(10_000, _comm(10_000, TAKER), "RemovedLiquidity")]


def test_acc_007_hidden_maker_filled_in_part_pays_the_taker_rate() -> None:
    engine = _engine()
    hidden = _rest(engine, 2, 10_000, 0)
    trades = _take(engine, 400, price=PRICE)
    assert _of(trades, hidden) == [(400, _comm(400, TAKER), "AddedLiquidity")]


def test_acc_007_plain_maker_keeps_the_maker_rebate() -> None:
    engine = _engine()
    plain = _rest(engine, 2, 10_000, None)
    trades = _take(engine, 10_000, price=PRICE)
    assert _of(trades, plain) == [(10_000, _comm(10_000, MAKER), "AddedLiquidity")]
    assert _of(trades, plain)[0][1] < 0


@pytest.mark.parametrize("taker", list(TAKERS), ids=list(TAKERS))
def test_acc_007_iceberg_slice_taken_alone_pays_the_maker_rate(taker: str) -> None:
    engine = _engine()
    iceberg = _rest(engine, 2, 10_000, 1_000)
    trades = _take(engine, 1_000, **TAKERS[taker])  # exactly the displayed slice: the hidden part does not trade
    assert _of(trades, iceberg) == [(1_000, _comm(1_000, MAKER), "AddedLiquidity")]
    trades = _take(engine, 600, **TAKERS[taker])  # the next slice, in part
    assert _of(trades, iceberg) == [(600, _comm(600, MAKER), "AddedLiquidity")]


@pytest.mark.parametrize("taker", list(TAKERS), ids=list(TAKERS))
def test_acc_007_iceberg_displayed_and_hidden_in_one_order_pay_the_taker_rate(taker: str) -> None:
    engine = _engine()
    iceberg = _rest(engine, 2, 10_000, 1_000)
    trades = _take(engine, 2_500, **TAKERS[taker])
    # the slice, then refreshed slices at the back of the (otherwise empty) queue: all at the taker rate
    assert _of(trades, iceberg) == [
        (1_000, _comm(1_000, TAKER), "AddedLiquidity"),
        (1_000, _comm(1_000, TAKER), "AddedLiquidity"),
        (500, _comm(500, TAKER), "AddedLiquidity"),
    ]
    assert _taker_side(trades) == [(qty, _comm(qty, TAKER), "RemovedLiquidity") for qty in (1_000, 1_000, 500)]


def test_acc_007_iceberg_taken_whole_pays_the_taker_rate_on_every_fill() -> None:
    engine = _engine()
    iceberg = _rest(engine, 2, 10_000, 1_000)
    trades = _take(engine, 10_000, price=PRICE)
    assert _of(trades, iceberg) == [(1_000, _comm(1_000, TAKER), "AddedLiquidity")] * 10


def test_acc_007_iceberg_last_slice_has_nothing_hidden_and_pays_the_maker_rate() -> None:
    engine = _engine()
    iceberg = _rest(engine, 2, 1_500, 1_000)
    trades = _take(engine, 1_000, price=PRICE)  # the first slice alone: maker
    assert _of(trades, iceberg) == [(1_000, _comm(1_000, MAKER), "AddedLiquidity")]
    trades = _take(engine, 2_000, price=PRICE)  # 500 left, all displayed: nothing hidden trades
    assert _of(trades, iceberg) == [(500, _comm(500, MAKER), "AddedLiquidity")]


def test_acc_007_decision_i_iceberg_reached_with_more_than_its_slice_pays_taker_on_the_slice_alone() -> None:
    """[I]: the rate is decided when the sweep first reaches the iceberg.  The incoming 1,500 is more than the
    1,000 displayed, so the iceberg pays the taker rate, though the plain order queued behind it takes the other
    500 before the refreshed slice comes round (BitMEX does not say; the reading goes toward the fee pool)."""
    engine = _engine()
    iceberg = _rest(engine, 2, 10_000, 1_000)
    plain = _rest(engine, 3, 2_000, None)
    trades = _take(engine, 1_500, price=PRICE)
    assert _of(trades, iceberg) == [(1_000, _comm(1_000, TAKER), "AddedLiquidity")]
    assert _of(trades, plain) == [(500, _comm(500, MAKER), "AddedLiquidity")]


def test_acc_007_hidden_orders_trade_after_displayed_ones_each_at_its_own_rate() -> None:
    """One account's plain and hidden orders at one price: per order, not per account."""
    engine = _engine()
    hidden = _rest(engine, 2, 700, 0)
    plain = _rest(engine, 2, 300, None)
    trades = _take(engine, 1_000, price=PRICE)
    assert _of(trades, plain) == [(300, _comm(300, MAKER), "AddedLiquidity")]
    assert _of(trades, hidden) == [(700, _comm(700, TAKER), "AddedLiquidity")]


def test_acc_007_a_hidden_order_that_crosses_on_entry_is_the_taker() -> None:
    engine = _engine()
    plain = _rest(engine, 2, 1_000, None)
    trades = _take(engine, 1_000, price=PRICE, display_qty=0)
    assert _taker_side(trades) == [(1_000, _comm(1_000, TAKER), "RemovedLiquidity")]
    assert _of(trades, plain) == [(1_000, _comm(1_000, MAKER), "AddedLiquidity")]


def test_acc_007_generic_rules_path_without_kernels() -> None:
    """An instrument whose parameters differ from the kernels' runs the generic rules guard (Fills.make_guard)."""
    inst = load_instrument(E, {"takerFee": "0.001"})
    engine = _engine(inst)
    hidden = _rest(engine, 2, 2_000, 0)
    iceberg = _rest(engine, 3, 3_000, 1_000)
    plain = _rest(engine, 4, 500, None)
    trades = _take(engine, 5_000, price=PRICE, time_in_force="ImmediateOrCancel")
    # displayed first: the iceberg's slice (reached with 5,000 > 1,000: taker), the plain order, the iceberg's
    # refreshed slices; then the hidden order
    assert _of(trades, iceberg) == [(1_000, _comm(1_000, 1_000, inst), "AddedLiquidity")] * 3
    assert _of(trades, plain) == [(500, _comm(500, MAKER, inst), "AddedLiquidity")]
    assert _of(trades, hidden) == [(1_500, _comm(1_500, 1_000, inst), "AddedLiquidity")]


def test_acc_007_spot_hidden_maker_pays_the_taker_rate() -> None:
    engine = Engine({"XBT_USDT": SPOT})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=PRICE, index_price=PRICE))
    for account, asset in ((1, "XBt"), (2, "USDt"), (3, "USDt")):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset=asset, amount=10**11))
    hidden = _rest(engine, 2, 1_000, 0, side="Buy", symbol="XBT_USDT")
    plain = _rest(engine, 3, 1_000, None, side="Buy", symbol="XBT_USDT")
    trades = _take(engine, 2_000, symbol="XBT_USDT", side="Sell", price=PRICE)
    assert _of(trades, plain) == [(1_000, _comm(1_000, SPOT.maker_fee_ppm, SPOT), "AddedLiquidity")]
    assert _of(trades, hidden) == [(1_000, _comm(1_000, SPOT.taker_fee_ppm, SPOT), "AddedLiquidity")]


def test_acc_007_serve_commission_column_reads_the_taker_rate() -> None:
    """serve's Execution row derives ``commission`` from execComm / |execCost|: the taker rate for a hidden fill."""
    from perpspec.engine.serve.units import ratio_out
    from perpspec.rules.contract import compute_value

    engine = _engine()
    hidden = _rest(engine, 2, 10_000, 0)
    (maker_exec,) = [x for x in _take(engine, 10_000, price=PRICE) if x.order_id == hidden]
    exec_cost = compute_value(ETH, -10_000, PRICE)
    assert ratio_out(maker_exec.exec_comm, abs(exec_cost), 6) == ratio_out(TAKER, 10**6, 6)


# -- the rule itself, on plain ints, and its known-bad variant ---------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "leaves", "incoming", "rate"),
    [
        (0, 10_000, 1, TAKER),  # hidden
        (0, 10_000, 20_000, TAKER),
        (5_000, 5_000, 20_000, MAKER),  # plain: displays all it holds
        (1_000, 10_000, 1_000, MAKER),  # iceberg, the slice alone
        (1_000, 10_000, 999, MAKER),
        (1_000, 10_000, 1_001, TAKER),  # iceberg, into the hidden part
        (1_000, 1_000, 5_000, MAKER),  # iceberg's last slice: nothing hidden
        (400, 10_000, 5_000, TAKER),  # a slice taken in part earlier, then past it
    ],
)
def test_acc_007_rate_table(shown: int, leaves: int, incoming: int, rate: int) -> None:
    assert compute_resting_fee_ppm(shown, leaves, incoming, MAKER, TAKER) == rate


def test_acc_007_known_bad_maker_rate_for_hidden_is_caught() -> None:
    assert (
        compute_resting_fee_ppm_maker_always(0, 10_000, 10_000, MAKER, TAKER),
        compute_resting_fee_ppm(0, 10_000, 10_000, MAKER, TAKER),
    ) == (MAKER, TAKER)


def test_acc_007_known_bad_counterexample_replays_on_both_rules() -> None:
    from perpspec.proofs.registry import REGISTRY, discover, run_obligation

    discover()
    outcome = run_obligation(REGISTRY["KNOWN-BAD/ACC-007/maker-rate-for-hidden"])
    assert outcome.result is not None, outcome.error
    found = outcome.result.counterexample
    assert found is not None, outcome.result
    args = [found.get(name) for name in ("shown_qty", "leaves_qty", "incoming_qty", "maker_fee_ppm", "taker_fee_ppm")]
    taker = args[4]
    assert (compute_resting_fee_ppm_maker_always(*args) != taker, compute_resting_fee_ppm(*args)) == (True, taker)


def test_acc_007_engine_log_of_hidden_and_iceberg_fills_audits_clean_at_rules_level() -> None:
    """The auditor (``perpspec audit --rules``) accepts the taker rate on a resting fill (ACC-007), and still
    refuses a rate that is neither the maker's nor the taker's."""
    from perpspec.engine.audit import RULES, audit_rows, load_mapping
    from tests.test_audit import engine_log

    commands: list[Any] = [c.PriceUpdate(time_ms=0, symbol=E, mark_price=PRICE, index_price=PRICE)]
    for account in (1, 2, 3):
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**11)]
    commands += [
        c.PlaceOrder(time_ms=1, account=2, symbol=E, side="Sell", order_qty=3_000, price=PRICE, display_qty=0),
        c.PlaceOrder(time_ms=1, account=3, symbol=E, side="Sell", order_qty=5_000, price=PRICE, display_qty=1_000),
        c.PlaceOrder(time_ms=2, account=1, symbol=E, side="Buy", order_qty=1_000, price=PRICE),  # the slice: maker
        c.PlaceOrder(time_ms=3, account=1, symbol=E, side="Buy", order_qty=6_000, price=PRICE),  # taker rates
    ]
    rows = engine_log(commands, {E: ETH})
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), {E: ETH}, RULES)
    assert [f.one_line() for f in result.findings] == []
    added = [i for i, row in enumerate(rows) if row.get("lastLiquidityInd") == "AddedLiquidity"]
    assert len(added) == 6  # 1,000 @ maker, then 4 × 1,000 of the iceberg and 2,000 of the hidden order @ taker
    index = added[-1]
    faulty = [*rows[:index], {**rows[index], "execComm": rows[index]["execComm"] + 1}, *rows[index + 1:]]
    result = audit_rows(enumerate(faulty, 1), load_mapping("perpspec"), {E: ETH}, RULES)
    assert ("ACC-002", index + 1) in [(f.id, f.line) for f in result.findings]
