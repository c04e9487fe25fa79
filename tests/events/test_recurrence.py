"""Expanding stored series (events.recurrence): wall-clock rules across DST, mixed-zone values, ends."""
# ruff: noqa: DTZ001 - series expand on naive wall-clock times by design

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrule, rrulestr
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from events.recurrence import RecurrenceError, Series, never_occurs, occurrences_between, ruleset, series_end

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def berlin_series(*lines: str, first: datetime | None = None) -> Series:
    first = first or datetime(2025, 3, 18, 9, 0, tzinfo=BERLIN)  # a Tuesday, before the March DST change
    return Series(start=first.astimezone(UTC), duration=timedelta(hours=1), lines=lines, zone=BERLIN)


def test_it_keeps_the_wall_clock_time_across_the_dst_change():
    series = berlin_series("RRULE:FREQ=WEEKLY;COUNT=3")
    walls = list(occurrences_between(series, datetime(2025, 3, 1), datetime(2025, 4, 30)))
    assert walls == [datetime(2025, 3, 18, 9), datetime(2025, 3, 25, 9), datetime(2025, 4, 1, 9)]
    instants = [wall.replace(tzinfo=BERLIN).astimezone(UTC).hour for wall in walls]
    assert instants == [8, 8, 7]  # 09:00 in Berlin is 08:00 UTC in winter; from 30 March 07:00 UTC


def test_it_reads_an_until_in_utc_on_the_series_wall_clock():
    # 08:00Z on 25 March is 09:00 in Berlin (winter time until the 30th): the 25th is the last occurrence.
    series = berlin_series("RRULE:FREQ=WEEKLY;UNTIL=20250325T080000Z")
    walls = list(occurrences_between(series, datetime(2025, 3, 1), datetime(2025, 5, 1)))
    assert walls == [datetime(2025, 3, 18, 9), datetime(2025, 3, 25, 9)]
    # Read naively as a Berlin wall-clock time, 08:00 would end the series before the 25th's 09:00.
    series = berlin_series("RRULE:FREQ=WEEKLY;UNTIL=20250325T075959Z")
    assert list(occurrences_between(series, datetime(2025, 3, 1), datetime(2025, 5, 1))) == [datetime(2025, 3, 18, 9)]


def test_it_ends_a_date_until_at_the_end_of_that_day():
    series = berlin_series("RRULE:FREQ=DAILY;UNTIL=20250320")
    assert len(list(occurrences_between(series, datetime(2025, 3, 1), datetime(2025, 4, 1)))) == 3


@pytest.mark.parametrize(
    "exdate",
    [
        "EXDATE;TZID=Europe/Berlin:20250325T090000",
        "EXDATE:20250325T080000Z",  # the same occurrence in UTC (CET, UTC+1, until 30 March)
        "EXDATE;TZID=America/New_York:20250325T040000",
        "EXDATE;VALUE=DATE:20250325",
    ],
)
def test_it_removes_an_exdate_written_in_any_zone(exdate):
    series = berlin_series("RRULE:FREQ=WEEKLY;COUNT=3", exdate)
    walls = list(occurrences_between(series, datetime(2025, 3, 1), datetime(2025, 4, 30)))
    assert walls == [datetime(2025, 3, 18, 9), datetime(2025, 4, 1, 9)]


def test_it_adds_rdates_and_keeps_dtstart_as_the_first_occurrence():
    # DTSTART on a Tuesday with a Thursday-only rule: DTSTART still counts (RFC 5545), plus one RDATE.
    series = berlin_series("RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=2", "RDATE;TZID=Europe/Berlin:20250329T120000")
    walls = list(occurrences_between(series, datetime(2025, 3, 1), datetime(2025, 4, 30)))
    assert walls == [
        datetime(2025, 3, 18, 9),
        datetime(2025, 3, 20, 9),
        datetime(2025, 3, 27, 9),
        datetime(2025, 3, 29, 12),
    ]


