"""CalDAV inbound changes (`CalDAVAdapter.changes`) against a real Radicale server.

Radicale speaks RFC 6578 sync-collection; the ctag/etag path for servers that do not is exercised against
the same Radicale with the capability probe forced off, so its PROPFINDs and multigets are still real.
Faults (5xx, 429, resets) come from a loopback pass-through proxy in front of Radicale, which also records
what the adapter asked for.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest
from lxml import etree

from connections.models import CalendarConnection, Provider
from connections.providers.base import (
    AuthRevoked,
    ChangePage,
    Credentials,
    CursorExpired,
    KnownEvent,
    ProviderError,
    RateLimited,
    RemoteCalendar,
)
from connections.providers.caldav import CalDAVAdapter
from connections.providers.caldav import reading as caldav_reading
from connections.providers.caldav.client import resource_id
from events.models import CalendarEvent, SyncOutcome
from events.sync import sync_connection
from fakes import tls
from fakes.server import serve
from tests.factories import make_account, make_connection

pytestmark = pytest.mark.slow

EVENT = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260105T080000Z\r
DTSTART;TZID=Europe/Berlin:20260105T090000\r
DTEND;TZID=Europe/Berlin:20260105T100000\r
SUMMARY:{title}\r
END:VEVENT\r
END:VCALENDAR\r
"""

SERIES = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VEVENT\r
UID:series-1\r
DTSTAMP:20260105T080000Z\r
DTSTART;TZID=Europe/Berlin:20260106T090000\r
DTEND;TZID=Europe/Berlin:20260106T093000\r
RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=6\r
EXDATE;TZID=Europe/Berlin:20260127T090000\r
SUMMARY:Weekly review\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:series-1\r
DTSTAMP:20260105T080000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20260113T090000\r
DTSTART;TZID=Europe/Berlin:20260114T110000\r
DTEND;TZID=Europe/Berlin:20260114T113000\r
SUMMARY:Weekly review (moved)\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:series-1\r
DTSTAMP:20260105T080000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20260120T090000\r
DTSTART;TZID=Europe/Berlin:20260120T090000\r
DTEND;TZID=Europe/Berlin:20260120T093000\r
STATUS:CANCELLED\r
SUMMARY:Weekly review\r
END:VEVENT\r
END:VCALENDAR\r
"""

TODO = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VTODO\r
UID:todo-1\r
DTSTAMP:20260105T080000Z\r
SUMMARY:Buy milk\r
END:VTODO\r
END:VCALENDAR\r
"""


@pytest.fixture
def fast_retries(settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale and the proxy run on loopback
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.01
    settings.PROVIDER_RETRY_MAX_WAIT_SECONDS = 2.0
    settings.PROVIDER_RETRY_ATTEMPTS = 3


@dataclass
class Store:
    """What the sync engine would keep after each page: etags by provider id (to answer `known`)."""

    rows: dict[str, KnownEvent] = field(default_factory=dict)

    def known(self, ids):
        return {event_id: self.rows[event_id] for event_id in ids if event_id in self.rows}

    def apply(self, pages: list[ChangePage]) -> None:
        for page in pages:
            for event in page.events:
                self.rows[event.provider_event_id] = KnownEvent(event.etag, event.master_id)
            for removed in page.removed:
                self.rows.pop(removed, None)


@dataclass
class Account:
    """A Radicale account with one calendar, reached directly or through the proxy."""

    radicale_url: str
    username: str
    password: str
    calendar_url: str  # on Radicale
    base_url: str = ""  # where the adapter connects (Radicale, or the proxy in front of it)

    def client(self):
        import caldav

        return caldav.DAVClient(url=self.radicale_url, username=self.username, password=self.password)

    def put(self, name: str, text: str) -> str:
        with self.client() as client:
            response = client.put(self.calendar_url + name, text, {"Content-Type": "text/calendar; charset=utf-8"})
        assert response.status in (201, 204), response.status
        return self.href(name)

    def delete(self, name: str) -> None:
        with self.client() as client:
            assert client.delete(self.calendar_url + name).status in (200, 204)

    def href(self, name: str) -> str:
        return resource_id(urlsplit(self.calendar_url + name).path)

    @property
    def calendar(self) -> RemoteCalendar:
        path = urlsplit(self.calendar_url).path
        return RemoteCalendar(remote_id=(self.base_url or self.radicale_url).rstrip("/") + path, name="Work")

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            server_url=self.base_url or self.radicale_url, username=self.username, password=self.password
        )

    def changes(self, cursor: str = "", store: Store | None = None) -> list[ChangePage]:
        store = store if store is not None else Store()
        pages = list(CalDAVAdapter().changes(self.credentials, self.calendar, cursor, store.known))
        store.apply(pages)
        return pages


