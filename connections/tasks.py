from celery import shared_task

from connections.providers.base import ProviderError
from connections.services import grant_revoke


@shared_task(name="connections.revoke_grant", bind=True, acks_late=True, max_retries=6)
def revoke_grant(self, provider: str, sealed_token: str) -> None:  # type: ignore[no-untyped-def]
    try:
        grant_revoke(provider=provider, sealed_token=sealed_token)
    except ProviderError as exc:
        if exc.permanent:
            raise
        raise self.retry(exc=exc, countdown=exc.retry_after or 30 * 2**self.request.retries) from exc
