"""Turning one CalDAV resource (iCalendar text) into RemoteEvents: `connections.providers.ical.parsing`."""
# ruff: noqa: DTZ001 - floating times are naive by design

from __future__ import annotations

import gc
import signal
import textwrap
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from connections.providers.ical.parsing import override_id, parse_resource
from connections.providers.ical.tolerant import ICalendarError, read_calendar
from connections.providers.ical.zones import iana_name

HREF = "/olive/work/event.ics"
BERLIN = ZoneInfo("Europe/Berlin")

# A VTIMEZONE with Central European rules under a name no zone database knows (Outlook writes these).
CUSTOM_CET = """\
BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
"""

# Offsets no real zone has.
CUSTOM_ODD = """\
BEGIN:VTIMEZONE
TZID:Odd Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0417
TZOFFSETTO:+0317
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0317
TZOFFSETTO:+0417
RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU
END:DAYLIGHT
END:VTIMEZONE
"""


def ics(body: str, *, head: str = "") -> str:
    """A VCALENDAR around `body`, with CRLF line ends as servers send them."""
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//calsync tests//EN\n" + head + textwrap.dedent(body)
    return (text.rstrip("\n") + "\nEND:VCALENDAR\n").replace("\n", "\r\n")


def vevent(*lines: str) -> str:
    return "BEGIN:VEVENT\n" + "".join(line + "\n" for line in lines) + "END:VEVENT\n"


def only(text: str, **kwargs):
    parsed = parse_resource(HREF, text, **kwargs)
    assert len(parsed.events) == 1, parsed
    return parsed.events[0]


# -- times and zones -------------------------------------------------------------------------------------


def test_it_reads_a_timed_event_in_an_iana_zone():
    event = only(
        ics(
            vevent(
                "UID:abc-123",
                "DTSTAMP:20260105T080000Z",
                "DTSTART;TZID=Europe/Berlin:20260105T090000",
                "DTEND;TZID=Europe/Berlin:20260105T100000",
                "SUMMARY:Stand-up",
                "DESCRIPTION:Line one\\nLine two\\, with a comma",
                "LOCATION:Room 4",
                "SEQUENCE:3",
                "LAST-MODIFIED:20260104T120000Z",
                "TRANSP:OPAQUE",
            )
        ),
        etag='"etag-1"',
    )
    assert event.provider_event_id == HREF
    assert (event.start, event.end) == (datetime(2026, 1, 5, 9, tzinfo=BERLIN), datetime(2026, 1, 5, 10, tzinfo=BERLIN))
    assert (event.timezone, event.etag, event.ical_uid) == ("Europe/Berlin", '"etag-1"', "abc-123")
    assert (event.title, event.description, event.location) == (
        "Stand-up",
        "Line one\nLine two, with a comma",
        "Room 4",
    )
    assert (event.status, event.master_id, event.original_start, event.recurrence) == ("confirmed", "", None, ())
    assert event.provider_data == {
        "sequence": 3,
        "last_modified": "2026-01-04T12:00:00+00:00",
        "transparency": "OPAQUE",
    }
    assert event.problems == ()


# ical/tolerant.py silences this warning for the process; pytest resets warning filters for each test.
@pytest.mark.filterwarnings("ignore::icalendar.error.GloballyUniqueTZIDGuessed")
@pytest.mark.parametrize(
    "tzid", ["/mozilla.org/20050126_1/Europe/Berlin", "W. Europe Standard Time", "europe/berlin", '"Europe/Berlin"']
)
def test_vendor_windows_and_oddly_spelled_tzids_name_their_iana_zone(tzid):
    event = only(ics(vevent("UID:1", f"DTSTART;TZID={tzid}:20260105T090000", f"DTEND;TZID={tzid}:20260105T100000")))
    assert (event.start, event.timezone, event.problems) == (
        datetime(2026, 1, 5, 9, tzinfo=BERLIN),
        "Europe/Berlin",
        (),
    )


def test_an_iana_tzid_wins_over_the_resources_own_vtimezone():
    odd_berlin = CUSTOM_ODD.replace("TZID:Odd Time", "TZID:Europe/Berlin")
    event = only(ics(vevent("UID:1", "DTSTART;TZID=Europe/Berlin:20260705T090000"), head=odd_berlin))
    assert event.start.utcoffset() == timedelta(hours=2)
    assert event.timezone == "Europe/Berlin"


