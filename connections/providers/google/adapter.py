"""GoogleAdapter: the provider contract for Google Calendar, delegating to the client (OAuth), reading and
writing (two-way sync). Each call builds a Calendar API service with the person's access token."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from connections.providers.base import (
    AuthorizationStart,
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
from connections.providers.google import client, reading, writing
from connections.providers.google.client import calendar_service


class GoogleAdapter(ProviderAdapter):
    provider: ClassVar[str] = "google"
    can_revoke: ClassVar[bool] = True
    uses_oauth: ClassVar[bool] = True
    can_choose_notify: ClassVar[bool] = True  # sendUpdates on every write

    required_settings: ClassVar[tuple[str, ...]] = ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")

    # --- connect ------------------------------------------------------------------------------------

    def authorization_start(self, *, redirect_uri: str, state: str, login_hint: str = "") -> AuthorizationStart:
        return client.start_authorization(redirect_uri=redirect_uri, state=state, login_hint=login_hint)

    def authorization_finish(self, *, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> Grant:
        return client.finish_authorization(flow=flow, params=params, redirect_uri=redirect_uri)

    def refresh(self, credentials: Credentials) -> Credentials:
        return client.refresh(credentials)

    def revoke(self, credentials: Credentials) -> None:
        client.revoke(credentials)

    # --- read ---------------------------------------------------------------------------------------

    def list_calendars(self, credentials: Credentials) -> list[RemoteCalendar]:
        return reading.calendars(calendar_service(credentials))

    def changes(
        self, credentials: Credentials, calendar: RemoteCalendar, cursor: str, known: KnownEvents
    ) -> Iterator[ChangePage]:
        # events.list sends every changed event whole, so there is nothing to skip fetching: `known` is unused.
        return reading.change_pages(calendar_service(credentials), calendar, cursor)

    # --- write --------------------------------------------------------------------------------------

    def create_event(
        self, credentials: Credentials, calendar: RemoteCalendar, draft: EventDraft, *, key: str, notify: bool
    ) -> WriteResult:
        return writing.create_event(calendar_service(credentials), calendar, draft, key=key, notify=notify)

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
        service = calendar_service(credentials)
        return writing.update_event(service, calendar, ref, draft, etag=etag, notify=notify)

    def delete_event(
        self, credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, *, etag: str, notify: bool
    ) -> WriteResult | None:
        return writing.delete_event(calendar_service(credentials), calendar, ref, etag=etag, notify=notify)

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
        service = calendar_service(credentials)
        return writing.respond(service, calendar, ref, response, etag=etag, notify=notify)

    def fetch_event(
        self, credentials: Credentials, calendar: RemoteCalendar, provider_event_id: str
    ) -> list[RemoteEvent]:
        return writing.fetch_event(calendar_service(credentials), calendar, provider_event_id)
