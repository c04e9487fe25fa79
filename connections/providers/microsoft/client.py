"""Microsoft's client: msal's authorization-code flow with PKCE, and Microsoft Graph over HTTPS.

msal builds its own flow (PKCE verifier, nonce, state); we keep that dict with our state row and hand it
back at the callback rather than re-implementing it. The authority and Graph base come from settings
(MICROSOFT_AUTHORITY_HOST, MICROSOFT_TENANT, MICROSOFT_GRAPH_BASE), for sovereign clouds and tests.

The only module of this package where Graph's and msal's errors become ProviderErrors: reading sends its
requests through `graph_get`, writing through `graph_write` and `graph_command`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import requests
from django.conf import settings
from msal.exceptions import MsalServiceError

from connections.providers.base import (
    AccountIdentity,
    AuthorizationFailed,
    AuthorizationStart,
    AuthRevoked,
    Conflict,
    Credentials,
    CursorExpired,
    Grant,
    ProviderError,
    TokenRejected,
    WriteRefused,
)
from connections.providers.http import network_failure, raise_for_transient, timeout_seconds
from connections.providers.retry import with_retries

# msal adds the reserved scopes itself (openid, profile, offline_access — the last one is what brings a
# refresh token); passing them here is an error.
SCOPES = ["Calendars.ReadWrite", "User.Read"]
# Token endpoint errors that mean this person's grant is gone, not that the service is unwell.
GRANT_GONE = {"invalid_grant", "interaction_required"}
# Graph error codes that mean a delta round's state is gone (compared in lower case).
SYNC_STATE_GONE = {"syncstatenotfound", "syncstateinvalid", "resyncrequired"}
# The error code of a create whose transactionId made an event already (compared in lower case).
DUPLICATE_TRANSACTION = "errorduplicatetransactionid"


class GraphItemNotFound(ProviderError):
    """Graph answered 404 for an item (ErrorItemNotFound): it was deleted, or never was."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class DuplicateTransaction(Exception):
    """A create answered ErrorDuplicateTransactionId: its transactionId made an event already."""


# --- OAuth (msal) ---------------------------------------------------------------------------------------


def start_authorization(*, redirect_uri: str, state: str, login_hint: str = "") -> AuthorizationStart:
    app = _application()
    with warnings.catch_warnings():
        # msal recommends response_mode=form_post. That answer is a cross-site POST, which browsers send
        # without our SameSite=Lax session cookie, and the state is bound to that session; the query
        # response keeps the binding, and PKCE protects the code in the URL.
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        flow = app.initiate_auth_code_flow(
            scopes=SCOPES,
            redirect_uri=redirect_uri,
            state=state,
            prompt="select_account",
            login_hint=login_hint or None,
        )
    return AuthorizationStart(url=str(flow["auth_uri"]), flow=dict(flow))


