"""SET-006: the settlement fee is charged only as far as the holder's pool equity at the settlement price reaches.

The rule function at its boundaries, the rules model (``process_settlement`` with per-holder pool equities)
conserving with the capped fee, and the engine's ``Settle`` agreeing with the model on a capped holder.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.position import FLAT, Position
from perpspec.rules.settlement import (
    InstrumentSettled,
    compute_settlement_fee,
    compute_settlement_fee_charged,
    process_settlement,
)

XBTZ26 = load_instrument("XBTZ26")
assert XBTZ26.expiry_ms is not None
EXPIRY = XBTZ26.expiry_ms
START = EXPIRY - XBTZ26.settlement_twap_ms
ENTRY, SETTLE = 5_000_000, 400_000  # 50,000.00 -> 4,000.00: the fee (125,000) exceeds the long's maintenance


def test_set_006_the_fee_charged_at_its_boundaries() -> None:
    """SET-006: equity < 0 -> nothing; = 0 -> nothing; between 0 and the fee -> the equity; ≥ fee -> the fee."""
    fee = 125_000
    cases = (-5_000, -1, 0, 1, 120_000, 124_999, 125_000, 125_001, 10**12)
    assert [compute_settlement_fee_charged(fee, equity) for equity in cases] == [
        0, 0, 0, 1, 120_000, 124_999, 125_000, 125_000, 125_000
    ]
    assert [compute_settlement_fee_charged(0, equity) for equity in (-1, 0, 1)] == [0, 0, 0]


@given(fee=st.integers(min_value=0, max_value=10**15), equity=st.integers(min_value=-(10**15), max_value=10**15))
def test_set_006_the_fee_charged_never_takes_a_pool_below_zero(fee: int, equity: int) -> None:
    """SET-006: 0 ≤ charged ≤ fee; a pool at or above zero stays there; a pool that can bear the fee pays it all."""
    charged = compute_settlement_fee_charged(fee, equity)
    assert (0 <= charged <= fee, equity < 0 or equity - charged >= 0, equity < fee or charged == fee) == (
        True, True, True
    )


def _holders() -> tuple[tuple[int, Position], ...]:
    cost = compute_value(XBTZ26, 10_000, ENTRY)
    return ((2, Position(qty=10_000, cost=cost)), (3, Position(qty=-10_000, cost=-cost)))


def test_set_006_the_model_charges_each_holder_up_to_its_pool_equity_and_conserves() -> None:
    """SET-004/006: the long (equity 120,000) pays 120,000 of its 125,000 fee, 5,000 forgone; the short (equity
    10**10) pays 125,000; the fee pool receives 245,000 and Σ(Δwallet − Δcost) + Δfee pool = 0.  Without
    equities (or for a holder not listed) the whole fee is charged, as before."""
    holders = _holders()
    assert compute_settlement_fee(XBTZ26, 10_000, SETTLE) == 125_000
    capped = process_settlement(XBTZ26, holders, EXPIRY, ((START, SETTLE),), {2: 120_000, 3: 10**10})
    uncapped = process_settlement(XBTZ26, holders, EXPIRY, ((START, SETTLE),))
    listed_one = process_settlement(XBTZ26, holders, EXPIRY, ((START, SETTLE),), {2: -7})
    assert isinstance(capped, InstrumentSettled)
    assert isinstance(uncapped, InstrumentSettled)
    assert isinstance(listed_one, InstrumentSettled)
    assert [(row.account_id, row.fee, row.fee_forgone, row.position) for row in capped.holders] == [
        (2, 120_000, 5_000, FLAT), (3, 125_000, 0, FLAT)
    ]
    assert [row.wallet_delta for row in capped.holders] == [-230_000_000 - 120_000, 230_000_000 - 125_000]
    assert capped.fee_pool_delta == 245_000
    assert sum(row.wallet_delta for row in capped.holders) + sum(p.cost for _, p in holders) + capped.fee_pool_delta == 0
    assert ([row.fee for row in uncapped.holders], uncapped.fee_pool_delta) == ([125_000, 125_000], 250_000)
    assert ([(row.fee, row.fee_forgone) for row in listed_one.holders], listed_one.fee_pool_delta) == (
        [(0, 125_000), (125_000, 0)], 125_000
    )


def _run(engine: Engine, command: c.Command) -> list[object]:
    events: list[object] = list(engine.process(command))
    assert isinstance(events[-1], Accepted), events[-1]
    return events


def test_set_006_the_engine_settles_as_the_model_with_the_pools_equities() -> None:
    """SET-004/005/006: account 2 (230,135,000 XBt) buys 10,000 XBTZ26 cross from account 3 at 50,000.00; at
    expiry the mark and the settlement price are 4,000.00.  The engine's Settle moves each wallet and the fee
    pool exactly as ``process_settlement`` given the pools' equities before settlement (120,000 and account 3's),
    and each Settlement execution reports the fee charged (exec_comm)."""
    engine = Engine()
    for account_id, amount in ((2, 230_135_000), (3, 10**10)):
        _run(engine, c.VerifyAccount(time_ms=0, account=account_id))
        _run(engine, c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=amount))
    _run(engine, c.PriceUpdate(time_ms=START, symbol="XBTZ26", mark_price=ENTRY, index_price=ENTRY))
    _run(engine, c.PlaceOrder(time_ms=START, account=3, symbol="XBTZ26", side="Sell", order_qty=10_000, price=ENTRY))
    _run(engine, c.PlaceOrder(time_ms=START, account=2, symbol="XBTZ26", side="Buy", order_qty=10_000, price=ENTRY))
    _run(engine, c.PriceUpdate(time_ms=EXPIRY, symbol="XBTZ26", mark_price=SETTLE, index_price=SETTLE))
    holders = tuple((a, engine.positions(a)["XBTZ26"]) for a in (2, 3))
    equities = {a: engine.risk.pool_of(engine.accounts[a], "XBTZ26")[1] for a in (2, 3)}
    assert equities[2] == 120_000
    wallets, fee_pool = {a: engine.wallet(a, "XBt") for a in (2, 3)}, engine.fee_pool("XBt")
    model = process_settlement(XBTZ26, holders, EXPIRY, ((START, SETTLE),), equities)
    assert isinstance(model, InstrumentSettled)

    events = _run(engine, c.Settle(time_ms=EXPIRY, symbol="XBTZ26", settlement_price=SETTLE))

    assert {a: engine.wallet(a, "XBt") - wallets[a] for a in (2, 3)} == {
        row.account_id: row.wallet_delta for row in model.holders
    }
    assert engine.fee_pool("XBt") - fee_pool == model.fee_pool_delta == 245_000
    assert [(e.account, e.exec_comm) for e in events if isinstance(e, Execution) and e.exec_type == "Settlement"] == [
        (row.account_id, row.fee) for row in model.holders
    ] == [(2, 120_000), (3, 125_000)]
    assert engine.wallet(2, "XBt") == 0


def test_set_006_an_isolated_pool_pays_up_to_its_own_equity_not_the_accounts_wallet() -> None:
    """SET-006 for an isolated holder: account 2 (10 XBT) buys 10,000 XBTZ26 1x isolated from account 3 at
    50,000.00 and adds 223,258,000 to the pool (margin 243,288,000).  At a mark and settlement price of 3,800.00
    the pool's equity is 130,100 ≥ its maintenance 130,000, below the fee 131,579 (0.05% of 263,157,900): the
    fee charged is the isolated pool's equity, 130,100 — not what the rest of the wallet could pay — and the
    wallet moves by −243,157,900 (the loss) − 130,100."""
    engine = Engine()
    for account_id, amount in ((2, 10**9), (3, 10**10)):
        _run(engine, c.VerifyAccount(time_ms=0, account=account_id))
        _run(engine, c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=amount))
    _run(engine, c.PriceUpdate(time_ms=START, symbol="XBTZ26", mark_price=ENTRY, index_price=ENTRY))
    _run(engine, c.SetLeverage(time_ms=START, account=2, symbol="XBTZ26", leverage_hundredths=100))
    _run(engine, c.PlaceOrder(time_ms=START, account=3, symbol="XBTZ26", side="Sell", order_qty=10_000, price=ENTRY))
    _run(engine, c.PlaceOrder(time_ms=START, account=2, symbol="XBTZ26", side="Buy", order_qty=10_000, price=ENTRY))
    _run(engine, c.TransferMargin(time_ms=START, account=2, symbol="XBTZ26", amount=223_258_000))
    _run(engine, c.PriceUpdate(time_ms=EXPIRY, symbol="XBTZ26", mark_price=380_000, index_price=380_000))
    assert engine.risk.pool_of(engine.accounts[2], "XBTZ26") == (243_288_000, 130_100, 130_000, ["XBTZ26"])
    assert compute_settlement_fee(XBTZ26, 10_000, 380_000) == 131_579
    wallet = engine.wallet(2, "XBt")
    events = _run(engine, c.Settle(time_ms=EXPIRY, symbol="XBTZ26", settlement_price=380_000))
    assert [(e.account, e.exec_comm) for e in events if isinstance(e, Execution) and e.exec_type == "Settlement"] == [
        (2, 130_100), (3, 131_579)
    ]
    assert engine.wallet(2, "XBt") - wallet == -243_157_900 - 130_100
    assert engine.accounts[2].positions["XBTZ26"].iso_margin == 0
