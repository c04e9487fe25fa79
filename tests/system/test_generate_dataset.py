"""The performance data set: counts, repeatability, valid rows, the week view, and --reset."""

from __future__ import annotations

import hashlib
import io
import zoneinfo
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command

from audit.models import AuditLog
from bench.dataset.build import DEFAULT_NOW, DatasetExists, dataset_generate, dataset_reset, generated_users
from bench.dataset.command import Command as GenerateDataset
from bench.dataset.people import DATASET_DOMAIN
from connections.models import CalendarConnection, OAuthState, ProviderAccount
from events.models import CalendarEvent, EventSyncStatus
from events.selectors import occurrences_in_window
from tests.factories import make_account, make_connection, make_event

pytestmark = pytest.mark.django_db


def generated_events():
    return CalendarEvent.objects.filter(connection__user__in=generated_users())


def digest() -> str:
    rows = generated_events().order_by("connection__user__email", "connection__remote_id", "provider_event_id", "start")
    text = "\n".join(
        f"{email}|{remote}|{pid}|{title}|{start.isoformat()}"
        for email, remote, pid, title, start in rows.values_list(
            "connection__user__email", "connection__remote_id", "provider_event_id", "title", "start"
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_it_writes_what_the_summary_counts():
    summary = dataset_generate(users=12, seed=3)

    people = generated_users()
    assert summary.users == people.count() == 12
    assert summary.email_addresses == EmailAddress.objects.filter(user__in=people, verified=True, primary=True).count()
    assert summary.accounts == ProviderAccount.objects.filter(user__in=people).count()
    assert summary.connections == CalendarConnection.objects.filter(user__in=people).count()
    assert summary.events == generated_events().count()
    assert summary.audit_rows == AuditLog.objects.filter(subject_email__endswith=f"@{DATASET_DOMAIN}").count()
    assert summary.oauth_states == OAuthState.objects.filter(user__in=people).count()
    assert summary.connections >= summary.users
    assert 100 * summary.users < summary.events < 1000 * summary.users
    assert {"google", "microsoft", "caldav"} <= set(ProviderAccount.objects.values_list("provider", flat=True))
    # The secrets went through the encrypted fields: stored as ciphertext, read back as text.
    account = ProviderAccount.objects.filter(user__in=people, provider="google").first()
    assert account is not None and account.access_token and account.access_token.startswith("ya29.")


def test_it_gives_the_same_data_for_the_same_seed_and_other_data_for_another():
    dataset_generate(users=4, seed=7)
    first = digest()
    dataset_generate(users=4, seed=7, reset=True)
    assert digest() == first
    dataset_generate(users=4, seed=8, reset=True)
    assert digest() != first


def test_every_event_keeps_the_model_rules_and_the_mix_is_there():
    dataset_generate(users=3, seed=5)
    events = list(generated_events())
    for event in events:
        event.full_clean(validate_unique=False)
    assert any(event.recurrence and "EXDATE" in event.recurrence for event in events) or any(
        event.status == "cancelled" and event.master_provider_event_id for event in events
    )
    assert any(event.all_day for event in events)
    assert any(event.end - event.start > timedelta(days=1) for event in events)
    assert any(event.recurring_event_id and event.original_start for event in events)
    assert any(event.sync_status == EventSyncStatus.PENDING for event in events)
    assert any(event.start < DEFAULT_NOW - timedelta(days=365) for event in events)
    assert any(event.start > DEFAULT_NOW + timedelta(days=60) for event in events)


def test_the_week_view_shows_a_series_that_began_years_ago():
    dataset_generate(users=3, seed=11)

    for user in generated_users():
        zone = zoneinfo.ZoneInfo(user.timezone)
        monday = (DEFAULT_NOW - timedelta(days=DEFAULT_NOW.weekday())).replace(hour=0, minute=0)
        occurrences = occurrences_in_window(
            connection_ids=user.calendar_connections.values_list("pk", flat=True),
            start=monday,
            end=monday + timedelta(days=7),
            zone=zone,
        )
        assert occurrences
        series_starts = [
            (occurrence.event.recurring_event or occurrence.event).start
            for occurrence in occurrences
            if occurrence.event.recurrence or occurrence.event.recurring_event_id
        ]
        assert any(start < monday - timedelta(days=365) for start in series_starts), user.email


def test_it_refuses_to_run_again_unless_reset():
    dataset_generate(users=2, seed=1)

    with pytest.raises(DatasetExists):
        dataset_generate(users=2, seed=1)
    with pytest.raises(CommandError, match="--reset"):
        call_command(GenerateDataset(), "--users", "2", stdout=io.StringIO())


def test_reset_removes_only_generated_people(owner):
    event = make_event(make_connection(make_account(owner)))
    dataset_generate(users=3, seed=2)

    assert dataset_reset() == 3

    assert not generated_users().exists()
    assert not CalendarConnection.objects.exclude(user=owner).exists()
    assert list(CalendarEvent.objects.all()) == [event]
    assert owner.calendar_connections.count() == 1


def test_the_command_prints_progress_and_a_summary():
    out = io.StringIO()
    call_command(GenerateDataset(), "--users", "2", "--seed", "4", stdout=out)

    text = out.getvalue()
    assert "pool:" in text
    assert "2/2 people" in text
    assert "Generated 2 users" in text and " events, " in text and " s." in text
