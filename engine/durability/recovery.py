"""Recovery: load the newest valid snapshot, replay the journal's tail, check the state hash.

A durable exchange lives in one directory::

    journal.log                  the append-only command log (engine.durability.journal)
    snapshot-<seq>.snap          the state after command <seq> (newest two kept)

:class:`DurableExchange` journals every command before it applies it and
acknowledges (releases the events of) a command only once the journal has
committed it under the :class:`~engine.journal.SyncPolicy`.  Every
``snapshot_every`` commands it commits the journal and writes a snapshot, so
a snapshot never covers a command the journal does not have.

:func:`recover` rebuilds the state after a crash: it reads the journal (a torn
last record is cut off and reported; any other damage — a broken hash chain
included — is an error naming the byte offset), loads the newest snapshot that
validates and is *of this journal* (its chain head is the journal's link at its
seq: :func:`bind_snapshot`; a damaged one is reported and the previous one, or
none, is used instead, a foreign one is an error — never a partial load),
checks that the rebuilt state's hash equals the hash stored in the snapshot,
and replays the commands after it.  Engine state goes through the
registry-only state codec both ways; no byte of a file is ever unpickled.  The state hash after recovery
equals the hash of the same commands run without a crash (the kill test).

Commands are replayed only under the rules that judged them (review21_3, dur22):
a version-4 journal records them (its header's digest, then a handover record
each time a build of other rules took the store over), and a command whose
segment names another digest is refused (:class:`RulesMismatch`, naming its seq
and both digests); in a version-3 journal the snapshot recovery starts from
(else the header) names them.  See :func:`check_segments`, :func:`check_rules`
and docs/durability.md.
"""

from __future__ import annotations

import base64
import copy
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from perpspec.engine.core.commands import COMMAND_TYPES, Oversized
from perpspec.engine.core.exchange import _STATE, Engine
from perpspec.engine.core.rejects import class_name, is_whole_command
from perpspec.engine.durability.codec import (
    BINARY_RECORD,
    CodecError,
    CommandCodec,
    decode_state,
    encode_state,
)
from perpspec.engine.durability.journal import (
    HANDOVER_VERSION,
    MAX_RECORD_BYTES,
    JournalCorrupt,
    JournalError,
    JournalScan,
    JournalWriter,
    Snapshot,
    SnapshotCorrupt,
    SnapshotForeign,
    SyncPolicy,
    TornTail,
    read_journal,
    read_snapshot,
    write_snapshot,
)
from perpspec.engine.durability.rules_id import build_rules_digest, describe
from perpspec.engine.durability.snapshot_check import check_snapshot_against_genesis

# the engine's list of what is state: the names its checkpoint and snapshots save
ENGINE_STATE_ATTRIBUTES = tuple(name for name, _owner in _STATE)

JOURNAL_NAME = "journal.log"
LOCK_NAME = "LOCK"  # flock'd by the one process that writes the store
SNAPSHOT_PREFIX = "snapshot-"
SNAPSHOT_SUFFIX = ".snap"
SNAPSHOTS_KEPT = 2
log = logging.getLogger("perpspec.durability")


def command_codec() -> CommandCodec:
    """The journal codec for every command class of :mod:`engine.core.commands`."""
    return CommandCodec(COMMAND_TYPES.values())


def encode_engine(engine: Engine) -> bytes:
    """The engine's state (the attributes its own checkpoint saves) in the canonical state encoding.

    Encoded from a deep copy, which goes through the classes' own ``__getstate__`` exactly as the
    engine's checkpoint does (derived caches left out), without any bytes in between.
    """
    return encode_state(copy.deepcopy({name: getattr(engine, name) for name in ENGINE_STATE_ATTRIBUTES}))


