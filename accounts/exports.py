"""Download my data: the person's account, connections (never secrets) and events, as JSON and iCalendar.

Both are generated as a stream, a few hundred events at a time, so a large calendar does not have to fit
in memory.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from icalendar import Calendar, Event, Timezone

from accounts.models import User
from connections.models import CalendarConnection
from events.models import CalendarEvent

CHUNK_SIZE = 500
ICAL_PRODUCT_ID = "-//calsync//Data export//EN"
# VTIMEZONE transitions are written out up to this date (icalendar's default stops at 2038).
ZONE_RULES_UNTIL = date(2100, 1, 1)


def events_of(user: User) -> Any:
    return (
        CalendarEvent.objects.filter(connection__user=user, deleted_at__isnull=True)
        .select_related("connection", "recurring_event")
        .order_by("start", "pk")
    )


# --- JSON ------------------------------------------------------------------------------------------


def export_json(user: User) -> Iterator[str]:
    encoder = DjangoJSONEncoder()
    header = {
        "exported_at": datetime.now(UTC),
        "account": {
            "email": user.email,
            "name": user.name,
            "timezone": user.timezone,
            "week_start": user.get_week_start_display(),
            "created_at": user.created_at,
        },
        "connections": [_connection_json(connection) for connection in _connections_of(user)],
    }
    opening = encoder.encode(header)
    yield opening[:-1] + ', "events": ['
    for index, event in enumerate(events_of(user).iterator(chunk_size=CHUNK_SIZE)):
        yield ("," if index else "") + encoder.encode(_event_json(event))
    yield "]}\n"


def _connections_of(user: User) -> Any:
    return (
        CalendarConnection.objects.filter(user=user)
        .select_related("account")
        .defer("account__access_token", "account__refresh_token", "account__password")
    )


def _connection_json(connection: CalendarConnection) -> dict[str, Any]:
    return {
        "provider": connection.account.get_provider_display(),
        "account": connection.account.email,
        "calendar": connection.name,
        "calendar_id": connection.remote_id,
        "color": connection.color,
        "primary": connection.is_primary,
        "read_only": connection.read_only,
        "syncing": connection.is_connected,
        "last_synced_at": connection.last_synced_at,
    }


def _event_json(event: CalendarEvent) -> dict[str, Any]:
    if event.all_day:
        start: Any = event.start_date
        end: Any = event.end_date
    elif event.is_floating:
        start, end = event.start.replace(tzinfo=None), event.end.replace(tzinfo=None)
    else:
        start, end = event.start, event.end
    return {
        "calendar": event.connection.name,
        "id": event.provider_event_id,
        "uid": event.ical_uid,
        "title": event.title,
        "description": event.description,
        "location": event.location,
        "start": start,
        "end": end,
        "all_day": event.all_day,
        "timezone": event.timezone,
        "status": event.status,
        "recurrence": event.recurrence.splitlines(),
        "recurring_event_id": event.master_provider_event_id or None,
        "original_start": event.original_start,
        "attendees": event.metadata.get("attendees", []),
        "organizer": event.metadata.get("organizer"),
    }


# --- iCalendar -------------------------------------------------------------------------------------


def export_ics(user: User) -> Iterator[bytes]:
    header = Calendar()
    header.add("prodid", ICAL_PRODUCT_ID)
    header.add("version", "2.0")
    header.add("x-wr-calname", f"calsync export for {user.email}")
    opening = header.to_ical().decode()
    yield opening.replace("END:VCALENDAR\r\n", "").encode()
    zones = events_of(user).exclude(timezone="").values_list("timezone", flat=True).distinct().order_by()
    for name in sorted(set(zones)):
        if _zone(name) is not None:
            yield Timezone.from_tzid(name, last_date=ZONE_RULES_UNTIL).to_ical()
    for event in events_of(user).iterator(chunk_size=CHUNK_SIZE):
        yield _vevent(event).to_ical()
    yield b"END:VCALENDAR\r\n"


def _vevent(event: CalendarEvent) -> Event:
    vevent = Event()
    vevent.add("uid", _uid(event))
    vevent.add("dtstamp", event.updated_at)
    vevent.add("summary", event.title)
    if event.description:
        vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("dtstart", _ical_time(event, event.start))
    vevent.add("dtend", _ical_time(event, event.end))
    vevent.add("status", event.status.upper())
    if event.original_start is not None:
        vevent.add("recurrence-id", _ical_time(event, event.original_start))
    for name, value in _recurrence_properties(event.recurrence).items():
        vevent[name] = value
    return vevent


def _recurrence_properties(recurrence: str) -> dict[str, Any]:
    if not recurrence.strip():
        return {}
    try:
        rules = Event.from_ical("BEGIN:VEVENT\r\n" + recurrence.strip() + "\r\nEND:VEVENT\r\n")
    except ValueError:
        return {}  # a rule we could not read is left out rather than failing the whole export
    # icalendar reads an unparsable RRULE as an empty rule; an empty rule is left out too.
    return {name: rules[name] for name in ("RRULE", "EXDATE", "RDATE") if rules.get(name)}


def _uid(event: CalendarEvent) -> str:
    if event.original_start is not None:  # an exception shares its series' UID
        master = event.recurring_event
        if master is not None:
            return master.ical_uid or master.provider_event_id or f"{master.pk}@calsync"
        return event.ical_uid or event.master_provider_event_id
    return event.ical_uid or event.provider_event_id or f"{event.pk}@calsync"


def _ical_time(event: CalendarEvent, value: datetime) -> Any:
    if event.all_day:
        return value.astimezone(UTC).date()
    if event.is_floating:
        return value.astimezone(UTC).replace(tzinfo=None)
    zone = _zone(event.timezone)
    return value.astimezone(zone) if zone is not None else value.astimezone(UTC)


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
