"""MicrosoftAdapter: the provider contract for Outlook / 365, delegating to the client (msal), reading
(calendarView delta) and writing (two-way sync)."""

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
from connections.providers.microsoft import client, reading, writing


class MicrosoftAdapter(ProviderAdapter):
    provider: ClassVar[str] = "microsoft"
    uses_oauth: ClassVar[bool] = True
    # Graph offers no call that withdraws one app's delegated grant for a person (only an admin can remove
    # the consent; revokeSignInSessions would sign them out everywhere), so we delete our copy of the tokens.
    can_revoke: ClassVar[bool] = False

    required_settings: ClassVar[tuple[str, ...]] = ("MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET")

    # --- connect ------------------------------------------------------------------------------------

    def authorization_start(self, *, redirect_uri: str, state: str, login_hint: str = "") -> AuthorizationStart:
        return client.start_authorization(redirect_uri=redirect_uri, state=state, login_hint=login_hint)

    def authorization_finish(self, *, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> Grant:
        return client.finish_authorization(flow=flow, params=params, redirect_uri=redirect_uri)

    def refresh(self, credentials: Credentials) -> Credentials:
        return client.refresh(credentials)

    # --- read ---------------------------------------------------------------------------------------

    def list_calendars(self, credentials: Credentials) -> list[RemoteCalendar]:
        return reading.calendars(credentials)

    def changes(
        self, credentials: Credentials, calendar: RemoteCalendar, cursor: str, known: KnownEvents
    ) -> Iterator[ChangePage]:
        return reading.calendar_changes(credentials, calendar, cursor, known)

    # --- write (two-way sync) -----------------------------------------------------------------------
    # `notify` is not ours to choose (can_choose_notify is False): Graph sends invitations and updates to
    # attendees itself.

    def create_event(
        self, credentials: Credentials, calendar: RemoteCalendar, draft: EventDraft, *, key: str, notify: bool
    ) -> WriteResult:
        return writing.create_event(credentials, calendar, draft, key=key)

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
        return writing.update_event(credentials, calendar, ref, draft, etag=etag)

    def delete_event(
        self, credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, *, etag: str, notify: bool
    ) -> WriteResult | None:
        return writing.delete_event(credentials, calendar, ref, etag=etag)

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
        return writing.respond(credentials, calendar, ref, response)

    def fetch_event(
        self, credentials: Credentials, calendar: RemoteCalendar, provider_event_id: str
    ) -> list[RemoteEvent]:
        return writing.fetch_event(credentials, calendar, provider_event_id)
