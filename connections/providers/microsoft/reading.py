"""Reading Outlook calendars: the calendar list, and a calendar's changes through Graph's calendarView delta
over a fixed window, as ChangePages.

Graph tracks changes only within a calendar view (v1.0 has no delta over a whole calendar), so a sync round
covers a window fixed by its first request: a year back to two years ahead, whole days in UTC. The cursor
is a small JSON document holding that window and the round's deltaLink. When a fresh window would start
more than REBASELINE_DAYS later than the stored one, the cursor is declared expired and the sync lists the
calendar again with a new window (the sweep only touches events inside it).

A calendar view never holds series masters, only single events, occurrences and exceptions; occurrences
arrive sparse (id, type, start, end, seriesMasterId). Each series' master is fetched once per run
(GET /me/events/{id}) and passed on with its recurrence as an RRULE; occurrences and exceptions become
exception rows filled in from it. A full listing also names, as cancelled occurrences, the occurrences the
RRULE yields inside the window that Graph no longer lists (deleted ones), so a resync keeps them hidden.

Times are asked for in UTC (Prefer: outlook.timezone) and shown in the zone the event was written in
(originalStartTimeZone, a Windows zone name mapped to IANA with icalendar's CLDR table).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from connections.providers.base import (
    ChangePage,
    Credentials,
    CursorExpired,
    EventTime,
    KnownEvents,
    ProviderError,
    RemoteCalendar,
    RemoteEvent,
    SkippedItem,
)
from connections.providers.microsoft.client import GraphItemNotFound, graph_get, graph_pages
from connections.providers.microsoft.recurrence import (
    UnsupportedRecurrence,
    first_occurrence,
    overlapping,
    rrule_line,
    unreadable_recurrence,
)
from connections.providers.retry import with_retries
from connections.providers.values import hex_color_or_blank

logger = logging.getLogger(__name__)

WINDOW_PAST = timedelta(days=365)
WINDOW_AHEAD = timedelta(days=730)
# How far the window may lag behind today before the sync lists the calendar again with a new one.
REBASELINE_AFTER = timedelta(days=30)
PAGE_SIZE = 100
CURSOR_VERSION = 1
# Between a master's id and an original start in the made-up id of a deleted occurrence (Graph ids are
# base64, so never contain it).
CANCELLED_MARK = "#cancelled-"
# Times in UTC (the zone comes from originalStartTimeZone), bodies as text rather than Outlook's HTML.
PREFER = f'odata.maxpagesize={PAGE_SIZE}, outlook.timezone="UTC", outlook.body-content-type="text"'
HEADERS = {"Prefer": PREFER}
# Graph's responseType, in the metadata's words.
RESPONSES = {
    "accepted": "accepted",
    "organizer": "accepted",
    "declined": "declined",
    "tentativelyaccepted": "tentative",
    "none": "needs_action",
    "notresponded": "needs_action",
}
# Graph's named calendar colours ("auto" means Outlook picks), approximating Outlook's palette.
NAMED_COLORS = {
    "lightBlue": "#4f9fe0",
    "lightGreen": "#5fb85f",
    "lightOrange": "#f09c3c",
    "lightGray": "#9a9a9a",
    "lightYellow": "#e6c229",
    "lightTeal": "#38b2ac",
    "lightPink": "#e56fa6",
    "lightBrown": "#a97b50",
    "lightRed": "#e5534b",
}
# Names Graph uses for UTC that are neither IANA names nor in the Windows table.
UTC_NAMES = {"tzone://microsoft/utc", "coordinated universal time", "utc"}
# What a calendar view's delta says of an occurrence (the rest is its master's): a plain occurrence read
# elsewhere (GET, instances) is cut down to these, so it maps as the sync maps it.
SPARSE_OCCURRENCE = {"@odata.type", "@odata.etag", "id", "type", "seriesMasterId", "start", "end"}
# Properties of a master that are not those of its occurrences.
MASTER_ONLY = {
    "@odata.etag",
    "@odata.context",
    "id",
    "type",
    "recurrence",
    "changeKey",
    "lastModifiedDateTime",
    "createdDateTime",
    "start",
    "end",
    "seriesMasterId",
    "originalStart",
}


@dataclass(frozen=True)
class Window:
    """The calendar view a delta round tracks: whole UTC days, end exclusive."""

    start: date
    end: date

    @classmethod
    def around(cls, today: date) -> Window:
        return cls(today - WINDOW_PAST, today + WINDOW_AHEAD)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return datetime.combine(self.start, time(), UTC), datetime.combine(self.end, time(), UTC)


@dataclass(frozen=True)
class DeltaCursor:
    window: Window
    delta_link: str

    def dumps(self) -> str:
        document = {
            "v": CURSOR_VERSION,
            "start": self.window.start.isoformat(),
            "end": self.window.end.isoformat(),
            "deltaLink": self.delta_link,
        }
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> DeltaCursor:
        """The stored cursor; one this code cannot read (another version, damage) means a full listing."""
        try:
            document = json.loads(text)
            if document.get("v") != CURSOR_VERSION:
                raise ValueError("another cursor version")
            window = Window(date.fromisoformat(document["start"]), date.fromisoformat(document["end"]))
            delta_link = str(document["deltaLink"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CursorExpired("the sync cursor cannot be read") from None
        return cls(window, delta_link)


def calendars(credentials: Credentials) -> list[RemoteCalendar]:
    """MicrosoftAdapter.list_calendars: the person's calendars, all pages."""
    select = "id,name,color,hexColor,isDefaultCalendar,canEdit"
    return [_remote_calendar(item) for item in graph_pages(credentials, "/me/calendars", {"$select": select})]


