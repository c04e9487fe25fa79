"""Restarts under a running sync (the reliability issue): a worker killed with SIGKILL halfway through a sync,
PostgreSQL restarted halfway through one, and Redis restarted under a running worker and beat.

Each sync scenario lists a calendar at the loopback Google fake in pages, and holds one page of the listing
until the fault has happened, so the fault comes exactly when some pages are committed and some are not.
The next cycle must leave the database equal to the provider: nothing lost, nothing doubled. The Redis
scenarios check that beat and the worker carry on within one period of the fan-out, and that a calendar
whose queued sync the restart lost is synced within one period too. PostgreSQL and Redis are
private servers on free ports (tests/private_services.py); the shared ones are never restarted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.db.models import F
from django.utils.timezone import now
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu import Connection as BrokerConnection

from calsync.models import JobLease
from calsync.schedule import periodic_tasks_install
from connections.models import CalendarConnection
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from events.fanout import connections_due
from events.models import SyncOutcome, SyncRun
from events.sync import ABANDONED_MESSAGE, SKIPPED, sync_connection
from events.tasks import sync_connection_task, sync_due
from fakes.google import GoogleState
from fakes.processes import BIN, ROOT, process, wait_until
from fakes.sync_views import google_view, stored_view
from tests.private_services import PrivatePostgres, PrivateRedis, private_postgres, private_redis
from tests.sync_helpers import google_calendar

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Figures for docs/reliability.md: `pytest -o log_cli=true --log-cli-level=INFO tests/system/test_restarts.py`.
figures = logging.getLogger("tests.restarts.figures")

PAGE_SIZE = 50
SEEDED_EVENTS = 200
# The fault comes while the sync waits for this page of its listing: the pages before it are committed.
HELD_PAGE = 4


# --- the provider side ------------------------------------------------------------------------------


class HeldPage:
    """The fake's request hook: holds the calendar's n-th events.list request until released.

    The fake calls it under its lock, so the test must not use the fake until it has called `release`."""

    def __init__(self, page: int, calendar_id: str = "") -> None:
        self.page, self.calendar_id = page, calendar_id
        self.listed = 0
        self.reached = threading.Event()
        self.released = threading.Event()

    def __call__(self, method: str, route: str) -> None:
        if method != "GET" or not route.endswith("/events") or self.calendar_id not in unquote(route):
            return
        self.listed += 1
        if self.listed == self.page:
            self.reached.set()
            self.released.wait(timeout=60)

    def wait(self) -> None:
        assert self.reached.wait(timeout=60), f"the sync never asked for page {self.page}"

    def release(self) -> None:
        self.released.set()


def timed(day: int, hour: int) -> dict[str, str]:
    return {"dateTime": f"2026-03-{day:02d}T{hour:02d}:00:00+01:00", "timeZone": "Europe/Berlin"}


def add_events(fake: GoogleState, calendar_id: str, count: int, label: str) -> None:
    for number in range(count):
        day, hour = 1 + number % 28, 8 + number % 10
        fake.put_event(
            calendar_id, {"summary": f"{label} {number}", "start": timed(day, hour), "end": timed(day, hour + 1)}
        )


def change_calendar(fake: GoogleState, calendar_id: str, label: str, *, added: int, retitled: int, deleted: int) -> int:
    """Changes at the provider for the next incremental listing, oldest events first (so they lead the
    listing, and the added ones come last); returns how many changes that listing holds."""
    live = [event_id for event_id, item in fake.kept_events(calendar_id).items() if item["status"] != "cancelled"]
    for event_id in live[:retitled]:
        fake.patch_event(calendar_id, event_id, summary=f"{label}: retitled {event_id[:6]}")
    for event_id in live[retitled : retitled + deleted]:
        fake.cancel_event(calendar_id, event_id)
    add_events(fake, calendar_id, added, label)
    return added + retitled + deleted


def halfway(expected: dict, before: dict, added_ids: set[str], deleted_ids: set[str]) -> dict:
    """What a sync cut after its first pages has stored: the provider's version of every event those pages
    changed, none of the events later pages add, and the events the provider reports deleted still as they
    were (a listing's deletions are applied, or held, at its end)."""
    changed = {pid: row for pid, row in expected.items() if pid not in added_ids}
    return changed | {pid: before[pid] for pid in deleted_ids}


def google_settings() -> dict[str, str]:
    """The fake's endpoints and client, as the fake_google fixture set them, for a child process."""
    return {name: str(getattr(settings, name)) for name in dir(settings) if name.startswith("GOOGLE_")}


# --- the worker side --------------------------------------------------------------------------------


def shared_test_database_url() -> str:
    """The test database on the shared server, for workers that check their work in it."""
    database = settings.DATABASES["default"]
    name = db_connection.settings_dict["NAME"]
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{name}"


def celery_env(broker: PrivateRedis, database_url: str, **extra: str) -> dict[str, str]:
    """A worker's or beat's environment: a private Redis as broker and cache, a queue of its own."""
    return {
        **os.environ,
        **google_settings(),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker.url,
        "REDIS_URL": broker.url,
        "CELERY_QUEUE": f"test-{uuid.uuid4().hex}",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@contextmanager
def celery_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    # The prefork pool, as deployed: a parent and a child process, both in the process group.
    args = [str(BIN / "celery"), "-A", "calsync", "worker", "--concurrency=1", "--loglevel=INFO"]
    with process([*args, "-Q", env["CELERY_QUEUE"]], env, log) as worker:
        wait_until(lambda: " ready." in log.read_text() or worker.poll() is not None, 60, "the worker to start")
        assert worker.poll() is None, log.read_text()
        yield worker


@contextmanager
def celery_beat(env: dict[str, str], folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    args = [
        str(BIN / "celery"), "-A", "calsync", "beat", "--loglevel=INFO",
        f"--pidfile={folder / 'beat.pid'}", f"--schedule={folder / 'beat-schedule'}",
    ]  # fmt: skip
    with process(args, env, folder / "beat.log") as beat:
        yield beat


def send(task: Any, env: dict[str, str], *args: object) -> str:
    """Queue `task` where the worker started with `env` listens (its private broker, its queue)."""
    with BrokerConnection(env["CELERY_BROKER_URL"]) as broker:
        return str(task.apply_async(args=args, queue=env["CELERY_QUEUE"], connection=broker).id)


def task_ended(log: Path, task_id: str) -> bool:
    return re.search(rf"\[{task_id}\] (succeeded|raised|failed)", log.read_text()) is not None


# --- 1. a worker killed with SIGKILL halfway through a sync --------------------------------------------


def test_it_finishes_the_sync_of_a_worker_killed_halfway(owner, fake_google, tmp_path: Path):
    fake_google.page_size = PAGE_SIZE
    connection = google_calendar(owner, fake_google)
    calendar_id = connection.remote_id
    add_events(fake_google, calendar_id, SEEDED_EVENTS, "Seeded")
    assert sync_connection(connection=connection).outcome == SyncOutcome.OK
    connection.refresh_from_db()
    cursor_before = connection.sync_cursor

    # Six pages of changes: the worker dies waiting for the fourth, with the retitles of the first three
    # committed and none of the added events. Deletions the provider reports wait for the listing's end, where
    # they are weighed by the mass-deletion guard, so none is applied yet either.
    before = stored_view(connection)
    changes = change_calendar(fake_google, calendar_id, "Before the kill", added=150, retitled=100, deleted=50)
    expected_at_kill = google_view(fake_google, calendar_id)
    added_ids = set(expected_at_kill) - set(before)
    deleted_ids = set(before) - set(expected_at_kill)
    held = HeldPage(HELD_PAGE)
    fake_google.on_request = held

    with private_redis() as broker:
        env = celery_env(broker, shared_test_database_url(), SYNC_INTERVAL_SECONDS="1")
        with celery_worker(env, tmp_path / "killed.log") as worker:
            send(sync_connection_task, env, connection.pk)
            try:
                held.wait()
                # The whole group, the pool's child that runs the sync included: nothing gets to clean up.
                os.killpg(worker.pid, signal.SIGKILL)
                killed_at = now()
                worker.wait(timeout=10)
            finally:
                held.release()
        fake_google.on_request = None

        # Halfway, truly: the first three pages are in, the added events (pages four to six) are not, and the
        # reported deletions wait for the end of the listing.
        stored = stored_view(connection)
        assert set(expected_at_kill) - set(stored) == added_ids and len(added_ids) == 150
        assert len(deleted_ids) == 50
        assert stored == halfway(expected_at_kill, before, added_ids, deleted_ids)
        killed_run = SyncRun.objects.get(connection=connection, finished_at__isnull=True)
        assert killed_run.outcome == SyncOutcome.RUNNING  # not "ok": it never got to say anything
        connection.refresh_from_db()
        assert connection.sync_cursor == cursor_before  # the cursor moves only with the last page

        # The dead worker's lease holds the connection until it lapses: meanwhile a sync is skipped and the
        # fan-out leaves it out; at its expiry (at most SYNC_LEASE_SECONDS after the kill) it is due again.
        lease = connection.sync_lease_until
        assert lease is not None and killed_at < lease <= killed_at + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
        assert sync_connection(connection=connection).outcome == SKIPPED
        assert not connections_due().filter(pk=connection.pk).exists()
        assert connections_due(at=lease + timedelta(seconds=1)).filter(pk=connection.pk).exists()
        # Five minutes pass (the lease is set back by its whole length rather than waited out).
        CalendarConnection.objects.filter(pk=connection.pk).update(
            sync_lease_until=F("sync_lease_until") - timedelta(seconds=settings.SYNC_LEASE_SECONDS)
        )

        later = change_calendar(fake_google, calendar_id, "After the kill", added=20, retitled=10, deleted=5)
        expected = google_view(fake_google, calendar_id)
        # The next cycle: the periodic fan-out, on a new worker, queues the connection and syncs it.
        with celery_worker(env, tmp_path / "next.log") as worker:
            started = time.monotonic()
            send(sync_due, env)
            wait_until(
                lambda: (
                    SyncRun.objects.filter(
                        connection=connection, finished_at__isnull=False, pk__gt=killed_run.pk
                    ).exists()
                    or worker.poll() is not None
                ),
                60,
                "the next cycle to sync the connection",
            )
            recovered_in = time.monotonic() - started
            assert worker.poll() is None, (tmp_path / "next.log").read_text()

    recovered = SyncRun.objects.filter(connection=connection, pk__gt=killed_run.pk).get()
    assert recovered.outcome == SyncOutcome.OK, recovered.error
    assert stored_view(connection) == expected  # stored_view fails on an event stored twice
    killed_run.refresh_from_db()
    # Closed by the next sync's claim, so the connection's history does not show it running for ever.
    assert (killed_run.outcome, killed_run.error) == (SyncOutcome.ERROR, ABANDONED_MESSAGE)
    connection.refresh_from_db()
    assert connection.sync_lease_until is None and connection.sync_cursor != cursor_before
    figures.info(
        f"worker killed: {changes} changes over {changes // PAGE_SIZE} pages, killed waiting for page "
        f"{HELD_PAGE}; {later} more changes after the kill; next cycle (fan-out + sync on a new worker) done in "
        f"{recovered_in:.1f}s, {recovered.pages} pages, +{recovered.created} ~{recovered.updated} "
        f"-{recovered.deleted} ={recovered.unchanged}; {len(expected)} events compared; lease left by the "
        f"dead worker: {(lease - killed_at).total_seconds():.0f}s"
    )


# --- 2. PostgreSQL restarted halfway through a sync -------------------------------------------------------

# Run by `manage.py shell` against the private database: the person and the Google calendar of
# tests.sync_helpers.google_calendar, with the tokens the fake issued in this process.
CREATE_GOOGLE_CONNECTION = """
import json, os
from datetime import timedelta
from django.utils.timezone import now
from accounts.models import User
from connections.models import Provider
from tests.factories import make_account, make_connection

given = json.loads(os.environ["TEST_GOOGLE_ACCOUNT"])
user = User.objects.create_user(given["email"], "correct horse battery staple", timezone="Europe/Berlin")
account = make_account(
    user, Provider.GOOGLE, external_id=given["sub"], email=given["email"], access_token=given["access_token"],
    refresh_token=given["refresh_token"], token_expires_at=now() + timedelta(hours=1),
)
connection = make_connection(account, remote_id=given["calendar_id"], name=given["email"], timezone="Europe/Berlin")
print(connection.pk)
"""


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def private_database(postgres: PrivatePostgres, name: str) -> str:
    """A migrated calsync database on the private server; returns its URL."""
    with postgres.connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    manage({**os.environ, "DATABASE_URL": postgres.url(name)}, "migrate", "--verbosity=0")
    return postgres.url(name)


def query(postgres: PrivatePostgres, database: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    # A connection per query: the restart ends every session, this test's included.
    with postgres.connect(database) as db:
        return db.execute(sql, params).fetchall()


def private_stored_view(
    postgres: PrivatePostgres, database: str, connection_id: int
) -> dict[str, tuple[str, str, str]]:
    """fakes.sync_views.stored_view, read from the private database."""
    rows = query(
        postgres, database,
        "SELECT provider_event_id, title, status, etag FROM calendar_events"
        " WHERE connection_id = %s AND deleted_at IS NULL AND provider_event_id IS NOT NULL",
        connection_id,
    )  # fmt: skip
    view: dict[str, tuple[str, str, str]] = {}
    for pid, title, status, etag in rows:
        if pid in view:
            raise AssertionError(f"{pid} stored twice")
        view[pid] = (title, status, etag)
    return view


def private_runs(postgres: PrivatePostgres, database: str, connection_id: int) -> list[tuple[Any, ...]]:
    """The connection's sync runs, oldest first: (outcome, finished_at, pages, error)."""
    return query(
        postgres, database,
        "SELECT outcome, finished_at, pages, error FROM sync_runs WHERE connection_id = %s ORDER BY id",
        connection_id,
    )  # fmt: skip


def test_it_finishes_the_sync_a_database_restart_cut_halfway(fake_google, tmp_path: Path):
    fake_google.page_size = PAGE_SIZE
    person = fake_google.add_user("olive@gmail.com")
    tokens = fake_google.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    calendar_id = person.calendars[0]["id"]
    add_events(fake_google, calendar_id, SEEDED_EVENTS, "Seeded")
    database = "calsync"

    with private_postgres() as postgres, private_redis() as broker:
        env = celery_env(broker, private_database(postgres, database))
        account = {"sub": person.sub, "email": person.email, "calendar_id": calendar_id, **tokens}
        created = manage(
            {**env, "TEST_GOOGLE_ACCOUNT": json.dumps(account)}, "shell", "--no-imports", "-c", CREATE_GOOGLE_CONNECTION
        )
        connection_id = int(created)

        def connection_row() -> tuple[Any, ...]:
            return query(
                postgres, database,
                "SELECT sync_cursor, sync_lease_until, sync_status, next_attempt_at FROM calendar_connections"
                " WHERE id = %s",
                connection_id,
            )[0]  # fmt: skip

        log = tmp_path / "worker.log"
        with celery_worker(env, log) as worker:
            first = send(sync_connection_task, env, connection_id)
            wait_until(lambda: task_ended(log, first), 60, "the first sync")
            assert [run[0] for run in private_runs(postgres, database, connection_id)] == [SyncOutcome.OK]
            cursor_before = connection_row()[0]

            # As in the kill: six pages of changes, and the restart while the sync waits for the fourth.
            before = private_stored_view(postgres, database, connection_id)
            changes = change_calendar(
                fake_google, calendar_id, "Before the restart", added=150, retitled=100, deleted=50
            )
            expected_at_restart = google_view(fake_google, calendar_id)
            added_ids = set(expected_at_restart) - set(before)
            deleted_ids = set(before) - set(expected_at_restart)
            held = HeldPage(HELD_PAGE)
            fake_google.on_request = held
            cut = send(sync_connection_task, env, connection_id)
            try:
                held.wait()
                restart_started = time.monotonic()
                postgres.restart()
                restart_seconds = time.monotonic() - restart_started
            finally:
                held.release()
            wait_until(lambda: task_ended(log, cut), 60, "the cut sync to end")
            fake_google.on_request = None

            # The three pages committed before the restart survived it; the run failed and says so, and gave
            # the connection back on a new database connection; the cursor stayed where it was.
            stored = private_stored_view(postgres, database, connection_id)
            assert len(deleted_ids) == 50
            assert stored == halfway(expected_at_restart, before, added_ids, deleted_ids)
            outcome, finished_at, _, error = private_runs(postgres, database, connection_id)[-1]
            assert (outcome, error) == (SyncOutcome.ERROR, "internal error (OperationalError)")
            assert finished_at is not None
            cursor, lease, status, next_attempt_at = connection_row()
            assert (cursor, lease, status) == (cursor_before, None, "error")
            # The fan-out waits out the first failure's back-off (half to all of its base) before queueing it.
            assert now() < next_attempt_at <= now() + timedelta(seconds=settings.SYNC_BACKOFF_BASE_SECONDS)

            later = change_calendar(fake_google, calendar_id, "After the restart", added=20, retitled=10, deleted=5)
            expected = google_view(fake_google, calendar_id)
            # The next cycle, on the same worker process: its database connection died in the restart.
            next_started = time.monotonic()
            again = send(sync_connection_task, env, connection_id)
            wait_until(lambda: task_ended(log, again), 60, "the next sync")
            next_seconds = time.monotonic() - next_started
            assert worker.poll() is None, log.read_text()

        outcome, _, pages, error = private_runs(postgres, database, connection_id)[-1]
        assert outcome == SyncOutcome.OK, error
        assert private_stored_view(postgres, database, connection_id) == expected
        assert connection_row()[1:3] == (None, "ok")
    figures.info(
        f"postgres restart: restart (fast) took {restart_seconds:.2f}s while the sync waited for page "
        f"{HELD_PAGE} of {changes // PAGE_SIZE}; {later} more changes after it; the next sync on the same worker "
        f"took {next_seconds:.1f}s ({pages} pages); {len(expected)} events compared"
    )


# --- 3. Redis restarted under a running worker and beat ------------------------------------------------

# The fan-out's period in these tests (five minutes in production). It is longer than the worker's
# reconnect back-off over an outage of one period (kombu tries again after 2, 4, 6, 8 ... seconds), as
# production's five minutes are longer than that back-off's 30-second cap.
PERIOD_SECONDS = 10
# Starting a task and a sync of three events, after the message is there to take.
RUN_SLACK_SECONDS = 2
# The worker's first attempt to reconnect, that long after it lost Redis (kombu's default).
FIRST_RECONNECT_SECONDS = 2


def run_fan_out_every_period() -> None:
    """The schedule as installed, then changed as staff would in the admin: only the sync fan-out, often."""
    periodic_tasks_install()
    PeriodicTask.objects.exclude(task="events.sync_due").update(enabled=False)
    period, _ = IntervalSchedule.objects.get_or_create(every=PERIOD_SECONDS, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="events.sync_due").update(interval=period, crontab=None)


def finished_runs(connection: CalendarConnection, since: datetime) -> list[SyncRun]:
    return list(
        SyncRun.objects.filter(connection=connection, started_at__gte=since, finished_at__isnull=False).order_by("pk")
    )


def test_beat_and_a_worker_carry_on_after_redis_restarts(owner, fake_google, tmp_path: Path):
    connection = google_calendar(owner, fake_google)
    add_events(fake_google, connection.remote_id, 3, "Seeded")
    run_fan_out_every_period()

    with private_redis() as broker:
        # Synced more than a second ago counts as due: every round of the fan-out syncs the calendar again.
        env = celery_env(broker, shared_test_database_url(), SYNC_INTERVAL_SECONDS="1")
        worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
        with celery_worker(env, worker_log) as worker, celery_beat(env, tmp_path) as beat:

            def rounds_since(moment: datetime, count: int) -> bool:
                assert worker.poll() is None, worker_log.read_text()
                assert beat.poll() is None, beat_log.read_text()
                return len(finished_runs(connection, moment)) >= count

            started = now()
            wait_until(lambda: rounds_since(started, 1), 60, "a scheduled sync")
            # Just after a round: the worker is idle, nothing is queued that the restart could lose.
            broker.stop()
            down_at = now()
            refused = beat_log.read_text().count("Couldn't apply scheduled task")
            wait_until(
                lambda: beat_log.read_text().count("Couldn't apply scheduled task") > refused,
                2 * PERIOD_SECONDS,
                "beat to find the broker gone when the next round is due",
            )
            broker.start()
            back_at = now()
            wait_until(lambda: rounds_since(back_at, 2), 3 * PERIOD_SECONDS, "two more rounds after Redis is back")

    first, second = finished_runs(connection, back_at)[:2]
    assert (first.outcome, second.outcome) == (SyncOutcome.OK, SyncOutcome.OK)
    # The round due during the outage is lost (beat moves on), the next one is not: within one period.
    resumed_after = (first.started_at - back_at).total_seconds()
    assert resumed_after <= PERIOD_SECONDS + RUN_SLACK_SECONDS, resumed_after
    assert "consumer: Connection to broker lost" in worker_log.read_text()
    # The job's own claim was given back each time: the restart left nothing holding the next round off.
    job = JobLease.objects.get(name="events.sync_due")
    assert job.held_until is None and job.last_finished_at is not None
    reconnected = re.findall(r"\[([\d-]+ [\d:,]+): INFO/MainProcess\] Connected to redis", worker_log.read_text())
    figures.info(
        f"redis restart: period {PERIOD_SECONDS}s; Redis down {(back_at - down_at).total_seconds():.1f}s (until "
        f"beat failed to send a round); worker reconnected at {reconnected[-1]}, back at {back_at:%H:%M:%S,%f}; "
        f"first round after Redis was back started {resumed_after:.1f}s after it, the next "
        f"{(second.started_at - first.started_at).total_seconds():.1f}s later"
    )


def test_a_sync_whose_message_a_redis_restart_lost_runs_again_within_a_period(owner, fake_google, tmp_path: Path):
    busy = google_calendar(owner, fake_google, "olive@gmail.com")
    waiting = google_calendar(owner, fake_google, "olive.work@gmail.com")
    for connection in (busy, waiting):
        add_events(fake_google, connection.remote_id, 3, "Seeded")
    run_fan_out_every_period()
    # The worker (one process) is busy with the first calendar's sync while the second one's message waits
    # in Redis: the restart loses it.
    held = HeldPage(1, calendar_id=busy.remote_id)
    fake_google.on_request = held

    with private_redis() as broker:
        env = celery_env(broker, shared_test_database_url(), SYNC_INTERVAL_SECONDS="1")
        worker_log = tmp_path / "worker.log"
        with celery_worker(env, worker_log) as worker, celery_beat(env, tmp_path):
            try:
                held.wait()
                wait_until(
                    lambda: CalendarConnection.objects.filter(pk=waiting.pk, sync_queued_at__isnull=False).exists(),
                    10,
                    "the fan-out to queue the second calendar",
                )
                assert worker_log.read_text().count("Task events.sync_connection[") == 1  # only the busy one
                broker.stop()
                broker.start()
                back_at = now()
            finally:
                held.release()
            fake_google.on_request = None
            # The fan-out queues again a sync that has not started within a round (SYNC_QUEUED_STALE_SECONDS
            # follows SYNC_INTERVAL_SECONDS): the lost one runs in the first round after Redis is back.
            wait_until(
                lambda: worker.poll() is not None or bool(finished_runs(waiting, back_at)),
                PERIOD_SECONDS + RUN_SLACK_SECONDS + FIRST_RECONNECT_SECONDS,
                "a round after Redis is back to sync the calendar whose queued sync was lost",
            )
            assert worker.poll() is None, worker_log.read_text()
    assert finished_runs(busy, back_at), "the busy calendar's sync went on"
