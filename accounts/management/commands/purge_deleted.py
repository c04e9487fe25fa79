from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.purge import deleted_purge
from accounts.tasks import purge_deleted
from calsync.jobs import JobBusy, exclusively


class Command(BaseCommand):
    help = (
        "Erase users and events soft-deleted more than --days ago, with everything that belongs to them, then "
        "VACUUM ANALYZE the large tables (the same job Celery Beat runs daily)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=settings.PURGE_AFTER_DAYS,
            help=f"Erase what was deleted more than this many days ago (default {settings.PURGE_AFTER_DAYS}).",
        )  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="Count what would be erased; change nothing.")
        parser.add_argument("--no-vacuum", action="store_true", help="Skip VACUUM ANALYZE afterwards.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Events deleted per statement (default 5000).")

    def handle(self, *args: Any, days: int, dry_run: bool, no_vacuum: bool, batch_size: int, **options: Any) -> None:
        if days < 0 or batch_size < 1:
            raise CommandError("--days must not be negative and --batch-size must be at least 1.")
        try:
            with nullcontext() if dry_run else exclusively(purge_deleted):
                report = deleted_purge(
                    days=days, dry_run=dry_run, vacuum=not no_vacuum, batch_size=batch_size, progress=self.stdout.write
                )
        except JobBusy as busy:
            raise CommandError(str(busy)) from busy
        self.stdout.write(self.style.SUCCESS(report.summary()))
