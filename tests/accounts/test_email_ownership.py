"""An address counts as someone's only once they proved it: an address added to an account and never
confirmed does not hold sign-up, password reset or sign-in for that account.

The attacker is a signed-in person who adds the victim's address to their own account and never
confirms it; the victim then uses calsync through allauth's real pages.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from tests.accounts_helpers import enter_emailed_code
from tests.conftest import PASSWORD

VICTIM = "victim@example.org"
VICTIMS_PASSWORD = "the victim's own long passphrase"


@pytest.fixture
def attacker(owner) -> User:
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    return owner


@pytest.fixture
def attacker_added_the_victims_address(client, attacker) -> Client:
    """The attacker, signed in, adds the victim's address on the email page and stops there."""
    client.post("/accounts/login/", {"login": attacker.email, "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})  # asked before any address change
    added = client.post("/accounts/email/", {"action_add": "", "email": VICTIM})
    assert added.status_code == 302
    mail.outbox.clear()
    cache.clear()  # the victim comes by later than allauth's 10 s between two codes to one address
    return client


@pytest.fixture
def address_left_unconfirmed(attacker) -> User:
    """An unconfirmed address on the attacker's account as links-era calsync stored them (rows from
    before addresses were added by code must not count either)."""
    EmailAddress.objects.create(user=attacker, email=VICTIM, verified=False, primary=False)
    return attacker


def sent_to(address: str) -> list[str]:
    return [str(message.body) for message in mail.outbox if address in message.to]


def sign_up(client: Client, email: str = VICTIM, password: str = VICTIMS_PASSWORD):
    return client.post("/accounts/signup/", {"email": email, "password1": password, "password2": password})


def signed_in_as(client: Client) -> User | None:
    user = client.get("/").context["user"]
    return user if user.is_authenticated else None


def test_an_added_address_is_stored_only_once_its_emailed_code_is_entered(attacker_added_the_victims_address, attacker):
    assert not EmailAddress.objects.filter(email=VICTIM).exists()
    client = attacker_added_the_victims_address
    assert client.post("/accounts/confirm-email/", {"code": "WRONG-CODE"}).status_code == 200
    assert not EmailAddress.objects.filter(email=VICTIM).exists()


def test_the_owner_of_an_address_someone_added_can_still_sign_up(attacker_added_the_victims_address, attacker):
    victim = Client()
    assert sign_up(victim).status_code == 302
    assert "already exists" not in " ".join(sent_to(VICTIM))  # a code to finish sign-up, not "you have an account"
    assert enter_emailed_code(victim, to=VICTIM).status_code == 302

    account = signed_in_as(victim)
    assert account is not None and account.pk != attacker.pk
    assert account.email == VICTIM
    assert EmailAddress.objects.get(email=VICTIM).user_id == account.pk
    assert not EmailAddress.objects.filter(user=attacker, email=VICTIM).exists()


def test_a_reset_for_an_address_someone_added_leaves_their_account_alone(attacker_added_the_victims_address, attacker):
    Client().post("/accounts/password/reset/", {"email": VICTIM})
    assert "/accounts/password/reset/key/" not in " ".join(sent_to(VICTIM))
    assert sent_to(attacker.email) == []
    attacker.refresh_from_db()
    assert attacker.check_password(PASSWORD)


def test_signing_in_with_an_address_someone_added_reaches_no_account(attacker_added_the_victims_address, attacker):
    someone = Client()
    response = someone.post("/accounts/login/", {"login": VICTIM, "password": PASSWORD})
    assert response.status_code == 200
    assert b"The email address and/or password you specified are not correct." in response.content
    assert signed_in_as(someone) is None
    assert mail.outbox == []  # no code for the attacker's account lands in the victim's mailbox


def test_an_unconfirmed_address_from_before_codes_does_not_hold_sign_up(address_left_unconfirmed):
    victim = Client()
    assert sign_up(victim).status_code == 302
    assert enter_emailed_code(victim, to=VICTIM).status_code == 302
    account = signed_in_as(victim)
    assert account is not None and account.pk != address_left_unconfirmed.pk
    assert EmailAddress.objects.get(email=VICTIM, verified=True).user_id == account.pk


def test_an_unconfirmed_address_from_before_codes_cannot_reset_that_account(address_left_unconfirmed):
    Client().post("/accounts/password/reset/", {"email": VICTIM})
    assert "/accounts/password/reset/key/" not in " ".join(sent_to(VICTIM))
    assert sent_to(address_left_unconfirmed.email) == []


def test_an_unconfirmed_address_from_before_codes_cannot_sign_in(address_left_unconfirmed):
    someone = Client()
    response = someone.post("/accounts/login/", {"login": VICTIM, "password": PASSWORD})
    assert b"The email address and/or password you specified are not correct." in response.content
    assert signed_in_as(someone) is None
    assert mail.outbox == []


def test_a_reset_notice_goes_to_the_account_that_was_reset(attacker_added_the_victims_address, attacker):
    victim = Client()
    sign_up(victim)
    enter_emailed_code(victim, to=VICTIM)
    victim.post("/accounts/logout/")
    mail.outbox.clear()

    victim.post("/accounts/password/reset/", {"email": VICTIM})
    (link,) = [line for line in sent_to(VICTIM)[-1].split() if "/accounts/password/reset/key/" in line]
    form = victim.get(link.split("testserver", 1)[1], follow=True).redirect_chain[-1][0]
    new_password = "a brand new passphrase 77"
    assert victim.post(form, {"password1": new_password, "password2": new_password}).status_code == 302

    assert sent_to(attacker.email) == []
    assert len(sent_to(VICTIM)) == 2  # the link, then the notice that the password changed
    attacker.refresh_from_db()
    assert attacker.check_password(PASSWORD)
    assert User.objects.get(email=VICTIM).check_password(new_password)


def test_an_unfinished_sign_up_is_finished_only_by_the_code_sent_to_its_address(db):
    """Someone signs up with another person's address: a code goes there, and nothing the address's
    owner clicks in that email can hand the account to whoever started the sign-up."""
    impostor = Client()
    sign_up(impostor, password=PASSWORD)
    body = sent_to(VICTIM)[-1]
    assert "/accounts/confirm-email/" not in body  # a code to type in the impostor's browser, no link to click
    assert signed_in_as(impostor) is None
