"""GoogleAdapter's writes (create, update, delete, respond, fetch) against the loopback Google fake, through
google-api-python-client: idempotent creates, etag checks, occurrences by instance id, invitations, errors,
and the echo check (the next inbound sync sees exactly what the write returned)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import google_auth_httplib2
import httplib2
import pytest
from google.oauth2.credentials import Credentials as GoogleCredentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connections.providers.base import (
    Conflict,
    EventDraft,
    EventGone,
    EventRef,
    ProviderError,
    RateLimited,
    RemoteCalendar,
    RemoteEvent,
    TokenRejected,
    WriteRefused,
    WriteResult,
)
from connections.providers.base import Credentials as ProviderCredentials
from connections.providers.google import GoogleAdapter
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
CALENDAR = RemoteCalendar(remote_id="olive@gmail.com", name="olive@gmail.com", timezone="Europe/Berlin")
ADAPTER = GoogleAdapter()


def at(text, zone="Europe/Berlin"):
    return {"dateTime": text, "timeZone": zone}


def timed(summary, start="2025-01-07T09:00:00+01:00", end="2025-01-07T10:00:00+01:00", **fields):
    """A timed event as a test writes it to the fake (Europe/Berlin, one hour on 7 January 2025 by default)."""
    return {"summary": summary, "start": at(start), "end": at(end), **fields}


def draft(title="Planning", start=None, end=None, **fields):
    start = start or datetime(2025, 1, 7, 9, tzinfo=BERLIN)
    end = end or start + (timedelta(hours=1) if isinstance(start, datetime) else timedelta(days=1))
    fields.setdefault("timezone", "Europe/Berlin" if isinstance(start, datetime) else "")
    return EventDraft(title=title, start=start, end=end, **fields)


@pytest.fixture
def google(fake_google, settings):
    """Olive's Google account with her primary calendar (Europe/Berlin)."""
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    person = fake_google.add_user("olive@gmail.com")
    tokens = fake_google.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    fake_google.person = person
    return fake_google, ProviderCredentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])


def cursor_of(credentials, calendar=CALENDAR):
    return list(ADAPTER.changes(credentials, calendar, "", lambda ids: {}))[-1].cursor


def changed_since(credentials, cursor, calendar=CALENDAR):
    """What the next inbound sync sees: events by id, and removed ids."""
    pages = list(ADAPTER.changes(credentials, calendar, cursor, lambda ids: {}))
    events = {event.provider_event_id: event for page in pages for event in page.events}
    return events, [removed for page in pages for removed in page.removed]


def assert_echo(result: WriteResult, credentials, cursor, calendar=CALENDAR):
    """The inbound sync from just before the write returns exactly the events the write returned: same ids,
    same etags, same mapping (so the stored rows stay as the write left them)."""
    events, removed = changed_since(credentials, cursor, calendar)
    assert result.events, "the write sent no copy back"
    assert set(events) == {event.provider_event_id for event in result.events}
    assert removed == []
    assert result.etag == events[result.provider_event_id].etag
    for event in result.events:
        assert events[event.provider_event_id] == event


def writes(fake, method=None):
    return [entry for entry in fake.write_log if method is None or entry.method == method]


# --- create ------------------------------------------------------------------------------------------------


def test_it_declares_that_people_choose_whether_guests_are_told():
    assert GoogleAdapter.can_choose_notify is True


def test_it_creates_a_timed_event_under_the_key_in_the_drafts_zone(google):
    fake, credentials = google
    cursor, key = cursor_of(credentials), uuid4().hex
    # Written as an instant in UTC; the person wrote it in New York.
    wanted = draft("Call with Ann", start=datetime(2025, 1, 7, 14, tzinfo=UTC), timezone="America/New_York")

    result = ADAPTER.create_event(credentials, CALENDAR, wanted, key=key, notify=False)

    stored = fake.event(CALENDAR.remote_id, key)
    assert result.provider_event_id == key and result.etag == stored["etag"]
    assert stored["start"] == {"dateTime": "2025-01-07T09:00:00-05:00", "timeZone": "America/New_York"}
    assert stored["end"] == {"dateTime": "2025-01-07T10:00:00-05:00", "timeZone": "America/New_York"}
    assert stored["summary"] == "Call with Ann" and "recurrence" not in stored
    (event,) = result.events
    assert event.start == wanted.start and event.timezone == "America/New_York" and event.title == "Call with Ann"
    assert_echo(result, credentials, cursor)


