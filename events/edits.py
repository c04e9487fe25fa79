"""Edits a person makes to events in calsync (the outbound half of two-way sync): saved at once, pushed
by a worker.

Each service shows the edit on the event row straight away (marked pending), records what to send in the
outbox (`EventChange`) and an audit row in the same transaction, and queues the push once it commits. A
second edit of an event whose first edit has not been pushed yet folds into it: the provider gets the latest
version, once. `events.push` sends the outbox. ("Changes" elsewhere are the provider's pages read inbound.)
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.timezone import now

from audit.models import AuditAction
from audit.services import record
from connections.models import AccountStatus, CalendarConnection
from connections.providers.base import RESPONSES, EventDraft, EventTime, ProviderAdapter
from connections.providers.ical.series_moves import InexactMove, SeriesMove
from connections.providers.registry import adapter_for
from events.drafts import (
    draft_from_payload,
    draft_of_row,
    draft_payload,
    restore_snapshot,
    row_fields,
    row_snapshot,
    shifted,
)
from events.mapping import stored_instant
from events.models import (
    CalendarEvent,
    ChangeOperation,
    ChangeScope,
    ChangeStatus,
    EventChange,
    EventStatus,
    EventSyncStatus,
)
from events.outbox import (
    change_add,
    change_reopen,
    event_settle,
    open_change,
    open_changes,
    settled_status,
    user_or_none,
)
from events.recurrence import RecurrenceError, Series, split_lines, split_series, zone_or_none
from events.upsert import calendars_changed

# "This and following occurrences": the series ends before the occurrence; a new one starts there.
FOLLOWING = "following"


class EditRefused(Exception):
    """The change cannot be made; the message says why, in the person's words."""


# --- the services ------------------------------------------------------------------------------------------


def event_create(
    *,
    connection: CalendarConnection,
    draft: EventDraft,
    notify: bool = False,
    actor: Any,
    request: HttpRequest | None = None,
) -> CalendarEvent:
    _check_writable(connection)
    with transaction.atomic():
        event = CalendarEvent.objects.create(
            connection=connection, sync_status=EventSyncStatus.PENDING, **row_fields(draft)
        )
        change_add(event, ChangeOperation.CREATE, payload=draft_payload(draft), notify=notify, actor=actor)
        _audit(AuditAction.EVENT_CREATED, event, actor, request, {"operation": "create"})
        calendars_changed([connection.pk])
    return event


def event_update(
    *,
    event: CalendarEvent,
    draft: EventDraft,
    occurrence: datetime | None = None,
    scope: str = ChangeScope.EVENT,
    connection: CalendarConnection | None = None,
    notify: bool = False,
    actor: Any,
    request: HttpRequest | None = None,
) -> CalendarEvent:
    """Change an event. For a series: `scope` "occurrence" changes the one starting at `occurrence` (its
    start in the series), "event" the whole series (moved by as much as that occurrence was moved).
    `connection` other than the event's moves it to that calendar."""
    _check_editable(event)
    if connection is not None and connection.pk != event.connection_id:
        return _move(event, draft, connection, notify=notify, actor=actor, request=request)
    with transaction.atomic():
        event = _locked(event)
        if scope == FOLLOWING and (event.recurrence or event.master_provider_event_id):
            master, at = _series_and_occurrence(event, occurrence)
            event = _split(master, at, draft, notify=notify, actor=actor) or event
        elif scope == ChangeScope.OCCURRENCE and event.recurrence:
            if occurrence is None:
                raise EditRefused("Which occurrence? Open it from the week view and try again.")
            target = _exception_row(event, occurrence)
            _edit_occurrence(target, event, draft, notify=notify, actor=actor)
            event = target
        elif event.master_provider_event_id and scope == ChangeScope.OCCURRENCE:
            _edit_occurrence(event, _master_of(event), draft, notify=notify, actor=actor)
        elif event.master_provider_event_id and event.original_start is not None:
            # An exception, and the person chose the whole series: the series moves as the exception did.
            master = _locked(_master_of(event))
            _edit_event(master, _series_draft(master, draft, event.start), notify=notify, actor=actor)
            event = master
        else:
            if event.recurrence and occurrence is not None:
                # The person moved one occurrence and chose the whole series: move the series as much.
                draft = _series_draft(event, draft, occurrence)
            _edit_event(event, draft, notify=notify, actor=actor)
        _audit(AuditAction.EVENT_UPDATED, event, actor, request, {"operation": "update", "scope": scope})
        calendars_changed([event.connection_id])
    return event


