"""One CalDAV calendar object resource (iCalendar text) as provider-neutral `RemoteEvent`s.

Pure: text in, events out, no I/O. A resource holds one event (RFC 4791 4.1): a master or single event, and
the overrides of its occurrences (VEVENTs with a RECURRENCE-ID). Ids are the resource's href for the master
and `override_id(href, RECURRENCE-ID)` for each override, whose `master_id` is the href even when the
resource carries no master (an invitation to one occurrence).

Decisions, where the standards leave room:
- Time zones: an IANA TZID (also Windows names and vendor-prefixed ones like `/mozilla.org/.../Europe/Berlin`)
  is used as that IANA zone. A TZID defined only by the resource's VTIMEZONE is built from that VTIMEZONE
  (here, per resource: icalendar's own cache of such zones is process-wide and first-come, so one calendar's
  "Custom" zone would otherwise bend another's) and then named after an IANA zone with the same offsets, so
  recurrences expand on the right wall clock; with no such zone, its times become UTC instants (noted in
  `problems`). A TZID with no definition at all is read in the calendar's zone (X-WR-TIMEZONE, else the
  calendar's CALDAV:calendar-timezone, else UTC) and noted: RFC 5545 3.2.19 makes the VTIMEZONE mandatory,
  and a guess at the calendar's zone is right far more often than UTC or floating.
- X-WR-TIMEZONE (Google's and Apple's exports): UTC and floating times are moved into that zone, as the
  x-wr-timezone library defines it.
- Ends: DATE events without DTEND/DURATION last one day, DATE-TIME events end at their start (RFC 5545
  3.6.1); neither is a deviation, so neither is noted.
- STATUS:CANCELLED on the master: the whole event (or series) is called off. The resource stays on the
  server (an organizer's cancellation lands in the attendee's calendar this way), but it is not an event
  anyone attends, so the href is reported removed, overrides included. On an override it is a cancelled
  occurrence, kept so it hides that occurrence.
- A resource with no VEVENT (a VTODO or VJOURNAL in a mixed collection) is reported removed as well: the
  href holds no event.
- URL counts as the conference link only when it points at a known meeting service; any other URL is kept
  in `provider_data["url"]`.
- A value that cannot be read (icalendar's vBroken: `DURATION:P1X`, `LAST-MODIFIED:2026`, a TRIGGER in a
  VALARM, a part of a VTIMEZONE) costs only itself: it is ignored and noted in `problems`, wherever it is.
  A VTIMEZONE whose rules cannot be read, or would cost too much to evaluate (MAX_TIMEZONE_RULE_PER_YEAR),
  costs only the zone: its times are read like those of an unknown TZID, with a note.
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
import x_wr_timezone
from icalendar.prop import vBroken, vDuration

from connections.providers.base import INTERRUPTS, EventTime, RemoteEvent
from connections.providers.ical.properties import (
    as_list,
    calendar_address,
    first_value,
    property_params,
    property_text,
    quoted,
    readable_value,
    time_kind,
)
from connections.providers.ical.tolerant import ICalendarError, interrupt_behind, parse_calendar, unreadable_notes
from connections.providers.ical.zones import Zones, iana_name

logger = logging.getLogger(__name__)

RESPONSES = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative", "NEEDS-ACTION": "needs_action"}
# A delegate attends in the person's place: the person does not.
RESPONSES["DELEGATED"] = "declined"
OPTIONAL_ROLES = {"OPT-PARTICIPANT", "NON-PARTICIPANT"}
STATUSES = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
CONFERENCE_PROPERTIES = ("X-GOOGLE-CONFERENCE", "X-MICROSOFT-SKYPETEAMSMEETINGURL", "X-MICROSOFT-ONLINEMEETINGCONFLINK")
CONFERENCE_LINK = re.compile(
    r"https://(?:[a-z0-9-]{1,63}\.){0,5}"
    r"(?:meet\.google\.com|zoom\.us|zoom\.com|teams\.microsoft\.com|teams\.live\.com|webex\.com|whereby\.com"
    r"|meet\.jit\.si|gotomeeting\.com|facetime\.apple\.com)"
    r"(?:/[^\s<>\"'\\]*)?",
    re.IGNORECASE,
)
MAX_LINK_LENGTH = 2048
MAX_UID_LENGTH = 1024  # the column's width


@dataclass(frozen=True)
class ParsedResource:
    events: tuple[RemoteEvent, ...] = ()
    # Ids the resource withdraws: its href when it holds no event or the whole event is cancelled.
    removed: tuple[str, ...] = ()


def override_id(href: str, recurrence_id: EventTime) -> str:
    """The provider id of an override: the href and its RECURRENCE-ID (UTC, date or floating, basic format)."""
    return f"{href}#{_basic(recurrence_id)}"


def parse_resource(
    href: str,
    data: str | bytes,
    *,
    etag: str = "",
    default_zone: str = "",
    owner_emails: Collection[str] = (),
) -> ParsedResource:
    """The events of one calendar object resource; ICalendarError when it cannot be read as one.

    `default_zone` is the calendar's zone (for TZIDs the resource does not define); `owner_emails` are the
    account's addresses, to tell whether the person organizes the event.
    """
    try:
        return _Resource(href, data, etag, default_zone, {email.lower() for email in owner_emails}).parse()
    except INTERRUPTS:
        raise
    except Exception as exc:
        interrupt = interrupt_behind(exc)
        if interrupt is not None:  # icalendar turned it into a ValueError on its way out: not the data's fault
            raise interrupt from None
        if isinstance(exc, ICalendarError):
            raise
        # Hostile text must cost one skipped item, never the listing.
        logger.warning("could not read the iCalendar resource %s (%s)", href, type(exc).__name__)
        logger.debug("iCalendar failure for %s", href, exc_info=True)
        raise ICalendarError(f"unreadable iCalendar data ({type(exc).__name__})") from None


def _unreadable_in_event(vevent: icalendar.Component) -> list[str]:
    notes = unreadable_notes(vevent, "")
    for sub in vevent.subcomponents:
        notes.extend(unreadable_notes(sub, " in a reminder (VALARM)" if sub.name == "VALARM" else f" in {sub.name}"))
    return notes


# -- the resource --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moment:
    value: EventTime
    zone: str  # IANA name, "UTC", or "" for dates and floating times


class _Resource:
    def __init__(self, href: str, data: str | bytes, etag: str, default_zone: str, owner_emails: set[str]) -> None:
        self.href = href
        # Bytes on purpose: icalendar reads a one-line *str* as a file path.
        self.data = data.encode("utf-8", "replace") if isinstance(data, str) else data
        self.etag = etag
        self.default_zone = default_zone
        self.owner_emails = owner_emails

    def parse(self) -> ParsedResource:
        calendar = parse_calendar(self.data)
        resource_problems: list[str] = unreadable_notes(calendar, " of the calendar")
        wr_zone = ""
        wr_value = calendar.get("X-WR-TIMEZONE")
        if wr_value is not None:
            wr_zone = iana_name(str(wr_value))
            if not wr_zone:
                resource_problems.append(f"unknown calendar time zone {quoted(wr_value)} (X-WR-TIMEZONE) ignored")
        fallback = wr_zone or iana_name(self.default_zone) or "UTC"
        reader = _Reader(Zones(calendar, fallback), wr_zone, self.owner_emails)

        vevents = [component for component in calendar.subcomponents if component.name == "VEVENT"]
        if not vevents:
            return ParsedResource(removed=(self.href,))
        masters = [vevent for vevent in vevents if "RECURRENCE-ID" not in vevent]
        overrides = [vevent for vevent in vevents if "RECURRENCE-ID" in vevent]
        if len(masters) > 1:
            resource_problems.append(f"{len(masters) - 1} more event(s) without RECURRENCE-ID ignored")

        master: RemoteEvent | None = None
        if masters:
            master = self._master(reader, masters[0])
            if master.status == "cancelled":
                return ParsedResource(removed=(self.href,))

        events: dict[str, RemoteEvent] = {}
        for vevent in overrides:
            try:
                event = self._override(reader, vevent, master)
            except ICalendarError as exc:
                resource_problems.append(f"an occurrence was left out: {exc}")
                continue
            events.setdefault(event.provider_event_id, event)
        if master is None and not events:
            raise ICalendarError("; ".join(resource_problems) or "no readable event")
        if master is not None:
            master = _with_problems(master, resource_problems)
            return ParsedResource(events=(master, *events.values()))
        first, *rest = events.values()
        return ParsedResource(events=(_with_problems(first, resource_problems), *rest))

    def _master(self, reader: _Reader, vevent: icalendar.Component) -> RemoteEvent:
        problems: list[str] = []
        start = reader.moment(vevent, "DTSTART", problems)
        if start is None:
            raise ICalendarError("the event has no start (DTSTART)")
        end = reader.end(vevent, start, problems)
        return RemoteEvent(
            provider_event_id=self.href,
            start=start.value,
            end=end,
            timezone=start.zone,
            recurrence=reader.recurrence(vevent, problems),
            **self._common(reader, vevent, problems),
        )

    def _override(self, reader: _Reader, vevent: icalendar.Component, master: RemoteEvent | None) -> RemoteEvent:
        problems: list[str] = []
        recurrence_id = reader.moment(vevent, "RECURRENCE-ID", problems)
        if recurrence_id is None:
            raise ICalendarError("unreadable RECURRENCE-ID")
        if property_text(property_params(first_value(vevent["RECURRENCE-ID"])).get("RANGE")).upper() == "THISANDFUTURE":
            problems.append("a change to this and all later occurrences is applied to this occurrence only")
        original_start = (
            _like_keeping_wall_clock(recurrence_id.value, master.start) if master is not None else recurrence_id.value
        )
        start = reader.moment(vevent, "DTSTART", problems)
        if start is None:
            start = _Moment(original_start, recurrence_id.zone)
            problems.append("no start (DTSTART): the occurrence's original start is used")
            end = _plus(start.value, _span(master)) if master is not None else reader.end(vevent, start, problems)
        else:
            end = reader.end(vevent, start, problems)
        return RemoteEvent(
            provider_event_id=override_id(self.href, recurrence_id.value),
            start=start.value,
            end=end,
            timezone=start.zone,
            master_id=self.href,
            original_start=original_start,
            **self._common(reader, vevent, problems),
        )

    def _common(self, reader: _Reader, vevent: icalendar.Component, problems: list[str]) -> dict[str, Any]:
        uid = property_text(vevent.get("UID"))
        if len(uid) > MAX_UID_LENGTH:
            uid = uid[:MAX_UID_LENGTH]
            problems.append(f"UID longer than {MAX_UID_LENGTH} characters, shortened")
        status = property_text(vevent.get("STATUS")).upper()
        return {
            "etag": self.etag,
            "ical_uid": uid,
            "title": property_text(vevent.get("SUMMARY")),
            "description": property_text(vevent.get("DESCRIPTION")),
            "location": property_text(vevent.get("LOCATION")),
            "status": STATUSES.get(status, "confirmed"),
            "metadata": reader.metadata(vevent),
            "provider_data": _provider_data(vevent),
            "problems": tuple(
                dict.fromkeys(problems + reader.zone_problems.pop(id(vevent), []) + _unreadable_in_event(vevent))
            ),
        }


# -- values --------------------------------------------------------------------------------------------


class _Reader:
    """Reads times, recurrence and people out of VEVENTs, with the resource's zones."""

    def __init__(self, zones: Zones, wr_zone: str, owner_emails: set[str]) -> None:
        self.zones = zones
        self.wr_zone = wr_zone
        self.walker = x_wr_timezone.UTCChangingWalker(zoneinfo.ZoneInfo(wr_zone)) if wr_zone else None
        self.owner_emails = owner_emails
        # Zone notes per VEVENT (keyed by id()), gathered while its values are read.
        self.zone_problems: dict[int, list[str]] = {}

    def moment(self, vevent: icalendar.Component, name: str, problems: list[str]) -> _Moment | None:
        prop = first_value(vevent.get(name))
        if prop is None:
            return None
        if isinstance(prop, vBroken) or not isinstance(getattr(prop, "dt", None), date):
            problems.append(f"unreadable {name} ignored")
            return None
        value = prop.dt
        if isinstance(value, datetime) and str(prop.params.get("VALUE", "")).upper() == "DATE":
            value = value.date()  # icalendar makes "TZID=...;VALUE=DATE" a midnight; a DATE has no zone
        return self.resolve(vevent, value, prop.params)

    def resolve(self, vevent: icalendar.Component, value: EventTime, params: Any) -> _Moment:
        if not isinstance(value, datetime):
            return _Moment(value, "")
        tzid = params.get("TZID") if params else None
        if tzid:
            wall = value.replace(tzinfo=None)  # as written; icalendar's zone for a custom TZID may be another's
            zone = self.zones.resolve(str(tzid), wall)
            if zone.problem:
                self.zone_problems.setdefault(id(vevent), []).append(zone.problem)
            zoned = wall.replace(tzinfo=zone.tzinfo)
            moment = _Moment(zoned.astimezone(UTC) if zone.name == "UTC" else zoned, zone.name)
        elif value.tzinfo is not None:
            moment = _Moment(value.astimezone(UTC), "UTC")
        else:
            moment = _Moment(value, "")
        if self.walker is not None and moment.zone in ("", "UTC"):
            moved = self.walker.walk_value_datetime(moment.value)
            if moved is not moment.value:
                moment = _Moment(moved, self.wr_zone)
        return moment

    def end(self, vevent: icalendar.Component, start: _Moment, problems: list[str]) -> EventTime:
        begin = start.value
        end_moment = self.moment(vevent, "DTEND", problems)
        duration = first_value(vevent.get("DURATION"))
        if end_moment is not None:
            end = _like_keeping_wall_clock(end_moment.value, begin)
            if time_kind(end_moment.value) != time_kind(begin):
                problems.append("DTEND is not the same kind of time as DTSTART: converted")
        elif isinstance(getattr(readable_value(duration), "dt", None), timedelta):
            end = _plus(begin, duration.dt)
        elif duration is not None:
            problems.append("unreadable DURATION ignored")
            end = _plus(begin, timedelta(days=1) if not isinstance(begin, datetime) else timedelta())
        else:
            end = _plus(begin, timedelta(days=1)) if not isinstance(begin, datetime) else begin
        if isinstance(begin, datetime) and _before(end, begin):
            problems.append("the event ends before it starts: no duration assumed")
            end = begin
        elif not isinstance(begin, datetime) and not _before(begin, end):
            problems.append("the all-day event ends on or before its first day: one day assumed")
            end = begin + timedelta(days=1)
        return end

    def recurrence(self, vevent: icalendar.Component, problems: list[str]) -> tuple[str, ...]:
        lines: list[str] = []
        for name in ("RRULE", "EXRULE"):
            for prop in as_list(vevent.get(name)):
                if isinstance(prop, vBroken):
                    problems.append(f"unreadable {name} ignored")
                    continue
                lines.append(f"{name}:{prop.to_ical().decode()}")
        for name in ("RDATE", "EXDATE"):
            groups: dict[str, list[str]] = {}
            for prop in as_list(vevent.get(name)):
                if isinstance(prop, vBroken) or not hasattr(prop, "dts"):
                    problems.append(f"unreadable {name} ignored")
                    continue
                for item in prop.dts:
                    params, text = self._list_value(vevent, item.dt, prop.params)
                    groups.setdefault(params, []).append(text)
            lines.extend(f"{name}{params}:{','.join(values)}" for params, values in groups.items())
        return tuple(lines)

    def _list_value(self, vevent: icalendar.Component, value: Any, params: Any) -> tuple[str, str]:
        """(";PARAMS", "value") of one RDATE/EXDATE value: a date, a date-time, or a period."""
        if isinstance(value, tuple):  # PERIOD: (start, end or duration)
            begin = self.resolve(vevent, value[0], params)
            zone_params, start_text = _formatted(begin)
            if isinstance(value[1], timedelta):
                end_text = vDuration(value[1]).to_ical().decode()
            else:
                end = self.resolve(vevent, value[1], params).value
                if isinstance(begin.value, datetime) and isinstance(end, datetime) and begin.value.tzinfo is not None:
                    end = end.astimezone(begin.value.tzinfo)
                _, end_text = _formatted(_Moment(end, begin.zone))
            return ";VALUE=PERIOD" + zone_params, f"{start_text}/{end_text}"
        moment = self.resolve(vevent, value, params)
        zone_params, text = _formatted(moment)
        return (";VALUE=DATE" if not isinstance(moment.value, datetime) else zone_params), text

    def metadata(self, vevent: icalendar.Component) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        organizer_email = ""
        organizer = readable_value(vevent.get("ORGANIZER"))
        if organizer is not None:
            organizer_email = calendar_address(organizer)
            metadata["organizer"] = {
                "email": organizer_email,
                "name": property_text(property_params(organizer).get("CN")),
                "self": bool(organizer_email) and organizer_email.lower() in self.owner_emails,
            }
        attendees = []
        for attendee in as_list(vevent.get("ATTENDEE")):
            if isinstance(attendee, vBroken):
                continue
            params = property_params(attendee)
            email = calendar_address(attendee)
            attendees.append(
                {
                    "email": email,
                    "name": property_text(params.get("CN")),
                    "response": RESPONSES.get(property_text(params.get("PARTSTAT")).upper(), "needs_action"),
                    "organizer": bool(email) and email.lower() == organizer_email.lower(),
                    "optional": property_text(params.get("ROLE")).upper() in OPTIONAL_ROLES,
                }
            )
        if attendees:
            metadata["attendees"] = attendees
        conference = _conference_url(vevent)
        if conference:
            metadata["conference_url"] = conference
        return metadata


