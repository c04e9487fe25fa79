"""`python -m bench.dataset --users N [--seed 1] [--now ISO] [--reset] [--password P]`: build the data set.

Reads DATABASE_URL like manage.py; the options, output and exit status are those of a management command.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    import django

    django.setup()
    from bench.dataset.command import Command

    # run_from_argv parses argv[2:], names the program after argv[0] and argv[1], and turns a CommandError
    # into its message on stderr and exit status 1, as manage.py does.
    Command().run_from_argv(["python -m", "bench.dataset", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
