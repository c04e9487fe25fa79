"""Recurring series: expand a stored master's RRULE/EXDATE/RDATE lines into occurrences, and find its end.

Expansion runs on wall-clock time in the series' own zone, then attaches the zone to each occurrence: a
09:00 weekly meeting in Berlin stays at 09:00 local across the DST change (07:00 UTC in summer, 08:00 in
winter), as RFC 5545 requires. All-day series expand on dates and floating series on naive times.

Values in the lines may be written in another zone than the series (an EXDATE in UTC, an UNTIL with `Z`):
each is converted to the series' wall clock before it is compared.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, HOURLY, MONTHLY, WEEKLY, YEARLY, rrule, rruleset, rrulestr, weekday
from icalendar.parser import Contentline

# A series with more occurrences than this, or one still running this many years after it began, is treated
# as never ending when its end is computed: the end only narrows which masters a window query reads, so
# "never" is a safe answer, and both bounds keep a sparse rule from being walked to the year 9999.
MAX_OCCURRENCES_FOR_END = 5000
MAX_YEARS_FOR_END = 200

# The most days one period of each frequency can hold: a BYSETPOS beyond that never picks anything.
_DAYS_PER_PERIOD = {YEARLY: 366, MONTHLY: 31, WEEKLY: 7, DAILY: 1}

# The Gregorian calendar repeats every 400 years, weekdays included (146,097 days = 20,871 weeks = 4,800
# months), so a rule started 400·n years later walks the same days in the same periods.
CALENDAR_CYCLE_YEARS = 400

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


def ruleset(series: Series, *, near: datetime | None = None) -> rruleset:
    """The series as a dateutil rruleset over naive wall-clock times. With `near` (a wall-clock time), rules
    may start later, at an occurrence shortly before it, so reading a window need not walk years of them."""
    rules = rruleset()
    dtstart = series.wall_start
    has_rule = False
    for line in series.lines:
        try:
            name, params, value = Contentline(line).parts()
        except ValueError as exc:
            raise RecurrenceError(f"unreadable recurrence line {line[:80]!r}") from exc
        name = name.upper()
        if name in ("RRULE", "EXRULE"):
            rule = _occurring_rule(value, dtstart, series.zone)
            if rule is not None:
                rule = _fast_forwarded(rule, near) if near is not None else rule
                (rules.rrule if name == "RRULE" else rules.exrule)(rule)
            has_rule = has_rule or name == "RRULE"
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
    earliest = start - series.duration
    for moment in ruleset(series, near=earliest).between(earliest, end, inc=True):
        if moment < end and moment + series.duration > start:
            yield moment


def series_end(series: Series) -> datetime | None:
    """The instant the last occurrence ends (aware UTC; naive-as-UTC for all-day/floating), or None if never."""
    if any(_unbounded(line) for line in series.lines):
        return None
    rules = ruleset(series)
    horizon = _years_later(series.wall_start, MAX_YEARS_FOR_END)
    last: datetime | None = None
    for index, moment in enumerate(rules):
        if index >= MAX_OCCURRENCES_FOR_END or moment > horizon:
            return None
        last = moment
    if last is None:
        return None
    return as_stored(last + series.duration, series.zone)


def never_occurs(rule: rrule) -> bool:
    """True if the rule yields no occurrence in the first 400 years of its pattern.

    Checked on a copy started near the year 9999 (same calendar, same period alignment), so dateutil's search
    for a first match ends there instead of walking ~8,000 years. A cheap probe on days alone (yearly or
    monthly periods, interval 1) settles the common case; the full rule is probed only when a day matches,
    to catch a BYSETPOS or INTERVAL that never lands on one.
    """
    if _setpos_out_of_reach(rule):
        return True
    start = _late_start(_part(rule, "_dtstart"))  # dateutil keeps the start only here
    if start is None:
        return False  # a series this late ends at the year 9999 within a few centuries anyway
    unbounded: dict[str, Any] = {"dtstart": start, "count": None, "until": None}
    freq = _part(rule, "_freq")
    days = rule.replace(
        **unbounded,
        freq=freq if freq in (YEARLY, MONTHLY) else YEARLY,
        interval=1,
        bysetpos=None,
        byhour=start.hour,
        byminute=start.minute,
        bysecond=start.second,
        byweekday=_weekdays_for(rule, freq),
    )
    if _first(days) is None:
        return True
    return _first(rule.replace(**unbounded)) is None


def as_stored(wall: datetime, zone: tzinfo | None) -> datetime:
    """A wall-clock time of the series as the database stores it: UTC for zoned series, naive-as-UTC otherwise."""
    if zone is None:
        return wall.replace(tzinfo=UTC)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _unbounded(line: str) -> bool:
    """An RRULE line with neither COUNT nor UNTIL: its series never ends."""
    upper = line.upper()
    return upper.startswith("RRULE") and "COUNT=" not in upper and "UNTIL=" not in upper


def _years_later(moment: datetime, years: int) -> datetime:
    return moment.replace(year=min(moment.year + years, MAXYEAR), month=1, day=1)


def _late_start(start: datetime) -> datetime | None:
    """`start` moved on by whole 400-year cycles to between 400 and 800 years before the year 9999."""
    latest = MAXYEAR - CALENDAR_CYCLE_YEARS
    cycles = (latest - start.year) // CALENDAR_CYCLE_YEARS
    if cycles <= 0:
        return None
    return start.replace(year=start.year + cycles * CALENDAR_CYCLE_YEARS)


def _setpos_out_of_reach(rule: rrule) -> bool:
    positions = _part(rule, "_bysetpos")  # dateutil keeps the parsed parts only here
    if not positions:
        return False
    most = _DAYS_PER_PERIOD.get(_part(rule, "_freq"), 1) * len(_part(rule, "_timeset") or ())
    return min(abs(position) for position in positions) > most


def _weekdays_for(rule: rrule, freq: int) -> tuple[weekday, ...] | None:
    """BYDAY for the day probe: "the 2nd Monday" keeps its meaning under yearly and monthly periods only."""
    given = _part(rule, "_original_rule").get("byweekday")  # the rule as written, without defaults
    if not given:
        return None
    if freq in (YEARLY, MONTHLY):
        return tuple(given)
    return tuple(weekday(day.weekday) for day in given)


def _part(rule: rrule, name: str) -> Any:
    """A parsed part of a dateutil rule: it keeps them only in private attributes, untyped."""
    return getattr(rule, name)


def _first(rule: rrule) -> datetime | None:
    return next(iter(rule), None)


@functools.lru_cache(maxsize=4096)
def _occurring_rule(value: str, dtstart: datetime, zone: tzinfo | None) -> rrule | None:
    """The parsed rule, or None for a rule that never matches a day (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30):
    it contributes nothing, but dateutil would search to the year 9999 for it on every expansion.

    Cached: the week view expands the same series on every page, and parsing and probing a rule cost more
    than expanding a week of it. Rules are never changed after parsing, so sharing them is safe."""
    rule = _rule(value, dtstart, zone)
    return None if never_occurs(rule) else rule


def _rule(value: str, dtstart: datetime, zone: tzinfo | None) -> rrule:
    if "BYEASTER" in value.upper():
        raise RecurrenceError("BYEASTER is not part of iCalendar")
    value = _UNTIL.sub(lambda match: "UNTIL=" + _until_on_wall_clock(match.group(1), zone), value)
    try:
        parsed = rrulestr(value, dtstart=dtstart, ignoretz=True)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"unreadable RRULE {value[:80]!r}") from exc
    if not isinstance(parsed, rrule):  # pragma: no cover - a bare RRULE value always parses to one rule
        raise RecurrenceError(f"unexpected RRULE {value[:80]!r}")
    # No calendar offers series more frequent than hourly, and a BYSETPOS over one-hour periods can only
    # pick the one hour or none: expanding either is all cost and no calendar.
    if _part(parsed, "_freq") > HOURLY:  # dateutil keeps the frequency only here
        raise RecurrenceError("a series that repeats more often than hourly")
    if _part(parsed, "_freq") == HOURLY and _part(parsed, "_bysetpos"):
        raise RecurrenceError("BYSETPOS on an hourly series")
    return parsed


def _fast_forwarded(rule: rrule, near: datetime) -> rrule:
    """A daily or weekly rule without COUNT, restarted a whole number of its periods later, at least one
    period before `near`: every period holds the same pattern, so it yields the same occurrences from there
    on (dateutil walks every occurrence from the start, which for a daily series of five years is 1,800).
    Other rules are returned as they are: their periods differ in length, or COUNT counts from the start."""
    freq, count = _part(rule, "_freq"), _part(rule, "_count")
    if freq not in (DAILY, WEEKLY) or count is not None:
        return rule
    period = timedelta(days=_part(rule, "_interval") * (7 if freq == WEEKLY else 1))
    start: datetime = _part(rule, "_dtstart")
    periods = (near - start) // period - 1
    if periods <= 0:
        return rule
    # Days and weeks on the wall clock: the time of day and the weekday stay as they were.
    return rule.replace(dtstart=start + periods * period)


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


def split_series(series: Series, at: datetime, *, all_day: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A series cut at the occurrence starting at `at` (stored form): the lines of the part before it (its
    rules end just before `at`) and of the part from it on (a rule with a COUNT keeps the occurrences left).

    UNTIL follows RFC 5545: a date for an all-day series, UTC for a zoned one, local for a floating one.
    """
    wall_at = at.astimezone(series.zone).replace(tzinfo=None) if series.zone else at.replace(tzinfo=None)
    before_count = _count_before(series, wall_at) if any("COUNT=" in line.upper() for line in series.lines) else 0
    if all_day:
        until = (wall_at - timedelta(days=1)).strftime("%Y%m%d")
    elif series.zone is not None:
        until = (at.astimezone(UTC) - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    else:
        until = (wall_at - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S")
    before: list[str] = []
    after: list[str] = []
    for line in series.lines:
        name, _, value = line.partition(":")
        if name.split(";")[0].upper() != "RRULE":
            before.append(line)
            after.append(line)
            continue
        parts = [part for part in value.split(";") if part and part.split("=")[0].upper() not in ("UNTIL", "COUNT")]
        before.append(f"{name}:{';'.join([*parts, f'UNTIL={until}'])}")
        count = _rule_part(value, "COUNT")
        if count is not None and count.isdigit():
            parts.append(f"COUNT={max(1, int(count) - before_count)}")
        elif (kept_until := _rule_part(value, "UNTIL")) is not None:
            parts.append(f"UNTIL={kept_until}")
        after.append(f"{name}:{';'.join(parts)}")
    return tuple(before), tuple(after)


def _count_before(series: Series, wall_at: datetime) -> int:
    count = 0
    for moment in ruleset(series):
        if moment >= wall_at:
            break
        count += 1
    return count


def _rule_part(value: str, name: str) -> str | None:
    for part in value.split(";"):
        key, _, found = part.partition("=")
        if key.upper() == name:
            return found
    return None
