"""Coalescing: "this calendar changed" becomes at most one queued sync, plus one follow-up when more changes
are announced while that sync runs (issue 21), never a sync per notification."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from calsync.celery import app as celery_app
from calsync.lib.queue import SYNC_CONNECTION
from connections.models import AccountStatus, CalendarConnection, SyncState
from events import nudges
from events import sync as sync_module
from events.models import CalendarEvent, SyncOutcome, SyncRun
from events.nudges import ALREADY_QUEUED, FOLLOW_UP, NOT_SYNCING, QUEUED, connection_sync_nudge
from events.push import BUSY, connection_push
from events.sync import SKIPPED, sync_connection
from events.tasks import sync_connection_task
from fakes.processes import process, wait_until
from tests.events.test_scheduled_sync import celery_env, worker_args
from tests.sync_helpers import google_calendar

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """What the nudges hand to the broker's door, instead of a broker."""
    sent: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(nudges, "enqueue", lambda name, *args, **kwargs: sent.append((name, args, kwargs)))
    return sent


@pytest.fixture
def calendar(owner, fake_google) -> CalendarConnection:
    return google_calendar(owner, fake_google)


def timed(title: str) -> dict[str, Any]:
    return {
        "summary": title,
        "start": {"dateTime": "2026-12-01T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-01T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    }


def state(calendar: CalendarConnection, **fields: Any) -> CalendarConnection:
    CalendarConnection.objects.filter(pk=calendar.pk).update(**fields)
    calendar.refresh_from_db()
    return calendar


def test_a_quiet_calendar_is_queued_once_as_the_fan_out_queues_it(calendar, queued):
    assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED
    calendar.refresh_from_db()
    assert calendar.sync_queued_at is not None and not calendar.sync_again
    assert queued == [(SYNC_CONNECTION, (calendar.pk,), {"queued_at": calendar.sync_queued_at.isoformat()})]
    # Queued and not started: that sync will see later changes too.
    assert connection_sync_nudge(connection_id=calendar.pk) == ALREADY_QUEUED
    assert len(queued) == 1
    calendar.refresh_from_db()
    assert not calendar.sync_again


def test_a_queued_message_that_must_have_been_lost_is_queued_again(calendar, queued):
    state(calendar, sync_queued_at=now() - timedelta(seconds=settings.SYNC_QUEUED_STALE_SECONDS + 5))
    assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED
    assert len(queued) == 1


def test_a_running_sync_is_followed_by_one_more(calendar, queued):
    state(calendar, sync_lease_until=now() + timedelta(minutes=1))
    assert [connection_sync_nudge(connection_id=calendar.pk) for _ in range(3)] == [FOLLOW_UP] * 3
    assert queued == []
    assert state(calendar).sync_again


def test_a_lapsed_lease_is_no_running_sync(calendar, queued):
    state(calendar, sync_lease_until=now() - timedelta(seconds=1))
    assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED
    assert len(queued) == 1 and not state(calendar).sync_again


@pytest.mark.parametrize(
    "situation",
    ["disconnected", "needs_reconnect", "held", "backing_off", "backing_off_while_running", "gone"],
)
def test_calendars_that_are_not_synced_are_left_alone(calendar, queued, situation):
    later = now() + timedelta(hours=1)
    situations: dict[str, dict[str, Any]] = {
        "disconnected": {"is_connected": False},
        "held": {"sync_status": SyncState.HELD, "sweep_held_count": 30},
        # A notification does not break through an error backoff: the poll after it brings the change.
        "backing_off": {"sync_status": SyncState.ERROR, "next_attempt_at": later},
    }
    state(calendar, **situations.get(situation, {}))
    if situation == "needs_reconnect":
        calendar.account.status = AccountStatus.NEEDS_RECONNECT
        calendar.account.save()
    connection_id = calendar.pk + 1000 if situation == "gone" else calendar.pk
    if situation == "backing_off_while_running":
        # "Sync now" runs a calendar in backoff: announced changes still follow it; whether the follow-up is
        # queued is decided when it ends (by then the backoff is cleared, or set again).
        state(calendar, next_attempt_at=later, sync_lease_until=now() + timedelta(minutes=1))
        assert connection_sync_nudge(connection_id=connection_id) == FOLLOW_UP
        CalendarConnection.objects.filter(pk=calendar.pk).update(sync_lease_until=None)
        assert nudges.sync_follow_up(connection_id=calendar.pk) == NOT_SYNCING
    else:
        assert connection_sync_nudge(connection_id=connection_id) == NOT_SYNCING
    assert queued == []
    calendar.refresh_from_db()
    assert calendar.sync_queued_at is None and not calendar.sync_again


def test_a_confirmed_hold_is_synced(calendar, queued):
    state(calendar, sync_status=SyncState.HELD, sweep_held_count=30, sweep_confirmed=True)
    assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED


def test_a_nudge_costs_one_small_update(calendar, queued):
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, QUEUED),
        ({}, ALREADY_QUEUED),
        ({"sync_queued_at": None, "sync_lease_until": now() + timedelta(minutes=1)}, FOLLOW_UP),
        ({"is_connected": False}, NOT_SYNCING),
    ]
    for fields, answer in cases:
        state(calendar, **fields)
        with CaptureQueriesContext(db_connection) as statements:
            assert connection_sync_nudge(connection_id=calendar.pk) == answer
        assert len(statements) == 1 and statements[0]["sql"].startswith("UPDATE"), statements.captured_queries