def decode_engine(payload: bytes) -> Engine:
    """An engine from :func:`encode_engine` bytes (:class:`CodecError` on bad bytes).

    The bytes go through the registry-only state decoder and nothing else: the decoded
    attributes, encoded again as saved, are loaded by :meth:`Engine.from_snapshot` (which
    checks every field, gives a field an older engine did not save its value, and
    checkpoints that in-memory state itself).  No file byte is ever unpickled.
    """
    state = decode_state(payload)
    if not (isinstance(state, dict) and all(type(key) is str for key in state)):
        raise CodecError("engine state is not a mapping of attribute names", 0)
    unknown = sorted(set(state) - set(ENGINE_STATE_ATTRIBUTES))
    if unknown:
        raise CodecError(f"engine state has attributes {unknown[:5]} no engine has", 0)
    try:
        # the saved fields only: one an older engine did not save takes the loader's value (Engine.from_snapshot)
        saved = encode_state({name: state[name] for name in ENGINE_STATE_ATTRIBUTES if name in state})
        return Engine.from_snapshot(saved)  # every field checked (engine.core.state_check)
    except CodecError:
        raise
    except Exception as error:  # well-typed values in the wrong places: not an engine's state
        raise CodecError(
            f"decoded state does not rebuild an engine ({type(error).__name__}: {error})", 0
        ) from None


def snapshot_path(directory: str, seq: int) -> str:
    return os.path.join(directory, f"{SNAPSHOT_PREFIX}{seq:020d}{SNAPSHOT_SUFFIX}")


def bind_snapshot(snapshot: Snapshot, path: str, scan: JournalScan) -> None:
    """Refuse a snapshot that is not of this journal: its chain head must be the journal's link at its seq.

    :class:`SnapshotCorrupt` when the journal cannot say (unchained, or the seq is outside it);
    :class:`SnapshotForeign` when it says no (another store, or this store before its history changed).
    """
    if not scan.chained:
        raise SnapshotCorrupt(
            path, 0, f"the journal (version {scan.version}) has no hash chain: no snapshot can be bound to it"
        )
    if snapshot.seq > scan.last_seq:
        raise SnapshotCorrupt(
            path, 10, f"snapshot covers seq {snapshot.seq}, the journal ends at {scan.last_seq}"
        )
    expected = scan.link_at(snapshot.seq)
    if expected is None:
        raise SnapshotCorrupt(
            path, 10, f"snapshot seq {snapshot.seq} is older than the journal's first record"
        )
    if snapshot.chain_head not in scan.heads_at(snapshot.seq):  # the record's link, or a handover's after it
        where = (
            "its genesis"
            if snapshot.seq == scan.first_seq - 1
            else f"record seq {snapshot.seq} at byte offset {scan.offsets[snapshot.seq - scan.first_seq]}"
        )
        raise SnapshotForeign(
            path,
            snapshot.chain_head_offset,
            f"snapshot is not of journal {scan.path}: its chain head {snapshot.chain_head.hex()[:16]}… differs "
            f"from the journal's {expected.hex()[:16]}… at {where} (another store's snapshot, or one from "
            "before this journal's history was rewritten)",
        )


def remove_stale_temporaries(directory: str) -> list[str]:
    """Remove the temporary files a crash left while writing a snapshot or creating the journal
    (``snapshot-<seq>.snap.tmp``, ``journal.log.tmp``: names only this module writes); their names."""
    removed = []
    for name in sorted(os.listdir(directory)):
        stale = name == f"{JOURNAL_NAME}.tmp" or (
            name.startswith(SNAPSHOT_PREFIX)
            and name.endswith(f"{SNAPSHOT_SUFFIX}.tmp")
            and name[len(SNAPSHOT_PREFIX) : -len(f"{SNAPSHOT_SUFFIX}.tmp")].isdigit()
        )
        path = os.path.join(directory, name)
        if stale and not os.path.isdir(path):
            os.unlink(path)
            removed.append(name)
    return removed


