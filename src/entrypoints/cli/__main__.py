"""``python -m entrypoints.cli``: the same as the ``media-core`` script."""

from entrypoints.cli import main

main()