def event_delete(
    *,
    event: CalendarEvent,
    occurrence: datetime | None = None,
    scope: str = ChangeScope.EVENT,
    notify: bool = False,
    actor: Any,
    request: HttpRequest | None = None,
) -> None:
    _check_editable(event, deleting=True)
    with transaction.atomic():
        event = _locked(event)
        if scope == FOLLOWING and (event.recurrence or event.master_provider_event_id):
            master, at = _series_and_occurrence(event, occurrence)
            if at <= master.start:
                _delete_event(master, notify=notify, actor=actor)
            else:
                _split(master, at, None, notify=notify, actor=actor)
        elif scope == ChangeScope.OCCURRENCE and (event.recurrence or event.master_provider_event_id):
            if event.recurrence:
                if occurrence is None:
                    raise EditRefused("Which occurrence? Open it from the week view and try again.")
                target, master = _exception_row(event, occurrence), event
            else:
                target, master = event, _master_of(event)
            _cancel_occurrence(target, master, notify=notify, actor=actor)
            event = target
        else:
            _delete_event(event, notify=notify, actor=actor)
        _audit(AuditAction.EVENT_DELETED, event, actor, request, {"operation": "delete", "scope": scope})
        calendars_changed([event.connection_id])


def event_respond(*, event: CalendarEvent, response: str, actor: Any, request: HttpRequest | None = None) -> None:
    """Answer an invitation the person did not organize (only their own answer changes)."""
    if response not in RESPONSES:
        raise EditRefused("Answer with accepted, tentative or declined.")
    _check_writable(event.connection, invitations=True)
    with transaction.atomic():
        event = _locked(event)
        own = own_attendee(event)
        if own is None:
            raise EditRefused("You are not on this event's guest list, so there is nothing to answer.")
        answer = open_change(event, ChangeOperation.RESPOND)
        if answer is not None:
            answer.payload = {**answer.payload, "response": response}
            change_reopen(answer)
        else:
            change_add(event, ChangeOperation.RESPOND, payload={"response": response}, actor=actor)
        own["response"] = response
        event.sync_status = settled_status(event)
        event.save(update_fields=["metadata", "sync_status", "updated_at"])
        _audit(AuditAction.EVENT_UPDATED, event, actor, request, {"operation": "respond", "response": response})
        calendars_changed([event.connection_id])


def change_retry(*, change: EventChange, actor: Any, request: HttpRequest | None = None) -> None:
    """Push a failed change again, from the first attempt."""
    with transaction.atomic():
        change = EventChange.objects.select_for_update().get(pk=change.pk)
        if change.status != ChangeStatus.FAILED:
            return
        change_reopen(change)
        event_settle(change.event)
        _audit_change(AuditAction.EVENT_UPDATED, change, actor, request, {"operation": "retry"})
        calendars_changed([change.connection_id])


def change_reapply(*, change: EventChange, actor: Any, request: HttpRequest | None = None) -> None:
    """After a conflict: push the person's version over the provider's current one (or create it again
    when the provider's copy was deleted meanwhile)."""
    with transaction.atomic():
        change = EventChange.objects.select_for_update().get(pk=change.pk)
        if change.status != ChangeStatus.CONFLICT or change.event is None:
            return
        event = _locked(change.event)
        if change.payload.get("gone") and "start" not in change.payload:
            # An answer to an invitation that is gone: there is nothing to answer any more.
            _discard(change)
            _audit_change(AuditAction.EVENT_UPDATED, change, actor, request, {"operation": "discard"})
            calendars_changed([change.connection_id])
            return
        if change.payload.get("gone"):
            # The provider's copy was deleted: the person's version becomes a new event.
            change.operation, change.key, change.scope = ChangeOperation.CREATE, uuid.uuid4().hex, ChangeScope.EVENT
            change.provider_event_id = change.master_provider_event_id = change.base_etag = ""
            change.original_start = None
            change.payload = {name: value for name, value in change.payload.items() if name != "gone"}
            event.provider_event_id, event.master_provider_event_id = None, ""
            event.original_start, event.recurring_event = None, None
        else:
            change.base_etag = event.etag  # the provider's version, which the person has now seen
        change.original = row_snapshot(event)  # what a later discard goes back to
        if "start" in change.payload:
            for name, value in row_fields(draft_from_payload(change.payload), metadata=event.metadata).items():
                setattr(event, name, value)
        if "response" in change.payload and (own := own_attendee(event)) is not None:
            own["response"] = change.payload["response"]
        event.deleted_at = None
        event.sync_status = EventSyncStatus.PENDING
        event.save()
        change_reopen(change)
        _audit_change(AuditAction.EVENT_UPDATED, change, actor, request, {"operation": "reapply"})
        calendars_changed([change.connection_id])


