"""Two-way sync end to end, for each provider: a change made in calsync is pushed by the real push engine
through the real adapter to the loopback fake (Google, Microsoft) or to Radicale (CalDAV), and the next
inbound sync brings it back without a duplicate or a flicker (the echo check).

Each `World` says how to see and change the provider's copy behind calsync's back; everything else is
the same code path for every provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from connections.credentials import CalendarSession
from connections.models import CalendarConnection, Provider
from connections.providers.base import EventDraft
from connections.providers.microsoft.client import SCOPES as MICROSOFT_SCOPES
from connections.providers.registry import adapter_for
from events.drafts import draft_of_row
from events.edits import (
    EditRefused,
    change_reapply,
    change_retry,
    event_create,
    event_delete,
    event_respond,
    event_update,
)
from events.models import CalendarEvent, ChangeScope, ChangeStatus, EventChange, EventSyncStatus
from events.outbox import changes_due
from events.push import connection_push
from events.selectors import occurrences_in_window
from events.sync import sync_connection
from tests.factories import make_account, make_connection
from tests.sync_helpers import caldav_work_calendar, google_calendar

pytestmark = pytest.mark.django_db(transaction=True)

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)


@dataclass
class World:
    connection: CalendarConnection
    title_at_provider: Callable[[str], str | None]  # the live event's title, None when it is gone
    retitle_at_provider: Callable[[str, str], None]  # someone edits it at the provider meanwhile
    break_provider: Callable[[], None]  # every request fails as if the provider were down
    mend_provider: Callable[[], None]


def google_world(owner, fake_google) -> World:
    connection = google_calendar(owner, fake_google)
    calendar_id = connection.remote_id

    def title(pid: str) -> str | None:
        found = fake_google.kept_events(calendar_id).get(pid)
        return None if found is None or found.get("status") == "cancelled" else str(found.get("summary", ""))

    def broken() -> None:
        fake_google.outage_after = 0

    def mended() -> None:
        fake_google.outage_after = None

    return World(
        connection,
        title,
        lambda pid, text: fake_google.patch_event(calendar_id, pid, summary=text),
        broken,
        mended,
    )


def caldav_world(owner, caldav_account, settings) -> World:
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True
    connection = caldav_work_calendar(owner, caldav_account)
    collection = connection.remote_id

    def url(pid: str) -> str:
        return collection.split("/", 3)[0] + "//" + collection.split("/", 3)[2] + pid

    def read(pid: str) -> icalendar.Calendar | None:
        with caldav_account.client() as client:
            response = client.request(url(pid))
        return None if response.status == 404 else icalendar.Calendar.from_ical(response.raw)

    def title(pid: str) -> str | None:
        found = read(pid)
        if found is None:
            return None
        masters = [vevent for vevent in found.walk("VEVENT") if "RECURRENCE-ID" not in vevent]
        return str(masters[0].get("SUMMARY", ""))

    def retitle(pid: str, text: str) -> None:
        found = read(pid)
        assert found is not None
        for vevent in found.walk("VEVENT"):
            vevent["SUMMARY"] = text
        with caldav_account.client() as client:
            assert client.put(url(pid), found.to_ical().decode(), {"Content-Type": "text/calendar"}).status in (
                200,
                201,
                204,
            )

    def broken() -> None:
        CalendarConnection.objects.filter(pk=connection.pk).update(remote_id="https://127.0.0.1:9/nothing/")

    def mended() -> None:
        CalendarConnection.objects.filter(pk=connection.pk).update(remote_id=collection)

    return World(connection, title, retitle, broken, mended)


def microsoft_world(owner, fake_microsoft) -> World:
    person = fake_microsoft.add_user("olive@contoso.com", display_name="Olive Owner")
    tokens = fake_microsoft.issue_tokens(person.oid, [*MICROSOFT_SCOPES, "openid", "profile", "offline_access"])
    account = make_account(
        owner,
        Provider.MICROSOFT,
        external_id=person.oid,
        email=person.mail,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_expires_at=now() + timedelta(hours=1),
    )
    connection = make_connection(account, remote_id=fake_microsoft.default_calendar_id(person.oid), name="Calendar")

    def title(pid: str) -> str | None:
        found = fake_microsoft.calendar_events.instance(pid)
        return (
            None
            if found is None
            else str((found.fields if hasattr(found, "fields") else found.event.fields)["subject"])
        )

    def broken() -> None:
        fake_microsoft.faults.extend([(503, None)] * 200)

    def mended() -> None:
        fake_microsoft.faults.clear()

    return World(
        connection,
        title,
        lambda pid, text: fake_microsoft.update_event(pid, subject=text),
        broken,
        mended,
    )


PROVIDERS = ["google", "microsoft", "caldav"]


def world_for(request, owner, settings) -> World:
    """The world of the provider `request.param` names (the `world` fixtures of the push tests)."""
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    settings.PROVIDER_RETRY_ATTEMPTS = 1
    if request.param == "google":
        return google_world(owner, request.getfixturevalue("fake_google"))
    if request.param == "microsoft":
        return microsoft_world(owner, request.getfixturevalue("fake_microsoft"))
    return caldav_world(owner, request.getfixturevalue("caldav_account"), settings)


@pytest.fixture(params=PROVIDERS)
def world(request, owner, settings) -> World:
    return world_for(request, owner, settings)


def push(world: World):
    return connection_push(connection=CalendarConnection.objects.get(pk=world.connection.pk))


def sync(world: World):
    return sync_connection(connection=CalendarConnection.objects.get(pk=world.connection.pk))


def draft(title: str, start: datetime = MONDAY, minutes: int = 45, **fields) -> EventDraft:
    return EventDraft(
        title=title, start=start, end=start + timedelta(minutes=minutes), timezone="Europe/Berlin", **fields
    )


def adapter_session(world: World) -> CalendarSession:
    """The adapter and credentials the push engine would use, to make a write by hand."""
    connection = CalendarConnection.objects.select_related("account").get(pk=world.connection.pk)
    adapter = adapter_for(connection.account.provider)
    assert adapter is not None
    return CalendarSession(connection, adapter)


def live(world: World) -> list[CalendarEvent]:
    return list(CalendarEvent.objects.filter(connection=world.connection, deleted_at__isnull=True).order_by("pk"))


def test_it_creates_edits_moves_and_deletes_at_the_provider_and_the_echo_changes_nothing(world, owner):
    sync(world)  # a cursor, so the echo check is an incremental sync
    event = event_create(connection=world.connection, draft=draft("Dentist"), actor=owner)
    assert push(world).pushed == 1
    event.refresh_from_db()
    assert event.sync_status == EventSyncStatus.SYNCED and event.provider_event_id
    assert world.title_at_provider(event.provider_event_id) == "Dentist"
    echo = sync(world)
    assert (echo.created, echo.updated, echo.deleted) == (0, 0, 0)
    assert [row.pk for row in live(world)] == [event.pk]

    event_update(event=event, draft=draft("Dentist (moved)", MONDAY + timedelta(days=1, hours=2)), actor=owner)
    assert push(world).pushed == 1
    event.refresh_from_db()
    assert world.title_at_provider(event.provider_event_id) == "Dentist (moved)"
    assert event.start == (MONDAY + timedelta(days=1, hours=2)).astimezone(UTC)
    echo = sync(world)
    assert (echo.created, echo.updated, echo.deleted) == (0, 0, 0)
    event.refresh_from_db()
    assert event.title == "Dentist (moved)" and event.sync_status == EventSyncStatus.SYNCED

    event_delete(event=event, actor=owner)
    assert push(world).pushed == 1
    assert world.title_at_provider(str(event.provider_event_id)) is None
    assert live(world) == []
    echo = sync(world)
    assert (echo.created, echo.updated) == (0, 0) and live(world) == []
    assert not EventChange.objects.exists()
    audited = set(AuditLog.objects.filter(target_id=str(event.pk)).values_list("action", flat=True))
    assert audited == {AuditAction.EVENT_CREATED, AuditAction.EVENT_UPDATED, AuditAction.EVENT_DELETED}


def test_a_change_made_at_the_provider_meanwhile_wins_and_the_persons_version_waits(world, owner):
    event = event_create(connection=world.connection, draft=draft("Review"), actor=owner)
    push(world)
    event.refresh_from_db()
    pid = str(event.provider_event_id)
    event_update(event=event, draft=draft("Review (mine)"), actor=owner)
    world.retitle_at_provider(pid, "Review (theirs)")
    # An inbound sync before the push leaves the person's waiting edit alone (the push settles it).
    sync(world)
    event.refresh_from_db()
    assert (event.title, event.sync_status) == ("Review (mine)", EventSyncStatus.PENDING)

    result = push(world)
    assert (result.pushed, result.conflicts) == (0, 1)
    assert world.title_at_provider(pid) == "Review (theirs)"
    event.refresh_from_db()
    assert (event.title, event.sync_status) == ("Review (theirs)", EventSyncStatus.CONFLICT)
    change = EventChange.objects.get(event=event)
    assert change.status == ChangeStatus.CONFLICT and change.payload["title"] == "Review (mine)"
    assert AuditLog.objects.filter(action=AuditAction.EVENT_CONFLICT, target_id=str(event.pk)).count() == 1
    # The inbound sync leaves the conflict alone (the person has not decided yet) and adds nothing.
    echo = sync(world)
    assert echo.created == 0 and [row.pk for row in live(world)] == [event.pk]

    change_reapply(change=change, actor=owner)
    assert push(world).pushed == 1
    assert world.title_at_provider(pid) == "Review (mine)"
    event.refresh_from_db()
    assert (event.title, event.sync_status) == ("Review (mine)", EventSyncStatus.SYNCED)


def test_a_provider_that_is_down_is_retried_with_backoff_then_shown_failed_with_a_retry(world, owner, settings):
    settings.PUSH_MAX_ATTEMPTS = 2
    event = event_create(connection=world.connection, draft=draft("Call"), actor=owner)
    world.break_provider()
    first = push(world)
    assert first.outcome == "waiting" and first.pushed == 0
    change = EventChange.objects.get(event=event)
    assert change.status == ChangeStatus.PENDING and change.attempts == 1 and change.last_error
    assert change.next_attempt_at is not None and change.next_attempt_at > now()
    assert push(world).pushed == 0  # not due yet: nothing is sent
    EventChange.objects.filter(pk=change.pk).update(next_attempt_at=now())
    push(world)
    change.refresh_from_db()
    event.refresh_from_db()
    assert change.status == ChangeStatus.FAILED and "gave up after 2 attempts" in change.last_error
    assert event.sync_status == EventSyncStatus.FAILED

    world.mend_provider()
    change_retry(change=change, actor=owner)
    assert push(world).pushed == 1
    event.refresh_from_db()
    assert event.sync_status == EventSyncStatus.SYNCED
    assert world.title_at_provider(str(event.provider_event_id)) == "Call"


def shown(world: World) -> list[tuple[str, datetime, str]]:
    """The series' weeks as the person sees them: (title, start, sync status) of every occurrence."""
    return [
        (occurrence.event.title, occurrence.start, occurrence.event.sync_status)
        for occurrence in occurrences_in_window(
            connection_ids=[world.connection.pk], start=MONDAY, end=MONDAY + timedelta(weeks=8), zone=BERLIN
        )
    ]


