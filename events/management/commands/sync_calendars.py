from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from calsync.jobs import JobBusy, exclusively
from calsync.lib.queue import SYNC_CONNECTION, enqueue
from connections.models import CalendarConnection
from events.fanout import connections_due, syncs_enqueue_due
from events.sync import SKIPPED, sync_connection
from events.tasks import sync_due


class Command(BaseCommand):
    help = "Sync calendar connections now, in this process (or queue them for the workers with --enqueue)."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--connection", type=int, action="append", help="A connection id (repeatable).")
        target.add_argument("--user", help="Every connected calendar of the user with this email.")
        target.add_argument("--all", action="store_true", help="Every connected calendar.")
        target.add_argument(
            "--due", action="store_true",
            help="The calendars the periodic job would queue: not synced lately, not in backoff, held or running.",
        )  # fmt: skip
        parser.add_argument("--full", action="store_true", help="List everything instead of the changes.")
        parser.add_argument(
            "--force-sweep", action="store_true",
            help="Apply a full resync's deletions even when they would remove most of a calendar.",
        )  # fmt: skip
        parser.add_argument("--enqueue", action="store_true", help="Queue one task per connection and return.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["due"] and options["enqueue"]:
            try:
                with exclusively(sync_due):
                    queued = syncs_enqueue_due(progress=self.stdout.write)
            except JobBusy as busy:
                raise CommandError(str(busy)) from busy
            self.stdout.write(self.style.SUCCESS(f"{queued} syncs queued."))
            return
        connections = self._connections(options)
        total = connections.count()
        if options["enqueue"]:
            for connection_id in connections.values_list("pk", flat=True).iterator():
                enqueue(SYNC_CONNECTION, connection_id, options["full"], options["force_sweep"])
            self.stdout.write(self.style.SUCCESS(f"{total} syncs queued."))
            return
        outcomes: dict[str, int] = {}
        for index, connection in enumerate(connections.iterator(), start=1):
            result = sync_connection(connection=connection, full=options["full"], force_sweep=options["force_sweep"])
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            detail = (
                "another worker is syncing it"
                if result.outcome == SKIPPED
                else f"+{result.created} ~{result.updated} -{result.deleted} ={result.unchanged}, {result.pages} pages"
            )
            error = f" — {result.error}" if result.error else ""
            self.stdout.write(f"[{index}/{total}] {connection} (#{connection.pk}): {result.outcome}, {detail}{error}")
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing to do"
        style = self.style.SUCCESS if set(outcomes) <= {"ok", SKIPPED} else self.style.WARNING
        self.stdout.write(style(f"{total} connections synced: {summary}."))

    @staticmethod
    def _connections(options: dict[str, Any]) -> QuerySet[CalendarConnection]:
        connections = CalendarConnection.objects.filter(is_connected=True).select_related("account").order_by("pk")
        if options["due"]:
            return connections_due().select_related("account")
        if options["connection"]:
            connections = connections.filter(pk__in=options["connection"])
            if connections.count() != len(set(options["connection"])):
                raise CommandError("No connected calendar has some of those ids.")
        elif options["user"]:
            connections = connections.filter(user__email__iexact=options["user"])
        return connections
