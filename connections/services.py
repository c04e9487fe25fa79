"""Connection services: the writes that views, tasks and commands of this app share."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from calsync.lib.crypto import current_keyring
from connections.models import AccountStatus, CalendarConnection, ProviderAccount
from connections.providers.base import Credentials
from connections.providers.registry import adapter_for

logger = logging.getLogger(__name__)

# Tokens handed to the revoke task are sealed with our keys, so the broker never holds them in the clear.
REVOKE_TASK_CONTEXT = "task:connections.revoke_grant"


def provider_accounts_forget(*, user_id: int) -> int:
    """Delete every credential a person gave us, and withdraw the grants at providers that allow it.

    The credentials are gone when the surrounding transaction commits; revocation runs afterwards in a
    worker (it calls the provider, and retries), with the token sealed under our encryption key.
    Returns how many provider accounts there were.
    """
    accounts = list(ProviderAccount.objects.filter(user_id=user_id).only("provider", "access_token", "refresh_token"))
    keyring = current_keyring()
    for account in accounts:
        adapter = adapter_for(account.provider)
        token = account.refresh_token or account.access_token
        if adapter is not None and adapter.can_revoke and token:
            sealed = keyring.encrypt(token, REVOKE_TASK_CONTEXT)
            transaction.on_commit(partial(_queue_revoke, account.provider, sealed))
    ProviderAccount.objects.filter(user_id=user_id).update(
        access_token=None, refresh_token=None, password=None, token_expires_at=None, status=AccountStatus.REVOKED
    )
    CalendarConnection.objects.filter(user_id=user_id).update(is_connected=False, sync_cursor="")
    return len(accounts)


def grant_revoke(*, provider: str, sealed_token: str) -> None:
    """Withdraw one grant at its provider (the revoke task). Raises ProviderError to be retried."""
    adapter = adapter_for(provider)
    if adapter is None or not adapter.can_revoke:
        return
    token = current_keyring().decrypt(sealed_token, REVOKE_TASK_CONTEXT)
    adapter.revoke(Credentials(refresh_token=token))
    logger.info("revoked a %s grant", provider)


def _queue_revoke(provider: str, sealed_token: str) -> None:
    from connections.tasks import revoke_grant

    revoke_grant.delay(provider, sealed_token)
