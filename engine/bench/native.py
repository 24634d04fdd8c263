"""The compiled engine: the hot modules' own source, verbatim, compiled with mypyc.

The rules' Python source is the single rule source: the engine runs it, the
tests test it and the prover proves it by passing a symbolic integer where the
kernels say ``int`` (:mod:`rules.num`).  A mypyc-compiled module checks its
``int`` annotations at run time, so the prover (and every test) keeps using
the interpreted modules; the compiled ones live apart, in ``build/native/``
(git-ignored):

* ``perpspec build-native`` copies ``rules/`` and ``engine/`` there byte for
  byte — same package and module names, no import rewritten — and compiles
  :data:`COMPILED_MODULES` in place with mypyc (the other modules stay
  interpreted copies).  A manifest records the SHA-256 of the sources it was
  built from, so a stale build is detected (:func:`status`).
* A process runs the compiled engine when ``build/native`` comes first on its
  path (:func:`child_env`); ``perpspec bench --compiled`` re-runs itself that
  way.  Because the names are the same, the compiled engine's pickles,
  snapshots, journals and state hashes are those of the interpreted one
  (``tests/test_native.py`` replays one journal through both and compares
  every byte).  Compiled and interpreted engines never share a process.

``python -m perpspec.engine.bench.native rerun JOURNAL DIR [SNAPSHOT_EVERY]`` (what the
differential test runs in the compiled process) submits a journal's commands
to a fresh durable exchange in ``DIR`` and prints the hashes as JSON.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from perpspec.engine.kernels.index import MODULES
from perpspec.rules.parse import loads_json

REPO = Path(__file__).resolve().parent.parent.parent
# a source checkout builds into its own git-ignored build/native; an installed perpspec never writes into
# its installation (and has no sources to copy: build-native refuses there, see build())
IN_CHECKOUT = (REPO / "pyproject.toml").is_file()
NATIVE_DIR = (REPO if IN_CHECKOUT else Path()) / "build" / "native"
MANIFEST_NAME = "perpspec-native.json"
COPIED_PACKAGES = ("rules", "engine")  # copied under build/native/perpspec/; proofs/ and specs/ are linked
# the order path of `perpspec bench`: the kernels it calls and the engine classes it walks
COMPILED_MODULES = (
    "perpspec.rules.num",
    "perpspec.rules.instrument",
    "perpspec.rules.contract",
    "perpspec.rules.fee_tier",  # ACC-008/009: the fee tier and a fill's USD volume (session 17)
    "perpspec.rules.position",
    "perpspec.rules.risk_limit",
    "perpspec.rules.margin",
    "perpspec.rules.order_margin",  # MRG-040..046, split out of rules/margin.py
    # LIQ-001/003/004: the take-over at a trade asks LIQ-003 of every pool a trade touched (speed21: interpreted,
    # 1.3k instructions per op for ``equity - maintenance < 0``); nothing compares its attrs classes across builds
    "perpspec.rules.liquidation",
    "perpspec.rules.triggers",  # ORD-015/014/007: engine.core.triggers calls them per trigger run (session 14)
    "perpspec.engine.core.orders",
    "perpspec.engine.core.book",
    "perpspec.engine.core.liqindex",
    "perpspec.engine.core.accounts",
    "perpspec.engine.core.fastmargin",
    # the executor's components (engine/README.md), the sequencer last
    "perpspec.engine.core.rejects",
    "perpspec.engine.core.stream",
    "perpspec.engine.core.market",
    "perpspec.engine.core.ledger",
    "perpspec.engine.core.risk",
    "perpspec.engine.core.triggers",
    "perpspec.engine.core.registry",
    "perpspec.engine.core.isolated_fill",  # ACC-006 on a fill, split out of fills (session 20)
    "perpspec.engine.core.fills",
    # LIQ-054's first clause (closes_exactly) is asked twice per fill by the lean sweep's guard: interpreted calls
    # were about 2% of the bench's instructions (speed17)
    "perpspec.engine.core.liquidation_guard",
    "perpspec.engine.core.entry_terms",
    "perpspec.engine.core.entry_sweep",
    "perpspec.engine.core.entry_plain",
    "perpspec.engine.core.entry",
    "perpspec.engine.core.entry_amend",
    "perpspec.rules.adl",
    "perpspec.engine.core.adlrank",  # the ADL ranking's heap compares rows by ADL-002 (simulate's large runs)
    "perpspec.engine.core.closeout",
    "perpspec.engine.core.waterfall",
    "perpspec.engine.core.prices",
    "perpspec.engine.core.account_desk",
    "perpspec.engine.core.views",
    "perpspec.engine.core.exchange",
    # the durable exchange's path per command: the command record, the journal's framing and hash chain,
    # DurableExchange.submit; and the state encoding (rollback checkpoints, snapshots)
    "perpspec.engine.core.state_codec",
    "perpspec.engine.durability.command_codec",
    "perpspec.engine.durability.journal",
    "perpspec.engine.durability.recovery",
    # the proved specialised kernels, one module per instrument and margin mode (engine/kernels/index.py)
    *sorted(module.__name__ for modules in MODULES.values() for module in modules.values()),
    "perpspec.engine.kernels.dispatch",  # each kernel by instrument index: the engine's native call into them
    # which kernel set may run (the proof record's check, asked several times per order): a native call
    "perpspec.engine.kernels.load",
)
CHILD_FLAG = "PERPSPEC_NATIVE_CHILD"  # set in the environment of a process started on the compiled engine


def source_files(root: Path = REPO) -> list[Path]:
    """The files copied into the build (every module and marker of perpspec/, rules/ and engine/), sorted."""
    found: list[Path] = [root / "perpspec" / "__init__.py", root / "perpspec" / "py.typed"]
    for package in COPIED_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and (path.suffix == ".py" or path.name == "py.typed"):
                found.append(path)
    return found


def source_digest(root: Path = REPO) -> str:
    """SHA-256 over the relative path and bytes of every copied file."""
    digest = hashlib.sha256()
    for path in source_files(root):
        name = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(name).to_bytes(4, "little") + name + len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def extension_path(directory: Path, module: str) -> Path | None:
    """The compiled extension of ``module`` in ``directory``, if there is one."""
    base = directory.joinpath(*module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.exists():
            return candidate
    return None


def read_manifest(directory: Path = NATIVE_DIR) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = loads_json((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return loaded


def _abi() -> str:
    """The extension-module suffix of this interpreter (its ABI tag), e.g. ``.cpython-311-x86_64-linux-gnu.so``."""
    return str(sysconfig.get_config_var("EXT_SUFFIX"))


def status(directory: Path = NATIVE_DIR) -> str | None:
    """None if ``directory`` holds a build of the current sources for this interpreter, else why not."""
    manifest = read_manifest(directory)
    if manifest is None:
        return f"the compiled engine is not built ({directory} has no {MANIFEST_NAME}): run `perpspec build-native`"
    # the interpreter's version and extension ABI decide whether the modules load and behave the same;
    # its path does not (a venv's python and python3 are two names of one interpreter)
    if manifest.get("python") != sys.version or manifest.get("abi") != _abi():
        return f"the compiled engine in {directory} was built for another Python: rerun `perpspec build-native`"
    if manifest.get("source_sha256") != source_digest():
        return f"the compiled engine in {directory} is stale (rules/ or engine/ changed): rerun `perpspec build-native`"
    missing = [module for module in COMPILED_MODULES if extension_path(directory, module) is None]
    if missing:
        return f"the compiled engine in {directory} lacks {', '.join(missing)}: rerun `perpspec build-native`"
    return None


def build(directory: Path = NATIVE_DIR, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Copy rules/ and engine/ into ``directory`` verbatim and compile :data:`COMPILED_MODULES` there.

    Returns the manifest written.  Raises ``RuntimeError`` (with mypyc's output in
    ``directory/build.log``) if mypyc fails.
    """
    if not IN_CHECKOUT:
        raise RuntimeError("build-native compiles a source checkout: run it in a clone of the perpspec repository")
    if directory.exists():
        if any(directory.iterdir()) and read_manifest(directory) is None and not (directory / "build.log").exists():
            raise RuntimeError(f"{directory} exists and is not a perpspec native build: not replacing it")
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    digest = source_digest()
    for path in source_files():
        relative = path.relative_to(REPO)
        target = directory / ("perpspec" / relative if relative.parts[0] != "perpspec" else relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for linked in ("proofs", "specs"):  # not compiled: the build's perpspec package reads them from the repository
        (directory / "perpspec" / linked).symlink_to(REPO / linked, target_is_directory=True)
    sources = [str(Path(*module.split(".")).with_suffix(".py")) for module in COMPILED_MODULES]
    log(f"compiling {len(sources)} modules with mypyc in {directory} (this takes about a minute)")
    result = subprocess.run(
        [sys.executable, "-m", "mypyc", *sources],
        cwd=directory,
        env=dict(os.environ, MYPYC_OPT_LEVEL=os.environ.get("MYPYC_OPT_LEVEL", "3")),
        capture_output=True,
        text=True,
        check=False,
    )
    (directory / "build.log").write_text(result.stdout + result.stderr)
    missing = [module for module in COMPILED_MODULES if extension_path(directory, module) is None]
    if result.returncode != 0 or missing:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"mypyc failed (exit {result.returncode}; full output in {directory / 'build.log'}):\n{tail}")
    shutil.rmtree(directory / "build", ignore_errors=True)  # mypyc's C sources and objects
    manifest = {
        "source_sha256": digest,
        "modules": list(COMPILED_MODULES),
        "python": sys.version,
        "abi": _abi(),
        "executable": sys.executable,
        "mypyc": _mypy_version(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _mypy_version() -> str:
    try:
        return importlib.metadata.version("mypy")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def child_env(directory: Path = NATIVE_DIR) -> dict[str, str]:
    """The environment of a process that imports perpspec from ``directory`` (its proofs/ and specs/ link to the repo)."""
    path = [str(directory)]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), **{CHILD_FLAG: str(directory)})


