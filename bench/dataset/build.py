"""Generate the data set, or remove it: the one entry point of `python -m bench.dataset`."""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import QuerySet

from accounts.models import User
from audit.models import AuditLog
from bench.dataset import activity
from bench.dataset.events_loader import COLUMNS, Calendar, EventPlanner, RowWriter, row_count
from bench.dataset.people import DATASET_DOMAIN, make_people
from bench.dataset.templates import build_pool
from connections.models import CalendarConnection, OAuthState, ProviderAccount
from events.models import CalendarEvent, EventChange, SyncRun

# The data set's present unless one is given: fixed, so the same seed gives the same rows on any day.
DEFAULT_NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
CHUNK_USERS = 100
# A full pool at seed scale; small data sets (tests) map fewer templates.
FULL_POOL_USERS = 1000

Progress = Callable[[str], None]


class DatasetExists(Exception):
    """Generated people are already in the database (pass reset to replace them)."""


@dataclass
class Summary:
    users: int = 0
    email_addresses: int = 0
    accounts: int = 0
    connections: int = 0
    events: int = 0
    audit_rows: int = 0
    oauth_states: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.users:,} users, {self.email_addresses:,} email addresses, {self.accounts:,} provider accounts, "
            f"{self.connections:,} connections, {self.events:,} events, {self.audit_rows:,} audit rows, "
            f"{self.oauth_states:,} OAuth states in {self.seconds:.1f} s"
        )


def generated_users() -> QuerySet[User]:
    """People this tool made (deleted ones included): only they are ever removed by it."""
    return User.all_objects.filter(email__endswith=f"@{DATASET_DOMAIN}")


def dataset_reset(*, progress: Progress = lambda text: None) -> int:
    """Delete the generated people and everything that belongs to them; returns how many people.

    Events go first in single statements (Django's cascade would load millions of rows); the rest through
    the ORM's cascade. Audit rows stay, as they do when any account is purged (they hold no foreign keys).
    """
    users = generated_users()
    count = users.count()
    if not count:
        return 0
    user_ids = users.values("pk")
    connection_ids = CalendarConnection.objects.filter(user__in=user_ids).values("pk")
    for model in (EventChange, SyncRun, CalendarEvent):
        query = model.objects.filter(connection__in=connection_ids)
        sql, params = query.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id IN ({sql})", params)  # nosec B608 # noqa: S608
            progress(f"reset: {cursor.rowcount:,} rows deleted from {model._meta.db_table}")
    pks = list(users.values_list("pk", flat=True))
    for start in range(0, len(pks), 1000):
        User.all_objects.filter(pk__in=pks[start : start + 1000]).delete()
    progress(f"reset: {count:,} generated users deleted")
    if not connection.in_atomic_block:  # VACUUM cannot run in a transaction; the next load reuses the space
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {CalendarEvent._meta.db_table}")
    return count


def dataset_generate(
    *,
    users: int,
    seed: int = 1,
    now: datetime = DEFAULT_NOW,
    password: str | None = None,
    reset: bool = False,
    progress: Progress = lambda text: None,
) -> Summary:
    """Create `users` people with calendars, events, audit rows and OAuth states. The same seed, count and
    `now` give the same data. Refuses (DatasetExists) when generated people exist, unless `reset`."""
    if users < 1:
        raise ValueError("users must be at least 1")
    started = time.monotonic()
    if generated_users().exists():
        if not reset:
            raise DatasetExists(f"the database already holds generated people (@{DATASET_DOMAIN}); pass --reset")
        dataset_reset(progress=progress)
    # One hash for everyone: hashing per person would take longer than the whole data set.
    password_hash = make_password(password or secrets.token_urlsafe(16))
    pool = build_pool(seed, now, scale=min(1.0, max(0.03, users / FULL_POOL_USERS)))
    templates = sum(len(group) for group in pool.values())
    progress(f"pool: {templates:,} templates mapped in {time.monotonic() - started:.1f} s")
    planner, writer = EventPlanner(pool, now), RowWriter(now)
    summary = Summary()
    for first in range(0, users, CHUNK_USERS):
        indexes = list(range(first, min(first + CHUNK_USERS, users)))
        with transaction.atomic():
            _chunk(seed, indexes, now, password_hash, planner, writer, summary)
        summary.seconds = time.monotonic() - started
        progress(f"{summary.users:,}/{users:,} people, {summary.events:,} events ({summary.seconds:.0f} s)")
    # VACUUM too where it can run (outside a transaction): a freshly loaded table has no visibility map, so
    # autovacuum would otherwise scan it while the data set is being measured.
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    with connection.cursor() as cursor:
        for model in (User, EmailAddress, ProviderAccount, CalendarConnection, CalendarEvent, AuditLog, OAuthState):
            progress(f"{command} {model._meta.db_table}")
            cursor.execute(f"{command} {model._meta.db_table}")
    summary.seconds = time.monotonic() - started
    return summary


def _chunk(
    seed: int,
    indexes: list[int],
    now: datetime,
    password_hash: str,
    planner: EventPlanner,
    writer: RowWriter,
    summary: Summary,
) -> None:
    rngs = {index: random.Random(f"{seed}:person:{index}") for index in indexes}  # nosec B311 # noqa: S311 - test data
    plans = make_people(rngs, indexes, now, password_hash)
    calendars = []
    for plan in plans:
        for position, connection_row in enumerate(plan.connections):
            calendar = Calendar(
                connection_id=connection_row.pk,
                provider=connection_row.account.provider,
                owner_email=plan.user.email,
                collection_path=urlsplit(connection_row.remote_id).path,
                first=position == 0,
            )
            calendars.append((rngs[plan.index], calendar, planner.plan(rngs[plan.index], calendar)))
    total = sum(row_count(placed) for _, _, placed in calendars)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [CalendarEvent._meta.db_table, total],
        )
        ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(f'"{name}"' for name in COLUMNS)
        position = 0
        with cursor.copy(f"COPY {CalendarEvent._meta.db_table} ({columns}) FROM STDIN") as copy:
            for rng, calendar, placed in calendars:
                count = row_count(placed)
                copy.write("".join(writer.lines(rng, calendar, placed, ids[position : position + count])))
                position += count
        audit_count = 0
        audit_columns = ", ".join(f'"{name}"' for name in activity.AUDIT_COLUMNS)
        with cursor.copy(f"COPY {AuditLog._meta.db_table} ({audit_columns}) FROM STDIN") as copy:
            for plan in plans:
                lines = activity.audit_lines(rngs[plan.index], plan, now)
                audit_count += len(lines)
                copy.write("".join(lines))
    states = [state for plan in plans for state in activity.oauth_states(rngs[plan.index], plan, now)]
    OAuthState.objects.bulk_create(states)
    summary.users += len(plans)
    summary.email_addresses += len(plans)
    summary.accounts += sum(len(plan.accounts) for plan in plans)
    summary.connections += sum(len(plan.connections) for plan in plans)
    summary.events += total
    summary.audit_rows += audit_count
    summary.oauth_states += len(states)
