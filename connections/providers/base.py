"""The provider contract (DESIGN §4): credentials, errors, and the adapter interface.

The contract grows with the features that use it: a small required core, optional capabilities declared
as class attributes rather than guessed from the provider's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True)
class Credentials:
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = field(default_factory=tuple)


class ProviderError(Exception):
    """A provider call failed. `permanent` failures must not be retried; `retry_after` is in seconds."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


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

    def revoke(self, credentials: Credentials) -> None:
        """Withdraw the grant behind these credentials at the provider. Already-invalid grants are fine."""
        raise NotImplementedError(f"{type(self).__name__} cannot revoke grants")
