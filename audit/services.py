"""The only way audit rows are written."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from audit.models import AuditAction, AuditLog
from calsync.lib.http import client_info

# Keys that must never reach audit metadata, however a caller builds it.
SECRET_KEYS = frozenset({"access_token", "refresh_token", "password", "code", "code_verifier", "client_secret"})


def record(
    *,
    action: AuditAction,
    actor: Any = None,
    subject: Any = None,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    metadata: dict[str, Any] | None = None,
) -> AuditLog:
    """Write one audit row. Call it inside the transaction that makes the change it describes.

    `actor` is who acted (a user, or None for the system); `subject` whose account it concerns (defaults
    to the actor). IP and user agent come from `request` when there is one.
    """
    if subject is None:
        subject = actor
    clean_metadata = _without_secrets(metadata or {})
    client = client_info(request) if request is not None else None
    return AuditLog.objects.create(
        action=action,
        actor_id=_user_id(actor),
        actor_email=_user_email(actor),
        subject_user_id=_user_id(subject),
        subject_email=_user_email(subject),
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        ip_address=client.ip if client else None,
        user_agent=client.user_agent if client else "",
        metadata=clean_metadata,
    )


def _user_id(user: Any) -> int | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return int(user.pk)


def _user_email(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return str(getattr(user, "email", ""))


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_secrets(item) for key, item in value.items() if key.lower() not in SECRET_KEYS}
    if isinstance(value, list | tuple):
        return [_without_secrets(item) for item in value]
    return value
