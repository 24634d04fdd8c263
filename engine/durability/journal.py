"""The journal: an append-only command log whose records form a hash chain, and versioned snapshots.

**Journal file (version 4).** A header, then records::

    header  = b"PSPECJNL" | version u16 | length u32 | meta (canonical JSON) | crc32 u32
    record  = length u32 | seq u64 | crc32(length, seq) u32 | payload | link (32 bytes)
    link    = SHA-256(previous link | length u32 | seq u64 | payload)
    genesis link = SHA-256(b"perpspec journal chain v3" | the whole header, crc included)
    handover record = (length | 2**31) u32 | seq u64 | crc32 | {"rules_digest": D} (canonical JSON) | link

(little-endian).  ``meta`` holds the first sequence number, the command schema
(see :mod:`engine.durability.codec`), the genesis state, the rules digest its
commands are judged under (``rules_digest``, :mod:`engine.durability.rules_id`;
absent in journals written before it) and optionally a store name: the genesis link commits to all of it, so it is the store's identity, and
every record commits to every record before it.  Sequence numbers are
consecutive from ``first_seq``.  A payload is one command as
:class:`engine.durability.codec.CommandCodec` encodes it; its first byte says
how: ``C`` compact record (plain values), ``B`` exact binary encoding (hostile
values), ``[`` canonical JSON (written only by version 1).

A **rules handover record** (version 4; the length word's top bit set) is not a
command: it says that the commands from its seq on (its seq is the next
command's, which it does not use up) were judged under rules digest ``D``.  A
build that takes a store over whose journal names other rules for its next
command writes one (and fsyncs it) before it appends a command
(:meth:`JournalWriter.append_handover`), so the journal itself records which
rules judged every command: ``JournalScan.handovers``.  It is chained like a
command record, so it cannot be dropped, moved or altered without breaking the
chain; a torn one is a torn tail like any last record.  Version 3 (the same
without handover records: the header's digest is the only record) is read and
continued as before, without handover records.

Versions 1 and 2 (before the chain: each record ends with ``crc32(payload)``
instead of a link) are still *read* — replayed from their genesis, reported as
unchained — but never continued, and no snapshot is ever bound to them.  A
reader distinguishes two kinds of damage:

* a **torn tail** — the file ends inside the last record (or the last record's
  link or checksum fails and nothing follows it, or the tail is all zero
  bytes): that record was never acknowledged, so it is discarded and reported
  (:class:`TornTail`: offset and number of bytes);
* **corruption** — a header checksum that fails where data follows, a
  sequence gap, a link that does not follow from the records before it with
  records after it (records spliced in from another journal, reordered,
  altered): the journal cannot be trusted past that point, and
  :class:`JournalCorrupt` names the byte offset.  Nothing is ever half-loaded.

**Durability.** :class:`SyncPolicy` says when appended records reach the
operating system (``group_records``: records per ``write(2)``, group commit)
and when they are forced to the device (``fsync``: ``"always"`` after every
write, ``"never"``, or ``"every:N"`` writes).  A record counts as
*acknowledged* once :attr:`JournalWriter.committed_seq` covers it: after a
``write(2)`` it survives the death of the process (SIGKILL); after an
``fsync`` it also survives the loss of the machine.  The writer refuses a
payload over :data:`MAX_RECORD_BYTES` (:class:`RecordTooLarge`, nothing
appended) rather than write a record its reader would call damage.

**Snapshot file (version 3).** ::

    b"PSPECSNP" | version u16 | seq u64 | hash length u16 | state hash | chain head (32 bytes) |
    digest length u16 | rules digest (ASCII hex) |
    payload length u64 | payload (engine.durability.codec state encoding) | crc32(everything before) u32

``rules digest`` names the rules the state was computed under
(:mod:`engine.durability.rules_id`; the journal header's meta holds the same
field, ``rules_digest``, for the records after its genesis).  Version 2 (the
same without the digest) is still read, its digest unknown.

``chain head`` is the journal's link of record ``seq`` (the genesis link for
seq ``first_seq - 1``): :mod:`engine.durability.recovery` loads a snapshot only
onto a journal that has that link at that seq, so another store's snapshot, or
one of this store from before a rewritten history, is refused.  Written to a
temporary file, fsynced and renamed into place, so a snapshot is either whole
or absent.  Loading validates magic, version, lengths and checksum and names
the offset of the first thing that is wrong; the stored state hash is compared
with the rebuilt state's hash by :mod:`engine.durability.recovery`.  Version 1
snapshots (no chain head) are refused by version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs

from perpspec.engine.durability.rules_id import build_rules_digest
from perpspec.rules.parse import read_regular_file as read_regular_file  # the one file reader

JOURNAL_MAGIC: Final = b"PSPECJNL"
JOURNAL_VERSION: Final = 4  # the version written: chained records and rules handover records
CHAINED_VERSION: Final = 3  # the first version with the hash chain
HANDOVER_VERSION: Final = 4  # the first version with rules handover records
# versions read: 1 (payloads JSON or B records), 2 (payloads C or B records; see engine.durability.codec),
# both unchained (crc32 per record, replayed but never continued), 3 (chained) and 4 (chained, with handovers)
READABLE_JOURNAL_VERSIONS: Final = (1, 2, 3, 4)
SNAPSHOT_MAGIC: Final = b"PSPECSNP"
SNAPSHOT_VERSION: Final = 3  # the version written: with the rules digest the state was computed under
READABLE_SNAPSHOT_VERSIONS: Final = (2, 3)  # 2: with the chain head of the journal record it covers, no digest
MAX_DIGEST_BYTES: Final = 128
CHAIN_DOMAIN: Final = b"perpspec journal chain v3"
LINK_BYTES: Final = 32

# a single command is small: a longer record is refused by the writer (RecordTooLarge), so one in a file is damage
MAX_RECORD_BYTES: Final = 1 << 24
HANDOVER_FLAG: Final = 1 << 31  # in a record's length word (version 4): a rules handover record, not a command
MAX_HANDOVER_BYTES: Final = 1024

_RECORD_HEAD: Final = struct.Struct("<IQ")
MAX_SEQ: Final = (1 << 64) - 1  # a record's seq is a u64 (_RECORD_HEAD), as a snapshot's (_SNAP_HEAD)
_U32: Final = struct.Struct("<I")
_HEAD_SIZE: Final = _RECORD_HEAD.size + 4  # length, seq, header crc
_OVERHEAD: Final = _HEAD_SIZE + 4  # + payload crc (versions 1 and 2)
_CHAINED_OVERHEAD: Final = _HEAD_SIZE + LINK_BYTES  # + link (version 3)
_FILE_HEAD: Final = struct.Struct("<8sHI")
_SNAP_HEAD: Final = struct.Struct("<8sHQH")
_U64: Final = struct.Struct("<Q")
_U16: Final = struct.Struct("<H")

# Final: statics of the compiled build (a module-dict lookup per read otherwise)
_crc32: Final = zlib.crc32
# SHA-256 with nothing hashed yet, never updated itself: each link hashes from a copy of it, which skips the
# digest lookup a new hashlib object makes (about 0.2 µs per record, a third of a link's cost)
_SHA256_START: Final = hashlib.sha256()


def _sha256_digest(data: bytes) -> bytes:
    """SHA-256 of ``data``."""
    hasher = _SHA256_START.copy()
    hasher.update(data)
    return hasher.digest()


def genesis_link(header: bytes) -> bytes:
    """The chain's first link: the store's identity (its whole header: schema, genesis state, name)."""
    return _sha256_digest(CHAIN_DOMAIN + header)


def next_link(previous: bytes, head: bytes, payload: bytes) -> bytes:
    """The link of a record: SHA-256 of the previous link, the record's length and seq, and its payload."""
    return _sha256_digest(previous + head + payload)


