"""Seeded streams in which the liquidation engine holds close-outs in profit and at a loss at once (session 16).

The shape of red team 15's ADL-032 find, generated: colluding pairs cross at the mark with 1% margin in XBTZ26,
XBTUSD and ETHUSD (all settled in XBt, so ADL-031's cover sees every one), the marks jump both ways with no book
behind them (the liquidation engine takes over and keeps what nobody bids for), the insurance fund starts small,
the future expires and is settled.  :func:`run` processes one seed's stream and returns, per command, the ADL
fills and the deferrals; every registered invariant is checked after every command
(``rules.invariants.check_all``: INV-ADL-MINIMAL now also says every ADL fill's haircut is ≥ 0).

Only ``random.Random(seed)`` decides.  ``python -m tests.s16_adl_stream FIRST COUNT`` prints the counts.
"""

from __future__ import annotations

import random
from collections import Counter

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, InternalError, Rejected, RuleEvent
from perpspec.engine.core.exchange import Engine
from perpspec.rules.events import AdlDeferred, AdlFill
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.invariants import check_all

EXPIRY = 1_798_200_000_000  # XBTZ26
# symbol: (start price, tick, lot)
MARKETS = {"XBTZ26": (5_000_000, 50, 100), "XBTUSD": (5_000_000, 50, 100), "ETHUSD": (300_000, 5, 1)}
ACCOUNTS = tuple(range(1, 9))


@attrs.define
class Result:
    seed: int
    commands: int = 0
    counts: Counter[str] = attrs.field(factory=Counter)
    negative_haircuts: list[AdlFill] = attrs.field(factory=list)
    problem: str | None = None


def _command(rng: random.Random, marks: dict[str, int], now: int) -> list[object]:
    symbol = rng.choice(tuple(MARKETS))
    _, tick, lot = MARKETS[symbol]
    mark = marks[symbol]
    roll = rng.random()
    if roll < 0.35:  # a colluding pair crosses at the mark, sized in whole lots
        buyer, seller = rng.sample(ACCOUNTS, 2)
        qty = rng.choice((1, 10, 100, 1_000)) * lot
        return [
            c.PlaceOrder(time_ms=now, account=seller, symbol=symbol, side="Sell", order_qty=qty, price=mark),
            c.PlaceOrder(time_ms=now, account=buyer, symbol=symbol, side="Buy", order_qty=qty, price=mark),
        ]
    if roll < 0.80:  # the mark moves: small steps, or a gap with nothing behind it
        if rng.random() < 0.6:
            step = rng.randint(-20, 20) * mark // 1000
        else:
            step = rng.choice((-1, 1)) * rng.randint(20, 200) * mark // 1000
        new = max(tick, (mark + step) // tick * tick)
        marks[symbol] = new
        return [c.PriceUpdate(time_ms=now, symbol=symbol, mark_price=new, index_price=new)]
    if roll < 0.90:  # a resting order near the mark (a bid or ask the close-outs may meet)
        side = rng.choice(("Buy", "Sell"))
        offset = rng.randint(1, 40) * tick
        price = max(tick, mark - offset if side == "Buy" else mark + offset)
        return [c.PlaceOrder(time_ms=now, account=rng.choice(ACCOUNTS), symbol=symbol, side=side,
                             order_qty=rng.choice((1, 10, 100)) * lot, price=price)]
    if roll < 0.95:
        return [c.Settle(time_ms=now, symbol="XBTZ26", settlement_price=marks["XBTZ26"])]
    return [c.TimeTick(time_ms=now)]


def run(seed: int, length: int = 120) -> Result:
    """One seed: the setup, then ``length`` generated commands; stops at the first problem."""
    rng = random.Random(seed)
    engine = Engine(dict(load_builtin_instruments()))
    engine.track_steps = True
    result = Result(seed)
    marks = {symbol: price for symbol, (price, _, _) in MARKETS.items()}
    now = EXPIRY - rng.choice((60_000, 600_000, 3_600_000))
    queue: list[object] = []
    fund = rng.choice((0, 0, 10_000, 10**6, 10**7))
    if fund:
        queue.append(c.DepositInsurance(time_ms=now, asset="XBt", amount=fund))
    for account in ACCOUNTS:
        queue.append(c.VerifyAccount(time_ms=now, account=account))
        queue.append(c.Deposit(time_ms=now, account=account, asset="XBt",
                               amount=rng.choice((10**6, 3 * 10**6, 10**7, 10**8, 10**10))))
    for symbol, (price, _, _) in MARKETS.items():
        queue.append(c.PriceUpdate(time_ms=now, symbol=symbol, mark_price=price, index_price=price))
        for account in ACCOUNTS:
            queue.append(c.SetLeverage(time_ms=now, account=account, symbol=symbol,
                                       leverage_hundredths=rng.choice((0, 10_000, 10_000, 2_500))))
    generated = 0
    while True:
        if not queue:
            if generated == length:
                return result
            generated += 1
            now += rng.choice((0, 1, 1_000, 60_000, 600_000))
            queue = _command(rng, marks, now)
        command = queue.pop(0)
        events = engine.process(command)
        result.commands += 1
        last = events[-1]
        if any(isinstance(e, InternalError) for e in events) or not isinstance(last, Accepted | Rejected):
            result.problem = f"{command}: {last}"
            return result
        for event in events:
            if isinstance(event, RuleEvent):
                record = event.record
                if isinstance(record, AdlFill):
                    result.counts["AdlFill"] += 1
                    if record.haircut < 0:
                        result.negative_haircuts.append(record)
                elif isinstance(record, AdlDeferred):
                    result.counts[f"AdlDeferred {record.rule_id}"] += 1
        found = {key: problems for key, problems in check_all(engine, engine.step_info(events)).items() if problems}
        if found:
            result.problem = f"{command}: {found}"
            return result


if __name__ == "__main__":  # python -m tests.s16_adl_stream FIRST COUNT
    import sys

    first, count = (int(arg) for arg in sys.argv[1:3])
    totals: Counter[str] = Counter()
    negative = 0
    for seed in range(first, first + count):
        result = run(seed)
        totals.update(result.counts)
        negative += len(result.negative_haircuts)
        if result.problem or result.negative_haircuts:
            print(f"seed {seed}: {len(result.negative_haircuts)} negative haircuts; {result.problem}", flush=True)
    print(dict(sorted(totals.items())), "negative haircuts:", negative)
