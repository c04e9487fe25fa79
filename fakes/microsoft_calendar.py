"""Outlook calendar events for the Microsoft Graph fake: events, recurring series, calendarView delta.

Modelled (Graph v1.0: the event resource, patternedRecurrence, event: delta on a calendarView, delta query
state tokens; fakes/microsoft.py routes the requests here):

- Events are kept as Outlook keeps them: start and end as wall-clock times in the zone they were written in
  (originalStartTimeZone, a Windows or an IANA name), all-day events as local midnights. A series is one
  master with a `recurrence`; this module expands it into occurrences itself, from Graph's description of
  recurrencePattern/recurrenceRange (written independently of calsync's conversion, so tests can compare
  the two): a day of the month past the month's end falls on its last day, a relative pattern with several
  weekdays picks the index-th of all of them. A modified occurrence is an exception (same id as the
  occurrence, its own changeKey, `originalStart`); a deleted occurrence is simply gone.
- A calendar view holds the single instances, occurrences and exceptions overlapping [startDateTime,
  endDateTime), never a series master. In delta responses occurrences are sparse (@odata.type,
  @odata.etag, id, type, seriesMasterId, start, end), as Graph sends them (reported in Graph's docs
  issues; the pages themselves say delta returns "the same properties" as a calendarView). An occurrence is
  not an item of its own: its etag is its master's, so a change to the master lists its occurrences again
  (and its exceptions, which take what they do not override from it). Changing or deleting one occurrence
  leaves the master's changeKey alone: only that occurrence is listed (or @removed).
- Delta rounds: the first request fixes the window (its parameters are then encoded in the tokens); pages of
  `Prefer: odata.maxpagesize` items (default 10, capped by the state's page_size) carry @odata.nextLink
  with a $skiptoken, the last page @odata.deltaLink with a $deltatoken. Following a deltaLink returns what
  changed since: new and changed items in full, and as {"id", "@removed": {"reason": "deleted"}} the items
  deleted or moved out of the window, plus — as the event: delta page documents — single events added,
  changed or deleted outside the window since. An unknown or expired token answers 410 syncStateNotFound.
- Prefer: outlook.timezone="<Windows or IANA name>" for timed start/end (UTC when absent or unknown);
  all-day events keep midnight in their own zone (Graph does not convert them). Prefer:
  outlook.body-content-type="text" returns bodies as text instead of HTML.
- GET /me/events/{id}: a master (with its recurrence), a single event, or an occurrence/exception listed
  before; 404 ErrorItemNotFound otherwise.
- Writes through Graph (create, patch, remove, answer; fakes/microsoft.py documents the endpoints) turn
  a request body into the same changes the state helpers make (graph_changes: subject, body, location,
  start/end in their timeZone, isAllDay, recurrence, any other property as sent), so the delta cannot tell
  a write through Graph from a change made in Outlook. A repeated POST is recognised by its transactionId.
"""

from __future__ import annotations

import calendar as calendar_module
import hashlib
import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from html import escape
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from fakes.base import b64url

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # date.weekday()
WEEK_INDEX = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}
DEFAULT_DELTA_PAGE = 10


