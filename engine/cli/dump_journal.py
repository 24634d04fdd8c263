"""``perpspec dump-journal JOURNAL``: a command journal's commands, one JSON object per line.

``JOURNAL`` is a journal file or a store folder (``perpspec-out/journal``).  Each
line is ``{"seq": N, "type": "PlaceOrder", <the command's fields>}`` — the
commands exactly as the engine received them, hostile values included.  A field
holding anything but ``None``, a bool, a string, a finite float or an int of at
most about 3,900 digits is written as the text a reject shows of it
(``engine.core.rejects.show``: canonical, bounded, never raising) — a list, a
dict, a set, a command nested in a field, an object JSON cannot hold.  A record
of something that was no command at all (a foreign object, or a command of the
wrong width: the engine refused it as ``Malformed``) is ``{"seq": N, "type":
null, "received": <its text>}``.  A damaged journal stops with the
byte offset (exit status 1); a torn last record is reported on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from perpspec.engine.cli.main import UsageError
from perpspec.engine.core.commands import command_to_dict
from perpspec.engine.core.rejects import is_whole_command, show
from perpspec.engine.durability.codec import CodecError
from perpspec.engine.durability.journal import JournalError, read_journal
from perpspec.engine.durability.recovery import JOURNAL_NAME, command_codec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``perpspec dump-journal``."""
    parser.add_argument("journal", metavar="JOURNAL", help="a journal file, or a store folder holding journal.log")


def shown(value: object) -> object:
    """A field's value as dumped: a JSON scalar as itself, anything else as its shown text (review13_5: a dict
    with a tuple key, a list nested 3,000 deep or holding itself, an int of 5,000 digits made ``json.dumps``
    raise; a NamedTuple would have been a bare list)."""
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int and value.bit_length() <= _INT_BITS:  # type: ignore[attr-defined]
        return value
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return value
    return show(value)


_INT_BITS = 13_000  # about 3,900 decimal digits: below the interpreter's 4,300-digit limit on int -> str


def run(args: argparse.Namespace) -> int:
    """Print every command of the journal."""
    path = os.path.join(args.journal, JOURNAL_NAME) if os.path.isdir(args.journal) else args.journal
    if not os.path.isfile(path):
        raise UsageError(f"JOURNAL: no journal file {path!r}")
    codec = command_codec()
    try:
        scan = read_journal(path)
        codec.use_writer_schema(scan.schema)
        for seq, payload in scan.records:
            command = codec.decode(payload)
            if is_whole_command(command):
                fields = command_to_dict(command)
                line = {"seq": seq, **{name: shown(value) for name, value in fields.items()}}
            else:  # journaled as no command (review12_3: it has no fields to list)
                line = {"seq": seq, "type": None, "received": show(command)}
            print(json.dumps(line, allow_nan=False))
    except (JournalError, CodecError) as error:
        print(f"perpspec dump-journal: journal damaged: {error}", file=sys.stderr)
        return 1
    if scan.torn is not None:
        print(f"perpspec dump-journal: torn tail at byte {scan.torn.offset} ({scan.torn.reason})", file=sys.stderr)
    return 0
