"""Session 18 (speed18c): RSK-008's shortcut, remembered by ``OrderEntry.reach_cannot_refuse``, is the rule's answer.

``OrderEntry.check_concentration`` asks ``rules.risk_limit.concentration_cannot_refuse`` whether the largest open
interest that leaves the account concentrated is worth less than the floor.  The engine keeps the rule's answers per
(instrument, mark), keyed by the reach; these tests check it returns exactly the rule's value for every shipped contract, starts over
at another mark or another instrument object, and stays bounded.
"""

from __future__ import annotations

import attrs

from perpspec.engine.core import entry
from perpspec.engine.core.exchange import Engine
from perpspec.rules.instrument import ContractKind
from perpspec.rules.instrument_file import load_builtin_instruments
from perpspec.rules.risk_limit import concentration_cannot_refuse


def test_reach_cannot_refuse_is_the_rule_for_every_shipped_contract_and_mark() -> None:
    table = load_builtin_instruments()
    e = Engine(instruments=table)
    for inst in table.values():
        if inst.kind is ContractKind.SPOT:
            continue
        step = inst.lot_size
        for mark in (1, 7, inst.tick_size * 3, 5_000_000, 123_456_789):
            for reach in (0, 1, step - 1, step, 3 * step + 1, 10**9 + 7, 2**62):
                for _ in range(2):  # the second ask is answered from the table
                    assert e.entry.reach_cannot_refuse(inst, reach, mark) == concentration_cannot_refuse(inst, reach, mark)


def test_the_table_starts_over_at_another_mark_or_instrument_object() -> None:
    table = load_builtin_instruments()
    e = Engine(instruments=table)
    inst = table["XBTUSD"]
    e.entry.reach_cannot_refuse(inst, 1_000, 5_000_000)
    assert e.entry.notional_memo[0] is inst
    assert e.entry.notional_memo[1] == 5_000_000
    assert e.entry.reach_cannot_refuse(inst, 1_000, 2_500_000) == concentration_cannot_refuse(inst, 1_000, 2_500_000)
    assert e.entry.notional_memo[1] == 2_500_000
    assert len(e.entry.notional_memo[2]) == 1
    # an instrument changed (a what-if, a parameter change) is another object: never answered from the old table
    changed = attrs.evolve(inst, lot_size=inst.lot_size * 10)
    assert e.entry.reach_cannot_refuse(changed, 1_000, 2_500_000) == concentration_cannot_refuse(changed, 1_000, 2_500_000)
    assert e.entry.notional_memo[0] is changed


def test_the_table_is_bounded() -> None:
    table = load_builtin_instruments()
    e = Engine(instruments=table)
    inst = table["XBTUSD"]
    for reach in range(entry.NOTIONAL_MEMO_MAX + 10):
        e.entry.reach_cannot_refuse(inst, reach, 5_000_000)
    assert len(e.entry.notional_memo[2]) <= entry.NOTIONAL_MEMO_MAX
    assert e.entry.reach_cannot_refuse(inst, 17, 5_000_000) == concentration_cannot_refuse(inst, 17, 5_000_000)
