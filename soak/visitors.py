"""Virtual users: one thread and one HTTP session each, signing in through the real form and browsing.

A user reads the week view as a person does: the whole page, then htmx navigation to earlier and later
weeks, an event's detail panel now and then, and the connections page. Every request is timed (at the
client, body included) and classified: a status of 400 or more, an exception, or a signed-in page that
sends the user to the sign-in form is an error. One exception, as browsers make it: a GET that meets a
connection gunicorn closed as idle (its keep-alive timeout) just as the request went out is sent again,
once, and counted (the latency covers both tries).
"""

from __future__ import annotations

import html
import http.client
import random
import re
import threading
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import requests
from django.db import connections
from urllib3.exceptions import ProtocolError

from events.models import CalendarEvent

TIMEOUT = 30.0  # gunicorn's own worker timeout
SIGN_IN = "/accounts/login/"
HTMX = {"HX-Request": "true"}
WEEK_LINK = re.compile(r'id="week-(previous|next)"[^>]*\shref="([^"]+)"')
EVENT_LINK = re.compile(r'href="(/events/\d+/[^"]*)"')
FARTHEST_WEEK = 6  # users wander this many weeks either side of this one
# How a reused connection that the server closed meanwhile fails: no answer at all, or a reset.
CLOSED_UNDER_US = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
RETRIED = "GET sent again: gunicorn closed the idle keep-alive connection as it was reused"


@dataclass
class Sample:
    page: str
    status: int | None  # None: no answer (an exception)
    seconds: float
    error: str = ""  # why this request failed; empty when it did not
    note: str = ""  # an expected outcome worth counting (a detail link to an event a sync removed)


