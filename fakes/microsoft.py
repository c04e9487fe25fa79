"""A loopback fake of the Microsoft identity platform (v2.0 endpoints) and Microsoft Graph's calendars, as documented.

Modelled (identity platform: OpenID Connect discovery, OAuth 2.0 authorization code flow, refresh tokens, error
responses; Graph v1.0: user, calendar, paging, throttling, errors):

- GET /{tenant}/v2.0/.well-known/openid-configuration: the discovery document msal reads when it is built; for
  common/organizations/consumers the issuer keeps Microsoft's literal "{tenantid}" placeholder. Unknown tenants
  get 400 AADSTS90002, which msal turns into a ValueError.
- GET /{tenant}/oauth2/v2.0/authorize: errors after a valid redirect_uri are sent back to it (error,
  error_description, state); success sends code, client_info (when asked), state and session_state, in the
  query of a 302 or, with response_mode=form_post, in a self-posting form.
- POST /{tenant}/oauth2/v2.0/token: `authorization_code` redeems a code once (same redirect_uri, PKCE S256
  verifier); `refresh_token` ALWAYS returns a new refresh token (Microsoft rotates them; the old one stays valid
  unless revoked). `scope` echoes the scopes asked for, spelled as asked (msal's cache matches on that text).
  A refresh_token comes only with offline_access and an id_token only with openid. Errors use
  Microsoft's body: error, error_description ("AADSTSnnnn: ..."), error_codes, timestamp, trace_id,
  correlation_id (and suberror where Microsoft sends one).
- Graph /v1.0/me, /v1.0/me/calendar, /v1.0/me/calendars[/{id}]: Bearer token required (401
  InvalidAuthenticationToken), a Calendars.* permission for calendars (403 ErrorAccessDenied), $top/$skip paging
  with an absolute @odata.nextLink, $select honoured loosely.
- Graph events (fakes/microsoft_calendar.py models them): /v1.0/me/calendars/{id}/calendarView/delta and
  /v1.0/me/calendarView/delta (the default calendar) with their $skiptoken/$deltatoken follow-ups, and
  /v1.0/me/events/{id}. Tests change events "in Outlook" with add_event, add_series, update_event,
  delete_event, update_occurrence, delete_occurrence, and lapse delta tokens with expire_delta_tokens.
- Graph event writes (they change the same store, so each shows up in the calendarView delta exactly as the
  state helpers' changes do), as Graph's event pages document them:
  - POST /me/calendars/{id}/events and /me/events: 201 with the event. `transactionId` ("a custom identifier
    specified by a client app for the server to avoid redundant POST operations in case of client retries
    to create the same event", event resource): the same POST again answers 201 with the event the first
    one made (observed and described in blog.rykoma.net/2020/10/05/1559); a POST with a used transactionId
    and other content answers 400 ErrorDuplicateTransactionId "Your request can't be completed. The
    TransactionId specified in the request has already been used to create a different event." (the
    message clients report). All-day events must start and end at midnight (400 otherwise).
  - GET /me/calendars/{id}/events (masters and single events), with the one $filter a client needs here:
    `transactionId eq '...'`; GET /me/events/{id}/instances?startDateTime&endDateTime: a series' occurrences
    and exceptions overlapping the range, in full.
  - PATCH and DELETE /me/events/{id} (an event, a series master, or an occurrence, which a PATCH turns into
    an exception and a DELETE removes), honouring If-Match: a value other than the item's current etag
    (W/"changeKey") answers 412 ErrorIrresolvableConflict ("...the change key passed in the request does not
    match the current change key for the item."), as Graph reports it; no If-Match writes unconditionally.
    PATCH answers 200 with the item, DELETE 204.
  - POST /me/events/{id}/accept | tentativelyAccept | decline: 202 with no body (event: accept/decline
    pages); the invitee's responseStatus, showAs (busy / tentative / free) and own attendee entry change;
    answering one occurrence makes it an exception; the organizer cannot answer (400 ErrorInvalidRequest).
  - A calendar whose canEdit is false (a shared, read-only one) answers every write with 403
    ErrorAccessDenied, as does a token without Calendars.ReadWrite.
  `graph_writes` records each write (method, path, JSON body, If-Match) for assertions; `lost_answers`
  (method, path fragment) carries out the next matching request but closes the connection before answering,
  as when a client times out on a slow network. Also per (method, path fragment), for Graph requests:
  `malformed_answers` answers 200 with a JSON body cut short (a proxy or an overloaded frontend);
  `reset_answers` sends the answer's headers and half its body, then resets the connection, and
  `cut_answers` likewise but closes it in good order (the body ends early);
  `stalled_answers` says nothing for `stall_seconds` and then hangs up, so a client with a shorter timeout
  gives up first (the lock is let go meanwhile, so the client's retry is answered).

Faults queued in `faults` (status, Retry-After) answer the next request to any endpoint; `path_faults` (path
fragment, status, Retry-After) the next request to a matching path; `on_request` is called with (method,
route) as each request arrives, before it is answered, to act at an exact point of a conversation (as
the Google fake's). Revoking sessions
(`revoke_all`) invalidates refresh tokens only: Microsoft documents that issued access tokens stay valid until
they expire. Stricter than Microsoft on purpose: PKCE with S256 is required (Microsoft requires it only for
single-page apps), because calsync and msal always send it.

What msal does with it, worth knowing when writing tests: it fetches the discovery document when the app object
is built (a queued fault would hit that GET); it sends the client secret both in the body and as HTTP Basic;
it replays an identical failed token request from its own cache (a 400 for 60 s, a 429/5xx for Retry-After
seconds) instead of asking again; and a 5xx from the token endpoint raises rather than returning an error dict.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import quote, unquote, urlencode

from fakes.base import (
    FakeHandler,
    LoggedRequest,
    b64url,
    break_off_midway,
    jwt_shaped,
    raw_answer,
    s256,
    with_query,
)
from fakes.microsoft_calendar import (
    DEFAULT_DELTA_PAGE,
    DeltaRound,
    DuplicateTransaction,
    EventStore,
    GraphInputError,
    Instance,
    StoredEvent,
    etag_matches,
    occurrence_id,
    parse_prefer,
    render_event,
)

GRAPH = "https://graph.microsoft.com/"
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
MULTI_TENANT = ("common", "organizations", "consumers")
AUTH_METHODS = ["client_secret_post", "private_key_jwt", "client_secret_basic"]
CLAIMS = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "name", "tid", "ver", "email"]
CALENDAR_PERMISSIONS = frozenset(
    f"{GRAPH}{name}".lower()
    for name in ("Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared")
)
USER_PERMISSIONS = frozenset(f"{GRAPH}{name}".lower() for name in ("User.Read", "User.ReadBasic.All", "User.Read.All"))
ACCESS_TOKEN_SECONDS = 3599
CODE_SECONDS = 600
DEFAULT_TOP = 10  # Graph's default page size for calendars
# Graph's event actions for an invitation, and the responseType each one leaves.
RESPONSE_ACTIONS = {"accept": "accepted", "tentativelyAccept": "tentativelyAccepted", "decline": "declined"}
# The one $filter the fake understands on a calendar's events (how a client finds the event its POST made).
TRANSACTION_FILTER = re.compile(r"\s*transactionId\s+eq\s+'([^']*)'\s*")


def unique(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Scopes as granted: in the order and spelling asked for, which is how they come back in `scope`."""
    return tuple(dict.fromkeys(scopes))