def change_discard(*, change: EventChange, actor: Any, request: HttpRequest | None = None) -> None:
    """Drop a failed or conflicting change (and the changes waiting for it): the event goes back to the
    provider's version, as the last push or inbound sync saw it."""
    with transaction.atomic():
        change = EventChange.objects.select_for_update().get(pk=change.pk)
        if change.status == ChangeStatus.PENDING:
            return
        _discard(change)
        _audit_change(AuditAction.EVENT_UPDATED, change, actor, request, {"operation": "discard"})
        calendars_changed([change.connection_id])


def _discard(change: EventChange) -> None:
    dependents = list(EventChange.objects.select_for_update().filter(depends_on=change))
    event = change.event
    change.delete()
    if event is not None:
        event = _locked(event)
        if event.provider_event_id is None and not open_changes(event).exists():
            # Never reached the provider: there is nothing to go back to.
            event.delete()
        else:
            if change.original.get("deleted"):
                event.deleted_at = now()  # deleted at the provider while the change waited
            else:
                restore_snapshot(event, change.original)
                if change.operation == ChangeOperation.DELETE:
                    event.deleted_at = None  # the delete is dropped: the event stays (a move's old copy too)
            # The occurrences a cut series handed to its new part are the old series' again.
            tail = [int(pk) for pk in change.payload.get("tail", [])]
            if tail:
                CalendarEvent.objects.filter(pk__in=tail).update(deleted_at=None, updated_at=now())
            _restore_moved_exceptions(change)
            event.sync_status = settled_status(event)
            event.save()
    for dependent in dependents:
        _discard(dependent)


# --- permissions ----------------------------------------------------------------------------------------


def own_attendee(event: CalendarEvent) -> dict[str, Any] | None:
    """The person's own entry in the event's guest list (matched by the account's address), if any."""
    address = (event.connection.account.email or "").lower()
    for attendee in event.metadata.get("attendees") or []:
        if isinstance(attendee, dict) and str(attendee.get("email", "")).lower() == address and address:
            return attendee
    return None


def organized_elsewhere(event: CalendarEvent) -> bool:
    """Someone else organizes it: the person may answer the invitation, not change the event."""
    organizer = event.metadata.get("organizer")
    return isinstance(organizer, dict) and not organizer.get("self", False)


def edit_refusal(event: CalendarEvent) -> str:
    """Why the event cannot be edited here, or an empty string when it can."""
    try:
        _check_editable(event)
    except EditRefused as refused:
        return str(refused)
    return ""


def _check_writable(connection: CalendarConnection, *, invitations: bool = False) -> None:
    if connection.read_only:
        raise EditRefused(
            f"“{connection.name}” is read-only: its owner lets you see it but not change it. "
            "Ask them for edit access, or use another calendar."
        )
    if not connection.is_connected:
        raise EditRefused("This calendar is no longer connected.")
    if connection.account.status != AccountStatus.ACTIVE:
        raise EditRefused("Reconnect this calendar account first: calsync cannot reach it right now.")
    adapter = adapter_for(connection.account.provider)
    if adapter is None or type(adapter).create_event is ProviderAdapter.create_event:
        raise EditRefused("calsync cannot change events in this kind of calendar yet.")


