"""Attack review 3: seeded random searches over short command sequences of colluding accounts.

Every derivative of the shipped list (XBTUSD inverse, ETHUSD quanto, XBTUSDT linear, XBTZ26 dated future) and
the spot pair XBT_USDT trade together, so XBt and USDt are each shared by several contracts (cross and isolated
pools, spot balances).  A handful of accounts place, amend and cancel orders, isolate and cross, transfer margin,
change leverage and risk limits, deposit and withdraw, while marks move (random walk with jumps), funding ticks
and the future expires and is settled.  After **every** command the search checks:

* the command ends with exactly one ``Accepted`` / ``Rejected`` and no ``InternalError``;
* a rejected command changed nothing (the canonical state, event sequence number aside);
* every registered invariant holds (``rules.invariants.check_all`` with the command's ``StepInfo``):
  INV-CONSERVATION per asset, INV-NO-NEG-EQUITY, INV-WITHDRAW-SAFE, INV-INSURANCE-NONNEG, the ADL ones, ...

Only ``random.Random(seed)`` decides.  :func:`run` returns the statistics and the first problem found.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted, InternalError, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.rules.contract import compute_notional
from perpspec.rules.instrument_file import load_builtin_instruments, load_instrument
from perpspec.rules.invariants import check_all

SPOT_PATH = Path(__file__).resolve().parent.parent / "specs" / "instruments" / "spot" / "XBT_USDT.toml"
EXPIRY = 1_798_200_000_000  # XBTZ26
START = EXPIRY - 3_600_000
# symbol: (start price, tick, lot)
MARKETS = {
    "XBTUSD": (5_000_000, 50, 100),
    "ETHUSD": (300_000, 5, 1),
    "XBTUSDT": (5_000_000, 50, 1_000),
    "XBTZ26": (5_000_000, 50, 100),
    "XBT_USDT": (5_000_000, 50, 100),
}
ACCOUNTS: tuple[int, ...] = (1, 2, 3, 4, 5)


def instruments() -> dict[str, Any]:
    out = dict(load_builtin_instruments())
    out["XBT_USDT"] = load_instrument(str(SPOT_PATH))
    return out


def pools(engine: Engine, account_id: int) -> dict[str, tuple[int, int]]:
    """(equity at mark, maintenance) of every pool of the account holding a position, by member symbol."""
    account = engine.accounts.get(account_id)
    out: dict[str, tuple[int, int]] = {}
    if account is None:
        return out
    tiers = {symbol: ps.chosen_tier for symbol, ps in account.positions.items()}
    try:  # judged at the own risk tiers: the waterfall first lowers a chosen risk limit (RiskLimitLowered)
        for ps in account.positions.values():
            ps.chosen_tier = 0
        for symbol, ps in account.positions.items():
            if ps.qty != 0 and symbol in engine.marks:
                _, equity, maintenance, members = engine.risk.pool_of(account, symbol)
                if members:
                    out[symbol] = (equity, maintenance)
    finally:
        for symbol, ps in account.positions.items():
            ps.chosen_tier = tiers[symbol]
    return out


SELF_ONLY = (c.Withdraw, c.TransferMargin, c.SetLeverage, c.Isolate, c.SetRiskLimit, c.CancelOrder, c.CancelAll,
             c.Deposit)


def _without_seq(engine: Engine) -> tuple[object, ...]:
    state = list(engine.canonical())
    counters = list(state[14])  # (next order id, next pending id, seq, time)
    counters[2] = 0
    state[14] = tuple(counters)
    return tuple(state)


@attrs.define
class Result:
    seed: int
    commands: int = 0
    outcomes: Counter[str] = attrs.field(factory=Counter)
    rejects: Counter[str] = attrs.field(factory=Counter)
    problem: str | None = None
    history: list[Any] = attrs.field(factory=list)


def _setup(rng: random.Random, now: int) -> list[Any]:
    out: list[Any] = [
        c.DepositInsurance(time_ms=now, asset="XBt", amount=rng.choice((10**6, 10**8, 10**9))),
        c.DepositInsurance(time_ms=now, asset="USDt", amount=rng.choice((10**6, 10**9, 10**11))),
    ]
    for account in ACCOUNTS:
        out.append(c.VerifyAccount(time_ms=now, account=account))
        big = account == 1
        out.append(c.Deposit(time_ms=now, account=account, asset="XBt",
                             amount=10**11 if big else rng.choice((10**6, 10**7, 10**8, 10**9))))
        out.append(c.Deposit(time_ms=now, account=account, asset="USDt",
                             amount=10**13 if big else rng.choice((10**7, 10**8, 10**9, 10**10))))
    for symbol, (price, _, _) in MARKETS.items():
        out.append(c.PriceUpdate(time_ms=now, symbol=symbol, mark_price=price, index_price=price))
    return out


def _command(rng: random.Random, engine: Engine, marks: dict[str, int], now: int) -> Any:
    symbol = rng.choice(tuple(MARKETS))
    _, tick, lot = MARKETS[symbol]
    mark = marks[symbol]
    account = rng.choice(ACCOUNTS)
    side = rng.choice(("Buy", "Sell"))
    roll = rng.random()
    asset = rng.choice(("XBt", "USDt"))
    if roll < 0.10 and symbol != "XBT_USDT":  # two colluders cross at the band's edge, sized to the margin
        inst = engine.instrument_map[symbol]
        partner = rng.choice([a for a in ACCOUNTS if a != account])
        edge = mark * rng.choice((-49, -30, -10, 0, 10, 30, 49)) // 1000 // tick * tick
        price = max(tick, mark + edge)
        available = max(0, engine.available(account, inst.settl_currency))
        lot_value = max(1, compute_notional(inst, lot, price))
        lots = max(1, available * rng.choice((10, 30, 60, 90, 98)) // lot_value)
        qty = min(lots * lot, inst.max_order_qty // lot * lot)
        out: list[Any] = []
        if rng.random() < 0.5:
            out.append(c.SetLeverage(time_ms=now, account=account, symbol=symbol,
                                     leverage_hundredths=rng.choice((0, inst.max_leverage_hundredths, 2_500))))
        out.append(c.PlaceOrder(time_ms=now, account=partner, symbol=symbol, side=side, order_qty=qty, price=price))
        out.append(c.PlaceOrder(time_ms=now, account=account, symbol=symbol, side="Sell" if side == "Buy" else "Buy",
                                order_qty=qty, price=price))
        return out
    if roll < 0.20:  # the mark moves
        if rng.random() < 0.8:
            step = rng.randint(-300, 300) * tick
        else:
            step = mark * rng.randint(-30, 30) // 100 // tick * tick
        new = max(tick, mark + step)
        if rng.random() < 0.05:  # at the instrument's bounds
            inst = engine.instrument_map[symbol]
            new = rng.choice((1, tick, tick + 1, mark * 2, mark // 2, inst.max_price, inst.max_price - 1))
            new = min(max(1, new), inst.max_price)
        marks[symbol] = new
        return c.PriceUpdate(time_ms=now, symbol=symbol, mark_price=new, index_price=new)
    if roll < 0.45:  # a limit order near the mark (the maker or a colluder)
        offset = rng.randint(-5, 5) * tick if rng.random() < 0.7 else rng.randint(-40, 40) * tick
        price = max(tick, mark + offset)
        qty = rng.choice((1, 2, 5, 10, 50, 100, 500, 2000)) * lot
        tif = rng.choice((None, None, None, "ImmediateOrCancel", "FillOrKill", "GoodTillCancel"))
        exec_inst = rng.choice(("", "", "", "ReduceOnly", "ParticipateDoNotInitiate", "Close"))
        if exec_inst == "Close":
            return c.PlaceOrder(time_ms=now, account=account, symbol=symbol, side=side, price=price, exec_inst="Close")
        return c.PlaceOrder(time_ms=now, account=account, symbol=symbol, side=side, order_qty=qty, price=price,
                            time_in_force=tif, exec_inst=exec_inst)
    if roll < 0.52:  # a market order
        qty = rng.choice((1, 10, 100, 1000)) * lot
        return c.PlaceOrder(time_ms=now, account=account, symbol=symbol, side=side, order_qty=qty)
    if roll < 0.55:  # a stop
        distance = rng.randint(1, 100) * tick
        stop_px = mark + distance if side == "Buy" else max(tick, mark - distance)
        return c.PlaceOrder(time_ms=now, account=account, symbol=symbol, side=side,
                            order_qty=rng.choice((1, 10, 100)) * lot, stop_px=stop_px,
                            exec_inst=rng.choice(("", "ReduceOnly", "LastPrice", "IndexPrice", "Close")))
    if roll < 0.60:
        live = sorted(engine.live_orders)
        order_id = rng.choice(live) if live and rng.random() < 0.9 else rng.randint(1, 10**6)
        owner = engine.live_orders[order_id].account if order_id in engine.live_orders else account
        if rng.random() < 0.5:
            return c.CancelOrder(time_ms=now, account=owner, order_id=order_id)
        if rng.random() < 0.5:
            return c.AmendOrder(time_ms=now, account=owner, order_id=order_id,
                                price=max(tick, mark + rng.randint(-60, 60) * tick))
        return c.AmendOrder(time_ms=now, account=owner, order_id=order_id, leaves_qty=rng.randint(1, 50) * lot)
    if roll < 0.65:
        return c.SetLeverage(time_ms=now, account=account, symbol=symbol,
                             leverage_hundredths=rng.choice((0, 0, 100, 200, 500, 1_000, 2_500, 5_000, 10_000)))
    if roll < 0.69:
        return c.Isolate(time_ms=now, account=account, symbol=symbol, enabled=rng.random() < 0.5)
    if roll < 0.75:
        pos = engine.accounts[account].positions.get(symbol)
        base = abs(pos.iso_margin) if pos is not None and pos.iso_margin else 10**6
        amount = rng.choice((1, -1, base, -base, base // 2, -(base // 2), rng.randint(-10**8, 10**8)))
        return c.TransferMargin(time_ms=now, account=account, symbol=symbol, amount=amount or 1)
    if roll < 0.78:
        steps = rng.randint(0, 4)
        inst = engine.instrument_map[symbol]
        return c.SetRiskLimit(time_ms=now, account=account, symbol=symbol,
                              risk_limit=inst.risk_limit + steps * inst.risk_step)
    if roll < 0.85:  # withdrawals: exactly what is available, a bit more, a bit less, everything
        available = max(1, engine.available(account, asset))
        wallet = max(1, engine.wallet(account, asset))
        amount = rng.choice((available, available + 1, max(1, available - 1), wallet, max(1, available // 2)))
        return c.Withdraw(time_ms=now, account=account, asset=asset, amount=amount)
    if roll < 0.87:
        return c.Deposit(time_ms=now, account=account, asset=asset, amount=rng.choice((1, 10**6, 10**8)))
    if roll < 0.92:
        perp = rng.choice(("XBTUSD", "ETHUSD", "XBTUSDT"))
        return c.FundingTick(time_ms=now, symbol=perp,
                             rate_e8=rng.choice((1, -1, 10_000, -10_000, 375_000, -375_000,
                                                 rng.randint(-5_000_000, 5_000_000))))
    if roll < 0.93:
        return c.Settle(time_ms=now, symbol="XBTZ26", settlement_price=marks["XBTZ26"])
    if roll < 0.97:
        return c.CancelAll(time_ms=now, account=account, symbol=rng.choice((None, symbol)))
    return c.TimeTick(time_ms=now)


def run(seed: int, length: int, *, keep_history: bool = False) -> Result:
    """Run seed ``seed`` for ``length`` commands after the setup; stop at the first problem."""
    global ACCOUNTS
    rng = random.Random(seed)
    engine = Engine(instruments(), max_liquidations_per_update=rng.choice((1, 2, 64)))
    ACCOUNTS = tuple(range(1, rng.choice((4, 6, 13)) + 1))
    engine.track_steps = True
    result = Result(seed)
    marks = {symbol: price for symbol, (price, _, _) in MARKETS.items()}
    now = EXPIRY - rng.choice((60_000, 600_000, 3_600_000, 10**9))
    setup = _setup(rng, now)
    queue = list(setup)
    for index in range(len(setup) + length):
        if not queue:
            now += rng.choice((0, 0, 1, 1_000, 1_000, 10_000, 60_000))
            made = _command(rng, engine, marks, now)
            queue = made if isinstance(made, list) else [made]
        command = queue.pop(0)
        if keep_history:
            result.history.append(command)
        before = _without_seq(engine)
        acting = getattr(command, "account", None)
        pools_before = {a: pools(engine, a) for a in ACCOUNTS}
        try:
            events = engine.process(command)
        except Exception as error:  # the search records whatever escapes
            result.problem = f"#{index} {command}: escaped {type(error).__name__}: {error}"
            return result
        result.commands += 1
        last = events[-1]
        if any(isinstance(e, InternalError) for e in events):
            result.problem = f"#{index} {command}: InternalError {[e for e in events if isinstance(e, InternalError)]}"
            return result
        if isinstance(last, Rejected):
            result.outcomes["rejected"] += 1
            result.rejects[last.reason.value] += 1
            if _without_seq(engine) != before:
                result.problem = f"#{index} {command}: rejected ({last.reason}) but the state changed"
                return result
        elif isinstance(last, Accepted):
            result.outcomes["accepted"] += 1
        else:
            result.problem = f"#{index} {command}: last event {last}"
            return result
        for event in events:
            name = type(event).__name__
            if name == "RuleEvent":
                result.outcomes[type(event.record).__name__] += 1
            elif name == "Execution":
                result.outcomes["exec:" + event.exec_type] += 1
        pending = {p.account for p in engine.waterfall.pending}
        # known (tests/test_attack3_close_out_maker_left_bankrupt.py): a close-out fill may leave its maker
        # bankrupt until the next update; counted, not reported
        closeout_makers = {
            e.record.maker_account_id
            for e in events
            if type(e).__name__ == "RuleEvent" and type(e.record).__name__ == "LiquidationFill"
        }
        if isinstance(last, Accepted):
            for account_id in ACCOUNTS:
                if account_id in pending:
                    continue
                for symbol, (equity, maintenance) in pools(engine, account_id).items():
                    was = pools_before[account_id].get(symbol)
                    below = equity < maintenance
                    if not below:
                        continue
                    if isinstance(command, SELF_ONLY) and account_id == acting and (was is None or was[0] >= was[1]):
                        result.problem = (f"#{index} {command}: account {account_id} {symbol} pool taken below "
                                          f"maintenance by its own command: {was} -> {(equity, maintenance)}")
                        return result
                    inst = engine.instrument_map[symbol]
                    if equity < 0 and not inst.tick_size < engine.marks[symbol] < inst.max_price:
                        # known (tests/test_attack3_liquidation_at_the_price_bounds.py): at a price bound the
                        # liquidation index never selects the pool; counted, not reported
                        result.outcomes["known:pool-at-a-price-bound"] += 1
                        continue
                    if account_id in closeout_makers and equity < 0:
                        result.outcomes["known:close-out-maker-left-bankrupt"] += 1
                        continue
                    if (isinstance(command, c.PriceUpdate | c.FundingTick) and engine.waterfall.max_liquidations_per_update
                            >= 64 and equity < 0):
                        result.problem = (f"#{index} {command}: account {account_id} {symbol} pool below zero after "
                                          f"the waterfall: {(equity, maintenance)}")
                        return result
                    if isinstance(command, c.PlaceOrder) and (was is None or was[0] >= was[1]) and equity < 0:
                        result.outcomes["fill-left-pool-negative"] += 1
        found = {key: problems for key, problems in check_all(engine, engine.step_info(events)).items() if problems}
        after_adl = found.get("INV-NO-NEG-EQUITY-AFTER-ADL", [])
        known = [p for p in after_adl if any(p.startswith(f"account {a} ") for a in closeout_makers)]
        if known and len(known) == len(after_adl):
            result.outcomes["known:close-out-maker-left-bankrupt"] += 1
            del found["INV-NO-NEG-EQUITY-AFTER-ADL"]
        if found:
            result.problem = f"#{index} {command}: {found}"
            return result
    return result


if __name__ == "__main__":  # python -m tests.attack3_search FIRST COUNT LENGTH
    import sys

    first, count, length = (int(arg) for arg in sys.argv[1:4])
    totals: Counter[str] = Counter()
    rejects: Counter[str] = Counter()
    commands = 0
    for seed in range(first, first + count):
        result = run(seed, length)
        commands += result.commands
        totals.update(result.outcomes)
        rejects.update(result.rejects)
        if result.problem:
            print(f"seed {seed}: {result.problem}", flush=True)
    print(f"seeds {first}..{first + count - 1}: {commands} commands")
    print(dict(sorted(totals.items())))
    print(dict(sorted(rejects.items())))
