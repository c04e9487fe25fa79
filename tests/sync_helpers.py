"""Shared pieces of the sync tests: calendars connected at the fakes (fakes.sync_views compares after a sync)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils.timezone import now

from accounts.models import User
from connections.models import CalendarConnection, Provider
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from connections.providers.microsoft.client import SCOPES as MICROSOFT_SCOPES
from fakes.google import GoogleState
from fakes.microsoft import MicrosoftState
from fakes.radicale import CalDAVAccount
from tests.factories import make_account, make_connection


def google_calendar(user: User, fake: GoogleState, email: str = "olive@gmail.com") -> CalendarConnection:
    """A person's Google primary calendar, connected (not yet synced)."""
    person = fake.add_user(email)
    tokens = fake.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    account = make_account(
        user,
        Provider.GOOGLE,
        external_id=person.sub,
        email=email,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_expires_at=now() + timedelta(hours=1),
    )
    calendar_id = person.calendars[0]["id"]
    return make_connection(account, remote_id=calendar_id, name=email, timezone="Europe/Berlin")


def graph_calendar(user: User, fake: MicrosoftState, person: Any) -> CalendarConnection:
    """A person's default Outlook calendar at the Graph fake, connected (not yet synced)."""
    tokens = fake.issue_tokens(person.oid, [*MICROSOFT_SCOPES, "openid", "profile", "offline_access"])
    account = make_account(
        user,
        Provider.MICROSOFT,
        external_id=person.oid,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_expires_at=now() + timedelta(hours=1),
    )
    return make_connection(account, remote_id=fake.default_calendar_id(person.oid), name="Calendar")


def caldav_work_calendar(user: User, caldav_account: CalDAVAccount) -> CalendarConnection:
    """The Radicale fixture account's "Work" calendar, connected (not yet synced)."""
    account = make_account(
        user,
        Provider.CALDAV,
        external_id=f"{caldav_account.url}{caldav_account.username}/",
        email=caldav_account.username,
        server_url=caldav_account.url,
        username=caldav_account.username,
        password=caldav_account.password,
    )
    return make_connection(account, remote_id=caldav_account.calendars["Work"], name="Work")
