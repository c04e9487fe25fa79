"""One series must not cost a page seconds (events.recurrence): every frequency restarts near the window,
and a window shows at most so many occurrences of a series a day and in all, saying when it left some out.

The work is measured by what dateutil produces (a counter around its rule iterator), never by time.
"""
# ruff: noqa: DTZ001 - series expand on naive wall-clock times by design

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrule
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connections.providers.base import RemoteEvent
from events.mapping import event_row
from events.recurrence import (
    MAX_STEPS_PER_WINDOW,
    Limits,
    RecurrenceError,
    Series,
    busiest_day,
    expand,
    occurrences_between,
    ruleset,
    series_end,
    split_series,
)
from events.selectors import occurrences_in_window
from events.week import local_midnight
from tests.events.test_week_view import at, this_monday, week_url
from tests.factories import make_account, make_connection, make_event

BERLIN = ZoneInfo("Europe/Berlin")
UNLIMITED = Limits(per_day=10**9, per_window=10**9)
LIMITS = Limits(per_day=48, per_window=500)
# The two rules of the issue: 5,760 occurrences a day, and an hourly series begun in 1901.
DENSE = "RRULE:FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24)))
DENSE += ";BYMINUTE=" + ",".join(map(str, range(60))) + ";BYSECOND=0,15,30,45"
HOURLY_SINCE_1901 = "RRULE:FREQ=HOURLY"


class Steps:
    """How many occurrences dateutil's rules produced, found by wrapping its iterator (a library, not ours)."""

    count = 0


@pytest.fixture
def rule_steps(monkeypatch) -> type[Steps]:
    original = rrule._iter  # type: ignore[attr-defined]  # the private generator every iteration runs

    def counted(self: rrule) -> Iterator[datetime]:
        for moment in original(self):
            Steps.count += 1
            yield moment

    monkeypatch.setattr(rrule, "_iter", counted)
    Steps.count = 0
    return Steps


def series(*lines: str, first: datetime, minutes: int = 30) -> Series:
    return Series(start=first.astimezone(UTC), duration=timedelta(minutes=minutes), lines=lines, zone=BERLIN)


WEEK = (datetime(2026, 3, 2), datetime(2026, 3, 9))


def test_a_rule_with_thousands_of_occurrences_a_day_gives_a_day_its_limit_and_walks_little(rule_steps):
    dense = series(DENSE, first=datetime(2025, 6, 1, 9, tzinfo=BERLIN), minutes=1)
    found = expand(dense, *WEEK, limits=LIMITS)
    days: dict[date, int] = {}
    for moment, _ in found.occurrences:
        days[moment.date()] = days.get(moment.date(), 0) + 1
    assert found.truncated
    # Each day of the week its first 48 (00:00:00, 00:00:15, ...); Sunday's last three reach into the week.
    assert days == {date(2026, 3, 1): 3, **{date(2026, 3, day): 48 for day in range(2, 9)}}
    assert found.occurrences[3] == (datetime(2026, 3, 2), timedelta(minutes=1))
    assert found.occurrences[4][0] == datetime(2026, 3, 2, 0, 0, 15)
    # A restart at each day's midnight: about 49 a day, not 5,760 (the whole week was 40,320).
    assert rule_steps.count < 8 * 60, rule_steps.count


def test_an_hourly_series_begun_in_1901_is_not_walked_from_1901(rule_steps):
    hourly = series(HOURLY_SINCE_1901, first=datetime(1901, 1, 1, 0, 30, tzinfo=BERLIN))
    found = expand(hourly, *WEEK, limits=LIMITS)
    assert [moment for moment, _ in found.occurrences[:2]] == [datetime(2026, 3, 2, 0, 30), datetime(2026, 3, 2, 1, 30)]
    assert len(found.occurrences) == 7 * 24 and not found.truncated
    assert rule_steps.count < 7 * 24 + 10, rule_steps.count  # ~1.1 million from 1901


def test_the_window_limit_ends_the_expansion_and_says_so(rule_steps):
    dense = series(DENSE, first=datetime(2026, 3, 1, 12, tzinfo=BERLIN), minutes=1)
    found = expand(dense, *WEEK, limits=Limits(per_day=1000, per_window=100))
    assert len(found.occurrences) == 100 and found.truncated
    assert rule_steps.count < 200


