"""INV-NO-NEG-EQUITY-AFTER-ADL: each account's equity at mark, judged once an instant's waterfall completed.

:class:`EquityChecks` holds the auditor's equity judgements (split out of engine/audit/auditor.py when it reached 800
lines; :class:`engine.audit.auditor.Auditor` inherits them): :meth:`touch` notes when a record took an account's equity
below zero (the line a finding blames), :meth:`check_equity` judges it at the end of a mark update's or a funding
instant's waterfall.  A currency's equity is judged over the positions settled in it alone, and one the log states no
mark for is bounded (:mod:`engine.audit.bounds`): a bound below zero is reported, one at or above zero passes, and the
rest is listed as not judged -- once, until the account's equity in that currency is judged again (session 22, aud22b:
an unmarked contract, in any currency, switched the check off for the whole account, in silence).
"""

from __future__ import annotations

from perpspec.engine.audit.bounds import get_equity_bounds, get_unmarked
from perpspec.engine.audit.equity_index import EquityIndex
from perpspec.engine.audit.instant import Instant
from perpspec.engine.audit.ledger import Ledger
from perpspec.rules.instrument import Instrument


class EquityChecks:
    """INV-NO-NEG-EQUITY-AFTER-ADL (the auditor calls :meth:`touch` at each posting, :meth:`check_equity` at an
    instant's end)."""

    # the auditor's state these checks read (engine.audit.auditor.Auditor sets them)
    instruments: dict[str, Instrument]
    ledger: Ledger
    now: Instant
    line: int
    waiting: dict[tuple[int, str], int]
    since_check: set[int]
    checked_marks: dict[str, int]
    equity_index: EquityIndex
    negative_accounts: set[tuple[int, str]]
    unsure: set[tuple[int, str]]

    def report(
        self, rule_id: str, message: str, expected: object = "", reported: object = "", line: int | None = None,
        seq: int | None = None, kind: str | None = None,
    ) -> None:
        """Record one finding: :meth:`engine.audit.auditor.Auditor.report`."""
        raise NotImplementedError

    def not_judged(self, rule_id: str, message: str, reported: object = "", line: int | None = None,
                   kind: str | None = None) -> None:
        """List a check not judged: :meth:`engine.audit.auditor.Auditor.not_judged`."""
        raise NotImplementedError

    def touch(self, account: int) -> None:
        """The account changed at this record: note when its equity at mark went below zero (blamed if it ends so)."""
        now = self.now
        now.touched[account] = self.line
        if account < 0:
            return
        self.since_check.add(account)
        ledger = self.ledger
        positions = ledger.positions(account)
        assets = {self.instruments[symbol].settl_currency for symbol in positions} or set(ledger.assets())
        # per currency, a position without a mark bounding its equity (bounds.py: no longer the whole account skipped)
        if any((high := get_equity_bounds(ledger, account, asset)[1]) is not None and high < 0 for asset in assets):
            now.negative_since.setdefault(account, self.line)
        else:
            now.negative_since.pop(account, None)

    def is_update(self, now: Instant) -> bool:
        """The instant is the next update a carry or a shortfall waits for: a waterfall ran, a mark row moved a mark
        or stated one at a new timestamp, or funding was paid (the engine's waterfall then saw the pools due).  A
        trade's take-over (a trader's fill comes before the instant's first waterfall record: the rows say so, not
        the end row's label, which a venue could rewrite: redteam30_2) is no such update: it judged only the pools the
        trade's fills touched, and the pools a carry names still wait (session 20, LIQ-034 at a trade; an index-only
        PriceUpdate whose stop traded is one too: redteam30_3)."""
        # a trader's fill before the first waterfall record that is not a close-out's maker (whose execution row comes
        # before its LiquidationFill record: tests/test_mut_s17_audit_shortfall.py)
        take_over = bool(now.pre_fills - now.close_out_makers)
        return (now.waterfall and not take_over) or now.updated or bool(now.funding)

    def check_equity(self, now: Instant) -> None:
        """INV-NO-NEG-EQUITY-AFTER-ADL once the instant's waterfall completed (the registry's equity kernel): after
        every mark update and funding instant, a waterfall with nothing to do included (the engine should have
        liquidated an account below zero), but for the pools a carry names and the close-outs a shortfall keeps:
        waiting for the next update, they are judged at the end of its instant (unless carried again there).  A mark
        row restating, at the same timestamp, the mark a waterfall record of an earlier instant stated (perpspec's
        at the end of each step) is not that update: the exemption holds through it.

        Each currency is judged over the positions settled in it; one without a mark in the log is bounded
        (:func:`get_equity_bounds`): reported when the equity is below zero at every mark the venue may hold, passed
        when it is at or above zero at every one, else listed as not judged (once, until judged again)."""
        update = self.is_update(now)
        waiting = {} if update else self.waiting
        ledger = self.ledger
        # equity moves only with a mark (holders) or a posting (accounts changed since the last check); a mark row
        # restating the marks of the last check (perpspec's at the end of a step whose waterfall ran) moves no one
        marks = ledger.get_marks()
        moved = now.waterfall or marks != self.checked_marks
        # of the holders, only those a move can take across zero (equity_index: O(1) judgements between postings)
        crossed = self.equity_index.crossed(self.checked_marks, marks) if marks != self.checked_marks else set()
        self.checked_marks = marks
        expired = {account for account, _ in self.waiting} if update else set()  # exempt until now: judged now
        held = (crossed | self.equity_index.always) & ledger.holders if moved else set()
        posted = self.since_check
        candidates = sorted(account for account in held | posted | expired if account >= 0)
        self.since_check = set()
        for account in candidates:
            positions = ledger.positions(account)
            equities: dict[str, int] = {}
            bounded = False  # a currency's equity bounded, not known (a position the log states no mark for)
            for asset in ledger.assets():
                key, (low, high) = (account, asset), get_equity_bounds(ledger, account, asset)
                bounded = bounded or low != high
                line = now.negative_since.get(account, now.touched.get(account, now.marked or now.first_line))
                exempt = key in now.carried or key in now.short or key in waiting
                if high is not None and high < 0:
                    equity = high  # below zero at every mark the venue may hold
                elif low is not None and low >= 0:
                    equity = low
                else:  # not decided: listed once until the account's equity in ``asset`` is judged again
                    if not exempt and key not in self.unsure:
                        self.unsure.add(key)
                        self.not_judged("INV-NO-NEG-EQUITY-AFTER-ADL", f"account {account} {asset}: equity at mark "
                                        f"not known while it holds {', '.join(get_unmarked(ledger, account, asset))}, "
                                        "which the log states no mark for", reported=f"between {low} and {high}",
                                        line=line, kind="record")
                    continue
                self.unsure.discard(key)
                equities[asset] = equity
                if equity >= 0:
                    self.negative_accounts.discard(key)
                elif exempt:
                    continue  # LIQ-034 / ADL-021: its pool or close-out is still due (judged at the next update)
                elif key not in self.negative_accounts:
                    self.negative_accounts.add(key)
                    after = "the waterfall" if now.waterfall else "a mark update or funding with no liquidation"
                    unmarked = get_unmarked(ledger, account, asset) if low != high else []
                    most = f" (at most: {', '.join(unmarked)} without a mark)" if unmarked else ""
                    self.report("INV-NO-NEG-EQUITY-AFTER-ADL", f"account {account} {asset}: equity at mark after {after}"
                                f"{most}", expected=">= 0", reported=equity, line=line, seq=None, kind="record")
            if bounded:
                self.equity_index.unmarked(account)  # judged at every move until the log states its marks
                continue
            reported = {asset for asset in equities if (account, asset) in self.negative_accounts}
            self.equity_index.judged(account, positions, marks, equities, reported,
                                     exact=account in crossed and account not in posted)
