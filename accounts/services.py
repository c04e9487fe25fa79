"""Account services: the writes that views, signals, tasks and commands of this app share.

Each writes its audit row in the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.db import transaction
from django.http import HttpRequest
from django.utils.timezone import now

from accounts.devices import describe_user_agent
from accounts.models import Session, User
from audit.models import AuditAction
from audit.services import record
from connections.models import OAuthState
from connections.services import provider_accounts_forget
from events.models import CalendarEvent


class SessionNotFound(Exception):
    """No live session of this person has that id (it ended, or it is someone else's)."""


@transaction.atomic
def session_end(*, user: User, key_hash: str, request: HttpRequest | None = None) -> None:
    """Sign one of the person's sessions out (the Devices page)."""
    session = Session.objects.select_for_update().filter(user=user, key_hash=key_hash).first()
    if session is None:
        raise SessionNotFound(key_hash)
    record(action=AuditAction.ACCOUNT_SESSION_ENDED, actor=user, request=request, metadata=_describe(session))
    session.delete()


@transaction.atomic
def sessions_end_others(*, user: User, keep_key_hash: str | None, request: HttpRequest | None = None) -> int:
    """Sign the person out everywhere except the session `keep_key_hash`; returns how many ended."""
    others = list(Session.objects.select_for_update().filter(user=user).exclude(key_hash=keep_key_hash or ""))
    for session in others:
        record(
            action=AuditAction.ACCOUNT_SESSION_ENDED,
            actor=user,
            request=request,
            metadata={**_describe(session), "everywhere_else": True},
        )
    Session.objects.filter(pk__in=[session.pk for session in others]).delete()
    return len(others)


@transaction.atomic
def user_update_profile(*, user: User, name: str, timezone: str, week_start: int) -> User:
    user.name = name
    user.timezone = timezone
    user.week_start = week_start
    user.full_clean(exclude=["password"])
    user.save(update_fields=["name", "timezone", "week_start", "updated_at"])
    return user


@transaction.atomic
def account_delete(*, user: User, request: HttpRequest | None = None) -> None:
    """Delete the person's account at once, as far as anyone can see; the daily purge removes the rows.

    Ends every session, deletes every stored credential, hides every calendar and event, frees the
    email address for a new sign-up, and soft-deletes the user.
    """
    deleted_at = now()
    hidden_events = CalendarEvent.objects.filter(connection__user=user, deleted_at__isnull=True).update(
        deleted_at=deleted_at
    )
    # Credentials go now, not at the purge; grants are withdrawn at the providers that allow it.
    forgotten = provider_accounts_forget(user_id=user.pk)
    record(
        action=AuditAction.ACCOUNT_DELETED,
        actor=user,
        request=request,
        metadata={"provider_accounts": forgotten, "events_hidden": hidden_events},
    )
    Session.objects.filter(user=user).delete()
    OAuthState.objects.filter(user=user).delete()
    Authenticator.objects.filter(user=user).delete()
    # allauth looks addresses up here first; leaving them would keep the address "taken".
    EmailAddress.objects.filter(user=user).delete()
    user.deleted_at = deleted_at
    user.is_active = False
    user.save(update_fields=["deleted_at", "is_active", "updated_at"])


def _describe(session: Session) -> dict[str, Any]:
    return {"device": describe_user_agent(session.user_agent), "ip": session.ip_address}
