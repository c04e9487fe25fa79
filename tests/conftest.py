"""Shared fixtures: the people every test needs (healthchecks' BaseTestCase idea) and test-database setup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connections

from accounts.models import User
from tests.fakes.google import GoogleState, handler_for
from tests.fakes.server import serve

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Let Django empty audit_logs between transactional tests.

    The table refuses TRUNCATE unless `calsync.audit_truncate` is on; only this throw-away test database
    turns it on (tests that check the refusal turn it off again for their transaction).
    """
    with django_db_blocker.unblock():
        for alias in connections:
            connection = connections[alias]
            if connection.vendor != "postgresql":
                continue
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER DATABASE {name} SET calsync.audit_truncate = 'on'")
            connection.close()  # the next connection picks the setting up


@pytest.fixture(autouse=True)
def _empty_cache():
    # The cache is Redis and outlives a test (and a run): rate-limit counters must not leak between them.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    # The manifest storage needs `collectstatic` first; the SQLite smoke test covers that path.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def fake_google(settings) -> Iterator[GoogleState]:
    """Google's revocation endpoint, faked on loopback; settings point the adapter at it."""
    state = GoogleState()
    with serve(handler_for(state)) as base_url:
        settings.GOOGLE_REVOKE_URI = f"{base_url}/revoke"
        yield state


@pytest.fixture
def owner(db) -> User:
    return User.objects.create_user("owner@example.com", PASSWORD, name="Olive Owner", timezone="Europe/Berlin")


@pytest.fixture
def stranger(db) -> User:
    return User.objects.create_user("stranger@example.com", PASSWORD, name="Sam Stranger")


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("staff@example.com", PASSWORD, name="Stella Staff")
