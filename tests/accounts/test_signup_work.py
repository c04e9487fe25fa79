"""Signing up with an address that has an account does the same costly work as with a new one, so the
time an answer takes does not tell which addresses have accounts.

The work is counted, not timed: a real Argon2 hasher that counts the passwords it hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import Client

from accounts.models import User
from tests.conftest import PASSWORD


class CountingArgon2Hasher(Argon2PasswordHasher):
    """Django's Argon2 hasher, counting each password it hashes."""

    hashed: ClassVar[int] = 0

    def encode(self, password: str, salt: str) -> str:
        CountingArgon2Hasher.hashed += 1
        return super().encode(password, salt)


@pytest.fixture
def counting_hasher(settings) -> type[CountingArgon2Hasher]:
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingArgon2Hasher", *settings.PASSWORD_HASHERS[1:]]
    CountingArgon2Hasher.hashed = 0
    return CountingArgon2Hasher


@pytest.fixture
def member(owner) -> User:
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    return owner


def hashes_done_by(action: Callable[[], Any]) -> int:
    before = CountingArgon2Hasher.hashed
    action()
    return CountingArgon2Hasher.hashed - before


def sign_up(email: str):
    return Client().post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})


def test_signing_up_with_a_known_address_hashes_the_password_like_a_new_sign_up(counting_hasher, member):
    answers = []
    new = hashes_done_by(lambda: answers.append(sign_up("newcomer@example.com")))
    known = hashes_done_by(lambda: answers.append(sign_up(member.email)))

    assert User.objects.filter(email="newcomer@example.com").exists()  # the new address took the new path
    assert User.objects.filter(email=member.email).count() == 1  # and the known one made nobody
    assert new >= 1
    assert known == new
    assert [(a.status_code, a["Location"]) for a in answers] == [(302, "/accounts/confirm-email/")] * 2
