"""Sessions keyed by a hash: the key lives only in the cookie; rows carry the device context."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import UpdateError
from django.db import IntegrityError, connection
from django.test import Client
from django.utils.timezone import now

from accounts.models import Session
from accounts.sessions import SessionStore, sessions_clear_expired
from tests.conftest import PASSWORD

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"


@pytest.fixture
def verified_owner(owner):
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    return owner


def sign_in(client: Client, user) -> str:
    response = client.post(
        "/accounts/login/",
        {"login": user.email, "password": PASSWORD},
        HTTP_USER_AGENT=BROWSER,
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302, response.content[:500]
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def all_session_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key_hash || ' ' || session_data FROM sessions")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_it_stores_only_the_hash_of_the_key(client, verified_owner):
    key = sign_in(client, verified_owner)
    row = Session.objects.get()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in all_session_text()


def test_it_records_the_device_and_user(client, verified_owner):
    sign_in(client, verified_owner)
    row = Session.objects.get()
    assert row.user == verified_owner
    assert row.user_agent == BROWSER
    assert row.ip_address == "198.51.100.7"
    assert now() - row.created_at < timedelta(minutes=1)


def test_a_dumped_hash_cannot_be_replayed_as_a_login(client, verified_owner):
    sign_in(client, verified_owner)
    stolen = Session.objects.get().key_hash
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert attacker.get("/").context["user"].is_anonymous
    assert client.get("/").context["user"] == verified_owner


def test_it_rotates_the_key_at_sign_in(client, verified_owner):
    anonymous = client.session
    anonymous["seen_pricing"] = True
    anonymous.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = anonymous.session_key
    before = anonymous.session_key

    after = sign_in(client, verified_owner)
    assert after != before
    assert not Session.objects.filter(key_hash=hashlib.sha256(before.encode()).hexdigest()).exists()
    assert Session.objects.filter(key_hash=hashlib.sha256(after.encode()).hexdigest()).exists()


def test_signing_out_deletes_the_row(client, verified_owner):
    sign_in(client, verified_owner)
    client.post("/accounts/logout/")
    assert not Session.objects.exists()


def test_it_refreshes_last_seen_only_after_the_touch_interval(client, verified_owner, settings):
    sign_in(client, verified_owner)
    stale = now() - timedelta(seconds=settings.SESSION_TOUCH_INTERVAL + 60)
    Session.objects.update(last_seen_at=stale)
    client.get("/", REMOTE_ADDR="192.0.2.44")
    row = Session.objects.get()
    assert row.last_seen_at > stale
    assert row.ip_address == "192.0.2.44"

    fresh = row.last_seen_at
    client.get("/", REMOTE_ADDR="192.0.2.45")
    assert Session.objects.get().last_seen_at == fresh  # within the interval: no write


def test_an_expired_session_is_not_loaded_and_is_cleared(db):
    live, expired = SessionStore(), SessionStore()
    live["n"] = 1
    live.create()
    expired["n"] = 2
    expired.set_expiry(-10)
    expired.create()

    assert SessionStore(expired.session_key).load() == {}
    assert SessionStore(live.session_key).load() == {"n": 1}
    assert live.session_key is not None
    assert sessions_clear_expired() == 1
    assert list(Session.objects.values_list("key_hash", flat=True)) == [
        hashlib.sha256(live.session_key.encode()).hexdigest()
    ]


def test_deleting_a_user_deletes_their_sessions(client, verified_owner):
    sign_in(client, verified_owner)
    type(verified_owner).all_objects.filter(pk=verified_owner.pk).delete()
    assert not Session.objects.exists()


def test_the_data_survives_the_key_rotation_at_sign_in(client, verified_owner):
    anonymous = client.session
    anonymous["return_to"] = "/week/2026-11-23/"
    anonymous.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = anonymous.session_key
    sign_in(client, verified_owner)
    assert client.session["return_to"] == "/week/2026-11-23/"


def test_flush_ends_the_session_and_issues_a_new_key(db):
    store = SessionStore()
    store["n"] = 1
    store.create()
    old_key = store.session_key
    assert old_key is not None
    store.flush()
    assert store.session_key is None
    assert not store.exists(old_key)
    assert not Session.objects.exists()


@pytest.mark.django_db(transaction=True)  # the foreign key is checked at commit, so commit for real
def test_a_session_for_a_user_who_no_longer_exists_fails_once_instead_of_looping():
    store = SessionStore()
    store[SESSION_KEY] = "987654321"  # no such user: the foreign key refuses the row
    with pytest.raises(IntegrityError):
        store.create()


def test_saving_a_session_whose_row_vanished_is_refused(db):
    store = SessionStore()
    store["n"] = 1
    store.create()
    Session.objects.all().delete()  # e.g. "sign out everywhere" from another device
    store["n"] = 2
    with pytest.raises(UpdateError):
        store.save()
