"""The loopback Google fake (fakes/google.py) served for the bench, and calendars connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httplib2
from django.conf import settings

from accounts.models import User
from bench.fixtures import google_account
from connections.models import CalendarConnection
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from fakes import google
from fakes.server import serve
from fakes.tls import trust_test_ca

SETTING_NAMES = (
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "GOOGLE_AUTH_URI",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_API_BASE",
)


@dataclass
class GoogleFake:
    state: google.GoogleState
    env: dict[str, str]  # the settings (as environment) that point a child process at the fake


@contextmanager
def google_fake() -> Iterator[GoogleFake]:
    """Serve the fake over TLS on loopback and point this process's settings at it (restored afterwards)."""
    authority = trust_test_ca()  # also exported to the processes started from here
    httplib2.CA_CERTS = str(authority.ca_bundle)  # read once at import, which may have happened already
    state = google.GoogleState()
    saved = {name: getattr(settings, name) for name in SETTING_NAMES}
    with serve(google.handler_for(state), tls=True) as base_url:
        state.base_url = base_url
        pointed = {
            "GOOGLE_CLIENT_ID": state.client_id,
            "GOOGLE_CLIENT_SECRET": state.client_secret,
            "GOOGLE_AUTH_URI": f"{base_url}/o/oauth2/v2/auth",
            "GOOGLE_TOKEN_URI": f"{base_url}/token",
            "GOOGLE_REVOKE_URI": f"{base_url}/revoke",
            "GOOGLE_API_BASE": f"{base_url}/",
        }
        for name, value in pointed.items():
            setattr(settings, name, value)
        try:
            yield GoogleFake(state, pointed)
        finally:
            for name, value in saved.items():
                setattr(settings, name, value)


def google_calendars(fake: GoogleFake, user: User, email: str, *, calendars: int = 1) -> list[CalendarConnection]:
    """A Google account at the fake for `user` with `calendars` calendars (the primary first), all connected."""
    person = fake.state.add_user(email)
    for index in range(1, calendars):
        fake.state.add_calendar(person.sub, summary=f"Team {index}")
    tokens = fake.state.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    account = google_account(user, sub=person.sub, email=email, tokens=tokens)
    account.save()
    return CalendarConnection.objects.bulk_create(
        CalendarConnection(
            user=user,
            account=account,
            remote_id=entry["id"],
            name=entry["summary"],
            timezone=entry["timeZone"],
            is_primary=bool(entry.get("primary")),
        )
        for entry in person.calendars
    )
