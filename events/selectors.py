"""Reads of events for views: which occurrences fall in a window, in the viewer's time zone.

Two queries whatever the number of calendars or events: the rows overlapping the window (single events,
exceptions, the few long events, and series masters still running), then the exceptions of those masters.
Each branch of the first query is bounded on both sides by an index:
- events up to LONG_EVENT long: `start` between window start - LONG_EVENT and window end (date-range index);
- longer events: by `end` (long-events index); series masters: by `recurrence_end` (masters index), so a
  weekly meeting that began years ago is found without reading years of rows.
Recurring series are expanded here, on read (events.recurrence).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Q, QuerySet, Sum
from django.db.models.query import RawQuerySet

from accounts.models import User
from connections.models import CalendarConnection
from events.models import LONG_EVENT, CalendarEvent, ChangeStatus, EventChange, EventStatus, is_long_event
from events.recurrence import (
    MAX_STEPS_PER_WINDOW,
    Limits,
    RecurrenceError,
    Series,
    as_stored,
    default_limits,
    expand,
    longest_length,
    period_lengths,
    split_lines,
    zone_or_none,
)

DETAIL_FIELDS = ("description", "provider_data", "metadata")
EARLIEST_SHOWN = datetime(1000, 1, 1, tzinfo=UTC)
LATEST_SHOWN = datetime(9000, 1, 1, tzinfo=UTC)

# All-day and floating rows are stored as wall-clock times labelled UTC; a viewer's window in UTC can sit
# up to 14 hours away from their wall clock (UTC+14 .. UTC-12).
WALL_CLOCK_SLACK = timedelta(hours=14)


@dataclass(frozen=True)
class Occurrence:
    """One event, or one occurrence of a series, as the viewer sees it.

    `start`/`end` are aware datetimes in the viewer's zone (all-day: local midnights of its dates).
    `event` is the stored row to show: the master for an occurrence generated from a series.
    """

    event: CalendarEvent
    start: datetime
    end: datetime
    all_day: bool
    # For an occurrence generated from a series: the start it has in the series (stored form), which
    # names it for edits of one occurrence.
    recurrence_id: datetime | None = None
    # The series has more occurrences in the window than one series (events.recurrence.Limits) or one page
    # (PageBudget) may show: some were left out, and the page should say so.
    truncated: bool = False

    @property
    def start_date(self) -> date:
        return self.start.date()

    @property
    def end_date(self) -> date:
        """Exclusive, as in iCalendar."""
        return self.end.date()


def occurrences_in_window(
    *, connection_ids: Iterable[int], start: datetime, end: datetime, zone: tzinfo
) -> list[Occurrence]:
    """Occurrences overlapping [start, end) (aware instants), shown in `zone`, sorted by start."""
    ids = list(connection_ids)
    if not ids or end <= start:
        return []
    low, high = start - WALL_CLOCK_SLACK, end + WALL_CLOCK_SLACK
    rows = list({row.pk: row for row in rows_near_window(ids, low, high)}.values())
    masters = [row for row in rows if row.recurrence]
    replaced = _replaced_occurrences(masters, low, high)
    found: list[Occurrence] = []
    budget = PageBudget.from_settings()
    # Series whose data was flagged at ingest (a rule denser than a day may show, say) come last, so however
    # many of them a page holds, they cannot use up the budget before the ordinary ones are drawn.
    for row in sorted(rows, key=lambda row: bool(getattr(row, "has_problems", False))):
        if row.recurrence:
            if row.status == EventStatus.CANCELLED:  # a cancelled series has no occurrences
                continue
            if budget.spent:
                if found:  # the page says that some occurrences are not shown
                    found[-1] = replace(found[-1], truncated=True)
                continue
            found.extend(_expand(row, replaced.get(row.pk, set()), start, end, zone, budget))
        elif row.status != EventStatus.CANCELLED:
            found.append(_single(row, zone))
    return sorted(
        (occurrence for occurrence in found if _overlaps(occurrence, start, end)),
        key=lambda occurrence: (occurrence.start, -(occurrence.end - occurrence.start), occurrence.event.pk),
    )


def week_calendars(*, user: User) -> list[CalendarConnection]:
    """The person's chosen calendars with their accounts (for the legend and the sync status), in one query."""
    return list(
        CalendarConnection.objects.filter(user=user, is_connected=True)
        .select_related("account")
        .order_by("account__provider", "account__email", "-is_primary", "name", "pk")
    )


def week_stamp(*, user: User) -> str:
    """What the person's week was drawn from, in one short string: their connected calendars (how many, which)
    and when what any of them shows last changed. One query on calendar_connections by user (its user index),
    none on events: an open week page asks for it every few seconds."""
    found = CalendarConnection.objects.filter(user=user, is_connected=True).aggregate(
        count=Count("pk"), ids=Sum("pk"), latest=Max("changed_at")
    )
    return stamp_of(found["count"], found["ids"] or 0, found["latest"])