def _remote_calendar(item: dict[str, Any]) -> RemoteCalendar:
    color = hex_color_or_blank(item.get("hexColor")) or NAMED_COLORS.get(str(item.get("color", "")), "")
    return RemoteCalendar(
        remote_id=str(item["id"]),
        name=str(item.get("name") or "Calendar")[:255],
        color=color,
        is_primary=bool(item.get("isDefaultCalendar", False)),
        read_only=not item.get("canEdit", False),
    )


def calendar_changes(
    credentials: Credentials, calendar: RemoteCalendar, cursor: str, known: KnownEvents
) -> Iterator[ChangePage]:
    """MicrosoftAdapter.changes: a full listing of the window (empty cursor) or the changes since `cursor`."""
    fresh = Window.around(datetime.now(UTC).date())
    if not cursor:
        start, end = fresh.bounds
        path = f"/me/calendars/{quote(calendar.remote_id, safe='')}/calendarView/delta"
        params = {"startDateTime": graph_instant(start), "endDateTime": graph_instant(end)}
        yield from _DeltaRound(credentials, calendar, fresh, known, full=True).pages(path, params)
        return
    stored = DeltaCursor.loads(cursor)
    if fresh.start - stored.window.start > REBASELINE_AFTER:
        raise CursorExpired("the sync window moved")
    if not stored.delta_link.startswith(settings.MICROSOFT_GRAPH_BASE.rstrip("/") + "/"):
        raise CursorExpired("the delta link does not point at the Graph endpoint in use")
    yield from _DeltaRound(credentials, calendar, stored.window, known, full=False).pages(stored.delta_link, None)