_pack_head: Final = _RECORD_HEAD.pack
_pack_u32: Final = _U32.pack


class JournalError(Exception):
    """A journal or snapshot file that cannot be trusted; names the file and the byte offset."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: {reason} at byte offset {offset}")


class RecordTooLarge(ValueError):
    """A payload longer than :data:`MAX_RECORD_BYTES`: the writer refuses it, as the reader would."""


class JournalCorrupt(JournalError):
    """Damage inside the journal (not just a torn last record)."""


class JournalFull(JournalError):
    """The next record's seq would be beyond :data:`MAX_SEQ` (the u64 records are numbered in): nothing appended."""


class SnapshotCorrupt(JournalError):
    """A snapshot that is truncated, of an unknown version, or fails its checksum."""


class SnapshotForeign(SnapshotCorrupt):
    """A whole snapshot that is not of this journal (its chain head is not the journal's at its seq)."""


@attrs.frozen(kw_only=True)
class TornTail:
    """The unacknowledged last record that a crash tore: where it started and what was dropped."""

    offset: int
    discarded_bytes: int
    reason: str

    def describe(self) -> str:
        return f"torn last record at byte offset {self.offset} ({self.discarded_bytes} bytes discarded: {self.reason})"


@attrs.frozen(kw_only=True)
class SyncPolicy:
    """When appended records reach the OS and the device (see the module docstring)."""

    group_records: int = 1  # records buffered per write(2); 1 = every append is written at once
    fsync: str = "never"  # "always" | "never" | "every:N" (one fsync per N writes)

    def fsync_interval(self) -> int:
        """Writes between two fsyncs; 0 = never."""
        if self.fsync == "always":
            return 1
        if self.fsync == "never":
            return 0
        if self.fsync.startswith("every:") and self.fsync[6:].isdigit() and int(self.fsync[6:]) > 0:
            return int(self.fsync[6:])
        raise ValueError(f"unknown fsync policy {self.fsync!r} (always, never, every:N)")


