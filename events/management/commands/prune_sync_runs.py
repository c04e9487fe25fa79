from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from events.services import sync_runs_older_than, sync_runs_prune


class Command(BaseCommand):
    help = "Delete sync runs older than the retention period (the same job Celery Beat runs daily)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=settings.SYNC_RUN_RETENTION_DAYS,
            help=f"Keep runs that started within this many days (default {settings.SYNC_RUN_RETENTION_DAYS}).",
        )  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        if dry_run:
            count = sync_runs_older_than(days=days).count()
            self.stdout.write(f"{count} sync runs older than {days} days would be deleted (dry run).")
            return
        deleted = sync_runs_prune(days=days)
        self.stdout.write(self.style.SUCCESS(f"{deleted} sync runs older than {days} days deleted."))
