from contextlib import nullcontext
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.archive import ArchiveError, audit_logs_archive
from audit.tasks import archive_audit_logs
from calsync.jobs import JobBusy, exclusively


def _folder(value: str) -> Path | None:
    # Path("") is the working directory: an empty setting or --output "" must mean "no folder" instead.
    return Path(value) if value.strip() else None


class Command(BaseCommand):
    help = (
        "Archive audit rows older than --days to gzipped JSON Lines files in --output, read each file back "
        "to verify it, then delete the archived rows (the Celery task audit.archive_audit_logs runs the same "
        "job). This is the only way audit rows leave the audit_logs table: the database refuses any other "
        "DELETE or UPDATE."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=settings.AUDIT_RETENTION_DAYS,
            help="Archive rows older than this many days "
            f"(default AUDIT_RETENTION_DAYS, {settings.AUDIT_RETENTION_DAYS}).",
        )  # fmt: skip
        parser.add_argument(
            "--output", type=_folder, default=_folder(settings.AUDIT_ARCHIVE_DIR),
            help="Existing durable folder for the archive files (default AUDIT_ARCHIVE_DIR); without one, nothing "
            "is archived or deleted.",
        )  # fmt: skip
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be archived; write and delete nothing."
        )
        parser.add_argument("--batch-size", type=int, default=50_000, help="Rows per archive file (default 50000).")

    def handle(
        self, *args: Any, days: int, output: Path | None, dry_run: bool, batch_size: int, **options: Any
    ) -> None:
        try:
            with nullcontext() if dry_run else exclusively(archive_audit_logs):
                report = audit_logs_archive(
                    days=days, output_dir=output, dry_run=dry_run, batch_size=batch_size, progress=self.stdout.write
                )
        except (ArchiveError, ValueError, JobBusy) as error:
            raise CommandError(str(error)) from error
        if report.output_dir is None:
            self.stdout.write(
                self.style.WARNING(
                    f"No archive folder: set AUDIT_ARCHIVE_DIR or pass --output. Nothing was archived or deleted; "
                    f"{report.rows_older} audit rows older than {days} days are kept."
                )
            )
        elif report.dry_run:
            self.stdout.write(
                f"{report.rows_older} audit rows older than {days} days would be archived to "
                f"{report.output_dir} (dry run)."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{report.rows_archived} audit rows older than {days} days archived to {report.output_dir} "
                    f"in {len(report.files)} files and deleted."
                )
            )
