"""The one provider-neutral inbound sync (DESIGN §5): the only place events are written from a provider.

`sync_connection` claims the connection with a lease, reads the adapter's pages of changes and applies each
page in one transaction (a bulk upsert that skips unchanged etags, then removals). The cursor for the next
run commits with the last page, so a crash anywhere leaves the last committed cursor in place and the next
run repeats at most the pages after it, which the upsert absorbs: nothing is lost or doubled.

A full listing (no cursor, an expired one, or a provider that can only list) is mark-and-sweep: what the
listing did not name is deleted. Deletions the provider reports (Google's cancelled items, Graph's @removed,
CalDAV's 404s) wait for the listing's last page, so that together with the sweep they can be weighed at
once: what would delete most of the calendar is held until someone confirms it (vdirsyncer's StorageEmpty
guard), whichever way the provider said it.

An item the sync cannot read is kept as an UnreadableItem of the calendar until a later sync reads it or
the provider removes it, so what was skipped stays visible beyond one run's notes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, Count, DateTimeField, F, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.utils.timezone import now

from audit.models import AuditAction
from audit.services import record
from connections.credentials import AccountInactive, CalendarSession
from connections.models import CalendarConnection, ProviderAccount, SyncState
from connections.providers.base import (
    AuthRevoked,
    ChangePage,
    Credentials,
    CursorExpired,
    KnownEvent,
    KnownEvents,
    ProviderError,
)
from connections.providers.registry import adapter_for
from connections.providers.retry import backoff_seconds, before_each_request
from events.drafts import fields_snapshot
from events.leases import ConnectionLease, LeaseLost
from events.mapping import EventRow, Unstorable, clean_text, event_row
from events.models import (
    CalendarEvent,
    EventChange,
    EventStatus,
    EventSyncStatus,
    SyncOutcome,
    SyncRun,
    UnreadableItem,
)
from events.nudges import connection_sync_again, sync_follow_up
from events.upsert import SYNCED_FIELDS, calendars_changed, events_upsert, exceptions_link

logger = logging.getLogger(__name__)

SWEEP_BATCH = 1000
MAX_NOTES = 50


@dataclass
class SyncResult:
    outcome: str  # SyncOutcome value, or "skipped" when another worker holds the connection
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    pages: int = 0
    requests: int = 0
    full: bool = False
    held_deletions: int = 0
    error: str = ""
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(clean_text(text[:300]))

    @property
    def written(self) -> int:
        """Rows created, updated or deleted so far: what the week shows changed when this moved."""
        return self.created + self.updated + self.deleted


SKIPPED = "skipped"
TIME_LIMIT_MESSAGE = (
    "the sync ran past its time limit; the pages it applied are kept, and the next sync lists again "
    "from the last saved position"
)
ABANDONED_MESSAGE = (
    "the worker running this sync stopped before it finished (killed or cut off); the pages it applied "
    "are kept, and the next sync went on from the last saved position"
)


def sync_connection(*, connection: CalendarConnection, full: bool = False, force_sweep: bool = False) -> SyncResult:
    """Bring the connection's events in line with the provider. Never runs twice at once for one connection:
    a second caller gets outcome "skipped" straight away."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("sync_connection commits page by page; call it outside a transaction")
    lease = ConnectionLease.claim(connection, for_sync=True)
    if lease is None:
        # The sync under way serves this request too: the fan-out may queue the connection again. A push
        # under way does not: it queues this sync as it ends.
        connection_sync_again(connection_id=connection.pk)
        return SyncResult(outcome=SKIPPED)
    _close_abandoned_runs(connection)
    connection.refresh_from_db()
    # A held or confirmed sweep is settled only by a full listing: an incremental run must not clear it.
    full = full or connection.sync_status == SyncState.HELD or connection.sweep_confirmed
    sync_run = SyncRun.objects.create(connection=connection, full=full or not connection.sync_cursor)
    result = SyncResult(outcome=SyncOutcome.RUNNING, full=sync_run.full)
    run = _Run(connection, lease, result, force_sweep)
    # Confirmed by a person: up to the number they saw, not whatever a later listing would delete.
    run.confirmed_deletions = connection.sweep_held_count if connection.sweep_confirmed else None
    ours, listed = True, False
    try:
        with before_each_request(run.lease.keep):
            _sync(run, full=full)
        listed = True
    except LeaseLost:
        # The connection is another worker's now: its state is theirs to write.
        result.outcome, result.error = SyncOutcome.ERROR, "another worker took over this sync"
        ours = False
    except ProviderError as exc:
        result.outcome, result.error = SyncOutcome.ERROR, str(exc) or type(exc).__name__
        _record_failure(run, exc)
    except SoftTimeLimitExceeded:
        # The task's time limit: the pages applied so far stay committed (the cursor moves only with the
        # last page). Released below, so the next run need not wait for the lease to lapse.
        result.outcome, result.error = SyncOutcome.ERROR, TIME_LIMIT_MESSAGE
        _record_failure(run, ProviderError(TIME_LIMIT_MESSAGE))
    except Exception as exc:
        # Our bug or the database: record it so the person and staff see it, then let the task report it.
        result.outcome, result.error = SyncOutcome.ERROR, f"internal error ({type(exc).__name__})"
        _record_failure(run, exc)
        raise
    finally:
        # One commit for the end of the run: most runs find nothing new, and their cost is these commits.
        with transaction.atomic():
            if listed:
                ProviderAccount.objects.filter(pk=connection.account_id).update(last_used_at=now())
            if ours:
                run.lease.release()
                # Changes announced while this run listed: one more sync, queued once this commits.
                sync_follow_up(connection_id=connection.pk)
            _finish_run(sync_run, result)
    return result


