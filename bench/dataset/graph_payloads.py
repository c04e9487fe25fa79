"""Specs as Microsoft Graph events (times in UTC, bodies as text, as the sync asks for them), mapped through
connections.providers.microsoft.reading.

A calendar view never holds series masters: the sync fetches each master and stores every occurrence in its
window (a year back, two ahead) as a row of its own, plus the exceptions and, for occurrences the listing
leaves out (deleted ones), cancelled rows. This renders the same: master, sparse occurrences, exceptions.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from bench.dataset.specs import WEEKDAY_CODES, EventSpec, Person, Wall
from connections.providers.base import RemoteCalendar, RemoteEvent
from connections.providers.microsoft.reading import (
    SPARSE_OCCURRENCE,
    Window,
    cancelled_occurrence,
    remote_instance,
    remote_master,
    remote_single,
)

# Outlook names zones the Windows way.
WINDOWS_NAMES = {olson: windows for windows, olson in sorted(WINDOWS_TO_OLSON.items(), reverse=True)}
WEEKDAY_NAMES = dict(
    zip(WEEKDAY_CODES, ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), strict=True)
)
INDEX_NAMES = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
RESPONSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentativelyAccepted", "needsAction": "none"}


def new_id(rng: random.Random) -> str:
    """Graph's event ids: url-safe base64 of a mailbox-scoped entry id, about 150 characters."""
    return "AAMkAG" + base64.urlsafe_b64encode(rng.randbytes(108)).decode()


def new_ical_uid(rng: random.Random) -> str:
    return "040000008200E00074C5B7101A82E00800000000" + rng.randbytes(40).hex().upper()


def remote_events(spec: EventSpec, rng: random.Random, calendar: RemoteCalendar, today: date) -> list[RemoteEvent]:
    item = _item(spec, new_id(rng), rng)
    if spec.rule is None:
        return [remote_single(item, calendar)]
    master = remote_master(item, calendar)
    events = [master]
    changed = {change.occurrence: change for change in spec.changes}
    excluded = set(spec.exdates)
    low, high = Window.around(today).bounds
    for occurrence in spec.occurrences(limit=2000):
        instant = _instant(spec, occurrence)
        if instant >= high:
            break
        if instant + _span(spec) <= low:
            continue
        change = changed.get(occurrence)
        if occurrence in excluded or (change is not None and change.cancelled):
            # Deleted in Outlook: absent from the listing, so the sync stores a cancelled occurrence.
            events.append(cancelled_occurrence(master, occurrence if spec.all_day else instant))
            continue
        instance: dict[str, Any] = {
            "@odata.etag": _etag(rng),
            "id": new_id(rng),
            "seriesMasterId": item["id"],
            "start": _graph_time(spec, occurrence),
            "end": _graph_time(spec, occurrence + spec.duration),
        }
        if change is None:
            instance["type"] = "occurrence"
            sparse = {key: value for key, value in instance.items() if key in SPARSE_OCCURRENCE}
            events.append(remote_instance(sparse, item, calendar))
            continue
        assert change.start is not None and change.end is not None  # nosec B101 # noqa: S101 - a moved occurrence
        exception = {
            **{key: value for key, value in item.items() if key not in ("recurrence", "type")},
            **instance,
            "type": "exception",
            "subject": change.title or spec.title,
            "originalStart": _instant(spec, occurrence).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start": _graph_time(spec, change.start),
            "end": _graph_time(spec, change.end),
        }
        events.append(remote_instance(exception, item, calendar))
    return events


