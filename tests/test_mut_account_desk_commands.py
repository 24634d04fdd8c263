"""MRG-010 / MRG-030 / MRG-050 / MRG-066: the account commands' exact outcomes (Isolate, TransferMargin, Withdraw).

Found by the session-6 mutation run over ``engine/core/account_desk.py`` (issue 13): no test isolated a cross
position through ``Isolate`` (only ``SetLeverage`` did), none re-sent ``Isolate`` to an isolated position, and none
read the order id of an accepted ``Withdraw`` or ``TransferMargin`` or the net deposits after a withdrawal.  Pinned
here through public commands and the engine's read API (``margin_setting``, ``available``, ``wallet``,
``net_deposits``):

* ``Isolate(enabled=True)`` of a cross position isolates it at its tier's maximum leverage (XBTUSD tier 0: 100x)
  with MRG-066's margin set aside; sent again to an isolated position it changes nothing (it keeps 5x);
* an accepted ``Withdraw`` / ``TransferMargin`` addresses no order (``order_id`` 0), and a withdrawal lowers the
  net deposits (the conservation invariant's input) by exactly its amount.

Figures: account 2 buys 10,000 XBTUSD (0.2 XBT = 20,000,000 XBt) at 50,000.00 on a 1 XBT deposit, paying the
0.075% taker fee (15,000 XBt): wallet 99,985,000.  At 100x posInit is 1% (200,000) and posComm 0.075% of
value + posInit (15,150): 215,150 set aside, available 99,769,850.  At 5x posInit is 20% (4,000,000) and posComm
18,000: available 95,967,000.
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.kernels.load import generic_rules_only
from perpspec.rules.margin import MarginSetting

PRICE = 5_000_000  # 50,000.00
SEED = 10**10  # account 3's deposit


def _long(deposit: int = 10**8, qty: int = 10_000) -> Engine:
    """Account 2 (``deposit`` XBt) buys ``qty`` XBTUSD at 50,000.00 from account 3, cross."""
    engine = Engine()
    for account, amount in ((2, deposit), (3, SEED)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Sell", order_qty=qty, price=PRICE)
    )
    bought = engine.process(
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Buy", order_qty=qty, price=PRICE)
    )
    assert isinstance(bought[-1], Accepted)
    return engine


def _accepted(engine: Engine, command: c.Command) -> Accepted:
    result = engine.process(command)[-1]
    assert isinstance(result, Accepted), result
    return result


def test_mrg_010_isolate_turns_a_cross_position_isolated_at_the_tiers_maximum_leverage() -> None:
    engine = _long()
    assert engine.margin_setting(2, "XBTUSD") == MarginSetting(leverage_hundredths=0, pos_cross=0)
    assert engine.available(2, "XBt") == 99_769_850
    result = _accepted(engine, c.Isolate(time_ms=0, account=2, symbol="XBTUSD", enabled=True))
    assert result == Accepted(seq=result.seq, time_ms=0, command="Isolate", account=2, order_id=0)
    # 100x, posInit + posComm (215,150) set aside: the same initial margin as cross, so the same available balance
    assert engine.margin_setting(2, "XBTUSD") == MarginSetting(leverage_hundredths=10_000, pos_cross=0)
    assert engine.available(2, "XBt") == 99_769_850
    assert engine.wallet(2, "XBt") == 99_985_000


def test_mrg_010_isolate_sent_to_an_isolated_position_keeps_its_leverage() -> None:
    engine = _long()
    _accepted(engine, c.SetLeverage(time_ms=0, account=2, symbol="XBTUSD", leverage_hundredths=500))
    assert engine.margin_setting(2, "XBTUSD") == MarginSetting(leverage_hundredths=500, pos_cross=0)
    assert engine.available(2, "XBt") == 95_967_000
    result = _accepted(engine, c.Isolate(time_ms=0, account=2, symbol="XBTUSD", enabled=True))
    assert result == Accepted(seq=result.seq, time_ms=0, command="Isolate", account=2, order_id=0)
    assert engine.margin_setting(2, "XBTUSD") == MarginSetting(leverage_hundredths=500, pos_cross=0)
    assert engine.available(2, "XBt") == 95_967_000


def test_mrg_030_an_accepted_transfer_addresses_no_order_and_moves_exactly_its_amount() -> None:
    engine = _long()
    _accepted(engine, c.Isolate(time_ms=0, account=2, symbol="XBTUSD", enabled=True))
    result = _accepted(engine, c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=1_000))
    assert result == Accepted(seq=result.seq, time_ms=0, command="TransferMargin", account=2, order_id=0)
    assert engine.margin_setting(2, "XBTUSD") == MarginSetting(leverage_hundredths=10_000, pos_cross=1_000)
    assert engine.wallet(2, "XBt") == 99_985_000  # the money stays in the wallet, set aside for the position


def test_mrg_050_an_accepted_withdrawal_addresses_no_order_and_lowers_the_net_deposits_by_its_amount() -> (
    None
):
    engine = _long()
    assert engine.net_deposits("XBt") == 10**8 + SEED
    result = _accepted(engine, c.Withdraw(time_ms=0, account=2, asset="XBt", amount=12_345))
    assert result == Accepted(seq=result.seq, time_ms=0, command="Withdraw", account=2, order_id=0)
    assert engine.net_deposits("XBt") == 10**8 + SEED - 12_345
    assert engine.wallet(2, "XBt") == 99_985_000 - 12_345


def _refused_zero(engine: Engine, command: c.Command) -> None:
    before = (engine.wallet(2, "XBt"), engine.net_deposits("XBt"), engine.insurance("XBt"))
    events = engine.process(command)
    assert len(events) == 1
    result = events[0]
    assert result == Rejected(
        seq=result.seq,
        time_ms=0,
        command=type(command).__name__,
        account=getattr(command, "account", -1),
        reason=Reason.MALFORMED,
        text="amount must be a positive integer",
        cl_ord_id="",
    )
    assert (engine.wallet(2, "XBt"), engine.net_deposits("XBt"), engine.insurance("XBt")) == before


def test_deposit_withdraw_and_insurance_deposit_of_zero_are_malformed_and_change_nothing() -> None:
    engine = _long()
    _refused_zero(engine, c.Deposit(time_ms=0, account=2, asset="XBt", amount=0))
    _refused_zero(engine, c.Withdraw(time_ms=0, account=2, asset="XBt", amount=0))
    _refused_zero(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=0))
    assert engine.net_deposits("XBt") == 10**8 + SEED
    assert engine.insurance("XBt") == 0
    # one unit is the smallest amount each accepts
    _accepted(engine, c.Deposit(time_ms=0, account=2, asset="XBt", amount=1))
    _accepted(engine, c.Withdraw(time_ms=0, account=2, asset="XBt", amount=1))
    _accepted(engine, c.DepositInsurance(time_ms=0, asset="XBt", amount=1))
    assert engine.net_deposits("XBt") == 10**8 + SEED + 1
    assert engine.insurance("XBt") == 1


def _rejected(engine: Engine, command: c.Command, reason: Reason, text: str) -> None:
    result = engine.process(command)[-1]
    assert result == Rejected(
        seq=result.seq,
        time_ms=0,
        command=type(command).__name__,
        account=2,
        reason=reason,
        text=text,
        cl_ord_id="",
    )


def test_mrg_030_a_cross_position_refuses_a_transfer_as_not_isolated_and_too_much_as_insufficient_margin() -> (
    None
):
    engine = _long()
    _rejected(
        engine,
        c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=1_000),
        Reason.NOT_ISOLATED,
        "PositionNotIsolated: required 0, available 0",
    )
    _accepted(engine, c.Isolate(time_ms=0, account=2, symbol="XBTUSD", enabled=True))
    _rejected(
        engine,
        c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=10**9),
        Reason.INSUFFICIENT_MARGIN,
        "InsufficientAvailableBalance: required 1000000000, available 99769850",
    )
    _rejected(  # nothing beyond posInit + posComm to take out
        engine,
        c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=-1),
        Reason.INSUFFICIENT_MARGIN,
        "BelowInitialMargin: required 1, available 0",
    )


def test_mrg_030_a_closed_position_has_nothing_to_transfer_and_a_one_contract_one_has() -> None:
    engine = _long()
    _accepted(engine, c.Isolate(time_ms=0, account=2, symbol="XBTUSD", enabled=True))
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="XBTUSD", side="Buy", order_qty=10_000, price=PRICE)
    )
    _accepted(
        engine,
        c.PlaceOrder(time_ms=0, account=2, symbol="XBTUSD", side="Sell", order_qty=10_000, price=PRICE),
    )
    assert engine.positions(2) == {}  # closed: the record remains with qty 0
    _rejected(
        engine,
        c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=1_000),
        Reason.NO_POSITION,
        "no open position to transfer margin to or from",
    )
    # one ETHUSD contract (lot 1; 300,000 XBt at 3,000.00, fee 225), isolated at 10x: posInit 30,000 + posComm 248
    engine = Engine()
    for account, amount in ((2, 10**8), (3, SEED)):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount))
    engine.process(c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000))
    engine.process(
        c.PlaceOrder(time_ms=0, account=3, symbol="ETHUSD", side="Sell", order_qty=1, price=300_000)
    )
    _accepted(
        engine, c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=1, price=300_000)
    )
    _accepted(engine, c.SetLeverage(time_ms=0, account=2, symbol="ETHUSD", leverage_hundredths=1_000))
    assert engine.available(2, "XBt") == 99_999_775 - 30_248
    _accepted(engine, c.TransferMargin(time_ms=0, account=2, symbol="ETHUSD", amount=7))
    assert engine.margin_setting(2, "ETHUSD") == MarginSetting(leverage_hundredths=1_000, pos_cross=7)
    assert engine.available(2, "XBt") == 99_999_775 - 30_248 - 7


def test_mrg_020_isolating_at_100x_sets_aside_tier_0s_margin_on_the_generic_rules_too() -> None:
    """The same Isolate on the generic rules (no proved kernel): MRG-020's posCross of the isolated position is
    iso_margin - posInit - posComm at the position's own tier 0 (1%: 200,000 + 15,150), so 0; tier 1's 1.5% would
    make it negative.  Found by the mutation run over ``engine/core/risk.py`` (``Risk.margin_setting``'s generic
    branch, taken by an instrument without a kernel set)."""
    with generic_rules_only():
        engine = _long()
        _accepted(engine, c.Isolate(time_ms=0, account=2, symbol="XBTUSD", enabled=True))
        assert engine.margin_setting(2, "XBTUSD") == MarginSetting(leverage_hundredths=10_000, pos_cross=0)
        assert engine.available(2, "XBt") == 99_769_850
        _accepted(engine, c.TransferMargin(time_ms=0, account=2, symbol="XBTUSD", amount=1_000))
        assert engine.margin_setting(2, "XBTUSD") == MarginSetting(
            leverage_hundredths=10_000, pos_cross=1_000
        )
