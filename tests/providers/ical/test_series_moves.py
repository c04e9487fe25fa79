"""A whole series moved in time keeps its exceptions.

Moving "all occurrences" must move what names single occurrences with the series: EXDATEs, a date-time
UNTIL, the RECURRENCE-IDs of overrides (CalDAV); the same wall-clock distance in the series' zone, so a
move across a DST change keeps every occurrence on its clock. Each test moves a series the way the week view
does (the move view, "all occurrences"), pushes it with the real push engine to Radicale, and then compares
three things occurrence by occurrence: what the server holds (its resource expanded by
recurring-ical-events), what calsync's stored rows expand to (the week view's selector), and what was meant.
The echo sync must change nothing of it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from connections.models import CalendarConnection
from connections.providers.ical.series_moves import InexactMove, SeriesMove
from events.drafts import draft_of_row
from events.edits import EditRefused, change_discard, event_update
from events.models import CalendarEvent, ChangeScope, ChangeStatus, EventChange
from events.push import connection_push
from events.selectors import occurrences_in_window
from events.sync import sync_connection
from tests.events.test_push import google_world, microsoft_world
from tests.sync_helpers import caldav_work_calendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# The series runs from before Europe's DST change (29 March 2026) to after it.
FIRST = date(2026, 3, 23)
WINDOW = (datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC))

TIMED_SERIES = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260301T080000Z\r
DTSTART;TZID=Europe/Berlin:20260323T090000\r
DTEND;TZID=Europe/Berlin:20260323T093000\r
RRULE:{rule}\r
EXDATE;TZID=Europe/Berlin:20260325T090000\r
EXDATE:20260331T070000Z\r
SUMMARY:Stand-up\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260301T080000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20260327T090000\r
DTSTART;TZID=Europe/Berlin:20260327T140000\r
DTEND;TZID=Europe/Berlin:20260327T143000\r
SUMMARY:Stand-up (moved)\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260301T080000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20260330T090000\r
DTSTART;TZID=Europe/Berlin:20260330T090000\r
DTEND;TZID=Europe/Berlin:20260330T093000\r
SUMMARY:Stand-up (agenda)\r
END:VEVENT\r
END:VCALENDAR\r
"""
# Daily from 23 March to 3 April at 09:00 Berlin; 25 and 31 March cancelled (the second EXDATE in UTC, after
# the DST change); 27 March moved to 14:00; 30 March changed (its title) but not moved.
CANCELLED = {date(2026, 3, 25), date(2026, 3, 31)}
MOVED = date(2026, 3, 27)
CHANGED = date(2026, 3, 30)
DAYS = [FIRST + timedelta(days=n) for n in range(12)]
UNTIL_RULE = "FREQ=DAILY;UNTIL=20260403T070000Z"  # a date-time UNTIL: exactly the last occurrence's start
COUNT_RULE = "FREQ=DAILY;COUNT=12"

ALL_DAY_SERIES = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260301T080000Z\r
DTSTART;VALUE=DATE:20260323\r
DTEND;VALUE=DATE:20260324\r
RRULE:FREQ=DAILY;UNTIL=20260403\r
EXDATE;VALUE=DATE:20260325,20260331\r
SUMMARY:Duty\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260301T080000Z\r
RECURRENCE-ID;VALUE=DATE:20260327\r
DTSTART;VALUE=DATE:20260410\r
DTEND;VALUE=DATE:20260411\r
SUMMARY:Duty (moved)\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260301T080000Z\r
RECURRENCE-ID;VALUE=DATE:20260330\r
DTSTART;VALUE=DATE:20260330\r
DTEND;VALUE=DATE:20260331\r
SUMMARY:Duty (swap)\r
END:VEVENT\r
END:VCALENDAR\r
"""

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Shown = list[tuple[datetime | date, str]]


@pytest.fixture
def caldav(owner, caldav_account, settings) -> CalendarConnection:
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    settings.PROVIDER_RETRY_ATTEMPTS = 1
    return caldav_work_calendar(owner, caldav_account)


def put(caldav_account, text: str) -> str:
    url = caldav_account.calendars["Work"] + "series.ics"
    with caldav_account.client() as client:
        assert client.put(url, text, {"Content-Type": "text/calendar; charset=utf-8"}).status in (201, 204)
    return url


def at_server(caldav_account, url: str, window: tuple[datetime, datetime] = WINDOW) -> Shown:
    """The server's resource expanded by recurring-ical-events: (start, title) of every occurrence."""
    with caldav_account.client() as client:
        response = client.request(url)
    calendar = icalendar.Calendar.from_ical(response.raw)
    found: Shown = []
    for vevent in recurring_ical_events.of(calendar).between(*window):
        start = vevent["DTSTART"].dt
        found.append((start.astimezone(BERLIN) if isinstance(start, datetime) else start, str(vevent["SUMMARY"])))
    return sorted(found, key=_order)


