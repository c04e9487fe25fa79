"""Google's client: OAuth 2.0 with PKCE (google-auth-oauthlib), tokens (google-auth), and the Calendar API
(google-api-python-client with its bundled discovery document). Endpoints come from settings (GOOGLE_*).

The only module of this package where Google's HTTP and library errors become ProviderErrors: reading and
writing run their requests through `call_api` and `send`.
"""

from __future__ import annotations

import functools
import http.client
import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any, TypeVar
from urllib.parse import urljoin

import google.auth.exceptions
import google.oauth2.credentials
import google_auth_httplib2
import httplib2
import requests
from django.conf import settings
from google.auth.transport.requests import Request as GoogleAuthRequest
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from connections.providers.base import (
    AccountIdentity,
    AuthorizationFailed,
    AuthorizationStart,
    AuthRevoked,
    Conflict,
    Credentials,
    CursorExpired,
    EventGone,
    Grant,
    ProviderError,
    RateLimited,
    TokenRejected,
    WriteRefused,
)
from connections.providers.http import (
    network_failure,
    raise_for_transient,
    seconds_to_wait,
    timeout_seconds,
    transient_error,
)
from connections.providers.values import decode_jwt_claims

# Read and write events on every calendar, plus who the person is (the OIDC subject and email).
SCOPES = ("openid", "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/calendar")
CALENDAR_SCOPE = SCOPES[2]
# errors[].reason of the v3 error body, and details[].reason (google.rpc.ErrorInfo) of the newer one.
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "RATE_LIMIT_EXCEEDED"}
# 403 reasons that say the calendar (or this event) will not take the write, as opposed to a rate limit.
READ_ONLY_REASONS = {"requiredAccessLevel", "forbidden"}
NOT_ORGANIZER_REASONS = {"forbiddenForNonOrganizer"}
SCOPE_REASONS = {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}

T = TypeVar("T")


class DuplicateId(Exception):
    """events.insert answered 409: an event with this id exists already."""


# --- OAuth ----------------------------------------------------------------------------------------------


def start_authorization(*, redirect_uri: str, state: str, login_hint: str = "") -> AuthorizationStart:
    flow = _flow(redirect_uri)
    extra = {"login_hint": login_hint} if login_hint else {}
    # offline + consent: Google sends a refresh token only on a consent screen.
    url, _ = flow.authorization_url(state=state, access_type="offline", prompt="consent", **extra)
    return AuthorizationStart(url=url, flow={"code_verifier": flow.code_verifier})