def list_snapshots(directory: str) -> list[tuple[int, str]]:
    """(seq, path) of the snapshot files in ``directory``, newest first (temporary files ignored)."""
    found = []
    for name in os.listdir(directory):
        if name.startswith(SNAPSHOT_PREFIX) and name.endswith(SNAPSHOT_SUFFIX):
            digits = name[len(SNAPSHOT_PREFIX) : -len(SNAPSHOT_SUFFIX)]
            if digits.isdigit() and digits.isascii() and os.path.isfile(os.path.join(directory, name)):
                found.append((int(digits), os.path.join(directory, name)))
    found.sort(reverse=True)
    return found


def event_stream_hash(events: Iterable[Any]) -> str:
    """SHA-256 over the canonical encoding of each event, in order (INV-DETERMINISM)."""
    digest = hashlib.sha256()
    for event in events:
        encoded = encode_state(event)
        digest.update(len(encoded).to_bytes(4, "little"))
        digest.update(encoded)
    return digest.hexdigest()


@attrs.frozen(kw_only=True)
class RecoveryReport:
    """What recovery found and did."""

    snapshot_seq: int  # 0: started from an empty exchange
    snapshot_path: str | None
    replayed: int  # commands replayed after the snapshot
    last_seq: int  # last command in the journal (the last one acknowledged or not)
    events: int  # events produced by the replay
    rejected: int  # of the replayed commands, how many the engine rejected
    state_hash: str
    event_hash: str  # hash of the replayed events (over the tail only when a snapshot was used)
    torn: TornTail | None
    problems: tuple[str, ...]  # damaged snapshots skipped, with their errors
    # the rules digest the journal's next command would be judged under: a version-4 journal's last handover record's
    # (else its header's); for version 3, the one recorded for the state recovery started from (the snapshot's, else
    # the journal header's); None for a store from before digests (DurableExchange.open hands over when it is not
    # this build's)
    rules_digest: str | None = None

    def lines(self) -> list[str]:
        out = [
            f"state hash      {self.state_hash}",
            f"event hash      {self.event_hash}",
            f"last seq        {self.last_seq}",
            f"snapshot        {self.snapshot_path or 'none'} (seq {self.snapshot_seq})",
            f"replayed        {self.replayed} commands, {self.events} events, {self.rejected} rejected",
            f"torn tail       {self.torn.describe() if self.torn else 'none'}",
        ]
        out.extend(f"problem         {problem}" for problem in self.problems)
        return out


def rebuilt_hash(engine: Engine) -> str | None:
    """The state hash of a freshly decoded engine, or None if the decoded state is not an engine's.

    A state that passed its checksums can still be a well-formed encoding of something that is
    not an engine state (a bug, or a forged file): hashing it is where that shows.
    """
    try:
        return engine.saved_state_hash()  # as its writer hashed it (without what the loader derived: FND-021)
    except Exception:  # whatever a malformed state raises: the caller reports it as damage
        return None


def load_snapshot_state(snapshot: Snapshot, path: str) -> Engine:
    """Decode a validated snapshot's state and check it hashes to the stored state hash."""
    try:
        exchange = decode_engine(snapshot.payload)
    except CodecError as error:
        offset = snapshot.payload_offset + (error.offset or 0)
        raise SnapshotCorrupt(path, offset, f"state does not decode ({error})") from None
    except Exception as error:  # a decodable value the engine's loader cannot take
        raise SnapshotCorrupt(path, snapshot.payload_offset, f"state does not rebuild ({error!r})") from None
    actual = rebuilt_hash(exchange)
    if actual is None:
        raise SnapshotCorrupt(path, snapshot.payload_offset, "decoded state is not an engine state")
    if actual.encode() != snapshot.state_hash:
        raise SnapshotCorrupt(
            path,
            0,
            f"rebuilt state hash {actual} differs from the stored {snapshot.state_hash.decode(errors='replace')}",
        )
    return exchange


