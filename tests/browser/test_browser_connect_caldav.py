"""A person, in a real browser: connect a CalDAV calendar through the form and see it on the page."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress

from accounts.models import User
from tests.browser.chromium import SCREENSHOTS, chromium

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long browser passphrase 9"


def test_connect_a_caldav_calendar_and_see_it_on_the_connections_page(live_server, caldav_account, settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale runs on loopback
    person = User.objects.create_user("cal@example.com", PASSWORD, name="Cal Dav")
    EmailAddress.objects.create(user=person, email=person.email, verified=True, primary=True)
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=login]", "cal@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

        page.click("text=Calendars")
        page.click("text=Connect CalDAV")
        page.fill("input[name=server_url]", caldav_account.url)
        page.fill("input[name=username]", caldav_account.username)
        page.fill("input[name=password]", caldav_account.password)
        page.screenshot(path=SCREENSHOTS / "connect-caldav-form.png", full_page=True)
        page.click("form button[type=submit]:has-text('Connect')")

        page.wait_for_selector("text=Choose calendars")
        page.check("label:has-text('Home') input[type=checkbox]")
        page.check("label:has-text('Work') input[type=checkbox]")
        page.click("button:has-text('Save')")

        page.wait_for_url(f"{live_server.url}/connections/")
        page.screenshot(path=SCREENSHOTS / "connect-caldav-connected.png", full_page=True)
        tables = page.locator("table.calendars").inner_text()
        assert "Home" in tables and "Work" in tables
        assert "Waiting for its first sync" in tables
        assert caldav_account.username in page.locator(".account-card h2").inner_text()
