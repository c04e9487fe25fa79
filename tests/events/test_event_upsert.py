"""events.upsert writes the same rows through COPY as through bulk_create, and the sync uses either.

The COPY path is the one large pages take (a first sync of a big calendar); the ORM path the one small
incremental pages take. Each test runs the same rows through both, or the sync with the threshold at 1.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.forms.models import model_to_dict

from connections.models import CalendarConnection
from connections.providers.base import RemoteEvent
from events.mapping import event_row
from events.models import CalendarEvent, EventSyncStatus
from events.sync import SYNCED_FIELDS, sync_connection
from events.templatetags.events_week import attendees
from events.upsert import events_upsert
from fakes.sync_views import google_view, stored_view
from tests.factories import make_account, make_connection
from tests.sync_helpers import google_calendar

BERLIN = ZoneInfo("Europe/Berlin")
PATHS = {"copy": 1, "orm": 10_000}  # SYNC_COPY_MIN_ROWS for each path
# Compared column by column; these differ between any two writes by design.
NOT_COMPARED = {"id", "connection", "created_at", "updated_at", "recurring_event"}


def remote_events() -> list[RemoteEvent]:
    timed = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)  # the night the clocks go forward
    return [
        RemoteEvent(
            "timed",
            timed,
            timed + timedelta(hours=2),
            etag='"1"',
            title="Tab\there, new\nline, back\\slash, \\N and ünïcödé 🎉",
            description="x" * 20_000,
            location="Room \x00 4",
            timezone="Europe/Berlin",
            metadata={"attendees": [{"email": "a@example.com", "name": "Añna \x00", "optional": False}]},
            provider_data={"sequence": 3, "nested": {"list": [1, 2.5, None, True]}, "odd": "\\u0000 as text"},
        ),
        RemoteEvent("all-day", date(2026, 4, 1), date(2026, 4, 3), etag='"2"', title="Trip"),
        # Floating times are naive by design: a wall clock in no zone.
        RemoteEvent("floating", datetime(2026, 4, 2, 9), datetime(2026, 4, 2, 10), title="No etag"),  # noqa: DTZ001
        RemoteEvent(
            "series",
            datetime(2024, 1, 1, 9, tzinfo=BERLIN),
            datetime(2024, 1, 1, 9, 30, tzinfo=BERLIN),
            etag='"3"',
            timezone="Europe/Berlin",
            recurrence=("RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE;TZID=Europe/Berlin:20240108T090000"),
        ),
        RemoteEvent(
            "series_20240115",
            datetime(2024, 1, 15, 10, tzinfo=BERLIN),
            datetime(2024, 1, 15, 10, 30, tzinfo=BERLIN),
            etag='"4"',
            status="cancelled",
            master_id="series",
            original_start=datetime(2024, 1, 15, 9, tzinfo=BERLIN),
        ),
        RemoteEvent(
            "broken",
            datetime(2026, 5, 1, 12, tzinfo=UTC),
            datetime(2026, 5, 1, 11, tzinfo=UTC),
            title="Ends before it starts, lone \ud800 surrogate",
            metadata={"score": float("nan")},
        ),
    ]


def stored_columns(connection: CalendarConnection) -> dict[str, dict[str, Any]]:
    return {
        str(event.provider_event_id): {
            name: value for name, value in model_to_dict(event).items() if name not in NOT_COMPARED
        }
        for event in CalendarEvent.objects.filter(connection=connection)
    }


def write(connection: CalendarConnection, remotes: list[RemoteEvent], **options: object) -> None:
    rows = {remote.provider_event_id: event_row(remote).fields for remote in remotes}
    options = {"sync_status": EventSyncStatus.SYNCED, "update_fields": SYNCED_FIELDS} | options
    events_upsert(connection_id=connection.pk, rows=rows, **options)  # type: ignore[arg-type]


@pytest.fixture
def two_calendars(owner) -> tuple[CalendarConnection, CalendarConnection]:
    account = make_account(owner, "google", external_id="sub-1", email="olive@example.com")
    return make_connection(account, remote_id="a", name="A"), make_connection(account, remote_id="b", name="B")


@pytest.mark.django_db
def test_copy_and_orm_store_the_same_values(two_calendars, settings):
    by_copy, by_orm = two_calendars
    settings.SYNC_COPY_MIN_ROWS = PATHS["copy"]
    write(by_copy, remote_events())
    settings.SYNC_COPY_MIN_ROWS = PATHS["orm"]
    write(by_orm, remote_events())

    copied, written = stored_columns(by_copy), stored_columns(by_orm)
    assert copied == written
    assert copied["timed"]["title"] == "Tab\there, new\nline, back\\slash, \\N and ünïcödé 🎉"
    assert copied["timed"]["location"] == "Room  4"
    assert copied["timed"]["metadata"]["attendees"][0]["name"] == "Añna "
    assert copied["timed"]["provider_data"]["odd"] == "\\u0000 as text"
    assert copied["timed"]["start"] == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # still winter time at 01:30
    assert copied["floating"]["etag"].startswith("sha256:") and copied["floating"]["start"].hour == 9
    assert copied["series"]["recurrence_end"] == datetime(2024, 3, 4, 8, 30, tzinfo=UTC)
    assert copied["broken"]["metadata"] == {"score": None}
    assert copied["broken"]["title"] == "Ends before it starts, lone ? surrogate"


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_an_update_writes_only_the_listed_fields_and_revives_a_deleted_row(two_calendars, settings, path):
    calendar, _ = two_calendars
    settings.SYNC_COPY_MIN_ROWS = PATHS[path]
    write(calendar, remote_events())
    CalendarEvent.objects.filter(provider_event_id="all-day").update(deleted_at=datetime(2026, 1, 1, tzinfo=UTC))
    CalendarEvent.objects.filter(provider_event_id="timed").update(sync_status=EventSyncStatus.PENDING)
    created = dict(CalendarEvent.objects.values_list("provider_event_id", "created_at"))

    changed = [
        RemoteEvent("timed", datetime(2026, 6, 1, 9, tzinfo=UTC), datetime(2026, 6, 1, 10, tzinfo=UTC), title="Moved"),
        RemoteEvent("all-day", date(2026, 4, 1), date(2026, 4, 2), etag='"5"', title="Trip, shorter"),
    ]
    write(calendar, changed, update_fields=[name for name in SYNCED_FIELDS if name != "title"])

    stored = {event.provider_event_id: event for event in CalendarEvent.objects.filter(connection=calendar)}
    assert stored["timed"].start == datetime(2026, 6, 1, 9, tzinfo=UTC)
    assert stored["timed"].title.startswith("Tab")  # not among the fields to update
    assert stored["timed"].sync_status == EventSyncStatus.PENDING  # nor is the sync status
    assert stored["all-day"].deleted_at is None and stored["all-day"].etag == '"5"'
    assert stored["all-day"].created_at == created["all-day"]
    assert len(stored) == len(remote_events())


@pytest.mark.django_db
def test_copy_writes_twice_in_one_transaction_and_a_rollback_leaves_nothing(two_calendars, settings):
    calendar, other = two_calendars
    settings.SYNC_COPY_MIN_ROWS = PATHS["copy"]
    with transaction.atomic():
        write(calendar, remote_events()[:3])
        write(other, remote_events()[3:])
    assert CalendarEvent.objects.count() == len(remote_events())

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        write(calendar, [RemoteEvent("late", date(2026, 7, 1), date(2026, 7, 2))])
        raise Abort
    assert not CalendarEvent.objects.filter(provider_event_id="late").exists()


@pytest.mark.django_db(transaction=True)
def test_a_sync_through_copy_matches_the_provider_after_edits_and_cancellations(owner, fake_google, settings):
    settings.SYNC_COPY_MIN_ROWS = PATHS["copy"]
    fake_google.page_size = 3
    calendar = google_calendar(owner, fake_google)
    master = fake_google.put_event(
        calendar.remote_id,
        {
            "summary": "Standup",
            "start": {"dateTime": "2026-01-05T09:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-01-05T09:15:00+01:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=10"],
        },
    )
    for day in range(1, 8):
        fake_google.put_event(
            calendar.remote_id,
            {"summary": f"Event {day}", "start": {"date": f"2026-02-0{day}"}, "end": {"date": f"2026-02-0{day + 1}"}},
        )
    first = sync_connection(connection=calendar)
    assert first.created == 8
    assert stored_view(calendar) == google_view(fake_google, calendar.remote_id)

    fake_google.cancel_occurrence(
        calendar.remote_id, master["id"], {"dateTime": "2026-01-06T09:00:00+01:00", "timeZone": "Europe/Berlin"}
    )
    singles = [event_id for event_id in fake_google.kept_events(calendar.remote_id) if event_id != master["id"]]
    for event_id in singles[:3]:
        fake_google.patch_event(calendar.remote_id, event_id, summary="Renamed")
    calendar.refresh_from_db()
    again = sync_connection(connection=calendar)
    assert again.created == 1 and again.updated == 3
    assert stored_view(calendar) == google_view(fake_google, calendar.remote_id)
    cancelled = CalendarEvent.objects.get(connection=calendar, master_provider_event_id=master["id"])
    assert cancelled.recurring_event is not None and cancelled.recurring_event.provider_event_id == master["id"]

    calendar.refresh_from_db()
    unchanged = sync_connection(connection=calendar, full=True)
    assert (unchanged.created, unchanged.updated, unchanged.unchanged) == (0, 0, 9)


def test_the_guest_list_is_stored_without_the_flags_that_are_off():
    guests = [
        {"email": "ann@example.com", "name": "", "response": "accepted", "organizer": False, "optional": True},
        {"email": "bo@example.com", "name": "Bo", "response": "needs_action", "organizer": True, "optional": False},
    ]
    organizer = {"email": "bo@example.com", "name": "Bo", "self": False}
    remote = RemoteEvent(
        "x", date(2026, 1, 1), date(2026, 1, 2), metadata={"attendees": guests, "organizer": organizer}
    )
    stored = event_row(remote).fields["metadata"]
    assert stored == {
        "attendees": [
            {"email": "ann@example.com", "response": "accepted", "optional": True},
            {"email": "bo@example.com", "name": "Bo", "response": "needs_action", "organizer": True},
        ],
        "organizer": {"email": "bo@example.com", "name": "Bo"},
    }
    # What the details panel reads from it is what the provider said.
    shown = [(person.label, person.optional) for person in attendees(stored)]
    assert shown == [("ann@example.com", True), ("Bo <bo@example.com>", False)]
