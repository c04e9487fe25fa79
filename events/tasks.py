from celery import shared_task
from django.conf import settings

from events.services import sync_runs_prune


@shared_task(name="events.prune_sync_runs", acks_late=True)
def prune_sync_runs() -> int:
    return sync_runs_prune(days=settings.SYNC_RUN_RETENTION_DAYS)
