"""Build a realistic data set for performance work: `python -m bench.dataset --users 1000 [--seed 1]`.

A Django command that is not a management command (the bench is no app): `bench.dataset.__main__` runs it,
and tests pass it to `call_command`. Only ever creates (and with --reset deletes) its own people, marked by
addresses @dataset.invalid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.dataset.build import DEFAULT_NOW, DatasetExists, dataset_generate


class Command(BaseCommand):
    help = "Generate N people with calendars, events, audit rows and OAuth states (the bench's data set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, required=True, help="How many people (1000 is the seed's scale).")
        parser.add_argument("--seed", type=int, default=1, help="The same seed gives the same data (default 1).")
        parser.add_argument(
            "--now",
            type=_instant,
            default=DEFAULT_NOW,
            help=f"The data set's present, ISO 8601 (default {DEFAULT_NOW.isoformat()}).",
        )
        parser.add_argument(
            "--reset", action="store_true", help="Delete previously generated people (and only them) first."
        )
        parser.add_argument(
            "--password",
            help="Everyone's password (one hash for all); random and unusable by anyone if not given.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["users"] < 1:
            raise CommandError("--users must be at least 1.")
        try:
            summary = dataset_generate(
                users=options["users"],
                seed=options["seed"],
                now=options["now"],
                password=options["password"],
                reset=options["reset"],
                progress=lambda text: self.stdout.write(text),
            )
        except DatasetExists as exc:
            raise CommandError(f"{exc}.") from None
        self.stdout.write(self.style.SUCCESS(f"Generated {summary.line()}."))


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
