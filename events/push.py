"""The two-way sync's outbound half: push a connection's waiting changes (`EventChange`) to its provider.

One worker at a time per connection: the push takes the same lease as the inbound sync, so a page of
provider changes is never applied in the middle of a push. Changes go in the order they were made; the
first that cannot be pushed yet (the provider is down, rate limits us) stops the queue until its retry, so
a later change never overtakes an earlier one.

Each write is safe to repeat (see the provider contract), so a worker that dies after the provider took
a change but before it was marked pushed does no harm: the retry finds the event already there.

After a write, the outbox row is read again under a lock: the person may have edited the event once more
while it was on its way (the newer version goes next, based on the etag just written), or deleted an event
whose create was in flight (what the create made is deleted again).
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils.timezone import now

from audit.models import AuditAction
from audit.services import record
from connections.credentials import CalendarSession
from connections.models import CalendarConnection
from connections.providers.base import (
    INTERRUPTS,
    AuthRevoked,
    Conflict,
    Credentials,
    EventGone,
    ProviderError,
    RemoteEvent,
    WriteResult,
)
from connections.providers.registry import adapter_for
from connections.providers.retry import before_each_request
from events.drafts import draft_from_payload, fields_snapshot, ref_of, row_fields, row_snapshot
from events.leases import ConnectionLease
from events.mapping import Unstorable, event_row
from events.models import CalendarEvent, ChangeOperation, ChangeScope, ChangeStatus, EventChange, EventSyncStatus
from events.nudges import sync_follow_up
from events.outbox import change_failed, change_next, change_retry_later, dependents_queue, event_settle
from events.upsert import calendars_changed, provider_copy_store

logger = logging.getLogger(__name__)

BUSY = "busy"


@dataclass
class PushResult:
    outcome: str  # "ok", "busy" (a sync or another push holds the connection) or "waiting" (a retry is due later)
    pushed: int = 0
    conflicts: int = 0
    failed: int = 0
    next_attempt_at: datetime | None = None


class _Retry(Exception):
    """This change cannot go now; the queue waits for it."""


def connection_push(*, connection: CalendarConnection) -> PushResult:
    """Push the connection's due changes in order. Never runs beside its sync or another push."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("connection_push commits change by change; call it outside a transaction")
    lease = ConnectionLease.claim(connection)
    if lease is None:
        return PushResult(outcome=BUSY)
    result = PushResult(outcome="ok")
    try:
        with before_each_request(lease.keep):
            _push_due(connection, result)
    finally:
        lease.release()
        # A sync announced while this push held the connection waited for it: queue that one now.
        sync_follow_up(connection_id=connection.pk)
    return result


def _push_due(connection: CalendarConnection, result: PushResult) -> None:
    connection.refresh_from_db()
    adapter = adapter_for(connection.account.provider)
    if adapter is None:
        return
    session = CalendarSession(connection, adapter)
    done: set[int] = set()
    while True:
        # A change waiting for another (a new series for the old one's cut, a moved event's old copy for
        # the new one) is left for the push after that one lands.
        change = change_next(connection_id=connection.pk, done=done)
        if change is None:
            return
        if change.next_attempt_at is not None and change.next_attempt_at > now():
            result.outcome, result.next_attempt_at = "waiting", change.next_attempt_at
            return
        done.add(change.pk)
        try:
            outcome = _push_one(session, change)
        except _Retry:
            result.outcome = "waiting"
            result.next_attempt_at = (
                EventChange.objects.filter(pk=change.pk).values_list("next_attempt_at", flat=True).first()
            )
            return
        if outcome == ChangeStatus.CONFLICT:
            result.conflicts += 1
        elif outcome == ChangeStatus.FAILED:
            result.failed += 1
        else:
            result.pushed += 1


