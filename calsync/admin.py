from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from calsync.models import JobLease


@admin.register(JobLease)
class JobLeaseAdmin(admin.ModelAdmin):
    """Which periodic job is running and when each last ran. Read-only: a claim lapses by itself."""

    list_display = ("name", "held_until", "last_started_at", "last_finished_at")
    search_fields = ("name",)
    readonly_fields = ("name", "held_until", "holder", "last_started_at", "last_finished_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
