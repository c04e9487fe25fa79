"""Deleting an account: at once, everything hidden and every credential gone; the address is free again."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.test import Client

from accounts.models import Session, User
from audit.models import AuditAction, AuditLog
from connections.models import CalendarConnection, ProviderAccount
from events.models import CalendarEvent
from tests.accounts_helpers import enter_emailed_code
from tests.conftest import PASSWORD
from tests.factories import make_account, make_connection, make_event


@pytest.fixture
def member(owner) -> User:
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    account = make_account(owner, access_token="ya29.token", refresh_token="1//refresh")
    connection = make_connection(account)
    make_event(connection)
    make_event(connection)
    Authenticator.objects.create(user=owner, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "x"})
    return owner


def signed_in_client(user: User, *, reauthenticated: bool = True) -> Client:
    client = Client()
    assert client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 302
    if reauthenticated:  # as a person does when allauth asks for the password before deleting
        assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    return client


def test_it_asks_for_the_password_again_first_and_a_wrong_one_deletes_nothing(member):
    client = signed_in_client(member, reauthenticated=False)
    page = client.get("/accounts/delete/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/reauthenticate/")
    wrong = client.post(page["Location"], {"password": "not mine"})
    assert wrong.status_code == 200
    assert client.post("/accounts/delete/", {"confirm": "on"}).status_code == 302  # back to reauthentication
    member.refresh_from_db()
    assert member.deleted_at is None
    assert CalendarEvent.objects.filter(deleted_at__isnull=True).count() == 2
    failed = AuditLog.objects.get(action=AuditAction.ACCOUNT_SIGN_IN_FAILED)
    assert failed.subject_user_id == member.pk


def test_guessing_the_password_again_is_rate_limited(member):
    client = signed_in_client(member, reauthenticated=False)
    for _ in range(10):
        client.post("/accounts/reauthenticate/", {"password": "not mine"})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert client.get("/accounts/delete/").status_code == 302  # still not let through
    member.refresh_from_db()
    assert member.deleted_at is None


def test_it_needs_the_confirmation_box_too(member):
    client = signed_in_client(member)
    response = client.post("/accounts/delete/", {})
    assert response.status_code == 200
    assert "confirm" in response.context["form"].errors
    member.refresh_from_db()
    assert member.deleted_at is None


def test_deleting_ends_everything_at_once(member, stranger):
    client = signed_in_client(member)
    other_device = signed_in_client(member)
    strangers_event = make_event(make_connection(make_account(stranger)))

    response = client.post("/accounts/delete/", {"confirm": "on"})
    assert response.status_code == 302

    member = User.all_objects.get(pk=member.pk)
    assert member.deleted_at is not None
    assert not member.is_active
    assert not Session.objects.filter(user=member).exists()
    for device in (client, other_device):
        assert device.get("/").context["user"].is_anonymous
    account = ProviderAccount.objects.get(user=member)
    assert (account.access_token, account.refresh_token, account.password) == (None, None, None)
    assert account.status == "revoked"
    assert not CalendarConnection.objects.filter(user=member, is_connected=True).exists()
    assert not CalendarEvent.objects.filter(connection__user=member, deleted_at__isnull=True).exists()
    assert not EmailAddress.objects.filter(user=member).exists()
    assert not Authenticator.objects.filter(user=member).exists()
    strangers_event.refresh_from_db()
    assert strangers_event.deleted_at is None
    row = AuditLog.objects.get(action=AuditAction.ACCOUNT_DELETED)
    assert (row.subject_user_id, row.metadata) == (member.pk, {"provider_accounts": 1, "events_hidden": 2})
    assert signed_in_client_fails(member)


def signed_in_client_fails(user: User) -> bool:
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    return client.get("/").context["user"].is_anonymous


def test_the_address_can_sign_up_again_after_deletion(member):
    client = signed_in_client(member)
    client.post("/accounts/delete/", {"confirm": "on"})

    fresh = Client()
    response = fresh.post("/accounts/signup/", {"email": member.email, "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    assert enter_emailed_code(fresh).status_code == 302
    again = fresh.get("/").context["user"]
    assert again.is_authenticated
    assert again.pk != member.pk
    assert again.email == member.email


def test_it_needs_a_signed_in_person(client, db):
    assert client.post("/accounts/delete/", {"confirm": "on"}).status_code == 302
    assert client.get("/accounts/delete/")["Location"].startswith("/accounts/login/")
