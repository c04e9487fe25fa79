"""Writes to one CalDAV calendar collection: the write half of `CalDAVAdapter` (two-way sync).

An event is one calendar object resource (RFC 4791 4.1): a VCALENDAR whose VEVENTs share one UID, the
master and the overrides of single occurrences (RECURRENCE-ID). Every write is a PUT of the whole resource
or a DELETE:

- create: PUT `<key>.ics` into the collection with `If-None-Match: *` (RFC 4791 5.3.2: the client names
  the resource; the precondition keeps a retry from replacing anything). 412 means the name is taken: if
  the resource there carries our UID, an earlier attempt made it and it is returned; else Conflict.
- edits (update, cancelling an occurrence, respond): GET the resource, change the parsed VCALENDAR in place
  (`ical.editing`: everything calsync does not own is written back as it was; a whole series moved takes
  its exceptions with it), and PUT it with `If-Match` on the ETag it was read with. A caller's etag that
  is not the server's is a Conflict before anything is sent. A 412 on the PUT (the copy changed between our
  GET and PUT) is a Conflict when the caller named an etag; without one the change is applied again to the
  new copy. Either way, a 412 whose resource already holds exactly what we sent is our own earlier attempt
  (a PUT retried after its answer was lost) and counts as done.
- delete: DELETE with `If-Match`; a resource already gone is fine. Cancelling one occurrence is an edit.

Results carry the ids, etag and events the inbound sync produces for the same resource
(`client.resource_id`, `ical.parsing.parse_resource` with the calendar's zone and the owner's addresses), so
the next sync finds them unchanged. RFC 4791 5.3.4: a server may answer a PUT with a strong ETag only when
it stored the body octet for octet; then the body we sent is the server's copy. With a weak ETag or none,
it may have changed the body, so the resource is read back.

Status codes: 401 AuthRevoked (a CalDAV password cannot be refreshed); 403 without a CalDAV precondition,
or with DAV:need-privileges (RFC 3744 7.1.1), and 405 are a read-only calendar; a 403/409 naming a CalDAV
precondition (RFC 4791 5.3.2.1: valid-calendar-data, no-uid-conflict, max-resource-size, ...) and 400, 413,
415, 422 are refusals of the data: WriteRefused with a message a person can read. A 409 without one is a
missing collection (RFC 4918 9.7.1). 412 Conflict, 404/410 EventGone; 429 and 5xx are transient, retried.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import caldav
import icalendar
import requests
from lxml import etree

from connections.providers.base import (
    RESPONSES,
    AuthRevoked,
    Conflict,
    EventDraft,
    EventGone,
    EventRef,
    EventTime,
    ProviderError,
    RemoteCalendar,
    RemoteEvent,
    WriteRefused,
    WriteResult,
)
from connections.providers.caldav.client import CREDENTIALS_REFUSED, Requests, resource_id
from connections.providers.http import raise_for_transient
from connections.providers.ical.editing import (
    UNREADABLE,
    Edit,
    apply_response,
    apply_update,
    cancel_occurrence,
    check_draft,
    new_calendar,
    occurrence_event,
    occurrence_of_key,
    resource_uids,
    revision_time,
)
from connections.providers.ical.parsing import parse_resource
from connections.providers.ical.tolerant import ICalendarError, read_calendar
from connections.providers.retry import with_retries

CALENDAR_CONTENT_TYPE = "text/calendar; charset=utf-8"
# A resource name: the push engine's key is 32 hex characters; nothing here needs escaping in a URL path.
KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Rounds of read-change-write when the caller gave no etag and the copy keeps changing under us.
MAX_EDIT_ROUNDS = 3

READ_ONLY = "This calendar is read-only for your account at the server, so calsync cannot change its events."
# RFC 4791 5.3.2.1 (and RFC 3744 for privileges): what the server objected to, in a person's words.
PRECONDITIONS = {
    "need-privileges": READ_ONLY,
    "supported-calendar-data": "The server did not accept the event's data.",
    "valid-calendar-data": "The server did not accept the event's data.",
    "valid-calendar-object-resource": "The server did not accept the event's data.",
    "supported-calendar-component": "This calendar does not take events (it may be a task list).",
    "no-uid-conflict": "This calendar already holds another copy of this event.",
    "calendar-collection-location-ok": "The server does not take new events in this calendar.",
    "max-resource-size": "The event is too large for this server.",
    "min-date-time": "The server does not take events this early.",
    "max-date-time": "The server does not take events this late.",
    "max-instances": "The server does not take a series with this many occurrences.",
    "max-attendees-per-instance": "The server does not take this many guests.",
}
REFUSED_DATA = {400, 413, 415, 422}
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class _Copy:
    """A resource as the server holds it."""

    data: bytes
    etag: str


class CalDAVWriter:
    """Writes to one calendar collection through a caldav client (authentication, the guarded session)."""

    def __init__(self, client: caldav.DAVClient, calendar: RemoteCalendar, owner_emails: Collection[str]) -> None:
        self.requests = Requests(client)
        self.calendar = calendar
        self.owner_emails = tuple(owner_emails)
        parts = urlsplit(calendar.remote_id)
        self.origin = (parts.scheme, parts.netloc)
        self.collection_path = resource_id(parts.path).rstrip("/")

    # -- the operations ------------------------------------------------------------------------------------

    def create(self, draft: EventDraft, *, key: str) -> WriteResult:
        if not KEY.fullmatch(key):
            raise ProviderError(f"CalDAV create: {key!r} is not a usable resource name", permanent=True)
        href = f"{self.collection_path}/{key}.ics"
        uid = draft.ical_uid or f"{key}@calsync"
        data = new_calendar(draft, uid, revision_time()).to_ical()
        what = "CalDAV create"
        response = self._send(
            "PUT",
            self._url(href),
            what=what,
            body=data,
            headers={"Content-Type": CALENDAR_CONTENT_TYPE, "If-None-Match": "*"},
        )
        if response.status_code == 412:
            # The name is taken: by this event, if an earlier attempt got through and its answer was lost.
            existing = self._get(href, what)
            if existing is None:
                raise ProviderError(f"{what}: the server refused the new event (412)", permanent=True)
            if uid not in resource_uids(existing.data):
                raise Conflict("another event already has this event's name at the server")
            return self._result(href, existing)
        self._check_written(response, what)
        return self._written(href, data, response, what)

    def update(self, ref: EventRef, draft: EventDraft, *, etag: str) -> WriteResult:
        check_draft(draft)
        href, occurrence = self._target(ref)
        now = revision_time()

        def change(calendar: icalendar.Calendar, events: tuple[RemoteEvent, ...]) -> Edit:
            return apply_update(calendar, events, href=href, occurrence=occurrence, draft=draft, now=now)

        result = self._edit(href, etag, "CalDAV update", change)
        if result is None:
            raise EventGone("the event is no longer at the server")
        return result

    def delete(self, ref: EventRef, *, etag: str) -> WriteResult | None:
        href, occurrence = self._target(ref)
        if occurrence is None:
            self._delete(href, etag, "CalDAV delete")
            return None
        now = revision_time()

        def change(calendar: icalendar.Calendar, events: tuple[RemoteEvent, ...]) -> Edit:
            return cancel_occurrence(calendar, occurrence, now)

        return self._edit(href, etag, "CalDAV cancel occurrence", change)

    def respond(self, ref: EventRef, response: str, *, etag: str) -> WriteResult:
        if response not in RESPONSES:
            raise ProviderError(f"not an answer to an invitation: {response!r}", permanent=True)
        if not self.owner_emails:
            raise WriteRefused(
                "calsync cannot tell which guest you are at this server (your user name is not an email "
                "address), so it cannot answer for you."
            )
        partstat = response.upper()
        owners = {email.lower() for email in self.owner_emails}
        href, occurrence = self._target(ref)

        def change(calendar: icalendar.Calendar, events: tuple[RemoteEvent, ...]) -> Edit:
            return apply_response(calendar, occurrence, partstat, owners)

        result = self._edit(href, etag, "CalDAV respond", change)
        if result is None:
            raise EventGone("the event is no longer at the server")
        return result

    def fetch(self, provider_event_id: str) -> list[RemoteEvent]:
        href = self._href(provider_event_id.split("#", 1)[0])
        stored = self._get(href, "CalDAV fetch")
        if stored is None:
            return []
        return list(self._events(href, stored))

    # -- the read-change-write cycle -----------------------------------------------------------------------

    def _edit(
        self,
        href: str,
        etag: str,
        what: str,
        change: Callable[[icalendar.Calendar, tuple[RemoteEvent, ...]], Edit],
    ) -> WriteResult | None:
        """Apply `change` to the resource's current copy and write it back; None when the resource is gone."""
        for _ in range(MAX_EDIT_ROUNDS):
            stored = self._get(href, what)
            if stored is None:
                return None
            if etag and stored.etag != etag:
                raise Conflict("the event changed at the server since calsync last read it")
            try:
                calendar = read_calendar(stored.data)
                events = self._parse(href, stored)
            except ICalendarError as exc:
                raise WriteRefused(UNREADABLE.format(reason=exc)) from None
            edit = change(calendar, events)
            if edit.delete:
                self._delete(href, stored.etag, what)
                return None
            if not edit.changed:
                return self._result(href, stored, edit.occurrence)
            data = calendar.to_ical()
            headers = {"Content-Type": CALENDAR_CONTENT_TYPE}
            if stored.etag:
                headers["If-Match"] = stored.etag
            response = self._send("PUT", self._url(href), what=what, body=data, headers=headers)
            status = response.status_code
            if status == 412:
                current = self._get(href, what)
                if current is not None and self._holds(href, current, data):
                    return self._result(href, current, edit.occurrence)  # our own earlier attempt landed
                if etag:
                    raise Conflict("the event changed at the server while calsync was writing it")
                continue
            if status in (404, 410):
                return None
            self._check_written(response, what)
            return self._written(href, data, response, what, edit.occurrence)
        raise Conflict("the event kept changing at the server while calsync was writing it")

    def _delete(self, href: str, etag: str, what: str) -> None:
        headers = {"If-Match": etag} if etag else {}
        response = self._send("DELETE", self._url(href), what=what, headers=headers)
        status = response.status_code
        if status == 412:
            raise Conflict("the event changed at the server since calsync last read it")
        if status in (404, 410) or 200 <= status < 300:
            return
        raise _refusal(response, what)

    def _written(
        self, href: str, data: bytes, response: requests.Response, what: str, occurrence: EventTime | None = None
    ) -> WriteResult:
        etag = (response.headers.get("ETag") or "").strip()
        if etag and not etag.startswith("W/"):
            return self._result(href, _Copy(data, etag), occurrence)
        stored = self._get(href, what)  # the server may have changed what we sent
        if stored is None:
            raise EventGone("the event was deleted at the server right after calsync wrote it")
        return self._result(href, stored, occurrence)

    def _holds(self, href: str, current: _Copy, data: bytes) -> bool:
        """Whether the server's copy says what `data` says (as the sync would read both)."""
        try:
            ours = parse_resource(href, data, default_zone=self.calendar.timezone, owner_emails=self.owner_emails)
            theirs = parse_resource(
                href, current.data, default_zone=self.calendar.timezone, owner_emails=self.owner_emails
            )
        except ICalendarError:
            return False
        return ours == theirs

    def _result(self, href: str, stored: _Copy, occurrence: EventTime | None = None) -> WriteResult:
        events = self._events(href, stored)
        reported = href
        if occurrence is not None:
            found = occurrence_event(events, href, occurrence)
            if found is None:
                raise ProviderError("the server's copy does not hold the changed occurrence", permanent=True)
            reported = found.provider_event_id
        return WriteResult(provider_event_id=reported, etag=stored.etag, events=events, complete=True)

    def _parse(self, href: str, stored: _Copy) -> tuple[RemoteEvent, ...]:
        """The resource's events, exactly as the inbound sync reads them; ICalendarError when it cannot."""
        return parse_resource(
            href, stored.data, etag=stored.etag, default_zone=self.calendar.timezone, owner_emails=self.owner_emails
        ).events

    def _events(self, href: str, stored: _Copy) -> tuple[RemoteEvent, ...]:
        try:
            return self._parse(href, stored)
        except ICalendarError as exc:
            raise ProviderError(f"the server's copy of the event cannot be read: {exc}", permanent=True) from None

    # -- requests ------------------------------------------------------------------------------------------

    def _get(self, href: str, what: str) -> _Copy | None:
        response = self._send("GET", self._url(href), what=what)
        status = response.status_code
        if status in (404, 410):
            return None
        if not 200 <= status < 300:
            raise ProviderError(f"{what}: the server answered {status} to reading the event", permanent=True)
        return _Copy(response.content, (response.headers.get("ETag") or "").strip())

    def _send(
        self, method: str, url: str, *, what: str, body: bytes | str = "", headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        """The response to one request (retried when transient); 401 is AuthRevoked, other statuses the caller's."""

        def attempt() -> requests.Response:
            response = self.requests.send(url, method, body, headers or {}, what=what).response
            if response is None:
                raise ProviderError(f"{what}: no answer from the server")
            if response.status_code == 401:
                raise AuthRevoked(CREDENTIALS_REFUSED)
            raise_for_transient(response, what)
            return response

        return with_retries(attempt, what=what)

    def _check_written(self, response: requests.Response, what: str) -> None:
        if not 200 <= response.status_code < 300:
            raise _refusal(response, what)

    def _target(self, ref: EventRef) -> tuple[str, EventTime | None]:
        """The resource a ref is about, and the occurrence (None for the whole event or series)."""
        if ref.is_occurrence:
            return self._href(ref.master_id), ref.original_start
        href, _, key = ref.provider_event_id.partition("#")
        if key:  # an override's id without its master and original start: they are in the id
            return self._href(href), occurrence_of_key(key)
        return self._href(href), None

    def _href(self, provider_event_id: str) -> str:
        href = resource_id(provider_event_id)
        if not href.startswith(self.collection_path + "/") or "/" in href[len(self.collection_path) + 1 :]:
            raise ProviderError(f"{provider_event_id!r} is not an event of this calendar", permanent=True)
        return href

    def _url(self, href: str) -> str:
        return urlunsplit((*self.origin, href, "", ""))


def _refusal(response: requests.Response, what: str) -> ProviderError:
    status = response.status_code
    condition = _precondition(response.content)
    if status in (403, 405) and condition in ("", "need-privileges"):
        return WriteRefused(READ_ONLY)
    if status in (403, 409) and condition:
        return WriteRefused(PRECONDITIONS.get(condition, f"The server refused the change ({condition})."))
    if status == 409:
        return ProviderError(f"{what}: the calendar no longer exists at the server (409)", permanent=True)
    if status in REFUSED_DATA:
        return WriteRefused(f"The server did not accept the event (error {status}).")
    return ProviderError(f"{what}: the server answered {status}", permanent=True)


def _precondition(body: bytes) -> str:
    """The local name of the condition a DAV:error body names (RFC 4918 16), "" when there is none."""
    if not body or b"error" not in body:
        return ""
    try:
        root = etree.fromstring(body, parser=SAFE_XML)
    except (etree.XMLSyntaxError, ValueError):
        return ""
    if root.tag != "{DAV:}error":
        return ""
    for child in root:
        if isinstance(child.tag, str):
            return etree.QName(child).localname
    return ""
