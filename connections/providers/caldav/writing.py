"""Writes to one CalDAV calendar collection: the write half of `CalDAVAdapter` (two-way sync).

An event is one calendar object resource (RFC 4791 4.1): a VCALENDAR whose VEVENTs share one UID, the
master and the overrides of single occurrences (RECURRENCE-ID). Every write is a PUT of the whole resource
or a DELETE:

- create: PUT `<key>.ics` into the collection with `If-None-Match: *` (RFC 4791 5.3.2: the client names
  the resource; the precondition keeps a retry from replacing anything). 412 means the name is taken: if
  the resource there carries our UID, an earlier attempt made it and it is returned; else Conflict.
- edits (update, cancelling an occurrence, respond): GET the resource, change the parsed VCALENDAR in place
  so that everything calsync does not own (attendees, alarms, X- properties, VTIMEZONEs, other overrides)
  is written back as it was, and PUT it with `If-Match` on the ETag it was read with. A caller's etag that
  is not the server's is a Conflict before anything is sent. A 412 on the PUT (the copy changed between our
  GET and PUT) is a Conflict when the caller named an etag; without one the change is applied again to the
  new copy. Either way, a 412 whose resource already holds exactly what we sent is our own earlier attempt
  (a PUT retried after its answer was lost) and counts as done.
- delete: DELETE with `If-Match`; a resource already gone is fine. Cancelling one occurrence adds an
  EXDATE (in the form of the master's DTSTART) to the master and drops the occurrence's override.
- a whole series moved (its master's DTSTART): its EXDATEs, RDATEs, a date-time UNTIL and every override's
  RECURRENCE-ID move the same wall-clock distance in its zone (`series_moves`), and an override that was
  only changed (not moved) moves with it; recurrence lines the draft brings changed are written as they are,
  in terms of the new start. Without this, cancelled occurrences come back and moved ones show twice.
- respond: PARTSTAT of the person's own ATTENDEE and nothing else: RFC 6638 3.2.2.1 allows an attendee's
  client few changes, and the server sends the reply to the organizer itself.

Results carry the ids, etag and events the inbound sync produces for the same resource
(`caldav_events.resource_id`, `ical.parse_resource` with the calendar's zone and the owner's addresses), so
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

import copy
import logging
import re
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import caldav
import icalendar
import requests
from caldav.lib import error as caldav_error
from icalendar.prop import vBroken, vDDDLists, vDDDTypes
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
from connections.providers.caldav.reading import PERMANENT_REQUEST_ERRORS, resource_id
from connections.providers.http import network_failure, raise_for_transient
from connections.providers.ical.parsing import parse_resource
from connections.providers.ical.properties import as_list, calendar_address, readable_time
from connections.providers.ical.series_moves import SeriesMove
from connections.providers.ical.tolerant import ICalendarError, read_calendar
from connections.providers.ical.zones import iana_name
from connections.providers.netguard import UnresolvableHost, UnsafeURL
from connections.providers.retry import with_retries

logger = logging.getLogger(__name__)

PRODID = "-//calsync//calsync two-way sync//EN"
CALENDAR_CONTENT_TYPE = "text/calendar; charset=utf-8"
# A resource name: the push engine's key is 32 hex characters; nothing here needs escaping in a URL path.
KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
RECURRENCE_PROPERTIES = ("RRULE", "EXRULE", "RDATE", "EXDATE")
# Rounds of read-change-write when the caller gave no etag and the copy keeps changing under us.
MAX_EDIT_ROUNDS = 3
# VTIMEZONEs calsync writes cover this span at least (icalendar's default ends in 2038).
TIMEZONE_YEARS_AHEAD = 30

READ_ONLY = "This calendar is read-only for your account at the server, so calsync cannot change its events."
UNREADABLE = "calsync cannot read the server's copy of this event ({reason}), so it cannot change it."
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


@dataclass(frozen=True)
class _Edit:
    """What a change did to a resource's VCALENDAR."""

    changed: bool
    # The occurrence whose override the result names (None: the resource's own id).
    occurrence: EventTime | None = None
    # The resource holds no event any more: delete it instead of writing it back.
    delete: bool = False


