"""MRG-061 on a new order MRG-060 charges nothing: an instrument without fees (helper mut18, session 17; a hand
mutant of ``OrderEntry.check_entry``'s session-17 line).

With the shipped fees every opening contract carries a commission reserve, so MRG-060 is > 0 for any new order that
opens contracts and ``order_requirement``'s second branch is reached only by AmendOrder.  An instrument file may set
``takerFee`` and ``makerFee`` to 0 (rules/instrument_file.py allows it), and then a new inverse offer netted under the
owner's larger resting bids (MRG-044: the offers are charged net of the bids) costs MRG-060 nothing, while its fill
still adds the chosen tier's difference to the pool's maintenance.  ``check_entry`` must charge it that extra; the
mutant adding the extra only when MRG-060 is > 0 (the code before session 17) accepted the offer with nothing free.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument import FeeTier
from perpspec.rules.instrument_file import load_instrument
from tests.test_s16_chosen_tier_orders import MAKER, OWNER, XBT_MARK, X, ok


def test_mrg_061_a_new_offer_mrg_060_charges_nothing_still_pays_its_fills_chosen_tier_extra() -> None:
    free = FeeTier(adv_usd=0, maker_fee_ppm=0, taker_fee_ppm=0)
    inst = attrs.evolve(load_instrument(X), maker_fee_ppm=0, taker_fee_ppm=0, fee_tiers=(free,))
    engine = Engine({X: inst})
    for who, amount in ((OWNER, 20_000_000), (MAKER, 10**13)):
        ok(engine, c.VerifyAccount(time_ms=0, account=who))
        ok(engine, c.Deposit(time_ms=0, account=who, asset="XBt", amount=amount))
    ok(engine, c.PriceUpdate(time_ms=0, symbol=X, mark_price=XBT_MARK, index_price=XBT_MARK))
    ok(engine, c.PlaceOrder(time_ms=1, account=OWNER, symbol=X, side="Buy", order_qty=200_000, price=4_500_000))
    ok(engine, c.SetRiskLimit(time_ms=1, account=OWNER, symbol=X, risk_limit=inst.risk_limit + 5 * inst.risk_step))
    account = engine.accounts[OWNER]
    ps = account.positions[X]
    offer = c.PlaceOrder(time_ms=1, account=OWNER, symbol=X, side="Sell", order_qty=100_000, price=5_500_000)
    extra = engine.entry._chosen_tier_extra(inst, ps, -100_000, 5_500_000)
    assert extra == 4_545_450
    free_now = engine.available(OWNER, "XBt") - engine.risk.held_tier_extras(account, "XBt")
    assert 0 < free_now < extra
    for command in (offer, offer._replace(cl_ord_id="general")):
        [refused] = engine.process(command)
        assert isinstance(refused, Rejected)
        assert refused.reason is Reason.INSUFFICIENT_MARGIN
        assert refused.text == f"needs {extra}, available {free_now}"
    assert list(ps.orders) == [1]  # the bid alone rests
