from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdmin
from calsync.lib.admin import ReadOnlyAdmin, ViewOnlyAdmin
from connections.models import CalendarConnection, OAuthState, ProviderAccount, SyncState
from events.models import UnreadableItem
from events.services import connection_sweep_confirm_and_sync, connection_sync_request

SECRET_FIELDS = ProviderAccount.SECRET_FIELDS

# Fields that decide where a stored credential is sent, and whose it is: the person sets them by connecting,
# and changes them by reconnecting. Staff who could edit them could send a CalDAV password (or a token) to a
# server of their choosing, or hand someone's account or calendar to another person.
ACCOUNT_DESTINATION_FIELDS = ("user", "provider", "external_id", "server_url", "username", "scopes")
CONNECTION_DESTINATION_FIELDS = ("user", "account", "remote_id")


def stored(field: str) -> ExpressionWrapper:
    return ExpressionWrapper(Q(**{f"{field}__isnull": False}), output_field=BooleanField())


@admin.register(ProviderAccount)
class ProviderAccountAdmin(AuditedAdmin):
    """Accounts without their secrets: staff see whether a credential is present, never its value, and cannot
    change where a credential goes (ACCOUNT_DESTINATION_FIELDS) nor add an account: the person connects it."""

    list_display = ("__str__", "user", "provider", "status", "token_expires_at", "last_used_at", "created_at")
    list_filter = ("provider", "status")
    search_fields = ("email", "external_id", "user__email", "server_url")
    list_select_related = ("user",)
    exclude = SECRET_FIELDS
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # CalDAV servers must be https
    readonly_fields = (
        *ACCOUNT_DESTINATION_FIELDS,
        "has_access_token",
        "has_refresh_token",
        "has_password",
        "last_refreshed_at",
        "last_used_at",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProviderAccount]:
        # Secrets are never shown, so never decrypted here: presence comes from IS NOT NULL in SQL.
        return (
            super()
            .get_queryset(request)
            .defer(*SECRET_FIELDS)
            .annotate(**{f"stored_{name}": stored(name) for name in SECRET_FIELDS})
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description="access token stored")
    def has_access_token(self, obj: ProviderAccount) -> bool:
        return bool(obj.stored_access_token)  # type: ignore[attr-defined]

    @admin.display(boolean=True, description="refresh token stored")
    def has_refresh_token(self, obj: ProviderAccount) -> bool:
        return bool(obj.stored_refresh_token)  # type: ignore[attr-defined]

    @admin.display(boolean=True, description="password stored")
    def has_password(self, obj: ProviderAccount) -> bool:
        return bool(obj.stored_password)  # type: ignore[attr-defined]


class UnreadableItemInline(ReadOnlyAdmin, admin.TabularInline):
    """What the sync could not read in this calendar, until a later sync reads it (the sync keeps the list)."""

    model = UnreadableItem
    fields = ("provider_item_id", "reason", "first_seen_at", "last_seen_at")
    readonly_fields = fields
    ordering = ("-last_seen_at",)
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(CalendarConnection)
class CalendarConnectionAdmin(AuditedAdmin):
    """Calendars and their sync state. Which calendar it is, and whose, are set by connecting (see
    CONNECTION_DESTINATION_FIELDS): for CalDAV the remote id is the URL the person's password is sent to."""

    list_display = (
        "name",
        "user",
        "account",
        "is_connected",
        "sync_status",
        "last_synced_at",
        "consecutive_failures",
        "next_attempt_at",
        "sweep_held_count",
    )
    list_filter = ("account__provider", "sync_status", "is_connected", "read_only")
    search_fields = ("name", "remote_id", "user__email", "account__email")
    readonly_fields = (
        *CONNECTION_DESTINATION_FIELDS,
        "sync_cursor",
        "sync_lease_until",
        "last_synced_at",
        "last_error",
        "sweep_held_count",
        "sweep_confirmed",
        "created_at",
        "updated_at",
    )
    actions = ("sync_now", "confirm_held_deletions")
    inlines = (UnreadableItemInline,)

    @admin.action(description="Sync the selected calendars now")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[CalendarConnection]) -> None:
        connections = list(queryset.filter(is_connected=True))
        for connection in connections:
            connection_sync_request(connection=connection)
        self.message_user(request, f"{len(connections)} syncs queued.")

    @admin.action(description="Confirm held deletions (apply the full resync's sweep)")
    def confirm_held_deletions(self, request: HttpRequest, queryset: QuerySet[CalendarConnection]) -> None:
        confirmed = sum(
            connection_sweep_confirm_and_sync(connection=connection, actor=request.user)
            for connection in queryset.filter(sync_status=SyncState.HELD)
        )
        self.message_user(request, f"{confirmed} held deletions confirmed; their syncs are queued.")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CalendarConnection]:
        # The account is joined for its name only; its secrets stay undecrypted.
        account_secrets = [f"account__{name}" for name in SECRET_FIELDS]
        return super().get_queryset(request).select_related("user", "account").defer(*account_secrets)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OAuthState)
class OAuthStateAdmin(ViewOnlyAdmin, AuditedAdmin):
    """Pending authorizations, for tracing a failed connect. The flow (PKCE verifier) is never shown."""

    list_display = ("user", "provider", "created_at", "expires_at", "consumed_at")
    list_filter = ("provider",)
    search_fields = ("user__email", "=state")
    list_select_related = ("user",)
    fields = ("user", "provider", "return_url", "created_at", "expires_at", "consumed_at")
    readonly_fields = fields
