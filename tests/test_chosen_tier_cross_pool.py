"""The owner's own command never takes a cross pool below its maintenance at the chosen risk tier (LIQ-001, MRG-064).

Found by the lead in session 8 (noticed in session 7, left then).  MRG-050's available and withdrawable
balances price a cross position at its *own* risk steps; its pool (LIQ-001) holds it at the *chosen* tier.
Order entry (``OrderEntry._chosen_tier_extra``) and SetRiskLimit (session 5's attack finding) already charge the
difference, but a withdrawal (MRG-064), a transfer into an isolated position (MRG-030), a leverage change that
sets margin aside (MRG-010) and a spot order's reservation did not: a trader short 17,600 XBTUSD at 50,000.00
with a 650 XBT risk limit (maintenance 731,060 XBt at tier 12 against 202,664 at its own tier) could withdraw
9,594,936 of 9,973,600 XBt and be left at 378,664, liquidated at the next mark update by its own withdrawal.
Now each of them is judged on the free balance less every cross position's chosen-tier extra
``posInit + posComm`` (``Risk.cross_tier_extras``), and the API's ``withdrawableMargin`` is what Withdraw accepts.
"""

from __future__ import annotations

from pathlib import Path

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.serve.rows import margin_row
from perpspec.rules.instrument_file import load_instrument

SPOT = Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"


def short_at_chosen_tier(engine: Engine, *, eth_long: bool = False) -> None:
    """Account 2 (0.1 XBT) short 17,600 XBTUSD at 50,000.00, risk limit 650 XBT; optionally an isolated 10x ETHUSD long."""
    for account, deposit in ((2, 10_000_000), (3, 10**9)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=17_600, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=17_600, price=5_000_000))
    if eth_long:
        engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
        engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=1000))
        engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=100, price=300_000))
        engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=100, price=300_000))
    assert isinstance(engine.process(c.SetRiskLimit(time_ms=0, account=2, symbol="XBTUSD", risk_limit=65_000_000_000))[-1], Accepted)


def pool(engine: Engine) -> tuple[int, int]:
    """(equity, maintenance) of account 2's cross pool, maintenance at the chosen tier (LIQ-001)."""
    equity, maintenance = engine.risk.pool_of(engine.accounts[2], "XBTUSD")[1:3]
    return equity, maintenance


def test_withdrawal_is_judged_at_the_chosen_tier() -> None:
    """MRG-064 with LIQ-001's chosen tier: 9,066,540 = MRG-050's 9,594,936 less the tier's extra 528,396."""
    engine = Engine()
    short_at_chosen_tier(engine)
    assert pool(engine) == (9_973_600, 731_060)
    assert engine.risk.account_margin(engine.accounts[2], "XBt").withdrawable_margin == 9_594_936  # own tier
    assert margin_row(engine, 2, "XBt", 0)["withdrawableMargin"] == 9_066_540
    refused = engine.process(c.Withdraw(time_ms=0, account=2, asset="XBt", amount=9_066_541))[-1]
    assert isinstance(refused, Rejected)
    assert refused.text == "InsufficientWithdrawableBalance: withdrawable 9066540"
    assert pool(engine) == (9_973_600, 731_060)  # the refusal changed nothing
    assert isinstance(engine.process(c.Withdraw(time_ms=0, account=2, asset="XBt", amount=9_066_540))[-1], Accepted)
    assert pool(engine) == (907_060, 731_060)
    assert not engine.risk.below_maintenance(engine.accounts[2], "XBTUSD")


def test_withdrawal_without_a_chosen_tier_is_mrg_050s() -> None:
    """Without a raised risk limit the extra is 0: the withdrawable balance is MRG-050's, all of it may go."""
    engine = Engine()
    for account, deposit in ((2, 10_000_000), (3, 10**9)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=17_600, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=17_600, price=5_000_000))
    assert margin_row(engine, 2, "XBt", 0)["withdrawableMargin"] == 9_594_936
    assert isinstance(engine.process(c.Withdraw(time_ms=0, account=2, asset="XBt", amount=9_594_936))[-1], Accepted)
    assert pool(engine) == (378_664, 202_664)


