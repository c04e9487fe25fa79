"""A loopback fake of Google's OAuth 2.0 server and Calendar API (calendar list, events read and written),
following Google's documentation.

Modelled (OAuth 2.0 for web server apps, OpenID Connect, token revocation, Calendar API v3 reference):

- GET /o/oauth2/v2/auth, the consent screen: checks the request, then redirects to redirect_uri with `code`,
  `state` and the granted `scope`, or with `error=access_denied` when the person declines. Like Google it
  grants the OpenID shorthands under their full names ("email" comes back as .../auth/userinfo.email, with
  "openid" added), and granular consent lets the person untick non-identity scopes (`declined_scopes`).
- POST /token, form-encoded, client credentials in the body or HTTP Basic: `authorization_code` redeems a
  code once (same redirect_uri, PKCE S256 verifier); a refresh_token comes only with access_type=offline, and
  only on the first consent unless prompt=consent. `refresh_token` mints a new access token and never a new
  refresh token (Google does not rotate them). An id_token comes with the OpenID scopes.
- POST /revoke: 200 {} for a live token, which withdraws the whole grant (refresh token and its access
  tokens); 400 invalid_token for an unknown, expired or already revoked one.
- GET /calendar/v3/users/me/calendarList[/{id}] and /calendar/v3/calendars/{id}: Bearer token required
  (401 authError, 403 insufficientPermissions without a calendar scope); paging with maxResults/pageToken,
  nextSyncToken on the last page, 410 fullSyncRequired for a stale syncToken.
- GET /calendar/v3/calendars/{id}/events (events.list, "Synchronize resources efficiently"): maxResults
  (default 250, at most 2500; `page_size` makes pages shorter, as Google may), pageToken, syncToken,
  showDeleted, timeMin/timeMax, iCalUID (only the events with that UID: a series and its exceptions).
  nextPageToken on every page but the last, nextSyncToken only on the last.
  A listing is a snapshot taken at its first page; its sync token covers the changes made after that moment.
  With a syncToken: every event changed since, deleted ones included whatever showDeleted says; the
  parameters Google refuses next to one (timeMin, timeMax, q, orderBy, ...) are a 400; an unknown or
  expired token (`expire_sync_tokens`) is 410 fullSyncRequired. Without one, deleted events appear only with
  showDeleted=true, but cancelled occurrences of a live series always do (singleEvents=false). Deleted
  events come back as tombstones with only the fields Google guarantees (id, status; a cancelled occurrence
  also recurringEventId and originalStartTime), so clients cannot lean on more.
  Events are changed through the state (`put_event`, `patch_event`, `cancel_event`, `put_exception`,
  `cancel_occurrence`); each change moves the event's etag, `updated` and the calendar's change sequence.
  Not modelled: singleEvents=true (instances), which answers 501 so a test relying on it fails loudly.
- Writing events (Events reference: insert, get, patch, update, delete; "Version resources"; "Handle API
  errors"; "Recurring events"), each write moving the event's etag, `updated` and the calendar's change
  sequence exactly as the state helpers do, so an incremental listing sees it:
  POST .../events (insert): an `id` is optional; a given one must be base32hex (a-v, 0-9), 5-1024 long
  (400 invalid), and is taken once only: 409 `duplicate` when the calendar has it, deleted events included
  (a known Google behaviour: deleted events keep their id). iCalUID may be given instead of an id.
  GET .../events/{id} (get): deleted events too, as `status: cancelled` ("the get method always returns
  them"); 404 notFound for an unknown id.
  PATCH (patch semantics: named fields replace, arrays whole, nested objects merge, null removes a field) and
  PUT (update: the body is the new event, read-only fields kept). DELETE: 204, the event becomes a tombstone
  (a series takes its exceptions with it); 410 `deleted` when it is one already.
  `If-Match` on patch, update and delete: 412 `conditionNotMet` unless it is the event's current etag.
  An instance id `{series}_{original start}` (UTC YYYYMMDDTHHMMSSZ, or YYYYMMDD for all-day series) names one
  occurrence, checked against the series' rule (dateutil expands it): patching it makes the exception
  (recurringEventId, originalStartTime), deleting it cancels that occurrence; 404 for an id that is not an
  occurrence, 410 when the series is deleted. An untouched instance carries the series' etag (Google does not
  document this; calsync does not rely on it). A series whose start or rule changes keeps its exceptions as
  they are: an exception's originalStartTime is immutable (Events reference), and what Google shows for one
  that no longer names an occurrence is not documented, so nothing here re-keys or drops them.
  Writes need a writer or owner role: 403 `requiredAccessLevel` ("You need to have writer access to this
  calendar.") otherwise, and a write scope (403 insufficientPermissions). On a guest's copy (organizer not
  `self`) only the guest's own answer may change: 403 `forbiddenForNonOrganizer` for shared properties.
  Google's checks it refuses with 400: missing or mixed start/end, end before start (timeRangeEmpty), unknown
  zones, a series without a timeZone, recurrence lines that are not RRULE/EXRULE/RDATE/EXDATE or do not parse.
  Google marks the owner's attendee `self` and starts answers at needsAction. `sendUpdates` must be all,
  externalOnly or none; it is in `request_log` (the query) and, with If-Match and the body, in `write_log`.
  Not modelled: guests' copies on their own calendars, e-mails, conference creation, events.import/move.

Faults queued in `faults` (status, Retry-After) answer the next request to any endpoint, for retry tests;
`malformed_replies` makes the next Calendar API replies a 200 whose JSON body is cut short; `outage_after`
lets that many more Calendar API requests through and answers 503 to every one after them; `lost_replies`
carries the next Calendar API requests out but hangs up instead of answering (note that httplib2 resends a
request once by itself when a fresh connection closes without an answer, a POST included); `reset_replies`
answers the next Calendar API requests with their headers and half their body, then resets the connection,
and `cut_replies` likewise but closes it in good order (the body ends early); `stalled_replies` holds the
next ones for `stall_seconds` without a word and then hangs up, so a client with a shorter timeout gives up
first (the lock is not held meanwhile: the client's retry gets through).
Stricter than Google on purpose: PKCE with S256 is required (Google also takes plain, or none from web
clients), because calsync always sends S256 and a regression there should fail loudly.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rruleset, rrulestr

from fakes.base import FakeHandler, LoggedRequest, break_off_midway, jwt_shaped, raw_answer, s256, with_query

ISSUER = "https://accounts.google.com"
USERINFO = "https://www.googleapis.com/auth/userinfo."
CALENDAR = "https://www.googleapis.com/auth/calendar"
# Google answers the OpenID shorthands with their full scope names (oauthlib then warns "Scope has changed").
SCOPE_ALIASES = {"email": USERINFO + "email", "profile": USERINFO + "profile"}
IDENTITY_SCOPES = frozenset({"openid", USERINFO + "email", USERINFO + "profile"})
CALENDAR_LIST_SCOPES = frozenset(
    {CALENDAR, f"{CALENDAR}.readonly", f"{CALENDAR}.calendarlist", f"{CALENDAR}.calendarlist.readonly"}
)
CALENDARS_SCOPES = frozenset(
    {CALENDAR, f"{CALENDAR}.readonly", f"{CALENDAR}.calendars", f"{CALENDAR}.calendars.readonly"}
)
EVENTS_SCOPES = frozenset({CALENDAR, f"{CALENDAR}.readonly", f"{CALENDAR}.events", f"{CALENDAR}.events.readonly"})
EVENTS_WRITE_SCOPES = frozenset({CALENDAR, f"{CALENDAR}.events"})
WRITER_ROLES = ("writer", "owner")
# An id a client chooses: base32hex (RFC 2938 3.1.2) characters, 5 to 1024 of them.
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
SEND_UPDATES = ("all", "externalOnly", "none")
# What a client cannot set: Google fills these in (iCalUID only on insert, and only instead of an id).
READ_ONLY_FIELDS = frozenset(
    {
        "kind",
        "etag",
        "id",
        "htmlLink",
        "created",
        "updated",
        "creator",
        "organizer",
        "iCalUID",
        "recurringEventId",
        "originalStartTime",
        "sequence",
    }
)
# Fields only the organizer's copy may change; a guest's copy takes its own answer (and reminders, colours).
SHARED_FIELDS = ("summary", "description", "location", "start", "end", "recurrence", "attendees")
OWN_ANSWER_FIELDS = ("responseStatus", "comment", "additionalGuests")
RECURRENCE_LINE = re.compile(r"^(RRULE|EXRULE|RDATE|EXDATE)[;:]")
ACCESS_ROLES = ("freeBusyReader", "reader", "writer", "owner")  # weakest first, as minAccessRole orders them
ACCESS_TOKEN_SECONDS = 3599
CODE_SECONDS = 600
DEFAULT_MAX_RESULTS, MAX_RESULTS = 100, 250
DEFAULT_MAX_EVENTS, MAX_EVENTS = 250, 2500
JSON_TYPE = "application/json; charset=UTF-8"
# events.list parameters that cannot be combined with a syncToken (they would make the client's copy partial).
NOT_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
FULL_SYNC_REQUIRED = "Sync token is no longer valid, a full sync is required."
UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "errors": [
            {
                "message": "Invalid Credentials",
                "domain": "global",
                "reason": "authError",
                "location": "Authorization",
                "locationType": "header",
            }
        ],
        "status": "UNAUTHENTICATED",
    }
}
INSUFFICIENT_SCOPES = {
    "error": {
        "code": 403,
        "message": "Request had insufficient authentication scopes.",
        "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": "calendar-json.googleapis.com"},
            }
        ],
    }
}


def api_error(code: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    """The Calendar API's error body (the v3 JSON shape: errors[] with domain and reason)."""
    return {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": code,
            "message": message,
        }
    }