def _item(spec: EventSpec, event_id: str, rng: random.Random) -> dict[str, Any]:
    created = spec.created.replace(tzinfo=UTC)
    modified = created + timedelta(days=rng.randint(0, 30), seconds=rng.randint(0, 86_400))
    windows_zone = WINDOWS_NAMES.get(spec.zone, spec.zone)
    body = spec.description
    item: dict[str, Any] = {
        "@odata.etag": _etag(rng),
        "id": event_id,
        "createdDateTime": _stamp(created),
        "lastModifiedDateTime": _stamp(modified),
        "changeKey": base64.b64encode(rng.randbytes(30)).decode(),
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": windows_zone,
        "originalEndTimeZone": windows_zone,
        "iCalUId": new_ical_uid(rng),
        "uid": new_ical_uid(rng),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": spec.title,
        "bodyPreview": body[:255],
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": spec.all_day,
        "isCancelled": False,
        "isOrganizer": spec.organizer_is_owner,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": "tentative" if spec.status == "tentative" else ("free" if spec.all_day else "busy"),
        "type": "seriesMaster" if spec.rule is not None else "singleInstance",
        "webLink": "https://outlook.office365.com/owa/?itemid="
        + event_id.replace("-", "%2F")
        + "&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": spec.conference == "teams",
        "onlineMeetingProvider": "teamsForBusiness" if spec.conference == "teams" else "unknown",
        "allowNewTimeProposals": True,
        "occurrenceId": None,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {
            "response": "organizer" if spec.organizer_is_owner else "accepted",
            "time": _stamp(modified),
        },
        "body": {"contentType": "text", "content": body},
        "start": _graph_time(spec, spec.start),
        "end": _graph_time(spec, spec.end),
        "location": _location(spec.location),
        "locations": [_location(spec.location)] if spec.location else [],
        "recurrence": _recurrence(spec) if spec.rule is not None else None,
        "attendees": [
            {
                "type": "optional" if person.optional else "required",
                "status": {"response": RESPONSES[person.response], "time": "0001-01-01T00:00:00Z"},
                "emailAddress": _address(person),
            }
            for person in spec.attendees
        ],
        "organizer": {"emailAddress": _address(spec.organizer)},
        "onlineMeeting": (
            {"joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{spec.conference_code}%40thread.v2/0"}
            if spec.conference == "teams"
            else None
        ),
    }
    return item


def _recurrence(spec: EventSpec) -> dict[str, Any]:
    rule = spec.rule
    assert rule is not None  # nosec B101 # noqa: S101 - only series call this
    start_day = spec.start if not isinstance(spec.start, datetime) else spec.start.date()
    pattern: dict[str, Any] = {"interval": rule.interval, "month": 0, "dayOfMonth": 0, "firstDayOfWeek": "sunday"}
    if rule.freq == "DAILY" and not rule.weekdays:
        pattern["type"] = "daily"
    elif rule.freq in ("DAILY", "WEEKLY"):
        pattern |= {"type": "weekly", "daysOfWeek": [WEEKDAY_NAMES[code] for code in rule.weekdays], "index": "first"}
    elif rule.nth_weekday is not None:
        index, code = rule.nth_weekday
        pattern |= {"type": "relativeMonthly", "daysOfWeek": [WEEKDAY_NAMES[code]], "index": INDEX_NAMES[index]}
    elif rule.freq == "MONTHLY":
        pattern |= {"type": "absoluteMonthly", "dayOfMonth": rule.month_day}
    else:
        pattern |= {"type": "absoluteYearly", "dayOfMonth": rule.month_day, "month": rule.month}
    span: dict[str, Any] = {
        "type": "noEnd",
        "startDate": start_day.isoformat(),
        "endDate": "0001-01-01",
        "recurrenceTimeZone": WINDOWS_NAMES.get(spec.zone, spec.zone),
        "numberOfOccurrences": 0,
    }
    if rule.count:
        span |= {"type": "numbered", "numberOfOccurrences": rule.count}
    elif rule.until is not None:
        span |= {"type": "endDate", "endDate": rule.until.isoformat()}
    return {"pattern": pattern, "range": span}


def _graph_time(spec: EventSpec, value: Wall) -> dict[str, str]:
    if spec.all_day or not isinstance(value, datetime):
        day = value if not isinstance(value, datetime) else value.date()
        return {"dateTime": f"{day.isoformat()}T00:00:00.0000000", "timeZone": "UTC"}
    instant = value.replace(tzinfo=ZoneInfo(spec.zone)).astimezone(UTC)
    return {"dateTime": instant.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _instant(spec: EventSpec, value: Wall) -> datetime:
    if spec.all_day or not isinstance(value, datetime):
        day = value if not isinstance(value, datetime) else value.date()
        return datetime.combine(day, time(), UTC)
    return value.replace(tzinfo=ZoneInfo(spec.zone)).astimezone(UTC)


def _span(spec: EventSpec) -> timedelta:
    return spec.duration


def _location(name: str) -> dict[str, Any]:
    if not name:
        return {
            "displayName": "",
            "locationType": "default",
            "uniqueIdType": "unknown",
            "address": {},
            "coordinates": {},
        }
    return {"displayName": name, "locationType": "default", "uniqueId": name, "uniqueIdType": "private"}


def _address(person: Person | None) -> dict[str, str]:
    if person is None:
        return {"name": "", "address": ""}
    return {"name": person.name, "address": person.email}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _etag(rng: random.Random) -> str:
    return 'W/"' + base64.b64encode(rng.randbytes(30)).decode() + '"'
