"""The hourly keep-alive: idle grants are refreshed, busy ones left alone, withdrawn ones surface at once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from connections.models import AccountStatus, Provider, ProviderAccount
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from connections.tasks import refresh_idle_credentials
from tests.factories import make_account

WEEK_AND_A_DAY = timedelta(days=8)


def google_account(
    owner, fake_google, email: str, *, idle: timedelta, refreshed: timedelta | None = None
) -> ProviderAccount:
    person = fake_google.add_user(email)
    tokens = fake_google.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    return make_account(
        owner,
        Provider.GOOGLE,
        external_id=person.sub,
        email=email,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_expires_at=now() + timedelta(minutes=50),  # still fresh: only the keep-alive refreshes it
        last_used_at=now() - idle,
        last_refreshed_at=now() - (idle if refreshed is None else refreshed),
    )


def token_requests(fake_google) -> int:
    return sum(1 for entry in fake_google.request_log if entry[0] == "POST" and entry[1].endswith("/token"))


def test_it_refreshes_idle_grants_and_leaves_busy_ones(owner, fake_google):
    idle = google_account(owner, fake_google, "idle@gmail.com", idle=WEEK_AND_A_DAY)
    busy = google_account(owner, fake_google, "busy@gmail.com", idle=timedelta(hours=2), refreshed=WEEK_AND_A_DAY)
    fresh = google_account(owner, fake_google, "fresh@gmail.com", idle=WEEK_AND_A_DAY, refreshed=timedelta(days=1))
    caldav = make_account(owner, Provider.CALDAV, password="app-password", last_used_at=now() - WEEK_AND_A_DAY)
    old_token, busy_token, fresh_token = idle.access_token, busy.access_token, fresh.access_token

    assert refresh_idle_credentials.apply().get() == {"refreshed": 1, "needs_reconnect": 0, "failed": 0}

    idle.refresh_from_db()
    busy.refresh_from_db()
    assert idle.access_token != old_token and fake_google.live_access_token(idle.access_token) is not None
    assert idle.last_refreshed_at is not None and idle.last_refreshed_at > now() - timedelta(minutes=1)
    assert busy.access_token == busy_token  # used two hours ago: the sync keeps it alive
    assert ProviderAccount.objects.get(pk=fresh.pk).access_token == fresh_token  # refreshed yesterday
    assert ProviderAccount.objects.get(pk=caldav.pk).last_refreshed_at is None
    # Refreshed now, so the next hour leaves it alone.
    requests_before = token_requests(fake_google)
    assert refresh_idle_credentials.apply().get()["refreshed"] == 0
    assert token_requests(fake_google) == requests_before


def test_a_withdrawn_grant_turns_the_account_to_needs_reconnect_once(owner, fake_google):
    account = google_account(owner, fake_google, "gone@gmail.com", idle=WEEK_AND_A_DAY)
    fake_google.revoke_all()

    assert refresh_idle_credentials.apply().get() == {"refreshed": 0, "needs_reconnect": 1, "failed": 0}
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_RECONNECT
    assert (
        AuditLog.objects.filter(action=AuditAction.CONNECTION_NEEDS_RECONNECT, target_id=str(account.pk)).count() == 1
    )
    # The account is no longer active, so the next hour does not ask the provider again.
    assert refresh_idle_credentials.apply().get()["needs_reconnect"] == 0


def test_a_provider_outage_is_reported_and_retried_next_hour(owner, fake_google, settings):
    settings.PROVIDER_RETRY_ATTEMPTS = 1
    account = google_account(owner, fake_google, "later@gmail.com", idle=WEEK_AND_A_DAY)
    fake_google.faults.extend([(503, None)] * 5)  # the token endpoint answers 503 to every try

    out = StringIO()
    call_command("refresh_tokens", stdout=out)
    assert "0 refreshed, 0 need reconnecting, 1 failed" in out.getvalue()
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert account.last_refreshed_at is not None and account.last_refreshed_at < now() - timedelta(days=7)


def test_the_command_lists_without_refreshing_on_a_dry_run(owner, fake_google):
    account = google_account(owner, fake_google, "idle@gmail.com", idle=WEEK_AND_A_DAY)
    out = StringIO()
    call_command("refresh_tokens", "--dry-run", stdout=out)
    assert f"would refresh account {account.pk} (google) idle@gmail.com" in out.getvalue()
    assert "1 accounts would be refreshed (dry run)." in out.getvalue()
    assert token_requests(fake_google) == 0
    assert not mail.outbox


def test_the_command_refreshes_a_named_account_even_when_busy(owner, fake_google):
    account = google_account(owner, fake_google, "busy@gmail.com", idle=timedelta(minutes=5))
    old_token = account.access_token
    out = StringIO()
    call_command("refresh_tokens", "--account", str(account.pk), stdout=out)
    account.refresh_from_db()
    assert account.access_token != old_token
    assert "1 refreshed, 0 need reconnecting, 0 failed" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("refresh_tokens", "--account", "999999", stdout=StringIO())


def test_one_unreadable_account_does_not_stop_the_others(owner, fake_google):
    broken = google_account(owner, fake_google, "broken@gmail.com", idle=WEEK_AND_A_DAY)
    healthy = google_account(owner, fake_google, "healthy@gmail.com", idle=WEEK_AND_A_DAY)
    old_token = healthy.access_token
    # A refresh token written under a key that ENCRYPTION_KEYS no longer holds.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE provider_accounts SET refresh_token = 'v1.gone.AAAA' WHERE id = %s", [broken.pk])

    assert refresh_idle_credentials.apply().get() == {"refreshed": 1, "needs_reconnect": 0, "failed": 1}
    healthy.refresh_from_db()
    assert healthy.access_token != old_token