def connection_sweep_confirm(*, connection: CalendarConnection, actor: object) -> bool:
    """Let the held deletion go ahead: the next sync lists the calendar again and applies its sweep.

    Returns False when nothing was held (confirmed already, or a later sync settled it)."""
    with transaction.atomic():
        changed = CalendarConnection.objects.filter(pk=connection.pk, sync_status=SyncState.HELD).update(
            sweep_confirmed=True, next_attempt_at=None, updated_at=now(), changed_at=now()
        )
        if not changed:
            return False
        record(
            action=AuditAction.SYNC_SWEEP_CONFIRMED,
            actor=actor,
            subject=connection.user,
            target=connection,
            metadata={"held_deletions": connection.sweep_held_count or 0},
        )
    return True


# --- claiming -------------------------------------------------------------------------------------------


def _close_abandoned_runs(connection: CalendarConnection) -> None:
    """Mark as failed the runs a dead worker left "running": we hold the lease, so none of them may go on
    (a worker that was only slow finds its lease gone and writes its own ending over this). Their end time
    stays unknown (empty) rather than made up."""
    SyncRun.objects.filter(connection=connection, outcome=SyncOutcome.RUNNING).update(
        outcome=SyncOutcome.ERROR, error=ABANDONED_MESSAGE
    )


# --- the run --------------------------------------------------------------------------------------------


class _Run:
    """State of one run: the lease, what a full listing has seen, and the counts."""

    def __init__(self, connection: CalendarConnection, lease: ConnectionLease, result: SyncResult, force_sweep: bool):
        self.connection = connection
        self.lease = lease
        self.result = result
        self.force_sweep = force_sweep
        self.seen: set[str] = set()
        self.full = False
        self.window: tuple[datetime, datetime] | None = None
        self.confirmed_deletions: int | None = None
        self.retry_skips = 0
        # Ids the provider reported deleted, applied with the listing's last page (an ordered set): a later
        # page that names one again brings it back instead.
        self.removed: dict[str, None] = {}
        self._unreadable: set[str] | None = None
        # The current page's count of written rows when it began, and whether the page's own update of the
        # calendar has set `changed_at` already (so a page costs at most one UPDATE for it).
        self.written_before = 0
        self.changed_marked = False

    def page_changed(self) -> bool:
        return self.result.written != self.written_before

    def unreadable_keys(self) -> set[str]:
        """The calendar's unreadable items (their keys), read once a run: most calendars have none, and a
        page need not send its ids to the database to find that out."""
        if self._unreadable is None:
            self._unreadable = set(
                UnreadableItem.objects.filter(connection=self.connection).values_list("provider_item_id", flat=True)
            )
        return self._unreadable