def replay(
    scan: JournalScan,
    codec: CommandCodec,
    exchange: Engine,
    after_seq: int,
    on_events: Callable[[Sequence[Any]], None] | None = None,
) -> tuple[int, int, int, str]:
    """Apply the journal's commands with seq > ``after_seq``: (replayed, events, rejected, event hash)."""
    try:
        codec.use_writer_schema(scan.schema)
    except CodecError as error:
        raise JournalCorrupt(scan.path, 0, f"journal header schema unusable ({error})") from None
    digest = hashlib.sha256()
    replayed = events = rejected = 0
    for index, (seq, payload) in enumerate(scan.records):
        if seq <= after_seq:
            continue
        try:
            command = codec.decode(payload)
        except CodecError as error:
            raise JournalCorrupt(
                scan.path, scan.offsets[index], f"record seq {seq} does not decode ({error})"
            ) from None
        produced = exchange.process(command)
        replayed += 1
        events += len(produced)
        for event in produced:
            encoded = encode_state(event)
            digest.update(len(encoded).to_bytes(4, "little"))
            digest.update(encoded)
            if type(event).__name__ == "Rejected":
                rejected += 1
        if on_events is not None:
            on_events(produced)
    return replayed, events, rejected, digest.hexdigest()


class RulesMismatch(JournalError):
    """Commands that would be replayed under other rules than the ones that judged them when they ran
    (``seq``: the first of them)."""

    def __init__(
        self, path: str, written: str, running: str, what: str, seq: int | None = None, offset: int = 0
    ) -> None:
        self.written = written
        self.running = running
        self.seq = seq
        super().__init__(
            path,
            offset,
            f"{what} were judged under rules digest {written} and this build runs {running}: replaying them here "
            "would give outcomes no client was told of. Replay the store with the build that wrote it (and take a "
            "snapshot at its last seq there: this build then continues from that snapshot without replaying), or "
            "start a new store from a snapshot",
        )


def journal_rules_digest(scan: JournalScan) -> str | None:
    """The rules digest in a journal's header (None: written before digests were recorded)."""
    digest = scan.meta.get("rules_digest")
    if digest is not None and not (type(digest) is str and digest.isascii() and 0 < len(digest) <= 128):
        raise JournalCorrupt(scan.path, 0, "journal header rules_digest is not a digest")
    return digest


def check_rules(
    path: str,
    written: str | None,
    running: str,
    commands: int,
    after_seq: int,
    *,
    override: bool = False,
    what: str | None = None,
    offset: int = 0,
) -> list[str]:
    """May ``commands`` commands after ``after_seq``, judged under ``written``, be replayed by a build running
    ``running``?  The problem lines to report, or :class:`RulesMismatch` (a known, different digest; with
    ``override``, a problem line instead: a replay tool's explicit choice, never silent)."""
    if commands == 0 or written == running:
        return []
    what = what or f"the journal's {commands} commands after seq {after_seq}"
    if written is None:
        return [
            f"rules unknown: {what} were written before stores recorded their rules digest; they are judged by "
            f"this build's rules ({running}), which may not be the rules that judged them"
        ]
    if override:
        return [f"rules differ (overridden): {what} were judged under {written} and were replayed under {running}"]
    raise RulesMismatch(path, written, running, what, after_seq + 1, offset)


@attrs.frozen(kw_only=True)
class RulesSegment:
    """Commands ``first_seq``..``last_seq`` of a journal, judged under ``rules_digest`` (None: unknown), as
    ``source`` records (the header, or a handover record)."""

    first_seq: int
    last_seq: int
    rules_digest: str | None
    source: str


def rules_segments(scan: JournalScan) -> tuple[list[RulesSegment], str | None]:
    """Which rules judged which commands, as the journal records it: the header's digest from its first seq, each
    handover record's from its seq (a later record at the same seq wins: the earlier governed no command); and
    the digest its next command would be judged under.  A journal before version 4 has no handover records: the
    header's digest is its only record."""
    cuts = [(scan.first_seq, journal_rules_digest(scan), "the journal header")]
    cuts += [
        (handover.seq, handover.rules_digest, f"the rules handover record at byte offset {handover.offset}")
        for handover in scan.handovers
    ]
    segments = []
    for index, (first, digest, source) in enumerate(cuts):
        last = cuts[index + 1][0] - 1 if index + 1 < len(cuts) else scan.last_seq
        if last >= first:
            segments.append(RulesSegment(first_seq=first, last_seq=last, rules_digest=digest, source=source))
    return segments, cuts[-1][1]


