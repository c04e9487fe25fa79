"""Connection services: the writes that views, tasks and commands of this app share."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.timezone import now

from accounts.models import User
from audit.models import AuditAction
from audit.services import record
from calsync.lib.crypto import current_keyring
from calsync.lib.queue import REVOKE_GRANT, enqueue_on_commit
from connections.models import AccountStatus, CalendarConnection, ProviderAccount
from connections.providers.base import Credentials, Grant, RemoteCalendar
from connections.providers.registry import adapter_for

logger = logging.getLogger(__name__)

# Tokens handed to the revoke task are sealed with our keys, so the broker never holds them in the clear.
REVOKE_TASK_CONTEXT = "task:connections.revoke_grant"


def account_connect(*, user: User, provider: str, grant: Grant, request: HttpRequest | None = None) -> ProviderAccount:
    """Store a fresh grant: a new account, or the same account reconnected (its calendars resume)."""
    credentials = grant.credentials
    values = {
        "email": grant.identity.email[:320],
        "server_url": credentials.server_url,
        "username": credentials.username,
        "access_token": credentials.access_token,
        "refresh_token": credentials.refresh_token,
        "password": credentials.password,
        "token_expires_at": credentials.expires_at,
        "scopes": list(credentials.scopes),
        "status": AccountStatus.ACTIVE,
        # Reconnected: neither why it had to be nor its last failure applies to the new grant.
        "reconnect_reason": "",
        "last_error": "",
        "last_refreshed_at": now() if credentials.access_token else None,
    }
    with transaction.atomic():
        try:
            with transaction.atomic():
                account, created = ProviderAccount.objects.select_for_update().get_or_create(
                    user=user, provider=provider, external_id=grant.identity.external_id[:512], defaults=values
                )
        except IntegrityError:  # a parallel connect of the same account won the insert
            account, created = (
                ProviderAccount.objects.get(user=user, provider=provider, external_id=grant.identity.external_id[:512]),
                False,
            )
        if not created:
            for name, value in values.items():
                setattr(account, name, value)
            account.save()
        record(
            action=AuditAction.CONNECTION_CONNECTED if created else AuditAction.CONNECTION_RECONNECTED,
            actor=user,
            target=account,
            request=request,
            metadata={"provider": provider, "account": account.email},
        )
    return account


@dataclass
class ChooseResult:
    added: list[CalendarConnection] = field(default_factory=list)
    updated: list[CalendarConnection] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Calendars already synced for this person through another account: never twice.
    elsewhere: list[RemoteCalendar] = field(default_factory=list)


def calendars_choose(
    *,
    account: ProviderAccount,
    remote_calendars: Iterable[RemoteCalendar],
    chosen_ids: set[str],
    request: HttpRequest | None = None,
) -> ChooseResult:
    """Sync exactly the chosen calendars of this account; refresh names, colours and flags of the rest."""
    result = ChooseResult()
    with transaction.atomic():
        existing = {c.remote_id: c for c in CalendarConnection.objects.filter(user_id=account.user_id)}
        for remote in remote_calendars:
            connection = existing.get(remote.remote_id)
            if connection is not None and connection.account_id != account.pk:
                if remote.remote_id in chosen_ids:
                    result.elsewhere.append(remote)
                continue
            if remote.remote_id not in chosen_ids:
                if connection is not None:
                    result.removed.append(connection.name)
                    _calendar_delete(connection)
                continue
            if connection is None:
                connection = CalendarConnection(user_id=account.user_id, account=account, remote_id=remote.remote_id)
                result.added.append(connection)
            else:
                result.updated.append(connection)
            _apply_remote(connection, remote)
            connection.is_connected = True
            try:
                with transaction.atomic():
                    connection.save()
            except IntegrityError:  # chosen through another account at the same moment
                result.added = [c for c in result.added if c is not connection]
                result.updated = [c for c in result.updated if c is not connection]
                result.elsewhere.append(remote)
        if result.added or result.removed:
            record(
                action=AuditAction.CONNECTION_CALENDARS_CHOSEN,
                actor=account.user,
                target=account,
                request=request,
                metadata={
                    "provider": account.provider,
                    "added": [c.name for c in result.added],
                    "removed": result.removed,
                },
            )
    return result


def calendar_disconnect(*, connection: CalendarConnection, request: HttpRequest | None = None) -> bool:
    """Stop syncing one calendar and remove its events everywhere. Returns whether the account went too,
    which happens when this was its last calendar (the grant is revoked where the provider allows)."""
    with transaction.atomic():
        account = connection.account
        record(
            action=AuditAction.CONNECTION_DISCONNECTED,
            actor=account.user,
            target=connection,
            request=request,
            metadata={"provider": account.provider, "calendar": connection.name, "account": account.email},
        )
        _calendar_delete(connection)
        if not CalendarConnection.objects.filter(account=account).exists():
            account_disconnect(account=account, request=request)
            return True
    return False


def account_disconnect(*, account: ProviderAccount, request: HttpRequest | None = None) -> None:
    """Disconnect an account: its calendars and their events go, its grant is revoked, its credentials deleted."""
    with transaction.atomic():
        record(
            action=AuditAction.CONNECTION_ACCOUNT_DISCONNECTED,
            actor=account.user,
            target=account,
            request=request,
            metadata={
                "provider": account.provider,
                "account": account.email,
                "calendars": list(account.calendars.values_list("name", flat=True)),
            },
        )
        _queue_revoke_for(account)
        account.delete()  # cascades to its calendars and their events


def provider_accounts_forget(*, user_id: int) -> int:
    """Delete every credential a person gave us, and withdraw the grants at providers that allow it.

    The credentials are gone when the surrounding transaction commits; revocation runs afterwards in a
    worker (it calls the provider, and retries), with the token sealed under our encryption key.
    Returns how many provider accounts there were.
    """
    accounts = list(ProviderAccount.objects.filter(user_id=user_id).only("provider", "access_token", "refresh_token"))
    for account in accounts:
        _queue_revoke_for(account)
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


def _queue_revoke_for(account: ProviderAccount) -> None:
    """After the transaction commits, a worker withdraws this account's grant (where the provider allows)."""
    adapter = adapter_for(account.provider)
    token = account.refresh_token or account.access_token
    if adapter is not None and adapter.can_revoke and token:
        sealed = current_keyring().encrypt(token, REVOKE_TASK_CONTEXT)
        enqueue_on_commit(REVOKE_GRANT, account.provider, sealed)


def _apply_remote(connection: CalendarConnection, remote: RemoteCalendar) -> None:
    connection.name = remote.name
    connection.color = remote.color
    connection.timezone = remote.timezone
    connection.is_primary = remote.is_primary
    connection.read_only = remote.read_only


def _calendar_delete(connection: CalendarConnection) -> None:
    # The row goes with its events and sync runs (cascade): nothing of it is shown anywhere afterwards.
    connection.delete()
