"""Download my data: what calsync holds about a person, as JSON, and their events as iCalendar.

The JSON has the account, its email addresses, two-factor methods (not their secrets), signed-in devices,
calendar connections (never credentials), events and the person's audit history. Both files are
generated as a stream, a few hundred rows at a time, so a large calendar does not have to fit in memory;
an event that cannot be written is logged and skipped rather than cutting the download short.
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core.serializers.json import DjangoJSONEncoder
from icalendar import Calendar, Event, Timezone

from accounts.devices import describe_user_agent
from accounts.models import Session, User
from accounts.timezones import is_known_timezone
from audit.models import AuditLog
from connections.models import CalendarConnection, ProviderAccount
from events.models import CalendarEvent

logger = logging.getLogger(__name__)
TZID_PARAMETER = re.compile(r"TZID=([^;:]+)")

CHUNK_SIZE = 500
ICAL_PRODUCT_ID = "-//calsync//Data export//EN"
# VTIMEZONE transitions are written out up to this date (icalendar's default stops at 2038).
ZONE_RULES_UNTIL = date(2100, 1, 1)


def events_of(user: User) -> Any:
    """The person's live events; an exception of a deleted series is gone with its series."""
    return (
        CalendarEvent.objects.filter(connection__user=user, deleted_at__isnull=True)
        .exclude(recurring_event__deleted_at__isnull=False)
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
        "email_addresses": list(
            EmailAddress.objects.filter(user=user).values("email", "verified", "primary").order_by("email")
        ),
        "two_factor_methods": list(
            Authenticator.objects.filter(user=user).values("type", "created_at", "last_used_at").order_by("pk")
        ),
        "devices": [_session_json(session) for session in Session.objects.filter(user=user).order_by("created_at")],
        "connections": [_connection_json(connection) for connection in _connections_of(user)],
    }
    yield encoder.encode(header)[:-1]
    yield ', "events": ['
    events = (_event_json(event) for event in events_of(user).iterator(chunk_size=CHUNK_SIZE))
    yield from _json_array(encoder, events)
    yield '], "activity": ['
    history = AuditLog.objects.filter(subject_user_id=user.pk).order_by("created_at", "pk")
    fields = ("created_at", "action", "ip_address", "user_agent")
    yield from _json_array(encoder, history.values(*fields).iterator(chunk_size=CHUNK_SIZE))
    yield "]}\n"


def _json_array(encoder: DjangoJSONEncoder, items: Iterable[Any]) -> Iterator[str]:
    for index, item in enumerate(items):
        yield ("," if index else "") + encoder.encode(item)


def _session_json(session: Session) -> dict[str, Any]:
    return {
        "device": describe_user_agent(session.user_agent),
        "user_agent": session.user_agent,
        "ip_address": session.ip_address,
        "signed_in_at": session.created_at,
        "last_seen_at": session.last_seen_at,
    }


def _connections_of(user: User) -> Any:
    return (
        CalendarConnection.objects.filter(user=user)
        .select_related("account")
        .defer(*(f"account__{name}" for name in ProviderAccount.SECRET_FIELDS))
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
    return {
        "calendar": event.connection.name,
        "id": event.provider_event_id,
        "uid": event.ical_uid,
        "title": event.title,
        "description": event.description,
        "location": event.location,
        "start": _json_time(event, event.start),
        "end": _json_time(event, event.end),
        "all_day": event.all_day,
        "timezone": event.timezone,
        "status": event.status,
        "recurrence": event.recurrence.splitlines(),
        "recurring_event_id": event.master_provider_event_id or None,
        "original_start": _json_time(event, event.original_start) if event.original_start else None,
        "metadata": event.metadata,
        "provider_data": event.provider_data,
    }


def _json_time(event: CalendarEvent, value: datetime) -> Any:
    """All-day: the date; floating: the wall-clock time without a zone; otherwise the UTC instant."""
    if event.all_day:
        return value.astimezone(UTC).date()
    if event.is_floating:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


# --- iCalendar -------------------------------------------------------------------------------------


def export_ics(user: User) -> Iterator[bytes]:
    header = Calendar()
    header.add("prodid", ICAL_PRODUCT_ID)
    header.add("version", "2.0")
    header.add("x-wr-calname", f"calsync export for {user.email}")
    opening = header.to_ical().decode()
    yield opening.replace("END:VCALENDAR\r\n", "").encode()
    for name in sorted(_zones_used(user)):
        yield Timezone.from_tzid(name, last_date=ZONE_RULES_UNTIL).to_ical()
    for event in events_of(user).iterator(chunk_size=CHUNK_SIZE):
        try:
            yield _vevent(event).to_ical()
        except (ValueError, TypeError, KeyError):
            logger.exception("export: event %s could not be written as iCalendar; left out", event.pk)
    yield b"END:VCALENDAR\r\n"


def _zones_used(user: User) -> set[str]:
    """Every zone a VEVENT will name: event zones, and TZIDs inside EXDATE/RDATE lines."""
    events = events_of(user)
    names = set(events.exclude(timezone="").values_list("timezone", flat=True).distinct().order_by())
    for recurrence in events.exclude(recurrence="").values_list("recurrence", flat=True).iterator():
        names.update(TZID_PARAMETER.findall(recurrence))
    return {name for name in names if is_known_timezone(name)}


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
    # Only names the zone database lists: ZoneInfo("Europe") would raise IsADirectoryError.
    return zoneinfo.ZoneInfo(name) if is_known_timezone(name) else None
