"""Periodic jobs: Celery tasks that never run twice at once, with time limits and bounded retries.

Beat sends a job on schedule whether or not the previous run finished (a slow purge, a redelivered
message after a worker restart), so each run first claims its job's row in `periodic_job_leases` with a
conditional UPDATE, as the sync claims a connection. A second run finds the row held and returns at once.
The claim lasts a little longer than the task's hard time limit: a worker killed mid-job leaves a claim
that lapses by itself, and the next scheduled run takes over.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any, TypeVar

from celery import shared_task
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db import connection as db_connection
from django.db.models import Q
from django.utils.timezone import now

from calsync.models import JobLease

logger = logging.getLogger(__name__)

SKIPPED = "skipped: the previous run is still going"
# A database that is restarting or failing over: try again a few times, waiting longer each time.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
MAX_RETRIES = 3
# A claim outlives the task's hard time limit by this much, so it lapses soon after a killed run.
LEASE_MARGIN_SECONDS = 60

T = TypeVar("T")


@contextmanager
def job_lease(name: str, *, seconds: float) -> Iterator[bool]:
    """Hold the job's lease for the block (yields False, and holds nothing, when another run has it)."""
    with suppress(IntegrityError):  # another run created the row at the same moment
        JobLease.objects.get_or_create(name=name)
    token, moment = uuid.uuid4().hex, now()
    held = JobLease.objects.filter(Q(held_until__isnull=True) | Q(held_until__lt=moment), name=name).update(
        held_until=moment + timedelta(seconds=seconds), holder=token, last_started_at=moment
    )
    try:
        yield bool(held)
    finally:
        if held:
            _release(name, token)


class JobBusy(Exception):
    """A command wanted to do a periodic job's work while the job (or another command) is doing it."""


@contextmanager
def exclusively(task: Any) -> Iterator[None]:
    """For a command that does a periodic job's work by hand: hold that job's lease, or raise JobBusy."""
    with job_lease(task.name, seconds=task.time_limit + LEASE_MARGIN_SECONDS) as held:
        if not held:
            raise JobBusy(f"{task.name} is running now (the scheduled job or another command); try again later.")
        yield


def _release(name: str, token: str) -> None:
    for attempt in (1, 2):
        try:
            JobLease.objects.filter(name=name, holder=token).update(held_until=None, holder="", last_finished_at=now())
            return
        except TRANSIENT_ERRORS:
            # The job failed because the database went away, and took this connection with it: release on a
            # fresh one, or every retry of the job would find its own claim still held.
            if attempt == 2 or db_connection.in_atomic_block:
                logger.exception("could not release job %s; its claim lapses by itself", name)
                return
            db_connection.close()


def periodic_job(name: str, *, soft_time_limit: int, time_limit: int) -> Callable[[Callable[[], T]], Any]:
    """Make `job` a Celery task called `name` that runs alone, within the limits, retrying database blips."""

    def decorate(job: Callable[[], T]) -> Any:
        @shared_task(
            name=name,
            acks_late=True,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
            autoretry_for=TRANSIENT_ERRORS,
            max_retries=MAX_RETRIES,
            retry_backoff=30,
            retry_jitter=True,
        )
        @functools.wraps(job)
        def task() -> T | str:
            with job_lease(name, seconds=time_limit + LEASE_MARGIN_SECONDS) as held:
                if not held:
                    logger.info("%s: %s", name, SKIPPED)
                    return SKIPPED
                return job()

        return task

    return decorate