def zone_of(name: str) -> ZoneInfo:
    """The zone Graph means by `name`: an IANA name, a Windows name, or UTC. ValueError when unknown."""
    try:
        return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def graph_timestamp(moment: datetime) -> str:
    """A DateTimeOffset as Graph writes it: UTC, seven fractional digits, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def change_key() -> str:
    return b64url(secrets.token_bytes(16)).replace("-", "+").replace("_", "/") + "=="


def event_id() -> str:
    return "AAMkA" + b64url(secrets.token_bytes(96)).replace("-", "+").replace("_", "/") + "="


def occurrence_id(master_id: str, original_start: datetime) -> str:
    """Occurrence ids are stable (Graph's embed the master and the date): the same occurrence, the same id."""
    digest = hashlib.sha256(f"{master_id}|{original_start.astimezone(UTC).isoformat()}".encode()).digest()
    return "AAMkA" + b64url(digest * 3).replace("-", "+").replace("_", "/") + "="


# --- recurrence --------------------------------------------------------------------------------------------


def _last_day(year: int, month: int) -> int:
    return calendar_module.monthrange(year, month)[1]


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _relative_day(year: int, month: int, days: set[str], index: str) -> date:
    candidates = [
        date(year, month, day)
        for day in range(1, _last_day(year, month) + 1)
        if WEEKDAY_NAMES[date(year, month, day).weekday()] in days
    ]
    return candidates[WEEK_INDEX[index]]


def _periods(pattern: Mapping[str, Any], first: date) -> Iterator[tuple[date, list[date]]]:
    """(period start, candidate dates) for each period of the pattern from `first`'s period on, for ever."""
    kind = str(pattern["type"]).lower()
    interval = int(pattern.get("interval", 1))
    days = {str(name).lower() for name in pattern.get("daysOfWeek") or []}
    index = str(pattern.get("index") or "first").lower()
    if kind == "daily":
        current = first
        while True:
            yield current, [current]
            current += timedelta(days=interval)
    elif kind == "weekly":
        week_start_day = WEEKDAY_NAMES.index(str(pattern.get("firstDayOfWeek") or "sunday").lower())
        week = first - timedelta(days=(first.weekday() - week_start_day) % 7)
        while True:
            yield (
                week,
                [week + timedelta(days=n) for n in range(7) if WEEKDAY_NAMES[(week + timedelta(n)).weekday()] in days],
            )
            week += timedelta(weeks=interval)
    elif kind in ("absolutemonthly", "relativemonthly"):
        year, month = first.year, first.month
        while True:
            if kind == "absolutemonthly":
                day = date(year, month, min(int(pattern["dayOfMonth"]), _last_day(year, month)))
            else:
                day = _relative_day(year, month, days, index)
            yield date(year, month, 1), [day]
            year, month = _add_months(year, month, interval)
    elif kind in ("absoluteyearly", "relativeyearly"):
        year, month = first.year, int(pattern["month"])
        while True:
            if kind == "absoluteyearly":
                day = date(year, month, min(int(pattern["dayOfMonth"]), _last_day(year, month)))
            else:
                day = _relative_day(year, month, days, index)
            yield date(year, 1, 1), [day]
            year += interval
    else:
        raise ValueError(f"unknown pattern type {pattern['type']!r}")


def occurrence_dates(recurrence: Mapping[str, Any], until: date) -> Iterator[date]:
    """The dates of a series' occurrences, from range.startDate up to `until` (and the range's own end)."""
    pattern, span = recurrence["pattern"], recurrence["range"]
    first = date.fromisoformat(str(span["startDate"])[:10])
    kind = str(span.get("type") or "noEnd").lower()
    end = date.fromisoformat(str(span["endDate"])[:10]) if kind == "enddate" else None
    remaining = int(span["numberOfOccurrences"]) if kind == "numbered" else None
    for period_start, candidates in _periods(pattern, first):
        if period_start > until or (end is not None and period_start > end):
            return
        for day in candidates:
            if day < first:
                continue
            if day > until or (end is not None and day > end):
                return
            yield day
            if remaining is not None:
                remaining -= 1
                if remaining == 0:
                    return


# --- the store ---------------------------------------------------------------------------------------------


@dataclass
class Override:
    """A modified occurrence (an exception): what differs from the master, and when it now takes place."""

    fields: dict[str, Any]
    start: datetime  # aware
    end: datetime  # aware
    change_key: str
    modified: datetime
    version: int


@dataclass
class StoredEvent:
    id: str
    calendar_id: str
    fields: dict[str, Any]  # Graph properties: subject, body, location, attendees, organizer, showAs, ...
    start: datetime  # naive wall clock in `zone` (midnight for all-day events)
    end: datetime  # naive wall clock in `end_zone`
    zone: str  # originalStartTimeZone
    end_zone: str  # originalEndTimeZone
    all_day: bool
    recurrence: dict[str, Any] | None
    change_key: str
    created: datetime
    modified: datetime
    version: int
    ical_uid: str
    overrides: dict[datetime, Override] = field(default_factory=dict)  # by original start (aware UTC)
    deleted: set[datetime] = field(default_factory=set)  # original starts (aware UTC) of deleted occurrences

    @property
    def aware_start(self) -> datetime:
        return self.start.replace(tzinfo=zone_of(self.zone))

    @property
    def aware_end(self) -> datetime:
        return self.end.replace(tzinfo=zone_of(self.end_zone))

    def occurrences(self, until: date) -> Iterator[tuple[datetime, datetime, datetime]]:
        """(original start, start, end) of each occurrence up to `until`, deleted ones left out, exceptions
        at their new times."""
        if self.recurrence is None:
            return
        zone = zone_of(self.zone)
        duration = self.aware_end - self.aware_start
        for day in occurrence_dates(self.recurrence, until):
            original = datetime.combine(day, self.start.time(), tzinfo=zone)
            key = original.astimezone(UTC)
            if key in self.deleted:
                continue
            override = self.overrides.get(key)
            if override is not None:
                yield key, override.start, override.end
            elif self.all_day:
                yield key, original, datetime.combine(day + (self.end.date() - self.start.date()), time(), zone)
            else:
                yield key, original, (original.astimezone(UTC) + duration).astimezone(zone)


@dataclass
class Instance:
    """One item of a calendar view: a single event, an occurrence or an exception."""

    id: str
    kind: str  # singleInstance, occurrence, exception
    event: StoredEvent  # the event itself, or the series master
    start: datetime
    end: datetime
    original: datetime | None = None  # aware UTC, for occurrences and exceptions

    @property
    def override(self) -> Override | None:
        return self.event.overrides.get(self.original) if self.original is not None else None

    @property
    def change_key(self) -> str:
        override = self.override
        return override.change_key if override is not None else self.event.change_key


@dataclass
class DeltaState:
    """What a deltaLink remembers: the window, the items (and etags) the client has, and when."""

    calendar_id: str
    window: tuple[datetime, datetime]
    seen: dict[str, str]
    version: int


@dataclass
class DeltaRound:
    """The pages of one round: items (None for @removed) and the state its deltaLink will carry."""

    entries: list[tuple[str, Instance | None]]
    next_state: DeltaState


@dataclass
class Preferences:
    zone: ZoneInfo
    zone_name: str
    text_body: bool
    max_page_size: int | None
    applied: list[str]


def parse_prefer(values: list[str]) -> Preferences:
    """Prefer headers (one or several, comma-separated): odata.maxpagesize, outlook.timezone, body type."""
    prefs = Preferences(ZoneInfo("UTC"), "UTC", False, None, [])
    for value in values:
        for part in value.split(","):
            name, _, raw = part.strip().partition("=")
            setting = raw.strip().strip('"')
            if name.lower() == "odata.maxpagesize" and setting.isdigit():
                prefs.max_page_size = max(1, int(setting))
                prefs.applied.append(f"odata.maxpagesize={prefs.max_page_size}")
            elif name.lower() == "outlook.timezone":
                try:
                    prefs.zone, prefs.zone_name = zone_of(setting), setting
                    prefs.applied.append(f'outlook.timezone="{setting}"')
                except ValueError:
                    pass  # Graph falls back to UTC
            elif name.lower() == "outlook.body-content-type" and setting.lower() in ("text", "html"):
                prefs.text_body = setting.lower() == "text"
                prefs.applied.append(f'outlook.body-content-type="{setting.lower()}"')
    return prefs


@dataclass
class EventStore:
    """Every user's events, by id; plus the state tokens of delta rounds. Callers hold the fake's lock."""

    events: dict[str, StoredEvent] = field(default_factory=dict)
    tombstones: list[tuple[str, str, int]] = field(default_factory=list)  # (id, calendar id, version)
    instance_index: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # occurrence id -> master
    rounds: dict[str, tuple[DeltaRound, int]] = field(default_factory=dict)  # skiptoken -> (round, offset)
    delta_states: dict[str, DeltaState] = field(default_factory=dict)  # deltatoken -> state
    # transactionId -> (the event its POST made, that POST's body as canonical JSON)
    transactions: dict[str, tuple[str, str]] = field(default_factory=dict)
    version: int = 0

    def _bump(self) -> tuple[str, datetime, int]:
        self.version += 1
        return change_key(), datetime.now(UTC), self.version

    # --- changes made "in Outlook" ---------------------------------------------------------------------

    def add(
        self,
        calendar_id: str,
        *,
        start: datetime | date,
        end: datetime | date,
        time_zone: str,
        recurrence: dict[str, Any] | None,
        fields: dict[str, Any],
    ) -> StoredEvent:
        key, now, version = self._bump()
        all_day, wall_start, wall_end = _wall_times(start, end, time_zone)
        if recurrence is not None:
            recurrence = _complete_recurrence(recurrence, wall_start.date(), time_zone)
        event = StoredEvent(
            id=event_id(),
            calendar_id=calendar_id,
            fields=fields,
            start=wall_start,
            end=wall_end,
            zone=time_zone,
            end_zone=time_zone,
            all_day=all_day,
            recurrence=recurrence,
            change_key=key,
            created=now,
            modified=now,
            version=version,
            ical_uid="040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
        )
        self.events[event.id] = event
        return event

    def update(self, event_id: str, changes: dict[str, Any]) -> StoredEvent:
        event = self.events[event_id]
        event.change_key, event.modified, event.version = self._bump()
        times = {name: changes.pop(name) for name in ("start", "end", "time_zone") if name in changes}
        if times:
            zone = times.get("time_zone", event.zone)
            start = times.get("start", event.start if not event.all_day else event.start.date())
            end = times.get("end", event.end if not event.all_day else event.end.date())
            event.all_day, event.start, event.end = _wall_times(start, end, zone)
            event.zone = event.end_zone = zone
        if "recurrence" in changes or "start" in times:
            # Outlook drops a series' exceptions and deletions when its pattern or start changes ([MS-OXOCAL]
            # 3.1.4.7.3.5: a changed recurrence removes every exception from the recurrence blob).
            event.overrides.clear()
            event.deleted.clear()
        if "recurrence" in changes:
            recurrence = changes.pop("recurrence")
            event.recurrence = (
                None if recurrence is None else _complete_recurrence(recurrence, event.start.date(), event.zone)
            )
        elif event.recurrence is not None and "start" in times:
            event.recurrence = _complete_recurrence(
                {"pattern": event.recurrence["pattern"], "range": {**event.recurrence["range"], "startDate": None}},
                event.start.date(),
                event.zone,
            )
        event.fields.update(changes)
        # What exceptions do not override they take from the master: they changed too.
        for override in event.overrides.values():
            override.change_key, override.modified, override.version = self._bump()
        return event

    def delete(self, event_id: str) -> None:
        event = self.events.pop(event_id)
        self.version += 1
        self.tombstones.append((event_id, event.calendar_id, self.version))

    def original_key(self, master: StoredEvent, original_start: datetime | date) -> datetime:
        """The original start of one of `master`'s occurrences (a date picks that day's occurrence)."""
        if isinstance(original_start, datetime):
            moment = original_start if original_start.tzinfo else original_start.replace(tzinfo=zone_of(master.zone))
        else:
            moment = datetime.combine(original_start, master.start.time(), tzinfo=zone_of(master.zone))
        key = moment.astimezone(UTC)
        horizon = key.date() + timedelta(days=2)
        if not any(original == key for original, _, _ in master.occurrences(horizon)) and key not in master.overrides:
            raise KeyError(f"{master.id} has no occurrence starting {moment.isoformat()}")
        return key

    def update_occurrence(self, master_id: str, original_start: datetime | date, changes: dict[str, Any]) -> str:
        master = self.events[master_id]
        key = self.original_key(master, original_start)
        current = next(
            (
                (start, end)
                for original, start, end in master.occurrences(key.date() + timedelta(days=2))
                if original == key
            )
        )
        start, end = current
        zone = zone_of(master.zone)
        if "start" in changes:
            value = changes.pop("start")
            start = value if isinstance(value, datetime) and value.tzinfo else _aware(value, zone)
        if "end" in changes:
            value = changes.pop("end")
            end = value if isinstance(value, datetime) and value.tzinfo else _aware(value, zone)
        override = master.overrides.get(key)
        fields = {**(override.fields if override else {}), **changes}
        key_, now, version = self._bump()
        master.overrides[key] = Override(fields, start, end, key_, now, version)
        return occurrence_id(master_id, key)

    def delete_occurrence(self, master_id: str, original_start: datetime | date) -> str:
        master = self.events[master_id]
        key = self.original_key(master, original_start)
        master.overrides.pop(key, None)
        master.deleted.add(key)
        self.version += 1
        return occurrence_id(master_id, key)

    # --- changes made through Graph (POST/PATCH/DELETE; fakes/microsoft.py routes them) -----------

    def create(self, calendar_id: str, body: Mapping[str, Any], defaults: dict[str, Any]) -> tuple[StoredEvent, bool]:
        """POST .../events: the new event and True, or for a repeat of a POST with the same transactionId and
        the same content the event the first one made and False. DuplicateTransaction when the content
        differs. GraphInputError for a body Graph would refuse."""
        transaction = body.get("transactionId")
        sent = json.dumps(body, sort_keys=True)
        if transaction and transaction in self.transactions:
            made, first = self.transactions[transaction]
            if made in self.events:
                if first == sent:
                    return self.events[made], False
                raise DuplicateTransaction(
                    "Your request can't be completed. The TransactionId specified in the request has already "
                    "been used to create a different event."
                )
        if "start" not in body or "end" not in body:
            raise GraphInputError("ErrorInvalidRequest", "Your request can't be completed. Start and End are required.")
        changes = graph_changes(body, all_day=False)
        start, end, zone = changes.pop("start"), changes.pop("end"), changes.pop("time_zone")
        recurrence = changes.pop("recurrence", None)
        event = self.add(calendar_id, start=start, end=end, time_zone=zone, recurrence=recurrence, fields=defaults)
        event.fields.update(changes)
        if transaction:
            self.transactions[transaction] = (event.id, sent)
        return event, True

    def patch(self, item: Instance | StoredEvent, body: Mapping[str, Any]) -> Instance | StoredEvent:
        """PATCH /me/events/{id}: a single event or master changes; an occurrence becomes an exception."""
        if isinstance(item, StoredEvent):
            self.update(item.id, graph_changes(body, all_day=item.all_day))
            return self.events[item.id]
        assert item.original is not None  # an occurrence or exception
        changes = graph_changes(body, all_day=item.event.all_day)
        if "recurrence" in changes or "isAllDay" in body:
            raise GraphInputError(
                "ErrorInvalidRequest",
                "Your request can't be completed. An occurrence keeps its series' recurrence and all-day setting.",
            )
        changes.pop("time_zone", None)
        self.update_occurrence(item.event.id, item.original, changes)
        return self._instance_of(item.event, item.original)

    def remove(self, item: Instance | StoredEvent) -> None:
        """DELETE /me/events/{id}: an event or a whole series, or one occurrence."""
        if isinstance(item, StoredEvent):
            self.delete(item.id)
        else:
            assert item.original is not None
            self.delete_occurrence(item.event.id, item.original)

    def answer(self, item: Instance | StoredEvent, response: str, mail: str) -> None:
        """accept / tentativelyAccept / decline: the invitee's response, shown as their free/busy and in
        their own attendee entry; an answer to one occurrence makes it an exception."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = item if isinstance(item, StoredEvent) else item.event
        attendees = [dict(attendee) for attendee in event.fields.get("attendees") or []]
        for attendee in attendees:
            if str(attendee.get("emailAddress", {}).get("address", "")).lower() == mail.lower():
                attendee["status"] = {"response": response, "time": now}
        changes: dict[str, Any] = {
            "responseStatus": {"response": response, "time": now},
            "showAs": SHOW_AS[response],
            "attendees": attendees,
        }
        if isinstance(item, StoredEvent):
            self.update(item.id, changes)
        else:
            assert item.original is not None
            self.update_occurrence(item.event.id, item.original, changes)

    def _instance_of(self, master: StoredEvent, original: datetime) -> Instance:
        found = self.instance(occurrence_id(master.id, original))
        assert isinstance(found, Instance)
        return found

    def expire_delta_tokens(self) -> None:
        self.rounds.clear()
        self.delta_states.clear()

    # --- the calendar view -----------------------------------------------------------------------------

    def view(self, calendar_id: str, window: tuple[datetime, datetime]) -> dict[str, Instance]:
        start, end = window
        items: dict[str, Instance] = {}
        for event in self.events.values():
            if event.calendar_id != calendar_id:
                continue
            if event.recurrence is None:
                if event.aware_start < end and event.aware_end > start:
                    items[event.id] = Instance(event.id, "singleInstance", event, event.aware_start, event.aware_end)
                continue
            items.update((instance.id, instance) for instance in self.series_instances(event, window))
        return items

    def series_instances(self, event: StoredEvent, window: tuple[datetime, datetime]) -> list[Instance]:
        """The occurrences and exceptions of a series overlapping `window` (GET .../instances lists these)."""
        start, end = window
        found: list[Instance] = []
        # Exceptions may have moved into the window from an occurrence far outside it.
        until = max([end.date() + timedelta(days=2), *(o.start.date() for o in event.overrides.values())])
        for original, occurrence_start, occurrence_end in event.occurrences(until):
            if occurrence_start < end and occurrence_end > start:
                instance_id = occurrence_id(event.id, original)
                kind = "exception" if original in event.overrides else "occurrence"
                found.append(Instance(instance_id, kind, event, occurrence_start, occurrence_end, original))
                self.instance_index[instance_id] = (event.id, original)
        return found

    def instance(self, item_id: str) -> Instance | StoredEvent | None:
        """GET /me/events/{id}: a stored event (master or single) or a known occurrence/exception."""
        if item_id in self.events:
            return self.events[item_id]
        if item_id not in self.instance_index:
            return None
        master_id, original = self.instance_index[item_id]
        master = self.events.get(master_id)
        if master is None or original in master.deleted:
            return None
        for key, start, end in master.occurrences(original.date() + timedelta(days=2)):
            if key == original:
                kind = "exception" if key in master.overrides else "occurrence"
                return Instance(item_id, kind, master, start, end, key)
        return None

    def start_round(self, calendar_id: str, window: tuple[datetime, datetime]) -> DeltaRound:
        current = self.view(calendar_id, window)
        state = DeltaState(calendar_id, window, {key: item.change_key for key, item in current.items()}, self.version)
        return DeltaRound([(key, item) for key, item in current.items()], state)

    def continue_round(self, previous: DeltaState) -> DeltaRound:
        current = self.view(previous.calendar_id, previous.window)
        entries: list[tuple[str, Instance | None]] = [
            (key, item) for key, item in current.items() if previous.seen.get(key) != item.change_key
        ]
        gone = [key for key in previous.seen if key not in current]
        # Documented: single events added, changed or deleted outside the window also come as @removed.
        outside = [
            event.id
            for event in self.events.values()
            if event.calendar_id == previous.calendar_id
            and event.recurrence is None
            and event.version > previous.version
            and event.id not in current
        ]
        outside += [
            key
            for key, calendar_id, version in self.tombstones
            if calendar_id == previous.calendar_id and version > previous.version
        ]
        for key in dict.fromkeys([*gone, *outside]):
            if key not in current:
                entries.append((key, None))
        state = DeltaState(
            previous.calendar_id,
            previous.window,
            {key: item.change_key for key, item in current.items()},
            self.version,
        )
        return DeltaRound(entries, state)

    def page(
        self, delta_round: DeltaRound, offset: int, size: int
    ) -> tuple[list[tuple[str, Instance | None]], str | None, str | None]:
        """A page of the round, and either the next skiptoken or the deltatoken that ends the round."""
        entries = delta_round.entries[offset : offset + size]
        if offset + size < len(delta_round.entries):
            token = b64url(secrets.token_bytes(24))
            self.rounds[token] = (delta_round, offset + size)
            return entries, token, None
        token = b64url(secrets.token_bytes(24))
        self.delta_states[token] = delta_round.next_state
        return entries, None, token


# --- Graph request bodies ----------------------------------------------------------------------------------

# The invitee's free/busy after each response.
SHOW_AS = {"accepted": "busy", "tentativelyAccepted": "tentative", "declined": "free"}


class GraphInputError(ValueError):
    """A request body Graph refuses (400): its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class DuplicateTransaction(ValueError):
    """A POST whose transactionId already made a different event (400 ErrorDuplicateTransactionId)."""


def graph_changes(body: Mapping[str, Any], *, all_day: bool) -> dict[str, Any]:
    """A POST/PATCH body as the store's changes: subject, description (from body), location (its
    displayName), start/end/time_zone (aware datetimes, or dates for an all-day event), recurrence, and any
    other property as Graph would store it (attendees, showAs, transactionId, ...)."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "body":
            changes["description"] = _body_text(value)
        elif key == "location":
            changes["location"] = str(value.get("displayName") or "") if isinstance(value, Mapping) else ""
        elif key not in ("start", "end", "isAllDay"):
            changes[key] = value
    all_day = bool(body.get("isAllDay", all_day))
    for name in ("start", "end"):
        if name in body:
            changes[name] = _graph_time(body[name], all_day=all_day, name=name)
    if "start" in body:
        changes["time_zone"] = str(body["start"].get("timeZone") or "UTC")
    elif "isAllDay" in body:
        raise GraphInputError("ErrorInvalidRequest", "Your request can't be completed. isAllDay needs Start and End.")
    return changes


def _graph_time(value: object, *, all_day: bool, name: str) -> datetime | date:
    if not isinstance(value, Mapping) or not value.get("dateTime"):
        raise GraphInputError("ErrorInvalidRequest", f"Your request can't be completed. {name} needs a dateTime.")
    zone_name = str(value.get("timeZone") or "UTC")
    try:
        zone = zone_of(zone_name)
    except ValueError:
        raise GraphInputError(
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'.",
        ) from None
    text = str(value["dateTime"])
    whole, _, fraction = text.partition(".")
    try:
        wall = datetime.fromisoformat(whole).replace(microsecond=int((fraction + "000000")[:6]) if fraction else 0)
    except ValueError:
        raise GraphInputError("ErrorInvalidRequest", f"Your request can't be completed. Invalid {name}.") from None
    if all_day:
        if wall.time() != time():
            raise GraphInputError(
                "ErrorInvalidRequest",
                "Your request can't be completed. If the event is an all-day event, it has to start and end at "
                "midnight.",
            )
        return wall.date()
    return wall.replace(tzinfo=None).replace(tzinfo=zone)


def _body_text(value: object) -> str:
    if not isinstance(value, Mapping):
        return ""
    content = str(value.get("content") or "")
    if str(value.get("contentType") or "text").lower() == "html":
        return re.sub(r"<[^>]+>", "", content).strip()
    return content


def etag_matches(if_match: str | None, key: str) -> bool:
    """If-Match against an item's changeKey: absent or * always matches; W/"key" and "key" name it."""
    if if_match is None or if_match.strip() == "*":
        return True
    return if_match.strip().removeprefix("W/").strip('"') == key


# --- rendering ---------------------------------------------------------------------------------------------


def render_event(
    item: Instance | StoredEvent, prefs: Preferences, *, sparse: bool = False, base: str = ""
) -> dict[str, Any]:
    """The Graph JSON of a stored event, a series master, or an instance of a calendar view."""
    if isinstance(item, StoredEvent):
        event, kind = item, ("seriesMaster" if item.recurrence is not None else "singleInstance")
        start, end, original, override, item_id = item.aware_start, item.aware_end, None, None, item.id
        key = event.change_key
    else:
        event, kind, start, end, original = item.event, item.kind, item.start, item.end, item.original
        override, item_id, key = item.override, item.id, item.change_key
    start_json = _date_time_zone(start, event, prefs)
    end_json = _date_time_zone(end, event, prefs)
    etag = f'W/"{key}"'
    if sparse and kind == "occurrence":
        return {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": etag,
            "seriesMasterId": event.id,
            "type": "occurrence",
            "start": start_json,
            "end": end_json,
            "id": item_id,
        }
    fields = {**event.fields, **(override.fields if override else {})}
    description = str(fields.pop("description", ""))
    location = fields.pop("location", "")
    location_json = location if isinstance(location, dict) else _location(str(location))
    if prefs.text_body:
        body = {"contentType": "text", "content": description}
    else:
        html = f"<html><head></head><body><p>{escape(description)}</p></body></html>" if description else ""
        body = {"contentType": "html", "content": html}
    online = fields.get("onlineMeeting")
    resource: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.event",
        "@odata.etag": etag,
        "id": item_id,
        "createdDateTime": graph_timestamp(event.created),
        "lastModifiedDateTime": graph_timestamp(override.modified if override else event.modified),
        "changeKey": key,
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": event.zone,
        "originalEndTimeZone": event.end_zone,
        # Graph gives every occurrence an iCalUId of its own.
        "iCalUId": event.ical_uid if original is None else event.ical_uid[:-16] + original.strftime("%Y%m%d%H%M%S00"),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": "",
        "bodyPreview": description[:255],
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": event.all_day,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": True,
        "seriesMasterId": event.id if kind in ("occurrence", "exception") else None,
        "showAs": "busy",
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={quote(item_id, safe='')}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": bool(online),
        "onlineMeetingProvider": "teamsForBusiness" if online else "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": body,
        "start": start_json,
        "end": end_json,
        "location": location_json,
        "locations": [location_json] if location_json.get("displayName") else [],
        "recurrence": event.recurrence if kind == "seriesMaster" else None,
        "attendees": [],
        "organizer": {},
        "onlineMeeting": None,
        **fields,
    }
    if original is not None:
        resource["originalStart"] = graph_timestamp(original).replace(".0000000Z", "Z")
    if not resource["isOrganizer"] and resource["responseStatus"]["response"] == "organizer":
        resource["responseStatus"] = {"response": "notResponded", "time": "0001-01-01T00:00:00Z"}
    return resource


