"""A provider's event (`RemoteEvent`) as the fields of a CalendarEvent row.

This is where provider data meets the database's rules: times become UTC instants (or whole days, or
floating wall-clock times), text loses the NUL characters PostgreSQL cannot store, and an event that breaks
a rule is repaired with a recorded reason rather than refused, so one odd event never stops a sync.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from connections.providers.base import EventTime, RemoteEvent
from events.models import EventStatus
from events.recurrence import RecurrenceError, Series, busiest_day, ruleset, series_end, zone_or_none

MAX_ID_LENGTH = 1024
# A description beyond this is cut (with a note): a calendar is not a document store, and the week view
# sends it to the browser.
MAX_TEXT_LENGTH = 1_000_000
STATUSES = frozenset(EventStatus.values)


class Unstorable(ValueError):
    """The event cannot be stored at all (the reason is recorded on the sync run)."""


@dataclass
class EventRow:
    provider_event_id: str
    fields: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def master_id(self) -> str:
        return str(self.fields["master_provider_event_id"])

    @property
    def is_master(self) -> bool:
        return bool(self.fields["recurrence"])


def event_row(remote: RemoteEvent) -> EventRow:
    if not remote.provider_event_id or len(remote.provider_event_id) > MAX_ID_LENGTH:
        raise Unstorable("the event's id is empty or too long")
    if clean_text(remote.provider_event_id) != remote.provider_event_id:
        raise Unstorable("the event's id is not valid text")
    problems = list(remote.problems)
    all_day = _is_date(remote.start)
    if all_day:
        start, end = _all_day_span(remote.start, remote.end, problems)
        zone_name = ""
    else:
        start, end, zone_name = _timed_span(remote, problems)
    recurrence = "\n".join(line.strip() for line in remote.recurrence if line.strip())
    master_id, original_start = remote.master_id, remote.original_start
    if recurrence and master_id:
        problems.append("an exception with its own recurrence: stored as a series of its own")
        master_id, original_start = "", None
    if master_id and original_start is None:
        problems.append("an exception without the occurrence it replaces: stored as a single event")
        master_id = ""
    if len(master_id) > MAX_ID_LENGTH:
        raise Unstorable("the series master's id is too long")
    recurrence_end = _recurrence_end(start, end, recurrence, zone_name, problems) if recurrence else None
    status = remote.status if remote.status in STATUSES else EventStatus.CONFIRMED
    title = _bounded(remote.title, "title", problems)
    description = _bounded(remote.description, "description", problems)
    location = _bounded(remote.location, "location", problems)
    provider_data = dict(remote.provider_data)
    if problems:
        provider_data["problems"] = problems
    fields: dict[str, Any] = {
        "ical_uid": clean_text(remote.ical_uid)[:MAX_ID_LENGTH],
        "title": title,
        "description": description,
        "location": location,
        "start": start,
        "end": end,
        "all_day": all_day,
        "timezone": zone_name,
        "status": status,
        "recurrence": clean_text(recurrence),
        "recurrence_end": recurrence_end,
        "master_provider_event_id": master_id,
        "original_start": stored_instant(original_start) if master_id and original_start is not None else None,
        "metadata": clean_json(_compact_people(remote.metadata)),
        "provider_data": clean_json(provider_data),
    }
    fields["etag"] = clean_text(remote.etag)[:255] or content_tag(fields)
    return EventRow(remote.provider_event_id, fields, problems)


def _compact_people(metadata: dict[str, Any]) -> dict[str, Any]:
    """The guest list and organizer without the flags that are off and the names that are empty: readers
    take a missing key as False or "", and at one row per event the defaults were 6% of the table."""
    compact = dict(metadata)
    for key in ("attendees", "organizer"):
        value = compact.get(key)
        if isinstance(value, list):
            compact[key] = [_without_defaults(item) for item in value]
        elif isinstance(value, dict):
            compact[key] = _without_defaults(value)
    return compact


def _without_defaults(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    return {name: value for name, value in item.items() if value is not False and value != ""}


def content_tag(fields: dict[str, Any]) -> str:
    """A stand-in etag for providers that send none: unchanged content gives the same tag."""
    body = json.dumps(fields, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate (which JSON's \ud800 decodes to) cannot be
    # encoded at all: a hostile or broken body must not fail the page's insert.
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_json(value: Any) -> Any:
    """`value` as JSON PostgreSQL's jsonb accepts. Nearly every value already is: one pass through the C
    encoder proves it, and only a value that fails the check is rebuilt piece by piece."""
    try:
        # allow_nan=False: jsonb refuses NaN and Infinity, which Python's json reader accepts.
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        encoded.encode("utf-8")  # a lone surrogate stays raw with ensure_ascii=False, and fails here
    except (TypeError, ValueError, UnicodeEncodeError):
        return _rebuilt_json(value)
    # NUL comes out escaped. A text holding a backslash and "u0000" matches too; rebuilding is then harmless.
    return _rebuilt_json(value) if "\\u0000" in encoded else value


def _rebuilt_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(key)): _rebuilt_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rebuilt_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float) or value is None:
        return value
    return clean_text(str(value))


def _bounded(value: str, name: str, problems: list[str]) -> str:
    value = clean_text(value or "")
    if len(value) > MAX_TEXT_LENGTH:
        problems.append(f"the {name} was cut to {MAX_TEXT_LENGTH:,} characters")
        return value[:MAX_TEXT_LENGTH]
    return value


def _is_date(value: EventTime) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _all_day_span(start: EventTime, end: EventTime, problems: list[str]) -> tuple[datetime, datetime]:
    first = _midnight_utc(start)
    if isinstance(end, datetime):
        problems.append("an all-day event with a timed end: the end's date is used")
        end = end.date()
    last = _midnight_utc(end)
    if last <= first:
        problems.append("an all-day event that ends before it starts: one day assumed")
        last = first + timedelta(days=1)
    return first, last


def _timed_span(remote: RemoteEvent, problems: list[str]) -> tuple[datetime, datetime, str]:
    start = remote.start
    if not isinstance(start, datetime):  # pragma: no cover - _is_date() sent dates elsewhere
        raise Unstorable("the start is not a time")
    end: EventTime = remote.end
    floating = start.tzinfo is None
    zone_name = "" if floating else _zone_name(remote.timezone, start, problems)
    if not isinstance(end, datetime):
        problems.append("a timed event with an all-day end: one hour assumed")
        end = start + timedelta(hours=1)
    elif (end.tzinfo is None) != floating:
        # One side zoned, one floating: read the floating side in the zoned side's zone.
        end = end.replace(tzinfo=start.tzinfo) if not floating else end.astimezone(UTC).replace(tzinfo=None)
    stored_start, stored_end = stored_instant(start), stored_instant(end)
    if stored_end < stored_start:
        problems.append("the event ends before it starts: its end was set to its start")
        stored_end = stored_start
    return stored_start, stored_end, zone_name


def _zone_name(name: str, start: datetime, problems: list[str]) -> str:
    if name and zone_or_none(name) is not None:
        return name
    if name:
        problems.append(f"unknown time zone {name[:64]!r}: times kept as the provider sent them")
    key = getattr(start.tzinfo, "key", "")
    return key if isinstance(start.tzinfo, ZoneInfo) and key else "UTC"


def stored_instant(value: EventTime) -> datetime:
    """UTC for zoned times; dates and floating times as their wall clock labelled UTC (see CalendarEvent)."""
    if not isinstance(value, datetime):
        return _midnight_utc(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _recurrence_end(
    start: datetime, end: datetime, recurrence: str, zone_name: str, problems: list[str]
) -> datetime | None:
    series = Series(
        start=start, duration=end - start, lines=tuple(recurrence.splitlines()), zone=zone_or_none(zone_name)
    )
    try:
        ruleset(series)  # an endless rule is never walked for its end, but it must be readable all the same
        _note_dense(series, problems)
        return series_end(series)
    except RecurrenceError as exc:
        problems.append(f"the recurrence could not be read ({exc}): only the first occurrence is shown")
        return None


def _note_dense(series: Series, problems: list[str]) -> None:
    """A rule denser than a page shows is kept, and its expansion capped (events.recurrence.Limits): say so."""
    most = busiest_day(series)
    if most > settings.RECURRENCE_MAX_PER_DAY:
        problems.append(
            f"the series repeats up to {most:,} times a day: at most {settings.RECURRENCE_MAX_PER_DAY} a day are shown"
        )
