"""Faults between calsync and its providers, through the loopback Google and Graph fakes and a real Radicale
(behind fakes/caldav_proxy.py for what Radicale will not do on cue): 429 with Retry-After, Google's 403
rateLimitExceeded, 500/503, timeouts, a connection reset halfway through a page, an expired cursor, a refused
refresh token, malformed JSON and iCalendar, a 1 MB description, a page of 2,500 events, and a calendar that
suddenly lists as empty.

Each scenario seeds a calendar of some forty events and a weekly series with a moved and a cancelled
occurrence (fifty-odd rows for Graph, which lists each occurrence), syncs it, changes it at the provider so
the next sync spans several pages, then puts the fault in that sync's way. The failed run must say what
happened (outcome, the connection's status, error, backoff, the cursor left where it was) and keep only
whole versions of events; once the fault clears, the next run must leave the database equal to the
provider: nothing lost, nothing doubled.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.conf import settings
from django.core import mail
from django.utils.timezone import now

import connections.providers.caldav.reading as caldav_reading
import connections.providers.google.reading as google_events
import connections.providers.microsoft.reading as microsoft_events
from accounts.models import User
from audit.models import AuditAction, AuditLog
from connections.models import AccountStatus, CalendarConnection, Provider, ProviderAccount, SyncState
from connections.providers.base import AccountIdentity, Credentials, Grant
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from connections.providers.microsoft.client import SCOPES as MICROSOFT_SCOPES
from connections.services import account_connect
from events.mapping import MAX_TEXT_LENGTH
from events.models import CalendarEvent, EventStatus, SyncOutcome, SyncRun
from events.sync import SyncResult, connection_sweep_confirm, sync_connection
from fakes import caldav_proxy, tls
from fakes.google import GoogleState
from fakes.microsoft import MicrosoftState
from fakes.processes import ROOT, wait_until
from fakes.radicale import CalDAVAccount, RadicaleServer
from fakes.server import serve
from fakes.sync_views import google_view
from fakes.sync_views import stored_view as stored_rows
from tests.factories import make_account, make_connection
from tests.sync_helpers import caldav_work_calendar, google_calendar

pytestmark = pytest.mark.django_db(transaction=True)  # the sync commits page by page

BERLIN = ZoneInfo("Europe/Berlin")
SINGLES, ADDED, EDITED, DELETED = 30, 30, 4, 4  # a round of changes edits and deletes singles not yet touched
SERIES_WEEKS = 20
PAGE_SIZE = 10  # so a round of changes (thirty-eight) takes four pages
RETRY_ATTEMPTS = 3
CLIENT_TIMEOUT_SECONDS = 0.5
STALL_SECONDS = 1.5  # longer than the client waits: the client gives up first
LONG_RETRY_AFTER = 7200  # longer than any worker sleeps (PROVIDER_RETRY_MAX_WAIT_SECONDS)
BULK = 2500

# A provider's calendar, or our copy of it, as the sync must keep it: id -> (title, status, etag). Graph's
# deleted occurrences are ("cancelled", master id, original start) -> ("cancelled",): calsync names them by
# the occurrence's id when told incrementally and by a made-up id after a full listing, and either is right.
View = dict[Any, tuple[str, ...]]  # keys: ids, or the tuples above
Fault = Callable[["Side", str, str], None]


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.PROVIDER_RETRY_ATTEMPTS = RETRY_ATTEMPTS
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale and its proxy listen on loopback


def clients_give_up_quickly(settings) -> None:
    """Shorten the clients' timeout, so a stalled request costs half a second rather than fifteen. Only the
    timeout scenarios shorten it, so a busy machine cannot turn an ordinary slow answer elsewhere into a
    timeout."""
    settings.PROVIDER_TIMEOUT_SECONDS = CLIENT_TIMEOUT_SECONDS


def first_day() -> date:
    """A Monday one to two weeks ahead: every event falls inside Graph's sync window."""
    today = datetime.now(UTC).date()
    return today + timedelta(days=7 + (7 - today.weekday()) % 7)


