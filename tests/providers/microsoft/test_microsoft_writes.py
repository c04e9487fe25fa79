"""MicrosoftAdapter's writes against the Graph fake: create, update, delete, occurrences, series, respond.

Every kind of write ends with the echo check: `changes()` from the cursor taken before the write yields
exactly the ids, etags and events the WriteResult named, so the next inbound sync finds the stored rows
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from connections.providers.base import (
    Conflict,
    Credentials,
    EventDraft,
    EventGone,
    EventRef,
    KnownEvent,
    ProviderError,
    RateLimited,
    RemoteCalendar,
    RemoteEvent,
    TokenRejected,
    WriteRefused,
    WriteResult,
)
from connections.providers.microsoft import MicrosoftAdapter
from connections.providers.microsoft.client import SCOPES
from connections.providers.microsoft.recurrence import RuleNotExpressible, patterned_recurrence, rrule_line
from fakes.microsoft import MicrosoftState
from fakes.microsoft_calendar import occurrence_dates, occurrence_id

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKLY_TUESDAY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]}, "range": {"type": "noEnd"}}
KEY = "0123456789abcdef0123456789abcdef"
adapter = MicrosoftAdapter()


def next_weekday(weekday: int, *, after_days: int = 7) -> date:
    """A date at least `after_days` from today falling on `weekday` (0 = Monday)."""
    day = datetime.now(UTC).date() + timedelta(days=after_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


@dataclass
class Outlook:
    """One person's Outlook calendar in the fake, with what an inbound sync last stored from it."""

    fake: MicrosoftState
    oid: str
    credentials: Credentials
    calendar: RemoteCalendar
    rows: dict[str, RemoteEvent] = field(default_factory=dict)

    def known(self, ids):
        return {i: KnownEvent(self.rows[i].etag, self.rows[i].master_id) for i in ids if i in self.rows}

    def sync(self, cursor: str = "") -> tuple[list[RemoteEvent], list[str], str]:
        """changes() from `cursor` (a full listing when empty): its events, removed ids and next cursor."""
        pages = list(adapter.changes(self.credentials, self.calendar, cursor, self.known))
        events = [event for page in pages for event in page.events]
        removed = [key for page in pages for key in page.removed]
        for event in events:
            self.rows[event.provider_event_id] = event
        return events, removed, pages[-1].cursor

    def cursor(self) -> str:
        return self.sync()[2]

    def stored(self, event_id: str):
        return self.fake.calendar_events.events[event_id]

    def writes(self, method: str):
        return [write for write in self.fake.graph_writes if write.method == method]


@pytest.fixture
def outlook(fake_microsoft, settings) -> Outlook:
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.01
    person = fake_microsoft.add_user("olive@contoso.com", display_name="Olive Owner")
    tokens = fake_microsoft.issue_tokens(person.oid, [*SCOPES, "openid", "profile", "offline_access"])
    credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])
    calendar = RemoteCalendar(
        remote_id=fake_microsoft.default_calendar_id(person.oid), name="Calendar", timezone="Europe/Berlin"
    )
    return Outlook(fake_microsoft, person.oid, credentials, calendar)


def meeting(day: date, title: str = "Planning", **fields) -> EventDraft:
    fields.setdefault("timezone", "Europe/Berlin")
    return EventDraft(title=title, start=berlin(day, 9), end=berlin(day, 10), **fields)


def create(outlook: Outlook, draft: EventDraft, key: str = KEY) -> WriteResult:
    return adapter.create_event(outlook.credentials, outlook.calendar, draft, key=key, notify=True)


def update(outlook: Outlook, ref: EventRef, draft: EventDraft, etag: str) -> WriteResult:
    return adapter.update_event(outlook.credentials, outlook.calendar, ref, draft, etag=etag, notify=True)


def delete(outlook: Outlook, ref: EventRef, etag: str) -> WriteResult | None:
    return adapter.delete_event(outlook.credentials, outlook.calendar, ref, etag=etag, notify=True)


def assert_echo(events: list[RemoteEvent], result: WriteResult) -> None:
    """The inbound sync's events after a write are exactly the WriteResult's, ids, etags and all."""
    assert {event.provider_event_id: event.etag for event in events} == {
        event.provider_event_id: event.etag for event in result.events
    }
    assert sorted(events, key=lambda e: e.provider_event_id) == sorted(result.events, key=lambda e: e.provider_event_id)
    assert (result.provider_event_id, result.etag) in {(e.provider_event_id, e.etag) for e in result.events}


