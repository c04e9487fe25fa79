"""A real Radicale CalDAV server for the test suite, on loopback and over TLS.

calsync refuses plain-http CalDAV servers, so Radicale serves HTTPS with the test authority's certificate
(`fakes.tls`); the fixture (tests/radicale.py) calls `trust_test_ca()` first so caldav (requests) trusts it.

- Users live in a bcrypt htpasswd file. Radicale 3.9 reads that file on every login (`htpasswd_cache` is
  off), so `add_user` takes effect at once, without a restart.
- Rights come from a `from_file` rights file: everyone owns their principal and the calendars directly
  below it. `share_read_only` puts a read-only rule for one reader on one calendar in front of those rules.
  Radicale reads the rights file only when it starts, so sharing restarts the server (same port, same
  storage; a few hundred milliseconds).
- `[auth] delay` is 0: Radicale otherwise sleeps a second on every 401, and caldav's first request of each
  client is an unauthenticated one that gets a 401.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import bcrypt
import caldav
import icalendar
from caldav.elements import cdav, dav, ical
from caldav.elements.base import BaseElement

from fakes.processes import ROOT, free_port, wait_until
from fakes.tls import TestCA

# Names that need no escaping in an htpasswd line, a URL path or a rights-file regex (whose values
# Radicale also runs through str.format and configparser interpolation: no braces, no percent signs).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")

OWNER_RULES = """\
[root]
user: .+
collection:
permissions: R

[principal]
user: .+
collection: {user}
permissions: RW

[calendars]
user: .+
collection: {user}/[^/]+
permissions: rw
"""


def _check_name(value: str, what: str) -> str:
    if not NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r} must match {NAME.pattern}")
    return value


def _vtimezone_calendar(tzid: str) -> str:
    """A VCALENDAR holding the VTIMEZONE for `tzid`, as CALDAV:calendar-timezone wants it (RFC 4791 5.2.2)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//calsync tests//radicale fixture//EN")
    calendar.add("version", "2.0")
    calendar.add_component(icalendar.Timezone.from_tzid(tzid))
    return calendar.to_ical().decode()


@dataclass(frozen=True)
class CalDAVAccount:
    url: str  # server root; caldav finds the principal from here
    username: str
    password: str
    calendars: dict[str, str] = field(default_factory=dict)  # display name -> calendar URL

    def client(self) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=self.username, password=self.password)


class _Exited(Exception):
    pass


class RadicaleServer:
    def __init__(self, folder: Path, authority: TestCA) -> None:
        self.folder = folder
        self.authority = authority
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/"
        self.config = folder / "config"
        self.htpasswd = folder / "users"
        self.rights = folder / "rights"
        self.storage = folder / "collections"
        self.log = folder / "radicale.log"
        self._users: dict[str, str] = {}  # username -> bcrypt hash
        self._shares: list[tuple[str, str]] = []  # (reader, "owner/calendar")
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0  # of the last start, until it answered HTTPS
        self._write_config()
        self._write_htpasswd()
        self._write_rights()

    # -- process ---------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(self.config)],
                cwd=ROOT,
                env=dict(os.environ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(self._answers, timeout=15, what=f"Radicale on {self.url}")
        except (AssertionError, _Exited) as error:
            self.stop()
            raise AssertionError(f"Radicale did not start: {error}; log {self.log} ends:\n{self.log_tail()}") from None
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _answers(self) -> bool:
        """True once Radicale answers HTTPS (any status) with a certificate the test authority signed."""
        if self._proc is None or self._proc.poll() is not None:
            raise _Exited(f"it exited with status {None if self._proc is None else self._proc.returncode}")
        context = ssl.create_default_context(cafile=str(self.authority.ca_bundle))
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=2, context=context)
        try:
            connection.request("OPTIONS", "/")
            connection.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            connection.close()

    # -- files -----------------------------------------------------------------------------------------

    def _write_config(self) -> None:
        self.config.write_text(
            f"""\
[server]
hosts = 127.0.0.1:{self.port}
ssl = True
certificate = {self.authority.cert_chain}
key = {self.authority.private_key}
delay_on_error = 0

[auth]
type = htpasswd
htpasswd_filename = {self.htpasswd}
htpasswd_encryption = bcrypt
htpasswd_cache = False
delay = 0

[rights]
type = from_file
file = {self.rights}

[storage]
filesystem_folder = {self.storage}

[web]
type = none

[logging]
level = warning
mask_passwords = True
"""
        )

    def _write_htpasswd(self) -> None:
        lines = "".join(f"{user}:{digest}\n" for user, digest in self._users.items())
        _replace(self.htpasswd, lines)

    def _write_rights(self) -> None:
        shares = "".join(
            f"[share-{number}]\nuser: {re.escape(reader)}\ncollection: {re.escape(path)}\npermissions: r\n\n"
            for number, (reader, path) in enumerate(self._shares, start=1)
        )
        _replace(self.rights, shares + OWNER_RULES)

    # -- API -------------------------------------------------------------------------------------------

    def add_user(self, username: str, password: str) -> None:
        """Add (or re-password) a user; Radicale reads the htpasswd file on each login, so no restart."""
        _check_name(username, "username")
        # bcrypt's lowest cost keeps logins fast; Radicale's `bcrypt` method checks any cost.
        digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        with self._lock:
            self._users[username] = digest
            self._write_htpasswd()

    def client(self, username: str, password: str) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=username, password=password)

    def make_calendar(
        self,
        username: str,
        password: str,
        name: str,
        *,
        color: str | None = None,
        timezone: str | None = None,
    ) -> str:
        """MKCALENDAR a calendar in the user's home with display name, colour and time zone; its URL.

        `color` is "#rrggbb" (Apple's calendar-color), `timezone` an IANA name (sent as a VTIMEZONE).
        """
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "calendar"
        props: list[BaseElement] = [dav.DisplayName(name)]
        if color is not None:
            props.append(ical.CalendarColor(color))
        if timezone is not None:
            props.append(cdav.CalendarTimeZone(_vtimezone_calendar(timezone)))
        body = cdav.Mkcalendar() + (dav.Set() + (dav.Prop() + props))
        with self.client(username, password) as client:
            home = client.principal().calendar_home_set.url
            url = str(home.join(f"{slug}-{secrets.token_hex(3)}/"))
            response = client.mkcalendar(url, str(body))
        if response.status != 201:
            raise AssertionError(f"MKCALENDAR {url} as {username}: {response.status} {response.raw!r}")
        return url

    def share_read_only(self, owner: str, calendar_path: str, reader: str) -> None:
        """Give `reader` read-only access to `owner`'s calendar (a URL or path); restarts Radicale."""
        path = urlsplit(calendar_path).path.strip("/")
        segments = path.split("/")
        if len(segments) != 2 or segments[0] != owner:
            raise ValueError(f"{calendar_path!r} is not a calendar directly in {owner!r}'s home")
        _check_name(segments[1], "calendar name")
        _check_name(reader, "reader")
        with self._lock:
            self._shares.append((reader, path))
            self._write_rights()
            self.restart()


def _replace(path: Path, text: str) -> None:
    """Write atomically: Radicale may read the file at any moment."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)
