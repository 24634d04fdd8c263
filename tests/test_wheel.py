"""The wheel as a user installs it: one top-level package, every data file, no tests, a CLI that runs.

* cheap (default run): every data file under ``specs/`` is covered by a package-data pattern;
* ``slow`` (default run, about 25 s together): the wheel is built and its file list
  checked; it is installed into a fresh venv (without the ``prove`` extra) and the CLI
  runs from it in a scratch folder, writing nothing into its own installation.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rules", "engine", "proofs")


def tracked(folder: str) -> list[str]:
    """Files git tracks under ``folder`` (repository-relative), or every file when git is unavailable."""
    done = subprocess.run(["git", "-C", str(ROOT), "ls-files", folder], capture_output=True, text=True, check=False)
    if done.returncode == 0 and done.stdout.strip():
        return sorted(line for line in done.stdout.splitlines() if (ROOT / line).is_file())
    return sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob("*") if path.is_file())


def expected_files() -> set[str]:
    """What the wheel must hold under ``perpspec/``: every module, marker and shipped data file."""
    wanted = {"perpspec/__init__.py", "perpspec/__main__.py", "perpspec/api.py", "perpspec/py.typed"}
    for package in PACKAGES:
        wanted |= {f"perpspec/{name}" for name in tracked(package) if name.endswith((".py", "py.typed"))}
    wanted |= {f"perpspec/{name}" for name in tracked("specs")}
    return wanted


def test_every_specs_data_file_is_covered_by_a_package_data_pattern() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["perpspec.specs"]
    uncovered = [
        name
        for name in tracked("specs")
        if not name.endswith(".py")
        and not any(fnmatch.fnmatch(name.removeprefix("specs/"), pattern) for pattern in patterns)
    ]
    assert uncovered == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("perpspec-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_one_package_every_module_and_data_file_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    top = {name.split("/")[0] for name in names}
    assert top == {"perpspec", wheel.name.split("-py3")[0] + ".dist-info"}
    in_package = {name for name in names if name.startswith("perpspec/")}
    assert expected_files() - in_package == set()
    assert [name for name in in_package if "/tests/" in name or "__pycache__" in name or name.endswith(".pyc")] == []
    assert any(name.endswith((".dist-info/licenses/LICENSE", ".dist-info/LICENSE")) for name in names)
    assert "perpspec/specs/instruments/spot/XBT_USDT.toml" in names


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_the_cli_runs_from_the_wheel_in_a_fresh_venv_and_writes_nothing_into_it(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = run(venv, str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "work"
    work.mkdir()
    package = next((venv / "lib").glob("python3*/site-packages/perpspec"))
    before = sorted(path.relative_to(package) for path in package.rglob("*") if "__pycache__" not in path.parts)

    version = run(venv, "perpspec", "--version", cwd=work)
    assert version.stdout.strip().startswith("perpspec ")
    assert run(venv, "python", "-m", "perpspec", "--version", cwd=work).stdout == version.stdout
    simulated = run(venv, "perpspec", "simulate", "tiny_crash", "--quiet", "--out", "out", cwd=work)
    assert simulated.returncode == 0, simulated.stderr
    assert (work / "out" / "report.html").is_file()
    assert (work / "out" / "journal" / "journal.log").is_file()
    assert run(venv, "perpspec", "replay", "out/journal", cwd=work).returncode == 0
    positioned = run(venv, "perpspec", "position", "--qty", "-1000", "--entry", "50000", "--leverage", "100x", cwd=work)
    assert "bankruptPrice" in positioned.stdout
    proved = run(venv, "perpspec", "prove", "--only", "commission-rounding", cwd=work)  # z3 is an extra
    assert (proved.returncode, "perpspec[prove]" in proved.stderr) == (2, True)
    built = run(venv, "perpspec", "build-native", cwd=work)
    assert built.returncode == 1
    assert "source checkout" in built.stdout
    library = run(venv, "python", "-c", "import perpspec; print(sorted(perpspec.__all__))", cwd=work)
    assert "Exchange" in library.stdout

    after = sorted(path.relative_to(package) for path in package.rglob("*") if "__pycache__" not in path.parts)
    assert after == before


@pytest.mark.deep
def test_spec_check_passes_in_an_installed_copy_without_the_tests(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = run(venv, str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[prove]", cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    checked = run(venv, "perpspec", "spec", "--check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert run(venv, "perpspec", "spec", cwd=tmp_path).returncode == 0
    assert (tmp_path / "perpspec-rulebook" / "README.md").is_file()
