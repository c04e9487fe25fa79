"""The periodic fan-out: which connections are due for a sync, and one queued task for each.

One task per connection (never a loop inside one task), so syncs spread over every worker and one slow
calendar holds up nobody else's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils.timezone import now

from calsync.lib.queue import SYNC_CONNECTION, enqueue
from connections.models import AccountStatus, CalendarConnection, SyncState

ENQUEUE_BATCH = 500


def connections_due(*, at: datetime | None = None) -> QuerySet[CalendarConnection]:
    """Connected calendars not synced lately, out of backoff, not held, not running and not already queued."""
    moment = at or now()
    return (
        CalendarConnection.objects.filter(is_connected=True, account__status=AccountStatus.ACTIVE)
        # A held deletion waits for the person; once they confirm it, the sync that applies it is due.
        .exclude(sync_status=SyncState.HELD, sweep_confirmed=False)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=moment))
        .filter(
            Q(last_synced_at__isnull=True)
            | Q(last_synced_at__lt=moment - timedelta(seconds=settings.SYNC_INTERVAL_SECONDS))
        )
        .filter(Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=moment))
        # Queued and not started yet: queue it again only when that message must have been lost.
        .filter(
            Q(sync_queued_at__isnull=True)
            | Q(sync_queued_at__lt=moment - timedelta(seconds=settings.SYNC_QUEUED_STALE_SECONDS))
        )
        .order_by(F("last_synced_at").asc(nulls_first=True), "pk")
    )


def syncs_enqueue_due(*, among: Collection[int] | None = None, progress: Callable[[str], None] | None = None) -> int:
    """Queue one sync task for each connection that is due (only those `among`, when given); returns how
    many were queued."""
    candidates = connections_due() if among is None else connections_due().filter(pk__in=among)
    due = list(candidates.values_list("pk", flat=True))
    for start in range(0, len(due), ENQUEUE_BATCH):
        batch = due[start : start + ENQUEUE_BATCH]
        # Marked before sending: a worker that starts one of them at once clears its mark.
        queued_at = now()
        CalendarConnection.objects.filter(pk__in=batch).update(sync_queued_at=queued_at)
        sent = 0
        try:
            for connection_id in batch:
                enqueue(SYNC_CONNECTION, connection_id, queued_at=queued_at.isoformat())
                sent += 1
        finally:
            # A broker failure part-way: the unsent ones are due again at the next round.
            CalendarConnection.objects.filter(pk__in=batch[sent:]).update(sync_queued_at=None)
        if progress is not None:
            progress(f"queued {start + sent} of {len(due)}")
    return len(due)