def finish_authorization(*, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> Grant:
    if not params.get("code"):
        raise AuthorizationFailed("Microsoft sent you back without an authorization code. Please try again.")
    app = _application()
    try:
        result = app.acquire_token_by_auth_code_flow(flow, dict(params), scopes=SCOPES)
    except (ValueError, RuntimeError):
        # msal refuses a response whose state (ValueError) or ID-token nonce (RuntimeError) does not
        # match its flow.
        raise AuthorizationFailed("Microsoft's answer did not match this sign-in. Please try again.") from None
    except requests.RequestException as exc:
        raise ProviderError(f"Microsoft token endpoint: {network_failure(exc)}") from None
    except MsalServiceError as exc:  # a 5xx
        raise ProviderError(f"Microsoft token endpoint: {type(exc).__name__}") from None
    if "access_token" not in result:
        _raise_token_error(result, during_connect=True)
    claims = result.get("id_token_claims") or {}
    # msal checks the nonce but no longer the audience; that check is ours.
    if claims.get("aud") != settings.MICROSOFT_CLIENT_ID:
        raise AuthorizationFailed("Microsoft's answer did not match this sign-in. Please try again.")
    credentials = _credentials_from_result(result)
    if not credentials.refresh_token:
        raise AuthorizationFailed("Microsoft did not grant offline access. Please connect again.")
    me = graph_get(credentials, "/me", params={"$select": "id,mail,userPrincipalName"})
    identity = AccountIdentity(
        external_id=str(me.get("id") or claims.get("oid") or claims.get("sub")),
        email=str(me.get("mail") or me.get("userPrincipalName") or claims.get("preferred_username", "")),
    )
    return Grant(credentials=credentials, identity=identity)


def refresh(credentials: Credentials) -> Credentials:
    if not credentials.refresh_token:
        raise AuthRevoked("no refresh token stored")
    try:
        result = _application().acquire_token_by_refresh_token(credentials.refresh_token, scopes=SCOPES)
    except requests.RequestException as exc:
        raise ProviderError(f"Microsoft token endpoint: {network_failure(exc)}") from None
    except (MsalServiceError, ValueError) as exc:  # a 5xx, or not JSON
        raise ProviderError(f"Microsoft token endpoint: {type(exc).__name__}") from None
    if "access_token" not in result:
        _raise_token_error(result, during_connect=False)
    refreshed = _credentials_from_result(result)
    # Microsoft rotates the refresh token on every use; keep the old one only if none came back.
    return refreshed if refreshed.refresh_token else _with_refresh_token(refreshed, credentials.refresh_token)


def _application() -> msal.ConfidentialClientApplication:
    """A fresh msal application per operation: its token cache is in memory and must not mix people."""
    session = requests.Session()
    try:
        return msal.ConfidentialClientApplication(
            settings.MICROSOFT_CLIENT_ID,
            client_credential=settings.MICROSOFT_CLIENT_SECRET,
            authority=f"{settings.MICROSOFT_AUTHORITY_HOST.rstrip('/')}/{settings.MICROSOFT_TENANT}",
            # The authority comes from our settings: no need to ask Microsoft whether it knows it.
            instance_discovery=False,
            http_client=session,
            timeout=timeout_seconds(),
        )
    except (ValueError, requests.RequestException, MsalServiceError) as exc:
        # msal fetches the authority's OpenID configuration here; ValueError when it cannot.
        raise ProviderError(f"Microsoft identity platform unavailable: {type(exc).__name__}") from None


def _raise_token_error(result: dict[str, Any], *, during_connect: bool) -> None:
    error = str(result.get("error", "unknown_error"))
    if during_connect:
        raise AuthorizationFailed(f"Microsoft refused the sign-in ({error}). Please try again.")
    if error in GRANT_GONE:
        raise AuthRevoked(f"Microsoft refused the refresh token ({error})")
    transient = error in {"temporarily_unavailable", "server_error"}
    raise ProviderError(f"Microsoft token refresh failed ({error})", permanent=not transient)


def _credentials_from_result(result: dict[str, Any]) -> Credentials:
    expires_in = int(result.get("expires_in") or 3600)
    return Credentials(
        access_token=str(result["access_token"]),
        refresh_token=result.get("refresh_token"),
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        scopes=tuple(str(result.get("scope", "")).split()),
    )


def _with_refresh_token(credentials: Credentials, refresh_token: str) -> Credentials:
    return Credentials(
        access_token=credentials.access_token,
        refresh_token=refresh_token,
        expires_at=credentials.expires_at,
        scopes=credentials.scopes,
    )


# --- Graph -----------------------------------------------------------------------------------------------


def graph_get(
    credentials: Credentials,
    path_or_url: str,
    params: dict[str, str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    what = _graph_what(path_or_url)
    response = graph_request(credentials, "GET", path_or_url, params=params, headers=headers)
    if response.status_code != 200:
        raise _graph_error(response, what)
    return graph_json(response, what)


def _graph_what(path_or_url: str) -> str:
    # A link Graph handed back names no resource worth logging (its path carries ids, its query tokens).
    return f"Graph {path_or_url.split('?')[0] if path_or_url.startswith('/') else 'link'}"


def graph_request(
    credentials: Credentials,
    method: str,
    path_or_url: str,
    *,
    params: dict[str, str] | None = None,
    json_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """One Graph request. A 401 and transient failures (429, 5xx, the network) raise; any other answer is
    returned for the caller to read."""
    base = settings.MICROSOFT_GRAPH_BASE.rstrip("/")
    url = path_or_url if path_or_url.startswith("https://") else base + path_or_url
    what = _graph_what(path_or_url)
    # Links Graph hands back (next pages, delta links) are followed only to Graph itself, and only over TLS:
    # the bearer token goes wherever the URL points.
    if not url.startswith("https://") or not url.startswith(base + "/"):
        raise ProviderError(f"{what}: refusing a URL outside the Graph endpoint", permanent=True)
    try:
        response = requests.request(
            method,
            url,
            params=params,
            json=json_body,
            headers={
                "Authorization": f"Bearer {credentials.access_token}",
                "Accept": "application/json",
                **(headers or {}),
            },
            timeout=timeout_seconds(),
        )
    except requests.RequestException as exc:
        raise ProviderError(f"{what}: {network_failure(exc)}") from None
    if response.status_code == 401:
        raise TokenRejected(f"{what}: access token rejected (401)")
    raise_for_transient(response, what)
    return response


def graph_json(response: requests.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ProviderError(f"{what}: malformed JSON") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{what}: malformed JSON")
    return body


def _graph_error(response: requests.Response, what: str) -> ProviderError:
    """A permanent failure, told apart where the caller acts on it: a lapsed delta token, a missing item."""
    code = _error_details(response)[0]
    # Graph ends a delta round it can no longer continue with 410 Gone (tenant maintenance) or with a
    # 4xx whose code is syncStateNotFound (the token fell out of its cache): both need a full resync.
    if response.status_code == 410 or code.lower() in SYNC_STATE_GONE:
        return CursorExpired(f"{what}: delta token no longer valid ({response.status_code} {code})".rstrip())
    if response.status_code == 404:
        return GraphItemNotFound(f"{what}: not found (404 {code})".rstrip())
    return ProviderError(f"{what}: {response.status_code} {code}".rstrip(), permanent=True)


def graph_pages(credentials: Credentials, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
    page = graph_get(credentials, path, params)
    while True:
        yield from (item for item in page.get("value", []) if isinstance(item, dict))
        next_link = page.get("@odata.nextLink")
        if not next_link:
            return
        # nextLink is absolute and carries the query; only follow it to Graph itself.
        if not str(next_link).startswith(settings.MICROSOFT_GRAPH_BASE.rstrip("/") + "/"):
            raise ProviderError("Graph sent a next page outside the Graph endpoint", permanent=True)
        page = graph_get(credentials, str(next_link))


def graph_write(
    credentials: Credentials,
    method: str,
    path_or_url: str,
    what: str,
    *,
    params: dict[str, str] | None = None,
    json_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    duplicate_is_ok: bool = False,
) -> dict[str, Any]:
    """One write-side request whose answer is an item or a page: its JSON (200, or 201 to a POST that creates),
    or the contract's error for any other answer (`write_error`). With `duplicate_is_ok`, an answer saying the
    transactionId made an event already raises DuplicateTransaction instead."""
    response = _write_request(credentials, method, path_or_url, what, params, json_body, headers)
    if response.status_code in ((200, 201) if method == "POST" else (200,)):
        return graph_json(response, what)
    if duplicate_is_ok and error_code(response) == DUPLICATE_TRANSACTION:
        raise DuplicateTransaction
    raise write_error(response, what)


def graph_command(
    credentials: Credentials,
    method: str,
    path_or_url: str,
    what: str,
    *,
    json_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """One write-side request whose answer has nothing to read (a DELETE, an action such as accept): done on
    200, 202 or 204, else the contract's error for the answer (`write_error`)."""
    response = _write_request(credentials, method, path_or_url, what, None, json_body, headers)
    if response.status_code not in (200, 202, 204):
        raise write_error(response, what)


def _write_request(
    credentials: Credentials,
    method: str,
    path_or_url: str,
    what: str,
    params: dict[str, str] | None,
    json_body: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
) -> requests.Response:
    """One request, retried while it fails transiently (every write is safe to repeat: a create by its
    transactionId, an update or delete by its If-Match and the check of what the provider already says)."""
    return with_retries(
        lambda: graph_request(credentials, method, path_or_url, params=params, json_body=json_body, headers=headers),
        what=what,
    )


def error_code(response: requests.Response) -> str:
    """The code of Graph's error body, in lower case; blank when there is none."""
    return _error_details(response)[0].lower()


def _error_details(response: requests.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


def write_error(response: requests.Response, what: str) -> ProviderError:
    """A write-side answer Graph refused, in the contract's terms (the message of a WriteRefused is shown)."""
    code, message = _error_details(response)
    status = response.status_code
    if status == 403:
        return WriteRefused("Outlook does not let you change this calendar: you may only read it.")
    if status == 400:
        return WriteRefused(f"Outlook refused the change: {message or code or 'bad request'}")
    if status == 404:
        return GraphItemNotFound(f"{what}: not found (404 {code})".rstrip())
    if status == 412:
        return Conflict("The event was changed in Outlook meanwhile.")
    return ProviderError(f"{what}: {status} {code}".rstrip(), permanent=True)
