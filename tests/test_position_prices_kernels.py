"""Position events' liquidation and bankruptcy prices from the proved ``position_prices_*`` kernels.

The engine reports every position with its MRG-011/012 prices.  With a
current kernel set it computes them with ``position_prices_cross`` /
``position_prices_isolated`` on the pool's margin and its *other* members'
PnL and maintenance (``Risk.other_sums``); the generic path uses the pool's
totals (``Risk.pool_of``).  An account here holds cross positions in three
contracts of one settlement currency and an isolated one, at marks that move,
so the other members' sums are never trivial.  Both ways must give the same
events and state, and every reported price must equal the generic one.
"""

from __future__ import annotations

import itertools
import random

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import PositionUpdate
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import event_stream_hash
from perpspec.engine.kernels import load
from perpspec.proofs.specialise import equivalence
from perpspec.proofs.specialise.catalogue import KernelSpec, kernel_named
from perpspec.proofs.specialise.equivalence import mutate, prove_equivalence
from perpspec.proofs.specialise.generate import ROOT, kernel_path
from perpspec.rules.instrument import Instrument
from perpspec.rules.instrument_file import load_instrument
from tests.kernel_mutants import assert_refuted_by_evaluation, differs_at

# symbol -> (mark in ticks, tick size, lot size)
CONTRACTS = {"XBTUSD": (20_000, 50, 100), "ETHUSD": (30_000, 5, 1), "XBTZ26": (20_400, 50, 100)}
TRADER, OTHER, MAKER = 1, 2, 3


def _commands(seed: int) -> list[object]:
    rng = random.Random(seed)
    out: list[object] = []
    for account in (TRADER, OTHER, MAKER):
        out.append(c.VerifyAccount(time_ms=0, account=account))
        out.append(c.Deposit(time_ms=0, account=account, asset="XBt", amount=5 * 10**8 if account != MAKER else 10**12))
    for symbol, (ticks, tick, _) in CONTRACTS.items():
        out.append(c.PriceUpdate(time_ms=0, symbol=symbol, mark_price=ticks * tick, index_price=ticks * tick))
    out.append(c.SetLeverage(time_ms=0, account=TRADER, symbol="XBTZ26", leverage_hundredths=1_000))
    out.append(c.SetLeverage(time_ms=0, account=OTHER, symbol="ETHUSD", leverage_hundredths=500))
    marks = {symbol: ticks for symbol, (ticks, _, _) in CONTRACTS.items()}
    for step in range(1, 200):
        symbol = rng.choice(tuple(CONTRACTS))
        _, tick, lot = CONTRACTS[symbol]
        if rng.random() < 0.2:
            marks[symbol] = max(1, marks[symbol] + rng.randint(-400, 400))
            mark = marks[symbol] * tick
            out.append(c.PriceUpdate(time_ms=step, symbol=symbol, mark_price=mark, index_price=mark))
            continue
        side = rng.choice(("Buy", "Sell"))
        price = (marks[symbol] + rng.randint(-20, 20)) * tick
        maker_side = "Sell" if side == "Buy" else "Buy"
        out.append(c.PlaceOrder(time_ms=step, account=MAKER, symbol=symbol, side=maker_side,
                                order_qty=rng.randint(1, 30) * lot, price=price))
        out.append(c.PlaceOrder(time_ms=step, account=rng.choice((TRADER, OTHER)), symbol=symbol, side=side,
                                order_qty=rng.randint(1, 20) * lot, price=price))
    return out


def _run(commands: list[object]) -> tuple[str, str, list[PositionUpdate], Engine]:
    engine = Engine()
    events = [event for command in commands for event in engine.process(command)]  # type: ignore[arg-type]
    updates = [event for event in events if isinstance(event, PositionUpdate)]
    return event_stream_hash(events), engine.state_hash(), updates, engine


def test_position_prices_by_kernel_equal_the_generic_ones_on_multi_contract_accounts() -> None:
    for seed in range(4):
        commands = _commands(seed)
        with_kernels = _run(commands)
        with load.generic_rules_only():
            generic = _run(commands)
        assert with_kernels[:3] == generic[:3], seed
        engine = with_kernels[3]
        trader = engine.accounts[TRADER]
        open_cross = [s for s, ps in trader.positions.items() if ps.qty != 0 and ps.leverage == 0]
        open_isolated = [s for s, ps in trader.positions.items() if ps.qty != 0 and ps.leverage != 0]
        assert len(open_cross) >= 2, (seed, open_cross)  # the other members' sums are not trivial
        assert open_isolated, seed
        for account in (TRADER, OTHER):
            holder = engine.accounts[account]
            for symbol in holder.positions:
                by_kernel = engine.risk.position_prices(holder, symbol)
                with load.generic_rules_only():
                    by_rules = engine.risk.position_prices(holder, symbol)
                assert by_kernel == by_rules, (seed, account, symbol)
        assert any(update.liquidation_price > 0 for update in with_kernels[2])


def _differing_point(spec: KernelSpec, inst: Instrument, committed: str, mutated: str) -> dict[str, int]:
    """The first input of a fixed grid at which ``mutated``'s kernel, run on integers, differs from the rules while
    the committed kernel agrees with them: a point that shows the mutation, not some other difference."""
    # large positions, and a tiny one (cost 2 XBt) whose commission rounding is not hidden by the price's tick
    for qty, cost, pool_margin in itertools.product((1_000, -1_000, 100_000, -301),
                                                    (2 * 10**7, -(2 * 10**7), 10**10, 2), (10**8, 10**11, -30_627)):
        point = {**dict.fromkeys(spec.params, 0), "qty": qty, "cost": cost, "pool_margin": pool_margin}
        if differs_at(spec, inst, mutated, point) and not differs_at(spec, inst, committed, point):
            return point
    raise AssertionError(f"no point of the grid tells the mutated {spec.name} from the rules")


@pytest.mark.parametrize("mutation", ["ceil-as-floor", "swap-ite"])
def test_a_mutated_position_prices_kernel_is_refuted(mutation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A known-bad ``position_prices_cross`` is REFUTED at a point where it differs from the rules when run.

    ``not proved`` is not enough: with the solver's search alone the swap-ite mutant (arms of a selection
    swapped, |cost| becoming -|cost|) ends UNKNOWN after its whole budget (140 s at load 13), and ceil-as-floor
    is refuted only after ~15 s of search.  Given a point where the mutant differs from the rules as the
    proof's witness, the same proof refutes it there without a search (the solver's own search finding a
    ceil-as-floor counterexample is tests/test_kernels.py::test_a_mutated_kernel_is_refuted_by_the_equivalence_proof,
    0.2 s on ``order_margin_cross``; the committed kernel proved equal is
    tests/test_s19_nested_floor.py::test_the_nested_kernels_are_proved_equal_to_the_rules[position_prices_cross-XBTUSD]).
    Without the mutation no point of the grid differs and the test fails.
    """
    inst = load_instrument("XBTUSD")
    source = (ROOT / kernel_path("XBTUSD", "position_prices_cross")).read_text(encoding="utf-8")
    spec = kernel_named("position_prices_cross")
    mutated = mutate(source, spec.name, mutation)
    point = _differing_point(spec, inst, source, mutated)
    monkeypatch.setattr(equivalence, "witness", lambda *_: point)
    result = prove_equivalence(spec, inst, mutated, f"known-bad {mutation}")
    assert_refuted_by_evaluation(spec, inst, mutated, result)
    assert result.counterexample is not None
    assert dict(result.counterexample.values) == point
