"""The engine compiled with mypyc (``perpspec build-native``) against the interpreted engine.

One seeded day of trading (tests/streams.py: orders, cancels, amends, stops,
funding, liquidations, insurance, ADL) with hostile commands mixed in (wrong
types, huge and negative numbers, malformed strings: mypyc checks ``int``
annotations at run time, the interpreted engine does not) is journaled by the
interpreted engine.  A fresh interpreter importing ``rules``/``engine`` from
``build/native`` submits the same commands to its own durable exchange.  The
two must agree on every event, on the state hash, and on every byte of the
journal and snapshots they wrote; the compiled engine must also recover the
interpreted engine's store (snapshot decoding) to the same hashes.

Skipped, with the reason, when the compiled engine is not built or is stale
(``perpspec build-native``; .ci/run builds it).
"""

from __future__ import annotations

import importlib
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import attrs
import pytest

from perpspec.engine.bench import native as native
from perpspec.engine.cli.bench import forwarded
from perpspec.engine.cli.main import build_parser, main
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Execution, InternalError, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import (
    DurableExchange,
    command_codec,
    event_stream_hash,
    list_snapshots,
    recover,
)
from tests.streams import LOT, MAKER, SYMBOL, TICK, TRADERS, command_stream

SNAPSHOT_EVERY = 300
# hostile values of a field's declared type (None where it is optional): must behave identically
SAME_TYPE: dict[str, tuple[Any, ...]] = {
    "int": (-1, 0, 2**64 + 1, -(10**30), 999_999),
    "str": ("", "buy", "\ud800", "x" * 50, "NOPE", "XBTUSD,XBTUSD"),
    "bool": (False,),
}
# values of another type: both engines reject them as Malformed in the typed validation layer, before any
# compiled code reads the field (which would check its annotation, and unbox a bool read as ``int`` to 0/1)
WRONG_TYPE: dict[str, tuple[Any, ...]] = {
    "int": (True, 1.5, float("nan"), b"\x00", [1], {"a": 1}, "7"),
    "str": (1.5, b"\x00", [1], {"a": 1}, 7),
    "bool": (1, "yes", None),
}

needs_build = pytest.mark.skipif(native.status() is not None, reason=str(native.status()))


def hostile_command(rng: random.Random, time_ms: int, wrong_type: bool) -> Any:
    """A valid-looking command with one field replaced by a hostile value (of its declared type or not)."""
    account = rng.choice((MAKER, *TRADERS))
    side = rng.choice(("Buy", "Sell"))
    price = 5_000_000 + rng.randint(-30, 30) * TICK
    order_id = rng.randint(1, 60)
    base = rng.choice(
        (
            c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=LOT, price=price),
            c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=LOT,
                         stop_px=price, exec_inst="LastPrice"),
            c.PlaceOrder(time_ms=time_ms, account=account, symbol=SYMBOL, side=side, order_qty=2 * LOT, price=price,
                         display_qty=LOT, cl_ord_id="h"),
            c.AmendOrder(time_ms=time_ms, account=account, order_id=order_id, leaves_qty=LOT),
            c.AmendOrder(time_ms=time_ms, account=account, order_id=order_id, price=price),
            c.CancelOrder(time_ms=time_ms, account=account, order_id=order_id),
            c.CancelAll(time_ms=time_ms, account=account, symbol=SYMBOL, side=side),
            c.Deposit(time_ms=time_ms, account=account, asset="XBt", amount=10**4),
            c.Withdraw(time_ms=time_ms, account=account, asset="XBt", amount=1_000),
            c.SetLeverage(time_ms=time_ms, account=account, symbol=SYMBOL, leverage_hundredths=1_000),
            c.TransferMargin(time_ms=time_ms, account=account, symbol=SYMBOL, amount=1_000),
            c.SetRiskLimit(time_ms=time_ms, account=account, symbol=SYMBOL, risk_limit=20_000_000_000),
            c.Isolate(time_ms=time_ms, account=account, symbol=SYMBOL, enabled=True),
        )
    )
    name, kind_type, optional = rng.choice([f for f in c.FIELD_KINDS[type(base)] if f[0] != "time_ms"])
    kind = kind_type.__name__
    if wrong_type:
        values = WRONG_TYPE[kind] + (() if optional else (None,))
    else:
        values = SAME_TYPE[kind] + ((None,) if optional else ())
    return c.replace(base, **{name: rng.choice(values)})


def mixed_stream(seed: int, length: int, wrong_type: bool = False) -> list[Any]:
    """The seeded stream with a hostile command after about every fifth command."""
    rng = random.Random(seed)
    out: list[Any] = []
    for command in command_stream(seed=seed, length=length):
        out.append(command)
        if rng.random() < 0.2:
            out.append(hostile_command(rng, command.time_ms, wrong_type))
    return out