def assert_series_echo(events: list[RemoteEvent], result: WriteResult) -> None:
    """After a series write: the master as the WriteResult has it, and its occurrences under it, with its etag."""
    masters = [event for event in events if not event.master_id]
    assert masters == list(result.events)
    assert [(e.provider_event_id, e.etag) for e in masters] == [(result.provider_event_id, result.etag)]
    occurrences = [event for event in events if event.master_id]
    assert occurrences
    assert {(event.master_id, event.etag) for event in occurrences} == {(result.provider_event_id, result.etag)}


# --- create ----------------------------------------------------------------------------------------------


def test_it_creates_a_timed_event_in_the_zone_it_was_written_in(outlook):
    cursor = outlook.cursor()
    day = next_weekday(1)
    draft = meeting(day, description="Agenda: budget", location="Room 4")

    result = create(outlook, draft)

    stored = outlook.stored(result.provider_event_id)
    assert stored.zone == "Europe/Berlin"
    assert (stored.start, stored.end) == (datetime.combine(day, time(9)), datetime.combine(day, time(10)))
    (post,) = outlook.writes("POST")
    assert post.path == f"me/calendars/{outlook.calendar.remote_id}/events"
    assert post.body["transactionId"] == KEY
    assert post.body["start"] == {"dateTime": f"{day}T09:00:00", "timeZone": "Europe/Berlin"}
    (event,) = result.events
    assert (event.title, event.description, event.location) == ("Planning", "Agenda: budget", "Room 4")
    assert (event.start, event.end, event.timezone) == (draft.start, draft.end, "Europe/Berlin")
    assert result.etag == event.etag and result.etag.startswith('W/"')
    events, removed, _ = outlook.sync(cursor)
    assert_echo(events, result)
    assert removed == []


def test_it_creates_a_timed_event_written_in_another_zone_at_the_same_instant(outlook):
    day = next_weekday(2)
    start = datetime.combine(day, time(18), NEW_YORK)
    draft = EventDraft("Call", start, start + timedelta(minutes=30), timezone="America/New_York")

    result = create(outlook, draft)

    stored = outlook.stored(result.provider_event_id)
    assert (stored.zone, stored.start) == ("America/New_York", datetime.combine(day, time(18)))
    (event,) = result.events
    assert event.start == start and event.timezone == "America/New_York"


def test_it_creates_an_all_day_event_with_midnight_date_times(outlook):
    cursor = outlook.cursor()
    day = next_weekday(4)
    draft = EventDraft("Offsite", day, day + timedelta(days=2))

    result = create(outlook, draft)

    (post,) = outlook.writes("POST")
    assert post.body["isAllDay"] is True
    # No zone on the draft: the calendar's, so Outlook shows the days where the person sees them.
    assert post.body["start"] == {"dateTime": f"{day}T00:00:00", "timeZone": "Europe/Berlin"}
    assert post.body["end"] == {"dateTime": f"{day + timedelta(days=2)}T00:00:00", "timeZone": "Europe/Berlin"}
    (event,) = result.events
    assert (event.start, event.end, event.timezone) == (day, day + timedelta(days=2), "")
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_returns_the_first_event_when_a_create_is_retried_with_the_same_key(outlook):
    draft = meeting(next_weekday(1))

    first = create(outlook, draft)
    again = create(outlook, draft)

    assert again == first
    assert list(outlook.fake.calendar_events.events) == [first.provider_event_id]
    assert len(outlook.writes("POST")) == 2


def test_it_returns_the_first_event_when_the_answer_to_the_first_create_was_lost(outlook):
    cursor = outlook.cursor()
    outlook.fake.lost_answers.append(("POST", "/events"))

    result = create(outlook, meeting(next_weekday(1)))

    assert len(outlook.writes("POST")) == 2  # the first POST made the event; its answer never arrived
    assert list(outlook.fake.calendar_events.events) == [result.provider_event_id]
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_finds_the_first_event_when_a_retried_create_carries_a_changed_draft(outlook):
    day = next_weekday(1)
    first = create(outlook, meeting(day, "Planning"))

    again = create(outlook, meeting(day, "Planning (renamed before the retry)"))

    # Graph answered 400 ErrorDuplicateTransactionId; the event was found by its transactionId.
    assert again.provider_event_id == first.provider_event_id
    assert list(outlook.fake.calendar_events.events) == [first.provider_event_id]
    lookups = [query for _, path, query in outlook.fake.request_log if path.endswith("/events") and query]
    assert lookups == [{"$filter": f"transactionId eq '{KEY}'"}]