def week_stamp_of(calendars: Sequence[CalendarConnection]) -> str:
    """`week_stamp` of calendars already read (the week page's own list), with no query."""
    changed = [calendar.changed_at for calendar in calendars if calendar.changed_at is not None]
    return stamp_of(len(calendars), sum(calendar.pk for calendar in calendars), max(changed, default=None))


def stamp_of(count: int, ids: int, latest: datetime | None) -> str:
    micros = round(latest.timestamp() * 1_000_000) if latest is not None else 0
    return f"{count}.{ids}.{micros}"


def rows_near_window(
    connection_ids: list[int], low: datetime, high: datetime
) -> RawQuerySet[CalendarEvent] | QuerySet[CalendarEvent]:
    """Live rows that may have an occurrence in [low, high], as one UNION ALL whose every branch an index bounds.
    Each row carries `has_problems`: some of its data could not be read (`provider_data["problems"]`).

    Not one WHERE with ORs: the planner factors the shared `start < high` out of the branches and then
    reads the date-range index from the calendar's first event. A row can come from two branches (a long
    event that also starts in the window); callers keep the first of each. Written in SQL rather than
    built with the ORM, which took longer to compile this query than PostgreSQL took to run it.
    """
    if connection.vendor != "postgresql":
        return _window_queryset(connection_ids, low, high)  # the zero-setup SQLite of `make run`
    params = {"ids": list(connection_ids), "low": low, "high": high, "short_low": low - LONG_EVENT}
    return CalendarEvent.objects.raw(_window_sql(), params)


def _window_queryset(connection_ids: list[int], low: datetime, high: datetime) -> QuerySet[CalendarEvent]:
    """The same rows through the ORM, for databases the SQL below is not written for."""
    live = (
        CalendarEvent.objects.filter(connection_id__in=connection_ids, deleted_at__isnull=True)
        .defer(*DETAIL_FIELDS)
        .annotate(has_problems=ExpressionWrapper(Q(provider_data__has_key="problems"), output_field=BooleanField()))
    )
    short = live.filter(recurrence="", start__gte=low - LONG_EVENT, start__lt=high, end__gte=low)
    long = live.filter(is_long_event(), recurrence="", end__gte=low, start__lt=high)
    masters = live.exclude(recurrence="").filter(start__lt=high)
    endless, running = masters.filter(recurrence_end__isnull=True), masters.filter(recurrence_end__gte=low)
    return short.union(long, endless, running, all=True)


@functools.cache
def _window_sql() -> str:
    # The long fields are for one event's details, not for a window of them (a description can be 1 MB).
    columns = ", ".join(
        connection.ops.quote_name(field.column)
        for field in CalendarEvent._meta.concrete_fields
        if field.name not in DETAIL_FIELDS
    )
    # Whether some of the event's data could not be read, for the week's mark, without reading provider_data.
    columns += ", COALESCE(provider_data -> 'problems' <> '[]'::jsonb, false) AS has_problems"
    live = f"SELECT {columns} FROM calendar_events WHERE connection_id = ANY(%(ids)s) AND deleted_at IS NULL"  # noqa: S608  # nosec B608
    # Each predicate repeats the partial index's own (events.models) so the planner can use that index.
    long_event = f'("end" - "start") > interval \'{LONG_EVENT.days} days\''
    branches = [
        "recurrence = '' AND start >= %(short_low)s AND start < %(high)s AND \"end\" >= %(low)s",
        f"recurrence = '' AND {long_event} AND \"end\" >= %(low)s AND start < %(high)s",
        "NOT (recurrence = '') AND start < %(high)s AND recurrence_end IS NULL",
        "NOT (recurrence = '') AND start < %(high)s AND recurrence_end >= %(low)s",
    ]
    return "\nUNION ALL\n".join(f"{live} AND {branch}" for branch in branches)


def _replaced_occurrences(masters: list[CalendarEvent], low: datetime, high: datetime) -> dict[int, set[datetime]]:
    """Per master, the original starts of its occurrences that an exception (moved, changed or cancelled)
    replaces: the series must not produce those itself."""
    if not masters:
        return {}
    longest = max(_longest_occurrence(master) for master in masters)
    replaced: dict[int, set[datetime]] = {}
    for master_id, original_start in CalendarEvent.objects.filter(
        recurring_event_id__in=[master.pk for master in masters],
        original_start__gte=low - longest,
        original_start__lt=high,
        deleted_at__isnull=True,
    ).values_list("recurring_event_id", "original_start"):
        if master_id is not None and original_start is not None:
            replaced.setdefault(master_id, set()).add(original_start)
    return replaced