def in_calsync(connection: CalendarConnection, window: tuple[datetime, datetime] = WINDOW) -> Shown:
    """calsync's stored rows expanded as the week view expands them."""
    found: Shown = []
    shown = occurrences_in_window(connection_ids=[connection.pk], start=window[0], end=window[1], zone=BERLIN)
    for occurrence in shown:
        start = occurrence.start.date() if occurrence.all_day else occurrence.start.astimezone(BERLIN)
        found.append((start, occurrence.event.title))
    return sorted(found, key=_order)


def _order(item: tuple[datetime | date, str]) -> tuple[datetime, str]:
    start = item[0]
    moment = start if isinstance(start, datetime) else datetime.combine(start, time(0), tzinfo=BERLIN)
    return moment, item[1]


def meant_timed(move: timedelta, *, zone: ZoneInfo = BERLIN) -> Shown:
    """The series as meant after a move by `move` on the wall clock: every occurrence at 09:00 + `move` in
    `zone`, the cancelled ones still cancelled, the moved one where it was moved to, the changed one moved."""
    shown: Shown = []
    for day in DAYS:
        if day in CANCELLED:
            continue
        if day == MOVED:
            shown.append((datetime(2026, 3, 27, 14, tzinfo=BERLIN), "Stand-up (moved)"))
            continue
        start = (datetime.combine(day, time(9)) + move).replace(tzinfo=zone).astimezone(BERLIN)
        shown.append((start, "Stand-up (agenda)" if day == CHANGED else "Stand-up"))
    return sorted(shown, key=_order)


def meant_all_day(days: int) -> Shown:
    shown: Shown = [(date(2026, 4, 10), "Duty (moved)")]
    for day in DAYS:
        if day in CANCELLED or day == MOVED:
            continue
        shown.append((day + timedelta(days=days), "Duty (swap)" if day == CHANGED else "Duty"))
    return sorted(shown, key=_order)


def synced_series(connection: CalendarConnection) -> CalendarEvent:
    sync_connection(connection=CalendarConnection.objects.get(pk=connection.pk))
    return CalendarEvent.objects.get(connection=connection, deleted_at__isnull=True, recurrence__gt="")


def move_in_week_view(owner_client, series: CalendarEvent, occurrence: datetime, new_start: str) -> None:
    """Drag one occurrence to `new_start` (the person's wall clock) and choose "all occurrences"."""
    response = owner_client.post(
        f"/events/{series.pk}/move/",
        {"at": occurrence.isoformat(), "start": new_start, "scope": ChangeScope.EVENT},
    )
    assert response.status_code == 302


def push_and_echo(connection: CalendarConnection) -> None:
    pushed = connection_push(connection=CalendarConnection.objects.get(pk=connection.pk))
    assert (pushed.pushed, pushed.failed, pushed.conflicts) == (1, 0, 0)


def assert_everywhere(connection: CalendarConnection, caldav_account, url: str, meant: Shown) -> None:
    assert at_server(caldav_account, url) == meant
    assert in_calsync(connection) == meant
    echo = sync_connection(connection=CalendarConnection.objects.get(pk=connection.pk))
    assert (echo.created, echo.updated, echo.deleted) == (0, 0, 0)
    assert in_calsync(connection) == meant
    # Nothing stored beside what the server holds: the overrides under their new ids, no orphans.
    stored = CalendarEvent.objects.filter(connection=connection, deleted_at__isnull=True)
    fresh = sync_connection(connection=CalendarConnection.objects.get(pk=connection.pk), full=True)
    assert (fresh.created, fresh.deleted) == (0, 0)
    assert stored.count() == 3  # the master and its two overrides


