"""The provider contract (DESIGN §4): credentials, errors, and the adapter interface.

The contract grows with the features that use it: a small required core, optional capabilities declared
as class attributes rather than guessed from the provider's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings


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


class ProviderAdapter:
    provider: ClassVar[str]
    # Whether revoke() can withdraw the person's grant at the provider.
    can_revoke: ClassVar[bool] = False
    # OAuth providers send the person away and back; CalDAV servers are verified with a password instead.
    uses_oauth: ClassVar[bool] = False
    # Settings that must be non-empty before people can connect (OAuth client credentials).
    required_settings: ClassVar[tuple[str, ...]] = ()

    def missing_settings(self) -> list[str]:
        """Names of the settings this provider needs and lacks (an empty list when it can be used)."""
        return [name for name in self.required_settings if not getattr(settings, name, "")]

    def list_calendars(self, credentials: Credentials) -> list[RemoteCalendar]:
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