def test_one_occurrence_and_the_whole_series_are_changed_at_the_provider(world, owner):
    series = event_create(
        connection=world.connection,
        draft=draft("Stand-up", recurrence=("RRULE:FREQ=WEEKLY;COUNT=6",)),
        actor=owner,
    )
    push(world)
    series.refresh_from_db()
    second = (MONDAY + timedelta(weeks=1)).astimezone(UTC)
    event_update(
        event=series,
        draft=draft("Stand-up (late)", MONDAY + timedelta(weeks=1, hours=1)),
        occurrence=second,
        scope=ChangeScope.OCCURRENCE,
        actor=owner,
    )
    assert push(world).pushed == 1
    exception = CalendarEvent.objects.get(recurring_event=series, original_start=second, deleted_at__isnull=True)
    assert exception.provider_event_id and exception.sync_status == EventSyncStatus.SYNCED
    expected = [("Stand-up", MONDAY + timedelta(weeks=week), "synced") for week in range(6)]
    expected[1] = ("Stand-up (late)", MONDAY + timedelta(weeks=1, hours=1), "synced")
    assert shown(world) == expected
    # Coming back, the series looks the same: nothing doubled, nothing moved. (Graph's listing names each
    # occurrence, which the sync stores as rows of the series; they replace its occurrences one for one.)
    echo = sync(world)
    assert echo.updated == 0 and shown(world) == expected

    event_update(event=series, draft=draft("Daily stand-up", recurrence=("RRULE:FREQ=WEEKLY;COUNT=6",)), actor=owner)
    assert push(world).pushed == 1
    assert world.title_at_provider(str(series.provider_event_id)) == "Daily stand-up"
    sync(world)
    titles = [title for title, _, _ in shown(world)]
    assert len(titles) == 6 and titles.count("Daily stand-up") >= 5


