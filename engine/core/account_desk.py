"""Account commands: verifying accounts, deposits and withdrawals, leverage, margin mode, isolated margin, risk limit.

:class:`AccountDesk` handles VerifyAccount, Deposit, Withdraw (MRG-050's
withdrawable balance), DepositInsurance, SetLeverage and Isolate (MRG-010
leverage checks; the change refused when it would take the available balance
negative), TransferMargin (MRG-030) and SetRiskLimit (RSK-006/007).  It owns
no state of its own: the accounts live in :class:`engine.core.ledger.Ledger`.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import commands as cmd
from perpspec.engine.core.accounts import Account, PositionState
from perpspec.engine.core.events import Reason
from perpspec.engine.core.ledger import Ledger, peek_position
from perpspec.engine.core.market import Market, is_expired, is_spot
from perpspec.engine.core.registry import OrderRegistry
from perpspec.engine.core.rejects import Rej, is_int, show
from perpspec.engine.core.risk import Risk
from perpspec.engine.core.stream import EventStream
from perpspec.rules.instrument import Instrument
from perpspec.rules.liquidation import compute_requirement
from perpspec.rules.margin import (
    CROSS,
    check_leverage,
    check_transfer_margin,
    check_withdrawal,
    compute_isolated_margin_on_change,
)
from perpspec.rules.position import compute_unrealised_pnl
from perpspec.rules.risk_limit import (
    check_risk_limit,
    check_risk_limit_choice,
    compute_max_leverage_hundredths,
    compute_risk_steps,
)


class AccountDesk:
    """The account and wallet commands."""

    def __init__(
        self, market: Market, ledger: Ledger, risk: Risk, registry: OrderRegistry, stream: EventStream
    ) -> None:
        self.market = market
        self.ledger = ledger
        self.risk = risk
        self.registry = registry
        self.stream = stream

    def verify(self, c: cmd.VerifyAccount) -> Rej | int:
        """VerifyAccount: a new verified account (an id is verified once)."""
        if not is_int(c.account) or c.account < 0:
            return Rej(Reason.MALFORMED, "account must be a non-negative integer")
        account = self.ledger.accounts.get(c.account)
        if account is not None and account.verified:
            return Rej(Reason.ALREADY_VERIFIED, f"account {c.account} is already verified")
        account = Account(c.account)
        account.verified = True
        self.ledger.accounts[c.account] = account
        return 0

    def deposit(self, c: cmd.Deposit) -> Rej | int:
        """Deposit: credit a verified account."""
        account = self.ledger.account(c.account)
        if isinstance(account, Rej):
            return account
        if not self.market.asset_known(c.asset):
            return Rej(Reason.UNKNOWN_ASSET, f"unknown asset {show(c.asset)}")
        if not is_int(c.amount) or c.amount <= 0:
            return Rej(Reason.MALFORMED, "amount must be a positive integer")
        account.wallets[c.asset] = account.wallet(c.asset) + c.amount
        self.ledger.deposits[c.asset] = self.ledger.deposits.get(c.asset, 0) + c.amount
        self.risk.dirty[account.account_id] = None
        self.stream.emit_tx("Deposit", account.account_id, c.asset, c.amount)
        return 0

    def withdraw(self, c: cmd.Withdraw) -> Rej | int:
        """Withdraw: up to what MRG-050 lets the account withdraw, net of spot reservations."""
        account = self.ledger.account(c.account)
        if isinstance(account, Rej):
            return account
        if not self.market.asset_known(c.asset):
            return Rej(Reason.UNKNOWN_ASSET, f"unknown asset {show(c.asset)}")
        if not is_int(c.amount) or c.amount <= 0:
            return Rej(Reason.MALFORMED, "amount must be a positive integer")
        withdrawable = self.withdrawable(account, c.asset)
        problem = check_withdrawal(c.amount, withdrawable)
        if problem is not None:
            return Rej(Reason.INSUFFICIENT_BALANCE, f"{problem.reason.value}: withdrawable {problem.available}")
        account.wallets[c.asset] = account.wallet(c.asset) - c.amount
        self.ledger.deposits[c.asset] = self.ledger.deposits.get(c.asset, 0) - c.amount
        self.risk.dirty[account.account_id] = None
        self.stream.withdrawals[(account.account_id, c.asset)] = None
        self.stream.emit_tx("Withdrawal", account.account_id, c.asset, -c.amount)
        return 0

    def withdrawable(self, account: Account, asset: str) -> int:
        """What a Withdraw of ``asset`` may take now (the ``withdrawableMargin`` the API reports).

        MRG-050's withdrawable balance, net of what live spot orders reserve, less what the chosen risk tiers of the
        account's cross positions hold beyond MRG-050's own-tier figures (:meth:`_cross_tier_extras`); never below 0.
        The reservations come out of the withdrawable balance itself (LIQ-055's figure with no order of its own),
        not only out of the available one: else, with a cross position in profit, a withdrawal took the money a
        resting spot order reserved and left the reservation backed by unrealised profit (session 12).
        """
        return max(0, self.risk.spot_spendable(account, asset))

    def deposit_insurance(self, c: cmd.DepositInsurance) -> Rej | int:
        """DepositInsurance: credit the insurance fund (INS-008)."""
        if not self.market.asset_known(c.asset):
            return Rej(Reason.UNKNOWN_ASSET, f"unknown asset {show(c.asset)}")
        if not is_int(c.amount) or c.amount <= 0:
            return Rej(Reason.MALFORMED, "amount must be a positive integer")
        self.ledger.fund_move(c.asset, c.amount, "deposit", "", -1, "INS-008")
        self.ledger.deposits[c.asset] = self.ledger.deposits.get(c.asset, 0) + c.amount
        return 0

    def set_leverage(self, c: cmd.SetLeverage) -> Rej | int:
        """SetLeverage: 0 is cross, else isolated at that leverage."""
        target = self.ledger.account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if not is_int(c.leverage_hundredths):
            return Rej(Reason.MALFORMED, "leverage_hundredths must be an integer")
        if is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no leverage")
        expired = self._expired(inst)
        if expired is not None:
            return expired
        return self._change_leverage(account, inst, c.leverage_hundredths)

    def _expired(self, inst: Instrument) -> Rej | None:
        """``ContractExpired`` for a dated future past its expiry and not yet settled (as order entry refuses it).

        Between expiry and Settle only the waterfall and Settle act on its positions: SET-005 waits for no pool
        holding it to be below maintenance at the settlement price, and a leverage, margin mode or risk limit chosen
        now could only move its pools' maintenance (redteam12_3: a risk limit raised after expiry, then an order
        elsewhere in the cross pool, held every holder's settlement back).  A settled future is flat: unchanged.
        """
        if is_expired(inst, self.stream.time_ms) and inst.symbol not in self.market.settled:
            return Rej(Reason.CONTRACT_EXPIRED, f"{inst.symbol} expired at {inst.expiry_ms}; it only settles now")
        return None

    def _change_leverage(self, account: Account, inst: Instrument, leverage: int) -> Rej | int:
        """A new leverage for the position (isolating sets its requirement aside), unless it takes the balance negative."""
        if inst.symbol not in self.market.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        ps = peek_position(account, inst)
        steps = max(compute_risk_steps(inst, abs(ps.cost)), ps.chosen_tier)
        problem = check_leverage(inst, leverage, steps)
        if problem is not None:
            return Rej(Reason.INVALID_LEVERAGE, f"leverage must be 0 (cross) or 1..{problem.available}")
        trial = ps.copy()
        trial.leverage = leverage
        trial.iso_margin = self._margin_on_change(inst, trial) if leverage != CROSS and ps.qty != 0 else 0
        asset = inst.settl_currency
        before = self.risk.account_margin(account, asset)
        after = self.risk.account_margin(account, asset, (inst.symbol, trial, tuple(ps.orders.values())))
        # net of what resting spot orders reserve (Risk.spendable, as TransferMargin; session 12 review rev2_1: an
        # isolation set aside money a spot bid had reserved)
        available_before = self.risk.spendable(account, asset, before)
        available_after = self.risk.spendable(
            account, asset, after, self.risk.cross_tier_extras(account, asset, (inst.symbol, trial))
        )
        # refused below zero when it gets worse, or when it sets more money aside: isolating a cross position moves
        # its requirement into a margin that must exist (attack3: with the balance already negative it was "not
        # worse", and the isolated margin exceeded the wallet; the take-over then left the wallet negative)
        sets_aside = trial.iso_margin > ps.iso_margin
        if available_after < 0 and (available_after < available_before or sets_aside):
            return Rej(Reason.INSUFFICIENT_MARGIN, f"available balance would be {available_after}")
        real = account.position(inst)
        real.leverage = trial.leverage
        real.iso_margin = trial.iso_margin
        self.registry.touch(account, inst)
        self.risk.emit_position(account.account_id, inst.symbol)
        return 0


    def _margin_on_change(self, inst: Instrument, ps: PositionState) -> int:
        """MRG-066 for an isolated position at its (new) setting: posInit + posComm + its unrealised loss at mark."""
        req = compute_requirement(inst, ps.position, ps.leverage, ps.chosen_tier)
        pnl = compute_unrealised_pnl(inst, ps.position, self.market.marks[inst.symbol])
        return compute_isolated_margin_on_change(req.pos_init, req.pos_comm, pnl)

    def isolate(self, c: cmd.Isolate) -> Rej | int:
        """Isolate: to isolated at the tier's maximum leverage, or back to cross."""
        target = self.ledger.account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if type(c.enabled) is not bool:
            return Rej(Reason.MALFORMED, "enabled must be a boolean")
        if is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no margin mode")
        expired = self._expired(inst)
        if expired is not None:
            return expired
        if not c.enabled:
            return self._change_leverage(account, inst, CROSS)
        ps = peek_position(account, inst)
        if ps.leverage != CROSS:
            return 0
        steps = max(compute_risk_steps(inst, abs(ps.cost)), ps.chosen_tier)
        # isolate at the tier's maximum leverage: the same initial margin as cross
        return self._change_leverage(account, inst, compute_max_leverage_hundredths(inst, steps))

    def transfer_margin(self, c: cmd.TransferMargin) -> Rej | int:
        """TransferMargin: money into or out of an isolated position (MRG-030)."""
        target = self.ledger.account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if not is_int(c.amount):
            return Rej(Reason.MALFORMED, "amount must be an integer")
        if is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no position margin")
        if inst.symbol not in self.market.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        ps = account.positions.get(inst.symbol)
        if ps is None or ps.qty == 0:
            return Rej(Reason.NO_POSITION, "no open position to transfer margin to or from")
        pm = self.risk.position_margin(inst, ps)
        if ps.leverage != CROSS:
            # MRG-062 at the chosen tier (LIQ-001): the margin left must cover posInit + posComm there, not only at the
            # position's own risk steps — removing down to the latter left the pool below the chosen tier's maintenance
            pm = attrs.evolve(pm, pos_cross=ps.iso_margin - self.risk.isolated_requirement(inst, ps))
        asset = inst.settl_currency
        available = self.risk.spendable(account, asset, self.risk.account_margin(account, asset))
        problem = check_transfer_margin(pm, c.amount, available)
        if problem is not None:
            reason = Reason.NOT_ISOLATED if problem.reason.value == "PositionNotIsolated" else Reason.INSUFFICIENT_MARGIN
            return Rej(reason, f"{problem.reason.value}: required {problem.required}, available {problem.available}")
        ps.iso_margin += c.amount
        self.registry.touch(account, inst)
        self.stream.emit_tx("TransferMargin", account.account_id, inst.settl_currency, c.amount, inst.symbol)
        return 0

    def set_risk_limit(self, c: cmd.SetRiskLimit) -> Rej | int:
        """SetRiskLimit: a risk limit of the instrument's ladder (RSK-006) that the position and orders fit (RSK-007)."""
        target = self.ledger.account_in(c.account, c.symbol)
        if isinstance(target, Rej):
            return target
        account, inst = target
        if not is_int(c.risk_limit):
            return Rej(Reason.MALFORMED, "risk_limit must be an integer")
        if is_spot(inst):
            return Rej(Reason.NOT_SUPPORTED_ON_SPOT, "a spot pair has no risk limit")
        expired = self._expired(inst)
        if expired is not None:
            return expired
        problem = check_risk_limit_choice(inst, c.risk_limit)
        if problem is not None:
            return Rej(Reason.INVALID_RISK_LIMIT, "risk limit must be riskLimit + k × riskStep")
        if inst.symbol not in self.market.marks:
            return Rej(Reason.NO_MARK_PRICE, f"{inst.symbol} has no mark price yet")
        ps = peek_position(account, inst)
        gross = self.risk.gross_value(inst, ps, tuple(ps.orders.values()))
        if check_risk_limit(gross, c.risk_limit) is not None:
            return Rej(Reason.RISK_LIMIT_EXCEEDED, f"position and orders worth {gross} exceed {c.risk_limit}")
        trial = ps.copy()
        trial.risk_limit = c.risk_limit
        trial.chosen_tier = (c.risk_limit - inst.risk_limit) // inst.risk_step  # exact: checked by RSK-006
        if trial.leverage != CROSS and trial.qty != 0:
            trial.iso_margin = max(trial.iso_margin, self._margin_on_change(inst, trial))
        asset = inst.settl_currency
        after = self.risk.account_margin(account, asset, (inst.symbol, trial, tuple(ps.orders.values())))
        before = self.risk.account_margin(account, asset)
        # net of spot reservations, as _change_leverage, and of what the chosen tiers would hold at the new tier:
        # every cross position's extra and what its resting orders would add if their larger side filled
        # (Risk.cross_tier_extras; session 17, review14_1: a tier raised over a resting buy and no position was free)
        available_after = self.risk.spendable(
            account, asset, after, self.risk.cross_tier_extras(account, asset, (inst.symbol, trial))
        )
        available_before = self.risk.spendable(account, asset, before)
        if available_after < 0 and available_after < available_before:
            return Rej(Reason.INSUFFICIENT_MARGIN, f"available balance would be {available_after}")
        real = account.position(inst)
        real.risk_limit, real.chosen_tier, real.iso_margin = trial.risk_limit, trial.chosen_tier, trial.iso_margin
        self.registry.touch(account, inst)
        return 0
