"""A real Celery worker, over Redis, runs a scheduled job against the test database."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils.timezone import now

from accounts.models import Session
from accounts.tasks import clear_expired_sessions
from fakes.processes import BIN, process, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_the_session_cleanup_task(tmp_path):
    Session.objects.create(key_hash="a" * 64, session_data="", expire_date=now() - timedelta(days=1))
    Session.objects.create(key_hash="b" * 64, session_data="", expire_date=now() + timedelta(days=1))

    # A queue of its own, so no other worker on this Redis takes the task.
    queue = f"test-{uuid.uuid4().hex}"
    database_url = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database_url['USER']}@{database_url['HOST']}:{database_url['PORT']}/{connection.settings_dict['NAME']}"
        ),
    }
    args = [str(BIN / "celery"), "-A", "calsync", "worker", "--pool=solo", "--loglevel=INFO", "-Q", queue]
    with process(args, env, tmp_path / "worker.log") as worker:
        clear_expired_sessions.apply_async(queue=queue)
        wait_until(lambda: Session.objects.count() == 1 or worker.poll() is not None, 60, "the worker to run the task")
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
    assert list(Session.objects.values_list("key_hash", flat=True)) == ["b" * 64]
    assert "accounts.clear_expired_sessions" in (tmp_path / "worker.log").read_text()