def test_a_series_within_its_limits_is_whole_and_not_marked():
    every_half_hour = "RRULE:FREQ=DAILY;BYMINUTE=15,45;BYHOUR=" + ",".join(map(str, range(24)))
    half_hourly = series(every_half_hour, first=datetime(2026, 1, 1, 0, 15, tzinfo=BERLIN))
    found = expand(half_hourly, *WEEK, limits=LIMITS)
    # Every half hour of the week, and the one of Sunday 23:45 that reaches into it.
    assert len(found.occurrences) == 7 * 48 + 1 and not found.truncated


def test_a_counted_rule_with_one_occurrence_a_period_jumps_to_the_window_and_keeps_its_count(rule_steps):
    # FREQ=HOURLY;INTERVAL=5 from 1901: the n-th occurrence is DTSTART + 5h * n, so COUNT is kept exactly.
    first = datetime(1901, 1, 1, 3, 0)
    hours_to_window = int((datetime(2026, 3, 2) - first) / timedelta(hours=1))
    count = hours_to_window // 5 + 10  # the last one falls in the window's second day
    counted = series(f"RRULE:FREQ=HOURLY;INTERVAL=5;COUNT={count}", first=first.replace(tzinfo=BERLIN))
    walls = [moment for moment, _ in expand(counted, *WEEK, limits=LIMITS).occurrences]
    expected = [first + timedelta(hours=5 * n) for n in range(count)]
    assert walls == [moment for moment in expected if WEEK[0] - timedelta(minutes=30) < moment < WEEK[1]]
    assert walls[-1] == expected[-1] and len(walls) == 9
    assert rule_steps.count < 50


def test_a_counted_rule_that_cannot_jump_is_walked_only_so_far_and_says_so(rule_steps):
    counted = series("RRULE:FREQ=HOURLY;BYMINUTE=0,30;COUNT=100000000", first=datetime(1901, 1, 1, 0, 0, tzinfo=BERLIN))
    found = expand(counted, *WEEK, limits=LIMITS)
    assert found.truncated and found.occurrences == ()
    assert rule_steps.count <= MAX_STEPS_PER_WINDOW + 10


def test_a_series_listing_tens_of_thousands_of_dates_gives_a_window_only_those_near_it():
    first = datetime(2020, 1, 1, 9)
    listed = ",".join((first + timedelta(hours=n)).strftime("%Y%m%dT%H%M%SZ") for n in range(60_000))  # ~1 MB
    flood = series("RRULE:FREQ=WEEKLY", f"RDATE:{listed}", f"EXDATE:{listed}", first=first.replace(tzinfo=BERLIN))
    last = first + timedelta(hours=59_999)  # November 2026
    rules = vars(ruleset(flood, near=last + timedelta(days=7)))
    assert len(rules["_rdate"]) == len(rules["_exdate"]) == 0  # every listed date is before the window
    rules = vars(ruleset(flood, near=last - timedelta(days=1)))
    assert 0 < len(rules["_rdate"]) <= 48 and 0 < len(rules["_exdate"]) <= 48  # the last day or so, of 60,000


def test_cutting_a_long_counted_series_is_refused_after_a_bounded_walk(rule_steps):
    counted = series("RRULE:FREQ=HOURLY;COUNT=100000000", first=datetime(1901, 1, 1, 0, 0, tzinfo=BERLIN))
    with pytest.raises(RecurrenceError):  # the edit says "change all occurrences instead"
        split_series(counted, datetime(2026, 3, 2, 9, tzinfo=UTC), all_day=False)
    assert rule_steps.count <= MAX_STEPS_PER_WINDOW + 10  # not 1.1 million hours
    short = series("RRULE:FREQ=HOURLY;COUNT=10", first=datetime(2026, 3, 2, 0, 0, tzinfo=BERLIN))
    assert split_series(short, datetime(2026, 3, 2, 3, tzinfo=BERLIN).astimezone(UTC), all_day=False)[1] == (
        "RRULE:FREQ=HOURLY;COUNT=7",
    )