# ----------------------------------------------------------------------------- framing


def frame_record(seq: int, payload: bytes, previous: bytes | None = None) -> bytes:
    """One record's bytes: length, seq, header crc, payload, then its link to ``previous``
    (version 3) or, with ``previous=None``, the payload crc of versions 1 and 2."""
    head = _RECORD_HEAD.pack(len(payload), seq)
    tail = _U32.pack(_crc32(payload)) if previous is None else next_link(previous, head, payload)
    return b"".join((head, _U32.pack(_crc32(head)), payload, tail))


def journal_header(
    first_seq: int, schema: Mapping[str, Any], extra: Mapping[str, Any] | None = None, version: int = JOURNAL_VERSION
) -> bytes:
    """The file header; ``extra`` meta (JSON values) rides along, e.g. the genesis state.  ``version``: 4, or 3 (the
    same records without handovers: what the build before them wrote, for tests of old stores)."""
    if version not in (CHAINED_VERSION, HANDOVER_VERSION):
        raise ValueError(f"a journal is written as version {CHAINED_VERSION} or {HANDOVER_VERSION}, not {version}")
    fields: dict[str, Any] = dict(extra or {})
    fields.update(first_seq=first_seq, schema=schema)
    meta = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    head = _FILE_HEAD.pack(JOURNAL_MAGIC, version, len(meta)) + meta
    return head + _U32.pack(_crc32(head))


@attrs.frozen(kw_only=True)
class Handover:
    """A rules handover record: the commands from ``seq`` on were judged under ``rules_digest``."""

    seq: int  # the first command it governs (the seq after the last command before it)
    rules_digest: str
    offset: int  # where the record starts
    end_offset: int  # where it ends
    link: bytes  # the chain head after it


def handover_payload(rules_digest: str) -> bytes:
    """A handover record's payload: canonical JSON naming the digest."""
    if not (type(rules_digest) is str and rules_digest.isascii() and 0 < len(rules_digest) <= MAX_DIGEST_BYTES):
        raise ValueError(f"a rules digest is 1 to {MAX_DIGEST_BYTES} ASCII characters")
    return json.dumps({"rules_digest": rules_digest}, sort_keys=True, separators=(",", ":")).encode()


def parse_handover(payload: bytes) -> str | None:
    """The digest a handover payload names, or None if it is not one :func:`handover_payload` writes."""
    try:
        fields = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not (type(fields) is dict and list(fields) == ["rules_digest"]):
        return None
    digest = fields["rules_digest"]
    if not (type(digest) is str and digest.isascii() and 0 < len(digest) <= MAX_DIGEST_BYTES):
        return None
    return digest if handover_payload(digest) == payload else None


