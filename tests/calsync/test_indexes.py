"""The seed's index names exist, and the queries they are for actually use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils.timezone import now

from accounts.models import User
from connections.models import CalendarConnection, OAuthState
from events.models import CalendarEvent
from tests.factories import make_account, make_connection, make_event

SEED_INDEXES = {
    "users": "users_email_key",
    "calendar_connections": "calendar_connections_user_id_idx",
    "calendar_events": "calendar_events_connection_date_range_idx",
    "oauth_states": "oauth_states_state_key",
}
SEED_PENDING_INDEX = "calendar_events_connection_sync_status_idx"


def test_the_seed_index_names_are_in_pg_indexes(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()")
        present = set(cursor.fetchall())
    expected = {*SEED_INDEXES.items(), ("calendar_events", SEED_PENDING_INDEX)}
    assert expected <= present


@pytest.fixture
def calendar(owner):
    connection_ = make_connection(make_account(owner))
    make_event(connection_)
    make_event(connection_, provider_event_id=None, sync_status="pending")
    return connection_


def test_sign_in_lookup_uses_users_email_key(planner_prefers_indexes, owner):
    # allauth lower-cases the address and compares with `=`; the default manager adds `deleted_at IS NULL`.
    assert "users_email_key" in User.objects.filter(email="owner@example.com").explain()


def test_fetching_a_users_calendars_uses_the_user_index(planner_prefers_indexes, calendar, owner):
    assert "calendar_connections_user_id_idx" in CalendarConnection.objects.filter(user=owner).explain()


def test_the_week_overlap_query_uses_the_date_range_index(planner_prefers_indexes, calendar):
    week_start = now()
    plan = CalendarEvent.objects.filter(
        connection=calendar, deleted_at__isnull=True, start__lt=week_start + timedelta(days=7), end__gt=week_start
    ).explain()
    assert "calendar_events_connection_date_range_idx" in plan


def test_validating_an_oauth_state_uses_the_state_key(planner_prefers_indexes, owner):
    assert "oauth_states_state_key" in OAuthState.objects.filter(state="abc").explain()


def test_pending_events_use_the_partial_sync_status_index(planner_prefers_indexes, calendar):
    plan = CalendarEvent.objects.filter(connection=calendar, sync_status="pending").explain()
    assert SEED_PENDING_INDEX in plan
