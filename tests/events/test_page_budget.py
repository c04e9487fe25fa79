"""All the recurring series of one page share a budget (events.selectors.PageBudget): however many hostile
series a person's calendars hold (each invitation can bring one), a page draws and walks a bounded amount,
draws the ordinary series first, and says when it left occurrences out."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from events.selectors import MAX_STEPS_PER_PAGE
from tests.events.test_recurrence_bounds import DENSE, shown
from tests.events.test_recurrence_bounds import rule_steps as rule_steps  # a fixture, used by name
from tests.events.test_week_view import at, this_monday, week_url
from tests.factories import make_account, make_connection, make_event

NOTICE = "not all of them are shown"
HOSTILE_SERIES = 12


def hostile_calendar(owner, settings):
    settings.RECURRENCE_MAX_PER_PAGE = 1000
    calendar = make_connection(make_account(owner))
    monday = this_monday()
    year_ago = at(monday - timedelta(days=365), 9)
    hostile = [
        make_event(
            calendar,
            start=year_ago,
            end=year_ago + timedelta(minutes=1),
            recurrence=DENSE,
            title=f"Dense {n}",
            # as the ingest notes such a rule (events.mapping)
            provider_data={"problems": ["the series repeats up to 5,760 times a day: at most 48 a day are shown"]},
        )
        for n in range(HOSTILE_SERIES)
    ]
    weekly = make_event(
        calendar, start=at(monday - timedelta(days=70), 10), recurrence="RRULE:FREQ=DAILY", title="Daily stand-up"
    )
    return monday, hostile, weekly


def test_many_hostile_series_together_draw_and_walk_no_more_than_one_page_allows(
    owner, owner_client, settings, rule_steps
):
    monday, hostile, daily = hostile_calendar(owner, settings)
    page = owner_client.get(week_url(monday)).content.decode()
    drawn = sum(shown(page, event) for event in hostile)
    assert drawn <= 1000 + HOSTILE_SERIES  # the page's budget (an occurrence can reach into two days)
    assert drawn < HOSTILE_SERIES * 7 * 48  # what the series' own limits alone would have drawn
    assert rule_steps.count <= MAX_STEPS_PER_PAGE
    assert shown(page, daily) == 7  # ordinary series are drawn before the flagged ones use up the budget
    assert NOTICE in page


def test_a_week_whose_series_are_all_shown_says_nothing_of_limits(owner, owner_client):
    calendar = make_connection(make_account(owner))
    monday = this_monday()
    make_event(calendar, start=at(monday - timedelta(days=70), 10), recurrence="RRULE:FREQ=DAILY", title="Stand-up")
    page = owner_client.get(week_url(monday)).content.decode()
    assert NOTICE not in page


def test_the_week_says_so_when_one_series_is_cut_by_its_own_limits(owner, owner_client):
    calendar = make_connection(make_account(owner))
    monday = this_monday()
    year_ago = at(monday - timedelta(days=365), 9)
    make_event(calendar, start=year_ago, end=year_ago + timedelta(minutes=1), recurrence=DENSE, title="Dense")
    assert NOTICE in owner_client.get(reverse("week", args=[monday.isoformat()])).content.decode()
