"""ACC-006's terms for the proofs of an isolated fill (proofs/obligations_kernels_margin.py): the fill's inputs as
symbols, what the pool keeps of its own money, and what the rest of the account may pay in (moved out of that module
when it passed 800 lines)."""

from __future__ import annotations

from perpspec.proofs.prover import Prover
from perpspec.proofs.sym import all_of, implies
from perpspec.rules.num import abs_, and_, ite, not_, or_


def _opens(old_qty: int, new_qty: int) -> bool:
    """A fill from ``old_qty`` to ``new_qty`` opens contracts: from flat, a flip, or growth on the same side."""
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    same_side = or_(and_(old_qty > 0, new_qty > 0), and_(old_qty < 0, new_qty < 0))
    return and_(new_qty != 0, or_(or_(old_qty == 0, flips), and_(same_side, abs_(new_qty) > abs_(old_qty))))


def _isolated_fill_inputs(prover: Prover) -> tuple[int, ...]:
    """ACC-006's inputs as symbols, with what a fill makes of them: a premium only when it opens, a PnL only when it closes."""
    names = ("old_margin", "old_requirement", "new_requirement", "realised", "premium", "unallocated", "available")
    old_margin, old_req, new_req, realised, premium, unallocated, available = (prover.symbol(n) for n in names)
    old_qty, new_qty = prover.symbol("old_qty"), prover.symbol("new_qty")
    prover.assume(all_of(old_req >= 0, new_req >= 0, premium >= 0), "requirements ≥ 0, premium ≥ 0")
    prover.assume(implies(old_qty == 0, old_req == 0), "a flat position requires nothing")
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    same_side = or_(and_(old_qty > 0, new_qty > 0), and_(old_qty < 0, new_qty < 0))
    closes = and_(old_qty != 0, or_(or_(flips, new_qty == 0), and_(same_side, abs_(new_qty) < abs_(old_qty))))
    opens = _opens(old_qty, new_qty)
    prover.assume(implies(not_(closes), realised == 0), "only a fill that closes realises PnL (ACC-003)")
    prover.assume(implies(not_(opens), premium == 0), "only a fill that opens has a premium (MRG-041)")
    return old_margin, old_req, new_req, realised, premium, unallocated, available, old_qty, new_qty


def _returned(old_margin: int, own: int, realised: int, available: int) -> int:
    """What the rest of the account may pay into the pool at a fill: MRG-050's available (floored at 0) plus what the
    fill returns to it (its realised PnL and what the pool releases of its own money; < 0: a requirement taken)."""
    room = ite(available > 0, available, 0) + realised + old_margin - own
    return ite(room > 0, room, 0)


def _own_after_fill(old_margin: int, old_req: int, new_req: int, realised: int, old_qty: int, new_qty: int) -> int:
    """What the pool holds of its own money after a fill: a flip's new side its requirement; otherwise the
    requirement of what is left and the extra, less the closed part's loss beyond the requirement it frees."""
    flips = or_(and_(old_qty > 0, new_qty < 0), and_(old_qty < 0, new_qty > 0))
    freed = ite(old_req > new_req, old_req - new_req, 0)
    unpaid = ite(realised + freed < 0, realised + freed, 0)
    return ite(flips, new_req, new_req + old_margin - old_req + unpaid)