def test_it_creates_a_series_with_its_rule_as_a_patterned_recurrence(outlook):
    cursor = outlook.cursor()
    day = next_weekday(1)
    draft = meeting(day, "Standup", recurrence=("RRULE:FREQ=WEEKLY;BYDAY=TU,TH;COUNT=6",))

    result = create(outlook, draft)

    recurrence = outlook.stored(result.provider_event_id).recurrence
    assert recurrence["pattern"]["type"] == "weekly"
    assert recurrence["pattern"]["daysOfWeek"] == ["tuesday", "thursday"]
    assert recurrence["range"]["type"] == "numbered" and recurrence["range"]["numberOfOccurrences"] == 6
    assert recurrence["range"]["startDate"] == day.isoformat()
    (master,) = result.events
    assert master.recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=TU,TH;WKST=MO;COUNT=6",)
    events, _, _ = outlook.sync(cursor)
    assert_series_echo(events, result)
    assert len([event for event in events if event.master_id]) == 6


def test_it_refuses_a_rule_outlook_cannot_express_without_writing(outlook):
    draft = meeting(next_weekday(1), recurrence=("RRULE:FREQ=MONTHLY;BYDAY=1MO,3MO",))

    with pytest.raises(WriteRefused) as refused:
        create(outlook, draft)

    assert refused.value.permanent
    assert "one numbered weekday" in str(refused.value)
    assert outlook.writes("POST") == []


# --- update ----------------------------------------------------------------------------------------------


def add_meeting(outlook: Outlook, subject: str, day: date, **fields) -> str:
    start = datetime.combine(day, time(9))
    fields.setdefault("time_zone", "W. Europe Standard Time")
    return outlook.fake.add_event(outlook.oid, subject, start, start + timedelta(hours=1), **fields)


ATTENDEES = [
    {
        "type": "required",
        "status": {"response": "accepted", "time": "2025-01-01T00:00:00Z"},
        "emailAddress": {"name": "Adele Vance", "address": "adele@contoso.com"},
    }
]


def test_it_updates_an_event_with_its_etag_and_keeps_what_the_draft_does_not_carry(outlook):
    day = next_weekday(2)
    event_id = add_meeting(outlook, "Review", day, attendees=ATTENDEES, description="Notes")
    cursor = outlook.cursor()
    stored = outlook.rows[event_id]

    draft = EventDraft(
        "Review (moved)", berlin(day, 14), berlin(day, 15), timezone="Europe/Berlin", description="Notes"
    )
    result = update(outlook, EventRef(event_id), draft, stored.etag)

    (patch,) = outlook.writes("PATCH")
    assert patch.if_match == stored.etag
    assert set(patch.body) == {"subject", "start", "end", "isAllDay"}  # only what changed
    assert outlook.stored(event_id).fields["attendees"] == ATTENDEES
    (event,) = result.events
    assert (event.provider_event_id, event.title, event.start) == (event_id, "Review (moved)", berlin(day, 14))
    assert event.metadata["attendees"][0]["email"] == "adele@contoso.com"
    assert result.etag != stored.etag
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_raises_conflict_for_a_stale_etag_and_changes_nothing(outlook):
    day = next_weekday(2)
    event_id = add_meeting(outlook, "Review", day)
    outlook.sync()
    stale = outlook.rows[event_id].etag
    outlook.fake.update_event(event_id, subject="Renamed in Outlook")

    with pytest.raises(Conflict):
        update(outlook, EventRef(event_id), meeting(day, "Renamed in calsync"), stale)

    assert outlook.stored(event_id).fields["subject"] == "Renamed in Outlook"
    assert outlook.stored(event_id).start == datetime.combine(day, time(9))


