"""Provider credentials in use: fresh before they expire, refreshed once on a 401, and a grant that is gone
turns the account to "needs reconnect" (one audit row, one email) instead of a retry storm.

`ProviderSession` is that mechanism, once: the inbound sync, the push and the connection pages (through
`provider_call`) all reach providers through it. `CalendarSession` adds the adapter and the calendar a sync
or a push speaks about.

Two things are kept apart on the account: `reconnect_reason`, why the person must reconnect (set once, when
the account turns, until they reconnect), and `last_error`, the latest failure using its credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.timezone import now

from audit.models import AuditAction
from audit.services import record
from calsync.lib.http import absolute_url
from connections.models import AccountStatus, CalendarConnection, ProviderAccount
from connections.providers.base import (
    AuthRevoked,
    Credentials,
    ProviderAdapter,
    ProviderError,
    RemoteCalendar,
    TokenRejected,
)
from connections.providers.registry import adapter_for

logger = logging.getLogger(__name__)

# Refresh this long before the provider's expiry, so a token never lapses in the middle of a sync.
REFRESH_MARGIN = timedelta(minutes=5)

T = TypeVar("T")


class AccountInactive(AuthRevoked):
    """Our own refusal to use an account that already waits for the person: not a new failure."""

    def __init__(self, account: ProviderAccount) -> None:
        super().__init__(_inactive_message(account.get_status_display()))


def _inactive_message(status_label: str) -> str:
    return f"the account is {status_label.lower()}"


INACTIVE_MESSAGES = frozenset(
    _inactive_message(str(label)) for value, label in AccountStatus.choices if value != AccountStatus.ACTIVE
)


def stored_credentials(account: ProviderAccount) -> Credentials:
    return Credentials(
        access_token=account.access_token,
        refresh_token=account.refresh_token,
        expires_at=account.token_expires_at,
        scopes=tuple(account.scopes or ()),
        server_url=account.server_url,
        username=account.username,
        password=account.password,
    )


def provider_call(account: ProviderAccount, call: Callable[[Credentials], T]) -> T:
    """Run `call` once through a session of its own (fresh credentials, one refresh on a 401), and note that
    the account was used. Raises AuthRevoked when the account needs reconnecting (and marks it so)."""
    result = ProviderSession(account).call(call)
    ProviderAccount.objects.filter(pk=account.pk).update(last_used_at=now())
    return result


class ProviderSession:
    """One account's credentials over a run of provider calls (a sync, a push, one page's listing): fresh
    before the first call, refreshed once in the session when the provider rejects the token, and the account
    marked "needs reconnect" when the grant turns out to be gone."""

    def __init__(self, account: ProviderAccount) -> None:
        self.account = account
        self._credentials: Credentials | None = None
        self.refreshed = False

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = credentials_fresh(self.account)  # a refresh that fails marks the account itself
        return self._credentials

    def call(self, call: Callable[[Credentials], T]) -> T:
        """Run `call` with the credentials; on a 401 refresh them (once a session) and run it again.

        Raises AuthRevoked when the account needs reconnecting (and marks it so)."""
        credentials = self.credentials
        try:
            return self._call_or_mark(call, credentials)
        except TokenRejected:
            if self.refreshed or not _uses_oauth(self.account):
                raise
            self._credentials = account_refresh(self.account, rejected_token=credentials.access_token)
            self.refreshed = True
        return self._call_or_mark(call, self._credentials)  # a second 401 is the provider's, not ours

    def _call_or_mark(self, call: Callable[[Credentials], T], credentials: Credentials) -> T:
        try:
            return call(credentials)
        except AuthRevoked as revoked:  # e.g. a CalDAV server that no longer takes the stored password
            account_needs_reconnect(self.account, reason=str(revoked))
            raise


class CalendarSession(ProviderSession):
    """A session for one calendar's sync or push: its account's credentials, its adapter, and the calendar
    as the provider's calls name it."""

    def __init__(self, connection: CalendarConnection, adapter: ProviderAdapter) -> None:
        super().__init__(connection.account)
        self.connection = connection
        self.adapter = adapter
        self.calendar = remote_calendar(connection)


def remote_calendar(connection: CalendarConnection) -> RemoteCalendar:
    """The calendar of a connection as the provider contract names it."""
    return RemoteCalendar(
        remote_id=connection.remote_id,
        name=connection.name,
        color=connection.color,
        timezone=connection.timezone,
        is_primary=connection.is_primary,
        read_only=connection.read_only,
    )


def credentials_fresh(account: ProviderAccount) -> Credentials:
    if account.status != AccountStatus.ACTIVE:
        raise AccountInactive(account)
    credentials = stored_credentials(account)
    if not _uses_oauth(account) or _still_fresh(credentials):
        return credentials
    return account_refresh(account)