def resource_scopes(scopes: tuple[str, ...]) -> set[str]:
    """The permissions among `scopes`, compared case-insensitively; bare names belong to Graph, the default resource."""
    return {(scope if "://" in scope else GRAPH + scope).lower() for scope in scopes if scope not in OIDC_SCOPES}


def aad_error(error: str, code: int, description: str, suberror: str | None = None) -> dict[str, Any]:
    """A token endpoint error body as the identity platform formats it."""
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} "
        f"Timestamp: {timestamp}",
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    return body


def graph_error(code: str, message: str, client_request_id: str | None = None) -> dict[str, Any]:
    """A Graph error body: error.code, error.message, error.innerError with date and request ids."""
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": str(uuid.uuid4()),
        "client-request-id": client_request_id or str(uuid.uuid4()),
    }
    return {"error": {"code": code, "message": message, "innerError": inner}}


def graph_fault(status: int) -> tuple[str, str]:
    if status == 429:
        return "TooManyRequests", "Please retry again later."
    if status == 503:
        return "serviceNotAvailable", "The service is temporarily unavailable. Please try again later."
    if status == 504:
        return "gatewayTimeout", "The server, while acting as a proxy, did not receive a timely response."
    return "generalException", "An unspecified error has occurred."


def outlook_id() -> str:
    """An id shaped like Outlook's (base64 of an opaque entry id)."""
    return "AAMkA" + b64url(secrets.token_bytes(96)).replace("-", "+").replace("_", "/") + "="


@dataclass(frozen=True)
class GraphWrite:
    """A write request as Graph received it (for assertions on what a client sent)."""

    method: str
    path: str  # decoded, without the /v1.0/ prefix
    body: dict[str, Any] | None
    if_match: str | None


