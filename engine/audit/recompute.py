"""The auditor's ``--rules`` level: every field of a record perpspec's rules can recompute, recomputed.

:class:`engine.audit.auditor.Auditor` checks the invariants of any venue's log; at ``audit --rules`` it also
recomputes, record by record, what the rules say a field must be and reports each difference under the rule's
id: a trade's commission (ACC-002, at a rate ACC-007 allows), a position row's mark value, unrealised PnL and
an isolated position's liquidation and bankruptcy prices (CON-002, ACC-001, MRG-011/012), the positions and
wallets a record names against the ones the log built (ACC-003), each funding payment at its instant's rate
(FND-007, FND-019's shortfall) and the instant's exchange over every holder (FND-008), a take-over's price
and residual margin (LIQ-005/006, MRG-011), the fund's gain on a close-out fill (INS-001) and an ADL fill's
haircut (ADL-004).  :class:`RuleRecomputations` holds those
checks; the auditor inherits them and calls each where its record is handled.  Split out of
engine/audit/auditor.py when it passed 800 lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perpspec.engine.audit.findings import Finding
from perpspec.engine.audit.instant import FundingSnapshot, Instant, Payment
from perpspec.engine.audit.ledger import LIQUIDATOR, Ledger
from perpspec.engine.audit.margin_view import MarginView
from perpspec.rules.adl import compute_haircut
from perpspec.rules.contract import compute_notional, compute_value
from perpspec.rules.events import (
    AdlFill,
    Liquidation,
    PartialLiquidation,
    PositionSnapshot,
    TakenOverPosition,
)
from perpspec.rules.funding import (
    compute_funding_exchange,
    compute_funding_payment,
    compute_liquidator_funding,
)
from perpspec.rules.instrument import Instrument
from perpspec.rules.insurance import compute_fill_delta
from perpspec.rules.invariants import compute_view_account_margin
from perpspec.rules.liquidation import (
    compute_owing_takeover_price,
    compute_pool_residual,
    compute_requirement,
    compute_takeover_price,
)
from perpspec.rules.margin import (
    CROSS,
    MarginReason,
    check_transfer_margin,
    compute_bankruptcy_price,
    compute_liquidation_price,
    compute_position_margin,
)
from perpspec.rules.num import ceildiv
from perpspec.rules.position import Position, compute_commission, compute_unrealised_pnl


class RuleRecomputations:
    """The ``--rules`` checks; the auditor calls each only when its level asks for them (:attr:`rules`)."""

    # the auditor's state these checks read (engine.audit.auditor.Auditor sets them)
    instruments: dict[str, Instrument]
    ledger: Ledger
    rules: bool  # the audit runs at the ``--rules`` level
    now: Instant
    line: int
    seq: int | None
    liquidator_funded: dict[str, tuple[int, int]]
    diverged: set[tuple[object, str]]

    def report(
        self, rule_id: str, message: str, expected: object = "", reported: object = "", line: int | None = None,
        seq: int | None = None, kind: str | None = None,
    ) -> None:
        """Record one finding: :meth:`engine.audit.auditor.Auditor.report`."""
        raise NotImplementedError

    def not_judged(self, rule_id: str, message: str, reported: object = "", line: int | None = None,
                   kind: str | None = None) -> None:
        """Note a check the log gives too little to decide: :meth:`engine.audit.auditor.Auditor.not_judged`."""
        raise NotImplementedError

    def margin_view(self, account: int, asset: str, unmarked: Sequence[str] = ()) -> MarginView:
        """The ledger with the least margin the log allows: :meth:`engine.audit.auditor.Auditor.margin_view`."""
        raise NotImplementedError

    def unmarked(self, account: int, asset: str) -> list[str]:
        """The contracts settled in ``asset`` that ``account`` holds and the log has stated no mark for (not valued:
        left out of MRG-050's figure, which a position only lowers, so the figure is then the most it can be)."""
        ledger = self.ledger
        return sorted(symbol for symbol in ledger.positions(account)
                      if self.instruments[symbol].settl_currency == asset and not ledger.has_mark(symbol))

    def check_transfer(self, account: int, symbol: str, asset: str, amount: int) -> None:
        """``--rules``: a ``TransferMargin`` row, judged by the engine's rule (MRG-063, ``check_transfer_margin``) as
        far as the log shows it.  It moves margin between the wallet's free part and the isolated pool of ``symbol``,
        within the wallet (nothing moves in the ledger: a venue that also moved the wallet shows it in its wallet rows,
        ACC-003): in the contract's currency, of a position the log built, isolated where the log reported its
        margin mode, non-zero, and an addition within the available balance -- of which the ledger's figure
        (:class:`MarginView`: no orders, each isolated pool holding the least it can) is at least the venue's, so an
        honest transfer is never reported; one that passes beside a position the log states no mark for (left out of the
        figure) is listed as not judged, as INV-WITHDRAW-SAFE's withdrawal is.  A removal's bound (MRG-062: the pool's margin beyond its requirement) is
        not judged: the log carries no isolated margin."""
        inst = self.instruments[symbol]
        where = f"account {account} {symbol}: transferMargin of {amount}"
        if asset != inst.settl_currency:
            self.report("MRG-063", f"{where} in another currency than the contract settles in",
                        expected=inst.settl_currency, reported=asset)
            return
        ledger = self.ledger
        position = ledger.position(account, symbol)
        if position.qty == 0:
            self.report("MRG-063", f"{where}: no open position to transfer margin to or from", expected="a position",
                        reported="flat")
            return
        if not ledger.leverage_reported(account, symbol) or not ledger.has_mark(symbol):
            return  # the margin mode, or the mark the available balance is judged at, is not in the log
        leverage = ledger.margin_setting(account, symbol).leverage_hundredths
        if amount < 0 and leverage != CROSS:
            return  # MRG-062's bound needs the pool's margin
        margin = compute_position_margin(inst, position, ledger.mark_price(symbol), leverage)
        unmarked = self.unmarked(account, asset)
        view = self.margin_view(account, asset, unmarked)  # the most the available can be
        available = compute_view_account_margin(view, account, asset).available_margin
        problem = check_transfer_margin(margin, amount, available)
        if problem is None:
            if unmarked:  # within the most the available can be: not known to be within it
                self.not_judged("MRG-063", f"{where}: an addition by an account holding {', '.join(unmarked)}, which "
                                "the log states no mark for: its margin is not known; the available balance without "
                                "it", reported=available)
            return
        expected: object = {
            MarginReason.NOT_ISOLATED: "an isolated position", MarginReason.INVALID_AMOUNT: "a non-zero amount"
        }.get(problem.reason, f"<= {problem.available}")
        reported = "cross" if problem.reason is MarginReason.NOT_ISOLATED else amount
        self.report("MRG-063", f"{where} ({problem.reason.value})", expected=expected, reported=reported)

    def diverges(self, key: tuple[object, str], off: bool) -> bool:
        """True when a reported value goes off the ledger's (once per divergence, not at every later report)."""
        if not off:
            self.diverged.discard(key)
            return False
        if key in self.diverged:
            return False
        self.diverged.add(key)
        return True

    def check_inputs(self, account: int, symbol: str, qty: int, cost: int, what: str) -> None:
        """``--rules``: a record's position inputs are the position the log built (ACC-003)."""
        if not self.rules:
            return
        held = self.ledger.position(account, symbol)
        if (held.qty, held.cost) != (qty, cost):
            self.report(
                "ACC-003", f"account {account} {symbol}: {what} names a position the log's fills did not build",
                expected=f"qty {held.qty} cost {held.cost}", reported=f"qty {qty} cost {cost}",
            )

    def check_commission(self, inst: Instrument, r: Mapping[str, Any], account: int, qty: int, comm: int) -> None:
        """``--rules``: a trade's commission (ACC-002); a commission-free one is judged at the end of the instant."""
        notional = compute_notional(inst, qty, r["lastPx"])
        if str(r.get("text", "")).startswith("Liquidation") or account < 0:
            rates = [0]  # the liquidation engine's trades pay no commission (rules.waterfall)
        else:
            rates = self.commission_rates(inst, r)
        allowed = sorted({compute_commission(notional, rate) for rate in rates})
        if comm not in allowed:
            nearest = min(allowed, key=lambda amount: (abs(amount - comm), amount))  # the tier it missed
            message = f"account {account} {inst.symbol}: commission on {qty} @ {r['lastPx']}"
            if comm == 0:  # decided at the end of the instant: a partial liquidation's fills pay none
                finding = Finding(id="ACC-002", line=self.line, seq=self.seq, kind="execution", message=message,
                                  expected=str(nearest), reported="0")
                self.now.unpaid.append((finding, inst.symbol, qty, r["lastPx"]))
            else:
                self.report("ACC-002", message, expected=nearest, reported=comm)

    @staticmethod
    def commission_rates(inst: Instrument, r: Mapping[str, Any]) -> list[int]:
        """The rates a trade row's commission may be charged at: the taker's for the incoming order; for a resting
        order (AddedLiquidity) the maker's, or the taker's where ACC-007 may charge it (a hidden order always, an
        iceberg whose hidden part traded with the same incoming order).  A row that says what the order displayed
        (BitMEX's ``displayQty``: 0 hidden, null fully displayed) narrows it; one that does not allows both.
        perpspec's own execution rows do not carry ``displayQty``, so on its logs a resting fill's rate is checked
        only to be one of the instrument's maker or taker rates: ACC-007's decision itself is not re-judged there
        (review18_3; the engine's choice is proved and tested, ``tests/test_s17_hidden_fees.py``)."""
        makers = [tier.maker_fee_ppm for tier in inst.fee_tiers] + [inst.maker_fee_ppm]
        takers = [tier.taker_fee_ppm for tier in inst.fee_tiers] + [inst.taker_fee_ppm]
        if r.get("lastLiquidityInd") != "AddedLiquidity":
            return takers
        if "displayQty" in r and r["displayQty"] is None:
            return makers  # fully displayed: ACC-007 leaves it the maker rate
        if r.get("displayQty") == 0:
            return takers  # hidden: ACC-007's taker rate
        return makers + takers

    def check_margin_fields(self, r: dict[str, Any]) -> None:
        """``--rules``: a position row's BitMEX margin fields, where it reports them (CON-002, ACC-001, MRG-011/012)."""
        inst = self.instruments[r["symbol"]]
        position = Position(qty=r["currentQty"], cost=r["posCost"])
        mark = r.get("markPrice") or self.ledger.mark_price(inst.symbol)
        if mark > 0 and "markValue" in r:
            value = compute_value(inst, position.qty, mark)
            if value != r["markValue"]:
                self.report("CON-002", f"account {r['account']} {inst.symbol}: markValue at {mark}", expected=value,
                            reported=r["markValue"])
        if mark > 0 and "unrealisedPnl" in r:
            pnl = compute_unrealised_pnl(inst, position, mark)
            if pnl != r["unrealisedPnl"]:
                self.report("ACC-001", f"account {r['account']} {inst.symbol}: unrealisedPnl at {mark}", expected=pnl,
                            reported=r["unrealisedPnl"])
        leverage = r.get("leverage_hundredths", 0)
        if leverage <= 0 or "posMargin" not in r:
            return  # a cross position's prices depend on the whole account: not in one row
        steps = 0
        if "riskLimit" in r:
            steps = max(0, ceildiv(r["riskLimit"] - inst.risk_limit, inst.risk_step))
        req = compute_requirement(inst, position, leverage, steps)
        for field, rule_id, price in (
            ("liquidationPrice", "MRG-011",
             compute_liquidation_price(inst, position.qty, position.cost, r["posMargin"], req.pos_maint)),
            ("bankruptPrice", "MRG-012",
             compute_bankruptcy_price(inst, position.qty, position.cost, r["posMargin"], req.pos_comm)),
        ):
            if field in r and r[field] != price:
                self.report(rule_id, f"account {r['account']} {inst.symbol}: {field} of an isolated position",
                            expected=price, reported=r[field])

    def on_wallet(self, r: dict[str, Any]) -> None:
        """A reported wallet balance: the ledger's must be the same (``--rules``)."""
        if not self.rules or "walletBalance" not in r:
            return
        held = self.ledger.wallet(r["account"], r["currency"])
        if self.diverges((r["account"], r["currency"]), held != r["walletBalance"]):
            self.report(
                "ACC-003", f"account {r['account']} {r['currency']}: walletBalance differs from the log's movements",
                expected=held, reported=r["walletBalance"],
            )

    def check_funding(self, symbol: str, rate: int, payments: list[Payment], snap: FundingSnapshot) -> None:
        """``--rules``: a funding instant at the rate its funding row states.  FND-007 for each payment the log reports;
        FND-008 over every holder the ledger knew at the instant's first record (``snap``, the liquidation engine's
        close-outs as one holder): a trader with no payment row stands in at 0 and is reported unless the rule (or
        FND-019's haircut, licensed as below) gives it 0, and the residue the log states is FND-008's (fnd20_2: a
        receiver's credit left out and booked to the fund as residue)."""
        inst = self.instruments[symbol]
        named = {p.account for p in payments}
        missing = [
            Payment(line=snap.line, seq=snap.seq, account=account, symbol=symbol, amount=0, position=position,
                    mark=snap.mark, reported=False)
            for account, position in snap.holders
            if account >= 0 and account not in named
        ]
        # paid before the log stated any mark: nothing to recompute it at
        priced = sorted((p for p in (*payments, *missing) if p.mark > 0), key=lambda p: p.account)
        due = [-compute_funding_payment(inst, p.position, p.mark, rate) for p in priced]
        # FND-019: a fund the liquidation engine's funding emptied credits the receivers that much less (the
        # shortfall); licensed only when the fund paid at this instant and that payment left it at zero (its balance
        # just after the payment: the waterfall that follows the payments can post a take-over's residual to the
        # fund before the rate's row, fnd20_1)
        shortfall = sum(d - p.amount for p, d in zip(priced, due, strict=True) if d > 0)
        asset = inst.settl_currency
        funded_line, fund_after = self.liquidator_funded.get(asset, (0, -1))
        if not priced or funded_line < min(p.line for p in priced) or fund_after != 0:
            shortfall = 0
        # the rule's own haircut: a fund and residue of 0 and an engine's share of −shortfall leave that shortfall
        credited = compute_liquidator_funding(
            0, 0, ((LIQUIDATOR, -shortfall), *((p.account, d) for p, d in zip(priced, due, strict=True))), LIQUIDATOR
        )[1:]
        for p, (_, expected) in zip(priced, credited, strict=True):
            if expected == p.amount:
                continue
            if p.reported:
                self.report(
                    "FND-007", f"account {p.account} {symbol}: funding of {p.position.qty} at rate {rate}e-8",
                    expected=expected, reported=p.amount, line=p.line, seq=p.seq, kind="transaction",
                )
            else:
                self.report(
                    "FND-008",
                    f"account {p.account} {symbol}: no funding payment for a position of {p.position.qty} "
                    f"at rate {rate}e-8",
                    expected=expected, reported="none", line=p.line, seq=p.seq, kind="transaction",
                )
        if snap.mark <= 0:
            return
        residue = compute_funding_exchange(inst, snap.holders, snap.mark, rate).residue
        if residue != snap.residue:
            line, seq = (snap.line, snap.seq) if snap.residue_line is None else (snap.residue_line, snap.residue_seq)
            self.report("FND-008", f"{symbol}: funding residue (paid − received) at rate {rate}e-8", expected=residue,
                        reported=snap.residue, line=line, seq=seq, kind="insurance")

    def check_takeover(self, record: Liquidation, snap: PositionSnapshot, taken: TakenOverPosition) -> None:
        """MRG-012 / LIQ-005 bankruptcy price, LIQ-006 residual, MRG-011 the reported liquidation price."""
        inst = self.instruments[snap.symbol]
        position = Position(qty=snap.qty, cost=snap.cost)
        req = compute_requirement(inst, position, snap.leverage_hundredths, snap.chosen_tier)
        margin = record.pool_margin
        # LIQ-036: a pool of one position that already owes is taken over beyond the price range
        takeover = compute_owing_takeover_price if len(record.positions) == 1 else compute_takeover_price
        bankruptcy = takeover(inst, position, margin, req.pos_comm)
        if bankruptcy != taken.takeover_price:
            self.report("LIQ-005", f"account {record.account_id} {snap.symbol}: take-over (bankruptcy) price",
                        expected=bankruptcy, reported=taken.takeover_price)
        residual = compute_pool_residual(inst, snap.qty, snap.cost, margin, taken.takeover_price)
        if residual != record.residual_margin:
            self.report("LIQ-006", f"account {record.account_id}: residual margin after the take-over",
                        expected=residual, reported=record.residual_margin)
        if snap.leverage_hundredths == 0:
            return  # a cross position's liquidation price depends on the whole account: not in the log
        last = self.now.liq_prices.get((record.account_id, snap.symbol))
        if last is None:
            return  # the venue reported no liquidation price in the instant of the take-over
        price = compute_liquidation_price(inst, snap.qty, snap.cost, margin, req.pos_maint)
        if price != last[2]:
            self.report(
                "MRG-011", f"account {record.account_id} {snap.symbol}: liquidationPrice of the position taken over",
                expected=price, reported=last[2], line=last[0], seq=last[1], kind="position",
            )

    def check_fill_delta(self, inst: Instrument, r: dict[str, Any]) -> None:
        """``--rules``: INS-001, the fund's gain on a close-out fill."""
        expected = compute_fill_delta(inst, -r["qty"], r["price"], r["bankruptcy_price"])
        if expected != r["fund_delta"]:
            self.report("INS-001", f"{inst.symbol} close-out {r['pending_id']}: the fund's gain on the fill",
                        expected=expected, reported=r["fund_delta"])

    def check_haircut(self, inst: Instrument, fill: AdlFill) -> None:
        """``--rules``: ADL-004, the haircut of an ADL fill."""
        haircut = compute_haircut(inst, fill.close_qty, fill.mark_price, fill.price)
        if haircut != fill.haircut:
            self.report("ADL-004", f"account {fill.account_id}: haircut of the ADL fill", expected=haircut,
                        reported=fill.haircut)

    def check_unpaid(self, now: Instant) -> None:
        """ACC-002 for the instant's commission-free trades, unless a partial liquidation's FillOrKill made them."""
        fee_free = {
            (record.symbol, qty, price)
            for record in now.records
            if isinstance(record, PartialLiquidation) and record.filled
            for qty, price in record.fills
        }
        for finding, symbol, qty, price in now.unpaid:
            if (symbol, qty, price) not in fee_free:
                self.report(finding.id, finding.message, expected=finding.expected, reported=finding.reported,
                            line=finding.line, seq=finding.seq, kind=finding.kind)

    def check_reported_positions(self, now: Instant) -> None:
        """``--rules``: ACC-003, every position the venue reported in the instant is the one the log's fills built."""
        ledger = self.ledger
        for (account, symbol), (line, seq, qty, cost) in sorted(now.reported.items()):
            held = ledger.position(account, symbol)
            off = held.qty != qty or (cost is not None and held.cost != cost)
            if self.diverges((account, symbol), off):
                self.report(
                    "ACC-003", f"account {account} {symbol}: reported position differs from the log's fills",
                    expected=f"qty {held.qty} cost {held.cost}", reported=f"qty {qty} cost {cost}",
                    line=line, seq=seq, kind="position",
                )