@dataclass
class _DeltaRound:
    """One run through a delta round's pages, with the series masters it needed."""

    credentials: Credentials
    calendar: RemoteCalendar
    window: Window
    known: KnownEvents
    full: bool
    masters: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: the master is gone
    emitted: dict[str, RemoteEvent] = field(default_factory=dict)  # masters passed on, by id
    attempted: set[str] = field(default_factory=set)  # masters converted (or found unreadable) this run
    # Full listing: the original starts Graph listed for each series, to find the deleted ones at the end.
    listed_starts: dict[str, set[EventTime]] = field(default_factory=dict)

    def pages(self, url: str, params: dict[str, str] | None) -> Iterator[ChangePage]:
        while True:
            body = self._get(url, params, what="Graph calendarView delta")
            page = ChangePage(full_listing=self.full, window=self.window.bounds if self.full else None)
            items = [item for item in body.get("value", []) if isinstance(item, dict) and item.get("id")]
            page.removed = [str(item["id"]) for item in items if "@removed" in item]
            for item in items:
                if "@removed" not in item:
                    page.requests += self._add(item, page)
            # A single event turned into a series leaves the view under its own id, which now names the
            # master this run passes on: that id is not gone.
            page.removed = [key for key in page.removed if key not in self.emitted]
            if page.removed:
                page.requests += self._remove_gone_series(page)
            next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
            if next_link:
                yield page
                url, params = str(next_link), None
                continue
            if not delta_link:
                # Neither link: nothing to continue from or to store; fail this run, the next one retries.
                raise ProviderError("Graph ended a delta page without a next or a delta link")
            if self.full:
                page.events.extend(self._deleted_occurrences())
            page.last = True
            page.cursor = DeltaCursor(self.window, str(delta_link)).dumps()
            yield page
            return

    def _get(self, url: str, params: dict[str, str] | None, *, what: str) -> dict[str, Any]:
        return with_retries(lambda: graph_get(self.credentials, url, params, headers=HEADERS), what=what)

    # --- items --------------------------------------------------------------------------------------

    def _add(self, item: dict[str, Any], page: ChangePage) -> int:
        """Turn one listed item into events on `page`; returns the requests it cost (a master fetch)."""
        kind = str(item.get("type") or "singleInstance")
        item_id = str(item["id"])
        if kind == "seriesMaster":  # not in a calendar view, but harmless if Graph ever sends one
            self.masters[item_id] = item
            self._emit_master(item_id, page)
            return 0
        if kind not in ("occurrence", "exception"):
            self._append(page, item_id, lambda: remote_single(item, self.calendar))
            return 0
        master_id = str(item.get("seriesMasterId") or "")
        if not master_id:
            page.skipped.append(SkippedItem(item_id, f"{kind} without a seriesMasterId"))
            return 0
        cost = self._fetch_master(master_id)
        master = self.masters[master_id]
        if master is None:
            page.skipped.append(SkippedItem(item_id, f"the series {master_id} is gone"))
            return cost
        self._emit_master(master_id, page)
        event = self._append(page, item_id, lambda: remote_instance(item, master, self.calendar))
        if event is not None and event.original_start is not None and self.full:
            self.listed_starts.setdefault(master_id, set()).add(event.original_start)
        return cost

    def _append(self, page: ChangePage, item_id: str, build: Callable[[], RemoteEvent]) -> RemoteEvent | None:
        """Add what `build` makes; an item it cannot make is skipped with the reason, not fatal."""
        try:
            event = build()
        except (ValueError, TypeError, KeyError, UnsupportedRecurrence) as exc:
            page.skipped.append(SkippedItem(item_id, f"{type(exc).__name__}: {exc}"))
            return None
        page.events.append(event)
        return event

    def _fetch_master(self, master_id: str) -> int:
        if master_id in self.masters:
            return 0
        try:
            self.masters[master_id] = self._get(
                f"/me/events/{quote(master_id, safe='')}", None, what="Graph series master"
            )
        except GraphItemNotFound:
            self.masters[master_id] = None
        return 1

    def _emit_master(self, master_id: str, page: ChangePage) -> None:
        master = self.masters.get(master_id)
        if master is None or master_id in self.attempted:
            return
        self.attempted.add(master_id)  # a master that cannot be read is skipped once, not per occurrence
        event = self._append(page, master_id, lambda: remote_master(master, self.calendar))
        if event is not None:
            self.emitted[master_id] = event

    def _remove_gone_series(self, page: ChangePage) -> int:
        """A removed occurrence may mean its whole series was deleted: ask for the master once, and if it
        is gone, remove the master too (and with it every row of the series)."""
        stored = self.known(page.removed)
        cost = 0
        for master_id in sorted({entry.master_id for entry in stored.values() if entry.master_id}):
            cost += self._fetch_master(master_id)
            if self.masters[master_id] is None and master_id not in page.removed:
                page.removed.append(master_id)
        return cost

    def _deleted_occurrences(self) -> list[RemoteEvent]:
        """Occurrences a series' RRULE yields in the window that the full listing did not contain.

        Graph says nothing about a deleted occurrence in a listing: it is simply absent. Without these
        cancelled exceptions a resync would bring the occurrence back from the RRULE.
        """
        start, end = self.window.bounds
        cancelled: list[RemoteEvent] = []
        for master_id, master in self.emitted.items():
            if not master.recurrence:
                continue
            duration = _duration(master.start, master.end)
            listed = self.listed_starts.get(master_id, set())
            try:
                expected = list(overlapping(master.recurrence[0], master.start, duration, start, end))
            except (ValueError, UnsupportedRecurrence):
                continue
            cancelled.extend(cancelled_occurrence(master, original) for original in expected if original not in listed)
        return cancelled


