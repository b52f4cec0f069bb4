"""``python -m carbonfin.cli``: the same as the ``carbonfin`` command."""

from carbonfin.cli import main

main()
