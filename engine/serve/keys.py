"""API keys: the key store file, BitMEX's HMAC signature, expiry and replay refusal.

A key belongs to one account and carries permissions (``read``, ``trade``,
``withdraw``).  The store is one JSON file, written atomically with
owner-only permissions (0600); the server re-reads it when it changes, so
``perpspec keys revoke`` takes effect on a running server at its next request
or the ticker's next beat, whichever comes first -- open WebSocket sessions
included (:meth:`KeyStore.watch`).

A request is signed as BitMEX signs it: ``api-signature`` = hex
HMAC-SHA256(secret, VERB + request-target + api-expires + body), over the raw
request-target (path and query exactly as sent) and the raw body bytes.  A
request whose ``api-expires`` is in the past is refused (401): that is BitMEX's
whole contract, and orders, amends, cancels and position changes follow it --
two identical signed requests inside one second (the same ``api-expires``, so
the same bytes and signature: a ccxt ladder adding size at a level, a retried
cancel) are both executed, as on BitMEX.

Where money leaves the account -- ``POST /user/requestWithdrawal``, the only
route needing the ``withdraw`` permission (keys and permissions change only
through ``perpspec keys``, never over the API) -- a signature already admitted
and still unexpired is refused as a replay: ``400 {"error": {"message":
"Duplicate request: ...", "name": "ValidationError"}}``, which ccxt 4.5.83 maps
to ``BadRequest`` (never 401, which it would report as bad credentials).  Sign
it again with a later ``api-expires`` to send another.  The server keeps this
replay guard in the store (``replay.guard``), written before the command is
sent, so a restart does not forget what it already accepted.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from typing import Final

import attrs

from perpspec.engine.core.commands import FIELD_INT_MAX
from perpspec.engine.serve.errors import (
    ACCESS_DENIED,
    DUPLICATE_REQUEST,
    INVALID_API_KEY,
    KEY_DISABLED,
    SIGNATURE_NOT_VALID,
    ApiError,
)
from perpspec.rules.parse import loads_json

log = logging.getLogger("perpspec.serve")

PERMISSIONS: Final = ("read", "trade", "withdraw")
ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"  # key ids never start with "-"
ALPHABET_BYTES: Final = frozenset(ALPHABET.encode("ascii"))
MAX_EXPIRES_AHEAD_S: Final = 86_400  # REST: a signature valid for longer than a day is refused
REPLAY_CAPACITY: Final = 1_000_000  # signatures remembered at most (each forgotten once expired)
GUARD_COMPACT_SLACK: Final = 10_000  # expired lines tolerated in the guard file before it is rewritten

KEYS_NAME: Final = "keys.json"  # the key store's file in a serve store directory


def keys_path(store: str) -> str:
    """The key store's file in the serve store directory ``store`` (needs no HTTP library: `perpspec keys` uses it)."""
    return os.path.join(store, KEYS_NAME)


class KeyStoreError(Exception):
    """The key store file is unreadable, malformed, or readable by others."""


class KeyStoreReadError(KeyStoreError):
    """The key store file could not be opened or read (an ``OSError``: EMFILE, EIO, ...), its content unknown.

    Unlike a malformed file it is not remembered by its stat: the next :meth:`KeyStore.refresh` reads it again, so a
    transient error (the process out of descriptors for a moment) does not outlive its cause (review12_1)."""


@attrs.frozen(kw_only=True)
class ApiKey:
    """One key: its id (``api-key``), secret, account and permissions."""

    key_id: str
    secret: str
    account: int
    permissions: tuple[str, ...]
    enabled: bool = True

    def allows(self, permission: str) -> bool:
        return self.enabled and permission in self.permissions