def test_the_sweep_finds_changes_whose_task_was_lost(world, owner, settings):
    event = event_create(connection=world.connection, draft=draft("Lost"), actor=owner)
    assert changes_due() == []  # just made: its own task is on its way
    EventChange.objects.filter(event=event).update(
        next_attempt_at=now() - timedelta(seconds=settings.PUSH_LOST_AFTER_SECONDS + 1)
    )
    assert changes_due() == [world.connection.pk]


def test_a_create_whose_answer_was_lost_is_not_made_twice(world, owner):
    event = event_create(connection=world.connection, draft=draft("Once"), actor=owner)
    change = EventChange.objects.get(event=event)
    # The first attempt reached the provider, but its answer never came back: the engine still holds the
    # change as pending, and tries again with the same key.
    from events.drafts import draft_from_payload

    session = adapter_session(world)
    first = session.adapter.create_event(
        session.credentials, session.calendar, draft_from_payload(change.payload), key=change.key, notify=False
    )
    assert push(world).pushed == 1
    event.refresh_from_db()
    assert event.provider_event_id == first.provider_event_id
    echo = sync(world)
    assert echo.created == 0
    assert [row.pk for row in live(world)] == [event.pk]


def test_an_edit_whose_answer_was_lost_is_not_taken_for_a_conflict(world, owner):
    event = event_create(connection=world.connection, draft=draft("Review"), actor=owner)
    push(world)
    event.refresh_from_db()
    event_update(event=event, draft=draft("Review (room 4)"), actor=owner)
    change = EventChange.objects.get(event=event)
    # The first attempt changed the provider's copy, but its answer never came back.
    from events.drafts import draft_from_payload, ref_of

    session = adapter_session(world)
    session.adapter.update_event(
        session.credentials,
        session.calendar,
        ref_of(change),
        draft_from_payload(change.payload),
        etag=change.base_etag,
        notify=False,
    )
    result = push(world)
    assert (result.pushed, result.conflicts) == (1, 0)
    event.refresh_from_db()
    assert (event.title, event.sync_status) == ("Review (room 4)", EventSyncStatus.SYNCED)
    echo = sync(world)
    assert (echo.created, echo.updated) == (0, 0)


