"""Events for generated calendars: which templates each calendar gets and when, and their rows as COPY text.

A calendar holds a few recurring series (the first calendar of each person always one that began years
ago and still runs) and single events spread over three years back and one ahead, denser near the present.
Single events are moved by whole days on their own wall clock; series keep their template's dates (a move
would break a monthly rule's day or a weekly one's weekday), so only their ids change.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.dataset import copy_text, google_payloads, graph_payloads, ical_payloads
from bench.dataset.templates import OWNER, SERIES_KINDS, STATIC_COLUMNS, RowTemplate, Template, exception_stamp_value
from connections.providers.microsoft.reading import cancelled_occurrence_id

COLUMNS = (
    "id",
    "connection_id",
    "provider_event_id",
    "ical_uid",
    "start",
    "end",
    "original_start",
    "recurring_event_id",
    "master_provider_event_id",
    "sync_status",
    "deleted_at",
    "created_at",
    "updated_at",
    *STATIC_COLUMNS,
)
SINGLE_WEIGHTS = {"timed": 82, "all_day": 12, "multi_day": 6}
# Of single events: removed at the provider (kept soft-deleted for 30 days), edited here and waiting to be
# pushed, created here and not pushed yet.
DELETED_SHARE, PENDING_SHARE, LOCAL_SHARE = 0.02, 0.004, 0.002


@dataclass(frozen=True)
class Calendar:
    connection_id: int
    provider: str
    owner_email: str
    collection_path: str  # CalDAV: the collection's path, which resource hrefs start with
    first: bool  # the person's first calendar: carries a series that began years ago


@dataclass(frozen=True)
class Placed:
    template: Template
    shift_days: int = 0
    state: str = "synced"  # synced, deleted, pending, local


class EventPlanner:
    def __init__(self, pool: dict[tuple[str, str], list[Template]], now: datetime) -> None:
        self.pool = pool
        self.now = now
        self.today = now.date()

    def plan(self, rng: random.Random, calendar: Calendar) -> list[Placed]:
        budget = min(max(int(rng.lognormvariate(math.log(62), 0.6)), 15), 800)
        if calendar.first:
            budget = max(budget, 150)
        placed: list[Placed] = []
        used = 0
        wanted = ["endless"] if calendar.first else []
        wanted += [rng.choices(SERIES_KINDS, (6, 3, 1))[0] for _ in range(_series_count(rng, budget))]
        for position, kind in enumerate(wanted):
            # Outlook series bring every occurrence in the sync window: keep them within the calendar's size.
            required = calendar.first and position == 0
            template = self._pick(rng, calendar.provider, kind, int(budget * 0.7) - used, required=required)
            if template is None:
                continue
            placed.append(Placed(template))
            used += len(template.rows)
        kinds, weights = list(SINGLE_WEIGHTS), list(SINGLE_WEIGHTS.values())
        for _ in range(max(budget - used, 0)):
            template = rng.choice(self.pool[(calendar.provider, rng.choices(kinds, weights)[0])])
            shift = (self._target_day(rng) - template.rows[0].local_start.date()).days
            roll = rng.random()
            state = (
                "deleted"
                if roll < DELETED_SHARE
                else "pending"
                if roll < DELETED_SHARE + PENDING_SHARE
                else "local"
                if roll < DELETED_SHARE + PENDING_SHARE + LOCAL_SHARE
                else "synced"
            )
            placed.append(Placed(template, shift, state))
        return placed

    def _pick(
        self, rng: random.Random, provider: str, kind: str, limit: int, *, required: bool = False
    ) -> Template | None:
        """A series template of at most `limit` rows (a few tries); else none, or the smallest tried."""
        tried = [rng.choice(self.pool[(provider, kind)]) for _ in range(6)]
        for template in tried:
            if len(template.rows) <= limit:
                return template
        return min(tried, key=lambda template: len(template.rows)) if required else None

    def _target_day(self, rng: random.Random) -> date:
        roll = rng.random()
        if roll < 0.5:
            offset = int(rng.gauss(0, 45))
        elif roll < 0.85:
            offset = -rng.randint(45, 3 * 365)
        else:
            offset = rng.randint(45, 365)
        return self.today + timedelta(days=offset)


def _series_count(rng: random.Random, budget: int) -> int:
    return max(0, round(budget / 45 * rng.uniform(0.4, 1.6)))


def row_count(placed: list[Placed]) -> int:
    return sum(len(item.template.rows) for item in placed)


class RowWriter:
    """COPY text for placed templates, with ids taken from `ids` in order (a master before its exceptions)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def lines(self, rng: random.Random, calendar: Calendar, placed: list[Placed], ids: list[int]) -> list[str]:
        out: list[str] = []
        position = 0
        connection = str(calendar.connection_id)
        for item in placed:
            template = item.template
            count = len(template.rows)
            out.extend(self._group(rng, calendar, connection, item, ids[position : position + count]))
            position += count
        return out

    def _group(
        self, rng: random.Random, calendar: Calendar, connection: str, item: Placed, ids: list[int]
    ) -> list[str]:
        template = item.template
        master_id, uid = _new_ids(rng, calendar)
        provider = calendar.provider
        lines = []
        created = self.now - timedelta(seconds=rng.randrange(86_400, 900 * 86_400))
        updated = created + (self.now - created) * rng.random()
        stamps = copy_text.instant(created), copy_text.instant(updated)
        for index, row in enumerate(template.rows):
            if index == 0:
                pid: str | None = master_id
                master_ref, recurring_event = "", copy_text.NULL
            else:
                pid = _exception_id(rng, provider, master_id, row, template.cancelled_marks[index])
                master_ref, recurring_event = master_id, str(ids[0])
            start, end = _times(row, item.shift_days)
            sync_status, deleted_at = "synced", copy_text.NULL
            if item.state == "deleted":
                deleted_at = copy_text.instant(self.now - timedelta(hours=rng.randint(1, 700)))
            elif item.state == "pending":
                sync_status = "pending"
            elif item.state == "local":
                sync_status, pid = "pending", None
            static = row.static if OWNER not in row.static else row.static.replace(OWNER, calendar.owner_email)
            lines.append(
                copy_text.line(
                    [
                        str(ids[index]),
                        connection,
                        copy_text.text(pid),
                        copy_text.text(uid),
                        start,
                        end,
                        copy_text.instant(row.original_start),
                        recurring_event,
                        copy_text.text(master_ref),
                        sync_status,
                        deleted_at,
                        *stamps,
                        static,
                    ]
                )
            )
        return lines


