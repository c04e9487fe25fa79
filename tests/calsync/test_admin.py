"""The admin: every model for staff, secrets never shown, audit log read-only, nothing for non-staff."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from audit.services import record
from calsync.models import JobLease
from connections.models import OAuthState
from events.models import EventChange, SyncRun, UnreadableItem
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
    UnreadableItem.objects.create(connection=connection, provider_item_id="broken.ics", reason="DTSTART unreadable")
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


# --- staff with change permission only: what they may not redirect, and the audit of what they do -------------

CALDAV_PASSWORD = "app-specific-password-1234"


@pytest.fixture
def limited_staff(db):
    """Staff who may change people, accounts, calendars and events (and add or delete events), nothing more."""
    from django.contrib.auth.models import Permission

    from accounts.models import User

    person = User.objects.create_user("helpdesk@example.com", PASSWORD, name="Hal Helpdesk", is_staff=True)
    codenames = [
        "change_user",
        "change_provideraccount",
        "change_calendarconnection",
        "change_calendarevent",
        "add_calendarevent",
        "delete_calendarevent",
        "view_unreadableitem",
    ]
    person.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return person


@pytest.fixture
def helpdesk(client, limited_staff):
    client.force_login(limited_staff)
    return client


@pytest.fixture
def caldav(owner):
    account = make_account(
        owner,
        provider="caldav",
        server_url="https://dav.example.com/",
        username="olive",
        password=CALDAV_PASSWORD,
        external_id="https://dav.example.com/principals/olive/",
    )
    connection = make_connection(account, remote_id="https://dav.example.com/calendars/olive/work/")
    return account, connection


class FormFields(HTMLParser):
    """The fields a browser would post from an admin change page, with their current values."""

    def __init__(self) -> None:
        super().__init__()
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        name = attributes.get("name") or ""
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind in {"submit", "button", "image", "file"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attributes:
                return
            self.data.append((name, attributes.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attributes:
            self.data.append((self._select, attributes.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def post_change(client, url: str, **changes: str):
    """Post the change page's own form back, as a browser would, with `changes` put in (even fields not shown)."""
    page = client.get(url)
    assert page.status_code == 200, url
    fields = FormFields()
    fields.feed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in fields.data:
        data.setdefault(name, []).append(value)
    data.update({name: [value] for name, value in changes.items()})
    data["_save"] = ["Save"]
    return client.post(url, data)


def admin_rows(action: AuditAction):
    return list(AuditLog.objects.filter(action=action).order_by("pk"))


