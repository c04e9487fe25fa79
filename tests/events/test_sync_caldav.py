"""The sync through a real CalDAV server (Radicale): sync-collection, deletions, overrides in one resource,
invalid tokens, and recurrence expansion checked against recurring-ical-events on the server's own data."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import x_wr_timezone

from connections.models import CalendarConnection
from events.models import CalendarEvent, SyncOutcome
from events.selectors import occurrences_in_window
from events.sync import sync_connection
from fakes import caldav_proxy, tls
from fakes.radicale import CalDAVAccount
from fakes.server import serve
from tests.providers.ical import test_ical_parsing
from tests.sync_helpers import caldav_work_calendar

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calendar(owner, caldav_account, settings) -> CalendarConnection:
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale listens on loopback
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    connection = caldav_work_calendar(owner, caldav_account)
    connection.caldav = caldav_account  # type: ignore[attr-defined]
    return connection


def put(calendar, body: str, name: str | None = None) -> str:
    """PUT a calendar object resource into the Work calendar; returns its URL."""
    url = calendar.remote_id + (name or f"{secrets.token_hex(6)}.ics")
    with calendar.caldav.client() as client:
        response = client.put(url, body, {"Content-Type": "text/calendar; charset=utf-8"})
    assert response.status in (201, 204), response.status
    return url


def delete(calendar, url: str) -> None:
    with calendar.caldav.client() as client:
        assert client.delete(url).status in (200, 204)


def sync(calendar, **options):
    result = sync_connection(connection=CalendarConnection.objects.get(pk=calendar.pk), **options)
    calendar.refresh_from_db()
    return result


def vcalendar(*components: str, extra: str = "") -> str:
    body = "\r\n".join(component.strip().replace("\n", "\r\n") for component in components)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n{extra}{body}\r\nEND:VCALENDAR\r\n"


def vevent(uid: str, *lines: str) -> str:
    return "\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", *lines, "END:VEVENT"])


NEW_YORK_TZ = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""


def live(calendar) -> dict[str, CalendarEvent]:
    return {
        event.provider_event_id: event
        for event in CalendarEvent.objects.filter(connection=calendar, deleted_at__isnull=True)
        if event.provider_event_id
    }


def test_first_sync_then_incremental_create_update_and_delete(calendar):
    first = put(calendar, vcalendar(vevent("a", "SUMMARY:First", "DTSTART:20250107T090000Z", "DTEND:20250107T100000Z")))
    second = put(
        calendar, vcalendar(vevent("b", "SUMMARY:Second", "DTSTART:20250108T090000Z", "DTEND:20250108T100000Z"))
    )
    result = sync(calendar)
    assert (result.outcome, result.created) == (SyncOutcome.OK, 2)
    assert calendar.sync_cursor
    put(
        calendar,
        vcalendar(vevent("a", "SUMMARY:First changed", "DTSTART:20250107T090000Z", "DTEND:20250107T100000Z")),
        first.rsplit("/", 1)[1],
    )
    delete(calendar, second)
    put(calendar, vcalendar(vevent("c", "SUMMARY:Third", "DTSTART;VALUE=DATE:20250110", "DTEND;VALUE=DATE:20250113")))
    result = sync(calendar)
    assert (result.outcome, result.created, result.updated, result.deleted, result.full) == (
        SyncOutcome.OK,
        1,
        1,
        1,
        False,
    )
    titles = sorted(event.title for event in live(calendar).values())
    assert titles == ["First changed", "Third"]
    third = next(event for event in live(calendar).values() if event.title == "Third")
    assert (third.all_day, third.start_date, third.end_date) == (True, date(2025, 1, 10), date(2025, 1, 13))


def test_a_sync_with_nothing_new_changes_nothing(calendar):
    put(calendar, vcalendar(vevent("a", "SUMMARY:First", "DTSTART:20250107T090000Z", "DTEND:20250107T100000Z")))
    sync(calendar)
    result = sync(calendar)
    assert (result.outcome, result.created, result.updated, result.deleted) == (SyncOutcome.OK, 0, 0, 0)


def test_an_invalid_sync_token_leads_to_a_full_resync(calendar):
    put(calendar, vcalendar(vevent("a", "SUMMARY:First", "DTSTART:20250107T090000Z", "DTEND:20250107T100000Z")))
    sync(calendar)
    CalendarConnection.objects.filter(pk=calendar.pk).update(sync_cursor="sync:http://radicale.org/ns/sync/bogus")
    result = sync(calendar)
    assert (result.outcome, result.full) == (SyncOutcome.OK, True)
    assert [event.title for event in live(calendar).values()] == ["First"]


def test_overrides_in_one_resource_are_stored_linked_and_removed_with_it(calendar):
    url = put(
        calendar,
        vcalendar(
            NEW_YORK_TZ,
            vevent(
                "series",
                "SUMMARY:Standup",
                "DTSTART;TZID=America/New_York:20250303T093000",
                "DTEND;TZID=America/New_York:20250303T094500",
                "RRULE:FREQ=WEEKLY;COUNT=4",
            ),
            vevent(
                "series",
                "SUMMARY:Standup (moved)",
                "RECURRENCE-ID;TZID=America/New_York:20250310T093000",
                "DTSTART;TZID=America/New_York:20250311T140000",
                "DTEND;TZID=America/New_York:20250311T141500",
            ),
            vevent(
                "series",
                "SUMMARY:Standup",
                "STATUS:CANCELLED",
                "RECURRENCE-ID;TZID=America/New_York:20250317T093000",
                "DTSTART;TZID=America/New_York:20250317T093000",
                "DTEND;TZID=America/New_York:20250317T094500",
            ),
        ),
    )
    sync(calendar)
    rows = live(calendar)
    master = rows[urlpath(url)]
    exceptions = {event.status: event for event in rows.values() if event.recurring_event_id == master.pk}
    assert set(exceptions) == {"confirmed", "cancelled"}
    assert exceptions["confirmed"].original_start == datetime(2025, 3, 10, 13, 30, tzinfo=UTC)  # 09:30 EDT
    # A full listing does not fetch the unchanged resource again, and must not sweep its overrides.
    result = sync(calendar, full=True)
    assert (result.full, result.deleted, len(live(calendar))) == (True, 0, 3)
    # The cancelled override is dropped from the resource: its row goes, and the occurrence is back.
    put(
        calendar,
        vcalendar(
            NEW_YORK_TZ,
            vevent(
                "series",
                "SUMMARY:Standup",
                "DTSTART;TZID=America/New_York:20250303T093000",
                "DTEND;TZID=America/New_York:20250303T094500",
                "RRULE:FREQ=WEEKLY;COUNT=4",
            ),
        ),
        url.rsplit("/", 1)[1],
    )
    sync(calendar)
    assert len(live(calendar)) == 1
    delete(calendar, url)
    sync(calendar)
    assert live(calendar) == {}


def urlpath(url: str) -> str:
    return urlsplit(url).path


def test_flawed_events_are_stored_as_well_as_they_can_be(calendar):
    put(calendar, vcalendar(vevent("noend", "SUMMARY:No end", "DTSTART:20250107T090000Z")))
    put(
        calendar,
        vcalendar(vevent("zone", "SUMMARY:Odd zone", "DTSTART;TZID=Mars/Olympus:20250107T090000", "DURATION:PT1H")),
    )
    put(calendar, vcalendar(vevent("big", "SUMMARY:Big", "DTSTART:20250107T090000Z", "DESCRIPTION:" + "y" * 200_000)))
    result = sync(calendar)
    assert result.outcome == SyncOutcome.OK
    titles = sorted(event.title for event in live(calendar).values())
    assert titles == ["Big", "No end", "Odd zone"]


# --- recurrence expansion against recurring-ical-events on the server's own data -------------------------

SERIES = vcalendar(
    NEW_YORK_TZ,
    # Weekly across the US and EU DST changes, with an EXDATE in UTC, an RDATE, a moved and a cancelled override.
    vevent(
        "weekly",
        "SUMMARY:Weekly",
        "DTSTART;TZID=America/New_York:20250224T090000",
        "DTEND;TZID=America/New_York:20250224T100000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20250501T035959Z",
        "EXDATE:20250313T130000Z",
        "RDATE;TZID=America/New_York:20250322T110000",
    ),
    vevent(
        "weekly",
        "SUMMARY:Weekly (moved)",
        "RECURRENCE-ID;TZID=America/New_York:20250310T090000",
        "DTSTART;TZID=America/New_York:20250312T160000",
        "DTEND;TZID=America/New_York:20250312T170000",
    ),
    vevent(
        "weekly",
        "SUMMARY:Weekly",
        "STATUS:CANCELLED",
        "RECURRENCE-ID;TZID=America/New_York:20250403T090000",
        "DTSTART;TZID=America/New_York:20250403T090000",
        "DTEND;TZID=America/New_York:20250403T100000",
    ),
)
ALL_DAY_SERIES = vcalendar(
    vevent(
        "trip",
        "SUMMARY:Monthly trip",
        "DTSTART;VALUE=DATE:20250130",
        "DTEND;VALUE=DATE:20250202",
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=30,-1;COUNT=6",
    )
)
FLOATING_WITH_X_WR = vcalendar(
    vevent(
        "lunch",
        "SUMMARY:Lunch",
        "DTSTART:20250301T123000",
        "DTEND:20250301T133000",
        "RRULE:FREQ=DAILY;INTERVAL=3;COUNT=20",
    ),
    extra="X-WR-TIMEZONE:Europe/Berlin\r\n",
)


def provider_occurrences(texts: list[str], start: datetime, end: datetime) -> set[tuple[str, object, object]]:
    """The occurrences the server's data means, by recurring-ical-events (X-WR-TIMEZONE applied first)."""
    found = set()
    for text in texts:
        standard = x_wr_timezone.to_standard(icalendar.Calendar.from_ical(text))
        for component in recurring_ical_events.of(standard).between(start, end):
            if str(component.get("STATUS", "")).upper() == "CANCELLED":
                continue
            found.add((str(component["SUMMARY"]), normalize(component.start), normalize(component.end)))
    return found


