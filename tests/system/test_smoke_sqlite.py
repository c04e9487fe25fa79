"""The zero-setup path: migrate on SQLite, collect static files, serve pages with gunicorn (as production does)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from fakes.processes import BIN, ROOT, answers, free_port, process, wait_until

pytestmark = pytest.mark.slow


def test_it_migrates_and_serves_pages_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "CALSYNC_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
    }
    for command in (["migrate", "--noinput"], ["setup_periodic_tasks"], ["collectstatic", "--noinput"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "calsync.sqlite3").stat().st_size > 0

    base = f"http://127.0.0.1:{env['PORT']}"
    gunicorn = [str(BIN / "gunicorn"), "calsync.wsgi", "--bind", f"127.0.0.1:{env['PORT']}"]
    with process(gunicorn, env, tmp_path / "gunicorn.log"):
        wait_until(lambda: answers(f"{base}/healthz"), 60, "gunicorn to answer")
        with urllib.request.urlopen(f"{base}/healthz") as response:  # noqa: S310
            assert json.load(response) == {"status": "ok", "database": "ok"}
        with urllib.request.urlopen(f"{base}/") as response:  # noqa: S310
            html = response.read().decode()
        assert "All your calendars, one week view." in html
        stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]+\.css)"', html)
        assert stylesheet, "the page should link the hashed stylesheet from the manifest"
        with urllib.request.urlopen(base + stylesheet.group(1)) as response:  # noqa: S310
            assert b"--accent" in response.read()
        with urllib.request.urlopen(f"{base}/accounts/signup/?code=authorization-code-secret") as response:  # noqa: S310
            assert response.status == 200
    access_log = (tmp_path / "gunicorn.log").read_text()
    assert "GET /accounts/signup/ HTTP/1.1" in access_log
    assert "authorization-code-secret" not in access_log
