"""The engine's state, by the names it is saved under: each name and the component that owns it.

One list for the sequencer (:mod:`engine.core.exchange`: its checkpoints, snapshots and loader), the state check
(:mod:`engine.core.state_check`: the fields a state must hold) and recovery (the attributes a snapshot saves).  The
order is the snapshot dict's; a name added later goes last, and a snapshot from before it takes the value the loader
gives (``Engine.from_snapshot``).
"""

from __future__ import annotations

from typing import Final

STATE: Final = (
    ("instrument_map", "market"),
    ("books", "market"),
    ("marks", "market"),
    ("index_prices", "market"),
    ("last_prices", "market"),
    ("accounts", "ledger"),
    ("insurance_funds", "ledger"),
    ("fees", "ledger"),
    ("deposits", "ledger"),
    ("conditional", "triggers"),
    ("live_orders", "registry"),
    ("day_orders", "registry"),
    ("holders", "ledger"),
    ("dms_heap", "registry"),
    ("liq", "risk"),
    ("dirty", "risk"),
    ("multi", "risk"),
    ("pending", "waterfall"),
    ("spot_reservations", "registry"),
    ("next_order_id", "registry"),
    ("next_pending_id", "waterfall"),
    ("seq", "stream"),
    ("time_ms", "stream"),
    ("max_liquidations_per_update", "waterfall"),
    ("adl_policy_name", "waterfall"),
    ("stats", "waterfall"),
    ("settled", "market"),
    ("max_clock_step_ms", "stream"),
    ("funded", "market"),  # FND-021: each perpetual's last funding instant paid (since session 21)
)
STATE_NAMES: Final = tuple(name for name, _owner in STATE)
# the settings: state no command changes (a snapshot must hold its journal genesis's: engine.durability.snapshot_check)
SETTINGS: Final = ("max_liquidations_per_update", "adl_policy_name", "max_clock_step_ms")