def _check_editable(event: CalendarEvent, *, deleting: bool = False) -> None:
    _check_writable(event.connection)
    if event.deleted_at is not None:
        raise EditRefused("This event has been deleted.")
    if not deleting and open_changes(event).filter(operation=ChangeOperation.DELETE).exists():
        raise EditRefused("This event is being deleted. If the deletion fails, you can discard it and edit again.")
    master = event.recurring_event if event.master_provider_event_id else None
    if organized_elsewhere(event) or (master is not None and organized_elsewhere(master)):
        organizer = (event.metadata.get("organizer") or {}).get("email") or "its organizer"
        what = "remove it" if deleting else "change it"
        raise EditRefused(
            f"This event is organized by {organizer}: only they can {what}. You can answer the invitation instead."
        )


# --- the local side of each kind of edit ----------------------------------------------------------------


def _edit_event(event: CalendarEvent, draft: EventDraft, *, notify: bool, actor: Any) -> EventChange:
    draft, moved_exceptions = _series_moved(event, draft)
    pending_create = open_change(event, ChangeOperation.CREATE)
    if pending_create is not None:
        pending_create.payload = {**pending_create.payload, **draft_payload(draft)}
        change_reopen(pending_create)
        change = pending_create
    else:
        open_update = open_change(event, ChangeOperation.UPDATE, scope=ChangeScope.EVENT)
        if open_update is not None:
            open_update.base_etag = _seen_etag(open_update, event)
            open_update.payload = {**open_update.payload, **draft_payload(draft)}
            open_update.notify = open_update.notify or notify
            change_reopen(open_update)
            change = open_update
        else:
            change = change_add(event, ChangeOperation.UPDATE, payload=draft_payload(draft), notify=notify, actor=actor)
    if moved_exceptions:
        # A discard puts them back with the series; an exception moved twice goes back to where it was first.
        change.payload = {**change.payload, MOVED_EXCEPTIONS: {**moved_exceptions, **_moved_exceptions(change)}}
        change.save(update_fields=["payload"])
    _apply(event, draft)
    return change


def _series_moved(event: CalendarEvent, draft: EventDraft) -> tuple[EventDraft, dict[str, dict[str, Any]]]:
    """A series moved in time keeps its exceptions: its EXDATEs, RDATEs and a date-time UNTIL, and the
    original starts of its stored exceptions, move the same wall-clock distance in its zone (as the
    provider's copy will: `series_moves`). Only when the person kept the rule as it was: lines they
    wrote anew are theirs, in terms of the new start. A rule that cannot say where its occurrences went is
    refused. Returns the draft and, for each exception row moved, what it was (`_moved_exceptions`)."""
    if not event.recurrence or not draft.recurrence:
        return draft, {}
    current = draft_of_row(event)
    if tuple(draft.recurrence) != current.recurrence:
        return draft, {}
    move = SeriesMove.between(current.start, _in_own_zone(draft.start, draft.timezone))
    if move is None:
        return draft, {}
    try:
        lines = move.moved_lines(draft.recurrence)
    except InexactMove as refused:
        raise EditRefused(str(refused)) from refused
    moved: dict[str, dict[str, Any]] = {}
    for row in CalendarEvent.objects.select_for_update().filter(
        recurring_event=event, deleted_at__isnull=True, original_start__isnull=False
    ):
        moved[str(row.pk)] = _exception_snapshot(row)
        _move_exception(row, event, move)
    return replace(draft, recurrence=lines), moved


# In a series move's change: the exception rows it moved, by pk, as they were before (a discard restores them).
MOVED_EXCEPTIONS = "moved_exceptions"


def _moved_exceptions(change: EventChange) -> dict[str, dict[str, Any]]:
    found = change.payload.get(MOVED_EXCEPTIONS)
    return found if isinstance(found, dict) else {}


def _exception_snapshot(row: CalendarEvent) -> dict[str, Any]:
    original = row.original_start
    return {**row_snapshot(row), "original_start": original.isoformat() if original is not None else None}


