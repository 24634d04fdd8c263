"""The rule specialiser: kernels generated from the rules, proved equal to them (DESIGN §7b).

A rule kernel is straight-line integer code generic over its number type.
Evaluated once per instrument on traced integers (:mod:`.trace`: parameters
concrete, per-call values traced) it becomes an expression DAG, folded and
shared; :mod:`.emit` prints it as a plain-int Python function.  The
:mod:`.catalogue` says which compositions of rules are emitted (single rules
and the fused pre-trade check), :mod:`.generate` writes the modules under
``engine/kernels/`` with the proof record ``specs/kernels.json``, and
:mod:`.equivalence` proves each emitted *source text* — run by the small
interpreter of :mod:`.interpret` on symbolic integers — equal to the rules it
names (``perpspec prove --only KRN/``).  Nothing in this package is trusted
for correctness: its output is proved.
"""