def segment_rules(scan: JournalScan, seq: int) -> str | None:
    """The rules digest the journal records for command ``seq`` (its header's, else the last handover before it)."""
    digest = journal_rules_digest(scan)
    for handover in scan.handovers:
        if handover.seq <= seq:
            digest = handover.rules_digest
    return digest


def check_segments(scan: JournalScan, running: str, after_seq: int, *, override: bool = False) -> list[str]:
    """:func:`check_rules` for every segment (:func:`rules_segments`) of the commands after ``after_seq``:
    :class:`RulesMismatch` names the first command a segment of other rules would replay, its segment's digest
    and this build's."""
    problems: list[str] = []
    for segment in rules_segments(scan)[0]:
        first = max(segment.first_seq, after_seq + 1)
        count = segment.last_seq - first + 1
        if count <= 0:
            continue
        what = None  # the whole tail under the header's digest: as a version-3 journal says it
        if segment.source != "the journal header" or segment.last_seq != scan.last_seq:
            what = (
                f"the journal's {count} commands after seq {first - 1} (seq {first} to {segment.last_seq}, their "
                f"rules recorded by {segment.source})"
            )
        problems += check_rules(
            scan.path, segment.rules_digest, running, count, first - 1, override=override, what=what,
            offset=scan.offsets[first - scan.first_seq] if what else 0,  # the first record refused
        )
    return problems


def genesis_meta(engine: Engine) -> dict[str, str]:
    """Journal header fields holding the state the journal starts from (so a log replays on its own) and the
    rules digest of the build that writes it (whose rules judge its commands)."""
    return {
        "genesis": base64.b64encode(encode_engine(engine)).decode("ascii"),
        "genesis_hash": engine.state_hash(),
        "rules_digest": build_rules_digest(),
    }


def genesis_engine(scan: JournalScan) -> Engine:
    """The engine state a journal starts from, validated against its hash."""
    try:
        payload = base64.b64decode(str(scan.meta["genesis"]), validate=True)
        engine = decode_engine(payload)
    except Exception as error:  # missing, not base64, not decodable, not loadable: all damage
        raise JournalCorrupt(scan.path, 0, f"journal genesis state unreadable ({error!r})") from None
    if rebuilt_hash(engine) != scan.meta.get("genesis_hash"):
        raise JournalCorrupt(scan.path, 0, "journal genesis state does not match its hash")
    return engine


