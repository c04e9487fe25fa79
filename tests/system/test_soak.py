"""`make soak` for a few seconds with two users, so the harness cannot rot: gunicorn, workers, the fake and
the mutator all run, no request fails, and afterwards the database equals the provider.

No timing is asserted here (timings belong to the soak's report).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace

import pytest

from fakes.google import GoogleState
from fakes.server import serve
from soak import people, runner
from soak.config import SoakConfig
from soak.datacheck import compare
from soak.report import markdown, write
from soak.visitors import RETRIED, VirtualUser
from tests.sync_helpers import google_calendar

BRIEF = SoakConfig(users=2, seconds=6, events=40, think=0.3, sync_interval=2)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_soaks_briefly_with_no_errors_and_a_passing_data_check(tmp_path: Path):
    report = runner.run(BRIEF, tmp_path)

    md, js = write(report, tmp_path)
    body = json.loads(js.read_text())
    assert body["errors"] == 0, markdown(report)
    assert body["data_check"]["passed"], markdown(report)
    assert body["passed"], markdown(report)
    pages = {page["page"]: page for page in body["pages"]}
    assert pages["sign-in"]["requests"] == 2
    assert pages["week"]["requests"] >= 2
    assert pages["week"]["p95_ms"] is not None
    assert body["data_check"]["calendars"] == 2 * BRIEF.calendars
    assert sum(body["mutations"].values()) > 0
    assert body["syncs"]["runs"] > 0, "syncs ran while the users browsed"
    assert "| week |" in md.read_text()


def test_it_refuses_a_database_that_is_not_a_soak_database(monkeypatch):
    monkeypatch.setattr(people, "connection", SimpleNamespace(settings_dict={"NAME": "calsync"}))
    with pytest.raises(people.WrongDatabase):
        people.check_database()


def test_it_names_what_the_database_lacks(owner):
    """The data check can fail: a calendar whose event never reached the database is reported with its id."""
    state = GoogleState()
    calendar = google_calendar(owner, state)
    state.put_event(calendar.remote_id, {"id": "unsynced1", "summary": "Planning", "start": {}, "end": {}})

    check = compare(state, [calendar.pk])

    assert not check.passed
    assert [(d.connection_id, d.missing) for d in check.differences] == [(calendar.pk, ["unsynced1"])]


class HangsUpOnReuse(BaseHTTPRequestHandler):
    """Answers a connection's first request and hangs up on the next, as gunicorn closing an idle keep-alive
    connection does when a request is already on its way."""

    protocol_version = "HTTP/1.1"
    answered = False

    def do_GET(self):
        if self.answered:
            self.close_connection = True
            return
        self.answered = True
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_it_sends_a_get_again_when_the_server_hung_up_an_idle_connection_but_not_a_post():
    with serve(HangsUpOnReuse) as base_url:
        user = VirtualUser(
            base_url=base_url, email="", password="", number=0, start_at=0, stop_at=0, think=0, stop=threading.Event()
        )
        user.request("week", "GET", "/")

        response, resent = user.request("week", "GET", "/")
        _, posted = user.request("sign-in", "POST", "/", data={"login": "x"})

    assert response is not None and response.status_code == 200
    assert (resent.error, resent.note) == ("", RETRIED)
    assert "RemoteDisconnected" in posted.error or "Connection aborted" in posted.error