def _push_one(session: CalendarSession, change: EventChange) -> str:
    try:
        written = session.call(partial(_write, session, change))
    except EventGone as gone:
        if change.operation == ChangeOperation.DELETE:
            _pushed(session.connection, change, None)
            return "pushed"
        return ChangeStatus.CONFLICT if _conflict(session, change, str(gone), gone=True) else "pushed"
    except Conflict as conflict:
        return ChangeStatus.CONFLICT if _conflict(session, change, str(conflict)) else "pushed"
    except AuthRevoked as revoked:
        # The session marked the account: the person reconnects, then retries.
        change_failed(change, f"Reconnect this calendar account, then retry: {revoked}")
        return ChangeStatus.FAILED
    except ProviderError as error:
        if error.permanent:
            change_failed(change, str(error))
            return ChangeStatus.FAILED
        if change_retry_later(change, error):
            raise _Retry from None
        return ChangeStatus.FAILED
    except INTERRUPTS:
        raise
    except Exception as error:
        # Our bug, or a change we cannot read: it fails alone (with a retry button) instead of stopping
        # every later change of the calendar.
        logger.exception("push of change %s failed", change.pk)
        change_failed(change, f"internal error ({type(error).__name__}); staff have the details in the log")
        return ChangeStatus.FAILED
    _pushed(session.connection, change, written)
    return "pushed"


def _write(session: CalendarSession, change: EventChange, credentials: Credentials) -> WriteResult | None:
    adapter, calendar = session.adapter, session.calendar
    operation = change.operation
    if operation == ChangeOperation.CREATE:
        draft = draft_from_payload(change.payload)
        return adapter.create_event(credentials, calendar, draft, key=change.key, notify=change.notify)
    ref = ref_of(change)
    if operation == ChangeOperation.UPDATE:
        draft = draft_from_payload(change.payload)
        return adapter.update_event(credentials, calendar, ref, draft, etag=change.base_etag, notify=change.notify)
    if operation == ChangeOperation.DELETE:
        return adapter.delete_event(credentials, calendar, ref, etag=change.base_etag, notify=change.notify)
    response = str(change.payload.get("response", ""))
    return adapter.respond(credentials, calendar, ref, response, etag=change.base_etag, notify=change.notify)


# --- outcomes -------------------------------------------------------------------------------------------


def _pushed(connection: CalendarConnection, change: EventChange, written: WriteResult | None) -> None:
    with transaction.atomic():
        # Settled, rebased or given up: the week shows the event's new state (its pending mark goes).
        calendars_changed([connection.pk])
        # The event first, then its change: the order the edit services lock them in.
        event = _locked_event(change.event_id)
        current = EventChange.objects.select_for_update().filter(pk=change.pk).first()
        if written is not None:
            _rebase_others(connection, change, written)
        if current is None:
            # Deleted or discarded while it was on its way. What a create made is not the person's any more.
            if change.operation == ChangeOperation.CREATE and written is not None:
                EventChange.objects.create(
                    connection=connection,
                    operation=ChangeOperation.DELETE,
                    provider_event_id=written.provider_event_id,
                    base_etag=written.etag,
                    next_attempt_at=now(),
                )
            return
        settle = set()
        if written is not None and event is not None:
            _adopt_id(event, written.provider_event_id, change)
            settle = {written.provider_event_id}
        if current.updated_at != change.updated_at:
            # Edited again meanwhile: the newer version goes next, based on what this write made.
            _rebase(current, written)
            if written is not None:
                provider_copy_store(
                    connection=connection,
                    events=[remote for remote in written.events if remote.provider_event_id not in settle],
                    settle=set(),
                )
                _drop_unnamed_exceptions(connection, written)
            return
        dependents_queue(current)
        current.delete()
        if change.operation == ChangeOperation.DELETE and (change.scope == ChangeScope.EVENT or written is None):
            # A deleted event or series; or an occurrence whose series the provider no longer has.
            _delete_rows(connection, change, event)
        if written is not None:
            provider_copy_store(connection=connection, events=written.events, settle=settle)
            _drop_unnamed_exceptions(connection, written)
            if event is not None and not written.events:
                # No copy came back: the next inbound sync compares against this etag.
                CalendarEvent.objects.filter(pk=event.pk).update(etag=written.etag[:255])
        if event is not None:
            event = CalendarEvent.objects.filter(pk=event.pk).first()
        if event is not None:
            event_settle(event)


