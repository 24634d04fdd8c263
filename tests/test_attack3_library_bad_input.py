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

Fixed: ``advance`` takes whole non-negative ``int`` steps only and refuses (changing nothing) a step that would
put the clock more than ``engine.max_clock_step_ms`` past the engine's last command or beyond ``MAX_TIME_MS``;
reads of an account that was never opened raise ``InputError("account")``; ``rules/parse.py`` reads at most
``MAX_NUMBER_CHARS`` (200) characters of a number, or an ``int`` of at most 200 digits (``ParseError`` naming the
field; the API's ``InputError``), and the API bounds a ``Decimal``'s digits + exponent before writing it out;
``adl_policy``, ``symbols``, ``symbol`` and ``asset`` of the wrong type are ``InputError``.
"""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal

import pytest

import perpspec


def _exchange() -> perpspec.Exchange:
    ex = perpspec.Exchange(["XBTUSD"])
    assert ex.open_account(1, "1 XBT")
    return ex


def test_a_float_clock_step_is_refused_and_the_exchange_keeps_working() -> None:
    ex = _exchange()
    with pytest.raises(perpspec.InputError):
        ex.advance(seconds=1.5)  # type: ignore[arg-type]
    assert ex.price("XBTUSD", "50000")  # today: Malformed "time_ms must be an integer", forever


def test_a_clock_step_beyond_the_engines_limit_is_refused_or_split() -> None:
    ex = _exchange()
    ex.advance(seconds=1)
    assert ex.price("XBTUSD", "50000")
    with contextlib.suppress(perpspec.InputError):  # refusing the step is fine; a dead Exchange is not
        ex.advance(seconds=400 * 86_400)
    assert ex.price("XBTUSD", "50000")  # today: TimeOutOfRange, forever


def test_a_text_clock_step_is_an_input_error() -> None:
    with pytest.raises(perpspec.InputError):
        _exchange().advance(seconds="1")  # type: ignore[arg-type]


@pytest.mark.parametrize("read", ["wallet", "position"])
def test_reading_an_unknown_account_is_not_a_key_error(read: str) -> None:
    ex = _exchange()
    with contextlib.suppress(perpspec.InputError):  # refusing it is fine; a KeyError is not
        ex.wallet(12345) if read == "wallet" else ex.position(12345, "XBTUSD")


@pytest.mark.parametrize("mark", ["1" * 5000, 10**5000, Decimal("1E-2000000")], ids=["text", "int", "decimal"])
def test_an_over_long_price_is_an_input_error(mark: object) -> None:
    with pytest.raises(perpspec.InputError):
        _exchange().price("XBTUSD", mark)  # type: ignore[arg-type]


@pytest.mark.parametrize("call", ["adl_policy", "position_symbol"])
def test_wrong_typed_arguments_are_input_errors(call: str) -> None:
    attempt = {
        "adl_policy": lambda: perpspec.Exchange(adl_policy=[]),  # type: ignore[arg-type]
        "position_symbol": lambda: perpspec.position(5, qty=100, entry="50000"),  # type: ignore[arg-type]
    }[call]
    with pytest.raises(perpspec.InputError):
        attempt()


# --------------------------------------------------------------------------- boundaries


def test_a_step_of_exactly_the_engines_limit_is_taken_and_one_ms_more_is_refused_unchanged() -> None:
    ex = _exchange()
    ex.advance(seconds=1)
    assert ex.price("XBTUSD", "50000")
    step = ex.engine.max_clock_step_ms
    with pytest.raises(perpspec.InputError) as refused:
        ex.advance(ms=step + 1)
    assert refused.value.field == "ms"
    assert ex.now_ms == 1_000  # a refused step changes nothing
    ex.advance(ms=step)
    assert ex.price("XBTUSD", "50000")
    assert ex.engine.time_ms == 1_000 + step


def test_steps_that_add_up_beyond_the_limit_without_a_command_in_between_are_refused() -> None:
    ex = _exchange()
    ex.advance(seconds=1)
    assert ex.price("XBTUSD", "50000")
    ex.advance(seconds=200 * 86_400)
    with pytest.raises(perpspec.InputError):
        ex.advance(seconds=200 * 86_400)  # 400 days past the engine's last command
    assert ex.price("XBTUSD", "50000")
    ex.advance(seconds=200 * 86_400)  # fine once a command moved the engine's clock
    assert ex.price("XBTUSD", "50000")


@pytest.mark.parametrize("step", [True, 1.0, Decimal(1), -1, 10**30], ids=["bool", "float", "decimal", "neg", "huge"])
def test_a_clock_step_must_be_a_whole_non_negative_int_within_the_engines_time(step: object) -> None:
    ex = _exchange()
    with pytest.raises(perpspec.InputError) as refused:
        ex.advance(seconds=step)  # type: ignore[arg-type]
    assert refused.value.field == "seconds"
    assert ex.now_ms == 0


def test_an_open_account_reads_zero_in_an_asset_it_never_held_and_the_liquidator_is_flat() -> None:
    ex = _exchange()
    assert ex.wallet(1, "USDt") == 0
    assert ex.position(-1, "XBTUSD").qty == 0  # the liquidation engine's pending close-outs
    with pytest.raises(perpspec.InputError) as refused:
        ex.wallet(2)
    assert refused.value.field == "account"
    with pytest.raises(perpspec.InputError):
        ex.wallet("1")  # type: ignore[arg-type]


def test_a_price_text_of_200_characters_is_read_and_201_are_refused() -> None:
    from perpspec.rules.parse import MAX_NUMBER_CHARS

    assert MAX_NUMBER_CHARS == 200
    ex = _exchange()
    assert ex.price("XBTUSD", "0" * 195 + "50000")
    with pytest.raises(perpspec.InputError) as refused:
        ex.price("XBTUSD", "0" * 196 + "50000")
    assert refused.value.field == "mark"


@pytest.mark.parametrize(
    "mark",
    ["1" * 10**7, 10**100_000, Decimal("1E-100000000"), Decimal("1E+100000000")],
    ids=["text", "int", "decimal-small", "decimal-large"],
)
def test_an_enormous_number_is_refused_at_once(mark: object) -> None:
    ex = _exchange()
    start = time.perf_counter()
    with pytest.raises(perpspec.InputError):
        ex.price("XBTUSD", mark)  # type: ignore[arg-type]
    assert time.perf_counter() - start < 0.5


def test_the_bound_holds_for_every_parser_with_parse_error_naming_the_field() -> None:
    from perpspec.rules.instrument_file import InstrumentError, load_instrument
    from perpspec.rules.parse import ParseError, parse_duration_ms, parse_int, parse_scaled

    assert parse_int(10**200 - 1, "n") == 10**200 - 1
    for attempt in (
        lambda: parse_int(10**200, "n"),
        lambda: parse_int(-(10**200), "n"),
        lambda: parse_scaled("1" * 201, 100, "n"),
        lambda: parse_duration_ms("1" * 300 + "ms", "n"),
    ):
        with pytest.raises(ParseError) as refused:
            attempt()
        assert refused.value.field == "n"
    with pytest.raises(InstrumentError) as bad:
        load_instrument("XBTUSD", {"takerFee": "0." + "0" * 300 + "1"})
    assert bad.value.field == "takerFee"


@pytest.mark.parametrize(
    "call",
    [
        lambda: perpspec.Exchange("XBTUSD"),  # type: ignore[arg-type]  # a str is not a list of symbols
        lambda: perpspec.Exchange(adl_policy=None),  # type: ignore[arg-type]
        lambda: perpspec.instrument(["XBTUSD"]),  # type: ignore[arg-type]
        lambda: _exchange().price(["XBTUSD"], "50000"),  # type: ignore[arg-type]
        lambda: _exchange().insurance(["XBt"]),  # type: ignore[arg-type]
    ],
    ids=["symbols-str", "adl-none", "instrument-list", "price-symbol-list", "insurance-asset-list"],
)
def test_more_wrong_types_are_input_errors(call: object) -> None:
    with pytest.raises(perpspec.InputError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"maintMargin": 0.004}, "maintMargin"),  # a float: refused, and named
        ({"maxLeverage": 50}, "maxLeverage"),  # not an instrument field
        ({"takerFee": "abc"}, "takerFee"),
        ({"tickSize": "0.3"}, "maxPrice"),  # the loader names the field the override breaks
    ],
)
def test_instrument_override_refusal_names_the_override_not_the_symbol(overrides: dict[str, object],
                                                                        field: str) -> None:
    """redteam23_4: ``.field`` was "symbol" for every refused override."""
    with pytest.raises(perpspec.InputError) as refused:
        perpspec.instrument("XBTUSD", **overrides)
    assert refused.value.field == field
    assert "XBTUSD.toml" in str(refused.value)


@pytest.mark.parametrize("symbol", ["XBTFOO", "/nonexistent/instrument.toml"])
def test_instrument_unknown_symbol_or_file_names_the_symbol(symbol: str) -> None:
    with pytest.raises(perpspec.InputError) as refused:
        perpspec.instrument(symbol)
    assert refused.value.field == "symbol"


def test_library_units_name_every_entry_that_takes_a_mark_off_the_tick_grid() -> None:
    """redteam23_6: docs/library.md said only perpspec.position's mark may be off the tick grid."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    tree = ast.parse((root / "perpspec" / "api.py").read_text())
    off_grid = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            scope = [(f"{node.name}.{f.name}", f) for f in node.body if isinstance(f, ast.FunctionDef)]
        elif isinstance(node, ast.Module):
            scope = [(f"perpspec.{f.name}", f) for f in node.body if isinstance(f, ast.FunctionDef)]
        else:
            continue
        for name, function in scope:
            if not name.split(".")[-1].startswith("_") and any(
                isinstance(k, ast.keyword) and k.arg == "on_tick" for k in ast.walk(function)
            ):
                off_grid.add(name)
    assert off_grid == {"perpspec.position", "Exchange.price"}
    text = (root / "docs" / "library.md").read_text()
    prices = re.sub(r"\s+", " ", text[text.index("- **Prices**"):text.index("- **Money**")])
    assert all(f"`{name}`" in prices for name in off_grid), prices
    mark = perpspec.Exchange(["XBTUSD"]).price("XBTUSD", mark="50000.25")
    assert mark
