"""redteam29_5 (medium, money as redteam27_2: a refused instant lets a holder close before the retry and escape its
funding; FND-020 after 4420dea): a FundingTick is still refused (LiquidationPending).  FND-020's docstring says the
unbounded waterfall "stops only when no pool is due" so the second judgement never refuses -- but after the waterfall
``Prices._waterfall`` runs the stops the close-outs' prints trigger (``after_trading``), and a stop's trades can leave
a *maker's* pool below maintenance after the waterfall has ended.  FND-020 then judges it and refuses the instant.

Attack (ETHUSD, LIQ-034 budget 1): two isolated 50x longs of 1,000 at 3,000 (accounts 1, 2); account 5 (cross, no
position, 6,500,000 XBt) rests a bid of 1,000 at 2,939.  The mark falls to 2,900: the PriceUpdate takes account 1
over, account 2 is carried (budget); account 5's bid is below the take-overs' bankruptcy price 2,940 (the close-outs
do not reach it).  Account 6 bids 1,000 at 2,945 (liquidity for the close-out); account 7 rests a LastPrice Stop
sell of 1,000 at 2,950.  FundingTick: the waterfall takes account 2 over, its close-out sells to account 6 at 2,945
(a print), the waterfall ends with no pool due; the print fires account 7's stop, which sells into account 5's bid
at 2,939 (LIQ-044 allows a maker fill that leaves its pool >= 0): account 5's cross pool is left at 2,673,475 vs
maintenance 3,163,834 -> the tick is Rejected ("... below maintenance at mark after the FundingTick's waterfall").
Any post-waterfall trade that leaves a maker below maintenance does it: an isolated maker through redteam29_1's
unfunded premium (2,202,834 vs 3,163,834 with the same figures), or fix26's own "the remainder may fall below
maintenance" reduction.
Rule broken: FND-020 (4420dea: a FundingTick's waterfall takes every pool due over before paying; refused "only if a
pool were still below maintenance after that waterfall (none is)"), and the instant's funding is not paid at its time.
Suggested fix: loop waterfall + after_trading until neither leaves a pool due (bounded: each pass takes at least one
pool over, each pool at most once) before judging FND-020; or run the triggers inside the waterfall's rounds.
Exits 0 when the FundingTick is accepted, 1 when it is refused with LiquidationPending.
Run: PERPSPEC_ROOT=/work/main python redteam29_5.py
"""
import sys

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.invariants import check_all

E, P, LOW = "ETHUSD", 300_000, 290_000
e = Engine(max_liquidations_per_update=1)  # LIQ-034's budget: one pool per PriceUpdate
e.track_steps = True


def ok(cmd):
    ev = e.process(cmd)
    assert isinstance(ev[-1], Accepted), (cmd, ev[-1])
    found = {k: v for k, v in check_all(e, e.step_info(ev)).items() if v}
    assert not found, found
    return ev


ok(c.PriceUpdate(time_ms=0, symbol=E, mark_price=P, index_price=P))
ok(c.DepositInsurance(time_ms=0, asset="XBt", amount=10**10))
for a in range(1, 8):
    ok(c.VerifyAccount(time_ms=0, account=a))
    ok(c.Deposit(time_ms=0, account=a, asset="XBt", amount=10**10))
for long_, short in ((1, 3), (2, 4)):
    ok(c.Isolate(time_ms=1, account=long_, symbol=E, enabled=True))
    ok(c.SetLeverage(time_ms=1, account=long_, symbol=E, leverage_hundredths=5000))
    ok(c.PlaceOrder(time_ms=1, account=short, symbol=E, side="Sell", order_qty=1000, price=P))
    ok(c.PlaceOrder(time_ms=1, account=long_, symbol=E, side="Buy", order_qty=1000, price=P))
# account 5: a cross bid of 1,000 at 2,939 (below the mark: no premium at entry), 6,500,000 XBt left in the wallet
ok(c.PlaceOrder(time_ms=1, account=5, symbol=E, side="Buy", order_qty=1000, price=293_900))
ok(c.Withdraw(time_ms=1, account=5, asset="XBt", amount=e.accounts[5].wallet("XBt") - 6_500_000))
ok(c.PriceUpdate(time_ms=2, symbol=E, mark_price=LOW, index_price=LOW))
print("after the PriceUpdate, carried by the budget:", [a for a in (1, 2) if e.accounts[a].positions[E].qty])
ok(c.PlaceOrder(time_ms=3, account=6, symbol=E, side="Buy", order_qty=1000, price=294_500))
ok(c.PlaceOrder(time_ms=3, account=7, symbol=E, side="Sell", order_qty=1000, ord_type="Stop", stop_px=295_000,
                exec_inst="LastPrice"))
ev = e.process(c.FundingTick(time_ms=4, symbol=E, rate_e8=100))
for x in ev:
    if type(x).__name__ == "Execution" and x.last_qty:
        print(f"  account {x.account} traded {x.last_qty} at {x.last_px} {x.text}")
print(" ", type(ev[-1]).__name__, getattr(ev[-1], "text", ""))
a5 = e.accounts[5]
if a5.positions[E].qty:
    _, equity, maintenance, _ = e.risk.pool_of(a5, E)
    print(f"account 5's pool: equity {equity}, maintenance {maintenance}")
bad = isinstance(ev[-1], Rejected) and ev[-1].reason.value == "LiquidationPending"
print("WRONG: FND-020 refused the instant after its unbounded waterfall" if bad else "ok")
sys.exit(1 if bad else 0)
