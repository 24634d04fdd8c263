"""A forged liquidation-index entry for the liquidation engine is dropped on load, dirty or not (session 15, helper
"mut15").

``Risk.rebuilt_index`` (session 14, redteam8_2) keeps a dirty account's entries as they are (the next refresh
recomputes them), but only a trader's (``account_id >= 0``): the liquidation engine is never indexed (its
close-outs are the waterfall's), and ``refresh_index`` never touches it, so an entry kept for it would stay for
good -- a candidate that is no position.  Dropping ``account_id >= 0`` passed every test (the forged entry tried
had the engine's account clean and without a position record).  Here it is dirty and holds a flat position record
in the contract: the entry is still dropped, and the state hash is the honest state's.
"""

from __future__ import annotations

import copy
from typing import Any

from perpspec.engine.core.exchange import Engine
from tests.test_intake_s14 import _crash, _liquidatable_engine, _reloaded


def test_a_dirty_liquidation_engines_forged_entry_is_dropped_on_load() -> None:
    honest = _liquidatable_engine()

    def forge(state: dict[str, Any]) -> None:
        flat = copy.copy(state["accounts"][1].positions["XBTUSD"])
        object.__setattr__(flat, "qty", 0)
        object.__setattr__(flat, "cost", 0)
        flat.orders = {}
        state["accounts"][-1].positions["XBTUSD"] = flat
        state["dirty"][-1] = None
        state["liq"].set(-1, "XBTUSD", True, 10**9)

    loaded = _reloaded(honest, forge)
    assert (-1, "XBTUSD") not in loaded.liq.entries
    assert loaded.liq.entries == honest.liq.entries
    reference = Engine.from_snapshot(honest.snapshot())
    assert _crash(loaded) == _crash(reference) == 0
