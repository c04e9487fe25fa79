import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter

from calsync.lib.key_rotation import RotationReport, secrets_rotate


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the numbered procedure in --help as written."""


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class Command(BaseCommand):
    help = """Re-encrypt every secret at rest under the newest key of ENCRYPTION_KEYS (its first entry).

To rotate the encryption key:
  1. Generate a key:  python -c "from calsync.lib.crypto import generate_key; print(generate_key())"
     and add it FIRST in ENCRYPTION_KEYS under a new id, keeping the old entries:
     ENCRYPTION_KEYS=new-id:<new key>,old-id:<old key>
  2. Deploy that setting to every web and worker process: new writes then use the new key, and every
     process can still read values under the old one.
  3. Run this command (--dry-run first shows what it would do). It re-encrypts rows in batches, each
     committed on its own; if it stops, run it again and it carries on with the rows still left.
  4. Once it reports nothing left under an old key, and queued grant revocations have drained (their
     tokens travel sealed under the key that was current when they were queued; allow a day),
     remove the old entry from ENCRYPTION_KEYS and deploy.

A value that cannot be decrypted is listed by model, id and field (never its contents), its row is left
as it is, and the command exits non-zero after the summary: resolve those rows (e.g. the person
reconnects the account) before removing the old key, or they become unreadable for good."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=positive_int, default=500, help="Rows per transaction (default 500).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; change nothing.")

    def handle(self, *args: Any, batch_size: int, dry_run: bool, **options: Any) -> None:
        report = secrets_rotate(batch_size=batch_size, dry_run=dry_run, progress=self.stdout.write)
        for failure in report.failures:
            self.stdout.write(
                self.style.WARNING(
                    f"cannot decrypt {failure.model} pk={failure.pk} field={failure.field}: {failure.reason}"
                )
            )
        style = self.style.SUCCESS if report.complete else self.style.WARNING
        self.stdout.write(style(summary(report)))
        if report.failures:
            raise CommandError(
                f"{len(report.failures)} values could not be decrypted; their rows were left as they were."
            )


def summary(report: RotationReport) -> str:
    verb = "would be re-encrypted" if report.dry_run else "re-encrypted"
    per_model = ", ".join(f"{label} {count}" for label, count in sorted(report.rows_by_model.items()))
    per_key = ", ".join(f"{key_id} {count}" for key_id, count in sorted(report.values_by_key_id.items()))
    return (
        f"{'Dry run: ' if report.dry_run else ''}{report.rows_rotated} rows {verb} under key "
        f"{report.current_key_id!r}{f' ({per_model})' if per_model else ''}"
        f"; values by old key: {per_key or 'none'}"
        f"; {len(report.failures)} values could not be decrypted"
        f"; {report.remaining} rows {'are' if report.dry_run else 'left'} under an old key."
    )
