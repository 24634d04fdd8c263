"""Session 8, helper "adlwallet": can any command sequence reach a free wallet below zero with no cross position?

The claim under test (LIQ-053, LIQ-054, issue 13): **no command sequence reaches a free wallet (wallet − Σ
isolated margins in a currency) below zero while the account holds no open cross position in that currency and
no liquidation is pending for it** — such a pool is never liquidated, and the next isolated loss leaves the
account flat and owing (INV-NO-NEG-EQUITY).  LIQ-054 refuses every trader fill that would get there; the other
ways a cross position closes or margin moves were tried here, every command checked by
``tests.test_free_wallet.free_wallet_problems`` and ``rules.invariants_trading.check_no_neg_equity``:

* **ADL** (ADL-003/020) — cannot: a cross position is eligible only if its pool's equity at mark stays ≥ 0
  were the whole position closed at the bankruptcy price, and for the pool's last position that figure *is* the
  free wallet after the close (free wallet + value at the bankruptcy price − cost).  A partial close leaves the
  position open.  An isolated position deleveraged realises ≥ 0 and releases margin: its free wallet only rises.
  Pinned below with exact figures (the haircut is 213,500; the free wallet goes from −5,198,750 to 11,254,250).
* **Take-over of a cross pool** (LIQ-023/036/037) — brings the free wallet to exactly 0 whenever the residual
  is ≥ 0: ``fw + realised − residual`` with ``residual = fw + realised``.  LIQ-036 takes an owing pool over at its
  unclamped bankruptcy price, so the residual is ≥ its reserve and the *fund's size does not matter*: the deficit
  moves into the liquidation engine's held position (fund, then ADL).  Pinned below with a fund of 0 and the
  remainder deleveraged.  Only LIQ-036's documented [I] bounds (an inverse long owing more than its entry value,
  a linear short likewise) keep a negative residual and a draw capped by the fund (INS-003).  A pool's margin
  is ``> maintenance − entry value`` whenever it was last found safe (one funding tick or an isolated fill
  admitted by LIQ-053 cannot pass the bound), so it takes a further wallet drop while the pool is carried by
  LIQ-034: was **reachable** with two funding ticks of 60% and a budget of one liquidation (with an empty fund
  the account ended flat owing 23,075,000), closed by **FND-004's cap** on a FundingTick (refused beyond it,
  MALFORMED) *near the entry price*: one capped tick there moves a margin by less than its maintenance, and the
  test below pins 60% refused (nothing changed).  Still reachable at the cap after a mark gap (session 8's strict
  xfail): FND-008 charges the cap on the value *at mark*, unbounded for an inverse long as the mark falls (mark
  150.00: one capped tick of 125,000,001 left account 7 flat owing 27,999,000, exempt from INV-NO-NEG-EQUITY
  while the liquidation engine held the close-out).  Closed by **FND-020** (session 9): a FundingTick waits,
  LiquidationPending, while a pool holding the contract is below maintenance at mark, so only a pool found
  safe is funded, and such a pool stays within LIQ-036's bound at the cap (proved per contract and side,
  ``FND-020/funded-pool-stays-coverable``); both tests below pin the wait and the take-over to exactly 0.
* **Funding** (FND-008) — an isolated position's funding moves its margin and the wallet together (the free
  wallet is unchanged); a cross position's runs the waterfall at once, and while the pool is carried it still
  holds its position.
* **Isolate / SetLeverage / TransferMargin / SetRiskLimit** — cannot close a cross position except by
  isolating it, and isolating sets margin aside, which ``_change_leverage`` refuses when the available balance
  after is < 0; with no cross position left the available balance is at most the free wallet.  Pinned below.
* **Settlement of XBTZ26** (SET-003/005) — was **reachable**, closed by **SET-006**.  SET-005 settles only pools
  at or above maintenance at the settlement price, so the free wallet after closing the last cross position was
  ``equity − settlement fee ≥ maintenance − fee``.  The fee (SET-002, 0.05% of the value *at the settlement
  price*) exceeds the maintenance (0.5% of the *entry* value + posComm) once an inverse contract's price has
  fallen more than ~11.5-fold: a pool in ``[maintenance, fee)`` was settled into a negative free wallet.  SET-006
  (the lead's decision) charges the fee only as far as the pool's equity at the settlement price reaches; the two
  tests below (a plain cross long; a cross short whose profit backs an isolated margin) now pin the capped fee and
  the wallets ending at exactly 0.

Fixes proposed for the lead (rule decisions).  Settlement (who bears the unpaid fee): SET-002/003 charge the settlement fee only
as far as the holder's pool equity at the settlement price reaches — ``min(fee, max(pool equity, 0))`` — the
fee pool forgoing the rest (a trader never owes more than the posted margin, as LIQ-036 says).  Conservation
(Σ Δwallet − Δcost = −Δfee pool) holds with the capped fee on both sides.  [Adopted as SET-006, helper
"settlefee", session 8.]  LIQ-036's bound: no funding
(FND-008) for a pool the waterfall has found due and carried (refuse the FundingTick, typed, until the carried
work is done, or charge such a pool only down to minus its entry value), so no pool reaches the bound [the
FundingTick refused beyond FND-004's cap, session 8; and while a pool is carried, FND-020, session 9]; and
``check_no_neg_equity`` might not exempt an account whose wallet is already negative after its take-over
(the pending close-out can no longer change it: here the exemption hid the debt for 190 updates).
"""