@attrs.frozen(kw_only=True)
class JournalScan:
    """What a journal file holds: header meta, the valid records, where valid data ends, any torn tail."""

    path: str
    first_seq: int
    schema: Mapping[str, Any]
    meta: Mapping[str, Any]  # the whole header meta (first_seq, schema and any extra fields)
    records: tuple[tuple[int, bytes], ...]  # (seq, payload)
    offsets: tuple[int, ...]  # byte offset of each record
    end_offset: int  # bytes of valid data (header + whole records)
    torn: TornTail | None
    version: int = JOURNAL_VERSION
    genesis: bytes = b""  # the genesis link (version 3; empty for the unchained versions 1 and 2)
    links: tuple[bytes, ...] = ()  # the link of each record (version 3)
    handovers: tuple[Handover, ...] = ()  # the rules handover records, in file order (version 4)

    @property
    def last_seq(self) -> int:
        """Sequence number of the last whole record (first_seq - 1 when there is none)."""
        return self.first_seq - 1 + len(self.records)

    @property
    def chained(self) -> bool:
        return self.version >= CHAINED_VERSION

    def link_at(self, seq: int) -> bytes | None:
        """The chain head after record ``seq`` (the genesis link before the first); None if out of range."""
        if not self.chained or not self.first_seq - 1 <= seq <= self.last_seq:
            return None
        return self.genesis if seq == self.first_seq - 1 else self.links[seq - self.first_seq]

    def heads_at(self, seq: int) -> tuple[bytes, ...]:
        """Every chain head between command ``seq`` and the next: its link, then the links of the handover records
        written after it (a snapshot of the state after ``seq`` may be bound to any of them); empty if out of range."""
        first = self.link_at(seq)
        if first is None:
            return ()
        return (first, *(handover.link for handover in self.handovers if handover.seq == seq + 1))

    @property
    def head(self) -> bytes:
        """The chain head after the last whole record (a handover record's when one is last)."""
        if self.handovers and (not self.offsets or self.handovers[-1].offset > self.offsets[-1]):
            return self.handovers[-1].link
        return self.links[-1] if self.links else self.genesis


def read_header(path: str, data: bytes) -> tuple[Mapping[str, Any], int]:
    """(header meta, offset after the header) or :class:`JournalCorrupt`."""
    if len(data) < _FILE_HEAD.size:
        raise JournalCorrupt(path, len(data), f"file of {len(data)} bytes is shorter than the journal header")
    magic, version, meta_len = _FILE_HEAD.unpack_from(data, 0)
    if magic != JOURNAL_MAGIC:
        raise JournalCorrupt(path, 0, f"not a perpspec journal (magic {magic!r})")
    if version not in READABLE_JOURNAL_VERSIONS:
        readable = ", ".join(map(str, READABLE_JOURNAL_VERSIONS))
        raise JournalCorrupt(path, 8, f"unsupported journal version {version} (this build reads {readable})")
    end = _FILE_HEAD.size + meta_len
    if end + 4 > len(data):
        raise JournalCorrupt(path, len(data), f"journal header truncated (needs {end + 4} bytes)")
    if _crc32(data[:end]) != _U32.unpack_from(data, end)[0]:
        raise JournalCorrupt(path, end, "journal header checksum mismatch")
    try:
        meta = json.loads(data[_FILE_HEAD.size : end])
        first_seq = meta["first_seq"]
        schema = meta["schema"]
    except (ValueError, KeyError, TypeError, RecursionError) as error:  # RecursionError: JSON nested past the stack
        raise JournalCorrupt(path, _FILE_HEAD.size, f"journal header meta unreadable ({error})") from None
    if type(first_seq) is not int or first_seq < 1 or not isinstance(schema, dict):
        raise JournalCorrupt(path, _FILE_HEAD.size, "journal header meta has a bad first_seq or schema")
    if first_seq > MAX_SEQ:  # redteam8_3: it opened, then every append failed to pack its seq
        raise JournalCorrupt(path, _FILE_HEAD.size, f"journal header first_seq is beyond {MAX_SEQ} (records number "
                                                    "their seq in 64 bits)")
    return meta, end + 4


