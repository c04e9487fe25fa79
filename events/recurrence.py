"""Recurring series: expand a stored master's RRULE/EXDATE/RDATE lines into occurrences, and find its end.

Expansion runs on wall-clock time in the series' own zone, then attaches the zone to each occurrence: a
09:00 weekly meeting in Berlin stays at 09:00 local across the DST change (07:00 UTC in summer, 08:00 in
winter), as RFC 5545 requires. All-day series expand on dates and floating series on naive times.

Values in the lines may be written in another zone than the series (an EXDATE in UTC, an UNTIL with `Z`):
each is converted to the series' wall clock before it is compared. An RDATE period (`start/end` or
`start/PT3H`) gives its occurrence a length of its own (RFC 5545 3.8.5.2).

Expansion is bounded whatever the rule: a window restarts every rule near its start instead of walking from
DTSTART, and each series gives a window at most `Limits.per_day` occurrences a day and `Limits.per_window`
in all; what was left out is reported (`Expansion.truncated`), never silently dropped.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import (
    DAILY,
    HOURLY,
    MONTHLY,
    WEEKLY,
    YEARLY,
    rrule,
    rruleset,
    rrulestr,
    weekday,
)
from django.conf import settings
from icalendar import vDuration
from icalendar.parser import Contentline

# A series with more occurrences than this, or one still running this many years after it began, is treated
# as never ending when its end is computed: the end only narrows which masters a window query reads, so
# "never" is a safe answer, and both bounds keep a sparse rule from being walked to the year 9999.
MAX_OCCURRENCES_FOR_END = 5000
MAX_YEARS_FOR_END = 200

# The most occurrences one window may walk through, counted before and in it: a rule with COUNT cannot be
# restarted near the window (COUNT counts from DTSTART), so a long-running one is walked, this far at most.
MAX_STEPS_PER_WINDOW = 20_000

# The most days one period of each frequency can hold: a BYSETPOS beyond that never picks anything.
_DAYS_PER_PERIOD = {YEARLY: 366, MONTHLY: 31, WEEKLY: 7, DAILY: 1}
# The length of the periods of the frequencies whose periods all have one length (on a wall clock).
_FIXED_UNIT = {DAILY: timedelta(days=1), HOURLY: timedelta(hours=1)}

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


@dataclass(frozen=True)
class Limits:
    """How much of one series a window may show: occurrences per wall-clock day and in all, and how many
    occurrences its rules may walk through to find them."""

    per_day: int
    per_window: int
    max_steps: int = MAX_STEPS_PER_WINDOW


def default_limits() -> Limits:
    return Limits(per_day=settings.RECURRENCE_MAX_PER_DAY, per_window=settings.RECURRENCE_MAX_PER_WINDOW)


@dataclass(frozen=True)
class Expansion:
    """A window's occurrences of a series: (wall-clock start, length) in order, and whether the limits left
    some of them out."""

    occurrences: tuple[tuple[datetime, timedelta], ...]
    truncated: bool
    steps: int = 0  # occurrences the rules walked through, shown or not


def ruleset(series: Series, *, near: datetime | None = None) -> rruleset:
    """The series as a dateutil rruleset over naive wall-clock times. With `near` (a wall-clock time), rules
    may start later, shortly before it, so reading a window need not walk years of them."""
    return _ruleset(series, near)[0]


def _ruleset(series: Series, near: datetime | None) -> tuple[rruleset, bool]:
    """The rruleset, and whether it yields exactly the series' occurrences from `near` on (every rule could
    restart there; listed dates before it are left out). If not, it still yields them, after earlier ones."""
    rules = rruleset()
    dtstart = series.wall_start
    has_rule = False
    exact = True
    for line in series.lines:
        name, params, value = _parts(line)
        if name in ("RRULE", "EXRULE"):
            rule = _occurring_rule(value, dtstart, series.zone)
            if rule is not None and near is not None:
                restarted = _restarted(rule, near)
                exact = exact and restarted is not None
                rule = restarted if restarted is not None else rule
            if rule is not None:
                (rules.rrule if name == "RRULE" else rules.exrule)(rule)
            has_rule = has_rule or name == "RRULE"
        elif name in ("EXDATE", "RDATE"):
            for moment, _ in _values(value, params, series.zone, dtstart, after=near):
                has_rule = has_rule or name == "RDATE"
                if near is None or moment >= near:
                    (rules.exdate if name == "EXDATE" else rules.rdate)(moment)
    if not has_rule:
        raise RecurrenceError("no RRULE or RDATE")
    if near is None or dtstart >= near:
        rules.rdate(dtstart)  # the first occurrence is DTSTART itself, even when the rule would not produce it
    return rules, exact


def _parts(line: str) -> tuple[str, dict[str, str], str]:
    """(NAME, parameters, value) of a content line. icalendar reads a line a character at a time (0.1 s for a
    megabyte of RDATEs), so where the value surely begins at the first colon (no quoted parameter before
    it) only the name and parameters go through it."""
    head, colon, rest = line.partition(":")
    quick = bool(colon) and '"' not in head
    try:
        name, params, value = Contentline(head + ":" if quick else line).parts()
    except ValueError as exc:
        raise RecurrenceError(f"unreadable recurrence line {line[:80]!r}") from exc
    return name.upper(), params, rest if quick else value


def expand(series: Series, start: datetime, end: datetime, *, limits: Limits | None = None) -> Expansion:
    """Occurrences that begin before `end` and end after `start` (naive wall-clock bounds in the series' zone;
    callers widen them for zone changes and filter exactly), within `limits`.

    What is produced is counted: a day that reaches its limit restarts the rules at the next midnight (so a
    rule with thousands of occurrences a day is not walked through them), the window's limit ends the
    expansion, and so does `limits.max_steps` for a rule that had to be walked from its start."""
    limits = limits or default_limits()
    lengths = period_lengths(series)
    found: list[tuple[datetime, timedelta]] = []
    per_day: dict[date, int] = {}
    steps, cut = 0, False
    resume = start - longest_length(series)
    while True:
        rules, exact = _ruleset(series, resume)
        full_day: date | None = None
        for moment in rules:
            steps += 1
            if moment >= end:
                return Expansion(tuple(found), truncated=cut, steps=steps)
            if steps > limits.max_steps:
                return Expansion(tuple(found), truncated=True, steps=steps)
            length = lengths.get(moment, series.duration)
            if moment < resume or _wall_end(moment, length, series.zone) <= start:
                continue
            if len(found) >= limits.per_window:
                return Expansion(tuple(found), truncated=True, steps=steps)
            day = moment.date()
            if per_day.get(day, 0) >= limits.per_day:
                cut = True
                if exact:
                    full_day = day
                    break  # restart at the next day rather than walk the rest of this one
                continue
            per_day[day] = per_day.get(day, 0) + 1
            found.append((moment, length))
        if full_day is None:
            return Expansion(tuple(found), truncated=cut, steps=steps)
        resume = datetime.combine(full_day + timedelta(days=1), time())


def _wall_end(start: datetime, length: timedelta, zone: tzinfo | None) -> datetime:
    """When an occurrence of that length ends, on the series' wall clock (lengths are elapsed time)."""
    if zone is None:
        return start + length
    return (as_stored(start, zone) + length).astimezone(zone).replace(tzinfo=None)


