"""Issue 12: nothing perpspec reads can run code, corrupt state or take the exchange down.

Each finding of the review is a test here (the CLI edges are in tests/test_cli_edges.py):

1. hostile encodings — names of functions, modules, dunders and attribute chains, in every place
   the state encoding names a class, deeply nested, with huge lengths — whose payload would
   create a sentinel file: fed to every decoder (state, command records, engine state, a
   journal's genesis, a snapshot, ``perpspec replay``), each gets a typed error naming the byte
   offset and the sentinel never appears;
2. the journal is a hash chain: spliced, reordered and altered records and foreign snapshots are
   refused naming the offset; a torn last record is still discarded and reported.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpspec.engine.core import exchange, isolated_fill, records, state_check, state_codec, state_names
from perpspec.engine.core.commands import TimeTick, VerifyAccount
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability import codec
from perpspec.engine.durability.codec import REGISTRY, STATE_MAGIC, CodecError, decode_state
from perpspec.engine.durability.journal import (
    JOURNAL_MAGIC,
    LINK_BYTES,
    JournalCorrupt,
    JournalError,
    SnapshotForeign,
    journal_header,
    read_journal,
    read_snapshot,
    write_snapshot,
)
from perpspec.engine.durability.recovery import (
    DurableExchange,
    command_codec,
    decode_engine,
    encode_engine,
    genesis_meta,
    list_snapshots,
    recover,
    snapshot_path,
)
from tests.streams import command_stream

CODEC = command_codec()

# ----------------------------------------------------------------------------- hostile encodings

# names that, resolved the way the old codec did (import the module, follow the attribute chain),
# reach code: each would run the payload below
HOSTILE_NAMES = (
    "engine.journal:os.system",
    "engine.recovery:pickle.loads",
    "engine.codec:importlib.import_module",
    "engine.exchange:pickle.loads",
    "engine.orders:Order.__init__.__globals__",
    "engine.orders:Order.__class__",
    "engine.orders:Order.__reduce_ex__",
    "engine.codec:compile_packer",
    "engine.codec:json.loads",
    "rules.instrument_file:tomllib.loads",
    "os:system",
    "posix:system",
    "subprocess:Popen",
    "builtins:eval",
    "builtins:exec",
    "builtins:__import__",
    "__main__:__builtins__",
    "engine.journal:os",
    "engine.orders",
    ":",
    "",
    "engine.orders:Order:extra",
    "engine.orders:Order ",
    "ENGINE.ORDERS:ORDER",
    "perpspec.engine.core.orders:Order",  # the import path, not the stable name
)

names = (
    st.sampled_from(HOSTILE_NAMES)
    | st.builds(
        lambda module, chain: f"{module}:{'.'.join(chain)}",
        st.sampled_from(("engine.journal", "engine.orders", "engine.codec", "rules.num", "os", "builtins")),
        st.lists(
            st.sampled_from(
                (
                    "os",
                    "system",
                    "__class__",
                    "__init__",
                    "__globals__",
                    "__builtins__",
                    "eval",
                    "Order",
                    "mro",
                )
            ),
            min_size=1,
            max_size=6,
        ),
    )
    | st.text(max_size=40)
)


def put_uvarint(value: int) -> bytes:
    out = bytearray()
    state_codec._put_uvarint(out, value)
    return bytes(out)


def class_header(name: str, fields: list[str]) -> bytes:
    raw = json.dumps([name, fields], separators=(",", ":")).encode()
    return put_uvarint(0) + put_uvarint(len(raw)) + raw


def text_value(text: str) -> bytes:
    raw = text.encode()
    return b"s" + put_uvarint(len(raw)) + raw


def hostile_value(name: str, payload: str, framing: str) -> bytes:
    """One value of the state encoding that names ``name`` where a class goes, with ``payload`` as its data."""
    if framing == "global":
        raw = name.encode()
        return b"g" + put_uvarint(len(raw)) + raw
    if framing == "object":
        return b"o" + class_header(name, ["command"]) + text_value(payload)
    if framing == "dict-object":
        return b"O" + class_header(name, []) + put_uvarint(1) + text_value("command") + text_value(payload)
    if framing == "enum":
        return b"e" + class_header(name, []) + text_value(payload)
    if framing == "namedtuple":
        return b"n" + class_header(name, []) + put_uvarint(1) + text_value(payload)
    # a registered class whose instance gets a dunder or method as a "field" (the pickle-reduce route)
    field = {"dunder-field": "__reduce_ex__", "method-field": "clone"}[framing]
    return (
        b"O"
        + class_header("engine.orders:Order", [])
        + put_uvarint(1)
        + text_value(field)
        + text_value(payload)
    )


FRAMINGS = ("global", "object", "dict-object", "enum", "namedtuple", "dunder-field", "method-field")


def nested(inner: bytes, depth: int, container: str) -> bytes:
    """``inner`` at the bottom of ``depth`` nested one-item lists / tuples / dicts."""
    if container == "list":
        return (b"l" + put_uvarint(1)) * depth + inner
    if container == "tuple":
        return (b"t" + put_uvarint(1)) * depth + inner
    return (b"d" + put_uvarint(1) + text_value("k")) * depth + inner


def engine_state_with(value: bytes) -> bytes:
    """An engine-state mapping (what a snapshot or genesis holds) with ``value`` as one attribute."""
    return STATE_MAGIC + b"d" + put_uvarint(1) + text_value("marks") + value


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "SENTINEL"


def decoders(tmp_path: Path) -> dict[str, Callable[[bytes], object]]:
    """Every entry point that decodes outside bytes, each given a whole engine-state encoding."""

    def as_command(data: bytes) -> object:
        return CODEC.decode(b"B" + data)

    def as_genesis(data: bytes) -> object:
        path = tmp_path / "genesis.log"
        meta = {"genesis": base64.b64encode(data).decode(), "genesis_hash": "0" * 64}
        path.write_bytes(journal_header(1, CODEC.schema, meta))
        return recover(str(path), command_codec())

    def as_snapshot(data: bytes) -> object:
        store = tmp_path / "store"
        if not store.exists():
            DurableExchange.open(str(store), command_codec(), Engine)[0].close()
        path = snapshot_path(str(store), 0)
        write_snapshot(path, 0, b"0" * 64, data, read_journal(str(store / "journal.log")).genesis)
        return recover(str(store / "journal.log"), command_codec(), [path], strict_snapshot=True)

    return {
        "state": decode_state,
        "command": as_command,
        "engine": decode_engine,
        "genesis": as_genesis,
        "snapshot": as_snapshot,
    }


def assert_refused_with_offset(decode: Callable[[bytes], object], data: bytes) -> None:
    with pytest.raises((CodecError, JournalError)) as caught:
        decode(data)
    error = caught.value
    assert isinstance(error, CodecError | JournalError)
    assert "at byte offset" in str(error)
    assert isinstance(error.offset, int)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], max_examples=150)
@given(
    name=names,
    framing=st.sampled_from(FRAMINGS),
    depth=st.integers(0, 3000),
    container=st.sampled_from(("list", "tuple", "dict")),
    entry=st.sampled_from(("state", "command", "engine", "genesis", "snapshot")),
)
def test_a_hostile_class_name_never_runs_code_and_is_a_typed_error_at_its_offset(
    tmp_path: Path, sentinel: Path, name: str, framing: str, depth: int, container: str, entry: str
) -> None:
    payload = f"touch {sentinel}"
    data = engine_state_with(nested(hostile_value(name, payload, framing), depth, container))
    assert_refused_with_offset(decoders(tmp_path)[entry], data)
    assert not sentinel.exists()


def test_the_hostile_names_are_live_under_the_old_resolution() -> None:
    """The names are not strawmen: import-and-getattr (what the codec did) reaches os.system."""
    import importlib

    target: Any = importlib.import_module("perpspec.engine.durability.journal")
    assert target.os.system is os.system
    assert all(name not in REGISTRY for name in HOSTILE_NAMES)


def test_the_registry_holds_only_project_record_classes_under_their_stable_names() -> None:
    assert REGISTRY["engine.orders:Order"].__module__ == "perpspec.engine.core.orders"
    assert REGISTRY["rules.instrument:Instrument"].__module__ == "perpspec.rules.instrument"
    for name, cls in REGISTRY.items():
        assert isinstance(cls, type)
        assert cls.__module__.startswith(("perpspec.engine.", "perpspec.rules."))
        assert name.partition(":")[0].startswith(("engine.", "rules.")), name
        assert not issubclass(cls, BaseException)
    assert "engine.exchange:Engine" not in REGISTRY  # a plain class: never built from bytes


@settings(max_examples=200)
@given(
    length=st.integers(2**20, 2**64),
    tag=st.sampled_from((b"s", b"b", b"l", b"t", b"d", b"S", b"f", b"q", b"g")),
    prefix=st.sampled_from((b"", b"l\x01", b"d\x01s\x01k")),
)
def test_huge_lengths_are_refused_at_their_offset_without_allocating(
    length: int, tag: bytes, prefix: bytes
) -> None:
    data = STATE_MAGIC + prefix + tag + put_uvarint(length) + b"x" * 8
    assert_refused_with_offset(decode_state, data)


def test_a_varint_without_end_is_refused() -> None:
    assert_refused_with_offset(decode_state, STATE_MAGIC + b"i" + b"\xff" * 10_000)


@settings(max_examples=300)
@given(
    data=st.binary(max_size=300),
    entry=st.sampled_from(("state", "command-binary", "command-compact", "engine")),
)
def test_random_bytes_get_a_typed_error_with_an_offset_or_decode(data: bytes, entry: str) -> None:
    decode: Callable[[bytes], object] = {
        "state": lambda raw: decode_state(STATE_MAGIC + raw),
        "command-binary": lambda raw: CODEC.decode(b"B" + STATE_MAGIC + raw),
        "command-compact": lambda raw: CODEC.decode(b"C" + raw),
        "engine": lambda raw: decode_engine(STATE_MAGIC + raw),
    }[entry]
    offset: int | None = 0
    try:
        decode(data)
    except CodecError as error:
        offset = error.offset
    assert offset is not None


def test_an_engine_state_round_trips_through_the_registry_only(tmp_path: Path) -> None:
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    for command in command_stream(seed=3, length=400):
        durable.submit(command)
    encoded = encode_engine(durable.exchange)
    assert decode_engine(encoded).state_hash() == durable.exchange.state_hash()
    durable.close()


# ----------------------------------------------------------------------------- the hash chain


def store_with(directory: Path, commands: list[Any], snapshot_every: int = 0) -> DurableExchange:
    durable, _ = DurableExchange.open(str(directory), command_codec(), Engine, snapshot_every=snapshot_every)
    for command in commands:
        durable.submit(command)
    durable.commit()
    return durable


def record_spans(path: Path) -> list[tuple[int, int]]:
    scan = read_journal(str(path))
    ends = [*scan.offsets[1:], scan.end_offset]
    return list(zip(scan.offsets, ends, strict=True))


def test_records_spliced_from_another_journal_with_the_same_genesis_are_refused_at_the_splice(
    tmp_path: Path,
) -> None:
    a = store_with(tmp_path / "a", command_stream(seed=11, length=300))
    b = store_with(tmp_path / "b", command_stream(seed=12, length=300))
    a.close()
    b.close()
    path_a, path_b = tmp_path / "a" / "journal.log", tmp_path / "b" / "journal.log"
    assert read_journal(str(path_a)).genesis == read_journal(str(path_b)).genesis  # same genesis, same header
    spans_a, spans_b = record_spans(path_a), record_spans(path_b)
    spliced = path_a.read_bytes()[: spans_a[149][1]] + path_b.read_bytes()[spans_b[150][0] :]
    target = tmp_path / "spliced.log"
    target.write_bytes(spliced)
    with pytest.raises(
        JournalCorrupt, match=rf"hash chain broken at record seq 151: .* at byte offset {spans_a[150][0]}"
    ):
        recover(str(target), command_codec())


def test_reordered_records_are_refused_even_with_their_seqs_and_checksums_rewritten(tmp_path: Path) -> None:
    store_with(tmp_path / "s", command_stream(seed=13, length=50)).close()
    path = tmp_path / "s" / "journal.log"
    data = path.read_bytes()
    spans = record_spans(path)
    (s10, e10), (s11, e11) = spans[9], spans[10]

    def reseq(record: bytes, seq: int) -> bytes:
        head = struct.pack("<IQ", struct.unpack_from("<I", record)[0], seq)
        return head + struct.pack("<I", zlib.crc32(head)) + record[16:]

    swapped = data[:s10] + reseq(data[s11:e11], 10) + reseq(data[s10:e10], 11) + data[e11:]
    path.write_bytes(swapped)
    with pytest.raises(JournalCorrupt, match=rf"hash chain broken at record seq 10: .* at byte offset {s10}"):
        read_journal(str(path))


def test_an_altered_payload_with_a_valid_header_is_refused_at_its_record(tmp_path: Path) -> None:
    store_with(tmp_path / "s", [VerifyAccount(time_ms=0, account=n) for n in range(1, 30)]).close()
    path = tmp_path / "s" / "journal.log"
    data = bytearray(path.read_bytes())
    start, _ = record_spans(path)[4]
    data[start + 16 + 2] ^= 0x01  # the class index of record 5: still a well-formed command
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match=rf"record seq 5: .* at byte offset {start}"):
        read_journal(str(path))


def test_a_torn_last_record_is_still_discarded_and_reported(tmp_path: Path) -> None:
    store_with(tmp_path / "s", command_stream(seed=14, length=40)).close()
    path = tmp_path / "s" / "journal.log"
    start, end = record_spans(path)[-1]
    whole = path.read_bytes()
    for cut in (start + 3, start + 20, end - 1):
        path.write_bytes(whole[:cut])
        scan = read_journal(str(path))
        assert (scan.last_seq, scan.torn is not None, scan.torn and scan.torn.offset) == (39, True, start)
    path.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))  # the last link fails, nothing after it
    scan = read_journal(str(path))
    assert scan.torn is not None
    assert (scan.last_seq, scan.torn.reason) == (39, "last record fails its hash-chain link")


def test_another_stores_snapshot_at_the_same_seq_is_refused_naming_its_offset(tmp_path: Path) -> None:
    a = store_with(tmp_path / "a", command_stream(seed=15, length=200), snapshot_every=100)
    b = store_with(tmp_path / "b", command_stream(seed=16, length=200), snapshot_every=100)
    a.close()
    b.close()
    foreign = dict(list_snapshots(str(tmp_path / "b")))[200]
    os.replace(foreign, snapshot_path(str(tmp_path / "a"), 200))
    with pytest.raises(SnapshotForeign, match=r"snapshot is not of journal .* at byte offset \d+") as caught:
        DurableExchange.open(str(tmp_path / "a"), command_codec(), Engine)
    assert caught.value.offset == read_snapshot(snapshot_path(str(tmp_path / "a"), 200)).chain_head_offset
    with pytest.raises(SnapshotForeign):
        recover(
            str(tmp_path / "a" / "journal.log"), command_codec(), [snapshot_path(str(tmp_path / "a"), 200)]
        )


def test_a_snapshot_of_this_store_from_before_its_history_was_rewritten_is_refused(tmp_path: Path) -> None:
    commands = command_stream(seed=17, length=120)
    store_with(tmp_path / "s", commands, snapshot_every=60).close()
    path = tmp_path / "s" / "journal.log"
    spans = record_spans(path)
    # cut the journal after record 50 and write a different history from there
    path.write_bytes(path.read_bytes()[: spans[49][1]])
    for seq, snap in list_snapshots(str(tmp_path / "s")):
        if seq != 60:
            os.unlink(snap)
    old = tmp_path / "old-60.snap"
    os.replace(snapshot_path(str(tmp_path / "s"), 60), old)
    durable = store_with(tmp_path / "s", [TimeTick(time_ms=10**9 + n) for n in range(30)])
    durable.close()
    os.replace(old, snapshot_path(str(tmp_path / "s"), 60))
    with pytest.raises(SnapshotForeign, match="record seq 60 at byte offset"):
        DurableExchange.open(str(tmp_path / "s"), command_codec(), Engine)


def test_a_snapshot_is_accepted_where_the_journal_has_its_head(tmp_path: Path) -> None:
    durable = store_with(tmp_path / "s", command_stream(seed=18, length=250), snapshot_every=100)
    expected = durable.exchange.state_hash()
    durable.close()
    _, report, scan = recover(
        str(tmp_path / "s" / "journal.log"),
        command_codec(),
        [p for _, p in list_snapshots(str(tmp_path / "s"))],
    )
    assert (report.snapshot_seq, report.state_hash, report.problems) == (200, expected, ())
    assert read_snapshot(snapshot_path(str(tmp_path / "s"), 200)).chain_head == scan.link_at(200)


def test_the_genesis_link_commits_to_the_whole_header(tmp_path: Path) -> None:
    header = journal_header(1, CODEC.schema, genesis_meta(Engine()))
    other = journal_header(1, CODEC.schema, {**genesis_meta(Engine()), "store": "another"})
    (tmp_path / "a.log").write_bytes(header)
    (tmp_path / "b.log").write_bytes(other)
    a, b = read_journal(str(tmp_path / "a.log")), read_journal(str(tmp_path / "b.log"))
    assert a.genesis == hashlib.sha256(b"perpspec journal chain v3" + header).digest()
    assert (len(a.genesis), a.genesis != b.genesis) == (LINK_BYTES, True)


def test_an_unchained_version_2_journal_replays_but_is_never_continued(tmp_path: Path) -> None:
    store_with(tmp_path / "s", command_stream(seed=19, length=60)).close()
    path = tmp_path / "s" / "journal.log"
    scan = read_journal(str(path))
    meta = json.dumps(dict(scan.meta), sort_keys=True, separators=(",", ":")).encode()
    head = JOURNAL_MAGIC + struct.pack("<HI", 2, len(meta)) + meta
    out = bytearray(head + struct.pack("<I", zlib.crc32(head)))
    for seq, payload in scan.records:
        record_head = struct.pack("<IQ", len(payload), seq)
        out += (
            record_head
            + struct.pack("<I", zlib.crc32(record_head))
            + payload
            + struct.pack("<I", zlib.crc32(payload))
        )
    path.write_bytes(bytes(out))
    _, report, old = recover(str(path), command_codec())
    assert (old.version, report.replayed, "has no hash chain" in report.problems[0]) == (2, 60, True)
    with pytest.raises(
        JournalCorrupt, match="journal version 2 has no hash chain: it replays, but this build continues"
    ):
        DurableExchange.open(str(tmp_path / "s"), command_codec(), Engine)


def test_a_version_1_snapshot_is_refused_by_version_and_recovery_replays_without_it(tmp_path: Path) -> None:
    durable = store_with(tmp_path / "s", command_stream(seed=20, length=80))
    expected = durable.exchange.state_hash()
    durable.close()
    body = b"PSPECSNP" + struct.pack("<HQH", 1, 80, 64) + b"0" * 64 + struct.pack("<Q", 3) + b"abc"
    Path(snapshot_path(str(tmp_path / "s"), 80)).write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    reopened, report = DurableExchange.open(str(tmp_path / "s"), command_codec(), Engine)
    reopened.close()
    assert report is not None
    assert (report.snapshot_seq, report.state_hash) == (0, expected)
    assert (
        "unsupported snapshot version 1 (this build reads 2, 3) — it predates the journal's hash chain"
        in report.problems[0]
    )


def test_a_stale_temporary_snapshot_is_removed_when_the_store_opens(tmp_path: Path) -> None:
    store_with(tmp_path, [VerifyAccount(time_ms=0, account=1)]).close()
    (tmp_path / "snapshot-00000000000000000001.snap.tmp").write_bytes(b"PSPECSNP half written")
    (tmp_path / "notes.snap.tmp").write_bytes(b"not ours")
    durable, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.close()
    assert report is not None
    assert not (tmp_path / "snapshot-00000000000000000001.snap.tmp").exists()
    assert (tmp_path / "notes.snap.tmp").exists()  # not a name this store writes: left alone
    assert any(
        "removed stale temporary file snapshot-00000000000000000001.snap.tmp" in p for p in report.problems
    )


def test_a_planted_link_under_the_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    durable = store_with(tmp_path / "s", [VerifyAccount(time_ms=0, account=1)])
    os.symlink(victim, snapshot_path(str(tmp_path / "s"), 1) + ".tmp")
    durable.snapshot()
    durable.close()
    assert victim.read_text() == "keep me"


# ----------------------------------------------------------------------------- the repository test

ROOT = Path(__file__).resolve().parent.parent
# modules on a path that touches bytes from outside (files, argv, API requests)
OUTSIDE_BYTES_PATHS = ("engine", "rules")  # every room: files, argv, network requests
BANNED_MODULES = frozenset({"pickle", "marshal", "shelve", "dill", "cloudpickle", "runpy", "importlib"})
# importlib's parts that find data, versions and whether a module exists load no code
SAFE_SUBMODULES = frozenset(
    {"importlib.resources", "importlib.metadata", "importlib.util", "importlib.machinery"}
)
SAFE_FROM_IMPORTS = {"importlib": {"resources", "metadata"}}
BANNED_NAMES = frozenset({"eval", "exec", "compile", "__import__"})  # called bare
# called as x.name: import or execute a module by a name or path
BANNED_ATTRIBUTES = frozenset(
    {
        "import_module",
        "__import__",
        "spec_from_file_location",
        "module_from_spec",
        "exec_module",
        "load_module",
    }
)
# (path, what) -> why it is not a path outside bytes can steer
ALLOWED = {
    # the command table maps a name argparse already restricted to its choices to a fixed module
    ("engine/cli/main.py", "importlib"): "fixed command table, name checked by argparse choices",
    ("engine/cli/main.py", "import_module"): "fixed command table, name checked by argparse choices",
    # the benchmark loads the shared measuring stick, a file of this repository named in its own code
    ("engine/bench/bench.py", "spec_from_file_location"): "the repository's shared benchmark file",
    ("engine/bench/bench.py", "module_from_spec"): "the repository's shared benchmark file",
    ("engine/bench/bench.py", "exec_module"): "the repository's shared benchmark file",
    # the audit package's lazy public names: a fixed table (_HOMES) keyed by the attribute Python code asks for
    ("engine/audit/__init__.py", "importlib"): "lazy import of a fixed table of the package's own modules",
    ("engine/audit/__init__.py", "import_module"): "lazy import of a fixed table of the package's own modules",
}


def _banned_uses(path: Path) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                (alias.name.split(".")[0], node.lineno)
                for alias in node.names
                if alias.name not in SAFE_SUBMODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if not all(alias.name in SAFE_FROM_IMPORTS.get(root, ()) for alias in node.names):
                found.append((root, node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in BANNED_NAMES:
                found.append((func.id, node.lineno))
            elif isinstance(func, ast.Attribute) and func.attr in BANNED_ATTRIBUTES:
                found.append((func.attr, node.lineno))
    return [(name, line) for name, line in found if name in BANNED_MODULES | BANNED_NAMES | BANNED_ATTRIBUTES]


def test_no_path_that_touches_outside_bytes_can_unpickle_eval_exec_or_import_by_name() -> None:
    violations = []
    used_allowances = set()
    for folder in OUTSIDE_BYTES_PATHS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for name, line in _banned_uses(path):
                if (relative, name) in ALLOWED:
                    used_allowances.add((relative, name))
                else:
                    violations.append(f"{relative}:{line} uses {name}")
    assert violations == []
    assert used_allowances == set(ALLOWED), "an allowance no longer needed: remove it"


def test_the_codec_decoders_never_getattr_or_import() -> None:
    """The decode side of the codec resolves names by a table lookup only."""
    codec_modules = ("engine/core/records.py", "engine/core/state_codec.py", "engine/durability/command_codec.py")
    trees = [ast.parse((ROOT / name).read_text()) for name in codec_modules]
    decode_side = {
        "decode_state",
        "_decode",
        "_decode_class",
        "_deliver",
        "_finish",
        "_lookup",
        "_check_field_name",
        "decode",
        "_decode_compact",
        "_build",
        "use_writer_schema",
        "_compact_layout",
    }
    banned = {"getattr", "__import__", "eval", "exec", "globals", "vars", "locals"}
    offenders = []
    seen = set()
    for node in (node for tree in trees for node in ast.walk(tree)):
        if not (isinstance(node, ast.FunctionDef) and node.name in decode_side):
            continue
        seen.add(node.name)
        for inner in ast.walk(node):
            called = inner.func.id if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) else ""
            # vars(klass) in _check_field_name reads the project's own class to refuse a name, never resolves one
            if called in banned and not (called == "vars" and node.name == "_check_field_name"):
                offenders.append(f"{node.name}:{getattr(inner, 'lineno', 0)} {called}")
    assert seen == decode_side, "a decode-side function moved: the list above names where to look"
    assert offenders == []


# modules of engine/core outside the registry, and the record-like classes they define (none is state): the
# codec's own (Opaque is registered by itself; UNSET is written as a tag; _Frame is the decoder's stack) and
# the Engine's, whose checkpoint encodes with the codec so the registry cannot import it (_Noop marks an
# internal error in the replay list, which is not state)
OUTSIDE_THE_REGISTRY = {
    exchange: {"_Noop"},
    isolated_fill: set(),  # ACC-006's isolated fill path (session 20, fix26): functions only, no state class
    records: {"Opaque"},
    state_check: set(),  # imports the codec's error and every state class; defines none
    state_codec: {"_Frame", "_Unset"},
    state_names: set(),  # the names the state is saved under (session 21): a table, no class
}


def test_every_module_of_engine_core_and_rules_is_in_the_codec_registry() -> None:
    listed = {module.__name__ for module in codec.RECORD_MODULES}
    on_disk = set()
    for folder, package in (("engine/core", "perpspec.engine.core"), ("rules", "perpspec.rules")):
        for path in (ROOT / folder).glob("*.py"):
            if path.stem != "__init__":
                on_disk.add(f"{package}.{path.stem}")
    assert sorted(on_disk - listed) == sorted(module.__name__ for module in OUTSIDE_THE_REGISTRY)
    for module, expected in OUTSIDE_THE_REGISTRY.items():
        defined = {
            value.__name__
            for value in vars(module).values()
            if isinstance(value, type) and value.__module__ == module.__name__ and codec.is_record_class(value)
        }
        assert defined == expected, f"{module.__name__} defines a record class: list the module in RECORD_MODULES"


def test_the_long_fuzz_harness_takes_its_seed_corpus_and_mutations_of_it() -> None:
    """tests/fuzz_decoders.py (the atheris long run) cannot rot: its input function runs here."""
    import random

    from tests.fuzz_decoders import SENTINEL, one_input, seeds

    rng = random.Random(12)
    corpus = seeds()
    for seed in corpus:
        one_input(seed)
        mutated = bytearray(seed)
        for _ in range(4):
            mutated[rng.randrange(1, len(mutated))] = rng.randrange(256) if len(mutated) > 1 else 0
        one_input(bytes(mutated))
    assert not os.path.exists(SENTINEL)


def hostile_snapshot_store(directory: Path, sentinel: Path) -> str:
    """A store whose newest snapshot is checksummed, bound to the journal's head and holds a hostile state."""
    durable = store_with(directory, [VerifyAccount(time_ms=0, account=1)])
    durable.close()
    payload = engine_state_with(hostile_value("engine.journal:os.system", f"touch {sentinel}", "namedtuple"))
    path = snapshot_path(str(directory), 1)
    write_snapshot(
        path, 1, b"0" * 64, payload, read_journal(str(directory / "journal.log")).link_at(1) or b""
    )
    return path


