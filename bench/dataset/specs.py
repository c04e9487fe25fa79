"""Provider-neutral descriptions of the events a person keeps, drawn from a seeded random generator.

Times are wall-clock values (naive datetimes in `zone`, or dates for all-day events); the payload renderers
turn them into what each provider sends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from bench.dataset import vocabulary as words

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Only this many occurrences of a series are looked at when choosing its exceptions.
OCCURRENCE_LOOKAHEAD = 400

Wall = datetime | date


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    response: str = "accepted"  # accepted, declined, tentative, needsAction
    optional: bool = False


@dataclass(frozen=True)
class Rule:
    """A recurrence rule in the terms every provider can express."""

    freq: str  # DAILY, WEEKLY, MONTHLY, YEARLY
    interval: int = 1
    weekdays: tuple[str, ...] = ()  # WEEKLY: ("MO", "WE")
    month_day: int = 0  # MONTHLY/YEARLY on a day of the month
    nth_weekday: tuple[int, str] | None = None  # MONTHLY on e.g. the 3rd Thursday: (3, "TH")
    month: int = 0  # YEARLY
    count: int = 0
    until: date | None = None  # the last day, inclusive, on the series' wall clock

    def rrule_parts(self) -> list[str]:
        parts = [f"FREQ={self.freq}"]
        if self.interval > 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.weekdays:
            parts.append("BYDAY=" + ",".join(self.weekdays))
        if self.nth_weekday:
            parts.append(f"BYDAY={self.nth_weekday[0]}{self.nth_weekday[1]}")
        if self.month:
            parts.append(f"BYMONTH={self.month}")
        if self.month_day:
            parts.append(f"BYMONTHDAY={self.month_day}")
        if self.count:
            parts.append(f"COUNT={self.count}")
        return parts


@dataclass(frozen=True)
class Change:
    """An exception of a series: the occurrence it replaces, and what became of it."""

    occurrence: Wall
    cancelled: bool = False
    start: Wall | None = None
    end: Wall | None = None
    title: str = ""


@dataclass
class EventSpec:
    title: str
    start: Wall
    end: Wall
    zone: str  # IANA; ignored for all-day events
    all_day: bool = False
    description: str = ""
    location: str = ""
    status: str = "confirmed"
    organizer: Person | None = None
    organizer_is_owner: bool = True
    attendees: list[Person] = field(default_factory=list)
    conference: str = ""  # meet, teams, zoom or ""
    conference_code: str = ""
    rule: Rule | None = None
    exdates: list[Wall] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    created: datetime = datetime(2020, 1, 1)  # noqa: DTZ001 - a wall-clock value, replaced on every spec

    def organizer_email(self) -> str:
        return self.organizer.email if self.organizer is not None else ""

    @property
    def duration(self) -> timedelta:
        return self.end - self.start  # type: ignore[operator]  # both dates or both datetimes

    def occurrences(self, limit: int = OCCURRENCE_LOOKAHEAD) -> list[Wall]:
        """The series' occurrences on its wall clock (the first `limit` of them)."""
        if self.rule is None:
            return [self.start]
        found: list[Wall] = []
        parts = self.rule.rrule_parts()
        if self.rule.until is not None:  # on the wall clock here: dateutil wants UTC only with aware starts
            parts.append(f"UNTIL={self.rule.until:%Y%m%d}T235959")
        for moment in rrulestr("RRULE:" + ";".join(parts), dtstart=_as_datetime(self.start)):
            found.append(moment.date() if self.all_day else moment)
            if len(found) >= limit:
                break
        return found

    def rrule_line(self) -> str:
        """The RRULE line, UNTIL included (UTC for a timed series, a date for an all-day one)."""
        assert self.rule is not None  # nosec B101 # noqa: S101 - only series call this
        parts = self.rule.rrule_parts()
        if self.rule.until is not None:
            if self.all_day:
                parts.append(f"UNTIL={self.rule.until:%Y%m%d}")
            else:
                last = datetime.combine(self.rule.until, time(23, 59, 59), tzinfo=ZoneInfo(self.zone))
                parts.append(f"UNTIL={last.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}")
        return "RRULE:" + ";".join(parts)


def _as_datetime(value: Wall) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time())


