"""Periodic jobs never run twice at once, and a crashed run's claim lapses by itself."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.utils.timezone import now

from accounts.models import Session
from accounts.tasks import clear_expired_sessions
from calsync.jobs import SKIPPED, job_lease
from calsync.models import JobLease


def test_it_lets_one_run_hold_a_job_at_a_time(db):
    with job_lease("tests.job", seconds=60) as first:
        with job_lease("tests.job", seconds=60) as second:
            assert first and not second
        # The refused run must not have released the first one's claim on its way out.
        assert JobLease.objects.get(name="tests.job").held_until is not None
    lease = JobLease.objects.get(name="tests.job")
    assert lease.held_until is None and lease.last_finished_at is not None
    with job_lease("tests.job", seconds=60) as again:
        assert again


def test_it_takes_over_a_claim_that_lapsed(db):
    JobLease.objects.create(name="tests.job", held_until=now() - timedelta(seconds=1), holder="crashed-run")
    with job_lease("tests.job", seconds=60) as held:
        assert held
        assert JobLease.objects.get(name="tests.job").holder != "crashed-run"


def test_it_releases_the_claim_when_the_job_fails(db):
    try:
        with job_lease("tests.job", seconds=60):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert JobLease.objects.get(name="tests.job").held_until is None


def test_a_scheduled_task_skips_while_another_run_holds_it(db):
    Session.objects.create(key_hash="a" * 64, session_data="", expire_date=now() - timedelta(days=1))
    with job_lease("accounts.clear_expired_sessions", seconds=60):
        assert clear_expired_sessions.apply().get() == SKIPPED
        assert Session.objects.count() == 1
    assert clear_expired_sessions.apply().get() == 1
    assert Session.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_releases_the_claim_when_the_database_connection_died_under_the_job():
    # A failover or restart: the job's error also broke the connection the release would use.
    with pytest.raises(OperationalError), job_lease("tests.job", seconds=600) as held:
        assert held
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert JobLease.objects.get(name="tests.job").held_until is None
    with job_lease("tests.job", seconds=600) as retried:
        assert retried


def test_a_command_refuses_to_do_a_jobs_work_while_the_job_runs(db):
    with job_lease("accounts.purge_deleted", seconds=60):
        with pytest.raises(CommandError, match="running now"):
            call_command("purge_deleted", "--no-vacuum", stdout=StringIO())
        call_command("purge_deleted", "--dry-run", stdout=StringIO())  # counting changes nothing: allowed
    call_command("purge_deleted", "--no-vacuum", stdout=StringIO())
    assert JobLease.objects.get(name="accounts.purge_deleted").held_until is None