def _rebase_others(connection: CalendarConnection, change: EventChange, written: WriteResult) -> None:
    """Other waiting changes based on a version this write replaced are based on the new one now: a CalDAV
    resource holds a series and all its exceptions under one etag, so two edits of one series would
    otherwise conflict with each other. Only changes based on exactly the replaced etag move: anything
    else changed at the provider meanwhile would have failed this write's own etag check."""
    new = {remote.provider_event_id: remote.etag for remote in written.events}
    new[written.provider_event_id] = written.etag
    stored = dict(
        CalendarEvent.objects.filter(connection=connection, provider_event_id__in=list(new)).values_list(
            "provider_event_id", "etag"
        )
    )
    for pid, etag in new.items():
        replaced = {stored.get(pid)}
        if pid in (change.provider_event_id, change.master_provider_event_id):
            replaced.add(change.base_etag)
        replaced -= {None, "", etag}
        if not etag or not replaced:
            continue
        EventChange.objects.filter(connection=connection, base_etag__in=replaced).filter(
            Q(provider_event_id=pid) | Q(provider_event_id="", master_provider_event_id=pid)
        ).exclude(pk=change.pk).exclude(status=ChangeStatus.CONFLICT).update(base_etag=etag[:255])


def _drop_unnamed_exceptions(connection: CalendarConnection, written: WriteResult) -> None:
    """A write whose copy is the whole series (a CalDAV resource): its stored exceptions that the copy no
    longer names are gone. A series moved in time gives its overrides new ids (their RECURRENCE-IDs moved
    with it), and the next sync finds the resource unchanged, so nothing else would drop the old rows: they
    would show beside the new ones. Rows with a change of their own still waiting keep it for its push."""
    if not written.complete or not written.events:
        return
    series = {remote.master_id or remote.provider_event_id for remote in written.events}
    named = {remote.provider_event_id for remote in written.events}
    waiting = EventChange.objects.filter(connection=connection, event__isnull=False).values("event_id")
    CalendarEvent.objects.filter(
        connection=connection,
        master_provider_event_id__in=series,
        provider_event_id__isnull=False,
        deleted_at__isnull=True,
    ).exclude(provider_event_id__in=named).exclude(pk__in=waiting).update(deleted_at=now(), updated_at=now())


def _adopt_id(event: CalendarEvent, provider_event_id: str, change: EventChange) -> None:
    """Give a row made here the provider's id for it. A row the inbound sync made for the same id in the
    meantime (a create whose answer was lost and retried) is the same event: it goes."""
    if not provider_event_id or event.provider_event_id == provider_event_id:
        return
    if change.scope == ChangeScope.OCCURRENCE and provider_event_id == change.master_provider_event_id:
        # The provider records this occurrence on the series itself (a CalDAV EXDATE or override): the
        # series' copy carries it, and the row made here for it goes.
        EventChange.objects.filter(event=event).exclude(pk=change.pk).update(event=None)
        event.delete()
        return
    CalendarEvent.objects.filter(connection_id=event.connection_id, provider_event_id=provider_event_id).exclude(
        pk=event.pk
    ).delete()
    CalendarEvent.objects.filter(pk=event.pk).update(provider_event_id=provider_event_id)
    event.provider_event_id = provider_event_id


def _rebase(change: EventChange, written: WriteResult | None) -> None:
    if written is None:
        return
    if change.operation == ChangeOperation.CREATE:
        change.operation, change.provider_event_id = ChangeOperation.UPDATE, written.provider_event_id
    elif change.scope == ChangeScope.OCCURRENCE and written.provider_event_id != change.master_provider_event_id:
        change.provider_event_id = written.provider_event_id
    change.base_etag = written.etag[:255]
    # What a discard of the newer version goes back to: what this write left at the provider.
    landed = next((remote for remote in written.events if remote.provider_event_id == written.provider_event_id), None)
    if landed is not None:
        with suppress(Unstorable):
            change.original = fields_snapshot(event_row(landed).fields)
    change.save(update_fields=["operation", "provider_event_id", "base_etag", "original", "updated_at"])


def _delete_rows(connection: CalendarConnection, change: EventChange, event: CalendarEvent | None) -> None:
    """A deleted event or series goes, with the exceptions of the series."""
    moment = now()
    pid = change.provider_event_id
    condition = Q(pk=event.pk) if event is not None else Q(pk__in=[])
    if pid:
        condition |= Q(provider_event_id=pid) | Q(master_provider_event_id=pid)
    doomed = CalendarEvent.objects.filter(condition, connection=connection, deleted_at__isnull=True)
    # Edits of the series' occurrences still waiting are moot now; occurrences never pushed just go.
    EventChange.objects.filter(event__in=doomed).exclude(pk=change.pk).delete()
    doomed.filter(provider_event_id__isnull=True).delete()
    doomed.update(deleted_at=moment, updated_at=moment, sync_status=EventSyncStatus.SYNCED)