def test_it_creates_an_all_day_event_with_dates_only(google):
    fake, credentials = google
    cursor, key = cursor_of(credentials), uuid4().hex

    result = ADAPTER.create_event(
        credentials, CALENDAR, draft("Offsite", start=date(2025, 1, 9), end=date(2025, 1, 11)), key=key, notify=False
    )

    stored = fake.event(CALENDAR.remote_id, key)
    assert stored["start"] == {"date": "2025-01-09"} and stored["end"] == {"date": "2025-01-11"}
    assert result.events[0].start == date(2025, 1, 9) and result.events[0].end == date(2025, 1, 11)
    assert_echo(result, credentials, cursor)


def test_it_creates_a_series_with_its_recurrence_lines(google):
    fake, credentials = google
    cursor, key = cursor_of(credentials), uuid4().hex
    lines = ("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=10", "EXDATE;TZID=Europe/Berlin:20250114T090000")

    result = ADAPTER.create_event(credentials, CALENDAR, draft("Standup", recurrence=lines), key=key, notify=False)

    assert fake.event(CALENDAR.remote_id, key)["recurrence"] == list(lines)
    assert result.events[0].recurrence == lines
    assert_echo(result, credentials, cursor)


def test_it_returns_the_same_event_when_a_create_is_repeated(google):
    fake, credentials = google
    cursor, key = cursor_of(credentials), uuid4().hex

    first = ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)
    again = ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)

    assert again == first
    assert list(fake.events[CALENDAR.remote_id]) == [key]
    assert len(writes(fake, "POST")) == 2  # the second insert was refused as a duplicate, not made twice
    assert_echo(again, credentials, cursor)


def test_it_finds_the_event_a_create_made_when_the_answer_was_lost(google):
    fake, credentials = google
    cursor, key = cursor_of(credentials), uuid4().hex
    # Both the insert and httplib2's own resend of it are carried out, and neither answer arrives.
    fake.lost_replies = 2

    with pytest.raises(ProviderError) as lost:
        ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)
    assert not lost.value.permanent
    assert list(fake.events[CALENDAR.remote_id]) == [key]  # it was made all the same

    retried = ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)

    assert retried.provider_event_id == key and retried.etag == fake.event(CALENDAR.remote_id, key)["etag"]
    assert list(fake.events[CALENDAR.remote_id]) == [key]
    assert_echo(retried, credentials, cursor)


def test_it_makes_one_event_when_the_client_library_resends_a_create_by_itself(google):
    fake, credentials = google
    key = uuid4().hex
    fake.lost_replies = 1  # httplib2 sends the insert again on a fresh connection: Google says duplicate

    result = ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)

    assert result.provider_event_id == key
    assert list(fake.events[CALENDAR.remote_id]) == [key]


def test_it_reports_a_repeated_create_whose_event_was_deleted_since_as_gone(google):
    fake, credentials = google
    key = uuid4().hex
    ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)
    fake.cancel_event(CALENDAR.remote_id, key)

    with pytest.raises(EventGone):
        ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)


# --- update ------------------------------------------------------------------------------------------------


def invitation_fields():
    return {
        "attendees": [
            {"email": "olive@gmail.com", "organizer": True, "self": True, "responseStatus": "accepted"},
            {"email": "bob@example.com", "displayName": "Bob", "responseStatus": "needsAction"},
        ],
        "hangoutLink": "https://meet.google.com/abc-defg-hij",
        "reminders": {"useDefault": False, "overrides": [{"method": "popup", "minutes": 5}]},
        "colorId": "5",
    }


