"""After the soak: every calendar in the database equals the provider's (tests/sync_helpers' two views)."""

from __future__ import annotations

from dataclasses import dataclass, field

from connections.models import CalendarConnection
from fakes.google import GoogleState
from fakes.sync_views import google_view, stored_view

SHOWN = 5  # differences listed per calendar


@dataclass
class CalendarDifference:
    connection_id: int
    calendar_id: str
    missing: list[str]  # at the provider, not in the database
    extra: list[str]  # in the database, not at the provider
    changed: list[str]  # in both, with another title, status or etag
    counts: dict[str, int]


@dataclass
class DataCheck:
    calendars: int = 0
    equal: int = 0
    events: int = 0  # compared, at the provider
    differences: list[CalendarDifference] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.calendars > 0 and self.equal == self.calendars


def compare(state: GoogleState, ids: list[int]) -> DataCheck:
    check = DataCheck()
    for connection in CalendarConnection.objects.filter(pk__in=ids).order_by("pk"):
        check.calendars += 1
        provider = google_view(state, connection.remote_id)
        check.events += len(provider)
        try:
            stored = stored_view(connection)
        except AssertionError as exc:  # an event stored twice
            check.differences.append(CalendarDifference(connection.pk, connection.remote_id, [], [], [str(exc)], {}))
            continue
        if stored == provider:
            check.equal += 1
            continue
        missing = sorted(provider.keys() - stored.keys())
        extra = sorted(stored.keys() - provider.keys())
        changed = sorted(key for key in provider.keys() & stored.keys() if provider[key] != stored[key])
        check.differences.append(
            CalendarDifference(
                connection.pk,
                connection.remote_id,
                missing[:SHOWN],
                extra[:SHOWN],
                [f"{key}: provider {provider[key]} / stored {stored[key]}" for key in changed[:SHOWN]],
                {"missing": len(missing), "extra": len(extra), "changed": len(changed)},
            )
        )
    return check