def test_two_nudges_at_once_queue_once(calendar, queued):
    answers: list[str] = []

    def second() -> None:
        try:
            answers.append(connection_sync_nudge(connection_id=calendar.pk))
        finally:
            db_connection.close()

    with transaction.atomic():
        assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED
        other = threading.Thread(target=second)
        other.start()
        # The second nudge waits on the row this one claimed, then sees the claim.
        time.sleep(0.5)
        assert not answers and queued == []  # queued on commit
    other.join(10)
    assert answers == [ALREADY_QUEUED]
    assert len(queued) == 1


def test_the_broker_refusing_leaves_the_calendar_unqueued(calendar, monkeypatch):
    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(nudges, "enqueue", down)
    with pytest.raises(ConnectionError):
        connection_sync_nudge(connection_id=calendar.pk)
    assert state(calendar).sync_queued_at is None


def test_a_sync_that_ends_queues_the_follow_up_once(calendar, fake_google, queued):
    fake_google.put_event(calendar.remote_id, timed("Planning"))
    during: list[str] = []

    def announce(method: str, path: str) -> None:
        # Changes announced while the sync lists.
        if path.endswith("/events") and not during:
            try:
                during.extend(connection_sync_nudge(connection_id=calendar.pk) for _ in range(5))
            finally:
                db_connection.close()  # the fake's thread

    fake_google.on_request = announce
    assert sync_connection(connection=calendar).outcome == SyncOutcome.OK
    assert during == [FOLLOW_UP] * 5
    calendar.refresh_from_db()
    assert not calendar.sync_again and calendar.sync_lease_until is None
    assert queued == [(SYNC_CONNECTION, (calendar.pk,), {"queued_at": calendar.sync_queued_at.isoformat()})]
    # The follow-up runs (it is not taken for a message that arrived after its replacement ran).
    fake_google.on_request = None
    assert sync_connection_task.apply(args=queued[0][1], kwargs=queued[0][2]).get() == SyncOutcome.OK
    assert len(queued) == 1 and SyncRun.objects.count() == 2


def test_a_sync_that_ends_without_announcements_queues_nothing(calendar, queued):
    assert sync_connection(connection=calendar).outcome == SyncOutcome.OK
    assert queued == []


def test_a_failed_sync_queues_no_follow_up_through_its_backoff(calendar, fake_google, queued):
    fake_google.faults.append((429, "7200"))  # too long to wait: the calendar backs off
    state(calendar, sync_again=True)
    assert sync_connection(connection=calendar).outcome == SyncOutcome.ERROR
    calendar.refresh_from_db()
    assert calendar.next_attempt_at is not None and not calendar.sync_again
    assert queued == []


def test_a_sync_skipped_for_a_busy_calendar_keeps_its_follow_up(calendar, queued):
    # Queued by a nudge; meanwhile a push took the calendar (a push does not clear the "queued" mark): the
    # skipped sync leaves its follow-up to the push.
    assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED
    state(calendar, sync_lease_until=now() + timedelta(minutes=1))
    assert sync_connection(connection=calendar).outcome == SKIPPED
    calendar.refresh_from_db()
    assert calendar.sync_queued_at is None and calendar.sync_again
    # The holder ends (a push here, which takes the same lease): the follow-up is queued.
    state(calendar, sync_lease_until=None)
    assert connection_push(connection=calendar).outcome != BUSY
    assert len(queued) == 2 and not state(calendar).sync_again