from __future__ import annotations

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlFill, Liquidation
from perpspec.rules.invariants_trading import check_no_neg_equity
from tests.test_free_wallet import free_wallet, free_wallet_problems, has_cross_position

XBT_50K, XBT_55K, ETH_3000 = 5_000_000, 5_500_000, 300_000
PENDING_7 = (
    "account 7's pool holding XBTUSD is below maintenance at mark after the FundingTick's waterfall: "
    "the next mark update or funding runs it again"
)


class Run:
    """An engine whose every accepted command is checked against the claim and INV-NO-NEG-EQUITY."""

    def __init__(self, wallets: tuple[tuple[int, int], ...], fund: int, budget: int = 64) -> None:
        self.engine = Engine(max_liquidations_per_update=budget)
        self.engine.track_steps = True
        self.problems: list[str] = []
        if fund:
            self.ok(c.DepositInsurance(time_ms=0, asset="XBt", amount=fund))
        for account_id, wallet in wallets:
            self.ok(c.VerifyAccount(time_ms=0, account=account_id))
            self.ok(c.Deposit(time_ms=0, account=account_id, asset="XBt", amount=wallet))

    def ok(self, command: c.Command) -> list[object]:
        events: list[object] = list(self.engine.process(command))
        assert isinstance(events[-1], Accepted), (command, events[-1])
        self.problems.extend(free_wallet_problems(self.engine, events))
        self.problems.extend(check_no_neg_equity(self.engine, self.engine.step_info(events)))  # type: ignore[arg-type]
        return events

    def mark(self, time_ms: int, symbol: str, price: int) -> list[object]:
        return self.ok(c.PriceUpdate(time_ms=time_ms, symbol=symbol, mark_price=price, index_price=price))

    def trade(self, time_ms: int, maker: int, taker: int, symbol: str, taker_side: str, qty: int, price: int) -> None:
        maker_side = "Sell" if taker_side == "Buy" else "Buy"
        self.ok(c.PlaceOrder(time_ms=time_ms, account=maker, symbol=symbol, side=maker_side, order_qty=qty, price=price))
        self.ok(c.PlaceOrder(time_ms=time_ms, account=taker, symbol=symbol, side=taker_side, order_qty=qty, price=price))

    def pool(self, account_id: int, symbol: str) -> tuple[int, int, int, list[str]]:
        return self.engine.risk.pool_of(self.engine.accounts[account_id], symbol)

    def wallet(self, account_id: int) -> int:
        return self.engine.accounts[account_id].wallet("XBt")


