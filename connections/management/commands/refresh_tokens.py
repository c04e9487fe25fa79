from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.keepalive import accounts_idle, accounts_keep_alive, oauth_providers
from connections.models import AccountStatus, ProviderAccount


class Command(BaseCommand):
    help = (
        "Refresh the OAuth grants of provider accounts the sync has not used for a while, so their refresh "
        "tokens do not lapse; a grant withdrawn at the provider turns its account to 'needs reconnect'. "
        "The hourly job does the same."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle-days", type=int, default=settings.CREDENTIALS_IDLE_DAYS,
            help="Accounts neither used nor refreshed for this many days (default %(default)s).",
        )  # fmt: skip
        parser.add_argument("--account", type=int, action="append", help="Refresh this account id now (repeatable).")
        parser.add_argument("--dry-run", action="store_true", help="List the accounts; refresh nothing.")

    def handle(self, *args: Any, idle_days: int, account: list[int] | None, dry_run: bool, **options: Any) -> None:
        if account:
            accounts = ProviderAccount.objects.filter(
                pk__in=account, status=AccountStatus.ACTIVE, provider__in=oauth_providers()
            ).select_related("user")
            if accounts.count() != len(set(account)):
                raise CommandError("Some of those ids are not active OAuth accounts (CalDAV has nothing to refresh).")
        else:
            accounts = accounts_idle(idle_days=idle_days)
        if dry_run:
            listed = list(accounts.values_list("pk", "provider", "email"))
            for pk, provider, email in listed:
                self.stdout.write(f"would refresh account {pk} ({provider}) {email}")
            self.stdout.write(self.style.SUCCESS(f"{len(listed)} accounts would be refreshed (dry run)."))
            return
        report = accounts_keep_alive(accounts=accounts, progress=self.stdout.write)
        summary = (
            f"{report.refreshed} refreshed, {report.needs_reconnect} need reconnecting, "
            f"{len(report.failures)} failed (tried again next hour)."
        )
        style = self.style.SUCCESS if not report.failures and not report.needs_reconnect else self.style.WARNING
        self.stdout.write(style(summary))