@dataclass
class MicrosoftUser:
    oid: str
    display_name: str
    mail: str
    user_principal_name: str
    calendars: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IssuedCode:
    redirect_uri: str
    challenge: str
    scopes: tuple[str, ...]
    oid: str
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    oid: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class RefreshGrant:
    oid: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class MicrosoftState:
    client_id: str = "microsoft-client-id"
    client_secret: str = "microsoft-client-secret"
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    base_url: str = ""  # https://127.0.0.1:PORT, set by whoever serves the fake
    users: dict[str, MicrosoftUser] = field(default_factory=dict)  # keyed by object id (oid)
    next_user: str | None = None  # the oid who signs in at the next authorize (default: the first user)
    deny: bool = False  # the person declines the consent prompt
    redirect_uris: set[str] = field(default_factory=set)  # registered reply URLs; empty accepts any
    page_size: int | None = None  # caps every Graph page, whatever $top asks for
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)
    issued_refresh_tokens: list[str] = field(default_factory=list)  # in the order they were issued
    request_log: list[LoggedRequest] = field(default_factory=list)
    faults: deque[tuple[int, str | None]] = field(default_factory=deque)
    # (path fragment, status, Retry-After): answers the next request whose path contains the fragment.
    path_faults: deque[tuple[str, int, str | None]] = field(default_factory=deque)
    calendar_events: EventStore = field(default_factory=EventStore)
    # (method, path fragment): the next matching Graph request is carried out, but its answer is lost (the
    # connection closes before a byte of it is sent), as when a client times out on a slow network.
    lost_answers: deque[tuple[str, str]] = field(default_factory=deque)
    # (method, path fragment) of Graph requests answered with a cut-short JSON body, broken off halfway (with
    # a connection reset, or closed in good order), or not at all for `stall_seconds`.
    malformed_answers: deque[tuple[str, str]] = field(default_factory=deque)
    reset_answers: deque[tuple[str, str]] = field(default_factory=deque)
    cut_answers: deque[tuple[str, str]] = field(default_factory=deque)
    stalled_answers: deque[tuple[str, str]] = field(default_factory=deque)
    stall_seconds: float = 2.0
    # Called with (method, route) as each request arrives, before it is answered.
    on_request: Callable[[str, str], None] | None = None
    graph_writes: list[GraphWrite] = field(default_factory=list)  # every POST/PATCH/DELETE to Graph, in order
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add_user(self, mail: str, *, display_name: str = "", oid: str | None = None) -> MicrosoftUser:
        """A work account with its default calendar ("Calendar", as Outlook names it)."""
        with self.lock:
            user = MicrosoftUser(oid or str(uuid.uuid4()), display_name or mail.split("@")[0], mail, mail)
            self.users[user.oid] = user
            self.add_calendar(user.oid, name="Calendar", isDefaultCalendar=True, isRemovable=False)
            return user

    def add_calendar(self, oid: str, **fields: Any) -> dict[str, Any]:
        """Add a calendar for `oid`; unspecified properties get Graph-like defaults (owned, editable)."""
        with self.lock:
            user = self.users[oid]
            calendar: dict[str, Any] = {
                "id": outlook_id(),
                "name": "Calendar",
                "color": "auto",
                "hexColor": "",
                "isDefaultCalendar": False,
                "changeKey": b64url(secrets.token_bytes(16)),
                "canShare": True,
                "canViewPrivateItems": True,
                "canEdit": True,
                "isRemovable": True,
                "isTallyingResponses": True,
                "allowedOnlineMeetingProviders": ["teamsForBusiness"],
                "defaultOnlineMeetingProvider": "teamsForBusiness",
                "owner": {"name": user.display_name, "address": user.mail},
                **fields,
            }
            user.calendars.append(calendar)
            return calendar

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens.values():
                token.expires_at = 0.0

    def revoke_all(self, *, access_tokens: bool = False) -> None:
        """revokeSignInSessions: every refresh token stops working; access tokens live on unless asked."""
        with self.lock:
            for grant in self.refresh_tokens.values():
                grant.revoked = True
            if access_tokens:
                self.expire_access_tokens()

    def issue_tokens(
        self,
        oid: str,
        scopes: list[str] | tuple[str, ...],
        *,
        base: str | None = None,
        nonce: str | None = None,
        consented: tuple[str, ...] | None = None,
        client_info: bool = True,
    ) -> dict[str, Any]:
        """The token endpoint's answer for `scopes` (tests can use it to skip the browser part).

        The refresh token carries everything `consented` (default: `scopes`), not just this access token's scopes.
        """
        base = base or self.base_url
        with self.lock:
            scopes = unique(scopes)
            user = self.users[oid]
            now = int(time.time())
            access_token = self._access_token(user, scopes, base, now)
            body: dict[str, Any] = {
                "token_type": "Bearer",
                "scope": " ".join(scopes),
                "expires_in": ACCESS_TOKEN_SECONDS,
                "ext_expires_in": ACCESS_TOKEN_SECONDS,
                "access_token": access_token,
            }
            if "offline_access" in scopes:
                refresh_token = "0.A" + b64url(secrets.token_bytes(96))
                self.refresh_tokens[refresh_token] = RefreshGrant(oid, consented or scopes)
                self.issued_refresh_tokens.append(refresh_token)
                body["refresh_token"] = refresh_token
            if "openid" in scopes:
                body["id_token"] = self._id_token(user, scopes, base, now, nonce)
            if client_info:  # asked for with client_info=1, as msal always does
                body["client_info"] = b64url(json.dumps({"uid": user.oid, "utid": self.tenant_id}).encode())
            return body

    def live_access_token(self, token: str) -> AccessToken | None:
        with self.lock:
            access = self.access_tokens.get(token)
            return access if access and access.expires_at > time.time() else None

    # Events, changed as if in Outlook ---------------------------------------------------------------------------

    def default_calendar_id(self, oid: str) -> str:
        return str(next(c["id"] for c in self.users[oid].calendars if c["isDefaultCalendar"]))

    def add_event(
        self,
        oid: str,
        subject: str,
        start: datetime | date,
        end: datetime | date,
        *,
        time_zone: str = "UTC",
        calendar_id: str | None = None,
        recurrence: dict[str, Any] | None = None,
        description: str = "",
        location: str = "",
        **graph_fields: Any,
    ) -> str:
        """A new event in `oid`'s calendar (the default one unless named), organized by them; its id.

        Naive times are wall-clock times in `time_zone` (a Windows or IANA name, kept as
        originalStartTimeZone); aware ones are converted to it; dates make an all-day event. `graph_fields`
        are Graph properties as they should read (attendees, showAs, isCancelled, onlineMeeting, ...).
        """
        with self.lock:
            user = self.users[oid]
            fields: dict[str, Any] = {
                "subject": subject,
                "description": description,
                "location": location,
                "organizer": {"emailAddress": {"name": user.display_name, "address": user.mail}},
                "isOrganizer": True,
                **graph_fields,
            }
            event = self.calendar_events.add(
                calendar_id or self.default_calendar_id(oid),
                start=start,
                end=end,
                time_zone=time_zone,
                recurrence=recurrence,
                fields=fields,
            )
            return event.id

    def add_series(
        self,
        oid: str,
        subject: str,
        start: datetime | date,
        end: datetime | date,
        recurrence: dict[str, Any],
        **kwargs: Any,
    ) -> str:
        """A recurring series: its master's id. `recurrence` is a patternedRecurrence ({pattern, range});
        range.startDate defaults to the start's date and range.recurrenceTimeZone to the event's zone."""
        return self.add_event(oid, subject, start, end, recurrence=recurrence, **kwargs)

    def update_event(self, event_id: str, **changes: Any) -> None:
        """Change an event or a whole series: Graph properties, or start/end/time_zone/recurrence."""
        with self.lock:
            self.calendar_events.update(event_id, changes)

    def delete_event(self, event_id: str) -> None:
        with self.lock:
            self.calendar_events.delete(event_id)

    def update_occurrence(self, master_id: str, original_start: datetime | date, **changes: Any) -> str:
        """Turn one occurrence into an exception (new start/end, other properties); its id."""
        with self.lock:
            return self.calendar_events.update_occurrence(master_id, original_start, changes)

    def delete_occurrence(self, master_id: str, original_start: datetime | date) -> str:
        """Delete one occurrence of a series; the id it had."""
        with self.lock:
            return self.calendar_events.delete_occurrence(master_id, original_start)

    def occurrence_id(self, master_id: str, original_start: datetime | date) -> str:
        with self.lock:
            master = self.calendar_events.events[master_id]
            return occurrence_id(master_id, self.calendar_events.original_key(master, original_start))

    def occurrences(self, master_id: str, until: date) -> list[tuple[datetime, datetime, datetime]]:
        """(original start in UTC, start, end) of a series' live occurrences up to `until`."""
        with self.lock:
            return list(self.calendar_events.events[master_id].occurrences(until))

    def expire_delta_tokens(self) -> None:
        """Every skip and delta token lapses, as when Outlook's delta token cache drops them."""
        with self.lock:
            self.calendar_events.expire_delta_tokens()

    def _access_token(self, user: MicrosoftUser, scopes: tuple[str, ...], base: str, now: int) -> str:
        claims = {
            "aud": GRAPH.rstrip("/"),
            "iss": f"{base}/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "appid": self.client_id,
            "name": user.display_name,
            "oid": user.oid,
            "scp": " ".join(scope.removeprefix(GRAPH) for scope in scopes if scope not in OIDC_SCOPES),
            "tid": self.tenant_id,
            "upn": user.user_principal_name,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",  # Graph's access tokens are v1.0 tokens, whatever endpoint issued them
        }
        token = jwt_shaped(claims)
        self.access_tokens[token] = AccessToken(user.oid, scopes, now + ACCESS_TOKEN_SECONDS)
        return token

    def _id_token(self, user: MicrosoftUser, scopes: tuple[str, ...], base: str, now: int, nonce: str | None) -> str:
        claims: dict[str, Any] = {
            "ver": "2.0",
            "iss": f"{base}/{self.tenant_id}/v2.0",
            "sub": b64url(hashlib.sha256(f"{user.oid}:{self.client_id}".encode()).digest()),  # pairwise per app
            "aud": self.client_id,
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "name": user.display_name,
            "preferred_username": user.user_principal_name,
            "oid": user.oid,
            "tid": self.tenant_id,
            "uti": b64url(secrets.token_bytes(16)),
        }
        if "email" in scopes:
            claims["email"] = user.mail
        if nonce:
            claims["nonce"] = nonce
        return jwt_shaped(claims)


