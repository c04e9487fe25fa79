"""The Radicale fixtures: one real CalDAV server per test session (fakes.radicale), and a fresh account in it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from fakes.radicale import CalDAVAccount, RadicaleServer
from fakes.tls import trust_test_ca


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    authority = trust_test_ca()
    server = RadicaleServer(tmp_path_factory.mktemp("radicale"), authority)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def caldav_account(radicale: RadicaleServer) -> CalDAVAccount:
    """A fresh user with two calendars, "Work" (#1e88e5) and "Home" (#43a047)."""
    username = f"person-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    radicale.add_user(username, password)
    calendars = {
        name: radicale.make_calendar(username, password, name, color=color)
        for name, color in (("Work", "#1e88e5"), ("Home", "#43a047"))
    }
    return CalDAVAccount(url=radicale.url, username=username, password=password, calendars=calendars)