def _times(row: RowTemplate, shift_days: int) -> tuple[str, str]:
    if not shift_days:
        return copy_text.instant(row.fields["start"]), copy_text.instant(row.fields["end"])  # type: ignore[arg-type]
    delta = timedelta(days=shift_days)
    # Aware arithmetic is wall-clock arithmetic: 09:00 Berlin stays 09:00 Berlin across a DST change.
    start, end = row.local_start + delta, row.local_end + delta
    return copy_text.instant(start.astimezone(UTC)), copy_text.instant(end.astimezone(UTC))


def _new_ids(rng: random.Random, calendar: Calendar) -> tuple[str, str]:
    """The provider id and iCalendar UID of a new event (or series master)."""
    if calendar.provider == "google":
        event_id = google_payloads.new_id(rng)
        return event_id, f"{event_id}@google.com"
    if calendar.provider == "microsoft":
        return graph_payloads.new_id(rng), graph_payloads.new_ical_uid(rng)
    uid = ical_payloads.new_uid(rng)
    return ical_payloads.resource_href(calendar.collection_path, uid), uid


def _exception_id(rng: random.Random, provider: str, master_id: str, row: RowTemplate, made_up: bool) -> str:
    """An exception's provider id, made the way each provider (and the adapters) make it."""
    original: Any = exception_stamp_value(row)
    if provider == "google":
        return google_payloads.instance_id(master_id, original)
    if provider == "microsoft":
        return cancelled_occurrence_id(master_id, original) if made_up else graph_payloads.new_id(rng)
    return ical_payloads.exception_id(master_id, original)
