"""Microsoft Graph's patternedRecurrence in iCalendar terms: the RRULE line of a series master, and its expansion.

Graph describes a series by a pattern (how often: daily, weekly, absolute/relative monthly or yearly) and a
range (how long: up to an end date, a number of occurrences, or for ever). The conversion keeps Outlook's
meaning where RFC 5545 reads the same words differently:

- a day of the month past the month's end (the 31st, or 29 February) falls on the month's last day instead
  of being skipped, which RFC 5545 spells BYMONTHDAY=28,29,30,31;BYSETPOS=-1;
- a relative pattern with several weekdays ("the first weekday") picks the index-th of all those days in the
  month (BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1);
- the range's end date is inclusive in the recurrence's own zone, so UNTIL is the last second of that day
  there (in UTC, as RFC 5545 wants for a zoned DTSTART), or the date itself for an all-day series.

Everything here is pure: no HTTP, no settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil.rrule import rrule, rrulestr

# Graph's dayOfWeek names, as iCalendar weekday codes.
WEEKDAYS = {
    "monday": "MO",
    "tuesday": "TU",
    "wednesday": "WE",
    "thursday": "TH",
    "friday": "FR",
    "saturday": "SA",
    "sunday": "SU",
}
# Graph's weekIndex, as an iCalendar ordinal (BYSETPOS, or the prefix of a BYDAY value).
WEEK_INDEXES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
# Pattern types (compared in lower case: v1.0 writes "absoluteMonthly", older payloads "AbsoluteMonthly").
FREQUENCIES = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "absolutemonthly": "MONTHLY",
    "relativemonthly": "MONTHLY",
    "absoluteyearly": "YEARLY",
    "relativeyearly": "YEARLY",
}
# Days of the month every month has; a later day needs the "or the month's last day" form.
DAYS_EVERY_MONTH_HAS = 28


class UnsupportedRecurrence(ValueError):
    """The patternedRecurrence cannot be expressed as an RRULE (a missing or invalid property)."""


def rrule_line(recurrence: Mapping[str, Any], *, zone: tzinfo | None) -> str:
    """The "RRULE:..." line for a Graph `recurrence` (patternedRecurrence).

    `zone` is the recurrence's time zone for a timed series (the end date is inclusive there); None for an
    all-day series, whose UNTIL is a date.
    """
    pattern = recurrence.get("pattern")
    span = recurrence.get("range")
    if not isinstance(pattern, Mapping) or not isinstance(span, Mapping):
        raise UnsupportedRecurrence("recurrence without a pattern or a range")
    kind = str(pattern.get("type") or "").lower()
    if kind not in FREQUENCIES:
        raise UnsupportedRecurrence(f"unknown recurrence pattern type {pattern.get('type')!r}")
    parts = [f"FREQ={FREQUENCIES[kind]}"]
    interval = _positive_int(pattern.get("interval", 1), "interval")
    if interval > 1:
        parts.append(f"INTERVAL={interval}")
    if kind == "weekly":
        parts.append("BYDAY=" + ",".join(_weekdays(pattern)))
        # The week start decides which weeks an every-other-week series skips.
        parts.append("WKST=" + _weekday(pattern.get("firstDayOfWeek") or "sunday"))
    elif kind == "absolutemonthly":
        parts.extend(_day_of_month(pattern))
    elif kind == "relativemonthly":
        parts.extend(_relative_weekdays(pattern))
    elif kind == "absoluteyearly":
        parts.append(f"BYMONTH={_month(pattern)}")
        parts.extend(_day_of_month(pattern))
    elif kind == "relativeyearly":
        parts.append(f"BYMONTH={_month(pattern)}")
        parts.extend(_relative_weekdays(pattern))
    parts.extend(_range(span, zone))
    return "RRULE:" + ";".join(parts)


def _range(span: Mapping[str, Any], zone: tzinfo | None) -> list[str]:
    kind = str(span.get("type") or "noEnd").lower()
    if kind == "noend":
        return []
    if kind == "numbered":
        return [f"COUNT={_positive_int(span.get('numberOfOccurrences'), 'numberOfOccurrences')}"]
    if kind == "enddate":
        try:
            end = date.fromisoformat(str(span.get("endDate"))[:10])
        except ValueError:
            raise UnsupportedRecurrence(f"invalid endDate {span.get('endDate')!r}") from None
        if zone is None:
            return [f"UNTIL={end:%Y%m%d}"]
        last_second = datetime.combine(end, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
        return [f"UNTIL={last_second:%Y%m%dT%H%M%SZ}"]
    raise UnsupportedRecurrence(f"unknown recurrence range type {span.get('type')!r}")


def _day_of_month(pattern: Mapping[str, Any]) -> list[str]:
    day = _positive_int(pattern.get("dayOfMonth"), "dayOfMonth")
    if day > 31:
        raise UnsupportedRecurrence(f"invalid dayOfMonth {day}")
    if day <= DAYS_EVERY_MONTH_HAS:
        return [f"BYMONTHDAY={day}"]
    # Outlook moves the 29th-31st to the last day of a shorter month; RFC 5545 would skip that month.
    days = ",".join(str(candidate) for candidate in range(DAYS_EVERY_MONTH_HAS, day + 1))
    return [f"BYMONTHDAY={days}", "BYSETPOS=-1"]


def _relative_weekdays(pattern: Mapping[str, Any]) -> list[str]:
    days = _weekdays(pattern)
    index_name = str(pattern.get("index") or "first").lower()
    if index_name not in WEEK_INDEXES:
        raise UnsupportedRecurrence(f"unknown week index {pattern.get('index')!r}")
    index = WEEK_INDEXES[index_name]
    if len(days) == 1:
        return [f"BYDAY={index}{days[0]}"]
    # Several days: the index-th of all of them in the month ("the last weekday"), not of each one.
    return [f"BYDAY={','.join(days)}", f"BYSETPOS={index}"]


def _weekdays(pattern: Mapping[str, Any]) -> list[str]:
    names = pattern.get("daysOfWeek")
    if not isinstance(names, list) or not names:
        raise UnsupportedRecurrence(f"a {pattern.get('type')} pattern needs daysOfWeek")
    codes = [_weekday(name) for name in names]
    return sorted(set(codes), key=list(WEEKDAYS.values()).index)


def _weekday(name: object) -> str:
    code = WEEKDAYS.get(str(name).lower())
    if code is None:
        raise UnsupportedRecurrence(f"unknown day of the week {name!r}")
    return code


def _month(pattern: Mapping[str, Any]) -> int:
    month = _positive_int(pattern.get("month"), "month")
    if month > 12:
        raise UnsupportedRecurrence(f"invalid month {month}")
    return month


def _positive_int(value: object, name: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise UnsupportedRecurrence(f"invalid {name} {value!r}") from None
    if number < 1:
        raise UnsupportedRecurrence(f"invalid {name} {value!r}")
    return number


# --- expansion ------------------------------------------------------------------------------------------


def _rule(line: str, start: date | datetime) -> rrule:
    """The dateutil rule of `line` from `start` (an aware datetime, or a date for an all-day series)."""
    dtstart = start if isinstance(start, datetime) else datetime.combine(start, time())
    rule = rrulestr(line.removeprefix("RRULE:"), dtstart=dtstart)
    if not isinstance(rule, rrule):  # a single RRULE line always parses to one rule
        raise UnsupportedRecurrence(f"not a single rule: {line!r}")
    return rule


def _as_start_kind(value: datetime, start: date | datetime) -> date | datetime:
    return value if isinstance(start, datetime) else value.date()


def first_occurrence(line: str, start: date | datetime) -> date | datetime | None:
    """The series' first occurrence on or after `start` (None when the rule yields none).

    Outlook lets a series start on a day its pattern skips (a Tuesday series created on a Monday); RFC 5545
    would count that DTSTART as an occurrence, dateutil would not, so the master's start moves here.
    """
    first = next(iter(_rule(line, start)), None)
    return None if first is None else _as_start_kind(first, start)


def occurrences_between(
    line: str, start: date | datetime, window_start: datetime, window_end: datetime
) -> Iterator[date | datetime]:
    """Starts of the occurrences beginning in [window_start, window_end), in the kind of `start`.

    For an all-day series the bounds' dates are used (an all-day occurrence is a day, not an instant).
    """
    rule = _rule(line, start)
    if isinstance(start, datetime):
        low, high = window_start, window_end
    else:
        low = datetime.combine(window_start.date(), time())
        high = datetime.combine(window_end.date(), time())
    for moment in rule.xafter(low, inc=True):
        if moment >= high:
            return
        yield _as_start_kind(moment, start)


def overlapping(
    line: str, start: date | datetime, duration: timedelta, window_start: datetime, window_end: datetime
) -> Iterator[date | datetime]:
    """Starts of the occurrences that overlap [window_start, window_end), as a calendar view lists them."""
    for occurrence in occurrences_between(line, start, window_start - duration, window_end):
        begins = occurrence if isinstance(occurrence, datetime) else datetime.combine(occurrence, time(), UTC)
        if begins + duration > window_start:
            yield occurrence
