"""The pool: a few thousand distinct provider payloads, each mapped once through the real adapters and
events.mapping.event_row, kept as row templates that the loader copies under new ids.

The owner's address in a template is a placeholder (OWNER), replaced by the real owner's address when a row
is written, so attendee lists and organizers name the person whose calendar it is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.dataset import copy_text, google_payloads, graph_payloads, ical_payloads
from bench.dataset.specs import EventSpec, SpecMaker, pick_zone
from connections.providers.base import RemoteCalendar, RemoteEvent
from connections.providers.microsoft.reading import CANCELLED_MARK
from events.mapping import EventRow, event_row

OWNER = "owner.placeholder@dataset.invalid"
TEMPLATE_COLLECTION = "/dav/calendars/__collection__/"
PROVIDERS = ("google", "microsoft", "caldav")
SINGLE_KINDS = ("timed", "all_day", "multi_day")
SERIES_KINDS = ("weekly", "sparse", "endless")
# Templates per provider and kind: enough variety that no two neighbours in a calendar look alike, few
# enough that the pool maps in seconds. Outlook series carry every occurrence in the sync window.
POOL_SIZES = {"timed": 1500, "all_day": 300, "multi_day": 200, "weekly": 240, "sparse": 160, "endless": 120}
GRAPH_SERIES_SHARE = 0.5


@dataclass
class RowTemplate:
    """One mapped event. `static` holds the COPY text of the columns every copy shares."""

    row: EventRow
    static: str
    all_day: bool
    zone: ZoneInfo | None
    local_start: datetime  # aware in `zone` (singles: moved on this wall clock)
    local_end: datetime

    @property
    def fields(self) -> dict[str, object]:
        return self.row.fields

    @property
    def original_start(self) -> datetime | None:
        value = self.row.fields["original_start"]
        return value if isinstance(value, datetime) else None


@dataclass
class Template:
    """A single event, or a series: its master first, then its exceptions (and Outlook occurrences)."""

    provider: str
    kind: str
    rows: list[RowTemplate]
    start: datetime  # the first row's start (UTC)
    cancelled_marks: list[bool] = field(default_factory=list)  # per row: an Outlook made-up cancelled id


# The columns a template fixes, in this order, after the per-copy ones (see events_loader.COLUMNS).
STATIC_COLUMNS = (
    "title",
    "description",
    "location",
    "all_day",
    "timezone",
    "status",
    "etag",
    "recurrence",
    "recurrence_end",
    "provider_data",
    "metadata",
)


def row_template(row: EventRow) -> RowTemplate:
    fields = row.fields
    zone = ZoneInfo(str(fields["timezone"])) if fields["timezone"] else None
    start, end = fields["start"], fields["end"]
    assert isinstance(start, datetime) and isinstance(end, datetime)  # nosec B101 # noqa: S101 - event_row's contract
    static = "\t".join(
        (
            copy_text.text(str(fields["title"])),
            copy_text.text(str(fields["description"])),
            copy_text.text(str(fields["location"])),
            copy_text.boolean(bool(fields["all_day"])),
            copy_text.text(str(fields["timezone"])),
            copy_text.text(str(fields["status"])),
            copy_text.text(str(fields["etag"])),
            copy_text.text(str(fields["recurrence"])),
            copy_text.instant(fields["recurrence_end"]),
            copy_text.jsonb(fields["provider_data"]),
            copy_text.jsonb(fields["metadata"]),
        )
    )
    return RowTemplate(
        row=row,
        static=static,
        all_day=bool(fields["all_day"]),
        zone=zone,
        local_start=start.astimezone(zone) if zone else start,
        local_end=end.astimezone(zone) if zone else end,
    )


def build_pool(seed: int, now: datetime, scale: float = 1.0) -> dict[tuple[str, str], list[Template]]:
    """Templates by (provider, kind). `scale` shrinks the pool for small data sets (tests)."""
    pool: dict[tuple[str, str], list[Template]] = {}
    for provider in PROVIDERS:
        rng = random.Random(f"{seed}:pool:{provider}")  # nosec B311 # noqa: S311 - repeatable test data, not secrets
        for kind in (*SINGLE_KINDS, *SERIES_KINDS):
            size = max(
                3,
                int(
                    POOL_SIZES[kind]
                    * scale
                    * (GRAPH_SERIES_SHARE if provider == "microsoft" and kind in SERIES_KINDS else 1)
                ),
            )
            pool[(provider, kind)] = [
                _template(
                    provider,
                    kind,
                    _spec(SpecMaker(rng, now.replace(tzinfo=None), OWNER, pick_zone(rng)), kind, now),
                    rng,
                    now,
                )
                for _ in range(size)
            ]
    return pool


def _spec(maker: SpecMaker, kind: str, now: datetime) -> EventSpec:
    rng, today = maker.rng, now.date()
    if kind == "timed":
        return maker.timed(today)
    if kind == "all_day":
        return maker.all_day(today)
    if kind == "multi_day":
        return maker.multi_day(today)
    if kind == "endless":
        return maker.series(today - timedelta(days=rng.randint(2 * 365, 6 * 365)), endless_since_years=2)
    start = today - timedelta(days=int(rng.triangular(-60, 3 * 365, 120)))
    return maker.series(start, frequent=kind == "weekly")


def _template(provider: str, kind: str, spec: EventSpec, rng: random.Random, now: datetime) -> Template:
    zone = spec.zone
    if provider == "google":
        events = google_payloads.remote_events(spec, rng, zone)
    elif provider == "microsoft":
        calendar = RemoteCalendar(remote_id="template", name="Calendar", timezone=zone)
        events = graph_payloads.remote_events(spec, rng, calendar, now.date())
    else:
        events = ical_payloads.remote_events(spec, rng, TEMPLATE_COLLECTION, OWNER, zone)
    rows = [row_template(event_row(event)) for event in events]
    start = rows[0].fields["start"]
    assert isinstance(start, datetime)  # nosec B101 # noqa: S101 - event_row's contract
    marks = [_made_up_cancellation(event) for event in events]
    return Template(provider=provider, kind=kind, rows=rows, start=start, cancelled_marks=marks)


def _made_up_cancellation(event: RemoteEvent) -> bool:
    return CANCELLED_MARK in event.provider_event_id


def exception_stamp_value(row: RowTemplate) -> datetime | date:
    """The original start an exception's id is made from: a date for all-day series, else the UTC instant."""
    original = row.original_start
    assert original is not None  # nosec B101 # noqa: S101 - exceptions have one (event_row's contract)
    return original.date() if row.all_day else original.astimezone(UTC)
