"""A write to a CalDAV resource holding a value icalendar cannot read (another client stored it) works on what
it can read and never crashes on the rest: icalendar raises on a broken value's `.dt`."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connections.providers.ical import editing
from connections.providers.ical.properties import readable_time
from connections.providers.ical.series_moves import SeriesMove
from connections.providers.ical.tolerant import read_calendar

BERLIN = ZoneInfo("Europe/Berlin")

SERIES_WITH_A_BROKEN_EXDATE = b"""\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//another client//EN\r
BEGIN:VEVENT\r
UID:broken-exdate@example.com\r
DTSTAMP:20260301T080000Z\r
DTSTART;TZID=Europe/Berlin:20260323T090000\r
DTEND;TZID=Europe/Berlin:20260323T093000\r
RRULE:FREQ=DAILY;COUNT=10\r
EXDATE;TZID=Europe/Berlin:2026-03-25 09:00\r
EXDATE;TZID=Europe/Berlin:20260326T090000\r
SUMMARY:Stand-up\r
END:VEVENT\r
END:VCALENDAR\r
"""


def master():
    return editing.master_of(read_calendar(SERIES_WITH_A_BROKEN_EXDATE))


def test_cancelling_an_occurrence_reads_past_an_exdate_it_cannot_read():
    vevent = master()
    assert editing.is_excluded(vevent, datetime(2026, 3, 26, 9, tzinfo=BERLIN))
    assert not editing.is_excluded(vevent, datetime(2026, 3, 27, 9, tzinfo=BERLIN))
    assert editing.exclude(vevent, datetime(2026, 3, 27, 9, tzinfo=BERLIN))
    assert editing.is_excluded(vevent, datetime(2026, 3, 27, 9, tzinfo=BERLIN))


def test_a_broken_start_or_end_reads_as_missing_rather_than_raising():
    vevent = master()
    broken = vevent.get("EXDATE")[0]
    assert readable_time(broken) is None
    assert readable_time(vevent.get("DTSTART")) == datetime(2026, 3, 23, 9, tzinfo=BERLIN)


def test_moving_the_series_moves_what_it_can_read_and_keeps_the_unreadable_value_as_it_came():
    vevent = master()
    start = datetime(2026, 3, 23, 9, tzinfo=BERLIN)
    move = SeriesMove.between(start, start + timedelta(hours=1))
    assert move is not None
    move.move_series(vevent)
    text = vevent.to_ical().decode()
    assert "2026-03-25 09:00" in text  # the other client's text, written back untouched
    assert "20260326T100000" in text  # the readable one moved with the series