def google_invitation(world: World, fake_google) -> str:
    start = MONDAY.astimezone(UTC)
    stored = fake_google.put_event(
        world.connection.remote_id,
        {
            "summary": "Board meeting",
            "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "Europe/Berlin"},
            "organizer": {"email": "boss@example.com"},
            "attendees": [
                {"email": "boss@example.com", "organizer": True, "responseStatus": "accepted"},
                {"email": "olive@gmail.com", "self": True, "responseStatus": "needsAction"},
                {"email": "pat@example.com", "responseStatus": "declined"},
            ],
        },
    )
    return str(stored["id"])


def google_answers(fake_google, world: World, pid: str) -> dict[str, str]:
    resource = fake_google.kept_events(world.connection.remote_id)[pid]
    return {person["email"]: person["responseStatus"] for person in resource["attendees"]}


def microsoft_invitation(world: World, fake_microsoft) -> str:
    oid = world.connection.account.external_id
    return fake_microsoft.add_event(
        oid,
        "Board meeting",
        MONDAY.replace(tzinfo=None),
        (MONDAY + timedelta(hours=1)).replace(tzinfo=None),
        time_zone="Europe/Berlin",
        organizer={"emailAddress": {"name": "Boss", "address": "boss@contoso.com"}},
        isOrganizer=False,
        attendees=[
            {"emailAddress": {"address": "olive@contoso.com"}, "type": "required", "status": {"response": "none"}},
            {"emailAddress": {"address": "pat@contoso.com"}, "type": "required", "status": {"response": "declined"}},
        ],
    )


def microsoft_answers(fake_microsoft, world: World, pid: str) -> dict[str, str]:
    event = fake_microsoft.calendar_events.instance(pid)
    return {person["emailAddress"]["address"]: person["status"]["response"] for person in event.fields["attendees"]}


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_an_invitation_is_answered_at_the_provider_and_only_the_persons_answer_changes(
    provider, owner, settings, request
):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    fake = request.getfixturevalue(f"fake_{provider}")
    world = google_world(owner, fake) if provider == "google" else microsoft_world(owner, fake)
    invite, answers = (
        (google_invitation, google_answers) if provider == "google" else (microsoft_invitation, microsoft_answers)
    )
    pid = invite(world, fake)
    sync(world)
    event = CalendarEvent.objects.get(connection=world.connection, provider_event_id=pid)
    before = answers(fake, world, pid)
    with pytest.raises(EditRefused, match="organized by"):
        event_update(event=event, draft=draft("Mine now"), actor=owner)

    event_respond(event=event, response="tentative", actor=owner)
    assert push(world).pushed == 1
    after = answers(fake, world, pid)
    own = world.connection.account.email
    assert after[own] in ("tentative", "tentativelyAccepted")
    assert {person: answer for person, answer in after.items() if person != own} == {
        person: answer for person, answer in before.items() if person != own
    }
    event.refresh_from_db()
    assert event.sync_status == EventSyncStatus.SYNCED and event.title == "Board meeting"
    echo = sync(world)
    assert echo.created == 0


