"""Session 19: promises of the front door that were not true (redteam26).

- redteam26_2: docs/library.md says "perpspec ships `py.typed`: `mypy --strict` checks code that imports it", but the
  lazy module ``__getattr__`` was visible to type checkers, so a misspelt ``perpspec.<name>`` typed as ``Any``.
- redteam26_3: ``Exchange.open_account`` checked only the deposit's syntax before submitting VerifyAccount; a deposit
  the engine then refused (beyond signed 64 bits, an asset the exchange does not settle in) left a verified, empty
  account behind, and a retry was refused AlreadyVerified.
- redteam26_4: ``perpspec keys`` imported the HTTP server for the key file's path, so without the serve extra
  (aiohttp) it was an "internal error" (exit 70).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import perpspec

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_reports_a_misspelt_public_name(tmp_path: Path) -> None:
    user = tmp_path / "user.py"
    user.write_text(
        'import perpspec\n\nfields = perpspec.postion("XBTUSD", qty=-1000, entry="50000")\nok = perpspec.position\n'
    )
    env = dict(os.environ, MYPYPATH=str(ROOT))  # the repository root holds the front door's folder perpspec/
    args = ["--strict", "--follow-imports=silent", "--no-incremental", "--cache-dir", os.devnull, str(user)]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", *args], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert "import-not-found" not in result.stdout, result.stdout
    assert 'has no attribute "postion"' in result.stdout, result.stdout
    assert "user.py:4" not in result.stdout, result.stdout  # the real name types
    assert perpspec.position is not None  # and the lazy door still answers at run time
    with pytest.raises(AttributeError, match="postion"):
        getattr(perpspec, "postion")  # noqa: B009 (the name must not be checked statically here)


@pytest.mark.parametrize(
    ("deposit", "says"),
    [("100000000000 XBT", "signed 64 bits"), ("5 USDT", "settles in XBt")],
)
def test_open_account_refuses_a_deposit_the_engine_would_refuse_before_verifying(deposit: str, says: str) -> None:
    ex = perpspec.Exchange(["XBTUSD"])
    with pytest.raises(perpspec.InputError, match=says) as refused:
        ex.open_account(1, deposit)
    assert refused.value.field == "deposit"
    with pytest.raises(perpspec.InputError, match="account"):
        ex.wallet(1)  # nothing was submitted: the account does not exist
    assert ex.open_account(1, "1 XBT")  # so the retry opens it
    assert ex.wallet(1) == 100_000_000


HIDE_AIOHTTP = r"""
import importlib.util, sys
class HideAiohttp:
    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp" or name.startswith("aiohttp."):
            raise ModuleNotFoundError("No module named 'aiohttp'", name="aiohttp")
        return None
sys.meta_path.insert(0, HideAiohttp())
found = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] == "aiohttp" else found(name, *a)
from perpspec.engine.cli.main import main
sys.exit(main(["keys", sys.argv[2], "--store", sys.argv[1], *sys.argv[3:]]))
"""


def test_keys_work_without_the_serve_extra(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    for action in (["create", "--account", "1"], ["list"]):
        proc = subprocess.run(
            [sys.executable, "-c", HIDE_AIOHTTP, store, *action], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert "internal error" not in proc.stderr
    assert "account" in proc.stdout  # the key created above is listed


def test_what_if_refuses_a_key_it_does_not_know(tmp_path: Path) -> None:
    """redteam26_6: a misspelt `poscross` was dropped silently, the committee's prices left out the margin it meant."""
    from perpspec.engine.simulation.what_if import StateError, parse_state, read_state_file
    from perpspec.rules.instrument_file import load_instrument

    instruments = {"XBTUSD": load_instrument("XBTUSD")}
    good = '[marks]\nXBTUSD = "50000"\n\n[[accounts]]\nid = 1\nwallet = { XBt = 100000000 }\n'
    row = '\n[[accounts.positions]]\nsymbol = "XBTUSD"\nqty = 1000\nentry = "50000"\n'
    path = tmp_path / "positions.toml"
    path.write_text(good + row + "posCross = 100000000\n")
    assert parse_state(read_state_file(path), instruments, str(path)).positions[0].pos_cross == 100_000_000
    for text, where in (
        (good + row + "poscross = 100000000\n", "accounts[0].positions[0]"),
        (good + "evil = 'x'\n" + row, "accounts[0]"),
        ("[mark]\nXBTUSD = 50000\n" + good.split("\n\n", 1)[1], "mark"),
    ):
        path.write_text(text)
        with pytest.raises(StateError, match=rf"{re.escape(where)}: unknown key"):
            parse_state(read_state_file(path), instruments, str(path))


def test_an_int_of_thousands_of_digits_is_an_input_error_naming_its_field(tmp_path: Path) -> None:
    """redteam26_7: Python cannot write an int of more than 4,300 digits as text: a bare ValueError escaped."""
    big = 10**5000
    ex = perpspec.Exchange(["XBTUSD"])
    ex.open_account(1, "1 XBT")
    ex.price("XBTUSD", "50000")
    calls = {
        "qty": (lambda: ex.buy(1, "XBTUSD", big), lambda: ex.order(1, "XBTUSD", -big)),
        "account": (lambda: ex.wallet(big), lambda: ex.position(big, "XBTUSD")),
        "accounts.count": (
            lambda: perpspec.simulate("tiny_crash", out=str(tmp_path), overrides={"accounts.count": big}),
        ),
    }
    for field, cases in calls.items():
        for call in cases:
            with pytest.raises(perpspec.InputError) as refused:
                call()
            assert refused.value.field == field


def test_serve_announces_an_ipv6_address_clients_can_parse() -> None:
    """redteam26_8: `serve --host ::1` printed http://::1:PORT/api/v1, which no URL parser accepts."""
    from urllib.parse import urlsplit

    from perpspec.engine.serve.server import url_authority

    for host, port in (("::1", 8899), ("127.0.0.1", 8899), ("localhost", 1)):
        parts = urlsplit(f"http://{url_authority(host, port)}/api/v1")
        assert (parts.hostname, parts.port) == (host, port)
