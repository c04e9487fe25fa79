"""Item 6: bytes per stored event, table and indexes (and TOAST), against the seed's 2,000."""

from __future__ import annotations

from django.db import connection

from bench.fixtures import dataset_users
from bench.report import Figure, Report, Target

SEED_BYTES_PER_EVENT = 600 * 1000 * 1000 / 300_000
NO_DATA_SET = "no data set: run python -m bench.dataset"


def measure(report: Report) -> None:
    if not dataset_users().exists():
        report.skip(6, NO_DATA_SET)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), pg_total_relation_size('calendar_events'), pg_relation_size('calendar_events'), "
            "pg_indexes_size('calendar_events') FROM calendar_events"
        )
        rows, total, heap, indexes = cursor.fetchone()
    if not rows:
        report.skip(6, NO_DATA_SET)
        return
    per_event = total / rows
    report.add(
        Figure(
            6,
            "bytes per event (table, TOAST and indexes)",
            per_event,
            "bytes",
            Target("<=", 1500),
            f"{rows:,} rows, {total / 2**20:,.0f} MiB: heap {heap / rows:,.0f} B/event, indexes "
            f"{indexes / rows:,.0f} B/event; the seed: {SEED_BYTES_PER_EVENT:,.0f} "
            f"({per_event / SEED_BYTES_PER_EVENT:.2f}x of it)",
        )
    )
