"""``import perpspec``: a small documented API that refuses nonsense, naming the field and the unit."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import perpspec


def test_every_public_name_exists_and_has_a_docstring() -> None:
    undocumented = [
        name for name in perpspec.__all__ if name != "__version__" and not inspect.getdoc(getattr(perpspec, name))
    ]
    assert undocumented == []


def test_every_public_method_of_exchange_has_a_docstring() -> None:
    methods = [name for name, _ in inspect.getmembers(perpspec.Exchange, inspect.isfunction) if not name.startswith("_")]
    assert [name for name in methods if not inspect.getdoc(getattr(perpspec.Exchange, name))] == []


def test_the_version_is_the_installed_distributions() -> None:
    assert perpspec.__version__ == importlib.metadata.version("perpspec")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Engine'"):
        _ = perpspec.Engine  # type: ignore[attr-defined]


def test_importing_perpspec_loads_neither_the_engine_nor_z3() -> None:
    code = "import sys, perpspec; print(sorted(m for m in sys.modules if m.startswith(('perpspec.engine', 'z3'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_package_docstring_example_runs() -> None:
    docstring = inspect.getdoc(perpspec) or ""
    example = docstring.split("::", 1)[1].split("\n\n* ", 1)[0]
    exec(compile(re.sub(r"^    ", "", example, flags=re.M), "perpspec.__doc__", "exec"), {})


def refusal(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(perpspec.InputError) as caught:
        call()
    return caught.value.field, str(caught.value)


@pytest.mark.parametrize(
    ("call", "field", "unit_hint"),
    [
        (lambda ex: ex.price("XBTUSD", mark=5_000_000), "mark", "not in price units"),
        (lambda ex: ex.price("XBTUSD", mark=50000.5), "mark", "got float"),
        (lambda ex: ex.price("XBTUSD", mark="50000.001"), "mark", "finer than the unit 1/100"),
        (lambda ex: ex.price("XBTUSD", mark="0"), "mark", "USD"),
        (lambda ex: ex.price("DOGEUSD", mark="1"), "symbol", "this exchange lists"),
        (lambda ex: ex.open_account(1, deposit="100"), "deposit", "'1.5 XBT'"),
        (lambda ex: ex.open_account(1, deposit="1 BTC"), "deposit", "unknown unit 'BTC'"),
        (lambda ex: ex.open_account(1, deposit="0.000000001 XBT"), "deposit", "(XBT)"),
        (lambda ex: ex.open_account(-1, deposit="1 XBT"), "account", ">= 0"),
        (lambda ex: ex.set_leverage(1, "XBTUSD", 1000), "leverage", "not hundredths"),
        (lambda ex: ex.set_leverage(1, "XBTUSD", "150x"), "leverage", "0.01x..100x"),
        (lambda ex: ex.set_leverage(1, "XBTUSD", "0.001"), "leverage", "finer than"),
        (lambda ex: ex.buy(1, "XBTUSD", -5), "qty", "positive"),
        (lambda ex: ex.order(1, "XBTUSD", 0), "qty", "lotSize"),
        (lambda ex: ex.order(1, "XBTUSD", 10**12), "qty", "maxOrderQty"),
        (lambda ex: ex.advance(seconds=-1), "seconds", "forward"),
    ],
)
def test_the_exchange_refuses_bad_input_naming_field_and_unit(
    call: Callable[[perpspec.Exchange], Any], field: str, unit_hint: str
) -> None:
    ex = perpspec.Exchange(["XBTUSD"])
    before = ex.state_hash()
    refused_field, message = refusal(lambda: call(ex))
    assert (refused_field, unit_hint in message) == (field, True)
    assert ex.state_hash() == before


@pytest.mark.parametrize(
    ("kwargs", "field", "unit_hint"),
    [
        ({"qty": 1000, "entry": "50000", "leverage": 1000}, "leverage", "not hundredths"),
        ({"qty": 1000, "entry": 5_000_000}, "entry", "not in price units"),
        ({"qty": 1000, "entry": "50000", "leverage": 0}, "wallet", "required for a cross position"),
        ({"qty": 1000, "entry": "50000", "leverage": 0, "wallet": "5 USDT"}, "wallet", "settles in XBt"),
        ({"qty": 1000, "entry": "50000", "leverage": 10, "wallet": "1 XBT"}, "wallet", "cross margin only"),
        ({"qty": 0, "entry": "50000"}, "qty", "lotSize"),
    ],
)
def test_position_refuses_bad_input_naming_field_and_unit(kwargs: dict[str, Any], field: str, unit_hint: str) -> None:
    refused_field, message = refusal(lambda: perpspec.position("XBTUSD", **kwargs))
    assert (refused_field, unit_hint in message) == (field, True)


def test_position_matches_the_cli_for_the_same_human_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    from perpspec.engine.cli.main import main

    assert main(["position", "--qty", "-1000", "--entry", "50000", "--mark", "50500", "--leverage", "100x", "--json"]) == 0
    import json

    cli = json.loads(capsys.readouterr().out)
    assert perpspec.position("XBTUSD", qty=-1000, entry=Decimal("50000"), mark="50500", leverage="100x") == cli


def test_a_refused_order_is_a_falsy_result_with_the_engines_reason() -> None:
    ex = perpspec.Exchange(["XBTUSD"])
    ex.open_account(1, deposit="0.001 XBT")
    result = ex.buy(1, "XBTUSD", 1000, price="50000")
    assert (bool(result), result.reason) == (False, "NoMarkPrice")


def test_open_account_deposits_exact_minor_units() -> None:
    ex = perpspec.Exchange(["XBTUSDT"])
    ex.open_account(1, deposit="1234.567891 USDT")
    ex.deposit(1, "9 USDt")
    assert ex.wallet(1, "USDt") == 1_234_567_900


def test_prove_refuses_a_pattern_matching_nothing() -> None:
    pytest.importorskip("z3")
    assert refusal(lambda: perpspec.prove("NO-SUCH-RULE/*"))[0] == "only"


def test_simulate_refuses_an_unknown_scenario_naming_it(tmp_path: Any) -> None:
    field, message = refusal(lambda: perpspec.simulate("no_such_scenario", out=tmp_path))
    assert (field, "unknown scenario" in message) == ("scenario", True)


def test_a_mark_off_the_tick_grid_is_a_mark_the_engine_takes() -> None:
    """Marks are at price resolution (an XBTUSD mark carries cents on a 0.5 tick), as ``perpspec.position`` and the
    engine's PriceUpdate take them; ``Exchange.price`` refused them (redteam21, noticed)."""
    ex = perpspec.Exchange()
    assert ex.price("XBTUSD", mark="50000.37", index="50000.41").accepted
