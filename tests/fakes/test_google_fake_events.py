"""The Google fake's events.list, driven by the real client library only (no calsync code): paging, sync tokens,
tombstones, recurring exceptions and faults behave as Google documents them, so adapter tests against the
fake mean something."""

from __future__ import annotations

import google_auth_httplib2
import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
BERLIN_9AM = {"dateTime": "2025-01-07T09:00:00+01:00", "timeZone": "Europe/Berlin"}
BERLIN_10AM = {"dateTime": "2025-01-07T10:00:00+01:00", "timeZone": "Europe/Berlin"}


@pytest.fixture
def person(fake_google):
    return fake_google.add_user("pat@gmail.example", name="Pat Doe")


def service_for(fake, person, scopes=(CALENDAR_SCOPE,)):
    tokens = fake.issue_tokens(person.sub, list(scopes))
    credentials = Credentials(token=tokens["access_token"])  # no refresh token: a 401 reaches the test
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(), refresh_status_codes=())
    return build(
        "calendar",
        "v3",
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{fake.base_url}/calendar/v3/"},
        http=http,
    )


def list_all(service, calendar_id, **params):
    """Every page of one listing: (pages, items, nextSyncToken of the last page)."""
    pages, items, page_token = [], [], None
    while True:
        page = service.events().list(calendarId=calendar_id, pageToken=page_token, **params).execute()
        pages.append(page)
        items.extend(page["items"])
        page_token = page.get("nextPageToken")
        if not page_token:
            return pages, items, page.get("nextSyncToken")


def timed(summary, start=BERLIN_9AM, end=BERLIN_10AM, **fields):
    return {"summary": summary, "start": start, "end": end, **fields}