def _records(events: list[object], kind: type) -> list[object]:
    return [record for event in events if isinstance(record := getattr(event, "record", None), kind)]


# --- settlement: closed by SET-006 ----------------------------------------------------------------------------


def _settlements(events: list[object]) -> list[tuple[int, int, str]]:
    return [(e.account, e.exec_comm, e.text) for e in events if isinstance(e, Execution) and e.exec_type == "Settlement"]


def test_set_006_a_cross_long_at_maintenance_is_settled_to_a_zero_wallet_its_fee_capped() -> None:
    """SET-002/003/005/006, INV-NO-NEG-EQUITY: account 2 deposits 230,135,000 XBt and buys 10,000 XBTZ26 cross at
    50,000.00 (taker fee 15,000: wallet 230,120,000; entry value 20,000,000, maintenance 100,000 + posComm
    15,150 = 115,150).  At expiry the mark is 4,000.00: the long's PnL is −230,000,000, its pool's equity 120,000
    ≥ 115,150, so nothing is liquidated and SET-005 lets the settlement run.  The fee is 0.05% of the value at
    4,000.00 (250,000,000): 125,000 > 120,000.  Before SET-006 account 2 was left flat at −5,000; now the fee is
    charged only up to the pool's equity, 120,000, and the wallet ends at exactly 0.  Account 3 (the short, equity
    far above its fee) pays the full 125,000; the fee pool receives 245,000, what the wallets paid."""
    run = Run(((2, 230_135_000), (3, 10**10)), fund=10**9)
    expiry = run.engine.instrument_map["XBTZ26"].expiry_ms
    assert expiry is not None
    start = expiry - 1_000_000
    run.mark(start, "XBTZ26", XBT_50K)
    run.trade(start, 3, 2, "XBTZ26", "Buy", 10_000, XBT_50K)
    assert run.wallet(2) == 230_120_000
    run.mark(expiry, "XBTZ26", 400_000)
    assert run.pool(2, "XBTZ26") == (230_120_000, 120_000, 115_150, ["XBTZ26"])
    wallet_3, fee_pool = run.wallet(3), run.engine.fee_pool("XBt")
    events = run.ok(c.Settle(time_ms=expiry, symbol="XBTZ26", settlement_price=400_000))
    assert _settlements(events) == [
        (2, 120_000, "Settlement: realisedPnl -230000000; settlement fee 125000, charged 120000: the pool's equity "
                     "(SET-006)"),
        (3, 125_000, "Settlement: realisedPnl 230000000"),
    ]
    assert run.engine.accounts[2].positions["XBTZ26"].qty == 0
    assert (run.wallet(2), run.wallet(3) - wallet_3, run.engine.fee_pool("XBt") - fee_pool) == (
        0, 230_000_000 - 125_000, 245_000
    )
    assert run.problems == []


