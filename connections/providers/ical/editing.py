"""The changes CalDAV writes make to a resource's VCALENDAR, in place and without any HTTP.

An event is one calendar object resource (RFC 4791 4.1): a VCALENDAR whose VEVENTs share one UID, the master
and the overrides of single occurrences (RECURRENCE-ID). A change edits the parsed VCALENDAR in place, so
that everything calsync does not own (attendees, alarms, X- properties, VTIMEZONEs, other overrides) is
written back as it was:

- update: the draft's fields on the master or on one occurrence's override (made from the master when there
  is none). A whole series moved (its master's DTSTART): its EXDATEs, RDATEs, a date-time UNTIL and every
  override's RECURRENCE-ID move the same wall-clock distance in its zone (`series_moves`), and an override
  that was only changed (not moved) moves with it; recurrence lines the draft brings changed are written as
  they are, in terms of the new start. Without this, cancelled occurrences come back and moved ones show
  twice.
- cancelling one occurrence adds an EXDATE (in the form of the master's DTSTART) to the master and drops the
  occurrence's override.
- respond: PARTSTAT of the person's own ATTENDEE and nothing else: RFC 6638 3.2.2.1 allows an attendee's
  client few changes, and the server sends the reply to the organizer itself.

The HTTP side (GET, PUT with If-Match, status codes) is `caldav.writing`.
"""

from __future__ import annotations

import copy
import logging
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import icalendar
from icalendar.prop import vBroken, vDDDLists, vDDDTypes

from connections.providers.base import (
    Conflict,
    EventDraft,
    EventGone,
    EventTime,
    ProviderError,
    RemoteEvent,
    WriteRefused,
)
from connections.providers.ical.properties import as_list, calendar_address, property_text, readable_time, time_kind
from connections.providers.ical.series_moves import SeriesMove
from connections.providers.ical.tolerant import ICalendarError, read_calendar
from connections.providers.ical.zones import iana_name

logger = logging.getLogger(__name__)

PRODID = "-//calsync//calsync two-way sync//EN"


RECURRENCE_PROPERTIES = ("RRULE", "EXRULE", "RDATE", "EXDATE")


# VTIMEZONEs calsync writes cover this span at least (icalendar's default ends in 2038).
TIMEZONE_YEARS_AHEAD = 30


UNREADABLE = "calsync cannot read the server's copy of this event ({reason}), so it cannot change it."


@dataclass(frozen=True)
class Edit:
    """What a change did to a resource's VCALENDAR."""

    changed: bool
    # The occurrence whose override the result names (None: the resource's own id).
    occurrence: EventTime | None = None
    # The resource holds no event any more: delete it instead of writing it back.
    delete: bool = False


def apply_update(
    calendar: icalendar.Calendar,
    events: tuple[RemoteEvent, ...],
    *,
    href: str,
    occurrence: EventTime | None,
    draft: EventDraft,
    now: datetime,
) -> Edit:
    """The draft on the resource: on its master (the series moved with its exceptions, see the module's
    docstring) or, for an occurrence, on that occurrence's override. `events` are the parser's reading of
    the resource (its id `href`)."""
    master = master_of(calendar)
    if occurrence is None:
        if master is None:
            raise WriteRefused("Only some occurrences of this series are in your calendar: change them one at a time.")
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
        return Edit(changed)
    override = _override(calendar, occurrence)
    if override is None:
        override = _new_override(calendar, master, occurrence)
        parsed = None
    else:
        parsed = occurrence_event(events, href, occurrence)
    changed = _apply_draft(override, draft, parsed)
    if changed:
        _touch(override, now)
        _add_timezones(calendar, draft.start)
    return Edit(changed, occurrence=occurrence)


