"""Connecting iCloud / CalDAV through the form, against a real Radicale server over TLS."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from audit.models import AuditAction, AuditLog
from connections.models import CalendarConnection, Provider, ProviderAccount


@pytest.fixture
def private_hosts(settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale runs on loopback


def connect(browser: Client, account, *, password: str | None = None, url: str | None = None):
    return browser.post(
        reverse("connections_caldav", args=["caldav"]),
        {"server_url": url or account.url, "username": account.username, "password": password or account.password},
    )


def test_the_icloud_form_suggests_icloud_and_explains_app_specific_passwords(owner_client, settings):
    page = owner_client.get(reverse("connections_caldav", args=["icloud"])).content.decode()
    assert settings.CALDAV_DEFAULT_URL in page
    assert "app-specific password" in page.lower()
    assert "Apple ID password" in page


def test_connecting_verifies_then_stores_the_password_encrypted_and_offers_the_calendars(
    owner_client, owner, caldav_account, private_hosts
):
    response = connect(owner_client, caldav_account)
    account = ProviderAccount.objects.get(user=owner)
    assert response.status_code == 302
    assert response.url == reverse("connections_choose", args=[account.pk])
    assert (account.provider, account.username, account.password) == (
        Provider.CALDAV,
        caldav_account.username,
        caldav_account.password,
    )
    assert account.external_id.endswith(f"/{caldav_account.username}/")  # the principal, found by discovery
    with db.cursor() as cursor:
        cursor.execute("SELECT password FROM provider_accounts WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    assert caldav_account.password not in stored
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_CONNECTED, target_id=str(account.pk)).exists()

    chooser = owner_client.get(response.url).content.decode()
    for name, color in (("Work", "#1e88e5"), ("Home", "#43a047")):
        assert name in chooser
        assert f'fill="{color}"' in chooser

    chosen = owner_client.post(response.url, {"calendars": [caldav_account.calendars["Work"]]})
    assert chosen.status_code == 302
    calendar = CalendarConnection.objects.get(user=owner)
    assert (calendar.name, calendar.color, calendar.remote_id, calendar.read_only) == (
        "Work",
        "#1e88e5",
        caldav_account.calendars["Work"],
        False,
    )
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_CALENDARS_CHOSEN).count() == 1

    # Changing the choice later: Home in, Work out.
    owner_client.post(response.url, {"calendars": [caldav_account.calendars["Home"]]})
    assert list(CalendarConnection.objects.filter(user=owner).values_list("name", flat=True)) == ["Home"]


def test_a_wrong_password_is_refused_and_nothing_is_stored(owner_client, owner, caldav_account, private_hosts):
    response = connect(owner_client, caldav_account, password="not-the-password")
    assert response.status_code == 400
    assert "refused the user name or password" in response.content.decode()
    assert not ProviderAccount.objects.exists()


def test_icloud_wrong_password_message_names_app_specific_passwords():
    from connections.providers.caldav.client import wrong_password_message

    assert "app-specific password" in wrong_password_message("https://caldav.icloud.com/")
    assert "app-specific" not in wrong_password_message("https://dav.example.org/")


def test_private_servers_are_refused_unless_allowed(owner_client, owner, caldav_account, settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = False
    response = connect(owner_client, caldav_account)
    assert response.status_code == 400
    assert "private or internal address" in response.content.decode()
    assert not ProviderAccount.objects.exists()


def test_plain_http_is_refused_before_any_request(owner_client, owner, caldav_account, private_hosts):
    response = connect(owner_client, caldav_account, url=caldav_account.url.replace("https://", "http://"))
    assert response.status_code == 400
    assert "https://" in response.content.decode()
    assert not ProviderAccount.objects.exists()


def test_connecting_the_same_account_twice_keeps_one_account(owner_client, owner, caldav_account, private_hosts):
    connect(owner_client, caldav_account)
    connect(owner_client, caldav_account)
    assert ProviderAccount.objects.filter(user=owner).count() == 1
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_RECONNECTED).count() == 1


def test_a_calendar_the_person_may_only_read_is_marked_read_only(
    owner_client, owner, caldav_account, radicale, private_hosts
):
    # A rule in front of the owner's own rights leaves them only read access to Home.
    radicale.share_read_only(caldav_account.username, caldav_account.calendars["Home"], caldav_account.username)
    connect(owner_client, caldav_account)
    account = ProviderAccount.objects.get(user=owner)
    owner_client.post(
        reverse("connections_choose", args=[account.pk]), {"calendars": list(caldav_account.calendars.values())}
    )
    flags = dict(CalendarConnection.objects.filter(user=owner).values_list("name", "read_only"))
    assert flags == {"Work": False, "Home": True}


def test_a_password_the_server_stops_accepting_marks_the_account_needs_reconnect(
    owner_client, owner, caldav_account, radicale, private_hosts, django_capture_on_commit_callbacks
):
    from django.core import mail

    connect(owner_client, caldav_account)
    account = ProviderAccount.objects.get(user=owner)
    radicale.add_user(caldav_account.username, "changed-at-the-server")  # the person revoked the app password
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get(reverse("connections_choose", args=[account.pk]))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == "needs_reconnect"
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_NEEDS_RECONNECT).count() == 1
    assert len(mail.outbox) == 1
    page = owner_client.get(reverse("connections")).content.decode()
    assert f"{reverse('connections_caldav', args=['caldav'])}?account={account.pk}" in page  # reconnect link