def test_the_busiest_day_of_a_rule_is_known_from_its_parts():
    first = datetime(2026, 1, 1, 9, tzinfo=BERLIN)
    assert busiest_day(series(DENSE, first=first)) == 24 * 60 * 4
    assert busiest_day(series("RRULE:FREQ=WEEKLY;BYDAY=MO,TU", first=first)) == 1
    assert busiest_day(series("RRULE:FREQ=HOURLY;INTERVAL=5", first=first)) == 5
    assert busiest_day(series("RRULE:FREQ=HOURLY;BYMINUTE=0,30", first=first)) == 48
    assert busiest_day(series("RRULE:FREQ=HOURLY;BYHOUR=8,9,10", first=first)) == 3
    assert busiest_day(series("RRULE:FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0,30", first=first)) == 4


def test_the_end_of_a_dense_series_with_an_until_is_found_without_walking_it(rule_steps):
    dense = series(DENSE.replace("RRULE:", "RRULE:UNTIL=20270101T000000Z;"), first=datetime(2026, 1, 1, tzinfo=BERLIN))
    # Too many to walk; the UNTIL (01:00 in Berlin) plus the length bounds it, so windows after it skip the series.
    assert series_end(dense) == datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    assert rule_steps.count < 6000


FREQUENCIES = {
    # frequency: (how far back the series may begin, the window's length) - what a full walk can check.
    "YEARLY": (timedelta(days=365 * 60), timedelta(days=800)),
    "MONTHLY": (timedelta(days=365 * 20), timedelta(days=120)),
    "WEEKLY": (timedelta(days=3000), timedelta(days=30)),
    "DAILY": (timedelta(days=3000), timedelta(days=8)),
    "HOURLY": (timedelta(days=200), timedelta(days=3)),
}

RULES = st.fixed_dictionaries(
    {
        "FREQ": st.sampled_from(sorted(FREQUENCIES)),
        "INTERVAL": st.integers(1, 7),
        "BYMONTH": st.sampled_from(["", "", "2", "1,6,12"]),
        "BYMONTHDAY": st.sampled_from(["", "", "1", "15,-1", "29"]),
        "BYDAY": st.sampled_from(["", "", "MO", "MO,WE,FR", "TU,SU", "-1FR", "2MO"]),
        "BYHOUR": st.sampled_from(["", "", "9", "0,13,23"]),
        "BYMINUTE": st.sampled_from(["", "", "0", "5,45"]),
        "BYSECOND": st.sampled_from(["", "", "0", "10,50"]),
        "BYSETPOS": st.sampled_from(["", "", "1", "-1", "2"]),
        "WKST": st.sampled_from(["", "SU", "TH"]),
        "END": st.sampled_from(["", "", "COUNT=40", "COUNT=3000", "UNTIL=20260310T000000Z"]),
    }
)


@given(rule=RULES, back=st.floats(0, 1), window_at=st.floats(-0.1, 1.2), exdate=st.booleans())
@hypothesis_settings(max_examples=300, deadline=None)
def test_every_frequency_restarted_near_a_window_yields_what_walking_from_its_start_yields(
    rule, back, window_at, exdate
):
    if rule["FREQ"] == "HOURLY" or not (rule["BYDAY"] or rule["BYMONTHDAY"]):
        rule = {**rule, "BYSETPOS": ""}  # refused under hourly; and it needs a set to pick from
    text = "RRULE:" + ";".join(f"{name}={value}" if name != "END" else value for name, value in rule.items() if value)
    reach, length = FREQUENCIES[rule["FREQ"]]
    first = datetime(2026, 3, 1, 9, 30, 20) - reach * back
    low = datetime(2026, 3, 1) - reach * window_at
    high = low + length
    lines = (text, f"EXDATE;TZID=Europe/Berlin:{low.strftime('%Y%m%dT%H%M%S')}") if exdate else (text,)
    subject = series(*lines, first=first.replace(tzinfo=BERLIN), minutes=45)
    try:
        ruleset(subject)
    except RecurrenceError:  # a rule dateutil refuses (BYHOUR an INTERVAL never reaches): refused alike
        with pytest.raises(RecurrenceError):
            list(occurrences_between(subject, low, high, limits=UNLIMITED))
        return
    reference = [
        moment
        for moment in ruleset(subject).between(low - subject.duration, high, inc=True)
        if moment < high and moment + subject.duration > low
    ]
    assert list(occurrences_between(subject, low, high, limits=UNLIMITED)) == reference