@pytest.mark.parametrize(
    ("rule", "dragged", "new_start", "move"),
    [
        # An hour later, dragged from the first occurrence (before the DST change).
        (UNTIL_RULE, datetime(2026, 3, 23, 9, tzinfo=BERLIN), "2026-03-23T10:00", timedelta(hours=1)),
        # An hour earlier, dragged from an occurrence after the DST change.
        (UNTIL_RULE, datetime(2026, 4, 1, 9, tzinfo=BERLIN), "2026-04-01T08:00", timedelta(hours=-1)),
        # A day later: every occurrence, the cancelled ones and the last one a day later.
        (UNTIL_RULE, datetime(2026, 3, 24, 9, tzinfo=BERLIN), "2026-03-25T09:00", timedelta(days=1)),
        (COUNT_RULE, datetime(2026, 3, 23, 9, tzinfo=BERLIN), "2026-03-23T10:30", timedelta(hours=1, minutes=30)),
        (COUNT_RULE, datetime(2026, 3, 26, 9, tzinfo=BERLIN), "2026-03-28T07:00", timedelta(days=2, hours=-2)),
    ],
    ids=["hour-later-across-dst", "hour-earlier-from-summer", "day-later-until", "count-later", "count-days"],
)
def test_a_series_moved_in_the_week_view_keeps_its_cancelled_moved_and_changed_occurrences_and_its_end(
    owner, owner_client, caldav, caldav_account, rule, dragged, new_start, move
):
    url = put(caldav_account, TIMED_SERIES.format(uid="stand-up-1", rule=rule))
    series = synced_series(caldav)
    assert at_server(caldav_account, url) == meant_timed(timedelta(0)) == in_calsync(caldav)

    move_in_week_view(owner_client, series, dragged.astimezone(UTC), new_start)
    assert in_calsync(caldav) == meant_timed(move)  # shown at once, before the push
    push_and_echo(caldav)

    assert_everywhere(caldav, caldav_account, url, meant_timed(move))


def test_an_all_day_series_moved_by_a_day_keeps_its_cancelled_moved_and_changed_days_and_its_end(
    owner, owner_client, caldav, caldav_account
):
    url = put(caldav_account, ALL_DAY_SERIES.format(uid="duty-1"))
    series = synced_series(caldav)
    assert at_server(caldav_account, url) == meant_all_day(0) == in_calsync(caldav)

    move_in_week_view(owner_client, series, datetime(2026, 3, 24, tzinfo=UTC), "2026-03-25T00:00")
    assert in_calsync(caldav) == meant_all_day(1)
    push_and_echo(caldav)

    assert_everywhere(caldav, caldav_account, url, meant_all_day(1))


def test_a_series_moved_to_another_zone_keeps_its_wall_clock_there(owner, caldav, caldav_account):
    url = put(caldav_account, TIMED_SERIES.format(uid="stand-up-2", rule=UNTIL_RULE))
    series = synced_series(caldav)
    draft = draft_of_row(series)
    # The same 09:00, now in New York (whose DST began on 8 March): every occurrence, in its new zone.
    start = datetime.combine(FIRST, time(9), tzinfo=NEW_YORK)
    moved = type(draft)(
        title=draft.title,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="America/New_York",
        recurrence=draft.recurrence,
    )
    event_update(event=series, draft=moved, actor=owner)
    meant = meant_timed(timedelta(0), zone=NEW_YORK)
    # The moved override keeps its own time; the rest is 09:00 New York.
    assert in_calsync(caldav) == meant
    push_and_echo(caldav)

    assert_everywhere(caldav, caldav_account, url, meant)


# -- the move itself, value by value ---------------------------------------------------------------------


