from celery import shared_task
from django.conf import settings

from calsync.jobs import periodic_job
from calsync.lib.queue import REVOKE_GRANT
from connections.keepalive import accounts_idle, accounts_keep_alive
from connections.oauth_state import oauth_states_delete_stale
from connections.providers.base import ProviderError
from connections.services import grant_revoke


@shared_task(name=REVOKE_GRANT, bind=True, acks_late=True, max_retries=6)
def revoke_grant(self, provider: str, sealed_token: str) -> None:  # type: ignore[no-untyped-def]
    try:
        grant_revoke(provider=provider, sealed_token=sealed_token)
    except ProviderError as exc:
        if exc.permanent:
            raise
        raise self.retry(exc=exc, countdown=exc.retry_after or 30 * 2**self.request.retries) from exc


@periodic_job("connections.cleanup_oauth_states", soft_time_limit=300, time_limit=330)
def cleanup_oauth_states() -> int:
    return oauth_states_delete_stale()


@periodic_job("connections.refresh_idle_credentials", soft_time_limit=1800, time_limit=1860)
def refresh_idle_credentials() -> dict[str, int]:
    report = accounts_keep_alive(accounts=accounts_idle(idle_days=settings.CREDENTIALS_IDLE_DAYS))
    return {"refreshed": report.refreshed, "needs_reconnect": report.needs_reconnect, "failed": len(report.failures)}
