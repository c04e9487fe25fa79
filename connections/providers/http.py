"""One place that turns an HTTP response from a provider into our error hierarchy."""

from __future__ import annotations

import http.client
import socket
import ssl

import requests
from django.conf import settings
from urllib3.exceptions import ProtocolError

from connections.providers.base import ProviderError, RateLimited


def timeout_seconds() -> float:
    """The wait for a provider's connection or its next bytes (PROVIDER_TIMEOUT_SECONDS), read per request."""
    return float(settings.PROVIDER_TIMEOUT_SECONDS)


def network_failure(exc: BaseException) -> str:
    """What went wrong with a request that got no whole answer, in words for the person who reads it on
    their connections page, with the client library's exception name after it for staff."""
    return f"{_what_happened(exc)} ({type(exc).__name__})"


def _what_happened(exc: BaseException) -> str:
    # Most specific first: requests' SSLError and ConnectTimeout are ConnectionErrors too.
    if isinstance(exc, requests.exceptions.SSLError | ssl.SSLError):
        return "the secure connection failed (a certificate or TLS problem)"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "the server redirected too many times"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return "the server's address cannot be used"
    if isinstance(exc, socket.gaierror):
        return "the server's name could not be found"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"could not connect within {timeout_seconds():g} s"
    if isinstance(exc, requests.Timeout | TimeoutError):
        return f"no answer within {timeout_seconds():g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | http.client.HTTPException | ConnectionResetError):
        return "the connection broke off before the answer was complete"
    if isinstance(exc, requests.ConnectionError):
        # requests reports a connection dropped mid-exchange as "Connection aborted" around urllib3's
        # ProtocolError; anything else is a connection that could not be made (refused, unreachable).
        if any(isinstance(arg, ProtocolError) for arg in exc.args):
            return "the connection broke off before the answer was complete"
        return "could not connect"
    if isinstance(exc, ConnectionRefusedError):
        return "could not connect"
    return "a network error"


def retry_after_seconds(response: requests.Response) -> float | None:
    return seconds_to_wait(response.headers.get("Retry-After"))


def seconds_to_wait(retry_after: object) -> float | None:
    """A Retry-After header's value when it is a number of seconds (not an HTTP date), else None."""
    text = str(retry_after or "").strip()
    return float(text) if text.isdigit() else None


def transient_error(status: int, what: str, retry_after: float | None) -> ProviderError | None:
    """429 and 5xx are worth retrying: the error that says so, with the provider's Retry-After; else None."""
    if status == 429:
        return RateLimited(f"{what}: rate limited (429)", retry_after=retry_after)
    if status >= 500:
        return ProviderError(f"{what}: server error {status}", retry_after=retry_after)
    return None


def raise_for_transient(response: requests.Response, what: str) -> None:
    """429 and 5xx are worth retrying; say so, with the provider's Retry-After if it gave one."""
    error = transient_error(response.status_code, what, retry_after_seconds(response))
    if error is not None:
        raise error
