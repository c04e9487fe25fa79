"""Item 3: sync ingest throughput through the real sync path, next to a naive per-row baseline.

Google-shaped pages are parsed by the Google adapter's own mapping first (the provider's side of the
contract), then replayed by a stand-in adapter, so `events.sync.sync_connection` runs exactly as in
production: lease, page transactions, bulk upsert, cursor, sweep, run record. The baseline stores the
same rows with one `update_or_create` per event, a transaction per page (the seed's approach).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection as db_connection
from django.db import transaction
from django.utils.timezone import now

from bench.config import Sizes
from bench.fixtures import bench_user, google_account
from bench.payloads import ZONE_NAME, as_listed, google_events
from bench.report import Figure, Report, Target
from connections.models import CalendarConnection, Provider
from connections.providers import registry
from connections.providers.base import (
    ChangePage,
    Credentials,
    KnownEvents,
    ProviderAdapter,
    RemoteCalendar,
    RemoteEvent,
)
from connections.providers.google.reading import remote_event
from events.mapping import event_row
from events.models import CalendarEvent
from events.sync import SyncResult, sync_connection

CURSOR = "bench-replay-cursor"
# The replayed pages need no token; the account holds one so the sync finds its credentials fresh.
REPLAY_TOKENS = {"access_token": "bench-replay"}  # nosec B105  # never sent anywhere


def parsed_pages(count: int, page_size: int, *, seed: int = 3) -> list[list[RemoteEvent]]:
    owner = f"ingest{seed}@bench.invalid"
    remotes = [
        remote_event(as_listed(item, n), ZONE_NAME)
        for n, item in enumerate(google_events(count, seed=seed, owner=owner))
    ]
    return [remotes[start : start + page_size] for start in range(0, len(remotes), page_size)]


def replay_adapter(pages: Sequence[Sequence[RemoteEvent]]) -> type[ProviderAdapter]:
    class ReplayAdapter(ProviderAdapter):
        """Hands the sync the same parsed pages on every listing; the last page carries a cursor."""

        provider = Provider.GOOGLE
        uses_oauth = True

        def changes(
            self, credentials: Credentials, calendar: RemoteCalendar, cursor: str, known: KnownEvents
        ) -> Iterator[ChangePage]:
            for index, events in enumerate(pages):
                last = index == len(pages) - 1
                yield ChangePage(events=list(events), full_listing=not cursor, last=last, cursor=CURSOR if last else "")

    return ReplayAdapter


@contextmanager
def replaying(pages: Sequence[Sequence[RemoteEvent]]) -> Iterator[None]:
    saved = registry.ADAPTERS[Provider.GOOGLE]
    registry.ADAPTERS[Provider.GOOGLE] = replay_adapter(pages)
    try:
        yield
    finally:
        registry.ADAPTERS[Provider.GOOGLE] = saved


def replay_connection(label: str) -> CalendarConnection:
    user = bench_user(label)
    account = google_account(user, sub=f"bench-{label}", email=user.email, tokens=REPLAY_TOKENS)
    account.token_expires_at = now() + timedelta(days=1)
    account.save()
    return CalendarConnection.objects.create(user=user, account=account, remote_id=user.email, name=label)


def timed_sync(connection: CalendarConnection, *, full: bool = False) -> tuple[SyncResult, float]:
    started = time.perf_counter()
    result = sync_connection(connection=connection, full=full)
    elapsed = time.perf_counter() - started
    if result.outcome != "ok":
        raise RuntimeError(f"the replayed sync ended {result.outcome}: {result.error}")
    return result, elapsed


def naive_store(connection: CalendarConnection, pages: Sequence[Sequence[RemoteEvent]]) -> float:
    started = time.perf_counter()
    for page in pages:
        with transaction.atomic():
            for remote in page:
                row = event_row(remote)
                CalendarEvent.objects.update_or_create(
                    connection=connection, provider_event_id=row.provider_event_id, defaults=row.fields
                )
    return time.perf_counter() - started


def measure(report: Report, sizes: Sizes) -> None:
    pages = parsed_pages(sizes.ingest_events, sizes.page_size)
    events = sum(len(page) for page in pages)
    with replaying(pages):
        connection = replay_connection("ingest")
        first, elapsed = timed_sync(connection)
        stored = first.created + first.updated
        ingest_rate = stored / elapsed
        report.add(
            Figure(
                3,
                "ingest, real sync path",
                ingest_rate,
                "events/s",
                Target(">=", 20_000),
                f"{stored:,} events in {len(pages)} pages of {sizes.page_size:,}, {elapsed:.2f} s "
                f"(first full listing, includes the sweep scan)",
            )
        )
        again, elapsed = timed_sync(connection)
        report.add(
            Figure(
                3,
                "unchanged re-sync (incremental, right after)",
                again.unchanged / elapsed,
                "events/s",
                Target(">=", 50_000),
                f"{again.unchanged:,} unchanged events, {elapsed:.2f} s",
            )
        )
        # Right after a big first listing the table's statistics are stale until autovacuum analyzes it.
        with db_connection.cursor() as cursor:
            cursor.execute("ANALYZE calendar_events")
        analyzed, elapsed = timed_sync(connection)
        report.add(
            Figure(
                3,
                "unchanged re-sync (incremental, after ANALYZE)",
                analyzed.unchanged / elapsed,
                "events/s",
                Target(">=", 50_000),
                f"{analyzed.unchanged:,} unchanged events, {elapsed:.2f} s",
            )
        )
        full, elapsed = timed_sync(connection, full=True)
        report.add(
            Figure(
                3,
                "unchanged re-sync (full listing)",
                full.unchanged / elapsed,
                "events/s",
                note=f"{full.unchanged:,} unchanged events, {elapsed:.2f} s, with mark-and-sweep",
            )
        )
    baseline_pages = _first_events(pages, sizes.baseline_events)
    baseline_count = sum(len(page) for page in baseline_pages)
    elapsed = naive_store(replay_connection("ingest-baseline"), baseline_pages)
    baseline_rate = baseline_count / elapsed
    report.add(
        Figure(
            3,
            "per-row update_or_create baseline",
            baseline_rate,
            "events/s",
            note=f"the first {baseline_count:,} of the same {events:,} events, {elapsed:.2f} s, a transaction per page",
        )
    )
    report.add(Figure(3, "ingest vs baseline", ingest_rate / baseline_rate, "x", Target(">=", 10)))


def _first_events(pages: Sequence[Sequence[RemoteEvent]], count: int) -> list[list[RemoteEvent]]:
    taken: list[list[RemoteEvent]] = []
    left = count
    for page in pages:
        if left <= 0:
            break
        taken.append(list(page[:left]))
        left -= len(taken[-1])
    return taken