def test_this_and_following_ends_the_series_at_the_provider_and_starts_a_new_one(world, owner):
    series = event_create(
        connection=world.connection,
        draft=draft("Stand-up", recurrence=("RRULE:FREQ=WEEKLY;COUNT=6",)),
        actor=owner,
    )
    push(world)
    series.refresh_from_db()
    fourth = MONDAY + timedelta(weeks=3)
    following = event_update(
        event=series,
        draft=draft("Stand-up (new room)", fourth),
        occurrence=fourth.astimezone(UTC),
        scope="following",
        actor=owner,
    )
    expected = [("Stand-up", MONDAY + timedelta(weeks=week), "synced") for week in range(3)] + [
        ("Stand-up (new room)", MONDAY + timedelta(weeks=week), "synced") for week in range(3, 6)
    ]
    assert push(world).pushed == 2
    following.refresh_from_db()
    assert following.provider_event_id and following.provider_event_id != series.provider_event_id
    assert world.title_at_provider(following.provider_event_id) == "Stand-up (new room)"
    assert shown(world) == expected
    sync(world)
    assert shown(world) == expected


def test_moving_an_event_to_a_calendar_at_another_provider(owner, fake_google, caldav_account, settings):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    google, caldav = google_world(owner, fake_google), caldav_world(owner, caldav_account, settings)
    event = event_create(connection=google.connection, draft=draft("Dentist"), actor=owner)
    push(google)
    event.refresh_from_db()
    old_id = str(event.provider_event_id)

    moved = event_update(event=event, draft=draft("Dentist"), connection=caldav.connection, actor=owner)
    assert push(caldav).pushed == 1 and push(google).pushed == 1
    moved.refresh_from_db()
    assert world_title(caldav, moved) == "Dentist" and google.title_at_provider(old_id) is None
    assert (sync(google).created, sync(caldav).created) == (0, 0)
    assert [row.pk for row in live(google)] == [] and [row.pk for row in live(caldav)] == [moved.pk]


def world_title(world: World, event: CalendarEvent) -> str | None:
    assert event.provider_event_id is not None
    return world.title_at_provider(event.provider_event_id)


def test_deleting_a_series_whose_occurrence_edit_failed_removes_both(world, owner):
    series = event_create(
        connection=world.connection,
        draft=draft("Stand-up", recurrence=("RRULE:FREQ=WEEKLY;COUNT=4",)),
        actor=owner,
    )
    push(world)
    series.refresh_from_db()
    second = (MONDAY + timedelta(weeks=1)).astimezone(UTC)
    exception = event_update(
        event=series,
        draft=draft("Stand-up (late)", MONDAY + timedelta(weeks=1, hours=1)),
        occurrence=second,
        scope=ChangeScope.OCCURRENCE,
        actor=owner,
    )
    EventChange.objects.filter(event=exception).update(status=ChangeStatus.FAILED, last_error="400")
    event_delete(event=series, actor=owner)
    assert push(world).pushed == 1
    assert world.title_at_provider(str(series.provider_event_id)) is None
    assert live(world) == [] and not EventChange.objects.exists()
    assert not CalendarEvent.objects.filter(pk=exception.pk).exists()  # never pushed: nothing to keep


def test_a_floating_event_edited_here_stays_floating_at_the_caldav_server(owner, caldav_account, settings):
    world = caldav_world(owner, caldav_account, settings)
    url = world.connection.remote_id + "yoga.ics"
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:yoga@tests\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART:20261130T090000\r\nDTEND:20261130T093000\r\nSUMMARY:Yoga\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with caldav_account.client() as client:
        assert client.put(url, body, {"Content-Type": "text/calendar"}).status in (201, 204)
    sync(world)
    event = CalendarEvent.objects.get(connection=world.connection)
    assert event.timezone == ""
    event_update(event=event, draft=replace(draft_of_row(event), title="Yoga (mat)"), actor=owner)
    assert push(world).pushed == 1
    with caldav_account.client() as client:
        stored = icalendar.Calendar.from_ical(client.request(url).raw)
    vevent = next(iter(stored.walk("VEVENT")))
    assert str(vevent["SUMMARY"]) == "Yoga (mat)"
    start = vevent.decoded("DTSTART")
    assert start.tzinfo is None and start.isoformat() == "2026-11-30T09:00:00"
    assert sync(world).updated == 0
