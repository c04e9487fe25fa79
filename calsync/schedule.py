"""The periodic jobs and the service that installs them as django-celery-beat schedules.

Schedules live in the database (DatabaseScheduler) so staff can see and change them in the admin;
installing is idempotent and, unless asked to reset, leaves what staff changed alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    minute: str
    hour: str = "*"
    description: str = ""


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        name="Sync due calendars",
        task="events.sync_due",
        minute="*/5",
        description=(
            "Queues one sync per connected calendar not synced in the last five minutes; skips calendars in "
            "backoff, held for a confirmation, needing reconnect, or already syncing."
        ),
    ),
    PeriodicJob(
        name="Push waiting changes",
        task="events.push_pending",
        minute="*/5",
        description=(
            "Queues the push of changes made in calsync whose queued task was lost (a broker restart): those "
            "still waiting PUSH_LOST_AFTER_SECONDS after they were due."
        ),
    ),
    PeriodicJob(
        name="Delete expired OAuth states",
        task="connections.cleanup_oauth_states",
        minute="*/15",
        description="Removes OAuth states that expired or were consumed.",
    ),
    PeriodicJob(
        name="Keep idle credentials alive",
        task="connections.refresh_idle_credentials",
        minute="23",
        description=(
            "Refreshes OAuth grants unused for CREDENTIALS_IDLE_DAYS so they do not lapse; a withdrawn grant "
            "marks its account as needing reconnect."
        ),
    ),
    PeriodicJob(
        name="Purge deleted accounts and events",
        task="accounts.purge_deleted",
        minute="0",
        hour="0",
        description=(
            "Erases users and events soft-deleted more than PURGE_AFTER_DAYS ago, with everything that belongs "
            "to them, then VACUUM ANALYZE of the large tables."
        ),
    ),
    PeriodicJob(
        name="Archive old audit rows",
        task="audit.archive_audit_logs",
        minute="30",
        hour="1",
        description=(
            "Writes audit rows older than AUDIT_RETENTION_DAYS to AUDIT_ARCHIVE_DIR, verifies the files, then "
            "deletes the rows; with no archive folder configured it deletes nothing."
        ),
    ),
    PeriodicJob(
        name="Delete expired sessions",
        task="accounts.clear_expired_sessions",
        minute="17",
        description="Removes session rows past their expiry so the sessions table stays small.",
    ),
    PeriodicJob(
        name="Prune old sync runs",
        task="events.prune_sync_runs",
        minute="40",
        hour="3",
        description="Deletes sync runs older than SYNC_RUN_RETENTION_DAYS.",
    ),
)


@transaction.atomic
def periodic_tasks_install(*, reset: bool = False) -> list[tuple[str, bool]]:
    """Create each job's schedule if missing (or overwrite it with `reset`); returns (name, changed) pairs."""
    results = []
    for job in PERIODIC_JOBS:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=job.minute, hour=job.hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        defaults = {"task": job.task, "crontab": crontab, "description": job.description}
        if reset:
            _, changed = PeriodicTask.objects.update_or_create(name=job.name, defaults={**defaults, "enabled": True})
            changed = True
        else:
            _, changed = PeriodicTask.objects.get_or_create(name=job.name, defaults=defaults)
        results.append((job.name, changed))
    return results