# --- At ingest and through the pages ---------------------------------------------------------------------


def test_a_rule_denser_than_a_page_shows_is_noted_at_ingest_and_its_end_stays_bounded(rule_steps):
    remote = RemoteEvent(
        provider_event_id="dense",
        start=datetime(2026, 1, 1, 9, tzinfo=BERLIN),
        end=datetime(2026, 1, 1, 9, 1, tzinfo=BERLIN),
        timezone="Europe/Berlin",
        recurrence=(DENSE + ";UNTIL=20261231T230000Z",),
    )
    row = event_row(remote)
    assert "the series repeats up to 5,760 times a day: at most 48 a day are shown" in row.problems
    assert row.fields["provider_data"]["problems"] == row.problems  # what the run's notes and the page read
    assert row.fields["recurrence_end"] == datetime(2026, 12, 31, 23, 1, tzinfo=UTC)  # kept, and bounded
    assert rule_steps.count < 6000
    ordinary = event_row(RemoteEvent(**{**vars(remote), "recurrence": ("RRULE:FREQ=HOURLY;BYHOUR=9,17",)}))
    assert ordinary.problems == []


@pytest.fixture
def hostile_week(owner):
    """A week holding both rules of the issue beside an ordinary event."""
    calendar = make_connection(make_account(owner))
    monday = this_monday()
    year_ago = at(monday - timedelta(days=365), 9)
    dense = make_event(calendar, start=year_ago, end=year_ago + timedelta(minutes=1), recurrence=DENSE, title="Dense")
    since_1901 = datetime(1901, 1, 1, 0, 30, tzinfo=BERLIN)
    hourly = make_event(
        calendar, start=since_1901, end=since_1901 + timedelta(minutes=20), recurrence=HOURLY_SINCE_1901, title="Hourly"
    )
    ordinary = make_event(calendar, start=at(monday + timedelta(days=2), 11), title="Ordinary")
    return SimpleNamespace(monday=monday, dense=dense, hourly=hourly, ordinary=ordinary)


def shown(page: str, event) -> int:
    return page.count(f'data-event="{event.pk}"')


def test_the_week_page_with_hostile_series_shows_each_within_its_limits_and_walks_little(
    owner_client, hostile_week, rule_steps
):
    page = owner_client.get(week_url(hostile_week.monday)).content.decode()
    assert shown(page, hostile_week.ordinary) == 1
    assert shown(page, hostile_week.hourly) == 7 * 24  # within the limits: whole
    assert 7 * 48 <= shown(page, hostile_week.dense) <= 7 * 48 + 1  # 48 a day (Sunday's last may reach in)
    # Each rule restarted near the week: not 1.1 million hours since 1901, nor 5,760 a day.
    assert rule_steps.count < 2000, rule_steps.count


def test_occurrences_cut_by_the_limits_say_so_and_whole_ones_do_not(hostile_week):
    monday = local_midnight(hostile_week.monday, BERLIN)
    found = occurrences_in_window(
        connection_ids=[hostile_week.dense.connection_id], start=monday, end=monday + timedelta(days=7), zone=BERLIN
    )
    marks = {(o.event.title, o.truncated) for o in found}
    assert marks == {("Dense", True), ("Hourly", False), ("Ordinary", False)}


def test_the_details_of_one_occurrence_of_a_hostile_series_walk_little(owner_client, hostile_week, rule_steps):
    wednesday = hostile_week.monday + timedelta(days=2)
    for event, moment in ((hostile_week.dense, at(wednesday, 0, 0)), (hostile_week.hourly, at(wednesday, 14, 30))):
        rule_steps.count = 0
        body = owner_client.get(reverse("event_detail", args=[event.pk]), {"at": moment.isoformat()}).content.decode()
        assert f"{wednesday:%A} {wednesday.day} {wednesday:%B %Y}, {moment:%H:%M}" in body, event.title
        assert rule_steps.count < 1000, (event.title, rule_steps.count)
