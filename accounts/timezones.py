"""The IANA time zones people can choose, for forms."""

from __future__ import annotations

import functools
import zoneinfo

DEFAULT_TIMEZONE = "UTC"


@functools.cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    # Every name the zone database knows, so whatever a browser reported at sign-up (Etc/GMT-3,
    # Asia/Calcutta, ...) is also a choice here and saving the form never silently changes it.
    names = sorted(known_timezones() - {DEFAULT_TIMEZONE})
    return [(DEFAULT_TIMEZONE, DEFAULT_TIMEZONE), *[(name, name.replace("_", " ")) for name in names]]


def is_known_timezone(name: str) -> bool:
    return name in known_timezones()