def _sync(run: _Run, *, full: bool) -> None:
    connection = run.connection
    adapter = adapter_for(connection.account.provider)
    if adapter is None:
        raise ProviderError(f"no adapter for provider {connection.account.provider!r}", permanent=True)
    session = CalendarSession(connection, adapter)
    cursor = "" if full else connection.sync_cursor
    counted = (run.result.unchanged, run.result.skipped, len(run.result.notes))

    def listing(credentials: Credentials) -> None:
        """The listing, from the committed cursor. A second time (the session refreshed a token that lapsed
        mid-listing), the pages after that cursor come again: count what they hold once."""
        nonlocal cursor
        run.result.unchanged, run.result.skipped = counted[:2]
        del run.result.notes[counted[2] :]
        while True:
            pages = adapter.changes(credentials, session.calendar, cursor, _known(connection))
            try:
                _consume(run, pages, cursor)
                return
            except CursorExpired as expired:
                if not cursor:
                    raise ProviderError(f"the provider refused a full listing: {expired}", permanent=True) from expired
                logger.info("connection %s: %s; listing everything", connection.pk, expired)
                run.result.note(f"full resync: {expired}")
                cursor = ""

    session.call(listing)


def _consume(run: _Run, pages: Iterator[ChangePage], cursor: str) -> None:
    run.full, run.seen, run.window, run.retry_skips, run.removed = not cursor, set(), None, 0, {}
    for page in pages:
        run.full = run.full or page.full_listing
        run.window = page.window or run.window
        run.result.pages += 1
        run.result.requests += page.requests
        run.retry_skips += sum(1 for item in page.skipped if item.retry)
        with transaction.atomic():
            run.written_before, run.changed_marked = run.result.written, False
            _apply_page(run, page)
            if page.last:
                _finish_listing(run, page.cursor, whole=not run.retry_skips)
            if run.page_changed() and not run.changed_marked:
                calendars_changed([run.connection.pk])
            run.lease.renew()
        if page.last and run.retry_skips:
            # Moving the cursor past them would lose them until the next full listing; this run's pages
            # are kept, and the next run lists again from the committed cursor.
            raise ProviderError(f"{run.retry_skips} events could not be fetched; the next sync asks again")
        if page.last:
            run.result.full = run.full
            return
    raise ProviderError("the provider's listing ended without its last page", permanent=False)


def _known(connection: CalendarConnection) -> KnownEvents:
    def known(ids: Sequence[str]) -> Mapping[str, KnownEvent]:
        if not ids:
            return {}
        wanted = list(dict.fromkeys(ids))
        answer: dict[str, KnownEvent] = {}
        live = CalendarEvent.objects.filter(connection=connection, deleted_at__isnull=True)
        for pid, etag, master in live.filter(provider_event_id__in=wanted).values_list(
            "provider_event_id", "etag", "master_provider_event_id"
        ):
            answer[str(pid)] = KnownEvent(etag=etag, master_id=master)
        # A resource holding only exceptions (an invitation to one occurrence) is known by its exceptions.
        missing = [pid for pid in wanted if pid not in answer]
        if missing:
            for master, etag in live.filter(master_provider_event_id__in=missing).values_list(
                "master_provider_event_id", "etag"
            ):
                answer.setdefault(master, KnownEvent(etag=etag))
        return answer

    return known


# --- one page -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stored:
    etag: str
    deleted_at: datetime | None
    sync_status: str

    def holds(self, etag: str) -> bool:
        """The provider's version with this etag is what the row already holds."""
        live = self.deleted_at is None and self.sync_status == EventSyncStatus.SYNCED
        return live and bool(etag) and etag == self.etag