def test_utc_values_are_moved_on_the_series_wall_clock_across_dst():
    move = SeriesMove.between(datetime(2026, 3, 23, 9, tzinfo=BERLIN), datetime(2026, 3, 23, 10, tzinfo=BERLIN))
    assert move is not None
    lines = move.moved_lines(
        (
            "RRULE:FREQ=DAILY;UNTIL=20260403T070000Z",  # 09:00 CEST
            "EXDATE:20260328T080000Z",  # 09:00 CET
            "EXDATE;TZID=Europe/Berlin:20260330T090000,20260401T090000",
            "RDATE;VALUE=DATE:20260501",
            "RDATE;TZID=Europe/Berlin:20260410T090000",
        )
    )
    assert lines == (
        "RRULE:FREQ=DAILY;UNTIL=20260403T080000Z",
        "EXDATE:20260328T090000Z",
        "EXDATE;TZID=Europe/Berlin:20260330T100000,20260401T100000",
        "RDATE;VALUE=DATE:20260501",  # a date moves by whole days only
        "RDATE;TZID=Europe/Berlin:20260410T100000",
    )


def test_a_move_into_another_zone_places_each_value_on_the_new_zones_clock():
    move = SeriesMove.between(datetime(2026, 3, 23, 9, tzinfo=BERLIN), datetime(2026, 3, 23, 9, tzinfo=NEW_YORK))
    assert move is not None
    assert move.moved(datetime(2026, 3, 28, 8, tzinfo=UTC)) == datetime(2026, 3, 28, 13, tzinfo=UTC)
    assert move.moved(datetime(2026, 3, 30, 9, tzinfo=BERLIN)) == datetime(2026, 3, 30, 9, tzinfo=NEW_YORK)


def test_a_series_that_did_not_move_or_changed_kind_moves_nothing():
    same = datetime(2026, 3, 23, 9, tzinfo=BERLIN)
    assert SeriesMove.between(same, same) is None
    assert SeriesMove.between(date(2026, 3, 23), same) is None
    days = SeriesMove.between(date(2026, 3, 23), date(2026, 3, 25))
    assert days is not None and days.moved(date(2026, 4, 3)) == date(2026, 4, 5)


# -- Microsoft Graph ---------------------------------------------------------------------------------------
# Outlook keeps a series' exceptions in its recurrence blob and removes every one of them, changed and
# deleted alike, when the series' pattern or start changes ([MS-OXOCAL] 3.1.4.7.3.5, "Updating a Recurring
# Series"; Outlook warns "any exceptions associated with this recurring appointment will be lost"). The fake
# does so (fakes/microsoft_calendar.py, EventStore.update); calsync must then show what Outlook holds.


def graph_series(fake_microsoft, world) -> str:
    oid = world.connection.account.external_id
    master = fake_microsoft.add_series(
        oid,
        "Stand-up",
        datetime(2026, 3, 23, 9, tzinfo=BERLIN),
        datetime(2026, 3, 23, 9, 30, tzinfo=BERLIN),
        {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "endDate", "endDate": "2026-04-03"}},
        time_zone="Europe/Berlin",
    )
    for day in sorted(CANCELLED):
        fake_microsoft.delete_occurrence(master, day)
    fake_microsoft.update_occurrence(
        master,
        MOVED,
        start=datetime(2026, 3, 27, 14, tzinfo=BERLIN),
        end=datetime(2026, 3, 27, 14, 30, tzinfo=BERLIN),
        subject="Stand-up (moved)",
    )
    fake_microsoft.update_occurrence(master, CHANGED, subject="Stand-up (agenda)")
    return master


def at_graph(fake_microsoft, connection: CalendarConnection) -> Shown:
    """What Graph's calendar view holds: (start, subject) of every occurrence and exception."""
    with fake_microsoft.lock:
        view = fake_microsoft.calendar_events.view(connection.remote_id, WINDOW)
        found = [
            (
                instance.start.astimezone(BERLIN),
                str(
                    (instance.override.fields if instance.override else {}).get("subject")
                    or instance.event.fields["subject"]
                ),
            )
            for instance in view.values()
        ]
    return sorted(found, key=_order)