def test_set_006_settling_the_cross_short_backing_an_isolated_margin_leaves_a_zero_free_wallet() -> None:
    """SET-002/003/005/006, LIQ-053/054, INV-NO-NEG-EQUITY: account 2 deposits 9,990,000 and sells 10,000 XBTZ26
    cross at 50,000.00 (fee 15,000: wallet 9,975,000).  The mark falls to 4,000.00: a profit of 230,000,000,
    pool equity 239,975,000.  Against that profit (MRG-060) it buys 797 ETHUSD 1x isolated at 3,000.00: margin
    239,458,650, fee 179,325, so the free wallet is −229,662,975 and the cross pool's equity 337,025 ≥ its
    maintenance 115,150 (LIQ-053).  At expiry the mark is 4,003.50: equity 118,425 ≥ 115,150, so SET-005
    settles; the fee on the value at 4,003.50 is 124,891.  Before SET-006 the free wallet after was −6,466 with
    no cross position; now the fee charged is the pool's equity, 118,425, and the free wallet is exactly 0 (the
    wallet is the isolated margin, 239,458,650).  The fee pool receives 118,425 + account 3's full 124,891 =
    243,316.  The ETHUSD mark then falls to 20.00: the isolated pool is taken over (residual 362,635 and the
    close-out's 1,590,015 to the fund) and account 2 is flat at 0, not owing."""
    run = Run(((2, 9_990_000), (3, 10**10), (4, 10**10)), fund=10**9)
    expiry = run.engine.instrument_map["XBTZ26"].expiry_ms
    assert expiry is not None
    start = expiry - 1_000_000
    run.mark(start, "XBTZ26", XBT_50K)
    run.mark(start, "ETHUSD", ETH_3000)
    run.trade(start, 3, 2, "XBTZ26", "Sell", 10_000, XBT_50K)
    run.mark(start + 1, "XBTZ26", 400_000)
    assert run.pool(2, "XBTZ26") == (9_975_000, 239_975_000, 115_150, ["XBTZ26"])
    run.ok(c.SetLeverage(time_ms=start + 1, account=2, symbol="ETHUSD", leverage_hundredths=100))
    run.trade(start + 1, 4, 2, "ETHUSD", "Buy", 797, ETH_3000)
    assert run.engine.accounts[2].positions["ETHUSD"].iso_margin == 239_458_650
    assert free_wallet(run.engine, 2) == -229_662_975
    assert run.pool(2, "XBTZ26")[1:3] == (337_025, 115_150)
    run.mark(expiry, "XBTZ26", 400_350)
    assert run.pool(2, "XBTZ26")[1:3] == (118_425, 115_150)
    fee_pool = run.engine.fee_pool("XBt")
    events = run.ok(c.Settle(time_ms=expiry, symbol="XBTZ26", settlement_price=400_350))
    assert [(account, fee) for account, fee, _ in _settlements(events)] == [(2, 118_425), (3, 124_891)]
    assert not has_cross_position(run.engine, 2, "XBt")
    assert (free_wallet(run.engine, 2), run.wallet(2), run.engine.fee_pool("XBt") - fee_pool) == (
        0, 239_458_650, 243_316
    )
    fund = run.engine.insurance("XBt")
    run.ok(c.PlaceOrder(time_ms=expiry, account=4, symbol="ETHUSD", side="Buy", order_qty=797, price=2_000))
    for step in (1, 2):
        run.mark(expiry + step, "ETHUSD", 2_000)
    assert run.engine.accounts[2].positions["ETHUSD"].qty == 0
    assert (run.wallet(2), run.engine.insurance("XBt") - fund) == (0, 362_635 + 1_590_015)
    assert run.problems == []