def our_occurrences(calendar, start: datetime, end: datetime) -> set[tuple[str, object, object]]:
    occurrences = occurrences_in_window(connection_ids=[calendar.pk], start=start, end=end, zone=UTC)
    return {
        (o.event.title, o.start_date if o.all_day else o.start, o.end_date if o.all_day else o.end) for o in occurrences
    }


def normalize(value: object) -> object:
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
        )
    return value


@pytest.mark.parametrize(
    "window",
    [
        (datetime(2025, 2, 20, tzinfo=UTC), 7),
        (datetime(2025, 3, 6, tzinfo=UTC), 14),  # the US DST change and the moved, exdated occurrences
        (datetime(2025, 3, 20, tzinfo=UTC), 14),  # the RDATE and the EU DST change
        (datetime(2025, 3, 31, tzinfo=UTC), 7),  # the cancelled occurrence, the month-end trip
        (datetime(2025, 1, 1, tzinfo=UTC), 200),  # everything at once
    ],
)
def test_our_expansion_matches_recurring_ical_events_on_the_providers_data(calendar, window):
    texts = [SERIES, ALL_DAY_SERIES, FLOATING_WITH_X_WR]
    for text in texts:
        put(calendar, text)
    assert sync(calendar).outcome == SyncOutcome.OK
    start, days = window
    end = start + timedelta(days=days)
    expected = provider_occurrences(texts, start, end)
    assert expected  # the window is not empty, or the comparison would prove nothing
    assert our_occurrences(calendar, start, end) == expected


