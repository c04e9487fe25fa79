"""GoogleAdapter.changes against the loopback Google fake: paging, sync tokens, deletions, recurring exceptions,
time zones, retries and flawed items, as the sync engine receives them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connections.providers.base import Credentials as ProviderCredentials
from connections.providers.base import (
    CursorExpired,
    ProviderError,
    RateLimited,
    RemoteCalendar,
    RemoteEvent,
    TokenRejected,
)
from connections.providers.google import GoogleAdapter
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from connections.providers.google.reading import remote_event

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(text, zone="Europe/Berlin"):
    return {"dateTime": text, "timeZone": zone}


def timed(summary, start="2025-01-07T09:00:00+01:00", end="2025-01-07T10:00:00+01:00", **fields):
    """A timed event as a test writes it to the fake (Europe/Berlin, one hour on 7 January 2025 by default)."""
    return {"summary": summary, "start": at(start), "end": at(end), **fields}


def no_known(ids):
    return {}


@pytest.fixture
def google(fake_google, settings):
    """Olive's Google account with her primary calendar (Europe/Berlin); retries without real waits."""
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    person = fake_google.add_user("olive@gmail.com")
    tokens = fake_google.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    return fake_google, ProviderCredentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])


CALENDAR = RemoteCalendar(remote_id="olive@gmail.com", name="olive@gmail.com", timezone="Europe/Berlin")


def read(credentials, cursor="", calendar=CALENDAR):
    return list(GoogleAdapter().changes(credentials, calendar, cursor, no_known))


def events_of(pages) -> dict[str, RemoteEvent]:
    return {event.provider_event_id: event for page in pages for event in page.events}


def event_requests(fake):
    return [query for _method, path, query in fake.request_log if path.endswith("/events")]


def test_it_reads_a_full_listing_over_several_pages_with_the_cursor_on_the_last(google):
    fake, credentials = google
    stored = [fake.put_event(CALENDAR.remote_id, timed(f"Meeting {n}")) for n in range(5)]
    fake.page_size = 2

    pages = read(credentials)

    assert [len(page.events) for page in pages] == [2, 2, 1]
    assert [page.last for page in pages] == [False, False, True]
    assert [bool(page.cursor) for page in pages] == [False, False, True]
    assert all(page.full_listing and page.requests == 1 for page in pages)
    assert list(events_of(pages)) == [event["id"] for event in stored]
    first = events_of(pages)[stored[0]["id"]]
    assert first.etag == stored[0]["etag"] and first.title == "Meeting 0"
    assert first.ical_uid == stored[0]["iCalUID"]
    assert first.provider_data == {"sequence": 0, "updated": stored[0]["updated"], "eventType": "default"}
    sent = event_requests(fake)
    assert sent[0] == {"showDeleted": "true", "singleEvents": "false", "maxResults": "2500", "alt": "json"}
    assert sent[1]["pageToken"] and "syncToken" not in sent[1]


def test_it_reads_only_what_changed_since_the_cursor(google):
    fake, credentials = google
    calendar = CALENDAR.remote_id
    fake.put_event(calendar, timed("Unchanged"))
    changed = fake.put_event(calendar, timed("Before"))
    deleted = fake.put_event(calendar, timed("Deleted"))
    cursor = read(credentials)[-1].cursor

    created = fake.put_event(calendar, timed("Created"))
    fake.patch_event(calendar, changed["id"], summary="After", location="Room 4")
    fake.cancel_event(calendar, deleted["id"])
    pages = read(credentials, cursor)

    assert len(pages) == 1 and pages[0].last and not pages[0].full_listing
    assert pages[0].cursor and pages[0].cursor != cursor
    assert set(events_of(pages)) == {created["id"], changed["id"]}
    assert events_of(pages)[changed["id"]].title == "After" and events_of(pages)[changed["id"]].location == "Room 4"
    assert pages[0].removed == [deleted["id"]]
    assert event_requests(fake)[-1]["syncToken"] == cursor

    nothing = read(credentials, pages[0].cursor)
    assert len(nothing) == 1 and nothing[0].events == [] and nothing[0].removed == [] and nothing[0].cursor


