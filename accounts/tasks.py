from celery import shared_task

from accounts.services import sessions_clear_expired


@shared_task(name="accounts.clear_expired_sessions", acks_late=True)
def clear_expired_sessions() -> int:
    return sessions_clear_expired()
