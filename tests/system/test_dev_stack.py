"""`make run` with nothing configured: SQLite, the filesystem broker, runserver, worker, beat, and the demo.

The demo account's week must come through the real CalDAV sync from the local Radicale that `make run`
starts, and the filesystem transport must carry a task from one process to the worker, as Redis would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from demo.seed import DEMO_EMAIL, DEMO_USER_PASSWORD
from fakes.processes import ROOT, answers, free_port, process, wait_until

pytestmark = pytest.mark.slow
# Nothing configured, and nothing of the test suite's own trust or CalDAV settings either.
NOT_INHERITED = (
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "ENCRYPTION_KEYS", "DEBUG",
    "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "HTTPLIB2_CA_CERTS", "CALDAV_ALLOW_PRIVATE_HOSTS",
)  # fmt: skip
DEMO_TITLES = ("Team stand-up", "Design offsite", "Release night", "Call with the Tokyo office")


def signed_in_home(base: str) -> str:
    """The home page after signing in as the demo person through the sign-in form."""
    return signed_in(base).get(f"{base}/", timeout=10).text


def signed_in(base: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base}/accounts/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token, form
    fields = {"csrfmiddlewaretoken": token.group(1), "login": DEMO_EMAIL, "password": DEMO_USER_PASSWORD}
    browser.post(f"{base}/accounts/login/", data=fields, headers={"Referer": f"{base}/accounts/login/"}, timeout=10)
    return browser


def create_event(browser: requests.Session, base: str, title: str) -> None:
    """Save a new event through the form, in the demo calendar, today at 23:00."""
    form = browser.get(f"{base}/events/new/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    calendar = re.search(r'<option value="(\d+)"[^>]*>calsync demo', form)
    assert token and calendar, form
    today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()  # the demo person's zone
    fields = {
        "csrfmiddlewaretoken": token.group(1),
        "title": title,
        "calendar": calendar.group(1),
        "start_date": today,
        "start_time": "23:00",
        "end_date": today,
        "end_time": "23:30",
        "timezone": "Europe/London",
    }
    saved = browser.post(f"{base}/events/new/", data=fields, headers={"Referer": f"{base}/events/new/"}, timeout=10)
    assert saved.ok and title in saved.text, saved.text


def test_make_run_serves_the_demo_week_and_runs_tasks(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    var = tmp_path / "var"
    env.update({"CALSYNC_VAR_DIR": str(var), "PYTHONUNBUFFERED": "1"})
    port, caldav_port = free_port(), free_port()
    log = tmp_path / "make-run.log"
    # env has no database, broker or CA settings: `make run` must choose the zero-setup defaults itself.
    with process(["make", "run", f"PORT={port}", f"DEMO_CALDAV_PORT={caldav_port}"], env, log) as stack:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{base}/") or stack.poll() is not None, 120, "make run to serve pages")
        assert stack.poll() is None, log.read_text()
        assert "Demo ready (created account, 7 events written" in log.read_text()
        home = signed_in_home(base)
        for title in DEMO_TITLES:
            assert title in home, f"{title!r} missing from the demo week"

        wait_until(lambda: "ready." in log.read_text(), 90, "the worker to be ready")
        send = subprocess.run(
            [
                sys.executable, "-c",
                "import django; django.setup(); from accounts.tasks import clear_expired_sessions; "
                "clear_expired_sessions.delay()",
            ],
            cwd=ROOT, env={**env, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "calsync.settings"},
            capture_output=True, text=True,
        )  # fmt: skip
        assert send.returncode == 0, send.stderr
        wait_until(
            lambda: "accounts.clear_expired_sessions" in log.read_text() and "succeeded" in log.read_text(),
            60,
            "the worker to run a task sent through the filesystem broker",
        )
        assert "Connected to filesystem://" in log.read_text()

        # Two-way: an event saved in calsync is pushed to the demo CalDAV server by the worker.
        browser = signed_in(base)
        create_event(browser, base, "Pushed from calsync")
        wait_until(
            lambda: (
                "events.push_connection" in log.read_text()
                and "sync-pending" not in browser.get(f"{base}/", timeout=10).text
            ),
            60,
            "the worker to push the new event to the demo CalDAV server",
        )
        collections = var / "demo" / "collections"
        assert any("Pushed from calsync" in path.read_text() for path in collections.rglob("*.ics"))
        assert "beat: Starting" in log.read_text()
    assert not (ROOT / "control").exists(), "the broker must keep its folders under CALSYNC_VAR_DIR"
    assert (var / "celery" / "control").is_dir()
    assert (var / "demo" / "collections").is_dir(), "the demo's CalDAV data must live under CALSYNC_VAR_DIR"