def test_replay_of_a_store_with_a_hostile_snapshot_runs_nothing_and_reports_it(
    tmp_path: Path, sentinel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from perpspec.engine.cli.main import main

    snapshot = hostile_snapshot_store(tmp_path / "s", sentinel)
    assert main(["replay", str(tmp_path / "s")]) == 0  # the journal replays from its genesis
    out = capsys.readouterr().out
    assert "skipped snapshot" in out
    assert "unknown class 'engine.journal:os.system'" in out
    assert (
        main(["replay", str(tmp_path / "s" / "journal.log"), "--snapshot", snapshot]) == 1
    )  # named: an error
    assert "at byte offset" in capsys.readouterr().out
    assert not sentinel.exists()


def test_what_if_on_a_hostile_snapshot_runs_nothing_and_is_one_line(
    tmp_path: Path, sentinel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from perpspec.engine.cli.main import main

    snapshot = hostile_snapshot_store(tmp_path / "s", sentinel)
    assert main(["what-if", "--params", "XBTUSD", "--state", snapshot]) == 2
    err = capsys.readouterr().err
    assert (err.count("\n"), "unknown class" in err, "Traceback" in err) == (1, True, False)
    assert not sentinel.exists()


def test_opening_a_store_with_a_hostile_snapshot_runs_nothing(tmp_path: Path, sentinel: Path) -> None:
    hostile_snapshot_store(tmp_path / "s", sentinel)
    durable, report = DurableExchange.open(str(tmp_path / "s"), command_codec(), Engine)
    durable.close()
    assert report is not None
    assert (report.snapshot_seq, report.last_seq) == (0, 1)
    assert not sentinel.exists()


# found by the long atheris run (tests/fuzz_decoders.py) after 906,910 inputs: an enum whose value is an
# object of a registered class with unset fields; the enum lookup hashed it (AttributeError escaped)
FUZZ_FINDING_ENUM_OF_OBJECT = base64.b64decode(
    "AlBTVjFkG3MOaW5zdHJ1bWVudF9tYXBkBHMGRVRIVVNEbwCXBVsicnVsZXMuaW5zdHJ1bWVudDpJbnN0cnVtZW50IixbInN5bWJvbCIsImtpbmQiLCJxdW90ZV9jdXJyZW5jeSIsInNldHRsX2N1cnJlbmN5IiwicHJpY2Vfc2NhbGUiLCJ0aWNrX3NpemUiLCJsb3Rfc2l6ZSIsIm11bHRpcGxpZXIiLCJpbml0X21hcmdpbl9wcG0iLCJtYWludF9tYXJnaW5fcHBtIiwicmlza19saW1pdCIsInJpc2tfc3RlcCIsIm1ha2VyX2ZlZV9wcG0iLCJ0YWtlcl9mZWVfcHBtIiwiZmVlX3RpZXJzIiwiZnVuZGluZ19pbnRlcnZhbF9tcyIsIm1heF9vcmRlcl9xdHkiLCJtYXhfcHJpY2UiLCJzZXR0bGVtZW50X2ZlZV9wcG0iLCJleHBpcnlfbXMiLCJtYXJrX21ldGhvZCIsImltcGFjdF9ub3Rpb25hbCIsImZpeGVkX2ludGVyZXN0X2RhaWx5X3BwbSIsInByZW1pdW1fY2xhbXBfcHBtIiwiZnVuZGluZ19jYXBfcmF0aW9fcHBtIiwiZnVuZGluZ19jaGFuZ2VfY2FwX3JhdGlvX3BwbSIsInByZW1pdW1fc2FtcGxlX21zIiwiZmFpcl9iYXNpc19yZWZyZXNoX21zIiwiaW1wYWN0X3NwcmVhZF90aWNrcyIsImxpbWl0X2JhbmRfcHBtIiwic2V0dGxlbWVudF90d2FwX21zIiwibGlxdWlkYXRpb25fZmVlX3BwbSIsIm1haW50X21hcmdpbl9zdGVwX3BwbSIsImluaXRfbWFyZ2luX3N0ZXBfcHBtIiwiYmFzZV9jdXJyZW5jeSIsImJhc2VfbXVsdGlwbGllciJdXXMGRVRIVVNEZQAkWyJydWxlcy5pbnN0cnVtZW50OkNvbnRyYWN0S2luZCIsW11dcwZxdWFudG9zA1VTRHMDWEJ0acgBaQppAmnIAWnAuAJpoJwBaYDIr6AlaYDIr6AlafMDadwLdAFvAEhbInJ1bGVzLmluc3RydW1lbnQ6RmVlVGllciIsWyJhZHZfdXNkIiwibWFrZXJfZmVlX3BwbSIsInRha2VyX2ZlZV9wcG0iXV1pAGnzA2ncC2mA0LsbaYDaxAlpgISvX2kATnMJRmFpclByaWNlTk5p6Adp4MZbaeDGW2nAqQdp4NQDaQZpwJoMaYDd2wFpAGmgnAFpoJwBcwBpAHMGWEJUVVNEbwFzBlhCVFVTRGUCcwdpbnZlcnNlcwNVU0RzA1hCdGnIAWlkaaCcAWmAyK+gJWmAyK+gJWnzA2ncC3QBbwBIWyJydWxlcy5pbnN0cnVtZW50OkZlZVRpZXIiLFsiYWR2X3VzZCIsIm1ha2VyX2ZlZV9wcG0iLCJ0YWtlcl9mZWVfcHBtIl1daQBp8wNp3AtpgNC7G2mA2sQJaYCEr19pAE5zCUZhaXJQcmljZU5OaegHaeDGW2ngxltp1rkHaccBad4CaYDQuxtpgNrECWmAhK9faQBOcwRVU0RUcwRVU0R0acgBaWRp0A9pAmnAuAJpoJwBaYDAqMqaOmmAoJSljR1p8wNp3At0AW8DaQBp8wNp3AtpgNC7G2mAqNa5B2kATnMJRmFpclByaWNlTk5p6Adp4MZbaeDGW2nAqQdp4NQDaQZpwJoMaYDd2wFpAGmgnAFpoJwBcwBpAHMGWEJUWjUybwFzBlhCVFoyNmUCcgdpbnZlcnNlr19p6AdpgPiT0dVoSW5zdHJ1bWVudCIsWyJzeW1ib2wiLCJraW5kIiwi0OoDaYSe4QRpcnQCaeASacyG4QRpdHQCaa8iaeSw4QRpdnQCadho"
)


def test_an_enum_whose_value_is_a_half_built_object_is_a_typed_error() -> None:
    from tests.fuzz_decoders import one_input

    one_input(FUZZ_FINDING_ENUM_OF_OBJECT)  # raises only if something but a typed error escapes
    with pytest.raises(CodecError, match="at byte offset"):
        decode_engine(FUZZ_FINDING_ENUM_OF_OBJECT[1:])


def test_a_snapshot_beyond_the_journals_end_is_set_aside_not_bound_later(tmp_path: Path) -> None:
    commands = command_stream(seed=21, length=130)
    durable = store_with(tmp_path, commands, snapshot_every=60)
    durable.close()
    spans = record_spans(tmp_path / "journal.log")
    journal = tmp_path / "journal.log"
    journal.write_bytes(journal.read_bytes()[: spans[99][1]])  # the device lost records 101-130
    reopened, report = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    reopened.close()
    assert report is not None
    assert (report.snapshot_seq, report.last_seq) == (60, 100)
    assert any("set aside snapshot-00000000000000000120.snap" in problem for problem in report.problems)
    assert (tmp_path / "snapshot-00000000000000000120.snap.orphaned").exists()
    assert [seq for seq, _ in list_snapshots(str(tmp_path))] == [60]
