"""Rows the bench makes for itself (users at @bench.invalid) and the data set it reads (@dataset.invalid).

The bench's own rows are removed before and after a run, so they never count in the data set's figures.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils.timezone import now

from accounts.models import User
from bench.dataset.people import DATASET_DOMAIN
from connections.models import CalendarConnection, Provider, ProviderAccount

BENCH_DOMAIN = "@bench.invalid"


def dataset_users() -> QuerySet[User]:
    return User.objects.filter(email__endswith=f"@{DATASET_DOMAIN}")


def bench_user(label: str) -> User:
    return User.objects.create_user(f"{label}{BENCH_DOMAIN}", None, name=f"Bench {label}", timezone="Europe/Berlin")


def google_account(user: User, *, sub: str, email: str, tokens: dict[str, Any]) -> ProviderAccount:
    """An active Google account whose access token stays fresh for the whole run (no refresh in a timing)."""
    return ProviderAccount(
        user=user,
        provider=Provider.GOOGLE,
        external_id=sub,
        email=email,
        access_token=tokens["access_token"],
        refresh_token=tokens.get("refresh_token"),
        token_expires_at=now() + timedelta(hours=1),
    )


def remove_bench_rows() -> None:
    """Delete what earlier runs left. Events go by plain SQL: the ORM's cascade would load every row.

    The table is then compacted (VACUUM FULL): the space the deleted rows held would otherwise count in
    the next run's bytes per event.
    """
    connection_ids = list(
        CalendarConnection.objects.filter(user__email__endswith=BENCH_DOMAIN).values_list("pk", flat=True)
    )
    deleted = 0
    if connection_ids:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM event_changes WHERE connection_id = ANY(%s)", [connection_ids])
            cursor.execute("DELETE FROM calendar_events WHERE connection_id = ANY(%s)", [connection_ids])
            deleted = cursor.rowcount
    User.objects.filter(email__endswith=BENCH_DOMAIN).delete()
    if deleted:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (FULL, ANALYZE) calendar_events")


def database_url() -> str:
    """The database this process uses, for the processes it starts (workers, the measured sync)."""
    details = connection.settings_dict
    auth = details["USER"] + (f":{details['PASSWORD']}" if details.get("PASSWORD") else "")
    return f"postgres://{auth}@{details['HOST'] or '127.0.0.1'}:{details['PORT'] or 5432}/{details['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process the bench starts: this one's, on this database, unbuffered."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": str(getattr(settings, "REDIS_URL", "") or os.environ.get("REDIS_URL", "")),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