def test_a_graph_series_moved_in_time_shows_what_outlook_keeps_of_it(owner, owner_client, fake_microsoft, settings):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    world = microsoft_world(owner, fake_microsoft)
    connection = world.connection
    graph_series(fake_microsoft, world)
    series = synced_series(connection)
    assert at_graph(fake_microsoft, connection) == meant_timed(timedelta(0)) == in_calsync(connection)

    move_in_week_view(owner_client, series, datetime(2026, 3, 23, 8, tzinfo=UTC), "2026-03-23T10:00")
    push_and_echo(connection)

    # Outlook dropped the exceptions: every occurrence at 10:00, the cancelled ones back, none changed.
    held = [(datetime.combine(day, time(10), tzinfo=BERLIN), "Stand-up") for day in DAYS]
    assert at_graph(fake_microsoft, connection) == held
    sync_connection(connection=CalendarConnection.objects.get(pk=connection.pk))
    assert in_calsync(connection) == held
    # Graph names occurrences by their original start: the old ones were removed, and a full listing
    # sweeps what is left of them without changing what is shown.
    fresh = sync_connection(connection=CalendarConnection.objects.get(pk=connection.pk), full=True)
    assert fresh.created == 0
    assert in_calsync(connection) == held


# -- Google Calendar ---------------------------------------------------------------------------------------
# Google names an exception by its occurrence's original start, which is immutable, and does not document
# what it does with exceptions whose original start is no longer an occurrence. The fake keeps them as they
# are; calsync carries them to the moved occurrences itself, so Google holds the series as it was meant.

GOOGLE_SERIES = "standup0123"


def google_series(fake_google, calendar_id: str, rule: str) -> None:
    def at(day: date, hour: int = 9, minute: int = 0) -> dict[str, str]:
        moment = datetime.combine(day, time(hour, minute), tzinfo=BERLIN)
        return {"dateTime": moment.isoformat(), "timeZone": "Europe/Berlin"}

    fake_google.put_event(
        calendar_id,
        {
            "id": GOOGLE_SERIES,
            "summary": "Stand-up",
            "start": at(FIRST),
            "end": at(FIRST, 9, 30),
            "recurrence": [f"RRULE:{rule}"],
        },
    )
    for day in sorted(CANCELLED):
        fake_google.cancel_occurrence(calendar_id, GOOGLE_SERIES, at(day))
    fake_google.put_exception(
        calendar_id, GOOGLE_SERIES, at(MOVED), start=at(MOVED, 14), end=at(MOVED, 14, 30), summary="Stand-up (moved)"
    )
    fake_google.put_exception(calendar_id, GOOGLE_SERIES, at(CHANGED), summary="Stand-up (agenda)")


def at_google(fake_google, calendar_id: str) -> Shown:
    """What Google holds, expanded: the series' occurrences less those its exceptions replace, and the live
    exceptions at their own times (one whose original start is no longer an occurrence still shows)."""
    kept = fake_google.kept_events(calendar_id)
    master = kept[GOOGLE_SERIES]
    vevent = icalendar.Event()
    vevent.add("DTSTART", _google_instant(master["start"]))
    vevent.add("DTEND", _google_instant(master["end"]))
    vevent.add("SUMMARY", master["summary"])
    for line in master["recurrence"]:
        name, _, value = line.partition(":")
        vevent.add(name, icalendar.vRecur.from_ical(value))
    calendar = icalendar.Calendar()
    calendar.add_component(vevent)
    exceptions = [item for item in kept.values() if item.get("recurringEventId") == GOOGLE_SERIES]
    replaced = {_google_instant(item["originalStartTime"]) for item in exceptions}
    shown: Shown = [
        (occurrence["DTSTART"].dt.astimezone(BERLIN), str(occurrence["SUMMARY"]))
        for occurrence in recurring_ical_events.of(calendar).between(*WINDOW)
        if occurrence["DTSTART"].dt not in replaced
    ]
    shown += [
        (_google_instant(item["start"]).astimezone(BERLIN), str(item["summary"]))
        for item in exceptions
        if item.get("status") != "cancelled"
    ]
    return sorted(shown, key=_order)


def _google_instant(value: dict[str, str]) -> datetime:
    return datetime.fromisoformat(value["dateTime"]).astimezone(ZoneInfo(value.get("timeZone") or "UTC"))


