"""RDATE periods (RFC 5545 3.8.5.2, 5 item 2): `RDATE;VALUE=PERIOD:start/end` or `start/PT3H` gives that
occurrence a length of its own, which the occurrence, the series' end and the window query all use."""
# ruff: noqa: DTZ001 - series expand on naive wall-clock times by design

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from connections.providers.base import RemoteEvent
from connections.providers.ical.parsing import parse_resource
from events.models import CalendarEvent
from events.recurrence import RecurrenceError, Series, expand, series_end
from events.selectors import occurrences_in_window
from tests.events.test_event_occurrences import store
from tests.events.test_sync_caldav import our_occurrences, provider_occurrences, vcalendar, vevent
from tests.factories import make_account, make_connection

BERLIN = ZoneInfo("Europe/Berlin")
FIRST = datetime(2025, 3, 18, 9, tzinfo=BERLIN)  # a Tuesday; weekly, an hour long, three times
RULE = "RRULE:FREQ=WEEKLY;COUNT=3"
# Thursday 20 March 09:00-12:00 in Berlin written in UTC, and Saturday 22 March 14:00 for half an hour.
WITH_END = "RDATE;VALUE=PERIOD:20250320T080000Z/20250320T110000Z"
WITH_DURATION = "RDATE;VALUE=PERIOD;TZID=Europe/Berlin:20250322T140000/PT30M"
# Wednesday 19 March 09:00 for thirty days: it outlasts the rule's last occurrence (1 April).
MONTH_LONG = "RDATE;VALUE=PERIOD;TZID=Europe/Berlin:20250319T090000/P30D"


def berlin_series(*lines: str) -> Series:
    return Series(start=FIRST.astimezone(UTC), duration=timedelta(hours=1), lines=lines, zone=BERLIN)


def test_a_period_with_an_end_or_a_duration_gives_its_occurrence_its_own_length():
    found = expand(berlin_series(RULE, WITH_END, WITH_DURATION), datetime(2025, 3, 1), datetime(2025, 4, 30))
    assert found.occurrences == (
        (datetime(2025, 3, 18, 9), timedelta(hours=1)),
        (datetime(2025, 3, 20, 9), timedelta(hours=3)),
        (datetime(2025, 3, 22, 14), timedelta(minutes=30)),
        (datetime(2025, 3, 25, 9), timedelta(hours=1)),
        (datetime(2025, 4, 1, 9), timedelta(hours=1)),
    )


def test_the_series_ends_when_its_longest_reaching_occurrence_does():
    assert series_end(berlin_series(RULE)) == datetime(2025, 4, 1, 8, tzinfo=UTC)
    # 19 March 09:00 plus thirty days: 18 April 09:00 in Berlin (CEST by then; days are nominal), after the
    # rule's last occurrence.
    assert series_end(berlin_series(RULE, MONTH_LONG)) == datetime(2025, 4, 18, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ((datetime(2025, 4, 10), datetime(2025, 4, 12)), [datetime(2025, 3, 19, 9)]),  # reaches in from March
        ((datetime(2025, 4, 18, 9), datetime(2025, 4, 20)), []),  # it ends as the window begins
        ((datetime(2025, 3, 10), datetime(2025, 3, 19, 9)), [datetime(2025, 3, 18, 9)]),  # it begins as it ends
    ],
)
def test_a_window_holds_a_period_that_overlaps_it_and_not_one_that_only_touches_it(window, expected):
    found = expand(berlin_series(RULE, MONTH_LONG), *window)
    assert [moment for moment, _ in found.occurrences] == expected


def test_an_unreadable_period_is_a_recurrence_error():
    with pytest.raises(RecurrenceError):
        expand(
            berlin_series(RULE, "RDATE;VALUE=PERIOD:20250320T080000Z/PTXH"), datetime(2025, 3, 1), datetime(2025, 4, 1)
        )


# --- stored, and read for a window --------------------------------------------------------------------

