"""Microsoft Graph's patternedRecurrence in iCalendar terms: the RRULE line of a series master, its expansion,
and the way back (the patternedRecurrence of an RRULE calsync writes).

Graph describes a series by a pattern (how often: daily, weekly, absolute/relative monthly or yearly) and a
range (how long: up to an end date, a number of occurrences, or for ever). The conversion keeps Outlook's
meaning where RFC 5545 reads the same words differently:

- a day of the month past the month's end (the 31st, or 29 February) falls on the month's last day instead
  of being skipped, which RFC 5545 spells BYMONTHDAY=28,29,30,31;BYSETPOS=-1;
- a relative pattern with several weekdays ("the first weekday") picks the index-th of all those days in the
  month (BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1);
- the range's end date is inclusive in the recurrence's own zone, so UNTIL is the last second of that day
  there (in UTC, as RFC 5545 wants for a zoned DTSTART), or the date itself for an all-day series; the way
  back takes the date of the last occurrence on or before UNTIL.

Writing, a rule whose meaning Outlook cannot keep (hourly, several numbered weekdays, "the 31st, skipping
shorter months", EXDATE/RDATE lines) is refused with RuleNotExpressible, whose message is shown to the person.

Everything here is pure: no HTTP, no settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

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


def unreadable_recurrence(recurrence: object) -> str:
    """Why a series master's `recurrence` cannot be read as an RRULE, or "" when it can."""
    if not isinstance(recurrence, Mapping):
        return "a series master without a recurrence"
    try:
        rrule_line(recurrence, zone=UTC)
    except UnsupportedRecurrence as exc:
        return str(exc)
    return ""


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


# --- RRULE to patternedRecurrence (writing a series) -----------------------------------------------------

