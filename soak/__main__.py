"""`python -m soak [--users N] [--seconds S] [--out var/soak]`: run a soak, write results.md and results.json.

The database comes from DATABASE_URL and must be a soak database (its name says "soak"). Exits 1 when a
request failed, a sync failed or a calendar in the database differs from the provider; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from soak.config import SoakConfig

DEFAULTS = SoakConfig()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # `kill` or a CI timeout: unwind like Ctrl-C, so every server and worker started is stopped.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--users", type=int, default=DEFAULTS.users, help=f"virtual users ({DEFAULTS.users})")
    parser.add_argument("--seconds", type=float, default=DEFAULTS.seconds, help=f"how long ({DEFAULTS.seconds:g})")
    parser.add_argument("--think", type=float, default=DEFAULTS.think, help=f"mean pause, s ({DEFAULTS.think:g})")
    parser.add_argument("--events", type=int, default=DEFAULTS.events, help=f"per calendar ({DEFAULTS.events})")
    parser.add_argument("--out", default="", help="folder for results.md and results.json (default var/soak)")
    args = parser.parse_args(argv)
    if args.users < 1 or args.seconds <= 0:
        parser.error("--users and --seconds must be positive")
    config = SoakConfig(users=args.users, seconds=args.seconds, think=args.think, events=args.events)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    import django

    django.setup()
    from django.conf import settings

    from bench.report import progress
    from soak.people import WrongDatabase
    from soak.report import markdown, write
    from soak.runner import run

    out = Path(args.out) if args.out else Path(settings.VAR_DIR) / "soak"
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run(config, out)
    except WrongDatabase as exc:
        print(f"make soak: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        progress("soak: interrupted; everything it started is stopped")
        return 130
    md, js = write(report, out)
    print(markdown(report))
    print(f"written: {md} and {js}", file=sys.stderr)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
