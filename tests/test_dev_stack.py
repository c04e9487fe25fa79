"""`make run`'s stack with nothing configured: SQLite, the filesystem broker, runserver, worker and beat.

The filesystem transport must carry a task from one process to the worker, as Redis would.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import BIN, ROOT, answers, free_port, process, wait_until

pytestmark = pytest.mark.slow
ZERO_SETUP_UNSET = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "ENCRYPTION_KEYS")


def test_the_zero_setup_stack_serves_pages_and_runs_tasks(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ZERO_SETUP_UNSET}
    var = tmp_path / "var"
    env.update({"DEBUG": "1", "CALSYNC_VAR_DIR": str(var), "PATH": f"{BIN}:{env['PATH']}"})
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr

    port = free_port()
    log = tmp_path / "honcho.log"
    stack = [str(BIN / "honcho"), "-f", "Procfile.dev", "start", "-p", str(port)]
    # env has no database or broker settings: the stack must choose the zero-setup defaults itself.
    with process(stack, {**env, "PYTHONUNBUFFERED": "1"}, log):
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/"), 90, "runserver to answer")
        wait_until(lambda: "ready." in log.read_text(), 90, "the worker to be ready")
        send = subprocess.run(
            [
                sys.executable, "-c",
                "import django; django.setup(); from accounts.tasks import clear_expired_sessions; "
                "clear_expired_sessions.delay()",
            ],
            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "calsync.settings"}, capture_output=True, text=True,
        )  # fmt: skip
        assert send.returncode == 0, send.stderr
        wait_until(
            lambda: "accounts.clear_expired_sessions" in log.read_text() and "succeeded" in log.read_text(),
            60,
            "the worker to run a task sent through the filesystem broker",
        )
        assert "Connected to filesystem://" in log.read_text()
        assert "beat: Starting" in log.read_text()
    assert not (ROOT / "control").exists(), "the broker must keep its folders under CALSYNC_VAR_DIR"
    assert (var / "celery" / "control").is_dir()