def test_staff_cannot_change_where_a_stored_caldav_password_is_sent(helpdesk, limited_staff, caldav, stranger):
    account, connection = caldav
    other_account = make_account(stranger)
    attacker = {"server_url": "https://collector.example.net/", "username": "mallory"}

    response = post_change(
        helpdesk,
        reverse("admin:connections_provideraccount_change", args=[account.pk]),
        **attacker,
        external_id="https://collector.example.net/principals/mallory/",
        provider="google",
        user=str(stranger.pk),
        password="replaced",
        scopes='["everything"]',
        last_error="checked by the help desk",  # a field staff may change, so the save itself goes through
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    account.refresh_from_db()
    assert account.last_error == "checked by the help desk"
    assert (account.server_url, account.username, account.provider) == ("https://dav.example.com/", "olive", "caldav")
    assert account.external_id == "https://dav.example.com/principals/olive/"
    assert (account.user_id, account.password, account.scopes) == (connection.user_id, CALDAV_PASSWORD, [])

    response = post_change(
        helpdesk,
        reverse("admin:connections_calendarconnection_change", args=[connection.pk]),
        remote_id="https://collector.example.net/calendars/mallory/",
        account=str(other_account.pk),
        user=str(stranger.pk),
        name="Renamed by the help desk",
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    connection.refresh_from_db()
    assert connection.name == "Renamed by the help desk"
    assert connection.remote_id == "https://dav.example.com/calendars/olive/work/"
    assert (connection.account_id, connection.user_id) == (account.pk, account.user_id)

    # Nor can staff make a new account or calendar pointing somewhere else: the person connects.
    assert helpdesk.get(reverse("admin:connections_provideraccount_add")).status_code == 403
    assert helpdesk.get(reverse("admin:connections_calendarconnection_add")).status_code == 403


def test_staff_cannot_move_an_event_to_another_calendar_or_provider_item(helpdesk, caldav, stranger):
    _, connection = caldav
    event = make_event(connection, provider_event_id="olive-standup.ics")
    elsewhere = make_connection(make_account(stranger))
    response = post_change(
        helpdesk,
        reverse("admin:events_calendarevent_change", args=[event.pk]),
        connection=str(elsewhere.pk),
        provider_event_id="someone-elses-event.ics",
        title="Stand-up (moved room)",
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    event.refresh_from_db()
    assert event.title == "Stand-up (moved room)"
    assert (event.connection_id, event.provider_event_id) == (connection.pk, "olive-standup.ics")


def test_staff_who_may_change_people_cannot_grant_admin_powers_or_touch_a_superuser(helpdesk, limited_staff, staff):
    url = reverse("admin:accounts_user_change", args=[limited_staff.pk])
    response = post_change(helpdesk, url, is_superuser="on", name="Hal the Helper")
    assert response.status_code == 302, response.content.decode()[:3000]
    limited_staff.refresh_from_db()
    assert limited_staff.name == "Hal the Helper"
    assert not limited_staff.is_superuser

    # A superuser's address or password, changed by someone less, would be a superuser's power.
    password_page = reverse("admin:auth_user_password_change", args=[staff.pk])
    assert helpdesk.post(password_page, {"password1": "x" * 20, "password2": "x" * 20}).status_code == 403
    assert b'name="_save"' not in helpdesk.get(reverse("admin:accounts_user_change", args=[staff.pk])).content
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)


def test_each_admin_change_writes_an_audit_row_naming_the_fields_not_their_values(
    helpdesk, limited_staff, caldav, owner
):
    account, connection = caldav
    event = make_event(connection)
    changes = [
        (reverse("admin:accounts_user_change", args=[owner.pk]), {"name": "Olive O."}, owner, ["name"]),
        (
            reverse("admin:connections_provideraccount_change", args=[account.pk]),
            {"reconnect_reason": "The server refused the password."},
            account,
            ["reconnect_reason"],
        ),
        (
            reverse("admin:connections_calendarconnection_change", args=[connection.pk]),
            {"color": "#112233", "read_only": "on"},
            connection,
            ["color", "read_only"],
        ),
        (reverse("admin:events_calendarevent_change", args=[event.pk]), {"location": "Room 2"}, event, ["location"]),
    ]
    for url, fields, target, names in changes:
        response = post_change(helpdesk, url, **fields)
        assert response.status_code == 302, (url, response.content.decode()[:3000])
        (row,) = AuditLog.objects.filter(action=AuditAction.ADMIN_CHANGED, target_id=str(target.pk)).filter(
            target_type=target._meta.label_lower
        )
        assert (row.actor_id, row.subject_user_id) == (limited_staff.pk, owner.pk), url
        assert row.metadata == {"model": target._meta.label_lower, "fields": names}, url
    assert CALDAV_PASSWORD not in str(list(AuditLog.objects.values_list("metadata", flat=True)))


def test_a_password_set_in_the_admin_is_audited_without_the_password(helpdesk, limited_staff, owner):
    url = reverse("admin:auth_user_password_change", args=[owner.pk])
    new_password = "a brand new passphrase 42"
    response = helpdesk.post(url, {"password1": new_password, "password2": new_password, "set_usable_password": "true"})
    assert response.status_code == 302, response.content.decode()[:3000]
    owner.refresh_from_db()
    assert owner.check_password(new_password)
    (row,) = admin_rows(AuditAction.ADMIN_CHANGED)
    assert (row.actor_id, row.subject_user_id, row.metadata["fields"]) == (limited_staff.pk, owner.pk, ["password"])
    assert new_password not in str(row.metadata) and owner.password not in str(row.metadata)


def test_adding_and_deleting_in_the_admin_are_audited(helpdesk, limited_staff, caldav, owner):
    _, connection = caldav
    add = helpdesk.post(
        reverse("admin:events_calendarevent_add"),
        {
            "connection": str(connection.pk),
            "provider_event_id": "added-by-staff",
            "title": "Added by staff",
            "start_0": "2026-03-02",
            "start_1": "09:00:00",
            "end_0": "2026-03-02",
            "end_1": "10:00:00",
            "status": "confirmed",
            "sync_status": "synced",
            "provider_data": "{}",
            "metadata": "{}",
            "created_at_0": "2026-03-01",
            "created_at_1": "09:00:00",
        },
    )
    assert add.status_code == 302, add.content.decode()[:3000]
    (added,) = admin_rows(AuditAction.ADMIN_ADDED)
    event = connection.events.get(provider_event_id="added-by-staff")
    assert (added.target_type, added.target_id, added.subject_user_id) == (
        "events.calendarevent",
        str(event.pk),
        owner.pk,
    )
    assert "title" in added.metadata["fields"]

    delete = helpdesk.post(reverse("admin:events_calendarevent_delete", args=[event.pk]), {"post": "yes"})
    assert delete.status_code == 302
    assert not connection.events.filter(pk=event.pk).exists()
    (deleted,) = admin_rows(AuditAction.ADMIN_DELETED)
    assert (deleted.actor_id, deleted.subject_user_id, deleted.target_id) == (limited_staff.pk, owner.pk, str(event.pk))


def run_action(client, model: str, action: str, pks: list[int], **extra: str):
    url = reverse(f"admin:{model.replace('.', '_')}_changelist")
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks], "index": "0", **extra})