def test_it_succeeds_when_the_answer_to_its_update_was_lost_and_the_retry_meets_its_own_change(outlook):
    day = next_weekday(2)
    event_id = add_meeting(outlook, "Review", day)
    cursor = outlook.cursor()
    etag = outlook.rows[event_id].etag
    outlook.fake.lost_answers.append(("PATCH", "/me/events/"))

    result = update(outlook, EventRef(event_id), meeting(day, "Review (renamed)"), etag)

    # The retry met 412 (its own change moved the etag), and the provider already said what the draft says.
    assert len(outlook.writes("PATCH")) == 2
    assert result.events[0].title == "Review (renamed)"
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_raises_event_gone_for_an_event_deleted_in_outlook(outlook):
    day = next_weekday(2)
    event_id = add_meeting(outlook, "Review", day)
    outlook.sync()
    etag = outlook.rows[event_id].etag
    outlook.fake.delete_event(event_id)

    with pytest.raises(EventGone):
        update(outlook, EventRef(event_id), meeting(day, "Review"), etag)


def test_it_updates_an_all_day_event_to_new_dates(outlook):
    day = next_weekday(3)
    event_id = outlook.fake.add_event(outlook.oid, "Holiday", day, day + timedelta(days=1), time_zone="UTC")
    cursor = outlook.cursor()

    draft = EventDraft("Holiday", day + timedelta(days=7), day + timedelta(days=9))
    result = update(outlook, EventRef(event_id), draft, outlook.rows[event_id].etag)

    (event,) = result.events
    assert (event.start, event.end) == (day + timedelta(days=7), day + timedelta(days=9))
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


# --- delete ----------------------------------------------------------------------------------------------


def test_it_deletes_an_event_and_deleting_it_again_is_fine(outlook):
    event_id = add_meeting(outlook, "Review", next_weekday(2))
    cursor = outlook.cursor()
    etag = outlook.rows[event_id].etag

    assert delete(outlook, EventRef(event_id), etag) is None
    assert event_id not in outlook.fake.calendar_events.events
    assert delete(outlook, EventRef(event_id), etag) is None

    assert [write.if_match for write in outlook.writes("DELETE")] == [etag, etag]
    events, removed, _ = outlook.sync(cursor)
    assert events == [] and removed == [event_id]


def test_it_does_not_delete_an_event_changed_since_with_a_stale_etag(outlook):
    event_id = add_meeting(outlook, "Review", next_weekday(2))
    outlook.sync()
    stale = outlook.rows[event_id].etag
    outlook.fake.update_event(event_id, subject="Renamed in Outlook")

    with pytest.raises(Conflict):
        delete(outlook, EventRef(event_id), stale)

    assert event_id in outlook.fake.calendar_events.events


def test_it_deletes_a_whole_series(outlook):
    day = next_weekday(1)
    master_id = outlook.fake.add_series(
        outlook.oid, "Standup", datetime.combine(day, time(9)), datetime.combine(day, time(9, 15)), WEEKLY_TUESDAY
    )
    cursor = outlook.cursor()

    assert delete(outlook, EventRef(master_id), outlook.rows[master_id].etag) is None

    events, removed, _ = outlook.sync(cursor)
    assert events == []
    assert master_id in removed


# --- series and occurrences ------------------------------------------------------------------------------


@pytest.fixture
def series(outlook) -> tuple[str, date]:
    """A weekly Tuesday 09:00 Berlin series starting next week; its master id and first day."""
    day = next_weekday(1)
    master_id = outlook.fake.add_series(
        outlook.oid,
        "Standup",
        datetime.combine(day, time(9)),
        datetime.combine(day, time(9, 30)),
        WEEKLY_TUESDAY,
        time_zone="Europe/Berlin",
        attendees=ATTENDEES,
    )
    return master_id, day