def scan_records(
    path: str,
    data: bytes,
    offset: int,
    first_seq: int,
    genesis: bytes | None = None,
    handovers: list[Handover] | None = None,
) -> Iterator[tuple[int, int, bytes, bytes]]:
    """Yield (offset, seq, payload, link) for each whole command record from ``offset``.

    With ``genesis`` (version 3) every record's link must follow from the one before
    (``link`` is then the record's; else empty).  With ``handovers`` (version 4) rules
    handover records are read too, checked and appended to it, not yielded (without it a
    handover record's length is damage).  Stops at a torn tail (use
    :func:`find_torn_tail` to describe it) and raises :class:`JournalCorrupt` on damage
    with data after it.
    """
    size = len(data)
    expected = first_seq
    head_unpack = _RECORD_HEAD.unpack_from
    u32_unpack = _U32.unpack_from
    chained = genesis is not None
    link = genesis or b""
    trailer = LINK_BYTES if chained else 4
    while offset < size:
        if size - offset < _HEAD_SIZE:
            return
        if _crc32(data[offset : offset + 12]) != u32_unpack(data, offset + 12)[0]:
            if _is_zero(data, offset):
                return
            raise JournalCorrupt(path, offset, f"record header checksum mismatch (expected seq {expected})")
        length, seq = head_unpack(data, offset)
        if seq != expected:
            raise JournalCorrupt(path, offset, f"sequence gap: record has seq {seq}, expected {expected}")
        handover = False
        if length > MAX_RECORD_BYTES:  # (one compare per record: a handover's flag is beyond the limit)
            handover = handovers is not None and length & HANDOVER_FLAG != 0
            if handover:
                length ^= HANDOVER_FLAG
            if not handover or length > MAX_HANDOVER_BYTES:
                limit = MAX_HANDOVER_BYTES if handover else MAX_RECORD_BYTES
                raise JournalCorrupt(path, offset, f"record length {length} exceeds {limit}")
        end = offset + _HEAD_SIZE + length
        if end + trailer > size:
            return
        payload = data[offset + _HEAD_SIZE : end]
        if chained:
            link = next_link(link, data[offset : offset + 12], payload)
            if link != data[end : end + LINK_BYTES]:
                if end + LINK_BYTES == size:
                    return
                raise JournalCorrupt(
                    path,
                    offset,
                    f"hash chain broken at record seq {seq}: its link does not follow from the records before it "
                    "(records spliced in from another journal, reordered or altered)",
                )
        elif _crc32(payload) != u32_unpack(data, end)[0]:
            if end + 4 == size:
                return
            raise JournalCorrupt(path, offset, f"payload checksum mismatch in record seq {seq}")
        if handover:
            digest = parse_handover(payload)
            if digest is None:
                raise JournalCorrupt(path, offset, f"rules handover record at seq {seq} does not name a rules digest")
            assert handovers is not None
            handovers.append(
                Handover(seq=seq, rules_digest=digest, offset=offset, end_offset=end + trailer, link=link)
            )
            offset = end + trailer
            continue  # not a command: the next record has the same seq
        yield offset, seq, payload, link
        offset = end + trailer
        expected += 1


def _is_zero(data: bytes, offset: int) -> bool:
    return data.count(0, offset) == len(data) - offset


def find_torn_tail(data: bytes, valid_end: int, chained: bool = True, handovers: bool = False) -> TornTail | None:
    """Describe the bytes after the last whole record, if any (``handovers``: version 4's handover records)."""
    size = len(data)
    if valid_end >= size:
        return None
    left = size - valid_end
    if _is_zero(data, valid_end):
        reason = "zero-filled tail"
    elif left < _HEAD_SIZE:
        reason = f"only {left} bytes of a {_HEAD_SIZE}-byte record header"
    else:
        length = _RECORD_HEAD.unpack_from(data, valid_end)[0]
        kind = "record"
        if handovers and length & HANDOVER_FLAG:
            length ^= HANDOVER_FLAG
            kind = "rules handover record"
        if valid_end + (_CHAINED_OVERHEAD if chained else _OVERHEAD) + length > size:
            reason = f"{kind} of {length} payload bytes cut short"
        else:
            reason = (
                f"last {kind} fails its hash-chain link"
                if chained
                else "last record fails its payload checksum"
            )
    return TornTail(offset=valid_end, discarded_bytes=left, reason=reason)


