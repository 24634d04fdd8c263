"""redteam30_1 (medium-low, work per command / liveness; no money moved): one ordinary 100-contract sell re-works
every held close-out of the exchange once per stop it chains, so a single PlaceOrder costs K x H^2 (K chained stops,
H held close-outs anywhere), unbounded by LIQ-034 and by the command's own fills.

liq20's rule: a pool the command's own fills leave below maintenance is taken over by that command, with no budget
(``Prices.take_over_filled`` -> ``Waterfall.take_over`` -> ``_rounds``), and "the work is proportional to the
command's own" (docs/engine.md, rules/waterfall.py).  But each ``_rounds`` ends every round with ``_close_pending``,
which works *every* held close-out of every contract (not only this command's), and ``_fund_cover`` -- called per
held close-out -- sums every held close-out again: one pass is O(H^2) (cProfile: 91 of 104 s in ``_fund_cover`` /
``compute_held_pnl`` at H=1,200).  ``take_over_filled`` loops: take-over -> the close-outs' prints fire stops ->
their fills are judged -> a new ``take_over`` -> a new ``_rounds`` (fresh ``stuck`` set) -> every held close-out is
worked again.  So K chained stops make K passes of H^2 in one command.  On main a held close-out is worked once per
mark update (one ``_rounds``); the stops a waterfall fires do not re-run it.

The attack (all accounts the attacker's; 100x isolated XBTUSD; 50x ETHUSD):
  * H held close-outs: H tiny ETHUSD 50x longs taken over by one FundingTick after a 1.5% dip with no ETHUSD bids
    (a thin contract; they stay held while nobody bids within LIQ-051's band);
  * K links in XBTUSD: B_i (2,500 XBt, 100x) bids 100 at b_i = 50,000 - 2i USD; a healthy 1x bid h_i = b_i - 1 USD;
    a sell Stop (LastPrice) S_i at h_i, each in its own account (10 stops per account per contract);
  * the mark falls to 49,650 (the bids are stale); one 100-contract sell hits B_0 -> B_0 due -> taken over, its
    close-out prints at h_0 -> S_0 fires, sells into b_1 -> B_1 due -> new take_over -> ...; every link re-works
    the H held close-outs (each emits an AdlDeferred record per pass: K x H records in one command's events).
Figures (this machine, shared): K=9, H=300: 2,820 events, 1.1 s; K=1, H=2,400: 7.5 s; scales as K x H^2, so
K=40, H=1,200 is about 70 s of single-threaded engine time (every other command waits) for one order, and K x H
event rows journaled.  Cost: each link ~2,500 XBt (B_i's margin) plus the stop accounts' fees; each held close-out
one ETHUSD lot's 50x margin; reusable as long as the close-outs stay held.
Also (a, without stops): N stale 100x bids at one price chain in one command's ``_rounds`` with no budget:
N=2,000 makers -> 2,000 liquidations, 16,003 events, 1.35 s from one 100-contract sell (each maker ~2,000 XBt lost).

Rule broken: the take-over's own premise (docs/engine.md, LIQ-034 text: "the work is proportional to the command's
own"); STYLE/DESIGN's bounded work per command (LIQ-034 exists to bound it).  Pre-existing part: ``_fund_cover``
is O(H) per held close-out, so any waterfall is O(H^2) (main: a PriceUpdate at H=1,200 takes 1.86 s); liq20 lets any
trader trigger that pass at will, K times per command.
Suggested fix: in ``Waterfall.take_over`` work only the close-outs this take-over created (or skip held close-outs
already tried at these marks: keep ``stuck`` across the take-overs of one command, e.g. on the stream, reset in
``begin``); compute the fund cover once per pass and update it incrementally; bound ``take_over_filled``'s loop (or
fold all its turns into one ``_rounds``).
Exits 0 when one command works the held close-outs at most once, 1 when it re-works them per chained stop.
Run: PYTHONPATH=/work/wt/liq20 PERPSPEC_ROOT=/work/wt/liq20 python redteam30_1.py
"""
import sys
import time
from collections import Counter

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, RuleEvent
from perpspec.engine.core.exchange import Engine