def test_it_moves_one_occurrence_into_an_exception_found_by_its_original_start(outlook, series):
    master_id, day = series
    cursor = outlook.cursor()
    original = berlin(day + timedelta(weeks=2), 9).astimezone(UTC)
    master_etag = outlook.rows[master_id].etag

    ref = EventRef(master_id=master_id, original_start=original)
    draft = EventDraft(
        "Standup (late)",
        berlin(day + timedelta(weeks=2), 11),
        berlin(day + timedelta(weeks=2), 11, 30),
        timezone="Europe/Berlin",
    )
    result = update(outlook, ref, draft, master_etag)

    instance_id = outlook.fake.occurrence_id(master_id, original)
    assert result.provider_event_id == instance_id
    master, exception = result.events
    assert master.provider_event_id == master_id
    assert (exception.master_id, exception.original_start, exception.start) == (master_id, original, draft.start)
    assert exception.title == "Standup (late)" and exception.etag == result.etag
    assert exception.metadata["attendees"][0]["email"] == "adele@contoso.com"
    assert outlook.writes("PATCH")[0].if_match == master_etag
    assert outlook.writes("PATCH")[0].path == f"me/events/{instance_id}"
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_updates_an_exception_by_its_id(outlook, series):
    master_id, day = series
    original = berlin(day + timedelta(weeks=1), 9)
    exception_id = outlook.fake.update_occurrence(master_id, original, subject="Moved once")
    cursor = outlook.cursor()

    ref = EventRef(provider_event_id=exception_id, master_id=master_id, original_start=original.astimezone(UTC))
    draft = EventDraft(
        "Moved twice", berlin(original.date(), 16), berlin(original.date(), 17), timezone="Europe/Berlin"
    )
    result = update(outlook, ref, draft, outlook.rows[exception_id].etag)

    assert result.provider_event_id == exception_id
    assert not any(path.endswith("/instances") for _, path, _ in outlook.fake.request_log)  # its id sufficed
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_updates_an_exception_named_by_its_id_alone(outlook, series):
    master_id, day = series
    original = berlin(day + timedelta(weeks=1), 9)
    exception_id = outlook.fake.update_occurrence(master_id, original, subject="Moved once")
    cursor = outlook.cursor()

    draft = EventDraft("Renamed", original, original + timedelta(minutes=30), timezone="Europe/Berlin")
    result = update(outlook, EventRef(exception_id), draft, outlook.rows[exception_id].etag)

    _, exception = result.events
    assert (exception.provider_event_id, exception.master_id) == (exception_id, master_id)
    assert exception.title == "Renamed"
    assert set(outlook.writes("PATCH")[0].body) == {"subject"}
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_raises_conflict_for_an_occurrence_whose_series_changed_since(outlook, series):
    master_id, day = series
    outlook.sync()
    stale = outlook.rows[master_id].etag
    outlook.fake.update_event(master_id, subject="Standup (renamed in Outlook)")
    original = berlin(day + timedelta(weeks=1), 9).astimezone(UTC)

    with pytest.raises(Conflict):
        update(outlook, EventRef(master_id=master_id, original_start=original), meeting(day, "Mine"), stale)

    assert outlook.stored(master_id).overrides == {}


@pytest.mark.parametrize("known_id", [False, True])
def test_it_cancels_one_occurrence_under_the_id_the_inbound_sync_gives_it(outlook, series, known_id):
    master_id, day = series
    cursor = outlook.cursor()
    original = berlin(day + timedelta(weeks=3), 9).astimezone(UTC)
    instance_id = outlook.fake.occurrence_id(master_id, original)
    ref = EventRef(instance_id if known_id else "", master_id, original)

    result = delete(outlook, ref, outlook.rows[instance_id].etag)

    assert result is not None
    assert result.provider_event_id == f"{master_id}#cancelled-{original:%Y%m%dT%H%M%SZ}"
    master, cancelled = result.events
    assert (master.provider_event_id, cancelled.status, cancelled.original_start) == (master_id, "cancelled", original)
    assert result.etag == master.etag == cancelled.etag
    assert original not in [o for o, _, _ in outlook.fake.occurrences(master_id, day + timedelta(weeks=5))]
    # Incrementally Graph only removes the occurrence (the stored row under its id goes) ...
    events, removed, _ = outlook.sync(cursor)
    assert events == [] and removed == [instance_id]
    # ... and a full listing names the cancellation exactly as the WriteResult did.
    listed = {event.provider_event_id: event for event in outlook.sync()[0]}
    assert listed[result.provider_event_id] == cancelled
    assert listed[master_id] == master
    # Cancelling it again (a retry) answers the same.
    assert delete(outlook, ref, outlook.rows[instance_id].etag) == result


def test_it_cancels_an_occurrence_of_an_all_day_series(outlook):
    day = next_weekday(0)
    master_id = outlook.fake.add_series(
        outlook.oid,
        "Gym",
        day,
        day + timedelta(days=1),
        {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, "range": {"type": "noEnd"}},
        time_zone="Europe/Berlin",
    )
    outlook.sync()
    original = day + timedelta(weeks=1)

    result = delete(outlook, EventRef(master_id=master_id, original_start=original), "")

    assert result is not None and result.provider_event_id == f"{master_id}#cancelled-{original:%Y%m%d}"
    listed = {event.provider_event_id: event for event in outlook.sync()[0]}
    assert listed[result.provider_event_id] == result.events[1]


