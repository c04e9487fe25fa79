"""Reading iCalendar text with icalendar's parser, tolerantly: one value that cannot be read costs itself.

icalendar keeps unreadable values only inside a VEVENT; in a VALARM, a VTIMEZONE or the VCALENDAR one would
cost the whole resource. `TolerantParser` keeps every one as a vBroken (noted where it is read, written back
as it came), and caches a VTIMEZONE for conversions only when its rules are cheap to evaluate and readable
(MAX_TIMEZONE_RULE_PER_YEAR).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import icalendar
from icalendar.cal.component_factory import ComponentFactory
from icalendar.error import GloballyUniqueTZIDGuessed
from icalendar.parser.ical import CalendarIcalParser
from icalendar.prop import vBroken
from icalendar.timezone import tzp

from connections.providers.base import INTERRUPTS
from connections.providers.ical.properties import as_list, quoted

# icalendar warns when it reads "/vendor/Europe/Berlin" as Europe/Berlin; that reading is ours to make
# (iana_name), and the warning would otherwise repeat for every such event of every sync.
warnings.filterwarnings("ignore", category=GloballyUniqueTZIDGuessed)

# dateutil evaluates a VTIMEZONE rule by walking it from its DTSTART (often 1601) on each conversion, so a
# rule with many occurrences a year (FREQ=SECONDLY, long BY* lists) would stall the parser: such a zone is
# never evaluated, and its times are read as its IANA equivalent or the calendar's zone. Real zones change
# once or twice a year; Lotus Notes / Domino spell the hour out (BYHOUR=2;BYMINUTE=0), which costs nothing.
MAX_TIMEZONE_RULE_PER_YEAR = 12


# Days a month an ordinal weekday (-1SU) or a plain one (SU) can fall on, at most.
WEEKDAYS_PER_MONTH = 5


COMPONENTS = ComponentFactory()


class ICalendarError(ValueError):
    """The resource cannot be turned into events at all. The message is the reason a SkippedItem gives."""


def read_calendar(data: bytes) -> icalendar.Calendar:
    """A resource's VCALENDAR as icalendar components, for a write that changes it in place (everything it
    does not touch, unreadable values included, is written back as it was). The same parser as
    `parse_resource`; ICalendarError when the text cannot be read, or holds a time zone that cannot be
    evaluated (a write works on the resource's own times, which reading could only approximate)."""
    try:
        calendar = parse_calendar(data)
        for zone in calendar.walk("VTIMEZONE"):
            if costly_rules(zone) or unreadable_observances(zone):
                raise ICalendarError(f"the time zone {quoted(zone.get('TZID'))} cannot be evaluated")
        return calendar
    except INTERRUPTS:
        raise
    except ICalendarError:
        raise
    except Exception as exc:
        interrupt = interrupt_behind(exc)
        if interrupt is not None:
            raise interrupt from None
        raise ICalendarError(f"not iCalendar data ({type(exc).__name__})") from None


def interrupt_behind(exc: BaseException) -> BaseException | None:
    """A time limit that struck while a library was handling an error, found in the chain of contexts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, INTERRUPTS):
            return current
        seen.add(id(current))
        current = current.__context__
    return None


class TolerantParser(CalendarIcalParser):
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
        if "TZID" not in zone or costly_rules(zone) or unreadable_observances(zone):
            return
        # An unreadable part leaves the zone uncached: `zones.Zones` notes it on the events that use the zone.
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            tzp.cache_timezone_component(zone)


def parse_calendar(data: bytes) -> icalendar.Calendar:
    """The one VCALENDAR of a resource; ICalendarError when there is not exactly one."""
    try:
        components = TolerantParser(data, COMPONENTS, icalendar.Calendar.types_factory).parse()
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


def unreadable_notes(component: icalendar.Component, where: str) -> list[str]:
    """A note for each value of `component`'s own that could not be read; `where` follows the property's
    name ("", " of the calendar", ...)."""
    return [
        f"unreadable {name}{where} ignored"
        for name, values in component.items()
        for value in as_list(values)
        if isinstance(value, vBroken)
    ]


def unreadable_observances(vtimezone: icalendar.Component) -> bool:
    """Whether a value of the zone's STANDARD or DAYLIGHT parts could not be read: icalendar would build
    the zone from the parts it can read, which is another zone."""
    return any(unreadable_notes(observance, "") for observance in vtimezone.subcomponents)


def costly_rules(vtimezone: icalendar.Component) -> bool:
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


def _first_line(message: str) -> str:
    return message.splitlines()[0][:120] if message else "no content"