def occurrences_between(
    series: Series, start: datetime, end: datetime, *, limits: Limits | None = None
) -> Iterator[datetime]:
    """Wall-clock starts (naive) of the occurrences `expand` finds."""
    for moment, _ in expand(series, start, end, limits=limits).occurrences:
        yield moment


@functools.lru_cache(maxsize=1024)
def period_lengths(series: Series) -> dict[datetime, timedelta]:
    """The lengths RDATE periods give their occurrences, by wall-clock start (RFC 5545 3.8.5.2)."""
    lengths: dict[datetime, timedelta] = {}
    for line in series.lines:
        name, params, value = _parts(line)
        if name == "RDATE":
            for moment, length in _values(value, params, series.zone, series.wall_start, periods_only=True):
                if length is not None:
                    lengths[moment] = length
    return lengths


def longest_length(series: Series) -> timedelta:
    """The longest any occurrence of the series lasts: its own length, or an RDATE period's."""
    return max([series.duration, *period_lengths(series).values()])


def series_end(series: Series) -> datetime | None:
    """The instant the last occurrence ends (aware UTC; naive-as-UTC for all-day/floating), or None if never.

    Each occurrence ends at its own length (an RDATE period can outlast later occurrences). A series too long
    to walk ends, at the latest, when its last UNTIL or period does; without an UNTIL it is endless."""
    if any(_unbounded(line) for line in series.lines):
        return None
    lengths = period_lengths(series)
    horizon = _years_later(series.wall_start, MAX_YEARS_FOR_END)
    last: datetime | None = None
    for index, moment in enumerate(ruleset(series)):
        if index >= MAX_OCCURRENCES_FOR_END or moment > horizon:
            return _latest_possible_end(series)
        ends = as_stored(moment, series.zone) + lengths.get(moment, series.duration)
        last = ends if last is None else max(last, ends)
    return last