def test_it_ends_a_series_with_a_new_rule(outlook, series):
    master_id, day = series
    cursor = outlook.cursor()
    master = outlook.rows[master_id]
    last = day + timedelta(weeks=3)
    until = berlin(last, 12).astimezone(UTC)

    draft = EventDraft(
        "Standup",
        master.start,
        master.end,
        timezone="Europe/Berlin",
        recurrence=(f"RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL={until:%Y%m%dT%H%M%SZ}",),
    )
    result = update(outlook, EventRef(master_id), draft, master.etag)

    (patch,) = outlook.writes("PATCH")
    assert set(patch.body) == {"recurrence"}
    assert patch.body["recurrence"]["range"] == {
        "type": "endDate",
        "endDate": last.isoformat(),
        "startDate": day.isoformat(),
        "recurrenceTimeZone": "Europe/Berlin",
    }
    assert [o.date() for o, _, _ in outlook.fake.occurrences(master_id, last + timedelta(weeks=4))] == [
        berlin(day + timedelta(weeks=n), 9).astimezone(UTC).date() for n in range(4)
    ]
    events, removed, _ = outlook.sync(cursor)
    assert_series_echo(events, result)
    assert len([event for event in events if event.master_id]) == 4
    # The occurrences after the new end left the view (an id is stable: the fake derives it).
    assert occurrence_id(master_id, berlin(last + timedelta(weeks=1), 9)) in removed


def test_it_keeps_a_series_exceptions_when_only_its_title_changes(outlook, series):
    master_id, day = series
    outlook.fake.update_occurrence(master_id, berlin(day + timedelta(weeks=1), 9), subject="Special")
    cursor = outlook.cursor()
    master = outlook.rows[master_id]

    draft = EventDraft("Daily sync", master.start, master.end, timezone="Europe/Berlin", recurrence=master.recurrence)
    result = update(outlook, EventRef(master_id), draft, master.etag)

    (patch,) = outlook.writes("PATCH")
    assert set(patch.body) == {"subject"}  # a start or a recurrence would make Outlook drop the exception
    assert len(outlook.stored(master_id).overrides) == 1
    assert result.events[0].title == "Daily sync"
    events, _, _ = outlook.sync(cursor)
    assert_series_echo([event for event in events if event.title != "Special"], result)


# --- RRULE to patternedRecurrence ------------------------------------------------------------------------

START = datetime(2025, 1, 7, 9, tzinfo=BERLIN)  # a Tuesday


@pytest.mark.parametrize(
    ("line", "pattern", "span"),
    [
        ("RRULE:FREQ=DAILY;INTERVAL=2", {"type": "daily", "interval": 2}, {"type": "noEnd"}),
        (
            "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=10",
            {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                "firstDayOfWeek": "monday",
            },
            {"type": "numbered", "numberOfOccurrences": 10},
        ),
        (
            "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TH,TU;WKST=SU",
            {"type": "weekly", "interval": 2, "daysOfWeek": ["tuesday", "thursday"], "firstDayOfWeek": "sunday"},
            {"type": "noEnd"},
        ),
        (
            "RRULE:FREQ=WEEKLY;UNTIL=20250204T225959Z",
            {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
            {"type": "endDate", "endDate": "2025-02-04"},
        ),
        (
            "RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20250204T075959Z",  # ends just before the 4 February one
            {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
            {"type": "endDate", "endDate": "2025-01-28"},
        ),
        ("RRULE:FREQ=MONTHLY", {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 7}, {"type": "noEnd"}),
        (
            "RRULE:FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15",
            {"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 15},
            {"type": "noEnd"},
        ),
        (
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=-1",
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            {"type": "noEnd"},
        ),
        (
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1",
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 30},
            {"type": "noEnd"},
        ),
        (
            "RRULE:FREQ=MONTHLY;BYDAY=2TU",
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "second"},
            {"type": "noEnd"},
        ),
        (
            "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            {
                "type": "relativeMonthly",
                "interval": 1,
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                "index": "last",
            },
            {"type": "noEnd"},
        ),
        (
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=21",
            {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 21},
            {"type": "noEnd"},
        ),
        (
            "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH;COUNT=3",
            {"type": "relativeYearly", "interval": 1, "month": 11, "daysOfWeek": ["thursday"], "index": "fourth"},
            {"type": "numbered", "numberOfOccurrences": 3},
        ),
    ],
)
def test_it_writes_an_rrule_as_the_patterned_recurrence_with_the_same_dates(line, pattern, span):
    recurrence = patterned_recurrence((line,), START, "Europe/Berlin")

    assert recurrence["pattern"] == pattern
    assert recurrence["range"] == {**span, "startDate": "2025-01-07", "recurrenceTimeZone": "Europe/Berlin"}
    # Outlook's expansion (the fake's, written from Graph's documentation) gives the RRULE's own dates ...
    until = date(2027, 1, 1)
    expected = dates_of(line, until)
    assert [day for day in occurrence_dates(recurrence, until) if day < until] == expected
    # ... and the rule the inbound sync reads back means the same.
    assert dates_of(rrule_line(recurrence, zone=BERLIN), until) == expected


