"""How big each measurement is: the issue's sizes by default, `--quick` for a short run, BENCH_* to tune."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Sizes:
    samples: int = 500  # random users per seed query (item 1)
    page_samples: int = 100  # week page requests per group (item 2)
    ingest_events: int = 50_000  # events through the real sync path (item 3)
    baseline_events: int = 5_000  # of those, through the per-row baseline (it is slow)
    page_size: int = 2_500  # events per provider page (Google's largest)
    cycle_connections: int = 3_000  # connections in the no-change cycle (item 4)
    cycle_events: int = 2  # events per calendar at the fake for that cycle
    workers: int = 2  # Celery worker processes for the cycle
    memory_events: int = 100_000  # events in the calendar whose full sync is measured (item 5)


QUICK = Sizes(
    samples=50,
    page_samples=20,
    ingest_events=5_000,
    baseline_events=1_000,
    cycle_connections=300,
    memory_events=10_000,
)


def sizes_from(environ: Mapping[str, str] = os.environ, *, quick: bool = False) -> Sizes:
    """The defaults (or QUICK), each overridden by BENCH_<NAME> (BENCH_INGEST_EVENTS=20000)."""
    sizes = QUICK if quick else Sizes()
    changes = {
        item.name: int(environ[f"BENCH_{item.name.upper()}"])
        for item in fields(Sizes)
        if environ.get(f"BENCH_{item.name.upper()}")
    }
    return replace(sizes, **changes)
