"""A whole series moved in time: where each of its occurrence-naming values goes with it.

A series is anchored on its first start (DTSTART) and repeats on the wall clock of its zone (RFC 5545
3.3.10: a 09:00 Berlin meeting stays at 09:00 across DST). Everything else that names an occurrence — an
EXDATE, an RDATE, a date-time UNTIL, the RECURRENCE-ID of an override — names it by its start, so when the
series' start moves, they must move as much or they stop naming anything: cancelled occurrences come back,
moved ones show twice, the last one falls after UNTIL.

"As much" is the same wall-clock distance in the series' zone, not the same number of seconds: a series
moved an hour later keeps every occurrence an hour later on its own clock, whichever side of a DST change it
falls. A value written in UTC (an EXDATE with `Z`, the UNTIL RFC 5545 requires in UTC) is read on the old
zone's clock, moved, placed on the new zone's clock (the series may change zone too) and written in UTC
again. Date values (all-day series, a date UNTIL) move by whole days: the days the first start moved. So do
a rule's weekdays ("every Monday" moved a day later is "every Tuesday"); an ordinal stays ("the last Sunday"
becomes "the last Monday", a day later except when a month ends between the two).

Used by the CalDAV writer (on the VEVENTs of a resource) and by the edit services (on a stored series'
recurrence lines and its exceptions' original starts), so both sides move a series alike.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import icalendar
from dateutil.rrule import rrulestr
from icalendar.parser import Contentline
from icalendar.prop import vBroken, vDDDLists, vDDDTypes

from connections.providers.base import EventTime, WriteRefused
from connections.providers.ical.properties import as_list, readable_time

OCCURRENCE_LISTS = ("EXDATE", "RDATE")
RULES = ("RRULE", "EXRULE")
# How far a moved rule is compared with its old occurrences moved: 28 years (weekdays and leap days repeat
# so in 1901-2099), at most this many occurrences.
CHECKED_YEARS = 28
CHECKED_OCCURRENCES = 3000
TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
DAY_PARTS = (("BYMONTHDAY", 31), ("BYYEARDAY", 366))


class InexactMove(WriteRefused):
    """The series' rule cannot say where its occurrences went (the message is shown to the person)."""

    def __init__(self) -> None:
        super().__init__(
            "This series' repeat rule cannot say where its occurrences would go if moved by that much (a day "
            "of the month, a weekday's place in it or an hour would leave its month or day). Change just this "
            "occurrence, or make a new series."
        )