def test_a_custom_vtimezone_is_read_as_the_iana_zone_with_the_same_rules():
    text = ics(
        vevent(
            "UID:1",
            "DTSTART;TZID=Customized Time Zone:20260706T090000",
            "DTEND;TZID=Customized Time Zone:20260706T100000",
            "RRULE:FREQ=WEEKLY",
            "EXDATE;TZID=Customized Time Zone:20260713T090000",
        ),
        head=CUSTOM_CET,
    )
    event = only(text)
    assert event.start.astimezone(UTC) == datetime(2026, 7, 6, 7, tzinfo=UTC)
    assert event.end.astimezone(UTC) == datetime(2026, 7, 6, 8, tzinfo=UTC)
    zone = event.timezone
    assert datetime(2026, 1, 1, tzinfo=ZoneInfo(zone)).utcoffset() == timedelta(hours=1)  # e.g. Europe/Budapest
    assert event.recurrence == ("RRULE:FREQ=WEEKLY", f"EXDATE;TZID={zone}:20260713T090000")
    assert event.problems == (f"time zone 'Customized Time Zone' read as {zone}",)


def test_a_custom_vtimezone_whose_name_names_a_city_prefers_that_city():
    named = CUSTOM_CET.replace("Customized Time Zone", "(UTC+01:00) Amsterdam, Berlin, Bern, Rome")
    event = only(
        ics(vevent("UID:1", 'DTSTART;TZID="(UTC+01:00) Amsterdam, Berlin, Bern, Rome":20260706T090000'), head=named)
    )
    assert event.timezone == "Europe/Amsterdam"


def test_a_custom_vtimezone_no_real_zone_matches_becomes_utc_instants():
    text = ics(
        vevent(
            "UID:1",
            "DTSTART;TZID=Odd Time:20260706T090000",
            "RRULE:FREQ=DAILY;COUNT=3",
            "EXDATE;TZID=Odd Time:20260707T090000",
        ),
        head=CUSTOM_ODD,
    )
    event = only(text)
    assert event.start == datetime(2026, 7, 6, 4, 43, tzinfo=UTC)  # 09:00 at +04:17
    assert event.timezone == "UTC"
    assert event.recurrence == ("RRULE:FREQ=DAILY;COUNT=3", "EXDATE:20260707T044300Z")
    assert event.problems == ("time zone 'Odd Time' matches no known zone: its times are kept in UTC",)


def test_one_resources_custom_zone_does_not_leak_into_anothers():
    # icalendar caches VTIMEZONE-built zones by TZID for the whole process; two calendars may mean two
    # different things by the same made-up name.
    first = only(ics(vevent("UID:1", "DTSTART;TZID=Customized Time Zone:20260706T090000"), head=CUSTOM_CET))
    odd = CUSTOM_ODD.replace("TZID:Odd Time", "TZID:Customized Time Zone")
    second = only(ics(vevent("UID:2", "DTSTART;TZID=Customized Time Zone:20260706T090000"), head=odd))
    assert first.start.utcoffset() == timedelta(hours=2)
    assert second.start == datetime(2026, 7, 6, 4, 43, tzinfo=UTC)


def test_an_unknown_tzid_is_read_in_the_calendars_zone_and_noted():
    text = ics(vevent("UID:1", "DTSTART;TZID=Mars/Olympus_Mons:20260105T090000"))

    in_calendar_zone = only(text, default_zone="America/New_York")
    assert in_calendar_zone.start == datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("America/New_York"))
    assert in_calendar_zone.timezone == "America/New_York"
    assert in_calendar_zone.problems == ("unknown time zone 'Mars/Olympus_Mons': read as America/New_York",)

    without_one = only(text)
    assert (without_one.start, without_one.timezone) == (datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("UTC")), "UTC")
    assert without_one.problems == ("unknown time zone 'Mars/Olympus_Mons': read as UTC",)


def test_x_wr_timezone_moves_utc_and_floating_times_into_the_calendars_zone():
    text = ics(
        vevent(
            "UID:1",
            "DTSTART:20260105T080000Z",
            "DTEND:20260105T100000",
            "RRULE:FREQ=WEEKLY",
            "EXDATE:20260112T080000Z",
        ),
        head="X-WR-TIMEZONE:Europe/Berlin\n",
    )
    event = only(text)
    assert (event.start, event.end) == (datetime(2026, 1, 5, 9, tzinfo=BERLIN), datetime(2026, 1, 5, 10, tzinfo=BERLIN))
    assert event.timezone == "Europe/Berlin"
    assert event.recurrence == ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=Europe/Berlin:20260112T090000")


def test_an_unknown_x_wr_timezone_is_ignored_and_noted():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000"), head="X-WR-TIMEZONE:Nowhere/Special\n"))
    assert (event.start, event.timezone) == (datetime(2026, 1, 5, 9), "")
    assert event.problems == ("unknown calendar time zone 'Nowhere/Special' (X-WR-TIMEZONE) ignored",)


def test_floating_times_stay_naive_without_a_zone():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000", "DTEND:20260105T093000", "RRULE:FREQ=DAILY")))
    assert (event.start, event.end, event.timezone) == (datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 9, 30), "")