def cancelled_occurrence(master: RemoteEvent, original: EventTime) -> RemoteEvent:
    """A deleted occurrence of `master` as a cancelled exception row. Graph keeps no item for it, so its id is
    made up from the master's id and the original start; writing (writing.py) names a cancellation the
    same way, so the next full listing finds the row it stored."""
    return RemoteEvent(
        provider_event_id=cancelled_occurrence_id(master.provider_event_id, original),
        start=original,
        end=_plus(original, _duration(master.start, master.end)),
        etag=master.etag,
        ical_uid=master.ical_uid,
        title=master.title,
        timezone=master.timezone,
        status="cancelled",
        master_id=master.provider_event_id,
        original_start=original,
    )


def cancelled_occurrence_id(master_id: str, original: EventTime) -> str:
    return f"{master_id}{CANCELLED_MARK}{_stamp(original)}"


# --- conversion ------------------------------------------------------------------------------------------


def remote_single(item: Mapping[str, Any], calendar: RemoteCalendar) -> RemoteEvent:
    """A single event (no series) as a RemoteEvent."""
    problems: list[str] = []
    zone_name, zone = _event_zone(item, calendar, problems)
    all_day = bool(item.get("isAllDay"))
    start, end = _times(item, all_day=all_day, zone=zone, problems=problems)
    return _event(item, start=start, end=end, timezone=zone_name, problems=problems)


def remote_master(master: Mapping[str, Any], calendar: RemoteCalendar) -> RemoteEvent:
    """A series master as a RemoteEvent with its recurrence as an RRULE, starting at its first occurrence."""
    problems: list[str] = []
    zone_name, zone = _event_zone(master, calendar, problems)
    all_day = bool(master.get("isAllDay"))
    start, end = _times(master, all_day=all_day, zone=zone, problems=problems)
    recurrence = master.get("recurrence")
    if not isinstance(recurrence, Mapping):
        raise UnsupportedRecurrence("a series master without a recurrence")
    rule_zone = None if all_day else _recurrence_zone(recurrence, fallback=zone)
    line = rrule_line(recurrence, zone=rule_zone)
    first = first_occurrence(line, start)
    if first is None:
        problems.append("the recurrence yields no occurrence: kept as its first date")
    elif first != start:
        # Outlook lets a series begin on a day its pattern skips; the master starts at its first occurrence.
        start, end = first, _plus(first, _duration(start, end))
    return _event(master, start=start, end=end, timezone=zone_name, problems=problems, recurrence=(line,))


def remote_instance(item: Mapping[str, Any], master: Mapping[str, Any], calendar: RemoteCalendar) -> RemoteEvent:
    """An occurrence or exception of `master`, as an exception row: sparse occurrences take the master's
    properties (subject, attendees, ...), and the original start is in the master's zone and kind."""
    problems: list[str] = []
    unreadable = unreadable_recurrence(master.get("recurrence"))
    if unreadable:  # the master is skipped; Graph lists each occurrence, so they are all here, marked
        problems.append(f"the series' recurrence could not be read ({unreadable}): occurrences as Outlook lists them")
    merged = {key: value for key, value in master.items() if key not in MASTER_ONLY}
    merged.update(item)
    master_zone_name, master_zone = _event_zone(master, calendar, [])
    zone_name, zone = _event_zone(merged, calendar, problems)
    all_day = bool(merged.get("isAllDay"))
    start, end = _times(merged, all_day=all_day, zone=zone, problems=problems)
    master_all_day = bool(master.get("isAllDay"))
    if item.get("type") == "exception" and item.get("originalStart"):
        original_instant = _parse_instant(str(item["originalStart"]))
        original: EventTime = (
            original_instant.astimezone(master_zone).date()
            if master_all_day
            else original_instant.astimezone(master_zone)
        )
    elif item.get("type") == "exception":
        raise ValueError("an exception without its originalStart")
    else:
        # An occurrence is where the series puts it: its start is its original start.
        original = _times(item, all_day=master_all_day, zone=master_zone, problems=[])[0]
    return _event(
        merged,
        start=start,
        end=end,
        timezone=zone_name or master_zone_name,
        problems=problems,
        master_id=str(item["seriesMasterId"]),
        original_start=original,
        ical_uid=str(master.get("iCalUId") or merged.get("iCalUId") or ""),
    )