X, P, E, EP = "XBTUSD", 5_000_000, "ETHUSD", 300_000
K, H = 9, 300
e = Engine()


def ok(cmd):
    ev = e.process(cmd)
    assert isinstance(ev[-1], Accepted), (cmd, ev[-1])
    return ev


ok(c.PriceUpdate(time_ms=0, symbol=X, mark_price=P, index_price=P))
ok(c.PriceUpdate(time_ms=0, symbol=E, mark_price=EP, index_price=EP))
for a in (1, 2, 3):
    ok(c.VerifyAccount(time_ms=0, account=a))
    ok(c.Deposit(time_ms=0, account=a, asset="XBt", amount=10**11))
ok(c.PlaceOrder(time_ms=0, account=2, symbol=X, side="Sell", order_qty=100, price=P))
ok(c.PlaceOrder(time_ms=0, account=3, symbol=X, side="Buy", order_qty=100, price=P))  # last price P
lot = e.instrument_map[E].lot_size
for k in range(H):
    a = 100_000 + k
    ok(c.VerifyAccount(time_ms=1, account=a))
    ok(c.Deposit(time_ms=1, account=a, asset="XBt", amount=10**6))
    ok(c.SetLeverage(time_ms=1, account=a, symbol=E, leverage_hundredths=5_000))
    ok(c.PlaceOrder(time_ms=1, account=2, symbol=E, side="Sell", order_qty=lot, price=EP))
    ok(c.PlaceOrder(time_ms=1, account=a, symbol=E, side="Buy", order_qty=lot, price=EP))
ok(c.PriceUpdate(time_ms=1, symbol=E, mark_price=EP * 985 // 1000, index_price=EP * 985 // 1000))
ok(c.FundingTick(time_ms=1, symbol=E, rate_e8=100))  # takes the H longs over; no ETHUSD bid: held
held = len(e.waterfall.pending)
for i in range(K):
    b, h = P - 200 * i, P - 200 * i - 100
    for a, amount in ((1_000 + i, 2_500), (5_000 + i, 10**9)):
        ok(c.VerifyAccount(time_ms=1, account=a))
        ok(c.Deposit(time_ms=1, account=a, asset="XBt", amount=amount))
    ok(c.SetLeverage(time_ms=1, account=1_000 + i, symbol=X, leverage_hundredths=10_000))
    ok(c.PlaceOrder(time_ms=1, account=1_000 + i, symbol=X, side="Buy", order_qty=100, price=b))  # B_i
    ok(c.PlaceOrder(time_ms=1, account=3, symbol=X, side="Buy", order_qty=100, price=h))  # healthy bid for B_i's close-out
    ok(c.PlaceOrder(time_ms=1, account=5_000 + i, symbol=X, side="Sell", order_qty=100, ord_type="Stop", stop_px=h,
                    exec_inst="LastPrice"))  # S_i
ok(c.PriceUpdate(time_ms=2, symbol=X, mark_price=4_965_000, index_price=4_965_000))
calls = Counter()
inner = e.waterfall._fund_cover
def counted(*args, **kw):
    calls["fund_cover"] += 1
    return inner(*args, **kw)
e.waterfall._fund_cover = counted
t0 = time.perf_counter()
ev = ok(c.PlaceOrder(time_ms=3, account=1, symbol=X, side="Sell", order_qty=100, price=P))
dt = time.perf_counter() - t0
kinds = Counter(type(x.record).__name__ for x in ev if isinstance(x, RuleEvent))
print(f"held close-outs: {held}; one 100-contract sell: {len(ev)} events, {kinds['Liquidation']} liquidations, "
      f"{kinds['AdlDeferred']} AdlDeferred records, {calls['fund_cover']} fund-cover sums over {held} close-outs, {dt:.2f} s")
bad = kinds["AdlDeferred"] > held + 1 or calls["fund_cover"] > held + 1
print(f"WRONG: one order re-worked the {held} held close-outs {kinds['AdlDeferred'] // max(held, 1)} times "
      f"(~{calls['fund_cover'] * held:,} held-PnL terms)" if bad else "ok")
sys.exit(1 if bad else 0)
