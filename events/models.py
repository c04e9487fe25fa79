from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from django.db import models
from django.db.models.lookups import GreaterThan
from django.utils.timezone import now

from calsync.lib.indexes import Index
from connections.models import CalendarConnection

# Events lasting longer than this are rare (trips, terms, holidays) and have an index of their own; the
# week query reads the others by a start bounded on both sides.
LONG_EVENT = timedelta(days=7)


def is_long_event() -> GreaterThan:
    """`end - start > LONG_EVENT`: written as a difference, which PostgreSQL accepts in an index predicate
    (`start + interval` depends on the session's zone, so it is not immutable)."""
    duration = models.ExpressionWrapper(models.F("end") - models.F("start"), output_field=models.DurationField())
    return GreaterThan(duration, LONG_EVENT)


class EventStatus(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    TENTATIVE = "tentative", "Tentative"
    CANCELLED = "cancelled", "Cancelled"


class EventSyncStatus(models.TextChoices):
    """Where a two-way change stands. Only `synced` rows match the provider's copy."""

    SYNCED = "synced", "Synced"
    PENDING = "pending", "Waiting to be pushed"
    CONFLICT = "conflict", "Conflict with the provider's copy"
    FAILED = "failed", "Push failed"


class CalendarEvent(models.Model):
    """An event (or a recurring series master, or one exception of a series) of a calendar connection.

    Time: `start` and `end` always hold a value, so one range index serves every event kind.
    - Timed events with a zone: UTC instants; `timezone` keeps the source zone name (IANA).
    - All-day events (`all_day`): the calendar dates as midnight UTC, `end` exclusive as in iCalendar;
      read them back as dates (`start_date`, `end_date`), never shifted by any zone: a holiday on the
      4th is on the 4th for everyone.
    - Floating events (timed, `timezone` empty): the wall-clock time stored as if it were UTC, read in
      the viewer's zone.
    Queries for a viewer's window therefore widen the range by the largest UTC offset for all-day and
    floating rows, then place them exactly (the week-view selector).

    Recurrence: a master keeps its RRULE/EXDATE/RDATE lines in `recurrence`; an exception points at its
    master with `recurring_event` and the occurrence it replaces with `original_start`.
    `master_provider_event_id` also names the master, so an exception that arrives before its master (or
    whose master is gone) is kept and linked later.
    """

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="events", db_index=False)
    # NULL, not "", until pushed: NULLs are distinct in the unique key, so many local creates can wait at once.
    provider_event_id = models.CharField(  # noqa: DJ001
        max_length=1024, null=True, blank=True, help_text="Empty until a change made here is first pushed."
    )
    ical_uid = models.CharField(max_length=1024, blank=True)
    title = models.TextField(blank=True)
    description = models.TextField(blank=True)
    location = models.TextField(blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    all_day = models.BooleanField(default=False)
    timezone = models.CharField(max_length=64, blank=True, help_text="Source zone; empty for floating times.")
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.CONFIRMED)

    recurrence = models.TextField(blank=True, help_text="RRULE, EXDATE and RDATE lines of a series master.")
    recurrence_end = models.DateTimeField(
        null=True, blank=True, help_text="End of the series' last occurrence; empty when it never ends."
    )
    recurring_event = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="exceptions", db_index=False
    )
    master_provider_event_id = models.CharField(max_length=1024, blank=True)
    original_start = models.DateTimeField(null=True, blank=True, help_text="The occurrence an exception replaces.")

    etag = models.CharField(max_length=255, blank=True)
    sync_status = models.CharField(max_length=16, choices=EventSyncStatus.choices, default=EventSyncStatus.SYNCED)
    provider_data = models.JSONField(default=dict, blank=True, help_text="Provider fields we keep but do not model.")
    metadata = models.JSONField(default=dict, blank=True, help_text="Attendees, organizer, conference links, ...")
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "calendar_events"
        constraints: ClassVar[list[Any]] = [
            # The sync's bulk upsert target (ON CONFLICT). NULLs are distinct: local creates not yet pushed.
            models.UniqueConstraint(
                fields=["connection", "provider_event_id"], name="calendar_events_connection_provider_event_key"
            ),
            models.CheckConstraint(
                condition=models.Q(end__gte=models.F("start")), name="calendar_events_end_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(all_day=False) | models.Q(timezone=""), name="calendar_events_all_day_has_no_zone"
            ),
            models.CheckConstraint(
                condition=models.Q(recurrence="") | models.Q(master_provider_event_id=""),
                name="calendar_events_master_is_not_exception",
            ),
            models.CheckConstraint(
                condition=models.Q(master_provider_event_id="") | models.Q(original_start__isnull=False),
                name="calendar_events_exception_has_original_start",
            ),
            models.CheckConstraint(
                condition=~models.Q(sync_status="synced") | models.Q(provider_event_id__isnull=False),
                name="calendar_events_synced_has_provider_id",
            ),
        ]
        indexes: ClassVar[list[Any]] = [
            # Week view: a connection's live events overlapping a window (the seed's index name). The query
            # bounds `start` on both sides (events last at most LONG_EVENT), so it reads only the window.
            Index(
                fields=["connection", "start", "end"],
                condition=models.Q(deleted_at__isnull=True),
                name="calendar_events_connection_date_range_idx",
            ),
            # Week view: the few events longer than LONG_EVENT, found by their end instead.
            Index(
                fields=["connection", "end"],
                condition=models.Q(deleted_at__isnull=True) & models.Q(is_long_event()),
                name="calendar_events_long_events_idx",
            ),
            # Week view: recurring series masters, which may have started years before the window.
            Index(
                fields=["connection", "recurrence_end"],
                condition=models.Q(deleted_at__isnull=True) & ~models.Q(recurrence=""),
                name="calendar_events_recurring_masters_idx",
            ),
            # Two-way sync: a connection's changes waiting to be pushed (the seed's index name). Partial, so it
            # stays tiny: almost every row is synced.
            Index(
                fields=["connection", "sync_status"],
                condition=~models.Q(sync_status="synced"),
                name="calendar_events_connection_sync_status_idx",
            ),
            # Exceptions of a master within a window (expansion), and SET NULL when a master is purged.
            Index(
                fields=["recurring_event", "original_start"],
                condition=models.Q(recurring_event__isnull=False),
                name="calendar_events_recurring_event_idx",
            ),
            # Linking an exception to a master that arrives later.
            Index(
                fields=["connection", "master_provider_event_id"],
                condition=~models.Q(master_provider_event_id=""),
                name="calendar_events_master_link_idx",
            ),
            # The daily purge of rows soft-deleted more than 30 days ago.
            Index(
                fields=["deleted_at"],
                condition=models.Q(deleted_at__isnull=False),
                name="calendar_events_deleted_at_idx",
            ),
        ]
        # No GIN index on provider_data/metadata: no query filters on their contents yet. Add one with the
        # query that needs it.

    def __str__(self) -> str:
        return self.title or "(no title)"

    @property
    def is_floating(self) -> bool:
        return not self.all_day and not self.timezone

    @property
    def is_recurring(self) -> bool:
        return bool(self.recurrence)

    @property
    def start_date(self) -> date:
        """The first calendar day of an all-day event."""
        return _as_stored_date(self.start)

    @property
    def end_date(self) -> date:
        """The day after the last calendar day of an all-day event (exclusive, as in iCalendar)."""
        return _as_stored_date(self.end)