def read_journal(path: str) -> JournalScan:
    """Read and validate a whole journal file (see the module docstring for what is an error)."""
    try:
        data = read_regular_file(path)
    except OSError as error:
        raise JournalCorrupt(path, 0, f"cannot read ({error.strerror})") from None
    if data is None:
        raise JournalCorrupt(path, 0, "not a regular file")
    meta, offset = read_header(path, data)
    first_seq: int = meta["first_seq"]
    version: int = _FILE_HEAD.unpack_from(data, 0)[1]
    chained = version >= CHAINED_VERSION
    genesis = genesis_link(data[:offset]) if chained else b""
    overhead = _CHAINED_OVERHEAD if chained else _OVERHEAD
    records: list[tuple[int, bytes]] = []
    offsets: list[int] = []
    links: list[bytes] = []
    handovers: list[Handover] | None = [] if version >= HANDOVER_VERSION else None
    end = offset
    for record_offset, seq, payload, link in scan_records(
        path, data, offset, first_seq, genesis if chained else None, handovers
    ):
        records.append((seq, payload))
        offsets.append(record_offset)
        if chained:
            links.append(link)
        end = record_offset + overhead + len(payload)
    if handovers:
        end = max(end, handovers[-1].end_offset)
    return JournalScan(
        path=path,
        first_seq=first_seq,
        schema=meta["schema"],
        meta=meta,
        records=tuple(records),
        offsets=tuple(offsets),
        end_offset=end,
        torn=find_torn_tail(data, end, chained, handovers is not None),
        version=version,
        genesis=genesis,
        links=tuple(links),
        handovers=tuple(handovers or ()),
    )


# ----------------------------------------------------------------------------- writer


class JournalWriter:
    """Appends records to a journal file under a :class:`SyncPolicy` (group commit)."""

    def __init__(
        self, path: str, fd: int, next_seq: int, policy: SyncPolicy, head: bytes, version: int = JOURNAL_VERSION
    ) -> None:
        self.path = path
        self._fd = fd
        self.version = version  # the file's: version 3 is continued without handover records
        self.head = head  # the chain's link after the last appended record
        self.policy = policy
        self._group = policy.group_records
        if self._group < 1:
            raise ValueError("group_records must be at least 1")
        self._fsync_every = policy.fsync_interval()
        self._writes_since_fsync = 0
        self._pieces: list[bytes] = []  # the records appended since the last commit, piece by piece
        self.next_seq = next_seq
        self.committed_seq = next_seq - 1  # last seq that reached the OS (and the device, per policy)
        self._commit_at = self.committed_seq + self._group  # the seq whose append fills the group

    @classmethod
    def create(
        cls,
        path: str,
        schema: Mapping[str, Any],
        *,
        first_seq: int = 1,
        policy: SyncPolicy,
        extra: Mapping[str, Any] | None = None,
        version: int = JOURNAL_VERSION,
    ) -> JournalWriter:
        """A new journal (the file must not exist): written whole under a temporary name, then renamed,
        so a crash while creating leaves no journal rather than a headless one (``version``: :func:`journal_header`)."""
        if os.path.exists(path):
            raise FileExistsError(path)
        if not 1 <= first_seq <= MAX_SEQ:
            raise ValueError(f"first_seq {first_seq} is outside [1, {MAX_SEQ}] (records number their seq in 64 bits)")
        header = journal_header(first_seq, schema, extra, version)
        write_atomically(path, header)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        return cls(path, fd, first_seq, policy, genesis_link(header), version)

    @classmethod
    def reopen(cls, scan: JournalScan, *, policy: SyncPolicy) -> JournalWriter:
        """Continue a scanned journal: cut a torn tail off, then append after the last whole record.

        Only a chained (version 3) journal is continued: appending linked records to an unchained
        one would leave a file no reader can check.
        """
        if not scan.chained:
            raise JournalCorrupt(
                scan.path,
                8,
                f"journal version {scan.version} has no hash chain: it replays, but this build continues only "
                f"version {JOURNAL_VERSION} journals (start a new store)",
            )
        if scan.last_seq >= MAX_SEQ:
            raise JournalCorrupt(scan.path, scan.end_offset, f"the journal's records reach seq {MAX_SEQ}, the last a "
                                                             "record can carry: no command can be appended")
        fd = os.open(scan.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        if scan.torn is not None:
            os.ftruncate(fd, scan.end_offset)
            os.fsync(fd)
        return cls(scan.path, fd, scan.last_seq + 1, policy, scan.head, scan.version)

    def append(self, payload: bytes) -> int:
        """Frame and buffer one record; commits when the group is full. Returns its seq.

        Raises :class:`RecordTooLarge` (appending nothing) for a payload the reader would refuse, and
        :class:`JournalFull` (appending nothing, ``next_seq`` unchanged) for a seq that does not fit its u64.
        The payload (immutable bytes) is kept as it is until the commit writes it.
        """
        length = len(payload)
        if length > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"record of {length} bytes exceeds the journal's {MAX_RECORD_BYTES}")
        seq = self.next_seq
        try:
            # _pack_head(length, seq)'s bytes (length u32, seq u64, little-endian) by one int.to_bytes, a native
            # call in the compiled build (a struct pack is a Python-level call); the 12-byte width is the bound
            # check (an int compare with 2**64 - 1 is not free in the compiled build: it is beyond a machine word)
            head = (length | seq << 32).to_bytes(12, "little")
        except OverflowError:  # seq beyond the u64, or negative
            raise JournalFull(self.path, 0, f"record seq {seq} is outside [0, {MAX_SEQ}] (a record's seq is a u64): "
                                            "nothing can be appended") from None
        self.next_seq = seq + 1
        link = _sha256_digest(self.head + head + payload)  # next_link
        self.head = link
        pieces = self._pieces  # the record's four pieces, joined once per write by commit()
        pieces.append(head)
        pieces.append(_crc32(head).to_bytes(4, "little"))  # _pack_u32's bytes
        pieces.append(payload)
        pieces.append(link)
        if seq >= self._commit_at:
            self.commit()
        return seq

    def append_handover(self, rules_digest: str) -> int:
        """Record that the commands from :attr:`next_seq` on are judged under ``rules_digest``: the buffered records
        are committed, then the handover record is written in one ``write(2)`` and fsynced whatever the policy (a
        command appended after it never reaches the device without it).  Returns the seq it governs from.

        Only a version-4 journal has handover records (:class:`JournalError` for another)."""
        if self.version < HANDOVER_VERSION:
            raise JournalError(self.path, 8, f"journal version {self.version} cannot record a rules handover")
        payload = handover_payload(rules_digest)
        self.commit()
        seq = self.next_seq
        try:
            head = _pack_head(len(payload) | HANDOVER_FLAG, seq)
        except struct.error:
            raise JournalFull(self.path, 0, f"seq {seq} is outside [0, {MAX_SEQ}]: no handover recorded") from None
        link = next_link(self.head, head, payload)
        _write_all(self._fd, b"".join((head, _pack_u32(_crc32(head)), payload, link)))
        os.fsync(self._fd)
        self._writes_since_fsync = 0
        self.head = link
        return seq

    def commit(self) -> int:
        """Write buffered records (and fsync per policy); returns :attr:`committed_seq`."""
        last = self.next_seq - 1
        if last > self.committed_seq:
            _write_all(self._fd, b"".join(self._pieces))
            self._pieces.clear()
            if self._fsync_every:
                self._writes_since_fsync += 1
                if self._writes_since_fsync >= self._fsync_every:
                    os.fsync(self._fd)
                    self._writes_since_fsync = 0
            self.committed_seq = last
            self._commit_at = last + self._group
        return self.committed_seq

    def sync(self) -> None:
        """Commit and force everything to the device, whatever the policy."""
        self.commit()
        os.fsync(self._fd)
        self._writes_since_fsync = 0

    def close(self) -> None:
        if self._fd >= 0:
            self.commit()
            os.close(self._fd)
            self._fd = -1