def test_utc_times_are_in_utc():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", "DTEND:20260105T100000Z")))
    assert (event.start, event.timezone) == (datetime(2026, 1, 5, 9, tzinfo=UTC), "UTC")


# -- ends ------------------------------------------------------------------------------------------------


def test_all_day_events_keep_their_dates_with_an_exclusive_end():
    event = only(ics(vevent("UID:1", "DTSTART;VALUE=DATE:20260105", "DTEND;VALUE=DATE:20260107")))
    assert (event.start, event.end, event.timezone, event.problems) == (date(2026, 1, 5), date(2026, 1, 7), "", ())


def test_a_date_with_a_tzid_is_still_a_date():
    event = only(ics(vevent("UID:1", "DTSTART;TZID=Europe/Berlin;VALUE=DATE:20260105")))
    assert (event.start, event.end, event.timezone) == (date(2026, 1, 5), date(2026, 1, 6), "")


def test_an_all_day_event_without_end_lasts_one_day():
    event = only(ics(vevent("UID:1", "DTSTART;VALUE=DATE:20260105")))
    assert (event.end, event.problems) == (date(2026, 1, 6), ())


def test_an_all_day_duration_counts_days():
    event = only(ics(vevent("UID:1", "DTSTART;VALUE=DATE:20260105", "DURATION:P2D")))
    assert event.end == date(2026, 1, 7)


def test_a_timed_event_without_end_ends_at_its_start_as_rfc_5545_says():
    event = only(ics(vevent("UID:1", "DTSTART;TZID=Europe/Berlin:20260105T090000")))
    assert (event.end, event.problems) == (event.start, ())


def test_a_duration_adds_days_on_the_wall_clock_and_hours_as_elapsed_time():
    # 28 March 2026 09:00 in Berlin plus a day is 29 March 09:00, though that day has 23 hours.
    day = only(ics(vevent("UID:1", "DTSTART;TZID=Europe/Berlin:20260328T090000", "DURATION:P1D")))
    assert day.end == datetime(2026, 3, 29, 9, tzinfo=BERLIN)
    hours = only(ics(vevent("UID:1", "DTSTART;TZID=Europe/Berlin:20260329T013000", "DURATION:PT90M")))
    # 00:30 UTC plus 90 minutes is 02:00 UTC, 04:00 summer time (not 03:00: the clock skipped an hour).
    assert hours.end == datetime(2026, 3, 29, 4, 0, tzinfo=BERLIN)


def test_an_end_before_the_start_is_moved_to_the_start_and_noted():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T100000Z", "DTEND:20260105T090000Z")))
    assert event.end == event.start
    assert event.problems == ("the event ends before it starts: no duration assumed",)


def test_an_all_day_event_ending_on_its_first_day_lasts_that_day_and_is_noted():
    event = only(ics(vevent("UID:1", "DTSTART;VALUE=DATE:20260105", "DTEND;VALUE=DATE:20260105")))
    assert event.end == date(2026, 1, 6)
    assert event.problems == ("the all-day event ends on or before its first day: one day assumed",)


def test_an_end_of_another_kind_is_converted_and_noted():
    event = only(ics(vevent("UID:1", "DTSTART;VALUE=DATE:20260105", "DTEND:20260107T120000Z")))
    assert event.end == date(2026, 1, 7)
    assert event.problems == ("DTEND is not the same kind of time as DTSTART: converted",)


# -- recurrence ------------------------------------------------------------------------------------------


SERIES = ics(
    vevent(
        "UID:series",
        "DTSTART;TZID=Europe/Berlin:20260106T090000",
        "DTEND;TZID=Europe/Berlin:20260106T093000",
        "RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20260331T080000Z",
        "EXDATE;TZID=Europe/Berlin:20260127T090000,20260203T090000",
        "EXDATE:20260210T080000Z",
        "RDATE;VALUE=DATE:20260212",
        "RDATE;VALUE=PERIOD:20260213T150000Z/PT2H",
        "SUMMARY:Review",
    )
    + vevent(
        "UID:series",
        "RECURRENCE-ID;TZID=Europe/Berlin:20260113T090000",
        "DTSTART;TZID=Europe/Berlin:20260114T110000",
        "DTEND;TZID=Europe/Berlin:20260114T113000",
        "SUMMARY:Review (moved)",
    )
    + vevent(
        "UID:series",
        "RECURRENCE-ID;TZID=Europe/Berlin:20260120T090000",
        "DTSTART;TZID=Europe/Berlin:20260120T090000",
        "DTEND;TZID=Europe/Berlin:20260120T093000",
        "STATUS:CANCELLED",
    )
)


