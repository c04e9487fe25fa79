"""One place that turns an HTTP response from a provider into our error hierarchy."""

from __future__ import annotations

import requests

from connections.providers.base import ProviderError, RateLimited

TIMEOUT_SECONDS = 15


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def raise_for_transient(response: requests.Response, what: str) -> None:
    """429 and 5xx are worth retrying; say so, with the provider's Retry-After if it gave one."""
    if response.status_code == 429:
        raise RateLimited(f"{what}: rate limited (429)", retry_after=retry_after_seconds(response))
    if response.status_code >= 500:
        raise ProviderError(f"{what}: server error {response.status_code}", retry_after=retry_after_seconds(response))
