"""Sign-up, email verification, sign-in and out, passwords and two-factor, through allauth's real pages."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.test import Client

from accounts.models import Session, User
from audit.models import AuditAction, AuditLog
from tests.accounts_helpers import enter_emailed_code, link_in_last_email, totp_code
from tests.conftest import PASSWORD

NEW_PASSWORD = "an even longer passphrase 42"
BROWSER: dict[str, Any] = {
    "HTTP_USER_AGENT": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Firefox/140.0",
    "REMOTE_ADDR": "198.51.100.4",
}


def actions_for(user: User) -> list[str]:
    return list(AuditLog.objects.filter(subject_user_id=user.pk).order_by("pk").values_list("action", flat=True))


@pytest.fixture
def member(owner) -> User:
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    return owner


def sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password}, **BROWSER)


def test_sign_up_verify_and_land_signed_in(client, db):
    page = client.get("/accounts/signup/")
    assert b"data-guess-timezone" in page.content  # the browser's zone is filled in by static/js/timezone.js

    response = client.post(
        "/accounts/signup/",
        {"email": "New@Example.com", "password1": PASSWORD, "password2": PASSWORD, "name": "Nia New",
         "timezone": "America/Sao_Paulo"},
        **BROWSER,
    )  # fmt: skip
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert (user.name, user.timezone) == ("Nia New", "America/Sao_Paulo")
    assert client.get("/").context["user"].is_anonymous  # not before the email is proven

    assert enter_emailed_code(client).status_code == 302  # the code emailed, typed into this browser
    assert client.get("/").context["user"] == user
    assert EmailAddress.objects.get(user=user).verified
    assert actions_for(user) == [AuditAction.ACCOUNT_SIGNED_UP, AuditAction.ACCOUNT_SIGNED_IN]
    signed_up = AuditLog.objects.get(action=AuditAction.ACCOUNT_SIGNED_UP)
    assert (signed_up.ip_address, signed_up.user_agent) == ("198.51.100.4", BROWSER["HTTP_USER_AGENT"])


def test_an_unknown_guessed_zone_falls_back_to_utc(client, db):
    client.post(
        "/accounts/signup/",
        {"email": "zone@example.com", "password1": PASSWORD, "password2": PASSWORD, "timezone": "Mars/Olympus"},
    )
    assert User.objects.get(email="zone@example.com").timezone == "UTC"


def test_a_bad_sign_up_form_re_renders_with_clear_errors_and_saves_nothing(client, db):
    response = client.post("/accounts/signup/", {"email": "not-an-email", "password1": "short", "password2": "other"})
    assert response.status_code == 200
    assert b"Enter a valid email address." in response.content
    assert not User.all_objects.exists()


def test_sign_in_and_out_are_audited_with_the_device(client, member):
    assert sign_in(client, "OWNER@example.com").status_code == 302
    assert client.get("/").context["user"] == member
    client.post("/accounts/logout/", **BROWSER)
    assert client.get("/").context["user"].is_anonymous
    assert actions_for(member) == [AuditAction.ACCOUNT_SIGNED_IN, AuditAction.ACCOUNT_SIGNED_OUT]


def test_a_failed_sign_in_is_audited_against_the_account_without_the_password(client, member):
    response = sign_in(client, member.email, "wrong password entirely")
    assert response.status_code == 200
    assert b"The email address and/or password you specified are not correct." in response.content
    row = AuditLog.objects.get(action=AuditAction.ACCOUNT_SIGN_IN_FAILED)
    assert row.subject_user_id == member.pk
    assert row.metadata == {"email": member.email, "step": "password"}
    assert "wrong password" not in str(row.metadata)


@pytest.mark.parametrize("typed", [PASSWORD, "correct horse battery staple@", "hunter2 owner@example.com", "x" * 400])
def test_a_failed_sign_in_keeps_what_was_typed_only_when_it_is_an_address(rf, member, typed):
    # Whatever signs people in through Django (allauth's page refuses a non-address before it gets here).
    request = rf.post("/accounts/login/", REMOTE_ADDR="198.51.100.9")
    assert authenticate(request, username=typed, password="whatever was in the other box") is None
    assert authenticate(request, email=typed, password="whatever was in the other box") is None
    rows = AuditLog.objects.filter(action=AuditAction.ACCOUNT_SIGN_IN_FAILED)
    assert [row.metadata for row in rows] == [{"step": "password"}] * 2
    assert typed not in str(list(rows.values()))


def test_a_password_typed_as_the_address_on_the_sign_in_page_is_not_kept(client, member):
    response = sign_in(client, PASSWORD, "")
    assert response.status_code == 200
    assert PASSWORD not in str(list(AuditLog.objects.values()))


def test_repeated_failures_are_rate_limited_even_with_the_right_password(client, member):
    for attempt in range(10):  # ten failures on one address in 15 minutes, from anywhere
        Client(REMOTE_ADDR=f"203.0.113.{attempt}").post(
            "/accounts/login/", {"login": member.email, "password": "wrong password entirely"}
        )
    response = sign_in(client, member.email)
    assert b"Too many failed login attempts" in response.content
    assert client.get("/").context["user"].is_anonymous


def test_change_password_keeps_this_session_and_is_audited(client, member):
    sign_in(client, member.email)
    other_device = Client()
    sign_in(other_device, member.email)
    confirm_password(client, "/accounts/password/change/")
    response = client.post(
        "/accounts/password/change/", {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/").context["user"] == member
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert AuditAction.ACCOUNT_PASSWORD_CHANGED in actions_for(member)
    # every other device is signed out, and gone from the Devices page at once
    assert other_device.get("/").context["user"].is_anonymous
    assert len(client.get("/accounts/devices/").context["devices"]) == 1


def test_a_wrong_current_password_changes_nothing(client, member):
    sign_in(client, member.email)
    confirm_password(client, "/accounts/password/change/")
    response = client.post(
        "/accounts/password/change/", {"oldpassword": "not it", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_reset_a_forgotten_password_through_the_emailed_link(client, member):
    forgotten_laptop = Client()
    sign_in(forgotten_laptop, member.email)
    client.post("/accounts/password/reset/", {"email": member.email})
    reset = client.get(link_in_last_email("/accounts/password/reset/key/"), follow=True)
    assert reset.status_code == 200
    form_url = reset.redirect_chain[-1][0] if reset.redirect_chain else reset.request["PATH_INFO"]
    assert client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 302
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert AuditAction.ACCOUNT_PASSWORD_RESET in actions_for(member)
    assert forgotten_laptop.get("/").context["user"].is_anonymous
    assert client.get("/").context["user"] == member  # the browser that reset is signed in, and only it
    assert Session.objects.filter(user=member).count() == 1


def test_a_reset_request_for_an_unknown_address_reveals_nothing(client, member):
    known = client.post("/accounts/password/reset/", {"email": member.email}, follow=True)
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.content.replace(member.email.encode(), b"") == unknown.content.replace(b"nobody@example.com", b"")


@pytest.mark.parametrize("hasher", ["bcrypt_sha256", "bcrypt", "pbkdf2_sha256"])
def test_older_hashes_are_accepted_and_upgraded_to_argon2id(client, member, hasher):
    User.objects.filter(pk=member.pk).update(password=make_password(PASSWORD, hasher=hasher))
    assert sign_in(client, member.email).status_code == 302
    member.refresh_from_db()
    assert member.password.startswith("argon2$argon2id$")


def test_new_passwords_are_hashed_with_argon2id(member):
    assert member.password.startswith("argon2$argon2id$")


def confirm_password(client: Client, page: str):
    """allauth asks for the password again before security changes; give it, then open `page`."""
    response = client.get(page)
    if response.status_code == 302 and "/reauthenticate/" in response["Location"]:
        client.post(response["Location"], {"password": PASSWORD})
        response = client.get(page)
    return response


def enter_totp_code(client: Client, secret: str):
    """Type the app's current code; once more if the 30-second step turned over in between."""
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    if response.status_code != 302:
        response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    return response