def test_a_master_and_its_overrides_come_from_one_resource():
    parsed = parse_resource(HREF, SERIES, etag='"v7"')
    master, moved, cancelled = parsed.events

    assert master.provider_event_id == HREF
    assert master.recurrence == (
        "RRULE:FREQ=WEEKLY;UNTIL=20260331T080000Z;BYDAY=TU",
        "RDATE;VALUE=DATE:20260212",
        "RDATE;VALUE=PERIOD:20260213T150000Z/PT2H",
        "EXDATE;TZID=Europe/Berlin:20260127T090000,20260203T090000",
        "EXDATE:20260210T080000Z",
    )
    assert moved.provider_event_id == f"{HREF}#20260113T080000Z"
    assert (moved.master_id, moved.title, moved.status, moved.recurrence) == (HREF, "Review (moved)", "confirmed", ())
    assert moved.original_start == datetime(2026, 1, 13, 9, tzinfo=BERLIN)
    assert moved.start == datetime(2026, 1, 14, 11, tzinfo=BERLIN)
    assert cancelled.provider_event_id == f"{HREF}#20260120T080000Z"
    assert (cancelled.master_id, cancelled.status) == (HREF, "cancelled")
    assert {event.etag for event in parsed.events} == {'"v7"'}
    assert parsed.removed == ()


def test_an_all_day_series_names_its_occurrences_by_date():
    text = ics(
        vevent("UID:s", "DTSTART;VALUE=DATE:20260105", "RRULE:FREQ=DAILY;COUNT=5", "EXDATE;VALUE=DATE:20260106")
        + vevent("UID:s", "RECURRENCE-ID;VALUE=DATE:20260107", "DTSTART;VALUE=DATE:20260108", "SUMMARY:Later")
    )
    master, moved = parse_resource(HREF, text).events
    assert master.recurrence == ("RRULE:FREQ=DAILY;COUNT=5", "EXDATE;VALUE=DATE:20260106")
    assert (moved.provider_event_id, moved.original_start) == (f"{HREF}#20260107", date(2026, 1, 7))
    assert (moved.start, moved.end) == (date(2026, 1, 8), date(2026, 1, 9))


def test_a_floating_series_names_its_occurrences_without_a_zone():
    text = ics(
        vevent("UID:s", "DTSTART:20260105T090000", "RRULE:FREQ=DAILY")
        + vevent("UID:s", "RECURRENCE-ID:20260106T090000", "DTSTART:20260106T100000")
    )
    _, moved = parse_resource(HREF, text).events
    assert (moved.provider_event_id, moved.original_start) == (f"{HREF}#20260106T090000", datetime(2026, 1, 6, 9))


def test_an_override_without_a_start_takes_the_occurrence_it_replaces():
    text = ics(
        vevent("UID:s", "DTSTART:20260105T090000Z", "DTEND:20260105T100000Z", "RRULE:FREQ=DAILY")
        + vevent("UID:s", "RECURRENCE-ID:20260106T090000Z", "SUMMARY:Same time, new title")
    )
    _, override = parse_resource(HREF, text).events
    assert (override.start, override.end) == (datetime(2026, 1, 6, 9, tzinfo=UTC), datetime(2026, 1, 6, 10, tzinfo=UTC))
    assert override.problems == ("no start (DTSTART): the occurrence's original start is used",)


def test_a_cancelled_master_withdraws_the_whole_event():
    text = SERIES.replace("SUMMARY:Review\r\n", "SUMMARY:Review\r\nSTATUS:CANCELLED\r\n", 1)
    parsed = parse_resource(HREF, text)
    assert (parsed.events, parsed.removed) == ((), (HREF,))


def test_overrides_without_their_master_are_kept_under_the_href():
    # An invitation to one occurrence of someone else's series.
    text = ics(
        vevent(
            "UID:theirs",
            "RECURRENCE-ID:20260113T080000Z",
            "DTSTART:20260113T080000Z",
            "DTEND:20260113T090000Z",
            "SUMMARY:Just this one",
        )
    )
    (event,) = parse_resource(HREF, text).events
    assert (event.provider_event_id, event.master_id) == (f"{HREF}#20260113T080000Z", HREF)
    assert event.original_start == datetime(2026, 1, 13, 8, tzinfo=UTC)


def test_an_unreadable_rrule_is_dropped_and_noted():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", "RRULE:FREQ=SOMETIMES")))
    assert event.recurrence == ()
    assert event.problems == ("unreadable RRULE ignored",)


def test_an_override_with_an_unreadable_recurrence_id_is_left_out_and_noted():
    text = ics(
        vevent("UID:s", "DTSTART:20260105T090000Z", "RRULE:FREQ=DAILY")
        + vevent("UID:s", "RECURRENCE-ID:tomorrow", "DTSTART:20260106T100000Z")
    )
    (master,) = parse_resource(HREF, text).events
    assert "an occurrence was left out: unreadable RECURRENCE-ID" in master.problems


