"""Two-way sync when things happen at once or go wrong halfway, through the real push engine, the real
adapters and the providers' fakes (or Radicale): the person edits or deletes while a write is on its way,
two edits of one series wait together, a series cut or a move fails halfway, a conflict's provider copy
cannot be read, an invitation or series vanishes at the provider, and discards go back to what the
provider holds."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from events.edits import (
    change_discard,
    change_reapply,
    event_create,
    event_delete,
    event_respond,
    event_update,
)
from events.models import CalendarEvent, ChangeScope, ChangeStatus, EventChange, EventSyncStatus
from tests.events.test_push import (
    MONDAY,
    PROVIDERS,
    World,
    caldav_world,
    draft,
    google_invitation,
    google_world,
    live,
    push,
    shown,
    sync,
    world_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=PROVIDERS)
def world(request, owner, settings) -> World:
    return world_for(request, owner, settings)


@pytest.fixture
def google(owner, fake_google, settings) -> World:
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    settings.PROVIDER_RETRY_ATTEMPTS = 1
    return google_world(owner, fake_google)


def pushed_event(world: World, owner, title: str = "Review", **fields) -> CalendarEvent:
    event = event_create(connection=world.connection, draft=draft(title, **fields), actor=owner)
    assert push(world).pushed == 1
    event.refresh_from_db()
    return event


def when_patched(fake_google, action) -> None:
    """Run `action` once, as the next PATCH reaches Google (the write is on its way)."""
    done: list[bool] = []

    def hook(method: str, route: str) -> None:
        if method == "PATCH" and not done:
            done.append(True)
            action()

    fake_google.on_request = hook


def test_two_edits_of_one_series_waiting_together_do_not_conflict_with_each_other(world, owner):
    series = pushed_event(world, owner, "Stand-up", recurrence=("RRULE:FREQ=WEEKLY;COUNT=6",))
    for week in (1, 2):
        event_update(
            event=CalendarEvent.objects.get(pk=series.pk),
            draft=draft(f"Stand-up (week {week}, late)", MONDAY + timedelta(weeks=week, hours=1)),
            occurrence=(MONDAY + timedelta(weeks=week)).astimezone(UTC),
            scope=ChangeScope.OCCURRENCE,
            actor=owner,
        )
    result = push(world)
    assert (result.pushed, result.conflicts) == (2, 0)
    titles = [title for title, _, _ in shown(world)]
    assert titles[1:3] == ["Stand-up (week 1, late)", "Stand-up (week 2, late)"]


def test_an_edit_made_after_seeing_a_conflict_is_not_another_conflict(world, owner):
    event = pushed_event(world, owner)
    event_update(event=event, draft=draft("Mine"), actor=owner)
    world.retitle_at_provider(str(event.provider_event_id), "Theirs")
    assert push(world).conflicts == 1
    event.refresh_from_db()
    assert event.title == "Theirs"
    event_update(event=event, draft=draft("Theirs, with my note"), actor=owner)  # edited from their version
    assert (push(world).pushed, EventChange.objects.count()) == (1, 0)
    assert world.title_at_provider(str(event.provider_event_id)) == "Theirs, with my note"


def test_discarding_a_failed_edit_keeps_what_the_provider_changed_while_it_waited(world, owner):
    event = pushed_event(world, owner, "A")
    event_update(event=event, draft=draft("Mine"), actor=owner)
    EventChange.objects.filter(event=event).update(status=ChangeStatus.FAILED, last_error="400")
    world.retitle_at_provider(str(event.provider_event_id), "Renamed by the organizer")
    sync(world)  # passes the waiting event over, and moves its cursor on
    change_discard(change=EventChange.objects.get(event=event), actor=owner)
    event.refresh_from_db()
    assert (event.title, event.sync_status) == ("Renamed by the organizer", EventSyncStatus.SYNCED)


def test_a_delete_made_while_an_edit_is_on_its_way_is_not_a_conflict(google, owner, fake_google):
    event = pushed_event(google, owner)
    event_update(event=event, draft=draft("Review v2"), actor=owner)
    when_patched(fake_google, lambda: event_delete(event=CalendarEvent.objects.get(pk=event.pk), actor=owner))
    push(google)
    assert google.title_at_provider(str(event.provider_event_id)) is None
    assert not EventChange.objects.exists() and live(google) == []


def test_an_edit_landing_while_another_is_made_leaves_the_newer_one_next_and_discard_goes_back_to_it(
    google, owner, fake_google, settings
):
    event = pushed_event(google, owner, "A")
    event_update(event=event, draft=draft("B"), actor=owner)
    when_patched(
        fake_google, lambda: event_update(event=CalendarEvent.objects.get(pk=event.pk), draft=draft("C"), actor=owner)
    )
    push(google)  # B lands; C waits, based on B
    assert google.title_at_provider(str(event.provider_event_id)) == "B"
    change = EventChange.objects.get(event=event)
    EventChange.objects.filter(pk=change.pk).update(status=ChangeStatus.FAILED)
    change_discard(change=change, actor=owner)
    event.refresh_from_db()
    assert event.title == "B"


def test_a_change_deleted_while_its_write_fails_for_now_does_not_break_the_push(google, owner, fake_google):
    event = pushed_event(google, owner)
    event_update(event=event, draft=draft("Review v2"), actor=owner)

    def delete_then_fail() -> None:
        event_delete(event=CalendarEvent.objects.get(pk=event.pk), actor=owner)
        fake_google.faults.append((503, None))

    when_patched(fake_google, delete_then_fail)
    result = push(google)
    assert result.outcome in ("ok", "waiting")
    push(google)
    assert google.title_at_provider(str(event.provider_event_id)) is None


def test_a_conflict_whose_provider_copy_cannot_be_read_leaves_the_event_in_the_week(google, owner, fake_google):
    event = pushed_event(google, owner)
    event_update(event=event, draft=draft("Mine"), actor=owner)
    google.retitle_at_provider(str(event.provider_event_id), "Theirs")
    reads: list[str] = []

    def later_reads_fail(method: str, route: str) -> None:
        if method == "GET" and "/events/" in route:
            reads.append(route)
            if len(reads) > 1:  # the adapter's own check reads it; the engine's fetch does not get through
                fake_google.faults.append((503, None))

    fake_google.on_request = later_reads_fail
    assert push(google).conflicts == 1
    event.refresh_from_db()
    assert event.deleted_at is None and event.title == "Mine"
    assert "could not be read" in EventChange.objects.get(event=event).last_error
    fake_google.on_request = None
    change_discard(change=EventChange.objects.get(event=event), actor=owner)
    event.refresh_from_db()
    assert event.title == "Review"  # the last version seen; the next sync brings theirs


def test_this_and_following_whose_cut_conflicts_makes_no_new_series(google, owner):
    series = pushed_event(google, owner, "Stand-up", recurrence=("RRULE:FREQ=WEEKLY;COUNT=6",))
    google.retitle_at_provider(str(series.provider_event_id), "Stand-up (room 4)")
    fourth = MONDAY + timedelta(weeks=3)
    following = event_update(
        event=series,
        draft=draft("Stand-up (new room)", fourth),
        occurrence=fourth.astimezone(UTC),
        scope="following",
        actor=owner,
    )
    result = push(google)
    assert (result.pushed, result.conflicts) == (0, 1)
    following.refresh_from_db()
    assert following.provider_event_id is None  # waits for the cut, which did not happen
    cut = EventChange.objects.get(event=series)
    change_discard(change=cut, actor=owner)
    assert not CalendarEvent.objects.filter(pk=following.pk).exists() and not EventChange.objects.exists()
    assert [title for title, _, _ in shown(google)] == ["Stand-up (room 4)"] * 6


def test_a_move_whose_new_copy_fails_loses_nothing(google, owner, caldav_account, settings):
    settings.PUSH_MAX_ATTEMPTS = 1
    caldav = caldav_world(owner, caldav_account, settings)
    event = pushed_event(google, owner, "Dentist")
    moved = event_update(event=event, draft=draft("Dentist"), connection=caldav.connection, actor=owner)
    caldav.break_provider()
    assert push(google).pushed == 0  # the old copy waits for the new one
    assert push(caldav).failed == 1
    assert google.title_at_provider(str(event.provider_event_id)) == "Dentist"
    change_discard(change=EventChange.objects.get(event=moved), actor=owner)
    assert [row.pk for row in live(google)] == [event.pk] and live(caldav) == []
    assert not EventChange.objects.exists()


def test_a_move_deletes_the_old_copy_once_the_new_one_is_there(google, owner, caldav_account, settings):
    caldav = caldav_world(owner, caldav_account, settings)
    event = pushed_event(google, owner, "Dentist")
    moved = event_update(event=event, draft=draft("Dentist"), connection=caldav.connection, actor=owner)
    assert push(google).pushed == 0
    assert push(caldav).pushed == 1
    assert push(google).pushed == 1
    moved.refresh_from_db()
    assert google.title_at_provider(str(event.provider_event_id)) is None
    assert caldav.title_at_provider(str(moved.provider_event_id)) == "Dentist"


def test_an_answer_to_an_invitation_deleted_meanwhile_is_dropped_and_blocks_nothing(google, owner, fake_google):
    pid = google_invitation(google, fake_google)
    sync(google)
    invitation = CalendarEvent.objects.get(provider_event_id=pid)
    event_respond(event=invitation, response="accepted", actor=owner)
    fake_google.cancel_event(google.connection.remote_id, pid)
    assert push(google).conflicts == 1
    change_reapply(change=EventChange.objects.get(event=invitation), actor=owner)
    assert not EventChange.objects.filter(event=invitation).exists()
    other = event_create(connection=google.connection, draft=draft("Dentist"), actor=owner)
    assert push(google).pushed == 1
    other.refresh_from_db()
    assert other.sync_status == EventSyncStatus.SYNCED


def test_cancelling_an_occurrence_of_a_series_deleted_meanwhile_leaves_nothing_pending(google, owner, fake_google):
    series = pushed_event(google, owner, "Stand-up", recurrence=("RRULE:FREQ=WEEKLY;COUNT=4",))
    second = (MONDAY + timedelta(weeks=1)).astimezone(UTC)
    event_delete(event=series, occurrence=second, scope=ChangeScope.OCCURRENCE, actor=owner)
    fake_google.cancel_event(google.connection.remote_id, str(series.provider_event_id))
    push(google)
    assert not EventChange.objects.exists()
    assert not CalendarEvent.objects.filter(sync_status=EventSyncStatus.PENDING).exists()


def test_a_create_never_pushed_and_deleted_while_on_its_way_is_deleted_again(google, owner, fake_google):
    event = event_create(connection=google.connection, draft=draft("Oops"), actor=owner)

    def delete_meanwhile(method: str, route: str) -> None:
        if method == "POST" and fake_google.on_request is not None:
            fake_google.on_request = None
            event_delete(event=CalendarEvent.objects.get(pk=event.pk), actor=owner)

    fake_google.on_request = delete_meanwhile
    push(google)
    kept = {
        event_id: item
        for event_id, item in fake_google.kept_events(google.connection.remote_id).items()
        if item.get("summary") == "Oops"
    }
    assert kept == {} and not EventChange.objects.exists()
