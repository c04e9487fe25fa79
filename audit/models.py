from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils.timezone import now

from calsync.lib.indexes import Index


class AuditAction(models.TextChoices):
    """What happened, grouped by area as `area.event`."""

    # Accounts and sessions
    ACCOUNT_SIGNED_UP = "account.signed_up", "Signed up"
    ACCOUNT_SIGNED_IN = "account.signed_in", "Signed in"
    ACCOUNT_SIGN_IN_FAILED = "account.sign_in_failed", "Sign-in failed"
    ACCOUNT_SIGNED_OUT = "account.signed_out", "Signed out"
    ACCOUNT_PASSWORD_CHANGED = "account.password_changed", "Password changed"
    ACCOUNT_PASSWORD_RESET = "account.password_reset", "Password reset"
    ACCOUNT_MFA_ENABLED = "account.mfa_enabled", "Two-factor authentication enabled"
    ACCOUNT_MFA_DISABLED = "account.mfa_disabled", "Two-factor authentication disabled"
    ACCOUNT_SESSION_ENDED = "account.session_ended", "Session ended"
    ACCOUNT_DELETED = "account.deleted", "Account deleted"
    ACCOUNT_DATA_EXPORTED = "account.data_exported", "Data downloaded"
    ACCOUNT_PURGED = "account.purged", "Account purged"
    # Calendar connections
    CONNECTION_CONNECTED = "connection.connected", "Calendar account connected"
    CONNECTION_RECONNECTED = "connection.reconnected", "Calendar account reconnected"
    CONNECTION_DISCONNECTED = "connection.disconnected", "Calendar disconnected"
    CONNECTION_ACCOUNT_DISCONNECTED = "connection.account_disconnected", "Calendar account disconnected"
    CONNECTION_CALENDARS_CHOSEN = "connection.calendars_chosen", "Calendars chosen for sync"
    CONNECTION_NEEDS_RECONNECT = "connection.needs_reconnect", "Calendar account needs reconnecting"
    CONNECTION_OAUTH_REFUSED = "connection.oauth_refused", "OAuth callback refused"
    # Sync
    SYNC_SWEEP_HELD = "sync.sweep_held", "Large deletion held"
    SYNC_SWEEP_CONFIRMED = "sync.sweep_confirmed", "Large deletion confirmed"
    SYNC_DELETIONS_HELD = "sync.deletions_held", "Deletions reported by the provider held"
    # Events changed in calsync
    EVENT_CREATED = "event.created", "Event created"
    EVENT_UPDATED = "event.updated", "Event updated"
    EVENT_DELETED = "event.deleted", "Event deleted"
    EVENT_CONFLICT = "event.conflict", "Event edit conflicted"
    # Operations
    ADMIN_ADDED = "ops.admin_added", "Added in the admin"
    ADMIN_CHANGED = "ops.admin_changed", "Changed in the admin"
    ADMIN_DELETED = "ops.admin_deleted", "Deleted in the admin"
    ADMIN_ACTION = "ops.admin_action", "Admin action run"
    SECRETS_ROTATED = "ops.secrets_rotated", "Secrets re-encrypted under a new key"
    AUDIT_ARCHIVED = "ops.audit_archived", "Audit rows archived"

    @property
    def area(self) -> str:
        return self.value.partition(".")[0]


class AuditLog(models.Model):
    """One security-relevant action. Immutable.

    Actor and subject are plain ids plus an email snapshot, not foreign keys: purging a user never has to
    touch (or is blocked by) audit rows, and the row still says who it was.
    """

    created_at = models.DateTimeField(default=now)
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    actor_id = models.BigIntegerField(null=True, blank=True, help_text="Who did it (a user id); empty for the system.")
    actor_email = models.CharField(max_length=320, blank=True)
    subject_user_id = models.BigIntegerField(null=True, blank=True, help_text="Whose account it concerns.")
    subject_email = models.CharField(max_length=320, blank=True)
    target_type = models.CharField(max_length=64, blank=True, help_text="e.g. connections.calendarconnection")
    target_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "audit_logs"
        indexes: ClassVar[list[Any]] = [
            # A person's history (account page, staff answering "what happened to my account?").
            Index("subject_user_id", models.F("created_at").desc(), name="audit_logs_subject_idx"),
            # What someone did (staff investigating an actor, including staff actions on others).
            Index("actor_id", models.F("created_at").desc(), name="audit_logs_actor_idx"),
            # Everything that happened to one object (a connection's history).
            Index(fields=["target_type", "target_id"], name="audit_logs_target_idx"),
            # The admin's newest-first list and the archive job's `created_at < cutoff`.
            Index(fields=["created_at"], name="audit_logs_created_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action}"