def test_override_ids_use_utc_dates_or_floating_times():
    assert override_id("/a.ics", datetime(2026, 1, 13, 9, tzinfo=BERLIN)) == "/a.ics#20260113T080000Z"
    assert override_id("/a.ics", date(2026, 1, 13)) == "/a.ics#20260113"
    assert override_id("/a.ics", datetime(2026, 1, 13, 9)) == "/a.ics#20260113T090000"


# -- components ------------------------------------------------------------------------------------------


def test_todos_and_journals_are_ignored():
    text = ics(
        "BEGIN:VTODO\nUID:t\nSUMMARY:Task\nEND:VTODO\n"
        + vevent("UID:e", "DTSTART:20260105T090000Z", "SUMMARY:Event")
        + "BEGIN:VJOURNAL\nUID:j\nSUMMARY:Note\nEND:VJOURNAL\n"
    )
    assert [event.title for event in parse_resource(HREF, text).events] == ["Event"]


def test_a_resource_without_events_is_reported_removed():
    parsed = parse_resource(HREF, ics("BEGIN:VTODO\nUID:t\nSUMMARY:Task\nEND:VTODO\n"))
    assert (parsed.events, parsed.removed) == ((), (HREF,))


def test_only_the_first_of_several_masters_is_kept():
    text = ics(vevent("UID:a", "DTSTART:20260105T090000Z", "SUMMARY:A") + vevent("UID:b", "DTSTART:20260106T090000Z"))
    event = only(text)
    assert event.title == "A"
    assert event.problems == ("1 more event(s) without RECURRENCE-ID ignored",)


# -- people and links ------------------------------------------------------------------------------------


def test_attendees_and_organizer_become_metadata():
    event = only(
        ics(
            vevent(
                "UID:1",
                "DTSTART:20260105T090000Z",
                'ORGANIZER;CN="Olive Owner":MAILTO:Olive@Example.com',
                "ATTENDEE;CN=Olive Owner;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:olive@example.com",
                'ATTENDEE;CN="Bea, B.";PARTSTAT=DECLINED:mailto:bea@example.com',
                "ATTENDEE;PARTSTAT=TENTATIVE;ROLE=OPT-PARTICIPANT:mailto:cy@example.com",
                "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dee@example.com",
                "ATTENDEE:mailto:eve@example.com",
                "ATTENDEE;CUTYPE=ROOM;EMAIL=room4@example.com;PARTSTAT=ACCEPTED:urn:uuid:0a1b2c",
            )
        ),
        owner_emails=["olive@example.com"],
    )
    assert event.metadata["organizer"] == {"email": "Olive@Example.com", "name": "Olive Owner", "self": True}
    assert event.metadata["attendees"] == [
        {
            "email": "olive@example.com",
            "name": "Olive Owner",
            "response": "accepted",
            "organizer": True,
            "optional": False,
        },
        {"email": "bea@example.com", "name": "Bea, B.", "response": "declined", "organizer": False, "optional": False},
        {"email": "cy@example.com", "name": "", "response": "tentative", "organizer": False, "optional": True},
        {"email": "dee@example.com", "name": "", "response": "needs_action", "organizer": False, "optional": False},
        {"email": "eve@example.com", "name": "", "response": "needs_action", "organizer": False, "optional": False},
        {"email": "room4@example.com", "name": "", "response": "accepted", "organizer": False, "optional": False},
    ]


def test_someone_elses_event_is_not_the_persons_own():
    event = only(
        ics(vevent("UID:1", "DTSTART:20260105T090000Z", "ORGANIZER:mailto:boss@example.com")),
        owner_emails=["olive@example.com"],
    )
    assert event.metadata == {"organizer": {"email": "boss@example.com", "name": "", "self": False}}


@pytest.mark.parametrize(
    ("lines", "link"),
    [
        (
            [
                "CONFERENCE;VALUE=URI;FEATURE=PHONE:tel:+1-555-0100",
                "CONFERENCE;VALUE=URI;FEATURE=AUDIO,VIDEO:https://video.example.net/room/7",
            ],
            "https://video.example.net/room/7",
        ),
        (["X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij"], "https://meet.google.com/abc-defg-hij"),
        (["URL:https://us02web.zoom.us/j/123456789?pwd=x"], "https://us02web.zoom.us/j/123456789?pwd=x"),
        (
            ["LOCATION:Teams: https://teams.microsoft.com/l/meetup-join/19%3ameeting"],
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting",
        ),
        (
            ["DESCRIPTION:Join at https://meet.google.com/xyz-abcd-efg. See you!"],
            "https://meet.google.com/xyz-abcd-efg",
        ),
        (["X-GOOGLE-CONFERENCE:javascript:alert(1)"], None),
        (["URL:https://example.org/concert"], None),
    ],
)
def test_the_conference_link_comes_from_the_first_place_that_has_one(lines, link):
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", *lines)))
    assert event.metadata.get("conference_url") == link


