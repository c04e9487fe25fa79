"""Google Calendar, read side: the calendar list, a calendar's changes page by page (events.list with sync
tokens, as in Google's "Synchronize resources efficiently"), and Google's event resources as provider-neutral
RemoteEvents.

Deleted events come back as `cancelled` tombstones that carry little more than their id; a cancelled
exception of a live series carries `recurringEventId` and `originalStartTime` and hides that occurrence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connections.providers.base import ChangePage, EventTime, ProviderError, RemoteCalendar, RemoteEvent, SkippedItem
from connections.providers.google.client import call_api
from connections.providers.retry import with_retries
from connections.providers.values import hex_color_or_blank

logger = logging.getLogger(__name__)

# The largest page events.list serves: fewer requests per sync (Google may still send shorter pages).
PAGE_SIZE = 2500
STATUSES = {"confirmed", "tentative", "cancelled"}
WRITABLE_ROLES = {"owner", "writer"}
RESPONSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentative", "needsAction": "needs_action"}


class UnusableItem(Exception):
    """An item of a listing that cannot become an event; the message says why (it is stored as the reason)."""


def calendars(service: Any) -> list[RemoteCalendar]:
    """GoogleAdapter.list_calendars: every calendar on the person's list, all pages."""
    found: list[RemoteCalendar] = []
    page_token: str | None = None
    while True:
        request = service.calendarList().list(pageToken=page_token, maxResults=250, showHidden=False)
        page = call_api(request.execute, "Google calendarList")
        # A body cut short arrives as a str, not a dict: a clear error, not an AttributeError.
        if not isinstance(page, dict) or not isinstance(page.get("items", []), list):
            raise ProviderError("Google calendarList: malformed response (not a calendar list)")
        found.extend(_remote_calendar(item) for item in page.get("items", []) if isinstance(item, dict))
        page_token = page.get("nextPageToken")
        if not page_token:
            return found


def _remote_calendar(item: dict[str, Any]) -> RemoteCalendar:
    return RemoteCalendar(
        remote_id=str(item["id"]),
        name=str(item.get("summaryOverride") or item.get("summary") or item["id"])[:255],
        color=hex_color_or_blank(item.get("backgroundColor")),
        timezone=str(item.get("timeZone", ""))[:64],
        is_primary=bool(item.get("primary", False)),
        read_only=item.get("accessRole") not in WRITABLE_ROLES,
    )


def change_pages(service: Any, calendar: RemoteCalendar, cursor: str) -> Iterator[ChangePage]:
    """The calendar's changes since `cursor` (a nextSyncToken), or all its events when the cursor is empty.

    Deleted events are asked for (showDeleted) so that a full listing also names cancelled occurrences and
    tombstones; series come as masters plus exceptions (singleEvents=false). A lapsed sync token raises
    CursorExpired (call_api maps Google's 410).
    """
    page_token: str | None = None
    while True:
        body, attempts = _fetch(service, calendar.remote_id, cursor, page_token)
        page = page_from_response(body, calendar, full_listing=not cursor)
        page.requests = attempts
        page_token = str(body.get("nextPageToken") or "") or None
        if page_token is None:
            page.last = True
            page.cursor = str(body.get("nextSyncToken") or "")
            if not page.cursor:  # an empty cursor makes the next run a full listing, which heals this
                logger.warning("Google events.list ended without a nextSyncToken for %s", calendar.remote_id)
        yield page
        if page.last:
            return


def _fetch(service: Any, calendar_id: str, cursor: str, page_token: str | None) -> tuple[dict[str, Any], int]:
    """One page of events.list (retried when transient) and how many requests it took."""
    attempts = 0
    params: dict[str, Any] = {
        "calendarId": calendar_id,
        "showDeleted": True,
        "singleEvents": False,
        "maxResults": PAGE_SIZE,
    }
    if cursor:
        params["syncToken"] = cursor
    if page_token:
        params["pageToken"] = page_token

    def request() -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        body = call_api(service.events().list(**params).execute, "Google events")
        # A body of the wrong shape is as transient as one cut short: the next answer may be whole.
        if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
            raise ProviderError("Google events: malformed response (not an events list)")
        return body

    return with_retries(request, what="Google events.list"), attempts


