"""Graph's patternedRecurrence as an RRULE: every pattern and range type, checked against the fake's own expansion.

The Microsoft fake expands series the way Graph's recurrencePattern documentation describes (and Outlook
behaves: the 31st falls on a shorter month's last day), written independently of the conversion; dateutil's
expansion of the converted RRULE must give the same dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from connections.providers.microsoft.recurrence import (
    UnsupportedRecurrence,
    first_occurrence,
    occurrences_between,
    overlapping,
    rrule_line,
)
from fakes.microsoft_calendar import EventStore, occurrence_dates

BERLIN = ZoneInfo("Europe/Berlin")


def recurrence(pattern: dict, span: dict | None = None) -> dict:
    return {"pattern": pattern, "range": span or {"type": "noEnd", "startDate": "2025-01-06"}}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"type": "daily", "interval": 1}, "RRULE:FREQ=DAILY"),
        ({"type": "daily", "interval": 3}, "RRULE:FREQ=DAILY;INTERVAL=3"),
        (
            {"type": "weekly", "interval": 2, "daysOfWeek": ["tuesday", "monday"], "firstDayOfWeek": "monday"},
            "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU;WKST=MO",
        ),
        ({"type": "weekly", "interval": 1, "daysOfWeek": ["friday"]}, "RRULE:FREQ=WEEKLY;BYDAY=FR;WKST=SU"),
        ({"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 15}, "RRULE:FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15"),
        (
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1",
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["thursday"], "index": "second"},
            "RRULE:FREQ=MONTHLY;BYDAY=2TH",
        ),
        (
            {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["friday"], "index": "last"},
            "RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR",
        ),
        (
            {
                "type": "relativeMonthly",
                "interval": 1,
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                "index": "first",
            },
            "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 15, "month": 3},
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15",
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
            "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1",
        ),
        (
            {"type": "relativeYearly", "interval": 3, "daysOfWeek": ["thursday"], "index": "fourth", "month": 11},
            "RRULE:FREQ=YEARLY;INTERVAL=3;BYMONTH=11;BYDAY=4TH",
        ),
        (
            # Graph's own default values for properties a pattern type does not use.
            {"type": "daily", "interval": 1, "month": 0, "dayOfMonth": 0, "daysOfWeek": [], "index": "first"},
            "RRULE:FREQ=DAILY",
        ),
    ],
)
def test_it_converts_every_pattern_type(pattern, expected):
    assert rrule_line(recurrence(pattern), zone=BERLIN) == expected


@pytest.mark.parametrize(
    ("index", "ordinal"), [("first", "1"), ("second", "2"), ("third", "3"), ("fourth", "4"), ("last", "-1")]
)
def test_it_converts_every_week_index(index, ordinal):
    pattern = {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["wednesday"], "index": index}
    assert rrule_line(recurrence(pattern), zone=BERLIN) == f"RRULE:FREQ=MONTHLY;BYDAY={ordinal}WE"


def test_it_ends_an_end_date_range_at_the_last_second_of_that_day_in_the_recurrence_zone():
    span = {"type": "endDate", "startDate": "2025-03-03", "endDate": "2025-03-31"}
    line = rrule_line(recurrence({"type": "daily", "interval": 1}, span), zone=BERLIN)
    assert line == "RRULE:FREQ=DAILY;UNTIL=20250331T215959Z"  # 23:59:59 CEST
    span = {"type": "endDate", "startDate": "2025-01-06", "endDate": "2025-01-31"}
    line = rrule_line(recurrence({"type": "daily", "interval": 1}, span), zone=ZoneInfo("America/Los_Angeles"))
    assert line == "RRULE:FREQ=DAILY;UNTIL=20250201T075959Z"


def test_an_all_day_series_ends_on_a_date():
    span = {"type": "endDate", "startDate": "2025-01-06", "endDate": "2025-01-31"}
    assert (
        rrule_line(recurrence({"type": "daily", "interval": 1}, span), zone=None) == "RRULE:FREQ=DAILY;UNTIL=20250131"
    )


def test_a_numbered_range_counts_and_no_end_runs_for_ever():
    span = {"type": "numbered", "startDate": "2025-01-06", "numberOfOccurrences": 10}
    assert rrule_line(recurrence({"type": "daily", "interval": 1}, span), zone=BERLIN) == "RRULE:FREQ=DAILY;COUNT=10"
    span = {"type": "noEnd", "startDate": "2025-01-06", "endDate": "0001-01-01", "numberOfOccurrences": 0}
    assert rrule_line(recurrence({"type": "daily", "interval": 1}, span), zone=BERLIN) == "RRULE:FREQ=DAILY"


@pytest.mark.parametrize(
    ("pattern", "span"),
    [
        ({"type": "hourly", "interval": 1}, None),
        ({"type": "weekly", "interval": 1, "daysOfWeek": []}, None),
        ({"type": "weekly", "interval": 1, "daysOfWeek": ["funday"]}, None),
        ({"type": "daily", "interval": 0}, None),
        ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32}, None),
        ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 1}, None),
        ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "fifth"}, None),
        ({"type": "daily", "interval": 1}, {"type": "numbered", "numberOfOccurrences": 0}),
        ({"type": "daily", "interval": 1}, {"type": "endDate", "endDate": "soon"}),
        ({"type": "daily", "interval": 1}, {"type": "whenever"}),
    ],
)
def test_it_refuses_what_it_cannot_express(pattern, span):
    with pytest.raises(UnsupportedRecurrence):
        rrule_line(recurrence(pattern, span), zone=BERLIN)


# --- expansion against the fake ------------------------------------------------------------------------


def dateutil_dates(line: str, first: date, until: date) -> list[date]:
    rule = rrulestr(line.removeprefix("RRULE:"), dtstart=datetime.combine(first, time()))
    return [
        moment.date()
        for moment in rule.between(datetime.combine(first, time()), datetime.combine(until, time()), inc=True)
    ]


SERIES = [
    ({"type": "daily", "interval": 3}, {"type": "numbered", "numberOfOccurrences": 20}),
    ({"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday", "friday"]}, {"type": "noEnd"}),
    (
        {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"], "firstDayOfWeek": "sunday"},
        {"type": "noEnd"},
    ),
    (
        {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"], "firstDayOfWeek": "monday"},
        {"type": "noEnd"},
    ),
    ({"type": "weekly", "interval": 3, "daysOfWeek": ["thursday"]}, {"type": "endDate", "endDate": "2025-09-30"}),
    ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}, {"type": "noEnd"}),
    ({"type": "absoluteMonthly", "interval": 2, "dayOfMonth": 30}, {"type": "numbered", "numberOfOccurrences": 9}),
    ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"}, {"type": "noEnd"}),
    (
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["saturday", "sunday"], "index": "second"},
        {"type": "noEnd"},
    ),
    ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2}, {"type": "noEnd"}),
    (
        {"type": "relativeYearly", "interval": 2, "daysOfWeek": ["tuesday"], "index": "first", "month": 11},
        {"type": "noEnd"},
    ),
]


@pytest.mark.parametrize(("pattern", "span"), SERIES)
def test_the_rrule_yields_the_occurrences_graph_would(pattern, span):
    first, until = date(2025, 1, 6), date(2033, 12, 31)
    graph = {"pattern": pattern, "range": {"startDate": first.isoformat(), **span}}
    expected = list(occurrence_dates(graph, until))
    assert expected, "the series has occurrences"
    assert dateutil_dates(rrule_line(graph, zone=None), expected[0], until) == expected


def test_a_timed_series_keeps_its_wall_clock_time_across_daylight_saving_like_the_fake():
    store = EventStore()
    start = datetime(2025, 3, 24, 9, 0)  # a Monday; CEST begins on 30 March  # noqa: DTZ001
    graph = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "endDate", "endDate": "2025-04-14"},
    }
    master = store.add(
        "calendar",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="W. Europe Standard Time",
        recurrence=graph,
        fields={},
    )
    fake = [occurrence_start for _, occurrence_start, _ in master.occurrences(date(2025, 12, 31))]
    line = rrule_line(master.recurrence or {}, zone=BERLIN)
    ours = list(
        occurrences_between(
            line, start.replace(tzinfo=BERLIN), datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
        )
    )
    assert ours == fake
    assert [moment.astimezone(UTC).hour for moment in ours if isinstance(moment, datetime)] == [8, 7, 7, 7]


def test_a_series_starting_on_a_day_its_pattern_skips_starts_at_its_first_occurrence():
    line = "RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU"
    monday = datetime(2025, 1, 6, 9, tzinfo=BERLIN)
    assert first_occurrence(line, monday) == datetime(2025, 1, 7, 9, tzinfo=BERLIN)
    assert first_occurrence(line, date(2025, 1, 6)) == date(2025, 1, 7)
    assert first_occurrence("RRULE:FREQ=DAILY;UNTIL=20250101", date(2025, 1, 6)) is None


def test_overlapping_includes_an_occurrence_that_began_before_the_window():
    line = "RRULE:FREQ=DAILY"
    start = datetime(2025, 1, 1, 23, tzinfo=UTC)
    window = (datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 5, tzinfo=UTC))
    starts = list(overlapping(line, start, timedelta(hours=2), *window))
    assert starts == [datetime(2025, 1, d, 23, tzinfo=UTC) for d in (2, 3, 4)]
    all_day = list(overlapping(line, date(2025, 1, 1), timedelta(days=1), *window))
    assert all_day == [date(2025, 1, 3), date(2025, 1, 4)]