def _apply_page(run: _Run, page: ChangePage) -> None:
    connection, result = run.connection, run.result
    stored = _stored(connection, [remote.provider_event_id for remote in page.events])
    rows: dict[str, EventRow] = {}
    unchanged = set(page.unchanged)
    unreadable: dict[str, str] = {}
    for remote in page.events:
        pid = remote.provider_event_id
        previous = stored.get(pid)
        # Most of a re-listing is events we hold already: compare etags before mapping anything.
        if previous is not None and previous.holds(clean_text(remote.etag)[:255]):
            rows.pop(pid, None)  # a page naming an event twice keeps the later version
            unchanged.add(pid)
            continue
        try:
            row = event_row(remote)
        except Unstorable as exc:
            result.skipped += 1
            result.note(f"{pid[:80]}: {exc}")
            unreadable[pid] = str(exc)
            continue
        for problem in row.problems:
            result.note(f"{row.provider_event_id[:80]}: {problem}")
        unchanged.discard(row.provider_event_id)
        rows[row.provider_event_id] = row
    for item in page.skipped:
        result.skipped += 1
        result.note(f"{item.provider_event_id[:80]}: {item.reason}")
        if not item.retry:  # a fetch of ours that failed says nothing about the item
            unreadable[item.provider_event_id] = item.reason
    if run.full:
        run.seen.update(rows)
        run.seen.update(unchanged)
        run.seen.update(item.provider_event_id for item in page.skipped)
        run.seen.update(unreadable)  # named by the listing, only not storable: neither gone nor forgotten
        # An unchanged resource vouches for the exceptions stored with it (a CalDAV resource holds them all).
        if page.unchanged:
            run.seen.update(
                str(pid)
                for pid in CalendarEvent.objects.filter(
                    connection=connection, master_provider_event_id__in=page.unchanged, deleted_at__isnull=True
                ).values_list("provider_event_id", flat=True)
            )
    result.unchanged += len(unchanged)
    _upsert(connection, rows, stored, result)
    named = rows.keys() | unchanged
    _drop_missing_exceptions(connection, page, named, result)
    for pid in named:
        run.removed.pop(pid, None)
    run.removed.update((pid, None) for pid in page.removed if pid not in named)
    exceptions_link(connection, rows)
    read = (named | set(page.complete_series)) - unreadable.keys()
    _unreadable_settle(run, unreadable, read=read, removed=page.removed)


def _unreadable_settle(run: _Run, unreadable: Mapping[str, str], *, read: Set[str], removed: Sequence[str]) -> None:
    """Keep what this page could not read on the calendar (first seen kept, last seen and reason renewed), and
    forget the items it read or the provider removed."""
    known = run.unreadable_keys()
    gone = known and known.intersection(_item_key(pid) for pid in (*read, *removed))
    if gone:
        UnreadableItem.objects.filter(connection=run.connection, provider_item_id__in=list(gone)).delete()
        known -= gone
    moment = now()
    items = {_item_key(pid): clean_text(reason)[:2000] for pid, reason in unreadable.items() if _item_key(pid)}
    if items:
        UnreadableItem.objects.bulk_create(
            [
                UnreadableItem(
                    connection=run.connection,
                    provider_item_id=key,
                    reason=reason,
                    first_seen_at=moment,
                    last_seen_at=moment,
                )
                for key, reason in items.items()
            ],
            update_conflicts=True,
            unique_fields=["connection", "provider_item_id"],
            update_fields=["reason", "last_seen_at"],
        )
        known.update(items)


def _item_key(pid: str) -> str:
    # An item without an id (or one PostgreSQL cannot store) cannot be told apart from others: not kept.
    return clean_text(pid)[:1024]


def _stored(connection: CalendarConnection, ids: Sequence[str]) -> dict[str, _Stored]:
    if not ids:
        return {}
    return {
        str(pid): _Stored(etag, deleted_at, sync_status)
        for pid, etag, deleted_at, sync_status in CalendarEvent.objects.filter(
            connection=connection, provider_event_id__in=list(dict.fromkeys(ids))
        ).values_list("provider_event_id", "etag", "deleted_at", "sync_status")
    }


def _upsert(
    connection: CalendarConnection, rows: dict[str, EventRow], stored: Mapping[str, _Stored], result: SyncResult
) -> None:
    changed: dict[str, dict[str, Any]] = {}
    for pid, row in rows.items():
        previous = stored.get(pid)
        if previous is not None and previous.sync_status != EventSyncStatus.SYNCED:
            # A change made here waits to be pushed; its push settles it against this version. Should the
            # person discard their change, this is the version the event goes back to.
            EventChange.objects.filter(connection=connection, event__provider_event_id=pid).update(
                original=fields_snapshot(row.fields)
            )
            result.unchanged += 1
            continue
        if previous is not None and previous.holds(row.fields["etag"]):
            result.unchanged += 1  # no etag from the provider: the content tag matched
            continue
        if previous is None or previous.deleted_at is not None:
            result.created += 1
        else:
            result.updated += 1
        changed[pid] = row.fields
    events_upsert(
        connection_id=connection.pk,
        rows=changed,
        sync_status=EventSyncStatus.SYNCED,
        update_fields=SYNCED_FIELDS,
    )


