"""The admin's audit trail: every add, change, delete and action through an audited admin writes an audit row.

Django's own admin log (LogEntry) is an ordinary table that the application's role may rewrite, and it misses
the actions; the audit log is append-only in the database. Each row is written in the transaction of the change it
describes, and names the fields that changed, never their values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse

from audit.models import AuditAction
from audit.services import record

# How many ids an action's row lists; the count is always whole.
ACTION_IDS_KEPT = 100

AdminAction = Callable[[Any, HttpRequest, QuerySet[Any]], HttpResponseBase | None]


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose writes are audited: save_model, delete_model and every action (delete_selected too)."""

    # Dotted path from an object to the person it belongs to: "" for a user itself, None when it is no one's.
    audit_subject_path: str | None = "user"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self.audit(
            request,
            AuditAction.ADMIN_CHANGED if change else AuditAction.ADMIN_ADDED,
            obj,
            fields=sorted(form.changed_data),
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.audit(request, AuditAction.ADMIN_DELETED, obj)  # before: the object loses its id when deleted
        super().delete_model(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        return {
            name: (_audited(function, name), name, description) for name, (function, _, description) in actions.items()
        }

    def audit(self, request: HttpRequest, action: AuditAction, obj: Any, **metadata: Any) -> None:
        record(
            action=action,
            actor=request.user,
            subject=self.audit_subject(obj),
            target=obj,
            request=request,
            metadata={"model": obj._meta.label_lower, **metadata},
        )

    def audit_subject(self, obj: Any) -> Any:
        if self.audit_subject_path is None:
            return None
        for name in filter(None, self.audit_subject_path.split(".")):
            obj = getattr(obj, name)
        return obj

    def audit_action(self, request: HttpRequest, name: str, selection: Selection) -> None:
        """One row per action run: its name, how many objects, and their ids (the first ACTION_IDS_KEPT)."""
        record(
            action=AuditAction.ADMIN_ACTION,
            actor=request.user,
            subject=selection.owners[0] if len(selection.owners) == 1 else None,
            target=selection.only,
            request=request,
            metadata={
                "model": self.model._meta.label_lower,
                "action": name,
                "count": selection.count,
                "ids": selection.ids,
                "people": len(selection.owners),
            },
        )

    def audit_selection(self, queryset: QuerySet[Any]) -> Selection:
        count = queryset.count()
        ids = [str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True)[:ACTION_IDS_KEPT]]
        return Selection(
            count=count,
            ids=ids,
            only=queryset.first() if count == 1 else None,
            owners=self._owners(queryset),
        )

    def _owners(self, queryset: QuerySet[Any]) -> list[Any]:
        """The people the objects belong to: all of them if one, two (to tell "several") otherwise."""
        if self.audit_subject_path is None:
            return []
        lookup = "__".join([*filter(None, self.audit_subject_path.split(".")), "pk"])
        owner_ids = queryset.order_by().values(lookup).distinct()
        users = get_user_model()._base_manager  # deleted people too: the purge has not taken them yet
        return list(users.filter(pk__in=owner_ids).order_by("pk")[:2])


@dataclass(frozen=True)
class Selection:
    """What an action is about to act on, read before it runs (delete_selected leaves nothing to read)."""

    count: int
    ids: list[str]
    only: models.Model | None
    owners: list[Any]


def _audited(function: AdminAction, name: str) -> AdminAction:
    @wraps(function)
    def run(modeladmin: AuditedAdmin, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseBase | None:
        with transaction.atomic(using=router.db_for_write(modeladmin.model)):
            selection = modeladmin.audit_selection(queryset)
            response = function(modeladmin, request, queryset)
            # An action that answers with a page of its own (delete_selected's "Are you sure?") has not acted yet.
            if not isinstance(response, TemplateResponse):
                modeladmin.audit_action(request, name, selection)
        return response

    return run