def test_a_skipped_sync_whose_holder_ended_meanwhile_queues_the_follow_up_itself(calendar, queued, monkeypatch):
    # The holder (a push) gives the calendar back between the skipped sync's claim and its note.
    assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED
    state(calendar, sync_lease_until=now() + timedelta(minutes=1))
    claim = sync_module.ConnectionLease.claim

    def claim_then_release(connection: CalendarConnection, **kwargs: Any) -> Any:
        lease = claim(connection, **kwargs)
        CalendarConnection.objects.filter(pk=connection.pk).update(sync_lease_until=None)
        return lease

    monkeypatch.setattr(sync_module.ConnectionLease, "claim", claim_then_release)
    assert sync_connection(connection=calendar).outcome == SKIPPED
    assert len(queued) == 2 and not state(calendar).sync_again
    queued_at = state(calendar).sync_queued_at
    assert queued_at is not None and queued_at.isoformat() == queued[1][2]["queued_at"]


def test_a_sync_skipped_beside_a_sync_that_started_after_it_was_queued_adds_nothing(calendar, queued):
    assert connection_sync_nudge(connection_id=calendar.pk) == QUEUED
    # Another worker's sync claims the calendar (clearing the mark): it lists after the announced change.
    CalendarConnection.objects.filter(pk=calendar.pk).update(
        sync_queued_at=None, sync_lease_until=now() + timedelta(minutes=1)
    )
    assert sync_connection(connection=calendar).outcome == SKIPPED
    assert len(queued) == 1 and not state(calendar).sync_again


# --- with a real worker -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_burst_of_500_notifications_causes_at_most_two_syncs(owner, fake_google, tmp_path: Path):
    calendar = google_calendar(owner, fake_google)
    fake_google.page_size = 1  # two pages: the first sync pauses before its last one
    fake_google.put_event(calendar.remote_id, timed("Planning"))
    fake_google.put_event(calendar.remote_id, timed("Review"))
    paused, burst_done = threading.Event(), threading.Event()

    def pause_the_first_sync(method: str, path: str) -> None:
        listings = [entry for entry in fake_google.request_log if entry[1].endswith("/events")]
        if path.endswith("/events") and len(listings) == 2:
            paused.set()
            burst_done.wait(60)

    fake_google.on_request = pause_the_first_sync
    queue = f"test-{uuid.uuid4().hex}"
    google = {name: str(getattr(settings, name)) for name in dir(settings) if name.startswith("GOOGLE_")}
    env = celery_env(queue, **google)
    log = tmp_path / "worker.log"
    sent_to = celery_app.conf.task_default_queue
    answers: Counter[str] = Counter()
    try:
        with process(worker_args(queue), env, log) as worker:
            celery_app.conf.task_default_queue = queue
            # Half of the burst before the first sync starts, half while it runs.
            answers.update(connection_sync_nudge(connection_id=calendar.pk) for _ in range(250))
            wait_until(lambda: paused.is_set() or worker.poll() is not None, 60, "the first sync to start")
            assert worker.poll() is None, log.read_text()
            answers.update(connection_sync_nudge(connection_id=calendar.pk) for _ in range(250))
            burst_done.set()
            # A change at the provider after the first sync's last page, while that sync finishes: only
            # the follow-up can bring it (this waits for the fake, so the page was answered without it).
            fake_google.put_event(calendar.remote_id, timed("Moved"))

            def finished() -> bool:
                assert worker.poll() is None, log.read_text()
                return SyncRun.objects.filter(connection=calendar, finished_at__isnull=False).count() >= 2

            wait_until(finished, 60, "the follow-up sync")
            time.sleep(3)  # nothing more comes
            assert worker.poll() is None, log.read_text()
    finally:
        celery_app.conf.task_default_queue = sent_to
        burst_done.set()

    # The first half found the sync queued (or, should the worker have started it at once, running).
    assert answers[QUEUED] == 1 and answers[FOLLOW_UP] >= 250, answers
    assert answers[ALREADY_QUEUED] + answers[FOLLOW_UP] == 499, answers
    runs = SyncRun.objects.filter(connection=calendar).order_by("started_at")
    assert [run.outcome for run in runs] == [SyncOutcome.OK, SyncOutcome.OK], log.read_text()
    # The first listed the two events; the change came with the follow-up.
    assert [run.created for run in runs] == [2, 1]
    titles = set(
        CalendarEvent.objects.filter(connection=calendar, deleted_at__isnull=True).values_list("title", flat=True)
    )
    assert titles == {"Planning", "Review", "Moved"}
    calendar.refresh_from_db()
    assert not calendar.sync_again and calendar.sync_queued_at is None and calendar.sync_lease_until is None