@dataclass(frozen=True)
class SeriesMove:
    """How far a series' first start moved: on the wall clock, in whole days, and from which zone to which
    (None: floating, or all-day)."""

    wall: timedelta
    days: timedelta
    old_zone: tzinfo | None
    new_zone: tzinfo | None
    old_wall: datetime | None = None  # the old first start on its wall clock (midnight for a date)

    @classmethod
    def between(cls, old: EventTime, new: EventTime) -> SeriesMove | None:
        """The move from a series' old first start to its new one; None when it did not move (same wall
        clock, same zone) or when it changed between all-day and timed (nothing can be carried over)."""
        if isinstance(old, datetime) != isinstance(new, datetime):
            return None
        old_wall, new_wall = _wall(old), _wall(new)
        old_zone, new_zone = _zone(old), _zone(new)
        if old_wall == new_wall and _same_zone(old_zone, new_zone):
            return None
        days = timedelta(days=(_as_date(new_wall) - _as_date(old_wall)).days)
        return cls(wall=new_wall - old_wall, days=days, old_zone=old_zone, new_zone=new_zone, old_wall=old_wall)

    def moved(self, value: EventTime) -> EventTime:
        """One occurrence-naming value, moved with the series (in the same form: date, floating, zoned or UTC)."""
        if not isinstance(value, datetime):
            return value + self.days
        if value.tzinfo is None:
            return value + self.wall
        wall = value.astimezone(self.old_zone or UTC).replace(tzinfo=None) + self.wall
        # A wall time in a DST gap or overlap resolves as the series' own expansion resolves it (fold 0).
        placed = wall.replace(tzinfo=self.new_zone or UTC)
        return placed.astimezone(UTC) if _is_utc(value) or self.new_zone is None else placed

    def move_series(self, vevent: icalendar.Component) -> None:
        """Move a master VEVENT's EXDATEs, RDATEs and rule ends (its DTSTART is the caller's)."""
        for name in OCCURRENCE_LISTS:
            props = as_list(vevent.pop(name, None))
            for prop in props:
                vevent.add(name, self._moved_list(prop))
        for name in RULES:
            rules = as_list(vevent.pop(name, None))
            for rule in rules:
                vevent.add(name, self._moved_rule(rule))

    def move_override(self, vevent: icalendar.Component) -> None:
        """An override follows the series: its RECURRENCE-ID always; its own times too when it was only
        changed, not moved (it started at its occurrence's start), so it stays with its siblings."""
        recurrence_id = readable_time(vevent.get("RECURRENCE-ID"))
        if recurrence_id is None:
            return
        start, end = readable_time(vevent.get("DTSTART")), readable_time(vevent.get("DTEND"))
        _replace(vevent, "RECURRENCE-ID", self.moved(recurrence_id))
        if start is None or not _same_instant(start, recurrence_id):
            return
        _replace(vevent, "DTSTART", self.moved(start))
        if end is not None:
            _replace(vevent, "DTEND", self.moved(end))

    def moved_lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        """Recurrence content lines (RRULE/EXRULE/RDATE/EXDATE, as events keep them) moved with the series.
        A line that cannot be read is kept as it is."""
        moved = []
        for line in lines:
            try:
                name = Contentline(line).parts()[0]
                component = icalendar.Event.from_ical(f"BEGIN:VEVENT\r\n{line}\r\nEND:VEVENT\r\n".encode())
            except (ValueError, TypeError):
                moved.append(line)
                continue
            prop = component.get(name.upper())
            if prop is None or isinstance(prop, list) or getattr(component, "errors", None):
                moved.append(line)
                continue
            if name.upper() in RULES:
                new = self._moved_rule(prop)
            elif name.upper() in OCCURRENCE_LISTS:
                new = self._moved_list(prop)
            else:
                moved.append(line)
                continue
            moved.append(_line(name.upper(), new))
        return tuple(moved)

    # -- the parts ------------------------------------------------------------------------------------------

    def _moved_list(self, prop: Any) -> Any:
        if isinstance(prop, vBroken):  # unreadable: written back as it came
            return prop
        values = [item.dt for item in getattr(prop, "dts", [])]
        if not values:
            return prop
        moved = [self._moved_item(value) for value in values]
        result = vDDDLists(moved)
        result.params = copy.deepcopy(prop.params)
        result.params.pop("TZID", None)
        first = moved[0][0] if isinstance(moved[0], tuple) else moved[0]
        if isinstance(first, datetime) and first.tzinfo is not None and not _is_utc(first):
            result.params["TZID"] = _tzid(first.tzinfo)
        return result

    def _moved_item(self, value: Any) -> Any:
        if isinstance(value, tuple):  # a PERIOD: its start moves; an end moves with it, a duration stays
            begin, finish = value
            return (self.moved(begin), finish if isinstance(finish, timedelta) else self.moved(finish))
        return self.moved(value)

    def _moved_rule(self, rule: Any) -> Any:
        if not hasattr(rule, "get"):
            return rule
        moved = copy.deepcopy(rule)
        until = rule.get("UNTIL")
        if until:
            value = self.moved(until[0])
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC)  # RFC 5545 3.3.10: with a zoned DTSTART, UNTIL is in UTC
            moved["UNTIL"] = [value]
        weekdays = rule.get("BYDAY")
        if weekdays and self.days.days % 7:
            # "Every Monday" moved a day later is "every Tuesday" (an ordinal, "the 2nd Monday", stays).
            moved["BYDAY"] = [_later_weekday(str(day), self.days.days) for day in weekdays]
        for name, limit in DAY_PARTS:
            if rule.get(name) and self.days.days:
                moved[name] = [_later_day(int(value), self.days.days, limit) for value in rule[name]]
        self._move_clock(rule, moved)
        self._check_exact(rule, moved)
        return moved

    def _move_clock(self, rule: Any, moved: Any) -> None:
        """BYHOUR/BYMINUTE/BYSECOND by the move on the clock: the rule's times of day, each moved, must stay
        on their day and still be every hour with every minute (and second) the moved parts list."""
        clock = (self.wall - self.days).total_seconds()
        if not clock or self.old_wall is None or not any(rule.get(name) for name in TIME_PARTS):
            return
        defaults = (self.old_wall.hour, self.old_wall.minute, self.old_wall.second)
        hours, minutes, seconds = (
            [int(value) for value in rule.get(name) or [default]]
            for name, default in zip(TIME_PARTS, defaults, strict=True)
        )
        times = {h * 3600 + m * 60 + s + int(clock) for h in hours for m in minutes for s in seconds}
        if not all(0 <= second < 86400 for second in times):
            raise InexactMove()  # a time of day would leave its day (the days moved say otherwise)
        moved_parts = [sorted({_hms_of(second)[index] for second in times}) for index in range(3)]
        if len(times) != len(moved_parts[0]) * len(moved_parts[1]) * len(moved_parts[2]):
            raise InexactMove()  # e.g. 09:00 and 09:30 moved by 30 minutes: not every hour with every minute
        for name, values in zip(TIME_PARTS, moved_parts, strict=True):
            if rule.get(name):
                moved[name] = values
            elif len(values) != 1:
                raise InexactMove()

    def _check_exact(self, rule: Any, moved: Any) -> None:
        """The moved rule (from the moved first start) must give every old occurrence, moved, and no other."""
        if self.old_wall is None:
            return
        end = self.old_wall.replace(year=self.old_wall.year + CHECKED_YEARS, day=min(self.old_wall.day, 28))
        try:
            old = _occurrences(rule, self.old_wall, end)
            new = _occurrences(moved, self.old_wall + self.wall, end + self.wall)
        except (ValueError, TypeError, OverflowError):
            return  # a rule dateutil cannot expand (an X- part, say): moved as written, unchecked
        if [moment + self.wall for moment in old] != new:
            raise InexactMove()


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _later_weekday(value: str, days: int) -> str:
    ordinal, day = value[:-2], value[-2:].upper()
    if day not in WEEKDAYS:
        return value
    return ordinal + WEEKDAYS[(WEEKDAYS.index(day) + days) % 7]


