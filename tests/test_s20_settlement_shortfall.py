"""SET-007: a held close-out the insurance fund cannot bear at the settlement price (redteam27_1).

The scenario (XBTZ26, /work/coord/repro20/redteam27_1.py): A (1,000,000 XBt, isolated 50x) buys 1,000 from B at
50,000.00; the mark slips to 49,400.00; B buys back at 48,800.00 from C, who sells 2,000 there (an honest long 4 buys
the other 1,000); the mark reaches 48,800.00 and A is taken over (bankruptcy 49,020.00), held: no bid, and ADL-003
excludes C (entered at 48,800.00, it would lose at 49,020.00).  After expiry at S = 48,800.00 the held long loses
9,200 XBt, the fund holds 1,550: `Settle` is refused, and nothing but an insurance deposit can change that.

On main before SET-007 the refusal said "run the waterfall" (a remedy that does not exist after expiry) and named no
amount; the first test fails there.  The opposite side's profit at S is 0 (C entered at S; B, who realised the gain,
is flat), so a haircut of the remaining holders' settlement profits cannot cover the 7,650 either: the figure is
asserted here because it is why SET-007 names a deposit instead of socialising the loss.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all
from perpspec.rules.position import apply_fill

Z = "XBTZ26"
S = 4_880_000


def _do(engine: Engine, cmd: object, want: bool = True) -> list[object]:
    events = engine.process(cmd)  # type: ignore[arg-type]
    found = {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v}
    assert not found, found
    if want:
        assert isinstance(events[-1], Accepted), (cmd, events[-1])
    return list(events)


def _held_at_expiry(extra_fund: int = 0) -> tuple[Engine, int]:
    engine = Engine()
    expiry = engine.instrument_map[Z].expiry_ms
    assert expiry is not None
    t = expiry - 3_600_000
    _do(engine, c.PriceUpdate(time_ms=t, symbol=Z, mark_price=5_000_000, index_price=5_000_000))
    for account in (1, 2, 3, 4):
        _do(engine, c.VerifyAccount(time_ms=t, account=account))
        _do(engine, c.Deposit(time_ms=t, account=account, asset="XBt", amount=10**8 if account != 1 else 10**6))
    _do(engine, c.SetLeverage(time_ms=t, account=1, symbol=Z, leverage_hundredths=5000))
    _do(engine, c.PlaceOrder(time_ms=t, account=2, symbol=Z, side="Sell", order_qty=1000, price=5_000_000))
    _do(engine, c.PlaceOrder(time_ms=t, account=1, symbol=Z, side="Buy", order_qty=1000, price=5_000_000))
    _do(engine, c.PriceUpdate(time_ms=t + 1, symbol=Z, mark_price=4_940_000, index_price=4_940_000))
    _do(engine, c.PlaceOrder(time_ms=t + 2, account=3, symbol=Z, side="Sell", order_qty=2000, price=S))
    _do(engine, c.PlaceOrder(time_ms=t + 2, account=2, symbol=Z, side="Buy", order_qty=1000, price=S))
    _do(engine, c.PlaceOrder(time_ms=t + 2, account=4, symbol=Z, side="Buy", order_qty=1000, price=S))
    _do(engine, c.PriceUpdate(time_ms=t + 3, symbol=Z, mark_price=S, index_price=S))
    if extra_fund:
        _do(engine, c.DepositInsurance(time_ms=t + 4, asset="XBt", amount=extra_fund))
    _do(engine, c.PriceUpdate(time_ms=expiry, symbol=Z, mark_price=S, index_price=S))
    return engine, expiry


def test_the_refusal_names_the_exact_deposit_and_that_deposit_settles() -> None:
    engine, expiry = _held_at_expiry()
    held = [(p.qty, p.takeover_price) for p in engine.waterfall.pending if p.symbol == Z]
    assert (held, engine.ledger.insurance_funds["XBt"]) == ([(1000, 4_902_000)], 1_550)
    inst = engine.instrument_map[Z]
    # the opposite side (and everyone still holding) has no profit at S: a haircut could not cover the gap
    profits = {a: apply_fill(inst, engine.accounts[a].positions[Z].position, -engine.accounts[a].positions[Z].qty, S)[1]
               for a in sorted(engine.ledger.holders[Z])}
    assert profits == {3: 0, 4: 0}
    for k in range(3):  # the waterfall at S, then Settle: refused every time, naming the same remedy
        _do(engine, c.PriceUpdate(time_ms=expiry + k, symbol=Z, mark_price=S, index_price=S))
        reference = Engine.from_snapshot(engine.snapshot())
        reference.seq += 1  # a refusal takes only its event's sequence number (tests/test_engine_settlement.py)
        before = reference.state_hash()
        refused = _do(engine, c.Settle(time_ms=expiry + k, symbol=Z, settlement_price=S), want=False)
        assert len(refused) == 1, refused
        assert isinstance(refused[0], Rejected)
        assert refused[0].reason == Reason.INSURANCE_SHORTFALL
        assert refused[0].text == (
            "the held close-outs lose 9200 XBt at the settlement price, the fund holds 1550: "
            "a DepositInsurance of 7650 XBt lets this Settle through (SET-007)"
        )
        assert "run the waterfall" not in refused[0].text
        assert engine.state_hash() == before  # refused: nothing changed
    _do(engine, c.DepositInsurance(time_ms=expiry + 9, asset="XBt", amount=7_649))
    one_short = _do(engine, c.Settle(time_ms=expiry + 9, symbol=Z, settlement_price=S), want=False)[-1]
    assert isinstance(one_short, Rejected)
    assert "a DepositInsurance of 1 XBt" in one_short.text
    _do(engine, c.DepositInsurance(time_ms=expiry + 10, asset="XBt", amount=1))
    _do(engine, c.Settle(time_ms=expiry + 10, symbol=Z, settlement_price=S))
    assert engine.ledger.insurance_funds["XBt"] == 0  # 1,550 + 7,650 deposited − 9,200 drawn
    assert not [p for p in engine.waterfall.pending if p.symbol == Z]
    assert all(engine.accounts[a].positions[Z].qty == 0 for a in (1, 2, 3, 4) if Z in engine.accounts[a].positions)


def test_a_fund_that_bears_the_held_loss_settles_without_a_deposit() -> None:
    """Regression guard (passes on main too): the fund with 7,650 more settles at once and ends at exactly 0."""
    engine, expiry = _held_at_expiry(extra_fund=7_650)
    assert engine.ledger.insurance_funds["XBt"] == 9_200
    _do(engine, c.Settle(time_ms=expiry, symbol=Z, settlement_price=S))
    assert engine.ledger.insurance_funds["XBt"] == 0


def test_the_shortfall_rule_on_its_edges() -> None:
    # imported here, so that the other tests run on main before SET-007 too
    from perpspec.rules.settlement import compute_settlement_shortfall

    cases = ((1_550, -9_200), (9_200, -9_200), (9_201, -9_200), (0, 5), (0, -1))
    assert [compute_settlement_shortfall(fund, held) for fund, held in cases] == [7_650, 0, 0, 0, 1]
