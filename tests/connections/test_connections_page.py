"""The connections page: each account and calendar with its state and actions; disconnecting."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from connections.models import AccountStatus, CalendarConnection, ProviderAccount, SyncState
from events.models import CalendarEvent
from tests.conftest import PASSWORD
from tests.factories import make_account, make_connection, make_event


def test_the_page_asks_anonymous_visitors_to_sign_in(client, db):
    response = client.get(reverse("connections"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_an_empty_account_is_invited_to_connect_and_unconfigured_providers_say_what_is_missing(owner_client, settings):
    settings.GOOGLE_CLIENT_ID = ""
    settings.MICROSOFT_CLIENT_ID = "configured"
    settings.MICROSOFT_CLIENT_SECRET = "configured"
    page = owner_client.get(reverse("connections")).content.decode()
    assert "You have not connected a calendar account yet" in page
    assert "the administrator has not set GOOGLE_CLIENT_ID" in page
    assert reverse("connections_start", args=["google"]) not in page  # no broken button
    assert reverse("connections_start", args=["microsoft"]) in page
    assert reverse("connections_caldav", args=["icloud"]) in page


def test_each_calendar_shows_its_state(owner_client, owner):
    account = make_account(owner, email="olive@gmail.com")
    make_connection(account, name="Synced one", last_synced_at=now() - timedelta(minutes=7), sync_status=SyncState.OK)
    make_connection(account, name="Broken one", sync_status=SyncState.ERROR, last_error="Google said 500 <b>x</b>")
    make_connection(account, name="Busy one", sync_lease_until=now() + timedelta(minutes=3))
    make_connection(account, name="Lapsed one", sync_lease_until=now() - timedelta(minutes=3))
    page = owner_client.get(reverse("connections")).content.decode()
    assert "olive@gmail.com" in page
    assert "Synced <time" in page and "7\xa0minutes ago" in page
    assert "Sync failed: Google said 500 &lt;b&gt;x&lt;/b&gt;" in page
    assert page.count("Syncing…") == 1  # a lapsed lease (a crashed worker) is not "syncing"


def test_an_account_that_needs_reconnecting_says_so_and_offers_reconnect(owner_client, owner):
    account = make_account(owner, status=AccountStatus.NEEDS_RECONNECT)
    make_connection(account)
    page = owner_client.get(reverse("connections")).content.decode()
    assert "Needs reconnecting" in page
    assert f'name="account" value="{account.pk}"' in page  # the reconnect form


def test_disconnecting_a_calendar_removes_its_events_and_audits(owner_client, owner):
    account = make_account(owner)
    keep, drop = make_connection(account, name="Keep"), make_connection(account, name="Drop")
    make_event(keep)
    make_event(drop)
    response = owner_client.post(reverse("connections_calendar_disconnect", args=[drop.pk]))
    assert response.status_code == 302
    assert list(CalendarConnection.objects.values_list("name", flat=True)) == ["Keep"]
    assert CalendarEvent.objects.count() == 1
    row = AuditLog.objects.get(action=AuditAction.CONNECTION_DISCONNECTED)
    assert row.metadata["calendar"] == "Drop"
    assert ProviderAccount.objects.filter(pk=account.pk).exists()  # other calendars remain


def test_disconnecting_the_last_calendar_removes_the_account_and_revokes_at_google(
    owner_client, owner, fake_google, eager_celery, django_capture_on_commit_callbacks
):
    fake_google.valid_tokens.add("1//last")
    account = make_account(owner, refresh_token="1//last", access_token="ya29.last")
    only = make_connection(account)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("connections_calendar_disconnect", args=[only.pk]))
    assert not ProviderAccount.objects.filter(pk=account.pk).exists()
    assert fake_google.revoked == ["1//last"]
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_ACCOUNT_DISCONNECTED).count() == 1


def test_disconnecting_an_account_removes_calendars_events_and_credentials(
    owner_client, owner, fake_google, eager_celery, django_capture_on_commit_callbacks
):
    fake_google.valid_tokens.add("1//acct")
    account = make_account(owner, refresh_token="1//acct")
    make_event(make_connection(account))
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("connections_account_disconnect", args=[account.pk]))
    assert not ProviderAccount.objects.exists()
    assert not CalendarEvent.objects.exists()
    assert fake_google.revoked == ["1//acct"]


def test_nobody_can_disconnect_choose_or_reconnect_for_someone_else(owner, stranger, settings):
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "id", "secret"
    theirs = make_account(stranger)
    calendar = make_connection(theirs)
    intruder = Client()
    intruder.login(email=owner.email, password=PASSWORD)
    assert intruder.post(reverse("connections_calendar_disconnect", args=[calendar.pk])).status_code == 404
    assert intruder.post(reverse("connections_account_disconnect", args=[theirs.pk])).status_code == 404
    assert intruder.get(reverse("connections_choose", args=[theirs.pk])).status_code == 404
    assert intruder.post(reverse("connections_start", args=["google"]), {"account": theirs.pk}).status_code == 404
    assert CalendarConnection.objects.filter(pk=calendar.pk).exists()


def test_disconnect_only_accepts_post(owner_client, owner):
    calendar = make_connection(make_account(owner))
    assert owner_client.get(reverse("connections_calendar_disconnect", args=[calendar.pk])).status_code == 405
    assert CalendarConnection.objects.filter(pk=calendar.pk).exists()


def test_the_reason_to_reconnect_and_the_last_error_are_shown_apart(owner_client, owner):
    account = make_account(
        owner,
        status=AccountStatus.NEEDS_RECONNECT,
        reconnect_reason="invalid_grant: Token has been expired or revoked.",
        last_error="Google said 401: Request had <invalid> credentials",
    )
    make_connection(account, name="Work", sync_status=SyncState.ERROR, last_error="Reconnect needed: the account is x")
    page = owner_client.get(reverse("connections")).content.decode()
    assert "Why: invalid_grant: Token has been expired or revoked." in page
    assert "Last error: Google said 401: Request had &lt;invalid&gt; credentials" in page
    assert "Last error: Reconnect needed: the account is x" in page  # the calendar's own


def test_an_active_account_shows_its_last_failure_and_a_reason_equal_to_it_once(owner_client, owner):
    make_connection(make_account(owner, email="a@example.com", last_error="Google token endpoint: server error 503"))
    reason = "invalid_grant: Token has been expired or revoked."
    make_connection(
        make_account(
            owner,
            email="b@example.com",
            external_id="b",
            status=AccountStatus.NEEDS_RECONNECT,
            reconnect_reason=reason,
            last_error=reason,
        )
    )
    page = owner_client.get(reverse("connections")).content.decode()
    assert "Last error: Google token endpoint: server error 503" in page
    assert page.count(reason) == 1
