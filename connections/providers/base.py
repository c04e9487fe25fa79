"""The provider contract (DESIGN §4): credentials, errors, and the adapter interface.

The contract grows with the features that use it: a small required core, optional capabilities declared
as class attributes rather than guessed from the provider's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

# Raised into whatever code is running by a signal (the worker's soft time limit): a handler that turns
# bad input into a skipped item must let these through, or the sync would carry on past its limit.
INTERRUPTS: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)


@dataclass(frozen=True)
class Credentials:
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = field(default_factory=tuple)
    # CalDAV: the server the person named, and their user name and (app-specific) password.
    server_url: str = ""
    username: str = ""
    password: str | None = None

    def __repr__(self) -> str:  # never print a secret into a log or a traceback
        return f"Credentials(expires_at={self.expires_at!r}, scopes={self.scopes!r}, server_url={self.server_url!r})"


@dataclass(frozen=True)
class AccountIdentity:
    """Who the person is at the provider: a stable id (reconnecting finds the same account) and a label."""

    external_id: str
    email: str


@dataclass(frozen=True)
class Grant:
    credentials: Credentials
    identity: AccountIdentity


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the person, and the client library's flow to keep with the state until the callback."""

    url: str
    flow: dict[str, Any]


@dataclass(frozen=True)
class RemoteCalendar:
    remote_id: str
    name: str
    color: str = ""  # "#rrggbb" or blank
    timezone: str = ""
    is_primary: bool = False
    read_only: bool = False


# An event time as the provider gave it: a `date` for all-day events, an aware `datetime` for timed events,
# a naive `datetime` for floating times (a wall-clock time in no zone, read in the viewer's zone).
EventTime = date | datetime


@dataclass(frozen=True)
class RemoteEvent:
    """One event as a provider describes it, in provider-neutral terms; the sync maps it to a row.

    A series master carries its `recurrence` lines; an exception (a moved, changed or cancelled occurrence)
    names its master with `master_id` and the occurrence it replaces with `original_start`.
    """

    provider_event_id: str
    start: EventTime
    end: EventTime
    etag: str = ""
    ical_uid: str = ""
    title: str = ""
    description: str = ""
    location: str = ""
    # The zone the event was written in (IANA name), for display; empty for all-day and floating events.
    timezone: str = ""
    status: str = "confirmed"  # confirmed, tentative or cancelled
    # iCalendar content lines of a series master: "RRULE:...", "EXDATE;TZID=...:...", "RDATE:...".
    recurrence: tuple[str, ...] = ()
    master_id: str = ""
    original_start: EventTime | None = None
    # Attendees, organizer, conference link, link to the event at the provider: shown, not queried.
    metadata: dict[str, Any] = field(default_factory=dict)
    provider_data: dict[str, Any] = field(default_factory=dict)
    # What the adapter had to assume to store a flawed event ("no end time: one hour assumed").
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedItem:
    """An item of a provider's listing that could not be turned into an event, and why."""

    provider_event_id: str
    reason: str
    # Our fetch failed, not the item (the server left it out of an answer, or failed on it): the cursor must
    # not move past it, so the next sync asks again.
    retry: bool = False


@dataclass(frozen=True)
class KnownEvent:
    """What the sync already stores for a provider id: adapters use it to skip fetching unchanged items."""

    etag: str
    master_id: str = ""


# The sync's answer to "which of these provider ids do you already have?"; adapters call it per page.
KnownEvents = Callable[[Sequence[str]], Mapping[str, KnownEvent]]


@dataclass
class ChangePage:
    """One page of a calendar's changes. Only the last page (`last`) carries the cursor for the next run."""

    events: list[RemoteEvent] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Ids present at the provider whose stored copy is current (not fetched again): seen, not changed, and
    # so are the exceptions stored under them as their master.
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    # Series this page carries whole (a CalDAV resource holds a master and all its overrides, or overrides
    # alone): stored events of the series, its master included, that the page does not name are gone.
    complete_series: list[str] = field(default_factory=list)
    last: bool = False
    cursor: str = ""
    # This listing names every event of the calendar (within `window`, if set): what it leaves out is gone.
    full_listing: bool = False
    window: tuple[datetime, datetime] | None = None
    requests: int = 1


# --- writing (two-way sync) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDraft:
    """An event as the person wrote it in calsync: the fields a write sends. Everything else the provider
    keeps (attendees, conference links, reminders) is left as it is by an update."""

    title: str
    start: EventTime  # a date for all-day events, an aware datetime for timed ones
    end: EventTime  # exclusive, as in iCalendar (an all-day event on the 4th ends on the 5th)
    timezone: str = ""  # the IANA zone the person wrote a timed event in; empty for all-day events
    location: str = ""
    description: str = ""
    # A series: its RRULE/EXDATE/RDATE lines, as RemoteEvent.recurrence. Empty for a single event.
    recurrence: tuple[str, ...] = ()
    # The iCalendar UID a create should carry (the provider may choose its own where it cannot take one).
    ical_uid: str = ""


@dataclass(frozen=True)
class EventRef:
    """Which provider event a write is about: an event or a series (`provider_event_id`), or one occurrence
    of a series (`master_id` and `original_start`, with `provider_event_id` too once it is an exception)."""

    provider_event_id: str = ""
    master_id: str = ""
    original_start: EventTime | None = None

    @property
    def is_occurrence(self) -> bool:
        return bool(self.master_id) and self.original_start is not None


@dataclass(frozen=True)
class WriteResult:
    """What a write left at the provider: the id and etag of what was written, and the provider's copy of the
    events it now holds for it (a CalDAV resource: the master and all its overrides), so the next inbound
    sync finds them unchanged. `events` is empty when the provider sent no copy back."""

    provider_event_id: str
    etag: str
    events: tuple[RemoteEvent, ...] = ()
    # `events` is all the provider holds for the series (a CalDAV resource): stored events of the series it
    # does not name are gone (a series moved in time gives its overrides new ids).
    complete: bool = False