def _event(
    item: Mapping[str, Any],
    *,
    start: EventTime,
    end: EventTime,
    timezone: str,
    problems: list[str],
    recurrence: tuple[str, ...] = (),
    master_id: str = "",
    original_start: EventTime | None = None,
    ical_uid: str | None = None,
) -> RemoteEvent:
    body = item.get("body")
    location = item.get("location")
    return RemoteEvent(
        provider_event_id=str(item["id"]),
        start=start,
        end=end,
        etag=str(item.get("@odata.etag") or item.get("changeKey") or ""),
        ical_uid=str(item.get("iCalUId") or "") if ical_uid is None else ical_uid,
        title=str(item.get("subject") or ""),
        description=str(body.get("content") or "") if isinstance(body, Mapping) else "",
        location=str(location.get("displayName") or "") if isinstance(location, Mapping) else "",
        timezone="" if isinstance(start, date) and not isinstance(start, datetime) else timezone,
        status=_status(item),
        recurrence=recurrence,
        master_id=master_id,
        original_start=original_start,
        metadata=_metadata(item),
        provider_data=_provider_data(item),
        problems=tuple(problems),
    )


def _status(item: Mapping[str, Any]) -> str:
    if item.get("isCancelled"):
        return "cancelled"
    if str(item.get("showAs") or "").lower() == "tentative":
        return "tentative"
    return "confirmed"


