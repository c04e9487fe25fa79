"""The outbox of two-way sync: the `EventChange` rows that wait to be pushed, and their bookkeeping.

Edits (`events.edits`) add and reopen changes here; the push (`events.push`) takes the next one due, and
records here a change that failed or must be retried later. Both settle an event's sync status from its
open changes the same way. Every push is queued through the broker module, on commit when it follows a
write, so the flow runs one way: edits → outbox → broker → push.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Set
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils.timezone import now

from accounts.models import User
from calsync.lib.queue import PUSH_CONNECTION, enqueue, enqueue_on_commit
from connections.providers.base import ProviderError
from connections.providers.retry import backoff_seconds
from events.drafts import row_snapshot
from events.models import CalendarEvent, ChangeOperation, ChangeScope, ChangeStatus, EventChange, EventSyncStatus
from events.upsert import calendars_changed

logger = logging.getLogger(__name__)


# --- adding and reopening ---------------------------------------------------------------------------------


def change_add(
    event: CalendarEvent,
    operation: str,
    *,
    payload: dict[str, Any],
    actor: Any,
    scope: str = ChangeScope.EVENT,
    notify: bool = False,
    master: CalendarEvent | None = None,
) -> EventChange:
    change = EventChange.objects.create(
        connection_id=event.connection_id,
        event=event,
        actor=user_or_none(actor),
        operation=operation,
        scope=scope,
        provider_event_id=event.provider_event_id or "",
        master_provider_event_id=(master.provider_event_id or "") if master is not None else "",
        original_start=event.original_start if master is not None else None,
        base_etag=(event.etag if event.provider_event_id else (master.etag if master is not None else "")),
        key=uuid.uuid4().hex if operation == ChangeOperation.CREATE else "",
        payload=payload,
        original=row_snapshot(event) if event.provider_event_id else {},
        notify=notify,
        next_attempt_at=now(),
    )
    event.sync_status = EventSyncStatus.PENDING
    push_queue(event.connection_id)
    return change


def change_reopen(change: EventChange) -> None:
    """Back in the queue from the first attempt (an edit folded in, a retry, a re-apply)."""
    change.status, change.attempts, change.last_error, change.next_attempt_at = ChangeStatus.PENDING, 0, "", now()
    change.save()
    push_queue(change.connection_id)


def open_changes(event: CalendarEvent) -> QuerySet[EventChange]:
    return EventChange.objects.filter(event=event)


def open_change(event: CalendarEvent, operation: str, *, scope: str | None = None) -> EventChange | None:
    changes = open_changes(event).select_for_update().filter(operation=operation)
    if scope is not None:
        changes = changes.filter(scope=scope)
    return changes.order_by("pk").first()


def user_or_none(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


# --- the event's status -----------------------------------------------------------------------------------


def settled_status(event: CalendarEvent) -> str:
    """The row's sync status from its open changes: a conflict shows first, then a failure, then pending."""
    statuses = set(EventChange.objects.filter(event=event).values_list("status", flat=True))
    for status, shown in (
        (ChangeStatus.CONFLICT, EventSyncStatus.CONFLICT),
        (ChangeStatus.FAILED, EventSyncStatus.FAILED),
        (ChangeStatus.PENDING, EventSyncStatus.PENDING),
    ):
        if status in statuses:
            return shown
    return EventSyncStatus.SYNCED if event.provider_event_id is not None else EventSyncStatus.PENDING


def event_settle(event: CalendarEvent | None) -> None:
    if event is not None:
        CalendarEvent.objects.filter(pk=event.pk).update(sync_status=settled_status(event), updated_at=now())


# --- what is due ------------------------------------------------------------------------------------------


def change_next(*, connection_id: int, done: Set[int] = frozenset()) -> EventChange | None:
    """The connection's oldest pending change not waiting for another, leaving out those in `done`."""
    return (
        EventChange.objects.filter(connection_id=connection_id, status=ChangeStatus.PENDING, depends_on__isnull=True)
        .exclude(pk__in=done)
        .order_by("pk")
        .first()
    )


def changes_due(*, moment: datetime | None = None) -> list[int]:
    """Connections with pending changes whose push is overdue (its queued task was lost): for the sweep."""
    moment = moment or now()
    overdue = moment - timedelta(seconds=settings.PUSH_LOST_AFTER_SECONDS)
    return list(
        EventChange.objects.filter(status=ChangeStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(connection__is_connected=True)
        .values_list("connection_id", flat=True)
        .distinct()
    )


def pushes_enqueue_due() -> int:
    """Queue one push per connection with overdue changes (the periodic sweep); returns how many."""
    connection_ids = changes_due()
    for connection_id in connection_ids:
        enqueue(PUSH_CONNECTION, connection_id)
    return len(connection_ids)


def push_queue(connection_id: int) -> None:
    """Push the connection's changes once the current transaction commits."""
    enqueue_on_commit(PUSH_CONNECTION, connection_id)


def dependents_queue(change: EventChange) -> None:
    """Changes that waited for this one may go once it is gone; those of other calendars need a push."""
    others = set(
        EventChange.objects.filter(depends_on=change)
        .exclude(connection_id=change.connection_id)
        .values_list("connection_id", flat=True)
    )
    for connection_id in others:
        push_queue(connection_id)


# --- failures and retries ---------------------------------------------------------------------------------


def change_failed(change: EventChange, reason: str) -> None:
    with transaction.atomic():
        updated = EventChange.objects.filter(pk=change.pk, status=ChangeStatus.PENDING).update(
            status=ChangeStatus.FAILED,
            attempts=change.attempts + 1,
            last_error=reason[:2000],
            next_attempt_at=None,
            updated_at=now(),
        )
        if updated and change.event_id is not None:
            CalendarEvent.objects.filter(pk=change.event_id).update(
                sync_status=EventSyncStatus.FAILED, updated_at=now()
            )
            calendars_changed([change.connection_id])
    logger.warning("push of change %s failed for good: %s", change.pk, reason)


def change_retry_later(change: EventChange, error: ProviderError) -> bool:
    """Schedule the next attempt; False when that was the last one (the change has failed)."""
    attempts = change.attempts + 1
    if attempts >= settings.PUSH_MAX_ATTEMPTS:
        change_failed(change, f"{error} (gave up after {attempts} attempts)")
        return False
    wait = max(push_backoff_seconds(attempts), error.retry_after or 0)
    # Not `updated_at`: a retry is not an edit, and the push compares it to notice edits made meanwhile.
    EventChange.objects.filter(pk=change.pk).update(
        attempts=attempts, last_error=str(error)[:2000], next_attempt_at=now() + timedelta(seconds=wait)
    )
    enqueue(PUSH_CONNECTION, change.connection_id, countdown=wait)
    return True


def push_backoff_seconds(attempts: int) -> float:
    full = min(settings.PUSH_BACKOFF_MAX_SECONDS, settings.PUSH_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return full / 2 + backoff_seconds(0, base=full / 2, cap=full / 2)
