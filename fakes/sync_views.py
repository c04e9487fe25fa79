"""What a provider fake holds and what the database stored, in one shape: the sync is right when they are equal.

The sync tests, the restart tests and the soak's data check compare the two.
"""

from __future__ import annotations

from connections.models import CalendarConnection
from events.models import CalendarEvent
from fakes.google import GoogleState


def google_view(fake: GoogleState, calendar_id: str) -> dict[str, tuple[str, str, str]]:
    """What Google holds for the calendar, as the sync must store it: id -> (title, status, etag).

    Live events, and cancelled occurrences of live series (they hide that occurrence), as events.list
    serves them. Titles lose NUL characters, which PostgreSQL cannot store (the sync drops them).
    """
    return {
        event_id: (
            resource.get("summary", "").replace("\x00", ""),
            resource.get("status", "confirmed"),
            resource["etag"],
        )
        for event_id, resource in fake.kept_events(calendar_id).items()
    }


def stored_view(connection: CalendarConnection) -> dict[str, tuple[str, str, str]]:
    rows = CalendarEvent.objects.filter(connection=connection, deleted_at__isnull=True)
    view: dict[str, tuple[str, str, str]] = {}
    for pid, title, status, etag in rows.values_list("provider_event_id", "title", "status", "etag"):
        if pid is None:
            continue
        if pid in view:
            raise AssertionError(f"{pid} stored twice")
        view[pid] = (title, status, etag)
    return view