def test_admin_actions_are_audited_with_their_name_and_how_many_objects(helpdesk, limited_staff, caldav, owner):
    account, connection = caldav
    held = make_connection(account, sync_status="held", sweep_held_count=40)

    assert (
        run_action(helpdesk, "connections.calendarconnection", "sync_now", [connection.pk, held.pk]).status_code == 302
    )
    assert (
        run_action(helpdesk, "connections.calendarconnection", "confirm_held_deletions", [held.pk]).status_code == 302
    )
    sync_now, confirm = admin_rows(AuditAction.ADMIN_ACTION)
    assert sync_now.metadata == {
        "model": "connections.calendarconnection",
        "action": "sync_now",
        "count": 2,
        "ids": sorted([str(connection.pk), str(held.pk)]),
        "people": 1,
    }
    assert (sync_now.actor_id, sync_now.subject_user_id) == (limited_staff.pk, owner.pk)
    assert (confirm.metadata["action"], confirm.metadata["count"], confirm.target_id) == (
        "confirm_held_deletions",
        1,
        str(held.pk),
    )
    assert AuditLog.objects.filter(action=AuditAction.SYNC_SWEEP_CONFIRMED, target_id=str(held.pk)).exists()

    events = [make_event(connection), make_event(connection)]
    pks = [event.pk for event in events]
    # The first post only asks "Are you sure?": nothing is deleted, so nothing is recorded yet.
    asked = run_action(helpdesk, "events.calendarevent", "delete_selected", pks)
    assert asked.status_code == 200 and b"<title>Delete multiple objects" in asked.content
    assert len(admin_rows(AuditAction.ADMIN_ACTION)) == 2
    done = run_action(helpdesk, "events.calendarevent", "delete_selected", pks, post="yes")
    assert done.status_code == 302
    assert not connection.events.filter(pk__in=pks).exists()
    deleted = admin_rows(AuditAction.ADMIN_ACTION)[-1]
    assert deleted.metadata["action"] == "delete_selected"
    assert (deleted.metadata["count"], deleted.metadata["ids"]) == (2, sorted(str(pk) for pk in pks))


