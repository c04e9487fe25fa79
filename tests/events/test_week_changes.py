"""An open week page keeps itself up to date: every writer of what a calendar shows moves its `changed_at`
(a sync page that wrote rows, an edit made here, its push, a sync status the Sync list shows), and the
`week_changed` check answers from one query on the person's calendars, none on events."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from connections.models import CalendarConnection, SyncState
from events.models import SyncOutcome
from events.push import connection_push
from events.sync import connection_sweep_confirm, sync_connection
from events.upsert import calendars_changed
from tests.factories import make_account, make_connection, make_event
from tests.sync_helpers import google_calendar

pytestmark = pytest.mark.django_db(transaction=True)  # the sync commits page by page
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def google(fake_google, settings):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    return fake_google


@pytest.fixture
def calendar(owner, google) -> CalendarConnection:
    return google_calendar(owner, google)


def put(google, calendar, summary, day=7, event_id=None):
    event = {
        "summary": summary,
        "start": {"dateTime": f"2025-01-{day:02d}T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": f"2025-01-{day:02d}T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    }
    if event_id:
        event["id"] = event_id
    return google.put_event(calendar.remote_id, event)


def sync(calendar):
    return sync_connection(connection=CalendarConnection.objects.get(pk=calendar.pk))


def changed_at(calendar) -> datetime | None:
    return CalendarConnection.objects.get(pk=calendar.pk).changed_at


def drawn_stamp(client) -> str:
    page = client.get(reverse("home")).content.decode()
    found = re.search(r'data-stamp="([^"]+)"', page)
    assert found, "the week carries the stamp it was drawn with"
    return found.group(1)


def check(client, stamp: str):
    return client.get(reverse("week_changed"), {"since": stamp})


# --- the check --------------------------------------------------------------------------------------------


def test_the_check_is_for_signed_in_people_only(client):
    response = check(client, "0.0.0")
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_the_check_answers_204_until_the_persons_calendars_change_and_never_counts_anyone_elses(
    owner_client, owner, stranger
):
    work = make_connection(make_account(owner, email="olive@example.com"), name="Work", remote_id="work")
    make_event(work, now(), title="Planning")
    theirs = make_connection(make_account(stranger, email="sam@example.com"), name="Sam's", remote_id="sam")
    stamp = drawn_stamp(owner_client)

    unchanged = check(owner_client, stamp)
    assert unchanged.status_code == 204 and unchanged.content == b""
    assert "private" in unchanged["Cache-Control"] and "no-store" in unchanged["Cache-Control"]

    calendars_changed([theirs.pk])  # someone else's sync
    make_connection(make_account(stranger, email="sam2@example.com"), name="Sam's other", remote_id="sam2")
    assert check(owner_client, stamp).status_code == 204

    calendars_changed([work.pk])  # a sync or an edit of the owner's
    answer = check(owner_client, stamp)
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    new_stamp = answer.content.decode()
    assert new_stamp != stamp and drawn_stamp(owner_client) == new_stamp
    assert check(owner_client, new_stamp).status_code == 204

    # A calendar connected or disconnected changes the week even when nothing was marked.
    other = make_connection(make_account(owner, email="olive2@example.com"), name="Home", remote_id="home")
    assert check(owner_client, new_stamp).status_code == 200
    CalendarConnection.objects.filter(pk=other.pk).update(is_connected=False)
    assert check(owner_client, new_stamp).status_code == 204


def test_the_check_costs_one_query_on_calendars_and_none_on_events(owner_client, owner):
    account = make_account(owner, email="olive@example.com")
    for index in range(5):
        calendar = make_connection(account, name=f"Calendar {index}", remote_id=f"c{index}")
        for hour in range(8, 12):
            make_event(calendar, now() + timedelta(hours=hour), title=f"Event {hour}")
    stamp = drawn_stamp(owner_client)
    for since in (stamp, "stale"):
        with CaptureQueriesContext(db_connection) as queries:
            check(owner_client, since)
        sql = [query["sql"] for query in queries]
        assert not [text for text in sql if "calendar_events" in text]
        assert len([text for text in sql if "calendar_connections" in text]) == 1


def test_hiding_a_calendar_changes_the_stamp_other_devices_see(owner_client, owner):
    work = make_connection(make_account(owner, email="olive@example.com"), name="Work", remote_id="work")
    stamp = drawn_stamp(owner_client)
    owner_client.post(reverse("calendar_visibility", args=[work.pk]), {"shown": "0"})
    assert check(owner_client, stamp).status_code == 200


# --- the writers ------------------------------------------------------------------------------------------


def test_a_sync_page_that_wrote_rows_marks_the_calendar_and_one_with_nothing_new_does_not(google, calendar):
    google.page_size = 2
    for day in range(1, 6):
        put(google, calendar, f"Event {day}", day=day, event_id=f"event{day}")
    assert changed_at(calendar) is None
    with CaptureQueriesContext(db_connection) as queries:
        assert sync(calendar).pages == 3
    marks = [query for query in queries if "UPDATE" in query["sql"] and '"changed_at"' in query["sql"]]
    assert len(marks) == 3  # each page wrote rows: one UPDATE each (the last page's is the listing's own)
    first = changed_at(calendar)
    assert first is not None

    result = sync(calendar)  # nothing new at the provider
    assert (result.outcome, result.created, result.updated, result.deleted) == (SyncOutcome.OK, 0, 0, 0)
    assert changed_at(calendar) == first

    put(google, calendar, "Event 3, moved", day=9, event_id="event3")
    assert sync(calendar).updated == 1
    second = changed_at(calendar)
    assert second is not None and second > first


def test_a_failing_sync_marks_the_calendar_when_its_status_changes_and_again_when_it_recovers(
    google, calendar, settings
):
    settings.PROVIDER_RETRY_ATTEMPTS = 2
    sync(calendar)
    synced = changed_at(calendar)
    google.faults.extend([(503, None)] * 2)
    assert sync(calendar).outcome == SyncOutcome.ERROR
    failed = changed_at(calendar)
    assert CalendarConnection.objects.get(pk=calendar.pk).sync_status == SyncState.ERROR
    assert failed is not None and (synced is None or failed > synced)
    google.faults.extend([(503, None)] * 2)
    assert sync(calendar).outcome == SyncOutcome.ERROR
    assert changed_at(calendar) == failed  # still failing: the Sync list says the same
    google.faults.clear()
    assert sync(calendar).outcome == SyncOutcome.OK
    recovered = changed_at(calendar)
    assert recovered is not None and recovered > failed


def test_an_edit_made_here_and_its_push_mark_the_calendar(owner_client, owner, google, calendar):
    owner.timezone = "Europe/Berlin"
    owner.save()
    put(google, calendar, "Review", day=7, event_id="review")
    sync(calendar)
    synced = changed_at(calendar)
    assert synced is not None
    event = calendar.events.get(provider_event_id="review")
    response = owner_client.post(reverse("event_move", kwargs={"event_id": event.pk}), {"start": "2025-01-08T11:00"})
    assert response.status_code == 302
    edited = changed_at(calendar)
    assert edited is not None and edited > synced
    assert connection_push(connection=CalendarConnection.objects.get(pk=calendar.pk)).pushed == 1
    pushed = changed_at(calendar)
    assert pushed is not None and pushed > edited


def test_confirming_a_held_deletion_marks_the_calendar(owner, calendar):
    CalendarConnection.objects.filter(pk=calendar.pk).update(sync_status=SyncState.HELD, sweep_held_count=30)
    assert changed_at(calendar) is None
    assert connection_sweep_confirm(connection=CalendarConnection.objects.get(pk=calendar.pk), actor=owner)
    assert changed_at(calendar) is not None
