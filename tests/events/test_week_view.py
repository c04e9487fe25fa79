"""The week view and event details as served: URLs that name weeks, htmx fragments, hidden calendars,
hostile event content, sync status, bounded queries, and the security headers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from accounts.models import User
from connections.models import AccountStatus, SyncState
from events.week import week_start_for
from tests.factories import make_account, make_connection, make_event

BERLIN = ZoneInfo("Europe/Berlin")
HTMX = {"HTTP_HX_REQUEST": "true"}


def this_monday() -> date:
    return week_start_for(now().astimezone(BERLIN).date(), 0)


def week_url(day: date) -> str:
    return reverse("week", kwargs={"day": day.isoformat()})


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def calendar(owner):
    return make_connection(make_account(owner), name="Work", color="#0b8043")


def test_the_signed_in_home_page_is_this_week(owner_client, calendar):
    make_event(calendar, start=at(this_monday(), 9), title="Planning")
    page = owner_client.get("/").content.decode()
    assert "Planning" in page and 'aria-label="Weeks"' in page
    assert f'value="{this_monday().isoformat()}"' in page  # the date picker shows the week


def test_anonymous_visitors_get_the_landing_page_and_week_urls_ask_them_to_sign_in(client, db):
    assert "All your calendars, one week view." in client.get("/").content.decode()
    response = client.get(week_url(this_monday()))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_any_day_redirects_to_its_week_and_a_sunday_start_is_honoured(owner_client, owner):
    response = owner_client.get(week_url(date(2026, 11, 26)))  # a Thursday
    assert (response.status_code, response["Location"]) == (302, week_url(date(2026, 11, 23)))
    User.objects.filter(pk=owner.pk).update(week_start=6)
    response = owner_client.get(week_url(date(2026, 11, 26)))
    assert response["Location"] == week_url(date(2026, 11, 22))
    page = owner_client.get(week_url(date(2026, 11, 22))).content.decode()
    assert re.search(r'class="dow">Sun</span>.*class="dow">Sat</span>', page, re.S)


@pytest.mark.parametrize("day", ["2026-13-01", "tomorrow", "1899-12-25", "2201-01-05"])
def test_a_week_that_is_no_date_is_not_found(owner_client, day):
    assert owner_client.get(f"/week/{day}/").status_code == 404


def test_the_date_picker_goes_to_the_week_of_the_chosen_day(owner_client):
    response = owner_client.get(reverse("week_pick"), {"date": "2027-02-17"})
    assert response["Location"] == week_url(date(2027, 2, 15))
    assert owner_client.get(reverse("week_pick"), {"date": "soon"})["Location"] == reverse("home")


def test_htmx_navigation_gets_the_week_alone_with_its_title(owner_client, calendar):
    monday = this_monday() + timedelta(days=7)
    make_event(calendar, start=at(monday, 11), title="Review next week")
    response = owner_client.get(week_url(monday), **HTMX)
    body = response.content.decode()
    assert "<html" not in body and "Review next week" in body and "<title>Week of" in body
    assert "HX-Request" in response["Vary"]  # caches must not serve the fragment for the page
    # History restoration asks for the whole page.
    restored = owner_client.get(week_url(monday), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in restored.content.decode()


def test_an_event_spanning_the_weeks_edge_shows_in_both_weeks(owner_client, calendar):
    sunday_night = at(this_monday() + timedelta(days=6), 22)
    make_event(calendar, start=sunday_night, end=sunday_night + timedelta(hours=4), title="Night train")
    assert "Night train" in owner_client.get(week_url(this_monday())).content.decode()
    assert "Night train" in owner_client.get(week_url(this_monday() + timedelta(days=7))).content.decode()


def test_a_hidden_calendar_is_left_out_and_remembered(owner_client, owner, calendar):
    other = make_connection(calendar.account, name="Family", remote_id="family")
    make_event(calendar, start=at(this_monday(), 9), title="Work thing")
    make_event(other, start=at(this_monday(), 10), title="Family thing")
    url = reverse("calendar_visibility", args=[other.pk])
    response = owner_client.post(url, {"shown": "0", "next": week_url(this_monday())})
    assert response["Location"] == week_url(this_monday())
    page = owner_client.get(week_url(this_monday())).content.decode()
    assert "Work thing" in page and "Family thing" not in page
    assert 'aria-pressed="false"' in page  # the legend still lists it, as hidden
    owner_client.post(url, {"shown": "1", "next": "https://evil.example/"})
    assert "Family thing" in owner_client.get("/").content.decode()


def test_hiding_someone_elses_calendar_is_refused(client, stranger, calendar):
    from tests.conftest import PASSWORD

    client.login(email=stranger.email, password=PASSWORD)
    response = client.post(reverse("calendar_visibility", args=[calendar.pk]), {"shown": "0"})
    assert response.status_code == 404
    calendar.refresh_from_db()
    assert calendar.shown_in_week


def test_a_person_without_calendars_is_led_to_connect_one(owner_client):
    page = owner_client.get("/").content.decode()
    assert "Connect your first calendar" in page and reverse("connections") in page


def test_the_sync_state_shows_with_sync_now_and_a_reconnect_link(owner_client, owner, calendar):
    broken = make_connection(
        make_account(owner, external_id="second", email="second@example.com", status=AccountStatus.NEEDS_RECONNECT),
        name="Old account",
        remote_id="old",
    )
    calendar.sync_status, calendar.last_error = SyncState.ERROR, "Google events: server error 503"
    calendar.save()
    page = owner_client.get("/").content.decode()
    assert "2 calendars need attention" in page
    assert "Sync failed" in page and f"/connections/calendars/{calendar.pk}/sync/" in page
    assert f"#account-{broken.account_id}" in page and "Needs reconnecting" in page
    assert f"/connections/calendars/{broken.pk}/sync/" not in page  # nothing to sync until reconnected


def test_sync_now_from_the_week_comes_back_to_the_week(owner_client, calendar, eager_celery):
    response = owner_client.post(
        reverse("connections_calendar_sync", args=[calendar.pk]), {"next": week_url(this_monday())}
    )
    assert response["Location"] == week_url(this_monday())
    response = owner_client.post(reverse("connections_calendar_sync", args=[calendar.pk]), {"next": "//evil.example/"})
    assert response["Location"] == reverse("connections")


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_the_details_show_every_field_as_text(owner_client, calendar):
    event = make_event(
        calendar,
        start=at(this_monday(), 9),
        title=HOSTILE,
        location="\u202eevil.exe " + HOSTILE,
        description=f"Agenda: https://example.com/doc?a=1&b=2\n{HOSTILE}\njavascript:alert(1)",
        metadata={
            "attendees": [
                {"email": "ana@example.com", "name": "Ana", "response": "accepted"},
                {"email": "bo@example.com", "name": HOSTILE, "response": "declined", "optional": True},
                {"email": "cy@example.com", "response": "needsAction"},
            ],
            "organizer": {"email": "ana@example.com", "name": "Ana"},
            "conference_url": "https://meet.google.com/abc-defg-hij",
            "html_link": "javascript:alert(document.cookie)",
        },
    )
    body = owner_client.get(reverse("event_detail", args=[event.pk]), **HTMX).content.decode()
    assert "<script>" not in body and "<img" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert '<a href="https://example.com/doc?a=1&amp;b=2" rel="nofollow">' in body  # links made clickable
    assert 'href="javascript:' not in body  # a provider link that is not https is not a link
    assert 'href="https://meet.google.com/abc-defg-hij"' in body
    assert "Going" in body and "Not going" in body and "Not answered" in body and "(optional)" in body


def test_the_details_show_the_time_in_the_persons_zone_and_the_events_own(owner_client, calendar):
    start = datetime(2026, 11, 24, 15, 0, tzinfo=ZoneInfo("America/New_York"))
    event = make_event(calendar, start=start, end=start + timedelta(hours=1), timezone="America/New_York")
    body = owner_client.get(reverse("event_detail", args=[event.pk])).content.decode()
    assert "Tuesday 24 November 2026, 21:00 \u2013 22:00" in body  # Berlin
    assert "15:00 \u2013 16:00 in America/New_York" in body


def test_an_occurrence_of_a_series_shows_its_own_date(owner_client, calendar):
    first = at(date(2026, 1, 5), 9)
    series = make_event(
        calendar, start=first, end=first + timedelta(hours=1), recurrence="RRULE:FREQ=WEEKLY", title="Weekly"
    )
    page = owner_client.get(week_url(this_monday())).content.decode()
    link = re.search(rf'href="(/events/{series.pk}/\?at=[^"]+)"', page)
    assert link is not None
    body = owner_client.get(link.group(1).replace("&amp;", "&")).content.decode()
    monday = this_monday()
    assert f"Monday {monday.day} {monday:%B %Y}, 09:00 \u2013 10:00" in body


def test_someone_elses_event_is_not_found(client, stranger, calendar):
    from tests.conftest import PASSWORD

    event = make_event(calendar, start=now())
    client.login(email=stranger.email, password=PASSWORD)
    assert client.get(reverse("event_detail", args=[event.pk])).status_code == 404


def test_a_deleted_event_is_not_shown(owner_client, calendar):
    event = make_event(calendar, start=at(this_monday(), 9), title="Gone", deleted_at=now())
    assert "Gone" not in owner_client.get("/").content.decode()
    assert owner_client.get(reverse("event_detail", args=[event.pk])).status_code == 404


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_for_one_calendar_and_for_fifteen(owner_client, owner):
    monday = this_monday()
    account = make_account(owner)
    first = make_connection(account, name="Calendar 0", remote_id="c0")
    make_event(first, start=at(monday, 9), recurrence="RRULE:FREQ=DAILY")
    for hour in range(8, 12):
        make_event(first, start=at(monday + timedelta(days=1), hour), title=f"Single {hour}")
    one = count_queries(owner_client, week_url(monday))
    for index in range(1, 15):
        calendar = make_connection(
            make_account(owner, external_id=f"acct-{index}") if index % 3 else account,
            name=f"Calendar {index}",
            remote_id=f"c{index}",
        )
        make_event(calendar, start=at(monday, 10), recurrence="RRULE:FREQ=WEEKLY")
        for day in range(7):
            make_event(calendar, start=at(monday + timedelta(days=day), 14), title=f"Event {index}-{day}")
    fifteen = count_queries(owner_client, week_url(monday))
    assert one == fifteen, (one, fifteen)


def test_pages_carry_a_content_security_policy_without_inline_code(owner_client, calendar):
    make_event(calendar, start=at(this_monday(), 9), title="Planning")
    response = owner_client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "unsafe" not in policy
    page = response.content.decode()
    assert " style=" not in page and not re.search(r"<script(?![^>]*\bsrc=)", page)  # nothing inline
    assert "includeIndicatorStyles" in page  # htmx told not to inject its indicator style


def test_times_are_placed_for_the_script_and_coloured_by_calendar(owner_client, calendar):
    make_event(calendar, start=at(this_monday(), 9, 30), end=at(this_monday(), 11), title="Long meeting")
    page = owner_client.get("/").content.decode()
    assert re.search(r'data-top="570" data-bottom="660" data-column="0" data-columns="1" data-color="#0b8043"', page)


def test_all_day_dates_do_not_move_with_the_persons_zone(owner_client, owner, calendar):
    monday = this_monday()
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(days=2)
    make_event(calendar, start=start, end=start + timedelta(days=1), all_day=True, timezone="", title="Holiday")
    User.objects.filter(pk=owner.pk).update(timezone="America/Los_Angeles")
    page = owner_client.get(week_url(monday)).content.decode()
    assert re.search(r'class="bar d2 s1"[^>]*>\s*<a[^>]*>\s*<bdi class="event-title">Holiday', page)


def test_a_series_shows_each_occurrence_but_not_a_cancelled_or_moved_one(owner_client, calendar):
    monday = this_monday()
    first = at(monday - timedelta(days=70), 8)  # began ten weeks ago, daily
    series = make_event(
        calendar, start=first, end=first + timedelta(minutes=30), recurrence="RRULE:FREQ=DAILY", title="Daily"
    )
    tuesday, thursday = at(monday + timedelta(days=1), 8), at(monday + timedelta(days=3), 8)
    make_event(
        calendar,
        start=tuesday,
        end=tuesday + timedelta(minutes=30),
        status="cancelled",
        recurring_event=series,
        master_provider_event_id=series.provider_event_id,
        original_start=tuesday,
        title="Daily",
    )
    moved = thursday + timedelta(hours=6)
    make_event(
        calendar,
        start=moved,
        end=moved + timedelta(minutes=30),
        recurring_event=series,
        master_provider_event_id=series.provider_event_id,
        original_start=thursday,
        title="Daily (moved)",
    )
    page = owner_client.get(week_url(monday)).content.decode()
    assert page.count('data-top="480"') == 5  # seven days, less the cancelled Tuesday and the moved Thursday
    assert page.count('data-top="840"') == 1 and "Daily (moved)" in page


def test_an_event_reaching_the_year_9999_is_shown_in_any_zone(owner_client, owner, calendar):
    User.objects.filter(pk=owner.pk).update(timezone="Pacific/Kiritimati")  # UTC+14: the year 9999 overflows
    monday = date(2026, 3, 2)
    endless = make_event(
        calendar, start=datetime(2026, 3, 2, 9, tzinfo=UTC), end=datetime(9999, 12, 31, 23, tzinfo=UTC), title="Forever"
    )
    late = make_event(
        calendar, start=datetime(9999, 12, 31, 20, tzinfo=UTC), end=datetime(9999, 12, 31, 21, tzinfo=UTC)
    )
    assert "Forever" in owner_client.get(week_url(monday)).content.decode()
    assert owner_client.get(reverse("event_detail", args=[endless.pk])).status_code == 200
    assert owner_client.get(reverse("event_detail", args=[late.pk])).status_code == 200


def test_the_details_lead_back_to_the_week_that_shows_the_event(owner_client, owner, calendar):
    User.objects.filter(pk=owner.pk).update(timezone="America/New_York")
    monday = datetime(2026, 3, 2, tzinfo=UTC)  # all-day: stored as midnight UTC of its date
    event = make_event(calendar, start=monday, end=monday + timedelta(days=1), all_day=True, timezone="")
    body = owner_client.get(reverse("event_detail", args=[event.pk])).content.decode()
    assert f'href="{week_url(date(2026, 3, 2))}"' in body


@pytest.mark.parametrize("form", ["20260304", "2026-W10-3", "2026W103"])
def test_other_iso_forms_of_a_day_redirect_to_the_weeks_own_address(owner_client, form):
    response = owner_client.get(f"/week/{form}/")
    assert (response.status_code, response["Location"]) == (302, week_url(date(2026, 3, 2)))


def test_an_at_that_is_no_occurrence_of_the_series_is_ignored(owner_client, calendar):
    first = at(date(2026, 1, 5), 9)
    series = make_event(calendar, start=first, end=first + timedelta(hours=1), recurrence="RRULE:FREQ=WEEKLY")
    url = reverse("event_detail", args=[series.pk])
    real = owner_client.get(url, {"at": at(date(2026, 3, 2), 9).isoformat()}).content.decode()
    assert "Monday 2 March 2026, 09:00" in real
    for bogus in ("2026-03-03T09:00:00+01:00", "2026-01-01T10:00:00+23:59", "1900-01-01T00:00:00+14:00", "x"):
        body = owner_client.get(url, {"at": bogus}).content.decode()
        assert "Monday 5 January 2026, 09:00" in body, bogus  # the series as stored


def test_the_details_use_the_calendars_colour_from_the_week_and_vary_on_htmx(owner_client, owner):
    account = make_account(owner)
    make_connection(account, name="A", remote_id="a")
    second = make_connection(account, name="B", remote_id="b")  # no colour of its own: the palette's second
    event = make_event(second, start=at(this_monday(), 9))
    week_page = owner_client.get("/").content.decode()
    colour = re.search(r'data-color="(#[0-9a-f]{6})"', week_page.split("Stand-up")[0].rsplit("<li", 1)[1])
    assert colour is not None
    response = owner_client.get(reverse("event_detail", args=[event.pk]))
    assert f'data-color="{colour.group(1)}"' in response.content.decode()
    assert "HX-Request" in response["Vary"]