def slot(index: int, first_hour: int = 8) -> tuple[date, int]:
    """Four meetings a day from `first_day()` on."""
    return first_day() + timedelta(days=index // 4), first_hour + 2 * (index % 4)


# --- the providers, as the scenarios drive them -----------------------------------------------------------


@dataclass
class FaultLog:
    """The listing requests a run made (monotonic times) and which of them met the fault (indexes)."""

    requests: list[float] = field(default_factory=list)
    faulted: list[int] = field(default_factory=list)

    def wait_before_retry(self) -> float:
        first = self.faulted[0]
        return self.requests[first + 1] - self.requests[first]


class Side:
    """One provider with one connected calendar: its events, its faults, and both views of the calendar."""

    name: ClassVar[str]
    # Listing requests before the first page's (CalDAV asks which members changed, then fetches each page).
    requests_before_pages: ClassVar[int] = 0
    fake: Any
    connection: CalendarConnection
    owner: User

    def sync(self, **options: Any) -> SyncResult:
        result = sync_connection(connection=CalendarConnection.objects.get(pk=self.connection.pk), **options)
        self.connection.refresh_from_db()
        return result

    # The calendar: thirty-two events over eight days and a weekly series with a moved and a cancelled occurrence.

    def seed(self) -> None:
        self.singles = [self.add(f"Meeting {n}", *slot(n)) for n in range(SINGLES)]
        self.add_all_day("Offsite", first_day() + timedelta(days=3), days=2)
        self.add_all_day("Holiday", first_day() + timedelta(days=10), days=1)
        self.add_series("Weekly planning", first_day())

    def change(self, round_: int = 0) -> None:
        """A round of changes made at the provider after the first sync, so the next sync takes several pages:
        events added, and singles no earlier round touched renamed and deleted."""
        self.added = [self.add(f"Added {round_}.{n}", *slot(n, first_hour=7)) for n in range(ADDED)]
        untouched = self.singles[round_ * (EDITED + DELETED) :]
        for n, key in enumerate(untouched[:EDITED]):
            self.edit(key, title=f"Meeting {round_}.{n} (renamed)")
        for key in untouched[EDITED : EDITED + DELETED]:
            self.delete(key)

    def add(self, title: str, day: date, hour: int, description: str = "") -> str:
        raise NotImplementedError

    def add_all_day(self, title: str, day: date, *, days: int) -> str:
        raise NotImplementedError

    def add_series(self, title: str, day: date) -> str:
        raise NotImplementedError

    def edit(self, key: str, *, title: str | None = None, description: str | None = None) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def add_many(self, count: int) -> list[str]:
        return [self.add(f"Bulk {n}", *slot(n % 60)) for n in range(count)]

    def provider_view(self) -> View:
        raise NotImplementedError

    def stored_view(self) -> View:
        raise NotImplementedError

    # Faults, armed on the fake's request hook so they strike at an exact page.

    def is_listing_request(self, method: str, path: str) -> bool:
        raise NotImplementedError

    def arm(self, fault: Fault, *, from_page: int = 2, times: int | None = None) -> FaultLog:
        """Put `fault` in the way of the listing's requests from page `from_page` on: `times` of them, or
        all of them (every retry too) until `disarm`."""
        log = FaultLog()
        first = self.requests_before_pages + from_page
        left = times

        def on_request(method: str, path: str) -> None:
            nonlocal left
            if not self.is_listing_request(method, path):
                return
            log.requests.append(time.monotonic())
            if len(log.requests) >= first and (left is None or left > 0):
                log.faulted.append(len(log.requests) - 1)
                fault(self, method, path)
                if left is not None:
                    left -= 1

        self.fake.on_request = on_request
        return log

    def disarm(self) -> None:
        self.fake.on_request = None

    def answer_status(self, status: int, retry_after: str | None) -> None:
        self.fake.faults.append((status, retry_after))

    def stall(self, method: str, path: str) -> None:
        raise NotImplementedError

    def reset(self, method: str, path: str) -> None:
        raise NotImplementedError

    def cut(self, method: str, path: str) -> None:
        raise NotImplementedError

    def malform(self, method: str, path: str) -> None:
        raise NotImplementedError(f"{self.name} speaks no JSON")

    def revoke(self) -> None:
        """The person withdraws calsync's access (or changes their password)."""
        raise NotImplementedError

    def reconnect(self) -> None:
        """The person connects the account again, through the same service the connect flow uses."""
        raise NotImplementedError

    def expire_cursor(self) -> None:
        raise NotImplementedError

    def hide_everything(self) -> None:
        raise NotImplementedError

    def show_everything(self) -> None:
        raise NotImplementedError

    def page_size(self) -> int:
        """How many events calsync's pages of this provider hold at most, without the test's smaller pages."""
        raise NotImplementedError

    def use_full_pages(self) -> None:
        raise NotImplementedError


def status_fault(status: int, retry_after: str | None = None) -> Fault:
    def fault(side: Side, method: str, path: str) -> None:
        side.answer_status(status, retry_after)

    return fault


def timeout(side: Side, method: str, path: str) -> None:
    side.stall(method, path)


def connection_reset(side: Side, method: str, path: str) -> None:
    side.reset(method, path)


def connection_closed(side: Side, method: str, path: str) -> None:
    side.cut(method, path)


def malformed_json(side: Side, method: str, path: str) -> None:
    side.malform(method, path)


def cursor_expires(side: Side, method: str, path: str) -> None:
    side.expire_cursor()


def grant_revoked(side: Side, method: str, path: str) -> None:
    side.revoke()


def timed(day: date, hour: int) -> dict[str, str]:
    return {"dateTime": datetime.combine(day, clock(hour), BERLIN).isoformat(), "timeZone": "Europe/Berlin"}


class GoogleSide(Side):
    name = "google"

    def __init__(self, owner: User, fake: GoogleState) -> None:
        self.owner, self.fake = owner, fake
        fake.page_size, fake.stall_seconds = PAGE_SIZE, STALL_SECONDS
        self.connection = google_calendar(owner, fake)
        self.calendar_id = self.connection.remote_id
        self.hidden: dict[str, Any] = {}
        self.deleted: list[str] = []

    def add(self, title: str, day: date, hour: int, description: str = "") -> str:
        event = {"summary": title, "start": timed(day, hour), "end": timed(day, hour + 1)}
        if description:
            event["description"] = description
        return str(self.fake.put_event(self.calendar_id, event)["id"])

    def add_all_day(self, title: str, day: date, *, days: int) -> str:
        span = {"start": {"date": day.isoformat()}, "end": {"date": (day + timedelta(days=days)).isoformat()}}
        return str(self.fake.put_event(self.calendar_id, {"summary": title, **span})["id"])

    def add_series(self, title: str, day: date) -> str:
        series = self.fake.put_event(
            self.calendar_id,
            {
                "summary": title,
                "start": timed(day, 9),
                "end": timed(day, 10),
                "recurrence": [f"RRULE:FREQ=WEEKLY;COUNT={SERIES_WEEKS}"],
            },
        )
        week = timedelta(weeks=1)
        self.fake.put_exception(
            self.calendar_id,
            series["id"],
            timed(day + week, 9),
            summary=f"{title} (moved)",
            start=timed(day + week + timedelta(days=1), 14),
            end=timed(day + week + timedelta(days=1), 15),
        )
        self.fake.cancel_occurrence(self.calendar_id, series["id"], timed(day + 2 * week, 9))
        return str(series["id"])

    def edit(self, key: str, *, title: str | None = None, description: str | None = None) -> None:
        changes = {name: value for name, value in (("summary", title), ("description", description)) if value}
        self.fake.patch_event(self.calendar_id, key, **changes)

    def delete(self, key: str) -> None:
        self.fake.cancel_event(self.calendar_id, key)
        self.deleted.append(key)

    def provider_view(self) -> View:
        return dict(google_view(self.fake, self.calendar_id))

    def stored_view(self) -> View:
        return dict(stored_rows(self.connection))

    def is_listing_request(self, method: str, path: str) -> bool:
        return method == "GET" and path.startswith("/calendar/v3/calendars/") and path.endswith("/events")

    def stall(self, method: str, path: str) -> None:
        self.fake.stalled_replies += 1

    def reset(self, method: str, path: str) -> None:
        self.fake.reset_replies += 1

    def cut(self, method: str, path: str) -> None:
        self.fake.cut_replies += 1

    def malform(self, method: str, path: str) -> None:
        self.fake.malformed_replies += 1

    def revoke(self) -> None:
        self.fake.revoke_all()
        self.fake.expire_access_tokens()

    def reconnect(self) -> None:
        account = ProviderAccount.objects.get(pk=self.connection.account_id)
        tokens = self.fake.issue_tokens(account.external_id, list(GOOGLE_SCOPES))
        credentials = Credentials(
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_at=now() + timedelta(seconds=tokens["expires_in"]),
            scopes=tuple(tokens["scope"].split()),
        )
        identity = AccountIdentity(external_id=account.external_id, email=account.email)
        account_connect(user=self.owner, provider=Provider.GOOGLE, grant=Grant(credentials, identity))

    def expire_cursor(self) -> None:
        # Google forgets old tombstones, and then answers a sync token from before them with 410.
        for key in self.deleted:
            self.fake.events[self.calendar_id].pop(key, None)
        self.fake.expire_sync_tokens()

    def hide_everything(self) -> None:
        self.hidden, self.fake.events[self.calendar_id] = self.fake.events[self.calendar_id], {}
        self.fake.expire_sync_tokens()

    def show_everything(self) -> None:
        self.fake.events[self.calendar_id] = self.hidden

    def page_size(self) -> int:
        return google_events.PAGE_SIZE

    def use_full_pages(self) -> None:
        self.fake.page_size = None


class GraphSide(Side):
    name = "microsoft"

    def __init__(self, owner: User, fake: MicrosoftState) -> None:
        self.owner, self.fake = owner, fake
        fake.page_size, fake.stall_seconds = PAGE_SIZE, STALL_SECONDS
        self.person = fake.add_user("olive@contoso.com", display_name="Olive Owner")
        tokens = fake.issue_tokens(self.person.oid, [*MICROSOFT_SCOPES, "openid", "profile", "offline_access"])
        account = make_account(
            owner,
            Provider.MICROSOFT,
            external_id=self.person.oid,
            email=self.person.mail,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            token_expires_at=now() + timedelta(hours=1),
        )
        self.calendar_id = fake.default_calendar_id(self.person.oid)
        self.connection = make_connection(
            account, remote_id=self.calendar_id, name="Calendar", timezone="Europe/Berlin"
        )
        self.hidden: dict[str, Any] = {}

    def add(self, title: str, day: date, hour: int, description: str = "") -> str:
        start = datetime.combine(day, clock(hour))
        return self.fake.add_event(
            self.person.oid,
            title,
            start,
            start + timedelta(hours=1),
            time_zone="W. Europe Standard Time",
            description=description,
        )

    def add_all_day(self, title: str, day: date, *, days: int) -> str:
        return self.fake.add_event(self.person.oid, title, day, day + timedelta(days=days))

    def add_series(self, title: str, day: date) -> str:
        weekly = {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [day.strftime("%A").lower()]},
            "range": {"type": "numbered", "numberOfOccurrences": SERIES_WEEKS},
        }
        start = datetime.combine(day, clock(9))
        series = self.fake.add_series(
            self.person.oid, title, start, start + timedelta(hours=1), weekly, time_zone="W. Europe Standard Time"
        )
        week = timedelta(weeks=1)
        moved = start + week + timedelta(days=1, hours=5)
        self.fake.update_occurrence(
            series, start + week, subject=f"{title} (moved)", start=moved, end=moved + timedelta(hours=1)
        )
        self.fake.delete_occurrence(series, start + 2 * week)
        return series

    def edit(self, key: str, *, title: str | None = None, description: str | None = None) -> None:
        changes = {name: value for name, value in (("subject", title), ("description", description)) if value}
        self.fake.update_event(key, **changes)

    def delete(self, key: str) -> None:
        self.fake.delete_event(key)

    def window(self) -> tuple[datetime, datetime]:
        """The calendar view the stored cursor tracks (Graph keeps deltas only within one)."""
        cursor = json.loads(self.connection.sync_cursor)
        start, end = (datetime.combine(date.fromisoformat(cursor[name]), clock(), UTC) for name in ("start", "end"))
        return start, end

    def provider_view(self) -> View:
        store, window = self.fake.calendar_events, self.window()
        view: View = {}
        with self.fake.lock:
            for instance in store.view(self.calendar_id, window).values():
                fields = {**instance.event.fields, **(instance.override.fields if instance.override else {})}
                view[instance.id] = (str(fields.get("subject", "")), graph_status(fields), f'W/"{instance.change_key}"')
            for event in store.events.values():
                if event.calendar_id != self.calendar_id or event.recurrence is None:
                    continue
                view[event.id] = (
                    str(event.fields.get("subject", "")),
                    graph_status(event.fields),
                    f'W/"{event.change_key}"',
                )
                for original in event.deleted:
                    if window[0] <= original < window[1]:
                        view[("cancelled", event.id, original.astimezone(UTC).isoformat())] = ("cancelled",)
        return view

    def stored_view(self) -> View:
        view: View = {}
        rows = CalendarEvent.objects.filter(connection=self.connection, deleted_at__isnull=True)
        for pid, title, status, etag, master, original in rows.values_list(
            "provider_event_id", "title", "status", "etag", "master_provider_event_id", "original_start"
        ):
            if status == EventStatus.CANCELLED and master:
                assert original is not None  # a constraint: every exception names the occurrence it replaces
                key: Any = ("cancelled", master, original.astimezone(UTC).isoformat())
                row: tuple[str, ...] = ("cancelled",)
            else:
                key, row = pid, (title, status, etag)
            if key in view:
                raise AssertionError(f"{key} stored twice")
            view[key] = row
        return view

    def is_listing_request(self, method: str, path: str) -> bool:
        return method == "GET" and path.startswith("/v1.0/") and path.endswith("/calendarView/delta")

    def stall(self, method: str, path: str) -> None:
        self.fake.stalled_answers.append((method, path))

    def reset(self, method: str, path: str) -> None:
        self.fake.reset_answers.append((method, path))

    def cut(self, method: str, path: str) -> None:
        self.fake.cut_answers.append((method, path))

    def malform(self, method: str, path: str) -> None:
        self.fake.malformed_answers.append((method, path))

    def revoke(self) -> None:
        self.fake.revoke_all(access_tokens=True)

    def reconnect(self) -> None:
        tokens = self.fake.issue_tokens(self.person.oid, [*MICROSOFT_SCOPES, "openid", "profile", "offline_access"])
        credentials = Credentials(
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_at=now() + timedelta(seconds=tokens["expires_in"]),
            scopes=tuple(tokens["scope"].split()),
        )
        identity = AccountIdentity(external_id=self.person.oid, email=self.person.mail)
        account_connect(user=self.owner, provider=Provider.MICROSOFT, grant=Grant(credentials, identity))

    def expire_cursor(self) -> None:
        self.fake.expire_delta_tokens()

    def hide_everything(self) -> None:
        store = self.fake.calendar_events
        self.hidden = {key: event for key, event in store.events.items() if event.calendar_id == self.calendar_id}
        for key in self.hidden:
            del store.events[key]
        self.fake.expire_delta_tokens()

    def show_everything(self) -> None:
        self.fake.calendar_events.events.update(self.hidden)

    def page_size(self) -> int:
        return microsoft_events.PAGE_SIZE

    def use_full_pages(self) -> None:
        self.fake.page_size = None


