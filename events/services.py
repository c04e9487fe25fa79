"""Event services: the writes that views, tasks and commands of this app share."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils.timezone import now

from calsync.lib.queue import SYNC_CONNECTION, enqueue_on_commit
from connections.models import CalendarConnection
from events.models import SyncRun
from events.sync import connection_sweep_confirm


def sync_runs_older_than(*, days: int) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(started_at__lt=now() - timedelta(days=days))


def sync_runs_prune(*, days: int) -> int:
    """Delete sync runs that started more than `days` ago; returns how many went.

    Runs are operators' history, not the audit trail: a month is enough to see a pattern.
    """
    deleted, _ = sync_runs_older_than(days=days).delete()
    return deleted


def connection_sync_request(*, connection: CalendarConnection, full: bool = False) -> None:
    """Queue a sync of the connection once the current transaction commits (the "sync now" button)."""
    enqueue_on_commit(SYNC_CONNECTION, connection.pk, full)


def connection_sweep_confirm_and_sync(*, connection: CalendarConnection, actor: object) -> bool:
    """Confirm a held deletion and queue the sync that applies it; False if nothing was held."""
    if not connection_sweep_confirm(connection=connection, actor=actor):
        return False
    connection_sync_request(connection=connection, full=True)
    return True
