"""Item 4: one incremental sync cycle of many connections with nothing new, by real Celery workers.

Calendars live at the loopback Google fake; worker processes (the prefork pool, as deployed) read a queue
of their own. The first cycle lists every calendar in full (reported, not targeted); the measured one
comes after, when each calendar has a sync token and the provider has nothing new: from picking the due
connections and queueing one task each (as the periodic fan-out does) to the last run recorded.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils.timezone import now

from bench.config import Sizes
from bench.fakes import GoogleFake, google_calendars, google_fake
from bench.fixtures import bench_user, child_env
from bench.payloads import google_events
from bench.report import Figure, Report, Target, progress
from connections.models import CalendarConnection
from events.fanout import syncs_enqueue_due
from events.models import SyncOutcome, SyncRun
from fakes.processes import BIN, process

CALENDARS_PER_ACCOUNT = 3
CYCLE_TIMEOUT = 1800.0


def build(fake: GoogleFake, sizes: Sizes) -> list[int]:
    ids: list[int] = []
    accounts = math.ceil(sizes.cycle_connections / CALENDARS_PER_ACCOUNT)
    for index in range(accounts):
        calendars = min(CALENDARS_PER_ACCOUNT, sizes.cycle_connections - len(ids))
        email = f"cycle{index}@bench.invalid"
        connections = google_calendars(fake, bench_user(f"cycle{index}"), email, calendars=calendars)
        for number, connection in enumerate(connections):
            items = google_events(sizes.cycle_events, seed=index * 10 + number, owner=email, prefix=f"c{number}v")
            for item in items:
                if "recurringEventId" not in item:  # an exception needs its series on the same calendar
                    fake.state.put_event(connection.remote_id, item)
        ids.extend(connection.pk for connection in connections)
    return ids


@contextlib.contextmanager
def workers(count: int, queue: str, env: dict[str, str], logs: Path) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        started = []
        for number in range(count):
            args = [
                str(BIN / "celery"), "-A", "calsync", "worker", "--concurrency=1", "--loglevel=INFO", "-Q", queue,
                "-n", f"bench{number}-{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
            log = logs / f"worker-{number}.log"
            started.append((stack.enter_context(process(args, env, log)), log))
        deadline = time.monotonic() + 60
        while not all(" ready." in log.read_text() for _, log in started):
            for proc, log in started:
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker stopped: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start within 60 s")
            time.sleep(0.2)
        yield


def cycle(ids: list[int]) -> tuple[float, int, int]:
    """Queue every due connection among `ids` and wait for all their runs: (seconds, runs, failed runs)."""
    started_at = now()
    started = time.perf_counter()
    queued = syncs_enqueue_due(among=ids)
    runs = SyncRun.objects.filter(connection_id__in=ids, started_at__gte=started_at, finished_at__isnull=False)
    while runs.count() < queued:
        if time.perf_counter() - started > CYCLE_TIMEOUT:
            raise RuntimeError(f"the cycle did not finish in {CYCLE_TIMEOUT:.0f} s ({runs.count()} of {queued})")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    failed = runs.exclude(outcome=SyncOutcome.OK).count()
    return elapsed, queued, failed


def measure(report: Report, sizes: Sizes, logs: Path) -> None:
    from calsync.celery import app as celery_app

    queue = f"bench-{uuid.uuid4().hex[:12]}"
    sent_to = celery_app.conf.task_default_queue
    with google_fake() as fake:
        started = time.perf_counter()
        ids = build(fake, sizes)
        progress(f"  item 4: {len(ids)} connections built in {time.perf_counter() - started:.1f} s")
        env = child_env(CELERY_QUEUE=queue, **fake.env)
        celery_app.conf.task_default_queue = queue
        try:
            with workers(sizes.workers, queue, env, logs):
                first, runs, failed = cycle(ids)
                report.add(
                    Figure(
                        4,
                        "first sync of all connections (full listings)",
                        first,
                        "s",
                        note=f"{runs:,} runs, {failed} failed, {sizes.cycle_events} events per calendar",
                    )
                )
                # Due again: synced longer ago than the sync interval (what the fan-out waits for).
                interval = timedelta(seconds=settings.SYNC_INTERVAL_SECONDS + 1)
                CalendarConnection.objects.filter(pk__in=ids).update(last_synced_at=now() - interval)
                elapsed, runs, failed = cycle(ids)
                report.add(
                    Figure(
                        4,
                        f"no-change cycle, {runs:,} connections",
                        elapsed,
                        "s",
                        Target("<=", 60),
                        f"{sizes.workers} workers (concurrency 1 each), Google fake over TLS; "
                        f"{runs / elapsed:,.0f} syncs/s; {failed} failed",
                    )
                )
        finally:
            celery_app.conf.task_default_queue = sent_to
