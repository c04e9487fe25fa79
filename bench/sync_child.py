"""A full sync of one connection in a process of its own, reporting the process's peak memory (item 5).

`python -m bench.sync_child CONNECTION_ID` prints one JSON line: peak and starting RSS (VmHWM, VmRSS from
/proc/self/status, in kB), the seconds the sync took, and its counts.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def main(connection_id: int) -> dict[str, object]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    import django

    django.setup()
    from connections.models import CalendarConnection
    from events.sync import sync_connection

    connection = CalendarConnection.objects.select_related("account").get(pk=connection_id)
    before = {"rss_kb": status_kb("VmRSS"), "hwm_kb": status_kb("VmHWM")}
    started = time.perf_counter()
    result = sync_connection(connection=connection, full=True)
    seconds = time.perf_counter() - started
    return {
        "before": before,
        "peak_kb": status_kb("VmHWM"),
        "seconds": seconds,
        "outcome": result.outcome,
        "error": result.error,
        "created": result.created,
        "pages": result.pages,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
