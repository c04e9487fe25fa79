from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django_celery_beat import admin as celery_beat_admin
from django_celery_beat.models import PeriodicTask

from audit.admin_mixins import AuditedAdmin
from audit.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: staff can search and read the log, never add, edit or delete rows."""

    list_display = ("created_at", "action", "actor_email", "subject_email", "target_type", "target_id", "ip_address")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter))
    search_fields = ("actor_email", "subject_email", "target_id", "=ip_address", "=actor_id", "=subject_user_id")
    ordering = ("-created_at",)
    show_full_result_count = False  # counting a large log on every page view is the slow part

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The periodic jobs' admin (django-celery-beat), audited like ours: staff who may change a job choose which task
# runs with which arguments, and its "Run selected tasks" action runs them now.
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(AuditedAdmin, celery_beat_admin.PeriodicTaskAdmin):
    audit_subject_path = None  # a job belongs to no one