def _location(name: str) -> dict[str, Any]:
    if not name:
        return {
            "displayName": "",
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        }
    return {
        "displayName": name,
        "locationType": "default",
        "uniqueId": name,
        "uniqueIdType": "private",
        "address": {},
        "coordinates": {},
    }


def _date_time_zone(moment: datetime, event: StoredEvent, prefs: Preferences) -> dict[str, str]:
    if event.all_day:
        # All-day events stay at midnight in their own zone, whatever the client prefers.
        local = moment.astimezone(zone_of(event.zone))
        return {"dateTime": f"{local:%Y-%m-%d}T00:00:00.0000000", "timeZone": event.zone}
    local = moment.astimezone(prefs.zone)
    return {"dateTime": f"{local:%Y-%m-%dT%H:%M:%S}.0000000", "timeZone": prefs.zone_name}


def _aware(value: datetime | date, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return datetime.combine(value, time(), tzinfo=zone)


def _wall_times(start: datetime | date, end: datetime | date, time_zone: str) -> tuple[bool, datetime, datetime]:
    """(all day, start, end) as naive wall-clock times in `time_zone`; dates make an all-day event."""
    zone = zone_of(time_zone)
    if not isinstance(start, datetime):
        if isinstance(end, datetime):
            raise TypeError("an all-day event takes dates for both start and end")
        return True, datetime.combine(start, time()), datetime.combine(end, time())
    if not isinstance(end, datetime):
        raise TypeError("a timed event takes datetimes for both start and end")
    wall_start = start.astimezone(zone).replace(tzinfo=None) if start.tzinfo else start
    wall_end = end.astimezone(zone).replace(tzinfo=None) if end.tzinfo else end
    return False, wall_start, wall_end


def _complete_recurrence(recurrence: dict[str, Any], start: date, time_zone: str) -> dict[str, Any]:
    """A patternedRecurrence as Graph returns it: every pattern property present, the range tied to the
    master's start date and zone."""
    pattern = {
        "type": "daily",
        "interval": 1,
        "month": 0,
        "dayOfMonth": 0,
        "daysOfWeek": [],
        "firstDayOfWeek": "sunday",
        "index": "first",
        **recurrence.get("pattern", {}),
    }
    span = {
        "type": "noEnd",
        "startDate": None,
        "endDate": "0001-01-01",
        "recurrenceTimeZone": time_zone,
        "numberOfOccurrences": 0,
        **{key: value for key, value in recurrence.get("range", {}).items() if value is not None},
    }
    span["startDate"] = span.get("startDate") or start.isoformat()
    return {"pattern": pattern, "range": span}
