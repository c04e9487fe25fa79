"""Admin building blocks shared by every app's admin."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ViewOnlyAdmin:
    """Rows staff may read (and delete, where the admin allows it) but never add or edit: calsync writes them
    itself (runs, leases, sessions, the outbox). A mixin: put it before ModelAdmin or InlineModelAdmin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ViewOnlyAdmin):
    """Rows staff may only read: deleting them would hide what happened (the audit log, unreadable items)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