def write_atomically(path: str, data: bytes | bytearray) -> None:
    """``path`` holds ``data`` whole, or keeps what it held: a fresh temporary file (a stale one, or
    a link planted under its name, is removed first, never followed), fsync, rename, fsync the directory."""
    tmp = f"{path}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_directory(path)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- snapshots


@attrs.frozen(kw_only=True)
class Snapshot:
    """A validated snapshot: the last command seq it includes, the state hash, the encoded state."""

    seq: int
    state_hash: bytes
    chain_head: bytes  # the journal's link of record ``seq``: the snapshot loads only onto that journal
    chain_head_offset: int
    payload: bytes
    payload_offset: int  # where the payload starts in the file (to turn codec offsets into file offsets)
    rules_digest: str | None = None  # the rules the state was computed under (None: version 2, unknown)


def snapshot_bytes(
    seq: int,
    state_hash: bytes,
    payload: bytes,
    chain_head: bytes = bytes(LINK_BYTES),
    rules_digest: str | None = None,
) -> bytes:
    """A snapshot file's bytes; ``rules_digest`` defaults to this build's (the one computing the state)."""
    if len(chain_head) != LINK_BYTES:
        raise ValueError(f"a chain head is {LINK_BYTES} bytes, not {len(chain_head)}")
    digest = (build_rules_digest() if rules_digest is None else rules_digest).encode("ascii")
    if not 0 < len(digest) <= MAX_DIGEST_BYTES:
        raise ValueError(f"a rules digest is 1 to {MAX_DIGEST_BYTES} ASCII characters")
    head = _SNAP_HEAD.pack(SNAPSHOT_MAGIC, SNAPSHOT_VERSION, seq, len(state_hash)) + state_hash + chain_head
    body = head + _U16.pack(len(digest)) + digest + _U64.pack(len(payload)) + payload
    return body + _U32.pack(_crc32(body))