# --- what cannot be read costs only itself ---------------------------------------------------------------

# Lotus Notes / Domino write the hour of each change into the zone's rules and name zones their own way.
DOMINO_ZONE = test_ical_parsing.DOMINO_ZONE.rstrip("\n")


@pytest.fixture
def proxied(owner, caldav_account, radicale, settings):
    """The Work calendar seen through the proxy in front of Radicale, which serves a resource's data as another
    client stored it (Radicale refuses a PUT of values it cannot read; iCloud and others store them)."""
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    proxy = caldav_proxy.ProxyState(upstream=radicale.url, ca_bundle=str(tls.test_ca().ca_bundle))
    with serve(caldav_proxy.handler_for(proxy), tls=True) as base_url:
        proxy.base_url = base_url
        through_proxy = CalDAVAccount(
            url=base_url + "/",
            username=caldav_account.username,
            password=caldav_account.password,
            calendars={"Work": proxy.url_for(caldav_account.calendars["Work"])},
        )
        connection = caldav_work_calendar(owner, through_proxy)
        connection.caldav = caldav_account  # type: ignore[attr-defined]  # PUTs go to Radicale itself
        connection.remote_id = caldav_account.calendars["Work"]
        yield connection, proxy


def stored_by_another_client(proxy, calendar, readable: str, as_stored: str) -> str:
    """PUT `readable` to Radicale and have the server serve `as_stored` for it; returns the resource's path."""
    path = urlpath(put(calendar, readable))
    proxy.malformed[path] = as_stored
    return path


