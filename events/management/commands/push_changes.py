from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calsync.jobs import JobBusy, exclusively
from calsync.lib.queue import PUSH_CONNECTION, enqueue
from connections.models import CalendarConnection
from events.models import ChangeStatus, EventChange
from events.outbox import changes_due, pushes_enqueue_due
from events.push import connection_push
from events.tasks import push_pending


class Command(BaseCommand):
    help = "Push changes made in calsync to their providers now (or queue the pushes for the workers with --enqueue)."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--connection", type=int, action="append", help="A connection id (repeatable).")
        target.add_argument("--all", action="store_true", help="Every connection with changes waiting.")
        target.add_argument(
            "--due", action="store_true",
            help="The connections the periodic sweep would queue: changes overdue because their task was lost.",
        )  # fmt: skip
        parser.add_argument("--enqueue", action="store_true", help="Queue one push per connection and return.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["due"] and options["enqueue"]:
            try:
                with exclusively(push_pending):
                    queued = pushes_enqueue_due()
            except JobBusy as busy:
                raise CommandError(str(busy)) from busy
            self.stdout.write(self.style.SUCCESS(f"{queued} pushes queued."))
            return
        connection_ids = self._connection_ids(options)
        if options["enqueue"]:
            for connection_id in connection_ids:
                enqueue(PUSH_CONNECTION, connection_id)
            self.stdout.write(self.style.SUCCESS(f"{len(connection_ids)} pushes queued."))
            return
        totals = {"pushed": 0, "conflicts": 0, "failed": 0}
        connections = CalendarConnection.objects.filter(pk__in=connection_ids).select_related("account").order_by("pk")
        for index, connection in enumerate(connections, start=1):
            result = connection_push(connection=connection)
            totals["pushed"] += result.pushed
            totals["conflicts"] += result.conflicts
            totals["failed"] += result.failed
            waiting = f", next try at {result.next_attempt_at:%H:%M:%S} UTC" if result.next_attempt_at else ""
            self.stdout.write(
                f"[{index}/{len(connection_ids)}] {connection} (#{connection.pk}): {result.outcome}, "
                f"{result.pushed} pushed, {result.conflicts} conflicts, {result.failed} failed{waiting}"
            )
        style = self.style.SUCCESS if not (totals["conflicts"] or totals["failed"]) else self.style.WARNING
        self.stdout.write(
            style(
                f"{len(connection_ids)} connections: {totals['pushed']} changes pushed, "
                f"{totals['conflicts']} conflicts, {totals['failed']} failed."
            )
        )

    @staticmethod
    def _connection_ids(options: dict[str, Any]) -> list[int]:
        if options["due"]:
            return changes_due()
        waiting = EventChange.objects.filter(status=ChangeStatus.PENDING, connection__is_connected=True)
        if options["connection"]:
            known = set(
                CalendarConnection.objects.filter(pk__in=options["connection"], is_connected=True).values_list(
                    "pk", flat=True
                )
            )
            if known != set(options["connection"]):
                raise CommandError("No connected calendar has some of those ids.")
            return sorted(known)
        return sorted(set(waiting.values_list("connection_id", flat=True)))