@pytest.mark.parametrize(
    ("rule", "dragged", "new_start", "move"),
    [
        (UNTIL_RULE, datetime(2026, 3, 23, 9, tzinfo=BERLIN), "2026-03-23T10:00", timedelta(hours=1)),
        (COUNT_RULE, datetime(2026, 3, 24, 9, tzinfo=BERLIN), "2026-03-25T09:00", timedelta(days=1)),
    ],
    ids=["hour-later-across-dst", "day-later-count"],
)
def test_a_google_series_moved_in_time_takes_its_exceptions_along_at_google_and_in_calsync(
    owner, owner_client, fake_google, settings, rule, dragged, new_start, move
):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    connection = google_world(owner, fake_google).connection
    google_series(fake_google, connection.remote_id, rule)
    series = synced_series(connection)
    assert at_google(fake_google, connection.remote_id) == meant_timed(timedelta(0)) == in_calsync(connection)

    move_in_week_view(owner_client, series, dragged.astimezone(UTC), new_start)
    push_and_echo(connection)

    assert at_google(fake_google, connection.remote_id) == meant_timed(move)
    assert in_calsync(connection) == meant_timed(move)
    echo = sync_connection(connection=CalendarConnection.objects.get(pk=connection.pk))
    assert (echo.created, echo.deleted) == (0, 0)
    assert in_calsync(connection) == meant_timed(move)
    fresh = sync_connection(connection=CalendarConnection.objects.get(pk=connection.pk), full=True)
    assert (fresh.created, fresh.deleted) == (0, 0)
    assert in_calsync(connection) == meant_timed(move)


def test_weekdays_of_a_rule_follow_a_series_moved_by_days():
    move = SeriesMove.between(datetime(2026, 3, 23, 9, tzinfo=BERLIN), datetime(2026, 3, 24, 9, tzinfo=BERLIN))
    assert move is not None
    assert move.moved_lines(("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6",)) == ("RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=TU,TH",)
    # "The 2nd Sunday" a day later is "the 2nd Monday" except in months starting on a Monday: not said exactly.
    with pytest.raises(InexactMove):
        move.moved_lines(("RRULE:FREQ=MONTHLY;BYDAY=2SU",))
    later = SeriesMove.between(datetime(2026, 3, 23, 9, tzinfo=BERLIN), datetime(2026, 3, 23, 11, tzinfo=BERLIN))
    assert later is not None and later.moved_lines(("RRULE:FREQ=WEEKLY;BYDAY=MO,WE",)) == (
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE",
    )


# -- rules that name days of the month and hours -------------------------------------------------------------

