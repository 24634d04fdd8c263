"""The ``perpspec`` command line: :mod:`.main` dispatches, one module per command."""
