from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from calsync.schedule import periodic_tasks_install


class Command(BaseCommand):
    help = "Install calsync's periodic jobs as Celery Beat schedules (idempotent; keeps staff edits unless --reset)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="Overwrite schedules staff have changed.")

    def handle(self, *args: Any, reset: bool, **options: Any) -> None:
        results = periodic_tasks_install(reset=reset)
        for name, changed in results:
            self.stdout.write(f"{'installed' if changed else 'kept     '}  {name}")
        installed = sum(1 for _, changed in results if changed)
        self.stdout.write(
            self.style.SUCCESS(f"{len(results)} periodic jobs: {installed} installed, {len(results) - installed} kept.")
        )