def _restore_moved_exceptions(change: EventChange) -> None:
    """The exceptions a discarded series move had moved go back where they were, with their series."""
    snapshots = _moved_exceptions(change)
    for row in CalendarEvent.objects.select_for_update().filter(pk__in=[int(pk) for pk in snapshots]):
        snapshot = snapshots[str(row.pk)]
        restore_snapshot(row, snapshot)
        if snapshot.get("original_start"):
            row.original_start = datetime.fromisoformat(snapshot["original_start"])
        row.save()


def _move_exception(row: CalendarEvent, master: CalendarEvent, move: SeriesMove) -> None:
    """An exception's original start moves with its series; so do its times when it was only changed, not
    moved (it still started where its occurrence did), as the CalDAV writer moves the override."""
    original = row.original_start
    if original is None:
        return
    row.original_start = _stored_moment(move.moved(_series_value(original, master)))
    if row.start == original:
        own = draft_of_row(row)
        for name, value in row_fields(
            replace(own, start=move.moved(own.start), end=move.moved(own.end)), metadata=row.metadata
        ).items():
            setattr(row, name, value)
    row.save()


def _series_value(stored: datetime, master: CalendarEvent) -> EventTime:
    """A stored original start as the series names its occurrences: a date, a wall clock or an instant."""
    if master.all_day:
        return stored.astimezone(UTC).date()
    if zone_or_none(master.timezone) is None:
        return stored.astimezone(UTC).replace(tzinfo=None)
    return stored


def _stored_moment(value: EventTime) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _in_own_zone(value: EventTime, timezone: str) -> EventTime:
    zone = zone_or_none(timezone)
    if isinstance(value, datetime) and value.tzinfo is not None and zone is not None:
        return value.astimezone(zone)
    return value


def _seen_etag(change: EventChange, event: CalendarEvent) -> str:
    """The etag of the provider version the person's next edit builds on: after a conflict, the provider's
    version the event now shows; otherwise the one the waiting change was based on."""
    return event.etag if change.status == ChangeStatus.CONFLICT else change.base_etag


def _edit_occurrence(
    target: CalendarEvent, master: CalendarEvent, draft: EventDraft, *, notify: bool, actor: Any
) -> None:
    if master.provider_event_id is None:
        raise EditRefused("This series has not reached the provider yet. Try again in a moment.")
    payload = {**draft_payload(draft), "series_all_day": master.all_day}
    open_update = open_change(target, ChangeOperation.UPDATE, scope=ChangeScope.OCCURRENCE)
    if open_update is not None:
        if open_update.status == ChangeStatus.CONFLICT:
            open_update.base_etag = target.etag if target.provider_event_id else master.etag
        open_update.payload = payload
        change_reopen(open_update)
    else:
        change_add(
            target,
            ChangeOperation.UPDATE,
            scope=ChangeScope.OCCURRENCE,
            payload=payload,
            notify=notify,
            actor=actor,
            master=master,
        )
    _apply(target, draft)


def _cancel_occurrence(target: CalendarEvent, master: CalendarEvent, *, notify: bool, actor: Any) -> None:
    if master.provider_event_id is None:
        raise EditRefused("This series has not reached the provider yet. Try again in a moment.")
    open_changes(target).filter(operation=ChangeOperation.UPDATE).delete()
    change_add(
        target,
        ChangeOperation.DELETE,
        scope=ChangeScope.OCCURRENCE,
        payload={"series_all_day": master.all_day},
        notify=notify,
        actor=actor,
        master=master,
    )
    target.status = EventStatus.CANCELLED
    target.sync_status = EventSyncStatus.PENDING
    target.save()


def _delete_event(event: CalendarEvent, *, notify: bool, actor: Any) -> None:
    if event.provider_event_id is None:
        # Never pushed (or on its way): nothing to delete at the provider. A create under way finds its
        # change gone when it finishes and deletes what it made.
        open_changes(event).delete()
        event.delete()
        return
    # Edits not pushed yet are moot; the delete is based on the provider's version they started from.
    superseded = list(open_changes(event).exclude(operation=ChangeOperation.DELETE))
    base_etag = next((_seen_etag(change, event) for change in superseded if change.base_etag), event.etag)
    original: dict[str, Any] = next((change.original for change in superseded if change.original), {})
    open_changes(event).exclude(operation=ChangeOperation.DELETE).delete()
    if not open_changes(event).exists():
        change = change_add(event, ChangeOperation.DELETE, payload={}, notify=notify, actor=actor)
        change.base_etag, change.original = base_etag, original or change.original
        change.save(update_fields=["base_etag", "original"])
    event.sync_status = EventSyncStatus.PENDING
    event.save(update_fields=["sync_status", "updated_at"])


