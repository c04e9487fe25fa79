"""Apple iCloud and any CalDAV server: the adapter over `reading` and `writing`, which go through `client`
(the caldav library on a guarded requests session)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import ClassVar

from django.views.decorators.debug import sensitive_variables

from connections.providers.base import (
    AccountIdentity,
    ChangePage,
    Credentials,
    EventDraft,
    EventRef,
    Grant,
    KnownEvents,
    ProviderAdapter,
    RemoteCalendar,
    RemoteEvent,
    WriteResult,
)
from connections.providers.caldav.client import connect, new_client, verification_errors
from connections.providers.caldav.reading import calendars, changes_since
from connections.providers.caldav.writing import CalDAVWriter
from connections.providers.netguard import url_check


class CalDAVAdapter(ProviderAdapter):
    provider: ClassVar[str] = "caldav"

    @sensitive_variables("password")
    def verify(self, *, server_url: str, username: str, password: str) -> Grant:
        url = url_check(server_url)
        client = new_client(url, username, password)
        with verification_errors(url):
            principal = client.principal()
        credentials = Credentials(server_url=url, username=username, password=password)
        return Grant(credentials=credentials, identity=AccountIdentity(external_id=str(principal.url), email=username))

    def list_calendars(self, credentials: Credentials) -> list[RemoteCalendar]:
        return calendars(credentials)

    def changes(
        self, credentials: Credentials, calendar: RemoteCalendar, cursor: str, known: KnownEvents
    ) -> Iterator[ChangePage]:
        with connect(credentials) as client:
            yield from changes_since(client, calendar, cursor, known, owner_emails=owner_emails(credentials))

    # -- write: the server schedules by itself (RFC 6638), so `notify` has nothing to choose -------------

    def create_event(
        self, credentials: Credentials, calendar: RemoteCalendar, draft: EventDraft, *, key: str, notify: bool
    ) -> WriteResult:
        with _writer(credentials, calendar) as writer:
            return writer.create(draft, key=key)

    def update_event(
        self,
        credentials: Credentials,
        calendar: RemoteCalendar,
        ref: EventRef,
        draft: EventDraft,
        *,
        etag: str,
        notify: bool,
    ) -> WriteResult:
        with _writer(credentials, calendar) as writer:
            return writer.update(ref, draft, etag=etag)

    def delete_event(
        self, credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, *, etag: str, notify: bool
    ) -> WriteResult | None:
        with _writer(credentials, calendar) as writer:
            return writer.delete(ref, etag=etag)

    def respond(
        self,
        credentials: Credentials,
        calendar: RemoteCalendar,
        ref: EventRef,
        response: str,
        *,
        etag: str,
        notify: bool,
    ) -> WriteResult:
        with _writer(credentials, calendar) as writer:
            return writer.respond(ref, response, etag=etag)

    def fetch_event(
        self, credentials: Credentials, calendar: RemoteCalendar, provider_event_id: str
    ) -> list[RemoteEvent]:
        with _writer(credentials, calendar) as writer:
            return writer.fetch(provider_event_id)


class ICloudAdapter(CalDAVAdapter):
    provider: ClassVar[str] = "icloud"


def owner_emails(credentials: Credentials) -> tuple[str, ...]:
    """The person's own addresses, which tell their events and their place on a guest list.

    The user name is the person's address at most servers (always at iCloud).
    """
    return (credentials.username,) if "@" in credentials.username else ()


@contextlib.contextmanager
def _writer(credentials: Credentials, calendar: RemoteCalendar) -> Iterator[CalDAVWriter]:
    with connect(credentials) as client:
        yield CalDAVWriter(client, calendar, owner_emails(credentials))
