"""Specs as CalDAV calendar object resources (one VCALENDAR per series: the master and its overrides),
mapped through connections.providers.ical.parsing.parse_resource.

TZIDs are IANA names without VTIMEZONE components (time zones by reference, RFC 7809), as servers that
know the IANA database serve them.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from bench.dataset.specs import EventSpec, Wall
from connections.providers.base import RemoteEvent
from connections.providers.ical.parsing import override_id, parse_resource

PARTSTAT = {"accepted": "ACCEPTED", "declined": "DECLINED", "tentative": "TENTATIVE", "needsAction": "NEEDS-ACTION"}


def new_uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()


def resource_href(collection_path: str, uid: str) -> str:
    return f"{collection_path}{uid}.ics"


def exception_id(href: str, original: datetime | date) -> str:
    return override_id(href, original)


def remote_events(
    spec: EventSpec, rng: random.Random, collection_path: str, owner_email: str, calendar_zone: str
) -> list[RemoteEvent]:
    uid = new_uid(rng)
    href = resource_href(collection_path, uid)
    data = _calendar(spec, uid, rng).to_ical()
    etag = f'"{rng.getrandbits(64):016x}"'
    parsed = parse_resource(href, data, etag=etag, default_zone=calendar_zone, owner_emails=[owner_email])
    return list(parsed.events)


def _calendar(spec: EventSpec, uid: str, rng: random.Random) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add(
        "prodid", rng.choice(("-//Apple Inc.//macOS 14.6//EN", "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN"))
    )
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    master = _vevent(spec, uid, spec.title, spec.start, spec.end)
    if spec.rule is not None:
        master.add("rrule", icalendar.vRecur.from_ical(spec.rrule_line().removeprefix("RRULE:")))
        for moment in spec.exdates:
            master.add("exdate", _value(spec, moment))
    calendar.add_component(master)
    for change in spec.changes:
        start = change.start if change.start is not None else change.occurrence
        end = change.end if change.end is not None else change.occurrence + spec.duration
        override = _vevent(spec, uid, change.title or spec.title, start, end)
        override.add("recurrence-id", _value(spec, change.occurrence))
        if change.cancelled:
            override["status"] = "CANCELLED"
        override["sequence"] = 1
        calendar.add_component(override)
    return calendar


def _vevent(spec: EventSpec, uid: str, title: str, start: Wall, end: Wall) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", spec.created.replace(tzinfo=UTC) + timedelta(days=1))
    event.add("created", spec.created.replace(tzinfo=UTC))
    event.add("last-modified", spec.created.replace(tzinfo=UTC) + timedelta(days=1))
    event.add("summary", title)
    event.add("dtstart", _value(spec, start))
    event.add("dtend", _value(spec, end))
    if spec.description:
        event.add("description", spec.description)
    if spec.location:
        event.add("location", spec.location)
    event.add("status", spec.status.upper())
    event.add("transp", "TRANSPARENT" if spec.all_day else "OPAQUE")
    if spec.attendees and spec.organizer is not None:
        event.add("organizer", f"mailto:{spec.organizer.email}", parameters={"CN": spec.organizer.name})
        for person in spec.attendees:
            parameters = {
                "CN": person.name,
                "PARTSTAT": PARTSTAT[person.response],
                "ROLE": "OPT-PARTICIPANT" if person.optional else "REQ-PARTICIPANT",
                "CUTYPE": "INDIVIDUAL",
            }
            event.add("attendee", f"mailto:{person.email}", parameters=parameters)
    if spec.conference == "zoom":
        event.add("url", f"https://us02web.zoom.us/j/{spec.conference_code}")
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", "Reminder")
    alarm.add("trigger", timedelta(minutes=-15))
    event.add_component(alarm)
    return event


def _value(spec: EventSpec, moment: Wall) -> datetime | date:
    if spec.all_day or not isinstance(moment, datetime):
        return moment if not isinstance(moment, datetime) else moment.date()
    return moment.replace(tzinfo=ZoneInfo(spec.zone))
