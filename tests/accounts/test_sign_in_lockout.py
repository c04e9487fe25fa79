"""A stranger cannot keep someone's sign-in locked for good, and the owner can always reset their way in.

allauth's rate limits count in Redis with the wall clock; the clock they read is moved forward here
(allauth's own ratelimit module only), so hours pass in a moment.
"""

from __future__ import annotations

import time as real_clock

import pytest
from allauth.account.models import EmailAddress
from allauth.core.internal import ratelimit
from django.core import mail
from django.test import Client

from accounts.models import User
from tests.accounts_helpers import link_in_last_email
from tests.conftest import PASSWORD

NEW_PASSWORD = "a fresh passphrase after the lock 5"
LOCKED = b"Too many failed login attempts"


class RateLimitClock:
    """What allauth's rate limits read as the time: the real one, moved on by `advance`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return real_clock.time() + self.offset

    def advance(self, minutes: float) -> None:
        self.offset += minutes * 60

    # The lock around each counter waits on the real clock.
    monotonic = staticmethod(real_clock.monotonic)
    sleep = staticmethod(real_clock.sleep)


@pytest.fixture
def clock(monkeypatch) -> RateLimitClock:
    moved = RateLimitClock()
    monkeypatch.setattr(ratelimit, "time", moved)
    return moved


@pytest.fixture
def member(owner) -> User:
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    return owner


def sign_in(address: str, email: str, password: str):
    client = Client(REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"login": email, "password": password})
    return client, response


def stranger_fails_until_refused(email: str) -> None:
    for _ in range(30):
        _, response = sign_in("203.0.113.66", email, "a guess")
        if LOCKED in response.content:
            return


def owner_can_sign_in(member: User) -> bool:
    client, response = sign_in("198.51.100.20", member.email, PASSWORD)
    return response.status_code == 302 and client.get("/").context["user"] == member


def test_a_stranger_failing_from_one_address_cannot_keep_the_owner_locked_out(clock, member):
    """The stranger guesses as often as allowed, every five minutes; within the hour the owner gets in."""
    stranger_fails_until_refused(member.email)
    assert not owner_can_sign_in(member)  # the lock works

    minutes_locked = 0
    while minutes_locked < 60:
        clock.advance(5)
        minutes_locked += 5
        stranger_fails_until_refused(member.email)
        if owner_can_sign_in(member):
            break
    assert minutes_locked < 60, "the stranger kept the owner out for an hour"


def test_the_owner_can_reset_while_locked_and_is_then_signed_in(clock, member):
    stranger_fails_until_refused(member.email)
    assert not owner_can_sign_in(member)

    owner = Client(REMOTE_ADDR="198.51.100.20")
    assert owner.post("/accounts/password/reset/", {"email": member.email}).status_code == 302
    form = owner.get(link_in_last_email("/accounts/password/reset/key/"), follow=True).redirect_chain[-1][0]
    assert owner.post(form, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 302
    assert owner.get("/").context["user"] == member  # the reset signed this browser in

    # and the lock went with the old password: the new one signs in on another device at once
    other_device, response = sign_in("198.51.100.21", member.email, NEW_PASSWORD)
    assert response.status_code == 302
    assert other_device.get("/").context["user"] == member
    assert [message.to for message in mail.outbox][-1] == [member.email]  # the notice of the reset