def child_command(*args: str) -> list[str]:
    """``python -P ARGS``: -P keeps the working directory (maybe the repo, interpreted) off the path."""
    return [sys.executable, "-P", *args]


def compiled_here() -> tuple[str, ...]:
    """Which of :data:`COMPILED_MODULES` this process imports (or would import) from a compiled extension."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = []
    for module in COMPILED_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin is not None and spec.origin.endswith(suffixes):
            found.append(module)
    return tuple(found)


def rerun(journal: str, directory: str, snapshot_every: int) -> dict[str, Any]:
    """Submit the commands of ``journal`` to a fresh durable exchange in ``directory``; the hashes."""
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.durability.journal import read_journal
    from perpspec.engine.durability.recovery import DurableExchange, command_codec, event_stream_hash

    scan = read_journal(journal)
    reader = command_codec()
    reader.use_writer_schema(scan.schema)
    durable, _ = DurableExchange.open(directory, command_codec(), Engine, snapshot_every=snapshot_every)
    events: list[Any] = []
    for _, payload in scan.records:
        events.extend(durable.submit(reader.decode(payload)))
    durable.close()
    return {
        "compiled": list(compiled_here()),
        "event_hash": event_stream_hash(events),
        "state_hash": durable.exchange.state_hash(),
        "events": len(events),
    }


def main(argv: Sequence[str]) -> int:
    if len(argv) in (3, 4) and argv[0] == "rerun":
        every = int(argv[3]) if len(argv) == 4 else 0
        print(json.dumps(rerun(argv[1], argv[2], every), sort_keys=True))
        return 0
    print("usage: python -m perpspec.engine.bench.native rerun JOURNAL DIR [SNAPSHOT_EVERY]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