def _move(
    event: CalendarEvent,
    draft: EventDraft,
    connection: CalendarConnection,
    *,
    notify: bool,
    actor: Any,
    request: HttpRequest | None,
) -> CalendarEvent:
    """Another calendar: the copy there is created and the old one deleted (they may be different providers)."""
    if event.recurrence or event.master_provider_event_id:
        raise EditRefused("A repeating event cannot be moved to another calendar here yet. Copy it there instead.")
    _check_writable(connection)
    if connection.user_id != event.connection.user_id:
        raise EditRefused("That calendar is not yours.")
    with transaction.atomic():
        event = _locked(event)
        old_connection = event.connection
        moved = CalendarEvent.objects.create(
            connection=connection,
            sync_status=EventSyncStatus.PENDING,
            **row_fields(replace(draft, recurrence=()), metadata=event.metadata),
        )
        create = change_add(moved, ChangeOperation.CREATE, payload=draft_payload(draft), notify=notify, actor=actor)
        if event.provider_event_id is None:
            open_changes(event).delete()
            event.delete()
        else:
            # The old copy goes once the new one is there (so a failed create loses nothing), based on the
            # provider version the person last saw; it leaves the week now.
            superseded = list(open_changes(event))
            base_etag = next((_seen_etag(change, event) for change in superseded if change.base_etag), event.etag)
            original = next((change.original for change in superseded if change.original), row_snapshot(event))
            open_changes(event).delete()
            EventChange.objects.create(
                connection=old_connection,
                event=event,
                actor=user_or_none(actor),
                operation=ChangeOperation.DELETE,
                provider_event_id=event.provider_event_id,
                base_etag=base_etag,
                original=original,
                depends_on=create,
                notify=notify,
                next_attempt_at=now(),
            )
            CalendarEvent.objects.filter(pk=event.pk).update(
                deleted_at=now(), sync_status=EventSyncStatus.PENDING, updated_at=now()
            )
        _audit(
            AuditAction.EVENT_UPDATED,
            moved,
            actor,
            request,
            {"operation": "move", "from_calendar": old_connection.pk, "to_calendar": connection.pk},
        )
        calendars_changed([old_connection.pk, connection.pk])
    return moved


def _series_and_occurrence(event: CalendarEvent, occurrence: datetime | None) -> tuple[CalendarEvent, datetime]:
    if event.recurrence:
        if occurrence is None:
            raise EditRefused("Which occurrence? Open it from the week view and try again.")
        return event, occurrence
    master = _locked(_master_of(event))
    return master, event.original_start or occurrence or event.start


def _split(
    master: CalendarEvent, at: datetime, draft: EventDraft | None, *, notify: bool, actor: Any
) -> CalendarEvent | None:
    """End the series before the occurrence at `at`; with a draft, start a new series there from it.
    Returns the new series' row (None when only the end was cut)."""
    if master.provider_event_id is None:
        raise EditRefused("This series has not reached the provider yet. Try again in a moment.")
    if at <= master.start:
        if draft is None:
            return None
        _edit_event(master, _series_draft(master, draft, at), notify=notify, actor=actor)
        return master
    series = Series(master.start, master.end - master.start, split_lines(master.recurrence), zone_of(master))
    try:
        before, after = split_series(series, at, all_day=master.all_day)
    except RecurrenceError as exc:
        raise EditRefused("This series' repeat rule cannot be cut here; change all occurrences instead.") from exc
    cut = _edit_event(master, replace(draft_of_row(master), recurrence=before), notify=notify, actor=actor)
    # The occurrences from `at` on now belong to the new series (or to nobody): their exceptions go from
    # the week, and come back if the cut is discarded.
    tail = CalendarEvent.objects.filter(recurring_event=master, original_start__gte=at, deleted_at__isnull=True)
    EventChange.objects.filter(event__in=tail).delete()
    cut.payload = {**cut.payload, "tail": [*cut.payload.get("tail", []), *tail.values_list("pk", flat=True)]}
    cut.save(update_fields=["payload"])
    tail.update(deleted_at=now(), updated_at=now())
    if draft is None:
        return None
    following = replace(draft, recurrence=after)
    created = CalendarEvent.objects.create(
        connection=master.connection,
        sync_status=EventSyncStatus.PENDING,
        **row_fields(following, metadata=master.metadata),
    )
    change = change_add(created, ChangeOperation.CREATE, payload=draft_payload(following), notify=notify, actor=actor)
    # Made only once the old series is cut: else both would hold the same weeks.
    change.depends_on = cut
    change.save(update_fields=["depends_on"])
    return created


