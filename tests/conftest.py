"""Shared fixtures: the people every test needs (healthchecks' BaseTestCase idea) and test-database setup."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import httplib2
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connections

from accounts.models import User
from fakes import google, microsoft
from fakes.server import serve
from fakes.tls import trust_test_ca

# The real Radicale CalDAV server (session-wide) and a fresh account on it per test.
pytest_plugins = ["tests.radicale"]

PASSWORD = "correct horse battery staple"
REDIS_SCHEMES = ("redis://", "rediss://")


def worker_redis_url(url: str, worker: str) -> str:
    """The Redis URL of xdist worker `worker` ("gw0", "gw1", ...): the given database, counting down by one
    per worker (15, 14, ... for the default 15), so each worker's cache flushes and queues stay its own."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) - int(worker.removeprefix("gw"))
    if database < 0:
        raise pytest.UsageError(f"{url} leaves no Redis database for worker {worker}: start from a higher one")
    return parts._replace(path=f"/{database}").geturl()


def pytest_configure(config: pytest.Config) -> None:
    # pytest-django (and each xdist worker's own database, test_calsync_gwN) takes care of PostgreSQL. Redis:
    # the settings were read before this runs, but no cache or broker connection exists yet, so point them
    # and the environment the workers, servers and commands started by tests inherit at this worker's database.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        if os.environ.get(name, "").startswith(REDIS_SCHEMES):
            os.environ[name] = worker_redis_url(os.environ[name], worker)
        value = getattr(django_settings, name, None)
        if isinstance(value, str) and value.startswith(REDIS_SCHEMES):
            setattr(django_settings, name, worker_redis_url(value, worker))
    for cache_settings in django_settings.CACHES.values():
        if str(cache_settings.get("LOCATION", "")).startswith(REDIS_SCHEMES):
            cache_settings["LOCATION"] = worker_redis_url(cache_settings["LOCATION"], worker)


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


@pytest.fixture(scope="session", autouse=True)
def _trust_test_ca():
    # Once per run, before any server starts: the client libraries (and the live server) trust only the test CA.
    authority = trust_test_ca()
    # httplib2 reads HTTPLIB2_CA_CERTS once, when it is imported, which collection may have done already.
    httplib2.CA_CERTS = str(authority.ca_bundle)


@pytest.fixture
def fake_google(settings) -> Iterator[google.GoogleState]:
    """Google's OAuth server and Calendar API, faked over TLS on loopback; settings point the app at it."""
    state = google.GoogleState()
    with serve(google.handler_for(state), tls=True) as base_url:
        state.base_url = base_url
        settings.GOOGLE_CLIENT_ID = state.client_id
        settings.GOOGLE_CLIENT_SECRET = state.client_secret
        settings.GOOGLE_AUTH_URI = f"{base_url}/o/oauth2/v2/auth"
        settings.GOOGLE_TOKEN_URI = f"{base_url}/token"
        settings.GOOGLE_REVOKE_URI = f"{base_url}/revoke"
        settings.GOOGLE_API_BASE = f"{base_url}/"
        yield state


@pytest.fixture
def fake_microsoft(settings) -> Iterator[microsoft.MicrosoftState]:
    """The Microsoft identity platform and Graph, faked over TLS on loopback (msal takes only https authorities)."""
    state = microsoft.MicrosoftState()
    with serve(microsoft.handler_for(state), tls=True) as base_url:
        state.base_url = base_url
        settings.MICROSOFT_CLIENT_ID = state.client_id
        settings.MICROSOFT_CLIENT_SECRET = state.client_secret
        settings.MICROSOFT_AUTHORITY_HOST = base_url
        settings.MICROSOFT_TENANT = "common"
        settings.MICROSOFT_GRAPH_BASE = f"{base_url}/v1.0"
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


@pytest.fixture
def eager_celery():
    """Run tasks in-process when they are queued (on_commit callbacks included)."""
    from calsync.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def owner_client(owner):
    """A test client signed in as `owner`."""
    from django.test import Client

    client = Client()
    client.login(email=owner.email, password=PASSWORD)
    return client


@pytest.fixture
def planner_prefers_indexes(db):
    # The tables are tiny in tests; without this the planner rightly picks sequential scans.
    with connections["default"].cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    yield
    with connections["default"].cursor() as cursor:
        cursor.execute("RESET enable_seqscan")
