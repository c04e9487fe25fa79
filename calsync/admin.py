from __future__ import annotations

from django.contrib import admin

from calsync.lib.admin import ViewOnlyAdmin
from calsync.models import JobLease


@admin.register(JobLease)
class JobLeaseAdmin(ViewOnlyAdmin, admin.ModelAdmin):
    """Which periodic job is running and when each last ran. Read-only: a claim lapses by itself."""

    list_display = ("name", "held_until", "last_started_at", "last_finished_at")
    search_fields = ("name",)
    readonly_fields = ("name", "held_until", "holder", "last_started_at", "last_finished_at")
