from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Session, User


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("email", "name", "timezone", "is_staff", "is_active", "created_at", "deleted_at")
    list_filter = (DeletedFilter, "is_staff", "is_superuser", "is_active")
    search_fields = ("email", "name", "=id")
    ordering = ("-created_at",)
    readonly_fields = ("created_at", "updated_at", "deleted_at", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "timezone", "week_start")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at", "deleted_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A deleted account stays inactive until the purge (users_deleted_are_inactive).
        if obj is not None and obj.deleted_at is not None:
            return (*self.readonly_fields, "is_active")
        return self.readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # Staff must also find people who deleted their account (until the purge removes them).
        return User.all_objects.all()


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    """Sessions by device. The key hash and data are not shown: neither helps an operator."""

    list_display = ("user", "ip_address", "user_agent", "created_at", "last_seen_at", "expire_date")
    list_filter = (("last_seen_at", admin.DateFieldListFilter),)
    search_fields = ("user__email", "=ip_address")
    list_select_related = ("user",)
    ordering = ("-last_seen_at",)
    fields = ("user", "ip_address", "user_agent", "created_at", "last_seen_at", "expire_date")
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
