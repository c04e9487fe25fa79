"""The week view in headless Chromium: open the week, move between weeks (and back), open an event,
hide a calendar, use a phone-sized screen, and load hostile event content that must not run."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.utils.timezone import now

from accounts.models import User
from events.week import week_start_for
from tests.browser.chromium import SCREENSHOTS, chromium
from tests.conftest import PASSWORD
from tests.factories import make_account, make_connection, make_event

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BERLIN = ZoneInfo("Europe/Berlin")
PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def week(owner):
    """Two calendars with a week of events: overlaps, an all-day trip, an overnight flight, a series."""
    monday = week_start_for(now().astimezone(BERLIN).date(), 0)
    account = make_account(owner, email="olive@example.com")
    work = make_connection(account, name="Work", color="#2456d6", remote_id="work")
    family = make_connection(account, name="Family", color="#0b8043", remote_id="family")
    make_event(work, start=at(monday, 9), end=at(monday, 10, 30), title="Planning", location="Room 4")
    make_event(work, start=at(monday, 9, 30), end=at(monday, 10), title="Call with Ana")
    make_event(work, start=at(monday, 9, 45), end=at(monday, 11), title="Design review")
    make_event(
        work,
        start=at(monday + timedelta(days=2), 8),
        end=at(monday + timedelta(days=2), 9),
        title="Stand-up",
        recurrence="RRULE:FREQ=DAILY;COUNT=3",
        description="Notes at https://example.com/notes",
        metadata={
            "conference_url": "https://meet.google.com/abc-defg-hij",
            "attendees": [{"email": "ana@example.com", "name": "Ana", "response": "accepted"}],
        },
    )
    make_event(
        family, start=at(monday + timedelta(days=3), 22), end=at(monday + timedelta(days=4), 6), title="Night train"
    )
    trip = datetime(monday.year, monday.month, monday.day, tzinfo=ZoneInfo("UTC")) + timedelta(days=4)
    make_event(family, start=trip, end=trip + timedelta(days=4), all_day=True, timezone="", title="Weekend trip")
    return {"monday": monday, "work": work, "family": family}


def signed_in(browser, live_server, **context):
    owner = User.objects.get(email="owner@example.com")
    EmailAddress.objects.get_or_create(user=owner, email=owner.email, defaults={"verified": True, "primary": True})
    page = browser.new_context(**context).new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "owner@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page, errors


# Screenshots keep the caret: Playwright hides it with an injected style sheet, which the page's
# Content-Security-Policy rightly refuses (and reports as a console error).


def test_open_the_week_navigate_open_an_event_and_hide_a_calendar(live_server, week):
    monday = week["monday"]
    with chromium() as browser:
        page, errors = signed_in(browser, live_server, viewport={"width": 1400, "height": 900})
        page.wait_for_selector(".block")
        # Overlapping events sit side by side: three columns, none covering another.
        boxes = [
            page.locator(".block", has_text=title).bounding_box()
            for title in ("Planning", "Call with Ana", "Design review")
        ]
        lefts = sorted(box["x"] for box in boxes)
        assert lefts[0] + boxes[0]["width"] * 0.9 <= lefts[1] and lefts[1] + boxes[1]["width"] * 0.9 <= lefts[2]
        assert page.locator(".now-line").count() == 1 and page.locator(".now-line").is_visible()
        assert page.locator(".bar", has_text="Weekend trip").count() == 1
        assert page.locator(".block", has_text="Night train").count() == 2  # Thursday night and Friday morning
        assert page.locator(".block", has_text="Stand-up").count() == 3
        page.screenshot(path=SCREENSHOTS / "week-01-this-week.png", full_page=True, caret="initial")

        page.get_by_role("link", name="Next week").click()
        page.wait_for_url(re.compile(rf".*/week/{monday + timedelta(days=7)}/$"))
        page.wait_for_selector("text=Weekend trip")  # the trip runs into next week's Monday
        assert page.locator(".block", has_text="Planning").count() == 0
        page.screenshot(path=SCREENSHOTS / "week-02-next-week.png", full_page=True, caret="initial")
        page.go_back()
        page.wait_for_url(f"{live_server.url}/")
        page.wait_for_selector(".block >> text=Planning")
        # Back fetches the whole page again: its events are placed and coloured again, not piled up.
        planning = page.locator(".block", has_text="Planning")
        page.wait_for_function("() => document.querySelector('.block').style.top !== ''")
        assert planning.evaluate("block => [block.style.top, block.style.width]") != ["0%", "100%"]
        assert planning.evaluate("block => block.style.getPropertyValue('--cal')") == "#2456d6"

        page.fill("#week-date", "2030-05-15")
        page.get_by_role("button", name="Go").click()
        page.wait_for_url(re.compile(r".*/week/2030-05-13/$"))
        page.get_by_role("link", name="Today").click()
        page.wait_for_selector(".block >> text=Planning")

        page.locator(".event-link", has_text="Stand-up").first.click()
        panel = page.locator("#event-panel .event-detail")
        panel.wait_for()
        assert "Stand-up" in panel.inner_text() and "Join the meeting" in panel.inner_text()
        assert panel.get_by_role("link", name="https://example.com/notes").count() == 1
        assert page.evaluate("document.activeElement.closest('.event-detail') !== null")  # focus moved to it
        page.screenshot(path=SCREENSHOTS / "week-03-event-details.png", full_page=True, caret="initial")
        page.keyboard.press("Escape")
        assert page.locator("#event-panel .event-detail").count() == 0

        family = page.get_by_role("button", name=re.compile("Family"))
        family.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Night train", state="detached")
        assert page.evaluate("document.activeElement.id") == f"legend-{week['family'].pk}"  # focus kept
        assert page.get_by_role("button", name=re.compile("Family")).get_attribute("aria-pressed") == "false"
        page.reload()
        assert page.locator("text=Night train").count() == 0  # remembered
        page.screenshot(path=SCREENSHOTS / "week-04-family-hidden.png", full_page=True, caret="initial")
        assert not errors, errors  # no script error, no Content-Security-Policy violation


def test_hostile_content_is_shown_as_text_and_nothing_runs(live_server, owner):
    monday = week_start_for(now().astimezone(BERLIN).date(), 0)
    calendar = make_connection(make_account(owner), name=PAYLOAD, remote_id="hostile")
    make_event(
        calendar,
        start=at(monday, 10),
        end=at(monday, 11),
        title=PAYLOAD + "\u202e" + "x" * 500,
        location=PAYLOAD,
        description=(PAYLOAD + " ") * 2000,
        metadata={
            "attendees": [{"email": "a@example.com", "name": PAYLOAD}],
            "html_link": "javascript:window.__pwned=3",
        },
    )
    with chromium() as browser:
        page, errors = signed_in(browser, live_server, viewport={"width": 1280, "height": 900})
        page.locator(".event-link").first.click()
        page.locator("#event-panel .event-detail").wait_for()
        assert page.evaluate("window.__pwned === undefined")
        assert page.locator("#event-panel img, #event-panel script, #week img").count() == 0
        assert PAYLOAD in page.locator("#event-panel h2").inner_text()
        # The page does not grow sideways: long unbroken text wraps inside its box.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=SCREENSHOTS / "week-05-hostile-content.png", full_page=False, caret="initial")
        assert not [error for error in errors if "__pwned" in error]


def test_a_phone_scrolls_the_week_sideways(live_server, week):
    with chromium() as browser:
        page, errors = signed_in(browser, live_server, viewport={"width": 390, "height": 844}, is_mobile=True)
        page.wait_for_selector(".block")
        scroller = page.locator(".week-scroll")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # the page itself fits
        assert scroller.evaluate("element => element.scrollWidth > element.clientWidth")  # the week scrolls
        page.screenshot(path=SCREENSHOTS / "week-06-phone.png", full_page=True, caret="initial")
        assert not errors, errors


def test_an_event_whose_data_could_not_be_read_is_marked_and_its_details_say_what(live_server, week):
    monday = week["monday"]
    make_event(
        week["work"],
        start=at(monday + timedelta(days=1), 7),
        end=at(monday + timedelta(days=1), 8),
        title="Gym",
        recurrence="RRULE:FREQ=WEEKLY;BYDAYY=MO",
        provider_data={
            "problems": [
                "the recurrence could not be read (unreadable RRULE 'FREQ=WEEKLY;BYDAYY=MO'): "
                "only the first occurrence is shown",
                "unreadable DURATION ignored",
            ]
        },
    )
    with chromium() as browser:
        page, errors = signed_in(browser, live_server, viewport={"width": 1400, "height": 900})
        gym = page.get_by_role("link", name=re.compile(r"Gym.*Some of this event's data could not be read"))
        gym.wait_for()
        assert gym.locator(".problem-mark").is_visible()
        assert page.locator(".problem-mark").count() == 1  # the other events are not marked
        gym.click()
        problems = page.locator("#event-panel .event-problems")
        problems.wait_for()
        assert "Some of this event's data could not be read" in problems.inner_text()
        assert problems.locator("li").all_inner_texts()[1] == "unreadable DURATION ignored"
        page.screenshot(path=SCREENSHOTS / "week-07-unreadable-data.png", full_page=True, caret="initial")
        assert not errors, errors


def test_a_week_holding_a_series_cut_by_its_limits_says_so_and_the_calendar_lists_what_it_could_not_read(
    live_server, week
):
    from events.models import UnreadableItem

    monday = week["monday"]
    dense = "RRULE:FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=0,10,20,30,40,50"
    make_event(
        week["work"],
        start=at(monday - timedelta(days=30), 0),
        end=at(monday - timedelta(days=30), 0, 5),
        title="Ticker",
        recurrence=dense,
    )
    UnreadableItem.objects.create(
        connection=week["work"], provider_item_id="lotus-notes.ics", reason="not one iCalendar object (0 found)"
    )
    with chromium() as browser:
        page, errors = signed_in(browser, live_server, viewport={"width": 1400, "height": 900})
        notice = page.locator("#week-not-all-shown")
        notice.wait_for()
        assert "not all of them are shown" in notice.inner_text()
        assert page.get_by_text("Planning").first.is_visible()  # the ordinary events are still drawn
        page.screenshot(path=SCREENSHOTS / "week-08-series-cut-by-limits.png", full_page=False, caret="initial")
        page.goto(f"{live_server.url}/connections/")
        page.get_by_text("1 item could not be read").click()
        listed = page.get_by_text("lotus-notes.ics").first
        listed.wait_for()
        assert "not one iCalendar object" in page.locator("details").first.inner_text()
        page.screenshot(path=SCREENSHOTS / "connections-unreadable-items.png", full_page=True, caret="initial")
        assert not errors, errors
