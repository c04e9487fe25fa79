"""Realistic Google Calendar event resources (events.list items) for the sync measurements.

A mix like a working calendar: mostly timed meetings with attendees and a description, some all-day and
multi-day events, weekly series that began years ago, and moved or cancelled occurrences of those series.
Repeatable: the same `seed` gives the same events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ZONE_NAME = "Europe/Berlin"
ZONE = ZoneInfo(ZONE_NAME)
WORDS = [
    "planning",
    "review",
    "budget",
    "roadmap",
    "sync",
    "retro",
    "design",
    "hiring",
    "onboarding",
    "customer",
    "launch",
    "quarterly",
    "demo",
    "architecture",
    "incident",
    "postmortem",
    "interview",
    "workshop",
    "offsite",
    "training",
    "standup",
    "metrics",
    "security",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _timed(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.isoformat(), "timeZone": ZONE_NAME}


def google_events(count: int, *, seed: int, owner: str, prefix: str = "bench") -> Iterator[dict[str, Any]]:
    """`count` event resources: ids are `{prefix}{n}` in base32hex, as Google's client-chosen ids must be."""
    rng = random.Random(seed)  # noqa: S311  # nosec B311  # repeatable test data, not a secret
    today = datetime.now(UTC).astimezone(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    masters: list[tuple[str, datetime, timedelta]] = []
    replaced: set[tuple[str, datetime]] = set()
    for n in range(count):
        event_id = f"{prefix}{n:08d}"
        kind = rng.random()
        resource: dict[str, Any] = {
            "id": event_id,
            "summary": _text(rng, rng.randint(2, 6)).capitalize(),
            "description": _text(rng, rng.randint(10, 150)),
            "location": rng.choice(["", "Room 4.12", "Berlin office", "https://meet.example.invalid/abc-defg-hij"]),
            "attendees": [
                {
                    "email": f"person{rng.randint(1, 5000)}@example.invalid",
                    "displayName": _text(rng, 2).title(),
                    "responseStatus": rng.choice(["accepted", "needsAction", "declined", "tentative"]),
                }
                for _ in range(rng.randint(0, 8))
            ],
            "sequence": rng.randint(0, 3),
        }
        if kind < 0.08:  # all-day, sometimes several days
            first = (today + timedelta(days=rng.randint(-730, 365))).date()
            resource["start"] = {"date": first.isoformat()}
            resource["end"] = {"date": (first + timedelta(days=rng.choice([1, 1, 1, 2, 3, 5]))).isoformat()}
        elif kind < 0.16 or (not masters and kind < 0.2):  # a weekly series that began up to five years ago
            start = today - timedelta(days=rng.randint(0, 5 * 365)) + timedelta(hours=rng.randint(8, 17))
            duration = timedelta(minutes=rng.choice([15, 30, 60]))
            rule = rng.choice(["RRULE:FREQ=WEEKLY", "RRULE:FREQ=WEEKLY;INTERVAL=2", "RRULE:FREQ=DAILY;COUNT=200"])
            resource.update(start=_timed(start), end=_timed(start + duration), recurrence=[rule])
            masters.append((event_id, start, duration))
        elif kind < 0.20:  # a moved (or cancelled) occurrence of an earlier series
            master_id, first, duration = rng.choice(masters)
            original = first + timedelta(weeks=rng.randint(1, 20))
            if (master_id, original) in replaced:  # one exception per occurrence: ids stay unique
                original = first + timedelta(weeks=21 + len(replaced))
            replaced.add((master_id, original))
            moved = original + timedelta(hours=rng.choice([1, 2, 24]))
            resource.update(
                id=f"{master_id}_{original.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                recurringEventId=master_id,
                originalStartTime=_timed(original),
                start=_timed(moved),
                end=_timed(moved + duration),
            )
            if rng.random() < 0.3:
                resource["status"] = "cancelled"
        else:  # a single meeting, within two years back and one ahead
            start = today + timedelta(
                days=rng.randint(-730, 365), hours=rng.randint(7, 19), minutes=rng.choice([0, 30])
            )
            resource.update(start=_timed(start), end=_timed(start + timedelta(minutes=rng.choice([30, 45, 60, 90]))))
        resource.setdefault("organizer", {"email": owner, "self": True})
        yield resource


def as_listed(resource: dict[str, Any], n: int) -> dict[str, Any]:
    """A resource as events.list answers it (etag, created/updated), for parsing without the fake."""
    stamp = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    return {
        "kind": "calendar#event",
        "etag": f'"{3400000000000000 + n}"',
        "status": "confirmed",
        "created": stamp.isoformat().replace("+00:00", "Z"),
        "updated": stamp.isoformat().replace("+00:00", "Z"),
        "iCalUID": f"{resource['id'].split('_')[0]}@google.com",
        "eventType": "default",
        "reminders": {"useDefault": True},
        **resource,
    }


def first_of_week(day: date) -> date:
    return day - timedelta(days=day.weekday())
