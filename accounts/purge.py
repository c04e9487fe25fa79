"""The daily purge: soft-deleted accounts and events erased for good once the grace period has passed.

Accounts deleted more than `days` ago go with every row that belongs to them (their events in batches
first, then the user row and its small related rows through Django's cascade); events the sync
soft-deleted (the provider removed them) go after the same period. Audit rows stay: they hold ids and
email snapshots, not foreign keys, and leave only through the audit archive job. Afterwards the large
tables are vacuumed on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any, cast

from django.db import connections, models, router, transaction
from django.db.models import Exists, OuterRef
from django.db.models.deletion import CASCADE, get_candidate_relations_to_delete
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.utils.timezone import now
from psycopg import sql

from accounts.models import Session, User
from audit.models import AuditAction, AuditLog
from audit.services import record
from connections.models import OAuthState
from events.models import CalendarEvent, EventChange, SyncRun
from events.purge import events_purge

# The tables a purge (and the daily churn of sessions, OAuth states, syncs and audit rows) leaves full of
# dead tuples.
LARGE_TABLES: tuple[type[models.Model], ...] = (CalendarEvent, SyncRun, AuditLog, Session, OAuthState, User)

EVENT_LABEL = CalendarEvent._meta.label


@dataclass
class PurgeReport:
    dry_run: bool
    users: int = 0
    events: int = 0
    # Rows other than users and events, by model label ("connections.CalendarConnection": 2).
    other_rows: dict[str, int] = field(default_factory=dict)
    vacuumed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def other_rows_total(self) -> int:
        return sum(self.other_rows.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verb = "would be purged (dry run)" if self.dry_run else "purged"
        text = f"{self.users} users, {self.events} events and {self.other_rows_total} other rows {verb}"
        if self.vacuumed:
            text += f"; vacuumed {', '.join(self.vacuumed)}"
        return ". ".join([text, *self.notes]) + "."


def deleted_purge(
    *,
    days: int,
    dry_run: bool = False,
    vacuum: bool = True,
    batch_size: int = 5000,
    progress: Callable[[str], None] | None = None,
) -> PurgeReport:
    """Erase users and events soft-deleted more than `days` ago; with `dry_run`, only count them.

    Call it outside a transaction: each event batch and each user commits on its own, and VACUUM cannot
    run inside one (it is skipped, with a note in the report, when called inside an atomic block).
    """
    if days < 0:
        raise ValueError("days must not be negative.")
    say = progress or (lambda message: None)
    report = PurgeReport(dry_run=dry_run)
    cutoff = now() - timedelta(days=days)
    user_ids = list(
        User.all_objects.filter(deleted_at__lt=cutoff).order_by("deleted_at", "pk").values_list("pk", flat=True)
    )
    for index, user_id in enumerate(user_ids, start=1):
        counts: dict[str, int] | None
        if dry_run:
            counts = _cascade_counts(User.all_objects.filter(pk=user_id))
        else:
            counts = _user_purge(user_id=user_id, cutoff=cutoff, days=days, batch_size=batch_size, say=say)
        if counts is None:
            say(f"[{index}/{len(user_ids)}] user #{user_id}: no longer there to purge")
            continue
        report.users += 1
        events = counts.pop(EVENT_LABEL, 0)
        counts.pop(User._meta.label, None)
        report.events += events
        report.other_rows = dict(Counter(report.other_rows) + Counter(counts))
        say(f"[{index}/{len(user_ids)}] user #{user_id}: {events} events and {sum(counts.values())} other rows")

    # An event whose change the person has not settled (a conflict with a deletion at the provider) stays:
    # re-applying it needs the row.
    removed = CalendarEvent.objects.filter(deleted_at__lt=cutoff).exclude(
        Exists(EventChange.objects.filter(event=OuterRef("pk")))
    )
    say(f"events soft-deleted before {cutoff:%Y-%m-%d %H:%M} UTC")
    if dry_run:
        report.events += removed.exclude(connection__user_id__in=user_ids).count()
    else:
        report.events += events_purge(events=removed, batch_size=batch_size, progress=say)

    if vacuum and not dry_run:
        _vacuum(report, say)
    return report


def _user_purge(
    *, user_id: int, cutoff: datetime, days: int, batch_size: int, say: Callable[[str], None]
) -> dict[str, int] | None:
    """Erase one user soft-deleted before `cutoff`; returns the rows deleted by model label, or None when
    the user is no longer there to purge."""
    events = events_purge(
        events=CalendarEvent.objects.filter(connection__user_id=user_id, connection__user__deleted_at__lt=cutoff),
        batch_size=batch_size,
        progress=say,
    )
    with transaction.atomic(using=router.db_for_write(User)):
        user = User.all_objects.select_for_update().filter(pk=user_id, deleted_at__lt=cutoff).first()
        if user is None:
            return None
        users = User.all_objects.filter(pk=user_id)
        counts = _cascade_counts(users)
        counts[EVENT_LABEL] = counts.get(EVENT_LABEL, 0) + events
        record(
            action=AuditAction.ACCOUNT_PURGED,
            actor=None,
            subject=user,
            metadata={"after_days": days, "rows": {label: count for label, count in sorted(counts.items()) if count}},
        )
        _, deleted = users.delete()
    return {**deleted, EVENT_LABEL: deleted.get(EVENT_LABEL, 0) + events}


def _cascade_counts(queryset: models.QuerySet[Any]) -> dict[str, int]:
    """How many rows deleting `queryset` would delete, by model label, without loading any of them.

    Follows the same relations as Django's deletion collector (its CASCADE ones); a model reached along
    several paths (a calendar connection through its user and through its provider account) counts once.
    """
    reached: defaultdict[type[models.Model], list[models.QuerySet[Any]]] = defaultdict(list)

    def walk(rows: models.QuerySet[Any]) -> None:
        for candidate in get_candidate_relations_to_delete(rows.model._meta):
            relation = cast(ForeignObjectRel, candidate)  # reverse relations, whatever the stubs say
            if relation.on_delete is not CASCADE:
                continue
            model = relation.field.model
            related = model._base_manager.filter(**{f"{relation.field.name}__in": rows})
            reached[model].append(related)
            walk(related)

    reached[queryset.model].append(queryset)
    walk(queryset)
    return {
        model._meta.label: model._base_manager.filter(
            reduce(or_, (models.Q(pk__in=rows.values("pk")) for rows in found))
        ).count()
        for model, found in reached.items()
    }


def _vacuum(report: PurgeReport, say: Callable[[str], None]) -> None:
    """VACUUM ANALYZE the large tables: the purge leaves them full of dead rows and stale statistics."""
    connection = connections[router.db_for_write(CalendarEvent)]
    if connection.vendor != "postgresql":
        report.notes.append(f"VACUUM skipped: the database is {connection.vendor}, not PostgreSQL")
        return
    if connection.in_atomic_block:
        report.notes.append("VACUUM skipped: called inside a transaction, where PostgreSQL refuses it")
        return
    with connection.cursor() as cursor:
        for model in LARGE_TABLES:
            table = model._meta.db_table
            say(f"VACUUM ANALYZE {table}")
            cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            report.vacuumed.append(table)
