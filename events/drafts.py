"""An event as the person wrote it (`EventDraft`), in the three forms the two-way sync needs: the JSON an
outbox row keeps, the fields of the event row that shows it at once, and the draft a provider write sends.

The row's fields go through the same mapping as the provider's events (`events.mapping.event_row`), so a
change shows exactly as the provider's copy will once it comes back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connections.providers.base import EventDraft, EventRef, EventTime, RemoteEvent
from events.mapping import event_row
from events.models import CalendarEvent, EventChange
from events.recurrence import split_lines, zone_or_none

# The row fields a change sets (and a discarded change puts back).
EDITED_FIELDS = (
    "title",
    "description",
    "location",
    "start",
    "end",
    "all_day",
    "timezone",
    "status",
    "recurrence",
    "recurrence_end",
    "metadata",
    "etag",
)


def draft_payload(draft: EventDraft) -> dict[str, Any]:
    return {
        "title": draft.title,
        "description": draft.description,
        "location": draft.location,
        "start": draft.start.isoformat(),
        "end": draft.end.isoformat(),
        "all_day": not isinstance(draft.start, datetime),
        "timezone": draft.timezone,
        "recurrence": list(draft.recurrence),
    }


def draft_from_payload(payload: dict[str, Any]) -> EventDraft:
    zone = zone_or_none(str(payload.get("timezone") or ""))
    return EventDraft(
        title=str(payload.get("title", "")),
        description=str(payload.get("description", "")),
        location=str(payload.get("location", "")),
        start=_time(str(payload["start"]), all_day=bool(payload.get("all_day")), zone=zone),
        end=_time(str(payload["end"]), all_day=bool(payload.get("all_day")), zone=zone),
        timezone=str(payload.get("timezone") or "") if zone else "",
        recurrence=tuple(str(line) for line in payload.get("recurrence") or ()),
    )


def draft_of_row(event: CalendarEvent) -> EventDraft:
    """The draft that describes a stored row as it is (the starting point of an edit)."""
    zone = zone_or_none(event.timezone)
    start: EventTime
    end: EventTime
    if event.all_day:
        start, end = event.start_date, event.end_date
    elif zone is None:  # floating: the wall clock, stored labelled UTC
        start, end = _wall(event.start), _wall(event.end)
    else:
        start, end = event.start.astimezone(zone), event.end.astimezone(zone)
    return EventDraft(
        title=event.title,
        description=event.description,
        location=event.location,
        start=start,
        end=end,
        timezone=event.timezone if zone else "",
        recurrence=split_lines(event.recurrence),
    )


def row_fields(draft: EventDraft, *, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event row's fields for a draft, computed as for a provider's event (recurrence end included)."""
    remote = RemoteEvent(
        provider_event_id="local",
        start=draft.start,
        end=draft.end,
        title=draft.title,
        description=draft.description,
        location=draft.location,
        timezone=draft.timezone,
        recurrence=draft.recurrence,
        metadata=metadata or {},
    )
    fields = event_row(remote).fields
    return {name: fields[name] for name in EDITED_FIELDS if name not in ("etag", "status")}


def row_snapshot(event: CalendarEvent) -> dict[str, Any]:
    """The row's edited fields as JSON, to put back if the person discards their change."""
    return {name: _json_value(getattr(event, name)) for name in EDITED_FIELDS}


def restore_snapshot(event: CalendarEvent, snapshot: dict[str, Any]) -> None:
    for name in EDITED_FIELDS:
        if name not in snapshot:
            continue
        value = snapshot[name]
        if name in ("start", "end", "recurrence_end") and value is not None:
            value = datetime.fromisoformat(value)
        setattr(event, name, value)


def ref_of(change: EventChange) -> EventRef:
    original: EventTime | None = None
    if change.original_start is not None:
        # An occurrence of an all-day series is named by its date (stored as midnight UTC).
        original = change.original_start.astimezone(UTC)
        if change.payload.get("series_all_day"):
            original = original.date()
    return EventRef(
        provider_event_id=change.provider_event_id,
        master_id=change.master_provider_event_id,
        original_start=original,
    )


def shifted(draft: EventDraft, delta: timedelta) -> EventDraft:
    """The draft moved by `delta` (whole days for an all-day draft)."""
    if isinstance(draft.start, datetime) and isinstance(draft.end, datetime):
        # On the time line, not the wall clock: a move across a DST change lands where it was dropped.
        return replace(draft, start=_later(draft.start, delta), end=_later(draft.end, delta))
    days = timedelta(days=delta.days)
    return replace(draft, start=draft.start + days, end=draft.end + days)


def _wall(stored: datetime) -> datetime:
    return stored.astimezone(UTC).replace(tzinfo=None)


def _later(moment: datetime, delta: timedelta) -> datetime:
    if moment.tzinfo is None:
        return moment + delta
    return (moment.astimezone(UTC) + delta).astimezone(moment.tzinfo)


def fields_snapshot(fields: dict[str, Any]) -> dict[str, Any]:
    """A provider version's row fields (as `event_row` makes them) as JSON, like `row_snapshot`."""
    return {name: _json_value(fields[name]) for name in EDITED_FIELDS if name in fields}


def _time(text: str, *, all_day: bool, zone: ZoneInfo | None) -> EventTime:
    if all_day:
        return date.fromisoformat(text[:10])
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment  # floating: drafts write zoned times with their offset
    return moment.astimezone(zone) if zone else moment


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value