class CalDAVWriter:
    """Writes to one calendar collection through a caldav client (authentication, the guarded session)."""

    def __init__(self, client: caldav.DAVClient, calendar: RemoteCalendar, owner_emails: Collection[str]) -> None:
        self.http = _Http(client)
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
        data = _new_calendar(draft, uid, _now()).to_ical()
        what = "CalDAV create"
        response = self.http.send(
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
            if uid not in _uids(existing.data):
                raise Conflict("another event already has this event's name at the server")
            return self._result(href, existing)
        self._check_written(response, what)
        return self._written(href, data, response, what)

    def update(self, ref: EventRef, draft: EventDraft, *, etag: str) -> WriteResult:
        _check_draft(draft)
        href, occurrence = self._target(ref)
        now = _now()

        def change(calendar: icalendar.Calendar, events: tuple[RemoteEvent, ...]) -> _Edit:
            master = _master(calendar)
            if occurrence is None:
                if master is None:
                    raise WriteRefused(
                        "Only some occurrences of this series are in your calendar: change them one at a time."
                    )
                parsed = _event_with_id(events, href)
                before = readable_time(master.get("DTSTART"))
                changed = _apply_draft(master, draft, parsed)
                after = readable_time(master.get("DTSTART"))
                move = SeriesMove.between(before, after) if before is not None and after is not None else None
                rule_kept = parsed is not None and tuple(parsed.recurrence) == tuple(draft.recurrence)
                if draft.recurrence and not rule_kept:
                    # The draft's lines are the series as it will be: already in terms of its new start.
                    _set_recurrence(master, draft.recurrence)
                elif move is not None:
                    move.move_series(master)  # the series keeps its exceptions and its end
                if move is not None:
                    for moved in _overrides(calendar):
                        move.move_override(moved)
                        _touch(moved, now)
                if (draft.recurrence and not rule_kept) or move is not None:
                    _drop_overrides_after_end(calendar, master)
                    changed = True
                if changed:
                    _touch(master, now)
                    _add_timezones(calendar, draft.start)
                return _Edit(changed)
            override = _override(calendar, occurrence)
            if override is None:
                override = _new_override(calendar, master, occurrence)
                parsed = None
            else:
                parsed = _occurrence_event(events, href, occurrence)
            changed = _apply_draft(override, draft, parsed)
            if changed:
                _touch(override, now)
                _add_timezones(calendar, draft.start)
            return _Edit(changed, occurrence=occurrence)

        result = self._edit(href, etag, "CalDAV update", change)
        if result is None:
            raise EventGone("the event is no longer at the server")
        return result

    def delete(self, ref: EventRef, *, etag: str) -> WriteResult | None:
        href, occurrence = self._target(ref)
        if occurrence is None:
            self._delete(href, etag, "CalDAV delete")
            return None
        now = _now()

        def change(calendar: icalendar.Calendar, events: tuple[RemoteEvent, ...]) -> _Edit:
            removed = _remove_overrides(calendar, occurrence)
            master = _master(calendar)
            if master is None:
                if not _vevents(calendar):
                    return _Edit(True, delete=True)
                return _Edit(removed)
            _require_series(master)
            added = _exclude(master, occurrence)
            if added or removed:
                _touch(master, now)
            return _Edit(added or removed)

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

        def change(calendar: icalendar.Calendar, events: tuple[RemoteEvent, ...]) -> _Edit:
            master = _master(calendar)
            if occurrence is not None:
                override = _override(calendar, occurrence)
                if override is None:
                    if master is not None and _own_partstat(master, owners) == partstat:
                        return _Edit(False)  # the occurrence follows the series, which says so already
                    override = _new_override(calendar, master, occurrence)
                targets = [override]
            elif master is not None:
                # The series' answer, and the occurrences that followed it (not those answered on their own).
                previous = _own_partstat(master, owners)
                targets = [master] + [
                    vevent for vevent in _overrides(calendar) if _own_partstat(vevent, owners) in ("", previous)
                ]
            else:
                targets = _overrides(calendar)
            found = changed = False
            for vevent in targets:
                for attendee in as_list(vevent.get("ATTENDEE")):
                    if calendar_address(attendee).lower() not in owners:
                        continue
                    found = True
                    if str(attendee.params.get("PARTSTAT", "")).upper() != partstat:
                        attendee.params["PARTSTAT"] = partstat
                        changed = True
            if not found:
                raise WriteRefused(
                    "You are not on this event's guest list at the server, so there is nothing to answer."
                )
            return _Edit(changed, occurrence=occurrence)

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
        change: Callable[[icalendar.Calendar, tuple[RemoteEvent, ...]], _Edit],
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
            response = self.http.send("PUT", self._url(href), what=what, body=data, headers=headers)
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
        response = self.http.send("DELETE", self._url(href), what=what, headers=headers)
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
            found = _occurrence_event(events, href, occurrence)
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
        response = self.http.send("GET", self._url(href), what=what)
        status = response.status_code
        if status in (404, 410):
            return None
        if not 200 <= status < 300:
            raise ProviderError(f"{what}: the server answered {status} to reading the event", permanent=True)
        return _Copy(response.content, (response.headers.get("ETag") or "").strip())

    def _check_written(self, response: requests.Response, what: str) -> None:
        if not 200 <= response.status_code < 300:
            raise _refusal(response, what)

    def _target(self, ref: EventRef) -> tuple[str, EventTime | None]:
        """The resource a ref is about, and the occurrence (None for the whole event or series)."""
        if ref.is_occurrence:
            return self._href(ref.master_id), ref.original_start
        href, _, key = ref.provider_event_id.partition("#")
        if key:  # an override's id without its master and original start: they are in the id
            return self._href(href), _occurrence_of_key(key)
        return self._href(href), None

    def _href(self, provider_event_id: str) -> str:
        href = resource_id(provider_event_id)
        if not href.startswith(self.collection_path + "/") or "/" in href[len(self.collection_path) + 1 :]:
            raise ProviderError(f"{provider_event_id!r} is not an event of this calendar", permanent=True)
        return href

    def _url(self, href: str) -> str:
        return urlunsplit((*self.origin, href, "", ""))


class _Http:
    """Requests through the caldav client, with our error mapping; the raw response comes from a hook."""

    def __init__(self, client: caldav.DAVClient) -> None:
        self.client = client
        self.last_response: requests.Response | None = None
        client.session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_response = response

    def send(
        self, method: str, url: str, *, what: str, body: bytes | str = "", headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        def attempt() -> requests.Response:
            self.last_response = None
            try:
                self.client.request(url, method, body, dict(headers or {}))  # type: ignore[arg-type]
            except caldav_error.AuthorizationError:
                pass  # caldav says this for 401 and 403 alike: the response tells them apart
            except etree.XMLSyntaxError:
                pass  # an error page labelled XML: the status says what happened
            except UnresolvableHost as exc:
                raise ProviderError(str(exc)) from None
            except UnsafeURL as exc:
                raise ProviderError(str(exc), permanent=True) from None
            except PERMANENT_REQUEST_ERRORS as exc:
                raise ProviderError(f"{what}: {network_failure(exc)}", permanent=True) from None
            except requests.RequestException as exc:  # timeouts, resets, refused connections
                raise ProviderError(f"{what}: {network_failure(exc)}") from None
            response = self.last_response
            if response is None:
                raise ProviderError(f"{what}: no answer from the server")
            if response.status_code == 401:
                raise AuthRevoked("the CalDAV server refused the stored password")
            raise_for_transient(response, what)
            return response

        return with_retries(attempt, what=what)


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


# -- building and changing components --------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _check_draft(draft: EventDraft) -> None:
    start, end = draft.start, draft.end
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise WriteRefused("An event's start and end must both be dates (all day) or both be times.")
    if isinstance(start, datetime) and isinstance(end, datetime):
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise WriteRefused("An event's start and end must both be in a time zone, or neither.")
        if end < start:
            raise WriteRefused("The event ends before it starts.")
    elif not end > start:
        raise WriteRefused("An all-day event must end after the day it starts.")


def _new_calendar(draft: EventDraft, uid: str, now: datetime) -> icalendar.Calendar:
    _check_draft(draft)
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", now)
    event.add("CREATED", now)
    event.add("LAST-MODIFIED", now)
    event.add("SEQUENCE", 0)
    _apply_draft(event, draft, None)
    if draft.recurrence:
        _set_recurrence(event, draft.recurrence)
    calendar.add_component(event)
    _add_timezones(calendar, draft.start)
    return calendar


def _apply_draft(vevent: icalendar.Component, draft: EventDraft, parsed: RemoteEvent | None) -> bool:
    """Set the draft's fields on a VEVENT, leaving alone what already says the same; whether it changed.

    `parsed` is the parser's reading of this VEVENT: times equal to it (same instants, same zone) keep
    their properties as they are, custom time zones and DURATION included.
    """
    changed = False
    for name, value in (("SUMMARY", draft.title), ("LOCATION", draft.location), ("DESCRIPTION", draft.description)):
        value = value.replace("\x00", "")
        if _text(vevent.get(name)) == value:
            continue
        vevent.pop(name, None)
        if value:
            vevent.add(name, value)
        if name == "DESCRIPTION":
            vevent.pop("X-ALT-DESC", None)  # Outlook's HTML copy of the old description would be shown instead
        changed = True
    if parsed is None or not _same_times(parsed, draft):
        for name in ("DTSTART", "DTEND", "DURATION"):
            vevent.pop(name, None)
        vevent.add("DTSTART", _written_time(draft.start, draft.timezone))
        vevent.add("DTEND", _written_time(draft.end, draft.timezone))
        changed = True
    return changed


def _same_times(parsed: RemoteEvent, draft: EventDraft) -> bool:
    return (
        _kind(parsed.start) == _kind(draft.start)
        and parsed.start == draft.start
        and parsed.end == draft.end
        and parsed.timezone == _zone_label(draft.start, draft.timezone)
    )


def _kind(value: EventTime) -> str:
    if not isinstance(value, datetime):
        return "date"
    return "floating" if value.tzinfo is None else "aware"


def _zone_label(value: EventTime, timezone: str) -> str:
    """The zone name the parser gives a time written by `_written_time`."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return ""
    return _zone_name(timezone) or "UTC"


def _zone_name(timezone: str) -> str:
    name = iana_name(timezone) if timezone else ""
    return "" if name in ("", "UTC", "Etc/UTC") else name


def _written_time(value: EventTime, timezone: str) -> EventTime:
    """A draft's time as it is written: dates and floating times as they are, zoned times in their zone
    (TZID, with a VTIMEZONE) or else in UTC."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return value
    name = _zone_name(timezone)
    return value.astimezone(zoneinfo.ZoneInfo(name) if name else UTC)


def _set_recurrence(vevent: icalendar.Component, lines: Iterable[str]) -> None:
    """Replace the VEVENT's RRULE/EXRULE/RDATE/EXDATE with the draft's content lines."""
    source = _recurrence_component(tuple(lines))
    for name in RECURRENCE_PROPERTIES:
        vevent.pop(name, None)
        for prop in as_list(source.get(name)):
            vevent.add(name, prop)


def _recurrence_component(lines: tuple[str, ...]) -> icalendar.Component:
    for line in lines:
        name = re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()
        if "\r" in line or "\n" in line or name not in RECURRENCE_PROPERTIES:
            raise WriteRefused(f"calsync cannot write this repeat rule to the server: {line[:80]!r}")
    text = "BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in lines) + "END:VEVENT\r\n"
    try:
        component = icalendar.Event.from_ical(text.encode("utf-8"))
    except ValueError:
        raise WriteRefused("The repeat rule cannot be read.") from None
    if not isinstance(component, icalendar.Component) or getattr(component, "errors", None):
        raise WriteRefused("The repeat rule cannot be read.")
    for name in RECURRENCE_PROPERTIES:
        if any(isinstance(prop, vBroken) for prop in as_list(component.get(name))):
            raise WriteRefused(f"The repeat rule cannot be read ({name}).")
    return component


def _drop_overrides_after_end(calendar: icalendar.Calendar, master: icalendar.Component) -> None:
    """Drop overrides of occurrences after the series' new end (UNTIL): a series cut short ("this and
    following" moves the rest into a new series) must not keep its later exceptions as stray events."""
    end = _series_end(master)
    if end is None:
        return
    extra = {_instant_key(value) for value in _list_values(master, "RDATE")}
    for vevent in _overrides(calendar):
        rid = readable_time(vevent.get("RECURRENCE-ID"))
        if rid is not None and _after(rid, end) and _instant_key(rid) not in extra:
            calendar.subcomponents.remove(vevent)


def _series_end(master: icalendar.Component) -> EventTime | None:
    """The latest UNTIL of the master's rules; None when a rule has none (COUNT, or no end)."""
    ends: list[EventTime] = []
    for rule in as_list(master.get("RRULE")):
        until = rule.get("UNTIL") if hasattr(rule, "get") else None
        if not until:
            return None
        ends.append(until[0])
    if not ends:
        return None
    return max(ends, key=_instant_key)


def _after(value: EventTime, end: EventTime) -> bool:
    if isinstance(end, datetime) and isinstance(value, datetime):
        return _instant(value) > _instant(end)
    return _day(value) > _day(end)


def _new_override(
    calendar: icalendar.Calendar, master: icalendar.Component | None, occurrence: EventTime
) -> icalendar.Component:
    """A copy of the master for one occurrence (RECURRENCE-ID, the occurrence's own times), as calendar
    clients make them: attendees, alarms and the rest go with it."""
    if master is None:
        raise EventGone("that occurrence is no longer in your calendar at the server")
    _require_series(master)
    if _excluded(master, occurrence):
        raise EventGone("that occurrence was cancelled at the server")
    override = copy.deepcopy(master)
    for name in (*RECURRENCE_PROPERTIES, "RECURRENCE-ID", "DTSTART", "DTEND"):
        override.pop(name, None)
    recurrence_id = _occurrence_prop(master, occurrence)
    override.add("RECURRENCE-ID", recurrence_id)
    override.add("DTSTART", copy.deepcopy(recurrence_id))
    start, end = readable_time(master.get("DTSTART")), readable_time(master.get("DTEND"))
    if start is not None and end is not None and "DURATION" not in master:
        first: Any = recurrence_id.dt  # a date or date-time, as the master's DTSTART
        ending = vDDDTypes(first + (end - start))
        ending.params = copy.deepcopy(recurrence_id.params)
        override.add("DTEND", ending)
    calendar.add_component(override)
    return override


def _require_series(master: icalendar.Component) -> None:
    if not any(name in master for name in ("RRULE", "RDATE")):
        raise Conflict("the event no longer repeats at the server")


def _exclude(master: icalendar.Component, occurrence: EventTime) -> bool:
    """Add an EXDATE for the occurrence; False when one is there already."""
    if _excluded(master, occurrence):
        return False
    single = _occurrence_prop(master, occurrence)
    exdate = vDDDLists([single.dt])
    exdate.params = copy.deepcopy(single.params)
    master.add("EXDATE", exdate)
    return True


def _excluded(master: icalendar.Component, occurrence: EventTime) -> bool:
    return any(_same_occurrence(value, occurrence) for value in _list_values(master, "EXDATE"))


def _occurrence_prop(master: icalendar.Component, occurrence: EventTime) -> vDDDTypes:
    """The occurrence as a RECURRENCE-ID/EXDATE value in the form of the master's DTSTART (RFC 5545
    3.8.4.4: the same value type, and the same TZID)."""
    start = master.get("DTSTART")
    model = readable_time(start)
    if model is None:
        raise WriteRefused(UNREADABLE.format(reason="the series has no readable start"))
    tzid = str(start.params.get("TZID", "")) if isinstance(model, datetime) and model.tzinfo is not None else ""
    value = _like(occurrence, model)
    if isinstance(value, datetime) and value.tzinfo is not None and not tzid:
        value = value.astimezone(UTC)
    prop = vDDDTypes(value)
    if tzid:
        prop.params["TZID"] = tzid
    if not isinstance(value, datetime):
        prop.params["VALUE"] = "DATE"
    return prop


def _like(value: EventTime, model: EventTime) -> EventTime:
    """`value` as the same kind of time as `model` (floating times are wall clocks labelled UTC in refs)."""
    if not isinstance(model, datetime):
        return value.astimezone(UTC).date() if isinstance(value, datetime) and value.tzinfo else _day(value)
    if not isinstance(value, datetime):
        return datetime.combine(value, model.timetz())
    if model.tzinfo is None:
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(model.tzinfo)


def _touch(vevent: icalendar.Component, now: datetime) -> None:
    """A revision by the organizer: SEQUENCE up (RFC 5545 3.8.7.4), DTSTAMP and LAST-MODIFIED now."""
    try:
        sequence = int(str(vevent.get("SEQUENCE", 0)))
    except ValueError:
        sequence = 0
    for name in ("SEQUENCE", "DTSTAMP", "LAST-MODIFIED"):
        vevent.pop(name, None)
    vevent.add("SEQUENCE", max(sequence, 0) + 1)
    vevent.add("DTSTAMP", now)
    vevent.add("LAST-MODIFIED", now)


def _add_timezones(calendar: icalendar.Calendar, near: EventTime) -> None:
    """VTIMEZONEs for the TZIDs the resource uses and does not define (RFC 5545 3.2.19 requires them)."""
    last = date(max(2038, near.year + TIMEZONE_YEARS_AHEAD), 1, 1)
    try:
        calendar.add_missing_timezones(last_date=last)
    except (ValueError, KeyError, TypeError, zoneinfo.ZoneInfoNotFoundError) as exc:
        logger.warning("could not add a VTIMEZONE (%s)", type(exc).__name__)


def _remove_overrides(calendar: icalendar.Calendar, occurrence: EventTime) -> bool:
    found = _overrides_of(calendar, occurrence)
    for vevent in found:
        calendar.subcomponents.remove(vevent)
    return bool(found)


def _own_partstat(vevent: icalendar.Component, owners: set[str]) -> str:
    for attendee in as_list(vevent.get("ATTENDEE")):
        if calendar_address(attendee).lower() in owners:
            return str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return ""


# -- finding components and events -----------------------------------------------------------------------


def _vevents(calendar: icalendar.Calendar) -> list[icalendar.Component]:
    return [component for component in calendar.subcomponents if component.name == "VEVENT"]


def _master(calendar: icalendar.Calendar) -> icalendar.Component | None:
    # The parser takes the first VEVENT without RECURRENCE-ID as the master; so does the writer.
    return next((vevent for vevent in _vevents(calendar) if "RECURRENCE-ID" not in vevent), None)


def _overrides(calendar: icalendar.Calendar) -> list[icalendar.Component]:
    return [vevent for vevent in _vevents(calendar) if "RECURRENCE-ID" in vevent]


def _overrides_of(calendar: icalendar.Calendar, occurrence: EventTime) -> list[icalendar.Component]:
    return [
        vevent
        for vevent in _overrides(calendar)
        if _same_occurrence(readable_time(vevent.get("RECURRENCE-ID")), occurrence)
    ]


def _override(calendar: icalendar.Calendar, occurrence: EventTime) -> icalendar.Component | None:
    return next(iter(_overrides_of(calendar, occurrence)), None)


def _event_with_id(events: Iterable[RemoteEvent], provider_event_id: str) -> RemoteEvent | None:
    return next((event for event in events if event.provider_event_id == provider_event_id), None)


def _occurrence_event(events: Iterable[RemoteEvent], href: str, occurrence: EventTime) -> RemoteEvent | None:
    return next(
        (
            event
            for event in events
            if event.master_id == href
            and event.original_start is not None
            and _same_occurrence(event.original_start, occurrence)
        ),
        None,
    )


def _same_occurrence(value: EventTime | None, occurrence: EventTime) -> bool:
    """Whether a RECURRENCE-ID (or EXDATE, or a parsed original start) names the occurrence a ref names:
    the same instant for times (floating ones compared as wall clocks), the same day for dates."""
    if value is None:
        return False
    if isinstance(value, datetime) and isinstance(occurrence, datetime):
        return _instant(value) == _instant(occurrence)
    return _day(value) == _day(occurrence)


def _instant(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _day(value: EventTime) -> date:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).date()
    return value


def _instant_key(value: EventTime) -> tuple[date, datetime]:
    if isinstance(value, datetime):
        moment = _instant(value)
        return moment.astimezone(UTC).date(), moment
    return value, datetime.combine(value, datetime.min.time(), tzinfo=UTC)


def _occurrence_of_key(key: str) -> EventTime:
    """The occurrence an override id names after its "#" (`ical.override_id`: UTC, date or floating)."""
    for pattern, make in (
        ("%Y%m%dT%H%M%SZ", lambda moment: moment.replace(tzinfo=UTC)),
        ("%Y%m%dT%H%M%S", lambda moment: moment),
        ("%Y%m%d", lambda moment: moment.date()),
    ):
        try:
            return make(datetime.strptime(key, pattern))  # noqa: DTZ007  # the zone is set (or absent) on purpose
        except ValueError:
            continue
    raise ProviderError(f"{key!r} does not name an occurrence", permanent=True)


def _list_values(vevent: icalendar.Component, name: str) -> list[EventTime]:
    values: list[EventTime] = []
    for prop in as_list(vevent.get(name)):
        if isinstance(prop, vBroken):  # kept as it came; it names no occurrence we can compare
            continue
        for item in getattr(prop, "dts", []):
            value = getattr(item, "dt", None)
            if isinstance(value, date):  # (a PERIOD is a tuple: not an occurrence start to compare)
                values.append(value)
    return values


def _uids(data: bytes) -> set[str]:
    try:
        calendar = read_calendar(data)
    except ICalendarError:
        return set()
    return {str(vevent.get("UID", "")) for vevent in _vevents(calendar)}


def _text(value: Any) -> str:
    value = value[0] if isinstance(value, list) else value
    if value is None or isinstance(value, vBroken):
        return ""
    return str(value).replace("\x00", "")