def test_a_domino_calendar_and_unreadable_values_sync_what_can_be_read_and_note_the_rest(proxied):
    calendar, proxy = proxied
    domino = urlpath(
        put(
            calendar,
            vcalendar(
                DOMINO_ZONE,
                vevent(
                    "notes-1",
                    "SUMMARY:Jour fixe",
                    "DTSTART;TZID=W. Europe:20250303T090000",
                    "DTEND;TZID=W. Europe:20250303T100000",
                    "RRULE:FREQ=WEEKLY;COUNT=6",
                ),
            ),
        )
    )
    planning = vcalendar(
        vevent(
            "broken",
            "SUMMARY:Planning",
            "DTSTART:20250324T090000Z",
            "DURATION:PT1H",
            "LAST-MODIFIED:20250301T000000Z",
            "RRULE:FREQ=DAILY;COUNT=3",
        ),
        vevent(
            "broken",
            "SUMMARY:Planning (moved)",
            "RECURRENCE-ID:20250325T090000Z",
            "DTSTART:20250325T140000Z",
            "DURATION:PT1H",
        ),
    )
    broken = stored_by_another_client(
        proxy,
        calendar,
        planning,
        planning.replace("DURATION:PT1H", "DURATION:P1X").replace("20250301T000000Z", "2026"),
    )
    gym = vcalendar(vevent("typo", "SUMMARY:Gym", "DTSTART:20250324T070000Z", "DURATION:PT1H", "RRULE:FREQ=WEEKLY"))
    typo = stored_by_another_client(proxy, calendar, gym, gym.replace("FREQ=WEEKLY", "FREQ=WEEKLY;BYDAYY=MO"))

    result = sync(calendar)
    assert (result.outcome, result.skipped) == (SyncOutcome.OK, 0)
    rows = live(calendar)
    assert {row.title for row in rows.values()} == {"Jour fixe", "Planning", "Planning (moved)", "Gym"}
    weeks = our_occurrences(calendar, datetime(2025, 3, 24, tzinfo=UTC), datetime(2025, 4, 7, tzinfo=UTC))
    assert {(title, start) for title, start, _ in weeks} == {
        # 09:00 in the Domino zone: 08:00 UTC before the change on 30 March, 07:00 UTC after it.
        ("Jour fixe", datetime(2025, 3, 24, 8, tzinfo=UTC)),
        ("Jour fixe", datetime(2025, 3, 31, 7, tzinfo=UTC)),
        # The broken DURATION costs the length only: the series and its moved occurrence are all there.
        ("Planning", datetime(2025, 3, 24, 9, tzinfo=UTC)),
        ("Planning (moved)", datetime(2025, 3, 25, 14, tzinfo=UTC)),
        ("Planning", datetime(2025, 3, 26, 9, tzinfo=UTC)),
        ("Gym", datetime(2025, 3, 24, 7, tzinfo=UTC)),  # an unreadable rule: its first occurrence only, noted
    }

    assert rows[domino].provider_data["problems"] == [
        f"time zone 'W. Europe' read as {rows[domino].timezone}"  # an IANA zone with the same rules
    ]
    assert {"unreadable DURATION ignored", "unreadable LAST-MODIFIED ignored"} <= set(
        rows[broken].provider_data["problems"]
    )
    assert "unreadable DURATION ignored" in rows[f"{broken}#20250325T090000Z"].provider_data["problems"]
    (gym_problem,) = rows[typo].provider_data["problems"]
    assert gym_problem.startswith("the recurrence could not be read (unreadable RRULE 'FREQ=WEEKLY;BYDAYY=MO')")
    assert f"{typo}: {gym_problem}" in result.notes
    assert f"{broken}: unreadable DURATION ignored" in result.notes
