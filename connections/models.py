from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.timezone import now

from calsync.lib.fields import EncryptedJSONField, EncryptedTextField
from calsync.lib.indexes import Index


class Provider(models.TextChoices):
    GOOGLE = "google", "Google Calendar"
    MICROSOFT = "microsoft", "Microsoft Outlook / 365"
    ICLOUD = "icloud", "Apple iCloud"
    CALDAV = "caldav", "CalDAV"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
    REVOKED = "revoked", "Access removed"


class ProviderAccount(models.Model):
    """One signed-in account at a provider, holding the credentials for all of its calendars.

    Credentials live here rather than on each calendar connection because a provider grants them per
    account: a refresh token is refreshed once per account, not once per calendar (refreshing it per
    calendar would race, and Microsoft rotates the refresh token on every refresh, so parallel refreshes
    of copies would invalidate each other). Revoking or reconnecting also happens once, for every calendar.
    """

    # The encrypted fields: never shown, exported or decrypted where only the row is needed.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("access_token", "refresh_token", "password")

    # No index of its own: the unique key (user, provider, external_id) leads with user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_accounts", db_index=False
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    external_id = models.CharField(
        max_length=512,
        help_text="The provider's id for the account (OIDC subject, Graph user id, CalDAV principal URL).",
    )
    email = models.CharField(max_length=320, blank=True, help_text="The account's email or user name, for display.")
    server_url = models.URLField(max_length=2048, blank=True, help_text="CalDAV only: the server the person gave.")
    username = models.CharField(max_length=320, blank=True, help_text="CalDAV only.")

    access_token = EncryptedTextField(null=True, blank=True)
    refresh_token = EncryptedTextField(null=True, blank=True)
    password = EncryptedTextField(null=True, blank=True, help_text="CalDAV only: the app-specific password.")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    last_error = models.TextField(blank=True, help_text="The last failure using the account's credentials.")
    reconnect_reason = models.TextField(
        blank=True, help_text="Why the person must reconnect (kept apart from the last error); empty when active."
    )
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Last time a credential was used.")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "provider_accounts"
        constraints: ClassVar[list[Any]] = [
            # Reconnecting the same account updates its row instead of adding a second one.
            models.UniqueConstraint(
                fields=["user", "provider", "external_id"], name="provider_accounts_user_provider_external_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.email or self.external_id}"


class SyncState(models.TextChoices):
    PENDING = "pending", "Not synced yet"
    OK = "ok", "Synced"
    ERROR = "error", "Error"
    HELD = "held", "Held: large deletion awaits confirmation"


color_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a #rrggbb colour.")


class CalendarConnection(models.Model):
    """One calendar of a provider account that the person chose to see in calsync, with its sync state."""

    # Also reachable through account.user; kept here for the seed's calendar_connections_user_id_idx, which
    # serves every per-user query (the week view joins events to a user's connections without the account).
    # It must equal account.user: clean() checks it, and on PostgreSQL a composite foreign key
    # (account_id, user_id) -> provider_accounts (id, user_id) enforces it (migration 0002).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_connections", db_index=False
    )
    # Indexed (Django's FK index): an account's calendars, and the cascade when an account is removed.
    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="calendars")
    # 1024 keeps the unique key well inside PostgreSQL's btree entry limit (about 2.7 kB).
    remote_id = models.CharField(max_length=1024, help_text="The provider's calendar id (CalDAV: collection URL).")
    name = models.CharField(max_length=255)
    color = models.CharField(max_length=7, blank=True, validators=[color_validator])
    timezone = models.CharField(max_length=64, blank=True, help_text="The calendar's default zone, if it has one.")
    is_primary = models.BooleanField(default=False)
    read_only = models.BooleanField(default=False)
    is_connected = models.BooleanField(default=True, help_text="Chosen by the person and kept in sync.")
    shown_in_week = models.BooleanField(default=True, help_text="Shown in the week view (its legend toggles it).")

    sync_cursor = models.TextField(blank=True, help_text="Google sync token, Graph delta link or CalDAV sync-token.")
    sync_status = models.CharField(max_length=16, choices=SyncState.choices, default=SyncState.PENDING)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sync_lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker holds this connection's sync until then."
    )
    sync_queued_at = models.DateTimeField(
        null=True, blank=True, help_text="The periodic fan-out queued a sync then; cleared when a worker starts it."
    )
    sync_again = models.BooleanField(
        default=False, help_text="More changes were announced while a sync ran: one more sync follows it."
    )
    changed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sync or an edit last changed what this calendar shows."
    )
    sweep_held_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="A full resync would delete this many events; held until confirmed."
    )
    sweep_confirmed = models.BooleanField(
        default=False, help_text="The held deletion was confirmed: the next sync applies it."
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Backoff: no sync before this time.")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "calendar_connections"
        constraints: ClassVar[list[Any]] = [
            # The same remote calendar is never synced twice for one person, even through two accounts.
            # remote_id leads, so "calendars of a user" keeps using the narrow calendar_connections_user_id_idx.
            models.UniqueConstraint(fields=["remote_id", "user"], name="calendar_connections_remote_user_key"),
            models.CheckConstraint(
                condition=models.Q(color="") | models.Q(color__regex=r"^#[0-9a-fA-F]{6}$"),
                name="calendar_connections_color_hex",
            ),
        ]
        indexes: ClassVar[list[Any]] = [
            # Fetch a user's calendars (the seed's index name).
            Index(fields=["user"], name="calendar_connections_user_id_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.account_id is not None and self.user_id is not None and self.account.user_id != self.user_id:
            raise ValidationError({"account": "This account belongs to someone else."})

    @property
    def provider(self) -> str:
        return self.account.provider

    @property
    def is_syncing(self) -> bool:
        """A worker holds the sync lease (a crashed worker's lease lapses, so this cannot stick)."""
        return self.sync_lease_until is not None and self.sync_lease_until > now()


class OAuthState(models.Model):
    """A pending OAuth authorization: the CSRF `state` and what we must remember until the callback.

    Valid for 15 minutes, for the same user in the same browser session, and consumed exactly once.
    """

    state = models.CharField(max_length=128)
    # Indexed (Django's FK index): the cascade when a user is purged.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_states")
    session_key_hash = models.CharField(max_length=64, help_text="Hash of the browser session that started it.")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # The client library's flow state, including the PKCE code verifier; encrypted because the verifier
    # is what turns a stolen authorization code into tokens.
    flow = EncryptedJSONField(null=True, blank=True)
    return_url = models.CharField(max_length=2048, blank=True)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        db_table = "oauth_states"
        constraints: ClassVar[list[Any]] = [
            # Validate-and-consume on the callback (the seed's index name).
            models.UniqueConstraint(fields=["state"], name="oauth_states_state_key"),
        ]
        indexes: ClassVar[list[Any]] = [
            # The 15-minute cleanup of expired states.
            Index(fields=["expires_at"], name="oauth_states_expires_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} authorization for user {self.user_id}"

    @property
    def consumed(self) -> bool:
        return self.consumed_at is not None
