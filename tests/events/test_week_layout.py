"""The week view's layout (events.week): overlap columns, events across midnight and the week's edges,
the all-day row, and a DST week, from occurrences as the selector hands them over."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

from events.models import CalendarEvent
from events.selectors import Occurrence
from events.week import MIN_BLOCK_MINUTES, week_layout, week_start_for

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=BERLIN)  # Tuesday
_ids = count(1)


def timed(title: str, start: datetime, minutes: int) -> Occurrence:
    event = CalendarEvent(pk=next(_ids), title=title, connection_id=1)
    end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(BERLIN)  # real minutes, not wall-clock ones
    return Occurrence(event=event, start=start, end=end, all_day=False)


def all_day(title: str, first: date, days: int) -> Occurrence:
    event = CalendarEvent(pk=next(_ids), title=title, connection_id=1, all_day=True)
    start = datetime(first.year, first.month, first.day, tzinfo=BERLIN)
    return Occurrence(event=event, start=start, end=start + timedelta(days=days), all_day=True)


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def layout(*occurrences: Occurrence, start: date = MONDAY, moment: datetime = NOW):
    return week_layout(occurrences, start=start, zone=BERLIN, moment=moment)


def blocks_of(week, day: int) -> dict[str, tuple[int, int, int, int]]:
    return {
        block.occurrence.event.title: (block.top, block.bottom, block.column, block.columns)
        for block in week.days[day].blocks
    }


def test_it_starts_the_week_on_the_persons_first_weekday():
    assert week_start_for(date(2026, 11, 26), 0) == date(2026, 11, 23)  # Monday start
    assert week_start_for(date(2026, 11, 26), 6) == date(2026, 11, 22)  # Sunday start
    assert week_start_for(date(2026, 11, 22), 6) == date(2026, 11, 22)
    assert week_start_for(date(2026, 11, 21), 5) == date(2026, 11, 21)  # Saturday start


def test_overlapping_events_share_the_width_and_none_is_hidden():
    week = layout(
        timed("A", at(24, 9), 60),
        timed("B", at(24, 9, 30), 60),
        timed("C", at(24, 10), 30),  # starts when A ends: takes A's column again
        timed("D", at(24, 13), 30),  # a group of its own
    )
    assert blocks_of(week, 1) == {
        "A": (540, 600, 0, 2),
        "B": (570, 630, 1, 2),
        "C": (600, 630, 0, 2),
        "D": (780, 810, 0, 1),
    }


def test_three_at_once_take_three_columns():
    week = layout(*(timed(name, at(25, 14), 45) for name in "XYZ"))
    assert sorted(blocks_of(week, 2).values()) == [(840, 885, 0, 3), (840, 885, 1, 3), (840, 885, 2, 3)]


def test_a_short_event_is_drawn_tall_enough_and_overlap_counts_what_is_drawn():
    week = layout(timed("Ping", at(26, 8), 5), timed("Pong", at(26, 8, 10), 5))
    assert blocks_of(week, 3) == {
        "Ping": (480, 480 + MIN_BLOCK_MINUTES, 0, 2),
        "Pong": (490, 490 + MIN_BLOCK_MINUTES, 1, 2),
    }


def test_an_overnight_event_shows_on_both_days():
    week = layout(timed("Flight", at(24, 22), 8 * 60))
    tuesday, wednesday = week.days[1].blocks, week.days[2].blocks
    assert (tuesday[0].top, tuesday[0].bottom, tuesday[0].continues_after) == (1320, 1440, True)
    assert (wednesday[0].top, wednesday[0].bottom, wednesday[0].continues_before) == (0, 360, True)
    assert all(not day.blocks for index, day in enumerate(week.days) if index not in (1, 2))


def test_events_crossing_the_weeks_edges_show_on_the_days_they_touch():
    sunday_night = timed("Late", at(22, 23), 120)  # the Sunday before, into Monday
    trip = all_day("Trip", date(2026, 11, 20), 5)  # Friday to Tuesday
    holiday = all_day("Holiday", date(2026, 11, 28), 4)  # Saturday into next week
    week = layout(sunday_night, trip, holiday)
    assert blocks_of(week, 0) == {"Late": (0, 60, 0, 1)}
    bars = {bar.occurrence.event.title: bar for lane in week.lanes for bar in lane}
    assert (bars["Trip"].first, bars["Trip"].span, bars["Trip"].continues_before) == (0, 2, True)
    assert (bars["Holiday"].first, bars["Holiday"].span, bars["Holiday"].continues_after) == (5, 2, True)
    assert not bars["Trip"].continues_after and not bars["Holiday"].continues_before


def test_all_day_bars_stack_in_lanes_without_overlapping():
    week = layout(
        all_day("Conference", date(2026, 11, 24), 3),  # Tue-Thu
        all_day("Birthday", date(2026, 11, 25), 1),  # Wed: under the conference
        all_day("Holiday", date(2026, 11, 27), 1),  # Fri: fits beside the conference
        timed("Retreat", at(23, 12), 49 * 60),  # a timed event of over a day goes to the all-day row
    )
    lanes = [[(bar.occurrence.event.title, bar.first, bar.span) for bar in lane] for lane in week.lanes]
    assert lanes == [[("Retreat", 0, 3), ("Holiday", 4, 1)], [("Conference", 1, 3)], [("Birthday", 2, 1)]]
    assert all(not day.blocks for day in week.days)


def test_an_all_day_event_of_one_day_covers_that_day_only():
    week = layout(all_day("Holiday", date(2026, 11, 26), 1))
    (lane,) = week.lanes
    assert [(bar.first, bar.span) for bar in lane] == [(3, 1)]


def test_a_dst_week_keeps_events_on_their_wall_clock_hour():
    # Berlin leaves summer time on Sunday 25 October 2026 at 03:00 (back to 02:00): that day has 25 hours.
    monday = date(2026, 10, 19)
    week = layout(
        timed("Saturday 09:00", at(24, 9, month=10), 60),
        timed("Sunday 09:00", at(25, 9, month=10), 60),
        timed("Across the change", at(25, 1, 30, month=10), 120),  # 01:30 CEST to 02:30 CET
        start=monday,
        moment=at(25, 12, month=10),
    )
    assert blocks_of(week, 5)["Saturday 09:00"][:2] == (540, 600)
    sunday = blocks_of(week, 6)
    assert sunday["Sunday 09:00"][:2] == (540, 600)
    assert sunday["Across the change"][:2] == (90, 150)  # two real hours, 01:30 to 02:30 on the clock
    assert (week.now_day, week.now_minute) == (6, 720)


def test_today_and_the_current_time_are_marked_only_in_this_week():
    week = layout()
    assert [day.is_today for day in week.days] == [False, True, False, False, False, False, False]
    assert (week.now_day, week.now_minute) == (1, 630)
    other = layout(start=MONDAY + timedelta(days=7))
    assert other.now_day is None and not any(day.is_today for day in other.days)


def test_a_zero_length_event_shows_on_the_day_it_starts():
    week = layout(timed("Reminder", at(27, 0), 0))
    assert blocks_of(week, 4) == {"Reminder": (0, MIN_BLOCK_MINUTES, 0, 1)}
    assert not week.days[3].blocks