@pytest.fixture
def account(caldav_account, fast_retries) -> Account:
    return Account(
        radicale_url=caldav_account.url,
        username=caldav_account.username,
        password=caldav_account.password,
        calendar_url=caldav_account.calendars["Work"],
    )


# -- a pass-through proxy for fault injection ------------------------------------------------------------


@dataclass
class Fault:
    method: str
    status: int = 500  # 0: drop the connection without answering; -1: answer only after `delay` seconds
    headers: dict[str, str] = field(default_factory=dict)
    body_contains: bytes = b""
    delay: float = 0.0


@dataclass
class Proxy:
    upstream_port: int
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, bytes]] = field(default_factory=list)  # (method, request body)
    # Resource name -> the calendar data the proxy puts in its place in multiget answers (a corrupt server).
    corrupt: dict[str, str] = field(default_factory=dict)
    # Resource names the proxy leaves out of multiget answers (a server that drops part of a large answer).
    withheld: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, method: str, body: bytes) -> Fault | None:
        with self.lock:
            self.seen.append((method, body))
            for fault in self.faults:
                if fault.method == method and fault.body_contains in body:
                    self.faults.remove(fault)
                    return fault
        return None

    def multigets(self) -> list[bytes]:
        return [body for method, body in self.seen if method == "REPORT" and b"calendar-multiget" in body]

    def methods(self) -> list[str]:
        return [method for method, _ in self.seen]


def proxy_handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    context = ssl.create_default_context(cafile=str(tls.test_ca().ca_bundle))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            try:
                self.relay()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up first (a timeout test)
                self.close_connection = True

        def relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = proxy.take_fault(self.command, body)
            if fault is not None and fault.status == -1:
                time.sleep(fault.delay)
                fault = None
            if fault is not None and fault.status == 0:
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None:
                self.send_response(fault.status)
                for name, value in fault.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            upstream = http.client.HTTPSConnection("127.0.0.1", proxy.upstream_port, context=context, timeout=10)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "accept-encoding")
            }
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            upstream.close()
            if (proxy.corrupt or proxy.withheld) and b"calendar-multiget" in body:
                data = corrupted(data, proxy.corrupt, proxy.withheld)
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_DELETE = do_OPTIONS = do_PROPFIND = do_REPORT = forward

        def log_message(self, format, *args):  # quiet
            pass

    return Handler


