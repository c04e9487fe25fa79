from __future__ import annotations

from django.contrib import admin
from django_celery_beat import admin as celery_beat_admin
from django_celery_beat.models import PeriodicTask

from audit.admin_mixins import AuditedAdmin
from audit.models import AuditLog
from calsync.lib.admin import ReadOnlyAdmin


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Read-only: staff can search and read the log, never add, edit or delete rows."""

    list_display = ("created_at", "action", "actor_email", "subject_email", "target_type", "target_id", "ip_address")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter))
    search_fields = ("actor_email", "subject_email", "target_id", "=ip_address", "=actor_id", "=subject_user_id")
    ordering = ("-created_at",)
    show_full_result_count = False  # counting a large log on every page view is the slow part


# The periodic jobs' admin (django-celery-beat), audited like ours: staff who may change a job choose which task
# runs with which arguments, and its "Run selected tasks" action runs them now.
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(AuditedAdmin, celery_beat_admin.PeriodicTaskAdmin):
    audit_subject_path = None  # a job belongs to no one
