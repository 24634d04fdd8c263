"""What an account's equity can be when the log states no mark for some of its contracts (session 22, aud22b).

The auditor values a position at the last mark the log stated (CON-002's ``compute_value``).  A venue's log may state
none for a contract an account holds: its value is then unknown, but not unbounded in every case.  ``compute_value``
is monotone in the mark, and a mark is a positive whole number of price units (the reader refuses any other), so over
every mark the venue may hold, ``m >= 1``:

* an inverse contract's value lies between its value at 1 and 0 (CON-001: whole lots times a per-lot value rounded half
  up from ``-multiplier * price_scale * lot_size / m``, which is 0 from some mark up);
* a linear (or quanto) contract's value is ``qty * multiplier * m // price_scale``: from its value at 1 upwards when
  ``qty * multiplier > 0`` (unbounded above), else downwards (unbounded below).

:func:`get_equity_bounds` sums these with the marked positions valued exactly: an account's equity in a currency (the
registry's ``compute_account_equity``: wallet + Σ(value − cost) over the positions settled in it) lies between the two
bounds (None: no bound that side).  The judgements that read it decide only what the bounds decide -- equity surely
below zero, surely not -- and list the rest as not judged.  Positions settled in other currencies never enter.
"""

from __future__ import annotations

from perpspec.engine.audit.ledger import Ledger
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument import Instrument

Bound = int | None  # None: no bound that side


def get_value_bounds(inst: Instrument, qty: int) -> tuple[Bound, Bound]:
    """The least and the most ``compute_value(inst, qty, m)`` can be over every mark ``m >= 1`` (None: unbounded)."""
    at_one = compute_value(inst, qty, 1)
    if inst.is_inverse or qty * inst.multiplier == 0:
        return min(at_one, 0), max(at_one, 0)
    return (at_one, None) if qty * inst.multiplier > 0 else (None, at_one)


def get_unmarked(ledger: Ledger, account: int, asset: str) -> list[str]:
    """The contracts settled in ``asset`` that ``account`` holds and the log has stated no mark for."""
    instruments = ledger.instruments()
    return sorted(symbol for symbol in ledger.positions(account)
                  if instruments[symbol].settl_currency == asset and not ledger.has_mark(symbol))


def get_equity_bounds(ledger: Ledger, account: int, asset: str) -> tuple[Bound, Bound]:
    """The least and the most the account's equity in ``asset`` at mark can be: exact (both the registry's
    ``compute_account_equity``) when the log states a mark for each of its positions settled in ``asset``."""
    instruments = ledger.instruments()
    low: Bound = ledger.wallet(account, asset)
    high: Bound = low
    for symbol, position in ledger.positions(account).items():
        inst = instruments[symbol]
        if inst.settl_currency != asset:
            continue
        least: Bound
        most: Bound
        if ledger.has_mark(symbol):
            least = most = compute_value(inst, position.qty, ledger.mark_price(symbol))
        else:
            least, most = get_value_bounds(inst, position.qty)
        low = None if low is None or least is None else low + least - position.cost
        high = None if high is None or most is None else high + most - position.cost
    return low, high