def zone_of(event: CalendarEvent) -> Any:
    return None if event.all_day else zone_or_none(event.timezone)


def _exception_row(master: CalendarEvent, occurrence: datetime) -> CalendarEvent:
    """The row that stands for one occurrence of a series: its exception, made now if there is none."""
    found = (
        CalendarEvent.objects.select_for_update()
        .filter(recurring_event=master, original_start=occurrence, deleted_at__isnull=True)
        .first()
    )
    if found is not None:
        return found
    draft = draft_of_row(master)
    draft = shifted(replace(draft, recurrence=()), occurrence - master.start)
    return CalendarEvent.objects.create(
        connection=master.connection,
        ical_uid=master.ical_uid,
        master_provider_event_id=master.provider_event_id or "",
        recurring_event=master,
        original_start=occurrence,
        sync_status=EventSyncStatus.PENDING,
        **row_fields(draft, metadata=master.metadata),
    )


def _series_draft(master: CalendarEvent, draft: EventDraft, occurrence: datetime) -> EventDraft:
    """An occurrence's new version applied to the whole series: its fields, its move and its new length.
    `occurrence` is where the occurrence the person changed started."""
    if isinstance(draft.start, datetime) == master.all_day:
        raise EditRefused(
            "A repeating event cannot switch between all-day and timed here. Change just this occurrence, or "
            "make a new series."
        )
    series = shifted(draft_of_row(master), stored_instant(draft.start) - occurrence)
    length = stored_instant(draft.end) - stored_instant(draft.start)
    end = series.start + length if isinstance(series.start, datetime) else series.start + timedelta(days=length.days)
    return replace(draft, start=series.start, end=end, recurrence=series.recurrence)


def _apply(event: CalendarEvent, draft: EventDraft) -> None:
    for name, value in row_fields(draft, metadata=event.metadata).items():
        setattr(event, name, value)
    event.sync_status = settled_status(event)
    event.save()


def _locked(event: CalendarEvent) -> CalendarEvent:
    return CalendarEvent.objects.select_for_update(of=("self",)).select_related("connection__account").get(pk=event.pk)


def _master_of(event: CalendarEvent) -> CalendarEvent:
    master = event.recurring_event
    if master is None:
        master = CalendarEvent.objects.filter(
            Q(provider_event_id=event.master_provider_event_id), connection_id=event.connection_id
        ).first()
    if master is None:
        raise EditRefused("This occurrence's series is not in calsync, so it can only be changed at the provider.")
    return master


def _audit(
    action: AuditAction, event: CalendarEvent, actor: Any, request: HttpRequest | None, metadata: dict[str, Any]
) -> None:
    _record(action, event.connection, event, actor, request, metadata)


def _audit_change(
    action: AuditAction, change: EventChange, actor: Any, request: HttpRequest | None, metadata: dict[str, Any]
) -> None:
    _record(action, change.connection, change.event, actor, request, {"change": change.operation, **metadata})


def _record(
    action: AuditAction,
    connection: CalendarConnection,
    event: CalendarEvent | None,
    actor: Any,
    request: HttpRequest | None,
    metadata: dict[str, Any],
) -> None:
    # Ids only: an event's title and description are the person's data, not the audit log's.
    record(
        action=action,
        actor=actor,
        subject=connection.user,
        target=event or connection,
        request=request,
        metadata={"calendar": connection.pk, **metadata},
    )