def account_refresh(account: ProviderAccount, *, rejected_token: str | None = None, force: bool = False) -> Credentials:
    """Refresh the account's access token and store what the provider returned (a rotated refresh token too).

    `force` refreshes even a token that is still fresh (keeping an idle grant alive).

    The row is locked for the refresh, so two workers never refresh one grant at once: Microsoft rotates
    refresh tokens, and the loser of such a race would store a token that the winner already replaced.
    A worker that waited for the lock finds fresh credentials and uses them.
    """
    adapter = adapter_for(account.provider)
    if adapter is None:
        raise ProviderError(f"no adapter for provider {account.provider!r}", permanent=True)
    with transaction.atomic():
        locked = ProviderAccount.objects.select_for_update().get(pk=account.pk)
        current = stored_credentials(locked)
        if locked.status != AccountStatus.ACTIVE:
            raise AccountInactive(locked)
        if not force and current.access_token != rejected_token and _still_fresh(current):
            return current
        try:
            refreshed = adapter.refresh(current)
        except AuthRevoked as revoked:
            failure: ProviderError = revoked
        except ProviderError as error:
            failure = error
        else:
            locked.access_token = refreshed.access_token
            locked.refresh_token = refreshed.refresh_token or locked.refresh_token
            locked.token_expires_at = refreshed.expires_at
            locked.scopes = list(refreshed.scopes) or locked.scopes
            locked.last_refreshed_at = now()
            locked.last_error = ""
            locked.save(
                update_fields=[
                    "access_token",
                    "refresh_token",
                    "token_expires_at",
                    "scopes",
                    "last_refreshed_at",
                    "last_error",
                    "updated_at",
                ]
            )
            _copy_tokens(locked, account)
            return stored_credentials(locked)
    if isinstance(failure, AuthRevoked):
        account_needs_reconnect(account, reason=str(failure))
    else:  # the provider is down or limiting us: the grant may be fine, and the failure is kept
        _last_error_keep(account, str(failure) or type(failure).__name__)
    raise failure


def account_needs_reconnect(account: ProviderAccount, *, reason: str) -> bool:
    """Mark the account as needing the person to reconnect, for `reason`; the first time, audit it and email
    them. A later failure is kept as the last error; the reason stays what first asked them to reconnect.

    Returns whether this call made the change (a conditional UPDATE, so concurrent callers send one email).
    """
    reason = reason[:1000]
    with transaction.atomic():
        changed = ProviderAccount.objects.filter(pk=account.pk, status=AccountStatus.ACTIVE).update(
            status=AccountStatus.NEEDS_RECONNECT, reconnect_reason=reason, last_error=reason, updated_at=now()
        )
        if changed:
            account.reconnect_reason = reason
        elif reason in INACTIVE_MESSAGES:
            return False  # our own refusal of an account that already waits: nothing new to keep
        else:
            ProviderAccount.objects.filter(pk=account.pk).update(last_error=reason, updated_at=now())
        account.status = AccountStatus.NEEDS_RECONNECT
        account.last_error = reason
        if not changed:
            return False
        logger.warning("account %s (%s) needs reconnecting: %s", account.pk, account.provider, reason)
        record(
            action=AuditAction.CONNECTION_NEEDS_RECONNECT,
            subject=account.user,
            target=account,
            metadata={"provider": account.provider, "reason": reason[:200]},
        )
        transaction.on_commit(partial(_email_needs_reconnect, account.pk))
    return True


def _last_error_keep(account: ProviderAccount, message: str) -> None:
    account.last_error = message[:1000]
    ProviderAccount.objects.filter(pk=account.pk).update(last_error=account.last_error, updated_at=now())


def _email_needs_reconnect(account_id: int) -> None:
    account = ProviderAccount.objects.select_related("user").filter(pk=account_id).first()
    if account is None or account.status != AccountStatus.NEEDS_RECONNECT:
        return
    context = {
        "account": account,
        "provider": account.get_provider_display(),
        "connections_url": absolute_url(reverse("connections")),
    }
    subject = render_to_string("connections/email/needs_reconnect_subject.txt", context).strip()
    body = render_to_string("connections/email/needs_reconnect_message.txt", context)
    try:
        send_mail(subject, body, None, [account.user.email])
    except Exception:  # the state is saved and shown on the page; a mail outage must not undo it
        logger.exception("could not email user %s about reconnecting account %s", account.user_id, account.pk)


def _still_fresh(credentials: Credentials) -> bool:
    return bool(credentials.access_token) and (
        credentials.expires_at is None or credentials.expires_at > now() + REFRESH_MARGIN
    )


def _uses_oauth(account: ProviderAccount) -> bool:
    adapter = adapter_for(account.provider)
    return adapter is not None and adapter.uses_oauth


def _copy_tokens(source: ProviderAccount, target: ProviderAccount) -> None:
    for name in ("access_token", "refresh_token", "token_expires_at", "scopes", "last_refreshed_at", "last_error"):
        setattr(target, name, getattr(source, name))
