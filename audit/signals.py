"""Audit rows for what the ground floor does and reports by signal (calsync.lib knows no app)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from audit.models import AuditAction
from audit.services import record
from calsync.lib.key_rotation import secrets_rotated


@receiver(secrets_rotated, dispatch_uid="audit_secrets_rotated")
def audit_secrets_rotated(sender: Any, metadata: dict[str, Any], **kwargs: Any) -> None:
    record(action=AuditAction.SECRETS_ROTATED, actor=None, metadata=metadata)
