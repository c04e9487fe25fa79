"""The admin: every model for staff, secrets never shown, audit log read-only, nothing for non-staff."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from audit.services import record
from calsync.models import JobLease
from connections.models import OAuthState
from events.models import EventChange, SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_account, make_connection, make_event

OUR_APPS = {"accounts", "connections", "events", "audit", "calsync"}
SECRET = "ya29.secret-token-value"


@pytest.fixture
def populated(owner):
    account = make_account(owner, access_token=SECRET, refresh_token=SECRET + "-refresh", password=SECRET + "-pw")
    connection = make_connection(account)
    event = make_event(connection)
    OAuthState.objects.create(
        state="state-value",
        user=owner,
        session_key_hash="h" * 64,
        provider="google",
        flow={"code_verifier": SECRET + "-verifier"},
        expires_at=now(),
    )
    record(action=AuditAction.CONNECTION_CONNECTED, actor=owner, target=account)
    SyncRun.objects.create(connection=connection, outcome="ok", created=3)
    JobLease.objects.create(name="events.sync_due", last_started_at=now())
    EventChange.objects.create(connection=connection, event=event, operation="update", status="failed")
    return {"account": account, "connection": connection, "event": event}


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def our_models():
    return [model for model in admin.site._registry if model._meta.app_label in OUR_APPS]


def test_every_model_of_ours_is_registered():
    from django.apps import apps

    ours = {model for app in OUR_APPS for model in apps.get_app_config(app).get_models()}
    assert ours == set(our_models())


def test_staff_can_list_search_and_open_every_model(staff_client, populated):
    for model in our_models():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert staff_client.get(changelist).status_code == 200, changelist
        assert staff_client.get(changelist, {"q": "owner"}).status_code == 200, changelist
        obj = model._default_manager.first()
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        assert staff_client.get(change).status_code == 200, change


def test_secrets_never_appear_in_admin_pages(staff_client, populated):
    pages = [
        reverse("admin:connections_provideraccount_change", args=[populated["account"].pk]),
        reverse("admin:connections_provideraccount_changelist"),
        reverse("admin:connections_oauthstate_changelist"),
        reverse("admin:connections_oauthstate_change", args=[OAuthState.objects.get().pk]),
    ]
    for page in pages:
        html = staff_client.get(page).content.decode()
        assert SECRET not in html, page
        assert "v1.test." not in html, page  # nor the ciphertext


def test_the_account_page_says_which_secrets_are_stored(staff_client, populated):
    html = staff_client.get(reverse("admin:connections_provideraccount_change", args=[populated["account"].pk]))
    assert "refresh token stored" in html.content.decode().lower()


def test_the_audit_log_is_read_only_in_the_admin(staff_client, populated):
    row = AuditLog.objects.get(action=AuditAction.CONNECTION_CONNECTED)
    rows_before = AuditLog.objects.count()
    assert staff_client.get(reverse("admin:audit_auditlog_add")).status_code == 403
    delete = staff_client.post(reverse("admin:audit_auditlog_delete", args=[row.pk]), {"post": "yes"})
    assert delete.status_code == 403
    page = staff_client.get(reverse("admin:audit_auditlog_change", args=[row.pk]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert AuditLog.objects.count() == rows_before
    assert AuditLog.objects.filter(pk=row.pk, action=AuditAction.CONNECTION_CONNECTED).exists()


def test_deleted_people_stay_visible_to_staff(staff_client, owner):
    type(owner).objects.filter(pk=owner.pk).update(deleted_at=now(), is_active=False)
    html = staff_client.get(reverse("admin:accounts_user_changelist"), {"deleted": "yes"}).content.decode()
    assert "owner@example.com" in html


def test_a_non_staff_user_gets_no_admin_page(client, owner):
    client.login(email=owner.email, password=PASSWORD)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    response = client.get(reverse("admin:connections_provideraccount_changelist"))
    assert response.status_code == 302


def test_anonymous_visitors_get_no_admin_page(client, populated):
    response = client.get(reverse("admin:audit_auditlog_changelist"))
    assert response.status_code == 302


def test_staff_can_add_a_person_and_duplicate_emails_are_refused_whatever_their_case(staff_client, owner):
    add = reverse("admin:accounts_user_add")
    form = {"email": "New.Person@Example.com", "password1": PASSWORD, "password2": PASSWORD}
    response = staff_client.post(add, {**form, "usable_password": "true"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert type(owner).objects.filter(email="new.person@example.com").exists()

    duplicate = staff_client.post(add, {**form, "email": "OWNER@example.com", "usable_password": "true"})
    assert duplicate.status_code == 200
    assert "A person with this email address already exists." in duplicate.content.decode()


def test_one_undecryptable_secret_does_not_take_the_lists_down(staff_client, populated, settings):
    from calsync.lib.crypto import generate_key

    settings.ENCRYPTION_KEYS = f"other:{generate_key()}"  # the stored values' key is gone
    for name in ("provideraccount", "calendarconnection"):
        assert staff_client.get(reverse(f"admin:connections_{name}_changelist")).status_code == 200, name
    account_page = reverse("admin:connections_provideraccount_change", args=[populated["account"].pk])
    assert staff_client.get(account_page).status_code == 200


def test_a_deleted_person_cannot_be_reactivated_by_hand(staff_client, owner):
    type(owner).objects.filter(pk=owner.pk).update(deleted_at=now(), is_active=False)
    page = staff_client.get(reverse("admin:accounts_user_change", args=[owner.pk])).content.decode()
    assert 'name="is_active"' not in page


def test_staff_sign_in_to_the_admin_through_allauth(client, staff):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    signed_in = client.post("/accounts/login/", {"login": staff.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_signed_in_non_staff_user_is_refused_the_admin_login(client, owner):
    client.force_login(owner)
    assert client.get(reverse("admin:login")).status_code == 403
