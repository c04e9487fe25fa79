"""One soak, start to end: set up, browse and sync for a bounded time, settle, check, tear everything down.

Order: the people and their calendars at the Google fake; gunicorn and the Celery workers (bench's); a
first full sync so the week view has something to show; then, together, the users, the mutator and the
fan-out. When the time is up the users stop (the mutator stopped a little earlier), the queue drains, one
last sync of every calendar runs, and each calendar in the database is compared with the fake's.
Everything started here is stopped on the way out, on Ctrl-C and on errors too.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from django.db import connection
from django.utils.timezone import now

from bench.fakes import google_fake
from bench.fixtures import child_env
from bench.report import machine_details, progress
from bench.sync_cycle import cycle, workers
from soak import datacheck
from soak.config import SoakConfig
from soak.mutator import Calendar, Mutator
from soak.people import PASSWORD, build_people, check_database, remove_soak_rows
from soak.report import SoakReport
from soak.syncing import FanOut, SyncsStuck, final_pass, sync_figures, sync_interval, wait_until_quiet
from soak.visitors import VirtualUser
from soak.web import gunicorn

JOIN_GRACE = 60.0  # a user's last request may take up to its timeout (30 s) after the end


@contextlib.contextmanager
def default_queue(name: str) -> Iterator[None]:
    """Tasks queued from this process go to the soak's own queue (its workers read only that one)."""
    from calsync.celery import app as celery_app

    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    try:
        yield
    finally:
        celery_app.conf.task_default_queue = saved


@contextlib.contextmanager
def running(threads: list[threading.Thread], stop: threading.Event) -> Iterator[None]:
    """Start the threads; on the way out (the end, an error, Ctrl-C) tell them to stop and wait for them."""
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=JOIN_GRACE)


def log_problems(logs: Path, web_workers: int) -> list[str]:
    """What the logs tell that the answers may not: tracebacks (an error a page or a sync hid), and gunicorn
    workers that timed out or were replaced (a resent GET must not hide a crashed worker)."""
    found = []
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(errors="replace")
        if count := text.count("Traceback (most recent call last)"):
            found.append(f"{count} traceback(s) in {log.name}")
        if log.name == "gunicorn.log":
            if count := text.count("WORKER TIMEOUT"):
                found.append(f"{count} gunicorn worker timeout(s)")
            if (booted := text.count("Booting worker")) > web_workers:
                found.append(f"gunicorn started {booted - web_workers} replacement worker(s)")
    return found


def run(config: SoakConfig, out: Path) -> SoakReport:
    check_database()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = SoakReport(
        machine=machine_details(),
        config={**asdict(config), "ramp": config.ramp, "mutate_until": config.mutate_until},
    )
    remove_soak_rows()
    queue = f"soak-{uuid.uuid4().hex[:12]}"
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(google_fake())
        people = build_people(fake, config)
        ids = [pk for person in people for pk in person.connection_ids]
        calendars = [Calendar(calendar, person.email) for person in people for calendar in person.calendar_ids]
        report.calendars = len(ids)
        report.initial_events = sum(len(fake.state.events.get(c.calendar_id, {})) for c in calendars)
        progress(f"soak: {len(people)} people, {len(ids)} calendars, {report.initial_events:,} events at the fake")
        env = child_env(CELERY_QUEUE=queue, **fake.env)
        stack.enter_context(default_queue(queue))
        stack.enter_context(sync_interval(config.sync_interval))
        base_url = stack.enter_context(gunicorn(env, workers=config.web_workers, static_root=out / "static", logs=logs))
        stack.enter_context(workers(config.sync_workers, queue, env, logs))
        progress(f"soak: serving at {base_url}; first sync of every calendar")
        seconds, runs, failed = cycle(ids)
        report.initial_sync = {"seconds": seconds, "runs": runs, "failed": failed}
        # Statistics for the rows just loaded, as a settled production table has them: otherwise the
        # week's queries are planned on whatever autovacuum last saw, and runs do not compare.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE calendar_events")

        progress(f"soak: {config.users} users for {config.seconds:g} s")
        stop = threading.Event()
        began, load_started_at = time.monotonic(), now()
        stop_at = began + config.seconds
        visitors = [
            VirtualUser(
                base_url=base_url,
                email=person.email,
                password=PASSWORD,
                number=number,
                start_at=began + config.ramp * number / max(1, config.users),
                stop_at=stop_at,
                think=config.think,
                stop=stop,
            )
            for number, person in enumerate(people)
        ]
        rate, mutate_until = config.mutations_per_second, began + config.mutate_until
        mutator = Mutator(fake.state, calendars, per_second=rate, stop_at=mutate_until, stop=stop)
        fan_out = FanOut(ids, stop=stop)
        with running([*visitors, mutator, fan_out], stop):
            for visitor in visitors:
                visitor.join(timeout=max(0.0, stop_at - time.monotonic()) + JOIN_GRACE)
        report.load_seconds = time.monotonic() - began
        report.add_samples([sample for visitor in visitors for sample in visitor.samples])
        report.mutations = dict(mutator.counts)
        report.fan_out = {"rounds": fan_out.rounds, "queued": fan_out.queued}
        if mutator.failure:
            report.problems.append(f"mutator: {mutator.failure}")
        if fan_out.failure:
            report.problems.append(f"fan-out: {fan_out.failure}")
        report.problems += [f"{visitor.name} still running" for visitor in visitors if visitor.is_alive()]

        progress(f"soak: {report.requests:,} requests, {report.errors} errors; final sync")
        try:
            report.quiet_seconds = wait_until_quiet(ids)
            # The runs queued before the end that ran after it belong to the run too.
            report.syncs = sync_figures(ids, load_started_at, now())
            report.final_sync = final_pass(ids)
        except SyncsStuck as exc:
            report.problems.append(str(exc))
        report.data_check = datacheck.compare(fake.state, ids)
    report.problems += log_problems(logs, config.web_workers)
    report.seconds = time.perf_counter() - started
    return report
