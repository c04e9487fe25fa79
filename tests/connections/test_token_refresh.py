"""Tokens in use: refreshed before expiry and once on a 401, rotations saved, a lost grant handled once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from connections.credentials import provider_call
from connections.models import AccountStatus, Provider, ProviderAccount
from connections.providers.base import AuthRevoked, ProviderAdapter, ProviderError
from connections.providers.google import GoogleAdapter
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from connections.providers.microsoft import MicrosoftAdapter
from connections.providers.microsoft.client import SCOPES as MICROSOFT_SCOPES
from tests.factories import make_account

MSAL_SCOPES = [*MICROSOFT_SCOPES, "openid", "profile", "offline_access"]


def google_account(owner, fake_google, *, expires_in: timedelta) -> ProviderAccount:
    person = fake_google.add_user("olive@gmail.com")
    tokens = fake_google.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    return make_account(
        owner,
        Provider.GOOGLE,
        external_id=person.sub,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_expires_at=now() + expires_in,
    )


def microsoft_account(owner, fake_microsoft, *, expires_in: timedelta) -> ProviderAccount:
    person = fake_microsoft.add_user("olive@contoso.com")
    tokens = fake_microsoft.issue_tokens(person.oid, MSAL_SCOPES)
    return make_account(
        owner,
        Provider.MICROSOFT,
        external_id=person.oid,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_expires_at=now() + expires_in,
    )


def token_requests(fake) -> int:
    return sum(1 for entry in fake.request_log if entry[0] == "POST" and entry[1].endswith("/token"))


def test_a_token_about_to_expire_is_refreshed_before_use(owner, fake_google):
    account = google_account(owner, fake_google, expires_in=timedelta(minutes=2))
    old_access, old_refresh = account.access_token, account.refresh_token
    calendars = provider_call(account, GoogleAdapter().list_calendars)
    assert [c.name for c in calendars] == ["olive@gmail.com"]
    account.refresh_from_db()
    assert account.access_token != old_access and account.access_token in fake_google.access_tokens
    assert account.refresh_token == old_refresh  # Google keeps the refresh token
    assert account.token_expires_at is not None
    assert account.token_expires_at > now() + timedelta(minutes=50)
    assert token_requests(fake_google) == 1
    assert account.last_refreshed_at is not None and account.last_used_at is not None


def test_a_fresh_token_is_used_without_a_refresh(owner, fake_google):
    account = google_account(owner, fake_google, expires_in=timedelta(minutes=50))
    provider_call(account, GoogleAdapter().list_calendars)
    assert token_requests(fake_google) == 0


def test_a_401_refreshes_once_and_retries(owner, fake_google):
    account = google_account(owner, fake_google, expires_in=timedelta(minutes=50))
    fake_google.expire_access_tokens()  # the provider stopped accepting it before our clock says so
    calendars = provider_call(account, GoogleAdapter().list_calendars)
    assert len(calendars) == 1
    assert token_requests(fake_google) == 1


def test_microsoft_rotated_refresh_tokens_are_saved(owner, fake_microsoft):
    account = microsoft_account(owner, fake_microsoft, expires_in=timedelta(seconds=30))
    old_refresh = account.refresh_token
    provider_call(account, MicrosoftAdapter().list_calendars)
    account.refresh_from_db()
    assert account.refresh_token != old_refresh
    assert account.refresh_token == fake_microsoft.issued_refresh_tokens[-1]


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_revoked_grant_needs_reconnect_with_one_audit_row_one_email_and_no_retry_storm(
    owner, provider, fake_google, fake_microsoft, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://calsync.example.com"
    adapter: ProviderAdapter
    if provider == "google":
        account, fake, adapter = (
            google_account(owner, fake_google, expires_in=timedelta(0)),
            fake_google,
            GoogleAdapter(),
        )
    else:
        account = microsoft_account(owner, fake_microsoft, expires_in=timedelta(0))
        fake, adapter = fake_microsoft, MicrosoftAdapter()
    fake.revoke_all()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(AuthRevoked):
        provider_call(account, adapter.list_calendars)
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_RECONNECT
    assert "invalid_grant" in account.last_error
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_NEEDS_RECONNECT).count() == 1
    assert len(mail.outbox) == 1
    assert "https://calsync.example.com/connections/" in mail.outbox[0].body
    assert mail.outbox[0].to == [owner.email]
    tried = token_requests(fake)

    # Later calls stop at our own state: no provider request, no second row or email.
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(AuthRevoked):
            provider_call(ProviderAccount.objects.get(pk=account.pk), adapter.list_calendars)
    assert token_requests(fake) == tried
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_NEEDS_RECONNECT).count() == 1
    assert len(mail.outbox) == 1


def test_a_provider_outage_during_refresh_does_not_ask_for_reconnect(owner, fake_microsoft):
    account = microsoft_account(owner, fake_microsoft, expires_in=timedelta(0))
    fake_microsoft.faults.extend([(503, "30")] * 3)
    with pytest.raises(ProviderError) as caught:
        provider_call(account, MicrosoftAdapter().list_calendars)
    assert not isinstance(caught.value, AuthRevoked)
    assert not caught.value.permanent  # retried later, with backoff
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_two_workers_needing_a_refresh_at_once_refresh_the_grant_once(owner, fake_microsoft):
    # Microsoft rotates refresh tokens: two parallel refreshes would leave one worker with a replaced token.
    account = microsoft_account(owner, fake_microsoft, expires_in=timedelta(0))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            provider_call(ProviderAccount.objects.get(pk=account.pk), MicrosoftAdapter().list_calendars)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert token_requests(fake_microsoft) == 1
    account.refresh_from_db()
    assert account.refresh_token == fake_microsoft.issued_refresh_tokens[-1]


@pytest.mark.django_db(transaction=True)
def test_the_reason_to_reconnect_survives_a_later_different_error_until_the_person_reconnects(owner, fake_google):
    from connections.credentials import account_needs_reconnect
    from connections.providers.base import AccountIdentity, Credentials, Grant
    from connections.services import account_connect
    from events.sync import sync_connection
    from tests.factories import make_connection

    account = google_account(owner, fake_google, expires_in=timedelta(0))
    calendar = make_connection(account, remote_id=fake_google.users[account.external_id].calendars[0]["id"])
    fake_google.revoke_all()
    sync_connection(connection=calendar)
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_RECONNECT
    reason = account.reconnect_reason
    assert "invalid_grant" in reason and account.last_error == reason

    # Later syncs stop at our own state: nothing new to keep on the account, and the calendar still says why.
    sync_connection(connection=calendar)
    account.refresh_from_db()
    calendar.refresh_from_db()
    assert (account.reconnect_reason, account.last_error) == (reason, reason)
    assert calendar.last_error == f"Reconnect needed: {reason}"

    # A different failure (another worker's call, refused otherwise) is the last error; the reason stays.
    assert not account_needs_reconnect(account, reason="Google said 401: Request had invalid credentials")
    account.refresh_from_db()
    assert account.reconnect_reason == reason
    assert account.last_error == "Google said 401: Request had invalid credentials"
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_NEEDS_RECONNECT).count() == 1

    tokens = fake_google.issue_tokens(account.external_id, list(GOOGLE_SCOPES))
    credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])
    identity = AccountIdentity(external_id=account.external_id, email=account.email)
    account_connect(user=owner, provider=Provider.GOOGLE, grant=Grant(credentials, identity))
    account.refresh_from_db()
    assert (account.status, account.reconnect_reason, account.last_error) == (AccountStatus.ACTIVE, "", "")


def test_a_provider_outage_during_refresh_is_kept_as_the_last_error_without_a_reason_to_reconnect(
    owner, fake_microsoft
):
    account = microsoft_account(owner, fake_microsoft, expires_in=timedelta(0))
    fake_microsoft.faults.extend([(503, "30")] * 3)
    with pytest.raises(ProviderError) as caught:
        provider_call(account, MicrosoftAdapter().list_calendars)
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and account.reconnect_reason == ""
    assert account.last_error == str(caught.value) == "Microsoft identity platform unavailable: MsalServiceError"
    fake_microsoft.faults.clear()  # the outage is over: the next refresh clears it
    provider_call(account, MicrosoftAdapter().list_calendars)
    account.refresh_from_db()
    assert account.last_error == ""
