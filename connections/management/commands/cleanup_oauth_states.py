from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connections.oauth_state import oauth_states_delete_stale, oauth_states_stale


class Command(BaseCommand):
    help = "Delete OAuth states that have expired or were consumed (the job does this every 15 minutes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count them; delete nothing.")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        if dry_run:
            count = oauth_states_stale().count()
            self.stdout.write(
                self.style.SUCCESS(f"{count} expired or consumed OAuth states would be deleted (dry run).")
            )
            return
        deleted = oauth_states_delete_stale()
        self.stdout.write(self.style.SUCCESS(f"{deleted} expired or consumed OAuth states deleted."))