def finish_authorization(*, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> Grant:
    code = params.get("code", "")
    if not code:
        raise AuthorizationFailed("Google sent you back without an authorization code. Please try again.")
    oauth_flow = _flow(redirect_uri, code_verifier=str(flow.get("code_verifier", "")))
    try:
        oauth_flow.fetch_token(code=code, timeout=timeout_seconds())
    except Warning as changed:
        # oauthlib warns when the granted scopes differ from the requested ones: the person unticked
        # calendar access on Google's consent screen.
        granted = getattr(changed, "token", {}).get("scope", "")
        if CALENDAR_SCOPE not in str(granted).split():
            raise AuthorizationFailed(
                "calsync needs permission to see and edit your Google calendars. Connect again and leave "
                "that box ticked."
            ) from None
        raise AuthorizationFailed("Google granted different permissions than calsync asked for.") from None
    except OAuth2Error as exc:
        raise AuthorizationFailed(f"Google refused the sign-in ({exc.error}). Please try again.") from None
    except requests.RequestException as exc:
        raise ProviderError(f"Google token endpoint: {network_failure(exc)}") from None
    except (ValueError, TypeError) as exc:  # not the JSON it should be
        raise ProviderError(f"Google token endpoint: malformed response ({type(exc).__name__})") from None
    google_credentials = oauth_flow.credentials
    identity = _identity_from_id_token(google_credentials.id_token)
    if not google_credentials.refresh_token:
        raise AuthorizationFailed("Google did not grant offline access. Please connect again.")
    return Grant(credentials=_credentials_from_google(google_credentials), identity=identity)


def refresh(credentials: Credentials) -> Credentials:
    if not credentials.refresh_token:
        raise AuthRevoked("no refresh token stored")
    google_credentials = google.oauth2.credentials.Credentials(
        token=None,
        refresh_token=credentials.refresh_token,
        token_uri=settings.GOOGLE_TOKEN_URI,
        client_id=settings.GOOGLE_CLIENT_ID,
        client_secret=settings.GOOGLE_CLIENT_SECRET,
        scopes=list(credentials.scopes) or list(SCOPES),
    )
    try:
        google_credentials.refresh(GoogleAuthRequest(session=requests.Session()))
    except google.auth.exceptions.RefreshError as exc:
        # invalid_grant: the person revoked access, changed their password, or the token lapsed.
        # (invalid_client is our configuration, not their grant: it must not ask them to reconnect.)
        if _refresh_error_code(exc) == "invalid_grant":
            raise AuthRevoked("Google refused the refresh token (invalid_grant)") from None
        raise ProviderError("Google token refresh failed", permanent=not exc.retryable) from None
    except google.auth.exceptions.TransportError as exc:  # google-auth's wrapper of the requests failure
        raise ProviderError(f"Google token endpoint: {network_failure(exc.__cause__ or exc)}") from None
    except (ValueError, TypeError) as exc:
        raise ProviderError(f"Google token endpoint: malformed response ({type(exc).__name__})") from None
    # Google keeps the refresh token; google-auth carries the old one over.
    return _credentials_from_google(google_credentials)


def revoke(credentials: Credentials) -> None:
    # Revoking the refresh token withdraws the whole grant (and its access tokens).
    token = credentials.refresh_token or credentials.access_token
    if not token:
        return
    timeout = timeout_seconds()
    try:
        response = requests.post(
            settings.GOOGLE_REVOKE_URI,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise ProviderError(f"Google revoke: {network_failure(exc)}") from None
    raise_for_transient(response, "Google revoke")
    if response.status_code == 200:
        return
    # 400 invalid_token: already revoked or expired, which is what we wanted.
    if response.status_code == 400 and _error_code(response) == "invalid_token":
        return
    raise ProviderError(f"Google revoke: unexpected {response.status_code}", permanent=True)


# --- the Calendar API -----------------------------------------------------------------------------------


def calendar_service(credentials: Credentials) -> Any:
    """A Calendar API client with this access token. Refreshing is ours (it saves rotated tokens), so the
    transport does not refresh on 401 by itself: it reports it as TokenRejected."""
    google_credentials = google.oauth2.credentials.Credentials(token=credentials.access_token)
    http = google_auth_httplib2.AuthorizedHttp(google_credentials, http=_kept_alive_http(), refresh_status_codes=())
    return build_from_document(
        _discovery_document(),
        http=http,
        client_options={"api_endpoint": urljoin(settings.GOOGLE_API_BASE, "calendar/v3/")},
    )


@functools.cache
def _discovery_document() -> dict[str, Any]:
    """The Calendar API's discovery document the library ships, parsed once per process rather than on every
    sync (the library only ever adds the same defaults to it)."""
    document = get_static_doc("calendar", "v3")
    if document is None:  # pragma: no cover - the library ships it
        raise ProviderError("the Calendar API's discovery document is missing from googleapiclient", permanent=True)
    return dict(json.loads(document))


_per_thread = threading.local()


def _kept_alive_http() -> httplib2.Http:
    """One connection pool per thread (httplib2 is not thread-safe), so syncs one after another reuse the
    TLS connection instead of shaking hands for each. The token travels per request, never with the pool."""
    pool = getattr(_per_thread, "http", None)
    timeout = timeout_seconds()
    if pool is None or pool.timeout != timeout:  # a pool carries the timeout it was made with
        pool = _per_thread.http = httplib2.Http(timeout=timeout)
    return pool


def call_api(execute: Callable[[], T], what: str) -> T:
    """Run one Calendar API request, turning its failures into our error hierarchy."""
    try:
        return execute()
    except HttpError as exc:
        raise api_error(exc, what) from None
    except (httplib2.HttpLib2Error, OSError) as exc:  # refused, reset, timed out, name not found
        raise ProviderError(f"{what}: {network_failure(exc)}") from None
    except http.client.HTTPException as exc:  # an answer cut off part-way (IncompleteRead): worth a retry
        raise ProviderError(f"{what}: {network_failure(exc)}") from None
    except ValueError as exc:  # a body that is not the JSON it should be
        raise ProviderError(f"{what}: malformed response ({type(exc).__name__})") from None


def api_error(exc: HttpError, what: str) -> ProviderError:
    status = int(exc.resp.status)
    seconds = seconds_to_wait(exc.resp.get("retry-after"))
    reasons = error_reasons(exc)
    if status == 401:
        return TokenRejected(f"{what}: access token rejected (401)")
    # 410 on a list: the sync token lapsed (fullSyncRequired, updatedMinTooLongAgo). On a single event,
    # 410 "deleted" says the event is gone, which a full resync would not fix.
    if status == 410 and "deleted" not in reasons:
        return CursorExpired(f"{what}: sync token no longer valid, full sync required (410)")
    # Google also says "rate limited" with a 403 and a reason.
    if status == 403 and reasons & RATE_LIMIT_REASONS:
        return RateLimited(f"{what}: rate limited (403)", retry_after=seconds)
    return transient_error(status, what, seconds) or ProviderError(f"{what}: {status}", permanent=True)


def error_reasons(exc: HttpError) -> set[str]:
    """The reasons in Google's error body: errors[].reason (v3) and details[].reason (ErrorInfo).

    The client library keeps only one of those lists in `error_details` (details when both are there).
    """
    error = _error_object(exc)
    entries = [entry for name in ("errors", "details") if isinstance(error.get(name), list) for entry in error[name]]
    return {str(entry.get("reason", "")) for entry in entries if isinstance(entry, dict)} - {""}


def _error_object(exc: HttpError) -> dict[str, Any]:
    """The `error` object of Google's error body; empty when the body has none."""
    try:
        error = json.loads(exc.content or b"{}").get("error", {})
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        return {}
    return error if isinstance(error, dict) else {}


def send(request: Any, what: str, *, if_match: str = "", duplicate_is_ok: bool = False) -> dict[str, Any]:
    """Run one write-side request (no retries here: the push retries the whole write, which is safe to
    repeat) and turn Google's answers into the write errors of the contract."""
    if if_match:
        request.headers["If-Match"] = if_match

    def execute() -> Any:
        try:
            return request.execute()
        except HttpError as exc:
            if duplicate_is_ok and int(exc.resp.status) == 409:
                raise DuplicateId from None
            raise _write_error(exc, what) from None

    body = call_api(execute, what)
    if body in ("", None):  # events.delete answers 204 without a body
        return {}
    if not isinstance(body, dict):
        raise ProviderError(f"{what}: malformed response (not an event)")
    return body


def _write_error(exc: HttpError, what: str) -> ProviderError:
    status = int(exc.resp.status)
    reasons = error_reasons(exc)
    if status in (404, 410):
        return EventGone(f"{what}: the event is no longer at Google ({status})")
    if status == 412:
        return Conflict("The event changed at Google since calsync last saw it.")
    if status == 403 and not reasons & RATE_LIMIT_REASONS:
        if reasons & NOT_ORGANIZER_REASONS:
            return WriteRefused("Only the organizer can change this event; you can answer the invitation.")
        if reasons & SCOPE_REASONS:
            return WriteRefused("calsync may not change your Google calendars. Connect Google again and allow it.")
        if reasons & READ_ONLY_REASONS:
            return WriteRefused("You can only read this Google calendar, so calsync cannot change its events.")
    if status == 400:
        message = _error_message(exc)
        return WriteRefused(f"Google did not accept this event{': ' + message if message else '.'}")
    return api_error(exc, what)


def _error_message(exc: HttpError) -> str:
    return str(_error_object(exc).get("message") or "")[:300]


# --- OAuth helpers ---------------------------------------------------------------------------------------


def _flow(redirect_uri: str, code_verifier: str | None = None) -> Flow:
    client_config = {
        "web": {
            "client_id": settings.GOOGLE_CLIENT_ID,
            "client_secret": settings.GOOGLE_CLIENT_SECRET,
            "auth_uri": settings.GOOGLE_AUTH_URI,
            "token_uri": settings.GOOGLE_TOKEN_URI,
        }
    }
    return Flow.from_client_config(
        client_config,
        scopes=list(SCOPES),
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        autogenerate_code_verifier=code_verifier is None,
    )


def _credentials_from_google(google_credentials: google.oauth2.credentials.Credentials) -> Credentials:
    expiry = google_credentials.expiry  # naive UTC, as google-auth keeps it
    return Credentials(
        access_token=google_credentials.token,
        refresh_token=google_credentials.refresh_token,
        expires_at=expiry.replace(tzinfo=UTC) if expiry else None,
        scopes=tuple(google_credentials.granted_scopes or google_credentials.scopes or ()),
    )


def _identity_from_id_token(id_token: str | None) -> AccountIdentity:
    claims = decode_jwt_claims(id_token or "")
    if claims.get("aud") != settings.GOOGLE_CLIENT_ID or not claims.get("sub"):
        raise AuthorizationFailed("Google's answer did not identify your account. Please try again.")
    return AccountIdentity(external_id=str(claims["sub"]), email=str(claims.get("email", "")))


def _refresh_error_code(exc: google.auth.exceptions.RefreshError) -> str:
    # google-auth passes the token endpoint's JSON body as the second argument.
    body = exc.args[1] if len(exc.args) > 1 else None
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
