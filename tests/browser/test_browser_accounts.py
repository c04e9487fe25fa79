"""A person, in a real browser: sign up, prove the email by its code, sign in elsewhere, end that session."""

from __future__ import annotations

import re

import pytest

from accounts.models import Session, User
from tests.accounts_helpers import code_in_last_email
from tests.browser.chromium import SCREENSHOTS, chromium

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long browser passphrase 9"


def test_sign_up_verify_sign_in_elsewhere_and_sign_that_device_out(live_server):
    with chromium() as browser:
        laptop = browser.new_context(timezone_id="America/Chicago", user_agent=None)
        page = laptop.new_page()
        page.goto(f"{live_server.url}/accounts/signup/")
        page.fill("input[name=email]", "browser@example.com")
        page.fill("input[name=name]", "Bea Browser")
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.screenshot(path=SCREENSHOTS / "01-signup.png", full_page=True)
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"))
        page.screenshot(path=SCREENSHOTS / "02-verify-email.png", full_page=True)

        user = User.objects.get(email="browser@example.com")
        assert user.timezone == "America/Chicago"  # guessed from the browser by static/js/timezone.js

        page.fill("input[name=code]", code_in_last_email("browser@example.com"))
        page.click("form button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        assert "Connect your first calendar" in page.inner_text("main")  # the week view, before any calendar

        phone = browser.new_context().new_page()
        phone.goto(f"{live_server.url}/accounts/login/")
        phone.fill("input[name=login]", "browser@example.com")
        phone.fill("input[name=password]", PASSWORD)
        phone.click("form button[type=submit]")
        phone.wait_for_url(f"{live_server.url}/")
        assert Session.objects.filter(user=user).count() == 2

        page.goto(f"{live_server.url}/accounts/devices/")
        rows = page.locator("table.devices tbody tr")
        assert rows.count() == 2
        assert "This device" in rows.nth(0).inner_text()
        page.screenshot(path=SCREENSHOTS / "03-devices.png", full_page=True)
        rows.nth(1).get_by_role("button", name=re.compile("^Sign out")).click()
        page.wait_for_selector("text=That device is signed out.")
        assert page.locator("table.devices tbody tr").count() == 1
        page.screenshot(path=SCREENSHOTS / "04-devices-after-sign-out.png", full_page=True)

        phone.reload()
        assert phone.get_by_role("link", name="Sign in").is_visible()
        assert Session.objects.filter(user=user).count() == 1
