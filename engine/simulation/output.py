"""The output folder of ``perpspec simulate --out DIR``: locked, staged, replaced atomically.

What a run may do to ``DIR`` (and nothing else):

* **lock first**: ``DIR/.perpspec-simulate.lock`` is created if absent (never
  deleted: deleting a lock file is how two runs end up holding "the" lock) and
  ``flock``-ed before anything else in the folder is read or written; a second
  run on the same folder is refused at once, in one line;
* **stage**: the run writes everything (event log, journal, summary, report)
  into a fresh staging folder ``DIR/.perpspec-staging-XXXXXXXX`` that it
  creates itself, under a unique name;
* **commit**: once the run is complete, each output is moved into place with
  ``rename(2)`` (a file replaces the file of the same name, whole, never
  truncated first), with Ctrl-C held off for those few renames; a note
  ``DIR/INCOMPLETE.txt`` is written before the first rename and removed after
  the last, so a run killed outright (SIGKILL, power loss) in between leaves a
  clear note saying which files may be a mix of two runs;
* **interrupted** before the commit (Ctrl-C, an error): the staging folder —
  everything in it was created by this run — is removed, and ``DIR`` is as it
  was: the previous run's complete set of outputs, untouched.

Nothing the run did not create is ever deleted: not a stray file in
``DIR/journal/``, not a subdirectory, not the previous run's other outputs
(a previous ``--compare`` run's sub-folders stay until a run replaces them).
A ``--compare`` run's labels become sub-folder names only after
:func:`unique_folder_names` (no separators, no ``..``, no hidden names,
duplicates numbered).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final

LOCK_NAME: Final = ".perpspec-simulate.lock"
STAGING_PREFIX: Final = ".perpspec-staging-"
NOTE_NAME: Final = "INCOMPLETE.txt"
RESERVED_NAMES: Final = frozenset({"journal", "report.html", "summary.json", "events.jsonl", NOTE_NAME})
MAX_LABEL_CHARS: Final = 80


class OutputError(Exception):
    """The output folder cannot be used (one line: what and why)."""


def folder_name(label: str) -> str:
    """A safe folder name for a run label: ASCII letters and digits, ``-``, ``_`` and single inner dots kept;
    anything else (separators, ``..``, spaces, control characters) becomes ``_``; never empty or hidden."""
    name = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in label)[:MAX_LABEL_CHARS]
    while ".." in name:
        name = name.replace("..", "__")
    return name.strip("_.") or "run"


def unique_folder_names(labels: Sequence[str]) -> list[str]:
    """:func:`folder_name` of each label, numbered ``-2``, ``-3``… where two would share a folder
    (or take a name the folder's own outputs use)."""
    taken: set[str] = set(RESERVED_NAMES)
    names = []
    for label in labels:
        base = folder_name(label)
        name = base
        number = 1
        while name.lower() in taken:
            number += 1
            name = f"{base}-{number}"
        taken.add(name.lower())
        names.append(name)
    return names


class OutputFolder:
    """One run's hold on ``--out``: :meth:`open` locks and stages, :meth:`commit` moves outputs into place.

    ``command`` names the command in messages and its lock (``.perpspec-<command>.lock``; simulate's is
    :data:`LOCK_NAME`).  With ``replace_links`` False (``perpspec export``) an output whose name is taken by a
    symbolic link is refused before anything is moved, and so is an output folder that is itself a symbolic link (the
    default ``<run>/csv`` of a received run folder can be one: review19_6); with True (simulate) the link itself is
    replaced.  A link is never written through either way: every output is a new file in the staging folder, renamed
    into place.
    """

    def __init__(self, root: Path, command: str = "simulate", *, replace_links: bool = True) -> None:
        self.root = root
        self.command = command
        self.replace_links = replace_links
        self.lock_name = LOCK_NAME if command == "simulate" else f".perpspec-{command}.lock"
        self.staging = root  # set by open()
        self._lock_fd = -1
        self.leftovers: list[str] = []  # staging folders of runs killed earlier (left alone, reported)

    def open(self) -> OutputFolder:
        """Create ``root`` if needed, take its lock, create this run's staging folder."""
        root = self.root
        if root.is_symlink() and not self.replace_links:  # review19_6: <run>/csv planted as a link elsewhere
            raise OutputError(f"{root} is a symbolic link: refused, nothing written (give the folder itself as --out)")
        if root.exists() and not root.is_dir():
            raise OutputError(f"--out {root} exists and is not a directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root.joinpath(self.lock_name), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise OutputError(f"cannot use --out {root}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(f"another perpspec {self.command} is writing to {root} (it holds {self.lock_name})") from None
        self._lock_fd = fd
        try:
            self.leftovers = sorted(p.name for p in root.iterdir() if p.name.startswith(STAGING_PREFIX))
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
        except OSError as error:
            self.close()
            raise OutputError(f"cannot write in --out {root}: {error.strerror}") from None
        return self

    def stage(self, relative: str | Path) -> Path:
        """Where this run writes the output that will be ``root/relative``."""
        return self.staging.joinpath(relative)

    def commit(self, outputs: Iterable[str | Path]) -> None:
        """Move the staged ``outputs`` (paths relative to the folder) into place, then drop the staging folder.

        Every target is checked first (a directory in the way is an error, and nothing is moved);
        then the note, the renames with SIGINT/SIGTERM held, the note removed.
        """
        relatives = [Path(item) for item in outputs]
        for relative in relatives:
            target = self.root.joinpath(relative)
            if not self.stage(relative).is_file():
                raise OutputError(f"internal: {relative} was not written by this run")
            if target.is_dir() and not target.is_symlink():
                raise OutputError(f"{target} is a directory: not replaced (the new outputs are in {self.staging})")
            if target.is_symlink() and not self.replace_links:
                raise OutputError(f"{target} is a symbolic link: refused, nothing written (remove it or choose "
                                  "another --out)")
            for parent in target.parents:
                if parent == self.root:
                    break
                if parent.exists() and not parent.is_dir():
                    raise OutputError(f"{parent} is not a directory: cannot write {target}")
        note = self.root.joinpath(NOTE_NAME)
        with _signals_held():
            write_replace(
                note,
                f"perpspec {self.command} was moving a finished run's outputs into this folder and was killed while\n"
                "doing so: these files may be a mix of that run and the one before it (re-run to get a\n"
                "consistent set):\n" + "".join(f"  {relative}\n" for relative in relatives),
            )
            for relative in relatives:
                target = self.root.joinpath(relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.stage(relative), target)
            _fsync_directories({(self.root.joinpath(relative)).parent for relative in relatives})
            note.unlink()
            self.discard()

    def discard(self) -> None:
        """Remove this run's staging folder (everything in it was created by this run)."""
        if self.staging != self.root and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = self.root

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock; the lock file stays
            self._lock_fd = -1

    def __enter__(self) -> OutputFolder:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.discard()  # after a commit there is nothing left to discard
        self.close()


def write_replace(path: Path, data: str | bytes, *, replace_link: bool = True) -> None:
    """Make ``path`` hold ``data``, whole: written to a new file beside it, then renamed over it.

    The temporary is created by :func:`tempfile.mkstemp` (``O_CREAT|O_EXCL``, a random name), so neither a file nor
    a symbolic link planted in the folder is ever written through, and two writers never share a temporary.  A
    symbolic link at ``path`` is replaced (the link, not its target) or, with ``replace_link`` False, refused with
    an :class:`OutputError`.  ``export`` and ``sweep`` write their outputs with it (redteam18_6).
    """
    if not replace_link and path.is_symlink():
        raise OutputError(f"{path} is a symbolic link: refused, not written through or replaced")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0o600: an output others may read, as before
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_directories(directories: Iterable[Path]) -> None:
    for directory in sorted(directories):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (delivered afterwards) while the outputs are renamed into place."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
