"""MicrosoftAdapter.changes against the Graph fake: delta rounds over a window, series, zones, faults."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from connections.providers.base import (
    ChangePage,
    Credentials,
    CursorExpired,
    KnownEvent,
    RemoteCalendar,
    RemoteEvent,
)
from connections.providers.microsoft import MicrosoftAdapter
from connections.providers.microsoft.client import SCOPES
from connections.providers.microsoft.reading import DeltaCursor, Window, iana_zone_name
from fakes.microsoft import MicrosoftState

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY_TUESDAY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]}, "range": {"type": "noEnd"}}


def next_weekday(weekday: int, *, after_days: int = 7) -> date:
    """A date at least `after_days` from today falling on `weekday` (0 = Monday)."""
    day = datetime.now(UTC).date() + timedelta(days=after_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


@dataclass
class Mirror:
    """What the sync engine would hold after applying the pages: just enough to answer `known` and carry
    the cursor between runs (the engine itself is tested elsewhere)."""

    fake: MicrosoftState
    oid: str
    credentials: Credentials
    calendar: RemoteCalendar
    rows: dict[str, RemoteEvent] = field(default_factory=dict)
    cursor: str = ""
    known_asked: list[list[str]] = field(default_factory=list)

    def known(self, ids):
        self.known_asked.append(list(ids))
        return {i: KnownEvent(self.rows[i].etag, self.rows[i].master_id) for i in ids if i in self.rows}

    def sync(self, cursor: str | None = None) -> list[ChangePage]:
        pages = list(
            MicrosoftAdapter().changes(
                self.credentials, self.calendar, self.cursor if cursor is None else cursor, self.known
            )
        )
        for page in pages:
            for event in page.events:
                self.rows[event.provider_event_id] = event
            for removed in page.removed:
                self.rows.pop(removed, None)
                for key in [key for key, row in self.rows.items() if row.master_id == removed]:
                    del self.rows[key]
        self.cursor = pages[-1].cursor
        return pages

    def graph_requests(self, fragment: str) -> list[tuple[str, str, dict[str, str]]]:
        return [entry for entry in self.fake.request_log if fragment in entry[1]]


def events_of(pages: list[ChangePage]) -> dict[str, RemoteEvent]:
    return {event.provider_event_id: event for page in pages for event in page.events}


@pytest.fixture
def graph(fake_microsoft, settings) -> Mirror:
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.01
    person = fake_microsoft.add_user("olive@contoso.com", display_name="Olive Owner")
    tokens = fake_microsoft.issue_tokens(person.oid, [*SCOPES, "openid", "profile", "offline_access"])
    credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])
    calendar = RemoteCalendar(
        remote_id=fake_microsoft.default_calendar_id(person.oid), name="Calendar", timezone="Europe/Berlin"
    )
    return Mirror(fake_microsoft, person.oid, credentials, calendar)


def add_meeting(graph: Mirror, subject: str, day: date, hour: int = 9, **fields) -> str:
    start = datetime.combine(day, time(hour))
    fields.setdefault("time_zone", "W. Europe Standard Time")
    return graph.fake.add_event(graph.oid, subject, start, start + timedelta(hours=1), **fields)


# --- full listing ------------------------------------------------------------------------------------------


def test_it_lists_the_window_over_pages_with_the_delta_link_only_on_the_last(graph):
    graph.fake.page_size = 2
    day = next_weekday(0)
    ids = {add_meeting(graph, f"Meeting {n}", day + timedelta(days=n)) for n in range(5)}
    add_meeting(graph, "Long ago", datetime.now(UTC).date() - timedelta(days=400))

    pages = graph.sync()

    assert len(pages) == 3
    assert [page.last for page in pages] == [False, False, True]
    assert [bool(page.cursor) for page in pages] == [False, False, True]
    assert all(page.full_listing for page in pages)
    today = datetime.now(UTC).date()
    window = (
        datetime.combine(today - timedelta(days=365), time(), UTC),
        datetime.combine(today + timedelta(days=730), time(), UTC),
    )
    assert all(page.window == window for page in pages)
    assert set(events_of(pages)) == ids  # the one before the window is not listed
    cursor = DeltaCursor.loads(pages[-1].cursor)
    assert cursor.window == Window(today - timedelta(days=365), today + timedelta(days=730))
    assert "$deltatoken=" in cursor.delta_link
    # The window went out once; the follow-ups carried only the tokens.
    delta_requests = graph.graph_requests("/calendarView/delta")
    assert [sorted(query) for _, _, query in delta_requests] == [
        ["endDateTime", "startDateTime"],
        ["$skiptoken"],
        ["$skiptoken"],
    ]
    assert all(page.requests == 1 for page in pages)


def test_it_reads_a_single_event_with_its_metadata(graph):
    day = next_weekday(2)
    event_id = add_meeting(
        graph,
        "Design review",
        day,
        description="Bring the drafts.",
        location="Room 4",
        attendees=[
            {
                "type": "required",
                "status": {"response": "accepted"},
                "emailAddress": {"name": "Ann", "address": "ann@contoso.com"},
            },
            {
                "type": "optional",
                "status": {"response": "tentativelyAccepted"},
                "emailAddress": {"name": "Bo", "address": "bo@contoso.com"},
            },
            {
                "type": "required",
                "status": {"response": "none"},
                "emailAddress": {"name": "Cy", "address": "cy@contoso.com"},
            },
            {
                "type": "required",
                "status": {"response": "declined"},
                "emailAddress": {"name": "Di", "address": "di@contoso.com"},
            },
        ],
        onlineMeeting={"joinUrl": "https://teams.example/l/meetup-join/1"},
    )

    event = events_of(graph.sync())[event_id]

    assert event.title == "Design review"
    assert event.description == "Bring the drafts."  # asked for as text, not Outlook's HTML
    assert event.location == "Room 4"
    assert event.start == datetime.combine(day, time(9), BERLIN)
    assert isinstance(event.start, datetime) and event.start.tzinfo == BERLIN
    assert event.end == datetime.combine(day, time(10), BERLIN)
    assert event.timezone == "Europe/Berlin"
    assert event.status == "confirmed" and event.recurrence == () and event.master_id == ""
    assert event.etag.startswith('W/"') and event.ical_uid
    assert event.provider_data["type"] == "singleInstance"
    # Graph's defaults (busy, normal) and the changeKey the etag repeats are not kept.
    assert not {"showAs", "sensitivity", "changeKey"} & event.provider_data.keys()
    assert event.metadata["attendees"] == [
        {"email": "ann@contoso.com", "name": "Ann", "response": "accepted", "organizer": False, "optional": False},
        {"email": "bo@contoso.com", "name": "Bo", "response": "tentative", "organizer": False, "optional": True},
        {"email": "cy@contoso.com", "name": "Cy", "response": "needs_action", "organizer": False, "optional": False},
        {"email": "di@contoso.com", "name": "Di", "response": "declined", "organizer": False, "optional": False},
    ]
    assert event.metadata["organizer"] == {"email": "olive@contoso.com", "name": "Olive Owner", "self": True}
    assert event.metadata["conference_url"] == "https://teams.example/l/meetup-join/1"
    assert event.metadata["html_link"].startswith("https://outlook.office365.com/owa/?itemid=")
    assert event.problems == ()


def test_it_maps_cancelled_tentative_and_all_day_events(graph):
    day = next_weekday(4)
    cancelled = add_meeting(graph, "Called off", day, isCancelled=True, isOrganizer=False)
    tentative = add_meeting(graph, "Maybe", day, hour=11, showAs="tentative")
    holiday = graph.fake.add_event(
        graph.oid, "Holiday", day, day + timedelta(days=2), time_zone="W. Europe Standard Time"
    )

    events = events_of(graph.sync())

    assert events[cancelled].status == "cancelled"
    assert events[cancelled].metadata["organizer"]["self"] is False
    assert events[tentative].status == "tentative"
    assert events[tentative].provider_data["showAs"] == "tentative"
    assert (events[holiday].start, events[holiday].end) == (day, day + timedelta(days=2))
    assert events[holiday].timezone == ""


@pytest.mark.parametrize(
    ("windows_name", "iana"),
    [
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
    ],
)
def test_it_shows_events_in_the_zone_they_were_written_in(graph, windows_name, iana):
    day = next_weekday(1)
    event_id = add_meeting(graph, "Call", day, hour=8, time_zone=windows_name)

    event = events_of(graph.sync())[event_id]

    assert event.timezone == iana
    assert event.start == datetime.combine(day, time(8), ZoneInfo(iana))
    assert isinstance(event.start, datetime) and event.start.tzinfo == ZoneInfo(iana)


def test_an_unknown_zone_name_falls_back_to_the_calendar_zone_with_a_note(graph):
    day = next_weekday(1)
    event_id = add_meeting(graph, "Legacy", day, time_zone="UTC", originalStartTimeZone="tzone://Microsoft/Custom")

    event = events_of(graph.sync())[event_id]

    assert event.timezone == "Europe/Berlin"
    assert event.start == datetime.combine(day, time(9), UTC)  # the instant Graph gave, in UTC
    assert event.problems == ("unknown time zone 'tzone://Microsoft/Custom': shown in Europe/Berlin",)


def test_zone_names_map_from_windows_to_iana():
    assert iana_zone_name("W. Europe Standard Time") == "Europe/Berlin"
    assert iana_zone_name("Europe/Paris") == "Europe/Paris"
    assert iana_zone_name("UTC") == "UTC"
    assert iana_zone_name("tzone://Microsoft/Utc") == "UTC"
    assert iana_zone_name("Customized Time Zone") is None
    assert iana_zone_name("") is None


# --- series ------------------------------------------------------------------------------------------------


def test_it_passes_on_a_series_master_and_fills_sparse_occurrences_from_it(graph):
    tuesday = next_weekday(1)
    start = datetime.combine(tuesday, time(9))
    master_id = graph.fake.add_series(
        graph.oid,
        "Standup",
        start,
        start + timedelta(minutes=30),
        {**WEEKLY_TUESDAY, "range": {"type": "numbered", "numberOfOccurrences": 4}},
        time_zone="W. Europe Standard Time",
        location="Room 1",
        attendees=[
            {
                "type": "required",
                "status": {"response": "accepted"},
                "emailAddress": {"name": "Ann", "address": "ann@contoso.com"},
            }
        ],
    )

    pages = graph.sync()
    events = events_of(pages)

    master = events[master_id]
    assert master.recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU;COUNT=4",)
    assert master.start == datetime.combine(tuesday, time(9), BERLIN)
    assert master.end == datetime.combine(tuesday, time(9, 30), BERLIN)
    assert master.timezone == "Europe/Berlin" and master.master_id == ""
    occurrences = sorted((e for e in events.values() if e.master_id == master_id), key=lambda e: e.start)
    assert [o.original_start for o in occurrences] == [
        datetime.combine(tuesday + timedelta(weeks=n), time(9), BERLIN) for n in range(4)
    ]
    assert all(o.start == o.original_start for o in occurrences)
    assert {(o.title, o.location, o.timezone, o.status) for o in occurrences} == {
        ("Standup", "Room 1", "Europe/Berlin", "confirmed")
    }
    assert all(o.metadata["attendees"][0]["email"] == "ann@contoso.com" for o in occurrences)
    assert all(o.ical_uid == master.ical_uid for o in occurrences)
    assert {o.provider_data["type"] for o in occurrences} == {"occurrence"}
    # One fetch of the master for all four occurrences, counted on the page that needed it.
    assert len(graph.graph_requests("/me/events/")) == 1
    assert sum(page.requests for page in pages) == 2


def test_it_passes_on_exceptions_with_their_original_start(graph):
    tuesday = next_weekday(1)
    start = datetime.combine(tuesday, time(9))
    master_id = graph.fake.add_series(
        graph.oid, "Standup", start, start + timedelta(minutes=30), WEEKLY_TUESDAY, time_zone="W. Europe Standard Time"
    )
    moved_day = tuesday + timedelta(weeks=1)
    exception_id = graph.fake.update_occurrence(
        master_id,
        moved_day,
        start=datetime.combine(moved_day, time(14)),
        end=datetime.combine(moved_day, time(15)),
        subject="Standup (afternoon)",
    )

    events = events_of(graph.sync())

    exception = events[exception_id]
    assert exception.master_id == master_id
    assert exception.original_start == datetime.combine(moved_day, time(9), BERLIN)
    assert exception.start == datetime.combine(moved_day, time(14), BERLIN)
    assert exception.end == datetime.combine(moved_day, time(15), BERLIN)
    assert exception.title == "Standup (afternoon)"
    assert exception.provider_data["type"] == "exception"
    assert events[master_id].recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU",)


def test_an_all_day_series_keeps_dates(graph):
    monday = next_weekday(0)
    master_id = graph.fake.add_series(
        graph.oid,
        "Sprint",
        monday,
        monday + timedelta(days=1),
        {
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "endDate", "endDate": (monday + timedelta(days=2)).isoformat()},
        },
        time_zone="Pacific Standard Time",
    )

    events = events_of(graph.sync())

    assert events[master_id].recurrence == (f"RRULE:FREQ=DAILY;UNTIL={monday + timedelta(days=2):%Y%m%d}",)
    assert (events[master_id].start, events[master_id].timezone) == (monday, "")
    occurrences = sorted(
        e.original_start for e in events.values() if e.master_id == master_id and isinstance(e.original_start, date)
    )
    assert occurrences == [monday + timedelta(days=n) for n in range(3)]


def test_a_series_that_starts_on_a_skipped_day_starts_at_its_first_occurrence(graph):
    monday = next_weekday(0)
    start = datetime.combine(monday, time(9))
    master_id = graph.fake.add_series(
        graph.oid, "Tuesdays", start, start + timedelta(hours=1), WEEKLY_TUESDAY, time_zone="W. Europe Standard Time"
    )

    master = events_of(graph.sync())[master_id]

    assert master.start == datetime.combine(monday + timedelta(days=1), time(9), BERLIN)
    assert master.end == datetime.combine(monday + timedelta(days=1), time(10), BERLIN)


# --- incremental rounds ------------------------------------------------------------------------------------


def test_it_follows_the_delta_link_with_new_changed_and_removed_events(graph):
    day = next_weekday(3)
    kept, changed, deleted = (
        add_meeting(graph, name, day, hour=h) for name, h in (("Kept", 9), ("Changed", 11), ("Deleted", 13))
    )
    first = graph.sync()

    added = add_meeting(graph, "Added", day, hour=15)
    graph.fake.update_event(changed, subject="Changed again")
    graph.fake.delete_event(deleted)
    pages = graph.sync()

    assert set(events_of(pages)) == {added, changed}
    assert events_of(pages)[changed].title == "Changed again"
    assert events_of(pages)[changed].etag != events_of(first)[changed].etag
    assert [removed for page in pages for removed in page.removed] == [deleted]
    assert not any(page.full_listing or page.window for page in pages)
    assert pages[-1].last and pages[-1].cursor != first[-1].cursor
    assert set(graph.rows) == {kept, changed, added}

    assert graph.sync()[0].events == []  # nothing changed since


def test_an_event_moved_out_of_the_window_is_removed(graph):
    event_id = add_meeting(graph, "Soon", next_weekday(0))
    graph.sync()

    far = datetime.combine(datetime.now(UTC).date() + timedelta(days=900), time(9))
    graph.fake.update_event(event_id, start=far, end=far + timedelta(hours=1))
    pages = graph.sync()

    assert [removed for page in pages for removed in page.removed] == [event_id]


def test_a_deleted_occurrence_is_removed_and_a_new_listing_keeps_it_cancelled(graph):
    tuesday = next_weekday(1)
    start = datetime.combine(tuesday, time(9))
    master_id = graph.fake.add_series(
        graph.oid,
        "Standup",
        start,
        start + timedelta(minutes=30),
        {**WEEKLY_TUESDAY, "range": {"type": "numbered", "numberOfOccurrences": 3}},
        time_zone="W. Europe Standard Time",
    )
    graph.sync()
    gone_day = tuesday + timedelta(weeks=1)

    occurrence_id = graph.fake.delete_occurrence(master_id, gone_day)
    pages = graph.sync()

    assert [removed for page in pages for removed in page.removed] == [occurrence_id]  # the series lives on
    assert graph.known_asked[-1] == [occurrence_id]

    listing = graph.sync(cursor="")
    cancelled = [e for e in events_of(listing).values() if e.status == "cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0].master_id == master_id
    assert cancelled[0].original_start == datetime.combine(gone_day, time(9), BERLIN)
    assert occurrence_id not in events_of(listing)


def test_a_deleted_series_removes_its_master_too(graph):
    tuesday = next_weekday(1)
    start = datetime.combine(tuesday, time(9))
    master_id = graph.fake.add_series(
        graph.oid,
        "Standup",
        start,
        start + timedelta(minutes=30),
        {**WEEKLY_TUESDAY, "range": {"type": "numbered", "numberOfOccurrences": 3}},
        time_zone="W. Europe Standard Time",
    )
    graph.sync()
    occurrence_ids = {key for key, row in graph.rows.items() if row.master_id == master_id}

    graph.fake.delete_event(master_id)
    pages = graph.sync()

    removed = [removed for page in pages for removed in page.removed]
    assert set(removed) == occurrence_ids | {master_id}
    assert graph.rows == {}


def test_a_single_event_turned_into_a_series_keeps_its_id_as_the_master(graph):
    tuesday = next_weekday(1)
    event_id = add_meeting(graph, "Planning", tuesday)
    graph.sync()

    graph.fake.update_event(
        event_id, recurrence={**WEEKLY_TUESDAY, "range": {"type": "numbered", "numberOfOccurrences": 2}}
    )
    pages = graph.sync()

    assert events_of(pages)[event_id].recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU;COUNT=2",)
    assert not any(page.removed for page in pages)  # the single event's id lives on as the master
    assert {row.master_id for row in graph.rows.values()} == {"", event_id}
    assert len(graph.rows) == 3


def test_a_change_to_the_master_lists_its_occurrences_again(graph):
    tuesday = next_weekday(1)
    start = datetime.combine(tuesday, time(9))
    master_id = graph.fake.add_series(
        graph.oid,
        "Standup",
        start,
        start + timedelta(minutes=30),
        {**WEEKLY_TUESDAY, "range": {"type": "numbered", "numberOfOccurrences": 2}},
        time_zone="W. Europe Standard Time",
    )
    graph.sync()

    graph.fake.update_event(master_id, subject="Daily sync")
    events = events_of(graph.sync())

    assert {e.title for e in events.values()} == {"Daily sync"}
    assert len(events) == 3  # the master and both occurrences


# --- expiry and faults -------------------------------------------------------------------------------------


def test_a_lapsed_delta_token_raises_cursor_expired(graph):
    add_meeting(graph, "Meeting", next_weekday(0))
    graph.sync()
    graph.fake.expire_delta_tokens()

    with pytest.raises(CursorExpired, match="410"):
        graph.sync()


def test_a_window_that_fell_behind_raises_cursor_expired(graph):
    graph.sync()
    stored = DeltaCursor.loads(graph.cursor)

    def shifted(days: int) -> str:
        window = Window(stored.window.start - timedelta(days=days), stored.window.end - timedelta(days=days))
        return replace(stored, window=window).dumps()

    assert graph.sync(cursor=shifted(29))[-1].last  # still close enough: the round goes on
    with pytest.raises(CursorExpired, match="the sync window moved"):
        graph.sync(cursor=shifted(31))


@pytest.mark.parametrize(
    "cursor",
    [
        "not json",
        json.dumps({"v": 99, "start": "2025-01-01", "end": "2027-01-01", "deltaLink": "x"}),
        json.dumps({"v": 1, "start": "2025-01-01"}),
    ],
)
def test_an_unreadable_cursor_raises_cursor_expired(graph, cursor):
    with pytest.raises(CursorExpired):
        graph.sync(cursor=cursor)


def test_a_delta_link_outside_graph_is_not_followed(graph):
    graph.sync()
    stored = DeltaCursor.loads(graph.cursor)
    elsewhere = replace(stored, delta_link="https://attacker.example/v1.0/me/calendarView/delta?$deltatoken=x")
    requests_before = len(graph.fake.request_log)

    with pytest.raises(CursorExpired):
        graph.sync(cursor=elsewhere.dumps())
    assert len(graph.fake.request_log) == requests_before


@pytest.mark.parametrize(("status", "retry_after"), [(429, "1"), (503, None), (500, None)])
def test_a_transient_failure_is_retried(graph, status, retry_after):
    event_id = add_meeting(graph, "Meeting", next_weekday(0))
    graph.fake.faults.append((status, retry_after))

    pages = graph.sync()

    assert event_id in events_of(pages)
    assert len(graph.graph_requests("/calendarView/delta")) == 2  # the failed one and its retry


def test_a_failed_master_fetch_is_retried(graph):
    tuesday = next_weekday(1)
    start = datetime.combine(tuesday, time(9))
    master_id = graph.fake.add_series(graph.oid, "Standup", start, start + timedelta(minutes=30), WEEKLY_TUESDAY)
    graph.fake.path_faults.append(("/me/events/", 503, None))

    events = events_of(graph.sync())

    assert events[master_id].recurrence
    assert len(graph.graph_requests("/me/events/")) == 2
