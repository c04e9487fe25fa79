"""The lease on a connection: one worker at a time syncs or pushes it, never both at once.

The inbound sync (`events.sync`) and the push (`events.push`) claim the same lease, so a page of provider
changes is never applied in the middle of a push. The lease lapses on its own if its worker dies; a worker
that runs long keeps it by renewing it before provider requests, and finds out when another worker has taken
it over meanwhile (`LeaseLost`).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils.timezone import now

from connections.models import CalendarConnection


class LeaseLost(Exception):
    """Another worker took over this connection (our lease lapsed): stop without writing."""


class ConnectionLease:
    """A claim on one connection. `until` is the lease's expiry, unique per claim: the holder's token for it."""

    def __init__(self, connection: CalendarConnection, until: datetime) -> None:
        self.connection = connection
        self.until = until
        self.renewed_at = time.monotonic()

    @classmethod
    def claim(cls, connection: CalendarConnection, *, for_sync: bool = False) -> ConnectionLease | None:
        """Take the connection's lease if it is free or lapsed; None when another worker holds it. A sync's
        claim also clears the fan-out's "queued" mark: the sync it asked for has started."""
        moment = now()
        # A unique expiry per claim (microseconds and a random offset) lets renewals check it is still ours.
        until = moment + timedelta(seconds=settings.SYNC_LEASE_SECONDS, microseconds=uuid.uuid4().int % 1000)
        claimed = CalendarConnection.objects.filter(
            Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=moment), pk=connection.pk, is_connected=True
        ).update(sync_lease_until=until, **({"sync_queued_at": None} if for_sync else {}))
        return cls(connection, until) if claimed else None

    def renew(self) -> None:
        """Extend the lease; raises LeaseLost when another worker has taken it over."""
        renewed = now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS, microseconds=self.until.microsecond % 1000)
        if renewed <= self.until:
            renewed = self.until + timedelta(microseconds=1)
        if not CalendarConnection.objects.filter(pk=self.connection.pk, sync_lease_until=self.until).update(
            sync_lease_until=renewed
        ):
            raise LeaseLost
        self.until = renewed
        self.renewed_at = time.monotonic()

    def keep(self) -> None:
        """Before each provider request: renew the lease once a third of it has passed, so a long run (many
        requests, retries that wait) never lets it lapse and another worker start beside it. Raises LeaseLost."""
        if time.monotonic() - self.renewed_at >= settings.SYNC_LEASE_SECONDS / 3:
            self.renew()

    def release(self) -> None:
        # Only our own lease: if it lapsed and another worker claimed the connection, theirs stays.
        CalendarConnection.objects.filter(pk=self.connection.pk, sync_lease_until=self.until).update(
            sync_lease_until=None
        )