def write_snapshot(
    path: str, seq: int, state_hash: bytes, payload: bytes, chain_head: bytes, rules_digest: str | None = None
) -> None:
    """Write a snapshot atomically: temporary file, fsync, rename, fsync the directory."""
    write_atomically(path, snapshot_bytes(seq, state_hash, payload, chain_head, rules_digest))


def parse_snapshot(path: str, data: bytes) -> Snapshot:
    """Validate a snapshot's bytes; :class:`SnapshotCorrupt` names the first bad offset."""
    size = len(data)
    if size < _SNAP_HEAD.size:
        raise SnapshotCorrupt(
            path, size, f"truncated: {size} bytes, shorter than the {_SNAP_HEAD.size}-byte header"
        )
    magic, version, seq, hash_len = _SNAP_HEAD.unpack_from(data, 0)
    if magic != SNAPSHOT_MAGIC:
        raise SnapshotCorrupt(path, 0, f"not a perpspec snapshot (magic {magic!r})")
    if version not in READABLE_SNAPSHOT_VERSIONS:
        note = " — it predates the journal's hash chain; recovery replays the journal without it" if version == 1 else ""
        readable = ", ".join(map(str, READABLE_SNAPSHOT_VERSIONS))
        raise SnapshotCorrupt(path, 8, f"unsupported snapshot version {version} (this build reads {readable}){note}")
    head_offset = _SNAP_HEAD.size + hash_len
    offset = head_offset + LINK_BYTES
    rules_digest: str | None = None
    if version >= 3:  # the rules digest the state was computed under
        if offset + 2 > size:
            raise SnapshotCorrupt(path, size, f"truncated inside the header (needs {offset + 2} bytes)")
        digest_len = _U16.unpack_from(data, offset)[0]
        raw = data[offset + 2 : offset + 2 + digest_len]
        if 0 < digest_len <= MAX_DIGEST_BYTES and offset + 2 + digest_len + 8 > size:
            raise SnapshotCorrupt(path, size, f"truncated inside the header (needs {offset + 2 + digest_len + 8} bytes)")
        if not 0 < digest_len <= MAX_DIGEST_BYTES or not raw.isascii():
            raise SnapshotCorrupt(path, offset, f"bad rules digest field (length {digest_len})")
        rules_digest = raw.decode("ascii")
        offset += 2 + digest_len
    if offset + 8 > size:
        raise SnapshotCorrupt(path, size, f"truncated inside the header (needs {offset + 8} bytes)")
    state_hash = data[_SNAP_HEAD.size : head_offset]
    payload_len = _U64.unpack_from(data, offset)[0]
    payload_offset = offset + 8
    end = payload_offset + payload_len
    if end + 4 > size:
        raise SnapshotCorrupt(
            path, size, f"truncated: payload of {payload_len} bytes needs {end + 4}, file has {size}"
        )
    if end + 4 < size:
        raise SnapshotCorrupt(path, end + 4, f"{size - end - 4} unexpected bytes after the checksum")
    if _crc32(data[:end]) != _U32.unpack_from(data, end)[0]:
        raise SnapshotCorrupt(path, end, "snapshot checksum mismatch")
    return Snapshot(
        seq=seq,
        state_hash=state_hash,
        chain_head=data[head_offset : head_offset + LINK_BYTES],
        chain_head_offset=head_offset,
        rules_digest=rules_digest,
        payload=data[payload_offset:end],
        payload_offset=payload_offset,
    )


def read_snapshot(path: str) -> Snapshot:
    try:
        data = read_regular_file(path)
    except OSError as error:
        raise SnapshotCorrupt(path, 0, f"cannot read ({error.strerror})") from None
    if data is None:
        raise SnapshotCorrupt(path, 0, "not a regular file")
    return parse_snapshot(path, data)