def handler_for(state: MicrosoftState) -> type[BaseHTTPRequestHandler]:
    class MicrosoftHandler(FakeHandler):
        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        lose_answer = False
        break_off: bool | None = None  # True: reset the connection halfway through the answer; False: close it

        def _reply(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None) -> None:
            if self.lose_answer:  # the work is done; the answer never reaches the client
                self.close_connection = True
                return
            if self.break_off is not None:  # the work is done; the answer breaks off halfway
                answer = raw_answer(self, lambda: FakeHandler._reply(self, status, payload, content_type, headers))
                return break_off_midway(self, answer, reset=self.break_off)
            super()._reply(status, payload, content_type, headers)

        @property
        def base(self) -> str:
            return f"https://{self.headers['Host']}"

        def _dispatch(self, method: str) -> None:
            route = self.route
            tenant, _, rest = route.lstrip("/").partition("/")
            self.lose_answer = False
            self.break_off = None
            with state.lock:
                state.request_log.append((method, route, self.query()))
                if state.on_request is not None:
                    state.on_request(method, route)
                for lost in list(state.lost_answers):
                    if tenant == "v1.0" and lost[0] == method and lost[1] in route:
                        state.lost_answers.remove(lost)
                        self.lose_answer = True
                        break
                if tenant == "v1.0" and take_matching(state.stalled_answers, method, route):
                    # The wait lets go of the lock (held once, here), so the client's retry is answered meanwhile.
                    state.lock.release()
                    try:
                        time.sleep(state.stall_seconds)
                    finally:
                        state.lock.acquire()
                    self.close_connection = True
                    return None
                if tenant == "v1.0" and take_matching(state.malformed_answers, method, route):
                    cut_short = f'{{"@odata.context": "{self.base}/v1.0/$metadata", "value": [{{"@odata.ty'.encode()
                    return self._reply(200, cut_short, "application/json; charset=utf-8", None)
                if tenant == "v1.0" and take_matching(state.reset_answers, method, route):
                    self.break_off = True
                elif tenant == "v1.0" and take_matching(state.cut_answers, method, route):
                    self.break_off = False
                if state.faults:
                    return self._fault(tenant, *state.faults.popleft())
                for fault in list(state.path_faults):
                    if fault[0] in route:
                        state.path_faults.remove(fault)
                        return self._fault(tenant, fault[1], fault[2])
                if tenant == "v1.0" and method == "GET":
                    return self._graph(rest)
                if tenant == "v1.0":
                    return self._graph_write(method, rest)
                if tenant not in (*MULTI_TENANT, state.tenant_id):
                    description = f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
                    return self.reply_json(400, aad_error("invalid_tenant", 90002, description))
                if (method, rest) == ("GET", "v2.0/.well-known/openid-configuration"):
                    return self.reply_json(200, self._openid_configuration(tenant))
                if (method, rest) == ("GET", "discovery/v2.0/keys"):
                    return self.reply_json(200, {"keys": []})
                if (method, rest) == ("GET", "oauth2/v2.0/authorize"):
                    return self._authorize(self.query())
                if (method, rest) == ("POST", "oauth2/v2.0/token"):
                    return self._token(self.form())
                if (method, rest) == ("GET", "oauth2/v2.0/logout"):
                    target = self.query().get("post_logout_redirect_uri")
                    return self.redirect(target) if target else self.reply_text(200, "You signed out of your account.")
                self.reply_text(404, "Not found")

        def _fault(self, surface: str, status: int, retry_after: str | None) -> None:
            headers = {"Retry-After": retry_after} if retry_after else None
            if surface == "v1.0":
                code, message = graph_fault(status)
                return self.reply_json(
                    status, graph_error(code, message, self.headers.get("client-request-id")), headers
                )
            description = "A transient error has occurred. Please try again."
            self.reply_json(status, aad_error("temporarily_unavailable", 90033, description), headers)

        def _openid_configuration(self, tenant: str) -> dict[str, Any]:
            base, tid = self.base, "{tenantid}" if tenant in MULTI_TENANT else tenant
            return {
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": list(OIDC_SCOPES),
                "issuer": f"{base}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
                "claims_supported": CLAIMS,
                "tenant_region_scope": None,
                "msgraph_host": self.headers["Host"],
            }

        # Sign-in and consent ------------------------------------------------------------------------------------

        def _authorize(self, query: dict[str, str]) -> None:
            redirect_uri = query.get("redirect_uri", "")
            if query.get("client_id") != state.client_id:
                message = f"Application with identifier '{query.get('client_id')}' was not found in the directory."
                return self.reply_text(400, f"AADSTS700016: {message}")
            if not redirect_uri or (state.redirect_uris and redirect_uri not in state.redirect_uris):
                return self.reply_text(
                    400,
                    "AADSTS50011: The redirect URI specified in the request does not match "
                    "the redirect URIs configured for the application.",
                )

            def respond(params: dict[str, str]) -> None:
                params.update({"state": query["state"]} if "state" in query else {})
                if query.get("response_mode") == "form_post":  # what msal recommends for web apps
                    self.reply_text(200, auto_post_form(redirect_uri, params))
                else:
                    self.redirect(with_query(redirect_uri, params))

            def refuse(error: str, description: str, subcode: str | None = None) -> None:
                params = {"error": error, "error_description": description}
                respond({**params, "error_subcode": subcode} if subcode else params)

            problem = self._authorize_problem(query)
            if problem:
                return refuse("invalid_request", problem)
            oid = state.next_user or next(iter(state.users), None)
            if oid is None:
                return self.reply_text(400, "No Microsoft account is signed in (call add_user first).")
            if state.deny:
                return refuse("access_denied", "AADSTS65004: User declined to consent to access the app.", "cancel")
            code = "1.A" + b64url(secrets.token_bytes(128))
            state.codes[code] = IssuedCode(
                redirect_uri=redirect_uri,
                challenge=query["code_challenge"],
                scopes=unique(query["scope"].split()),
                oid=oid,
                nonce=query.get("nonce"),
                expires_at=time.time() + CODE_SECONDS,
            )
            params = {"code": code}
            if query.get("client_info") == "1":
                params["client_info"] = b64url(json.dumps({"uid": oid, "utid": state.tenant_id}).encode())
            respond({**params, "session_state": str(uuid.uuid4())})

        @staticmethod
        def _authorize_problem(query: dict[str, str]) -> str:
            if query.get("response_type") != "code":
                return "AADSTS700054: response_type 'id_token' is not enabled for the application."
            if not query.get("scope"):
                return "AADSTS900144: The request body must contain the following parameter: 'scope'."
            if not query.get("code_challenge"):
                return "AADSTS9002325: Proof Key for Code Exchange is required for this application."
            if query.get("code_challenge_method") != "S256":
                return "AADSTS501491: Invalid code_challenge_method (this application requires S256)."
            return ""

        # The token endpoint -------------------------------------------------------------------------------------

        def _token(self, form: dict[str, str]) -> None:
            client_id, secret = self.basic_credentials() or (form.get("client_id", ""), form.get("client_secret", ""))
            if client_id != state.client_id:
                description = f"Application with identifier '{client_id}' was not found in the directory."
                return self.reply_json(400, aad_error("unauthorized_client", 700016, description))
            if secret != state.client_secret:
                description = (
                    "Invalid client secret provided. Ensure the secret being sent in the request is the "
                    "client secret value, not the client secret ID."
                )
                return self.reply_json(401, aad_error("invalid_client", 7000215, description))
            grant_type = form.get("grant_type", "")
            if grant_type == "authorization_code":
                return self._redeem_code(form)
            if grant_type == "refresh_token":
                return self._refresh(form)
            if not grant_type:
                description = "The request body must contain the following parameter: 'grant_type'."
                return self.reply_json(400, aad_error("invalid_request", 900144, description))
            description = f"The provided value for the input parameter 'grant_type' is not valid: {grant_type}."
            self.reply_json(400, aad_error("unsupported_grant_type", 70003, description))

        def _redeem_code(self, form: dict[str, str]) -> None:
            code = state.codes.get(form.get("code", ""))
            if code is None:
                return self._invalid_grant(70000, "The provided value for the 'code' parameter is not valid.")
            if code.used:
                return self._invalid_grant(
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with "
                    "a new valid code or use an existing refresh token.",
                )
            if code.expires_at <= time.time():
                return self._invalid_grant(
                    70008, "The provided authorization code or refresh token has expired due to inactivity."
                )
            if form.get("redirect_uri") != code.redirect_uri:
                return self._invalid_grant(
                    70000, "The redirect_uri does not match the one the authorization code was requested with."
                )
            if s256(form.get("code_verifier", "")) != code.challenge:
                return self._invalid_grant(
                    501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."
                )
            scopes = self._within(code.scopes, form.get("scope"))
            if scopes is None:
                return self._consent_required()
            code.used = True
            client_info = form.get("client_info") == "1"
            tokens = state.issue_tokens(code.oid, scopes, base=self.base, nonce=code.nonce, client_info=client_info)
            self.reply_json(200, tokens)

        def _refresh(self, form: dict[str, str]) -> None:
            grant = state.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None:
                return self._invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
            if grant.revoked:
                return self._invalid_grant(
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh "
                    "auth token is needed. The user might have changed or reset their "
                    "password.",
                    suberror="bad_token",
                )
            scopes = self._within(grant.scopes, form.get("scope"))
            if scopes is None:
                return self._consent_required()
            # A new refresh token every time (rotation), carrying the whole grant; the one just used keeps working.
            scopes = unique((*scopes, *(scope for scope in grant.scopes if scope in OIDC_SCOPES)))
            client_info = form.get("client_info") == "1"
            tokens = state.issue_tokens(
                grant.oid, scopes, base=self.base, consented=grant.scopes, client_info=client_info
            )
            self.reply_json(200, tokens)

        @staticmethod
        def _within(granted: tuple[str, ...], asked: str | None) -> tuple[str, ...] | None:
            """The scopes of the new token: what was asked if consented, None if it asks for more."""
            if not asked:
                return granted
            scopes = unique(asked.split())
            return scopes if resource_scopes(scopes) <= resource_scopes(granted) else None

        def _consent_required(self) -> None:
            description = (
                "The user or administrator has not consented to use the application. Send an interactive "
                "authorization request for this user and resource."
            )
            self.reply_json(400, aad_error("invalid_grant", 65001, description, suberror="consent_required"))

        def _invalid_grant(self, code: int, description: str, suberror: str | None = None) -> None:
            self.reply_json(400, aad_error("invalid_grant", code, description, suberror))

        # Microsoft Graph ----------------------------------------------------------------------------------------

        def _access(self) -> AccessToken | None:
            """The request's live access token, or None after answering 401 as Graph does."""
            token = self.bearer_token()
            access = state.live_access_token(token) if token else None
            if access is None:
                if not token:
                    message = "Access token is empty."
                elif token in state.access_tokens:
                    message = "Access token has expired or is not yet valid."
                else:
                    message = "Access token validation failure. Invalid audience."
                headers = {
                    "WWW-Authenticate": f'Bearer realm="", authorization_uri="{self.base}/common/oauth2/authorize"'
                }
                self._graph_error(401, "InvalidAuthenticationToken", message, headers)
            return access

        def _graph(self, path: str) -> None:
            access = self._access()
            if access is None:
                return None
            user = state.users[access.oid]
            granted = resource_scopes(access.scopes)
            segments = path.split("/")
            if len(segments) == 4 and segments[0] == "me" and segments[1] in ("events", "calendars"):
                if not CALENDAR_PERMISSIONS & granted:
                    return self._access_denied()
                if segments[1] == "events" and segments[3].lower() == "instances":
                    return self._instances(user, unquote(segments[2]))
                if segments[1] == "calendars" and segments[3].lower() == "events":
                    return self._list_events(user, unquote(segments[2]))
            if path == "me":
                if not USER_PERMISSIONS & granted:
                    return self._graph_error(
                        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                    )
                return self.reply_json(200, self._me(user))
            lowered = path.lower()
            if lowered == "me/calendarview/delta" or (
                lowered.startswith("me/calendars/") and lowered.endswith("/calendarview/delta")
            ):
                if not CALENDAR_PERMISSIONS & granted:
                    return self._graph_error(
                        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                    )
                default = lowered == "me/calendarview/delta"
                calendar_id = None if default else unquote(path[len("me/calendars/") : -len("/calendarView/delta")])
                return self._calendar_view_delta(user, calendar_id)
            if lowered.startswith("me/events/"):
                if not CALENDAR_PERMISSIONS & granted:
                    return self._graph_error(
                        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                    )
                return self._event(user, unquote(path[len("me/events/") :]))
            if path in ("me/calendars", "me/calendar") or path.startswith("me/calendars/"):
                if not CALENDAR_PERMISSIONS & granted:
                    return self._graph_error(
                        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                    )
                if path == "me/calendars":
                    return self._calendars(user, self.query())
                calendar_id = unquote(path.removeprefix("me/calendars/")) if path != "me/calendar" else None
                for calendar in user.calendars:
                    if calendar["id"] == calendar_id or (calendar_id is None and calendar["isDefaultCalendar"]):
                        context = f"{self.base}/v1.0/$metadata#users('{user.oid}')/calendars/$entity"
                        return self.reply_json(200, {"@odata.context": context, **select(calendar, self.query())})
                return self._graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            self._graph_error(400, "BadRequest", f"Resource not found for the segment '{path.split('/')[-1]}'.")

        def _me(self, user: MicrosoftUser) -> dict[str, Any]:
            given, _, surname = user.display_name.partition(" ")
            resource: dict[str, Any] = {
                "businessPhones": [],
                "displayName": user.display_name,
                "givenName": given,
                "jobTitle": None,
                "mail": user.mail,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": "en-US",
                "surname": surname or None,
                "userPrincipalName": user.user_principal_name,
                "id": user.oid,
            }
            return {"@odata.context": f"{self.base}/v1.0/$metadata#users/$entity", **select(resource, self.query())}

        def _calendars(self, user: MicrosoftUser, query: dict[str, str]) -> None:
            try:
                top, skip = int(query.get("$top", DEFAULT_TOP)), int(query.get("$skip", "0"))
            except ValueError:
                return self._graph_error(400, "BadRequest", "Invalid $top or $skip value.")
            page_size = max(1, min(top, state.page_size or top))
            fields = f"({query['$select']})" if query.get("$select") else ""
            body: dict[str, Any] = {
                "@odata.context": f"{self.base}/v1.0/$metadata#users('{user.oid}')/calendars{fields}"
            }
            if skip + page_size < len(user.calendars):
                params = {key: value for key, value in query.items() if key not in ("$top", "$skip")}
                params.update({"$top": str(page_size), "$skip": str(skip + page_size)})
                body["@odata.nextLink"] = (
                    f"{self.base}/v1.0/me/calendars?{urlencode(params, safe='$,', quote_via=quote)}"
                )
            body["value"] = [select(calendar, query) for calendar in user.calendars[skip : skip + page_size]]
            self.reply_json(200, body)

        def _calendar_view_delta(self, user: MicrosoftUser, calendar_id: str | None) -> None:
            calendar = next(
                (
                    c
                    for c in user.calendars
                    if c["id"] == calendar_id or (calendar_id is None and c["isDefaultCalendar"])
                ),
                None,
            )
            if calendar is None:
                return self._graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            store = state.calendar_events
            query = {key.lower(): value for key, value in self.query().items()}
            prefs = parse_prefer(self.headers.get_all("Prefer") or [])
            delta_round: DeltaRound
            if "$skiptoken" in query or "$deltatoken" in query:
                resumed = store.rounds.get(query.get("$skiptoken", ""))
                previous = store.delta_states.get(query.get("$deltatoken", ""))
                if resumed is not None and resumed[0].next_state.calendar_id == calendar["id"]:
                    delta_round, offset = resumed
                elif previous is not None and previous.calendar_id == calendar["id"]:
                    delta_round, offset = store.continue_round(previous), 0
                else:
                    return self._graph_error(
                        410, "syncStateNotFound", "The sync state generation is not found. Please do a full sync."
                    )
            else:
                try:
                    window = (_query_instant(query["startdatetime"]), _query_instant(query["enddatetime"]))
                except (KeyError, ValueError):
                    return self._graph_error(
                        400,
                        "ErrorInvalidParameter",
                        "This request requires a time window specified by the query string parameters "
                        "StartDateTime and EndDateTime.",
                    )
                delta_round, offset = store.start_round(calendar["id"], window), 0
            size = min(prefs.max_page_size or DEFAULT_DELTA_PAGE, state.page_size or DEFAULT_DELTA_PAGE * 1000)
            entries, skip_token, delta_token = store.page(delta_round, offset, size)
            if calendar_id is None:
                link = f"{self.base}/v1.0/me/calendarView/delta"
            else:
                link = f"{self.base}/v1.0/me/calendars/{quote(calendar['id'], safe='')}/calendarView/delta"
            body: dict[str, Any] = {"@odata.context": f"{self.base}/v1.0/$metadata#Collection(event)"}
            if skip_token:
                body["@odata.nextLink"] = f"{link}?$skiptoken={skip_token}"
            else:
                body["@odata.deltaLink"] = f"{link}?$deltatoken={delta_token}"
            body["value"] = [
                render_event(item, prefs, sparse=True)
                if item is not None
                else {"@odata.type": "#microsoft.graph.event", "id": key, "@removed": {"reason": "deleted"}}
                for key, item in entries
            ]
            headers = {"Preference-Applied": ", ".join(prefs.applied)} if prefs.applied else None
            self.reply_json(200, body, headers)

        def _event(self, user: MicrosoftUser, item_id: str) -> None:
            found = self._owned_item(user, item_id)
            if found is None:
                return self._not_found()
            self._reply_event(200, user, found)

        # Graph writes ---------------------------------------------------------------------------------------

        def _graph_write(self, method: str, path: str) -> None:
            access = self._access()
            if access is None:
                return None
            try:
                body = self._json_body()
            except ValueError:
                return self._graph_error(400, "BadRequest", "Unable to read JSON request payload.")
            state.graph_writes.append(GraphWrite(method, unquote(path), body, self.headers.get("If-Match")))
            user = state.users[access.oid]
            if f"{GRAPH}calendars.readwrite" not in resource_scopes(access.scopes):
                return self._access_denied()
            segments = path.split("/")
            if method == "POST" and (
                segments == ["me", "events"] or (len(segments) == 4 and segments[:2] == ["me", "calendars"])
            ):
                if len(segments) == 4 and segments[3] != "events":
                    return self._graph_error(400, "BadRequest", f"Resource not found for the segment '{segments[3]}'.")
                return self._create(user, unquote(segments[2]) if len(segments) == 4 else None, body or {})
            if len(segments) in (3, 4) and segments[:2] == ["me", "events"]:
                item = self._owned_item(user, unquote(segments[2]))
                if item is None:
                    return self._not_found()
                event = item if isinstance(item, StoredEvent) else item.event
                calendar = next(c for c in user.calendars if c["id"] == event.calendar_id)
                if not calendar.get("canEdit"):
                    return self._access_denied()
                if (method, len(segments)) == ("PATCH", 3):
                    return self._patch(user, item, body or {})
                if (method, len(segments)) == ("DELETE", 3):
                    return self._delete(item)
                if method == "POST" and len(segments) == 4 and segments[3] in RESPONSE_ACTIONS:
                    return self._respond(user, item, RESPONSE_ACTIONS[segments[3]])
            self._graph_error(400, "BadRequest", f"Resource not found for the segment '{segments[-1]}'.")

        def _create(self, user: MicrosoftUser, calendar_id: str | None, body: dict[str, Any]) -> None:
            calendar = self._calendar(user, calendar_id)
            if calendar is None:
                return self._not_found()
            if not calendar.get("canEdit"):
                return self._access_denied()
            defaults: dict[str, Any] = {
                "subject": "",
                "description": "",
                "location": "",
                "organizer": {"emailAddress": {"name": user.display_name, "address": user.mail}},
                "isOrganizer": True,
            }
            try:
                event, _ = state.calendar_events.create(calendar["id"], body, defaults)
            except DuplicateTransaction as exc:
                return self._graph_error(400, "ErrorDuplicateTransactionId", str(exc))
            except GraphInputError as exc:
                return self._graph_error(400, exc.code, str(exc))
            self._reply_event(201, user, event)

        def _patch(self, user: MicrosoftUser, item: Instance | StoredEvent, body: dict[str, Any]) -> None:
            if not etag_matches(self.headers.get("If-Match"), item.change_key):
                return self._irresolvable_conflict()
            try:
                changed = state.calendar_events.patch(item, body)
            except GraphInputError as exc:
                return self._graph_error(400, exc.code, str(exc))
            self._reply_event(200, user, changed)

        def _delete(self, item: Instance | StoredEvent) -> None:
            if not etag_matches(self.headers.get("If-Match"), item.change_key):
                return self._irresolvable_conflict()
            state.calendar_events.remove(item)
            self._reply(204, b"", "text/plain", None)

        def _respond(self, user: MicrosoftUser, item: Instance | StoredEvent, response: str) -> None:
            event = item if isinstance(item, StoredEvent) else item.event
            if event.fields.get("isOrganizer", True):
                return self._graph_error(
                    400,
                    "ErrorInvalidRequest",
                    "Your request can't be completed. You can't respond to this meeting because you're the "
                    "meeting organizer.",
                )
            state.calendar_events.answer(item, response, user.mail)
            self._reply(202, b"", "text/plain", None)

        def _instances(self, user: MicrosoftUser, master_id: str) -> None:
            master = self._owned_item(user, master_id)
            if not isinstance(master, StoredEvent):
                return self._not_found()
            query = {key.lower(): value for key, value in self.query().items()}
            try:
                window = (_query_instant(query["startdatetime"]), _query_instant(query["enddatetime"]))
            except (KeyError, ValueError):
                return self._graph_error(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string parameters StartDateTime "
                    "and EndDateTime.",
                )
            found = state.calendar_events.series_instances(master, window) if master.recurrence else []
            self._reply_events(user, found)

        def _list_events(self, user: MicrosoftUser, calendar_id: str) -> None:
            calendar = self._calendar(user, calendar_id)
            if calendar is None:
                return self._not_found()
            wanted: str | None = None
            if "$filter" in self.query():
                match = TRANSACTION_FILTER.fullmatch(self.query()["$filter"])
                if match is None:  # the fake knows this one filter only
                    return self._graph_error(400, "BadRequest", "Invalid filter clause")
                wanted = match.group(1)
            found = [
                event
                for event in state.calendar_events.events.values()
                if event.calendar_id == calendar["id"]
                and (wanted is None or event.fields.get("transactionId") == wanted)
            ]
            self._reply_events(user, found)

        def _reply_event(self, status: int, user: MicrosoftUser, item: Instance | StoredEvent) -> None:
            prefs = parse_prefer(self.headers.get_all("Prefer") or [])
            context = f"{self.base}/v1.0/$metadata#users('{user.oid}')/events/$entity"
            headers = {"Preference-Applied": ", ".join(prefs.applied)} if prefs.applied else None
            self.reply_json(status, {"@odata.context": context, **render_event(item, prefs)}, headers)

        def _reply_events(self, user: MicrosoftUser, items: list[Instance] | list[StoredEvent]) -> None:
            prefs = parse_prefer(self.headers.get_all("Prefer") or [])
            body = {
                "@odata.context": f"{self.base}/v1.0/$metadata#users('{user.oid}')/events",
                "value": [render_event(item, prefs) for item in items],
            }
            headers = {"Preference-Applied": ", ".join(prefs.applied)} if prefs.applied else None
            self.reply_json(200, body, headers)

        def _owned_item(self, user: MicrosoftUser, item_id: str) -> Instance | StoredEvent | None:
            found = state.calendar_events.instance(item_id)
            event = found.event if isinstance(found, Instance) else found
            if event is None or event.calendar_id not in {c["id"] for c in user.calendars}:
                return None
            return found

        @staticmethod
        def _calendar(user: MicrosoftUser, calendar_id: str | None) -> dict[str, Any] | None:
            return next(
                (
                    c
                    for c in user.calendars
                    if c["id"] == calendar_id or (calendar_id is None and c["isDefaultCalendar"])
                ),
                None,
            )

        def _json_body(self) -> dict[str, Any] | None:
            """The JSON request body (None when there is none); ValueError when it is not a JSON object."""
            length = int(self.headers.get("Content-Length", "0"))
            if not length:
                return None
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            return body

        def _not_found(self) -> None:
            self._graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

        def _access_denied(self) -> None:
            self._graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

        def _irresolvable_conflict(self) -> None:
            self._graph_error(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the "
                "request does not match the current change key for the item.",
            )

        def _graph_error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
            self.reply_json(status, graph_error(code, message, self.headers.get("client-request-id")), headers)

    return MicrosoftHandler


def take_matching(queue: deque[tuple[str, str]], method: str, route: str) -> bool:
    """Remove and report the first (method, path fragment) of `queue` that this request matches."""
    for entry in list(queue):
        if entry[0] == method and entry[1] in route:
            queue.remove(entry)
            return True
    return False


def auto_post_form(action: str, params: dict[str, str]) -> str:
    """response_mode=form_post: a page whose form posts the response parameters to redirect_uri."""
    fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items())
    return (
        f'<html><body onload="document.forms[0].submit()"><form method="POST" action="{escape(action)}">'
        f'{fields}<noscript><input type="submit" value="Continue"></noscript></form></body></html>'
    )


def _query_instant(value: str) -> datetime:
    """startDateTime/endDateTime: ISO 8601, UTC unless it names an offset."""
    moment = datetime.fromisoformat(value.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def select(resource: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """$select, loosely: the named properties (and id, which Graph always returns)."""
    if not query.get("$select"):
        return dict(resource)
    wanted = {"id", *(name.strip() for name in query["$select"].split(","))}
    return {key: value for key, value in resource.items() if key in wanted}
