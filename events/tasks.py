from datetime import datetime

from celery import Task, shared_task
from django.conf import settings

from calsync.jobs import periodic_job
from calsync.lib.queue import PUSH_CONNECTION, SYNC_CONNECTION
from connections.models import CalendarConnection
from events.fanout import syncs_enqueue_due
from events.outbox import pushes_enqueue_due
from events.push import BUSY, connection_push
from events.services import sync_runs_prune
from events.sync import sync_connection

SYNCED_SINCE = "synced since queued"


@periodic_job("events.prune_sync_runs", soft_time_limit=600, time_limit=660)
def prune_sync_runs() -> int:
    return sync_runs_prune(days=settings.SYNC_RUN_RETENTION_DAYS)


# Every five minutes; well inside that, so a stuck round never overlaps the next one's claim for long.
@periodic_job("events.sync_due", soft_time_limit=120, time_limit=150)
def sync_due() -> int:
    return syncs_enqueue_due()


# No Celery retry: a failed sync records its backoff on the connection, and the periodic fan-out runs it
# again when that has passed. Late ack: a worker killed mid-sync leaves the task to another worker, and
# the lease plus per-page commits make the second run finish the job.
@shared_task(name=SYNC_CONNECTION, acks_late=True, reject_on_worker_lost=True)
def sync_connection_task(
    connection_id: int, full: bool = False, force_sweep: bool = False, queued_at: str | None = None
) -> str:
    """`queued_at`: when the fan-out queued this message. It queues again a message that has not started
    within a round (it may have been lost), so a slow one can arrive after its replacement has run."""
    connection = CalendarConnection.objects.select_related("account").filter(pk=connection_id).first()
    if connection is None or not connection.is_connected:
        return "gone"
    if queued_at and connection.last_synced_at and connection.last_synced_at >= datetime.fromisoformat(queued_at):
        return SYNCED_SINCE
    return sync_connection(connection=connection, full=full, force_sweep=force_sweep).outcome


# Queued once a change commits. Busy means the connection's sync (or another push) holds it: wait and try
# again; past the retries, the periodic sweep below queues it.
@shared_task(name=PUSH_CONNECTION, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=40)
def push_connection_task(self: Task, connection_id: int) -> str:
    connection = CalendarConnection.objects.select_related("account").filter(pk=connection_id).first()
    if connection is None or not connection.is_connected:
        return "gone"
    outcome = connection_push(connection=connection).outcome
    if outcome == BUSY and not self.request.is_eager:
        raise self.retry(countdown=settings.PUSH_BUSY_RETRY_SECONDS)
    return outcome


@periodic_job("events.push_pending", soft_time_limit=120, time_limit=150)
def push_pending() -> int:
    """Queue a push for connections whose waiting changes lost their queued task (a broker restart)."""
    return pushes_enqueue_due()