def _later_day(value: int, days: int, limit: int) -> int:
    """A day of the month (or year) `days` later; counted from the end when negative, staying so."""
    later = value + days
    if later == 0 or (later > 0) != (value > 0) or abs(later) > limit:
        raise InexactMove()
    return later


def _hms_of(second: int) -> tuple[int, int, int]:
    return second // 3600, second // 60 % 60, second % 60


def _occurrences(rule: Any, start: datetime, end: datetime) -> list[datetime]:
    """A rule's occurrences on the wall clock from `start` to `end` (its COUNT and UNTIL left out: they move
    on their own), at most CHECKED_OCCURRENCES."""
    parts = {name: value for name, value in rule.items() if name not in ("COUNT", "UNTIL")}
    text = icalendar.vRecur(parts).to_ical().decode()
    found: list[datetime] = []
    for moment in rrulestr(text, dtstart=start):
        if moment > end or len(found) >= CHECKED_OCCURRENCES:
            break
        found.append(moment)
    return found


def _line(name: str, prop: Any) -> str:
    params = prop.params.to_ical().decode() if prop.params else ""
    return f"{name}{';' + params if params else ''}:{prop.to_ical().decode()}"


def _wall(value: EventTime) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, datetime.min.time())
    return value.replace(tzinfo=None)


def _zone(value: EventTime) -> tzinfo | None:
    return value.tzinfo if isinstance(value, datetime) else None


def _same_zone(one: tzinfo | None, other: tzinfo | None) -> bool:
    if one is None or other is None:
        return one is other
    return _tzid(one) == _tzid(other)


def _as_date(value: datetime) -> date:
    return value.date()


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is UTC or _tzid(value.tzinfo) in ("UTC", "Etc/UTC", "Z")


def _tzid(zone: tzinfo | None) -> str:
    key = getattr(zone, "key", None)
    return str(key) if key else str(zone)


def _same_instant(one: EventTime, other: EventTime) -> bool:
    if isinstance(one, datetime) and isinstance(other, datetime):
        if (one.tzinfo is None) != (other.tzinfo is None):
            return one.replace(tzinfo=None) == other.replace(tzinfo=None)
        return one == other
    return _wall(one) == _wall(other)


def _replace(vevent: icalendar.Component, name: str, value: EventTime) -> None:
    vevent.pop(name, None)
    prop = vDDDTypes(value)
    if isinstance(value, datetime) and value.tzinfo is not None and not _is_utc(value):
        prop.params["TZID"] = _tzid(value.tzinfo)
    if not isinstance(value, datetime):
        prop.params["VALUE"] = "DATE"
    vevent.add(name, prop)
