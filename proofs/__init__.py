"""perpspec proofs: Z3 obligations over the rule kernels.

* :mod:`proofs.sym` — the symbolic integer the kernels run on (Python floor ``//``);
* :mod:`proofs.prover` — assumptions, goals, vacuity, unknown-as-failure, counterexamples;
* :mod:`proofs.registry` — obligations, discovered from ``proofs/obligations_*.py``;
* :mod:`proofs.known_bad` — deliberately broken rules the checkers must refute.

Importing this package does not import z3; the modules above do.
"""
