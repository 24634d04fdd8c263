"""``perpspec spec``: generate the human rulebook in ``specs/``, check it, or diff two versions.

* ``perpspec spec`` — regenerate ``specs/*.md`` and ``specs/proof-status.json``
  (runs the proof obligations when the sources changed since the stored run);
* ``perpspec spec --check`` — regenerate in memory and exit 1 if ``specs/`` differs;
* ``perpspec spec --diff REF`` — a rule-by-rule diff (code and parameters)
  between the git revision ``REF`` and the working tree, for committee review.

The generator lives in :mod:`proofs.rulebook` (it runs the Z3 obligations), so
it is imported inside :func:`run` only.  Reading an old revision is a
``git show`` at this edge.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from perpspec.engine.cli.main import UsageError, whole_number

INSTALLED_OUT = "perpspec-rulebook"  # an installed perpspec never writes into its own installation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec spec``."""
    parser.add_argument(
        "--out",
        metavar="DIR",
        help=f"write the pages here (default: specs/ in a source checkout, ./{INSTALLED_OUT} when installed)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if specs/ is not up to date (writes nothing)")
    parser.add_argument(
        "--rerun-proofs", action="store_true", help="run every proof obligation even if the stored run is current"
    )
    parser.add_argument(
        "--timeout-ms",
        type=whole_number,
        metavar="MS",
        help="solver timeout for every obligation when they run (default: each obligation's own)",
    )
    parser.add_argument("--diff", metavar="REF", help="render the changes since git revision REF instead")
    parser.add_argument("--output", metavar="FILE", help="with --diff: write the diff here instead of stdout")


def _git_show(root: Path, ref: str, path: str) -> str | None:
    completed = subprocess.run(
        ["git", "-C", str(root), "show", f"{ref}:{path}"], capture_output=True, text=True, check=False
    )
    return completed.stdout if completed.returncode == 0 else None


def _git_list(root: Path, ref: str, folder: str) -> list[str]:
    completed = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "--name-only", f"{ref}", f"{folder}/"],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise UsageError(f"not a git revision: {ref!r} ({completed.stderr.strip()})")
    return [line for line in completed.stdout.splitlines() if line]


def _old_files(root: Path, ref: str) -> dict[str, str]:
    verify = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if verify.returncode != 0:
        raise UsageError(f"not a git revision: {ref!r}")
    paths = [path for path in _git_list(root, ref, "rules") if path.endswith(".py")]
    paths += [path for path in _git_list(root, ref, "specs/instruments") if path.endswith(".toml")]
    paths += ["specs/RULEBOOK_VERSION", "specs/proof-status.json"]
    files: dict[str, str] = {}
    for path in paths:
        text = _git_show(root, ref, path)
        if text is not None:
            files[path] = text
    return files


def _check_writable(option: str, path: Path, *, directory: bool) -> None:
    """Fail in one line, before any work, when ``path`` cannot be written."""
    folder = path if directory else path.parent
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot create {error.filename or folder}: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: {folder} is not writable")
    if not directory and path.is_dir():
        raise UsageError(f"{option} {path}: is a directory")


def run(args: argparse.Namespace) -> int:
    """Generate, check or diff the rulebook."""
    from perpspec.proofs import rulebook, rulebook_diff

    root = rulebook.ROOT
    for option, target in (("--out", args.out), ("--output", args.output)):
        if target:
            _check_writable(option, Path(target), directory=option == "--out")
    if args.diff:
        new_files = {
            path: (root / path).read_text() for path in rulebook_diff.diff_paths(root) if (root / path).exists()
        }
        text = rulebook_diff.render_diff(args.diff, _old_files(root, args.diff), new_files)
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    specs_dir = root / "specs"
    # --check never runs the obligations: a stale stored run is itself a difference.
    try:
        book, ran = rulebook.build_rulebook(
            root,
            specs_dir / rulebook.STATUS_FILE,
            rerun=args.rerun_proofs,
            allow_run=not args.check,
            timeout_ms=args.timeout_ms,
        )
    except rulebook.RulebookError as error:
        print(f"perpspec spec: {error}", file=sys.stderr)
        return 1
    pages = rulebook.render_rulebook(book)
    dangling = rulebook.dangling_references(book, pages)
    if dangling:  # an id the event logs, explain or a link name with no entry: never written, never "up to date"
        print(f"perpspec spec: {len(dangling)} rule ids or links have no rulebook entry or anchor:", file=sys.stderr)
        for problem in dangling:
            print(f"  {problem}", file=sys.stderr)
        return 1
    stored = rulebook.load_status(specs_dir / rulebook.STATUS_FILE)
    current = stored is not None and stored[0] == book.fingerprint
    if ran:
        proof_note = f"ran {ran} of {len(book.outcomes)} proof obligations (the others unchanged since the stored run)"
    else:
        proof_note = f"reused the stored run of {len(book.outcomes)} obligations" + (
            " (sources unchanged)" if current else " (STALE: rules/, proofs/, the instrument files or the kernels changed since)"
        )
    if args.check:
        differing = sorted(
            name
            for name, text in pages.items()
            if not (specs_dir / name).exists() or (specs_dir / name).read_text() != text
        )
        differing += rulebook.stale_files(specs_dir, pages)
        if differing:
            print(f"specs/ is out of date ({proof_note}): {', '.join(differing)} — run `perpspec spec`")
            return 1
        print(f"specs/ is up to date ({len(pages)} files; {proof_note})")
        return 0
    in_checkout = (root / "pyproject.toml").is_file()
    out_dir = Path(args.out) if args.out else specs_dir if in_checkout else Path(INSTALLED_OUT)
    changed = rulebook.write_rulebook(out_dir, pages)
    failing = [o.id for o in book.outcomes if o.strength < 0 and not o.known_bad]
    print(
        f"rulebook version {book.version}: {len(book.rules)} rules, {len(book.invariants)} invariants, "
        f"{proof_note}; {len(changed)} files changed in {out_dir}"
    )
    if failing:
        print(f"failing obligations: {', '.join(failing)}")
    return 0
