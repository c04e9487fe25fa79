"""The Devices page: every live session of mine, and signing them out; never anyone else's."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client
from django.utils.timezone import now

from accounts.models import Session
from audit.models import AuditAction, AuditLog
from tests.conftest import PASSWORD

FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:140.0) Gecko/20100101 Firefox/140.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1"
)


def device(user, user_agent: str, ip: str) -> Client:
    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def key_hash(client: Client) -> str:
    return hashlib.sha256(client.cookies[settings.SESSION_COOKIE_NAME].value.encode()).hexdigest()


def signed_in(client: Client) -> bool:
    return client.get("/").context["user"].is_authenticated


@pytest.fixture
def laptop(owner) -> Client:
    return device(owner, FIREFOX_MAC, "198.51.100.10")


@pytest.fixture
def phone(owner) -> Client:
    return device(owner, SAFARI_IPHONE, "203.0.113.77")


def test_it_lists_my_sessions_with_browser_system_ip_and_this_device(laptop, phone):
    page = laptop.get("/accounts/devices/")
    devices = page.context["devices"]
    assert [d.description for d in devices] == ["Firefox 140 on Mac OS X", "Mobile Safari 18 on iOS"]
    assert [d.is_current for d in devices] == [True, False]
    assert [d.ip_address for d in devices] == ["198.51.100.10", "203.0.113.77"]
    html = page.content.decode()
    assert "This device" in html
    assert "Sign out everywhere else" in html


def test_it_signs_out_another_device(laptop, phone, owner):
    response = laptop.post(f"/accounts/devices/{key_hash(phone)}/sign-out/")
    assert response.status_code == 302
    assert not signed_in(phone)
    assert signed_in(laptop)
    row = AuditLog.objects.get(action=AuditAction.ACCOUNT_SESSION_ENDED)
    assert row.actor_id == owner.pk
    assert row.metadata == {"device": "Mobile Safari 18 on iOS", "ip": "203.0.113.77"}


def test_it_signs_out_everywhere_else(laptop, phone, owner):
    tablet = device(owner, FIREFOX_MAC, "192.0.2.8")
    laptop.post("/accounts/devices/sign-out-others/")
    assert not signed_in(phone)
    assert not signed_in(tablet)
    assert signed_in(laptop)
    assert list(Session.objects.values_list("key_hash", flat=True)) == [key_hash(laptop)]
    assert AuditLog.objects.filter(action=AuditAction.ACCOUNT_SESSION_ENDED).count() == 2


def test_signing_out_this_device_goes_through_the_normal_sign_out(laptop):
    response = laptop.post(f"/accounts/devices/{key_hash(laptop)}/sign-out/")
    assert response["Location"] == "/accounts/logout/"
    assert signed_in(laptop)


def test_a_stranger_never_sees_or_ends_my_sessions(laptop, stranger):
    intruder = device(stranger, FIREFOX_MAC, "192.0.2.66")
    devices = intruder.get("/accounts/devices/").context["devices"]
    assert [d.ip_address for d in devices] == ["192.0.2.66"]
    assert intruder.post(f"/accounts/devices/{key_hash(laptop)}/sign-out/").status_code == 404
    intruder.post("/accounts/devices/sign-out-others/")
    assert signed_in(laptop)
    assert not AuditLog.objects.filter(action=AuditAction.ACCOUNT_SESSION_ENDED).exists()


def test_the_pages_need_a_signed_in_person_and_sign_out_needs_a_post(client, laptop, phone):
    assert client.get("/accounts/devices/").status_code == 302
    assert client.post(f"/accounts/devices/{key_hash(phone)}/sign-out/").status_code == 302
    assert signed_in(phone)
    assert laptop.get(f"/accounts/devices/{key_hash(phone)}/sign-out/").status_code == 405
    assert signed_in(phone)


def test_each_request_moves_the_idle_limit_on(laptop, settings):
    settings.SESSION_IDLE_TIMEOUT = 3600
    stale = now() - timedelta(minutes=30)
    Session.objects.update(last_seen_at=stale, expire_date=now() + timedelta(minutes=1))
    assert signed_in(laptop)
    assert abs(Session.objects.get().expire_date - (now() + timedelta(hours=1))) < timedelta(seconds=10)


def test_an_idle_session_is_refused_even_before_its_stored_expiry(laptop, settings):
    settings.SESSION_IDLE_TIMEOUT = 3600  # e.g. shortened during an incident
    Session.objects.update(last_seen_at=now() - timedelta(hours=2))
    assert not signed_in(laptop)


def test_an_old_session_is_refused_past_the_absolute_limit_however_active(laptop, settings):
    settings.SESSION_ABSOLUTE_TIMEOUT = 24 * 3600
    Session.objects.update(created_at=now() - timedelta(days=2))
    assert not signed_in(laptop)


def test_a_password_change_keeps_the_sign_in_time(laptop, owner):
    signed_in_at = now() - timedelta(days=3)
    Session.objects.update(created_at=signed_in_at)
    laptop.post("/accounts/reauthenticate/", {"password": PASSWORD})
    new = "a brand new passphrase 77"
    laptop.post("/accounts/password/change/", {"oldpassword": PASSWORD, "password1": new, "password2": new})
    assert signed_in(laptop)
    assert abs(Session.objects.get(user=owner).created_at - signed_in_at) < timedelta(seconds=1)


def test_a_malformed_session_id_is_a_404(laptop):
    assert laptop.post("/accounts/devices/%00/sign-out/").status_code == 404
    assert laptop.post("/accounts/devices/" + "z" * 64 + "/sign-out/").status_code == 404


def test_the_page_costs_a_fixed_number_of_queries(laptop, phone, owner, django_assert_max_num_queries):
    for number in range(5):
        device(owner, FIREFOX_MAC, f"192.0.2.{number + 1}")
    with django_assert_max_num_queries(6):
        assert laptop.get("/accounts/devices/").status_code == 200


def test_each_request_moves_the_idle_limit_but_never_past_the_absolute_one(laptop, settings):
    settings.SESSION_IDLE_TIMEOUT = 3600
    settings.SESSION_ABSOLUTE_TIMEOUT = 7200
    signed_in_at = now() - timedelta(hours=1, minutes=30)
    Session.objects.update(
        created_at=signed_in_at, last_seen_at=now() - timedelta(minutes=30), expire_date=now() + timedelta(minutes=1)
    )
    assert signed_in(laptop)  # the touch moves expiry on: min(now + 1 h idle, signed in + 2 h absolute)
    expires = Session.objects.get().expire_date
    assert abs(expires - (signed_in_at + timedelta(hours=2))) < timedelta(seconds=5)
