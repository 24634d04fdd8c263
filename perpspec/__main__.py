"""``python -m perpspec``: the ``perpspec`` command line."""

from __future__ import annotations

import sys

from perpspec.engine.cli.main import main

sys.exit(main())
