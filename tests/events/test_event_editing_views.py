"""The editing pages of the week view: the new-event form, edit, move, delete, answers to invitations and
the buttons that settle a failed or conflicting change. Only the owner reaches any of them; bad input gets
a clear message and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.urls import reverse

from connections.models import Provider
from events.models import CalendarEvent, ChangeOperation, ChangeStatus, EventChange, EventSyncStatus
from tests.conftest import PASSWORD
from tests.factories import make_account, make_connection, make_event

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)


@pytest.fixture
def calendar(owner):
    owner.timezone = "Europe/Berlin"
    owner.save()
    return make_connection(make_account(owner, Provider.GOOGLE, email="olive@example.com"), name="Work")


def form(connection, **fields) -> dict[str, str]:
    data = {
        "title": "Dentist",
        "calendar": str(connection.pk),
        "start_date": "2026-11-30",
        "start_time": "09:00",
        "end_date": "2026-11-30",
        "end_time": "09:45",
        "timezone": "Europe/Berlin",
        "location": "",
        "description": "",
    }
    data.update(fields)
    return data


def test_it_creates_an_event_from_the_form_and_shows_it_pending_in_the_week(owner_client, calendar):
    response = owner_client.post(reverse("event_new"), form(calendar, location="Main St 1"))
    assert response.status_code == 302 and response["Location"] == reverse("week", kwargs={"day": "2026-11-30"})
    event = CalendarEvent.objects.get()
    assert (event.title, event.start, event.end, event.location) == (
        "Dentist",
        MONDAY.astimezone(UTC),
        (MONDAY + timedelta(minutes=45)).astimezone(UTC),
        "Main St 1",
    )
    assert EventChange.objects.get().operation == ChangeOperation.CREATE
    week = owner_client.get(response["Location"]).content.decode()
    assert "sync-pending" in week and "Dentist" in week and "on its way" in week


def test_the_grid_opens_the_form_with_the_times_it_was_given(owner_client, calendar):
    page = owner_client.get(reverse("event_new"), {"start": "2026-12-01T14:30", "end": "2026-12-01T16:00"})
    body = page.content.decode()
    assert 'value="2026-12-01"' in body and 'value="14:30"' in body and 'value="16:00"' in body


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end_time": "08:00"}, "must end after it starts"),
        ({"start_time": ""}, "Enter a start time"),
        ({"start_date": "30/11/2026"}, "Enter a valid date"),
        ({"start_date": "1066-10-14", "end_date": "1066-10-14"}, "between 1900 and 2200"),
        ({"timezone": "Mars/Olympus"}, "Select a valid choice"),
        ({"calendar": "999999"}, "Select a valid choice"),
        ({"title": "x" * 1001}, "at most 1000 characters"),
    ],
)
def test_malformed_input_gets_a_clear_message_and_saves_nothing(owner_client, calendar, fields, message):
    response = owner_client.post(reverse("event_new"), form(calendar, **fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not CalendarEvent.objects.exists() and not EventChange.objects.exists()


def test_a_read_only_calendar_is_not_offered_and_cannot_be_forced(owner_client, owner, calendar):
    shared = make_connection(make_account(owner), name="Holidays", read_only=True)
    page = owner_client.get(reverse("event_new")).content.decode()
    assert "Holidays" not in page
    response = owner_client.post(reverse("event_new"), form(calendar, calendar=str(shared.pk)))
    assert response.status_code == 200 and not CalendarEvent.objects.exists()


def test_a_stranger_reaches_none_of_the_owners_events_or_changes(client, stranger, calendar):
    event = make_event(calendar, MONDAY, etag='"1"')
    change = EventChange.objects.create(connection=calendar, event=event, operation="update", status="failed")
    client.login(email=stranger.email, password=PASSWORD)
    for name in ("event_edit", "event_delete"):
        assert client.get(reverse(name, kwargs={"event_id": event.pk})).status_code == 404
    for url in (
        reverse("event_edit", kwargs={"event_id": event.pk}),
        reverse("event_move", kwargs={"event_id": event.pk}),
        reverse("event_delete", kwargs={"event_id": event.pk}),
        reverse("event_respond", kwargs={"event_id": event.pk}),
        reverse("change_action", kwargs={"change_id": change.pk, "action": "retry"}),
    ):
        assert client.post(url, {"start": "2026-12-01T10:00", "response": "accepted"}).status_code == 404
    # And the stranger's own new-event form does not offer the owner's calendar.
    assert client.post(reverse("event_new"), form(calendar)).status_code in (200, 302)
    assert CalendarEvent.objects.filter(connection=calendar).count() == 1
    change.refresh_from_db()
    assert change.status == ChangeStatus.FAILED


def test_editing_fills_the_form_and_saves_a_pending_update(owner_client, calendar):
    event = make_event(calendar, MONDAY, etag='"1"', title="Review")
    url = reverse("event_edit", kwargs={"event_id": event.pk})
    page = owner_client.get(url).content.decode()
    assert 'value="Review"' in page and 'value="09:00"' in page
    response = owner_client.post(url, form(calendar, title="Review (new room)", start_time="10:00", end_time="11:00"))
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.title == "Review (new room)" and event.start == (MONDAY + timedelta(hours=1)).astimezone(UTC)
    assert event.sync_status == EventSyncStatus.PENDING


def test_dragging_an_event_moves_it_and_keeps_its_length(owner_client, calendar):
    event = make_event(calendar, MONDAY, etag='"1"', title="Review")
    response = owner_client.post(
        reverse("event_move", kwargs={"event_id": event.pk}),
        {"start": "2026-12-02T15:15", "week": "/week/2026-11-30/"},
    )
    assert response.status_code == 302 and response["Location"] == "/week/2026-11-30/"
    event.refresh_from_db()
    assert event.start == datetime(2026, 12, 2, 15, 15, tzinfo=BERLIN) and event.end - event.start == timedelta(
        minutes=30
    )
    assert EventChange.objects.get(event=event).operation == ChangeOperation.UPDATE


def test_a_move_that_cannot_be_read_changes_nothing_and_the_return_url_stays_on_this_site(owner_client, calendar):
    event = make_event(calendar, MONDAY, etag='"1"')
    url = reverse("event_move", kwargs={"event_id": event.pk})
    assert owner_client.post(url, {"start": "soon"}).status_code == 302
    assert not EventChange.objects.exists()
    response = owner_client.post(url, {"start": "2026-12-01T10:00", "week": "//evil.example/week/"})
    assert response["Location"].startswith("/week/")


def test_deleting_a_series_asks_which_occurrences(owner_client, calendar):
    master = make_event(calendar, MONDAY, etag='"1"', recurrence="RRULE:FREQ=WEEKLY;COUNT=4")
    at = (MONDAY + timedelta(weeks=1)).astimezone(UTC).isoformat()
    url = reverse("event_delete", kwargs={"event_id": master.pk}) + "?" + urlencode({"at": at})
    page = owner_client.get(url).content.decode()
    assert 'value="following"' in page and 'value="occurrence"' in page
    assert owner_client.post(url, {"scope": "occurrence", "at": at}).status_code == 302
    cancelled = CalendarEvent.objects.get(recurring_event=master)
    assert cancelled.status == "cancelled" and cancelled.original_start is not None
    assert cancelled.original_start.isoformat() == at


def test_an_invitation_shows_the_answer_buttons_instead_of_edit(owner_client, calendar):
    event = make_event(
        calendar,
        MONDAY,
        etag='"1"',
        metadata={
            "organizer": {"email": "boss@example.com", "self": False},
            "attendees": [{"email": "olive@example.com", "response": "needs_action"}],
        },
    )
    detail = owner_client.get(reverse("event_detail", kwargs={"event_id": event.pk})).content.decode()
    assert "Going?" in detail and "organized by boss@example.com" in detail and 'id="event-edit"' not in detail
    response = owner_client.post(reverse("event_respond", kwargs={"event_id": event.pk}), {"response": "declined"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.metadata["attendees"][0]["response"] == "declined"
    edit = owner_client.post(reverse("event_edit", kwargs={"event_id": event.pk}), form(calendar, title="Mine"))
    assert "organized by boss@example.com" in edit.content.decode()
    event.refresh_from_db()
    assert event.title != "Mine"


def test_a_failed_change_shows_its_reason_and_a_retry_button_that_queues_it_again(owner_client, calendar):
    event = make_event(calendar, MONDAY, etag='"1"', sync_status="failed")
    change = EventChange.objects.create(
        connection=calendar, event=event, operation="update", status="failed", last_error="Google: 400 badRequest"
    )
    detail = owner_client.get(reverse("event_detail", kwargs={"event_id": event.pk})).content.decode()
    assert "Google: 400 badRequest" in detail and reverse("change_action", args=[change.pk, "retry"]) in detail
    owner_client.post(reverse("change_action", args=[change.pk, "retry"]))
    change.refresh_from_db()
    assert (change.status, change.attempts, change.last_error) == (ChangeStatus.PENDING, 0, "")
    assert owner_client.post(reverse("change_action", args=[change.pk, "explode"])).status_code == 404


def test_the_push_command_reports_what_it_did(calendar, db):
    out = StringIO()
    call_command("push_changes", "--all", stdout=out)
    assert out.getvalue().splitlines()[-1] == "0 connections: 0 changes pushed, 0 conflicts, 0 failed."
    out = StringIO()
    call_command("push_changes", "--due", "--enqueue", stdout=out)
    assert "0 pushes queued." in out.getvalue()


def test_an_edit_of_an_event_deleted_at_the_provider_waits_beside_the_week_to_be_made_again(owner_client, calendar):
    event = make_event(calendar, MONDAY, etag='"1"', title="Review", deleted_at=MONDAY)
    change = EventChange.objects.create(
        connection=calendar,
        event=event,
        operation=ChangeOperation.UPDATE,
        provider_event_id=str(event.provider_event_id),
        status=ChangeStatus.CONFLICT,
        last_error="The event was deleted at the provider after you changed it.",
        payload={**form_payload("Review (mine)"), "gone": True},
    )
    week = owner_client.get(reverse("week", kwargs={"day": "2026-11-30"})).content.decode()
    assert "Changes to settle" in week and "Review (mine)" in week
    assert reverse("change_action", args=[change.pk, "reapply"]) in week

    owner_client.post(reverse("change_action", args=[change.pk, "reapply"]))
    change.refresh_from_db()
    event.refresh_from_db()
    assert (change.operation, change.status, len(change.key)) == (ChangeOperation.CREATE, ChangeStatus.PENDING, 32)
    assert event.deleted_at is None and event.provider_event_id is None and event.title == "Review (mine)"
    assert event.sync_status == EventSyncStatus.PENDING
    assert "Changes to settle" not in owner_client.get(reverse("week", kwargs={"day": "2026-11-30"})).content.decode()


def form_payload(title: str) -> dict[str, object]:
    return {
        "title": title,
        "description": "",
        "location": "",
        "start": MONDAY.isoformat(),
        "end": (MONDAY + timedelta(hours=1)).isoformat(),
        "all_day": False,
        "timezone": "Europe/Berlin",
        "recurrence": [],
    }


def test_dragging_across_the_dst_change_lands_at_the_wall_time_it_was_dropped_on(owner_client, calendar):
    friday = make_event(calendar, datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN), etag='"1"', title="Stand-up")
    # Dropped on Monday 09:00; the clocks went forward on Sunday 29 March.
    owner_client.post(reverse("event_move", kwargs={"event_id": friday.pk}), {"start": "2026-03-30T09:00"})
    friday.refresh_from_db()
    assert friday.start == datetime(2026, 3, 30, 9, 0, tzinfo=BERLIN)


def test_dragging_a_summer_occurrence_of_a_winter_series_moves_it_by_the_drag(owner_client, calendar):
    series = make_event(
        calendar, datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN), etag='"1"', recurrence="RRULE:FREQ=WEEKLY;COUNT=52"
    )
    summer = datetime(2026, 7, 6, 9, 0, tzinfo=BERLIN)
    owner_client.post(
        reverse("event_move", kwargs={"event_id": series.pk}),
        {"start": "2026-07-06T10:00", "at": summer.astimezone(UTC).isoformat()},
    )
    moved = CalendarEvent.objects.get(recurring_event=series)
    assert moved.start == datetime(2026, 7, 6, 10, 0, tzinfo=BERLIN)


def test_dragging_an_occurrence_moved_before_moves_only_that_occurrence(owner_client, calendar):
    series = make_event(calendar, MONDAY, etag='"1"', recurrence="RRULE:FREQ=WEEKLY;COUNT=10")
    second = MONDAY + timedelta(weeks=1)
    exception = make_event(
        calendar,
        second + timedelta(hours=2),
        etag='"x1"',
        master_provider_event_id=series.provider_event_id,
        original_start=second.astimezone(UTC),
        recurring_event=series,
    )
    # An exception's block carries no `at`, and the grid sends no scope.
    owner_client.post(reverse("event_move", kwargs={"event_id": exception.pk}), {"start": "2026-12-07T12:00"})
    series.refresh_from_db()
    exception.refresh_from_db()
    assert series.start == MONDAY and series.sync_status == EventSyncStatus.SYNCED
    assert exception.start == second + timedelta(hours=3)


def test_renaming_a_floating_event_keeps_it_floating(owner_client, calendar):
    # 09:00 wherever it is seen: stored as the wall clock labelled UTC, with no zone.
    floating = make_event(calendar, datetime(2026, 11, 30, 9, 0, tzinfo=UTC), etag='"1"', title="Yoga", timezone="")
    url = reverse("event_edit", kwargs={"event_id": floating.pk})
    page = owner_client.get(url).content.decode()
    assert 'value="09:00"' in page and "Floating: the same clock time in every zone" in page
    owner_client.post(url, form(calendar, title="Yoga (mat)", start_time="09:00", end_time="09:30", timezone=""))
    floating.refresh_from_db()
    assert (floating.title, floating.timezone, floating.start) == (
        "Yoga (mat)",
        "",
        datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
    )
    # A new event still needs a zone.
    response = owner_client.post(reverse("event_new"), form(calendar, timezone=""))
    assert "Choose a time zone." in response.content.decode() and not CalendarEvent.objects.exclude(pk=floating.pk)
