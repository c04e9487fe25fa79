from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.admin_mixins import AuditedAdmin
from calsync.lib.admin import ReadOnlyAdmin, ViewOnlyAdmin
from events.models import CalendarEvent, EventChange, SyncRun, UnreadableItem

# Which calendar an event is in and which provider item it is: set by the sync, never by hand. A changed
# connection would show (and push) the event in another person's calendar; a changed id would make the next
# push overwrite or delete a different event at the provider.
EVENT_IDENTITY_FIELDS = ("connection", "recurring_event", "provider_event_id", "master_provider_event_id", "ical_uid")


@admin.register(CalendarEvent)
class CalendarEventAdmin(AuditedAdmin):
    list_display = ("__str__", "connection", "start", "end", "all_day", "status", "sync_status", "deleted_at")
    list_filter = ("sync_status", "status", "all_day", "connection__account__provider")
    search_fields = ("title", "=provider_event_id", "=ical_uid", "connection__user__email")
    list_select_related = ("connection",)
    raw_id_fields = ("connection", "recurring_event")
    readonly_fields = ("created_at", "updated_at")
    # No date_hierarchy: its DISTINCT date_trunc over every event runs on each page view.
    show_full_result_count = False  # the table holds hundreds of thousands of rows
    audit_subject_path = "connection.user"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.readonly_fields
        return (*EVENT_IDENTITY_FIELDS, *self.readonly_fields)


@admin.register(SyncRun)
class SyncRunAdmin(ViewOnlyAdmin, AuditedAdmin):
    list_display = (
        "connection",
        "started_at",
        "outcome",
        "full",
        "created",
        "updated",
        "deleted",
        "unchanged",
        "skipped",
        "pages",
        "requests",
        "duration",
    )
    list_filter = ("outcome", "full")
    search_fields = ("connection__name", "connection__user__email", "error")
    list_select_related = ("connection",)
    ordering = ("-started_at",)
    show_full_result_count = False
    audit_subject_path = "connection.user"

    @admin.display(description="seconds")
    def duration(self, run: SyncRun) -> str:
        seconds = run.duration_seconds
        return "" if seconds is None else f"{seconds:.1f}"


@admin.register(EventChange)
class EventChangeAdmin(ViewOnlyAdmin, AuditedAdmin):
    """The two-way sync's outbox: what waits to be pushed, and what failed or conflicted (read-only; the
    person settles their own changes from the week view, and `push_changes` pushes now)."""

    list_display = ("pk", "operation", "scope", "status", "connection", "event", "attempts", "next_attempt_at")
    list_filter = ("status", "operation", "connection__account__provider")
    search_fields = ("=provider_event_id", "connection__user__email", "last_error")
    list_select_related = ("connection", "event")
    raw_id_fields = ("connection", "event", "actor")
    ordering = ("-pk",)
    show_full_result_count = False
    audit_subject_path = "connection.user"


@admin.register(UnreadableItem)
class UnreadableItemAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Provider items the sync could not read, per calendar, until a later sync reads them. Read-only: the sync
    keeps this list (an item leaves it when it is read again or removed at the provider)."""

    list_display = ("connection", "provider_item_id", "reason", "first_seen_at", "last_seen_at")
    list_filter = ("connection__account__provider", ("last_seen_at", admin.DateFieldListFilter))
    search_fields = ("provider_item_id", "reason", "connection__name", "connection__user__email")
    list_select_related = ("connection",)
    fields = ("connection", "provider_item_id", "reason", "first_seen_at", "last_seen_at")
    readonly_fields = fields
    ordering = ("-last_seen_at",)
    show_full_result_count = False