def _drop_missing_exceptions(
    connection: CalendarConnection, page: ChangePage, named: Set[str], result: SyncResult
) -> None:
    """Series the page carries whole: their stored events (exceptions, or a master that became overrides
    alone) that the page no longer names are gone."""
    if not page.complete_series:
        return
    series = page.complete_series
    stale = (
        _live_synced(connection)
        .filter(Q(master_provider_event_id__in=series) | Q(provider_event_id__in=series))
        .exclude(provider_event_id__in=list(named))
    )
    result.deleted += stale.update(deleted_at=now(), updated_at=now())


def _remove(connection: CalendarConnection, removed: list[str], result: SyncResult, gone: Set[str]) -> None:
    """Delete removed events. A removed occurrence of a series that lives on (is not in `gone`, all the ids
    removed) becomes a cancelled occurrence (so expanding the series does not bring it back); removing a
    master removes its exceptions."""
    if not removed:
        return
    moment = now()
    # A change made here and not pushed yet is settled by its push (which finds the event gone), not here;
    # should the person discard it instead, the event goes as the provider says.
    EventChange.objects.filter(connection=connection, event__provider_event_id__in=removed).update(
        original={"deleted": True}
    )
    live = CalendarEvent.objects.filter(
        connection=connection, deleted_at__isnull=True, sync_status=EventSyncStatus.SYNCED
    )
    live_masters = set(
        live.filter(
            provider_event_id__in=live.filter(provider_event_id__in=removed)
            .exclude(master_provider_event_id="")
            .values("master_provider_event_id")
        ).values_list("provider_event_id", flat=True)
    )
    cancel_under = live_masters - gone
    if cancel_under:
        result.deleted += (
            live.filter(provider_event_id__in=removed, master_provider_event_id__in=cancel_under)
            .exclude(status=EventStatus.CANCELLED)
            .update(status=EventStatus.CANCELLED, etag="", updated_at=moment)
        )
    result.deleted += (
        live.filter(Q(provider_event_id__in=removed) | Q(master_provider_event_id__in=removed))
        .exclude(master_provider_event_id__in=cancel_under)
        .update(deleted_at=moment, updated_at=moment)
    )


# --- the end of a listing -------------------------------------------------------------------------------


def _finish_listing(run: _Run, cursor: str, *, whole: bool) -> None:
    """The listing's last page: weigh its deletions (reported and, for a full listing, swept) against the
    calendar and apply or hold them; when the listing is `whole` (no item to fetch again), store the cursor."""
    connection, result = run.connection, run.result
    sweeping = run.full and whole
    unseen, covered = _unseen(run) if sweeping else ({}, None)
    doomed = {**_reported_rows(run), **unseen}
    allowed = run.force_sweep or (run.confirmed_deletions is not None and len(doomed) <= run.confirmed_deletions)
    if doomed and not allowed:
        live = covered or _coverage(_covered_rows(run))
        if _must_hold(len(set(doomed.values())), live.events):
            _hold(run, len(doomed), live.rows, reported_only=not unseen)
            return
    _apply_removed(run)
    _sweep(list(unseen), result)
    if sweeping:
        _unreadable_unseen_forget(run)
    if not whole:
        return
    if allowed and doomed and connection.sync_status == SyncState.HELD:
        result.note(f"held deletion applied: {len(doomed)} events")
    # The week's Sync list shows a calendar in error or held: its going back to "synced" is a change too.
    changed = run.page_changed() or connection.sync_status != SyncState.OK
    run.changed_marked = changed
    CalendarConnection.objects.filter(pk=connection.pk).update(
        **({"changed_at": now()} if changed else {}),
        sync_cursor=cursor,
        sync_status=SyncState.OK,
        last_synced_at=now(),
        last_error="",
        consecutive_failures=0,
        next_attempt_at=None,
        sweep_held_count=None,
        sweep_confirmed=False,
        updated_at=now(),
    )
    result.outcome = SyncOutcome.OK