class ApiRefusal(Exception):
    """An error answer of the Calendar API (status, reason, message), raised by the state's API operations."""

    def __init__(self, status: int, reason: str, message: str, *, domain: str = "global", location: str = "") -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.domain, self.location = status, reason, message, domain, location

    def body(self) -> dict[str, Any]:
        body = api_error(self.status, self.reason, self.message, self.domain)
        if self.location:
            body["error"]["errors"][0].update(locationType="header", location=self.location)
        return body


NOT_FOUND = ("notFound", "Not Found")
DELETED = ("deleted", "Resource has been deleted")


def fault_body(status: int) -> dict[str, Any]:
    if status in (403, 429):
        return api_error(status, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")
    return api_error(status, "backendError", "Backend Error")


def granted_scopes(requested: list[str], declined: set[str]) -> list[str]:
    """What the consent screen grants: shorthands spelled out, openid added with them, unticked scopes left out."""
    scopes = [SCOPE_ALIASES.get(scope, scope) for scope in requested]
    if "openid" not in scopes and any(scope in IDENTITY_SCOPES for scope in scopes):
        scopes.insert(0, "openid")
    declined = {SCOPE_ALIASES.get(scope, scope) for scope in declined} - IDENTITY_SCOPES  # those can't be unticked
    return [scope for scope in dict.fromkeys(scopes) if scope not in declined]


def etag_of(resource: object) -> str:
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True).encode()).hexdigest()
    return f'"{int(digest[:15], 16)}"'  # Google's etags are quoted decimal numbers


@dataclass
class GoogleUser:
    sub: str
    email: str
    name: str = ""
    calendars: list[dict[str, Any]] = field(default_factory=list)  # calendar list entries, as add_calendar fills them


@dataclass
class IssuedCode:
    client_id: str
    redirect_uri: str
    challenge: str
    scopes: tuple[str, ...]
    sub: str
    access_type: str
    prompt: str
    with_refresh_token: bool
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    sub: str
    scopes: tuple[str, ...]
    expires_at: float
    refresh_token: str | None  # the grant it belongs to; revoking either withdraws both


@dataclass
class RefreshGrant:
    sub: str
    scopes: tuple[str, ...]


@dataclass
class StoredEvent:
    resource: dict[str, Any]  # the whole event as Google keeps it (tombstones included)
    changed: int  # the calendar's change sequence at the event's last change


@dataclass
class LoggedWrite:
    """One write request to the events collection as the fake received it (after authentication)."""

    method: str
    calendar_id: str
    event_id: str
    if_match: str
    send_updates: str | None  # the sendUpdates parameter, None when the client left it out
    body: dict[str, Any] | None


@dataclass
class EventListing:
    """An events.list answer in progress: the snapshot its pages come from and what its sync token covers."""

    sub: str
    calendar_id: str
    items: list[dict[str, Any]]
    changes_seen: int  # the calendar's change sequence when the listing started