def test_it_raises_cursor_expired_for_a_lapsed_sync_token(google):
    fake, credentials = google
    fake.put_event(CALENDAR.remote_id, timed("One"))
    cursor = read(credentials)[-1].cursor
    fake.expire_sync_tokens()

    with pytest.raises(CursorExpired):
        read(credentials, cursor)
    assert len(event_requests(fake)) == 2  # permanent: not retried


def test_it_maps_timed_and_all_day_events_in_their_zones(google):
    fake, credentials = google
    calendar = CALENDAR.remote_id
    new_york = fake.put_event(
        calendar,
        {
            "summary": "Call",
            "start": at("2025-03-10T09:00:00-04:00", "America/New_York"),
            "end": at("2025-03-10T09:30:00-04:00", "America/New_York"),
        },
    )
    calendar_zone = fake.put_event(
        calendar,
        {
            "summary": "No zone",
            "start": {"dateTime": "2025-07-01T08:00:00Z"},
            "end": {"dateTime": "2025-07-01T09:00:00Z"},
        },
    )
    holiday = fake.put_event(
        calendar, {"summary": "Holiday", "start": {"date": "2025-12-24"}, "end": {"date": "2025-12-27"}}
    )
    unknown_zone = fake.put_event(calendar, timed("Mars") | {"start": at("2025-01-07T09:00:00+01:00", "Mars/Olympus")})

    events = events_of(read(credentials))

    call = events[new_york["id"]]
    assert isinstance(call.start, datetime) and isinstance(call.end, datetime)
    assert call.start == datetime(2025, 3, 10, 9, tzinfo=NEW_YORK) and call.timezone == "America/New_York"
    assert call.start.tzinfo == NEW_YORK and call.end - call.start == timedelta(minutes=30)
    zoneless = events[calendar_zone["id"]]  # no timeZone: shown in the calendar's zone, same instant
    assert isinstance(zoneless.start, datetime) and zoneless.start.tzinfo == BERLIN
    assert zoneless.start == datetime(2025, 7, 1, 10, tzinfo=BERLIN)
    assert zoneless.timezone == "Europe/Berlin" and zoneless.problems == ()
    all_day = events[holiday["id"]]
    assert (all_day.start, all_day.end, all_day.timezone) == (date(2025, 12, 24), date(2025, 12, 27), "")
    assert not isinstance(all_day.start, datetime)
    mars = events[unknown_zone["id"]]
    assert mars.start == datetime(2025, 1, 7, 9, tzinfo=BERLIN) and mars.timezone == "Europe/Berlin"
    assert mars.problems == ("start: unknown time zone 'Mars/Olympus', Europe/Berlin used",)


def test_it_maps_a_series_with_a_cancelled_and_a_moved_occurrence(google):
    fake, credentials = google
    calendar = CALENDAR.remote_id
    recurrence = ["RRULE:FREQ=WEEKLY;BYDAY=TU", "EXDATE;TZID=Europe/Berlin:20250128T090000"]
    series = fake.put_event(calendar, timed("Weekly", recurrence=recurrence))
    cursor = read(credentials)[-1].cursor

    cancelled = fake.cancel_occurrence(calendar, series["id"], at("2025-01-14T09:00:00+01:00"))
    moved = fake.put_exception(
        calendar,
        series["id"],
        at("2025-01-21T09:00:00+01:00"),
        start=at("2025-01-22T15:00:00+01:00"),
        end=at("2025-01-22T16:30:00+01:00"),
        summary="Weekly (moved)",
    )
    pages = read(credentials, cursor)
    events = events_of(pages)

    assert pages[0].removed == []
    hidden = events[cancelled["id"]]
    assert hidden.status == "cancelled" and hidden.master_id == series["id"]
    assert hidden.original_start == datetime(2025, 1, 14, 9, tzinfo=BERLIN) and hidden.start == hidden.original_start
    assert hidden.problems == ()
    shifted = events[moved["id"]]
    assert shifted.master_id == series["id"] and shifted.status == "confirmed" and shifted.title == "Weekly (moved)"
    assert shifted.original_start == datetime(2025, 1, 21, 9, tzinfo=BERLIN)
    assert (shifted.start, shifted.end) == (
        datetime(2025, 1, 22, 15, tzinfo=BERLIN),
        datetime(2025, 1, 22, 16, 30, tzinfo=BERLIN),
    )
    assert shifted.recurrence == ()

    master = events_of(read(credentials))[series["id"]]
    assert master.recurrence == tuple(recurrence) and master.master_id == "" and master.original_start is None
    assert master.start == datetime(2025, 1, 7, 9, tzinfo=BERLIN)


