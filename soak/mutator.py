"""Changes at the Google fake while people browse, so every sync has work: the kinds of change a working
calendar sees (new meetings, edits, deletions, one occurrence of a series moved or cancelled).

New events land within a few weeks of today, where the virtual users are looking.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.payloads import ZONE, google_events
from fakes.google import GoogleState, occurrence_id, occurrence_start

NEAR_DAYS = (-14, 28)  # where new events start, in days from today
# How often each kind of change comes, relative to the others.
KINDS = {"create": 3, "edit": 4, "delete": 2, "move occurrence": 1, "cancel occurrence": 1}


@dataclass(frozen=True)
class Calendar:
    calendar_id: str
    owner: str


class Mutator(threading.Thread):
    def __init__(
        self, state: GoogleState, calendars: list[Calendar], *, per_second: float, stop_at: float, stop: threading.Event
    ) -> None:
        super().__init__(name="mutator", daemon=True)
        self.state, self.calendars = state, calendars
        self.interval = 1 / per_second if per_second > 0 else float("inf")
        self.stop_at, self.stop = stop_at, stop
        self.rng = random.Random(7)  # noqa: S311  # nosec B311  # repeatable changes, not a secret
        self.counts: Counter[str] = Counter()
        self.created = 0
        self.failure = ""

    def run(self) -> None:
        try:
            while not self.stop.is_set() and time.monotonic() < self.stop_at:
                self.change_one()
                if self.stop.wait(max(0.0, min(self.interval, self.stop_at - time.monotonic()))):
                    return
        except Exception as exc:  # reported, and the data check still runs on what was changed
            self.failure = f"{type(exc).__name__}: {exc}"

    def change_one(self) -> None:
        calendar = self.rng.choice(self.calendars)
        kind = self.rng.choices(list(KINDS), list(KINDS.values()))[0]
        with self.state.lock:  # choose and change in one step: the fake's handler threads read meanwhile
            done = {
                "create": self.create,
                "edit": self.edit,
                "delete": self.delete,
                "move occurrence": lambda c: self.change_occurrence(c, cancel=False),
                "cancel occurrence": lambda c: self.change_occurrence(c, cancel=True),
            }[kind](calendar)
        self.counts[kind if done else f"{kind} (nothing to pick)"] += 1

    # Changes -------------------------------------------------------------------------------------------

    def create(self, calendar: Calendar) -> bool:
        self.created += 1
        seed = self.rng.randrange(2**31)
        # One event from the realistic mix; alone it is a single, an all-day one or a series, never an exception.
        resource = next(google_events(1, seed=seed, owner=calendar.owner, prefix=f"m{self.created:07d}"))
        if "recurrence" not in resource:
            resource.update(near_today(resource, self.rng.randint(*NEAR_DAYS)))
        self.state.put_event(calendar.calendar_id, resource)
        return True

    def edit(self, calendar: Calendar) -> bool:
        resource = self.pick(calendar, lambda item: True)
        if resource is None:
            return False
        changes: dict[str, Any] = {"summary": f"{resource.get('summary', '')[:40]} (edited)".strip()}
        timed_single = "dateTime" in resource.get("start", {}) and not resource.get("recurrence")
        if timed_single and not resource.get("recurringEventId") and self.rng.random() < 0.5:
            shift = timedelta(minutes=self.rng.choice([-60, -30, 30, 60]))
            changes.update(start=shifted(resource["start"], shift), end=shifted(resource["end"], shift))
        self.state.patch_event(calendar.calendar_id, resource["id"], **changes)
        return True

    def delete(self, calendar: Calendar) -> bool:
        resource = self.pick(calendar, lambda item: True)
        if resource is None:
            return False
        self.state.cancel_event(calendar.calendar_id, resource["id"])
        return True

    def change_occurrence(self, calendar: Calendar, *, cancel: bool) -> bool:
        """Move (or cancel) one occurrence of a timed series near today, as someone does in Google Calendar."""
        master = self.pick(calendar, lambda item: bool(item.get("recurrence")) and "dateTime" in item["start"])
        if master is None:
            return False
        original = self.occurrence_near_today(master)
        if original is None:
            return False
        if cancel:
            self.state.cancel_occurrence(calendar.calendar_id, master["id"], original)
        else:
            moved = datetime.fromisoformat(original["dateTime"]) + timedelta(hours=self.rng.choice([1, 2, 24]))
            length = datetime.fromisoformat(master["end"]["dateTime"]) - datetime.fromisoformat(
                master["start"]["dateTime"]
            )
            zone = original["timeZone"]
            self.state.put_exception(
                calendar.calendar_id,
                master["id"],
                original,
                start={"dateTime": moved.isoformat(), "timeZone": zone},
                end={"dateTime": (moved + length).isoformat(), "timeZone": zone},
                summary=f"{master.get('summary', '')[:40]} (moved)".strip(),
            )
        return True

    def occurrence_near_today(self, master: dict[str, Any]) -> dict[str, str] | None:
        zone = str(master["start"].get("timeZone") or ZONE.key)
        first = datetime.fromisoformat(master["start"]["dateTime"]).astimezone(ZoneInfo(zone))
        weeks_since = (datetime.now(ZoneInfo(zone)) - first).days // 7
        for _ in range(4):  # a fortnightly or short series may not have the week tried: try a few
            # Aware arithmetic keeps the wall-clock time, as the series repeats it across DST.
            candidate = first + timedelta(weeks=max(0, weeks_since + self.rng.randint(-2, 3)))
            original = {"dateTime": candidate.isoformat(), "timeZone": zone}
            suffix = occurrence_id(master["id"], original).rpartition("_")[2]
            if occurrence_start(master, suffix, zone) is not None:
                return original
        return None

    def pick(self, calendar: Calendar, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        live = [
            stored.resource
            for stored in self.state.events.get(calendar.calendar_id, {}).values()
            if stored.resource.get("status") != "cancelled" and wanted(stored.resource)
        ]
        return self.rng.choice(live) if live else None


def near_today(resource: dict[str, Any], days: int) -> dict[str, Any]:
    """The event's start and end moved to `days` from today, keeping its length and time of day."""
    today = datetime.now(ZONE).date() + timedelta(days=days)
    start, end = resource["start"], resource["end"]
    if "date" in start:
        length = datetime.fromisoformat(end["date"]) - datetime.fromisoformat(start["date"])
        return {"start": {"date": today.isoformat()}, "end": {"date": (today + length).isoformat()}}
    began = datetime.fromisoformat(start["dateTime"])
    moved = datetime.combine(today, began.timetz().replace(tzinfo=None), tzinfo=ZONE)
    length = datetime.fromisoformat(end["dateTime"]) - began
    return {"start": {**start, "dateTime": moved.isoformat()}, "end": {**end, "dateTime": (moved + length).isoformat()}}


def shifted(value: dict[str, str], by: timedelta) -> dict[str, str]:
    return {**value, "dateTime": (datetime.fromisoformat(value["dateTime"]) + by).isoformat()}