def test_a_plain_url_is_kept_as_provider_data():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", "URL:https://example.org/concert")))
    assert event.provider_data == {"url": "https://example.org/concert"}


# -- hostile and broken input ----------------------------------------------------------------------------


def test_markup_in_the_title_is_kept_as_text():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", "SUMMARY:<script>alert('x')</script><b>Hi</b>")))
    assert event.title == "<script>alert('x')</script><b>Hi</b>"


def test_a_huge_description_is_kept_whole():
    description = "A" * 1_000_000
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", f"DESCRIPTION:{description}")))
    assert event.description == description


def test_nul_characters_are_dropped():
    event = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", "SUMMARY:Lunch\x00 break")))
    assert event.title == "Lunch break"


def test_an_overlong_uid_is_shortened_and_noted():
    event = only(ics(vevent("UID:" + "u" * 2000, "DTSTART:20260105T090000Z")))
    assert len(event.ical_uid) == 1024
    assert event.problems == ("UID longer than 1024 characters, shortened",)


def test_an_event_without_a_start_cannot_be_read():
    with pytest.raises(ICalendarError, match="no start"):
        parse_resource(HREF, ics(vevent("UID:1", "SUMMARY:When?")))


def test_an_unreadable_start_cannot_be_read():
    with pytest.raises(ICalendarError, match="no start"):
        parse_resource(HREF, ics(vevent("UID:1", "DTSTART:next tuesday")))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "<html><body>502 Bad Gateway</body></html>",
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\n",  # cut off
        "BEGIN:VEVENT\r\nUID:1\r\nDTSTART:20260105T090000Z\r\nEND:VEVENT\r\n",  # no VCALENDAR
        "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",  # two of them
        "/etc/passwd",  # icalendar would read a one-line str naming a file
        b"\xff\xfe\x00garbage",
    ],
)
def test_text_that_is_not_icalendar_raises_a_reason(text):
    with pytest.raises(ICalendarError) as raised:
        parse_resource(HREF, text)
    assert len(str(raised.value)) < 200