def test_transfer_into_an_isolated_position_is_judged_at_the_other_positions_chosen_tier() -> None:
    """MRG-030: a transfer into the isolated ETHUSD long leaves the cross XBTUSD short's pool at maintenance or above."""
    engine = Engine()
    short_at_chosen_tier(engine, eth_long=True)
    assert pool(engine) == (6_926_350, 731_060)
    refused = engine.process(c.TransferMargin(time_ms=0, account=2, symbol="ETHUSD", amount=6_019_291))[-1]
    assert isinstance(refused, Rejected)
    assert pool(engine) == (6_926_350, 731_060)
    assert isinstance(engine.process(c.TransferMargin(time_ms=0, account=2, symbol="ETHUSD", amount=6_019_290))[-1], Accepted)
    assert pool(engine) == (907_060, 731_060)  # before: 6,547,686 was accepted, leaving 378,664


def test_withdrawal_beside_an_isolated_position() -> None:
    """MRG-064: the same bound with an isolated position's margin set aside (MRG-050 alone allowed 6,547,686)."""
    engine = Engine()
    short_at_chosen_tier(engine, eth_long=True)
    assert isinstance(engine.process(c.Withdraw(time_ms=0, account=2, asset="XBt", amount=6_019_291))[-1], Rejected)
    assert isinstance(engine.process(c.Withdraw(time_ms=0, account=2, asset="XBt", amount=6_019_290))[-1], Accepted)
    assert pool(engine) == (907_060, 731_060)


def test_lowering_an_isolated_leverage_is_judged_at_the_cross_positions_chosen_tier() -> None:
    """MRG-010: 3.33x sets aside what the cross pool can spare, 3.32x is refused (before: 3.15x left it at 397,627)."""
    engine = Engine()
    short_at_chosen_tier(engine, eth_long=True)
    refused = engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=332))[-1]
    assert isinstance(refused, Rejected)
    assert refused.reason.value == "InsufficientAvailableBalance"
    assert pool(engine) == (6_926_350, 731_060)
    assert isinstance(engine.process(c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=333))[-1], Accepted)
    assert pool(engine) == (912_813, 731_060)


def test_spot_sale_reserves_no_more_than_the_chosen_tier_spares() -> None:
    """A spot sell's reservation of XBt is judged on the free balance less the XBTUSD short's chosen-tier extra."""
    engine = Engine({"XBT_USDT": load_instrument(str(SPOT)), "XBTUSD": load_instrument("XBTUSD")})
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBT_USDT", mark_price=5_000_000, index_price=5_000_000))
    short_at_chosen_tier(engine)

    def sell(qty: int) -> object:
        return engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBT_USDT", side="Sell", order_qty=qty, price=5_000_000))[-1]

    refused = sell(90_700)
    assert isinstance(refused, Rejected)
    assert refused.text == "needs 9070000 XBt, free 9066540"
    assert isinstance(sell(90_600), Accepted)
    assert engine.accounts[2].reserved == {"XBt": 9_060_000}


def test_margin_taken_out_of_an_isolated_position_is_judged_at_its_chosen_tier() -> None:
    """MRG-062/063 with LIQ-001's chosen tier (session 9, found by the deep engine state machine): account 2 is short
    17,600 XBTUSD at 50,000.00 isolated at 100x with a 650 XBT risk limit and 1,000,000 XBt of extra margin:
    1,907,060 in all.  At its own risk steps posInit + posComm is 378,664, so MRG-062 let 1,528,396 be taken out,
    leaving 378,664 against the chosen tier's maintenance of 731,060: the pool was liquidated by its owner's own
    transfer.  At the chosen tier posInit + posComm is 907,060: exactly the 1,000,000 extra may leave."""
    engine = Engine()
    for account, deposit in ((2, 10_000_000), (3, 10**9)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=deposit))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=5_000_000, index_price=5_000_000))
    engine.process(c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=10_000))
    engine.process(c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=17_600, price=5_000_000))
    engine.process(c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=17_600, price=5_000_000))
    engine.process(c.SetRiskLimit(time_ms=0, account=2, symbol="XBTUSD", risk_limit=65_000_000_000))
    assert isinstance(engine.process(c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=1_000_000))[-1],
                      Accepted)
    assert pool(engine) == (1_907_060, 731_060)
    refused = engine.process(c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=-1_000_001))[-1]
    assert isinstance(refused, Rejected)
    assert refused.text == "BelowInitialMargin: required 1000001, available 1000000"
    assert pool(engine) == (1_907_060, 731_060)
    assert isinstance(engine.process(c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=-1_000_000))[-1],
                      Accepted)
    assert pool(engine) == (907_060, 731_060)