def test_fnd_004_020_funding_a_carried_cross_pool_is_capped_then_waits_for_its_take_over_to_zero() -> None:
    """FND-004, FND-020, LIQ-034/023/036, FND-008/019, INS-011, INV-NO-NEG-EQUITY — the LIQ-036 finding, closed.
    One liquidation per update; an empty fund.  Accounts 6 (1,200,000 XBt) and 7 (2,000,000) each buy 50,000
    XBTUSD cross at 50,000.00 from account 3 (fee 75,000: wallets 1,125,000 and 1,925,000; entry value
    100,000,000; maintenance 575,750).  The mark gaps to 49,300.00 (value 101,420,000, PnL −1,420,000): both
    pools are due, account 6 (equity −295,000) is taken over at 49,481.00 (residual 76,000 to the fund, its
    close-out deleveraged against account 3) and account 7 (equity 505,000 < 575,750) is carried (LIQ-034).
    Before the cap a FundingTick of 60% charged the carried pool beyond minus its entry value (LIQ-036's [I]
    bound: a second 60% tick left account 7 flat owing 23,075,000 with an empty fund).  Now 60% is refused,
    MALFORMED, naming XBTUSD's cap (0.375%), and changes nothing but the sequence number.  At the cap the tick
    never funds the carried pool (FND-020; session 8 charged it 380,325 here): it first runs the waterfall at the
    mark (session 19, redteam24_1; until then it was refused and waited for the next mark update), which takes
    account 7 over at 49,092.50: value there 101,848,500, so the residual is 1,925,000 − 1,848,500 = 76,500, to the
    fund (76,000 → 152,500), and account 7 is flat at exactly 0, not owing.  Then it funds: the liquidation engine
    holds account 7's long and owes 380,325, the fund pays all it has (FND-019) and account 3 is credited 152,500."""

    def carried() -> Run:
        run = Run(((3, 10**10), (6, 1_200_000), (7, 2_000_000)), fund=0, budget=1)
        run.mark(0, "XBTUSD", XBT_50K)
        for account_id in (6, 7):
            run.trade(0, 3, account_id, "XBTUSD", "Buy", 50_000, XBT_50K)
        assert (run.wallet(6), run.wallet(7)) == (1_125_000, 1_925_000)
        events = run.mark(1, "XBTUSD", 4_930_000)
        [taken] = _records(events, Liquidation)
        assert (taken.account_id, taken.equity, taken.taken[0].takeover_price, taken.residual_margin) == (
            6, -295_000, 4_948_100, 76_000
        )
        assert run.pool(7, "XBTUSD") == (1_925_000, 505_000, 575_750, ["XBTUSD"])  # due, carried
        assert run.engine.positions(7)["XBTUSD"].qty == 50_000
        return run

    run, reference = carried(), carried()
    refused = run.engine.process(c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=60_000_000))
    assert [(type(e), e.reason, e.text) for e in refused] == [  # type: ignore[attr-defined]
        (Rejected, Reason.MALFORMED, "rate_e8 beyond FND-004's cap ±375000")
    ]
    reference.engine.process(c.TimeTick(time_ms="2"))  # type: ignore[arg-type]  # refused at the first check
    assert run.engine.state_hash() == reference.engine.state_hash()
    events = run.ok(c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=375_000))
    [taken] = _records(events, Liquidation)  # the waterfall first: account 7 taken over, never funded
    assert (taken.account_id, taken.pool_margin, taken.equity, taken.taken[0].takeover_price) == (
        7, 1_925_000, 505_000, 4_909_250
    )
    assert taken.residual_margin == 1_925_000 - 1_848_500 == 76_500
    # FND-019: the liquidation engine holds account 7's long (50,000 at 49,092.50) and owes 380,325; the fund
    # (76,000 + 76,500) pays what it has, 152,500, and account 3 (the short) is credited that much
    assert (run.wallet(3) - 10_001_009_000, run.wallet(7), run.engine.insurance("XBt")) == (152_500, 0, 0)
    assert run.problems == []