# -- helpers -------------------------------------------------------------------------------------------


def _conference_url(vevent: icalendar.Component) -> str:
    # RFC 7986 CONFERENCE: several may be given; a video one is what the detail panel should open.
    conferences = sorted(
        as_list(vevent.get("CONFERENCE")),
        key=lambda prop: "VIDEO" not in property_text(property_params(prop).get("FEATURE")).upper(),
    )
    for prop in conferences:
        link = _web_link(property_text(prop))
        if link:
            return link
    for name in CONFERENCE_PROPERTIES:
        link = _web_link(property_text(vevent.get(name)))
        if link:
            return link
    for name in ("URL", "LOCATION", "DESCRIPTION"):
        found = CONFERENCE_LINK.search(property_text(vevent.get(name)))
        if found:
            link = _web_link(found.group(0).rstrip(".,;:!?)]}"))
            if link:
                return link
    return ""


def _web_link(value: str) -> str:
    """The value if it is a plain http(s) link fit to show (never javascript: or data:), else ""."""
    value = value.strip()
    if len(value) > MAX_LINK_LENGTH or not re.fullmatch(r"https?://[^\s<>\"'\\]+", value, re.IGNORECASE):
        return ""
    return value


def _provider_data(vevent: icalendar.Component) -> dict[str, Any]:
    data: dict[str, Any] = {}
    sequence = property_text(vevent.get("SEQUENCE")).strip()
    if sequence.lstrip("-").isdigit():
        data["sequence"] = int(sequence)
    modified = readable_value(vevent.get("LAST-MODIFIED"))
    if isinstance(getattr(modified, "dt", None), datetime):
        data["last_modified"] = modified.dt.isoformat()
    for name, key in (("TRANSP", "transparency"), ("CLASS", "class")):
        value = property_text(vevent.get(name)).strip().upper()
        if value:
            data[key] = value[:32]
    url = _web_link(property_text(vevent.get("URL")))
    if url and not CONFERENCE_LINK.match(url):
        data["url"] = url
    return data