def test_a_calendars_unreadable_items_are_listed_read_only(helpdesk, staff_client, caldav):
    _, connection = caldav
    UnreadableItem.objects.create(
        connection=connection, provider_item_id="lotus-notes.ics", reason="VTIMEZONE rule could not be read"
    )
    page = helpdesk.get(reverse("admin:connections_calendarconnection_change", args=[connection.pk])).content.decode()
    assert "lotus-notes.ics" in page and "VTIMEZONE rule could not be read" in page
    assert 'name="unreadable_items-0-reason"' not in page  # shown, not editable

    listing = staff_client.get(reverse("admin:events_unreadableitem_changelist"), {"q": "lotus"}).content.decode()
    assert "lotus-notes.ics" in listing
    item = UnreadableItem.objects.get(provider_item_id="lotus-notes.ics")
    assert staff_client.get(reverse("admin:events_unreadableitem_add")).status_code == 403
    assert (
        b'name="_save"' not in staff_client.get(reverse("admin:events_unreadableitem_change", args=[item.pk])).content
    )
    assert (
        staff_client.post(reverse("admin:events_unreadableitem_delete", args=[item.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert UnreadableItem.objects.filter(pk=item.pk).exists()


def test_the_admins_of_addresses_second_factors_and_jobs_are_audited_too(staff_client, staff, owner):
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    # An address decides where reset links go: marking one verified is an audited action; whose it is, fixed.
    address = EmailAddress.objects.create(user=owner, email="olive.second@example.com", verified=False)
    response = run_action(staff_client, "account.emailaddress", "make_verified", [address.pk])
    assert response.status_code == 302
    address.refresh_from_db()
    assert address.verified
    (verified,) = admin_rows(AuditAction.ADMIN_ACTION)
    assert (verified.metadata["action"], verified.subject_user_id, verified.target_id) == (
        "make_verified",
        owner.pk,
        str(address.pk),
    )
    page = staff_client.get(reverse("admin:account_emailaddress_change", args=[address.pk])).content.decode()
    assert 'name="email"' not in page and 'name="user"' not in page

    # A second factor's secret is never shown; removing one (a person who lost it) is audited.
    authenticator = Authenticator.objects.create(user=owner, type="totp", data={"secret": "JBSWY3DPEHPK3PXP"})
    page = staff_client.get(reverse("admin:mfa_authenticator_change", args=[authenticator.pk])).content.decode()
    assert "JBSWY3DPEHPK3PXP" not in page
    removed = staff_client.post(reverse("admin:mfa_authenticator_delete", args=[authenticator.pk]), {"post": "yes"})
    assert removed.status_code == 302
    (deleted,) = admin_rows(AuditAction.ADMIN_DELETED)
    assert (deleted.target_type, deleted.subject_user_id) == ("mfa.authenticator", owner.pk)

    # Which task a periodic job runs, and with what, is the staff's to change: audited.
    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    job = PeriodicTask.objects.create(name="probe", task="events.sync_due", interval=every_hour)
    assert run_action(staff_client, "django_celery_beat.periodictask", "disable_tasks", [job.pk]).status_code == 302
    disabled = admin_rows(AuditAction.ADMIN_ACTION)[-1]
    assert (disabled.metadata["action"], disabled.metadata["count"]) == ("disable_tasks", 1)
    assert disabled.actor_id == staff.pk


def test_staff_cannot_add_an_address_to_anyone_or_vouch_for_one(client, owner, stranger):
    """An address an account holds as verified is what sign-up, reset and sign-in trust: staff who are not
    superusers may not create one, nor mark one verified or primary, whatever permissions they hold."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth.models import Permission

    from accounts.models import User

    person = User.objects.create_user("support@example.com", PASSWORD, name="Sue Support", is_staff=True)
    person.user_permissions.set(Permission.objects.filter(content_type__app_label="account"))
    client.force_login(person)
    claim = {"user": str(stranger.pk), "email": "victim@example.com", "verified": "on", "primary": "on"}
    assert client.get(reverse("admin:account_emailaddress_add")).status_code == 403
    assert client.post(reverse("admin:account_emailaddress_add"), claim).status_code == 403
    assert not EmailAddress.objects.filter(email="victim@example.com").exists()

    address = EmailAddress.objects.create(user=owner, email="olive.second@example.com", verified=False)
    url = reverse("admin:account_emailaddress_change", args=[address.pk])
    page = client.get(url).content.decode()
    assert 'name="verified"' not in page and 'name="primary"' not in page
    client.post(url, {"verified": "on", "primary": "on", "_save": "Save"})
    address.refresh_from_db()
    assert (address.verified, address.primary) == (False, False)
    changelist = client.get(reverse("admin:account_emailaddress_changelist")).content.decode()
    assert "make_verified" not in changelist
    refused = run_action(client, "account.emailaddress", "make_verified", [address.pk])
    address.refresh_from_db()
    assert not address.verified, refused.status_code
