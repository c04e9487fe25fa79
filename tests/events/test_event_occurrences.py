"""Which occurrences fall in a window, in the viewer's zone (events.selectors), from rows as the sync stores them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.db.models.query import RawQuerySet
from django.test.utils import CaptureQueriesContext

from connections.providers.base import RemoteEvent
from events.mapping import event_row
from events.models import CalendarEvent
from events.selectors import occurrences_in_window, rows_near_window
from tests.factories import make_account, make_connection

BERLIN = ZoneInfo("Europe/Berlin")
# Eight days around the March 2025 DST change in Berlin (Sunday the 30th): Monday to Monday inclusive.
WEEK_START = datetime(2025, 3, 24, tzinfo=BERLIN)
WEEK_END = WEEK_START + timedelta(days=8)


@pytest.fixture
def calendar(owner):
    return make_connection(make_account(owner))


def store(calendar, remote: RemoteEvent) -> CalendarEvent:
    row = event_row(remote)
    event = CalendarEvent.objects.create(connection=calendar, provider_event_id=row.provider_event_id, **row.fields)
    if row.master_id:
        master = CalendarEvent.objects.filter(connection=calendar, provider_event_id=row.master_id).first()
        CalendarEvent.objects.filter(pk=event.pk).update(recurring_event=master)
    return event


def week(calendar, zone=BERLIN, start=WEEK_START, end=WEEK_END):
    return occurrences_in_window(connection_ids=[calendar.pk], start=start, end=end, zone=zone)


def titles(occurrences):
    return [occurrence.event.title for occurrence in occurrences]


def weekly_standup(calendar, **changes):
    fields = {
        "provider_event_id": "standup",
        "title": "Standup",
        "start": datetime(2022, 1, 4, 9, tzinfo=BERLIN),  # a Tuesday three years before the window
        "end": datetime(2022, 1, 4, 9, 15, tzinfo=BERLIN),
        "timezone": "Europe/Berlin",
        "recurrence": ("RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",),
        **changes,
    }
    return store(calendar, RemoteEvent(**fields))


def test_it_expands_a_series_that_began_years_ago_at_its_local_time_across_dst(calendar):
    weekly_standup(calendar)
    occurrences = week(calendar)
    assert [o.start for o in occurrences] == [
        datetime(2025, 3, day, 9, tzinfo=BERLIN) for day in (24, 25, 26, 27, 28, 31)
    ]
    assert [o.start.astimezone(UTC).hour for o in occurrences] == [8, 8, 8, 8, 8, 7]
    assert all(o.end - o.start == timedelta(minutes=15) for o in occurrences)


def test_it_shows_the_occurrences_in_the_viewers_zone(calendar):
    weekly_standup(calendar)
    tokyo = ZoneInfo("Asia/Tokyo")
    occurrences = week(calendar, zone=tokyo)
    assert {o.start.tzinfo for o in occurrences} == {tokyo}
    assert occurrences[0].start == datetime(2025, 3, 24, 9, tzinfo=BERLIN)


def test_a_moved_exception_replaces_its_occurrence_in_and_out_of_the_window(calendar):
    weekly_standup(calendar)
    # Tuesday's standup moved to the next week; the following Monday's moved into this Thursday afternoon.
    store(
        calendar,
        RemoteEvent(
            provider_event_id="standup_tue",
            title="Standup (moved out)",
            start=datetime(2025, 4, 8, 9, tzinfo=BERLIN),
            end=datetime(2025, 4, 8, 9, 15, tzinfo=BERLIN),
            timezone="Europe/Berlin",
            master_id="standup",
            original_start=datetime(2025, 3, 25, 9, tzinfo=BERLIN),
        ),
    )
    store(
        calendar,
        RemoteEvent(
            provider_event_id="standup_next_mon",
            title="Standup (moved in)",
            start=datetime(2025, 3, 27, 15, tzinfo=BERLIN),
            end=datetime(2025, 3, 27, 15, 15, tzinfo=BERLIN),
            timezone="Europe/Berlin",
            master_id="standup",
            original_start=datetime(2025, 4, 7, 9, tzinfo=BERLIN),
        ),
    )
    occurrences = week(calendar)
    assert [(o.start.day, o.start.hour, o.event.title) for o in occurrences] == [
        (24, 9, "Standup"),
        (26, 9, "Standup"),
        (27, 9, "Standup"),
        (27, 15, "Standup (moved in)"),
        (28, 9, "Standup"),
        (31, 9, "Standup"),
    ]


def test_a_cancelled_occurrence_is_absent(calendar):
    weekly_standup(calendar)
    store(
        calendar,
        RemoteEvent(
            provider_event_id="standup_wed",
            start=datetime(2025, 3, 26, 9, tzinfo=BERLIN),
            end=datetime(2025, 3, 26, 9, 15, tzinfo=BERLIN),
            timezone="Europe/Berlin",
            status="cancelled",
            master_id="standup",
            original_start=datetime(2025, 3, 26, 9, tzinfo=BERLIN),
        ),
    )
    assert [o.start.day for o in week(calendar)] == [24, 25, 27, 28, 31]


def test_a_cancelled_series_has_no_occurrences(calendar):
    weekly_standup(calendar, status="cancelled")
    assert week(calendar) == []


def test_an_exdate_in_another_zone_removes_the_occurrence(calendar):
    weekly_standup(calendar, recurrence=("RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "EXDATE:20250331T070000Z"))
    assert [o.start.day for o in week(calendar)] == [24, 25, 26, 27, 28]


def test_a_series_that_ended_before_the_window_is_not_read(calendar):
    weekly_standup(calendar, recurrence=("RRULE:FREQ=WEEKLY;COUNT=10",))
    assert list(rows_near_window([calendar.pk], WEEK_START, WEEK_END)) == []
    assert week(calendar) == []


def test_an_exception_whose_master_is_missing_is_shown(calendar):
    store(
        calendar,
        RemoteEvent(
            provider_event_id="orphan",
            title="Invitation to one occurrence",
            start=datetime(2025, 3, 26, 14, tzinfo=UTC),
            end=datetime(2025, 3, 26, 15, tzinfo=UTC),
            master_id="a-series-we-never-saw",
            original_start=datetime(2025, 3, 26, 14, tzinfo=UTC),
        ),
    )
    assert titles(week(calendar)) == ["Invitation to one occurrence"]


def test_events_crossing_the_weeks_edges_and_long_events_are_shown(calendar):
    store(
        calendar,
        RemoteEvent(
            provider_event_id="flight",
            title="Overnight flight",
            start=datetime(2025, 3, 23, 22, tzinfo=BERLIN),
            end=datetime(2025, 3, 24, 7, tzinfo=BERLIN),
            timezone="Europe/Berlin",
        ),
    )
    store(calendar, RemoteEvent(provider_event_id="trip", title="Trip", start=date(2025, 3, 29), end=date(2025, 4, 3)))
    store(calendar, RemoteEvent(provider_event_id="term", title="Term", start=date(2025, 1, 6), end=date(2025, 6, 30)))
    store(calendar, RemoteEvent(provider_event_id="old", title="Old", start=date(2025, 3, 1), end=date(2025, 3, 2)))
    occurrences = week(calendar)
    assert sorted(titles(occurrences)) == ["Overnight flight", "Term", "Trip"]


@pytest.mark.parametrize("viewer", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin"])
def test_all_day_events_keep_their_dates_for_every_viewer(calendar, viewer):
    store(
        calendar,
        RemoteEvent(provider_event_id="holiday", title="Holiday", start=date(2025, 3, 26), end=date(2025, 3, 27)),
    )
    zone = ZoneInfo(viewer)
    occurrences = occurrences_in_window(
        connection_ids=[calendar.pk],
        start=datetime(2025, 3, 24, tzinfo=zone),
        end=datetime(2025, 3, 31, tzinfo=zone),
        zone=zone,
    )
    assert [(o.start_date, o.end_date, o.all_day) for o in occurrences] == [
        (date(2025, 3, 26), date(2025, 3, 27), True)
    ]


def test_an_all_day_event_outside_the_viewers_week_is_not_shown_even_near_the_edge(calendar):
    store(
        calendar,
        RemoteEvent(provider_event_id="sunday", title="Sunday", start=date(2025, 3, 23), end=date(2025, 3, 24)),
    )
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    occurrences = occurrences_in_window(
        connection_ids=[calendar.pk],
        start=datetime(2025, 3, 24, tzinfo=kiritimati),
        end=datetime(2025, 3, 31, tzinfo=kiritimati),
        zone=kiritimati,
    )
    assert occurrences == []


def test_floating_times_are_read_on_the_viewers_clock(calendar):
    store(
        calendar,
        # Floating: a wall-clock time in no zone.
        RemoteEvent(
            provider_event_id="gym",
            title="Gym",
            start=datetime(2025, 3, 25, 7),  # noqa: DTZ001
            end=datetime(2025, 3, 25, 8),  # noqa: DTZ001
        ),
    )
    for viewer in ("Europe/Berlin", "America/Los_Angeles"):
        zone = ZoneInfo(viewer)
        occurrences = occurrences_in_window(
            connection_ids=[calendar.pk],
            start=datetime(2025, 3, 24, tzinfo=zone),
            end=datetime(2025, 3, 31, tzinfo=zone),
            zone=zone,
        )
        assert [(o.start.hour, o.start.tzinfo) for o in occurrences] == [(7, zone)]


def test_an_all_day_series_expands_on_dates(calendar):
    store(
        calendar,
        RemoteEvent(
            provider_event_id="birthday",
            title="Birthday",
            start=date(2000, 3, 27),
            end=date(2000, 3, 28),
            recurrence=("RRULE:FREQ=YEARLY",),
        ),
    )
    assert [(o.start_date, o.all_day) for o in week(calendar)] == [(date(2025, 3, 27), True)]


def test_the_query_count_is_the_same_for_one_and_for_fifteen_calendars(owner):
    def count_for(n: int) -> int:
        calendars = [make_connection(make_account(owner, external_id=f"{n}-{i}")) for i in range(n)]
        for index, calendar in enumerate(calendars):
            weekly_standup(calendar, provider_event_id=f"standup-{index}")
            store(
                calendar,
                RemoteEvent(
                    provider_event_id=f"standup-{index}-moved",
                    start=datetime(2025, 3, 26, 11, tzinfo=BERLIN),
                    end=datetime(2025, 3, 26, 12, tzinfo=BERLIN),
                    timezone="Europe/Berlin",
                    master_id=f"standup-{index}",
                    original_start=datetime(2025, 3, 26, 9, tzinfo=BERLIN),
                ),
            )
            store(
                calendar, RemoteEvent(provider_event_id=f"one-{index}", start=date(2025, 3, 25), end=date(2025, 3, 26))
            )
        with CaptureQueriesContext(db_connection) as queries:
            found = occurrences_in_window(
                connection_ids=[c.pk for c in calendars], start=WEEK_START, end=WEEK_END, zone=BERLIN
            )
        assert len(found) == n * 7  # six standups (one moved) and one all-day event per calendar
        return len(queries)

    assert count_for(1) == count_for(15) == 2


def index_conditions(plan: str) -> list[tuple[str, str]]:
    """(index, its Index Cond) for each index scan of an EXPLAIN."""
    lines = [line.strip() for line in plan.splitlines()]
    found = []
    for number, line in enumerate(lines):
        if "Index Scan using " in line:
            index = line.split("Index Scan using ", 1)[1].split(" ", 1)[0]
            condition = next((ln for ln in lines[number + 1 : number + 3] if ln.startswith("Index Cond:")), "")
            found.append((index, condition.replace('"', "")))
    return found


def test_every_branch_of_the_window_query_is_bounded_by_an_index(planner_prefers_indexes, calendar):
    weekly_standup(calendar)
    window = rows_near_window([calendar.pk], WEEK_START, WEEK_END)
    assert isinstance(window, RawQuerySet)  # on PostgreSQL: the hand-written SQL
    with db_connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {window.raw_query}", window.params)
        scans = index_conditions("\n".join(line for (line,) in cursor.fetchall()))

    def bounded(index: str, *parts: str) -> bool:
        return any(name == index and all(part in condition for part in parts) for name, condition in scans)

    # Short events: `start` bounded on both sides, so the scan does not read every past event.
    assert bounded("calendar_events_connection_date_range_idx", "start >=", "start <"), scans
    assert bounded("calendar_events_long_events_idx", "end >="), scans
    # Series masters: only those still running (or endless), however long ago they began.
    assert bounded("calendar_events_recurring_masters_idx", "recurrence_end IS NULL"), scans
    assert bounded("calendar_events_recurring_masters_idx", "recurrence_end >="), scans