def test_it_updates_with_the_etag_and_keeps_what_the_draft_does_not_carry(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning", description="Agenda", **invitation_fields()))
    cursor = cursor_of(credentials)
    moved = datetime(2025, 1, 8, 14, tzinfo=BERLIN)

    result = ADAPTER.update_event(
        credentials,
        CALENDAR,
        EventRef(provider_event_id=stored["id"]),
        draft("Planning (moved)", start=moved, location="Room 4"),
        etag=stored["etag"],
        notify=False,
    )

    now = fake.event(CALENDAR.remote_id, stored["id"])
    assert writes(fake, "PATCH")[-1].if_match == stored["etag"]
    assert now["summary"] == "Planning (moved)" and now["location"] == "Room 4" and now["description"] == ""
    assert now["start"] == at("2025-01-08T14:00:00+01:00")
    for kept in ("attendees", "hangoutLink", "reminders", "colorId", "organizer", "iCalUID", "created"):
        assert now[kept] == stored[kept], kept
    assert result.etag == now["etag"] != stored["etag"]
    assert result.events[0].metadata["attendees"][1]["email"] == "bob@example.com"
    assert_echo(result, credentials, cursor)


def test_it_refuses_an_update_with_a_stale_etag_and_changes_nothing(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning"))
    changed_there = fake.patch_event(CALENDAR.remote_id, stored["id"], summary="Renamed at Google")

    with pytest.raises(Conflict):
        ADAPTER.update_event(
            credentials,
            CALENDAR,
            EventRef(provider_event_id=stored["id"]),
            draft("Mine"),
            etag=stored["etag"],
            notify=False,
        )

    assert fake.event(CALENDAR.remote_id, stored["id"]) == changed_there


def test_it_reports_an_update_of_a_deleted_or_unknown_event_as_gone(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning"))
    fake.cancel_event(CALENDAR.remote_id, stored["id"])

    for etag in (stored["etag"], ""):
        with pytest.raises(EventGone):
            ADAPTER.update_event(
                credentials, CALENDAR, EventRef(provider_event_id=stored["id"]), draft(), etag=etag, notify=False
            )
    with pytest.raises(EventGone):
        ADAPTER.update_event(
            credentials, CALENDAR, EventRef(provider_event_id="neverexisted0"), draft(), etag="", notify=False
        )
    assert fake.event(CALENDAR.remote_id, stored["id"])["status"] == "cancelled"


def test_it_accepts_an_update_repeated_after_its_answer_was_lost(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning"))
    cursor = cursor_of(credentials)
    fake.lost_replies = 1  # the patch lands; httplib2 sends it again with the now stale If-Match: 412

    result = ADAPTER.update_event(
        credentials,
        CALENDAR,
        EventRef(provider_event_id=stored["id"]),
        draft("Renamed"),
        etag=stored["etag"],
        notify=False,
    )

    assert len(writes(fake, "PATCH")) == 2
    assert result.etag == fake.event(CALENDAR.remote_id, stored["id"])["etag"]
    assert result.events[0].title == "Renamed"
    assert_echo(result, credentials, cursor)


def test_it_turns_a_timed_event_into_an_all_day_one_and_back(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Trip"))
    ref = EventRef(provider_event_id=stored["id"])
    cursor = cursor_of(credentials)

    all_day = ADAPTER.update_event(
        credentials, CALENDAR, ref, draft("Trip", start=date(2025, 1, 7)), etag=stored["etag"], notify=False
    )

    assert fake.event(CALENDAR.remote_id, stored["id"])["start"] == {"date": "2025-01-07"}
    assert all_day.events[0].start == date(2025, 1, 7) and all_day.events[0].timezone == ""
    assert_echo(all_day, credentials, cursor)

    cursor = cursor_of(credentials)
    back = ADAPTER.update_event(
        credentials,
        CALENDAR,
        ref,
        draft("Trip", start=datetime(2025, 1, 7, 8, tzinfo=NEW_YORK), timezone="America/New_York"),
        etag=all_day.etag,
        notify=False,
    )

    assert fake.event(CALENDAR.remote_id, stored["id"])["start"] == at("2025-01-07T08:00:00-05:00", "America/New_York")
    assert_echo(back, credentials, cursor)


def test_it_replaces_a_series_rule_with_one_that_ends(google):
    fake, credentials = google
    series = fake.put_event(CALENDAR.remote_id, timed("Standup", recurrence=["RRULE:FREQ=DAILY"]))
    cursor = cursor_of(credentials)
    ending = ("RRULE:FREQ=DAILY;UNTIL=20250120T225959Z",)

    result = ADAPTER.update_event(
        credentials,
        CALENDAR,
        EventRef(provider_event_id=series["id"]),
        draft("Standup", recurrence=ending),
        etag=series["etag"],
        notify=False,
    )

    assert fake.event(CALENDAR.remote_id, series["id"])["recurrence"] == list(ending)
    assert result.provider_event_id == series["id"] and result.events[0].recurrence == ending
    assert_echo(result, credentials, cursor)


def test_it_refuses_a_rule_google_cannot_take_with_googles_reason(google):
    fake, credentials = google
    series = fake.put_event(CALENDAR.remote_id, timed("Standup", recurrence=["RRULE:FREQ=DAILY"]))

    with pytest.raises(WriteRefused, match="Invalid recurrence rule"):
        ADAPTER.update_event(
            credentials,
            CALENDAR,
            EventRef(provider_event_id=series["id"]),
            draft("Standup", recurrence=("RRULE:FREQ=FORTNIGHTLY",)),
            etag=series["etag"],
            notify=False,
        )
    assert fake.event(CALENDAR.remote_id, series["id"])["recurrence"] == ["RRULE:FREQ=DAILY"]


# --- occurrences -------------------------------------------------------------------------------------------


def weekly_series(fake, start="2025-03-25T09:00:00+01:00", end="2025-03-25T10:00:00+01:00"):
    """Tuesdays 09:00 Berlin from 25 March 2025: the second one (1 April) is after the switch to summer time."""
    return fake.put_event(CALENDAR.remote_id, timed("Standup", start, end, recurrence=["RRULE:FREQ=WEEKLY"]))


def test_it_changes_one_occurrence_into_an_exception_with_googles_instance_id(google):
    fake, credentials = google
    series = weekly_series(fake)
    cursor = cursor_of(credentials)
    # 1 April 09:00 in Berlin is 07:00 UTC (summer time), not 08:00 like the first one.
    original = datetime(2025, 4, 1, 7, tzinfo=UTC)
    ref = EventRef(master_id=series["id"], original_start=original)

    result = ADAPTER.update_event(
        credentials,
        CALENDAR,
        ref,
        draft("Standup (late)", start=datetime(2025, 4, 1, 11, tzinfo=BERLIN)),
        etag=series["etag"],
        notify=False,
    )

    exception_id = f"{series['id']}_20250401T070000Z"
    assert result.provider_event_id == exception_id
    stored = fake.event(CALENDAR.remote_id, exception_id)
    assert stored["recurringEventId"] == series["id"]
    assert stored["originalStartTime"] == at("2025-04-01T09:00:00+02:00")
    assert stored["start"] == at("2025-04-01T11:00:00+02:00") and "recurrence" not in stored
    (event,) = result.events
    assert event.master_id == series["id"] and event.original_start == original and event.title == "Standup (late)"
    assert fake.event(CALENDAR.remote_id, series["id"]) == series  # the series itself is untouched
    assert_echo(result, credentials, cursor)


def test_it_changes_an_exception_again_with_its_own_etag(google):
    fake, credentials = google
    series = weekly_series(fake)
    exception = fake.put_exception(CALENDAR.remote_id, series["id"], at("2025-04-01T09:00:00+02:00"), summary="Moved")
    ref = EventRef(
        provider_event_id=exception["id"], master_id=series["id"], original_start=datetime(2025, 4, 1, 7, tzinfo=UTC)
    )
    cursor = cursor_of(credentials)

    with pytest.raises(Conflict):
        ADAPTER.update_event(credentials, CALENDAR, ref, draft("Again"), etag=series["etag"], notify=False)
    result = ADAPTER.update_event(
        credentials,
        CALENDAR,
        ref,
        draft("Again", start=datetime(2025, 4, 1, 12, tzinfo=BERLIN)),
        etag=exception["etag"],
        notify=False,
    )

    assert result.provider_event_id == exception["id"]
    assert fake.event(CALENDAR.remote_id, exception["id"])["summary"] == "Again"
    assert_echo(result, credentials, cursor)


def test_it_refuses_an_occurrence_change_when_the_series_changed_meanwhile(google):
    fake, credentials = google
    series = weekly_series(fake)
    fake.patch_event(CALENDAR.remote_id, series["id"], location="Room 9")
    ref = EventRef(master_id=series["id"], original_start=datetime(2025, 4, 1, 7, tzinfo=UTC))

    with pytest.raises(Conflict):
        ADAPTER.update_event(credentials, CALENDAR, ref, draft("Mine"), etag=series["etag"], notify=False)

    assert list(fake.events[CALENDAR.remote_id]) == [series["id"]]  # no exception was made


def test_it_reports_an_occurrence_the_series_does_not_have_as_gone(google):
    fake, credentials = google
    series = weekly_series(fake)
    # 08:00 UTC is the winter-time instant: on 1 April the occurrence is at 07:00 UTC.
    ref = EventRef(master_id=series["id"], original_start=datetime(2025, 4, 1, 8, tzinfo=UTC))

    with pytest.raises(EventGone):
        ADAPTER.update_event(credentials, CALENDAR, ref, draft("Mine"), etag="", notify=False)


@pytest.mark.parametrize(
    ("series_fields", "original_start", "suffix"),
    [
        ({}, datetime(2025, 4, 1, 7, tzinfo=UTC), "20250401T070000Z"),
        ({"start": {"date": "2025-01-06"}, "end": {"date": "2025-01-07"}}, date(2025, 1, 13), "20250113"),
    ],
    ids=["timed", "all-day"],
)
def test_it_cancels_one_occurrence_and_names_the_cancelled_exception(google, series_fields, original_start, suffix):
    fake, credentials = google
    series = fake.put_event(
        CALENDAR.remote_id,
        {**timed("Standup", "2025-03-25T09:00:00+01:00", "2025-03-25T10:00:00+01:00"), **series_fields}
        | {"recurrence": ["RRULE:FREQ=WEEKLY"]},
    )
    cursor = cursor_of(credentials)
    ref = EventRef(master_id=series["id"], original_start=original_start)

    result = ADAPTER.delete_event(credentials, CALENDAR, ref, etag=series["etag"], notify=False)

    assert result is not None and result.provider_event_id == f"{series['id']}_{suffix}"
    assert fake.event(CALENDAR.remote_id, result.provider_event_id)["status"] == "cancelled"
    (event,) = result.events
    assert event.status == "cancelled" and event.master_id == series["id"] and event.original_start == original_start
    assert fake.event(CALENDAR.remote_id, series["id"]) == series  # Google adds no EXDATE
    assert_echo(result, credentials, cursor)

    again = ADAPTER.delete_event(credentials, CALENDAR, ref, etag="", notify=False)
    assert again is not None and again.provider_event_id == result.provider_event_id


def test_it_treats_cancelling_an_occurrence_of_a_deleted_series_as_done(google):
    fake, credentials = google
    series = weekly_series(fake)
    fake.cancel_event(CALENDAR.remote_id, series["id"])
    ref = EventRef(master_id=series["id"], original_start=datetime(2025, 4, 1, 7, tzinfo=UTC))

    for etag in (series["etag"], ""):
        assert ADAPTER.delete_event(credentials, CALENDAR, ref, etag=etag, notify=False) is None


# --- delete ------------------------------------------------------------------------------------------------


def test_it_deletes_an_event_and_deleting_it_again_is_fine(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning"))
    cursor = cursor_of(credentials)
    ref = EventRef(provider_event_id=stored["id"])

    assert ADAPTER.delete_event(credentials, CALENDAR, ref, etag=stored["etag"], notify=False) is None

    assert writes(fake, "DELETE")[-1].if_match == stored["etag"]
    assert fake.event(CALENDAR.remote_id, stored["id"])["status"] == "cancelled"
    events, removed = changed_since(credentials, cursor)
    assert events == {} and removed == [stored["id"]]
    assert ADAPTER.delete_event(credentials, CALENDAR, ref, etag=stored["etag"], notify=False) is None
    assert ADAPTER.delete_event(credentials, CALENDAR, ref, etag="", notify=False) is None
    gone = EventRef(provider_event_id="neverexisted0")
    assert ADAPTER.delete_event(credentials, CALENDAR, gone, etag="", notify=False) is None


def test_it_refuses_a_delete_with_a_stale_etag(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning"))
    fake.patch_event(CALENDAR.remote_id, stored["id"], summary="Renamed at Google")

    with pytest.raises(Conflict):
        ADAPTER.delete_event(
            credentials, CALENDAR, EventRef(provider_event_id=stored["id"]), etag=stored["etag"], notify=False
        )

    assert fake.event(CALENDAR.remote_id, stored["id"])["status"] == "confirmed"


def test_it_deletes_a_series_with_its_exceptions(google):
    fake, credentials = google
    series = weekly_series(fake)
    exception = fake.put_exception(CALENDAR.remote_id, series["id"], at("2025-04-01T09:00:00+02:00"), summary="Moved")
    cursor = cursor_of(credentials)

    assert (
        ADAPTER.delete_event(
            credentials, CALENDAR, EventRef(provider_event_id=series["id"]), etag=series["etag"], notify=False
        )
        is None
    )

    events, removed = changed_since(credentials, cursor)
    assert events == {} and sorted(removed) == sorted([series["id"], exception["id"]])


# --- invitations -------------------------------------------------------------------------------------------


def invitation(fake):
    return fake.put_event(
        CALENDAR.remote_id,
        timed(
            "Quarterly review",
            organizer={"email": "boss@example.com", "displayName": "Boss"},
            attendees=[
                {"email": "boss@example.com", "organizer": True, "responseStatus": "accepted"},
                {"email": "olive@gmail.com", "self": True, "responseStatus": "needsAction"},
                {"email": "carol@example.com", "responseStatus": "tentative", "comment": "maybe"},
            ],
        ),
    )


def test_it_answers_an_invitation_changing_only_its_own_response(google):
    fake, credentials = google
    stored = invitation(fake)
    cursor = cursor_of(credentials)

    result = ADAPTER.respond(
        credentials, CALENDAR, EventRef(provider_event_id=stored["id"]), "accepted", etag=stored["etag"], notify=True
    )

    now = fake.event(CALENDAR.remote_id, stored["id"])
    assert [person["responseStatus"] for person in now["attendees"]] == ["accepted", "accepted", "tentative"]
    assert now["attendees"][2]["comment"] == "maybe"
    assert {name: value for name, value in now.items() if name not in ("attendees", "etag", "updated")} == {
        name: value for name, value in stored.items() if name not in ("attendees", "etag", "updated")
    }
    assert writes(fake, "PATCH")[-1].body == {"attendees": now["attendees"]}
    assert writes(fake, "PATCH")[-1].if_match == stored["etag"]
    assert result.events[0].metadata["attendees"][1]["response"] == "accepted"
    assert_echo(result, credentials, cursor)


def test_it_answers_one_occurrence_of_a_series_invitation(google):
    fake, credentials = google
    stored = invitation(fake)
    series = fake.patch_event(CALENDAR.remote_id, stored["id"], recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    cursor = cursor_of(credentials)
    ref = EventRef(master_id=series["id"], original_start=datetime(2025, 1, 14, 8, tzinfo=UTC))

    result = ADAPTER.respond(credentials, CALENDAR, ref, "declined", etag=series["etag"], notify=False)

    assert result.provider_event_id == f"{series['id']}_20250114T080000Z"
    assert result.events[0].metadata["attendees"][1]["response"] == "declined"
    assert fake.event(CALENDAR.remote_id, series["id"])["attendees"][1]["responseStatus"] == "needsAction"
    assert_echo(result, credentials, cursor)


def test_it_refuses_to_answer_an_event_the_person_is_not_invited_to(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Mine alone"))

    with pytest.raises(WriteRefused, match="guest list"):
        ADAPTER.respond(
            credentials, CALENDAR, EventRef(provider_event_id=stored["id"]), "accepted", etag="", notify=False
        )
    assert fake.event(CALENDAR.remote_id, stored["id"]) == stored


def test_it_refuses_to_change_an_invitation_someone_else_organizes(google):
    fake, credentials = google
    stored = invitation(fake)

    with pytest.raises(WriteRefused, match="organizer") as refused:
        ADAPTER.update_event(
            credentials,
            CALENDAR,
            EventRef(provider_event_id=stored["id"]),
            draft("My title"),
            etag=stored["etag"],
            notify=False,
        )
    assert refused.value.permanent
    assert fake.event(CALENDAR.remote_id, stored["id"]) == stored


# --- notifications, permissions, errors ----------------------------------------------------------------------


@pytest.mark.parametrize(("notify", "sent"), [(True, "all"), (False, "none")])
def test_it_sends_send_updates_as_the_person_chose_on_every_write(google, notify, sent):
    fake, credentials = google
    created = ADAPTER.create_event(credentials, CALENDAR, draft(), key=uuid4().hex, notify=notify)
    ref = EventRef(provider_event_id=created.provider_event_id)
    updated = ADAPTER.update_event(credentials, CALENDAR, ref, draft("Two"), etag=created.etag, notify=notify)
    ADAPTER.delete_event(credentials, CALENDAR, ref, etag=updated.etag, notify=notify)
    stored = invitation(fake)
    ADAPTER.respond(
        credentials, CALENDAR, EventRef(provider_event_id=stored["id"]), "tentative", etag="", notify=notify
    )

    assert [(entry.method, entry.send_updates) for entry in fake.write_log] == [
        ("POST", sent),
        ("PATCH", sent),
        ("DELETE", sent),
        ("PATCH", sent),
    ]


def test_it_refuses_writes_to_a_calendar_the_person_can_only_read(google):
    fake, credentials = google
    entry = fake.add_calendar(fake.person.sub, summary="Holidays", accessRole="reader")
    holidays = RemoteCalendar(remote_id=entry["id"], name="Holidays", timezone="Europe/Berlin", read_only=True)
    stored = fake.put_event(entry["id"], timed("New Year"))
    ref = EventRef(provider_event_id=stored["id"])

    attempts = [
        lambda: ADAPTER.create_event(credentials, holidays, draft(), key=uuid4().hex, notify=False),
        lambda: ADAPTER.update_event(credentials, holidays, ref, draft(), etag=stored["etag"], notify=False),
        lambda: ADAPTER.delete_event(credentials, holidays, ref, etag=stored["etag"], notify=False),
    ]
    for attempt in attempts:
        with pytest.raises(WriteRefused, match="only read this Google calendar") as refused:
            attempt()
        assert refused.value.permanent

    assert list(fake.events[entry["id"]]) == [stored["id"]]
    assert fake.event(entry["id"], stored["id"]) == stored


@pytest.mark.parametrize(
    ("status", "retry_after", "error", "waits"),
    [(429, "7", RateLimited, 7.0), (403, None, RateLimited, None), (500, None, ProviderError, None)],
)
def test_it_reports_rate_limits_and_server_errors_as_transient(google, status, retry_after, error, waits):
    fake, credentials = google
    fake.faults.append((status, retry_after))
    key = uuid4().hex

    with pytest.raises(error) as failed:
        ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False)

    assert not failed.value.permanent and failed.value.retry_after == waits
    assert status != 500 or not isinstance(failed.value, RateLimited)
    assert key not in fake.events.get(CALENDAR.remote_id, {})
    assert ADAPTER.create_event(credentials, CALENDAR, draft(), key=key, notify=False).provider_event_id == key


def test_it_reports_a_rejected_access_token(google):
    fake, credentials = google
    fake.expire_access_tokens()

    with pytest.raises(TokenRejected):
        ADAPTER.create_event(credentials, CALENDAR, draft(), key=uuid4().hex, notify=False)


def test_it_fetches_googles_current_copy_or_nothing_once_it_is_gone(google):
    fake, credentials = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning", **invitation_fields()))

    (copy,) = ADAPTER.fetch_event(credentials, CALENDAR, stored["id"])
    listed = {
        event.provider_event_id: event
        for page in ADAPTER.changes(credentials, CALENDAR, "", lambda ids: {})
        for event in page.events
    }
    assert isinstance(copy, RemoteEvent) and copy == listed[stored["id"]]

    fake.cancel_event(CALENDAR.remote_id, stored["id"])
    assert ADAPTER.fetch_event(credentials, CALENDAR, stored["id"]) == []
    assert ADAPTER.fetch_event(credentials, CALENDAR, "neverexisted0") == []


# --- the fake itself, through the client library only -----------------------------------------------------


@pytest.fixture
def service(google):
    fake, credentials = google
    http = google_auth_httplib2.AuthorizedHttp(
        GoogleCredentials(token=credentials.access_token), http=httplib2.Http(), refresh_status_codes=()
    )
    return build(
        "calendar",
        "v3",
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{fake.base_url}/calendar/v3/"},
        http=http,
    )


def refusal(call):
    with pytest.raises(HttpError) as failed:
        call.execute()
    error = json.loads(failed.value.content)["error"]
    return failed.value.resp.status, error["errors"][0]["reason"]


def test_it_checks_client_chosen_ids_as_google_does(google, service):
    body = timed("Planning")
    for bad in ("abc", "UPPERCASE1", "with-dash1", "wxyz12345"):
        assert refusal(service.events().insert(calendarId="primary", body={**body, "id": bad})) == (400, "invalid")
    made = service.events().insert(calendarId="primary", body={**body, "id": "a0v9" * 8}).execute()
    assert made["id"] == "a0v9" * 8 and made["iCalUID"] == f"{made['id']}@google.com"
    assert refusal(service.events().insert(calendarId="primary", body={**body, "id": made["id"]})) == (
        409,
        "duplicate",
    )
    assert service.events().insert(calendarId="primary", body=body).execute()["id"]  # Google picks one


def test_it_applies_patch_semantics_and_if_match(google, service):
    fake, _ = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning", location="Room 1", attendees=[{"email": "a@x.org"}]))
    patch = service.events().patch(
        calendarId="primary",
        eventId=stored["id"],
        body={"start": {"date": "2025-01-07", "dateTime": None, "timeZone": None}, "end": {"date": "2025-01-08"}},
    )
    # The end still has its dateTime (merged, not replaced): Google refuses the mix.
    assert refusal(patch) == (400, "invalid")
    stale = service.events().patch(calendarId="primary", eventId=stored["id"], body={"location": None})
    stale.headers["If-Match"] = '"1"'
    assert refusal(stale) == (412, "conditionNotMet")

    ok = service.events().patch(calendarId="primary", eventId=stored["id"], body={"location": None})
    ok.headers["If-Match"] = stored["etag"]
    patched = ok.execute()

    assert "location" not in patched and patched["attendees"] == [{"email": "a@x.org", "responseStatus": "needsAction"}]
    assert patched["etag"] != stored["etag"] and patched["updated"] > stored["updated"]


def test_it_replaces_an_event_on_update_keeping_what_google_owns(google, service):
    fake, _ = google
    stored = fake.put_event(CALENDAR.remote_id, timed("Planning", location="Room 1", description="Agenda"))

    updated = service.events().update(calendarId="primary", eventId=stored["id"], body=timed("Renamed")).execute()

    assert updated["summary"] == "Renamed" and "location" not in updated and "description" not in updated
    for kept in ("id", "iCalUID", "created", "organizer", "creator", "htmlLink"):
        assert updated[kept] == stored[kept]


def test_it_addresses_occurrences_by_instance_id_and_refuses_others(google, service):
    fake, _ = google
    series = weekly_series(fake)
    instance = service.events().get(calendarId="primary", eventId=f"{series['id']}_20250401T070000Z").execute()
    assert instance["recurringEventId"] == series["id"] and instance["start"] == at("2025-04-01T09:00:00+02:00")
    assert list(fake.events[CALENDAR.remote_id]) == [series["id"]]  # reading it does not make an exception

    for wrong in ("20250401T080000Z", "20250402T070000Z", "20250318T080000Z", "20250401"):
        assert refusal(service.events().get(calendarId="primary", eventId=f"{series['id']}_{wrong}")) == (
            404,
            "notFound",
        )
    fake.cancel_event(CALENDAR.remote_id, series["id"])
    assert refusal(service.events().delete(calendarId="primary", eventId=instance["id"])) == (410, "deleted")
    assert refusal(service.events().delete(calendarId="primary", eventId=series["id"])) == (410, "deleted")


def test_it_refuses_writes_without_writer_access_or_a_write_scope(google, service):
    fake, _ = google
    entry = fake.add_calendar(fake.person.sub, summary="Holidays", accessRole="reader")
    assert refusal(service.events().insert(calendarId=entry["id"], body=timed("x"))) == (403, "requiredAccessLevel")
    read_only = fake.issue_tokens(fake.person.sub, ["openid", f"{GOOGLE_SCOPES[2]}.readonly"])["access_token"]

    with pytest.raises(ProviderError, match="may not change"):
        ADAPTER.create_event(ProviderCredentials(access_token=read_only), CALENDAR, draft(), key="abcde", notify=False)
