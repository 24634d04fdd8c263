"""perpspec: the rulebook of a BitMEX-style perpetual-futures exchange, executable, tested and proved.

The front door (documented in ``docs/library.md``)::

    import perpspec

    ex = perpspec.Exchange(["XBTUSD"])           # one contract; a logical clock at 0
    ex.price("XBTUSD", mark="50000")             # a mark price in USD: the contract can trade
    for account in (1, 2): ex.open_account(account, deposit="1 XBT")
    ex.sell(2, "XBTUSD", 1000, price="50000")    # a resting limit order
    assert ex.buy(1, "XBTUSD", 1000) and ex.position(1, "XBTUSD").qty == 1000

* :func:`position` — a position's BitMEX fields from human inputs (``perpspec position``);
* :class:`Exchange` — the matching engine driven in human units; :class:`Result` per command;
* :func:`simulate`, :func:`scenarios` — stress scenarios (``perpspec simulate``);
* :func:`prove` — the Z3 proof obligations (needs ``pip install 'perpspec[prove]'``);
* :func:`instrument` — a shipped instrument, fields overridable by BitMEX name;
* :class:`InputError` — every refusal names the field and the unit expected.

Underneath, everything lives in one package: :mod:`perpspec.rules` (the rule
kernels: pure, typed, integer-only), :mod:`perpspec.engine` (the deterministic
matching engine), :mod:`perpspec.proofs` (the Z3 obligations over the same
kernels) and :mod:`perpspec.specs` (instruments, scenarios, the generated rulebook).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = [
    "Exchange",
    "InputError",
    "Result",
    "__version__",
    "instrument",
    "position",
    "prove",
    "scenarios",
    "simulate",
]

if TYPE_CHECKING:
    from perpspec.api import Exchange, InputError, Result, instrument, position, prove, scenarios, simulate


if not TYPE_CHECKING:  # a type checker sees the names above, so a misspelt perpspec.<name> is an error (redteam26_2)

    def __getattr__(name: str) -> Any:
        """Load the front door on first use, so that ``perpspec`` itself (and the CLI) starts fast."""
        if name in __all__:
            from perpspec import api

            return getattr(api, name)
        raise AttributeError(f"module 'perpspec' has no attribute {name!r}")
