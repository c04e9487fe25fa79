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

import contextlib
import functools
import itertools
import logging
import math
import re
import warnings
import zoneinfo
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import icalendar
import x_wr_timezone
from icalendar.cal.component_factory import ComponentFactory
from icalendar.error import GloballyUniqueTZIDGuessed
from icalendar.parser.ical import CalendarIcalParser
from icalendar.prop import vBroken, vDuration
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from connections.providers.base import INTERRUPTS, EventTime, RemoteEvent

logger = logging.getLogger(__name__)

# icalendar warns when it reads "/vendor/Europe/Berlin" as Europe/Berlin; that reading is ours to make
# (iana_name), and the warning would otherwise repeat for every such event of every sync.
warnings.filterwarnings("ignore", category=GloballyUniqueTZIDGuessed)

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
# Areas of canonical IANA names; the rest (US/Eastern, Canada/Pacific, Etc/GMT+5, ...) are aliases.
REGIONS = {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
MAX_UID_LENGTH = 1024  # the column's width
# dateutil evaluates a VTIMEZONE rule by walking it from its DTSTART (often 1601) on each conversion, so a
# rule with many occurrences a year (FREQ=SECONDLY, long BY* lists) would stall the parser: such a zone is
# never evaluated, and its times are read as its IANA equivalent or the calendar's zone. Real zones change
# once or twice a year; Lotus Notes / Domino spell the hour out (BYHOUR=2;BYMINUTE=0), which costs nothing.
MAX_TIMEZONE_RULE_PER_YEAR = 12
# Days a month an ordinal weekday (-1SU) or a plain one (SU) can fall on, at most.
WEEKDAYS_PER_MONTH = 5
_COMPONENTS = ComponentFactory()


class ICalendarError(ValueError):
    """The resource cannot be turned into events at all. The message is the reason a SkippedItem gives."""


@dataclass(frozen=True)
class ParsedResource:
    events: tuple[RemoteEvent, ...] = ()
    # Ids the resource withdraws: its href when it holds no event or the whole event is cancelled.
    removed: tuple[str, ...] = ()


def override_id(href: str, recurrence_id: EventTime) -> str:
    """The provider id of an override: the href and its RECURRENCE-ID (UTC, date or floating, basic format)."""
    return f"{href}#{_basic(recurrence_id)}"


def iana_name(tzid: str) -> str:
    """The IANA name a TZID stands for (itself, a Windows name, or a vendor-prefixed id), else ""."""
    cleaned = tzid.strip().strip('"').strip("/")
    if not cleaned:
        return ""
    names = _iana_names()
    for candidate in (cleaned, WINDOWS_TO_OLSON.get(cleaned, "")):
        if candidate and candidate.lower() in names:
            return names[candidate.lower()]
    # "/mozilla.org/20050126_1/Europe/Berlin", "/freeassociation.sourceforge.net/Tzfile/Europe/Berlin"
    parts = cleaned.split("/")
    for first in range(1, len(parts)):
        suffix = "/".join(parts[first:]).lower()
        if suffix in names:
            return names[suffix]
    return ""


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
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:  # icalendar turned it into a ValueError on its way out: not the data's fault
            raise interrupt from None
        if isinstance(exc, ICalendarError):
            raise
        # Hostile text must cost one skipped item, never the listing.
        logger.warning("could not read the iCalendar resource %s (%s)", href, type(exc).__name__)
        logger.debug("iCalendar failure for %s", href, exc_info=True)
        raise ICalendarError(f"unreadable iCalendar data ({type(exc).__name__})") from None


def read_calendar(data: bytes) -> icalendar.Calendar:
    """A resource's VCALENDAR as icalendar components, for a write that changes it in place (everything it
    does not touch, unreadable values included, is written back as it was). The same parser as
    `parse_resource`; ICalendarError when the text cannot be read, or holds a time zone that cannot be
    evaluated (a write works on the resource's own times, which reading could only approximate)."""
    try:
        calendar = _calendar(data)
        for zone in calendar.walk("VTIMEZONE"):
            if _costly_rules(zone) or _unreadable_observances(zone):
                raise ICalendarError(f"the time zone {_quote(zone.get('TZID'))} cannot be evaluated")
        return calendar
    except INTERRUPTS:
        raise
    except ICalendarError:
        raise
    except Exception as exc:
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:
            raise interrupt from None
        raise ICalendarError(f"not iCalendar data ({type(exc).__name__})") from None


def calendar_address(prop: Any) -> str:
    """The email address of an ORGANIZER or ATTENDEE property, as the parser reads it ("" when none)."""
    return _email(prop)


def _interrupt_behind(exc: BaseException) -> BaseException | None:
    """A time limit that struck while a library was handling an error, found in the chain of contexts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, INTERRUPTS):
            return current
        seen.add(id(current))
        current = current.__context__
    return None


# -- parsing -------------------------------------------------------------------------------------------


class _TolerantParser(CalendarIcalParser):
    """icalendar's parser, keeping every value it cannot read as a vBroken, and leaving costly zones alone.

    icalendar keeps unreadable values only inside a VEVENT; in a VALARM, a VTIMEZONE or the VCALENDAR one
    would cost the whole resource. Here they stay (noted where they are read, written back as they came),
    and a VTIMEZONE is cached for conversions only when its rules are cheap to evaluate and readable.
    """

    def handle_property_parse_error(self, exception: Exception, name: str, params: Any, val: str, line: Any) -> None:
        component = self.component
        if component is None:  # pragma: no cover - handle_property refuses a property outside a component
            raise exception
        factory = self.get_factory_for_property(name, params)
        broken = vBroken.from_parse_error(
            raw_value=val,
            params=params,
            property_name=name,
            expected_type=getattr(factory, "__name__", "unknown"),
            error=exception,
        )
        component.errors.append((name, str(exception)))
        component.add(name, broken, encode=False)

    def handle_end_component(self, vals: str) -> None:
        if vals.upper() != "VTIMEZONE" or not self._stack:
            super().handle_end_component(vals)
            return
        zone = self._stack.pop()
        if self._stack:
            self._stack[-1].add_component(zone)
        else:
            self._components.append(zone)
        if "TZID" not in zone or _costly_rules(zone) or _unreadable_observances(zone):
            return
        # An unreadable part leaves the zone uncached: _Zones notes it on the events that use the zone.
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            tzp.cache_timezone_component(zone)


def _calendar(data: bytes) -> icalendar.Calendar:
    """The one VCALENDAR of a resource; ICalendarError when there is not exactly one."""
    try:
        components = _TolerantParser(data, _COMPONENTS, icalendar.Calendar.types_factory).parse()
    except ValueError as exc:
        raise ICalendarError(f"not iCalendar data ({_first_line(str(exc))})") from None
    if not components:
        raise ICalendarError("not iCalendar data (no complete object: cut off?)")
    if len(components) > 1:
        raise ICalendarError(f"not iCalendar data ({len(components)} objects where one is expected)")
    calendar = components[0]
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise ICalendarError("not an iCalendar object (no VCALENDAR)")
    return calendar


def _unreadable(component: icalendar.Component, where: str) -> list[str]:
    """A note for each value of `component`'s own that could not be read; `where` follows the property's
    name ("", " of the calendar", ...)."""
    return [
        f"unreadable {name}{where} ignored"
        for name, values in component.items()
        for value in as_list(values)
        if isinstance(value, vBroken)
    ]


def _unreadable_in_event(vevent: icalendar.Component) -> list[str]:
    notes = _unreadable(vevent, "")
    for sub in vevent.subcomponents:
        notes.extend(_unreadable(sub, " in a reminder (VALARM)" if sub.name == "VALARM" else f" in {sub.name}"))
    return notes


def _unreadable_observances(vtimezone: icalendar.Component) -> bool:
    """Whether a value of the zone's STANDARD or DAYLIGHT parts could not be read: icalendar would build
    the zone from the parts it can read, which is another zone."""
    return any(_unreadable(observance, "") for observance in vtimezone.subcomponents)


def _costly_rules(vtimezone: icalendar.Component) -> bool:
    """Whether evaluating the zone's rules could stall a conversion (see MAX_TIMEZONE_RULE_PER_YEAR)."""
    return any(
        _changes_per_year(rule) > MAX_TIMEZONE_RULE_PER_YEAR
        for observance in vtimezone.subcomponents
        for rule in as_list(observance.get("RRULE"))
        if not isinstance(rule, vBroken)  # unreadable, not costly: the zone cannot be built at all
    )


def _changes_per_year(rule: Any) -> float:
    """How many times a year a VTIMEZONE rule fires, at most; infinite for rules dateutil walks day by day."""
    frequency = [str(value).upper() for value in rule.get("FREQ", [])]
    if frequency not in (["YEARLY"], ["MONTHLY"]):
        return math.inf
    days = [
        len(rule["BYMONTHDAY"]) if "BYMONTHDAY" in rule else None,
        sum(1 if str(day)[:1] in "+-0123456789" else WEEKDAYS_PER_MONTH for day in rule["BYDAY"])
        if "BYDAY" in rule
        else None,
    ]
    per_month = min((count for count in days if count is not None), default=None)
    if per_month is None and frequency == ["YEARLY"]:
        per_year = len(rule.get("BYMONTH", [None]))  # the anniversary of DTSTART, or a day in each month named
    else:
        per_year = len(rule.get("BYMONTH", range(12))) * (per_month or 1)
    for name in ("BYYEARDAY", "BYWEEKNO"):
        if name in rule:
            per_year = min(per_year, len(rule[name]) * (7 if name == "BYWEEKNO" else 1))
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        per_year *= len(rule.get(name, [None]))
    return per_year


# -- the resource --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Zone:
    tzinfo: tzinfo
    name: str  # IANA name for display and expansion; "UTC" when times were turned into instants
    problem: str = ""


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
        calendar = _calendar(self.data)
        resource_problems: list[str] = _unreadable(calendar, " of the calendar")
        wr_zone = ""
        wr_value = calendar.get("X-WR-TIMEZONE")
        if wr_value is not None:
            wr_zone = iana_name(str(wr_value))
            if not wr_zone:
                resource_problems.append(f"unknown calendar time zone {_quote(wr_value)} (X-WR-TIMEZONE) ignored")
        fallback = wr_zone or iana_name(self.default_zone) or "UTC"
        reader = _Reader(_Zones(calendar, fallback), wr_zone, self.owner_emails)

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
        if _text(_params(_first(vevent["RECURRENCE-ID"])).get("RANGE")).upper() == "THISANDFUTURE":
            problems.append("a change to this and all later occurrences is applied to this occurrence only")
        original_start = _like(recurrence_id.value, master.start) if master is not None else recurrence_id.value
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
        uid = _text(vevent.get("UID"))
        if len(uid) > MAX_UID_LENGTH:
            uid = uid[:MAX_UID_LENGTH]
            problems.append(f"UID longer than {MAX_UID_LENGTH} characters, shortened")
        status = _text(vevent.get("STATUS")).upper()
        return {
            "etag": self.etag,
            "ical_uid": uid,
            "title": _text(vevent.get("SUMMARY")),
            "description": _text(vevent.get("DESCRIPTION")),
            "location": _text(vevent.get("LOCATION")),
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

    def __init__(self, zones: _Zones, wr_zone: str, owner_emails: set[str]) -> None:
        self.zones = zones
        self.wr_zone = wr_zone
        self.walker = x_wr_timezone.UTCChangingWalker(zoneinfo.ZoneInfo(wr_zone)) if wr_zone else None
        self.owner_emails = owner_emails
        # Zone notes per VEVENT (keyed by id()), gathered while its values are read.
        self.zone_problems: dict[int, list[str]] = {}

    def moment(self, vevent: icalendar.Component, name: str, problems: list[str]) -> _Moment | None:
        prop = _first(vevent.get(name))
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
        duration = _first(vevent.get("DURATION"))
        if end_moment is not None:
            end = _like(end_moment.value, begin)
            if _kind(end_moment.value) != _kind(begin):
                problems.append("DTEND is not the same kind of time as DTSTART: converted")
        elif isinstance(getattr(_readable(duration), "dt", None), timedelta):
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
        organizer = _readable(vevent.get("ORGANIZER"))
        if organizer is not None:
            organizer_email = _email(organizer)
            metadata["organizer"] = {
                "email": organizer_email,
                "name": _text(_params(organizer).get("CN")),
                "self": bool(organizer_email) and organizer_email.lower() in self.owner_emails,
            }
        attendees = []
        for attendee in as_list(vevent.get("ATTENDEE")):
            if isinstance(attendee, vBroken):
                continue
            params = _params(attendee)
            email = _email(attendee)
            attendees.append(
                {
                    "email": email,
                    "name": _text(params.get("CN")),
                    "response": RESPONSES.get(_text(params.get("PARTSTAT")).upper(), "needs_action"),
                    "organizer": bool(email) and email.lower() == organizer_email.lower(),
                    "optional": _text(params.get("ROLE")).upper() in OPTIONAL_ROLES,
                }
            )
        if attendees:
            metadata["attendees"] = attendees
        conference = _conference_url(vevent)
        if conference:
            metadata["conference_url"] = conference
        return metadata


class _Zones:
    """The resource's time zones by TZID, resolved once each."""

    def __init__(self, calendar: icalendar.Calendar, fallback: str) -> None:
        self.definitions = {
            str(component.get("TZID", "")): component
            for component in calendar.subcomponents
            if component.name == "VTIMEZONE"
        }
        self.fallback = fallback
        self.resolved: dict[str, _Zone] = {}

    def resolve(self, tzid: str, near: datetime) -> _Zone:
        if tzid not in self.resolved:
            self.resolved[tzid] = self._resolve(tzid, near)
        return self.resolved[tzid]

    def _resolve(self, tzid: str, near: datetime) -> _Zone:
        name = iana_name(tzid)
        if name:
            return _Zone(zoneinfo.ZoneInfo(name), name)
        definition = self.definitions.get(tzid)
        if definition is None:
            return self._fallback(f"unknown time zone {_quote(tzid)}")
        location = iana_name(_text(definition.get("X-LIC-LOCATION")))
        if location:
            return _Zone(zoneinfo.ZoneInfo(location), location)
        if _costly_rules(definition):
            return self._fallback(f"time zone {_quote(tzid)} has rules too costly to evaluate")
        if _unreadable_observances(definition):
            return self._fallback(f"unreadable time zone {_quote(tzid)}")
        try:
            equivalent = _equivalent_zone(definition.to_ical(), tzid, near.year)
            custom = _custom_zone(definition.to_ical())
        except (ValueError, TypeError, KeyError, AttributeError):
            return self._fallback(f"unreadable time zone {_quote(tzid)}")
        if equivalent:
            return _Zone(zoneinfo.ZoneInfo(equivalent), equivalent, f"time zone {_quote(tzid)} read as {equivalent}")
        return _Zone(custom, "UTC", f"time zone {_quote(tzid)} matches no known zone: its times are kept in UTC")

    def _fallback(self, reason: str) -> _Zone:
        """The calendar's zone (or UTC) for a TZID that cannot be used, with the reason as the note."""
        return _Zone(zoneinfo.ZoneInfo(self.fallback), self.fallback, f"{reason}: read as {self.fallback}")


@functools.lru_cache(maxsize=1)
def _iana_names() -> dict[str, str]:
    """Lower-cased IANA names to their spelling (TZIDs arrive in any case)."""
    return {name.lower(): name for name in zoneinfo.available_timezones() if name not in ("Factory", "localtime")}


@functools.lru_cache(maxsize=64)
def _custom_zone(definition: bytes) -> tzinfo:
    # Read as the resource was: a value the zone does not need (a broken LAST-MODIFIED) must not cost it.
    components = _TolerantParser(definition, _COMPONENTS, icalendar.Calendar.types_factory).parse()
    if len(components) != 1 or not isinstance(components[0], icalendar.Timezone):
        raise ValueError("not a VTIMEZONE")
    return components[0].to_tz(tzp, lookup_tzid=False)


@functools.lru_cache(maxsize=64)
def _equivalent_zone(definition: bytes, tzid: str, year: int) -> str:
    """An IANA zone with the same UTC offsets as a VTIMEZONE around `year`, preferring one the TZID names."""
    custom = _custom_zone(definition)
    # Twice a month over three years, then every day of the half-months and every hour of the days in
    # which the offset changes: zones sharing offsets differ in their change-over (Europe's last Sunday
    # against America's second, Havana's midnight against New York's 2 a.m.).
    checks: list[tuple[datetime, timedelta | None]] = []
    coarse = [
        datetime(y, month, day, 12, tzinfo=UTC)
        for y in (year - 1, year, year + 1)
        for month in range(1, 13)
        for day in (1, 15)
    ]
    for step in (None, timedelta(days=1), timedelta(hours=1)):
        points = coarse if step is None else _refined(checks, step)
        found = [(moment, moment.astimezone(custom).utcoffset()) for moment in points]
        checks.extend(found)
        checks.sort()
    for name in _candidates(tzid):
        zone = zoneinfo.ZoneInfo(name)
        if all(moment.astimezone(zone).utcoffset() == offset for moment, offset in checks):
            return name
    return ""


def _refined(checks: list[tuple[datetime, timedelta | None]], step: timedelta) -> list[datetime]:
    """Points `step` apart inside each interval of `checks` across which the offset changes."""
    points = []
    for (before, offset), (after, next_offset) in itertools.pairwise(checks):
        if offset != next_offset:
            moment = before + step
            while moment < after:
                points.append(moment)
                moment += step
    return points


def _candidates(tzid: str) -> list[str]:
    """IANA zones to compare a custom zone with: cities its TZID names first, then each Windows zone's
    representative (the zones Outlook's custom definitions mostly copy), then the rest."""
    names = sorted(name for name in _iana_names().values() if name.split("/", 1)[0] in REGIONS and "/" in name)
    words = set(re.findall(r"[a-z]+(?: [a-z]+)*", tzid.lower().replace("_", " ")))
    text = " ".join(sorted(words))
    named = [name for name in names if re.search(rf"\b{re.escape(_city(name))}\b", text)]
    common = [name for name in WINDOWS_TO_OLSON.values() if name in names]
    return list(dict.fromkeys([*named, *common, *names, "UTC"]))


def _city(name: str) -> str:
    return name.rsplit("/", 1)[-1].replace("_", " ").lower()


# -- helpers -------------------------------------------------------------------------------------------


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _readable(value: Any) -> Any:
    """The first value, or None when there is none or it could not be read (a vBroken raises on `.dt`)."""
    value = _first(value)
    return None if isinstance(value, vBroken) else value


def as_list(value: Any) -> list[Any]:
    """A property's values as a list: icalendar gives one value, a list of them, or None."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def readable_time(prop: Any) -> EventTime | None:
    """The date or date-time of a DTSTART-like property (the first, if repeated); None when it is missing or
    could not be read (icalendar raises on a broken value's `.dt`)."""
    value = getattr(_readable(prop), "dt", None)
    return value if isinstance(value, date) else None


def _text(value: Any) -> str:
    value = _first(value)
    if value is None or isinstance(value, vBroken):
        return ""
    # PostgreSQL text cannot hold NUL.
    return str(value).replace("\x00", "")


def _quote(value: Any) -> str:
    return repr(_text(value)[:64])


def _first_line(message: str) -> str:
    return message.splitlines()[0][:120] if message else "no content"


def _params(value: Any) -> Any:
    return getattr(value, "params", {}) or {}


def _email(address: Any) -> str:
    value = _text(address).strip()
    if value.lower().startswith("mailto:"):
        return value[len("mailto:") :].strip()
    email = _text(_params(address).get("EMAIL")).strip()
    if email:
        return email
    return value if "@" in value and ":" not in value else ""


def _conference_url(vevent: icalendar.Component) -> str:
    # RFC 7986 CONFERENCE: several may be given; a video one is what the detail panel should open.
    conferences = sorted(
        as_list(vevent.get("CONFERENCE")), key=lambda prop: "VIDEO" not in _text(_params(prop).get("FEATURE")).upper()
    )
    for prop in conferences:
        link = _web_link(_text(prop))
        if link:
            return link
    for name in CONFERENCE_PROPERTIES:
        link = _web_link(_text(vevent.get(name)))
        if link:
            return link
    for name in ("URL", "LOCATION", "DESCRIPTION"):
        found = CONFERENCE_LINK.search(_text(vevent.get(name)))
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
    sequence = _text(vevent.get("SEQUENCE")).strip()
    if sequence.lstrip("-").isdigit():
        data["sequence"] = int(sequence)
    modified = _readable(vevent.get("LAST-MODIFIED"))
    if isinstance(getattr(modified, "dt", None), datetime):
        data["last_modified"] = modified.dt.isoformat()
    for name, key in (("TRANSP", "transparency"), ("CLASS", "class")):
        value = _text(vevent.get(name)).strip().upper()
        if value:
            data[key] = value[:32]
    url = _web_link(_text(vevent.get("URL")))
    if url and not CONFERENCE_LINK.match(url):
        data["url"] = url
    return data


def _with_problems(event: RemoteEvent, problems: Iterable[str]) -> RemoteEvent:
    merged = tuple(dict.fromkeys([*event.problems, *problems]))
    if merged == event.problems:
        return event
    return replace(event, problems=merged)


def _kind(value: EventTime) -> str:
    if not isinstance(value, datetime):
        return "date"
    return "floating" if value.tzinfo is None else "aware"


def _like(value: EventTime, model: EventTime) -> EventTime:
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
        return False  # _like made them alike; a mix cannot be compared
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