def run_compiled(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        native.child_command(*args), env=native.child_env(), capture_output=True, text=True, check=False, cwd="/"
    )
    if result.returncode != 0:
        raise RuntimeError(f"the compiled engine's process failed:\n{result.stdout}{result.stderr}")
    parsed: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return parsed


def both_engines(root: Path, stream: list[Any]) -> dict[str, Any]:
    """The interpreted run (in this process) and the compiled run (in a child) of the same commands."""
    interpreted = root / "interpreted"
    durable, _ = DurableExchange.open(str(interpreted), command_codec(), Engine, snapshot_every=SNAPSHOT_EVERY)
    events: list[Any] = []
    for command in stream:
        events.extend(durable.submit(command))
    durable.close()
    compiled = root / "compiled"
    child = run_compiled("-m", "perpspec.engine.bench.native", "rerun", str(interpreted / "journal.log"), str(compiled), str(SNAPSHOT_EVERY))
    return {
        "interpreted": interpreted,
        "compiled": compiled,
        "events": events,
        "event_hash": event_stream_hash(events),
        "state_hash": durable.exchange.state_hash(),
        "child": child,
    }


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return both_engines(tmp_path_factory.mktemp("native"), mixed_stream(seed=5, length=2_000))


def test_slots_of_classes_mypyc_compiles_are_sorted() -> None:
    # engine.durability.codec writes a compiled class's fields as sorted(__mypyc_attrs__) and an interpreted
    # one's as its __slots__: the same bytes only if __slots__ is sorted
    for module_name in native.COMPILED_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module_name
                and "__slots__" in value.__dict__
                and not attrs.has(value)  # attrs classes stay Python classes under mypyc
            ):
                slots = tuple(value.__dict__["__slots__"])
                assert tuple(sorted(slots)) == slots, f"{module_name}.{value.__name__}.__slots__"


@needs_build
def test_the_stream_exercises_hostile_input_and_no_internal_error(stores: dict[str, Any]) -> None:
    rejected = sum(1 for event in stores["events"] if isinstance(event, Rejected))
    internal = [event for event in stores["events"] if isinstance(event, InternalError)]
    assert (rejected > 300, internal) == (True, [])


@needs_build
def test_the_child_ran_every_hot_module_compiled(stores: dict[str, Any]) -> None:
    assert stores["child"]["compiled"] == list(native.COMPILED_MODULES)


@needs_build
def test_compiled_and_interpreted_engines_emit_the_same_events(stores: dict[str, Any]) -> None:
    assert (stores["child"]["events"], stores["child"]["event_hash"]) == (len(stores["events"]), stores["event_hash"])


@needs_build
def test_compiled_and_interpreted_engines_reach_the_same_state(stores: dict[str, Any]) -> None:
    assert stores["child"]["state_hash"] == stores["state_hash"]


@needs_build
def test_compiled_engine_writes_the_same_journal_bytes(stores: dict[str, Any]) -> None:
    interpreted: Path = stores["interpreted"]
    compiled: Path = stores["compiled"]
    assert (compiled / "journal.log").read_bytes() == (interpreted / "journal.log").read_bytes()


@needs_build
def test_compiled_engine_writes_the_same_snapshots(stores: dict[str, Any]) -> None:
    interpreted = {Path(path).name: Path(path).read_bytes() for _, path in list_snapshots(str(stores["interpreted"]))}
    compiled = {Path(path).name: Path(path).read_bytes() for _, path in list_snapshots(str(stores["compiled"]))}
    assert (len(interpreted) > 0, compiled) == (True, interpreted)


@needs_build
def test_compiled_engine_recovers_the_interpreted_store_from_its_snapshot(stores: dict[str, Any]) -> None:
    directory = str(stores["interpreted"])
    snapshots = [path for _, path in list_snapshots(directory)]
    _, expected, _ = recover(str(stores["interpreted"] / "journal.log"), command_codec(), snapshots)
    replayed = run_compiled("-m", "perpspec.engine.cli.main", "replay", directory, "--json")
    assert (replayed["snapshot_seq"], replayed["state_hash"], replayed["event_hash"]) == (
        expected.snapshot_seq,
        expected.state_hash,
        expected.event_hash,
    )


@needs_build
def test_wrong_types_get_the_same_typed_reject_compiled_and_interpreted(tmp_path: Path) -> None:
    """The typed validation layer (commands.wrong_field_type) refuses a wrong-typed field before compiled code reads it."""
    stream = mixed_stream(seed=6, length=300, wrong_type=True)
    run = both_engines(tmp_path, stream)
    assert run["child"]["event_hash"] == run["event_hash"]
    assert run["child"]["state_hash"] == run["state_hash"]