def page_from_response(body: Mapping[str, Any], calendar: RemoteCalendar, *, full_listing: bool) -> ChangePage:
    """One events.list answer as a ChangePage: events, deleted ids, and the items that could not be read."""
    page = ChangePage(full_listing=full_listing)
    calendar_zone = calendar.timezone or str(body.get("timeZone") or "")
    for item in body.get("items") or []:
        if not isinstance(item, Mapping) or not item.get("id"):
            page.skipped.append(SkippedItem("", "an item without an id"))
            continue
        event_id = str(item["id"])
        if item.get("status") == "cancelled" and not item.get("recurringEventId"):
            page.removed.append(event_id)  # deleted: only the id is guaranteed
            continue
        try:
            page.events.append(remote_event(item, calendar_zone))
        except UnusableItem as exc:
            page.skipped.append(SkippedItem(event_id, str(exc)))
    return page


def remote_event(item: Mapping[str, Any], calendar_zone: str = "") -> RemoteEvent:
    """Google's event resource as a RemoteEvent. Raises UnusableItem when it has no readable start.

    Timed events keep their instant and are shown in the zone they were written in (`timeZone`, else the
    calendar's, else the UTC offset they carry). A cancelled exception may carry only its original start.
    """
    problems: list[str] = []
    status = str(item.get("status") or "confirmed")
    if status not in STATUSES:
        problems.append(f"unknown status {status!r}: confirmed assumed")
        status = "confirmed"
    master_id = str(item.get("recurringEventId") or "")
    original_start: EventTime | None = None
    if master_id:
        if not isinstance(item.get("originalStartTime"), Mapping):
            raise UnusableItem("an exception of a series without originalStartTime")
        original_start, _ = _event_time(item["originalStartTime"], calendar_zone, "originalStartTime", problems)
    if status == "cancelled" and original_start is not None and not isinstance(item.get("start"), Mapping):
        start, zone_name = original_start, _zone_name_of(item["originalStartTime"], calendar_zone)
        end = _default_end(start)
    else:
        if not isinstance(item.get("start"), Mapping):
            raise UnusableItem("no start")
        start, zone_name = _event_time(item["start"], calendar_zone, "start", problems)
        end = _end(item.get("end"), start, calendar_zone, problems)
    return RemoteEvent(
        provider_event_id=str(item["id"]),
        start=start,
        end=end,
        etag=str(item.get("etag") or ""),
        ical_uid=str(item.get("iCalUID") or ""),
        title=str(item.get("summary") or ""),
        description=str(item.get("description") or ""),
        location=str(item.get("location") or ""),
        timezone=zone_name if isinstance(start, datetime) else "",
        status=status,
        recurrence=_recurrence(item.get("recurrence"), problems),
        master_id=master_id,
        original_start=original_start,
        metadata=_metadata(item),
        provider_data=_provider_data(item),
        problems=tuple(problems),
    )


def _event_time(value: Mapping[str, Any], calendar_zone: str, what: str, problems: list[str]) -> tuple[EventTime, str]:
    """A Google start/end/originalStartTime: a date, or an aware datetime in its zone (and that zone's name)."""
    if value.get("date"):
        try:
            return date.fromisoformat(str(value["date"])), ""
        except ValueError:
            raise UnusableItem(f"{what}: {value['date']!r} is not a date") from None
    if not value.get("dateTime"):
        raise UnusableItem(f"{what}: neither date nor dateTime")
    try:
        moment = datetime.fromisoformat(str(value["dateTime"]))
    except ValueError:
        raise UnusableItem(f"{what}: {value['dateTime']!r} is not a date-time") from None
    named = str(value.get("timeZone") or "")
    zone_name, zone = named, _zone(named)
    if zone is None:
        zone_name, zone = calendar_zone, _zone(calendar_zone)
        if named:
            fallback = zone_name if zone is not None else "its UTC offset"
            problems.append(f"{what}: unknown time zone {named!r}, {fallback} used")
    if moment.tzinfo is None:  # Google always sends an offset; without one, read it in the zone we have
        if zone is None:
            problems.append(f"{what}: no UTC offset and no time zone, UTC assumed")
            return moment.replace(tzinfo=UTC), "UTC"
        return moment.replace(tzinfo=zone), zone_name
    if zone is None:
        return moment, ""
    return moment.astimezone(zone), zone_name


