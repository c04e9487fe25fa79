"""Erasing calendar events for good, in batches: the events half of the daily purge (accounts.purge)."""

from __future__ import annotations

from collections.abc import Callable

from django.db import router, transaction
from django.db.models import QuerySet

from events.models import CalendarEvent, EventChange


def events_purge(
    *, events: QuerySet[CalendarEvent], batch_size: int, progress: Callable[[str], None] | None = None
) -> int:
    """Hard-delete the events `events` selects, `batch_size` rows per statement; returns how many went.

    Each batch is its own short transaction and `events` is evaluated again for every batch, so its
    conditions (say, still soft-deleted) hold for every row deleted. Rows a sync holds locked are left for
    the next run rather than waited for.

    Django's `delete()` would load every row first: the exceptions' `recurring_event` (SET NULL) puts
    CalendarEvent on the collector's slow path. Those SET NULLs (and the outbox's `event`) are done here
    instead, one UPDATE each per batch, and the rows go in one DELETE; CalendarEvent has no other reverse
    relation and no delete signals (tests/events/test_purge_deleted.py checks both).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    using = router.db_for_write(CalendarEvent)
    purged = 0
    while True:
        with transaction.atomic(using=using):
            ids = list(
                events.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return purged
            CalendarEvent.objects.filter(recurring_event_id__in=ids).exclude(pk__in=ids).update(recurring_event=None)
            EventChange.objects.filter(event_id__in=ids).update(event=None)
            purged += CalendarEvent.objects.filter(pk__in=ids)._raw_delete(using)
        if progress is not None:
            progress(f"  {purged} events deleted so far")