def sign(secret: str, verb: str, target: str, expires: str, body: bytes) -> str:
    """BitMEX's ``api-signature``: hex HMAC-SHA256 over verb + target + expires + body."""
    message = verb.encode() + target.encode("latin-1", "replace") + expires.encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class KeyStore:
    """The keys of one server, loaded from (and saved to) a JSON file with mode 0600."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._keys: dict[str, ApiKey] = {}
        self._stamp: tuple[int, ...] | None = None  # the stat of the file as last loaded or saved (:func:`_fingerprint`)
        self.error: KeyStoreError | None = None  # why the file as last read is unusable (None: it loaded, or is absent)
        self._failed: tuple[int, ...] | None = None  # the stat of a malformed file: not re-read until it changes
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever the keys change (a reload, a revoke) or the file becomes unusable (:attr:`error`),
        before the call that saw it returns: the server drops the sessions the store now refuses at once."""
        self._watchers.append(callback)

    def _changed(self) -> None:
        for callback in list(self._watchers):
            callback()

    def _fail(self, error: KeyStoreError, failed: tuple[int, ...] | None) -> KeyStoreError:
        """Record that the file is unusable (watchers told once per failing file: one report per failure episode).

        ``failed`` is the stat of a file whose *content* is refused (mode, JSON, schema): :meth:`refresh` re-raises
        the error unread until that stat changes.  None (the file or its directory could not be read): the error
        holds until the next :meth:`refresh`, which reads the file again."""
        new = self.error is None or failed != self._failed
        self.error, self._failed = error, failed
        if new:
            self._changed()
        return error

    # ------------------------------------------------------------------ file
    def load(self) -> None:
        """Read the file (a missing file is an empty store); refuse one that others can read."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._reset(always=True)
            return
        except OSError as error:  # the directory unreadable: as unusable as the file (read again next time)
            raise self._fail(KeyStoreReadError(f"{self.path}: unreadable key store ({error})"), None) from None
        stamp = _fingerprint(info)
        try:
            keys = self._read(info)
        except KeyStoreReadError as error:  # an I/O error, not the file's content: retried at the next refresh
            raise self._fail(error, None) from None
        except KeyStoreError as error:
            raise self._fail(error, stamp) from None
        self._keys, self._stamp, self.error, self._failed = keys, stamp, None, None
        self._changed()

    def _read(self, info: os.stat_result) -> dict[str, ApiKey]:
        if info.st_mode & 0o077:
            raise KeyStoreError(f"{self.path}: key store is readable by others (mode {info.st_mode & 0o777:o}); chmod 600")
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise KeyStoreReadError(f"{self.path}: unreadable key store ({error})") from None
        except ValueError as error:  # not UTF-8: the content
            raise KeyStoreError(f"{self.path}: unreadable key store ({error})") from None
        try:
            data = loads_json(text)  # nested past the parser's stack: a ValueError too
        except ValueError as error:
            raise KeyStoreError(f"{self.path}: unreadable key store ({error})") from None
        rows = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise KeyStoreError(f"{self.path}: unreadable key store (not an object with a list 'keys')")
        keys: dict[str, ApiKey] = {}
        for number, row in enumerate(rows):
            key = key_from_row(row, f"{self.path}: keys[{number}]")
            if key.key_id in keys:
                raise KeyStoreError(f"{self.path}: keys[{number}].id: the key id {key.key_id!r} is listed twice")
            keys[key.key_id] = key
        return keys

    def _reset(self, always: bool = False) -> None:
        """The file is gone: an empty store (every key refused); a refresh keeps the keys made and not yet saved."""
        if always or self._stamp is not None or self.error is not None:
            had = bool(self._keys) or self.error is not None
            self._keys, self._stamp, self.error, self._failed = {}, None, None, None
            if had:
                self._changed()

    def refresh(self) -> None:
        """Reload if the file changed since the last load (a revoked key stops working at once); one ``stat`` when it
        did not.  A file whose content was refused raises :class:`KeyStoreError` again, unread, until its stat changes;
        one that could not be read (:class:`KeyStoreReadError`) is read again.

        "Changed" is any difference of :func:`_fingerprint`, the inode and ``st_ctime_ns`` included: an atomic rewrite
        of the same size within the file system's timestamp granularity is another inode, so it is reloaded."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._reset()
            return
        except OSError as error:
            raise self._fail(KeyStoreReadError(f"{self.path}: unreadable key store ({error})"), None) from None
        if self.error is None and _fingerprint(info) == self._stamp:
            return
        if self.error is not None and _fingerprint(info) == self._failed:
            raise KeyStoreError(*self.error.args)
        self.load()

    def save(self) -> None:
        """Write the store atomically, owner-only."""
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        rows = [
            {"id": k.key_id, "secret": k.secret, "account": k.account, "permissions": list(k.permissions), "enabled": k.enabled}
            for k in sorted(self._keys.values(), key=lambda k: (k.account, k.key_id))
        ]
        temporary = f"{self.path}.tmp{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps({"keys": rows}, indent=1).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        self._stamp = _fingerprint(os.stat(self.path))

    # ------------------------------------------------------------------ keys
    def create(self, account: int, permissions: Sequence[str]) -> ApiKey:
        """A new key for ``account`` (ids and secrets from :mod:`secrets`)."""
        unknown = [p for p in permissions if p not in PERMISSIONS]
        if unknown:
            raise KeyStoreError(f"unknown permission(s) {', '.join(unknown)} (known: {', '.join(PERMISSIONS)})")
        if not 0 <= account <= FIELD_INT_MAX:
            raise KeyStoreError(f"account must be a whole number from 0 to {FIELD_INT_MAX} (a command's 64-bit field)")
        key = ApiKey(
            key_id="".join(secrets.choice(ALPHABET) for _ in range(24)),
            secret="".join(secrets.choice(ALPHABET) for _ in range(48)),
            account=account,
            permissions=tuple(p for p in PERMISSIONS if p in permissions),
        )
        self._keys[key.key_id] = key
        return key

    def add(self, key: ApiKey) -> None:
        self._keys[key.key_id] = key
        self._changed()  # a key replaced under its id is another key

    def revoke(self, key_id: str) -> bool:
        """Remove a key; False if there was none."""
        if self._keys.pop(key_id, None) is None:
            return False
        self._changed()
        return True

    def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    def keys(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: (k.account, k.key_id))