RULE_SERIES = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T080000Z\r
DTSTART;TZID=Europe/Berlin:{start}\r
DTEND;TZID=Europe/Berlin:{end}\r
RRULE:{rule}\r
EXDATE;TZID=Europe/Berlin:{cancelled}\r
SUMMARY:Review\r
END:VEVENT\r
END:VCALENDAR\r
"""
HALF_YEAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


def berlin(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("rule", "cancelled", "new_start", "meant"),
    [
        # The 15th of each month, March's cancelled; moved a day later: the 16th, March's still cancelled.
        (
            "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6",
            "20260315T090000",
            "2026-01-16T09:00",
            [berlin(date(2026, month, 16), 9) for month in (1, 2, 4, 5, 6)],
        ),
        # Daily at 09:00 (said by BYHOUR), the 25th cancelled; moved an hour later: 10:00, the 25th still off.
        (
            "FREQ=DAILY;BYHOUR=9;COUNT=5",
            "20260325T090000",
            "2026-03-23T10:00",
            [berlin(date(2026, 3, day), 10) for day in (23, 24, 26, 27)],
        ),
    ],
    ids=["monthly-bymonthday-day-later", "daily-byhour-hour-later"],
)
def test_a_series_whose_rule_names_days_of_the_month_or_hours_moves_them_with_its_cancelled_occurrences(
    owner, owner_client, caldav, caldav_account, rule, cancelled, new_start, meant
):
    start = "20260115T090000" if "MONTHLY" in rule else "20260323T090000"
    end = start[:-4] + "3000"
    url = put(caldav_account, RULE_SERIES.format(uid="review-1", start=start, end=end, rule=rule, cancelled=cancelled))
    series = synced_series(caldav)
    move_in_week_view(owner_client, series, series.start, new_start)
    shown = [(moment, "Review") for moment in meant]
    assert in_calsync(caldav, HALF_YEAR) == shown
    push_and_echo(caldav)
    assert at_server(caldav_account, url, HALF_YEAR) == shown
    assert in_calsync(caldav, HALF_YEAR) == shown
    echo = sync_connection(connection=CalendarConnection.objects.get(pk=caldav.pk))
    assert (echo.created, echo.updated, echo.deleted) == (0, 0, 0)
    assert in_calsync(caldav, HALF_YEAR) == shown


def test_a_series_move_its_rule_cannot_say_is_refused_and_changes_nothing(owner, caldav, caldav_account):
    # The 31st of each month: a day later would be the 1st after 31-day months only.
    url = put(
        caldav_account,
        RULE_SERIES.format(
            uid="review-2",
            start="20260131T090000",
            end="20260131T093000",
            rule="FREQ=MONTHLY;BYMONTHDAY=31;COUNT=4",
            cancelled="20260331T090000",
        ),
    )
    series = synced_series(caldav)
    before = in_calsync(caldav, HALF_YEAR)
    assert [moment.day for moment, _ in before] == [31, 31]  # January and May (March cancelled)
    later = replace(draft_of_row(series), start=series.start + timedelta(days=1), end=series.end + timedelta(days=1))
    with pytest.raises(EditRefused, match="repeat rule cannot say"):
        event_update(event=series, draft=later, actor=owner)
    assert in_calsync(caldav, HALF_YEAR) == before == at_server(caldav_account, url, HALF_YEAR)
    assert not EventChange.objects.filter(connection=caldav).exists()


def test_a_discarded_series_move_puts_the_series_and_every_exception_back(owner, owner_client, caldav, caldav_account):
    put(caldav_account, TIMED_SERIES.format(uid="stand-up-3", rule=UNTIL_RULE))
    series = synced_series(caldav)
    before = in_calsync(caldav)
    assert before == meant_timed(timedelta(0))
    move_in_week_view(owner_client, series, datetime(2026, 3, 24, 8, tzinfo=UTC), "2026-03-25T09:00")
    assert in_calsync(caldav) == meant_timed(timedelta(days=1))
    # The push failed for good (the person sees it failed and discards it).
    change = EventChange.objects.get(event=series)
    EventChange.objects.filter(pk=change.pk).update(status=ChangeStatus.FAILED, last_error="refused")

    change_discard(change=EventChange.objects.get(pk=change.pk), actor=owner)

    assert in_calsync(caldav) == before
    originals = CalendarEvent.objects.filter(recurring_event=series).values_list("original_start", flat=True)
    assert sorted(moment.astimezone(BERLIN).date() for moment in originals if moment) == [MOVED, CHANGED]


def test_a_google_exception_carried_with_its_series_keeps_its_guests_reminders_and_colour(
    owner, owner_client, fake_google, settings
):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    connection = google_world(owner, fake_google).connection
    google_series(fake_google, connection.remote_id, UNTIL_RULE)
    own = {
        "attendees": [{"email": "guest@example.org", "responseStatus": "accepted"}],
        "reminders": {"useDefault": False, "overrides": [{"method": "popup", "minutes": 5}]},
        "colorId": "5",
        "transparency": "transparent",
        "extendedProperties": {"private": {"room": "4.12"}},
    }
    agenda = {"dateTime": berlin(CHANGED, 9).isoformat(), "timeZone": "Europe/Berlin"}
    fake_google.put_exception(connection.remote_id, GOOGLE_SERIES, agenda, summary="Stand-up (agenda)", **own)
    series = synced_series(connection)

    move_in_week_view(owner_client, series, datetime(2026, 3, 23, 8, tzinfo=UTC), "2026-03-23T10:00")
    push_and_echo(connection)

    assert at_google(fake_google, connection.remote_id) == meant_timed(timedelta(hours=1))
    kept = fake_google.kept_events(connection.remote_id).values()
    (carried,) = [item for item in kept if item.get("summary") == "Stand-up (agenda)"]
    assert carried["start"]["dateTime"].startswith("2026-03-30T10:00")
    assert {name: carried.get(name) for name in own} == own