def test_fnd_020_a_capped_funding_tick_waits_for_a_carried_pool_at_a_crashed_mark_and_leaves_nobody_owing() -> None:
    """FND-020, LIQ-034/036, FND-004/008, INV-NO-NEG-EQUITY — the LIQ-036 finding at the cap, closed.
    Accounts 6, 7 and 8 each buy 50,000 XBTUSD at 50,000.00 from account 3; one liquidation per update, an empty
    fund.  The mark gaps to 150.00: account 6 is taken over at 49,481.00 (residual 76,000, the fund), account 7
    (wallet 1,925,000) is carried, account 8 (wallet 999.99 XBT) is safe.  Before FND-020 a FundingTick at the cap
    (0.375%) charged account 7 on its value at 150.00, 125,000,001, beyond minus its entry value (100,000,000):
    LIQ-036's [I] bound, and account 7 was left flat owing 27,999,000.  Now the tick never funds the carried pool:
    it first runs the waterfall at the mark (session 19, redteam24_1; until then it was refused and waited for the
    next mark update), which takes account 7 over at 49,092.50 (residual 76,500 to the fund); its close-out is
    deleveraged against account 3 (ADL-020).  Then it funds: account 8 pays 125,000,001, account 3 receives
    125,000,000, the fund the residue 1; account 7 is flat at exactly 0."""
    run = Run(((3, 10**10), (6, 1_200_000), (7, 2_000_000), (8, 10**11)), fund=0, budget=1)
    run.mark(0, "XBTUSD", XBT_50K)
    for account_id in (6, 7, 8):
        run.trade(0, 3, account_id, "XBTUSD", "Buy", 50_000, XBT_50K)
    [taken] = _records(run.mark(1, "XBTUSD", 15_000), Liquidation)
    assert (taken.account_id, taken.taken[0].takeover_price, taken.residual_margin) == (6, 4_948_100, 76_000)
    assert (run.engine.positions(7)["XBTUSD"].qty, run.wallet(7), run.engine.insurance("XBt")) == (50_000, 1_925_000, 76_000)
    wallets = (run.wallet(3), run.wallet(8))
    events = run.ok(c.FundingTick(time_ms=2, symbol="XBTUSD", rate_e8=375_000))
    [taken] = _records(events, Liquidation)  # the waterfall first: account 7 taken over, never funded
    assert (taken.account_id, taken.pool_margin, taken.taken[0].takeover_price, taken.residual_margin) == (
        7, 1_925_000, 4_909_250, 76_500
    )
    [adl] = _records(events, AdlFill)
    assert (adl.account_id, adl.close_qty, adl.price) == (3, -50_000, 4_909_250)  # type: ignore[attr-defined]
    # account 3: the ADL of its short at 49,092.50 realises 1,848,500, then the funding 125,000,000
    assert (run.wallet(3) - wallets[0], run.wallet(8) - wallets[1]) == (1_848_500 + 125_000_000, -125_000_001)
    assert (run.wallet(7), run.engine.insurance("XBt")) == (0, 152_501)
    assert run.problems == []


# --- ADL, take-over, isolate: not reachable (exact figures) ----------------------------------------------------


def _profit_backed(fund: int) -> Run:
    """Account 2 (0.1 XBT): cross long 50,000 XBTUSD at 50,000.00; at a mark of 55,000.00 account 5 (0.075 XBT) is
    short 50,000 at 55,000.00 and account 2 buys 250 ETHUSD 5x isolated at 3,000.00 against its cross profit:
    margin 15,067,500, free wallet −5,198,750, cross pool equity 3,892,250 ≥ maintenance 575,750 (LIQ-053).
    Nobody else holds XBTUSD, and no order rests in it."""
    run = Run(((2, 10_000_000), (3, 10**10), (4, 10**10), (5, 7_500_000)), fund=fund)
    run.mark(0, "XBTUSD", XBT_50K)
    run.mark(0, "ETHUSD", ETH_3000)
    run.trade(0, 3, 2, "XBTUSD", "Buy", 50_000, XBT_50K)
    run.mark(1, "XBTUSD", XBT_55K)
    run.trade(1, 3, 5, "XBTUSD", "Sell", 50_000, XBT_55K)
    run.ok(c.SetLeverage(time_ms=2, account=2, symbol="ETHUSD", leverage_hundredths=500))
    run.trade(2, 4, 2, "ETHUSD", "Buy", 250, ETH_3000)
    assert free_wallet(run.engine, 2) == -5_198_750
    assert run.pool(2, "XBTUSD") == (-5_198_750, 3_892_250, 575_750, ["XBTUSD"])
    return run


