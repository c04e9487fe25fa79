"""Recurring series: expand a stored master's RRULE/EXDATE/RDATE lines into occurrences, and find its end.

Expansion runs on wall-clock time in the series' own zone, then attaches the zone to each occurrence: a
09:00 weekly meeting in Berlin stays at 09:00 local across the DST change (07:00 UTC in summer, 08:00 in
winter), as RFC 5545 requires. All-day series expand on dates and floating series on naive times.

Values in the lines may be written in another zone than the series (an EXDATE in UTC, an UNTIL with `Z`):
each is converted to the series' wall clock before it is compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rruleset, rrulestr
from icalendar.parser import Contentline

# A series with more occurrences than this is treated as never ending when its end is computed: the end
# only narrows which masters a window query reads, so "never" is a safe answer.
MAX_OCCURRENCES_FOR_END = 5000

_UNTIL = re.compile(r"UNTIL=([0-9]{8}(?:T[0-9]{6}Z?)?)", re.IGNORECASE)


class RecurrenceError(ValueError):
    """The recurrence lines cannot be understood."""


@dataclass(frozen=True)
class Series:
    """A master's timing as stored: `start` is an aware UTC instant, or a naive value for all-day (midnight)
    and floating series; `zone` is the series' zone (None for all-day and floating)."""

    start: datetime
    duration: timedelta
    lines: tuple[str, ...]
    zone: tzinfo | None = None

    @property
    def wall_start(self) -> datetime:
        """The first occurrence on the series' wall clock (naive)."""
        if self.zone is None:
            return self.start.replace(tzinfo=None)
        return self.start.astimezone(self.zone).replace(tzinfo=None)


def zone_or_none(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def split_lines(text: str) -> tuple[str, ...]:
    return tuple(line for line in (part.strip() for part in text.splitlines()) if line)


def ruleset(series: Series) -> rruleset:
    """The series as a dateutil rruleset over naive wall-clock times."""
    rules = rruleset()
    dtstart = series.wall_start
    has_rule = False
    for line in series.lines:
        try:
            name, params, value = Contentline(line).parts()
        except ValueError as exc:
            raise RecurrenceError(f"unreadable recurrence line {line[:80]!r}") from exc
        name = name.upper()
        if name == "RRULE":
            rules.rrule(_rule(value, dtstart, series.zone))
            has_rule = True
        elif name == "EXRULE":
            rules.exrule(_rule(value, dtstart, series.zone))
        elif name in ("EXDATE", "RDATE"):
            for moment in _values(value, params, series.zone, dtstart):
                (rules.exdate if name == "EXDATE" else rules.rdate)(moment)
                has_rule = has_rule or name == "RDATE"
    if not has_rule:
        raise RecurrenceError("no RRULE or RDATE")
    rules.rdate(dtstart)  # the first occurrence is DTSTART itself, even when the rule would not produce it
    return rules


def occurrences_between(series: Series, start: datetime, end: datetime) -> Iterator[datetime]:
    """Wall-clock starts (naive) of occurrences that begin before `end` and end after `start` (both naive
    wall-clock bounds in the series' zone; callers widen them for zone changes and filter exactly)."""
    for moment in ruleset(series).between(start - series.duration, end, inc=True):
        if moment < end and moment + series.duration > start:
            yield moment


def series_end(series: Series) -> datetime | None:
    """The instant the last occurrence ends (aware UTC; naive-as-UTC for all-day/floating), or None if never."""
    rules = ruleset(series)
    last: datetime | None = None
    for index, moment in enumerate(rules):
        if index >= MAX_OCCURRENCES_FOR_END:
            return None
        last = moment
    if last is None:
        return None
    return as_stored(last + series.duration, series.zone)


def as_stored(wall: datetime, zone: tzinfo | None) -> datetime:
    """A wall-clock time of the series as the database stores it: UTC for zoned series, naive-as-UTC otherwise."""
    if zone is None:
        return wall.replace(tzinfo=UTC)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _rule(value: str, dtstart: datetime, zone: tzinfo | None) -> rrule:
    value = _UNTIL.sub(lambda match: "UNTIL=" + _until_on_wall_clock(match.group(1), zone), value)
    try:
        parsed = rrulestr(value, dtstart=dtstart, ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"unreadable RRULE {value[:80]!r}") from exc
    if not isinstance(parsed, rrule):  # pragma: no cover - a bare RRULE value always parses to one rule
        raise RecurrenceError(f"unexpected RRULE {value[:80]!r}")
    return parsed


def _until_on_wall_clock(until: str, zone: tzinfo | None) -> str:
    """UNTIL in UTC (`Z`) converted to the series' wall clock; a date means through the end of that day."""
    if len(until) == 8:
        return until + "T235959"
    if until.upper().endswith("Z") and zone is not None:
        instant = datetime.strptime(until[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return instant.astimezone(zone).strftime("%Y%m%dT%H%M%S")
    return until[:15]


def _values(value: str, params: dict[str, str], zone: tzinfo | None, dtstart: datetime) -> Iterable[datetime]:
    value_zone = zone_or_none(params.get("TZID", "")) if params.get("TZID") else None
    for raw in value.split(","):
        raw = raw.strip()
        if not raw:
            continue
        if "/" in raw:  # a PERIOD (start/end or start/duration): its start is the occurrence
            raw = raw.split("/", 1)[0]
        yield _on_wall_clock(raw, value_zone, zone, dtstart)


def _on_wall_clock(raw: str, value_zone: tzinfo | None, zone: tzinfo | None, dtstart: datetime) -> datetime:
    try:
        if len(raw) == 8:
            day = datetime.strptime(raw, "%Y%m%d")  # noqa: DTZ007 - a wall-clock value; zones come below
            # A DATE exception of a timed series names the occurrence on that day at the series' time.
            return datetime.combine(day.date(), dtstart.time())
        moment = datetime.strptime(raw[:15], "%Y%m%dT%H%M%S")  # noqa: DTZ007 - as above
    except ValueError as exc:
        raise RecurrenceError(f"unreadable date {raw[:40]!r}") from exc
    source_zone = UTC if raw.upper().endswith("Z") else value_zone
    if source_zone is None or zone is None:
        return moment  # floating, or a series with no zone: compare wall clocks
    return moment.replace(tzinfo=source_zone).astimezone(zone).replace(tzinfo=None)