def test_it_expands_all_day_series_on_dates():
    series = Series(
        start=datetime(2024, 2, 29, tzinfo=UTC), duration=timedelta(days=1), lines=("RRULE:FREQ=YEARLY;COUNT=5",)
    )
    walls = list(occurrences_between(series, datetime(2024, 1, 1), datetime(2034, 1, 1)))
    # dateutil, like RFC 5545, skips years without 29 February rather than moving the date.
    assert walls == [datetime(2024, 2, 29), datetime(2028, 2, 29), datetime(2032, 2, 29)]


def test_it_finds_occurrences_that_began_before_the_window_and_still_run():
    series = Series(
        start=datetime(2025, 1, 6, 22, tzinfo=UTC),
        duration=timedelta(hours=10),
        lines=("RRULE:FREQ=WEEKLY",),
        zone=ZoneInfo("UTC"),
    )
    walls = list(occurrences_between(series, datetime(2025, 1, 14), datetime(2025, 1, 15)))
    assert walls == [datetime(2025, 1, 13, 22)]  # the overnight occurrence reaches into the window


def test_the_end_of_a_counted_series_is_the_end_of_its_last_occurrence():
    series = berlin_series("RRULE:FREQ=WEEKLY;COUNT=3")
    assert series_end(series) == datetime(2025, 4, 1, 8, tzinfo=UTC)  # 09:00-10:00 CEST on 1 April


def test_a_series_without_an_end_has_none():
    assert series_end(berlin_series("RRULE:FREQ=WEEKLY;BYDAY=TU")) is None


def test_a_series_with_more_occurrences_than_we_count_is_treated_as_endless():
    assert series_end(berlin_series("RRULE:FREQ=DAILY;COUNT=100000")) is None


def test_a_sparse_counted_series_that_runs_for_centuries_is_treated_as_endless():
    # Monday 29 February comes round about every 28 years: 4,000 of them would take dateutil to the year 9999.
    assert series_end(berlin_series("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;COUNT=4000")) is None
    # ...while a few of them still give a real end.
    assert series_end(berlin_series("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;COUNT=2")) == datetime(
        2072,
        2,
        29,
        9,
        tzinfo=UTC,  # the 2044 and 2072 ones; 09:00-10:00 CET
    )


IMPOSSIBLE_RULES = [
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=HOURLY;BYMONTH=4,6,9,11;BYMONTHDAY=31",
    "FREQ=WEEKLY;BYMONTH=6;BYWEEKNO=1",
    "FREQ=YEARLY;BYYEARDAY=1;BYMONTH=7",
    "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6",
    "FREQ=DAILY;BYSETPOS=2",
    "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",  # from 2025: 2025, 2029, ... are never leap years
    "FREQ=MONTHLY;BYMONTHDAY=1,2,3;BYDAY=MO;BYSETPOS=2",  # at most one Monday among the first three days
]

POSSIBLE_RULES = [
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",  # next in 2044
    "FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=29;BYSETPOS=1",  # 2028
    "FREQ=MONTHLY;BYDAY=5FR;BYMONTH=2",  # a fifth Friday in February: leap years that start on Thursday or Friday
    "FREQ=DAILY;BYDAY=1MO",  # an ordinal on a daily rule means every Monday
    "FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=-1",
    "FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH",
]


def parsed(rule: str) -> rrule:
    result = rrulestr(rule, dtstart=datetime(2025, 3, 18, 9))
    assert isinstance(result, rrule)
    return result


@pytest.mark.parametrize("rule", IMPOSSIBLE_RULES)
def test_a_rule_that_never_matches_is_recognised(rule):
    assert never_occurs(parsed(rule))


@pytest.mark.parametrize("rule", POSSIBLE_RULES)
def test_a_rare_but_real_rule_is_kept(rule):
    assert not never_occurs(parsed(rule))


