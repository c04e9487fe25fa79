"""Specs as Google Calendar API event resources (events.list with singleEvents=false), mapped through
connections.providers.google.reading.remote_event."""

from __future__ import annotations

import base64
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.dataset.specs import EventSpec, Person, Wall
from connections.providers.base import RemoteEvent
from connections.providers.google.reading import remote_event

RESPONSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentative", "needsAction": "needsAction"}


def new_id(rng: random.Random) -> str:
    """Google's event ids: base32hex, lower case, 26 characters."""
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    return "".join(alphabet[rng.getrandbits(5)] for _ in range(26))


def instance_id(master_id: str, original: datetime | date) -> str:
    """The id Google gives an exception: the master's id and the original start (UTC, or the date)."""
    return f"{master_id}_{stamp(original)}"


def stamp(original: datetime | date) -> str:
    if isinstance(original, datetime):
        return original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return original.strftime("%Y%m%d")


def remote_events(spec: EventSpec, rng: random.Random, calendar_zone: str) -> list[RemoteEvent]:
    """The master (or single event) and its exceptions, as the adapter reads them."""
    event_id = new_id(rng)
    item = _resource(spec, event_id, rng)
    events = [remote_event(item, calendar_zone)]
    for change in spec.changes:
        original = _time(spec, change.occurrence)
        exception_id = instance_id(event_id, _instant(spec, change.occurrence))
        if change.cancelled:
            cancelled = {
                "kind": "calendar#event",
                "etag": _etag(rng),
                "id": exception_id,
                "status": "cancelled",
                "recurringEventId": event_id,
                "originalStartTime": original,
            }
            events.append(remote_event(cancelled, calendar_zone))
            continue
        assert change.start is not None and change.end is not None  # nosec B101 # noqa: S101 - a moved occurrence
        moved = {
            **item,
            "id": exception_id,
            "etag": _etag(rng),
            "summary": change.title or spec.title,
            "recurringEventId": event_id,
            "originalStartTime": original,
            "start": _time(spec, change.start),
            "end": _time(spec, change.end),
            "sequence": int(item.get("sequence", 0)) + 1,
        }
        moved.pop("recurrence", None)
        events.append(remote_event(moved, calendar_zone))
    return events


def _resource(spec: EventSpec, event_id: str, rng: random.Random) -> dict[str, Any]:
    created = spec.created.replace(tzinfo=UTC)
    updated = created + timedelta(days=rng.randint(0, 30), seconds=rng.randint(0, 86_400))
    eid = base64.urlsafe_b64encode(f"{event_id} {spec.organizer_email()}".encode()).decode().rstrip("=")
    item: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": _etag(rng),
        "id": event_id,
        "status": spec.status,
        "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
        "created": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "updated": updated.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "summary": spec.title,
        "creator": {"email": spec.organizer_email()},
        "organizer": _person(spec.organizer) | ({"self": True} if spec.organizer_is_owner else {}),
        "start": _time(spec, spec.start),
        "end": _time(spec, spec.end),
        "iCalUID": f"{event_id}@google.com",
        "sequence": rng.choice((0, 0, 0, 1, 2)),
        "reminders": {"useDefault": True},
        "eventType": "default",
    }
    if spec.description:
        item["description"] = spec.description
    if spec.location:
        item["location"] = spec.location
    if spec.all_day:
        item["transparency"] = "transparent"
    if spec.attendees:
        item["attendees"] = [
            _person(person)
            | {"responseStatus": RESPONSES[person.response]}
            | ({"self": True} if index == 0 else {})
            | ({"optional": True} if person.optional else {})
            for index, person in enumerate(spec.attendees)
        ]
        item["guestsCanModify"] = False
    if spec.conference == "meet":
        uri = f"https://meet.google.com/{spec.conference_code}"
        item["hangoutLink"] = uri
        item["conferenceData"] = {
            "entryPoints": [
                {"entryPointType": "video", "uri": uri, "label": uri.removeprefix("https://")},
                {"entryPointType": "more", "uri": f"https://tel.meet/{spec.conference_code}?pin=1234567890"},
                {"entryPointType": "phone", "uri": "tel:+1-650-555-0199", "label": "+1 650-555-0199", "pin": "123"},
            ],
            "conferenceSolution": {
                "key": {"type": "hangoutsMeet"},
                "name": "Google Meet",
                "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
            },
            "conferenceId": spec.conference_code,
        }
    if spec.rule is not None:
        item["recurrence"] = [spec.rrule_line(), *(_exdate(spec, moment) for moment in spec.exdates)]
    return item


def _person(person: Person | None) -> dict[str, Any]:
    if person is None:
        return {}
    return {"email": person.email, "displayName": person.name}


def _time(spec: EventSpec, value: Wall) -> dict[str, str]:
    if spec.all_day or not isinstance(value, datetime):
        return {"date": value.isoformat()}
    return {"dateTime": value.replace(tzinfo=ZoneInfo(spec.zone)).isoformat(), "timeZone": spec.zone}


def _instant(spec: EventSpec, value: Wall) -> datetime | date:
    if spec.all_day or not isinstance(value, datetime):
        return value
    return value.replace(tzinfo=ZoneInfo(spec.zone))


def _exdate(spec: EventSpec, value: Wall) -> str:
    if spec.all_day or not isinstance(value, datetime):
        return f"EXDATE;VALUE=DATE:{value:%Y%m%d}"
    return f"EXDATE;TZID={spec.zone}:{value:%Y%m%dT%H%M%S}"


def _etag(rng: random.Random) -> str:
    return f'"{rng.randrange(3_300_000_000_000_000, 3_500_000_000_000_000)}"'
