"""Changes made in calsync, their local side: shown at once as pending, kept in the outbox in order, folded
together while waiting, refused where the provider would refuse them, audited. (Pushing is tested in
test_push.)"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from audit.models import AuditAction, AuditLog
from connections.models import AccountStatus, Provider
from connections.providers.base import EventDraft
from events.drafts import draft_of_row
from events.edits import (
    EditRefused,
    change_discard,
    event_create,
    event_delete,
    event_respond,
    event_update,
)
from events.models import CalendarEvent, ChangeOperation, ChangeScope, ChangeStatus, EventChange, EventSyncStatus
from events.selectors import occurrences_in_window
from tests.factories import make_account, make_connection, make_event

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)


@pytest.fixture
def calendar(owner):
    return make_connection(make_account(owner, Provider.GOOGLE, email="olive@example.com"), name="Work")


def draft(title: str = "Dentist", start: datetime = MONDAY, minutes: int = 45, **fields) -> EventDraft:
    return EventDraft(
        title=title, start=start, end=start + timedelta(minutes=minutes), timezone="Europe/Berlin", **fields
    )


def synced(calendar, **fields) -> CalendarEvent:
    return make_event(calendar, MONDAY, etag='"v1"', title="Review", **fields)


def test_it_saves_a_new_event_at_once_as_pending_and_queues_its_push(
    calendar, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        event = event_create(connection=calendar, draft=draft(location="Main St 1"), actor=owner)
    event.refresh_from_db()
    assert (event.title, event.location, event.start, event.sync_status) == (
        "Dentist",
        "Main St 1",
        MONDAY.astimezone(UTC),
        EventSyncStatus.PENDING,
    )
    assert event.provider_event_id is None and event.timezone == "Europe/Berlin"
    change = EventChange.objects.get(event=event)
    assert change.operation == ChangeOperation.CREATE and change.status == ChangeStatus.PENDING
    assert len(change.key) == 32 and int(change.key, 16) >= 0
    assert len(queued) == 1  # the push task, once the transaction commits
    assert AuditLog.objects.filter(action=AuditAction.EVENT_CREATED, target_id=str(event.pk)).count() == 1
    # Shown in the week straight away.
    shown = occurrences_in_window(
        connection_ids=[calendar.pk], start=MONDAY - timedelta(hours=1), end=MONDAY + timedelta(hours=2), zone=BERLIN
    )
    assert [occurrence.event.pk for occurrence in shown] == [event.pk]


def test_it_folds_edits_of_an_event_not_pushed_yet_into_its_create(calendar, owner):
    event = event_create(connection=calendar, draft=draft(), actor=owner)
    event_update(event=event, draft=draft("Dentist (moved)", MONDAY + timedelta(hours=2)), actor=owner)
    changes = list(EventChange.objects.filter(connection=calendar))
    assert [change.operation for change in changes] == [ChangeOperation.CREATE]
    assert changes[0].payload["title"] == "Dentist (moved)"
    assert datetime.fromisoformat(changes[0].payload["start"]) == MONDAY + timedelta(hours=2)


def test_it_keeps_one_update_based_on_the_providers_version_for_several_edits(calendar, owner):
    event = synced(calendar)
    event_update(event=event, draft=draft("Review v2"), actor=owner)
    event_update(event=event, draft=draft("Review v3", minutes=90), actor=owner)
    change = EventChange.objects.get(event=event)
    assert change.operation == ChangeOperation.UPDATE
    assert change.base_etag == '"v1"' and change.provider_event_id == event.provider_event_id
    assert change.payload["title"] == "Review v3"
    assert change.original["title"] == "Review"  # what a discard goes back to
    event.refresh_from_db()
    assert (event.title, event.end - event.start, event.sync_status) == (
        "Review v3",
        timedelta(minutes=90),
        EventSyncStatus.PENDING,
    )


def test_deleting_an_event_never_pushed_leaves_nothing_to_push(calendar, owner):
    event = event_create(connection=calendar, draft=draft(), actor=owner)
    event_delete(event=event, actor=owner)
    assert not CalendarEvent.objects.filter(pk=event.pk).exists()
    assert not EventChange.objects.exists()
    assert AuditLog.objects.filter(action=AuditAction.EVENT_DELETED).count() == 1


def test_deleting_a_synced_event_replaces_its_waiting_edit_and_keeps_it_shown_until_pushed(calendar, owner):
    event = synced(calendar)
    event_update(event=event, draft=draft("Review v2"), actor=owner)
    event_delete(event=event, actor=owner)
    change = EventChange.objects.get(event=event)
    assert (change.operation, change.base_etag) == (ChangeOperation.DELETE, '"v1"')
    event.refresh_from_db()
    assert event.deleted_at is None and event.sync_status == EventSyncStatus.PENDING


def test_a_read_only_calendar_refuses_changes_with_a_clear_message(owner):
    shared = make_connection(make_account(owner), name="Holidays", read_only=True)
    with pytest.raises(EditRefused, match="read-only"):
        event_create(connection=shared, draft=draft(), actor=owner)
    with pytest.raises(EditRefused, match="read-only"):
        event_update(event=make_event(shared), draft=draft(), actor=owner)
    assert not EventChange.objects.exists()


def test_an_account_that_needs_reconnecting_refuses_changes(calendar, owner):
    calendar.account.status = AccountStatus.NEEDS_RECONNECT
    calendar.account.save()
    with pytest.raises(EditRefused, match="Reconnect"):
        event_create(connection=calendar, draft=draft(), actor=owner)


def test_an_invitation_allows_only_the_persons_own_answer(calendar, owner):
    metadata = {
        "organizer": {"email": "boss@example.com", "self": False},
        "attendees": [
            {"email": "boss@example.com", "response": "accepted", "organizer": True},
            {"email": "olive@example.com", "response": "needs_action"},
            {"email": "pat@example.com", "response": "declined"},
        ],
    }
    event = synced(calendar, metadata=metadata)
    with pytest.raises(EditRefused, match=r"organized by boss@example\.com"):
        event_update(event=event, draft=draft("Mine now"), actor=owner)
    with pytest.raises(EditRefused, match="organized by"):
        event_delete(event=event, actor=owner)
    with pytest.raises(EditRefused, match=r"accepted, tentative or declined"):
        event_respond(event=event, response="maybe-later", actor=owner)
    event_respond(event=event, response="tentative", actor=owner)
    event.refresh_from_db()
    assert [person["response"] for person in event.metadata["attendees"]] == ["accepted", "tentative", "declined"]
    assert event.title == "Review"
    change = EventChange.objects.get(event=event)
    assert (change.operation, change.payload) == (ChangeOperation.RESPOND, {"response": "tentative"})


def weekly(calendar, **fields) -> CalendarEvent:
    return synced(calendar, recurrence="RRULE:FREQ=WEEKLY;COUNT=10", **fields)


def test_changing_one_occurrence_makes_an_exception_that_replaces_it_in_the_week(calendar, owner):
    master = weekly(calendar)
    second = MONDAY + timedelta(weeks=1)
    event_update(
        event=master,
        draft=draft("Review (moved)", second + timedelta(hours=3)),
        occurrence=second.astimezone(UTC),
        scope=ChangeScope.OCCURRENCE,
        actor=owner,
    )
    exception = CalendarEvent.objects.get(recurring_event=master)
    assert exception.original_start == second.astimezone(UTC)
    assert exception.master_provider_event_id == master.provider_event_id
    change = EventChange.objects.get(event=exception)
    assert (change.scope, change.master_provider_event_id, change.base_etag) == (
        ChangeScope.OCCURRENCE,
        master.provider_event_id,
        '"v1"',
    )
    shown = occurrences_in_window(
        connection_ids=[calendar.pk], start=second - timedelta(hours=1), end=second + timedelta(hours=6), zone=BERLIN
    )
    assert [(occurrence.event.title, occurrence.start) for occurrence in shown] == [
        ("Review (moved)", second + timedelta(hours=3))
    ]
    master.refresh_from_db()
    assert master.sync_status == EventSyncStatus.SYNCED  # the series itself did not change


def test_this_and_following_ends_the_series_and_starts_a_new_one_with_the_occurrences_left(calendar, owner):
    master = weekly(calendar)
    fourth = MONDAY + timedelta(weeks=3)
    created = event_update(
        event=master,
        draft=draft("Review (new room)", fourth),
        occurrence=fourth.astimezone(UTC),
        scope="following",
        actor=owner,
    )
    master.refresh_from_db()
    assert master.recurrence == "RRULE:FREQ=WEEKLY;UNTIL=20261221T075959Z"
    assert created.pk != master.pk and created.recurrence == "RRULE:FREQ=WEEKLY;COUNT=7"
    assert created.start == fourth.astimezone(UTC) and created.title == "Review (new room)"
    operations = list(EventChange.objects.order_by("pk").values_list("event_id", "operation"))
    assert operations == [(master.pk, ChangeOperation.UPDATE), (created.pk, ChangeOperation.CREATE)]
    titles = [
        occurrence.event.title
        for occurrence in occurrences_in_window(
            connection_ids=[calendar.pk], start=MONDAY, end=MONDAY + timedelta(weeks=12), zone=BERLIN
        )
    ]
    assert titles == ["Review"] * 3 + ["Review (new room)"] * 7


def test_moving_the_whole_series_through_one_occurrence_moves_every_occurrence(calendar, owner):
    master = weekly(calendar)
    second = MONDAY + timedelta(weeks=1)
    event_update(
        event=master,
        draft=draft("Review", second + timedelta(hours=1), minutes=30),
        occurrence=second.astimezone(UTC),
        scope=ChangeScope.EVENT,
        actor=owner,
    )
    master.refresh_from_db()
    assert master.start == (MONDAY + timedelta(hours=1)).astimezone(UTC)
    assert master.recurrence == "RRULE:FREQ=WEEKLY;COUNT=10"
    assert EventChange.objects.get(event=master).payload["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=10"]


def test_discarding_a_failed_edit_puts_the_providers_version_back(calendar, owner):
    event = synced(calendar)
    event_update(event=event, draft=draft("Review v2", minutes=90), actor=owner)
    change = EventChange.objects.get(event=event)
    EventChange.objects.filter(pk=change.pk).update(status=ChangeStatus.FAILED, last_error="HTTP 400")
    change_discard(change=change, actor=owner)
    event.refresh_from_db()
    assert (event.title, event.end - event.start, event.etag, event.sync_status) == (
        "Review",
        timedelta(minutes=30),
        '"v1"',
        EventSyncStatus.SYNCED,
    )
    assert not EventChange.objects.exists()


def test_discarding_a_failed_create_removes_the_event(calendar, owner):
    event = event_create(connection=calendar, draft=draft(), actor=owner)
    EventChange.objects.filter(event=event).update(status=ChangeStatus.FAILED)
    change_discard(change=EventChange.objects.get(event=event), actor=owner)
    assert not CalendarEvent.objects.filter(pk=event.pk).exists()


def test_moving_an_event_to_another_calendar_creates_it_there_and_deletes_it_here(calendar, owner):
    other = make_connection(calendar.account, name="Family")
    event = synced(calendar)
    moved = event_update(event=event, draft=draft_of_row(event), connection=other, actor=owner)
    assert moved.connection_id == other.pk and moved.title == "Review" and moved.provider_event_id is None
    event.refresh_from_db()
    assert event.deleted_at is not None  # out of the week at once; kept until the new copy is there
    changes = {change.connection_id: change for change in EventChange.objects.all()}
    assert changes[calendar.pk].operation == ChangeOperation.DELETE
    assert changes[calendar.pk].provider_event_id == event.provider_event_id
    assert changes[calendar.pk].base_etag == '"v1"'
    assert changes[other.pk].operation == ChangeOperation.CREATE and changes[other.pk].event_id == moved.pk
    # The old copy is deleted only once the new one is at the provider.
    assert changes[calendar.pk].depends_on_id == changes[other.pk].pk


def test_an_all_day_draft_keeps_its_dates(calendar, owner):
    event = event_create(
        connection=calendar,
        draft=EventDraft(title="Offsite", start=date(2026, 12, 2), end=date(2026, 12, 5)),
        actor=owner,
    )
    event.refresh_from_db()
    assert event.all_day and (event.start_date, event.end_date) == (date(2026, 12, 2), date(2026, 12, 5))


def test_all_occurrences_chosen_on_an_exception_changes_the_series(calendar, owner):
    master = weekly(calendar)
    second = (MONDAY + timedelta(weeks=1)).astimezone(UTC)
    exception = make_event(
        calendar,
        MONDAY + timedelta(weeks=1, hours=2),
        etag='"x1"',
        title="Review (moved)",
        master_provider_event_id=master.provider_event_id,
        original_start=second,
        recurring_event=master,
    )
    changed = event_update(
        event=exception,
        draft=draft("Review (renamed)", MONDAY + timedelta(weeks=1, hours=1)),
        scope=ChangeScope.EVENT,
        actor=owner,
    )
    assert changed.pk == master.pk
    master.refresh_from_db()
    # The exception was moved an hour earlier than where it stood: so is every occurrence.
    assert master.title == "Review (renamed)" and master.start == (MONDAY - timedelta(hours=1)).astimezone(UTC)
    assert list(EventChange.objects.values_list("event_id", "scope")) == [(master.pk, ChangeScope.EVENT)]


def test_a_series_cannot_switch_between_all_day_and_timed_through_one_occurrence(calendar, owner):
    master = weekly(calendar)
    second = (MONDAY + timedelta(weeks=1)).astimezone(UTC)
    all_day = EventDraft(title="Review", start=date(2026, 12, 7), end=date(2026, 12, 8))
    with pytest.raises(EditRefused, match="cannot switch between all-day and timed"):
        event_update(event=master, draft=all_day, occurrence=second, scope=ChangeScope.EVENT, actor=owner)
    master.refresh_from_db()
    assert not master.all_day and not EventChange.objects.exists()


def test_an_event_being_deleted_cannot_be_edited(calendar, owner):
    event = synced(calendar)
    event_delete(event=event, actor=owner)
    with pytest.raises(EditRefused, match="being deleted"):
        event_update(event=event, draft=draft("Renamed"), actor=owner)
