"""Syncs during the soak: the periodic fan-out on a short period, the last sync of every calendar, and what
the runs recorded."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils.timezone import now

from calsync.lib.queue import SYNC_CONNECTION, enqueue
from connections.models import CalendarConnection
from events.fanout import syncs_enqueue_due
from events.models import SyncOutcome, SyncRun

FAN_OUT_EVERY = 1.0  # seconds between rounds (production: five minutes)
QUIET_TIMEOUT = 300.0
FINAL_TIMEOUT = 600.0


class SyncsStuck(Exception):
    """Syncs that never finished: reported, and the data check still runs on what they left."""


@contextmanager
def sync_interval(seconds: float) -> Iterator[None]:
    """Calendars fall due this soon after their last sync (only the fan-out, in this process, reads it)."""
    saved = settings.SYNC_INTERVAL_SECONDS
    settings.SYNC_INTERVAL_SECONDS = seconds
    try:
        yield
    finally:
        settings.SYNC_INTERVAL_SECONDS = saved


class FanOut(threading.Thread):
    """The periodic job's own code (events.fanout), run every second instead of every five minutes."""

    def __init__(self, ids: list[int], *, stop: threading.Event) -> None:
        super().__init__(name="fan-out", daemon=True)
        self.ids, self.stop = ids, stop
        self.rounds = self.queued = 0
        self.failure = ""

    def run(self) -> None:
        try:
            while not self.stop.wait(FAN_OUT_EVERY):
                self.queued += syncs_enqueue_due(among=self.ids)
                self.rounds += 1
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()


def wait_until_quiet(ids: list[int]) -> float:
    """Wait until no sync of these calendars is queued or running; returns the seconds it took."""
    started = time.perf_counter()

    def busy() -> int:
        held = Q(sync_queued_at__isnull=False) | Q(sync_lease_until__gt=now())
        return CalendarConnection.objects.filter(held, pk__in=ids).count()

    while (count := busy()) > 0:
        if time.perf_counter() - started > QUIET_TIMEOUT:
            raise SyncsStuck(f"{count} syncs still queued or running after {QUIET_TIMEOUT:.0f} s")
        time.sleep(0.2)
    return time.perf_counter() - started


@dataclass
class FinalPass:
    seconds: float
    runs: int
    failed: int


def final_pass(ids: list[int]) -> FinalPass:
    """One more sync of every calendar, queued straight to the workers (a calendar in backoff too), once the
    provider holds still: what the data check compares is what that sync left."""
    started_at = now()
    started = time.perf_counter()
    for connection_id in ids:
        enqueue(SYNC_CONNECTION, connection_id)
    runs = SyncRun.objects.filter(connection_id__in=ids, started_at__gte=started_at, finished_at__isnull=False)
    while runs.values("connection_id").distinct().count() < len(ids):
        if time.perf_counter() - started > FINAL_TIMEOUT:
            done = runs.values("connection_id").distinct().count()
            raise SyncsStuck(f"the final syncs did not finish in {FINAL_TIMEOUT:.0f} s ({done} of {len(ids)})")
        time.sleep(0.1)
    return FinalPass(time.perf_counter() - started, runs.count(), runs.exclude(outcome=SyncOutcome.OK).count())


@dataclass
class SyncFigures:
    runs: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    full_listings: int = 0
    events_created: int = 0
    events_updated: int = 0
    events_deleted: int = 0
    skipped_items: int = 0
    failures: list[str] = field(default_factory=list)  # the first few, with their connection


def sync_figures(ids: list[int], since: datetime, until: datetime) -> SyncFigures:
    """What the runs that started in [since, until) recorded."""
    runs = SyncRun.objects.filter(connection_id__in=ids, started_at__gte=since, started_at__lt=until)
    figures = SyncFigures(runs=runs.count())
    figures.outcomes = dict(Counter(runs.values_list("outcome", flat=True)))
    figures.full_listings = runs.filter(full=True).count()
    for created, updated, deleted, skipped in runs.values_list("created", "updated", "deleted", "skipped"):
        figures.events_created += created
        figures.events_updated += updated
        figures.events_deleted += deleted
        figures.skipped_items += skipped
    failed = runs.exclude(outcome=SyncOutcome.OK).order_by("started_at")[:10]
    figures.failures = [f"connection {run.connection_id}: {run.outcome}: {run.error[:300]}" for run in failed]
    return figures