def _series(master: CalendarEvent) -> Series:
    zone = None if master.all_day else zone_or_none(master.timezone)
    lines = split_lines(master.recurrence)
    return Series(start=master.start, duration=master.end - master.start, lines=lines, zone=zone)


def _longest_occurrence(master: CalendarEvent) -> timedelta:
    """The master's length, or an RDATE period's if one is longer: an occurrence that began that long before
    the window may still reach into it."""
    try:
        return longest_length(_series(master))
    except RecurrenceError:
        return master.end - master.start


@dataclass
class PageBudget:
    """What all the series of one page may still produce and walk: a page of many hostile series costs no
    more than this, whatever each one's own limits allow."""

    occurrences: int
    steps: int

    @classmethod
    def from_settings(cls) -> PageBudget:
        return cls(occurrences=settings.RECURRENCE_MAX_PER_PAGE, steps=MAX_STEPS_PER_PAGE)

    @property
    def spent(self) -> bool:
        return self.occurrences <= 0 or self.steps <= 0

    def limits(self) -> Limits:
        """One series' limits, within what the page has left."""
        own = default_limits()
        return Limits(
            per_day=own.per_day,
            per_window=min(own.per_window, self.occurrences),
            max_steps=min(own.max_steps, self.steps),
        )


# Walking rules costs about a microsecond a step: a page's series together walk at most this many.
MAX_STEPS_PER_PAGE = 5 * MAX_STEPS_PER_WINDOW


def _expand(
    master: CalendarEvent,
    replaced: set[datetime],
    start: datetime,
    end: datetime,
    zone: tzinfo,
    budget: PageBudget | None = None,
) -> list[Occurrence]:
    series = _series(master)
    # Wall-clock bounds for the rule, a day wider than the window for zone differences; filtered exactly later.
    bounds_zone = series.zone or zone
    wall_low = (start - timedelta(days=1)).astimezone(bounds_zone).replace(tzinfo=None)
    wall_high = (end + timedelta(days=1)).astimezone(bounds_zone).replace(tzinfo=None)
    try:
        expansion = expand(series, wall_low, wall_high, limits=budget.limits() if budget else None)
        walls, truncated = expansion.occurrences, expansion.truncated
        if budget is not None:
            budget.occurrences -= len(walls)
            budget.steps -= expansion.steps
    except RecurrenceError:
        # unreadable rule (recorded when it was stored): show the first one
        walls, truncated = ((series.wall_start, series.duration),), False
    found = []
    for wall, length in walls:
        stored = as_stored(wall, series.zone)
        if stored in replaced:
            continue
        found.append(
            Occurrence(
                event=master,
                start=_shown(stored, master, zone),
                end=_shown(stored + length, master, zone),
                all_day=master.all_day,
                recurrence_id=stored,
                truncated=truncated,
            )
        )
    return found


def occurrence_end(master: CalendarEvent, at: datetime) -> datetime:
    """The end of the series' occurrence that starts at `at` (stored form): an RDATE period's own end, else
    the master's length after it."""
    series = _series(master)
    wall = at.astimezone(series.zone or UTC).replace(tzinfo=None)
    try:
        length = period_lengths(series).get(wall, series.duration)
    except RecurrenceError:
        length = series.duration
    return at + length


def _single(row: CalendarEvent, zone: tzinfo) -> Occurrence:
    return Occurrence(
        event=row, start=_shown(row.start, row, zone), end=_shown(row.end, row, zone), all_day=row.all_day
    )


def shown_instant(stored: datetime) -> datetime:
    """`stored` moved into years every zone can show: a provider may send an end in the year 9999, which
    no zone east of UTC can represent (OverflowError)."""
    return min(max(stored, EARLIEST_SHOWN), LATEST_SHOWN)


def _shown(stored: datetime, row: CalendarEvent, zone: tzinfo) -> datetime:
    """A stored time in the viewer's zone: instants convert; dates and floating times keep their wall clock."""
    stored = shown_instant(stored)
    if row.all_day or not row.timezone:
        return stored.astimezone(UTC).replace(tzinfo=zone)
    return stored.astimezone(zone)


def _overlaps(occurrence: Occurrence, start: datetime, end: datetime) -> bool:
    if occurrence.start == occurrence.end:  # a zero-length event (a reminder) is in the window it starts in
        return start <= occurrence.start < end
    return occurrence.start < end and occurrence.end > start


def changes_to_settle(*, user: User, limit: int = 20) -> list[EventChange]:
    """The person's changes that failed or met a conflict: shown beside the week until they settle them
    (an event deleted at the provider meanwhile is no longer in the week, so this is where its change is)."""
    return list(
        EventChange.objects.filter(
            connection__user=user,
            connection__is_connected=True,
            status__in=[ChangeStatus.CONFLICT, ChangeStatus.FAILED],
        )
        .select_related("event", "connection__account")
        .order_by("-pk")[:limit]
    )
