"""One place that turns an HTTP response from a provider into our error hierarchy."""

from __future__ import annotations

import requests
from django.conf import settings

from connections.providers.base import ProviderError, RateLimited


def timeout_seconds() -> float:
    """The wait for a provider's connection or its next bytes (PROVIDER_TIMEOUT_SECONDS), read per request."""
    return float(settings.PROVIDER_TIMEOUT_SECONDS)


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def raise_for_transient(response: requests.Response, what: str) -> None:
    """429 and 5xx are worth retrying; say so, with the provider's Retry-After if it gave one."""
    if response.status_code == 429:
        raise RateLimited(f"{what}: rate limited (429)", retry_after=retry_after_seconds(response))
    if response.status_code >= 500:
        raise ProviderError(f"{what}: server error {response.status_code}", retry_after=retry_after_seconds(response))
