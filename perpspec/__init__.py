"""perpspec: the rulebook of a BitMEX-style perpetual-futures exchange, executable, tested and proved.

Everything lives under this one package:

* :mod:`perpspec.rules` — the rule kernels (pure, typed, integer-only);
* :mod:`perpspec.engine` — the deterministic matching engine that executes them;
* :mod:`perpspec.proofs` — the Z3 proof obligations over the same kernels;
* :mod:`perpspec.specs` — instruments, scenarios and the generated rulebook (data).
"""

from __future__ import annotations

__version__ = "0.2.0"