def test_it_maps_exceptions_of_an_all_day_series_to_dates_and_a_deleted_series_to_removals(google):
    fake, credentials = google
    calendar = CALENDAR.remote_id
    days = {"start": {"date": "2025-01-06"}, "end": {"date": "2025-01-07"}}
    series = fake.put_event(calendar, {"summary": "Gym", "recurrence": ["RRULE:FREQ=DAILY;COUNT=10"], **days})
    skipped_day = fake.cancel_occurrence(calendar, series["id"], {"date": "2025-01-08"})

    pages = read(credentials)
    occurrence = events_of(pages)[skipped_day["id"]]
    assert occurrence.status == "cancelled" and occurrence.original_start == date(2025, 1, 8)
    assert (occurrence.start, occurrence.end) == (date(2025, 1, 8), date(2025, 1, 9))

    moved_day = fake.put_exception(
        calendar, series["id"], {"date": "2025-01-09"}, start={"date": "2025-01-11"}, end={"date": "2025-01-12"}
    )
    cursor = read(credentials, pages[-1].cursor)[-1].cursor
    fake.cancel_event(calendar, series["id"])
    gone = read(credentials, cursor)
    # The live exception is deleted with its series; the occurrence that was already cancelled does not change
    # (the sync removes a removed master's exceptions anyway).
    assert sorted(gone[0].removed) == sorted([series["id"], moved_day["id"]]) and gone[0].events == []


def test_it_keeps_attendees_organizer_conference_link_and_long_descriptions(google):
    fake, credentials = google
    calendar = CALENDAR.remote_id
    description = "Agenda\n" + "x" * 200_000
    meeting = fake.put_event(
        calendar,
        timed(
            "Review",
            description=description,
            location="Room 4",
            hangoutLink="https://meet.google.com/abc-defg-hij",
            organizer={"email": "lead@example.com", "displayName": "Lea Lead"},
            attendees=[
                {
                    "email": "lead@example.com",
                    "displayName": "Lea Lead",
                    "organizer": True,
                    "responseStatus": "accepted",
                },
                {"email": "olive@gmail.com", "self": True, "responseStatus": "needsAction"},
                {"email": "sam@example.com", "optional": True, "responseStatus": "tentative"},
                {"email": "kim@example.com", "responseStatus": "declined"},
            ],
        ),
    )
    video_only = fake.put_event(
        calendar,
        timed(
            "Zoom",
            htmlLink="javascript:alert(1)",
            conferenceData={
                "entryPoints": [
                    {"entryPointType": "phone", "uri": "tel:+1-555-0100"},
                    {"entryPointType": "video", "uri": "https://zoom.example/j/123"},
                ]
            },
        ),
    )

    events = events_of(read(credentials))

    review = events[meeting["id"]]
    assert review.description == description and review.location == "Room 4"
    assert review.metadata == {
        "attendees": [
            {
                "email": "lead@example.com",
                "name": "Lea Lead",
                "response": "accepted",
                "organizer": True,
                "optional": False,
            },
            {"email": "olive@gmail.com", "name": "", "response": "needs_action", "organizer": False, "optional": False},
            {"email": "sam@example.com", "name": "", "response": "tentative", "organizer": False, "optional": True},
            {"email": "kim@example.com", "name": "", "response": "declined", "organizer": False, "optional": False},
        ],
        "organizer": {"email": "lead@example.com", "name": "Lea Lead", "self": False},
        "conference_url": "https://meet.google.com/abc-defg-hij",
        "html_link": meeting["htmlLink"],
    }
    zoom = events[video_only["id"]]
    assert zoom.metadata["conference_url"] == "https://zoom.example/j/123"
    assert "html_link" not in zoom.metadata  # never a javascript: link in the page
    assert zoom.metadata["organizer"] == {"email": "olive@gmail.com", "name": "", "self": True}