def graph_status(fields: dict[str, Any]) -> str:
    if fields.get("isCancelled"):
        return "cancelled"
    return "tentative" if str(fields.get("showAs", "")).lower() == "tentative" else "confirmed"


@dataclass
class Resource:
    """A calendar object resource as the test wrote it to Radicale, so it can be written again changed."""

    uid: str
    title: str
    start: date | datetime
    end: date | datetime
    description: str = ""
    rule: str = ""
    overrides: list[icalendar.Event] = field(default_factory=list)

    def text(self) -> str:
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//calsync tests//faults//EN")
        calendar.add("version", "2.0")
        calendar.add_component(vevent(self.uid, self.title, self.start, self.end, self.description, self.rule))
        for override in self.overrides:
            calendar.add_component(override)
        return str(calendar.to_ical().decode())


def vevent(
    uid: str, title: str, start: date | datetime, end: date | datetime, description: str = "", rule: str = ""
) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime(2025, 1, 1, tzinfo=UTC))
    event.add("summary", title)
    event.add("dtstart", start)
    event.add("dtend", end)
    if description:
        event.add("description", description)
    if rule:
        event.add("rrule", icalendar.vRecur.from_ical(rule))
    return event


def utc(day: date, hour: int) -> datetime:
    return datetime.combine(day, clock(hour), UTC)