# iCalendar weekday codes, as Graph's dayOfWeek names; the names in date.weekday() order (Monday first).
WEEKDAY_ORDER = tuple(WEEKDAYS)
DAY_NAMES = {code: name for name, code in WEEKDAYS.items()}
# An iCalendar ordinal (BYSETPOS, or the prefix of a BYDAY value), as Graph's weekIndex.
INDEX_NAMES = {index: name for name, index in WEEK_INDEXES.items()}
ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
# The fewest days each month can have (February: 28), for "every year on the 29th of February".
SHORTEST_MONTH = {1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
# Rule parts Graph has no words for, in words a person reads.
UNEXPRESSIBLE_PARTS = {
    "BYHOUR": "at several hours of a day",
    "BYMINUTE": "at several minutes of an hour",
    "BYSECOND": "at several seconds of a minute",
    "BYWEEKNO": "in numbered weeks of the year",
    "BYYEARDAY": "on numbered days of the year",
}
FREQUENCY_WORDS = {"SECONDLY": "every second", "MINUTELY": "every minute", "HOURLY": "every hour"}


class RuleNotExpressible(ValueError):
    """An iCalendar repeat rule Outlook cannot hold; the message says why, in a person's words."""


def patterned_recurrence(lines: tuple[str, ...], start: date | datetime, zone_name: str) -> dict[str, Any]:
    """Graph's patternedRecurrence for a series written as iCalendar lines, starting at `start`.

    `start` is the series' first occurrence: a date (all-day series) or an aware datetime; `zone_name` is the
    IANA zone the series repeats in (its wall-clock times and its end date are read there). The pattern keeps
    the RRULE's meaning or the rule is refused (RuleNotExpressible): Outlook moves a 31st to a shorter
    month's last day where RFC 5545 skips the month, so "monthly on the 31st" is refused while the
    conversion's own form of Outlook's rule (BYMONTHDAY=28,29,30,31;BYSETPOS=-1) is taken back.
    """
    others = [line for line in lines if not line.upper().startswith("RRULE")]
    if others:
        name = others[0].split(":")[0].split(";")[0].upper()
        what = "single skipped dates" if name == "EXDATE" else "extra dates"
        raise RuleNotExpressible(f"Outlook cannot keep {what} ({name}) in a repeat rule.")
    if len(lines) != 1:
        raise RuleNotExpressible("Outlook holds exactly one repeat rule per series.")
    parts = _rule_parts(lines[0])
    local_start = start.astimezone(ZoneInfo(zone_name)) if isinstance(start, datetime) else start
    first_day = local_start.date() if isinstance(local_start, datetime) else local_start
    pattern = _pattern(parts, first_day)
    span: dict[str, Any] = {"startDate": first_day.isoformat(), "recurrenceTimeZone": zone_name}
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleNotExpressible("A repeat rule cannot both count its occurrences and end on a date.")
    if "COUNT" in parts:
        span.update(type="numbered", numberOfOccurrences=_rule_int(parts, "COUNT", low=1))
    elif "UNTIL" in parts:
        span.update(type="endDate", endDate=_end_date(parts, local_start).isoformat())
    else:
        span["type"] = "noEnd"
    return {"pattern": pattern, "range": span}


def _rule_parts(line: str) -> dict[str, str]:
    name, _, value = line.partition(":")
    if name.upper() != "RRULE" or not value:
        raise RuleNotExpressible(f"Not a repeat rule Outlook can read: {line!r}.")
    parts: dict[str, str] = {}
    for part in value.split(";"):
        key, _, setting = part.partition("=")
        if key and setting:
            parts[key.strip().upper()] = setting.strip().upper()
    for key, words in UNEXPRESSIBLE_PARTS.items():
        if key in parts:
            raise RuleNotExpressible(f"Outlook cannot repeat an event {words} ({key}).")
    return parts


def _pattern(parts: dict[str, str], first_day: date) -> dict[str, Any]:
    frequency = parts.get("FREQ", "")
    interval = _rule_int(parts, "INTERVAL", low=1) if "INTERVAL" in parts else 1
    week_start = DAY_NAMES.get(parts.get("WKST", "MO"), "monday")  # RFC 5545's default week start is Monday
    by_day = [value for value in parts.get("BYDAY", "").split(",") if value]
    if frequency in FREQUENCY_WORDS:
        raise RuleNotExpressible(f"Outlook cannot repeat an event {FREQUENCY_WORDS[frequency]}.")
    if frequency == "DAILY":
        _refuse_parts(parts, ("BYMONTHDAY", "BYMONTH", "BYSETPOS"), "a daily rule")
        if not by_day:
            return {"type": "daily", "interval": interval}
        if interval != 1:
            raise RuleNotExpressible("Outlook cannot repeat every few days on chosen weekdays only.")
        # Every day, but only these weekdays: Outlook's "weekly on these days".
        return {"type": "weekly", "interval": 1, "daysOfWeek": _plain_days(by_day), "firstDayOfWeek": week_start}
    if frequency == "WEEKLY":
        _refuse_parts(parts, ("BYMONTHDAY", "BYMONTH", "BYSETPOS"), "a weekly rule")
        days = _plain_days(by_day) if by_day else [WEEKDAY_ORDER[first_day.weekday()]]
        return {"type": "weekly", "interval": interval, "daysOfWeek": days, "firstDayOfWeek": week_start}
    if frequency == "MONTHLY":
        _refuse_parts(parts, ("BYMONTH",), "a monthly rule")
        if by_day:
            return {"type": "relativeMonthly", "interval": interval, **_relative(parts, by_day)}
        return {"type": "absoluteMonthly", "interval": interval, "dayOfMonth": _month_day(parts, first_day, 28)}
    if frequency == "YEARLY":
        months = [value for value in parts.get("BYMONTH", "").split(",") if value]
        if len(months) > 1:
            raise RuleNotExpressible("Outlook repeats a yearly event in one month only.")
        month = _rule_int({"BYMONTH": months[0]}, "BYMONTH", low=1, high=12) if months else first_day.month
        if by_day:
            return {"type": "relativeYearly", "interval": interval, "month": month, **_relative(parts, by_day)}
        day = _month_day(parts, first_day, SHORTEST_MONTH[month])
        return {"type": "absoluteYearly", "interval": interval, "month": month, "dayOfMonth": day}
    raise RuleNotExpressible(f"Outlook cannot repeat an event with frequency {frequency or 'missing'}.")


def _refuse_parts(parts: dict[str, str], names: tuple[str, ...], where: str) -> None:
    for name in names:
        if name in parts:
            raise RuleNotExpressible(f"Outlook cannot take {name} in {where}.")


def _plain_days(values: list[str]) -> list[str]:
    """Graph day names for BYDAY values without ordinals (MO,WE), in week order."""
    names = []
    for value in values:
        if value not in DAY_NAMES:
            raise RuleNotExpressible(f"Outlook cannot repeat on {value!r}: a numbered weekday needs a monthly rule.")
        names.append(DAY_NAMES[value])
    return sorted(set(names), key=WEEKDAY_ORDER.index)


def _relative(parts: dict[str, str], by_day: list[str]) -> dict[str, Any]:
    """daysOfWeek and index of "the second Tuesday" (BYDAY=2TU) or "the last weekday" (BYDAY=MO,..;BYSETPOS=-1)."""
    if "BYMONTHDAY" in parts:
        raise RuleNotExpressible("Outlook cannot combine days of the month with weekdays in one rule.")
    if len(by_day) == 1 and by_day[0][-2:] in DAY_NAMES and by_day[0][:-2] and "BYSETPOS" not in parts:
        index = _ordinal(by_day[0][:-2])
        return {"daysOfWeek": [DAY_NAMES[by_day[0][-2:]]], "index": INDEX_NAMES[index]}
    if "BYSETPOS" in parts:
        return {"daysOfWeek": _plain_days(by_day), "index": INDEX_NAMES[_ordinal(parts["BYSETPOS"])]}
    raise RuleNotExpressible(
        "Outlook repeats monthly or yearly on one numbered weekday (the first, second, third, fourth or last)."
    )


def _ordinal(value: str) -> int:
    try:
        index = int(value)
    except ValueError:
        raise RuleNotExpressible(f"Outlook cannot read the position {value!r}.") from None
    if index not in INDEX_NAMES:
        raise RuleNotExpressible("Outlook counts weekdays as the first, second, third, fourth or last only.")
    return index


def _month_day(parts: dict[str, str], first_day: date, shortest: int) -> int:
    """Graph's dayOfMonth for BYMONTHDAY (or the first day's date), where Outlook and RFC 5545 agree.

    Outlook puts a day the month lacks on its last day; RFC 5545 skips the month. Days every month of the
    rule has are the same in both; -1 (the last day) is Outlook's 31st; 28..31 with BYSETPOS=-1 is Outlook's
    own rule (the conversion writes it that way).
    """
    values = [value for value in parts.get("BYMONTHDAY", "").split(",") if value]
    position = parts.get("BYSETPOS")
    if not values:
        day = first_day.day
    elif len(values) == 1 and position is None:
        day = _rule_int({"BYMONTHDAY": values[0]}, "BYMONTHDAY", low=-31, high=31)
        if day == -1:
            return 31
        if day < 1:
            raise RuleNotExpressible("Outlook counts days of the month from the start, or the last day only.")
    else:
        try:
            days = sorted(int(value) for value in values)
        except ValueError:
            raise RuleNotExpressible(f"Outlook cannot read the days {','.join(values)}.") from None
        if position != "-1" or days != list(range(DAYS_EVERY_MONTH_HAS, days[-1] + 1)) or days[-1] > 31:
            raise RuleNotExpressible("Outlook repeats on one day of the month only.")
        return days[-1]
    if day > shortest:
        raise RuleNotExpressible(
            f"Outlook cannot repeat on day {day} only in months that have it: it would move to the last day "
            "of shorter months."
        )
    return day


def _rule_int(parts: dict[str, str], name: str, *, low: int, high: int | None = None) -> int:
    try:
        number = int(parts[name])
    except ValueError:
        raise RuleNotExpressible(f"Outlook cannot read {name}={parts[name]}.") from None
    if number < low or (high is not None and number > high):
        raise RuleNotExpressible(f"Outlook cannot take {name}={parts[name]}.")
    return number


def _end_date(parts: dict[str, str], local_start: date | datetime) -> date:
    """Graph's endDate (inclusive, in the series' zone): the date of the last occurrence on or before UNTIL."""
    until_text = parts["UNTIL"]
    try:
        if len(until_text) == 8:
            until_day = datetime.strptime(until_text, "%Y%m%d").date()  # noqa: DTZ007  # a date, no time
            until: datetime = (
                datetime.combine(until_day, time(23, 59, 59), tzinfo=local_start.tzinfo)
                if isinstance(local_start, datetime)
                else datetime.combine(until_day, time())
            )
        else:
            moment = datetime.strptime(until_text.rstrip("Z"), "%Y%m%dT%H%M%S")  # noqa: DTZ007  # zone below
            if isinstance(local_start, datetime):
                until = (
                    moment.replace(tzinfo=UTC)
                    if until_text.endswith("Z")
                    else moment.replace(tzinfo=local_start.tzinfo)
                )
            else:
                until = datetime.combine(moment.date(), time())
    except ValueError:
        raise RuleNotExpressible(f"Outlook cannot read the end UNTIL={until_text}.") from None
    open_line = "RRULE:" + ";".join(f"{key}={value}" for key, value in parts.items() if key != "UNTIL")
    last = _rule(open_line, local_start).before(until, inc=True)
    if last is None:
        raise RuleNotExpressible("The repeat rule ends before its first occurrence.")
    return last.date()