def recover(
    journal_path: str,
    codec: CommandCodec,
    snapshots: Sequence[str] = (),
    *,
    strict_snapshot: bool = False,
    on_events: Callable[[Sequence[Any]], None] | None = None,
    other_rules: bool = False,
) -> tuple[Engine, RecoveryReport, JournalScan]:
    """Rebuild the exchange from the newest valid snapshot in ``snapshots`` plus the journal's tail.

    ``snapshots`` are tried newest first; a damaged one is skipped and reported,
    unless ``strict_snapshot`` (an explicitly named snapshot), when it is an error.
    A whole snapshot of another journal (:class:`SnapshotForeign`) is always an error:
    nothing is loaded.

    The tail is replayed only under the rules that judged it, or :class:`RulesMismatch`
    (``other_rules``: replayed anyway, with a problem line): in a version-4 journal, every
    command's segment (the header's digest, then each handover record's) must be this build's;
    in version 3, the snapshot's rules digest (the journal header's with no snapshot).  An
    unknown one (a store from before digests) is replayed with a problem line.  Nothing
    replayed, nothing checked.
    """
    scan = read_journal(journal_path)
    running = build_rules_digest()
    journal_digest = journal_rules_digest(scan)
    problems: list[str] = []
    exchange: Engine | None = None
    used: tuple[int, str | None] = (0, None)
    candidates = []
    for path in snapshots:
        try:
            candidates.append((read_snapshot(path), path))
        except SnapshotCorrupt as error:
            if strict_snapshot:
                raise
            problems.append(f"skipped snapshot: {error}")
    candidates.sort(key=lambda item: -item[0].seq)
    written = journal_digest
    if not scan.chained:
        problems.append(
            f"journal version {scan.version} has no hash chain: spliced or reordered records cannot be detected"
        )
    for snapshot, path in candidates:
        try:
            bind_snapshot(snapshot, path, scan)  # a foreign snapshot is refused outright, never skipped
            loaded = load_snapshot_state(snapshot, path)
            if "genesis" in scan.meta:  # a journal whose header holds no genesis has nothing to compare with
                check_snapshot_against_genesis(loaded, genesis_engine(scan), path)
        except SnapshotForeign:
            raise
        except SnapshotCorrupt as error:
            if strict_snapshot:
                raise
            problems.append(f"skipped snapshot: {error}")
            continue
        exchange = loaded
        used = (snapshot.seq, path)
        written = snapshot.rules_digest
        break
    if exchange is None:
        if scan.first_seq != 1:
            raise JournalCorrupt(
                journal_path, 0, f"journal starts at seq {scan.first_seq} and no snapshot covers before it"
            )
        exchange = genesis_engine(scan)
    after = used[0] if used[1] is not None else scan.first_seq - 1
    if scan.version >= HANDOVER_VERSION:  # the journal records the rules of every command: each segment checked
        problems.extend(check_segments(scan, running, after, override=other_rules))
        written = rules_segments(scan)[1]
    else:  # version 3: the snapshot's digest (else the header's) for the whole tail
        problems.extend(check_rules(journal_path, written, running, scan.last_seq - after, after, override=other_rules))
    replayed, events, rejected, event_hash = replay(scan, codec, exchange, used[0], on_events)
    report = RecoveryReport(
        snapshot_seq=used[0],
        snapshot_path=used[1],
        replayed=replayed,
        last_seq=scan.last_seq,
        events=events,
        rejected=rejected,
        state_hash=exchange.state_hash(),
        event_hash=event_hash,
        torn=scan.torn,
        problems=tuple(problems),
        rules_digest=written,
    )
    return exchange, report, scan


def oversized_stand_in(command: object, size: int, clock: int) -> Oversized:
    """What the journal keeps of a command whose record of ``size`` bytes exceeds its limit: its class name (cut to
    64 characters) and size, at its time when that is a valid one, else at the engine's ``clock``."""
    kind = type(command)
    time_ms = getattr(command, "time_ms", None) if is_whole_command(command) else None  # only a command's own field
    return Oversized(
        time_ms=time_ms if type(time_ms) is int and time_ms >= clock else clock,
        command=class_name(kind)[:64],
        size=size,
    )