def _fingerprint(info: os.stat_result) -> tuple[int, ...]:
    """A file's stat as the store compares it: any write, replace or ``chmod 600`` changes it (a replace: the inode;
    any of them: ``st_ctime``), so the file is read again."""
    return info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_mode


SECRET_LENGTH: Final = 48  # the length of the secrets :meth:`KeyStore.create` makes (and BitMEX's)
SECRET_CHARACTERS: Final = frozenset(ALPHABET + "-_")  # ALPHABET (create's) and base64url's two more (BitMEX's)
KEY_FIELDS: Final = frozenset(("id", "secret", "account", "permissions", "enabled"))


def key_from_row(row: object, where: str) -> ApiKey:
    """One key of the store file, its fields exactly typed: never coerced (``bool("false")`` is True, ``str(None)``
    is a secret anyone can sign with, ``int(1.9)`` is another account); anything else a :class:`KeyStoreError`
    naming the row and the field.

    ``id`` a non-empty string; ``secret`` :data:`SECRET_LENGTH` characters of :data:`SECRET_CHARACTERS` (what
    :meth:`KeyStore.create` makes); ``account`` a whole number within a command's signed 64 bits (not a bool, as
    ``create`` accepts: the engine refuses every command of a larger account as Malformed);
    ``permissions`` a list of distinct known permissions (:data:`PERMISSIONS`); ``enabled`` (optional, default true) a
    JSON boolean.

    An account above a command's 64 bits, which ``perpspec keys create`` wrote until session 18, is loaded as a
    *disabled* key with a warning naming it (review20_3): it can never authenticate, and the rest of the store stays in
    service, so ``perpspec keys list`` shows it and ``perpspec keys revoke ID`` removes it."""
    if not isinstance(row, dict):
        raise KeyStoreError(f"{where}: a key must be an object")
    unknown = sorted(str(name) for name in row if name not in KEY_FIELDS)
    if unknown:
        raise KeyStoreError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(KEY_FIELDS))})")
    for name in ("id", "secret", "account", "permissions"):
        if name not in row:
            raise KeyStoreError(f"{where}.{name}: missing")
    key_id, secret, account = row["id"], row["secret"], row["account"]
    permissions, enabled = row["permissions"], row.get("enabled", True)
    if not isinstance(key_id, str) or not key_id:
        raise KeyStoreError(f"{where}.id: must be a non-empty string")
    if not (isinstance(secret, str) and len(secret) == SECRET_LENGTH and all(c in SECRET_CHARACTERS for c in secret)):
        raise KeyStoreError(f"{where}.secret: must be a string of {SECRET_LENGTH} letters, digits, '-' or '_' "
                            "(as 'perpspec keys create' makes)")
    if type(account) is not int or account < 0:  # bool is an int subclass: true is not account 1
        raise KeyStoreError(f"{where}.account: must be a whole number from 0 to {FIELD_INT_MAX}")
    if not (isinstance(permissions, list) and all(isinstance(p, str) and p in PERMISSIONS for p in permissions)
            and len(set(permissions)) == len(permissions)):
        raise KeyStoreError(f"{where}.permissions: must be a list of distinct permissions among {', '.join(PERMISSIONS)}")
    if not isinstance(enabled, bool):
        raise KeyStoreError(f"{where}.enabled: must be true or false")
    if account > FIELD_INT_MAX:  # the previous release's create wrote it: kept, never usable, so it can be revoked
        log.warning("%s: key %r: account %d is above %d (a command's 64 bits): loaded disabled, it can never "
                    "authenticate; remove it with 'perpspec keys revoke %s'", where, key_id, account, FIELD_INT_MAX,
                    key_id)
        enabled = False
    return ApiKey(key_id=key_id, secret=secret, account=account,
                  permissions=tuple(p for p in PERMISSIONS if p in permissions), enabled=enabled)


