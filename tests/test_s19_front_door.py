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
