"""A pg_dump of the database holds no secret in the clear: tokens, CalDAV passwords and session keys."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Session
from accounts.sessions import hash_session_key
from connections.models import OAuthState, Provider, ProviderAccount
from tests.conftest import PASSWORD
from tests.oauth_helpers import consent, query_of, start


def find_pg_dump() -> str | None:
    """pg_dump on PATH, else the newest one of Debian's versioned installs (it must not be older than the server)."""
    on_path = shutil.which("pg_dump")
    if on_path:
        return on_path
    installed = Path("/usr/lib/postgresql").glob("*/bin/pg_dump")
    by_version = sorted(installed, key=lambda path: int(path.parents[1].name) if path.parents[1].name.isdigit() else 0)
    return str(by_version[-1]) if by_version else None


def dump_test_database() -> str:
    """The whole test database, schema and data, as plain SQL."""
    pg_dump = find_pg_dump()
    if pg_dump is None:
        pytest.skip("no pg_dump: neither on PATH nor under /usr/lib/postgresql/*/bin")
    database = connection.settings_dict
    environment = dict(os.environ)
    if database["PASSWORD"]:
        environment["PGPASSWORD"] = database["PASSWORD"]  # not on the command line, where `ps` would show it
    command = [pg_dump, "--format=plain", "--no-password", "--dbname", database["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if database[key]:
            command += [option, str(database[key])]
    # A fixed argument list (no shell); the only inputs are the test database's own settings.
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (names are constants)
        return str(cursor.fetchone()[0])


@pytest.fixture
def private_hosts(settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale runs on loopback


# Committed for real, because pg_dump reads the database from another connection.
@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_database_dump_holds_no_plaintext_secret(owner, fake_google, caldav_account, private_hosts):
    browser = Client()
    assert browser.login(email=owner.email, password=PASSWORD)
    signed_in_key = browser.cookies[settings.SESSION_COOKIE_NAME].value

    # Google: the real OAuth round trip against the fake, so the tokens pass through every place they could stick.
    person = fake_google.add_user(f"dump-{owner.pk}@gmail.com")
    authorize = start(browser, "google")
    code_verifier = OAuthState.objects.get(state=query_of(authorize)["state"]).flow["code_verifier"]
    assert browser.get(consent(authorize)).status_code == 302
    google = ProviderAccount.objects.get(user=owner, provider=Provider.GOOGLE)
    assert google.external_id == person.sub
    assert google.access_token in fake_google.access_tokens
    assert google.refresh_token in fake_google.refresh_tokens

    # CalDAV: the connect form, which checks the password against a real Radicale before storing it.
    response = browser.post(
        reverse("connections_caldav", args=["caldav"]),
        {"server_url": caldav_account.url, "username": caldav_account.username, "password": caldav_account.password},
    )
    assert response.status_code == 302, response.content[:500]
    caldav = ProviderAccount.objects.get(user=owner, provider=Provider.CALDAV)
    assert caldav.password == caldav_account.password

    current_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.get(key_hash=hash_session_key(current_key)).user_id == owner.pk

    dump = dump_test_database()

    # The dump really holds these rows (so an empty or failed dump cannot pass), secrets only in sealed form.
    assert person.email in dump
    assert caldav_account.username in dump
    assert hash_session_key(current_key) in dump
    assert stored("provider_accounts", "access_token", google.pk) in dump
    assert stored("provider_accounts", "password", caldav.pk) in dump

    plaintexts = {
        "Google access token": google.access_token,
        "Google refresh token": google.refresh_token,
        "CalDAV password": caldav_account.password,
        "PKCE code verifier": code_verifier,
        "user password": PASSWORD,
        "session key at sign-in": signed_in_key,
        "session key at the end": current_key,
    }
    assert all(plaintexts.values())
    leaked = sorted(name for name, value in plaintexts.items() if value in dump)
    assert not leaked, f"in the clear in the dump: {leaked}"