def test_adl_003_deleveraging_the_cross_long_that_backs_the_free_wallet_leaves_it_above_zero() -> None:
    """ADL-003/020, LIQ-054's claim: with an empty insurance fund the XBTUSD mark jumps to 60,000.00; account 5's
    short is taken over at 59,846.50 (residual 69,818 to the fund), nobody sells, the fund's cover at mark is
    below zero (ADL-031), and account 2's long — the only one — is deleveraged at 59,846.50: 213,500 below its
    value at mark.  ADL-003 admitted it because its pool's equity if closed there is 11,254,250 ≥ 0, and that is
    its free wallet after: −5,198,750 plus the 16,453,000 the close realises.  The ETHUSD pool then
    keeps its 15,067,500 with a free wallet ≥ 0 and no cross position, as the claim needs."""
    run = _profit_backed(fund=0)
    events = run.mark(3, "XBTUSD", 6_000_000)
    (taken,) = _records(events, Liquidation)
    assert (taken.account_id, taken.taken[0].takeover_price, taken.residual_margin) == (5, 5_984_650, 69_818)  # type: ignore[attr-defined]
    (adl,) = _records(events, AdlFill)
    assert (adl.account_id, adl.close_qty, adl.price, adl.haircut, adl.equity_after) == (  # type: ignore[attr-defined]
        2, 50_000, 5_984_650, 213_500, 11_254_250
    )
    assert not has_cross_position(run.engine, 2, "XBt")
    assert free_wallet(run.engine, 2) == 11_254_250  # the pool equity ADL-003 required to be >= 0
    assert run.engine.accounts[2].positions["ETHUSD"].iso_margin == 15_067_500
    assert run.engine.insurance_funds["XBt"] == 69_818
    assert run.problems == []


def test_liq_036_the_take_over_of_an_owing_cross_pool_brings_the_free_wallet_to_zero_with_an_empty_fund() -> None:
    """LIQ-023/036, ADL-020, LIQ-054's claim: with an empty insurance fund the XBTUSD mark gaps down to 45,000.00;
    account 2's cross pool owes (equity −16,309,750) and is taken over at its unclamped bankruptcy price
    52,784.50, above the mark: the residual is its reserve, 76,250, paid to the fund — no draw, so the fund's size
    does not matter — and the free wallet is exactly 0.  The held long, 16,386,000 under water at mark, is
    deleveraged against account 5's short at 52,784.50.  Account 2's isolated ETHUSD pool is untouched (15,067,500);
    when the ETHUSD mark then falls to 20.00 it is taken over too and account 2 ends flat at 0, not owing."""
    run = _profit_backed(fund=0)
    events = run.mark(3, "XBTUSD", 4_500_000)
    (taken,) = _records(events, Liquidation)
    assert (taken.account_id, taken.equity, taken.taken[0].takeover_price, taken.residual_margin) == (  # type: ignore[attr-defined]
        2, -16_309_750, 5_278_450, 76_250
    )
    (adl,) = _records(events, AdlFill)
    assert (adl.account_id, adl.close_qty, adl.price, adl.haircut) == (5, -50_000, 5_278_450, 16_386_000)  # type: ignore[attr-defined]
    assert free_wallet(run.engine, 2) == 0
    assert run.engine.insurance_funds["XBt"] == 76_250
    assert run.engine.accounts[2].positions["ETHUSD"].iso_margin == 15_067_500
    run.ok(c.PlaceOrder(time_ms=4, account=4, symbol="ETHUSD", side="Buy", order_qty=250, price=2_000))
    for step in (5, 6):
        run.mark(step, "ETHUSD", 2_000)
    assert run.engine.accounts[2].positions["ETHUSD"].qty == 0
    assert run.wallet(2) == 0
    assert run.problems == []


def test_isolating_the_last_cross_position_that_backs_the_free_wallet_is_refused() -> None:
    """MRG-066 / ``_change_leverage``, LIQ-054's claim: isolating account 2's cross long (the only cross position,
    its profit backing the −5,198,750 free wallet) would set aside posInit + posComm 1,075,750 and leave an
    available balance of −6,274,500 (the isolated long's profit does not count); at 1x, −105,348,750.  Both are
    refused: a non-fill path that would leave no cross position behind a negative free wallet."""
    run = _profit_backed(fund=10**9)
    for command, available in (
        (c.Isolate(time_ms=3, account=2, symbol="XBTUSD", enabled=True), -6_274_500),
        (c.SetLeverage(time_ms=3, account=2, symbol="XBTUSD", leverage_hundredths=100), -105_348_750),
    ):
        refused = run.engine.process(command)[-1]
        assert isinstance(refused, Rejected)
        assert refused.text == f"available balance would be {available}"
    assert has_cross_position(run.engine, 2, "XBt")
    assert free_wallet(run.engine, 2) == -5_198_750
    assert run.problems == []
