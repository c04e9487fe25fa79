"""Time zones of an iCalendar resource: the IANA zone each TZID stands for.

An IANA TZID (also Windows names and vendor-prefixed ones like `/mozilla.org/.../Europe/Berlin`) is used as
that IANA zone. A TZID defined only by the resource's VTIMEZONE is built from that VTIMEZONE (here, per
resource: icalendar's own cache of such zones is process-wide and first-come, so one calendar's "Custom" zone
would otherwise bend another's) and then named after an IANA zone with the same offsets, so recurrences expand
on the right wall clock; with no such zone, its times become UTC instants. A TZID with no usable definition
is read in the calendar's zone, with a note (the parsing module's docstring says why).
"""

from __future__ import annotations

import functools
import itertools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import icalendar
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from connections.providers.ical.properties import property_text, quoted
from connections.providers.ical.tolerant import COMPONENTS, TolerantParser, costly_rules, unreadable_observances

# Areas of canonical IANA names; the rest (US/Eastern, Canada/Pacific, Etc/GMT+5, ...) are aliases.
REGIONS = {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}


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


@dataclass(frozen=True)
class Zone:
    tzinfo: tzinfo
    name: str  # IANA name for display and expansion; "UTC" when times were turned into instants
    problem: str = ""


class Zones:
    """The resource's time zones by TZID, resolved once each."""

    def __init__(self, calendar: icalendar.Calendar, fallback: str) -> None:
        self.definitions = {
            str(component.get("TZID", "")): component
            for component in calendar.subcomponents
            if component.name == "VTIMEZONE"
        }
        self.fallback = fallback
        self.resolved: dict[str, Zone] = {}

    def resolve(self, tzid: str, near: datetime) -> Zone:
        if tzid not in self.resolved:
            self.resolved[tzid] = self._resolve(tzid, near)
        return self.resolved[tzid]

    def _resolve(self, tzid: str, near: datetime) -> Zone:
        name = iana_name(tzid)
        if name:
            return Zone(zoneinfo.ZoneInfo(name), name)
        definition = self.definitions.get(tzid)
        if definition is None:
            return self._fallback(f"unknown time zone {quoted(tzid)}")
        location = iana_name(property_text(definition.get("X-LIC-LOCATION")))
        if location:
            return Zone(zoneinfo.ZoneInfo(location), location)
        if costly_rules(definition):
            return self._fallback(f"time zone {quoted(tzid)} has rules too costly to evaluate")
        if unreadable_observances(definition):
            return self._fallback(f"unreadable time zone {quoted(tzid)}")
        try:
            equivalent = _equivalent_zone(definition.to_ical(), tzid, near.year)
            custom = _custom_zone(definition.to_ical())
        except (ValueError, TypeError, KeyError, AttributeError):
            return self._fallback(f"unreadable time zone {quoted(tzid)}")
        if equivalent:
            return Zone(zoneinfo.ZoneInfo(equivalent), equivalent, f"time zone {quoted(tzid)} read as {equivalent}")
        return Zone(custom, "UTC", f"time zone {quoted(tzid)} matches no known zone: its times are kept in UTC")

    def _fallback(self, reason: str) -> Zone:
        """The calendar's zone (or UTC) for a TZID that cannot be used, with the reason as the note."""
        return Zone(zoneinfo.ZoneInfo(self.fallback), self.fallback, f"{reason}: read as {self.fallback}")


@functools.lru_cache(maxsize=1)
def _iana_names() -> dict[str, str]:
    """Lower-cased IANA names to their spelling (TZIDs arrive in any case)."""
    return {name.lower(): name for name in zoneinfo.available_timezones() if name not in ("Factory", "localtime")}


@functools.lru_cache(maxsize=64)
def _custom_zone(definition: bytes) -> tzinfo:
    # Read as the resource was: a value the zone does not need (a broken LAST-MODIFIED) must not cost it.
    components = TolerantParser(definition, COMPONENTS, icalendar.Calendar.types_factory).parse()
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
