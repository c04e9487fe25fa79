"""Coalescing: "this calendar changed" (a push notification, later) becomes at most one queued sync, plus one
follow-up when more changes are announced while that sync runs — never a sync per notification.

`connection_sync_nudge` is what a webhook calls: no provider call and no heavy query, one small UPDATE
of the connection's row, so it can answer at once however many notifications arrive. A queued sync
that has not started yet will see the change anyway; a running one may have listed before it, so it is
marked (`sync_again`) and the sync queues one more as it gives the connection back (`sync_follow_up`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.utils.timezone import now

from calsync.lib.queue import SYNC_CONNECTION, enqueue
from connections.models import AccountStatus, CalendarConnection, ProviderAccount, SyncState

QUEUED = "queued"
ALREADY_QUEUED = "already queued"
FOLLOW_UP = "follow-up"
NOT_SYNCING = "not syncing"

# One statement, so that nothing can slip between a check and its write (a sync giving the lease back, a
# second nudge): PostgreSQL locks the row and evaluates every condition on its latest version.
# - Nothing queued (or what was queued must have been lost, as the fan-out judges it) and no sync running:
#   claim it by marking it queued; of two nudges at once, the second finds the mark.
# - Queued and not started: that sync will see the change; nothing changes.
# - Running (its lease held, not lapsed): it may have listed before the change; it queues one more as it ends.
# An error backoff is kept: a notification says the calendar changed, not that the provider's trouble is
# over, and must not retry a failing calendar once per notification; the poll after the backoff brings it.
_CLAIMABLE = """(c.sync_lease_until IS NULL OR c.sync_lease_until < %(moment)s)
  AND (c.sync_queued_at IS NULL OR c.sync_queued_at < %(fresh_since)s)
  AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= %(moment)s)"""
_QUEUED = "(c.sync_queued_at IS NOT NULL AND c.sync_queued_at >= %(fresh_since)s)"
_RUNNING = "COALESCE(c.sync_lease_until >= %(moment)s, FALSE)"
_NUDGE_SQL = f"""
UPDATE {CalendarConnection._meta.db_table} AS c
SET sync_queued_at = CASE WHEN {_CLAIMABLE} THEN %(moment)s ELSE c.sync_queued_at END,
    sync_again = c.sync_again OR ({_RUNNING} AND NOT {_QUEUED})
WHERE c.id = %(id)s
  AND c.is_connected
  AND NOT (c.sync_status = %(held)s AND NOT c.sweep_confirmed)
  AND EXISTS (SELECT 1 FROM {ProviderAccount._meta.db_table} AS a WHERE a.id = c.account_id AND a.status = %(active)s)
  AND (({_CLAIMABLE}) OR {_QUEUED} OR {_RUNNING})
RETURNING c.sync_queued_at = %(moment)s, {_QUEUED}
""".strip()  # noqa: S608  # nosec B608  # table names from the models; every value is a parameter


def connection_sync_nudge(*, connection_id: int) -> str:
    """The calendar changed at its provider: make sure a sync will see it, coalescing with the sync queued
    or running. One small UPDATE, no provider call. Returns what it did: "queued", "already queued",
    "follow-up" or "not syncing" (gone, disconnected, account not active, a held deletion waiting for the
    person, or backing off after errors)."""
    moment = now()
    parameters: dict[str, int | str | datetime] = {
        "id": connection_id,
        "moment": moment,
        "fresh_since": moment - timedelta(seconds=settings.SYNC_QUEUED_STALE_SECONDS),
        "held": str(SyncState.HELD),
        "active": str(AccountStatus.ACTIVE),
    }
    with db_connection.cursor() as cursor:
        cursor.execute(_NUDGE_SQL, parameters)
        row = cursor.fetchone()
    if row is None:
        return NOT_SYNCING
    claimed, queued = row
    if claimed:
        # Once this commits (at once outside a transaction), as the fan-out queues it: `queued_at` lets the
        # task tell a message that arrives after its replacement ran.
        transaction.on_commit(partial(_send, connection_id, moment))
        return QUEUED
    return ALREADY_QUEUED if queued else FOLLOW_UP


def sync_follow_up(*, connection_id: int) -> str | None:
    """A sync (or a push, which holds the same lease) has given the connection back: if more changes were
    announced meanwhile, queue the one sync that follows (through the nudge, so the same rules hold).
    Returns the nudge's answer, or None when nothing was announced."""
    if not CalendarConnection.objects.filter(pk=connection_id, sync_again=True).update(sync_again=False):
        return None
    return connection_sync_nudge(connection_id=connection_id)


def connection_sync_again(*, connection_id: int) -> str | None:
    """A sync found the connection busy (another worker's sync or push holds it) and gives up. A sync that
    claimed it after this one was queued cleared the "queued" mark, and lists after every change announced
    before: it serves this request. With the mark still there, the holder did not (a push, which syncs
    nothing): it queues the promised sync as it ends, or, should it have ended meanwhile, that is done here.
    Clears the mark either way; returns FOLLOW_UP, the nudge's answer, or None when nothing was promised."""
    promised = CalendarConnection.objects.filter(pk=connection_id, sync_queued_at__isnull=False)
    if promised.filter(sync_lease_until__gte=now()).update(sync_queued_at=None, sync_again=True):
        return FOLLOW_UP
    if promised.update(sync_queued_at=None):
        return connection_sync_nudge(connection_id=connection_id)
    return None


def _send(connection_id: int, queued_at: datetime) -> None:
    try:
        enqueue(SYNC_CONNECTION, connection_id, queued_at=queued_at.isoformat())
    except Exception:
        # The broker refused it: unmark, so the next nudge (or the fan-out) queues it again at once.
        CalendarConnection.objects.filter(pk=connection_id, sync_queued_at=queued_at).update(sync_queued_at=None)
        raise
