"""Event services: the writes that views, tasks and commands of this app share."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils.timezone import now

from events.models import SyncRun


def sync_runs_older_than(*, days: int) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(started_at__lt=now() - timedelta(days=days))


def sync_runs_prune(*, days: int) -> int:
    """Delete sync runs that started more than `days` ago; returns how many went.

    Runs are operators' history, not the audit trail: a month is enough to see a pattern.
    """
    deleted, _ = sync_runs_older_than(days=days).delete()
    return deleted
