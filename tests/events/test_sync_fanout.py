"""The five-minute fan-out: exactly the connections that are due get one sync task each."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils.timezone import now

from connections.models import AccountStatus, CalendarConnection, SyncState
from events.fanout import connections_due, syncs_enqueue_due
from events.models import SyncOutcome, SyncRun
from events.sync import sync_connection
from events.tasks import SYNCED_SINCE, sync_connection_task, sync_due
from tests.sync_helpers import google_calendar

pytestmark = pytest.mark.django_db(transaction=True)

AGO = timedelta(minutes=1)
LONG_AGO = timedelta(hours=1)


def calendars(owner, fake_google) -> dict[str, CalendarConnection]:
    """One Google calendar per situation the fan-out must tell apart."""
    names = [
        "never_synced", "synced_long_ago", "lost_message", "confirmed_hold",
        "synced_just_now", "backing_off", "held", "needs_reconnect", "syncing", "queued", "disconnected",
    ]  # fmt: skip
    made = {name: google_calendar(owner, fake_google, email=f"{name}@gmail.com") for name in names}
    moment = now()
    updates: dict[str, dict[str, Any]] = {
        "synced_long_ago": {"last_synced_at": moment - LONG_AGO},
        "lost_message": {"sync_queued_at": moment - LONG_AGO},
        "confirmed_hold": {"sync_status": SyncState.HELD, "sweep_held_count": 30, "sweep_confirmed": True},
        "synced_just_now": {"last_synced_at": moment - AGO},
        "backing_off": {"sync_status": SyncState.ERROR, "next_attempt_at": moment + LONG_AGO},
        "held": {"sync_status": SyncState.HELD, "sweep_held_count": 30},
        "syncing": {"sync_lease_until": moment + AGO},
        "queued": {"sync_queued_at": moment - AGO},
        "disconnected": {"is_connected": False},
    }
    for name, fields in updates.items():
        CalendarConnection.objects.filter(pk=made[name].pk).update(**fields)
    made["needs_reconnect"].account.status = AccountStatus.NEEDS_RECONNECT
    made["needs_reconnect"].account.save()
    return made


DUE = {"never_synced", "synced_long_ago", "lost_message", "confirmed_hold"}


def names_of(made: dict[str, CalendarConnection], ids) -> set[str]:
    by_id = {connection.pk: name for name, connection in made.items()}
    return {by_id[pk] for pk in ids}


def test_it_finds_the_connections_that_are_due(owner, fake_google):
    made = calendars(owner, fake_google)
    assert names_of(made, connections_due().values_list("pk", flat=True)) == DUE


def test_the_job_runs_one_sync_for_each_due_connection(owner, fake_google, eager_celery):
    made = calendars(owner, fake_google)
    assert sync_due.apply().get() == len(DUE)
    assert names_of(made, SyncRun.objects.values_list("connection_id", flat=True)) == DUE
    assert SyncRun.objects.count() == len(DUE)
    # Each sync cleared its queued mark as it started, so nothing looks queued-but-lost afterwards.
    ran = CalendarConnection.objects.filter(pk__in=[made[name].pk for name in DUE])
    assert set(ran.values_list("sync_queued_at", flat=True)) == {None}
    assert set(ran.values_list("sync_status", flat=True)) == {SyncState.OK}
    # Synced now, so the next round has nothing to do.
    assert sync_due.apply().get() == 0


def test_a_fan_out_among_some_connections_queues_only_those_that_are_due(owner, fake_google, eager_celery):
    made = calendars(owner, fake_google)
    among = [made[name].pk for name in ("never_synced", "lost_message", "synced_just_now", "held")]
    assert syncs_enqueue_due(among=among) == 2
    assert names_of(made, SyncRun.objects.values_list("connection_id", flat=True)) == {"never_synced", "lost_message"}


def test_the_command_syncs_the_due_connections_in_process(owner, fake_google):
    made = calendars(owner, fake_google)
    out = StringIO()
    call_command("sync_calendars", "--due", stdout=out)
    assert names_of(made, SyncRun.objects.values_list("connection_id", flat=True)) == DUE
    assert f"{len(DUE)} connections synced: {len(DUE)} ok." in out.getvalue()


def test_a_sync_that_finds_the_connection_busy_clears_its_queued_mark(owner, fake_google, eager_celery):
    connection = google_calendar(owner, fake_google)
    CalendarConnection.objects.filter(pk=connection.pk).update(
        sync_queued_at=now(), sync_lease_until=now() + timedelta(minutes=1)
    )
    from events.tasks import sync_connection_task

    assert sync_connection_task.apply(args=(connection.pk,)).get() == "skipped"
    connection.refresh_from_db()
    assert connection.sync_queued_at is None


def test_a_queued_sync_that_arrives_after_its_replacement_ran_does_nothing(owner, fake_google):
    # The fan-out queues again a sync that has not started within a round (its message may be lost); when
    # the first message was only slow, it arrives after the replacement has synced the calendar.
    calendar = google_calendar(owner, fake_google)
    first_queued_at = now().isoformat()
    sync_connection(connection=calendar)
    slow = sync_connection_task.apply(args=(calendar.pk,), kwargs={"queued_at": first_queued_at}).get()
    assert slow == SYNCED_SINCE and SyncRun.objects.count() == 1
    later = sync_connection_task.apply(args=(calendar.pk,), kwargs={"queued_at": now().isoformat()}).get()
    assert later == SyncOutcome.OK and SyncRun.objects.count() == 2
