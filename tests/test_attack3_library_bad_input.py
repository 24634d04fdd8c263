"""Attack review 3: the library's front door (docs/library.md) fed bad input.

docs/library.md promises: "A value outside these is refused before anything reaches the engine" with
``perpspec.InputError`` naming the field, and "bad *input* raises InputError first".  Four ways around it:

1. **A float clock step bricks the Exchange** (severity: medium for library users).  ``Exchange.advance``
   checks only ``seconds < 0 or ms < 0``: ``advance(seconds=1.5)`` is accepted and sets ``now_ms`` to the
   float ``1500.0``; from then on *every* call is refused by the engine with ``Malformed: time_ms must be an
   integer`` and there is no way back (the clock only moves forward).  ``advance(seconds="1")`` raises a bare
   ``TypeError``.  Fix (perpspec/api.py): refuse anything but a non-bool ``int`` for ``seconds``/``ms`` with
   ``InputError``.
   The same dead end without a float: ``advance(seconds=400 * 86_400)`` is accepted, and every later call is
   refused ``TimeOutOfRange`` (one command may move the engine's clock by at most ``max_clock_step_ms``, 366
   days); fix: refuse a step beyond ``engine.max_clock_step_ms`` (or split it into ``TimeTick`` commands).
2. **Reads of an unknown account raise KeyError** (low).  ``Exchange.wallet(12345)`` and
   ``Exchange.position(12345, "XBTUSD")`` raise ``KeyError: 12345``.  Fix: ``InputError("account", ...)``
   (or 0 / a flat position, as for a known account without that asset).
3. **Over-long numbers escape as a plain ValueError, after seconds of work** (low; a slow-input DoS for a
   service built on the library).  ``price("XBTUSD", "1" * 5000)`` and ``price("XBTUSD", 10**5000)`` raise
   Python's "Exceeds the limit (4300 digits) for integer string conversion" ``ValueError`` (no ``.field``);
   ``Decimal("1E-2000000")`` is first formatted to two million digits (about 1 s; ``1E-7000000``: 7 s) and then
   fails the same way.  Fix (perpspec/api.py ``_decimal_text`` / rules/parse.py ``parse_scaled``): refuse a
   text longer than, say, 100 characters, or a Decimal whose ``adjusted()`` exponent is outside ±40, with
   ``InputError`` before formatting.
4. **Wrong-typed arguments raise TypeError** (low): ``Exchange(adl_policy=[])`` ("unhashable type"),
   ``perpspec.position(5, qty=100, entry="50000")`` ("expected str, bytes or os.PathLike").  Fix: check the
   type first and raise ``InputError``.

Rules: none (the library's documented contract, docs/library.md "Units").
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest

import perpspec


def _exchange() -> perpspec.Exchange:
    ex = perpspec.Exchange(["XBTUSD"])
    assert ex.open_account(1, "1 XBT")
    return ex


@pytest.mark.xfail(strict=True, reason="attack3: advance() takes a float and every later call is Malformed")
def test_a_float_clock_step_is_refused_and_the_exchange_keeps_working() -> None:
    ex = _exchange()
    with pytest.raises(perpspec.InputError):
        ex.advance(seconds=1.5)  # type: ignore[arg-type]
    assert ex.price("XBTUSD", "50000")  # today: Malformed "time_ms must be an integer", forever


@pytest.mark.xfail(strict=True, reason="attack3: advance() beyond the engine's max clock step bricks the Exchange")
def test_a_clock_step_beyond_the_engines_limit_is_refused_or_split() -> None:
    ex = _exchange()
    ex.advance(seconds=1)
    assert ex.price("XBTUSD", "50000")
    with contextlib.suppress(perpspec.InputError):  # refusing the step is fine; a dead Exchange is not
        ex.advance(seconds=400 * 86_400)
    assert ex.price("XBTUSD", "50000")  # today: TimeOutOfRange, forever


@pytest.mark.xfail(strict=True, reason="attack3: advance() with a str raises TypeError")
def test_a_text_clock_step_is_an_input_error() -> None:
    with pytest.raises(perpspec.InputError):
        _exchange().advance(seconds="1")  # type: ignore[arg-type]


@pytest.mark.xfail(strict=True, reason="attack3: reads of an unknown account raise KeyError")
@pytest.mark.parametrize("read", ["wallet", "position"])
def test_reading_an_unknown_account_is_not_a_key_error(read: str) -> None:
    ex = _exchange()
    with contextlib.suppress(perpspec.InputError):  # refusing it is fine; a KeyError is not
        ex.wallet(12345) if read == "wallet" else ex.position(12345, "XBTUSD")


@pytest.mark.xfail(strict=True, reason="attack3: over-long numbers escape as a plain ValueError")
@pytest.mark.parametrize("mark", ["1" * 5000, 10**5000, Decimal("1E-2000000")], ids=["text", "int", "decimal"])
def test_an_over_long_price_is_an_input_error(mark: object) -> None:
    with pytest.raises(perpspec.InputError):
        _exchange().price("XBTUSD", mark)  # type: ignore[arg-type]


@pytest.mark.xfail(strict=True, reason="attack3: wrong-typed arguments raise TypeError")
@pytest.mark.parametrize("call", ["adl_policy", "position_symbol"])
def test_wrong_typed_arguments_are_input_errors(call: str) -> None:
    attempt = {
        "adl_policy": lambda: perpspec.Exchange(adl_policy=[]),  # type: ignore[arg-type]
        "position_symbol": lambda: perpspec.position(5, qty=100, entry="50000"),  # type: ignore[arg-type]
    }[call]
    with pytest.raises(perpspec.InputError):
        attempt()