WEEK_START = datetime(2025, 4, 7, tzinfo=BERLIN)  # a Monday, a week after the rule's last occurrence
WEEK_END = WEEK_START + timedelta(days=7)


@pytest.fixture
def calendar(owner):
    return make_connection(make_account(owner))


def month_long_series(calendar) -> CalendarEvent:
    return store(
        calendar,
        RemoteEvent(
            provider_event_id="series",
            title="Series",
            start=FIRST,
            end=FIRST + timedelta(hours=1),
            timezone="Europe/Berlin",
            recurrence=(RULE, MONTH_LONG),
        ),
    )


def week(calendar):
    return occurrences_in_window(connection_ids=[calendar.pk], start=WEEK_START, end=WEEK_END, zone=BERLIN)


def test_the_window_query_reads_a_series_whose_long_period_reaches_into_the_week(calendar):
    master = month_long_series(calendar)
    assert master.recurrence_end == datetime(2025, 4, 18, 7, tzinfo=UTC)
    assert [(o.start, o.end) for o in week(calendar)] == [
        (datetime(2025, 3, 19, 9, tzinfo=BERLIN), datetime(2025, 4, 18, 9, tzinfo=BERLIN))
    ]


def test_an_exception_replacing_a_long_period_replaces_it_in_the_week(calendar):
    month_long_series(calendar)
    store(
        calendar,
        RemoteEvent(
            provider_event_id="series-moved",
            title="Moved",
            start=datetime(2025, 4, 8, 10, tzinfo=BERLIN),
            end=datetime(2025, 4, 8, 11, tzinfo=BERLIN),
            timezone="Europe/Berlin",
            master_id="series",
            original_start=datetime(2025, 3, 19, 9, tzinfo=BERLIN),
        ),
    )
    assert [o.event.title for o in week(calendar)] == ["Moved"]


# --- a CalDAV resource, to the week page and the details ---------------------------------------------
# Radicale cannot take one (its vobject 0.9.9 refuses PERIOD values on PUT), so the resource goes through
# the CalDAV adapter's own parser and the sync's mapping, as a fetched resource would.

PERIODS_RESOURCE = vcalendar(
    vevent(
        "periods",
        "SUMMARY:Workshop",
        "DTSTART;TZID=Europe/Berlin:20250318T090000",
        "DTEND;TZID=Europe/Berlin:20250318T100000",
        RULE,
        WITH_END,
        WITH_DURATION,
    ),
    extra="X-WR-TIMEZONE:Europe/Berlin\r\n",
)


def test_a_caldav_series_with_period_rdates_shows_each_occurrence_with_its_own_length(calendar, owner_client):
    (remote,) = parse_resource("/work/periods.ics", PERIODS_RESOURCE, default_zone="Europe/Berlin").events
    # The parser keeps the periods (the end, read on the series' clock, and the duration as written).
    assert [line for line in remote.recurrence if "PERIOD" in line] == [
        "RDATE;VALUE=PERIOD;TZID=Europe/Berlin:20250320T090000/20250320T120000,20250322T140000/PT30M"
    ]
    master = store(calendar, remote)
    start, end = datetime(2025, 3, 17, tzinfo=UTC), datetime(2025, 3, 24, tzinfo=UTC)
    assert our_occurrences(calendar, start, end) == provider_occurrences([PERIODS_RESOURCE], start, end)

    page = owner_client.get(reverse("week", kwargs={"day": date(2025, 3, 17).isoformat()})).content.decode()
    blocks = re.findall(r'data-top="(\d+)" data-bottom="(\d+)"', page)
    assert blocks == [("540", "600"), ("540", "720"), ("840", "870")]  # Tue 9-10, Thu 9-12, Sat 14:00-14:30
    body = owner_client.get(
        reverse("event_detail", args=[master.pk]), {"at": datetime(2025, 3, 20, 9, tzinfo=BERLIN).isoformat()}
    ).content.decode()
    assert "Thursday 20 March 2025, 09:00 \u2013 12:00" in body
