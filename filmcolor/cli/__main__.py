"""``python -m filmcolor.cli``: the ``filmcolor`` command (torchrun runs it this way)."""

from filmcolor.cli import main

main()