def _metadata(item: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    organizer = _address(item.get("organizer"))
    attendees = []
    for attendee in item.get("attendees") or []:
        if not isinstance(attendee, Mapping):
            continue
        address = _address(attendee)
        status = attendee.get("status")
        response = str(status.get("response") or "none") if isinstance(status, Mapping) else "none"
        attendees.append(
            {
                **address,
                "response": RESPONSES.get(response.lower(), "needs_action"),
                "organizer": response.lower() == "organizer"
                or bool(organizer.get("email") and organizer.get("email") == address.get("email")),
                "optional": str(attendee.get("type") or "").lower() == "optional",
            }
        )
    if attendees:
        metadata["attendees"] = attendees
    if organizer:
        metadata["organizer"] = {**organizer, "self": bool(item.get("isOrganizer"))}
    online = item.get("onlineMeeting")
    join_url = (online.get("joinUrl") if isinstance(online, Mapping) else None) or item.get("onlineMeetingUrl")
    if join_url:
        metadata["conference_url"] = str(join_url)
    if item.get("webLink"):
        metadata["html_link"] = str(item["webLink"])
    return metadata


def _address(recipient: object) -> dict[str, str]:
    """{"email", "name"} of a Graph recipient/attendee (emailAddress: {address, name}); {} when absent."""
    email = recipient.get("emailAddress") if isinstance(recipient, Mapping) else None
    if not isinstance(email, Mapping) or not (email.get("address") or email.get("name")):
        return {}
    return {"email": str(email.get("address") or ""), "name": str(email.get("name") or "")}


# Graph's defaults, kept only when an event says otherwise: every row stores this, so defaults add up.
_PROVIDER_DATA_DEFAULTS = {"showAs": "busy", "sensitivity": "normal"}


def _provider_data(item: Mapping[str, Any]) -> dict[str, Any]:
    # No changeKey: the etag (W/"<changeKey>") already holds it.
    keys = ("type", "lastModifiedDateTime", "showAs", "sensitivity", "originalStartTimeZone")
    return {
        key: item[key]
        for key in keys
        if item.get(key) not in (None, "") and item.get(key) != _PROVIDER_DATA_DEFAULTS.get(key)
    }


# --- times -----------------------------------------------------------------------------------------------


def iana_zone_name(name: str) -> str | None:
    """The IANA name of a zone Graph names (an IANA name, a Windows name, or one of its UTC spellings)."""
    cleaned = name.strip()
    if not cleaned:
        return None
    if cleaned.lower() in UTC_NAMES:
        return "UTC"
    candidate = WINDOWS_TO_OLSON.get(cleaned, cleaned)
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return candidate


def _event_zone(item: Mapping[str, Any], calendar: RemoteCalendar, problems: list[str]) -> tuple[str, ZoneInfo]:
    """The zone an event was written in: its name for display, and the zone to show its times in."""
    written = str(item.get("originalStartTimeZone") or "")
    if not written and isinstance(item.get("recurrence"), Mapping):
        written = str(item["recurrence"].get("range", {}).get("recurrenceTimeZone") or "")
    name = iana_zone_name(written)
    if name is not None:
        return name, ZoneInfo(name)
    fallback = iana_zone_name(calendar.timezone) if calendar.timezone else None
    if written:
        problems.append(f"unknown time zone {written!r}: shown in {fallback or 'UTC'}")
    # An empty name leaves the display zone to the calendar; the instants are exact either way (UTC).
    return fallback or "", ZoneInfo(fallback or "UTC")


def _recurrence_zone(recurrence: Mapping[str, Any], *, fallback: ZoneInfo) -> ZoneInfo:
    span = recurrence.get("range")
    name = iana_zone_name(str(span.get("recurrenceTimeZone") or "")) if isinstance(span, Mapping) else None
    return ZoneInfo(name) if name else fallback


def _times(
    item: Mapping[str, Any], *, all_day: bool, zone: ZoneInfo, problems: list[str]
) -> tuple[EventTime, EventTime]:
    start = _time(item.get("start"), all_day=all_day, zone=zone, problems=problems)
    if start is None:
        raise ValueError("no start time")
    end = _time(item.get("end"), all_day=all_day, zone=zone, problems=problems)
    if end is None:
        end = _plus(start, timedelta(days=1) if all_day else timedelta(hours=1))
        problems.append(f"no end time: {'one day' if all_day else 'one hour'} assumed")
    elif _duration(start, end) < timedelta(0):
        problems.append("the end was before the start: the start is used")
        end = start
    return start, end


def _time(value: object, *, all_day: bool, zone: ZoneInfo, problems: list[str]) -> EventTime | None:
    """A dateTimeTimeZone as a date (all-day: Graph gives local midnight, in whatever zone) or an aware
    datetime in `zone`."""
    if not isinstance(value, Mapping) or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])
    if all_day:
        return date.fromisoformat(text[:10])
    given = str(value.get("timeZone") or "UTC")
    given_name = iana_zone_name(given)
    if given_name is None:
        problems.append(f"unknown time zone {given!r} on a time: read as UTC")
    return _parse_local(text, ZoneInfo(given_name or "UTC")).astimezone(zone)


def _parse_local(text: str, zone: ZoneInfo) -> datetime:
    """Graph's "2025-01-07T09:00:00.0000000" (seven fractional digits, no offset) in `zone`."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _parse_instant(text: str) -> datetime:
    """A DateTimeOffset ("2025-01-07T08:00:00Z", maybe with fractional seconds) as an aware datetime."""
    return _parse_local(text, ZoneInfo("UTC"))


def graph_instant(moment: datetime) -> str:
    """An instant as Graph's query parameters take it (startDateTime, endDateTime)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(start: EventTime, end: EventTime) -> timedelta:
    return end - start  # type: ignore[operator]  # both dates or both datetimes


def _plus(moment: EventTime, delta: timedelta) -> EventTime:
    return moment + delta


def _stamp(moment: EventTime) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return moment.strftime("%Y%m%d")
