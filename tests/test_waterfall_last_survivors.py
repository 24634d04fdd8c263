"""The engine waterfall's and order entry's last mutation survivors of issue 13, pinned through public commands.

Found by ``python -m tests.mutation engine/core/waterfall.py`` (see docs/mutation-engine.md):

* INS-011: a pool's residual margin of exactly one satoshi moves to the fund and is reported as a ``residual``
  (a positive amount), not as a ``draw``.

ETHUSD with a tick of one price unit and a taker fee of 1 ppm: one contract bought at 3,000.00 by an account
holding 12,000 XBt is taken over at 2,900.00 and leaves exactly 1 XBt of margin.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import InsuranceMovement, Liquidation
from perpspec.rules.instrument_file import load_instrument

ETHUSD = load_instrument("ETHUSD")
XBT = 10**8


def _fine(taker_fee_ppm: int) -> object:
    """ETHUSD with a tick of one price unit and the given taker fee (every fee tier)."""
    tier = attrs.evolve(ETHUSD.fee_tiers[0], taker_fee_ppm=taker_fee_ppm)
    return attrs.evolve(ETHUSD, tick_size=1, taker_fee_ppm=taker_fee_ppm, fee_tiers=(tier,))


def _one_contract_long(instrument: object, deposit: int) -> Engine:
    """Account 1 (``deposit`` XBt) bought one contract at 3,000.00 from account 2 (1,000 XBT), mark 3,000.00."""
    engine = Engine({"ETHUSD": instrument})  # type: ignore[dict-item]
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    for account, amount in ((1, deposit), (2, 1_000 * XBT)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000))
    return engine


def test_a_residual_of_one_satoshi_is_reported_as_a_residual() -> None:
    # INS-011: what is left of the pool's margin after the take-over goes to the fund, labelled by its sign
    engine = _one_contract_long(_fine(1), 12_000)
    events = engine.process(c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=290_000, index_price=290_000))
    records = [e.record for e in events if isinstance(e, RuleEvent)]
    assert [r.residual_margin for r in records if isinstance(r, Liquidation)] == [1]
    assert [(r.kind, r.amount, r.rule_id) for r in records if isinstance(r, InsuranceMovement)] == [
        ("residual", 1, "INS-011")
    ]
    assert engine.insurance_funds["XBt"] == 1