@dataclass(frozen=True)
class _Coverage:
    """The live rows a listing speaks for, and the events they make as the person sees them: a series once,
    however many exceptions (or, for Graph, occurrences) it has stored. The guard weighs events, so deleting
    a calendar's one recurring meeting is not held; it shows and confirms rows."""

    rows: int
    events: int


def _series_of(pid: str | None, master: str) -> str:
    return master or pid or ""


def _coverage(rows: QuerySet[CalendarEvent]) -> _Coverage:
    series = Coalesce(NullIf("master_provider_event_id", Value("")), "provider_event_id")
    counts = rows.aggregate(rows=Count("pk"), events=Count(series, distinct=True))
    return _Coverage(rows=counts["rows"], events=counts["events"])


def _reported_rows(run: _Run) -> dict[int, str]:
    """The live rows (pk -> series) that the deletions the provider reported would delete or cancel."""
    found: dict[int, str] = {}
    removed = list(run.removed)
    for index in range(0, len(removed), SWEEP_BATCH):
        batch = removed[index : index + SWEEP_BATCH]
        rows = _live_synced(run.connection).filter(
            Q(provider_event_id__in=batch) | Q(master_provider_event_id__in=batch)
        )
        for pk, pid, master in rows.values_list("pk", "provider_event_id", "master_provider_event_id"):
            found[pk] = _series_of(pid, master)
    return found


def _apply_removed(run: _Run) -> None:
    removed = list(run.removed)
    gone = set(removed)
    for index in range(0, len(removed), SWEEP_BATCH):
        _remove(run.connection, removed[index : index + SWEEP_BATCH], run.result, gone)
    run.removed = {}


def _unreadable_unseen_forget(run: _Run) -> None:
    """A full listing that did not name an unreadable item: the provider no longer has it."""
    known = run.unreadable_keys()
    if not known:
        return
    stale = known - {_item_key(pid) for pid in run.seen}
    if stale:
        UnreadableItem.objects.filter(connection=run.connection, provider_item_id__in=list(stale)).delete()
        known -= stale


def _live_synced(connection: CalendarConnection) -> QuerySet[CalendarEvent]:
    # Changes made here and not pushed yet have no provider copy to compare with: never swept.
    return CalendarEvent.objects.filter(
        connection=connection, deleted_at__isnull=True, provider_event_id__isnull=False, sync_status="synced"
    )


def _covered_rows(run: _Run) -> QuerySet[CalendarEvent]:
    """The live rows the listing speaks for: all of the calendar's, or those of its window."""
    rows = _live_synced(run.connection)
    if run.window is not None:
        # A listing limited to a window says nothing about events outside it.
        window_start, window_end = run.window
        rows = rows.filter(start__lt=window_end).filter(
            Q(recurrence="", end__gt=window_start)
            | ~Q(recurrence="") & (Q(recurrence_end__isnull=True) | Q(recurrence_end__gt=window_start))
        )
    return rows


def _unseen(run: _Run) -> tuple[dict[int, str], _Coverage]:
    """Rows the full listing did not name (pk -> series), and what the listing covered."""
    doomed: dict[int, str] = {}
    covered, series = 0, set()
    rows = _covered_rows(run).values_list("pk", "provider_event_id", "master_provider_event_id")
    for pk, pid, master in rows.iterator(chunk_size=5000):
        covered += 1
        series.add(_series_of(pid, master))
        if pid not in run.seen:
            doomed[pk] = _series_of(pid, master)
    return doomed, _Coverage(rows=covered, events=len(series))


def _must_hold(doomed: int, live: int) -> bool:
    return doomed > settings.SYNC_SWEEP_HOLD_MIN_EVENTS and doomed > live * settings.SYNC_SWEEP_HOLD_FRACTION


def _sweep(doomed: list[int], result: SyncResult) -> None:
    moment = now()
    for index in range(0, len(doomed), SWEEP_BATCH):
        batch = doomed[index : index + SWEEP_BATCH]
        result.deleted += CalendarEvent.objects.filter(pk__in=batch, deleted_at__isnull=True).update(
            deleted_at=moment, updated_at=moment
        )


