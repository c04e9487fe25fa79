"""Data that could not be read is noted on the event and marked where the event is shown: a recurrence rule
with a typo or in another calendar scale (RSCALE), from any provider, and the week's mark and the detail
panel's list for every event whose `provider_data["problems"]` is not empty."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse

from connections.models import CalendarConnection
from connections.providers.base import RemoteEvent
from connections.providers.google.reading import remote_event
from events.mapping import event_row
from events.models import CalendarEvent, SyncOutcome
from events.sync import sync_connection
from tests.events.test_week_view import HTMX, at, count_queries, this_monday, week_url
from tests.factories import make_account, make_connection, make_event
from tests.sync_helpers import graph_calendar

MARK = "Some of this event's data could not be read"
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def calendar(owner):
    return make_connection(make_account(owner), name="Work", color="#0b8043")


@pytest.mark.parametrize(
    "rule",
    [
        "RRULE:FREQ=WEEKLY;BYDAYY=MO",  # a typo in a part's name
        "RRULE:RSCALE=CHINESE;FREQ=YEARLY;BYMONTH=1",  # RFC 7529: a lunar new year, not the 1st of January
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3;SKIP=OMIT",  # RFC 7529 with an end: was already noted
    ],
)
def test_an_unreadable_recurrence_rule_is_noted_on_the_event(rule):
    remote = RemoteEvent(provider_event_id="a", start=START, end=START + timedelta(hours=1), recurrence=(rule,))
    row = event_row(remote)
    assert row.fields["recurrence"] == rule  # kept as the provider wrote it, for when it becomes readable
    (problem,) = row.problems
    assert problem.startswith("the recurrence could not be read (unreadable RRULE")
    assert problem.endswith(": only the first occurrence is shown")
    assert row.fields["provider_data"]["problems"] == [problem]


def test_an_unreadable_recurrence_from_google_is_noted_the_same_way():
    item = {
        "id": "g1",
        "status": "confirmed",
        "summary": "Gym",
        "start": {"dateTime": "2026-03-02T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-02T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAYY=MO"],
    }
    row = event_row(remote_event(item, "Europe/Berlin"))
    (problem,) = row.problems
    assert problem.startswith("the recurrence could not be read (unreadable RRULE 'FREQ=WEEKLY;BYDAYY=MO')")


def test_the_week_marks_an_event_whose_data_could_not_be_read(owner_client, calendar):
    monday = this_monday()
    problems = ["the recurrence could not be read (unreadable RRULE 'FREQ=WEEKLY;BYDAYY=MO')"]
    flawed = make_event(
        calendar,
        start=at(monday, 9),
        title="Gym",
        recurrence="RRULE:FREQ=WEEKLY;BYDAYY=MO",
        provider_data={"problems": problems},
    )
    fine = make_event(calendar, start=at(monday, 11), title="Lunch", provider_data={"sequence": 2})
    page = owner_client.get(week_url(monday)).content.decode()
    links = {match[0]: match[1] for match in re.findall(r'data-event="(\d+)"(.*?)</a>', page, re.DOTALL)}
    assert MARK in links[str(flawed.pk)]
    assert "⚠" in links[str(flawed.pk)]
    assert MARK not in links[str(fine.pk)]


def test_the_mark_costs_no_query_per_event(owner_client, calendar):
    monday = this_monday()
    make_event(calendar, start=at(monday, 8), provider_data={"problems": ["unreadable DURATION ignored"]})
    one = count_queries(owner_client, week_url(monday))
    for day in range(7):
        for hour in (10, 12, 14):
            make_event(
                calendar,
                start=at(monday + timedelta(days=day), hour),
                provider_data={"problems": [f"unreadable GEO ignored ({day}, {hour})"]},
            )
    many = count_queries(owner_client, week_url(monday))
    assert one == many, (one, many)
    assert owner_client.get(week_url(monday)).content.decode().count(f'title="{MARK}"') == 22


def test_the_detail_panel_lists_what_could_not_be_read(owner_client, calendar):
    problems = ["unreadable DURATION ignored", "time zone 'W. Europe' read as <b>Europe/Berlin</b>"]
    event = make_event(calendar, start=at(this_monday(), 9), title="Planning", provider_data={"problems": problems})
    body = owner_client.get(reverse("event_detail", args=[event.pk]), **HTMX).content.decode()
    assert MARK in body
    assert '<li class="long-text">unreadable DURATION ignored</li>' in body
    assert "&lt;b&gt;Europe/Berlin&lt;/b&gt;" in body  # a provider's text, never markup

    plain = make_event(calendar, start=at(this_monday(), 11), title="Lunch")
    assert MARK not in owner_client.get(reverse("event_detail", args=[plain.pk]), **HTMX).content.decode()


# --- Microsoft Graph: the series master cannot be read, its occurrences can -------------------------------


@pytest.fixture
def outlook_calendar(owner, fake_microsoft, settings):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    person = fake_microsoft.add_user("olive@contoso.com", display_name="Olive Owner")
    calendar = graph_calendar(owner, fake_microsoft, person)
    return fake_microsoft, person, calendar


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_recurrence_from_graph_is_noted_on_each_occurrence_and_the_run(outlook_calendar):
    fake, person, calendar = outlook_calendar
    monday = this_monday() + timedelta(weeks=1)
    start = datetime.combine(monday, time(9))
    weekly = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, "range": {"type": "noEnd"}}
    master_id = fake.add_series(person.oid, "Team", start, start + timedelta(hours=1), weekly, time_zone="UTC")
    # A range type calsync does not know (Outlook's own expansion still lists every occurrence).
    fake.calendar_events.events[master_id].recurrence["range"]["type"] = "untilTheEndOfTime"

    result = sync_connection(connection=CalendarConnection.objects.get(pk=calendar.pk))

    assert result.outcome == SyncOutcome.OK
    occurrences = CalendarEvent.objects.filter(connection=calendar, deleted_at__isnull=True, title="Team")
    assert occurrences.count() > 50  # the window's Mondays, as Graph lists them
    problem = (
        "the series' recurrence could not be read (unknown recurrence range type 'untilTheEndOfTime'): "
        "occurrences as Outlook lists them"
    )
    assert all(occurrence.provider_data["problems"] == [problem] for occurrence in occurrences)
    assert any(note.endswith(problem) for note in result.notes)
