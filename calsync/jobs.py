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
from django.db.models import Q
from django.utils.timezone import now

from calsync.models import JobLease

logger = logging.getLogger(__name__)

SKIPPED = "skipped: the previous run is still going"
# A database that is restarting or failing over: try again a few times, waiting longer each time.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
MAX_RETRIES = 3

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
            JobLease.objects.filter(name=name, holder=token).update(held_until=None, holder="", last_finished_at=now())


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
            with job_lease(name, seconds=time_limit + 60) as held:
                if not held:
                    logger.info("%s: %s", name, SKIPPED)
                    return SKIPPED
                return job()

        return task

    return decorate