def _conflict(session: CalendarSession, change: EventChange, reason: str, *, gone: bool = False) -> bool:
    """The provider's copy changed (or went) since the person's edit: theirs wins in the calendar, the
    person's version waits in the change for them to re-apply or discard. False when it turns out the
    provider already holds the person's version (an earlier attempt landed)."""
    connection = session.connection
    copies = []
    target = change.provider_event_id or change.master_provider_event_id
    if target and not gone:
        try:
            copies = session.adapter.fetch_event(session.credentials, session.calendar, target)
        except ProviderError as error:
            logger.warning("conflict on change %s: could not fetch the provider's copy: %s", change.pk, error)
    landed = _already_there(change, copies)
    if landed is not None:
        # An earlier attempt's write landed but its answer was lost: the provider holds the person's version.
        _pushed(connection, change, landed)
        return False
    with transaction.atomic():
        event = _locked_event(change.event_id)
        current = EventChange.objects.select_for_update().filter(pk=change.pk).first()
        if current is None:
            return True
        calendars_changed([connection.pk])
        if copies:
            provider_copy_store(
                connection=connection, events=copies, settle={copy.provider_event_id for copy in copies}
            )
        if event is not None and (gone or (event.provider_event_id is None and copies)):
            # Nothing of the person's version is at the provider: it leaves the week until they re-apply it
            # (the series' own occurrence shows the provider's version of an occurrence made here).
            CalendarEvent.objects.filter(pk=event.pk).update(deleted_at=now())
        if gone:
            current.payload = {**current.payload, "gone": True}
        if event is not None and copies:
            event.refresh_from_db()
            current.original = row_snapshot(event)  # the provider's version, which a discard keeps
        current.status = ChangeStatus.CONFLICT
        current.last_error = _conflict_message(reason, gone=gone, fetched=bool(copies))[:2000]
        current.next_attempt_at = None
        current.save()
        if event is not None:
            CalendarEvent.objects.filter(pk=event.pk).update(sync_status=EventSyncStatus.CONFLICT, updated_at=now())
        record(
            action=AuditAction.EVENT_CONFLICT,
            subject=connection.user,
            target=event or connection,
            metadata={"calendar": connection.pk, "change": change.operation, "gone": gone},
        )
    return True


COMPARED_FIELDS = ("title", "description", "location", "start", "end", "all_day", "timezone")


def _already_there(change: EventChange, copies: list[RemoteEvent]) -> WriteResult | None:
    """The provider's copy, when it already reads exactly as the change would make it."""
    if change.operation != ChangeOperation.UPDATE or change.scope != ChangeScope.EVENT or not copies:
        return None
    copy = next((item for item in copies if item.provider_event_id == change.provider_event_id), None)
    if copy is None:
        return None
    wanted = row_fields(draft_from_payload(change.payload))
    try:
        found = event_row(copy).fields
    except Unstorable:
        return None
    if any(wanted[name] != found[name] for name in COMPARED_FIELDS):
        return None
    if change.payload.get("recurrence") and wanted["recurrence"] != found["recurrence"]:
        return None
    return WriteResult(provider_event_id=copy.provider_event_id, etag=copy.etag, events=tuple(copies))


def _conflict_message(reason: str, *, gone: bool, fetched: bool) -> str:
    if gone:
        return "The event was deleted at the provider after you changed it. Re-apply to create it again."
    if not fetched:
        return (
            "The event was changed at the provider after you edited it, and their version could not be read "
            "just now: yours is still shown. Re-apply yours, or discard it to go back to the last version seen."
        )
    return "The event was changed at the provider after you edited it: their version is shown. " + (
        "Re-apply yours or discard it."
    )


def _locked_event(event_id: int | None) -> CalendarEvent | None:
    if event_id is None:
        return None
    return CalendarEvent.objects.select_for_update().filter(pk=event_id).first()
