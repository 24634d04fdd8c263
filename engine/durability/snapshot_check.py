"""What a snapshot must share with its journal's genesis: the state no command changes.

No command changes an instrument or an engine setting (``SETTINGS`` in :mod:`engine.core.state_names`: LIQ-034's
budget, the ADL policy, the clock's largest step), so a snapshot whose instruments or settings differ from the
journal's starting state is not a state this journal could have reached, whatever its hash says: recovery refuses it
as :class:`SnapshotCorrupt`, naming the field (redteam28_4: XBTUSD settled in USDt over XBt positions; redteam31_1: a
pro-rata ADL policy, a budget of 1 and a 1 ms clock step were recovered silently).
"""

from __future__ import annotations

import attrs

from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_names import SETTINGS, STATE
from perpspec.engine.durability.journal import SnapshotCorrupt

_OWNER = dict(STATE)


def setting(engine: Engine, name: str) -> object:
    """The engine's value of setting ``name`` (one of ``SETTINGS``)."""
    return getattr(getattr(engine, _OWNER[name]), name)


def check_snapshot_against_genesis(loaded: Engine, genesis: Engine, path: str) -> None:
    """Refuse a snapshot (``loaded``) whose instruments or settings are not ``genesis``'s (its journal's start)."""
    want_all, got_all = genesis.instruments(), loaded.instruments()
    for symbol in sorted(set(want_all) | set(got_all)):
        want, got = want_all.get(symbol), got_all.get(symbol)
        if want is None or got is None:
            where = "not in the journal's genesis" if want is None else "missing (the journal's genesis has it)"
            raise SnapshotCorrupt(path, 0, f"instrument {symbol} {where}")
        # field by field: the compiled build's instrument class compares unequal to the interpreted one as objects
        field = next((f.name for f in attrs.fields(type(want)) if getattr(want, f.name) != getattr(got, f.name)), None)
        if field is not None:
            raise SnapshotCorrupt(path, 0, f"instrument {symbol}: {field} is {getattr(got, field, '?')!r}, the "
                                  f"journal's genesis has {getattr(want, field, '?')!r}")
    for name in SETTINGS:
        if setting(loaded, name) != setting(genesis, name):
            raise SnapshotCorrupt(path, 0, f"setting {name} is {setting(loaded, name)!r}, the journal's genesis has "
                                  f"{setting(genesis, name)!r} (no command changes it)")