class HiddenFields(HTMLParser):
    """The hidden inputs (the CSRF token among them) of the form that asks for a password."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self.has_password: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({})
            self.has_password.append(False)
        elif tag == "input" and self.forms:
            if values.get("type") == "hidden" and values.get("name"):
                self.forms[-1][values["name"]] = values.get("value", "")
            if values.get("name") == "password":
                self.has_password[-1] = True

    def sign_in_form(self) -> dict[str, str] | None:
        return next((form for form, asks in zip(self.forms, self.has_password, strict=True) if asks), None)


class VirtualUser(threading.Thread):
    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        password: str,
        number: int,
        start_at: float,
        stop_at: float,
        think: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"visitor-{number}", daemon=True)
        if not base_url.startswith("http://127.0.0.1:"):
            raise ValueError(f"the soak's load goes to loopback only, not {base_url}")
        self.base_url, self.email, self.password = base_url, email, password
        self.start_at, self.stop_at, self.think, self.stop = start_at, stop_at, think, stop
        self.rng = random.Random(number)  # noqa: S311  # nosec B311  # repeatable browsing, not a secret
        self.samples: list[Sample] = []
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment: loopback stays loopback
        # Its own address behind the one trusted proxy: an IPv6 documentation address (never routed), each
        # in a /64 of its own, as allauth's per-IP limits count a /64 as one client.
        forwarded_for = f"2001:db8:{number + 1:x}::1"
        self.session.headers.update({"X-Forwarded-For": forwarded_for, "User-Agent": "calsync-soak"})
        self.last_answer = 0.0  # when the previous answer came (monotonic): how long the connection sat idle
        self.week_html = ""  # the week last shown, whose links the next click follows
        self.week_path = "/"
        self.week_offset = 0  # weeks from this one

    def run(self) -> None:
        try:
            if self.stop.wait(max(0.0, self.start_at - time.monotonic())):
                return
            if self.sign_in():
                self.browse()
        except Exception as exc:  # a bug here must show in the report, not vanish with the thread
            self.samples.append(Sample("visitor", None, 0.0, error=f"visitor crashed: {type(exc).__name__}: {exc}"))
        finally:
            self.session.close()
            connections.close_all()  # this thread's database connection (the 404 check)

    # Requests --------------------------------------------------------------------------------------------

    def request(self, page: str, method: str, path: str, **kwargs: Any) -> tuple[requests.Response | None, Sample]:
        kwargs.setdefault("allow_redirects", False)
        idle = time.monotonic() - self.last_answer if self.last_answer else 0.0
        started, note = time.perf_counter(), ""
        try:
            try:
                response = self.session.request(method, self.base_url + path, timeout=TIMEOUT, **kwargs)
            except requests.ConnectionError as exc:
                if method != "GET" or not self.last_answer or not closed_under_us(exc):
                    raise
                note = RETRIED
                response = self.session.request(method, self.base_url + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__} on {method} {path} after {idle:.2f} s idle: {exc}"
            sample = Sample(page, None, time.perf_counter() - started, error=error[:300], note=note)
            self.samples.append(sample)
            return None, sample
        finally:
            self.last_answer = time.monotonic()
        sample = Sample(page, response.status_code, time.perf_counter() - started, note=note)
        if response.status_code >= 400:
            sample.error = f"HTTP {response.status_code} for {method} {path}"
        elif response.is_redirect and SIGN_IN in response.headers.get("Location", "") and page != "sign-in":
            sample.error = f"signed out: {method} {path} sent to the sign-in form"
        self.samples.append(sample)
        return response, sample

    def sign_in(self) -> bool:
        response, sample = self.request("sign-in form", "GET", SIGN_IN)
        if response is None or sample.error:
            return False
        parser = HiddenFields()
        parser.feed(response.text)
        hidden = parser.sign_in_form()
        if hidden is None:
            sample.error = "the sign-in page has no form asking for a password"
            return False
        # A browser sends its Origin with a form post; Django's CSRF check compares it with the host.
        headers = {"Origin": self.base_url, "Referer": self.base_url + SIGN_IN}
        data = {**hidden, "login": self.email, "password": self.password}
        response, sample = self.request("sign-in", "POST", SIGN_IN, data=data, headers=headers)
        if response is None or sample.error:
            return False
        if response.status_code != 302 or SIGN_IN in response.headers.get("Location", SIGN_IN):
            sample.error = f"sign-in refused (HTTP {response.status_code})"
            return False
        return self.open_week("/")

    # Browsing --------------------------------------------------------------------------------------------

    def browse(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.stop_at:
            choice = self.rng.random()
            if choice < 0.5:
                self.navigate()
            elif choice < 0.65:
                self.open_week(self.week_path)  # a reload, or a shared link: the whole page
            elif choice < 0.85:
                self.open_detail()
            else:
                self.request("connections", "GET", "/connections/")
            pause = self.rng.uniform(0, 2 * self.think)
            if self.stop.wait(max(0.0, min(pause, self.stop_at - time.monotonic()))):
                return

    def open_week(self, path: str) -> bool:
        response, sample = self.request("week", "GET", path)
        if response is not None and not sample.error and response.status_code == 200:
            self.week_html, self.week_path = response.text, path
            return True
        return False

    def navigate(self) -> None:
        """Click previous or next (htmx swaps the week in), wandering at most a few weeks from this one."""
        links = dict(WEEK_LINK.findall(self.week_html))
        if not links:
            if self.open_week("/"):
                self.week_offset = 0
            return
        step = self.rng.choice((-1, 1))
        if abs(self.week_offset + step) > FARTHEST_WEEK:
            step = -step
        direction = "next" if step > 0 else "previous"
        path = html.unescape(links[direction])
        response, sample = self.request("week (htmx)", "GET", path, headers=HTMX)
        if response is not None and not sample.error and response.status_code == 200:
            self.week_html, self.week_path = response.text, path
            self.week_offset += step

    def open_detail(self) -> None:
        """Open the detail panel of an event shown in the current week (as clicking it does)."""
        links = EVENT_LINK.findall(self.week_html)
        if not links:
            self.request("connections", "GET", "/connections/")
            return
        path = html.unescape(self.rng.choice(links))
        response, sample = self.request("event detail", "GET", path, headers=HTMX)
        if response is not None and response.status_code == 404:
            self.explain_missing_event(path, sample)

    @staticmethod
    def explain_missing_event(path: str, sample: Sample) -> None:
        """A 404 is right when a sync removed the event after the week was drawn; anything else is an error."""
        event_id = int(path.split("/")[2])
        rows = CalendarEvent.objects.filter(pk=event_id)
        if not rows.filter(deleted_at__isnull=True).exists():
            sample.error = ""
            sample.note = "event detail 404: " + ("deleted by a sync" if rows.exists() else "row gone")


def closed_under_us(exc: requests.ConnectionError) -> bool:
    """requests wraps urllib3's ProtocolError("Connection aborted.", <what the socket said>)."""
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, ProtocolError) and any(isinstance(arg, CLOSED_UNDER_US) for arg in cause.args)