def _latest_possible_end(series: Series) -> datetime | None:
    """An upper bound of the series' end from its UNTILs and listed periods, or None (a rule counts instead)."""
    latest: datetime | None = None
    for line in series.lines:
        name, params, value = _parts(line)
        last: datetime | None = None
        if name == "RRULE":
            rule = _occurring_rule(value, series.wall_start, series.zone)
            last = _part(rule, "_until") if rule is not None else None
            if rule is not None and last is None:
                return None
        elif name == "RDATE":
            last = max((moment for moment, _ in _values(value, params, series.zone, series.wall_start)), default=None)
        if last is not None and (latest is None or last > latest):
            latest = last
    if latest is None or latest > _years_later(series.wall_start, MAX_YEARS_FOR_END):
        return None  # as good as endless, and the year 9999 leaves no room for a length
    return as_stored(latest, series.zone) + longest_length(series)


def busiest_day(series: Series) -> int:
    """At most how many occurrences the series' rules put on one day (an upper bound, from the rules' parts)."""
    total = 0
    for line in series.lines:
        name, _, value = _parts(line)
        if name == "RRULE":
            rule = _occurring_rule(value, series.wall_start, series.zone)
            total += _per_day(rule) if rule is not None else 0
    return total


def _per_day(rule: rrule) -> int:
    if _part(rule, "_freq") < HOURLY:
        return len(_part(rule, "_timeset"))
    hours = min(math.ceil(24 / _part(rule, "_interval")), len(_part(rule, "_byhour") or range(24)))
    return hours * len(_part(rule, "_byminute")) * len(_part(rule, "_bysecond"))  # hourly: the only finer one


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
    # No calendar offers series more frequent than hourly, and dateutil cannot bound them: with a rare day
    # (FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO) finding the next occurrence alone takes it a minute.
    # A BYSETPOS over one-hour periods can only pick the one hour or none: all cost and no calendar.
    if _part(parsed, "_freq") > HOURLY:  # dateutil keeps the frequency only here
        raise RecurrenceError("a series that repeats more often than hourly")
    if _part(parsed, "_freq") == HOURLY and _part(parsed, "_bysetpos"):
        raise RecurrenceError("BYSETPOS on an hourly series")
    return parsed


def _restarted(rule: rrule, near: datetime) -> rrule | None:
    """The rule restarted at or shortly before `near`, yielding exactly its occurrences from `near` on; None
    if it cannot be (COUNT counts from DTSTART, unless every period holds one occurrence).

    It restarts inside the period that holds `near` when the rule runs in that period (periods are counted
    from DTSTART's, INTERVAL apart), else at the start of the next one it runs in. Parts that dateutil fills
    in from DTSTART (the time of day, the weekday, the day of the month) are given explicitly, so the new
    start does not change them."""
    start: datetime = _part(rule, "_dtstart")
    if near <= start or (_part(rule, "_freq") == WEEKLY and _period_index(rule, near) == 0):
        return rule  # dateutil's first week runs from DTSTART's day, not WKST: never restart inside it
    if _part(rule, "_count") is not None:
        return _counted_restart(rule, near)
    return rule.replace(dtstart=_restart_point(rule, near), **_filled_in_parts(rule))


def _restart_point(rule: rrule, near: datetime) -> datetime:
    index, interval = _period_index(rule, near), _part(rule, "_interval")
    if index % interval:
        return _period_start(rule, index + interval - index % interval)
    if _part(rule, "_freq") == WEEKLY and _part(rule, "_bysetpos"):
        # dateutil's first week starts at DTSTART's day, and BYSETPOS counts in it: start on the week's first.
        return _period_start(rule, index)
    return near


def _period_index(rule: rrule, moment: datetime) -> int:
    """Which period of the rule's frequency, counted from DTSTART's (0), holds `moment`."""
    start: datetime = _part(rule, "_dtstart")
    freq = _part(rule, "_freq")
    if freq == YEARLY:
        return moment.year - start.year
    if freq == MONTHLY:
        return (moment.year - start.year) * 12 + moment.month - start.month
    if freq == WEEKLY:
        return (moment - _period_start(rule, 0)).days // 7
    return (moment - _period_start(rule, 0)) // _FIXED_UNIT[freq]


