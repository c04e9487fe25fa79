"""An open week page in headless Chromium shows what a sync brought without a reload: the detail panel the
person opened stays open, the scroll position stays, a press on an event holds the redraw back, and a hidden
tab does not ask at all."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.timezone import now

from connections.models import CalendarConnection
from events.sync import sync_connection
from events.week import week_start_for
from tests.browser.chromium import SCREENSHOTS, chromium
from tests.browser.test_browser_week import signed_in
from tests.sync_helpers import google_calendar

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BERLIN = ZoneInfo("Europe/Berlin")


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN).isoformat()


def put(google, calendar, event_id: str, title: str, day: date, hour: int) -> None:
    google.put_event(
        calendar.remote_id,
        {
            "id": event_id,
            "summary": title,
            "start": {"dateTime": at(day, hour), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": at(day, hour + 1), "timeZone": "Europe/Berlin"},
        },
    )


def sync(calendar) -> None:
    sync_connection(connection=CalendarConnection.objects.get(pk=calendar.pk))


HIDE = """hidden => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => hidden ? "hidden" : "visible" });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_change_synced_meanwhile_appears_in_the_open_week_without_losing_the_panel_or_the_scroll(
    live_server, owner, fake_google, settings
):
    settings.WEEK_REFRESH_SECONDS = 1
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    tuesday = week_start_for(now().astimezone(BERLIN).date(), 0) + timedelta(days=1)
    calendar = google_calendar(owner, fake_google)
    put(fake_google, calendar, "planning", "Planning", tuesday, 9)
    put(fake_google, calendar, "review", "Design review", tuesday, 15)
    sync(calendar)

    with chromium() as browser:
        page, errors = signed_in(browser, live_server, viewport={"width": 1400, "height": 700})
        page.wait_for_selector(".block >> text=Design review")
        page.evaluate("window.__notReloaded = true")
        checks: list[str] = []
        page.on("request", lambda request: checks.append(request.url) if "/week/changed/" in request.url else None)
        page.locator(".event-link", has_text="Planning").click()
        panel = page.locator("#event-panel .event-detail")
        panel.wait_for()
        scroller = page.locator(".week-scroll")
        scroller.evaluate("element => { element.scrollTop = 420; }")
        scrolled = scroller.evaluate("element => element.scrollTop")
        assert scrolled > 0

        put(fake_google, calendar, "review", "Design review (moved)", tuesday, 17)
        put(fake_google, calendar, "lunch", "Lunch with Ana", tuesday, 12)
        sync(calendar)
        page.wait_for_selector(".block >> text=Lunch with Ana", timeout=5000)
        page.wait_for_selector(".block >> text=Design review (moved)", timeout=5000)

        assert page.evaluate("window.__notReloaded === true")
        assert panel.count() == 1 and "Planning" in panel.inner_text()
        assert page.locator("#event-panel").evaluate("element => element.classList.contains('open')")
        assert abs(page.locator(".week-scroll").evaluate("element => element.scrollTop") - scrolled) <= 1
        page.screenshot(path=SCREENSHOTS / "week-09-updated-in-place.png", caret="initial")
        # The panel belongs to the redrawn link of the same event (Escape gives focus back to it).
        page.keyboard.press("Escape")
        assert panel.count() == 0
        focused = "document.activeElement.matches('.block .event-link') && document.activeElement.textContent"
        assert "Planning" in (page.evaluate(focused) or "")

        # An event held down (a drag may be starting): the change waits until it is let go.
        lunch = page.locator(".block .event-link", has_text="Lunch with Ana")
        box = lunch.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 4)
        page.mouse.down()
        put(fake_google, calendar, "lunch", "Lunch with Ana and Ben", tuesday, 12)
        sync(calendar)
        page.wait_for_timeout(2500)
        assert page.locator(".block", has_text="Lunch with Ana and Ben").count() == 0
        page.mouse.up()
        page.wait_for_selector(".block >> text=Lunch with Ana and Ben", timeout=5000)

        # A hidden tab does not ask; shown again, it asks at once.
        page.evaluate(HIDE, True)
        page.wait_for_timeout(300)
        before = len(checks)
        put(fake_google, calendar, "planning", "Planning (new room)", tuesday, 9)
        sync(calendar)
        page.wait_for_timeout(2500)
        assert len(checks) == before
        assert page.locator(".block", has_text="Planning (new room)").count() == 0
        assert before >= 1  # it did ask while shown
        page.evaluate(HIDE, False)
        page.wait_for_selector(".block >> text=Planning (new room)", timeout=900)
        assert page.evaluate("window.__notReloaded === true")
        assert not errors, errors  # no script error, no Content-Security-Policy violation