def test_it_skips_an_unreadable_item_and_keeps_the_rest_of_the_page(google):
    fake, credentials = google
    calendar = CALENDAR.remote_id
    good = fake.put_event(calendar, timed("Good"))
    no_start = fake.put_event(calendar, {"summary": "No start", "end": at("2025-01-07T10:00:00+01:00")})
    bad_date = fake.put_event(
        calendar, {"summary": "Bad", "start": {"date": "2025-02-30"}, "end": {"date": "2025-03-01"}}
    )
    no_end = fake.put_event(calendar, {"summary": "No end", "start": at("2025-01-07T09:00:00+01:00")})
    day_no_end = fake.put_event(calendar, {"summary": "Day", "start": {"date": "2025-01-07"}})
    backwards = fake.put_event(calendar, timed("Backwards", "2025-01-07T10:00:00+01:00", "2025-01-07T09:00:00+01:00"))

    pages = read(credentials)

    assert {item.provider_event_id: item.reason for item in pages[0].skipped} == {
        no_start["id"]: "no start",
        bad_date["id"]: "start: '2025-02-30' is not a date",
    }
    events = events_of(pages)
    assert set(events) == {good["id"], no_end["id"], day_no_end["id"], backwards["id"]}
    assert events[good["id"]].problems == ()
    assert events[no_end["id"]].end == datetime(2025, 1, 7, 10, tzinfo=BERLIN)
    assert events[no_end["id"]].problems == ("no end: one hour assumed",)
    assert events[day_no_end["id"]].end == date(2025, 1, 8)
    assert events[day_no_end["id"]].problems == ("no end: one day assumed",)
    assert events[backwards["id"]].end == datetime(2025, 1, 7, 11, tzinfo=BERLIN)
    assert events[backwards["id"]].problems == ("end before start: one hour assumed",)
    assert pages[0].last and pages[0].cursor


def test_it_retries_a_429_and_a_rate_limit_403(google):
    fake, credentials = google
    fake.put_event(CALENDAR.remote_id, timed("One"))
    fake.page_size = 1
    fake.put_event(CALENDAR.remote_id, timed("Two"))
    fake.faults.extend([(429, "0"), (503, None)])

    pages = iter(GoogleAdapter().changes(credentials, CALENDAR, "", no_known))
    first = next(pages)
    assert len(first.events) == 1 and first.requests == 3
    fake.faults.append((403, None))
    second = next(pages)
    assert len(second.events) == 1 and second.requests == 2 and second.last
    assert len(event_requests(fake)) == 5


def test_it_gives_up_on_a_long_retry_after_and_reports_it(google, settings):
    fake, credentials = google
    settings.PROVIDER_RETRY_MAX_WAIT_SECONDS = 5
    fake.faults.append((429, "120"))

    with pytest.raises(RateLimited) as limited:
        read(credentials)
    assert limited.value.retry_after == 120 and len(event_requests(fake)) == 1


def test_it_retries_a_reply_cut_short(google):
    fake, credentials = google
    fake.put_event(CALENDAR.remote_id, timed("One"))
    fake.malformed_replies = 1

    pages = read(credentials)
    assert len(pages) == 1 and len(pages[0].events) == 1 and pages[0].requests == 2

    fake.malformed_replies = 10
    with pytest.raises(ProviderError, match="malformed"):
        read(credentials)


def test_it_reports_a_rejected_access_token_without_refreshing(google):
    fake, credentials = google
    fake.expire_access_tokens()

    with pytest.raises(TokenRejected):
        read(credentials)
    assert not [path for method, path, _query in fake.request_log if method == "POST"]


def test_it_keeps_the_offset_when_no_zone_is_known():
    item = {"id": "abc", "start": {"dateTime": "2025-01-07T09:00:00+05:30"}, "end": {"dateTime": "2025-01-07T10:00:00"}}

    event = remote_event(item, calendar_zone="")

    assert isinstance(event.start, datetime) and event.start == datetime(2025, 1, 7, 3, 30, tzinfo=UTC)
    assert event.start.utcoffset() == timedelta(hours=5, minutes=30)
    assert event.timezone == "" and event.end == datetime(2025, 1, 7, 10, tzinfo=UTC)
    assert event.problems == ("end: no UTC offset and no time zone, UTC assumed",)


def test_a_calendar_list_cut_short_is_a_clear_error(google):
    fake, credentials = google
    fake.malformed_replies = 1
    with pytest.raises(ProviderError, match="malformed"):
        GoogleAdapter().list_calendars(credentials)
