"""`python -m bench [--quick] [--only 3,4,5] [--out var/bench]`: run the measurements, write the report.

Sizes: the issue's by default, `--quick` for a short run, and BENCH_<SIZE> variables (see bench.config)
for any one of them. The database comes from DATABASE_URL and must be a bench database.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a run of a few minutes")
    parser.add_argument("--only", default="", help="comma-separated items to run (1-7), default all")
    parser.add_argument("--out", default="", help="folder for results.md and results.json (default var/bench)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    import django

    django.setup()
    from django.conf import settings

    from bench.config import sizes_from
    from bench.report import markdown, write
    from bench.runner import ORDER, WrongDatabase, run

    items = [int(item) for item in args.only.split(",") if item.strip()] or list(ORDER)
    out = Path(args.out) if args.out else Path(settings.VAR_DIR) / "bench"
    try:
        report = run(sizes=sizes_from(quick=args.quick), items=items, logs=out / "logs")
    except WrongDatabase as exc:
        print(f"make bench: {exc}", file=sys.stderr)
        return 2
    md, js = write(report, out)
    print(markdown(report))
    print(f"written: {md} and {js}", file=sys.stderr)
    return 1 if any(figure.note.startswith("failed:") for figure in report.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
