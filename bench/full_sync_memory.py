"""Item 5: peak memory of a full sync of one large calendar, through the Google fake, in its own process.

The sync runs in a fresh Python process (bench.sync_child) so its peak RSS is the sync's alone, not the
bench's (which also holds the fake's copy of the calendar).
"""

from __future__ import annotations

import json
import subprocess  # nosec B404  # starts our own module, below
import sys
import time

from bench.config import Sizes
from bench.fakes import google_calendars, google_fake
from bench.fixtures import bench_user, child_env
from bench.payloads import google_events
from bench.report import Figure, Report, Target, progress
from fakes.processes import ROOT


def measure(report: Report, sizes: Sizes) -> None:
    with google_fake() as fake:
        email = "memory@bench.invalid"
        (connection,) = google_calendars(fake, bench_user("memory"), email)
        started = time.perf_counter()
        for item in google_events(sizes.memory_events, seed=5, owner=email):
            fake.state.put_event(connection.remote_id, item)
        progress(f"  item 5: {sizes.memory_events:,} events at the fake in {time.perf_counter() - started:.1f} s")
        done = subprocess.run(  # noqa: S603  # nosec B603  # our own module, with this interpreter
            [sys.executable, "-m", "bench.sync_child", str(connection.pk)],
            cwd=ROOT,
            env=child_env(**fake.env),
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the sync process failed: {done.stderr[-3000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if answer["outcome"] != "ok":
        raise RuntimeError(f"the full sync ended {answer['outcome']}: {answer['error']}")
    peak_mb = answer["peak_kb"] / 1024
    before_mb = answer["before"]["rss_kb"] / 1024
    report.add(
        Figure(
            5,
            f"full sync of {answer['created']:,} events, peak RSS",
            peak_mb,
            "MB",
            Target("<=", 250),
            f"the process held {before_mb:.0f} MB before the sync (Django loaded); {answer['pages']} pages, "
            f"{answer['seconds']:.1f} s ({answer['created'] / answer['seconds']:,.0f} events/s over TLS)",
        )
    )
    report.add(Figure(5, "peak RSS growth during the sync", peak_mb - before_mb, "MB"))
