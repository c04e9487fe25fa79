"""Creating and editing events on the week's grid in headless Chromium, pushed to the Google fake: drag on
an empty stretch of a day to open the new-event form with those times, save, see it pending, push it, drag
it to another day, and rename it from its details."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils.timezone import now

from accounts.models import User
from connections.models import CalendarConnection
from events.models import CalendarEvent, EventSyncStatus
from events.push import connection_push
from events.week import week_start_for
from tests.browser.chromium import SCREENSHOTS, chromium
from tests.browser.test_browser_week import signed_in
from tests.sync_helpers import google_calendar

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
BERLIN = ZoneInfo("Europe/Berlin")


def scroll_to(page, day: str, minute: int) -> None:
    """Scroll the grid so that `minute` of `day` is near the top of the view."""
    page.evaluate(
        """([day, minute]) => {
            const column = document.querySelector(`.day[data-date="${day}"]`);
            const scroller = document.querySelector('.week-scroll');
            const offset = column.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
            scroller.scrollTop += offset + column.offsetHeight * minute / 1440 - 200;
        }""",
        [day, minute],
    )


def grid_point(page, day: str, minute: int) -> tuple[float, float]:
    """Where `minute` of `day` is on the screen now."""
    box = page.locator(f'.day[data-date="{day}"]').bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] * minute / 1440 + 2


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def test_create_an_event_by_dragging_on_the_grid_then_move_and_rename_it(live_server, owner, fake_google):
    User.objects.filter(pk=owner.pk).update(timezone="Europe/Berlin")
    connection = google_calendar(owner, fake_google)
    monday = week_start_for(now().astimezone(BERLIN).date(), 0)
    tuesday, wednesday = (monday + timedelta(days=1)).isoformat(), (monday + timedelta(days=2)).isoformat()
    with chromium() as browser:
        page, errors = signed_in(
            browser, live_server, viewport={"width": 1400, "height": 1000}, timezone_id="Europe/Berlin"
        )
        page.wait_for_selector(".day[data-date]")

        scroll_to(page, tuesday, 10 * 60)
        drag(page, grid_point(page, tuesday, 10 * 60), grid_point(page, tuesday, 11 * 60 + 30))
        page.wait_for_url("**/events/new/**")
        assert page.input_value("#id_start_date") == tuesday and page.input_value("#id_start_time") == "10:00"
        assert page.input_value("#id_end_time") == "11:30"
        page.fill("#id_title", "Planning poker")
        page.screenshot(path=SCREENSHOTS / "edit-01-new-event-form.png", full_page=True, caret="initial")
        page.click("#event-save")
        page.wait_for_selector(".block .sync-pending >> text=Planning poker")
        page.screenshot(path=SCREENSHOTS / "edit-02-pending.png", full_page=True, caret="initial")
        event = CalendarEvent.objects.get(connection=connection)
        assert event.start == datetime.fromisoformat(f"{tuesday}T10:00").replace(tzinfo=BERLIN)
        assert event.end - event.start == timedelta(minutes=90)

        assert connection_push(connection=CalendarConnection.objects.get(pk=connection.pk)).pushed == 1
        page.reload()
        page.wait_for_selector(".block >> text=Planning poker")
        assert page.locator(".block .sync-pending").count() == 0

        # Drag it to Wednesday, 14:00: it keeps its length.
        block = page.locator(".block .event-link", has_text="Planning poker")
        scroll_to(page, tuesday, 10 * 60)
        block_box = block.bounding_box()
        assert block_box is not None
        grab = (block_box["x"] + block_box["width"] / 2, block_box["y"] + 3)
        page.mouse.move(*grab)
        page.mouse.down()
        page.mouse.move(grab[0] + 20, grab[1] + 20, steps=3)
        target = grid_point(page, wednesday, 14 * 60)  # 4 hours below, still in view
        page.mouse.move(target[0], target[1] + 3, steps=6)
        page.mouse.up()
        page.wait_for_selector(f'.day[data-date="{wednesday}"] .block >> text=Planning poker')
        event.refresh_from_db()
        assert event.start == datetime.fromisoformat(f"{wednesday}T14:00").replace(tzinfo=BERLIN)
        assert event.end - event.start == timedelta(minutes=90)
        assert event.sync_status == EventSyncStatus.PENDING

        # Rename it from its details.
        page.click(".block .event-link >> text=Planning poker")
        page.wait_for_selector("#event-edit")
        page.click("#event-edit")
        page.wait_for_url("**/edit/**")
        page.fill("#id_title", "Sprint planning")
        page.click("#event-save")
        page.wait_for_selector(".block >> text=Sprint planning")
        page.screenshot(path=SCREENSHOTS / "edit-03-moved-and-renamed.png", full_page=True, caret="initial")
        assert errors == []

    assert connection_push(connection=CalendarConnection.objects.get(pk=connection.pk)).pushed == 1
    event.refresh_from_db()
    stored = fake_google.kept_events(connection.remote_id)[str(event.provider_event_id)]
    assert stored["summary"] == "Sprint planning"
    assert stored["start"]["dateTime"].startswith(f"{wednesday}T14:00")