def corrupted(multistatus: bytes, replacements: dict[str, str], withheld: set[str]) -> bytes:
    tree = etree.fromstring(multistatus)
    for response in list(tree.iter("{DAV:}response")):
        name = response.findtext("{DAV:}href").rsplit("/", 1)[-1]
        if name in withheld:
            tree.remove(response)
            continue
        data = response.find(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
        if name in replacements and data is not None:
            data.text = replacements[name]
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")


@pytest.fixture
def proxy(account, radicale) -> Iterator[Proxy]:
    state = Proxy(upstream_port=radicale.port)
    with serve(proxy_handler(state), tls=True) as base_url:
        account.base_url = base_url + "/"
        yield state


def ids(pages: list[ChangePage]) -> set[str]:
    return {event.provider_event_id for page in pages for event in page.events}


# -- sync-collection ------------------------------------------------------------------------------------


def test_it_lists_every_event_in_multiget_batches_on_a_full_sync(account, proxy, monkeypatch):
    monkeypatch.setattr(caldav_reading, "MULTIGET_BATCH", 2)
    hrefs = {account.put(f"event-{n}.ics", EVENT.format(uid=f"uid-{n}", title=f"Event {n}")) for n in range(5)}

    pages = account.changes()

    assert len(pages) == 3
    assert [page.last for page in pages] == [False, False, True]
    assert all(page.full_listing for page in pages)
    assert [len(page.events) for page in pages] == [2, 2, 1]
    assert pages[-1].cursor.startswith("sync:http://radicale.org/ns/sync/")
    assert not any(page.cursor for page in pages[:-1])
    assert ids(pages) == hrefs
    assert len(proxy.multigets()) == 3
    # The probe and the sync REPORT ride on the first page, then one multiget per page; no 401 round trips.
    assert [page.requests for page in pages] == [3, 1, 1]
    assert proxy.methods() == ["PROPFIND", "REPORT", "REPORT", "REPORT", "REPORT"]
    event = next(event for page in pages for event in page.events if event.ical_uid == "uid-0")
    assert (event.title, event.timezone, event.start.isoformat()) == (
        "Event 0",
        "Europe/Berlin",
        "2026-01-05T09:00:00+01:00",
    )
    assert event.etag.strip('"')


def test_it_reports_creates_updates_and_deletes_since_the_token(account, proxy):
    kept = account.put("kept.ics", EVENT.format(uid="kept", title="Kept"))
    changed = account.put("changed.ics", EVENT.format(uid="changed", title="Before"))
    gone = account.put("gone.ics", EVENT.format(uid="gone", title="Gone"))
    store = Store()
    cursor = account.changes(store=store)[-1].cursor

    created = account.put("created.ics", EVENT.format(uid="created", title="Created"))
    account.put("changed.ics", EVENT.format(uid="changed", title="After"))
    account.delete("gone.ics")
    proxy.seen.clear()
    pages = account.changes(cursor, store)

    assert len(pages) == 1
    (page,) = pages
    assert page.last and not page.full_listing
    assert {event.provider_event_id: event.title for event in page.events} == {created: "Created", changed: "After"}
    assert page.removed == [gone]
    assert page.cursor.startswith("sync:") and page.cursor != cursor
    assert len(proxy.multigets()) == 1
    assert kept.encode() not in proxy.multigets()[0]
    assert set(store.rows) == {kept, changed, created}


def test_it_costs_one_request_when_nothing_changed(account, proxy):
    account.put("one.ics", EVENT.format(uid="one", title="One"))
    store = Store()
    cursor = account.changes(store=store)[-1].cursor
    proxy.seen.clear()

    pages = account.changes(cursor, store)

    assert [(page.last, page.events, page.removed, page.unchanged, page.requests) for page in pages] == [
        (True, [], [], [], 1)
    ]
    assert pages[0].cursor == cursor
    assert proxy.methods() == ["REPORT"]


def test_it_does_not_fetch_events_whose_etag_it_already_stores(account, proxy):
    hrefs = {account.put(f"e{n}.ics", EVENT.format(uid=f"e{n}", title=f"E{n}")) for n in range(3)}
    store = Store()
    account.changes(store=store)
    proxy.seen.clear()

    pages = account.changes("", store)  # a full listing again, as after an expired token

    assert all(page.full_listing for page in pages)
    assert set(pages[-1].unchanged) == hrefs
    assert not ids(pages)
    assert proxy.multigets() == []


@pytest.mark.parametrize(
    "cursor",
    [
        "sync:http://radicale.org/ns/sync/" + "0" * 64,  # well-formed, but not a token this server issued
        "sync:garbage",
        "sync:\x01not xml",
        "delta:https://graph.example/whatever",  # another kind of cursor altogether
    ],
)
def test_it_raises_cursor_expired_for_a_token_the_server_refuses(account, cursor):
    account.put("one.ics", EVENT.format(uid="one", title="One"))

    with pytest.raises(CursorExpired):
        account.changes(cursor)


def test_it_reads_a_series_with_a_moved_and_a_cancelled_occurrence(account):
    href = account.put("series.ics", SERIES)

    (page,) = account.changes()

    events = {event.provider_event_id: event for event in page.events}
    assert set(events) == {href, f"{href}#20260113T080000Z", f"{href}#20260120T080000Z"}
    master = events[href]
    assert page.complete_series == [href]  # the resource holds the whole series
    assert master.recurrence == (
        "RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=TU",
        "EXDATE;TZID=Europe/Berlin:20260127T090000",
    )
    moved = events[f"{href}#20260113T080000Z"]
    assert (moved.master_id, moved.title, moved.status) == (href, "Weekly review (moved)", "confirmed")
    assert moved.original_start.isoformat() == "2026-01-13T09:00:00+01:00"
    assert moved.start.isoformat() == "2026-01-14T11:00:00+01:00"
    cancelled = events[f"{href}#20260120T080000Z"]
    assert (cancelled.master_id, cancelled.status) == (href, "cancelled")
    assert {event.etag for event in page.events} == {master.etag}


def invitation(*days: int) -> str:
    """Overrides alone, no master: what iCloud and Google serve when only some occurrences are shared."""
    overrides = "".join(
        "BEGIN:VEVENT\r\nUID:their-series\r\nDTSTAMP:20260105T080000Z\r\n"
        f"RECURRENCE-ID:202601{day:02d}T080000Z\r\nDTSTART:202601{day:02d}T120000Z\r\n"
        f"DTEND:202601{day:02d}T130000Z\r\nSUMMARY:Their review\r\nEND:VEVENT\r\n"
        for day in days
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n{overrides}END:VCALENDAR\r\n"


def proxied_connection(account: Account, owner) -> CalendarConnection:
    """A stored CalDAV calendar reached through the proxy, for the sync engine."""
    credentials = account.credentials
    return make_connection(
        make_account(
            owner,
            Provider.CALDAV,
            external_id=f"{credentials.server_url}{account.username}/",
            server_url=credentials.server_url,
            username=account.username,
            password=account.password,
        ),
        remote_id=account.calendar.remote_id,
        name="Work",
    )


def stored_ids(connection: CalendarConnection) -> list[str]:
    rows = CalendarEvent.objects.filter(connection=connection, deleted_at__isnull=True)
    return sorted(str(pid) for pid in rows.values_list("provider_event_id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_resource_the_server_left_out_is_asked_for_again(account, proxy, owner):
    connection = proxied_connection(account, owner)
    sync_connection(connection=connection)
    cursor = CalendarConnection.objects.get(pk=connection.pk).sync_cursor
    first = account.put("first.ics", EVENT.format(uid="first", title="First"))
    account.put("second.ics", EVENT.format(uid="second", title="Second"))
    proxy.withheld = {"second.ics"}
    result = sync_connection(connection=connection)
    # What came is kept; the cursor stays, so the missing one is not lost behind it.
    assert result.outcome == SyncOutcome.ERROR and "1 events could not be fetched" in result.error
    assert stored_ids(connection) == [first]
    assert CalendarConnection.objects.get(pk=connection.pk).sync_cursor == cursor
    proxy.withheld = set()
    assert sync_connection(connection=connection).outcome == SyncOutcome.OK
    assert stored_ids(connection) == sorted([first, account.href("second.ics")])


@pytest.mark.django_db(transaction=True)
def test_a_resource_of_overrides_alone_is_kept_whole_by_the_sync(account, proxy, owner):
    connection = proxied_connection(account, owner)

    def stored() -> list[str]:
        return stored_ids(connection)

    # Radicale refuses a resource without a master, so it holds a full series and the proxy serves what a
    # server holding an invitation to single occurrences would.
    href = account.put("invite.ics", SERIES)
    sync_connection(connection=connection)
    assert len(stored()) == 3  # master, moved, cancelled
    proxy.corrupt = {"invite.ics": invitation(13, 20)}
    account.put("invite.ics", SERIES.replace("Weekly review", "Weekly review!"))  # a new etag to fetch
    (page,) = account.changes()
    assert page.complete_series == [href]
    assert {event.master_id for event in page.events} == {href}
    sync_connection(connection=connection)
    # The master the resource no longer holds is gone with it; the overrides stay.
    assert stored() == [f"{href}#20260113T080000Z", f"{href}#20260120T080000Z"]
    proxy.corrupt = {"invite.ics": invitation(20)}  # uninvited from the 13th
    account.put("invite.ics", SERIES)
    result = sync_connection(connection=connection)
    assert (result.full, result.deleted) == (False, 1)
    assert stored() == [f"{href}#20260120T080000Z"]


def test_it_skips_a_resource_it_cannot_read_and_keeps_the_rest(account, proxy):
    fine = account.put("fine.ics", EVENT.format(uid="fine", title="Fine"))
    no_start = account.put("no-start.ics", EVENT.format(uid="no-start", title="No start"))
    garbage = account.put("garbage.ics", EVENT.format(uid="garbage", title="Garbage"))
    todo = account.put("todo.ics", TODO)
    proxy.corrupt = {
        "no-start.ics": EVENT.format(uid="no-start", title="No start").replace("DTSTART;", "X-NOT-START;"),
        "garbage.ics": "<html><body>Service Unavailable</body></html>",
    }

    (page,) = account.changes()

    assert ids([page]) == {fine}
    reasons = {item.provider_event_id: item.reason for item in page.skipped}
    assert set(reasons) == {no_start, garbage}
    assert "DTSTART" in reasons[no_start]
    assert "not iCalendar" in reasons[garbage]
    assert page.removed == [todo]  # a task is no event: the href holds none


def test_it_handles_hrefs_that_need_escaping(account):
    href = account.put("lunch%20with%20ana%40home.ics", EVENT.format(uid="lunch", title="Lunch"))

    (page,) = account.changes()

    assert href.endswith("/lunch%20with%20ana@home.ics")
    assert ids([page]) == {href}


def test_a_refused_password_is_auth_revoked_not_an_expired_cursor(account):
    account.password = "not-the-password"

    with pytest.raises(AuthRevoked):
        account.changes("sync:http://radicale.org/ns/sync/" + "0" * 64)


# -- servers without sync-collection -----------------------------------------------------------------------


@pytest.fixture
def no_sync_collection(monkeypatch):
    monkeypatch.setattr(caldav_reading, "advertises_sync_collection", lambda supported_reports: False)


def test_it_falls_back_to_ctag_and_etags_without_sync_collection(account, proxy, no_sync_collection):
    kept = account.put("kept.ics", EVENT.format(uid="kept", title="Kept"))
    changed = account.put("changed.ics", EVENT.format(uid="changed", title="Before"))
    account.put("gone.ics", EVENT.format(uid="gone", title="Gone"))
    store = Store()

    first = account.changes(store=store)
    assert all(page.full_listing for page in first)
    assert first[-1].cursor.startswith("ctag:")
    assert ids(first) == {kept, changed, account.href("gone.ics")}
    assert b"sync-collection" not in b"".join(body for _, body in proxy.seen)

    # Nothing changed: one PROPFIND, an empty last page, the same cursor.
    proxy.seen.clear()
    quiet = account.changes(first[-1].cursor, store)
    assert [(page.last, page.full_listing, page.events, page.unchanged, page.requests) for page in quiet] == [
        (True, False, [], [], 1)
    ]
    assert quiet[0].cursor == first[-1].cursor
    assert proxy.methods() == ["PROPFIND"]

    # Something changed: every etag is listed, only the changed resource is fetched, the rest is
    # `unchanged`, and the deleted one is simply not named (the listing is full: the engine sweeps it).
    account.put("changed.ics", EVENT.format(uid="changed", title="After"))
    account.delete("gone.ics")
    proxy.seen.clear()
    pages = account.changes(quiet[0].cursor, store)
    assert all(page.full_listing for page in pages)
    assert {event.provider_event_id: event.title for page in pages for event in page.events} == {changed: "After"}
    assert {href for page in pages for href in page.unchanged} == {kept}
    assert pages[-1].cursor.startswith("ctag:") and pages[-1].cursor != quiet[0].cursor
    assert proxy.methods() == ["PROPFIND", "PROPFIND", "REPORT"]
    assert len(proxy.multigets()) == 1 and kept.encode() not in proxy.multigets()[0]


def test_a_ctag_cursor_moves_to_sync_collection_when_the_server_offers_it(account):
    account.put("one.ics", EVENT.format(uid="one", title="One"))

    pages = account.changes("ctag:an-old-ctag")

    assert pages[-1].cursor.startswith("sync:")
    assert all(page.full_listing for page in pages)


def test_a_server_that_advertises_sync_collection_but_refuses_it_is_listed_by_etag(account, proxy):
    one = account.put("one.ics", EVENT.format(uid="one", title="One"))
    proxy.faults.append(Fault("REPORT", 403, body_contains=b"sync-collection"))

    pages = account.changes()

    assert ids(pages) == {one}
    assert pages[-1].cursor.startswith("ctag:")


# -- faults --------------------------------------------------------------------------------------------


def test_it_retries_a_server_error_and_a_reset_connection(account, proxy):
    one = account.put("one.ics", EVENT.format(uid="one", title="One"))
    proxy.faults += [
        Fault("PROPFIND", 500, {"Retry-After": "0"}),
        Fault("REPORT", 503, body_contains=b"sync-collection"),
        Fault("REPORT", 0, body_contains=b"calendar-multiget"),
    ]

    pages = account.changes()

    assert ids(pages) == {one}
    assert proxy.faults == []
    assert proxy.methods() == ["PROPFIND", "PROPFIND", "REPORT", "REPORT", "REPORT", "REPORT"]
    assert pages[0].requests == 5  # the failed attempts count too (the dropped one never answered)


def test_it_retries_a_request_that_timed_out(account, proxy, settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 0.5
    one = account.put("one.ics", EVENT.format(uid="one", title="One"))
    proxy.faults.append(Fault("REPORT", -1, delay=1.5, body_contains=b"sync-collection"))

    pages = account.changes()

    assert ids(pages) == {one}
    assert proxy.methods().count("REPORT") == 3  # the slow sync report, its retry, the multiget


def test_a_retry_after_longer_than_the_cap_is_left_to_the_scheduler(account, proxy):
    proxy.faults.append(Fault("PROPFIND", 503, {"Retry-After": "120"}))

    with pytest.raises(ProviderError) as raised:
        account.changes()

    assert not raised.value.permanent
    assert raised.value.retry_after == 120


def test_persistent_rate_limiting_gives_up_after_the_retries(account, proxy, settings):
    proxy.faults += [Fault("PROPFIND", 429, {"Retry-After": "0"}) for _ in range(settings.PROVIDER_RETRY_ATTEMPTS)]

    with pytest.raises(RateLimited):
        account.changes()

    assert proxy.methods() == ["PROPFIND"] * settings.PROVIDER_RETRY_ATTEMPTS
