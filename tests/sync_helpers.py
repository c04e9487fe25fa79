"""Shared pieces of the sync tests: connected calendars at the fakes, and "the database equals the provider"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils.timezone import now

from accounts.models import User
from connections.models import CalendarConnection, Provider
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from connections.providers.microsoft.client import SCOPES as MICROSOFT_SCOPES
from events.models import CalendarEvent
from tests.factories import make_account, make_connection
from tests.fakes.google import GoogleState
from tests.fakes.microsoft import MicrosoftState
from tests.radicale import CalDAVAccount


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


def google_view(fake: GoogleState, calendar_id: str) -> dict[str, tuple[str, str, str]]:
    """What Google holds for the calendar, as the sync must store it: id -> (title, status, etag).

    Live events, and cancelled occurrences of live series (they hide that occurrence), as events.list
    serves them. Titles lose NUL characters, which PostgreSQL cannot store (the sync drops them).
    """
    return {
        event_id: (
            resource.get("summary", "").replace("\x00", ""),
            resource.get("status", "confirmed"),
            resource["etag"],
        )
        for event_id, resource in fake.kept_events(calendar_id).items()
    }


def stored_view(connection: CalendarConnection) -> dict[str, tuple[str, str, str]]:
    rows = CalendarEvent.objects.filter(connection=connection, deleted_at__isnull=True)
    view: dict[str, tuple[str, str, str]] = {}
    for pid, title, status, etag in rows.values_list("provider_event_id", "title", "status", "etag"):
        if pid is None:
            continue
        if pid in view:
            raise AssertionError(f"{pid} stored twice")
        view[pid] = (title, status, etag)
    return view