def test_a_series_whose_rule_never_matches_is_its_first_occurrence_and_its_rdates():
    series = berlin_series("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "RDATE;TZID=Europe/Berlin:20250401T090000")
    assert vars(ruleset(series))["_rrule"] == []  # left out: dateutil would search for it until the year 9999
    walls = list(occurrences_between(series, datetime(2025, 1, 1), datetime(2026, 1, 1)))
    assert walls == [datetime(2025, 3, 18, 9), datetime(2025, 4, 1, 9)]


@pytest.mark.parametrize(
    "line",
    [
        "RRULE:FREQ=MINUTELY",
        "RRULE:FREQ=SECONDLY;COUNT=3",
        "RRULE:FREQ=HOURLY;BYSETPOS=2",
        "RRULE:FREQ=YEARLY;BYEASTER=0",
    ],
)
def test_rules_no_calendar_offers_are_refused(line):
    with pytest.raises(RecurrenceError):
        ruleset(berlin_series(line))


@pytest.mark.parametrize("line", ["RRULE:FREQ=SOMETIMES", "EXDATE:tomorrow", "not a content line", "DESCRIPTION:x"])
def test_unreadable_recurrence_raises_a_recurrence_error(line):
    with pytest.raises(RecurrenceError):
        list(occurrences_between(berlin_series(line), datetime(2025, 1, 1), datetime(2026, 1, 1)))


def test_new_york_series_across_the_november_change():
    first = datetime(2025, 10, 27, 9, 30, tzinfo=NEW_YORK)
    series = Series(
        start=first.astimezone(UTC), duration=timedelta(minutes=30), lines=("RRULE:FREQ=WEEKLY;COUNT=3",), zone=NEW_YORK
    )
    walls = list(occurrences_between(series, datetime(2025, 10, 1), datetime(2025, 12, 1)))
    assert [wall.replace(tzinfo=NEW_YORK).astimezone(UTC).hour for wall in walls] == [13, 14, 14]


RULE_PARTS = st.fixed_dictionaries(
    {
        "FREQ": st.sampled_from(["DAILY", "WEEKLY"]),
        "INTERVAL": st.integers(1, 5),
        "BYDAY": st.sampled_from(["", "MO", "MO,WE,FR", "TU,SU", "SA"]),
        "UNTIL": st.sampled_from(["", "20290301T000000Z", "20260315"]),
        "BYSETPOS": st.sampled_from(["", "1", "-1"]),
        "WKST": st.sampled_from(["", "SU"]),
    }
)


@given(
    parts=RULE_PARTS,
    began_days_ago=st.integers(0, 3000),
    window_from_days=st.integers(-30, 400),
    exdate=st.booleans(),
)
@hypothesis_settings(max_examples=150, deadline=None)
def test_a_window_of_a_long_running_series_is_the_same_as_walking_it_from_its_start(
    parts, began_days_ago, window_from_days, exdate
):
    # The expansion restarts daily and weekly rules near the window; a plain dateutil walk from DTSTART,
    # with nothing restarted, is the reference.
    if parts["BYSETPOS"] and not parts["BYDAY"]:
        parts = {**parts, "BYSETPOS": ""}  # BYSETPOS needs a set to pick from
    rule = "RRULE:" + ";".join(f"{name}={value}" for name, value in parts.items() if value)
    first = datetime(2026, 3, 1, 9, 30, tzinfo=BERLIN) - timedelta(days=began_days_ago)
    lines = (rule, f"EXDATE;TZID=Europe/Berlin:{(first + timedelta(days=began_days_ago)).strftime('%Y%m%dT%H%M%S')}")
    series = Series(
        start=first.astimezone(UTC), duration=timedelta(minutes=45), lines=lines if exdate else (rule,), zone=BERLIN
    )
    low = datetime(2026, 3, 1, 0, 0) + timedelta(days=window_from_days)
    high = low + timedelta(days=8)
    reference = [
        moment
        for moment in ruleset(series).between(low - series.duration, high, inc=True)
        if moment < high and moment + series.duration > low
    ]
    assert list(occurrences_between(series, low, high)) == reference
