"""Real Celery beat and worker processes over Redis: the schedule drives syncs end to end, and a sync
stopped by its time limit gives its connection back at once."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.utils.timezone import now
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from calsync.schedule import periodic_tasks_install
from connections.models import CalendarConnection, SyncState
from events.models import CalendarEvent, EventChange, SyncOutcome, SyncRun
from events.sync import TIME_LIMIT_MESSAGE
from events.tasks import sync_connection_task
from fakes.processes import BIN, process, wait_until
from tests.sync_helpers import caldav_work_calendar, google_calendar

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def event_body(uid: str, title: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
        f"SUMMARY:{title}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def celery_env(queue: str, **extra: str) -> dict[str, str]:
    """The worker's and beat's environment: the test database, and a queue no other worker reads."""
    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{db_connection.settings_dict['NAME']}",
        "CELERY_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def worker_args(queue: str) -> list[str]:
    # The prefork pool, as deployed: it is the one that enforces time limits (the solo pool cannot).
    return [str(BIN / "celery"), "-A", "calsync", "worker", "--concurrency=1", "--loglevel=INFO", "-Q", queue]


def test_beat_and_a_worker_sync_a_calendar_on_schedule(owner, caldav_account, radicale, tmp_path: Path):
    connection = caldav_work_calendar(owner, caldav_account)
    with caldav_account.client() as client:
        work = client.calendar(url=caldav_account.calendars["Work"])
        work.save_event(event_body("first@tests", "Planning"))

    # The schedule as installed, then changed the way staff would in the admin: only the sync fan-out,
    # every two seconds instead of five minutes.
    periodic_tasks_install()
    PeriodicTask.objects.exclude(task="events.sync_due").update(enabled=False)
    every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="events.sync_due").update(interval=every_two_seconds, crontab=None)

    queue = f"test-{uuid.uuid4().hex}"
    # Synced more than a second ago counts as due, so a second change arrives on a later round.
    env = celery_env(queue, CALDAV_ALLOW_PRIVATE_HOSTS="1", SYNC_INTERVAL_SECONDS="1")
    beat = [
        str(BIN / "celery"), "-A", "calsync", "beat", "--loglevel=INFO",
        f"--pidfile={tmp_path / 'beat.pid'}", f"--schedule={tmp_path / 'beat-schedule'}",
    ]  # fmt: skip
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    with process(worker_args(queue), env, worker_log) as worker, process(beat, env, beat_log) as beat_proc:

        def alive() -> None:
            assert worker.poll() is None, worker_log.read_text()
            assert beat_proc.poll() is None, beat_log.read_text()

        def stored(title: str) -> bool:
            alive()
            return CalendarEvent.objects.filter(connection=connection, title=title, deleted_at__isnull=True).exists()

        wait_until(lambda: stored("Planning"), 60, "the scheduled sync to bring the first event")
        with caldav_account.client() as client:
            client.calendar(url=caldav_account.calendars["Work"]).save_event(event_body("second@tests", "Review"))
        wait_until(lambda: stored("Review"), 60, "a later scheduled sync to bring the second event")

    log = worker_log.read_text()
    assert "Task events.sync_due" in log and "Task events.sync_connection" in log
    assert "Sending due task Sync due calendars (events.sync_due)" in beat_log.read_text()
    connection.refresh_from_db()
    assert connection.sync_status == SyncState.OK and connection.sync_lease_until is None
    assert SyncRun.objects.filter(connection=connection, outcome=SyncOutcome.OK).count() >= 2


def test_a_sync_past_its_time_limit_releases_the_connection(owner, fake_google, tmp_path: Path):
    connection = google_calendar(owner, fake_google)
    fake_google.put_event(connection.remote_id, {"summary": "Slow to list"})

    def slow_listing(method: str, path: str) -> None:
        if path.endswith("/events"):
            import time

            time.sleep(4)

    fake_google.on_request = slow_listing
    queue = f"test-{uuid.uuid4().hex}"
    google = {name: str(getattr(settings, name)) for name in dir(settings) if name.startswith("GOOGLE_")}
    env = celery_env(queue, **google)
    log = tmp_path / "worker.log"
    with process(worker_args(queue), env, log) as worker:
        # The sender's limits travel with the message (from CELERY_TASK_*_TIME_LIMIT where it was sent).
        sync_connection_task.apply_async(args=(connection.pk,), queue=queue, soft_time_limit=2, time_limit=30)
        wait_until(
            lambda: (
                SyncRun.objects.filter(connection=connection, finished_at__isnull=False).exists()
                or worker.poll() is not None
            ),
            60,
            "the sync to stop at its time limit",
        )
        assert worker.poll() is None, log.read_text()

    run = SyncRun.objects.get(connection=connection)
    assert run.outcome == SyncOutcome.ERROR and run.error == TIME_LIMIT_MESSAGE, log.read_text()
    connection.refresh_from_db()
    # Given back at once, not after the lease's five minutes: the next round can claim it.
    assert connection.sync_lease_until is None
    assert connection.sync_status == SyncState.ERROR and connection.next_attempt_at is not None
    assert CalendarConnection.objects.filter(pk=connection.pk, last_error=TIME_LIMIT_MESSAGE).exists()


def test_a_worker_pushes_a_change_once_it_commits_and_the_sweep_requeues_a_lost_one(
    owner, caldav_account, radicale, tmp_path: Path
):
    from calsync.celery import app as celery_app
    from connections.providers.base import EventDraft
    from events.edits import event_create

    connection = caldav_work_calendar(owner, caldav_account)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    periodic_tasks_install()
    PeriodicTask.objects.exclude(task="events.push_pending").update(enabled=False)
    every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="events.push_pending").update(interval=every_two_seconds, crontab=None)

    queue = f"test-{uuid.uuid4().hex}"
    env = celery_env(queue, CALDAV_ALLOW_PRIVATE_HOSTS="1")
    sent_to = celery_app.conf.task_default_queue
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    beat = [
        str(BIN / "celery"), "-A", "calsync", "beat", "--loglevel=INFO",
        f"--pidfile={tmp_path / 'beat.pid'}", f"--schedule={tmp_path / 'beat-schedule'}",
    ]  # fmt: skip
    try:
        with process(worker_args(queue), env, worker_log) as worker:

            def pushed(title: str) -> bool:
                assert worker.poll() is None, worker_log.read_text()
                return CalendarEvent.objects.filter(
                    connection=connection, title=title, sync_status="synced", provider_event_id__isnull=False
                ).exists()

            celery_app.conf.task_default_queue = queue
            event_create(
                connection=connection,
                draft=EventDraft(title="Planning", start=start, end=start + timedelta(hours=1), timezone="UTC"),
                actor=owner,
            )
            wait_until(lambda: pushed("Planning"), 60, "the worker to push the new event")

            # A change whose queued task is lost (sent where no worker listens, as after a broker restart).
            celery_app.conf.task_default_queue = f"lost-{uuid.uuid4().hex}"
            lost = event_create(
                connection=connection,
                draft=EventDraft(title="Review", start=start, end=start + timedelta(hours=1), timezone="UTC"),
                actor=owner,
            )
            overdue = now() - timedelta(seconds=settings.PUSH_LOST_AFTER_SECONDS + 5)
            EventChange.objects.filter(event=lost).update(next_attempt_at=overdue)
            with process(beat, env, beat_log):
                wait_until(lambda: pushed("Review"), 60, "the sweep to queue the lost push")
    finally:
        celery_app.conf.task_default_queue = sent_to

    with caldav_account.client() as client:
        titles = {
            str(item.icalendar_component["SUMMARY"])
            for item in client.calendar(url=caldav_account.calendars["Work"]).events()
        }
    assert titles == {"Planning", "Review"}
    log = worker_log.read_text()
    assert "Task events.push_connection" in log and "Task events.push_pending" in log
