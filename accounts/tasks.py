from typing import Any

from django.conf import settings

from accounts.purge import deleted_purge
from accounts.sessions import sessions_clear_expired
from calsync.jobs import periodic_job


@periodic_job("accounts.clear_expired_sessions", soft_time_limit=600, time_limit=660)
def clear_expired_sessions() -> int:
    return sessions_clear_expired()


# Daily. Late ack: a worker lost mid-purge leaves the task to another, which carries on where it stopped.
@periodic_job("accounts.purge_deleted", soft_time_limit=7200, time_limit=7260)
def purge_deleted() -> dict[str, Any]:
    return deleted_purge(days=settings.PURGE_AFTER_DAYS).as_dict()