@pytest.mark.django_db(transaction=True)  # allauth signals MFA changes on commit, while the request runs
def test_two_factor_with_totp_and_recovery_codes(client, member):
    sign_in(client, member.email)
    activate = confirm_password(client, "/accounts/2fa/totp/activate/")
    secret = activate.context["form"].secret
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302
    assert AuditAction.ACCOUNT_MFA_ENABLED in actions_for(member)
    codes = client.get("/accounts/2fa/recovery-codes/").context["unused_codes"]
    assert len(codes) >= 8

    client.post("/accounts/logout/")
    assert sign_in(client, member.email).status_code == 302
    assert client.get("/").context["user"].is_anonymous  # the password alone is not enough now
    wrong = client.post(
        "/accounts/2fa/authenticate/", {"code": "000000" if totp_code(secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 200
    assert AuditLog.objects.filter(action=AuditAction.ACCOUNT_SIGN_IN_FAILED, metadata__step="mfa").exists()
    # a code from the authenticator app
    assert enter_totp_code(client, secret).status_code == 302
    assert client.get("/").context["user"] == member

    # and, with the phone lost, a recovery code
    client.post("/accounts/logout/")
    sign_in(client, member.email)
    assert client.post("/accounts/2fa/authenticate/", {"code": codes[0]}).status_code == 302
    assert client.get("/").context["user"] == member

    confirm_password(client, "/accounts/2fa/totp/deactivate/")
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert AuditAction.ACCOUNT_MFA_DISABLED in actions_for(member)


def test_signing_out_needs_a_post(client, member):
    sign_in(client, member.email)
    assert client.get("/accounts/logout/").status_code == 200  # a confirmation page: a link signs no one out
    assert client.get("/").context["user"] == member


def test_password_reset_requests_are_rate_limited_per_address(client, member):
    for _ in range(5):
        assert client.post("/accounts/password/reset/", {"email": member.email}).status_code == 302
    limited = client.post("/accounts/password/reset/", {"email": member.email})
    assert limited.status_code == 429
    assert b"Too many attempts" in limited.content
    assert len(mail.outbox) == 5


def test_sign_ups_are_rate_limited_per_ip(client, db):
    for number in range(20):
        form = {"email": f"person{number}@example.com", "password1": PASSWORD, "password2": PASSWORD}
        Client(REMOTE_ADDR="192.0.2.200").post("/accounts/signup/", form)
    late = Client(REMOTE_ADDR="192.0.2.200").post(
        "/accounts/signup/", {"email": "late@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert late.status_code == 429
    assert not User.objects.filter(email="late@example.com").exists()
    other_ip = Client(REMOTE_ADDR="192.0.2.201").post(
        "/accounts/signup/", {"email": "other@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert other_ip.status_code == 302


def test_allauths_management_pages_sit_in_our_account_layout(client, member):
    client.force_login(member)
    for url in ("/accounts/password/change/", "/accounts/2fa/", "/accounts/email/", "/accounts/devices/"):
        html = client.get(url).content.decode()
        assert 'class="account-nav"' in html, url
        assert html.count('class="site-header"') == 1, url


def test_adding_an_email_address_asks_for_the_password_first(client, member):
    sign_in(client, member.email)
    response = client.post("/accounts/email/", {"action_add": "", "email": "attacker@example.net"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert not EmailAddress.objects.filter(email="attacker@example.net").exists()


def test_a_hidden_zone_guess_that_is_garbage_never_blocks_sign_up(client, db):
    form = {"email": "odd@example.com", "password1": PASSWORD, "password2": PASSWORD, "timezone": "Z" * 500 + "\x00"}
    assert client.post("/accounts/signup/", form).status_code == 302
    assert User.objects.get(email="odd@example.com").timezone == "UTC"


def test_an_expired_form_gets_a_friendly_page_and_loses_nothing(db):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"login": "owner@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert b"This form had expired" in response.content