class SpecMaker:
    """Draws event specs for one owner. `now` is the data set's fixed present (wall clock, naive)."""

    def __init__(self, rng: random.Random, now: datetime, owner_email: str, zone: str) -> None:
        self.rng = rng
        self.now = now
        self.owner = Person(owner_email, _full_name(rng))
        self.zone = zone

    # --- single events ------------------------------------------------------------------------------

    def timed(self, day: date) -> EventSpec:
        rng = self.rng
        start = datetime.combine(day, time(rng.choice((8, 9, 9, 10, 10, 11, 13, 14, 14, 15, 16, 17, 19)), 0))
        start += timedelta(minutes=rng.choice((0, 0, 0, 15, 30, 30, 45)))
        minutes = rng.choice((15, 25, 30, 30, 30, 45, 60, 60, 60, 90, 120))
        spec = self._base(start, start + timedelta(minutes=minutes))
        if rng.random() < 0.03:  # an overnight shift or a late flight ends the next day
            spec.end = start + timedelta(hours=rng.randint(8, 14))
        return spec

    def all_day(self, day: date, days: int = 1) -> EventSpec:
        spec = self._base(day, day + timedelta(days=days), all_day=True)
        spec.title = self.rng.choice(words.ALL_DAY_TITLES)
        spec.attendees = spec.attendees[:2]
        spec.conference = ""
        return spec

    def multi_day(self, day: date) -> EventSpec:
        rng = self.rng
        if rng.random() < 0.7:
            # Mostly up to a week (conferences, trips); a few longer (vacations, terms) take the long-event index.
            return self.all_day(day, rng.choice((2, 2, 3, 3, 4, 5, 7, 10, 14, 21)))
        start = datetime.combine(day, time(rng.choice((9, 13, 18)), 0))
        spec = self._base(start, start + timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 6)))
        spec.title = rng.choice(("Trip to ", "Conference in ", "Workshop in ")) + rng.choice(
            ("Lisbon", "Berlin", "Austin", "Osaka", "Toronto", "Cape Town")
        )
        return spec

    # --- series -------------------------------------------------------------------------------------

    def series(self, start_day: date, *, endless_since_years: int = 0, frequent: bool = True) -> EventSpec:
        """A recurring series starting on `start_day` with a few exceptions and excluded dates.

        `frequent`: daily or weekly rules; otherwise monthly and yearly ones.
        """
        rng = self.rng
        if endless_since_years:
            # Runs every week (or working day), so every week of the present shows it.
            weekday = WEEKDAY_CODES[start_day.weekday() % 5]
            rule = (
                Rule("DAILY", weekdays=WEEKDAY_CODES[:5]) if rng.random() < 0.1 else Rule("WEEKLY", weekdays=(weekday,))
            )
            all_day = False
        elif frequent:
            rule, all_day = self._frequent_rule(start_day), False
        else:
            rule, all_day = self._sparse_rule(start_day)
        if all_day:
            spec = self._base(start_day, start_day + timedelta(days=1), all_day=True)
            spec.title = rng.choice(words.BIRTHDAY_TITLES) + (f" {rng.choice(words.FIRST_NAMES)}")
            spec.attendees = []
            spec.conference = ""
        else:
            spec = self.timed(start_day)
            spec.end = spec.start + timedelta(minutes=rng.choice((15, 30, 30, 45, 60, 60, 90)))
            spec.title = rng.choice(words.SERIES_TITLES)
        if not endless_since_years and not all_day and rng.random() < 0.45:
            if rng.random() < 0.5:
                rule = _with(rule, count=rng.choice((4, 6, 8, 10, 12, 20, 26, 52)))
            else:
                rule = _with(rule, until=start_day + timedelta(days=rng.randint(30, 900)))
        spec.rule = rule
        duration = spec.duration
        occurrences = spec.occurrences()
        spec.start = occurrences[0]  # a series starts on its first occurrence (BYDAY may skip the chosen day)
        spec.end = spec.start + duration
        self._exceptions(spec, occurrences)
        return spec

    def _frequent_rule(self, day: date) -> Rule:
        rng = self.rng
        weekday = WEEKDAY_CODES[day.weekday() if day.weekday() < 5 else 0]
        roll = rng.random()
        if roll < 0.12:
            return Rule("DAILY", weekdays=WEEKDAY_CODES[:5])  # the stand-up, every working day
        if roll < 0.2:
            return Rule("WEEKLY", weekdays=tuple(sorted({weekday, rng.choice(WEEKDAY_CODES[:5])}, key=_day_index)))
        if roll < 0.35:
            return Rule("WEEKLY", interval=2, weekdays=(weekday,))
        return Rule("WEEKLY", weekdays=(weekday,))

    def _sparse_rule(self, day: date) -> tuple[Rule, bool]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return Rule("YEARLY", month=day.month, month_day=min(day.day, 28)), True
        if roll < 0.65:
            return Rule("MONTHLY", month_day=min(day.day, 28)), False
        return Rule("MONTHLY", nth_weekday=(rng.randint(1, 4), WEEKDAY_CODES[day.weekday() % 5])), False

    def _exceptions(self, spec: EventSpec, occurrences: list[Wall]) -> None:
        rng = self.rng
        near = [moment for moment in occurrences[1:] if abs((_as_datetime(moment) - self.now).days) < 400]
        if not near:
            return
        chosen = rng.sample(near, k=min(len(near), rng.choice((0, 1, 1, 2, 2, 3, 4))))
        for occurrence in chosen:
            roll = rng.random()
            if roll < 0.35:
                spec.changes.append(Change(occurrence, cancelled=True))
            elif roll < 0.55 and not spec.all_day:
                spec.exdates.append(occurrence)
            else:
                moved = occurrence + (
                    timedelta(days=1) if spec.all_day else timedelta(hours=rng.choice((-1, 1, 2, 24)))
                )
                title = spec.title + rng.choice(("", "", " (moved)", " - extended", " @ offsite"))
                spec.changes.append(Change(occurrence, start=moved, end=moved + spec.duration, title=title))

    # --- shared -------------------------------------------------------------------------------------

    def _base(self, start: Wall, end: Wall, *, all_day: bool = False) -> EventSpec:
        rng = self.rng
        work = rng.random() < 0.7
        title = (
            rng.choice(words.MEETING_TOPICS) + rng.choice(("", "", ": " + rng.choice(words.LAST_NAMES), " Q3"))
            if work
            else rng.choice(words.PERSONAL_TITLES)
        )
        spec = EventSpec(title=title, start=start, end=end, zone=self.zone, all_day=all_day, organizer=self.owner)
        spec.created = self.now - timedelta(days=rng.randint(1, 900), minutes=rng.randint(0, 1440))
        spec.status = "tentative" if rng.random() < 0.04 else "confirmed"
        spec.location = rng.choice(words.ROOMS) if rng.random() < 0.45 else ""
        if work and rng.random() < 0.75:
            company = rng.choice(words.COMPANIES)
            count = min(int(rng.lognormvariate(1.3, 0.8)) + 1, 60)
            spec.attendees = [self._person(company) for _ in range(count)]
            spec.organizer_is_owner = rng.random() < 0.4
            spec.organizer = self.owner if spec.organizer_is_owner else spec.attendees[0]
            spec.attendees.insert(0, Person(self.owner.email, self.owner.name, rng.choice(_OWNER_RESPONSES)))
            if rng.random() < 0.6:
                spec.conference = rng.choice(("meet", "teams", "zoom"))
                spec.conference_code = "-".join(_letters(rng, n) for n in (3, 4, 3))
        spec.description = self._description(spec)
        return spec

    def _person(self, company: str) -> Person:
        rng = self.rng
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        return Person(
            f"{first}.{last}@{company}".lower(),
            f"{first} {last}",
            rng.choice(("accepted", "accepted", "accepted", "tentative", "declined", "needsAction")),
            optional=rng.random() < 0.1,
        )

    def _description(self, spec: EventSpec) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4 and not spec.conference:
            return ""
        parts: list[str] = []
        if roll < 0.75:
            parts.append(rng.choice(words.AGENDA_LINES) + ".")
        else:
            lines = rng.sample(words.AGENDA_LINES, k=rng.randint(3, 8))
            parts.append("Agenda:\n" + "\n".join(f"{index}. {line}" for index, line in enumerate(lines, 1)))
            if rng.random() < 0.3:
                parts.append("Notes from last time: " + " ".join(rng.choices(words.AGENDA_LINES, k=6)).lower())
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        footer = {"teams": words.TEAMS_FOOTER, "meet": words.MEET_FOOTER, "zoom": words.ZOOM_FOOTER}.get(
            spec.conference
        )
        if footer:
            parts.append(footer.format(code=spec.conference_code, digits=digits, passcode=_letters(rng, 6)))
        return "\n\n".join(parts)


_OWNER_RESPONSES = ("accepted", "accepted", "accepted", "tentative", "needsAction")


def _with(rule: Rule, **changes: object) -> Rule:
    values = {**rule.__dict__, **changes}
    return Rule(**values)


def _day_index(code: str) -> int:
    return WEEKDAY_CODES.index(code)


def _letters(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("abcdefghijkmnopqrstuvwxyz") for _ in range(count))


def _full_name(rng: random.Random) -> str:
    return f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.LAST_NAMES)}"


def pick_zone(rng: random.Random) -> str:
    names, weights = zip(*words.ZONES, strict=True)
    return rng.choices(names, weights=weights)[0]
