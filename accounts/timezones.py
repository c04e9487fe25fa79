"""The IANA time zones people can choose, for forms."""

from __future__ import annotations

import functools
import zoneinfo

DEFAULT_TIMEZONE = "UTC"


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    # Canonical Area/City names (and UTC) only; the old aliases (US/Eastern, Etc/GMT+5, ...) would
    # double the list and confuse people.
    names = sorted(
        name for name in zoneinfo.available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/"))
    )
    return [(DEFAULT_TIMEZONE, DEFAULT_TIMEZONE), *[(name, name.replace("_", " ")) for name in names]]


def is_known_timezone(name: str) -> bool:
    return name in zoneinfo.available_timezones()
