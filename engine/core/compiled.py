"""The one mypyc marker the engine's classes carry (``perpspec build-native``); a no-op when interpreted.

``perpspec build-native`` (:mod:`engine.bench.native`) compiles the engine's hot
modules, verbatim, with mypyc.  A plain class then becomes a *native* class
whose ``__new__`` runs ``__init__`` — which ``pickle`` (the engine's
checkpoints and snapshots) and :mod:`engine.durability.codec` (objects rebuilt without
``__init__``) cannot use.  ``@mypyc_attr(allow_interpreted_subclasses=True)``
keeps Python's semantics (``__new__`` builds, ``__init__`` initialises).  mypy
and mypyc see the real decorator from ``mypy_extensions`` (which mypyc strips
from native classes); at run time, interpreted, it is this identity function,
so the engine depends on nothing beyond attrs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr as mypyc_attr
else:

    def mypyc_attr(*_flags: Any, **_attrs: Any) -> Any:
        """Identity class decorator (the real one only matters to mypyc)."""
        return lambda cls: cls