def _as_stored_date(value: datetime) -> date:
    return value.astimezone(UTC).date()


class ChangeOperation(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Edit"
    DELETE = "delete", "Delete"
    RESPOND = "respond", "Answer invitation"


class ChangeScope(models.TextChoices):
    """What of a series a change is about."""

    EVENT = "event", "The event (a whole series, for a series)"
    OCCURRENCE = "occurrence", "This occurrence"


class ChangeStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be pushed"
    CONFLICT = "conflict", "The provider's copy changed meanwhile"
    FAILED = "failed", "Push failed"


class EventChange(models.Model):
    """A change made in calsync, waiting to be pushed to the provider (the two-way sync's outbox).

    The event row already shows the change (marked pending); this row keeps what to send and how it went.
    It is deleted once pushed or discarded: the audit log keeps the history. A conflict keeps the person's
    version here (`payload`) while the event row shows the provider's, until they re-apply or discard it.
    Changes of one connection are pushed in the order they were made (`id`).
    """

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="changes")
    event = models.ForeignKey(
        CalendarEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes", db_index=False
    )
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # A change that must wait for another: a new series waits for the old one's cut ("this and following"),
    # and deleting the old copy of a moved event waits for the new copy. Discarding one discards both.
    depends_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="dependents", db_index=False
    )
    operation = models.CharField(max_length=16, choices=ChangeOperation.choices)
    scope = models.CharField(max_length=16, choices=ChangeScope.choices, default=ChangeScope.EVENT)
    # The provider event the change is about, as it was when the change was made (an event may move to
    # another calendar meanwhile: its old copy is deleted by a change that remembers where it was).
    provider_event_id = models.CharField(max_length=1024, blank=True)
    master_provider_event_id = models.CharField(max_length=1024, blank=True)
    original_start = models.DateTimeField(null=True, blank=True)
    base_etag = models.CharField(max_length=255, blank=True, help_text="The etag the change was based on.")
    # Idempotency key of a create (Google's event id, Graph's transactionId, the CalDAV resource name).
    key = models.CharField(max_length=32, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The person's version of the event.")
    original = models.JSONField(
        default=dict, blank=True, help_text="The event as it was before the change: a discard puts it back."
    )
    notify = models.BooleanField(default=False, help_text="Tell attendees (where the provider lets us choose).")
    status = models.CharField(max_length=16, choices=ChangeStatus.choices, default=ChangeStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "event_changes"
        indexes: ClassVar[list[Any]] = [
            # The periodic sweep: pending changes whose push is overdue.
            Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="event_changes_pending_due_idx",
            ),
            # An event's open changes (the detail panel, coalescing edits).
            Index(fields=["event"], condition=models.Q(event__isnull=False), name="event_changes_event_idx"),
            Index(
                fields=["depends_on"], condition=models.Q(depends_on__isnull=False), name="event_changes_depends_on_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} of event {self.event_id} ({self.status})"


class SyncOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "Completed"
    ERROR = "error", "Failed"
    HELD = "held", "Held for confirmation"


class SyncRun(models.Model):
    """One run of the sync for one connection: for operators, not the audit log. Pruned after a while."""

    connection = models.ForeignKey(
        CalendarConnection, on_delete=models.CASCADE, related_name="sync_runs", db_index=False
    )
    started_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=SyncOutcome.choices, default=SyncOutcome.RUNNING)
    full = models.BooleanField(default=False, help_text="A full resync rather than an incremental one.")
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Provider items that could not be stored.")
    error = models.TextField(blank=True)
    notes = models.JSONField(
        default=list, blank=True, help_text="Why items were skipped or repaired, and other remarks (capped)."
    )

    class Meta:
        db_table = "sync_runs"
        indexes: ClassVar[list[Any]] = [
            # A connection's recent runs (connections page, admin inline).
            Index("connection", models.F("started_at").desc(), name="sync_runs_connection_idx"),
            # Pruning old runs.
            Index(fields=["started_at"], name="sync_runs_started_at_idx"),
            # Runs a dead worker left running, closed by the next sync's claim (a tiny index: most rows end).
            Index(fields=["connection"], condition=models.Q(outcome="running"), name="sync_runs_running_idx"),
        ]

    def __str__(self) -> str:
        return f"sync of {self.connection_id} at {self.started_at:%Y-%m-%d %H:%M} ({self.outcome})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class UnreadableItem(models.Model):
    """A provider item (an event, a CalDAV resource) of a calendar that the sync could not read.

    Kept until a later sync reads it (or the provider removes it), so what was skipped stays visible on the
    calendar and in the admin rather than only in one run's notes; the calendar does not read plain
    "Synced" while any are left.
    """

    connection = models.ForeignKey(
        CalendarConnection, on_delete=models.CASCADE, related_name="unreadable_items", db_index=False
    )
    provider_item_id = models.CharField(max_length=1024, help_text="The provider's id or the resource's href.")
    reason = models.TextField(help_text="Why it could not be read, for the person and staff.")
    first_seen_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now)

    class Meta:
        db_table = "unreadable_items"
        constraints: ClassVar[list[Any]] = [
            # Also serves "a calendar's unreadable items" (the key leads with the connection).
            models.UniqueConstraint(
                fields=["connection", "provider_item_id"], name="unreadable_items_connection_item_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_item_id} of calendar {self.connection_id}"
