from __future__ import annotations

from typing import Any

from allauth.account import admin as allauth_account_admin
from allauth.account.models import EmailAddress
from allauth.mfa import admin as allauth_mfa_admin
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.models import Session, User
from audit.admin_mixins import AuditedAdmin
from audit.models import AuditAction
from calsync.lib.admin import ViewOnlyAdmin

# Who may do what in the admin: only a superuser grants it (else staff who may change people make themselves
# superusers).
PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


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
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
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
    audit_subject_path = ""  # the person is the object

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(self.readonly_fields)
        if obj is not None and not request.user.is_superuser:
            fields += PRIVILEGE_FIELDS
        # A deleted account stays inactive until the purge (users_deleted_are_inactive).
        if obj is not None and obj.deleted_at is not None:
            fields += ("is_active",)
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)

    @staticmethod
    def _may_touch(request: HttpRequest, obj: Any) -> bool:
        # A superuser's password or address, in other hands, is a superuser's power.
        return obj is None or not obj.is_superuser or request.user.is_superuser

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # Django's view saves through the form, not save_model: audited here, when the stored hash changed.
        with transaction.atomic(using=router.db_for_write(User)):
            before = self.get_object(request, unquote(id))
            response = super().user_change_password(request, id, form_url)
            after = self.get_object(request, unquote(id))
            if before is not None and after is not None and after.password != before.password:
                self.audit(request, AuditAction.ADMIN_CHANGED, after, fields=["password"])
        return response

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        # Staff must also find people who deleted their account (until the purge removes them).
        return User.all_objects.all()


@admin.register(Session)
class SessionAdmin(ViewOnlyAdmin, AuditedAdmin):
    """Sessions by device. The key hash and data are not shown: neither helps an operator."""

    list_display = ("user", "ip_address", "user_agent", "created_at", "last_seen_at", "expire_date")
    list_filter = (("last_seen_at", admin.DateFieldListFilter),)
    search_fields = ("user__email", "=ip_address")
    list_select_related = ("user",)
    ordering = ("-last_seen_at",)
    fields = ("user", "ip_address", "user_agent", "created_at", "last_seen_at", "expire_date")
    readonly_fields = fields
    show_full_result_count = False


# allauth's admins, audited like ours. An address decides where sign-in codes and password reset links go, and
# a verified one is whose account it signs into: people add addresses by proving them, staff never add one, and
# only a superuser may vouch for one (verified, primary; audited).
admin.site.unregister(EmailAddress)
admin.site.unregister(Authenticator)


@admin.register(EmailAddress)
class EmailAddressAdmin(AuditedAdmin, allauth_account_admin.EmailAddressAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if _is_superuser(request):
            return ("user", "email")
        return ("user", "email", "verified", "primary")

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not _is_superuser(request):
            actions.pop("make_verified", None)
        return actions


@admin.register(Authenticator)
class AuthenticatorAdmin(ViewOnlyAdmin, AuditedAdmin, allauth_mfa_admin.AuthenticatorAdmin):
    """Second factors: staff may remove one (a person who lost theirs), never see or edit its secret."""

    fields = ("user", "type", "created_at", "last_used_at")
    readonly_fields = fields


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))