def dates_of(line: str, until: date) -> list[date]:
    rule = rrulestr(line.removeprefix("RRULE:"), dtstart=START)
    return [moment.date() for moment in rule.between(START, datetime.combine(until, time(), BERLIN), inc=True)]


def test_it_ends_an_all_day_series_on_its_until_date():
    recurrence = patterned_recurrence(("RRULE:FREQ=DAILY;UNTIL=20250110",), date(2025, 1, 7), "UTC")

    assert recurrence["range"] == {
        "type": "endDate",
        "endDate": "2025-01-10",
        "startDate": "2025-01-07",
        "recurrenceTimeZone": "UTC",
    }


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (("RRULE:FREQ=HOURLY",), "every hour"),
        (("RRULE:FREQ=DAILY;BYHOUR=9,17",), "several hours"),
        (("RRULE:FREQ=MONTHLY;BYMONTHDAY=31",), "day 31 only in months that have it"),
        (("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",), "day 29 only in months that have it"),
        (("RRULE:FREQ=MONTHLY;BYDAY=1MO,3MO",), "one numbered weekday"),
        (("RRULE:FREQ=MONTHLY;BYDAY=TU",), "one numbered weekday"),
        (("RRULE:FREQ=WEEKLY;BYDAY=1TU",), "numbered weekday needs a monthly rule"),
        (("RRULE:FREQ=DAILY;INTERVAL=2;BYDAY=MO",), "every few days on chosen weekdays"),
        (("RRULE:FREQ=WEEKLY", "EXDATE:20250114T080000Z"), "skipped dates"),
        (("RRULE:FREQ=WEEKLY", "RDATE:20250115T080000Z"), "extra dates"),
        (("RRULE:FREQ=WEEKLY;UNTIL=20250101T000000Z",), "ends before its first occurrence"),
    ],
)
def test_it_refuses_what_outlook_cannot_repeat_with_a_readable_reason(lines, words):
    with pytest.raises(RuleNotExpressible) as refused:
        patterned_recurrence(lines, START, "Europe/Berlin")

    assert words in str(refused.value)
    assert str(refused.value).startswith(("Outlook", "The repeat rule"))


# --- respond ---------------------------------------------------------------------------------------------


def invitation(outlook: Outlook, day: date) -> str:
    return add_meeting(
        outlook,
        "Quarterly review",
        day,
        isOrganizer=False,
        organizer={"emailAddress": {"name": "Adele Vance", "address": "adele@contoso.com"}},
        attendees=[
            *ATTENDEES,
            {
                "type": "required",
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": "Olive Owner", "address": "olive@contoso.com"},
            },
        ],
    )


