"""The sync through the loopback Graph fake: series stored as master + occurrences, deleted occurrences and
series, Windows zone names, and what the week view then shows against the fake's own expansion."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from connections.models import CalendarConnection
from events.models import CalendarEvent, SyncOutcome
from events.selectors import occurrences_in_window
from events.sync import sync_connection
from tests.sync_helpers import graph_calendar

pytestmark = pytest.mark.django_db(transaction=True)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY_MONDAY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, "range": {"type": "noEnd"}}


@pytest.fixture
def graph(fake_microsoft, settings):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    return fake_microsoft


@pytest.fixture
def person(graph):
    return graph.add_user("olive@contoso.com", display_name="Olive Owner")


@pytest.fixture
def calendar(owner, graph, person) -> CalendarConnection:
    return graph_calendar(owner, graph, person)


def sync(calendar):
    result = sync_connection(connection=CalendarConnection.objects.get(pk=calendar.pk))
    calendar.refresh_from_db()
    return result


def monday(weeks_ahead: int = 1) -> date:
    today = datetime.now(UTC).date()
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7) + timedelta(weeks=weeks_ahead - 1)


def shown(calendar, start: date, days: int) -> list[tuple[str, datetime]]:
    window_start = datetime.combine(start, time(), BERLIN)
    occurrences = occurrences_in_window(
        connection_ids=[calendar.pk], start=window_start, end=window_start + timedelta(days=days), zone=BERLIN
    )
    return [(o.event.title, o.start.astimezone(UTC)) for o in occurrences]


def test_a_series_with_an_exception_and_a_deleted_occurrence_shows_as_outlook_has_it(graph, person, calendar):
    first = monday()
    series = graph.add_series(
        person.oid,
        "Planning",
        datetime.combine(first, time(9)),
        datetime.combine(first, time(10)),
        WEEKLY_MONDAY,
        time_zone="W. Europe Standard Time",
    )
    graph.update_occurrence(
        series,
        datetime.combine(first + timedelta(weeks=1), time(9)),
        start=datetime.combine(first + timedelta(weeks=1, days=1), time(14)),
        end=datetime.combine(first + timedelta(weeks=1, days=1), time(15)),
    )
    graph.delete_occurrence(series, datetime.combine(first + timedelta(weeks=2), time(9)))
    graph.add_event(
        person.oid,
        "Lunch",
        datetime.combine(first, time(12)),
        datetime.combine(first, time(13)),
        time_zone="Pacific Standard Time",
    )

    assert sync(calendar).outcome == SyncOutcome.OK
    master = CalendarEvent.objects.get(provider_event_id=series)
    assert master.recurrence.startswith("RRULE:FREQ=WEEKLY") and master.timezone == "Europe/Berlin"
    lunch = CalendarEvent.objects.get(title="Lunch")
    assert lunch.timezone == "America/Los_Angeles"

    expected = sorted(
        [
            ("Planning", start.astimezone(UTC))
            for _, start, _ in graph.occurrences(series, first + timedelta(weeks=5))
            if start.date() < first + timedelta(weeks=5)
        ]
        + [("Lunch", lunch.start)]
    )
    assert sorted(shown(calendar, first, 7 * 5)) == expected
    assert len([title for title, _ in expected if title == "Planning"]) == 4  # five Mondays, one deleted


def test_incremental_deletions_of_an_occurrence_and_of_the_series(graph, person, calendar):
    first = monday()
    series = graph.add_series(
        person.oid, "Planning", datetime.combine(first, time(9)), datetime.combine(first, time(10)), WEEKLY_MONDAY
    )
    sync(calendar)
    assert len(shown(calendar, first, 21)) == 3
    graph.delete_occurrence(series, datetime.combine(first + timedelta(weeks=1), time(9)))
    assert sync(calendar).full is False
    assert [start.date() for _, start in shown(calendar, first, 21)] == [first, first + timedelta(weeks=2)]
    graph.delete_event(series)
    assert sync(calendar).outcome == SyncOutcome.OK
    assert shown(calendar, first, 21) == []
    assert not CalendarEvent.objects.filter(provider_event_id=series, deleted_at__isnull=True).exists()


def test_an_expired_delta_token_leads_to_a_full_resync(graph, person, calendar):
    first = monday()
    graph.add_event(person.oid, "One", datetime.combine(first, time(9)), datetime.combine(first, time(10)))
    sync(calendar)
    graph.add_event(person.oid, "Two", datetime.combine(first, time(11)), datetime.combine(first, time(12)))
    graph.expire_delta_tokens()
    result = sync(calendar)
    assert (result.outcome, result.full) == (SyncOutcome.OK, True)
    assert sorted(title for title, _ in shown(calendar, first, 1)) == ["One", "Two"]