def test_it_pages_a_full_listing_with_the_sync_token_on_the_last_page_only(fake_google, person):
    calendar = person.calendars[0]["id"]
    stored = [fake_google.put_event(calendar, timed(f"Meeting {n}")) for n in range(5)]
    fake_google.page_size = 2
    service = service_for(fake_google, person)

    pages, items, sync_token = list_all(service, calendar, maxResults=2500)

    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert ["nextPageToken" in page for page in pages] == [True, True, False]
    assert ["nextSyncToken" in page for page in pages] == [False, False, True]
    assert sync_token and [item["id"] for item in items] == [event["id"] for event in stored]
    first = items[0]
    assert first["kind"] == "calendar#event" and first["status"] == "confirmed"
    assert first["etag"].startswith('"') and first["etag"].endswith('"')
    assert first["iCalUID"] == f"{first['id']}@google.com" and first["sequence"] == 0
    assert first["organizer"] == {"email": calendar, "self": True}
    assert first["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert first["start"] == BERLIN_9AM and first["created"].endswith("Z") and first["updated"].endswith("Z")
    assert pages[0]["kind"] == "calendar#events" and pages[0]["timeZone"] == "Europe/Berlin"
    assert pages[0]["accessRole"] == "owner"
    logged = [query for _method, path, query in fake_google.request_log if path.endswith("/events")]
    assert len(logged) == 3 and "pageToken" not in logged[0] and "pageToken" in logged[2]


def test_it_returns_only_changes_after_a_sync_token_deletions_included(fake_google, person):
    calendar = person.calendars[0]["id"]
    kept = fake_google.put_event(calendar, timed("Kept"))
    changed = fake_google.put_event(calendar, timed("Before"))
    deleted = fake_google.put_event(calendar, timed("Deleted"))
    service = service_for(fake_google, person)
    _pages, _items, token = list_all(service, calendar)

    added = fake_google.put_event(
        calendar, {"summary": "Holiday", "start": {"date": "2025-01-10"}, "end": {"date": "2025-01-11"}}
    )
    after = fake_google.patch_event(calendar, changed["id"], summary="After")
    fake_google.cancel_event(calendar, deleted["id"])
    _pages, items, next_token = list_all(service, calendar, syncToken=token, showDeleted=False)

    assert {item["id"] for item in items} == {added["id"], changed["id"], deleted["id"]}
    by_id = {item["id"]: item for item in items}
    assert by_id[changed["id"]]["summary"] == "After" and after["etag"] != changed["etag"]
    assert after["updated"] > changed["updated"] and by_id[changed["id"]]["etag"] == after["etag"]
    # A deleted event is a tombstone: only what Google guarantees.
    assert set(by_id[deleted["id"]]) == {"kind", "etag", "id", "status"}
    assert by_id[deleted["id"]]["status"] == "cancelled"
    assert kept["id"] not in by_id

    _pages, items, _token = list_all(service, calendar, syncToken=next_token)
    assert items == []


def test_it_hides_deleted_events_from_full_listings_but_not_cancelled_occurrences(fake_google, person):
    calendar = person.calendars[0]["id"]
    series = fake_google.put_event(calendar, timed("Weekly", recurrence=["RRULE:FREQ=WEEKLY;BYDAY=TU"]))
    gone = fake_google.put_event(calendar, timed("Gone"))
    fake_google.cancel_event(calendar, gone["id"])
    cancelled = fake_google.cancel_occurrence(calendar, series["id"], {"dateTime": "2025-01-14T09:00:00+01:00"})
    moved = fake_google.put_exception(
        calendar,
        series["id"],
        {"dateTime": "2025-01-21T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        start={"dateTime": "2025-01-22T15:00:00+01:00", "timeZone": "Europe/Berlin"},
        end={"dateTime": "2025-01-22T16:00:00+01:00", "timeZone": "Europe/Berlin"},
    )
    service = service_for(fake_google, person)

    _pages, items, _token = list_all(service, calendar)
    by_id = {item["id"]: item for item in items}
    assert set(by_id) == {series["id"], cancelled["id"], moved["id"]}
    assert cancelled["id"] == f"{series['id']}_20250114T080000Z" and moved["id"] == f"{series['id']}_20250121T080000Z"
    assert by_id[cancelled["id"]] == {
        "kind": "calendar#event",
        "etag": cancelled["etag"],
        "id": cancelled["id"],
        "status": "cancelled",
        "recurringEventId": series["id"],
        "originalStartTime": {"dateTime": "2025-01-14T09:00:00+01:00"},
    }
    assert by_id[moved["id"]]["recurringEventId"] == series["id"] and by_id[moved["id"]]["summary"] == "Weekly"
    assert by_id[moved["id"]]["originalStartTime"]["timeZone"] == "Europe/Berlin"
    assert by_id[moved["id"]]["iCalUID"] == series["iCalUID"] and "recurrence" not in by_id[moved["id"]]

    _pages, items, _token = list_all(service, calendar, showDeleted=True)
    assert {item["id"] for item in items} == {series["id"], gone["id"], cancelled["id"], moved["id"]}
    kept = fake_google.kept_events(calendar)
    assert set(kept) == {series["id"], cancelled["id"], moved["id"]} and kept[cancelled["id"]] == by_id[cancelled["id"]]


def test_it_deletes_a_series_with_its_exceptions(fake_google, person):
    calendar = person.calendars[0]["id"]
    all_day = {"start": {"date": "2025-01-06"}, "end": {"date": "2025-01-07"}}
    series = fake_google.put_event(calendar, {"summary": "Standup", "recurrence": ["RRULE:FREQ=DAILY"], **all_day})
    moved = fake_google.put_exception(calendar, series["id"], {"date": "2025-01-08"}, summary="Later standup")
    assert moved["id"] == f"{series['id']}_20250108"
    assert moved["start"] == {"date": "2025-01-08"} and moved["end"] == {"date": "2025-01-09"}
    service = service_for(fake_google, person)
    _pages, _items, token = list_all(service, calendar)

    fake_google.cancel_event(calendar, series["id"])
    _pages, items, _token = list_all(service, calendar, syncToken=token)

    # With the series gone its exceptions are plain deletions (no recurringEventId to hide an occurrence).
    assert {item["id"]: set(item) for item in items} == {
        series["id"]: {"kind", "etag", "id", "status"},
        moved["id"]: {"kind", "etag", "id", "status"},
    }
    _pages, items, _token = list_all(service, calendar)
    assert items == [] and fake_google.kept_events(calendar) == {}


def test_it_refuses_expired_tokens_and_parameters_google_refuses(fake_google, person):
    calendar = person.calendars[0]["id"]
    fake_google.put_event(calendar, timed("One"))
    fake_google.put_event(calendar, timed("Two"))
    service = service_for(fake_google, person)
    _pages, _items, token = list_all(service, calendar)

    with pytest.raises(HttpError) as mixed:
        service.events().list(calendarId=calendar, syncToken=token, timeMin="2025-01-01T00:00:00Z").execute()
    assert mixed.value.status_code == 400

    fake_google.page_size = 1
    fake_google.put_event(calendar, timed("Three"))
    fake_google.put_event(calendar, timed("Four"))
    first = service.events().list(calendarId=calendar, syncToken=token).execute()
    fake_google.expire_sync_tokens()
    with pytest.raises(HttpError) as lapsed:  # mid-listing too
        service.events().list(calendarId=calendar, syncToken=token, pageToken=first["nextPageToken"]).execute()
    assert lapsed.value.status_code == 410 and lapsed.value.error_details[0]["reason"] == "fullSyncRequired"
    with pytest.raises(HttpError) as unknown:
        service.events().list(calendarId=calendar, syncToken="forged").execute()
    assert unknown.value.status_code == 410

    with pytest.raises(HttpError) as instances:  # not modelled: loud, not silently wrong
        service.events().list(calendarId=calendar, singleEvents=True).execute()
    assert instances.value.status_code == 501


def test_it_filters_a_full_listing_by_time_window(fake_google, person):
    calendar = person.calendars[0]["id"]
    early = fake_google.put_event(calendar, timed("Early"))
    late = fake_google.put_event(
        calendar,
        timed(
            "Late",
            {"dateTime": "2025-03-01T09:00:00+01:00", "timeZone": "Europe/Berlin"},
            {"dateTime": "2025-03-01T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        ),
    )
    service = service_for(fake_google, person)

    _pages, items, _token = list_all(service, calendar, timeMin="2025-02-01T00:00:00Z")
    assert [item["id"] for item in items] == [late["id"]]
    _pages, items, _token = list_all(service, calendar, timeMax="2025-02-01T00:00:00+01:00")
    assert [item["id"] for item in items] == [early["id"]]
    with pytest.raises(HttpError) as no_offset:
        service.events().list(calendarId=calendar, timeMin="2025-02-01T00:00:00").execute()
    assert no_offset.value.status_code == 400


def test_it_answers_auth_scope_and_unknown_calendar_errors(fake_google, person):
    calendar = person.calendars[0]["id"]
    list_only = service_for(fake_google, person, scopes=(f"{CALENDAR_SCOPE}.calendarlist.readonly",))
    with pytest.raises(HttpError) as scopes:
        list_only.events().list(calendarId=calendar).execute()
    assert scopes.value.status_code == 403

    service = service_for(fake_google, person)
    with pytest.raises(HttpError) as missing:
        service.events().list(calendarId="someone-else@example.com").execute()
    assert missing.value.status_code == 404
    assert service.events().list(calendarId="primary").execute()["items"] == []

    fake_google.expire_access_tokens()
    with pytest.raises(HttpError) as expired:
        service.events().list(calendarId=calendar).execute()
    assert expired.value.status_code == 401


def test_it_queues_faults_and_a_cut_short_reply_for_the_events_endpoint(fake_google, person):
    calendar = person.calendars[0]["id"]
    fake_google.put_event(calendar, timed("One"))
    service = service_for(fake_google, person)

    fake_google.faults.append((429, "3"))
    with pytest.raises(HttpError) as limited:
        service.events().list(calendarId=calendar).execute()
    assert limited.value.status_code == 429 and limited.value.resp["retry-after"] == "3"
    assert limited.value.error_details[0]["reason"] == "rateLimitExceeded"

    fake_google.malformed_replies = 1
    # The client library hands back a body it cannot decode as the raw text.
    assert service.events().list(calendarId=calendar).execute().startswith('{"kind": "calendar#events"')
    assert len(service.events().list(calendarId=calendar).execute()["items"]) == 1


def test_it_goes_down_after_a_number_of_requests_until_the_outage_ends(fake_google, person):
    calendar = person.calendars[0]["id"]
    service = service_for(fake_google, person)
    fake_google.outage_after = 1

    service.events().list(calendarId=calendar).execute()
    for _ in range(2):
        with pytest.raises(HttpError) as down:
            service.events().list(calendarId=calendar).execute()
        assert down.value.status_code == 503

    fake_google.outage_after = None
    assert service.events().list(calendarId=calendar).execute()["items"] == []
