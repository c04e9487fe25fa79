"""A stateful property test of the sync: random changes at the provider, syncs and faults in any order.

After every sync that completes, the calendar in our database equals the calendar at the provider (the
loopback Google fake): same events, same versions, nothing doubled. Syncs that fail (an outage from some
page on, a worker that died mid-listing and left its lease) must leave a state the next sync repairs.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from connections.models import CalendarConnection
from events.models import SyncOutcome
from events.sync import sync_connection
from fakes.sync_views import google_view, stored_view
from tests.sync_helpers import google_calendar

pytestmark = pytest.mark.django_db(transaction=True)

TITLES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
DAYS = st.integers(min_value=1, max_value=28)


def test_after_every_completed_sync_the_database_equals_the_provider(owner, fake_google, settings):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    settings.PROVIDER_RETRY_ATTEMPTS = 2
    counter = iter(range(10_000))

    class CalendarMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            fake_google.page_size = None
            fake_google.outage_after = None
            fake_google.faults.clear()
            self.calendar = google_calendar(owner, fake_google, email=f"p{next(counter)}@gmail.com")
            self.synced_once = False

        @property
        def events(self) -> dict:
            return fake_google.events.setdefault(self.calendar.remote_id, {})

        def live_ids(self) -> list[str]:
            # In creation order, not sorted: the fake's ids are random, so a sorted list puts a different event
            # at each index when hypothesis replays a case, and its draws stop being reproducible.
            return [i for i, e in self.events.items() if e.resource.get("status") != "cancelled"]

        @rule(title=TITLES, day=DAYS)
        def create(self, title: str, day: int) -> None:
            fake_google.put_event(
                self.calendar.remote_id,
                {
                    "summary": title,
                    "start": {"dateTime": f"2025-02-{day:02d}T10:00:00Z"},
                    "end": {"dateTime": f"2025-02-{day:02d}T11:00:00Z"},
                },
            )

        @rule(title=TITLES)
        def create_series_with_a_cancelled_occurrence(self, title: str) -> None:
            master = fake_google.put_event(
                self.calendar.remote_id,
                {
                    "summary": title,
                    "start": {"dateTime": "2025-02-03T09:00:00+01:00", "timeZone": "Europe/Berlin"},
                    "end": {"dateTime": "2025-02-03T09:30:00+01:00", "timeZone": "Europe/Berlin"},
                    "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=5"],
                },
            )
            fake_google.cancel_occurrence(
                self.calendar.remote_id,
                master["id"],
                {"dateTime": "2025-02-10T09:00:00+01:00", "timeZone": "Europe/Berlin"},
            )

        @precondition(lambda self: self.live_ids())
        @rule(data=st.data(), title=TITLES)
        def update(self, data: st.DataObject, title: str) -> None:
            event_id = data.draw(st.sampled_from(self.live_ids()))
            fake_google.patch_event(self.calendar.remote_id, event_id, summary=title)

        @precondition(lambda self: self.live_ids())
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            fake_google.cancel_event(self.calendar.remote_id, data.draw(st.sampled_from(self.live_ids())))

        @precondition(lambda self: self.events)
        @rule(data=st.data())
        def forget_a_tombstone_and_expire_tokens(self, data: st.DataObject) -> None:
            # Google drops old deletions; a client's stale token then gets 410 and must list everything.
            event_id = data.draw(st.sampled_from(list(self.events)))
            del self.events[event_id]
            fake_google.expire_sync_tokens()

        @rule(size=st.sampled_from([None, 1, 2, 3]))
        def change_page_size(self, size: int | None) -> None:
            fake_google.page_size = size

        @rule()
        def sync(self) -> None:
            result = sync_connection(connection=CalendarConnection.objects.get(pk=self.calendar.pk))
            assert result.outcome == SyncOutcome.OK, result.error
            self.synced_once = True
            assert stored_view(self.calendar) == google_view(fake_google, self.calendar.remote_id)

        @rule(pages=st.integers(min_value=0, max_value=3), worker_died=st.booleans())
        def sync_interrupted(self, pages: int, worker_died: bool) -> None:
            """The provider fails from some page on; or the worker dies there, leaving its lease behind."""
            fake_google.outage_after = pages
            try:
                result = sync_connection(connection=CalendarConnection.objects.get(pk=self.calendar.pk))
            finally:
                fake_google.outage_after = None
            assert result.outcome in (SyncOutcome.OK, SyncOutcome.ERROR)
            if worker_died:
                # What a killed worker leaves: a lease nobody releases; it lapses and the next run takes over.
                CalendarConnection.objects.filter(pk=self.calendar.pk).update(
                    sync_lease_until=now() - timedelta(seconds=1)
                )
            CalendarConnection.objects.filter(pk=self.calendar.pk).update(next_attempt_at=None)

        @invariant()
        def nothing_is_ever_stored_twice(self) -> None:
            stored_view(self.calendar)  # raises on a duplicate provider id

    run_state_machine_as_test(
        CalendarMachine,
        settings=hypothesis_settings(
            max_examples=12,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