class DurableExchange:
    """An exchange whose commands are journaled before they run, with periodic snapshots.

    ``submit`` journals and applies a command and returns its events; those
    events are *acknowledged* once :attr:`committed_seq` reaches the command's
    seq (at once with ``group_records=1``, else at the next group commit or
    :meth:`commit`).
    """

    def __init__(
        self,
        exchange: Engine,
        codec: CommandCodec,
        writer: JournalWriter,
        directory: str,
        snapshot_every: int,
    ) -> None:
        self.exchange = exchange
        self.codec = codec
        self.writer = writer
        self.directory = directory
        self.snapshot_every = snapshot_every
        self._since_snapshot = 0
        self._snapshot_retry = 0  # after a failed periodic snapshot: commands since the last one at which to retry
        self.snapshot_failures = 0  # periodic snapshots failed in a row (0: the last one was written)
        self._lock_fd = -1

    @classmethod
    def open(
        cls,
        directory: str,
        codec: CommandCodec,
        make_exchange: Callable[[], Engine],
        *,
        policy: SyncPolicy | None = None,
        snapshot_every: int = 0,
    ) -> tuple[DurableExchange, RecoveryReport | None]:
        """Open (recovering) the exchange stored in ``directory``, or start an empty one there.

        The store is locked (``flock`` on ``LOCK``) while open: a second writer is refused with
        :class:`JournalError`; the kernel releases the lock when the holder dies.
        """
        policy = policy or SyncPolicy()
        os.makedirs(directory, exist_ok=True)
        lock_fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise JournalError(directory, 0, "the store is open in another process") from None
        try:
            cleaned = remove_stale_temporaries(directory)
            journal_path = os.path.join(directory, JOURNAL_NAME)
            report: RecoveryReport | None = None
            computed_under: str | None = None  # the rules that computed the recovered state (when none replayed)
            if not os.path.exists(journal_path):
                exchange = make_exchange()
                writer = JournalWriter.create(
                    journal_path, codec.schema, policy=policy, extra=genesis_meta(exchange)
                )
            else:
                snapshots = [path for _, path in list_snapshots(directory)]
                exchange, report, scan = recover(journal_path, codec, snapshots)
                computed_under = report.rules_digest
                if scan.version >= HANDOVER_VERSION:  # its last command's segment (a handover may follow it)
                    computed_under = segment_rules(scan, scan.last_seq)
                if dict(scan.schema) != codec.schema:
                    # records are laid out by the header's schema (class index, field positions):
                    # appending this build's records under another header would make them undecodable
                    raise JournalError(
                        journal_path,
                        0,
                        "journal written under another command schema (a command class or field was "
                        "added or removed since): it replays, but cannot be continued; start a new store",
                    )
                writer = JournalWriter.reopen(scan, policy=policy)
                notes = [
                    f"removed stale temporary file {name} (a crash while writing it)" for name in cleaned
                ]
                for seq, path in list_snapshots(directory):
                    if seq > scan.last_seq:  # never bound to this journal again: set aside, not deleted
                        os.replace(path, f"{path}.orphaned")
                        notes.append(
                            f"set aside {os.path.basename(path)} (covers seq {seq}, journal ends at {scan.last_seq})"
                        )
                if notes:
                    report = attrs.evolve(report, problems=(*report.problems, *notes))
        except BaseException:
            os.close(lock_fd)
            raise
        durable = cls(exchange, codec, writer, directory, snapshot_every)
        durable._lock_fd = lock_fd
        running = build_rules_digest()
        if report is not None and report.rules_digest != running:
            try:
                report = attrs.evolve(report, problems=(*report.problems, durable._hand_over(report, running, computed_under)))
            except BaseException:
                durable.close()
                raise
        return durable, report

    def _hand_over(self, report: RecoveryReport, running: str, computed_under: str | None) -> str:
        """The handover: the commands appended from here on are judged by this build's rules, which the journal
        does not name for its next command.  A version-4 journal records it (a handover record, fsynced before any
        command is appended: every later reader replays those commands only under these rules, and from genesis
        refuses the segments of other rules); then a snapshot at the last seq under this build's digest, so the
        next recovery replays only the commands judged under it (version 3 has only the snapshot: a store taken
        B → C → B is replayed from genesis under B without noticing).  The report's problem line."""
        seq = self.writer.next_seq - 1
        recorded = ""
        if self.writer.version >= HANDOVER_VERSION:
            self.writer.append_handover(running)
            recorded = f"the journal records it from seq {seq + 1} on; "
        if self.exchange.halted:
            return f"the recovered engine is halted: {recorded}no snapshot records this build's rules digest"
        computed = "this build's rules" if report.replayed else describe(computed_under)
        written = os.path.basename(self.snapshot())
        return (
            f"rules handover: the state at seq {seq} was computed under {computed}; {recorded}snapshot {written} "
            f"records this build's {running}, under which the commands after it are judged"
        )

    @property
    def committed_seq(self) -> int:
        return self.writer.committed_seq

    def submit(self, command: Any) -> Sequence[Any]:
        """Journal then apply one command; its events (acknowledged per the sync policy).

        A command whose record would exceed the journal's limit (a field of megabytes) is
        journaled and applied as an :class:`~engine.commands.Oversized` stand-in (its class
        name and size), which the engine rejects: a typed refusal, nothing escapes, and
        replay gives the same events.  A command journaled in the exact encoding (a hostile value)
        is applied as the journal holds it, decoded, for the same reason.  Once the engine has halted (a failed
        rollback), commands are refused and not journaled.
        """
        if self.exchange.halted:
            # a halted engine refuses every command (Engine._refuse_halted) and recovery from the journal is the way
            # back: a refused command is not journaled, or that recovery would carry out what clients were told was
            # refused; no periodic snapshot either (a halted state is never saved)
            return self.exchange.process(command)
        # codec, writer and exchange called through their typed attributes: native calls in the compiled build
        payload, values = self.codec.encode_read(command)  # the fields the codec read, handed on to the engine
        if len(payload) > MAX_RECORD_BYTES:
            command = oversized_stand_in(command, len(payload), self.exchange.time_ms)
            payload, values = self.codec.encode(command), None
        elif payload[0] == BINARY_RECORD:
            # a hostile value (an object the journal keeps as its shown text, an int beyond 64 bits, a container):
            # the engine runs the command as the journal holds it, so replay gives the same events whatever the
            # live object's repr, hash or class name would have said
            command, values = self.codec.decode(payload), None
        self.writer.append(payload)
        events = self.exchange.process(command, values)
        if self.snapshot_every and not self.exchange.halted:  # the command that halted the engine: no snapshot
            self._since_snapshot += 1
            if self._since_snapshot >= (self._snapshot_retry or self.snapshot_every):
                self._periodic_snapshot()
        return events

    def _periodic_snapshot(self) -> None:
        """Try the periodic snapshot; never raise (redteam28_1, redteam28_5).

        A snapshot is an optimisation (recovery replays the journal without it), and the command that triggered it
        is already journaled and applied: a failure to write it (EMFILE, ENOSPC, EIO) must not fail that command,
        or its caller would report as failed a command the journal holds.  The counter is kept, so a later command
        tries again, backing off (1, 2, 4, ... commands, at most ``snapshot_every``); logged once per episode.
        Not only an OSError: whatever stops the optimisation, the command stands (an unexpected error is logged with
        its traceback)."""
        try:
            self.snapshot()
        except Exception as error:
            self.snapshot_failures += 1
            if self.snapshot_failures == 1:
                log.error("snapshot of %s at seq %d failed: %s (retried with back-off; the journal holds every "
                          "command)", self.directory, self.writer.next_seq - 1, error,
                          exc_info=not isinstance(error, OSError))
            backoff = min(self.snapshot_every, 1 << min(self.snapshot_failures - 1, 30))
            self._snapshot_retry = self._since_snapshot + backoff
            return
        if self.snapshot_failures:
            log.warning("snapshot of %s written again after %d failed attempts", self.directory, self.snapshot_failures)
            self.snapshot_failures = 0
        self._snapshot_retry = 0

    def commit(self) -> int:
        return self.writer.commit()

    def snapshot(self) -> str:
        """Commit the journal, then write a snapshot of the state after the last command."""
        self.writer.commit()
        seq = self.writer.next_seq - 1
        path = snapshot_path(self.directory, seq)
        write_snapshot(
            path, seq, self.exchange.state_hash().encode(), encode_engine(self.exchange), self.writer.head
        )
        self._since_snapshot = 0
        for _, old in list_snapshots(self.directory)[SNAPSHOTS_KEPT:]:
            os.unlink(old)
        return path

    def close(self) -> None:
        self.writer.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1


__all__ = [
    "DurableExchange",
    "JournalError",
    "RecoveryReport",
    "RulesMismatch",
    "check_rules",
    "check_segments",
    "command_codec",
    "decode_engine",
    "encode_engine",
    "event_stream_hash",
    "journal_rules_digest",
    "list_snapshots",
    "recover",
    "replay",
    "rules_segments",
]
