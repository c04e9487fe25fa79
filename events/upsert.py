"""Insert or update many events at once, keyed by (connection, provider_event_id); and the provider's copy
that a push brings back, stored as the inbound sync stores it (`provider_copy_store`).

A handful of rows goes through the ORM's `bulk_create`. A large page (a first sync lists thousands) is
copied into a temporary table with COPY and merged with one `INSERT … ON CONFLICT`: several times faster,
because `bulk_create` sends each column as an array that psycopg's client-side binding quotes element by
element in Python. Both write the same values; `tests/events/test_event_upsert.py` holds them to that.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils.timezone import now

from connections.models import CalendarConnection
from connections.providers.base import RemoteEvent
from events.mapping import EventRow, Unstorable, event_row
from events.models import CalendarEvent, EventSyncStatus

# The fields a sync writes; everything else (created_at, local two-way state) is left alone on update.
SYNCED_FIELDS = (
    "ical_uid",
    "title",
    "description",
    "location",
    "start",
    "end",
    "all_day",
    "timezone",
    "status",
    "recurrence",
    "recurrence_end",
    "master_provider_event_id",
    "original_start",
    "metadata",
    "provider_data",
    "etag",
    "deleted_at",
    "updated_at",
)
_JSON_COLUMNS = frozenset({"metadata", "provider_data"})
_STAGING = "calsync_event_rows"


def events_upsert(
    *, connection_id: int, rows: Mapping[str, Mapping[str, Any]], sync_status: str, update_fields: Sequence[str]
) -> None:
    """Store `rows` (provider event id -> field values) as live events with `sync_status`; an existing row
    for the same id gets `update_fields` from the new values (and `deleted_at` cleared if listed)."""
    if not rows:
        return
    if len(rows) >= settings.SYNC_COPY_MIN_ROWS and db.vendor == "postgresql":
        _copy_upsert(connection_id, rows, sync_status, update_fields)
    else:
        _orm_upsert(connection_id, rows, sync_status, update_fields)


def _orm_upsert(
    connection_id: int, rows: Mapping[str, Mapping[str, Any]], sync_status: str, update_fields: Sequence[str]
) -> None:
    CalendarEvent.objects.bulk_create(
        [
            CalendarEvent(
                connection_id=connection_id, provider_event_id=pid, deleted_at=None, sync_status=sync_status, **fields
            )
            for pid, fields in rows.items()
        ],
        update_conflicts=True,
        unique_fields=["connection", "provider_event_id"],
        update_fields=list(update_fields),
    )


def _copy_upsert(
    connection_id: int, rows: Mapping[str, Mapping[str, Any]], sync_status: str, update_fields: Sequence[str]
) -> None:
    fields = list(next(iter(rows.values())))
    moment = now()
    fixed = {"connection_id": connection_id, "sync_status": sync_status, "deleted_at": None}
    fixed |= {"created_at": moment, "updated_at": moment}
    names = ", ".join(_quoted(column) for column in [*fixed, "provider_event_id", *_db_columns(fields)])
    updates = ", ".join(f"{_quoted(column)} = EXCLUDED.{_quoted(column)}" for column in _db_columns(update_fields))
    # Every name in these statements is a model column's or a constant: none comes from data.
    create = f"CREATE TEMPORARY TABLE {_STAGING} AS SELECT {names} FROM calendar_events WITH NO DATA"  # noqa: S608  # nosec B608
    merge = (
        f"INSERT INTO calendar_events ({names}) SELECT {names} FROM {_STAGING} "  # noqa: S608  # nosec B608
        f"ON CONFLICT (connection_id, provider_event_id) DO UPDATE SET {updates}"
    )
    # One transaction: a rollback takes the staging table with it, and the DROP frees its name for the next
    # page written in the same transaction.
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute(create)
        with cursor.copy(f"COPY {_STAGING} ({names}) FROM STDIN") as copy:
            for pid, values in rows.items():
                copy.write_row([*fixed.values(), pid, *(_cell(name, values[name]) for name in fields)])
        cursor.execute(merge)
        cursor.execute(f"DROP TABLE {_STAGING}")


def calendars_changed(connection_ids: Iterable[int | None]) -> None:
    """What these calendars show changed (events written, an edit, a push's outcome, their sync status): an
    open week page sees `changed_at` move and fetches itself again. One UPDATE, in the caller's transaction."""
    ids = sorted({pk for pk in connection_ids if pk is not None})
    if ids:
        CalendarConnection.objects.filter(pk__in=ids).update(changed_at=now())


def _cell(name: str, value: Any) -> Any:
    # The same text Django's JSONField sends (json.dumps with the default encoder).
    return json.dumps(value) if name in _JSON_COLUMNS else value


def _db_columns(names: Sequence[str]) -> list[str]:
    columns = {field.name: field.column for field in CalendarEvent._meta.concrete_fields}
    return [columns[name] for name in names]


def _quoted(column: str) -> str:
    return db.ops.quote_name(column)


def provider_copy_store(*, connection: CalendarConnection, events: Sequence[RemoteEvent], settle: set[str]) -> None:
    """Store the provider's copy of what a two-way write left there, so the next inbound sync finds it
    unchanged. Rows with changes of their own waiting to be pushed keep them, except those in `settle`
    (the rows the write was about). Call it inside the push's transaction."""
    rows: dict[str, EventRow] = {}
    for remote in events:
        try:
            row = event_row(remote)
        except Unstorable:
            continue
        rows[row.provider_event_id] = row
    if not rows:
        return
    waiting = set(
        CalendarEvent.objects.filter(connection=connection, provider_event_id__in=list(rows))
        .exclude(sync_status=EventSyncStatus.SYNCED)
        .values_list("provider_event_id", flat=True)
    )
    events_upsert(
        connection_id=connection.pk,
        rows={pid: row.fields for pid, row in rows.items() if pid in settle or pid not in waiting},
        sync_status=EventSyncStatus.SYNCED,
        update_fields=[*SYNCED_FIELDS, "sync_status"],
    )
    exceptions_link(connection, rows)


def exceptions_link(connection: CalendarConnection, rows: dict[str, EventRow]) -> None:
    """Point exceptions at their masters: those in this page, and those that waited for a master in it."""
    masters = {row.master_id for row in rows.values() if row.master_id}
    masters.update(pid for pid, row in rows.items() if row.is_master)
    if not masters:
        return
    master = CalendarEvent.objects.filter(
        connection=connection, provider_event_id=OuterRef("master_provider_event_id"), deleted_at__isnull=True
    ).values("pk")[:1]
    CalendarEvent.objects.filter(connection=connection, master_provider_event_id__in=masters).update(
        recurring_event=Subquery(master)
    )