def rename_stream(seed: int, length: int) -> list[Any]:
    """The seeded stream with amends that rename an order (AmendOrder's clOrdID, review20_1) and cancels by clOrdID
    mixed in; the names come from a small pool, so some renames meet a live order's id (DuplicateClOrdID)."""
    rng = random.Random(seed)
    out: list[Any] = []
    placed = 0  # the stream's orders are numbered as placed (the maker's most of them)
    for command in command_stream(seed=seed, length=length):
        out.append(command)
        placed += 1 if type(command) is c.PlaceOrder else 0
        if placed and rng.random() < 0.25:
            account = MAKER if rng.random() < 0.8 else rng.choice(TRADERS)
            name = f"r{rng.randint(1, 4)}"
            fields: dict[str, Any] = rng.choice(({}, {"leaves_qty": rng.randint(1, 20) * LOT}))
            target: dict[str, Any] = (
                {"order_id": rng.randint(max(1, placed - 15), placed)} if rng.random() < 0.6
                else {"orig_cl_ord_id": f"r{rng.randint(1, 4)}"}
            )
            out.append(c.AmendOrder(time_ms=command.time_ms, account=account, cl_ord_id=name, **target, **fields))
            if rng.random() < 0.2:
                out.append(c.CancelOrder(time_ms=command.time_ms, account=account, cl_ord_id=name))
    return out


def test_the_rename_stream_renames_and_meets_duplicates() -> None:
    engine = Engine()
    events = [event for command in rename_stream(seed=11, length=800) for event in engine.process(command)]
    reports = [(e.exec_type, e.cl_ord_id) for e in events if isinstance(e, Execution) and e.cl_ord_id.startswith("r")]
    renamed = sum(1 for exec_type, _ in reports if exec_type == "Replaced")
    cancelled = sum(1 for exec_type, _ in reports if exec_type == "Canceled")
    duplicates = sum(1 for e in events if isinstance(e, Rejected) and e.reason is Reason.DUPLICATE_CL_ORD_ID)
    assert (renamed > 10, duplicates > 5, cancelled > 3) == (True, True, True), (renamed, duplicates, cancelled)


@needs_build
def test_renames_agree_compiled_and_interpreted(tmp_path: Path) -> None:
    run = both_engines(tmp_path, rename_stream(seed=11, length=800))
    assert (run["child"]["event_hash"], run["child"]["state_hash"]) == (run["event_hash"], run["state_hash"])


def test_bench_compiled_forwards_every_option_to_the_compiled_process() -> None:
    parser = build_parser({"bench": ("cli.bench", "")})
    argv = ["bench", "--ops", "123", "--accounts", "10", "--fsync", "every:5", "--journal-dir", "/tmp/j",
            "--skip-liquidation", "--json", "out.json", "--compiled"]
    args = parser.parse_args(argv)
    assert parser.parse_args(forwarded(args)) == args


def test_build_native_check_exits_1_when_the_build_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["build-native", "--check", "--out", str(tmp_path / "none")])
    assert (status, "is not built" in capsys.readouterr().out) == (1, True)


# run in the compiled engine's own process: the engine imported from build/native before pytest adds the repository
# to the path, and the module files checked after the tests ran (a test passing on the interpreted engine proves
# nothing here)
HOSTILE_RUN = """
import sys
import pytest
import perpspec.engine.core.exchange as exchange
import perpspec.engine.durability.recovery as recovery
code = pytest.main(sys.argv[1:])
compiled = [module.__name__ for module in (exchange, recovery) if module.__file__.endswith('.so')]
print(compiled)
sys.exit(code if len(compiled) == 2 else 3)
"""


@needs_build
def test_the_compiled_engine_answers_command_objects_of_any_kind_as_the_interpreted_one() -> None:
    """No exception escapes the compiled engine either: a non-tuple object (an ``int``, a foreign class whose
    metaclass raises) given to ``Engine.process`` or ``DurableExchange.submit`` is ``Rejected(MALFORMED)``, as on
    the interpreted engine (jrn23: mypyc checked ``process``'s ``Command`` annotation, a tuple, and raised
    ``TypeError``; a replayed ``_Noop`` stand-in, not a tuple either, would have halted the engine).  The hostile
    object tests run in the compiled process, but for the rollback test, which patches ``Engine._restore`` (a
    compiled class's methods cannot be patched)."""
    root = Path(__file__).resolve().parents[1]
    env = native.child_env()
    env["PYTHONPATH"] = f"{native.NATIVE_DIR}:{root}"
    tests = [
        "tests/test_s16_hostile_command_objects.py",
        "tests/test_mut_s9_command_codec.py::test_a_non_command_submitted_to_a_store_is_rejected_and_replays_to_the_same_events",
    ]
    result = subprocess.run(
        native.child_command("-c", HOSTILE_RUN, *tests, "-q", "-p", "no:cacheprovider", "-k", "not without_a_rollback"),
        env=env, cwd=root, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "'perpspec.engine.core.exchange', 'perpspec.engine.durability.recovery'" in result.stdout
