"""FND-020: a funding instant waits for the liquidation engine, and what its proof's bound leaves out.

FND-020 refuses a FundingTick (LiquidationPending, nothing changed) while a pool holding the contract is below
maintenance at mark: only a pool LIQ-003 found safe is funded, and ``FND-020/funded-pool-stays-coverable`` proves
such a pool stays within LIQ-036's bound at FND-004's cap.  The proof is unbounded for the XBTUSD long (the
session-8 finding), the ETHUSD and XBTUSDT shorts (their cost a value at a price in range); the XBTUSD short, and
the others with any cost, are proved for marks of two price units or more.  At one price unit Z3 refutes it, and the counterexample is pinned here: there the short's value at mark
is the most any price returns, and funding on it can exceed what the pool holds above maintenance (charged on
the cost), so no price covers what is left.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from perpspec.engine.audit.reader import read_jsonl
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Reason, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.engine.serve.feed import PriceFeed
from perpspec.engine.serve.views import Views
from perpspec.engine.simulation.scenario import load_scenario
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.proofs.obligations_solvency import is_coverable
from perpspec.rules.contract import compute_value
from perpspec.rules.events import Liquidation
from perpspec.rules.funding import FundingRejection, check_funding_ready, compute_funding_payment
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.liquidation import (
    compute_owing_takeover_price,
    compute_position_equity_term,
    compute_requirement,
)
from perpspec.rules.position import Position
from tests.test_owing_cross_pool_after_funding import _carried_pool

XBTUSD = load_instrument("XBTUSD")


def test_fnd_020_the_first_pool_below_maintenance_holds_the_funding_instant() -> None:
    """FND-020: no pool below maintenance, no hold; otherwise the first account (sorted) is named."""
    assert check_funding_ready("XBTUSD", ()) is None
    assert check_funding_ready("ETHUSD", (4, 9)) == FundingRejection(
        reason="liquidation-pending",
        detail="account 4's pool holding ETHUSD is below maintenance at mark after the FundingTick's waterfall: "
        "the next mark update or funding runs it again",
    )


def test_fnd_020_a_cross_pool_due_through_another_contract_is_taken_over_before_that_contract_funds() -> None:
    """FND-020, LIQ-001/034: account 1's cross pool holds XBTUSD and one ETHUSD contract; the XBTUSD mark gap
    leaves it carried (tests/test_owing_cross_pool_after_funding.py).  A FundingTick on ETHUSD, whose mark did not
    move, first runs the waterfall at the marks (redteam24_1; it takes over pools through every contract), which
    takes the pool over, and then funds ETHUSD.  Before session 19 it was refused until the next XBTUSD update."""
    engine = _carried_pool("Buy")
    events = engine.process(c.FundingTick(time_ms=2, symbol="ETHUSD", rate_e8=10_000))
    assert type(events[-1]).__name__ == "Accepted"
    [taken] = [e.record for e in events if isinstance(e, RuleEvent) and isinstance(e.record, Liquidation)]
    assert taken.account_id == 1
    assert engine.positions(1) == {}


def _funded_at_maintenance(mark: int) -> tuple[int, int, int, int]:
    """A cross XBTUSD short of 200 at cost 20,001 (entered near maxPrice) whose pool is exactly at maintenance at
    ``mark``, funded at −0.375% (shorts pay): (payment, backing after, take-over price, what the take-over leaves)."""
    position = Position(qty=-200, cost=20_001)
    req = compute_requirement(XBTUSD, position, 0, 0)
    assert (req.pos_maint, req.pos_comm) == (117, 16)
    backing = req.pos_maint - compute_position_equity_term(XBTUSD, position, mark)  # equity exactly posMaint
    payment = compute_funding_payment(XBTUSD, position, mark, -375_000)
    funded = backing - payment
    price = compute_owing_takeover_price(XBTUSD, position, funded, req.pos_comm)
    left = funded + compute_value(XBTUSD, position.qty, price) - position.cost
    assert is_coverable(XBTUSD, position, funded, req.pos_comm) == (left >= req.pos_comm)
    return payment, funded, price, left


def test_fnd_020_bound_an_inverse_short_at_a_mark_of_one_price_unit_is_funded_past_liq_036() -> None:
    """FND-020's bound (Z3's counterexample): at a mark of one price unit the short's value is 2,000,000,000,000
    XBt (20,000 XBT, all profit: the pool's margin is −1,999,999,979,882 and its equity exactly posMaint 117).
    Funding at the cap charges 0.375% of it, 7,500,000,000, far beyond 117; the take-over at one price unit (the
    best price for a short) leaves −7,499,999,883: no price covers it, the fund then ADL bear it only as far as
    INS-011 reaches and INV-NO-NEG-EQUITY reports the account.  At two price units the same pool pays half as
    much and its take-over at one unit (where its value doubles) leaves 996,250,000,117."""
    assert _funded_at_maintenance(1) == (7_500_000_000, -2_007_499_979_882, 1, -7_499_999_883)
    assert _funded_at_maintenance(2) == (3_750_000_000, -1_003_749_979_882, 1, 996_250_000_117)


class _Gateway:
    """Just what ``PriceFeed.fund_if_due`` reads: an engine's instruments, a clock, the API views (the last rate paid)
    and scripted answers."""

    def __init__(self, answers: dict[str, list[Reason | None]]) -> None:
        self.exchange = Engine()
        self.views = Views()
        self.answers = answers
        self.sent: list[str] = []
        # the feed reads the journal's next seq around a tick (redteam28_5): a stand-in that never moves
        self.durable = SimpleNamespace(writer=SimpleNamespace(next_seq=1))

    def now_ms(self) -> int:
        return 0

    def execute(self, command: c.Command) -> list[object]:
        symbol = command.symbol  # type: ignore[union-attr]
        self.sent.append(symbol)
        reason = self.answers[symbol].pop(0)
        if reason is None:
            return [Accepted(seq=1, time_ms=0, command="FundingTick", account=-1, order_id=0)]
        return [Rejected(seq=1, time_ms=0, command="FundingTick", account=-1, reason=reason, text="", cl_ord_id="")]


def test_fnd_020_perpspec_serve_retries_a_held_funding_instant_and_skips_a_refused_one() -> None:
    """FND-020 in ``perpspec serve``'s price feed: a FundingTick held (LiquidationPending) keeps its instant due and
    is sent again on the next wake; any other refusal moves on to the next instant, as before."""
    gateway = _Gateway({
        "ETHUSD": [None], "XBTUSD": [Reason.LIQUIDATION_PENDING, None], "XBTUSDT": [Reason.MALFORMED],
    })
    feed = PriceFeed(gateway, "calm")  # type: ignore[arg-type]
    feed.next_funding = {"ETHUSD": 0, "XBTUSD": 0, "XBTUSDT": 0}
    assert feed.fund_if_due(0) == ["ETHUSD"]
    assert feed.next_funding["XBTUSD"] == 0 < feed.next_funding["ETHUSD"] == feed.next_funding["XBTUSDT"]
    assert feed.fund_if_due(0) == ["XBTUSD"]
    assert gateway.sent == ["ETHUSD", "XBTUSD", "XBTUSDT", "XBTUSD"]
    assert feed.next_funding["XBTUSD"] == feed.next_funding["ETHUSD"]


def test_fnd_020_perpspec_simulate_funds_the_instant_on_time_with_a_bounded_waterfall(tmp_path: Path) -> None:
    """FND-020 in ``perpspec simulate``: ``tiny_crash`` from 03:45 with one liquidation per update (LIQ-034) still
    has pools carried at the 04:00 funding instant.  The FundingTick first runs the waterfall at the mark without the
    budget (redteam27_2), takes every pool due over and is funded at 04:00 at the interval's rate (0.01%): nothing is
    held (in session 19 it took one more pool per tick and was held 6 times, 04:00-04:05, funded at 04:06; 14 times
    before), and the run's own invariant checks find nothing."""
    scenario = load_scenario("tiny_crash", [("start", "1583984700000"), ("max_liquidations_per_update", "1")])
    result = run_scenario(scenario, tmp_path)
    assert result.invariant_violations == ()
    rows = [row for _, row in read_jsonl(Path(result.event_log))]
    held = [row["timestamp"][11:16] for row in rows
            if row.get("command") == "FundingTick" and row.get("ordRejReason") == "LiquidationPending"]
    assert held == []
    funded = [(row["timestamp"][11:16], row["fundingRate"]) for row in rows if row.get("table") == "funding"]
    assert funded == [("04:00", "0.0001")]