@dataclass
class GoogleState:
    client_id: str = "google-client-id"
    client_secret: str = "google-client-secret"
    base_url: str = ""  # https://127.0.0.1:PORT, set by whoever serves the fake
    users: dict[str, GoogleUser] = field(default_factory=dict)  # keyed by OIDC `sub`
    next_user: str | None = None  # the sub who consents at the next authorize (default: the first user)
    deny: bool = False  # the person clicks Cancel on the consent screen
    declined_scopes: set[str] = field(default_factory=set)  # granular consent: boxes the person unticks
    redirect_uris: set[str] = field(default_factory=set)  # registered redirect URIs; empty accepts any
    page_size: int | None = None  # Google may return fewer than maxResults; this caps every page
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)
    offline_consents: set[str] = field(default_factory=set)  # subs who already gave this client offline access
    page_tokens: dict[str, tuple[str, int]] = field(default_factory=dict)  # token -> (sub, offset)
    sync_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (sub, etag of the list)
    request_log: list[LoggedRequest] = field(default_factory=list)
    # Events: calendar id -> event id -> event (insertion order is the listing order), and each calendar's
    # change sequence, which sync tokens remember.
    events: dict[str, dict[str, StoredEvent]] = field(default_factory=dict)
    event_changes: dict[str, int] = field(default_factory=dict)
    event_sync_tokens: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # -> (sub, calendar, change)
    event_page_tokens: dict[str, tuple[EventListing, int]] = field(default_factory=dict)  # -> (listing, offset)
    last_stamp: float = 0.0  # every change gets a later `updated` than the one before
    malformed_replies: int = 0  # the next this-many Calendar API replies are cut-short JSON
    # An outage: this many more Calendar API requests are answered, then every one is a 503 until it is None.
    outage_after: int | None = None
    # Revocation bookkeeping: every live token (issued here or added by a test) and what was revoked via /revoke.
    valid_tokens: set[str] = field(default_factory=set)
    revoked: list[str] = field(default_factory=list)
    faults: deque[tuple[int, str | None]] = field(default_factory=deque)
    # The next this-many Calendar API requests are carried out, but their replies are lost: the connection
    # closes without an answer (a write that happened although the client never heard so).
    lost_replies: int = 0
    # The next this-many Calendar API replies break off halfway through their body: with a connection reset,
    # or with the connection closed in good order.
    reset_replies: int = 0
    cut_replies: int = 0
    # The next this-many Calendar API requests get no answer for `stall_seconds`, then the connection closes.
    stalled_replies: int = 0
    stall_seconds: float = 2.0
    write_log: list[LoggedWrite] = field(default_factory=list)
    # Called with (method, route) as each request arrives, before it is answered: lets a test act at an
    # exact point of a client's conversation (another worker taking over, a token lapsing mid-listing).
    on_request: Callable[[str, str], None] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add_user(
        self, email: str, *, sub: str | None = None, name: str = "", time_zone: str = "Europe/Berlin"
    ) -> GoogleUser:
        """A Google account with its primary calendar (whose id is the address, as on Google)."""
        with self.lock:
            user = GoogleUser(sub or f"1{secrets.randbelow(10**20):020d}", email, name)
            self.users[user.sub] = user
            self.add_calendar(
                user.sub,
                id=email,
                summary=email,
                timeZone=time_zone,
                colorId="14",
                backgroundColor="#9fe1e7",
                primary=True,
            )
            return user

    def add_calendar(self, sub: str, **fields: Any) -> dict[str, Any]:
        """Add a calendar list entry for `sub`; unspecified fields get Google-like defaults."""
        with self.lock:
            user = self.users[sub]
            entry: dict[str, Any] = {
                "id": f"{secrets.token_hex(26)}@group.calendar.google.com",
                "summary": "Calendar",
                "timeZone": user.calendars[0]["timeZone"] if user.calendars else "Europe/Berlin",
                "colorId": "1",
                "backgroundColor": "#ac725e",
                "foregroundColor": "#000000",
                "accessRole": "owner",
                "primary": False,
                **fields,
            }
            user.calendars.append(entry)
            return entry

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens.values():
                token.expires_at = 0.0

    def revoke_all(self) -> None:
        """The person removes the app at myaccount.google.com: every grant (and token) issued here stops working."""
        with self.lock:
            self.valid_tokens -= set(self.access_tokens) | set(self.refresh_tokens)
            self.offline_consents.clear()

    def issue_tokens(self, sub: str, scopes: list[str] | tuple[str, ...], *, refresh: bool = True) -> dict[str, Any]:
        """The token endpoint's answer for a fresh grant (tests can use it to skip the browser part)."""
        scopes = tuple(granted_scopes(list(scopes), set()))
        with self.lock:
            refresh_token = None
            if refresh:
                refresh_token = "1//" + secrets.token_urlsafe(64)
                self.refresh_tokens[refresh_token] = RefreshGrant(sub, scopes)
                self.valid_tokens.add(refresh_token)
                self.offline_consents.add(sub)
            body = self.mint_access_token(sub, scopes, refresh_token)
            if refresh_token:
                body["refresh_token"] = refresh_token
            return body

    def revoke(self, token: str) -> bool:
        """Withdraw the grant `token` belongs to; False when it was not live (Google's 400 invalid_token)."""
        with self.lock:
            access = self.access_tokens.get(token)
            if token not in self.valid_tokens or (access and access.expires_at <= time.time()):
                return False
            self.revoked.append(token)
            self.valid_tokens.discard(token)
            grant = access.refresh_token if access else token
            if grant is not None:  # the refresh token and every access token minted from it
                self.valid_tokens -= {grant} | {
                    key for key, item in self.access_tokens.items() if item.refresh_token == grant
                }
                if grant in self.refresh_tokens:
                    self.offline_consents.discard(self.refresh_tokens[grant].sub)
            return True

    def live_access_token(self, token: str | None) -> AccessToken | None:
        with self.lock:
            access = self.access_tokens.get(token or "")
            if token is None or access is None or token not in self.valid_tokens or access.expires_at <= time.time():
                return None
            return access

    def mint_access_token(self, sub: str, scopes: tuple[str, ...], grant: str | None) -> dict[str, Any]:
        """A token endpoint answer with a new access token (and id_token for OpenID scopes), no refresh token."""
        token = "ya29." + secrets.token_urlsafe(96)
        with self.lock:
            self.access_tokens[token] = AccessToken(sub, scopes, time.time() + ACCESS_TOKEN_SECONDS, grant)
            self.valid_tokens.add(token)
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if "openid" in scopes:
            body["id_token"] = self._id_token(self.users[sub], scopes)
        return body

    # Events ------------------------------------------------------------------------------------------------------

    def put_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Create an event, or replace the one with the same `id`; returns the stored resource.

        What the test leaves out gets Google's defaults (id, etag, htmlLink, created/updated, creator and
        organizer, iCalUID, sequence, eventType). Fields are stored as given, so a test can store an item
        Google would refuse (no start, a bad date) to see how a client copes.
        """
        with self.lock:
            stored = self.events.setdefault(calendar_id, {})
            event_id = str(event.get("id") or secrets.token_hex(13))
            previous = stored.get(event_id)
            resource: dict[str, Any] = {
                "kind": "calendar#event",
                "id": event_id,
                "status": "confirmed",
                "htmlLink": html_link(calendar_id, event_id),
                "creator": {"email": self._owner_email(calendar_id), "self": True},
                "organizer": self._organizer(calendar_id),
                "iCalUID": f"{event_id}@google.com",
                "sequence": 0,
                "reminders": {"useDefault": True},
                "eventType": "default",
            }
            if previous is not None:  # a replacement keeps what Google keeps, and counts as a new revision
                kept = previous.resource
                resource.update(created=kept["created"], iCalUID=kept["iCalUID"], sequence=kept["sequence"] + 1)
            resource.update(copy.deepcopy(event))
            resource["id"] = event_id
            return self._store(calendar_id, resource, created=previous is None)

    def patch_event(self, calendar_id: str, event_id: str, **changes: Any) -> dict[str, Any]:
        """Change some fields of a stored event (events.patch); a None value removes the field."""
        with self.lock:
            resource = copy.deepcopy(self.events[calendar_id][event_id].resource)
            for name, value in changes.items():
                if value is None:
                    resource.pop(name, None)
                else:
                    resource[name] = copy.deepcopy(value)
            if {"start", "end", "recurrence", "status"} & set(changes):
                resource["sequence"] = resource.get("sequence", 0) + 1
            return self._store(calendar_id, resource)

    def cancel_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """Delete an event (events.delete): it stays as a `cancelled` tombstone, and deleting a series deletes
        its exceptions with it."""
        with self.lock:
            for other in list(self.events.get(calendar_id, {}).values()):
                if other.resource.get("recurringEventId") == event_id and other.resource["status"] != "cancelled":
                    self.patch_event(calendar_id, other.resource["id"], status="cancelled")
            return self.patch_event(calendar_id, event_id, status="cancelled")

    def put_exception(
        self, calendar_id: str, master_id: str, original_start: dict[str, str], **changes: Any
    ) -> dict[str, Any]:
        """Change one occurrence of a recurring event (move it, retitle it): an exception event with id
        `{master}_{original start}`, `recurringEventId` and `originalStartTime`, otherwise a copy of the
        occurrence. Without `start`/`end` it keeps the occurrence's times."""
        with self.lock:
            occurrence = self._occurrence(calendar_id, master_id, original_start)
            occurrence.update(copy.deepcopy(changes))
            return self.put_event(calendar_id, {**occurrence, "id": occurrence_id(master_id, original_start)})

    def cancel_occurrence(self, calendar_id: str, master_id: str, original_start: dict[str, str]) -> dict[str, Any]:
        """Delete one occurrence of a recurring event: Google keeps it as a cancelled exception (the master's
        recurrence is left alone, no EXDATE is added)."""
        with self.lock:
            return self.put_exception(calendar_id, master_id, original_start, status="cancelled")

    def event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.events[calendar_id][event_id].resource)

    def kept_events(self, calendar_id: str) -> dict[str, dict[str, Any]]:
        """What a client in sync keeps of the calendar, as events.list serves it: live events, and the cancelled
        occurrences of live series as their tombstones (an exception of a deleted series is deleted with it)."""
        with self.lock:
            calendar = self.events.get(calendar_id, {})
            return {
                event_id: listed(item, calendar)
                for event_id, item in calendar.items()
                if item.resource.get("status") != "cancelled" or is_cancelled_occurrence(item.resource, calendar)
            }

    def expire_sync_tokens(self) -> None:
        """Google lets sync tokens lapse (and sometimes invalidates them): the next incremental sync is a 410."""
        with self.lock:
            self.sync_tokens.clear()
            self.event_sync_tokens.clear()

    # The Calendar API's event operations (the handler calls these; they raise ApiRefusal for error answers) ----

    def api_get_event(self, calendar_id: str, event_id: str, zone: str) -> dict[str, Any]:
        """events.get: deleted events too (as `cancelled`), and occurrences of a series by their instance id."""
        with self.lock:
            stored = self.events.get(calendar_id, {}).get(event_id)
            return copy.deepcopy(stored.resource) if stored else self._instance(calendar_id, event_id, zone)

    def api_insert_event(self, calendar_id: str, body: dict[str, Any], zone: str) -> dict[str, Any]:
        """events.insert: an id of the client's choosing is checked as Google does, and taken only once."""
        with self.lock:
            event_id = body.get("id")
            if event_id is not None and not (isinstance(event_id, str) and EVENT_ID.fullmatch(event_id)):
                raise ApiRefusal(400, "invalid", "Invalid resource id value.")
            if event_id in self.events.get(calendar_id, {}):  # deleted events keep their id
                raise ApiRefusal(409, "duplicate", "The requested identifier already exists.")
            resource = merged({}, {name: value for name, value in body.items() if name not in READ_ONLY_FIELDS})
            if event_id is not None:
                resource["id"] = event_id
            elif isinstance(body.get("iCalUID"), str):
                resource["iCalUID"] = body["iCalUID"]
            resource.setdefault("status", "confirmed")
            self._mark_self(calendar_id, resource)
            check_event(resource, zone)
            return self.put_event(calendar_id, resource)

    def api_write_event(
        self, calendar_id: str, event_id: str, body: dict[str, Any], zone: str, *, replace: bool, if_match: str
    ) -> dict[str, Any]:
        """events.patch (the fields named replace the stored ones, arrays whole, nested objects merged, a null
        removes a field) or events.update (`replace`: the body is the new event). Writing an occurrence of a
        series by its instance id makes it an exception."""
        with self.lock:
            stored = self.events.get(calendar_id, {}).get(event_id)
            before = copy.deepcopy(stored.resource) if stored else self._instance(calendar_id, event_id, zone)
            if if_match and if_match != before["etag"]:
                raise ApiRefusal(412, "conditionNotMet", "Precondition Failed", location="If-Match")
            writable = {name: value for name, value in body.items() if name not in READ_ONLY_FIELDS}
            if replace:
                kept = {name: before[name] for name in READ_ONLY_FIELDS if name in before}
                after = merged(kept, {"status": before.get("status", "confirmed"), **writable})
            else:
                after = merged(before, writable)
            self._mark_self(calendar_id, after)
            check_event(after, zone)
            if not is_organizer_copy(before) and shared_view(before) != shared_view(after):
                raise ApiRefusal(
                    403,
                    "forbiddenForNonOrganizer",
                    "Shared properties can only be changed by the organizer of the event.",
                    domain="calendar",
                )
            if any(before.get(name) != after.get(name) for name in ("start", "end", "recurrence", "status")):
                after["sequence"] = before.get("sequence", 0) + 1
            return self._store(calendar_id, after, created=stored is None)

    def api_delete_event(self, calendar_id: str, event_id: str, zone: str, *, if_match: str) -> None:
        """events.delete: the event becomes a tombstone (410 when it is one already); an instance id cancels
        that occurrence (a cancelled exception)."""
        with self.lock:
            stored = self.events.get(calendar_id, {}).get(event_id)
            current = stored.resource if stored else self._instance(calendar_id, event_id, zone)
            if current.get("status") == "cancelled":
                raise ApiRefusal(410, *DELETED)
            if if_match and if_match != current["etag"]:
                raise ApiRefusal(412, "conditionNotMet", "Precondition Failed", location="If-Match")
            if stored is not None:
                self.cancel_event(calendar_id, event_id)
            else:
                self.cancel_occurrence(calendar_id, current["recurringEventId"], current["originalStartTime"])

    def _instance(self, calendar_id: str, event_id: str, zone: str) -> dict[str, Any]:
        """The occurrence an instance id (`{series}_{original start}`) names, not stored yet: 404 when there is
        no such occurrence, 410 when its series was deleted. It carries the series' etag (Google does not say
        what an untouched instance's etag is; calsync does not rely on it)."""
        master_id, _, suffix = event_id.rpartition("_")
        master = self.events.get(calendar_id, {}).get(master_id) if master_id else None
        if master is None or not master.resource.get("recurrence"):
            raise ApiRefusal(404, *NOT_FOUND)
        if master.resource.get("status") == "cancelled":
            raise ApiRefusal(410, *DELETED)
        original_start = occurrence_start(master.resource, suffix, zone)
        if original_start is None:
            raise ApiRefusal(404, *NOT_FOUND)
        instance = self._occurrence(calendar_id, master_id, original_start)
        instance.update(
            id=event_id,
            etag=master.resource["etag"],
            htmlLink=html_link(calendar_id, event_id),
            created=master.resource["created"],
            updated=master.resource["updated"],
        )
        return instance

    def _occurrence(self, calendar_id: str, master_id: str, original_start: dict[str, str]) -> dict[str, Any]:
        """One occurrence of a series as an event of its own: the series' fields at the occurrence's times."""
        master = self.events[calendar_id][master_id].resource
        occurrence = {
            name: copy.deepcopy(value)
            for name, value in master.items()
            if name not in ("id", "etag", "htmlLink", "created", "updated", "recurrence")
        }
        start = dict(original_start)
        if "dateTime" in start and "timeZone" in master["start"]:
            start.setdefault("timeZone", master["start"]["timeZone"])
        occurrence.update(start=start, end=shifted(master["end"], master["start"], start))
        occurrence.update(recurringEventId=master_id, originalStartTime=dict(original_start), status="confirmed")
        return occurrence

    def _mark_self(self, calendar_id: str, resource: dict[str, Any]) -> None:
        """Google works out which guest is the calendar's owner (`self`), and starts every answer at needsAction."""
        owner = {calendar_id.lower(), self._owner_email(calendar_id).lower()}
        for person in resource.get("attendees") or []:
            if not isinstance(person, dict):
                continue
            if str(person.get("email", "")).lower() in owner:
                person["self"] = True
            else:
                person.pop("self", None)
            person.setdefault("responseStatus", "needsAction")

    def _store(self, calendar_id: str, resource: dict[str, Any], *, created: bool = False) -> dict[str, Any]:
        stamp = max(time.time(), self.last_stamp + 0.001)
        self.last_stamp = stamp
        updated = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if created or "created" not in resource:
            resource["created"] = updated
        resource["updated"] = updated
        resource["etag"] = f'"{int(stamp * 1000) * 1000}"'  # Google's event etags are quoted numbers too
        change = self.event_changes.get(calendar_id, 0) + 1
        self.event_changes[calendar_id] = change
        self.events.setdefault(calendar_id, {})[resource["id"]] = StoredEvent(resource, change)
        return copy.deepcopy(resource)

    def _owner_email(self, calendar_id: str) -> str:
        for user in self.users.values():
            if any(entry["id"] == calendar_id and entry["accessRole"] == "owner" for entry in user.calendars):
                return user.email
        return calendar_id

    def _organizer(self, calendar_id: str) -> dict[str, Any]:
        # The organizer of an event on a secondary calendar is the calendar itself, named after it.
        for user in self.users.values():
            for entry in user.calendars:
                if entry["id"] == calendar_id and not entry.get("primary"):
                    return {"email": calendar_id, "displayName": entry["summary"], "self": True}
        return {"email": calendar_id, "self": True}

    def _id_token(self, user: GoogleUser, scopes: tuple[str, ...]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "azp": self.client_id, "aud": self.client_id, "sub": user.sub}
        if USERINFO + "email" in scopes:  # the email claims come with the email scope only
            claims.update(email=user.email, email_verified=True)
        if USERINFO + "profile" in scopes and user.name:
            claims["name"] = user.name
        claims.update(iat=now, exp=now + 3600)
        return jwt_shaped(claims)