def _period_start(rule: rrule, index: int) -> datetime:
    """The first moment of the rule's `index`-th period (0: the one holding DTSTART)."""
    start: datetime = _part(rule, "_dtstart")
    freq = _part(rule, "_freq")
    midnight = datetime.combine(start.date(), time())
    if freq == YEARLY:
        return midnight.replace(year=start.year + index, month=1, day=1)
    if freq == MONTHLY:
        months = start.year * 12 + start.month - 1 + index
        return midnight.replace(year=months // 12, month=months % 12 + 1, day=1)
    if freq == WEEKLY:  # dateutil's weeks begin on WKST
        return midnight - timedelta(days=(start.weekday() - _part(rule, "_wkst")) % 7, weeks=-index)
    unit = _FIXED_UNIT[freq]
    return start - (start - midnight) % unit + index * unit


def _counted_restart(rule: rrule, near: datetime) -> rrule | None:
    """A rule with COUNT whose occurrences are DTSTART, DTSTART + period, ...: the n-th is known, so it can
    restart there with the count left. Any other counted rule has to be walked."""
    freq, count = _part(rule, "_freq"), _part(rule, "_count")
    given = _part(rule, "_original_rule")  # parts dateutil filled in from DTSTART are kept as None
    if (freq not in _FIXED_UNIT and freq != WEEKLY) or any(value is not None for value in given.values()):
        return None
    start: datetime = _part(rule, "_dtstart")
    period = _part(rule, "_interval") * (timedelta(weeks=1) if freq == WEEKLY else _FIXED_UNIT[freq])
    passed = min((near - start) // period, count - 1)
    return rule.replace(dtstart=start + passed * period, count=count - passed)


def _filled_in_parts(rule: rrule) -> dict[str, Any]:
    """The parts dateutil filled in from DTSTART (the rule did not give them), as it filled them in."""
    given = _part(rule, "_original_rule")
    effective: dict[str, Any] = {
        "bymonth": _part(rule, "_bymonth"),
        "bymonthday": (*_part(rule, "_bymonthday"), *_part(rule, "_bynmonthday")),
        "byweekday": _part(rule, "_byweekday"),
        "byhour": _part(rule, "_byhour"),
        "byminute": _part(rule, "_byminute"),
        "bysecond": _part(rule, "_bysecond"),
    }
    return {name: tuple(value) for name, value in effective.items() if given.get(name) is None and value}


def _until_on_wall_clock(until: str, zone: tzinfo | None) -> str:
    """UNTIL in UTC (`Z`) converted to the series' wall clock; a date means through the end of that day."""
    if len(until) == 8:
        return until + "T235959"
    if until.upper().endswith("Z") and zone is not None:
        instant = datetime.strptime(until[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return instant.astimezone(zone).strftime("%Y%m%dT%H%M%S")
    return until[:15]


def _values(
    value: str,
    params: dict[str, str],
    zone: tzinfo | None,
    dtstart: datetime,
    *,
    after: datetime | None = None,
    periods_only: bool = False,
) -> Iterable[tuple[datetime, timedelta | None]]:
    """Each listed date on the series' wall clock, with the length a PERIOD value gives it (else None).

    `after` leaves out, unread, values dated two days or more before it (no zone is further than a day
    from another's wall clock): a master may list tens of thousands of dates, and a window needs few."""
    value_zone = zone_or_none(params.get("TZID", "")) if params.get("TZID") else None
    earliest_day = (after - timedelta(days=2)).strftime("%Y%m%d") if after is not None else ""
    for raw in value.split(","):
        raw = raw.strip()
        if not raw or raw[:8] < earliest_day or (periods_only and "/" not in raw):
            continue
        if "/" not in raw:
            yield _on_wall_clock(raw, value_zone, zone, dtstart), None
            continue
        raw_start, raw_end = raw.split("/", 1)  # a PERIOD: start/end or start/duration
        moment = _on_wall_clock(raw_start, value_zone, zone, dtstart)
        yield moment, _period_length(moment, raw_end, value_zone, zone, dtstart)


def _period_length(
    start: datetime, raw_end: str, value_zone: tzinfo | None, zone: tzinfo | None, dtstart: datetime
) -> timedelta:
    """A period's length as elapsed time (as the series' own length is): a duration as written, an end as
    the instant it names; a period that ends before it starts has none."""
    if raw_end.lstrip("+-")[:1].upper() == "P":
        try:
            length = vDuration.from_ical(raw_end.upper())
        except ValueError as exc:
            raise RecurrenceError(f"unreadable period {raw_end[:40]!r}") from exc
        if length.days > 0:  # days and weeks are nominal: the same wall-clock time so many days on (3.3.6)
            days = timedelta(days=length.days)
            length = as_stored(start + days, zone) - as_stored(start, zone) + (length - days)
    else:
        end = _on_wall_clock(raw_end, value_zone, zone, dtstart)
        length = as_stored(end, zone) - as_stored(start, zone)
    return max(length, timedelta(0))


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
    """How many occurrences come before `wall_at`, walked from DTSTART: a series with more than a window may
    walk cannot be cut by count (RecurrenceError), rather than cost the request seconds."""
    count = 0
    for moment in ruleset(series):
        if moment >= wall_at:
            break
        count += 1
        if count > MAX_STEPS_PER_WINDOW:
            raise RecurrenceError("too many occurrences before the cut to count them")
    return count


def _rule_part(value: str, name: str) -> str | None:
    for part in value.split(";"):
        key, _, found = part.partition("=")
        if key.upper() == name:
            return found
    return None