class ReplayGuardError(KeyStoreError):
    """The replay guard's file is malformed: refused rather than forgotten (a forgotten signature replays).

    A :class:`KeyStoreError`, so ``perpspec serve`` reports it as it reports a bad key store."""


class ReplayGuard:
    """Signatures seen and not yet expired: the same signed mutation twice is refused.

    Full (``capacity`` unexpired signatures), it refuses rather than forget one, but only a key holding at least
    its fair share (``capacity`` over the keys holding signatures): a few keys signing with day-long expiries cannot
    lock every other key out of its mutations.  Keys under their share are still admitted, up to twice
    ``capacity`` in all (the memory bound).

    With a ``path`` the guard is durable: each admitted signature is appended
    to the file (one ``write(2)``, like the journal's commands) before the
    request's command is sent, and :meth:`open` reloads the unexpired ones, so
    a restart cannot accept again what the previous run accepted.
    """

    def __init__(self, capacity: int = REPLAY_CAPACITY, path: str | None = None, fsync: bool = False) -> None:
        self.capacity = capacity
        self.path = path
        self.fsync = fsync
        self._seen: dict[str, int] = {}  # signature -> expires (s); insertion order = arrival order
        self._owner: dict[str, str] = {}  # signature -> the key id that signed it ("" unknown: an older file)
        self._held: dict[str, int] = {}  # key id -> its unexpired signatures
        self._expiry: list[tuple[int, str]] = []  # heap of (expires, signature), one per remembered signature
        self._fd: int | None = None
        self._lines = 0  # lines in the file (live and expired): compacted when mostly expired

    @classmethod
    def open(cls, path: str, now_s: int, *, fsync: bool = False, capacity: int = REPLAY_CAPACITY) -> ReplayGuard:
        """The guard stored in ``path`` (created if missing), its expired signatures dropped."""
        guard = cls(capacity, path, fsync)
        for signature, (expires_s, key_id) in read_guard_file(path, now_s).items():
            guard._remember(signature, expires_s, key_id)
        guard._rewrite()
        return guard

    def admit(self, signature: str, expires_s: int, now_s: int, key_id: str = "") -> bool:
        """True (and remembered, on disk first) if ``signature`` is new; False for a replay or a full guard.

        Raises ``OSError`` when a durable guard cannot record it (the caller refuses the request)."""
        key_id = guard_key(key_id)
        if len(self._seen) >= self.capacity:
            self._forget_expired(now_s)
            if len(self._seen) >= self.capacity and not self._under_share(key_id):
                return False  # fail closed for this key: refuse rather than forget an unexpired signature
        if signature in self._seen:
            return False
        if self._fd is not None:
            os.write(self._fd, guard_line(signature, expires_s, key_id))
            if self.fsync:
                os.fsync(self._fd)
            self._lines += 1
        self._remember(signature, expires_s, key_id)
        return True

    def _under_share(self, key_id: str) -> bool:
        """Whether ``key_id`` holds less than its fair share of a full guard (and the memory bound is not reached)."""
        if len(self._seen) >= 2 * self.capacity:
            return False
        holders = len(self._held) + (key_id not in self._held)
        return self._held.get(key_id, 0) < max(1, self.capacity // holders)

    def _remember(self, signature: str, expires_s: int, key_id: str) -> None:
        self._seen[signature] = expires_s
        self._owner[signature] = key_id
        self._held[key_id] = self._held.get(key_id, 0) + 1
        heapq.heappush(self._expiry, (expires_s, signature))

    def _forget_expired(self, now_s: int) -> None:
        """Forget the signatures expired before ``now_s``: read from the expiry heap, so a full guard's admission
        costs O(log n) and not a scan of every signature (session 14)."""
        expiry = self._expiry
        while expiry and expiry[0][0] < now_s:
            _, signature = heapq.heappop(expiry)
            del self._seen[signature]
            key_id = self._owner.pop(signature)
            left = self._held[key_id] - 1
            if left:
                self._held[key_id] = left
            else:
                del self._held[key_id]

    def prune(self, now_s: int) -> None:
        """Forget expired signatures (called now and then); the file is rewritten once mostly expired."""
        self._forget_expired(now_s)
        if self._fd is not None and self._lines > 2 * len(self._seen) + GUARD_COMPACT_SLACK:
            self._rewrite()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _rewrite(self) -> None:
        """Replace the file by the live signatures (atomically, owner-only), then append to it."""
        assert self.path is not None  # durable guards only
        temporary = f"{self.path}.tmp{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(guard_line(s, e, self._owner[s]) for s, e in self._seen.items()))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        self.close()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._lines = len(self._seen)


def guard_key(key_id: str) -> str:
    """How the guard names a key: its id when made of :data:`ALPHABET` (at most 64 characters, as keys this store
    makes), else a digest of it (a key store file may name keys otherwise; the guard file stays one token a key)."""
    if len(key_id) <= 64 and all(c in ALPHABET for c in key_id):
        return key_id
    return "h" + hashlib.sha256(key_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def guard_line(signature: str, expires_s: int, key_id: str = "") -> bytes:
    """One admitted signature as the guard file stores it: ``expires_s signature key_id`` (``expires_s signature``
    when the key is not known)."""
    if key_id:
        return f"{expires_s} {signature} {key_id}\n".encode("ascii")
    return f"{expires_s} {signature}\n".encode("ascii")


def read_guard_file(path: str, now_s: int) -> dict[str, tuple[int, str]]:
    """The unexpired signatures in a guard file, each with its expiry and key id ("" for a line of an older file
    that names none); a missing file has none; a malformed line is refused.

    A last line without its newline is a write cut short by a crash: its request was never sent, so it is dropped."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    lines = text.split(b"\n")
    seen: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1]: b"" or a torn last write
        expires, _, rest = line.partition(b" ")
        signature, _, key_id = rest.partition(b" ")
        if not (expires.isdigit() and len(expires) <= 15 and len(signature) == 64
                and all(c in b"0123456789abcdef" for c in signature)
                and len(key_id) <= 64 and all(c in ALPHABET_BYTES for c in key_id)):
            raise ReplayGuardError(f"{path}: line {number} is not 'expires signature [key]'")
        if int(expires) >= now_s:
            seen[signature.decode("ascii")] = (int(expires), key_id.decode("ascii"))
    return seen


def authenticate(
    store: KeyStore,
    guard: ReplayGuard,
    *,
    verb: str,
    target: str,
    body: bytes,
    key_id: str | None,
    expires: str | None,
    signature: str | None,
    now_s: int,
    replay_check: bool,
    max_ahead_s: int | None = MAX_EXPIRES_AHEAD_S,
) -> ApiKey:
    """The key that signed this request, or the BitMEX refusal (401/403)."""
    if not key_id:
        raise ApiError(401, INVALID_API_KEY)
    key = store.get(key_id)
    if key is None:
        raise ApiError(401, INVALID_API_KEY)
    if not key.enabled:
        raise ApiError(403, KEY_DISABLED)
    if not expires or not (expires.isascii() and expires.isdigit()) or len(expires) > 15:
        raise ApiError(401, SIGNATURE_NOT_VALID)
    expires_s = expires_seconds(expires)  # milliseconds (ccxt.pro's WebSocket auth): compared in seconds
    if expires_s < now_s:
        raise ApiError(401, f"This request has expired - `expires` is in the past. Current time: {now_s}")
    if max_ahead_s is not None and expires_s > now_s + max_ahead_s:
        raise ApiError(401, f"{SIGNATURE_NOT_VALID} `expires` is more than {max_ahead_s} s in the future")
    if not signature or len(signature) != 64 or not signature.isascii():  # compare_digest refuses non-ASCII text
        raise ApiError(401, SIGNATURE_NOT_VALID)
    wanted = sign(key.secret, verb, target, expires, body)
    if not hmac.compare_digest(wanted, signature.lower()):
        raise ApiError(401, SIGNATURE_NOT_VALID)
    if replay_check:
        refuse_replay(guard, wanted, expires_s, now_s, key.key_id)
    return key


def expires_seconds(expires: str) -> int:
    """An authenticated ``api-expires`` in seconds (milliseconds, as ccxt.pro sends them, divided)."""
    expires_s = int(expires)
    return expires_s // 1000 if expires_s > 10**11 else expires_s


def refuse_replay(guard: ReplayGuard, signature: str, expires_s: int, now_s: int, key_id: str = "") -> None:
    """400 :data:`DUPLICATE_REQUEST` when this signature was already admitted (or the guard is full for ``key_id``);
    else remember it.  Not 401: the credentials are right, and ccxt maps 401 to ``AuthenticationError``."""
    try:
        admitted = guard.admit(signature.lower(), expires_s, now_s, key_id)
    except OSError as error:  # a durable guard that cannot record it: refused before any command is sent
        log.error("replay guard: %s", error)
        raise ApiError(503, "Service unavailable") from None
    if not admitted:
        raise ApiError(400, DUPLICATE_REQUEST)


def session_key_refusal(store: KeyStore, held: ApiKey, permission: str) -> str | None:
    """Why the key a WebSocket session authenticated with (``held``) may no longer do ``permission`` (None: it may).

    REST re-checks its key on every request; a session outlives its login, so its key must still be in the store as
    it was (the same secret and account: a key re-issued under the same id is another key), enabled, and allow
    ``permission``.  The answers are BitMEX's 403 messages (:data:`KEY_DISABLED`, :data:`ACCESS_DENIED`)."""
    current = store.get(held.key_id)
    if current is None or (current.secret, current.account) != (held.secret, held.account):
        return ACCESS_DENIED
    if not current.enabled:
        return KEY_DISABLED
    if permission not in current.permissions:
        return ACCESS_DENIED
    return None


def require(key: ApiKey, permission: str) -> None:
    """403 Access Denied unless the key has ``permission``."""
    if not key.allows(permission):
        raise ApiError(403, ACCESS_DENIED)