def handler_for(state: GoogleState) -> type[BaseHTTPRequestHandler]:
    class GoogleHandler(FakeHandler):
        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            route = self.route
            # A Calendar API body is read up front, so a fault answered instead still leaves the connection clean.
            self.payload = self._read_payload() if route.startswith("/calendar/") else b""
            with state.lock:
                state.request_log.append((method, route, self.query()))
                if state.on_request is not None:
                    state.on_request(method, route)
                if state.faults:
                    status, retry_after = state.faults.popleft()
                    body = fault_body(status) if route.startswith("/calendar/") else {"error": "backend_error"}
                    self.reply_json(status, body, {"Retry-After": retry_after} if retry_after else None)
                    return
                if state.outage_after is not None and route.startswith("/calendar/"):
                    if state.outage_after == 0:
                        self.reply_json(503, fault_body(503))
                        return
                    state.outage_after -= 1
                if state.malformed_replies and route.startswith("/calendar/"):
                    state.malformed_replies -= 1
                    # A reply cut off mid-body, as a proxy or an overloaded frontend may send it.
                    self._reply(200, b'{"kind": "calendar#events", "items": [{"kind": "calen', JSON_TYPE, None)
                    return
                if state.lost_replies and route.startswith("/calendar/"):
                    state.lost_replies -= 1
                    # Carry the request out, then hang up instead of answering.
                    answer, self.wfile = self.wfile, io.BytesIO()
                    try:
                        self._route(method, route)
                    finally:
                        self.wfile = answer
                    self.close_connection = True
                    return
                if state.reset_replies and route.startswith("/calendar/"):
                    state.reset_replies -= 1
                    break_off_midway(self, raw_answer(self, lambda: self._route(method, route)), reset=True)
                    return
                if state.cut_replies and route.startswith("/calendar/"):
                    state.cut_replies -= 1
                    break_off_midway(self, raw_answer(self, lambda: self._route(method, route)), reset=False)
                    return
                if state.stalled_replies and route.startswith("/calendar/"):
                    state.stalled_replies -= 1
                    # The wait lets go of the lock (held once, here), so the client's retry is answered meanwhile.
                    state.lock.release()
                    try:
                        time.sleep(state.stall_seconds)
                    finally:
                        state.lock.acquire()
                    self.close_connection = True
                    return
                self._route(method, route)

        def _route(self, method: str, route: str) -> None:
            if (method, route) == ("GET", "/o/oauth2/v2/auth"):
                self._authorize(self.query())
            elif (method, route) == ("POST", "/token"):
                self._token(self.form())
            elif (method, route) == ("POST", "/revoke"):
                self._revoke({**self.query(), **self.form()})
            elif route.startswith("/calendar/v3/"):
                self._calendar_api(method, route.removeprefix("/calendar/v3/"))
            else:
                self.reply_json(404, {"error": "not_found"})

        def _read_payload(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        # The consent screen ------------------------------------------------------------------------------------

        def _authorize(self, query: dict[str, str]) -> None:
            redirect_uri = query.get("redirect_uri", "")
            if query.get("client_id") != state.client_id:
                return self.reply_text(401, "Error 401: invalid_client. The OAuth client was not found.")
            if not redirect_uri or (state.redirect_uris and redirect_uri not in state.redirect_uris):
                return self.reply_text(400, "Error 400: redirect_uri_mismatch")
            problem = self._authorize_problem(query)
            if problem:
                return self.reply_text(400, f"Error 400: invalid_request. {problem}")
            sub = state.next_user or next(iter(state.users), None)
            if sub is None:
                return self.reply_text(400, "No Google account is signed in (call add_user first).")
            back = {"state": query["state"]} if "state" in query else {}  # state goes back either way
            if state.deny:
                return self.redirect(with_query(redirect_uri, {"error": "access_denied", **back}))
            scopes = tuple(granted_scopes(query["scope"].split(), state.declined_scopes))
            prompt = query.get("prompt", "")
            offline = query.get("access_type", "online") == "offline"
            code = "4/0A" + secrets.token_urlsafe(64)
            state.codes[code] = IssuedCode(
                client_id=state.client_id,
                redirect_uri=redirect_uri,
                challenge=query["code_challenge"],
                scopes=scopes,
                sub=sub,
                access_type=query.get("access_type", "online"),
                prompt=prompt,
                # A refresh token comes with the first offline consent, and again only when prompt=consent.
                with_refresh_token=offline and (sub not in state.offline_consents or "consent" in prompt.split()),
                expires_at=time.time() + CODE_SECONDS,
            )
            params = {
                **back,
                "iss": ISSUER,
                "code": code,
                "scope": " ".join(scopes),
                "authuser": "0",
                "prompt": "consent",
            }
            self.redirect(with_query(redirect_uri, params))

        @staticmethod
        def _authorize_problem(query: dict[str, str]) -> str:
            if query.get("response_type") != "code":
                return "Invalid response_type (this client uses the authorization code flow)."
            if not query.get("scope"):
                return "Missing required parameter: scope"
            if query.get("access_type", "online") not in ("online", "offline"):
                return "Invalid access_type."
            if not query.get("code_challenge"):
                return "Missing required parameter: code_challenge"
            if query.get("code_challenge_method") != "S256":
                return "code_challenge_method must be S256."
            return ""

        # The token endpoint -------------------------------------------------------------------------------------

        def _token(self, form: dict[str, str]) -> None:
            client_id, client_secret = self.basic_credentials() or (
                form.get("client_id", ""),
                form.get("client_secret", ""),
            )
            if client_id != state.client_id:
                return self.reply_json(
                    401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
                )
            if client_secret != state.client_secret:
                return self.reply_json(401, {"error": "invalid_client", "error_description": "Unauthorized"})
            grant_type = form.get("grant_type", "")
            if grant_type == "authorization_code":
                self._redeem_code(form)
            elif grant_type == "refresh_token":
                self._refresh(form)
            else:
                self.reply_json(
                    400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant_type}"}
                )

        def _redeem_code(self, form: dict[str, str]) -> None:
            code = state.codes.get(form.get("code", ""))
            if code is None or code.client_id != state.client_id:
                return self._invalid_grant("Malformed auth code.")
            if code.used or code.expires_at <= time.time():
                return self._invalid_grant("Bad Request")
            if form.get("redirect_uri") != code.redirect_uri:
                return self.reply_json(400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"})
            verifier = form.get("code_verifier", "")
            if not verifier:
                return self._invalid_grant("Missing code verifier.")
            if s256(verifier) != code.challenge:
                return self._invalid_grant("Invalid code verifier.")
            code.used = True
            self.reply_json(200, state.issue_tokens(code.sub, code.scopes, refresh=code.with_refresh_token))

        def _refresh(self, form: dict[str, str]) -> None:
            token = form.get("refresh_token", "")
            grant = state.refresh_tokens.get(token)
            if grant is None or token not in state.valid_tokens:
                return self._invalid_grant("Token has been expired or revoked.")
            scopes = grant.scopes
            if form.get("scope"):  # a narrower access token is allowed, a wider one is not
                asked = tuple(SCOPE_ALIASES.get(scope, scope) for scope in form["scope"].split())
                if not set(asked) <= set(grant.scopes):
                    return self.reply_json(400, {"error": "invalid_scope", "error_description": "Bad Request"})
                scopes = asked
            # No refresh_token in the answer: Google keeps the one the client has.
            self.reply_json(200, state.mint_access_token(grant.sub, scopes, token))

        def _invalid_grant(self, description: str) -> None:
            self.reply_json(400, {"error": "invalid_grant", "error_description": description})

        def _revoke(self, params: dict[str, str]) -> None:
            if state.revoke(params.get("token", "")):
                self.reply_json(200, {})
            else:
                self.reply_json(400, {"error": "invalid_token", "error_description": "Token expired or revoked"})

        # The Calendar API ---------------------------------------------------------------------------------------

        def _calendar_api(self, method: str, path: str) -> None:
            access = state.live_access_token(self.bearer_token())
            if access is None:
                return self.reply_json(
                    401, UNAUTHENTICATED, {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
                )
            user = state.users[access.sub]
            parts = path.split("/")
            if len(parts) == 4 and parts[0] == "calendars" and parts[2] == "events" and parts[3]:
                return self._event_api(method, user, access, unquote(parts[1]), unquote(parts[3]))
            if method == "POST" and len(parts) == 3 and parts[0] == "calendars" and parts[2] == "events":
                return self._event_api(method, user, access, unquote(parts[1]), "")
            if method != "GET":
                return self._not_found()
            if path == "users/me/calendarList" or path.startswith("users/me/calendarList/"):
                if not CALENDAR_LIST_SCOPES & set(access.scopes):
                    return self.reply_json(403, INSUFFICIENT_SCOPES)
                calendar_id = unquote(path.removeprefix("users/me/calendarList").lstrip("/"))
                if not calendar_id:
                    return self._calendar_list(user, self.query())
                entry = self._find(user, calendar_id)
                return self.reply_json(200, list_entry(entry)) if entry else self._not_found()
            if path.startswith("calendars/") and path.endswith("/events"):
                if not EVENTS_SCOPES & set(access.scopes):
                    return self.reply_json(403, INSUFFICIENT_SCOPES)
                entry = self._find(user, unquote(path.removeprefix("calendars/").removesuffix("/events")))
                return self._events_list(user, entry, self.query()) if entry else self._not_found()
            if path.startswith("calendars/"):
                if not CALENDARS_SCOPES & set(access.scopes):
                    return self.reply_json(403, INSUFFICIENT_SCOPES)
                entry = self._find(user, unquote(path.removeprefix("calendars/")))
                return self.reply_json(200, calendar_resource(entry)) if entry else self._not_found()
            self._not_found()

        def _event_api(
            self, method: str, user: GoogleUser, access: AccessToken, calendar_id: str, event_id: str
        ) -> None:
            """events.get, insert, patch, update and delete on one calendar."""
            writing = method != "GET"
            if not (EVENTS_WRITE_SCOPES if writing else EVENTS_SCOPES) & set(access.scopes):
                return self.reply_json(403, INSUFFICIENT_SCOPES)
            entry = self._find(user, calendar_id)
            if entry is None:
                return self._not_found()
            calendar_id, zone, query = entry["id"], entry["timeZone"], self.query()
            body: dict[str, Any] | None = None
            if method in ("POST", "PATCH", "PUT"):
                try:
                    body = json.loads(self.payload or b"{}")
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    return self.reply_json(400, api_error(400, "parseError", "Parse Error"))
            if_match = self.headers.get("If-Match", "")
            if writing:
                state.write_log.append(
                    LoggedWrite(method, calendar_id, event_id, if_match, query.get("sendUpdates"), body)
                )
                if entry["accessRole"] not in WRITER_ROLES:
                    message = "You need to have writer access to this calendar."
                    return self.reply_json(403, api_error(403, "requiredAccessLevel", message, "calendar"))
                if query.get("sendUpdates", "none") not in SEND_UPDATES:
                    return self.reply_json(400, api_error(400, "invalidParameter", "Invalid value for: sendUpdates"))
            try:
                if method == "GET":
                    return self.reply_json(200, state.api_get_event(calendar_id, event_id, zone))
                if method == "POST":
                    return self.reply_json(200, state.api_insert_event(calendar_id, body or {}, zone))
                if method in ("PATCH", "PUT"):
                    written = state.api_write_event(
                        calendar_id, event_id, body or {}, zone, replace=method == "PUT", if_match=if_match
                    )
                    return self.reply_json(200, written)
                if method == "DELETE":
                    state.api_delete_event(calendar_id, event_id, zone, if_match=if_match)
                    return self._reply(204, b"", JSON_TYPE, None)
            except ApiRefusal as refusal:
                return self.reply_json(refusal.status, refusal.body())
            return self._not_found()

        def _calendar_list(self, user: GoogleUser, query: dict[str, str]) -> None:
            try:
                max_results = min(int(query.get("maxResults", DEFAULT_MAX_RESULTS)), MAX_RESULTS)
            except ValueError:
                return self.reply_json(400, api_error(400, "invalid", "Invalid value for maxResults"))
            page_size = max(1, min(max_results, state.page_size or MAX_RESULTS))
            entries = [list_entry(entry) for entry in visible(user.calendars, query)]
            list_etag = etag_of(entries)
            offset = 0
            if "pageToken" in query:
                if state.page_tokens.get(query["pageToken"], ("", 0))[0] != user.sub:
                    return self.reply_json(400, api_error(400, "invalid", "Invalid page token value"))
                offset = state.page_tokens[query["pageToken"]][1]
            elif "syncToken" in query:
                known = state.sync_tokens.get(query["syncToken"])
                if known is None or known[0] != user.sub:
                    message = "Sync token is no longer valid, a full sync is required."
                    return self.reply_json(410, api_error(410, "fullSyncRequired", message))
                if known[1] == list_etag:  # nothing changed since that token
                    entries = []
            body: dict[str, Any] = {"kind": "calendar#calendarList", "etag": list_etag}
            if offset + page_size < len(entries):
                token = secrets.token_urlsafe(24)
                state.page_tokens[token] = (user.sub, offset + page_size)
                body["nextPageToken"] = token
            else:
                token = secrets.token_urlsafe(24)
                state.sync_tokens[token] = (user.sub, list_etag)
                body["nextSyncToken"] = token
            body["items"] = entries[offset : offset + page_size]
            self.reply_json(200, body)

        def _events_list(self, user: GoogleUser, entry: dict[str, Any], query: dict[str, str]) -> None:
            calendar_id = entry["id"]
            sync_token = query.get("syncToken")
            if query.get("singleEvents") == "true":
                return self.reply_json(501, api_error(501, "notImplemented", "The fake does not expand instances."))
            if sync_token:
                refused = [name for name in NOT_WITH_SYNC_TOKEN if name in query]
                if refused:
                    message = f"The parameter {refused[0]} cannot be used together with syncToken."
                    return self.reply_json(400, api_error(400, "invalid", message))
                if sync_token not in state.event_sync_tokens:  # also mid-listing: the token lapsed meanwhile
                    return self.reply_json(410, api_error(410, "fullSyncRequired", FULL_SYNC_REQUIRED))
            try:
                max_results = int(query.get("maxResults", DEFAULT_MAX_EVENTS))
            except ValueError:
                max_results = 0
            if max_results < 1:
                return self.reply_json(400, api_error(400, "invalid", "Invalid value for maxResults"))
            page_size = min(max_results, MAX_EVENTS, state.page_size or MAX_EVENTS)
            if "pageToken" in query:
                found = state.event_page_tokens.get(query["pageToken"])
                if found is None or (found[0].sub, found[0].calendar_id) != (user.sub, calendar_id):
                    return self.reply_json(400, api_error(400, "invalid", "Invalid page token value"))
                listing, offset = found
            else:
                started = self._start_listing(user, entry, query)
                if started is None:
                    return None
                listing, offset = started, 0
            calendar = state.events.get(calendar_id, {})
            body: dict[str, Any] = {
                "kind": "calendar#events",
                "etag": f'"p{state.event_changes.get(calendar_id, 0):014d}"',
                "summary": entry.get("summaryOverride") or entry["summary"],
                "description": entry.get("description", ""),
                "updated": max(
                    (item.resource["updated"] for item in calendar.values()), default="1970-01-01T00:00:00.000Z"
                ),
                "timeZone": entry["timeZone"],
                "accessRole": entry["accessRole"],
                "defaultReminders": entry.get("defaultReminders", []),
            }
            token = secrets.token_urlsafe(24)
            if offset + page_size < len(listing.items):
                state.event_page_tokens[token] = (listing, offset + page_size)
                body["nextPageToken"] = token
            else:
                state.event_sync_tokens[token] = (user.sub, calendar_id, listing.changes_seen)
                body["nextSyncToken"] = token
            body["items"] = listing.items[offset : offset + page_size]
            self.reply_json(200, body)

        def _start_listing(self, user: GoogleUser, entry: dict[str, Any], query: dict[str, str]) -> EventListing | None:
            """The snapshot a new listing pages through, or None after answering a bad request."""
            calendar_id = entry["id"]
            calendar = state.events.get(calendar_id, {})
            listing = EventListing(user.sub, calendar_id, [], state.event_changes.get(calendar_id, 0))
            sync_token = query.get("syncToken")
            if sync_token:
                sub, token_calendar, changes_seen = state.event_sync_tokens[sync_token]
                if (sub, token_calendar) != (user.sub, calendar_id):
                    self.reply_json(410, api_error(410, "fullSyncRequired", FULL_SYNC_REQUIRED))
                    return None
                # Every change since the token, deletions included whatever showDeleted says.
                listing.items = [listed(item, calendar) for item in calendar.values() if item.changed > changes_seen]
                return listing
            window = []
            for name in ("timeMin", "timeMax"):
                moment = rfc3339(query[name]) if name in query else None
                if name in query and moment is None:
                    self.reply_json(400, api_error(400, "badRequest", "Bad Request"))
                    return None
                window.append(moment)
            show_deleted = query.get("showDeleted") == "true"
            uid = query.get("iCalUID")
            listing.items = [
                listed(item, calendar)
                for item in calendar.values()
                if (
                    item.resource.get("status") != "cancelled"
                    or show_deleted
                    or is_cancelled_occurrence(item.resource, calendar)
                )
                and in_window(item.resource, entry["timeZone"], window[0], window[1])
                and (uid is None or item.resource.get("iCalUID") == uid)
            ]
            return listing

        @staticmethod
        def _find(user: GoogleUser, calendar_id: str) -> dict[str, Any] | None:
            for entry in user.calendars:
                if entry["id"] == calendar_id or (calendar_id == "primary" and entry.get("primary")):
                    return entry
            return None

        def _not_found(self) -> None:
            self.reply_json(404, api_error(404, "notFound", "Not Found"))

    return GoogleHandler


def visible(calendars: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """The entries calendarList.list returns for these minAccessRole/showHidden/showDeleted parameters."""
    weakest = ACCESS_ROLES.index(query.get("minAccessRole", "freeBusyReader"))
    return [
        entry
        for entry in calendars
        if ACCESS_ROLES.index(entry["accessRole"]) >= weakest
        and (query.get("showHidden") == "true" or not entry.get("hidden"))
        and (query.get("showDeleted") == "true" or not entry.get("deleted"))
    ]


def list_entry(calendar: dict[str, Any]) -> dict[str, Any]:
    """A calendarListEntry resource; `primary`, `hidden` and `summaryOverride` appear only when they apply."""
    entry: dict[str, Any] = {"kind": "calendar#calendarListEntry", "id": calendar["id"], "summary": calendar["summary"]}
    for name in ("description", "summaryOverride"):
        if calendar.get(name):
            entry[name] = calendar[name]
    entry.update(
        timeZone=calendar["timeZone"],
        colorId=calendar["colorId"],
        backgroundColor=calendar["backgroundColor"],
        foregroundColor=calendar["foregroundColor"],
        selected=calendar.get("selected", True),
        accessRole=calendar["accessRole"],
        defaultReminders=calendar.get("defaultReminders", []),
        conferenceProperties={"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    )
    for flag in ("primary", "hidden", "deleted"):
        if calendar.get(flag):
            entry[flag] = True
    return {"kind": entry.pop("kind"), "etag": etag_of(entry), **entry}


def calendar_resource(calendar: dict[str, Any]) -> dict[str, Any]:
    """A calendar resource (calendars.get): the calendar's own title, not the person's summaryOverride."""
    resource: dict[str, Any] = {"id": calendar["id"], "summary": calendar["summary"], "timeZone": calendar["timeZone"]}
    if calendar.get("description"):
        resource["description"] = calendar["description"]
    resource["conferenceProperties"] = {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}
    return {"kind": "calendar#calendar", "etag": etag_of(resource), **resource}


def html_link(calendar_id: str, event_id: str) -> str:
    """The event's page in Google Calendar: `eid` is the event id and calendar id, base64url-encoded."""
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
    return f"https://www.google.com/calendar/event?eid={eid}"


def occurrence_id(master_id: str, original_start: dict[str, str]) -> str:
    """Google's id for an exception of a series: the master's id, then the original start (UTC for timed)."""
    if "date" in original_start:
        return f"{master_id}_{original_start['date'].replace('-', '')}"
    moment = datetime.fromisoformat(original_start["dateTime"]).astimezone(UTC)
    return f"{master_id}_{moment:%Y%m%dT%H%M%SZ}"


def shifted(end: dict[str, str], start: dict[str, str], new_start: dict[str, str]) -> dict[str, str]:
    """`end` moved by as much as `start` moved to `new_start` (an occurrence keeps the series' duration)."""
    if "date" in start:
        duration = date.fromisoformat(end["date"]) - date.fromisoformat(start["date"])
        return {"date": (date.fromisoformat(new_start["date"]) + duration).isoformat()}
    duration = datetime.fromisoformat(end["dateTime"]) - datetime.fromisoformat(start["dateTime"])
    moved = datetime.fromisoformat(new_start["dateTime"]) + duration
    return {**end, "dateTime": moved.isoformat()}


def listed(stored: StoredEvent, calendar: dict[str, StoredEvent]) -> dict[str, Any]:
    """An event as events.list returns it; a deleted one as a tombstone with the fields Google guarantees."""
    resource = stored.resource
    if resource.get("status") != "cancelled":
        return copy.deepcopy(resource)
    tombstone = {name: resource[name] for name in ("kind", "etag", "id", "status")}
    if is_cancelled_occurrence(resource, calendar):
        tombstone.update(
            recurringEventId=resource["recurringEventId"],
            originalStartTime=copy.deepcopy(resource["originalStartTime"]),
        )
    return tombstone


def is_cancelled_occurrence(resource: dict[str, Any], calendar: dict[str, StoredEvent]) -> bool:
    """A cancelled exception of a live series hides one occurrence; with the series gone it is just deleted."""
    master = calendar.get(str(resource.get("recurringEventId", "")))
    return resource.get("status") == "cancelled" and master is not None and master.resource["status"] != "cancelled"


def rfc3339(value: str) -> datetime | None:
    """A timeMin/timeMax value: RFC 3339 with a mandatory offset, as Google requires (None when it is not)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def bounds(resource: dict[str, Any], zone: str) -> tuple[datetime, datetime] | None:
    """The event's start and end as instants (all-day dates at midnight in the calendar's zone), if readable."""
    try:
        start, end = (_instant(resource[name], zone) for name in ("start", "end"))
    except (KeyError, TypeError, ValueError):
        return None
    return start, end


def _instant(value: dict[str, str], zone: str) -> datetime:
    if "date" in value:
        return datetime.combine(date.fromisoformat(value["date"]), datetime.min.time(), ZoneInfo(zone))
    moment = datetime.fromisoformat(value["dateTime"])
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(value.get("timeZone") or zone))


def in_window(resource: dict[str, Any], zone: str, time_min: datetime | None, time_max: datetime | None) -> bool:
    """timeMin bounds the end, timeMax the start (both exclusive). A series counts from its first occurrence
    on, as it may repeat for ever (good enough for a fake: Google checks its instances)."""
    found = bounds(resource, zone)
    if found is None:
        return True
    start, end = found
    if time_max is not None and start >= time_max:
        return False
    return time_min is None or bool(resource.get("recurrence")) or end > time_min


def merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`target` with `patch` applied as Google's patch semantics do: named fields replace the stored ones,
    arrays whole, nested objects merge, and a null removes a field."""
    result = copy.deepcopy(target)
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        elif isinstance(value, dict):
            result[name] = merged(result[name] if isinstance(result.get(name), dict) else {}, value)
        else:
            result[name] = copy.deepcopy(value)
    return result


def is_organizer_copy(resource: dict[str, Any]) -> bool:
    organizer = resource.get("organizer")
    return not isinstance(organizer, dict) or organizer.get("self") is True


def shared_view(resource: dict[str, Any]) -> dict[str, Any]:
    """The fields only the organizer may change; a guest's own answer is theirs to change."""
    view = {name: copy.deepcopy(resource.get(name)) for name in SHARED_FIELDS}
    view["attendees"] = [
        {name: value for name, value in person.items() if not (person.get("self") and name in OWN_ANSWER_FIELDS)}
        if isinstance(person, dict)
        else person
        for person in view["attendees"] or []
    ]
    return view


def check_event(resource: dict[str, Any], zone: str) -> None:
    """Refuse (400) what Google refuses to store: missing or mixed start/end, an end before the start, an
    unknown zone, a series without a zone to repeat in, a recurrence line that is not RRULE/EXRULE/RDATE/EXDATE
    or does not parse, a guest without an email."""
    times: dict[str, date | datetime] = {}
    for name in ("start", "end"):
        value = resource.get(name)
        if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
            raise ApiRefusal(400, "required", f"Missing {name} time.")
        if value.get("date") and value.get("dateTime"):
            raise ApiRefusal(400, "invalid", f"Invalid {name} time.")
        named = value.get("timeZone")
        if named and _zone(str(named)) is None:
            raise ApiRefusal(400, "timeZoneInvalid", f"Invalid time zone definition for {name} time.")
        try:
            if value.get("date"):
                times[name] = date.fromisoformat(str(value["date"]))
            else:
                moment = datetime.fromisoformat(str(value["dateTime"]))
                if moment.tzinfo is None:
                    if not named:
                        raise ApiRefusal(400, "required", f"Missing time zone definition for {name} time.")
                    moment = moment.replace(tzinfo=ZoneInfo(str(named)))
                times[name] = moment
        except ValueError:
            raise ApiRefusal(400, "invalid", f"Invalid {name} time.") from None
    start, end = times["start"], times["end"]
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise ApiRefusal(400, "invalid", "The start and end times must both be dates or both date-times.")
    if end < start or (not isinstance(start, datetime) and end == start):
        raise ApiRefusal(400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar")
    recurrence = resource.get("recurrence") or []
    if recurrence:
        if resource.get("recurringEventId") or not isinstance(recurrence, list):
            raise ApiRefusal(400, "invalid", "Invalid recurrence rule.")
        if isinstance(start, datetime) and not resource["start"].get("timeZone"):
            raise ApiRefusal(400, "required", "Missing time zone definition for start time.")
        if series(recurrence, _series_start(resource["start"], zone)) is None:
            raise ApiRefusal(400, "invalid", "Invalid recurrence rule.")
    for person in resource.get("attendees") or []:
        if not isinstance(person, dict) or not person.get("email"):
            raise ApiRefusal(400, "required", "Missing attendee email.")


def series(lines: list[Any], first: datetime) -> rruleset | None:
    """The series' occurrences (dateutil), or None when a line is not one Google takes."""
    if not all(isinstance(line, str) and RECURRENCE_LINE.match(line) for line in lines):
        return None
    try:
        rules = rrulestr("\n".join(lines), dtstart=first, forceset=True)
    except (ValueError, TypeError, OverflowError):
        return None
    return rules if isinstance(rules, rruleset) else None


def occurrence_start(master: dict[str, Any], suffix: str, zone: str) -> dict[str, str] | None:
    """The originalStartTime an instance id's suffix names, if the series has that occurrence."""
    start = master.get("start") or {}
    if "date" in start:
        if not re.fullmatch(r"\d{8}", suffix):
            return None
        try:
            day = date(int(suffix[:4]), int(suffix[4:6]), int(suffix[6:]))
        except ValueError:
            return None
        candidate = datetime.combine(day, clock())  # all-day series repeat in no zone
        original: dict[str, str] = {"date": day.isoformat()}
    else:
        if not re.fullmatch(r"\d{8}T\d{6}Z", suffix):
            return None
        zone_name = str(start.get("timeZone") or zone)
        try:
            moment = datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
        candidate = moment.astimezone(ZoneInfo(zone_name))
        original = {"dateTime": candidate.isoformat(), "timeZone": zone_name}
    rules = series(master.get("recurrence") or [], _series_start(start, zone))
    return original if rules is not None and candidate in rules else None


def _series_start(start: dict[str, Any], zone: str) -> datetime:
    """A series' first start as dateutil repeats it: a naive midnight for all-day series, else the wall-clock
    time in the series' zone (so 09:00 stays 09:00 across DST, as Google repeats it)."""
    if start.get("date"):
        return datetime.combine(date.fromisoformat(str(start["date"])), clock())
    tz = ZoneInfo(str(start.get("timeZone") or zone))
    moment = datetime.fromisoformat(str(start["dateTime"]))
    return moment.astimezone(tz) if moment.tzinfo else moment.replace(tzinfo=tz)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