# Lotus Notes / Domino (PRODID "-//Lotus Development Corporation//NONSGML Notes 9.0.1//EN_C") spell out the
# hour of each change (BYHOUR, BYMINUTE) and name zones their own way.
DOMINO_ZONE = """\
BEGIN:VTIMEZONE
TZID:W. Europe
BEGIN:STANDARD
DTSTART:19501029T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMINUTE=0;BYHOUR=3;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19500326T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMINUTE=0;BYHOUR=2;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""


def test_a_domino_time_zone_that_names_the_hour_of_its_changes_is_read():
    text = ics(
        vevent(
            "UID:0A1B2C3D4E5F-Lotus_Notes_Generated",
            "X-LOTUS-NOTESVERSION:2",
            "DTSTART;TZID=W. Europe:20260302T090000",
            "DTEND;TZID=W. Europe:20260302T100000",
            "RRULE:FREQ=WEEKLY;COUNT=6",
            "SUMMARY:Jour fixe",
        ),
        head="X-LOTUS-CHARSET:UTF-8\n" + DOMINO_ZONE,
    )
    event = only(text)
    assert event.start.astimezone(UTC) == datetime(2026, 3, 2, 8, tzinfo=UTC)  # 09:00 winter time
    zone = ZoneInfo(event.timezone)
    # The series expands on the zone's wall clock: after 29 March, 09:00 is 07:00 UTC.
    assert datetime(2026, 4, 6, 9, tzinfo=zone).astimezone(UTC) == datetime(2026, 4, 6, 7, tzinfo=UTC)
    assert event.recurrence == ("RRULE:FREQ=WEEKLY;COUNT=6",)
    assert event.problems == (f"time zone 'W. Europe' read as {event.timezone}",)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=SECONDLY",  # from 1601, hours for one conversion
        "FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA,SU",  # every day
        "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11;BYMINUTE=0,15,30,45",
        "FREQ=DAILY;BYMONTH=10;BYMONTHDAY=25",  # once a year, but walked day by day
    ],
)
def test_a_time_zone_too_costly_to_evaluate_is_read_as_the_calendars_zone_and_noted(rule):
    costly = CUSTOM_CET.replace("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", f"RRULE:{rule}")
    text = ics(
        vevent("UID:1", "DTSTART;TZID=Customized Time Zone:20260105T090000", "RRULE:FREQ=DAILY;COUNT=2"), head=costly
    )
    in_calendar_zone = only(text, default_zone="Europe/Berlin")
    assert in_calendar_zone.start == datetime(2026, 1, 5, 9, tzinfo=BERLIN)
    assert in_calendar_zone.timezone == "Europe/Berlin"
    assert in_calendar_zone.problems == (
        "time zone 'Customized Time Zone' has rules too costly to evaluate: read as Europe/Berlin",
    )
    without_one = only(text)
    assert (without_one.start, without_one.timezone) == (datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("UTC")), "UTC")


def test_a_costly_time_zone_that_names_its_iana_location_is_read_as_that_zone():
    costly = CUSTOM_CET.replace("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "RRULE:FREQ=SECONDLY").replace(
        "TZID:Customized Time Zone", "TZID:Customized Time Zone\nX-LIC-LOCATION:Europe/Paris"
    )
    event = only(ics(vevent("UID:1", "DTSTART;TZID=Customized Time Zone:20260105T090000"), head=costly))
    assert (event.start, event.timezone, event.problems) == (
        datetime(2026, 1, 5, 9, tzinfo=ZoneInfo("Europe/Paris")),
        "Europe/Paris",
        (),
    )


def series_with(*lines: str, alarm: str = "", head: str = "") -> str:
    """A daily series and one moved occurrence, both carrying `lines` (and `alarm` lines in a VALARM)."""
    reminder = f"BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:Soon\n{alarm}\nEND:VALARM" if alarm else ""
    master = ["UID:s", "DTSTART:20260105T090000Z", "DTEND:20260105T100000Z", "RRULE:FREQ=DAILY;COUNT=5"]
    moved = ["UID:s", "RECURRENCE-ID:20260106T090000Z", "DTSTART:20260106T110000Z", "DTEND:20260106T120000Z"]
    extra = [*lines, *([reminder] if reminder else [])]
    return ics(vevent(*master, "SUMMARY:Daily", *extra) + vevent(*moved, "SUMMARY:Moved", *extra), head=head)


@pytest.mark.parametrize(
    ("line", "note"),
    [
        ("DURATION:P1X", "unreadable DURATION ignored"),
        ("LAST-MODIFIED:2026", "unreadable LAST-MODIFIED ignored"),
        ("DTSTAMP:2026", "unreadable DTSTAMP ignored"),
        ("SEQUENCE:two", "unreadable SEQUENCE ignored"),
        ("DTEND:20260105T25", "unreadable DTEND ignored"),
        ("EXDATE:2026-01-07", "unreadable EXDATE ignored"),
        ("RDATE;VALUE=PERIOD:20260110T090000Z/PT1X", "unreadable RDATE ignored"),
        ("GEO:52.5;north", "unreadable GEO ignored"),
        ("CREATED:yesterday", "unreadable CREATED ignored"),
        ("PRIORITY:high", "unreadable PRIORITY ignored"),
    ],
)
def test_an_unreadable_value_costs_only_itself_and_is_noted(line, note):
    master, moved = parse_resource(HREF, series_with(line)).events
    assert (master.title, master.start, master.recurrence[0]) == (
        "Daily",
        datetime(2026, 1, 5, 9, tzinfo=UTC),
        "RRULE:FREQ=DAILY;COUNT=5",
    )
    assert (moved.title, moved.start, moved.master_id) == ("Moved", datetime(2026, 1, 6, 11, tzinfo=UTC), HREF)
    assert note in master.problems
    assert note in moved.problems


def test_what_can_be_read_beside_an_unreadable_value_is_kept():
    master, _ = parse_resource(
        HREF, series_with("DURATION:P1X", "LAST-MODIFIED:2026", "SEQUENCE:4", "TRANSP:TRANSPARENT")
    ).events
    # DTEND wins over the broken DURATION; the other values are read as ever.
    assert master.end == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert master.provider_data == {"sequence": 4, "transparency": "TRANSPARENT"}
    without_end = only(ics(vevent("UID:1", "DTSTART:20260105T090000Z", "DURATION:P1X")))
    assert (without_end.end, without_end.problems) == (without_end.start, ("unreadable DURATION ignored",))


@pytest.mark.parametrize(
    ("alarm", "note"),
    [
        ("TRIGGER:-PT1X", "unreadable TRIGGER in a reminder (VALARM) ignored"),
        ("TRIGGER:-PT15M\nREPEAT:twice\nDURATION:PT5M", "unreadable REPEAT in a reminder (VALARM) ignored"),
    ],
)
def test_an_unreadable_reminder_value_costs_nothing_but_a_note(alarm, note):
    master, moved = parse_resource(HREF, series_with(alarm=alarm)).events
    assert (master.title, moved.title) == ("Daily", "Moved")
    assert note in master.problems


@pytest.mark.parametrize(
    "change",
    [
        ("TZOFFSETTO:+0100", "TZOFFSETTO:+01"),
        ("DTSTART:16010101T030000", "DTSTART:1601"),
        ("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1XX"),
        ("TZID:Customized Time Zone", "TZID:Customized Time Zone\nLAST-MODIFIED:2026"),
    ],
)
def test_an_unreadable_time_zone_part_costs_the_zone_not_the_events(change):
    broken_zone = CUSTOM_CET.replace(*change)
    text = ics(
        vevent("UID:1", "DTSTART;TZID=Customized Time Zone:20260105T090000", "RRULE:FREQ=DAILY;COUNT=2", "SUMMARY:A"),
        head=broken_zone,
    )
    event = only(text, default_zone="Europe/Berlin")
    assert (event.title, event.start) == ("A", datetime(2026, 1, 5, 9, tzinfo=BERLIN))
    if "LAST-MODIFIED" in change[1]:  # a value the zone does not need: the zone itself is read
        assert event.problems == ("time zone 'Customized Time Zone' read as Europe/Budapest",)
    else:
        assert event.problems == ("unreadable time zone 'Customized Time Zone': read as Europe/Berlin",)


def test_an_unreadable_value_of_the_calendar_costs_nothing_but_a_note():
    text = series_with(head="LAST-MODIFIED:2026\nREFRESH-INTERVAL;VALUE=DURATION:P1X\n")
    master, moved = parse_resource(HREF, text).events
    assert (master.title, moved.title) == ("Daily", "Moved")
    assert master.problems == (
        "unreadable LAST-MODIFIED of the calendar ignored",
        "unreadable REFRESH-INTERVAL of the calendar ignored",
    )


def test_a_calendar_with_a_zone_that_cannot_be_evaluated_is_not_read_for_a_write():
    # Reading approximates such a zone's times (the calendar's zone); a write must not build on that.
    event = vevent("UID:1", "DTSTART;TZID=Customized Time Zone:20260105T090000")
    costly = CUSTOM_CET.replace("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "RRULE:FREQ=SECONDLY")
    broken = CUSTOM_CET.replace("TZOFFSETTO:+0100", "TZOFFSETTO:+01")
    for zone in (costly, broken):
        with pytest.raises(ICalendarError, match="cannot be evaluated"):
            read_calendar(ics(event, head=zone).encode())
    domino = ics(vevent("UID:1", "DTSTART;TZID=W. Europe:20260105T090000"), head=DOMINO_ZONE)
    start: Any = read_calendar(domino.encode()).walk("VEVENT")[0]["DTSTART"]
    assert start.dt.utcoffset() == timedelta(hours=1)


def test_a_calendar_read_for_a_write_keeps_unreadable_values_as_they_came():
    calendar = read_calendar(series_with("DURATION:P1X", alarm="TRIGGER:-PT1X").encode())
    written = calendar.to_ical().decode()
    assert "DURATION:P1X\r\n" in written
    assert "TRIGGER:-PT1X\r\n" in written


def test_old_style_time_zone_rules_are_still_read():
    # Lightning and old iCal wrote "the Sunday among the 25th to the 31st" instead of -1SU.
    old_style = CUSTOM_CET.replace("BYMONTH=10;BYDAY=-1SU", "BYMONTH=10;BYDAY=SU;BYMONTHDAY=25,26,27,28,29,30,31")
    event = only(ics(vevent("UID:1", "DTSTART;TZID=Customized Time Zone:20261026T090000"), head=old_style))
    assert event.start.astimezone(UTC) == datetime(2026, 10, 26, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tzid", "name"),
    [("Europe/Berlin", "Europe/Berlin"), ("Eastern Standard Time", "America/New_York"), ("Custom", ""), ("", "")],
)
def test_iana_name(tzid, name):
    assert iana_name(tzid) == name


def test_a_workers_time_limit_is_never_swallowed_as_an_unreadable_resource():
    # Celery's soft time limit arrives as an exception raised by a signal handler, wherever the code is.
    # The parser turns anything a hostile resource raises into ICalendarError (one skipped item); the
    # time limit must get through instead, or the sync would carry on past it and skip this resource.
    overrides = "".join(
        f"BEGIN:VEVENT\r\nUID:big@x\r\nRECURRENCE-ID:2026{1 + n // 28:02d}{1 + n % 28:02d}T090000Z\r\n"
        f"DTSTART:2026{1 + n // 28:02d}{1 + n % 28:02d}T100000Z\r\nDURATION:PT1H\r\nSUMMARY:{n}\r\nEND:VEVENT\r\n"
        for n in range(300)
    )
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:big@x\r\nDTSTART:20260101T090000Z\r\n"
        f"DURATION:PT1H\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\n{overrides}END:VCALENDAR\r\n"
    )

    def time_limit(signum: int, frame: object) -> None:
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, time_limit)
    # A signal landing in a garbage-collector callback (hypothesis installs one) is reported as unraisable
    # and lost there, not here: collect before, not during, the timed parses.
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(SoftTimeLimitExceeded):
            for _ in range(200):  # parse until the timer fires (one parse may be quicker than the timer)
                if signal.getitimer(signal.ITIMER_REAL)[0] == 0:
                    signal.setitimer(signal.ITIMER_REAL, 0.01)
                parse_resource("big.ics", body)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        gc.enable()