def _with_problems(event: RemoteEvent, problems: Iterable[str]) -> RemoteEvent:
    merged = tuple(dict.fromkeys([*event.problems, *problems]))
    if merged == event.problems:
        return event
    return replace(event, problems=merged)


def _like_keeping_wall_clock(value: EventTime, model: EventTime) -> EventTime:
    """`value` as the same kind of time as `model`: a date, a floating or an aware date-time."""
    if not isinstance(model, datetime):
        return value.date() if isinstance(value, datetime) else value
    if not isinstance(value, datetime):
        # A DATE naming an occurrence of a timed series: that day, at the series' time of day.
        return datetime.combine(value, model.timetz())
    if model.tzinfo is None:
        return value.replace(tzinfo=None)
    if value.tzinfo is None:
        return value.replace(tzinfo=model.tzinfo)
    return value


def _before(value: EventTime, other: EventTime) -> bool:
    if isinstance(value, datetime) and isinstance(other, datetime):
        return value < other
    if isinstance(value, datetime) or isinstance(other, datetime):
        return False  # _like_keeping_wall_clock made them alike; a mix cannot be compared
    return value < other


def _plus(start: EventTime, duration: timedelta) -> EventTime:
    """start + an iCalendar duration: whole days on the wall clock (nominal), the rest as exact time."""
    if not isinstance(start, datetime):
        whole_days = duration.days + (1 if duration.seconds or duration.microseconds else 0)
        return start + timedelta(days=whole_days)
    days = timedelta(days=duration.days)
    rest = duration - days
    wall = start + days
    if wall.tzinfo is None:
        return wall + rest
    return (wall.astimezone(UTC) + rest).astimezone(wall.tzinfo)


def _span(event: RemoteEvent) -> timedelta:
    start, end = event.start, event.end
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end - start
    if not isinstance(start, datetime) and not isinstance(end, datetime):
        return end - start
    return timedelta()


def _basic(value: EventTime) -> str:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        return value.strftime("%Y%m%dT%H%M%S")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _formatted(moment: _Moment) -> tuple[str, str]:
    """(";TZID=..." or "", value) of a moment as an iCalendar DATE / DATE-TIME value."""
    value = moment.value
    if not isinstance(value, datetime):
        return "", value.strftime("%Y%m%d")
    if value.tzinfo is None:
        return "", value.strftime("%Y%m%dT%H%M%S")
    if moment.zone and moment.zone != "UTC":
        return f";TZID={moment.zone}", value.astimezone(zoneinfo.ZoneInfo(moment.zone)).strftime("%Y%m%dT%H%M%S")
    return "", value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