CALENDAR_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"/></C:filter>
</C:calendar-query>"""


class CalDAVSide(Side):
    name = "caldav"
    requests_before_pages = 1  # the sync-collection REPORT, before the calendar-multiget of each page

    def __init__(
        self,
        owner: User,
        account: CalDAVAccount,
        radicale: RadicaleServer,
        proxy: caldav_proxy.ProxyState,
        page_batch: pytest.MonkeyPatch,
    ) -> None:
        self.owner, self.direct, self.radicale, self.fake = owner, account, radicale, proxy
        # Radicale needs no pages; calsync fetches a hundred resources a page: PAGE_SIZE here, as for the others.
        self.page_batch, self.batch = page_batch, caldav_reading.MULTIGET_BATCH
        page_batch.setattr(caldav_reading, "MULTIGET_BATCH", PAGE_SIZE)
        proxy.stall_seconds = STALL_SECONDS
        self.calendar_url = account.calendars["Work"]
        self.collection = urlsplit(self.calendar_url).path
        self.password = account.password
        proxied = CalDAVAccount(
            url=proxy.base_url + "/",
            username=account.username,
            password=account.password,
            calendars={"Work": proxy.url_for(self.calendar_url)},
        )
        self.connection = caldav_work_calendar(owner, proxied)
        self.resources: dict[str, Resource] = {}
        self.client = radicale.client(account.username, self.password)  # Radicale itself, kept alive
        self.writing_files = False

    def close(self) -> None:
        self.client.close()

    def seed(self) -> None:
        # Written straight into Radicale's storage (a file per resource, read on every request): the first sync
        # only needs them there, and PUTs cost a tenth of a second per scenario. The changes after it are made
        # with PUT and DELETE, so Radicale's sync tokens account for them as they would for any client.
        self.writing_files = True
        try:
            super().seed()
        finally:
            self.writing_files = False

    def _put(self, resource: Resource, key: str | None = None) -> str:
        key = key or f"{self.collection}{resource.uid}.ics"
        if self.writing_files:
            (self.storage_folder() / key.rsplit("/", 1)[1]).write_text(resource.text())
        else:
            answer = self.client.put(
                f"{self.calendar_url}{key.rsplit('/', 1)[1]}", resource.text(), {"Content-Type": "text/calendar"}
            )
            assert answer.status in (201, 204), answer.status
        self.resources[key] = resource
        return key

    def add(self, title: str, day: date, hour: int, description: str = "") -> str:
        uid = secrets.token_hex(8)
        return self._put(Resource(uid, title, utc(day, hour), utc(day, hour + 1), description))

    def add_all_day(self, title: str, day: date, *, days: int) -> str:
        return self._put(Resource(secrets.token_hex(8), title, day, day + timedelta(days=days)))

    def add_series(self, title: str, day: date) -> str:
        uid, week = secrets.token_hex(8), timedelta(weeks=1)
        moved_to = day + week + timedelta(days=1)
        moved = vevent(uid, f"{title} (moved)", utc(moved_to, 14), utc(moved_to, 15))
        moved.add("recurrence-id", utc(day + week, 9))
        cancelled = vevent(uid, title, utc(day + 2 * week, 9), utc(day + 2 * week, 10))
        cancelled.add("recurrence-id", utc(day + 2 * week, 9))
        cancelled.add("status", "CANCELLED")
        series = Resource(uid, title, utc(day, 9), utc(day, 10), rule=f"FREQ=WEEKLY;COUNT={SERIES_WEEKS}")
        series.overrides = [moved, cancelled]
        return self._put(series)

    def edit(self, key: str, *, title: str | None = None, description: str | None = None) -> None:
        resource = self.resources[key]
        resource.title = title or resource.title
        resource.description = description or resource.description
        self._put(resource, key)

    def delete(self, key: str) -> None:
        assert self.client.delete(f"{self.calendar_url}{key.rsplit('/', 1)[1]}").status in (200, 204)
        del self.resources[key]

    def add_many(self, count: int) -> list[str]:
        # Straight into the storage as well: 2,500 PUTs would take half a minute.
        self.writing_files = True
        try:
            return super().add_many(count)
        finally:
            self.writing_files = False

    def storage_folder(self) -> Path:
        return self.radicale.storage / "collection-root" / self.collection.strip("/")

    def provider_view(self) -> View:
        """What the server lists, read from Radicale itself (or nothing, while the proxy lists nothing)."""
        if self.fake.empty:
            return {}
        answer = self.client.report(self.calendar_url, CALENDAR_QUERY, depth=1)
        assert answer.tree is not None, answer.raw
        view: View = {}
        for response in answer.tree.iter("{DAV:}response"):
            href = urlsplit(response.findtext("{DAV:}href") or "").path
            etag = (response.findtext(".//{DAV:}getetag") or "").strip()
            data = response.findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
            if not data:
                continue
            for component in icalendar.Calendar.from_ical(data).walk("VEVENT"):
                status = str(component.get("STATUS", "CONFIRMED")).lower()
                recurrence_id = component.get("RECURRENCE-ID")
                key = href if recurrence_id is None else f"{href}#{recurrence_id.dt.astimezone(UTC):%Y%m%dT%H%M%SZ}"
                view[key] = (str(component.get("SUMMARY", "")), status, etag)
        return view

    def stored_view(self) -> View:
        return dict(stored_rows(self.connection))  # Google's shape: id -> row

    def is_listing_request(self, method: str, path: str) -> bool:
        return method == "REPORT"

    def stall(self, method: str, path: str) -> None:
        self.fake.stalled_replies += 1

    def reset(self, method: str, path: str) -> None:
        self.fake.reset_replies += 1

    def cut(self, method: str, path: str) -> None:
        self.fake.cut_replies += 1

    def revoke(self) -> None:
        # The CalDAV counterpart of a revoked grant: the person changes their (app-specific) password.
        self.password = secrets.token_urlsafe(16)
        self.radicale.add_user(self.direct.username, self.password)
        self.client.close()
        self.client = self.radicale.client(self.direct.username, self.password)

    def reconnect(self) -> None:
        account = ProviderAccount.objects.get(pk=self.connection.account_id)
        credentials = Credentials(server_url=account.server_url, username=account.username, password=self.password)
        identity = AccountIdentity(external_id=account.external_id, email=account.email)
        account_connect(user=self.owner, provider=Provider.CALDAV, grant=Grant(credentials, identity))

    def expire_cursor(self) -> None:
        # Radicale forgets old sync tokens (max_sync_token_age), and then refuses them: 403 valid-sync-token.
        for token in (self.storage_folder() / ".Radicale.cache" / "sync-token").glob("*"):
            token.unlink()

    def hide_everything(self) -> None:
        self.fake.empty = True

    def show_everything(self) -> None:
        self.fake.empty = False

    def page_size(self) -> int:
        return caldav_reading.MULTIGET_BATCH

    def use_full_pages(self) -> None:
        self.page_batch.setattr(caldav_reading, "MULTIGET_BATCH", self.batch)


SIDES = ["google", "microsoft", "caldav"]

# Radicale with fsync turned off, as Radicale's own tests run it (a private option only code can set):
# durability is not under test here, and 2,500 new items cost Radicale some fifteen thousand fsyncs.
UNSYNCED_RADICALE = (
    "import radicale.pathutils, radicale.__main__; radicale.pathutils.fsync = lambda fd: None; radicale.__main__.run()"
)


class UnsyncedRadicale(RadicaleServer):
    def start(self) -> None:
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", UNSYNCED_RADICALE, "--config", str(self.config)],
                cwd=ROOT,
                env=dict(os.environ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(self._answers, timeout=15, what=f"Radicale on {self.url}")
        except Exception:
            self.stop()
            raise AssertionError(f"Radicale did not start; its log ends:\n{self.log_tail()}") from None


@pytest.fixture(scope="module")
def radicale(tmp_path_factory):
    """This module's own Radicale (fakes/radicale.py's `caldav_account` makes its accounts here)."""
    server = UnsyncedRadicale(tmp_path_factory.mktemp("radicale"), tls.trust_test_ca())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def owner(db) -> User:
    """The person whose calendars these are; nobody signs in here, so no password is hashed (a quarter of a
    second per scenario)."""
    return User.objects.create_user("owner@example.com", name="Olive Owner", timezone="Europe/Berlin")


@pytest.fixture
def side(request, owner, monkeypatch):
    if request.param == "google":
        yield GoogleSide(owner, request.getfixturevalue("fake_google"))
    elif request.param == "microsoft":
        yield GraphSide(owner, request.getfixturevalue("fake_microsoft"))
    else:
        radicale = request.getfixturevalue("radicale")
        account = request.getfixturevalue("caldav_account")
        proxy = caldav_proxy.ProxyState(upstream=radicale.url, ca_bundle=str(tls.test_ca().ca_bundle))
        with serve(caldav_proxy.handler_for(proxy), tls=True) as base_url:
            proxy.base_url = base_url
            caldav_side = CalDAVSide(owner, account, radicale, proxy, monkeypatch)
            try:
                yield caldav_side
            finally:
                caldav_side.close()


# --- what every scenario checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Before:
    """The connection and our copy of the calendar just before the faulty run."""

    cursor: str
    failures: int
    stored: View
    live_rows: int

    @classmethod
    def of(cls, side: Side) -> Before:
        side.connection.refresh_from_db()
        live = CalendarEvent.objects.filter(connection=side.connection, deleted_at__isnull=True).count()
        return cls(side.connection.sync_cursor, side.connection.consecutive_failures, side.stored_view(), live)


def assert_in_step(side: Side, result: SyncResult) -> None:
    """The run succeeded, the connection says so, and the database equals the provider."""
    connection = side.connection
    assert result.outcome == SyncOutcome.OK, result.error
    assert (connection.sync_status, connection.last_error) == (SyncState.OK, "")
    assert (connection.consecutive_failures, connection.next_attempt_at) == (0, None)
    assert connection.sync_cursor and connection.sync_lease_until is None
    assert side.stored_view() == side.provider_view()


def assert_nothing_left_to_do(side: Side) -> None:
    """The cursor the recovery stored works: the next run is incremental and finds nothing."""
    result = side.sync()
    assert_in_step(side, result)
    assert (result.full, result.created, result.updated, result.deleted) == (False, 0, 0, 0)


def assert_failed_honestly(
    side: Side, result: SyncResult, before: Before, *, says: str, retry_after: float | None = None
) -> None:
    """The run failed and says what failed; the connection shows it and backs off; the cursor stays where the
    last whole listing left it; the pages applied hold whole versions of events and lost none."""
    connection = side.connection
    assert result.outcome == SyncOutcome.ERROR
    assert re.fullmatch(says, result.error), f"{result.error!r} does not match {says!r}"
    assert "\n" not in result.error and len(result.error) < 300, result.error
    assert (connection.sync_status, connection.last_error) == (SyncState.ERROR, result.error)
    assert connection.consecutive_failures == before.failures + 1
    assert connection.next_attempt_at is not None
    wait = (connection.next_attempt_at - now()).total_seconds()
    assert wait >= max(settings.SYNC_BACKOFF_BASE_SECONDS / 2, retry_after or 0) - 5, wait
    assert wait <= max(settings.SYNC_BACKOFF_BASE_SECONDS, retry_after or 0) + 5, wait  # the first failure's
    assert connection.sync_cursor == before.cursor  # the cursor moves only with the last page
    assert connection.sync_lease_until is None  # released: the next attempt need not wait for it to lapse
    assert ProviderAccount.objects.get(pk=connection.account_id).status == AccountStatus.ACTIVE
    run = SyncRun.objects.filter(connection=connection).latest("started_at")
    assert (run.outcome, run.error) == (SyncOutcome.ERROR, result.error)
    assert_whole_versions(before.stored, side.provider_view(), side.stored_view())


def assert_whole_versions(before: View, provider: View, stored: View) -> None:
    torn = {key: row for key, row in stored.items() if row not in (before.get(key), provider.get(key))}
    assert not torn, f"rows that are neither what was stored nor what the provider holds: {torn}"
    lost = [key for key, row in before.items() if provider.get(key) == row and key not in stored]
    assert not lost, f"rows the provider still holds unchanged, dropped by the failed run: {lost}"


def synced(side: Side) -> None:
    side.seed()
    assert_in_step(side, side.sync())


# --- transient faults: 500/503, Google's 403 rateLimitExceeded, timeouts, resets, malformed JSON -----------

# Each fault, where it applies, and the error the run must record (a pattern: the whole message). A network
# fault is told in words, with the client library's exception after it for staff: both are pinned here.
CUT_OFF = r"the connection broke off before the answer was complete"
NO_ANSWER = r"no answer within 0\.5 s"
TRANSIENT: list[Any] = [
    ("google", "500", r"Google events: server error 500"),
    ("microsoft", "500", r"Graph link: server error 500"),
    ("caldav", "500", r"CalDAV calendar-multiget: server error 500"),
    ("google", "503", r"Google events: server error 503"),
    ("microsoft", "503", r"Graph link: server error 503"),
    ("caldav", "503", r"CalDAV calendar-multiget: server error 503"),
    ("google", "403 rateLimitExceeded", r"Google events: rate limited \(403\)"),
    ("google", "timeout", rf"Google events: {NO_ANSWER} \(TimeoutError\)"),
    ("microsoft", "timeout", rf"Graph link: {NO_ANSWER} \(ReadTimeout\)"),
    ("caldav", "timeout", rf"CalDAV calendar-multiget: {NO_ANSWER} \(ReadTimeout\)"),
    ("google", "connection reset", rf"Google events: {CUT_OFF} \((IncompleteRead|ConnectionResetError)\)"),
    ("microsoft", "connection reset", rf"Graph link: {CUT_OFF} \((ChunkedEncodingError|ConnectionError)\)"),
    (
        "caldav",
        "connection reset",
        rf"CalDAV calendar-multiget: {CUT_OFF} \((ChunkedEncodingError|ConnectionError)\)",
    ),
    ("google", "connection closed mid-page", rf"Google events: {CUT_OFF} \(IncompleteRead\)"),
    ("microsoft", "connection closed mid-page", rf"Graph link: {CUT_OFF} \(ChunkedEncodingError\)"),
    ("caldav", "connection closed mid-page", rf"CalDAV calendar-multiget: {CUT_OFF} \(ChunkedEncodingError\)"),
    ("google", "malformed JSON", r"Google events: malformed response \(not an events list\)"),
    ("microsoft", "malformed JSON", r"Graph link: malformed JSON"),
]
FAULTS: dict[str, Fault] = {
    "500": status_fault(500),
    "503": status_fault(503),
    "403 rateLimitExceeded": status_fault(403),  # the Google fake's 403 body names rateLimitExceeded
    "timeout": timeout,
    "connection reset": connection_reset,
    "connection closed mid-page": connection_closed,
    "malformed JSON": malformed_json,
}


@pytest.mark.parametrize(("side", "fault", "says"), TRANSIENT, indirect=["side"])
def test_a_fault_mid_listing_is_retried_and_a_lasting_one_fails_the_run_honestly_until_it_clears(
    side, fault, says, settings
):
    if fault == "timeout":
        clients_give_up_quickly(settings)
    synced(side)

    # Once: the page is asked for again, and the run completes.
    side.change(0)
    log = side.arm(FAULTS[fault], times=1)
    result = side.sync()
    assert len(log.faulted) == 1 and len(log.requests) > log.faulted[0] + 1
    assert_in_step(side, result)

    # On every attempt: the run keeps the first page and fails, saying why; the next one catches up.
    side.change(1)
    before = Before.of(side)
    log = side.arm(FAULTS[fault])
    result = side.sync()
    assert result.pages == 1
    assert len(log.faulted) == RETRY_ATTEMPTS  # a transient fault: every attempt was made
    assert_failed_honestly(side, result, before, says=says)

    side.disarm()
    assert_in_step(side, side.sync())
    assert_nothing_left_to_do(side)


# --- 429 with Retry-After -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "says"),
    [
        ("google", r"Google events: rate limited \(429\)"),
        ("microsoft", r"Graph link: rate limited \(429\)"),
        ("caldav", r"CalDAV calendar-multiget: rate limited \(429\)"),
    ],
    indirect=["side"],
)
def test_a_429_is_retried_after_the_wait_it_asks_for_or_defers_the_connection_when_that_is_long(side, says):
    synced(side)

    side.change(0)
    log = side.arm(status_fault(429, "1"), times=1)
    result = side.sync()
    assert_in_step(side, result)
    assert log.wait_before_retry() >= 1.0  # the provider's Retry-After, not our shorter backoff

    side.change(1)
    before = Before.of(side)
    log = side.arm(status_fault(429, str(LONG_RETRY_AFTER)))
    result = side.sync()
    assert len(log.faulted) == 1  # not slept through in the worker, and not asked again sooner
    assert_failed_honestly(side, result, before, says=says, retry_after=LONG_RETRY_AFTER)

    side.disarm()
    assert_in_step(side, side.sync())
    assert_nothing_left_to_do(side)


# --- an expired cursor: Google 410, Graph 410 syncStateNotFound, CalDAV 403 valid-sync-token ---------------


@pytest.mark.parametrize(
    ("side", "page"),
    [("google", 2), ("microsoft", 2), ("caldav", 0)],  # CalDAV names every change in its first answer
    indirect=["side"],
)
def test_an_expired_cursor_is_answered_with_a_full_resync(side, page):
    synced(side)
    side.change()
    log = side.arm(cursor_expires, from_page=page, times=1)
    result = side.sync()
    assert log.faulted, "the cursor was not expired"
    assert_in_step(side, result)
    assert result.full and SyncRun.objects.filter(connection=side.connection).latest("started_at").full
    assert any(note.startswith("full resync:") for note in result.notes), result.notes
    assert result.held_deletions == 0
    side.disarm()
    assert_nothing_left_to_do(side)


# --- a refused refresh token (and CalDAV's changed password) ----------------------------------------------


@pytest.mark.parametrize(
    ("side", "says"),
    [
        ("google", "Reconnect needed: Google refused the refresh token (invalid_grant)"),
        ("microsoft", "Reconnect needed: Microsoft refused the refresh token (invalid_grant)"),
        ("caldav", "Reconnect needed: the CalDAV server refused the stored password"),
    ],
    indirect=["side"],
)
def test_a_withdrawn_grant_mid_listing_asks_the_person_to_reconnect_and_nothing_more(side, says):
    synced(side)
    side.change()
    before = Before.of(side)
    side.arm(grant_revoked, times=1)
    result = side.sync()
    connection = side.connection
    account = ProviderAccount.objects.get(pk=connection.account_id)
    assert (result.outcome, result.pages) == (SyncOutcome.ERROR, 1)
    assert (connection.sync_status, connection.last_error) == (SyncState.ERROR, says)
    assert connection.next_attempt_at is None  # retrying cannot help: the person must act
    assert connection.sync_cursor == before.cursor and connection.sync_lease_until is None
    assert account.status == AccountStatus.NEEDS_RECONNECT
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_NEEDS_RECONNECT).count() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [side.owner.email]
    assert_whole_versions(before.stored, side.provider_view(), side.stored_view())

    # Until the person reconnects, a sync asks the provider nothing and repeats the same message.
    side.disarm()
    asked = len(side.fake.request_log)
    again = side.sync()
    assert again.outcome == SyncOutcome.ERROR and len(side.fake.request_log) == asked
    assert side.connection.last_error.startswith("Reconnect needed")
    assert len(mail.outbox) == 1

    side.reconnect()
    assert_in_step(side, side.sync())
    assert ProviderAccount.objects.get(pk=connection.account_id).status == AccountStatus.ACTIVE
    assert_nothing_left_to_do(side)


# --- a malformed iCalendar resource -----------------------------------------------------------------------


@pytest.mark.parametrize("side", ["caldav"], indirect=True)
def test_a_malformed_icalendar_resource_is_skipped_with_its_reason_until_it_is_rewritten(side):
    synced(side)
    side.change()
    broken = side.added[7]
    side.fake.malformed[broken] = side.resources[broken].text()[:200]  # another client's write, cut short
    result = side.sync()
    assert (result.outcome, result.skipped) == (SyncOutcome.OK, 1)
    assert any(note.startswith(f"{broken}: not iCalendar data") for note in result.notes), result.notes
    provider = side.provider_view()
    assert side.stored_view() == {key: row for key, row in provider.items() if key != broken}

    # The other client writes it again, whole: a new etag, so the next sync fetches it.
    del side.fake.malformed[broken]
    side.edit(broken, title="Added 7 (fixed)")
    result = side.sync()
    assert_in_step(side, result)
    assert (result.created, result.skipped) == (1, 0)


# --- a 1 MB description -------------------------------------------------------------------------------------

END = " [end of the description]"


def text_of_length(length: int, ending: str = END) -> str:
    return ("0123456789" * (length // 10 + 1))[: length - len(ending)] + ending


@pytest.mark.parametrize("side", SIDES, indirect=True)
def test_a_1_mb_description_is_stored_up_to_the_limit_and_the_cut_is_noted(side):
    synced(side)
    huge, at_limit = text_of_length(1024 * 1024), text_of_length(MAX_TEXT_LENGTH)
    huge_key = side.add("Huge agenda", first_day(), 18, description=huge)
    full_key = side.add("Long agenda", first_day(), 20, description=at_limit)
    result = side.sync()
    assert_in_step(side, result)
    stored_huge = CalendarEvent.objects.get(connection=side.connection, provider_event_id=huge_key)
    assert len(stored_huge.description) == MAX_TEXT_LENGTH and stored_huge.description == huge[:MAX_TEXT_LENGTH]
    cut = f"the description was cut to {MAX_TEXT_LENGTH:,} characters"
    assert cut in stored_huge.provider_data["problems"]
    assert any(note.startswith(huge_key[:80]) and note.endswith(cut) for note in result.notes), result.notes
    stored_full = CalendarEvent.objects.get(connection=side.connection, provider_event_id=full_key)
    assert stored_full.description == at_limit and stored_full.description.endswith(END)  # arrived whole
    assert "problems" not in stored_full.provider_data

    side.edit(huge_key, description="The agenda is in the wiki now.")
    assert_in_step(side, side.sync())
    stored_huge.refresh_from_db()
    assert stored_huge.description == "The agenda is in the wiki now."
    assert "problems" not in stored_huge.provider_data


# --- a page of 2,500 events ---------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES, indirect=True)
def test_2500_new_events_arrive_whole_in_pages_as_large_as_the_provider_serves(side):
    side.use_full_pages()
    synced(side)
    bulk = side.add_many(BULK)
    result = side.sync()
    assert_in_step(side, result)
    assert result.created == BULK
    # Google serves all 2,500 in one page; Graph and calsync's CalDAV reads come in pages of a hundred.
    assert result.pages == math.ceil(BULK / side.page_size())
    stored = side.stored_view()
    assert all(key in stored for key in bulk)

    for key in bulk[:3]:
        side.edit(key, title="Bulk (renamed)")
    for key in bulk[3:5]:
        side.delete(key)
    result = side.sync()
    assert_in_step(side, result)
    assert (result.updated, result.deleted) == (3, 2)


# --- a provider that lists zero events for a calendar that had many ---------------------------------------


@pytest.mark.parametrize("side", SIDES, indirect=True)
def test_a_calendar_listed_as_empty_is_held_until_it_comes_back_or_the_person_confirms(side):
    synced(side)
    before = Before.of(side)
    side.hide_everything()
    held = side.sync()
    connection = side.connection
    assert (held.outcome, held.held_deletions, held.deleted) == (SyncOutcome.HELD, before.live_rows, 0)
    message = f"The provider no longer lists {before.live_rows} of this calendar's {before.live_rows} events."
    assert (connection.sync_status, connection.sweep_held_count) == (SyncState.HELD, before.live_rows)
    assert connection.last_error.startswith(message) and held.error == connection.last_error
    assert side.stored_view() == before.stored  # nothing deleted while held
    assert AuditLog.objects.filter(action=AuditAction.SYNC_SWEEP_HELD).count() == 1

    # The events come back: the next run lists them all and lets the hold go, deleting nothing.
    side.show_everything()
    result = side.sync()
    assert_in_step(side, result)
    assert (result.full, result.deleted, side.connection.sweep_held_count) == (True, 0, None)
    assert side.stored_view() == before.stored
    assert_nothing_left_to_do(side)

    # Later the calendar really is empty: held again, and emptied once the person confirms.
    side.hide_everything()
    assert side.sync().outcome == SyncOutcome.HELD
    assert connection_sweep_confirm(connection=side.connection, actor=side.owner)
    result = side.sync()
    assert_in_step(side, result)
    assert (result.deleted, side.provider_view()) == (before.live_rows, {})