def _hold(run: _Run, doomed: int, live: int, *, reported_only: bool) -> None:
    """Keep the events and the cursor (the next run lists the calendar whole, which settles the hold) and
    ask the person; audited once per held count."""
    connection, result = run.connection, run.result
    result.outcome, result.held_deletions = SyncOutcome.HELD, doomed
    said = "reports as deleted" if reported_only else "no longer lists"
    message = (
        f"The provider {said} {doomed} of this calendar's {live} events. "
        "They are kept until you confirm that they should be deleted."
    )
    result.error = message
    first_time = (
        CalendarConnection.objects.filter(pk=connection.pk)
        .exclude(sync_status=SyncState.HELD, sweep_held_count=doomed)
        .update(
            sync_status=SyncState.HELD,
            sweep_held_count=doomed,
            last_error=message,
            updated_at=now(),
            changed_at=now(),
        )
    )
    run.changed_marked = bool(first_time)
    if first_time:
        logger.warning("connection %s: holding the deletion of %d of %d events", connection.pk, doomed, live)
        record(
            action=AuditAction.SYNC_DELETIONS_HELD if reported_only else AuditAction.SYNC_SWEEP_HELD,
            subject=connection.user,
            target=connection,
            metadata={"held_deletions": doomed, "events": live},
        )


# --- outcomes -------------------------------------------------------------------------------------------


def _record_failure(run: _Run, exc: Exception) -> None:
    connection = run.connection
    failures = connection.consecutive_failures + 1
    if isinstance(exc, AccountInactive):
        # Our own refusal says nothing new: the calendar shows why the account waits for the person.
        message, next_attempt = f"Reconnect needed: {connection.account.reconnect_reason or exc}", None
    elif isinstance(exc, AuthRevoked):
        message, next_attempt = f"Reconnect needed: {exc}", None
    else:
        message = str(exc) or type(exc).__name__
        wait = connection_backoff_seconds(failures)
        retry_after = getattr(exc, "retry_after", None)
        next_attempt = now() + timedelta(seconds=max(wait, retry_after or 0))
    # Only while the lease is ours (a worker that lost it must not overwrite the new owner's state), and a
    # held deletion stays held: only a listing settles it, and the confirm button needs it.
    CalendarConnection.objects.filter(pk=connection.pk, sync_lease_until=run.lease.until).update(
        sync_status=Case(
            When(sync_status=SyncState.HELD, then=F("sync_status")),
            default=Value(SyncState.ERROR),
            output_field=CharField(),
        ),
        last_error=Case(
            When(sync_status=SyncState.HELD, then=F("last_error")),
            default=Value(message[:1000]),
            output_field=TextField(),
        ),
        consecutive_failures=F("consecutive_failures") + 1,
        next_attempt_at=next_attempt,
        updated_at=now(),
        # The week's Sync list says "Sync failed" from the first failure on; a held deletion stays as shown.
        changed_at=Case(
            When(sync_status__in=(SyncState.HELD, SyncState.ERROR), then=F("changed_at")),
            default=Value(now()),
            output_field=DateTimeField(),
        ),
    )
    logger.warning("sync of connection %s failed: %s", connection.pk, message)


def connection_backoff_seconds(failures: int) -> float:
    """Wait after the n-th failure in a row: base * 2**(n-1), capped, with "equal jitter" (between half and
    all of it), so failed connections spread out but never come back at once."""
    full = min(settings.SYNC_BACKOFF_MAX_SECONDS, settings.SYNC_BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1))
    return full / 2 + backoff_seconds(0, base=full / 2, cap=full / 2)


def _finish_run(run: SyncRun, result: SyncResult) -> None:
    run.finished_at = now()
    run.outcome = SyncOutcome.ERROR if result.outcome == SyncOutcome.RUNNING else result.outcome
    run.full = result.full
    for name in ("created", "updated", "deleted", "unchanged", "skipped", "pages", "requests"):
        setattr(run, name, getattr(result, name))
    run.error = result.error[:2000]
    run.notes = result.notes
    run.save()
