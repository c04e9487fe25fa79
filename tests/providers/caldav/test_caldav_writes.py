"""CalDAV writes (`CalDAVAdapter.create_event` and the rest) against a real Radicale server.

Every write is followed by the echo check: the adapter's own inbound `changes()`, from the cursor taken just
before the write, must report the written resource with exactly the ids, etags and events the write
returned, both when it skips fetching known etags and when it fetches everything. A loopback relay in front
of Radicale stands in for a server that answers a PUT without an ETag, and for answers lost on the way back.
"""

from __future__ import annotations

import http.client
import secrets
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import caldav
import icalendar
import pytest

from connections.providers.base import (
    AuthRevoked,
    ChangePage,
    Conflict,
    Credentials,
    EventDraft,
    EventGone,
    EventRef,
    KnownEvent,
    RemoteCalendar,
    WriteRefused,
    WriteResult,
)
from connections.providers.caldav import CalDAVAdapter
from connections.providers.caldav.client import resource_id
from fakes import tls
from fakes.server import serve

if TYPE_CHECKING:  # a runtime import would keep pytest from rewriting asserts in the plugin
    from fakes.radicale import RadicaleServer

pytestmark = pytest.mark.slow

BERLIN = ZoneInfo("Europe/Berlin")
ADAPTER = CalDAVAdapter()

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
RECURRENCE-ID;TZID=Europe/Berlin:20260127T090000\r
DTSTART;TZID=Europe/Berlin:20260127T100000\r
DTEND;TZID=Europe/Berlin:20260127T103000\r
SUMMARY:Weekly review (late)\r
END:VEVENT\r
END:VCALENDAR\r
"""

# What a person's calendar app leaves in a resource that calsync does not own: a custom zone, people,
# an alarm, private properties and parameters. None of it may be lost by an update.
RICH = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Other App//EN\r
BEGIN:VTIMEZONE\r
TZID:Office Time\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:rich-1\r
DTSTAMP:20260105T080000Z\r
SEQUENCE:4\r
DTSTART;TZID=Office Time:20260108T140000\r
DURATION:PT45M\r
SUMMARY;LANGUAGE=en:Planning\r
ORGANIZER;CN=Ana:mailto:{me}\r
ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{me}\r
ATTENDEE;CN=Bo;PARTSTAT=TENTATIVE;ROLE=OPT-PARTICIPANT:mailto:bo@example.com\r
CATEGORIES:work,planning\r
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR;X-KEEP=1:AUTOMATIC\r
X-CUSTOM-NOTE:keep me\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER:-PT15M\r
DESCRIPTION:Planning soon\r
X-WR-ALARMUID:alarm-1\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""

INVITATION = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Other App//EN\r
BEGIN:VEVENT\r
UID:invite-1\r
DTSTAMP:20260105T080000Z\r
SEQUENCE:2\r
DTSTART:20260112T150000Z\r
DTEND:20260112T160000Z\r
RRULE:FREQ=DAILY;COUNT=5\r
SUMMARY:Their sync\r
ORGANIZER;CN=Cy:mailto:cy@example.com\r
ATTENDEE;CN=Cy;PARTSTAT=ACCEPTED:mailto:cy@example.com\r
ATTENDEE;CN=Me;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{me}\r
ATTENDEE;CN=Bo;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bo@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture
def loopback(settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale and the relay run on loopback
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.01
    settings.PROVIDER_RETRY_MAX_WAIT_SECONDS = 1.0
    settings.PROVIDER_RETRY_ATTEMPTS = 3


@dataclass
class Cal:
    """One Radicale calendar: as the adapter reaches it (directly or through the relay), and raw."""

    radicale_url: str
    username: str
    password: str
    url: str  # the calendar collection at Radicale
    base_url: str = ""  # where the adapter connects, when not Radicale itself
    timezone: str = "Europe/Berlin"

    @property
    def calendar(self) -> RemoteCalendar:
        base = (self.base_url or self.radicale_url).rstrip("/")
        return RemoteCalendar(remote_id=base + urlsplit(self.url).path, name="Work", timezone=self.timezone)

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            server_url=self.base_url or self.radicale_url, username=self.username, password=self.password
        )

    def href(self, name: str) -> str:
        return resource_id(urlsplit(self.url + name).path)

    def client(self) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.radicale_url, username=self.username, password=self.password)

    def put(self, name: str, text: str) -> str:
        with self.client() as client:
            response = client.put(self.url + name, text, {"Content-Type": "text/calendar; charset=utf-8"})
        assert response.status in (201, 204), response.status
        return self.href(name)

    def raw(self, href: str) -> tuple[str, str] | None:
        """(the resource's text, unfolded, and its ETag) as the server holds it, or None."""
        with self.client() as client:
            try:
                response = client.request(self.radicale_url.rstrip("/") + href)
            except caldav.lib.error.NotFoundError:
                return None
        if response.status == 404:
            return None
        assert response.status == 200, response.status
        return response.raw.replace("\r\n", "\n").replace("\n ", ""), response.headers["ETag"]

    def vevents(self, href: str) -> list[icalendar.Component]:
        found = self.raw(href)
        assert found is not None, f"{href} is gone"
        return list(icalendar.Calendar.from_ical(found[0].encode()).walk("VEVENT"))

    def names(self) -> set[str]:
        """The names of the resources in the collection (a PROPFIND, Depth 1)."""
        body = '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>'
        with self.client() as client:
            response = client.propfind(self.url, body, depth=1)
        assert response.tree is not None
        hrefs = [href.text or "" for href in response.tree.iter("{DAV:}href")]
        return {href.rsplit("/", 1)[-1] for href in hrefs if not href.endswith("/")}

    def changes(self, cursor: str = "", known: Callable | None = None) -> list[ChangePage]:
        return list(ADAPTER.changes(self.credentials, self.calendar, cursor, known or (lambda ids: {})))

    def cursor(self) -> str:
        return self.changes()[-1].cursor


def new_user(radicale: RadicaleServer, name: str, *, email: bool = True) -> tuple[str, str]:
    """A Radicale user, by default one whose name is their email address (as at iCloud), and a password."""
    username = f"{name}-{secrets.token_hex(3)}" + ("@example.com" if email else "")
    password = secrets.token_urlsafe(12)
    radicale.add_user(username, password)
    return username, password


@pytest.fixture
def cal(radicale, loopback) -> Cal:
    username, password = new_user(radicale, "ana")
    url = radicale.make_calendar(username, password, "Work")
    return Cal(radicale_url=radicale.url, username=username, password=password, url=url)


def key() -> str:
    return secrets.token_hex(16)


def draft(title: str = "Lunch", start: datetime | date | None = None, **fields) -> EventDraft:
    start = start or datetime(2026, 1, 5, 12, tzinfo=BERLIN)
    end = fields.pop(
        "end", start + timedelta(days=1) if not isinstance(start, datetime) else start + timedelta(hours=1)
    )
    return EventDraft(title=title, start=start, end=end, timezone=fields.pop("timezone", "Europe/Berlin"), **fields)


def create(cal: Cal, event: EventDraft, name: str | None = None) -> WriteResult:
    return ADAPTER.create_event(cal.credentials, cal.calendar, event, key=name or key(), notify=False)


def update(cal: Cal, ref: EventRef, event: EventDraft, etag: str) -> WriteResult:
    return ADAPTER.update_event(cal.credentials, cal.calendar, ref, event, etag=etag, notify=False)


def delete(cal: Cal, ref: EventRef, etag: str) -> WriteResult | None:
    return ADAPTER.delete_event(cal.credentials, cal.calendar, ref, etag=etag, notify=False)


def respond(cal: Cal, ref: EventRef, answer: str, etag: str) -> WriteResult:
    return ADAPTER.respond(cal.credentials, cal.calendar, ref, answer, etag=etag, notify=False)


def fetch(cal: Cal, provider_event_id: str):
    return ADAPTER.fetch_event(cal.credentials, cal.calendar, provider_event_id)


def assert_echo(cal: Cal, cursor: str, result: WriteResult) -> None:
    """The next inbound sync finds exactly what the write returned: no duplicate, no flicker."""
    resource = result.events[0].master_id or result.events[0].provider_event_id
    assert {event.master_id or event.provider_event_id for event in result.events} == {resource}
    assert {event.etag for event in result.events} == {result.etag}
    assert result.provider_event_id in {event.provider_event_id for event in result.events}
    stored = {event.provider_event_id: KnownEvent(event.etag, event.master_id) for event in result.events}

    # As the sync runs it: the etag it stores is the server's, so the resource is not fetched again.
    (page,) = cal.changes(cursor, lambda ids: {i: stored[i] for i in ids if i in stored})
    assert (page.unchanged, page.events, page.removed, page.skipped) == ([resource], [], [], [])

    # Knowing nothing, it fetches the resource and maps it to the very same events.
    (page,) = cal.changes(cursor)
    assert (page.removed, page.skipped, page.complete_series) == ([], [], [resource])
    assert tuple(page.events) == result.events


# -- create ----------------------------------------------------------------------------------------------


def test_it_leaves_telling_attendees_to_the_server():
    assert CalDAVAdapter.can_choose_notify is False


def test_it_creates_a_zoned_event_with_its_vtimezone(cal):
    cursor = cal.cursor()
    name = key()

    result = create(cal, draft("Lunch with Bo", location="Canteen", description="Bring the plans"), name)

    href = cal.href(f"{name}.ics")
    assert result.provider_event_id == href
    (event,) = result.events
    assert (event.title, event.location, event.description, event.timezone) == (
        "Lunch with Bo",
        "Canteen",
        "Bring the plans",
        "Europe/Berlin",
    )
    assert event.ical_uid == f"{name}@calsync"
    assert event.start == datetime(2026, 1, 5, 11, tzinfo=UTC) and event.end == datetime(2026, 1, 5, 12, tzinfo=UTC)
    text, etag = cal.raw(href)
    assert etag == result.etag
    assert "DTSTART;TZID=Europe/Berlin:20260105T120000" in text
    assert "BEGIN:VTIMEZONE\nTZID:Europe/Berlin" in text
    assert_echo(cal, cursor, result)


def test_it_writes_an_all_day_event_as_dates(cal):
    cursor = cal.cursor()

    result = create(cal, draft("Trip", date(2026, 3, 4), end=date(2026, 3, 7), timezone=""))

    (event,) = result.events
    assert (event.start, event.end, event.timezone) == (date(2026, 3, 4), date(2026, 3, 7), "")
    text, _ = cal.raw(result.provider_event_id)
    assert "DTSTART;VALUE=DATE:20260304" in text and "DTEND;VALUE=DATE:20260307" in text
    assert "VTIMEZONE" not in text
    assert_echo(cal, cursor, result)


def test_it_writes_a_time_without_a_zone_in_utc_and_keeps_a_given_uid(cal):
    start = datetime(2026, 2, 2, 8, 30, tzinfo=UTC)

    result = create(cal, draft("Call", start, timezone="", ical_uid="their-uid@example.com"))

    (event,) = result.events
    assert (event.ical_uid, event.timezone, event.start) == ("their-uid@example.com", "UTC", start)
    text, _ = cal.raw(result.provider_event_id)
    assert "DTSTART:20260202T083000Z" in text


def test_it_creates_a_series(cal):
    cursor = cal.cursor()
    rule = ("RRULE:FREQ=WEEKLY;COUNT=4;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20260112T120000")

    result = create(cal, draft("Weekly", recurrence=rule))

    (master,) = result.events
    assert master.recurrence == rule
    assert_echo(cal, cursor, result)


def test_it_returns_the_first_attempts_event_when_a_create_is_retried(cal):
    name = key()
    first = create(cal, draft("Lunch"), name)

    # The same key again, as after a lost answer (even if the draft was edited meanwhile).
    again = create(cal, draft("Lunch, later"), name)

    assert (again.provider_event_id, again.etag, again.events) == (first.provider_event_id, first.etag, first.events)
    assert cal.names() == {f"{name}.ics"}
    assert [vevent["SUMMARY"] for vevent in cal.vevents(first.provider_event_id)] == ["Lunch"]


def test_it_raises_conflict_when_the_name_holds_another_event(cal):
    name = key()
    cal.put(f"{name}.ics", SERIES)

    with pytest.raises(Conflict):
        create(cal, draft("Lunch"), name)

    assert [vevent["UID"] for vevent in cal.vevents(cal.href(f"{name}.ics"))] == ["series-1"] * 3


# -- update ----------------------------------------------------------------------------------------------


def test_it_updates_an_event_with_the_etag_it_was_read_with(cal):
    created = create(cal, draft("Lunch", location="Canteen"))
    cursor = cal.cursor()
    moved = datetime(2026, 1, 6, 13, tzinfo=BERLIN)

    result = update(cal, EventRef(created.provider_event_id), draft("Lunch with Bo", moved, location=""), created.etag)

    assert result.provider_event_id == created.provider_event_id
    assert result.etag != created.etag
    (event,) = result.events
    assert (event.title, event.location, event.start) == ("Lunch with Bo", "", moved)
    (vevent,) = cal.vevents(created.provider_event_id)
    assert int(vevent["SEQUENCE"]) == 1
    assert "LOCATION" not in vevent
    assert vevent["LAST-MODIFIED"].dt > datetime(2026, 1, 1, tzinfo=UTC)
    assert_echo(cal, cursor, result)


def test_it_raises_conflict_for_a_stale_etag_and_changes_nothing(cal):
    created = create(cal, draft("Lunch"))
    theirs = update(cal, EventRef(created.provider_event_id), draft("Lunch (their edit)"), created.etag)
    before = cal.raw(created.provider_event_id)

    with pytest.raises(Conflict):
        update(cal, EventRef(created.provider_event_id), draft("Lunch (my edit)"), created.etag)
    with pytest.raises(Conflict):
        delete(cal, EventRef(created.provider_event_id), created.etag)
    with pytest.raises(Conflict):
        delete(cal, EventRef(master_id=created.provider_event_id, original_start=date(2026, 1, 5)), created.etag)

    assert cal.raw(created.provider_event_id) == before
    assert before[1] == theirs.etag


def test_it_applies_an_update_without_an_etag_to_the_current_copy(cal):
    created = create(cal, draft("Lunch"))
    update(cal, EventRef(created.provider_event_id), draft("Lunch", location="Canteen"), created.etag)

    result = update(cal, EventRef(created.provider_event_id), draft("Lunch", location="Garden"), "")

    assert result.events[0].location == "Garden"


def test_it_deletes_an_event_and_deleting_it_again_is_fine(cal):
    created = create(cal, draft("Lunch"))
    other = create(cal, draft("Dinner"))
    cursor = cal.cursor()

    assert delete(cal, EventRef(created.provider_event_id), created.etag) is None

    assert cal.raw(created.provider_event_id) is None
    assert cal.names() == {other.provider_event_id.rsplit("/", 1)[-1]}
    (page,) = cal.changes(cursor)
    assert (page.removed, page.events, page.unchanged) == ([created.provider_event_id], [], [])
    assert delete(cal, EventRef(created.provider_event_id), created.etag) is None
    assert delete(cal, EventRef(created.provider_event_id), "") is None


def test_it_raises_event_gone_for_an_event_deleted_at_the_server(cal):
    created = create(cal, draft("Lunch"))
    with cal.client() as client:
        client.delete(cal.radicale_url.rstrip("/") + created.provider_event_id)
    ref = EventRef(created.provider_event_id)

    with pytest.raises(EventGone):
        update(cal, ref, draft("Lunch"), created.etag)
    with pytest.raises(EventGone):
        respond(cal, ref, "accepted", created.etag)
    assert fetch(cal, created.provider_event_id) == []
    assert delete(cal, ref, created.etag) is None
    assert cal.names() == set()


def test_it_keeps_everything_calsync_does_not_own_through_an_update(cal):
    href = cal.put("rich.ics", RICH.format(me=cal.username))
    (before,) = fetch(cal, href)
    cursor = cal.cursor()

    result = update(
        cal,
        EventRef(href),
        EventDraft(title="Planning Q3", start=before.start, end=before.end, timezone=before.timezone),
        before.etag,
    )

    (event,) = result.events
    assert event.title == "Planning Q3"
    assert (event.start, event.end, event.metadata) == (before.start, before.end, before.metadata)
    (vevent,) = cal.vevents(href)
    # The times were not touched, so they keep their custom zone and their DURATION.
    assert vevent["DTSTART"].params["TZID"] == "Office Time" and "DURATION" in vevent and "DTEND" not in vevent
    assert [str(a) for a in vevent["ATTENDEE"]] == [f"mailto:{cal.username}", "mailto:bo@example.com"]
    assert [a.params["PARTSTAT"] for a in vevent["ATTENDEE"]] == ["ACCEPTED", "TENTATIVE"]
    assert vevent["ATTENDEE"][1].params["ROLE"] == "OPT-PARTICIPANT"
    assert str(vevent["ORGANIZER"]) == f"mailto:{cal.username}"
    assert vevent["CATEGORIES"].cats == ["work", "planning"]
    assert vevent["X-APPLE-TRAVEL-ADVISORY-BEHAVIOR"].params["X-KEEP"] == "1"
    assert str(vevent["X-CUSTOM-NOTE"]) == "keep me"
    (alarm,) = vevent.subcomponents
    assert (alarm.name, str(alarm["DESCRIPTION"]), str(alarm["X-WR-ALARMUID"])) == (
        "VALARM",
        "Planning soon",
        "alarm-1",
    )
    assert alarm["TRIGGER"].dt == timedelta(minutes=-15)
    assert int(vevent["SEQUENCE"]) == 5
    text, _ = cal.raw(href)
    assert "TZID:Office Time" in text
    assert_echo(cal, cursor, result)


def test_it_writes_the_new_zone_of_a_moved_event(cal):
    href = cal.put("rich.ics", RICH.format(me=cal.username))
    (before,) = fetch(cal, href)
    start = datetime(2026, 1, 8, 9, tzinfo=ZoneInfo("America/New_York"))

    result = update(
        cal,
        EventRef(href),
        EventDraft(title="Planning", start=start, end=start + timedelta(hours=1), timezone="America/New_York"),
        before.etag,
    )

    (event,) = result.events
    assert (event.start, event.timezone) == (start, "America/New_York")
    (vevent,) = cal.vevents(href)
    assert vevent["DTSTART"].params["TZID"] == "America/New_York" and "DURATION" not in vevent
    text, _ = cal.raw(href)
    assert "TZID:America/New_York" in text and "TZID:Office Time" in text


# -- occurrences and series ------------------------------------------------------------------------------


def series(cal: Cal) -> tuple[str, str]:
    href = cal.put(f"{key()}.ics", SERIES)
    (master, *_) = fetch(cal, href)
    return href, master.etag


def test_it_turns_an_occurrence_into_an_override(cal):
    href, etag = series(cal)
    cursor = cal.cursor()
    occurrence = datetime(2026, 1, 20, 8, tzinfo=UTC)  # Tuesday 20th, 9:00 in Berlin
    moved = datetime(2026, 1, 21, 15, tzinfo=BERLIN)

    result = update(
        cal,
        EventRef(master_id=href, original_start=occurrence),
        draft("Review (Wednesday)", moved, end=moved + timedelta(minutes=30)),
        etag,
    )

    assert result.provider_event_id == f"{href}#20260120T080000Z"
    changed = next(event for event in result.events if event.provider_event_id == result.provider_event_id)
    assert (changed.title, changed.start, changed.master_id, changed.original_start) == (
        "Review (Wednesday)",
        moved,
        href,
        occurrence,
    )
    assert len(result.events) == 4  # the master, the two overrides it had, and the new one
    overrides = {str(v["RECURRENCE-ID"].to_ical().decode()) for v in cal.vevents(href) if "RECURRENCE-ID" in v}
    assert overrides == {"20260113T090000", "20260120T090000", "20260127T090000"}
    assert_echo(cal, cursor, result)

    # Changing it again changes that override; no second one appears.
    again = update(
        cal, EventRef(result.provider_event_id, href, occurrence), draft("Review (Thursday)", moved), result.etag
    )
    assert again.provider_event_id == result.provider_event_id
    assert len(cal.vevents(href)) == 4
    assert [e.title for e in again.events if e.provider_event_id == again.provider_event_id] == ["Review (Thursday)"]


def test_it_updates_an_existing_override_by_its_id_alone(cal):
    href, etag = series(cal)

    result = update(cal, EventRef(f"{href}#20260113T080000Z"), draft("Moved again"), etag)

    assert result.provider_event_id == f"{href}#20260113T080000Z"
    titles = sorted(str(vevent["SUMMARY"]) for vevent in cal.vevents(href))
    assert titles == ["Moved again", "Weekly review", "Weekly review (late)"]


def test_it_cancels_an_occurrence_with_an_exdate_on_the_master(cal):
    href, etag = series(cal)
    cursor = cal.cursor()

    # The 13th is an override: it goes, and the master excludes its date.
    result = delete(cal, EventRef(f"{href}#20260113T080000Z", href, datetime(2026, 1, 13, 8, tzinfo=UTC)), etag)

    assert result is not None and result.provider_event_id == href
    master = result.events[0]
    assert master.recurrence == ("RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=TU", "EXDATE;TZID=Europe/Berlin:20260113T090000")
    assert {event.provider_event_id for event in result.events} == {href, f"{href}#20260127T080000Z"}
    assert_echo(cal, cursor, result)

    # A plain occurrence: one more EXDATE; cancelling it twice changes nothing more.
    cursor = cal.cursor()
    plain = EventRef(master_id=href, original_start=datetime(2026, 1, 20, 8, tzinfo=UTC))
    second = delete(cal, plain, result.etag)
    assert second is not None
    assert second.events[0].recurrence[1] == "EXDATE;TZID=Europe/Berlin:20260113T090000,20260120T090000"
    assert_echo(cal, cursor, second)
    third = delete(cal, plain, second.etag)
    assert third is not None and third.etag == second.etag


def test_it_cuts_a_series_short_with_until_and_drops_later_overrides(cal):
    href, etag = series(cal)
    cursor = cal.cursor()
    first = datetime(2026, 1, 6, 9, tzinfo=BERLIN)
    rule = ("RRULE:FREQ=WEEKLY;UNTIL=20260119T225959Z;BYDAY=TU",)

    result = update(
        cal, EventRef(href), draft("Weekly review", first, end=first + timedelta(minutes=30), recurrence=rule), etag
    )

    assert result.events[0].recurrence == rule
    # The override of the 13th is within the series; the one of the 27th is past its new end.
    assert {event.provider_event_id for event in result.events} == {href, f"{href}#20260113T080000Z"}
    (master,) = [vevent for vevent in cal.vevents(href) if "RECURRENCE-ID" not in vevent]
    assert master["RRULE"]["UNTIL"] == [datetime(2026, 1, 19, 22, 59, 59, tzinfo=UTC)]
    assert master["DTSTART"].params["TZID"] == "Europe/Berlin"  # the times were the same: untouched
    assert_echo(cal, cursor, result)


def test_it_names_an_occurrence_of_an_all_day_series_by_its_date(cal):
    created = create(
        cal, draft("Gym", date(2026, 1, 5), end=date(2026, 1, 6), timezone="", recurrence=("RRULE:FREQ=DAILY;COUNT=3",))
    )
    cursor = cal.cursor()
    href = created.provider_event_id

    moved = update(
        cal,
        EventRef(master_id=href, original_start=date(2026, 1, 6)),
        draft("Gym (short)", date(2026, 1, 6), end=date(2026, 1, 7), timezone=""),
        created.etag,
    )
    cancelled = delete(cal, EventRef(master_id=href, original_start=date(2026, 1, 7)), moved.etag)

    assert moved.provider_event_id == f"{href}#20260106"
    assert cancelled is not None
    assert cancelled.events[0].recurrence == ("RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20260107")
    text, _ = cal.raw(href)
    assert "RECURRENCE-ID;VALUE=DATE:20260106" in text
    assert_echo(cal, cursor, cancelled)


def test_it_raises_conflict_for_an_occurrence_of_an_event_that_no_longer_repeats(cal):
    created = create(cal, draft("Once"))

    with pytest.raises(Conflict):
        update(
            cal,
            EventRef(master_id=created.provider_event_id, original_start=datetime(2026, 1, 12, 11, tzinfo=UTC)),
            draft("Once"),
            "",
        )


# -- respond ---------------------------------------------------------------------------------------------


def test_it_answers_an_invitation_for_the_person_alone(cal):
    href = cal.put("invite.ics", INVITATION.format(me=cal.username))
    (before,) = fetch(cal, href)
    cursor = cal.cursor()

    result = respond(cal, EventRef(href), "accepted", before.etag)

    (vevent,) = cal.vevents(href)
    assert [(str(a), a.params["PARTSTAT"]) for a in vevent["ATTENDEE"]] == [
        ("mailto:cy@example.com", "ACCEPTED"),
        (f"mailto:{cal.username}", "ACCEPTED"),
        ("mailto:bo@example.com", "NEEDS-ACTION"),
    ]
    assert int(vevent["SEQUENCE"]) == 2  # an attendee's answer is no revision of the event
    assert [a["response"] for a in result.events[0].metadata["attendees"]] == ["accepted", "accepted", "needs_action"]
    assert_echo(cal, cursor, result)

    # One occurrence given the series' answer: nothing to write, no override.
    same = respond(cal, EventRef(master_id=href, original_start=datetime(2026, 1, 13, 15, tzinfo=UTC)), "accepted", "")
    assert (same.provider_event_id, same.etag) == (href, result.etag)
    assert len(cal.vevents(href)) == 1

    # One occurrence declined: an override carries that answer; the series keeps its own.
    cursor = cal.cursor()
    declined = respond(
        cal, EventRef(master_id=href, original_start=datetime(2026, 1, 14, 15, tzinfo=UTC)), "declined", result.etag
    )
    assert declined.provider_event_id == f"{href}#20260114T150000Z"
    master, override = cal.vevents(href)
    assert [a.params["PARTSTAT"] for a in master["ATTENDEE"]] == ["ACCEPTED", "ACCEPTED", "NEEDS-ACTION"]
    assert [a.params["PARTSTAT"] for a in override["ATTENDEE"]] == ["ACCEPTED", "DECLINED", "NEEDS-ACTION"]
    assert override["DTSTART"].dt == datetime(2026, 1, 14, 15, tzinfo=UTC)
    assert override["DTEND"].dt == datetime(2026, 1, 14, 16, tzinfo=UTC)
    assert_echo(cal, cursor, declined)

    # Answering for the series again leaves the occurrence answered on its own alone.
    tentative = respond(cal, EventRef(href), "tentative", declined.etag)
    master, override = cal.vevents(href)
    assert master["ATTENDEE"][1].params["PARTSTAT"] == "TENTATIVE"
    assert override["ATTENDEE"][1].params["PARTSTAT"] == "DECLINED"
    assert tentative.provider_event_id == href


def test_it_refuses_to_answer_an_event_the_person_is_not_invited_to(cal):
    created = create(cal, draft("Mine"))

    with pytest.raises(WriteRefused, match="guest list"):
        respond(cal, EventRef(created.provider_event_id), "declined", created.etag)


def test_it_refuses_to_answer_without_an_email_user_name(cal):
    href = cal.put("invite.ics", INVITATION.format(me="someone@example.com"))

    anonymous = Credentials(server_url=cal.radicale_url, username="no-address", password="x")
    with pytest.raises(WriteRefused, match="user name is not an email"):
        ADAPTER.respond(anonymous, cal.calendar, EventRef(href), "accepted", etag="", notify=False)


# -- fetch -----------------------------------------------------------------------------------------------


def test_it_fetches_the_master_with_its_overrides_by_any_of_their_ids(cal):
    href, etag = series(cal)

    by_master = fetch(cal, href)
    by_override = fetch(cal, f"{href}#20260113T080000Z")

    assert by_master == by_override
    assert [event.provider_event_id for event in by_master] == [
        href,
        f"{href}#20260113T080000Z",
        f"{href}#20260127T080000Z",
    ]
    assert {event.etag for event in by_master} == {etag}


# -- refusals --------------------------------------------------------------------------------------------


def test_it_refuses_writes_to_a_read_only_shared_calendar_with_a_readable_message(radicale, loopback):
    owner, owner_password = new_user(radicale, "owner", email=False)
    url = radicale.make_calendar(owner, owner_password, "Team")
    team = Cal(radicale_url=radicale.url, username=owner, password=owner_password, url=url)
    href = team.put("standup.ics", SERIES)
    reader, reader_password = new_user(radicale, "reader", email=False)
    radicale.share_read_only(owner, url, reader)
    shared = Cal(radicale_url=radicale.url, username=reader, password=reader_password, url=url)
    before = team.raw(href)
    (master, *_) = fetch(shared, href)  # reading is allowed

    attempts = {
        "create": lambda: create(shared, draft("Mine")),
        "update": lambda: update(shared, EventRef(href), draft("Mine"), master.etag),
        "delete": lambda: delete(shared, EventRef(href), master.etag),
        "cancel": lambda: delete(
            shared, EventRef(master_id=href, original_start=datetime(2026, 1, 20, 8, tzinfo=UTC)), master.etag
        ),
    }
    for name, attempt in attempts.items():
        with pytest.raises(WriteRefused) as refused:
            attempt()
        assert "read-only" in str(refused.value), name
        assert refused.value.permanent

    assert team.raw(href) == before
    assert team.names() == {"standup.ics"}


def test_it_refuses_a_second_copy_of_an_event_the_calendar_holds(cal):
    series(cal)

    # RFC 4791 5.3.2.1 CALDAV:no-uid-conflict: one UID, one resource per calendar.
    with pytest.raises(WriteRefused, match="already holds another copy"):
        create(cal, draft("Copy", ical_uid="series-1"))

    assert len(cal.names()) == 1


def test_it_raises_auth_revoked_for_a_refused_password(cal):
    cal.password = "not-the-password"

    with pytest.raises(AuthRevoked):
        create(cal, draft("Lunch"))


def test_it_refuses_a_repeat_rule_with_other_content_lines_before_sending(cal):
    with pytest.raises(WriteRefused):
        create(cal, draft("Sneaky", recurrence=("RRULE:FREQ=DAILY\r\nATTENDEE:mailto:x@example.com",)))
    with pytest.raises(WriteRefused):
        create(cal, draft("Sneaky", recurrence=("SUMMARY:not a rule",)))

    assert cal.names() == set()


# -- a relay that loses answers and drops ETags ------------------------------------------------------------


@dataclass
class Relay:
    upstream_port: int
    strip_etags: bool = False
    # Methods whose next request is forwarded to Radicale but whose answer never reaches the client.
    lose_answer: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def relay_handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    context = ssl.create_default_context(cafile=str(tls.test_ca().ca_bundle))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            upstream = http.client.HTTPSConnection("127.0.0.1", relay.upstream_port, context=context, timeout=10)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            upstream.close()
            with relay.lock:
                relay.seen.append(f"{self.command} {answer.status}")
                lose = self.command in relay.lose_answer
                if lose:
                    relay.lose_answer.remove(self.command)
            if lose:
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() in ("transfer-encoding", "connection", "content-length"):
                    continue
                if name.lower() == "etag" and relay.strip_etags and self.command == "PUT":
                    continue
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_DELETE = do_OPTIONS = do_PROPFIND = do_REPORT = forward

        def log_message(self, format, *args):  # quiet
            pass

    return Handler


@pytest.fixture
def relay(cal, radicale) -> Iterator[Relay]:
    state = Relay(upstream_port=radicale.port)
    with serve(relay_handler(state), tls=True) as base_url:
        cal.base_url = base_url + "/"
        yield state


def test_it_reads_the_event_back_when_the_put_answers_no_etag(cal, relay):
    relay.strip_etags = True
    cursor = cal.cursor()

    result = create(cal, draft("Lunch"))

    assert relay.seen[-2:] == ["PUT 201", "GET 200"]
    assert result.etag == cal.raw(result.provider_event_id)[1]
    assert_echo(cal, cursor, result)


def test_it_does_not_create_twice_when_the_answer_was_lost(cal, relay):
    name = key()
    relay.lose_answer.append("PUT")

    result = create(cal, draft("Lunch"), name)

    assert relay.seen[-3:] == ["PUT 201", "PUT 412", "GET 200"]
    assert cal.names() == {f"{name}.ics"}
    assert result.etag == cal.raw(result.provider_event_id)[1]


def test_it_does_not_take_its_own_lost_update_for_a_conflict(cal, relay):
    created = create(cal, draft("Lunch"))
    relay.lose_answer.append("PUT")

    result = update(cal, EventRef(created.provider_event_id), draft("Lunch with Bo"), created.etag)

    assert relay.seen[-4:] == ["GET 200", "PUT 204", "PUT 412", "GET 200"]
    assert result.events[0].title == "Lunch with Bo"
    assert result.etag == cal.raw(result.provider_event_id)[1]