# The answers a person can give an invitation they did not organize.
RESPONSES = ("accepted", "tentative", "declined")


class ProviderError(Exception):
    """A provider call failed. `permanent` failures must not be retried; `retry_after` is in seconds."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class TokenRejected(ProviderError):
    """The provider answered 401 to our access token: refresh it once and try again."""


class AuthorizationFailed(ProviderError):
    """Connecting could not finish (the person declined, or the provider refused the code).

    The message is shown to the person, so it says what happened in their words.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class AuthRevoked(ProviderError):
    """The grant is gone (invalid_grant, revoked consent): the person must reconnect."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class RateLimited(ProviderError):
    """The provider asked us to slow down (429, Google's rateLimitExceeded)."""


class CursorExpired(ProviderError):
    """The sync token / delta link / sync-token is no longer valid: a full resync is needed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class Conflict(ProviderError):
    """A write carried a stale etag: the provider's copy changed meanwhile."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class EventGone(ProviderError):
    """A write named an event the provider no longer has (deleted there meanwhile)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class WriteRefused(ProviderError):
    """The provider will not take this write as it is (a read-only calendar, a repeat rule it cannot
    express, a field the person may not change). The message is shown to the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class ProviderAdapter:
    provider: ClassVar[str]
    # Whether revoke() can withdraw the person's grant at the provider.
    can_revoke: ClassVar[bool] = False
    # OAuth providers send the person away and back; CalDAV servers are verified with a password instead.
    uses_oauth: ClassVar[bool] = False
    # Settings that must be non-empty before people can connect (OAuth client credentials).
    required_settings: ClassVar[tuple[str, ...]] = ()

    # Whether the person may choose if attendees hear about a change (Google's sendUpdates). Elsewhere the
    # provider decides: Graph always tells attendees, a CalDAV server schedules by itself.
    can_choose_notify: ClassVar[bool] = False

    def missing_settings(self) -> list[str]:
        """Names of the settings this provider needs and lacks (an empty list when it can be used)."""
        return [name for name in self.required_settings if not getattr(settings, name, "")]

    def list_calendars(self, credentials: Credentials) -> list[RemoteCalendar]:
        raise NotImplementedError

    def changes(
        self, credentials: Credentials, calendar: RemoteCalendar, cursor: str, known: KnownEvents
    ) -> Iterator[ChangePage]:
        """The calendar's changes since `cursor`, or a full listing when the cursor is empty.

        Pages are yielded in order; the last one has `last=True` and the cursor for the next run. An expired
        cursor raises CursorExpired (the sync then asks again with an empty one).
        """
        raise NotImplementedError

    # --- write (two-way sync) -------------------------------------------------------------------------
    # Every write is safe to repeat: a create retried with the same `key` finds the event its first attempt
    # made; an update or delete carries the etag it was based on (`etag`, empty to skip the check) and raises
    # Conflict when the provider's copy has moved on, EventGone when it is no longer there. `notify` asks
    # the provider to tell attendees, where the adapter `can_choose_notify`.

    def create_event(
        self, credentials: Credentials, calendar: RemoteCalendar, draft: EventDraft, *, key: str, notify: bool
    ) -> WriteResult:
        """Create an event or series. `key` (32 lowercase hex characters, stable across retries) is the
        idempotency key: Google's client-chosen event id, Graph's transactionId, the CalDAV resource name."""
        raise NotImplementedError

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
        """Change an event, a whole series (its recurrence included), or one occurrence (which becomes an
        exception). The WriteResult names the exception for an occurrence."""
        raise NotImplementedError

    def delete_event(
        self, credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, *, etag: str, notify: bool
    ) -> WriteResult | None:
        """Delete an event or a whole series, or cancel one occurrence. Deleting what is already gone is
        not an error. Returns the series' new state when an occurrence was cancelled, else None."""
        raise NotImplementedError

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
        """Answer an invitation the person did not organize: one of RESPONSES, for them alone."""
        raise NotImplementedError

    def fetch_event(
        self, credentials: Credentials, calendar: RemoteCalendar, provider_event_id: str
    ) -> list[RemoteEvent]:
        """The provider's current copy of an event or series (for a CalDAV resource, the master with its
        overrides); an empty list when it is gone. Used to show the provider's version after a Conflict."""
        raise NotImplementedError

    def authorization_start(self, *, redirect_uri: str, state: str, login_hint: str = "") -> AuthorizationStart:
        """OAuth: the URL that asks the person for consent, and the flow to keep until the callback."""
        raise NotImplementedError(f"{type(self).__name__} does not use OAuth")

    def authorization_finish(self, *, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> Grant:
        """OAuth: exchange the callback's code for tokens and learn who the person is at the provider."""
        raise NotImplementedError(f"{type(self).__name__} does not use OAuth")

    def refresh(self, credentials: Credentials) -> Credentials:
        """OAuth: a new access token (and the rotated refresh token, when the provider sends one)."""
        raise NotImplementedError(f"{type(self).__name__} does not use OAuth")

    def verify(self, *, server_url: str, username: str, password: str) -> Grant:
        """CalDAV: discover the person's principal with these credentials, or raise AuthorizationFailed."""
        raise NotImplementedError(f"{type(self).__name__} does not take a password")

    def revoke(self, credentials: Credentials) -> None:
        """Withdraw the grant behind these credentials at the provider. Already-invalid grants are fine."""
        raise NotImplementedError(f"{type(self).__name__} cannot revoke grants")