def test_it_answers_an_invitation_and_returns_the_event_as_outlook_now_has_it(outlook):
    event_id = invitation(outlook, next_weekday(3))
    cursor = outlook.cursor()

    result = adapter.respond(
        outlook.credentials, outlook.calendar, EventRef(event_id), "tentative", etag="", notify=True
    )

    (answer,) = outlook.writes("POST")
    assert answer.path == f"me/events/{event_id}/tentativelyAccept"
    assert answer.body == {"sendResponse": True}
    (event,) = result.events
    assert event.status == "tentative"
    mine = next(a for a in event.metadata["attendees"] if a["email"] == "olive@contoso.com")
    assert mine["response"] == "tentative"
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_answers_one_occurrence_of_an_invitation(outlook, series):
    master_id, day = series
    outlook.fake.update_event(master_id, isOrganizer=False)
    cursor = outlook.cursor()
    original = berlin(day + timedelta(weeks=1), 9).astimezone(UTC)

    result = adapter.respond(
        outlook.credentials,
        outlook.calendar,
        EventRef(master_id=master_id, original_start=original),
        "declined",
        etag="",
        notify=True,
    )

    assert result.provider_event_id == outlook.fake.occurrence_id(master_id, original)
    assert outlook.writes("POST")[0].path.endswith("/decline")
    events, _, _ = outlook.sync(cursor)
    assert_echo(events, result)


def test_it_refuses_to_answer_a_meeting_the_person_organized(outlook):
    event_id = add_meeting(outlook, "My own meeting", next_weekday(3))

    with pytest.raises(WriteRefused, match="organizer"):
        adapter.respond(outlook.credentials, outlook.calendar, EventRef(event_id), "accepted", etag="", notify=True)


# --- errors ----------------------------------------------------------------------------------------------


def test_it_refuses_writes_to_a_read_only_calendar_with_a_readable_message(outlook):
    shared = outlook.fake.add_calendar(outlook.oid, name="Team (shared)", canEdit=False)
    calendar = RemoteCalendar(remote_id=shared["id"], name="Team (shared)", read_only=True)
    day = next_weekday(2)
    event_id = outlook.fake.add_event(
        outlook.oid,
        "Team day",
        datetime.combine(day, time(9)),
        datetime.combine(day, time(17)),
        calendar_id=shared["id"],
    )

    with pytest.raises(WriteRefused) as on_create:
        adapter.create_event(outlook.credentials, calendar, meeting(day), key=KEY, notify=True)
    with pytest.raises(WriteRefused) as on_update:
        adapter.update_event(outlook.credentials, calendar, EventRef(event_id), meeting(day), etag="", notify=True)

    assert str(on_create.value) == "Outlook does not let you change this calendar: you may only read it."
    assert on_create.value.permanent and on_update.value.permanent
    assert [event.fields["subject"] for event in outlook.fake.calendar_events.events.values()] == ["Team day"]


def test_it_passes_on_a_rate_limit_whose_wait_is_too_long_to_sleep_through(outlook):
    outlook.fake.path_faults.append(("/events", 429, "120"))

    with pytest.raises(RateLimited) as limited:
        create(outlook, meeting(next_weekday(1)))

    assert limited.value.retry_after == 120 and not limited.value.permanent
    assert outlook.fake.calendar_events.events == {}


def test_it_retries_a_brief_outage_and_creates_the_event_once(outlook):
    outlook.fake.path_faults.append(("/events", 503, None))

    result = create(outlook, meeting(next_weekday(1)))

    assert list(outlook.fake.calendar_events.events) == [result.provider_event_id]


def test_it_reports_a_lasting_outage_as_a_transient_error(outlook, settings):
    outlook.fake.faults.extend([(503, None)] * settings.PROVIDER_RETRY_ATTEMPTS)

    with pytest.raises(ProviderError) as failed:
        create(outlook, meeting(next_weekday(1)))

    assert not failed.value.permanent
    assert outlook.fake.calendar_events.events == {}


def test_it_raises_token_rejected_for_an_expired_access_token(outlook):
    outlook.fake.expire_access_tokens()

    with pytest.raises(TokenRejected):
        create(outlook, meeting(next_weekday(1)))


# --- fetch -----------------------------------------------------------------------------------------------


def test_it_fetches_the_providers_copy_as_the_inbound_sync_maps_it(outlook, series):
    master_id, day = series
    single_id = add_meeting(outlook, "Review", next_weekday(2))
    listed = {event.provider_event_id: event for event in outlook.sync()[0]}
    instance_id = outlook.fake.occurrence_id(master_id, berlin(day + timedelta(weeks=1), 9))

    def fetch(event_id):
        return adapter.fetch_event(outlook.credentials, outlook.calendar, event_id)

    assert fetch(single_id) == [listed[single_id]]
    assert fetch(master_id) == [listed[master_id]]
    assert fetch(instance_id) == [listed[instance_id]]
    outlook.fake.delete_event(single_id)
    assert fetch(single_id) == []
