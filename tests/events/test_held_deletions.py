"""Deletions a provider reports one by one (Google's cancelled items, Graph's @removed, CalDAV's 404s) are held
like a full listing's sweep when they would delete most of a calendar: the same accident from the person's
point of view, and calendar-to-calendar sync would copy it onward. Through the loopback Google and Graph fakes
and a real Radicale, with the calendars and checks of tests/system/test_faults.py.
"""

from __future__ import annotations

import re

import pytest

from audit.models import AuditAction, AuditLog
from connections.models import SyncState
from events.models import SyncOutcome
from events.sync import connection_sweep_confirm
from tests.system import test_faults
from tests.system.test_faults import SIDES, Before, assert_in_step, assert_nothing_left_to_do, first_day, synced

# The fault scenarios' fixtures (their calendars at each provider, and their own Radicale), by name.
owner, radicale, side = test_faults.owner, test_faults.radicale, test_faults.side
quick_retries = test_faults.quick_retries

pytestmark = pytest.mark.django_db(transaction=True)  # the sync commits page by page


def audited(action: str) -> int:
    return AuditLog.objects.filter(action=action).count()


@pytest.mark.parametrize("side", SIDES, indirect=True)
def test_an_incremental_sync_that_deletes_most_of_a_calendar_is_held_until_the_person_confirms(side):
    synced(side)
    before = Before.of(side)
    for key in side.singles:  # thirty of the calendar's thirty-three events
        side.delete(key)
    added = side.add("Added meanwhile", first_day(), 7)
    held = side.sync()
    connection = side.connection
    assert (held.outcome, held.full, held.held_deletions, held.deleted) == (SyncOutcome.HELD, False, 30, 0)
    assert re.match(r"The provider reports as deleted 30 of this calendar's \d+ events\.", connection.last_error)
    assert (connection.sync_status, connection.sweep_held_count) == (SyncState.HELD, 30)
    assert connection.sync_cursor == before.cursor  # the next sync sees the deletions again
    stored = side.stored_view()
    assert all(stored.get(key) == row for key, row in before.stored.items())  # nothing deleted while held
    assert added in stored  # what deletes nothing is applied
    assert audited(AuditAction.SYNC_DELETIONS_HELD) == 1

    # The next run lists the calendar whole, finds the same thirty gone, and keeps holding them: no second row.
    again = side.sync()
    assert (again.outcome, again.full, again.held_deletions) == (SyncOutcome.HELD, True, 30)
    assert audited(AuditAction.SYNC_DELETIONS_HELD) + audited(AuditAction.SYNC_SWEEP_HELD) == 1

    assert connection_sweep_confirm(connection=side.connection, actor=side.owner)
    result = side.sync()
    assert_in_step(side, result)
    assert result.deleted == 30
    assert not connection_sweep_confirm(connection=side.connection, actor=side.owner)  # nothing held any more
    assert_nothing_left_to_do(side)  # applied once


@pytest.mark.parametrize("side", SIDES, indirect=True)
def test_a_confirmation_given_before_the_next_listing_applies_the_reported_deletions(side):
    synced(side)
    for key in side.singles:
        side.delete(key)
    assert side.sync().outcome == SyncOutcome.HELD
    assert connection_sweep_confirm(connection=side.connection, actor=side.owner)
    result = side.sync()  # the count the person confirmed is the count the listing finds
    assert_in_step(side, result)
    assert result.deleted == 30


@pytest.mark.parametrize("side", SIDES, indirect=True)
def test_a_small_calendar_losing_one_of_its_two_events_is_not_held(side):
    side.add("Keep", first_day(), 9)
    drop = side.add("Drop", first_day(), 11)
    assert_in_step(side, side.sync())
    side.delete(drop)
    result = side.sync()
    assert_in_step(side, result)
    assert (result.full, result.deleted) == (False, 1)
    assert audited(AuditAction.SYNC_DELETIONS_HELD) == 0


@pytest.mark.parametrize("side", SIDES, indirect=True)
def test_deleting_fewer_events_than_the_guards_floor_is_not_held(side):
    synced(side)
    for key in side.singles[:20]:  # most of the singles, but twenty events: not more than the floor
        side.delete(key)
    result = side.sync()
    assert_in_step(side, result)
    assert (result.full, result.deleted) == (False, 20)