def _zone_name_of(value: Mapping[str, Any], calendar_zone: str) -> str:
    named = str(value.get("timeZone") or "")
    return named if _zone(named) is not None else calendar_zone if _zone(calendar_zone) is not None else ""


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, or a directory such as "Europe"
        return None


def _end(value: object, start: EventTime, calendar_zone: str, problems: list[str]) -> EventTime:
    """The end as given, or a default when it is missing, unreadable, of another kind, or before the start."""
    all_day = not isinstance(start, datetime)
    assumed = "one day" if all_day else "one hour"
    if not isinstance(value, Mapping):
        problems.append(f"no end: {assumed} assumed")
        return _default_end(start)
    try:
        end, _ = _event_time(value, calendar_zone, "end", problems)
    except UnusableItem as exc:
        problems.append(f"{exc}: {assumed} assumed")
        return _default_end(start)
    if isinstance(end, datetime) == all_day:
        problems.append(f"end is {'a date-time' if all_day else 'a date'} unlike the start: {assumed} assumed")
        return _default_end(start)
    if end < start or (all_day and end == start):
        problems.append(f"end before start: {assumed} assumed")
        return _default_end(start)
    return end


def _default_end(start: EventTime) -> EventTime:
    return start + (timedelta(hours=1) if isinstance(start, datetime) else timedelta(days=1))


def _recurrence(value: object, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append("recurrence is not a list of lines: ignored")
        return ()
    return tuple(line.strip() for line in value if isinstance(line, str) and line.strip())


def _metadata(item: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    attendees = [
        {
            "email": str(person.get("email") or ""),
            "name": str(person.get("displayName") or ""),
            "response": RESPONSES.get(str(person.get("responseStatus")), "needs_action"),
            "organizer": bool(person.get("organizer", False)),
            "optional": bool(person.get("optional", False)),
        }
        for person in item.get("attendees") or []
        if isinstance(person, Mapping) and (person.get("email") or person.get("displayName"))
    ]
    if attendees:
        metadata["attendees"] = attendees
    organizer = item.get("organizer")
    if isinstance(organizer, Mapping) and (organizer.get("email") or organizer.get("displayName")):
        metadata["organizer"] = {
            "email": str(organizer.get("email") or ""),
            "name": str(organizer.get("displayName") or ""),
            "self": bool(organizer.get("self", False)),
        }
    conference_url = _web_link(item.get("hangoutLink")) or _video_entry_point(item.get("conferenceData"))
    if conference_url:
        metadata["conference_url"] = conference_url
    html_link = _web_link(item.get("htmlLink"))
    if html_link:
        metadata["html_link"] = html_link
    return metadata


def _video_entry_point(conference: object) -> str:
    if not isinstance(conference, Mapping):
        return ""
    for entry in conference.get("entryPoints") or []:
        if isinstance(entry, Mapping) and entry.get("entryPointType") == "video":
            link = _web_link(entry.get("uri"))
            if link:
                return link
    return ""


def _web_link(value: object) -> str:
    """An http(s) URL, or blank: these become links in the page, so no javascript: or data: URLs."""
    text = str(value or "").strip()
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return ""
    return text if scheme in ("https", "http") else ""


def _provider_data(item: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if isinstance(item.get("sequence"), int):
        data["sequence"] = item["sequence"]
    for name in ("updated", "eventType"):
        if item.get(name):
            data[name] = str(item[name])
    for flag in ("endTimeUnspecified", "attendeesOmitted"):  # worth knowing when showing the event
        if item.get(flag) is True:
            data[flag] = True
    return data
