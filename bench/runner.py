"""Runs the measurements in an order that keeps them honest, and records a failure as a figure.

The data set's own figures (6, 1, 2) come first, before the bench adds rows of its own (3, 4, 5, 7) that
would count in the table's size; the bench's rows are removed before and after.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Collection
from pathlib import Path

from django.db import connection

from bench import full_sync_memory, hostile_week, ingest, seed_queries, storage, sync_cycle, week_page
from bench.config import Sizes
from bench.fixtures import dataset_users, remove_bench_rows
from bench.report import ITEMS, Figure, Report, machine_details, progress
from connections.models import CalendarConnection
from events.models import CalendarEvent

ORDER = (6, 1, 2, 3, 4, 5, 7)


class WrongDatabase(Exception):
    pass


def check_database() -> None:
    name = str(connection.settings_dict["NAME"])
    # Its own database, or a test run's throwaway one (pytest-django names it test_<name>).
    if "bench" not in name and not name.startswith("test_"):
        raise WrongDatabase(
            f"the bench writes and deletes rows: it runs only on a database named *bench* (not {name!r}); "
            "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/calsync_bench"
        )


def data_set_summary() -> dict[str, int]:
    users = dataset_users()
    if not users.exists():
        return {}
    return {
        "users": users.count(),
        "connections": CalendarConnection.objects.filter(user__in=users).count(),
        "events (all rows)": CalendarEvent.objects.count(),
    }


def run(*, sizes: Sizes, items: Collection[int] = ORDER, logs: Path) -> Report:
    check_database()
    logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = Report(machine=machine_details(), sizes=dict(sizes.__dict__))
    remove_bench_rows()
    report.data_set = data_set_summary()
    steps: dict[int, Callable[[], None]] = {
        1: lambda: seed_queries.measure(report, sizes),
        2: lambda: week_page.measure(report, sizes),
        3: lambda: ingest.measure(report, sizes),
        4: lambda: sync_cycle.measure(report, sizes, logs),
        5: lambda: full_sync_memory.measure(report, sizes),
        6: lambda: storage.measure(report),
        7: lambda: hostile_week.measure(report, sizes),
    }
    try:
        for item in ORDER:
            if item not in items:
                continue
            progress(f"item {item}: {ITEMS[item]}")
            began = time.perf_counter()
            try:
                steps[item]()
            except Exception as exc:
                traceback.print_exc()
                report.add(Figure(item, ITEMS[item], None, "", note=f"failed: {type(exc).__name__}: {exc}"[:500]))
            progress(f"item {item}: {time.perf_counter() - began:.1f} s")
    finally:
        remove_bench_rows()
    report.seconds = time.perf_counter() - started
    return report