def cancel_occurrence(calendar: icalendar.Calendar, occurrence: EventTime, now: datetime) -> Edit:
    """One occurrence cancelled: an EXDATE on the master, its override dropped (a resource left without any
    event is deleted)."""
    removed = _remove_overrides(calendar, occurrence)
    master = master_of(calendar)
    if master is None:
        if not _vevents(calendar):
            return Edit(True, delete=True)
        return Edit(removed)
    _require_series(master)
    added = exclude(master, occurrence)
    if added or removed:
        _touch(master, now)
    return Edit(added or removed)


def apply_response(calendar: icalendar.Calendar, occurrence: EventTime | None, partstat: str, owners: set[str]) -> Edit:
    """The person's PARTSTAT (`owners`: their addresses, lower-cased) on the series or one occurrence."""
    master = master_of(calendar)
    if occurrence is not None:
        override = _override(calendar, occurrence)
        if override is None:
            if master is not None and _own_partstat(master, owners) == partstat:
                return Edit(False)  # the occurrence follows the series, which says so already
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
        raise WriteRefused("You are not on this event's guest list at the server, so there is nothing to answer.")
    return Edit(changed, occurrence=occurrence)


# -- building and changing components --------------------------------------------------------------------


def revision_time() -> datetime:
    """Now, to the second, for DTSTAMP, CREATED and LAST-MODIFIED."""
    return datetime.now(UTC).replace(microsecond=0)


def check_draft(draft: EventDraft) -> None:
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


def new_calendar(draft: EventDraft, uid: str, now: datetime) -> icalendar.Calendar:
    check_draft(draft)
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
        if property_text(vevent.get(name)) == value:
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
        time_kind(parsed.start) == time_kind(draft.start)
        and parsed.start == draft.start
        and parsed.end == draft.end
        and parsed.timezone == _zone_label(draft.start, draft.timezone)
    )


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
    if is_excluded(master, occurrence):
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


def exclude(master: icalendar.Component, occurrence: EventTime) -> bool:
    """Add an EXDATE for the occurrence; False when one is there already."""
    if is_excluded(master, occurrence):
        return False
    single = _occurrence_prop(master, occurrence)
    exdate = vDDDLists([single.dt])
    exdate.params = copy.deepcopy(single.params)
    master.add("EXDATE", exdate)
    return True


def is_excluded(master: icalendar.Component, occurrence: EventTime) -> bool:
    return any(_same_occurrence(value, occurrence) for value in _list_values(master, "EXDATE"))


def _occurrence_prop(master: icalendar.Component, occurrence: EventTime) -> vDDDTypes:
    """The occurrence as a RECURRENCE-ID/EXDATE value in the form of the master's DTSTART (RFC 5545
    3.8.4.4: the same value type, and the same TZID)."""
    start = master.get("DTSTART")
    model = readable_time(start)
    if model is None:
        raise WriteRefused(UNREADABLE.format(reason="the series has no readable start"))
    tzid = str(start.params.get("TZID", "")) if isinstance(model, datetime) and model.tzinfo is not None else ""
    value = _like_through_utc(occurrence, model)
    if isinstance(value, datetime) and value.tzinfo is not None and not tzid:
        value = value.astimezone(UTC)
    prop = vDDDTypes(value)
    if tzid:
        prop.params["TZID"] = tzid
    if not isinstance(value, datetime):
        prop.params["VALUE"] = "DATE"
    return prop


def _like_through_utc(value: EventTime, model: EventTime) -> EventTime:
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


def master_of(calendar: icalendar.Calendar) -> icalendar.Component | None:
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


def occurrence_event(events: Iterable[RemoteEvent], href: str, occurrence: EventTime) -> RemoteEvent | None:
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


def occurrence_of_key(key: str) -> EventTime:
    """The occurrence an override id names after its "#" (`parsing.override_id`: UTC, date or floating)."""
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


def resource_uids(data: bytes) -> set[str]:
    try:
        calendar = read_calendar(data)
    except ICalendarError:
        return set()
    return {str(vevent.get("UID", "")) for vevent in _vevents(calendar)}
